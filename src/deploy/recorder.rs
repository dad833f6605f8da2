//! Every step's start and end, progress and audit: written to the store as it happens and
//! sent as a `DeployEvent` to whoever prints or shows it.

use super::Engine;
use super::seams::Clock;
use super::seams::Seams;
use super::types::*;
use crate::store::Actor;
use std::time::Instant;

impl<S: Seams> Engine<S> {
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    pub(super) fn emit(&self, event: DeployEvent) {
        let _ = self.events.send(event);
    }

    pub(super) fn step_begin(&self, name: &'static str) -> Instant {
        if let Some(id) = self.deployment_id
            && let Err(e) = self.store.step_started(id, seq(name), name)
        {
            tracing::warn!("store: {e}");
        }
        self.emit(DeployEvent::Step {
            seq: seq(name),
            name,
            state: StepState::Running,
            duration_ms: None,
            summary: String::new(),
        });
        self.clock.now()
    }

    pub(super) fn step_end(&self, name: &'static str, started: Instant, end: StepEnd) {
        let ms = self
            .clock
            .now()
            .saturating_duration_since(started)
            .as_millis() as u64;
        if let Some(id) = self.deployment_id
            && let Err(e) =
                self.store
                    .step_finished(id, seq(name), name, end.state.as_str(), ms, &end.summary)
        {
            tracing::warn!("store: {e}");
        }
        self.emit(DeployEvent::Step {
            seq: seq(name),
            name,
            state: end.state,
            duration_ms: Some(ms),
            summary: end.summary,
        });
    }

    pub(super) fn skip(&self, name: &'static str, why: &str) {
        let t = self.clock.now();
        self.step_end(
            name,
            t,
            StepEnd {
                state: StepState::Skipped,
                summary: why.to_string(),
            },
        );
    }

    pub(super) fn progress(&self, name: &'static str, message: String, current: u64, total: u64) {
        if let Some(id) = self.deployment_id {
            let _ = self.store.set_progress(id, &message);
        }
        self.emit(DeployEvent::Progress {
            seq: seq(name),
            message,
            current,
            total,
        });
    }

    pub(super) fn audit(&self, action: &str, target: &str, outcome: &str, detail: Option<&str>) {
        if let Err(e) = self
            .store
            .audit(&self.actor, action, Some(target), outcome, detail)
        {
            tracing::warn!("audit: {e}");
        }
    }

    pub(super) fn failed_step(
        &self,
        name: &'static str,
        t: Instant,
        message: impl std::fmt::Display,
    ) -> Failure {
        let message = message.to_string();
        self.step_end(
            name,
            t,
            StepEnd {
                state: StepState::Failed,
                summary: message.clone(),
            },
        );
        fail(name, message)
    }
}
