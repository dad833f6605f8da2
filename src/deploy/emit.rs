//! The engine's one way to tell: every step's start, end and progress as a `DeployEvent`, to
//! the recorder (the store, on its own thread), then to the stream (printer, dashboard, subscribers).

use super::Engine;
use super::seams::{Clock, Seams};
use super::types::*;
use crate::domain::Actor;
use std::time::Instant;

impl<S: Seams> Engine<S> {
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// Queued for the recorder (its own thread writes the store in the order things
    /// happened, and never holds the deploy up), then the stream for the printer or the
    /// dashboard.
    pub(super) fn emit(&self, event: DeployEvent) {
        self.recorder.record(event.clone());
        let _ = self.events.send(event);
    }

    pub(super) fn step_begin(&self, name: &'static str) -> Instant {
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
        self.emit(DeployEvent::Progress {
            seq: seq(name),
            message,
            current,
            total,
        });
    }

    pub(super) fn audit(&self, action: &str, target: &str, outcome: &str, detail: Option<&str>) {
        self.emit(DeployEvent::Audit {
            action: action.into(),
            target: Some(target.into()),
            outcome: outcome.into(),
            detail: detail.map(str::to_string),
        });
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
