//! Every step's start and end and progress: emitted as a `DeployEvent`, which the `Recorder`
//! turns into the deployment's rows in the store as it happens (a console elsewhere follows
//! the store) and the event stream carries to whoever prints or shows it.

use super::follow::final_error;
use super::types::*;
use crate::domain::{Actor, DeployKind, NewDeployment};
use crate::store::Store;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The subscriber that keeps the store: it learns the deployment from `Started` and writes
/// each `Step`, `Progress`, `Sides`, `Backup` and `Error` event into that deployment's row
/// (step rows, progress line, from/to, backup path, error), and `Finished` as its final record.
/// `AutoRollback` events create, fill and finish the automatic rollback's own row, pointing
/// at the deployment it undoes. Events before `Started` (a refused lock, a dry run) belong to
/// no deployment and are not written. `Audit` events become audit lines by the operator,
/// whether or not a deployment started.
pub(super) struct Recorder {
    actor: Actor,
    rows: Mutex<Rows>,
}

/// The rows the recorder writes to.
#[derive(Default)]
struct Rows {
    deployment: Option<i64>,
    /// The automatic rollback's row while it runs.
    rollback: Option<i64>,
    /// The final record is written (by `record_final`): `Finished` need not write it again.
    finished: bool,
}

/// How long the write that ends the automatic rollback's row is retried. A full state disk or
/// a store held by another process is often brief, and a row left `running` is a history that
/// lies (found by the soak, issue 16: the disk full as the rollback ran). The recorder runs on
/// its own thread (writer.rs), so waiting here holds up no deploy; the deployment's own final
/// record is retried by the engine (`record_and_release`).
const END_RETRY_FOR: Duration = Duration::from_secs(60);
const END_RETRY_PAUSE: Duration = Duration::from_millis(500);

fn until_written(
    mut write: impl FnMut() -> Result<(), crate::store::StoreError>,
) -> Result<(), crate::store::StoreError> {
    let deadline = Instant::now() + END_RETRY_FOR;
    loop {
        match write() {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(e) => {
                tracing::warn!("store: {e}; retrying");
                std::thread::sleep(END_RETRY_PAUSE);
            }
        }
    }
}

impl Recorder {
    pub(super) fn new(actor: Actor) -> Self {
        Self {
            actor,
            rows: Mutex::new(Rows::default()),
        }
    }

