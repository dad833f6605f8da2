//! The deploy engine's vocabulary: steps, targets, requests, the events it emits (which the
//! recorder stores, the CLI prints and the dashboard follows) and outcomes.

use super::{DeployKind, DeployStatus, ImageRepo, ImageSide, Tag};
use serde::Serialize;

/// The steps every deploy goes through, in order (1-based in events and the store).
pub const STEPS: [&str; 12] = [
    "lock",
    "resolve",
    "pull",
    "compare",
    "backup",
    "migrate",
    "recreate",
    "health",
    "switch",
    "rollback",
    "retention",
    "record",
];

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

    /// A stored step's status (`as_str`); None for one the engine never writes.
    pub fn parse(s: &str) -> Option<Self> {
        [
            StepState::Running,
            StepState::Ok,
            StepState::Warning,
            StepState::Failed,
            StepState::Skipped,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
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
    /// How its health is judged, where `ready` makes that differ from the healthcheck alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    #[serde(skip)]
    pub(crate) repo: Option<ImageRepo>,
    #[serde(skip)]
    pub(crate) image_var: String,
    #[serde(skip)]
    pub(crate) migrate_service: Option<String>,
    #[serde(skip)]
    pub(crate) pin_tag: Option<Tag>,
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
    /// How the new version replaces the old one (`start-first` or `stop-first`) and why,
    /// decided after the compare step; the recorder stores the name with the deployment.
    Strategy {
        strategy: String,
        why: String,
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
    /// The automatic rollback after a failed switch, recorded as its own deployment that
    /// points at the failed one.
    AutoRollback(RollbackEvent),
    /// The run's last event: how it ended. The recorder writes it as the deployment's final
    /// record (status, error unless it succeeded or was skipped, downtime).
    Finished {
        deployment_id: Option<i64>,
        status: DeployStatus,
        message: String,
        downtime_ms: Option<u64>,
        duration_ms: u64,
    },
}

/// The automatic rollback's own deployment: started, its steps, how it ended.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "phase", rename_all = "kebab-case")]
pub enum RollbackEvent {
    /// `from` is the failed version, `to` the one brought back.
    Started {
        services: Vec<String>,
        from: Box<ImageSide>,
        to: Box<ImageSide>,
    },
    Step {
        seq: u32,
        name: &'static str,
        state: StepState,
        duration_ms: u64,
        summary: String,
    },
    Finished {
        status: DeployStatus,
        error: Option<String>,
        downtime_ms: Option<u64>,
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
