//! The engine's own helpers around its vocabulary (in `domain::engine`): step numbers, exit
//! codes, the event channel, how a step ended and a failure inside `execute`.

use crate::domain::DeployStatus;
pub use crate::domain::{
    DeployEvent, DeployRequest, Outcome, PlanService, RollbackEvent, STEPS, StepState, Target,
};
use tokio::sync::mpsc;

pub(super) fn seq(name: &str) -> u32 {
    STEPS
        .iter()
        .position(|s| *s == name)
        .map_or(0, |i| i as u32 + 1)
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
