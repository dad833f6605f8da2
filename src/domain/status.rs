//! `status`: one snapshot of everything the console watches, section by section, each with
//! its data or its error, and the overall verdict.

use super::{ContainerView, GpuStatus, HealthResult, RateLimit, RunView, Tag, TagView};
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Section<T> {
    Ok { elapsed_ms: u64, data: T },
    Error { elapsed_ms: u64, error: String },
}

impl<T> Section<T> {
    pub fn data(&self) -> Option<&T> {
        match self {
            Section::Ok { data, .. } => Some(data),
            Section::Error { .. } => None,
        }
    }
    pub fn error(&self) -> Option<&str> {
        match self {
            Section::Ok { .. } => None,
            Section::Error { error, .. } => Some(error),
        }
    }
    pub fn elapsed_ms(&self) -> u64 {
        match self {
            Section::Ok { elapsed_ms, .. } | Section::Error { elapsed_ms, .. } => *elapsed_ms,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Overall {
    /// The app runs and answers, and every source was read.
    Healthy,
    /// The app is down, unhealthy or not answering.
    AppDown,
    /// The app looks fine but some source could not be read.
    Degraded,
    /// The Docker engine could not be read, so the app's state is unknown.
    Unknown,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunningService {
    pub service: String,
    pub container: Option<String>,
    pub image: Option<String>,
    pub tag: Option<Tag>,
    pub revision: Option<String>,
    pub up: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RepoTags {
    pub service: String,
    pub repository: String,
    /// How many tags the registry lists in all.
    pub total: usize,
    /// Tags described here (latest, running, then commit tags), newest first.
    pub tags: Vec<TagView>,
    /// True when more tags exist than were described.
    pub truncated: bool,
    /// Listed tags whose details were not read (beyond `registry.tag_detail_limit`).
    pub not_inspected: usize,
    /// Why this repository's tags could not be listed (the others are still shown).
    pub error: Option<String>,
    /// Something to know about how the list was made, e.g. a GitHub Packages listing that
    /// stopped early.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunsSection {
    pub repository: String,
    pub workflow: String,
    pub token: String,
    /// `host:port` of the proxy GitHub requests went through; null when direct.
    pub proxy: Option<String>,
    pub runs: Vec<RunView>,
    pub rate_limit: RateLimit,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub schema: u32,
    pub generated_at: DateTime<Utc>,
    pub project: String,
    pub overall: Overall,
    pub exit_code: i32,
    /// Why `overall` is what it is, one line per reason.
    pub reasons: Vec<String>,
    pub services: Vec<RunningService>,
    pub containers: Section<Vec<ContainerView>>,
    pub health: Section<Vec<HealthResult>>,
    pub gpu: Section<GpuStatus>,
    pub tags: Section<Vec<RepoTags>>,
    pub runs: Section<RunsSection>,
    /// A Swarm deployment's stack (`deployment.runtime = "swarm"`): services, tasks and nodes
    /// with their generic resources. Absent for a compose deployment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swarm: Option<Section<super::SwarmStackView>>,
}

/// What `status --json` prints when the config cannot be read (docs/status-json.md): the
/// report's top-level fields a script checks first, and the error.
#[derive(Debug, Serialize)]
pub struct ConfigErrorReport {
    pub schema: u32,
    pub generated_at: DateTime<Utc>,
    pub overall: Overall,
    pub exit_code: i32,
    pub reasons: Vec<String>,
    pub error: ReportError,
}

#[derive(Debug, Serialize)]
pub struct ReportError {
    /// What could not be done: `config` (the config could not be read).
    pub kind: &'static str,
    pub message: String,
}
