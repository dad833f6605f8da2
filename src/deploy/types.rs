//! The engine's vocabulary: steps, targets, requests, events and outcomes.

use crate::domain::{ImageRepo, Tag};
use crate::store::{DeployKind, DeployStatus, ImageSide};
use serde::Serialize;
use tokio::sync::mpsc;

/// The steps every deploy goes through, in order (1-based in events and the store).
pub const STEPS: [&str; 11] = [
    "lock",
    "resolve",
    "pull",
    "compare",
    "backup",
    "migrate",
    "recreate",
    "health",
    "rollback",
    "retention",
    "record",
];

pub(super) fn seq(name: &str) -> u32 {
    STEPS
        .iter()
        .position(|s| *s == name)
        .map_or(0, |i| i as u32 + 1)
}

/// What to deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The registry's `latest` tag, pinned to the commit tag with the same digest.
    Latest,
    Tag(Tag),
    /// What ran before the current version (from the store).
    Previous,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Latest => f.write_str("latest"),
            Target::Tag(t) => write!(f, "{t}"),
            Target::Previous => f.write_str("the previous deployment"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DeployRequest {
    pub kind: DeployKind,
    pub target: Target,
    pub force: bool,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepState {
    Running,
    Ok,
    /// Failed but not fatal (an optional backup).
    Warning,
    Failed,
    Skipped,
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Running => "running",
            StepState::Ok => "ok",
            StepState::Warning => "warning",
            StepState::Failed => "failed",
            StepState::Skipped => "skipped",
        }
    }
}

/// One service's move, as planned.
#[derive(Debug, Clone, Serialize)]
pub struct PlanService {
    pub service: String,
    pub from: ImageSide,
    pub to: ImageSide,
    /// The target image was built before the one that runs now.
    pub older: Option<bool>,
    /// The reference written to the env file and given to compose.
    pub to_ref: String,
    #[serde(skip)]
    pub(super) repo: Option<ImageRepo>,
    #[serde(skip)]
    pub(super) image_var: String,
    #[serde(skip)]
    pub(super) migrate_service: Option<String>,
    #[serde(skip)]
    pub(super) pin_tag: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum DeployEvent {
    Started {
        deployment_id: Option<i64>,
        kind: DeployKind,
        target: String,
        actor: String,
        runtime: String,
    },
    Plan {
        services: Vec<PlanService>,
    },
    Step {
        seq: u32,
        name: &'static str,
        state: StepState,
        duration_ms: Option<u64>,
        summary: String,
    },
    Progress {
        seq: u32,
        message: String,
        current: u64,
        total: u64,
    },
    /// What runs (`from`) and, once resolved, what replaces it (`to`).
    Sides {
        from: ImageSide,
        to: Option<ImageSide>,
    },
    /// The backup step's file, as the backup command named it.
    Backup {
        path: String,
    },
    /// Why the deploy failed, told before the automatic rollback begins (so a console
    /// following the store sees it during the rollback, not only after).
    Error {
        message: String,
    },
    /// One line of the audit log (attempts, refusals, outcomes), by this console's operator.
    Audit {
        action: String,
        target: Option<String>,
        outcome: String,
        detail: Option<String>,
    },
    Finished {
        deployment_id: Option<i64>,
        status: DeployStatus,
        message: String,
        downtime_ms: Option<u64>,
        duration_ms: u64,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub deployment_id: Option<i64>,
    pub status: DeployStatus,
    pub message: String,
    pub downtime_ms: Option<u64>,
    /// Refused before it started (lock held, stale lock): nothing was attempted.
    pub refused: bool,
}

/// Exit codes of `deploy` and `rollback`: the program's one table (src/exit_code.rs).
pub use crate::exit_code::{
    APP_MAY_BE_DOWN as EXIT_APP_DOWN, CANCELLED as EXIT_CANCELLED, FAILED as EXIT_DEPLOY_FAILED,
    REFUSED as EXIT_REFUSED,
};

impl Outcome {
    pub fn exit_code(&self) -> i32 {
        if self.refused {
            return EXIT_REFUSED;
        }
        match self.status {
            DeployStatus::Succeeded | DeployStatus::Skipped => crate::exit_code::OK,
            DeployStatus::FailedDown => EXIT_APP_DOWN,
            DeployStatus::Cancelled => EXIT_CANCELLED,
            _ => EXIT_DEPLOY_FAILED,
        }
    }
}

pub type Events = mpsc::UnboundedSender<DeployEvent>;

/// How a step ended, for `step_end`.
pub(super) struct StepEnd {
    pub(super) state: StepState,
    pub(super) summary: String,
}

pub(super) fn ok(summary: impl Into<String>) -> StepEnd {
    StepEnd {
        state: StepState::Ok,
        summary: summary.into(),
    }
}

/// A failure inside `execute`, with the step it happened in.
pub(super) struct Failure {
    pub(super) step: &'static str,
    pub(super) message: String,
    pub(super) cancelled: bool,
}

pub(super) fn fail(step: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        step,
        message: message.into(),
        cancelled: false,
    }
}
