//! The deploy's life around its steps: the lock's heartbeat, the final record and release,
//! and the outcomes of a refusal, an interrupt and a finish.

use super::Engine;
use super::error::RecordError;
use super::seams::Seams;
use super::types::*;
use crate::domain::DeployStatus;
use crate::store::Store;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long the final record and the lock release are retried (`record_and_release`).
const STORE_RETRY_FOR: Duration = Duration::from_secs(60);
const STORE_RETRY_PAUSE: Duration = Duration::from_millis(500);

impl<S: Seams> Engine<S> {
    /// The deployment's final row and the lock release, retried for `STORE_RETRY_FOR`: a full
    /// state disk or a store held by another process is often brief, and giving up at once
    /// leaves the history saying `running` and the lock behind a deploy that finished. The
    /// pauses are real time (the store is a real file), like the heartbeat's.
    pub(super) async fn record_and_release(&self, outcome: &Outcome) -> Result<(), RecordError> {
        let deadline = tokio::time::Instant::now() + STORE_RETRY_FOR;
        let mut recorded = self.deployment_id.is_none();
        loop {
            let mut last = None;
            if !recorded {
                // The recorder's own final write (it then skips `Finished`'s), so the store
                // still has one writer.
                match self.recorder.record_final(outcome).await {
                    Ok(()) => recorded = true,
                    Err(e) => last = Some(RecordError::NotRecorded(e)),
                }
            }
            if recorded {
                match self.store.release_lock(&self.actor) {
                    Ok(()) => return Ok(()),
                    Err(e) => last = Some(RecordError::LockKept(e)),
                }
            }
            let Some(e) = last else {
                return Ok(());
            };
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!("store: {e}");
                return Err(e);
            }
            tracing::warn!("store: {e}; retrying");
            tokio::time::sleep(STORE_RETRY_PAUSE).await;
        }
    }

    pub(super) fn refused(&self, action: &str, target: &str, message: String) -> Outcome {
        self.audit(action, target, "refused", Some(&message));
        let outcome = Outcome {
            deployment_id: None,
            status: DeployStatus::Failed,
            message,
            downtime_ms: None,
            refused: true,
        };
        self.emit_finished(&outcome);
        outcome
    }

    /// Keeps the lock's heartbeat fresh from its own connection while the deploy runs.
    pub(super) fn start_heartbeat(&self) -> CancellationToken {
        let stop = CancellationToken::new();
        let every = (self.settings.lock_stale_after / 3)
            .clamp(Duration::from_secs(1), Duration::from_secs(5));
        let dir = self.settings.state_dir.clone();
        let actor = self.actor.clone();
        let token = stop.clone();
        tokio::spawn(async move {
            let Ok(mut store) = Store::open(&dir) else {
                return;
            };
            loop {
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                // A store held by another process blocks for its busy timeout: on the
                // blocking pool, not on one of the runtime's two workers.
                let (beat, back) = {
                    let actor = actor.clone();
                    match tokio::task::spawn_blocking(move || (store.heartbeat(&actor), store))
                        .await
                    {
                        Ok(pair) => pair,
                        Err(_) => return,
                    }
                };
                store = back;
                match beat {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!("the deploy lock was released by force while we held it");
                        return;
                    }
                    Err(e) => tracing::warn!("heartbeat: {e}"),
                }
            }
        });
        stop
    }

    pub(super) fn finish(
        &self,
        status: DeployStatus,
        message: String,
        downtime_ms: Option<u64>,
    ) -> Outcome {
        Outcome {
            deployment_id: self.deployment_id,
            status,
            message,
            downtime_ms,
            refused: false,
        }
    }

    /// Every step after `step`, up to the record, skipped with `why`.
    pub(super) fn skip_after(&self, step: &str, why: &str) {
        for name in STEPS
            .iter()
            .skip(seq(step) as usize)
            .take_while(|n| **n != "record")
        {
            self.skip(name, why);
        }
    }

    pub(super) fn interrupted(&self, step: &'static str) -> Result<(), Failure> {
        if self.interrupt.is_cancelled() {
            Err(Failure {
                step,
                message: "cancelled by the operator before anything changed".into(),
                cancelled: true,
            })
        } else {
            Ok(())
        }
    }
}
