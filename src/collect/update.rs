//! What the collectors report (`Update`), and the work the GitHub collector takes on request.

use crate::collect::status::RepoTags;
use crate::domain::{
    ContainersUpdate, DeploySnapshot, GpuStatus, HealthResult, JobView, RateLimit, RunView,
    SwarmStackView, Tag,
};
use crate::sanitize::StyledLine;
use crate::workflow::DispatchSpec;
use chrono::{DateTime, Utc};

/// Everything the collectors report.
#[derive(Debug)]
pub enum Update {
    Docker(ContainersUpdate),
    Health(Vec<HealthResult>),
    Gpu(GpuStatus),
    Runs(Result<(Vec<RunView>, RateLimit, String), String>),
    Tags(Result<Vec<RepoTags>, String>),
    LogLines {
        container_id: String,
        lines: Vec<(Option<String>, bool, StyledLine)>,
    },
    LogEnded {
        container_id: String,
        reason: String,
    },
    /// The followed container runs again and its stream goes on. `what` happened at `at`:
    /// "container restarted", "container started" (it had never run) or "log stream resumed"
    /// (the stream alone was cut).
    LogResumed {
        container_id: String,
        what: &'static str,
        at: DateTime<Utc>,
    },
    /// A fresh read of the deploy store.
    Deploys(Box<Result<DeploySnapshot, String>>),
    Github(GithubMsg),
    /// A fresh read of the Swarm deployment's stack (services, tasks, nodes), or why not.
    Swarm(Box<Result<SwarmStackView, String>>),
}

impl Update {
    /// A short name of the update's kind, for the dashboard loop's counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Update::Docker(_) => "docker",
            Update::Health(_) => "health",
            Update::Gpu(_) => "gpu",
            Update::Runs(_) => "runs",
            Update::Tags(_) => "tags",
            Update::LogLines { .. } => "log_lines",
            Update::LogEnded { .. } => "log_ended",
            Update::LogResumed { .. } => "log_resumed",
            Update::Deploys(_) => "deploys",
            Update::Github(_) => "github",
            Update::Swarm(_) => "swarm",
        }
    }
}

/// Messages from the GitHub tasks.
#[derive(Debug)]
pub enum GithubMsg {
    /// A run and its jobs, for the open jobs dialog.
    RunDetails {
        run_id: u64,
        result: Result<(RunView, Vec<JobView>), String>,
    },
    /// The budget after a request, and until when requests are held back.
    Budget {
        rate: RateLimit,
        blocked_until: Option<DateTime<Utc>>,
    },
    FormLoaded(Result<FormData, String>),
    /// The environment's recent GitHub Deployments, newest first.
    Deployments {
        environment: String,
        result: Result<Vec<crate::sources::github::DeploymentView>, String>,
    },
    Dispatched(Result<RunView, String>),
    /// GitHub accepted the dispatch and named its run, but the run could not be read: the
    /// form closes (sending again would start a second run) and says where the run is.
    DispatchAccepted {
        run_id: u64,
        html_url: Option<String>,
        error: String,
    },
    /// Where the image of the open dialog's successful run stands in the registry.
    RunImage {
        run_id: u64,
        image: RunImage,
    },
}

/// The image a successful run built, as the jobs dialog offers it for deploying.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum RunImage {
    /// The run has not succeeded (yet), so there is nothing to offer.
    #[default]
    None,
    /// The run succeeded; its commit tag is not in the registry yet.
    Waiting(Tag),
    /// The commit tag resolves in the registry: the deploy key offers it.
    Ready(Tag),
    /// It will not be offered (no commit tag pattern, the registry refused, timed out).
    Unavailable(String),
}

/// What the loop must do for the GitHub dialogs.
#[derive(Debug, Clone, PartialEq)]
pub enum GithubEffect {
    /// Follow this run's jobs (None: stop).
    WatchRun(Option<u64>),
    /// Put text on the terminal's clipboard (OSC 52), written by the loop, never by draw.
    Copy(String),
    LoadForm,
    /// POST this (validated) body to the dispatches endpoint.
    Dispatch(serde_json::Value),
}

/// What the form is built from: the ref to offer and the inputs the workflow declares.
#[derive(Debug, Clone, PartialEq)]
pub struct FormData {
    pub repository: String,
    pub workflow: String,
    pub default_ref: String,
    pub spec: DispatchSpec,
}
