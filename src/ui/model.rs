//! The dashboard's state: the composition of what every panel and dialog holds (each panel's
//! own state types live beside it, in panels/<panel>/state.rs). Plain data and small
//! accessors; changing it is `app::update`'s and the panels' job, drawing it `draw`'s and the
//! panels'.

use super::dialogs::confirm::ConfirmDeploy;
use super::dialogs::github::{DispatchForm, GithubUi, RunJobsView};
pub use super::msg::{Effect, Msg};
use super::panels::deploys::Starting;
use super::panels::gh_deployments::DeploymentsList;
use super::panels::gpu::GpuHistory;
use super::panels::logs::LogView;
use super::panels::runs::RunsData;
use super::panels::tags::{rows as tag_rows_of, shown_service};
use super::text_field::TextField;
use crate::collect::status::RepoTags;
use crate::domain::{
    ContainerView, DeploySnapshot, GpuStatus, HealthResult, RateLimit, SwarmStackView,
};
use crate::keymap::Keymap;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

pub const MIN_WIDTH: u16 = 80;

pub const MIN_HEIGHT: u16 = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Panel {
    Containers,
    Gpu,
    Health,
    Runs,
    Tags,
    Logs,
}

impl Panel {
    pub const ORDER: [Panel; 6] = [
        Panel::Containers,
        Panel::Gpu,
        Panel::Health,
        Panel::Runs,
        Panel::Tags,
        Panel::Logs,
    ];
    pub fn title(self) -> &'static str {
        match self {
            Panel::Containers => "Containers",
            Panel::Gpu => "GPU",
            Panel::Health => "Health",
            Panel::Runs => "Actions runs",
            Panel::Tags => "Tags",
            Panel::Logs => "Logs",
        }
    }
    pub(crate) fn index(self) -> usize {
        Panel::ORDER.iter().position(|p| *p == self).unwrap_or(0)
    }
}

/// A source's data with its freshness: never loaded, loaded at a time, or failing since a
/// time while the last good data stays on screen.
#[derive(Debug, Clone)]
pub struct Fresh<T> {
    pub data: Option<T>,
    pub loaded_at: Option<DateTime<Utc>>,
    pub error: Option<(String, DateTime<Utc>)>,
}

impl<T> Default for Fresh<T> {
    fn default() -> Self {
        Self {
            data: None,
            loaded_at: None,
            error: None,
        }
    }
}

