//! What can happen to the dashboard (`Msg`: input, ticks, collectors' updates) and what its
//! loop must do in return (`Effect`). Plain data: no state, no drawing.

use crate::collect::update::GithubEffect;
use crate::collect::update::Update;
use crate::domain::StartRequest;
use crossterm::event::{KeyEvent, MouseEvent};

/// Everything that can happen, from the terminal, a source, or the clock.
// Most messages are collectors' updates, which arrive by value on their own channel; boxing
// each of them to shrink the rare key or tick would only add an allocation per update.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    Tick,
    /// What a collector reported (collect/update.rs).
    Collected(Update),
    Saved(Result<String, String>),
    /// The detached deploy process was started (its log file) or could not be.
    DeployStarted(Result<String, String>),
    /// One host's overview probe (several hosts).
    HostProbed(Box<crate::hosts::overview::HostStatus>),
    /// One host's probe did not end in time.
    HostProbeFailed {
        name: String,
        error: String,
    },
    /// What the shown host's collectors reported, under the switch (`generation`) that
    /// started them: an update from a host already left is dropped.
    HostUpdate {
        generation: u64,
        update: Update,
    },
    /// GitHub's answer for a confirm dialog: the rows that replace its `commits` row.
    Commits {
        ask: Box<crate::compare::Ask>,
        rows: Vec<(String, String)>,
    },
}

impl From<Update> for Msg {
    fn from(u: Update) -> Msg {
        Msg::Collected(u)
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
            Msg::Collected(u) => u.kind(),
            Msg::Saved(_) => "saved",
            Msg::Commits { .. } => "commits",
            Msg::DeployStarted(_) => "deploy_started",
            Msg::HostProbed(_) => "host_probed",
            Msg::HostProbeFailed { .. } => "host_probe_failed",
            Msg::HostUpdate { update, .. } => update.kind(),
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
    /// Show this host's full dashboard: stop the last host's collectors, start this one's
    /// (their updates carry `generation`).
    SwitchHost {
        name: String,
        generation: u64,
    },
    /// Probe every host for the overview now.
    ProbeHosts,
    /// Ask GitHub which commits the confirm dialog's move brings or undoes.
    CompareCommits(Box<crate::compare::Ask>),
}