    /// The deployment's final record from its outcome, before `Finished` is sent: the engine
    /// retries this one write (a full state disk, a store locked by another process), which
    /// an event, sent once, cannot.
    pub(super) fn record_final(
        &self,
        store: &Store,
        outcome: &Outcome,
    ) -> Result<(), crate::store::StoreError> {
        let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        let Some(id) = rows.deployment else {
            return Ok(());
        };
        store.finish_deployment(
            id,
            outcome.status,
            final_error(outcome.status, &outcome.message),
            outcome.downtime_ms,
        )?;
        rows.finished = true;
        Ok(())
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
        // A poisoned lock only means a panic elsewhere; the ids inside are still right.
        let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        if let DeployEvent::Started { deployment_id, .. } = event {
            rows.deployment = *deployment_id;
            return;
        }
        let Some(id) = rows.deployment else { return };
        if let DeployEvent::AutoRollback(event) = event {
            self.record_rollback(store, &mut rows, id, event);
            return;
        }
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
            DeployEvent::Strategy { strategy, .. } => store.set_strategy(id, strategy),
            DeployEvent::Error { message } => store.set_error(id, message),
            DeployEvent::Finished { .. } if rows.finished => Ok(()),
            DeployEvent::Finished {
                status,
                message,
                downtime_ms,
                ..
            } => store.finish_deployment(id, *status, final_error(*status, message), *downtime_ms),
            _ => Ok(()),
        };
        if let Err(e) = written {
            tracing::warn!("store: recording deployment #{id}: {e}");
        }
    }

    fn record_rollback(&self, store: &Store, rows: &mut Rows, parent: i64, event: &RollbackEvent) {
        let written = match (event, rows.rollback) {
            (RollbackEvent::Started { services, from, to }, _) => store
                .create_deployment(
                    &NewDeployment {
                        kind: DeployKind::AutoRollback,
                        parent_id: Some(parent),
                        services: services.clone(),
                        to_tag: to.tag_str().map(str::to_string),
                        strategy: "recreate".into(),
                    },
                    &self.actor,
                )
                .and_then(|child| {
                    rows.rollback = Some(child);
                    store.set_deploy_sides(child, from, to)
                }),
            (
                RollbackEvent::Step {
                    seq,
                    name,
                    state,
                    duration_ms,
                    summary,
                },
                Some(child),
            ) => store.step_started(child, *seq, name).and_then(|()| {
                store.step_finished(child, *seq, name, state.as_str(), *duration_ms, summary)
            }),
            (
                RollbackEvent::Finished {
                    status,
                    error,
                    downtime_ms,
                },
                Some(child),
            ) => {
                rows.rollback = None;
                until_written(|| {
                    store.finish_deployment(child, *status, error.as_deref(), *downtime_ms)
                })
            }
            // Its row could not be created: the failure was logged then.
            (_, None) => Ok(()),
        };
        if let Err(e) = written {
            tracing::warn!("store: recording the automatic rollback of deployment #{parent}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DeployStatus, ImageSide};

    fn step(name: &'static str, state: StepState, summary: &str) -> DeployEvent {
        DeployEvent::Step {
            seq: seq(name),
            name,
            state,
            duration_ms: (state != StepState::Running).then_some(7),
            summary: summary.into(),
        }
    }

    /// A fresh store holding one started deployment (the lock's own row), as the engine
    /// creates it before `Started`.
    fn store_with_a_deployment() -> (tempfile::TempDir, Store, Actor, i64) {
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
        (dir, store, actor, id)
    }

    #[test]
    fn the_recorder_writes_the_started_deployments_steps_and_progress_from_events() {
        let (_dir, store, actor, id) = store_with_a_deployment();
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
        let events = [
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
        ];
        for event in &events {
            recorder.record(&store, event);
        }
        let d = store.deployment(id).unwrap().unwrap();
        // The dashboard's view from the store is the view from the live events.
        assert_eq!(
            crate::deploy::follow::Followed::from_store(&d),
            crate::deploy::follow::Followed::from_events(&events)
        );
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

    #[test]
    fn the_recorder_writes_the_final_record_and_the_automatic_rollbacks_row_from_events() {
        let (_dir, store, actor, id) = store_with_a_deployment();
        let side = |tag: &str| ImageSide {
            image: Some(format!("app:{tag}")),
            tag: Some(crate::domain::Tag::parse(tag).unwrap()),
            ..Default::default()
        };
        let recorder = Recorder::new(actor.clone());
        let events = [
            DeployEvent::Started {
                deployment_id: Some(id),
                kind: DeployKind::Deploy,
                target: "v2".into(),
                actor: actor.describe(),
                runtime: "test".into(),
            },
            DeployEvent::Sides {
                from: side("v1"),
                to: Some(side("v2")),
            },
            step("health", StepState::Failed, "unhealthy"),
            step("rollback", StepState::Running, ""),
            DeployEvent::AutoRollback(RollbackEvent::Started {
                services: vec!["app".into()],
                from: Box::new(side("v2")),
                to: Box::new(side("v1")),
            }),
            DeployEvent::AutoRollback(RollbackEvent::Step {
                seq: seq("recreate"),
                name: "recreate",
                state: StepState::Ok,
                duration_ms: 40,
                summary: "recreated".into(),
            }),
            DeployEvent::AutoRollback(RollbackEvent::Finished {
                status: DeployStatus::Succeeded,
                error: None,
                downtime_ms: Some(900),
            }),
            step("rollback", StepState::Ok, "v1 healthy again"),
            DeployEvent::Finished {
                deployment_id: Some(id),
                status: DeployStatus::RolledBack,
                message: "unhealthy; rolled back".into(),
                downtime_ms: Some(900),
                duration_ms: 5000,
            },
        ];
        for event in &events {
            recorder.record(&store, event);
        }
        let list = store.deployments(2).unwrap();
        let (child, parent) = (&list[0], &list[1]);
        assert_eq!(parent.id, id);
        assert_eq!(parent.status, DeployStatus::RolledBack);
        assert!(parent.finished_at.is_some());
        assert_eq!(parent.error.as_deref(), Some("unhealthy; rolled back"));
        assert_eq!(parent.downtime_ms, Some(900));
        assert_eq!(child.kind, DeployKind::AutoRollback);
        assert_eq!(child.parent_id, Some(id));
        assert_eq!(child.status, DeployStatus::Succeeded);
        assert_eq!(child.error, None);
        assert_eq!(child.downtime_ms, Some(900));
        assert_eq!(
            (child.from.clone(), child.to.clone()),
            (side("v2"), side("v1"))
        );
        assert_eq!(child.steps.len(), 1);
        assert_eq!(child.steps[0].summary.as_deref(), Some("recreated"));
        // Read back, the stored deployment tells what the events told (but its wall-clock
        // duration, which the store measures itself).
        let mut live = crate::deploy::follow::Followed::from_events(&events);
        let mut stored = crate::deploy::follow::Followed::from_store(parent);
        live.duration_ms = None;
        stored.duration_ms = None;
        assert_eq!(stored, live);
    }
}