impl<T> Fresh<T> {
    pub fn set(&mut self, data: T, now: DateTime<Utc>) {
        self.data = Some(data);
        self.loaded_at = Some(now);
        self.error = None;
    }
    pub fn fail(&mut self, error: String, now: DateTime<Utc>) {
        // Keep the time the failure started, so the panel can say "failing for 5m".
        let since = match &self.error {
            Some((_, since)) => *since,
            None => now,
        };
        self.error = Some((error, since));
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    None,
    Help {
        scroll: u16,
    },
    Details {
        title: String,
        rows: Vec<(String, String)>,
    },
    Command(TextField),
    Search(TextField),
    /// Deploy or rollback, waiting for the operator's explicit yes (default Cancel).
    Confirm(ConfirmDeploy),
    History {
        scroll: u16,
    },
    /// A run's jobs and steps (github_ui).
    RunJobs(Box<RunJobsView>),
    /// The workflow_dispatch form and its confirmation (github_ui).
    Dispatch(Box<DispatchForm>),
}

pub struct App {
    pub keymap: Keymap,
    pub host: String,
    pub project: String,
    pub services: Vec<String>,
    /// How health is judged for the services with a `ready` rule (a bot without a
    /// healthcheck), by service: the confirmation states it as the CLI's plan does.
    pub health_basis: HashMap<String, String>,
    /// How a deploy from here would replace what runs (the engine's own rule).
    pub strategy_rule: crate::deploy::strategy::StrategyRule,
    pub read_only: bool,
    pub log_tail: u32,
    pub focus: Panel,
    pub selected: HashMap<Panel, usize>,
    pub containers: Fresh<Vec<ContainerView>>,
    /// A Swarm deployment's stack (Some, loading or read, only for `runtime = "swarm"`):
    /// the containers panel shows its services and tasks, the GPU panel its nodes.
    pub swarm: Option<Fresh<SwarmStackView>>,
    pub health: Fresh<Vec<HealthResult>>,
    /// Per endpoint: whether it is ok and since when it has been so.
    pub health_since: HashMap<String, (bool, DateTime<Utc>)>,
    pub gpu: Fresh<GpuStatus>,
    pub gpu_history: GpuHistory,
    pub runs: Fresh<RunsData>,
    pub rate: RateLimit,
    pub github: GithubUi,
    /// The environment's recent GitHub Deployments (None until first read, or when off).
    pub gh_deployments: Option<DeploymentsList>,
    pub tags: Fresh<Vec<RepoTags>>,
    /// With several services' tags: whose the tags panel shows, and what `d`/`R` move
    /// (an index into the tags data, wrapped).
    pub tags_service: usize,
    pub deploys: Fresh<DeploySnapshot>,
    /// A deploy confirmed here whose process has not recorded its deployment yet.
    pub deploy_starting: Option<Starting>,
    pub logs: LogView,
    pub overlay: Overlay,
    pub message: Option<(String, DateTime<Utc>)>,
    pub size: (u16, u16),
    pub mouse: bool,
    /// False under NO_COLOR: meaning is then carried by glyphs and text alone.
    pub color: bool,
    pub now: DateTime<Utc>,
    /// Several hosts (`[[hosts]]`): the overview and which host the dashboard shows; None
    /// for the one engine of `[docker]`.
    pub hosts: Option<super::panels::hosts::HostsView>,
}

pub struct AppSettings {
    pub keymap: Keymap,
    pub host: String,
    pub project: String,
    pub services: Vec<String>,
    pub read_only: bool,
    pub mouse: bool,
    pub log_tail: u32,
    pub log_ring: usize,
    pub color: bool,
}

impl App {
    pub fn new(s: AppSettings, now: DateTime<Utc>) -> Self {
        Self {
            keymap: s.keymap,
            host: s.host,
            project: s.project,
            services: s.services,
            health_basis: HashMap::new(),
            strategy_rule: Default::default(),
            read_only: s.read_only,
            log_tail: s.log_tail,
            focus: Panel::Containers,
            selected: HashMap::new(),
            containers: Fresh::default(),
            swarm: None,
            health: Fresh::default(),
            health_since: HashMap::new(),
            gpu: Fresh::default(),
            gpu_history: GpuHistory::default(),
            runs: Fresh::default(),
            rate: RateLimit::default(),
            github: Default::default(),
            gh_deployments: None,
            tags: Fresh::default(),
            tags_service: 0,
            deploys: Fresh::default(),
            deploy_starting: None,
            logs: LogView::new(s.log_ring),
            overlay: Overlay::None,
            message: None,
            size: (80, 24),
            mouse: s.mouse,
            color: s.color,
            now,
            hosts: None,
        }
    }

    pub fn selected(&self, panel: Panel) -> usize {
        self.selected.get(&panel).copied().unwrap_or(0)
    }

    pub(crate) fn rows(&self, panel: Panel) -> usize {
        match panel {
            Panel::Containers => match &self.swarm {
                Some(stack) => stack
                    .data
                    .as_ref()
                    .map_or(0, |v| super::panels::swarm::stack_rows(v).len()),
                None => self.containers.data.as_ref().map_or(0, Vec::len),
            },
            Panel::Health => self.health.data.as_ref().map_or(0, Vec::len),
            Panel::Runs => self.runs.data.as_ref().map_or(0, |r| r.runs.len()),
            Panel::Tags => self.tag_rows().len(),
            Panel::Gpu => match &self.gpu.data {
                Some(GpuStatus::Available { devices, .. }) => devices.len(),
                _ => 0,
            },
            Panel::Logs => 0,
        }
    }

    /// Tags of every repository, flattened in display order; with several services, only
    /// the selected service's (`tag_service`).
    pub fn tag_rows(&self) -> Vec<(&str, &crate::domain::TagView)> {
        tag_rows_of(self.tags.data.as_deref(), self.tag_service())
    }

    /// The service the tags panel shows and `d`/`R` move, when there are several (a
    /// deployment of several images); None with one, where they move the whole deployment.
    pub fn tag_service(&self) -> Option<&str> {
        shown_service(self.tags.data.as_deref(), self.tags_service)
    }

    /// The container whose logs should be followed by default: the first deployed service's.
    pub(crate) fn default_log_container(&self) -> Option<&ContainerView> {
        let list = self.containers.data.as_ref()?;
        self.services
            .iter()
            .find_map(|s| list.iter().find(|c| !c.oneoff && &c.service == s))
            .or_else(|| list.first())
    }

    pub(crate) fn log_page(&self) -> i64 {
        (self.size.1 as i64 / 3).max(3)
    }

    pub(crate) fn say(&mut self, text: impl Into<String>) {
        self.message = Some((text.into(), self.now));
    }
}
