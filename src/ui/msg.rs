//! What can happen to the dashboard (`Msg`: input, ticks, collectors' updates) and what its
//! loop must do in return (`Effect`). Plain data: no state, no drawing.

use super::sanitize::StyledLine;
use crate::collect::status::RepoTags;
use crate::collect::update::Update;
use crate::collect::update::{GithubEffect, GithubMsg};
use crate::domain::{
    ContainersUpdate, DeploySnapshot, GpuStatus, HealthResult, RateLimit, RunView, StartRequest,
};
use chrono::{DateTime, Utc};
use crossterm::event::{KeyEvent, MouseEvent};

/// Everything that can happen, from the terminal, a source, or the clock.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    Tick,
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
    Saved(Result<String, String>),
    /// A fresh read of the deploy store.
    Deploys(Box<Result<DeploySnapshot, String>>),
    /// The detached deploy process was started (its log file) or could not be.
    DeployStarted(Result<String, String>),
    Github(GithubMsg),
    /// GitHub's answer for a confirm dialog: the rows that replace its `commits` row.
    Commits {
        ask: Box<crate::compare::Ask>,
        rows: Vec<(String, String)>,
    },
}

impl From<Update> for Msg {
    fn from(u: Update) -> Msg {
        match u {
            Update::Docker(u) => Msg::Docker(u),
            Update::Health(h) => Msg::Health(h),
            Update::Gpu(g) => Msg::Gpu(g),
            Update::Runs(r) => Msg::Runs(r),
            Update::Tags(t) => Msg::Tags(t),
            Update::LogLines {
                container_id,
                lines,
            } => Msg::LogLines {
                container_id,
                lines,
            },
            Update::LogEnded {
                container_id,
                reason,
            } => Msg::LogEnded {
                container_id,
                reason,
            },
            Update::LogResumed {
                container_id,
                what,
                at,
            } => Msg::LogResumed {
                container_id,
                what,
                at,
            },
            Update::Deploys(d) => Msg::Deploys(d),
            Update::Github(g) => Msg::Github(g),
        }
    }
}

impl Msg {
    /// A short name of the message's kind, for the loop's counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Msg::Key(_) => "key",
            Msg::Mouse(_) => "mouse",
            Msg::Resize(..) => "resize",
            Msg::Tick => "tick",
            Msg::Docker(_) => "docker",
            Msg::Health(_) => "health",
            Msg::Gpu(_) => "gpu",
            Msg::Runs(_) => "runs",
            Msg::Tags(_) => "tags",
            Msg::LogLines { .. } => "log_lines",
            Msg::LogEnded { .. } => "log_ended",
            Msg::LogResumed { .. } => "log_resumed",
            Msg::Saved(_) => "saved",
            Msg::Commits { .. } => "commits",
            Msg::Deploys(_) => "deploys",
            Msg::DeployStarted(_) => "deploy_started",
            Msg::Github(_) => "github",
        }
    }
}

/// What the loop must do after an update.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Quit,
    FollowLogs {
        container_id: String,
        tail: u32,
    },
    SaveLogs {
        container: String,
        text: String,
    },
    ClearAndRedraw,
    SetMouse(bool),
    RefreshRemote,
    GpuVisible(bool),
    /// Start the engine as its own detached process (confirmed by the operator); with
    /// services named, only those move (`--service`).
    StartDeploy(StartRequest),
    /// Record a refused or declined action in the store's audit.
    Audit {
        action: String,
        target: String,
        outcome: String,
        detail: String,
    },
    Github(GithubEffect),
    /// Ask GitHub which commits the confirm dialog's move brings or undoes.
    CompareCommits(Box<crate::compare::Ask>),
}
