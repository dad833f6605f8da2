//! Every step's start and end and progress: emitted as a `DeployEvent`, which the `Recorder`
//! turns into the deployment's rows in the store as it happens (a console elsewhere follows
//! the store) and the event stream carries to whoever prints or shows it.

use super::Engine;
use super::seams::Clock;
use super::seams::Seams;
use super::types::*;
use crate::store::{Actor, Store};
use std::sync::Mutex;
use std::time::Instant;

/// The subscriber that keeps the store: it learns the deployment from `Started` and writes
/// each `Step`, `Progress`, `Sides`, `Backup` and `Error` event into that deployment's row
/// (step rows, progress line, from/to, backup path, error). Events
/// before `Started` (a refused lock, a dry run) belong to no deployment and are not written.
/// `Audit` events become audit lines by the operator, whether or not a deployment started.
pub(super) struct Recorder {
    actor: Actor,
    deployment: Mutex<Option<i64>>,
}

impl Recorder {
    pub(super) fn new(actor: Actor) -> Self {
        Self {
            actor,
            deployment: Mutex::new(None),
        }
    }

    pub(super) fn record(&self, store: &Store, event: &DeployEvent) {
        if let DeployEvent::Audit {
            action,
            target,
            outcome,
            detail,
        } = event
        {
            if let Err(e) = store.audit(
                &self.actor,
                action,
                target.as_deref(),
                outcome,
                detail.as_deref(),
            ) {
                tracing::warn!("audit: {action} {outcome}: {e}");
            }
            return;
        }
        // A poisoned lock only means a panic elsewhere; the id inside is still right.
        let mut deployment = self.deployment.lock().unwrap_or_else(|e| e.into_inner());
        if let DeployEvent::Started { deployment_id, .. } = event {
            *deployment = *deployment_id;
            return;
        }
        let Some(id) = *deployment else { return };
        let written = match event {
            DeployEvent::Step {
                seq,
                name,
                state: StepState::Running,
                ..
            } => store.step_started(id, *seq, name),
            DeployEvent::Step {
                seq,
                name,
                state,
                duration_ms,
                summary,
            } => store.step_finished(
                id,
                *seq,
                name,
                state.as_str(),
                duration_ms.unwrap_or(0),
                summary,
            ),
            DeployEvent::Progress { message, .. } => store.set_progress(id, message),
            DeployEvent::Sides { from, to: None } => store.set_from_side(id, from),
            DeployEvent::Sides { from, to: Some(to) } => store.set_deploy_sides(id, from, to),
            DeployEvent::Backup { path } => store.set_backup_path(id, path),
            DeployEvent::Error { message } => store.set_error(id, message),
            _ => Ok(()),
        };
        if let Err(e) = written {
            tracing::warn!("store: recording deployment #{id}: {e}");
        }
    }
}

impl<S: Seams> Engine<S> {
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The recorder first, in line, so the store is written before anyone is told (and in the
    /// order things happened); then the stream for the printer or the dashboard.
    pub(super) fn emit(&self, event: DeployEvent) {
        self.recorder.record(&self.store, &event);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DeployKind, ImageSide, NewDeployment};

    fn step(name: &'static str, state: StepState, summary: &str) -> DeployEvent {
        DeployEvent::Step {
            seq: seq(name),
            name,
            state,
            duration_ms: (state != StepState::Running).then_some(7),
            summary: summary.into(),
        }
    }

    #[test]
    fn the_recorder_writes_the_started_deployments_steps_and_progress_from_events() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let actor = Actor::current();
        let id = store
            .create_deployment(
                &NewDeployment {
                    kind: DeployKind::Deploy,
                    parent_id: None,
                    services: vec!["app".into()],
                    to_tag: Some("v2".into()),
                    strategy: "recreate".into(),
                },
                &actor,
            )
            .unwrap();
        let recorder = Recorder::new(actor.clone());
        // Before Started there is no deployment to write to: nothing is written anywhere.
        recorder.record(&store, &step("lock", StepState::Failed, "held"));
        // An audit line needs no deployment.
        recorder.record(
            &store,
            &DeployEvent::Audit {
                action: "deploy".into(),
                target: Some("v2".into()),
                outcome: "refused".into(),
                detail: Some("held".into()),
            },
        );
        assert_eq!(store.count_audit("deploy", "refused").unwrap(), 1);
        for event in [
            DeployEvent::Started {
                deployment_id: Some(id),
                kind: DeployKind::Deploy,
                target: "v2".into(),
                actor: actor.describe(),
                runtime: "test".into(),
            },
            step("lock", StepState::Ok, "held by me"),
            step("pull", StepState::Running, ""),
            DeployEvent::Progress {
                seq: seq("pull"),
                message: "pull 5/10".into(),
                current: 5,
                total: 10,
            },
            step("pull", StepState::Ok, "pulled"),
            step("backup", StepState::Skipped, "an earlier step failed"),
            DeployEvent::Sides {
                from: ImageSide {
                    image: Some("app:v1".into()),
                    ..Default::default()
                },
                to: Some(ImageSide {
                    image: Some("app:v2".into()),
                    ..Default::default()
                }),
            },
            DeployEvent::Backup {
                path: "/backups/db-1.sql".into(),
            },
            DeployEvent::Error {
                message: "unhealthy; rolling back".into(),
            },
        ] {
            recorder.record(&store, &event);
        }
        let d = store.deployment(id).unwrap().unwrap();
        assert_eq!(d.progress.as_deref(), Some("pull 5/10"));
        assert_eq!(d.from.image.as_deref(), Some("app:v1"));
        assert_eq!(d.to.image.as_deref(), Some("app:v2"));
        assert_eq!(d.backup_path.as_deref(), Some("/backups/db-1.sql"));
        assert_eq!(d.error.as_deref(), Some("unhealthy; rolling back"));
        let steps: Vec<(&str, &str, Option<&str>, Option<u64>)> = d
            .steps
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.status.as_str(),
                    s.summary.as_deref(),
                    s.duration_ms,
                )
            })
            .collect();
        assert_eq!(
            steps,
            vec![
                ("lock", "ok", Some("held by me"), Some(7)),
                ("pull", "ok", Some("pulled"), Some(7)),
                ("backup", "skipped", Some("an earlier step failed"), Some(7)),
            ]
        );
    }
}
