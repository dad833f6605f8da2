//! What the sources report, in our own terms. Every field is optional where the outside
//! system may not say it; panels and the CLI decide how to show an absence.

use super::{CommitSha, Digest, Tag};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    Healthy,
    Unhealthy,
    Starting,
    /// The container has no healthcheck.
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerView {
    pub id: String,
    pub name: String,
    pub service: String,
    /// A `docker compose run` container (such as the migrate step), not a long-running one.
    pub oneoff: bool,
    pub state: ContainerState,
    pub health: HealthState,
    pub exit_code: Option<i64>,
    pub restarts: u64,
    pub started_at: Option<DateTime<Utc>>,
    /// The image reference the container was created from, as compose wrote it.
    pub image: String,
    /// The local image id (`sha256:...` of the config).
    pub image_id: String,
    /// Registry digests the local image is known by (`repo@sha256:...`).
    pub repo_digests: Vec<String>,
    /// `org.opencontainers.image.revision`: the commit the image was built from.
    pub revision: Option<String>,
    /// `org.opencontainers.image.created`.
    pub image_created: Option<String>,
    /// `org.opencontainers.image.version`.
    pub image_version: Option<String>,
    /// Host pid of the container's main process (for mapping GPU processes).
    pub pid: Option<i64>,
}

#[cfg(test)]
impl ContainerView {
    /// A running, healthy container of `service` for unit tests; `minutes_ago` it started.
    pub(crate) fn running_for_test(id: &str, service: &str, minutes_ago: i64) -> Self {
        ContainerView {
            id: id.into(),
            name: format!("elt_{service}_{id}"),
            service: service.into(),
            oneoff: false,
            state: ContainerState::Running,
            health: HealthState::Healthy,
            exit_code: None,
            restarts: 0,
            started_at: Some(Utc::now() - chrono::Duration::minutes(minutes_ago)),
            image: format!("{service}:v1"),
            image_id: String::new(),
            repo_digests: vec![],
            revision: None,
            image_created: None,
            image_version: None,
            pid: None,
        }
    }
}

impl ContainerView {
    pub fn is_up(&self) -> bool {
        self.state == ContainerState::Running
            && matches!(self.health, HealthState::Healthy | HealthState::None)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthResult {
    pub name: String,
    pub url: String,
    pub ok: bool,
    /// HTTP status, absent when no response came (refused, timeout, DNS).
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// `status` field of a JSON body, if any.
    pub app_status: Option<String>,
    /// `version` field of a JSON body, if any.
    pub version: Option<String>,
    pub error: Option<String>,
    pub checked_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuProcess {
    pub pid: u32,
    pub used_bytes: Option<u64>,
    /// Id of the container whose cgroup holds the process, read from `/proc/<pid>/cgroup`.
    pub container_id: Option<String>,
    /// Compose service (or container name) that owns the process, when it runs in one.
    pub container: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuDevice {
    pub index: u32,
    pub name: String,
    pub uuid: Option<String>,
    pub utilization_pct: Option<u32>,
    pub memory_utilization_pct: Option<u32>,
    pub memory_used_bytes: Option<u64>,
    pub memory_total_bytes: Option<u64>,
    pub temperature_c: Option<u32>,
    pub power_mw: Option<u32>,
    pub power_limit_mw: Option<u32>,
    pub processes: Vec<GpuProcess>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum GpuStatus {
    Available {
        driver_version: Option<String>,
        devices: Vec<GpuDevice>,
        sampled_at: DateTime<Utc>,
    },
    /// No NVML library, no driver, or no permission: the reason says which.
    Unavailable { reason: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunView {
    pub id: u64,
    pub number: u64,
    pub status: String,
    pub conclusion: Option<String>,
    pub branch: Option<String>,
    pub event: String,
    pub head_sha: String,
    pub title: Option<String>,
    pub actor: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub run_started_at: Option<DateTime<Utc>>,
    pub html_url: String,
}

impl RunView {
    /// Wall time of the run so far (or in total, once completed).
    pub fn duration_secs(&self) -> i64 {
        let start = self.run_started_at.unwrap_or(self.created_at);
        (self.updated_at - start).num_seconds().max(0)
    }
    pub fn short_sha(&self) -> &str {
        self.head_sha.get(..7).unwrap_or(&self.head_sha)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    pub used: Option<u64>,
    pub reset: Option<DateTime<Utc>>,
    pub resource: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagView {
    pub tag: Tag,
    pub digest: Option<Digest>,
    /// Commit the image was built from: its revision label, else the SHA in the tag's name.
    pub revision: Option<CommitSha>,
    pub created: Option<DateTime<Utc>>,
    /// Compressed size: config plus layers, as the manifest states.
    pub size_bytes: Option<u64>,
    /// Conclusion of the CI run for that commit, when one is known.
    pub ci: Option<String>,
    /// The deployment runs this image now.
    pub running: bool,
    /// Why details are missing for this tag (it was listed, but reading it failed).
    pub error: Option<String>,
    /// Other tags on the same image (from the GitHub Packages API, which lists them together).
    #[serde(default)]
    pub aliases: Vec<Tag>,
    /// When this tag was last deployed here, from the deploy store; None until recorded.
    #[serde(default)]
    pub last_deployed: Option<DateTime<Utc>>,
}

impl TagView {
    /// A tag known by its name only: nothing read about its image yet.
    pub fn named(tag: Tag) -> Self {
        Self {
            tag,
            digest: None,
            revision: None,
            created: None,
            size_bytes: None,
            ci: None,
            running: false,
            error: None,
            aliases: Vec::new(),
            last_deployed: None,
        }
    }
}

/// One job of a workflow run, with its steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    pub id: u64,
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub html_url: Option<String>,
    pub steps: Vec<StepView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepView {
    pub number: u64,
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// Seconds between two optional times: finished spans in full, running ones up to `now`.
pub fn span_secs(
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<i64> {
    let start = start?;
    Some((end.unwrap_or(now) - start).num_seconds().max(0))
}

impl JobView {
    pub fn duration_secs(&self, now: DateTime<Utc>) -> Option<i64> {
        span_secs(self.started_at, self.completed_at, now)
    }
}

impl StepView {
    pub fn duration_secs(&self, now: DateTime<Utc>) -> Option<i64> {
        span_secs(self.started_at, self.completed_at, now)
    }
}

impl RunView {
    pub fn is_completed(&self) -> bool {
        self.status == "completed"
    }
}

/// GitHub Container Registry's host.
pub const GHCR: &str = "ghcr.io";

/// GHCR image repositories map to a container package: `ghcr.io/OWNER/NAME...`.
pub fn ghcr_package(image: &super::ImageRepo) -> Option<(String, String)> {
    if image.registry() != GHCR {
        return None;
    }
    let (owner, name) = image.path().split_once('/')?;
    Some((owner.to_string(), name.to_string()))
}
