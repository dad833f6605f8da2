//! The automatic rollback after a failed switch, recorded as its own deployment.

use super::compose::Runtime;
use super::error::RollbackError;
use super::health::stopped_at;
use super::seams::Clock;
use super::seams::Seams;
use super::types::*;
use super::util::*;
use super::{Engine, envfile};
use crate::store::{DeployKind, DeployStatus, NewDeployment, Store};
use std::time::Instant;

impl<S: Seams> Engine<S> {
    /// Put the old images back and wait for them to be healthy. Recorded as its own
    /// deployment (kind auto-rollback) pointing at the failed one.
    /// Returns the users' outage (from `down_at`, when the old version stopped for the failed
    /// deploy, to the first healthy answer after the rollback) and the rollback's own switch.
    pub(super) async fn auto_rollback(
        &mut self,
        plans: &[PlanService],
        services: &[String],
        reason: &str,
        down_at: Instant,
    ) -> Result<(u64, u64), RollbackError> {
        let parent = self.deployment_id;
        let child = self
            .store
            .create_deployment(
                &NewDeployment {
                    kind: DeployKind::AutoRollback,
                    parent_id: parent,
                    services: services.to_vec(),
                    to_tag: plans[0].from.tag.clone(),
                    strategy: "recreate".into(),
                },
                &self.actor,
            )
            .ok();
        if let Some(c) = child {
            let _ = self.store.set_deploy_sides(c, &plans[0].to, &plans[0].from);
            self.emit(DeployEvent::Audit {
                action: "auto-rollback".into(),
                target: plans[0].from.image.clone(),
                outcome: "attempted".into(),
                detail: Some(reason.to_string()),
            });
        }
        let pins: Vec<(String, String)> = plans
            .iter()
            .filter_map(|p| p.from.image.clone().map(|i| (p.image_var.clone(), i)))
            .collect();
        let clock = &self.clock;
        let record =
            |store: &Store, seq: u32, name: &str, state: &str, t: Instant, summary: &str| {
                if let Some(c) = child {
                    let _ = store.step_started(c, seq, name);
                    let _ = store.step_finished(
                        c,
                        seq,
                        name,
                        state,
                        clock.now().saturating_duration_since(t).as_millis() as u64,
                        summary,
                    );
                }
            };
        let t = self.clock.now();
        let env_file = self.settings.env_file.clone();
        let result: Result<(u64, u64), RollbackError> = async {
            envfile::pin(&env_file, &pins)?;
            let death = self.watch_death(services).await;
            let recreate_started = self.clock.now();
            let limit = self.settings.recreate_timeout();
            let out = self.runtime.recreate(services, &pins, limit).await?;
            record(
                &self.store,
                seq("recreate"),
                "recreate",
                "ok",
                t,
                &last_line(&out),
            );
            let t2 = self.clock.now();
            let up_at = self.wait_healthy(services, "rollback").await?;
            let switch_down_at = stopped_at(
                death,
                recreate_started,
                self.settings.death_event_wait,
                &self.clock,
            )
            .await;
            record(
                &self.store,
                seq("health"),
                "health",
                "ok",
                t2,
                "healthy again",
            );
            Ok((
                up_at.saturating_duration_since(down_at).as_millis() as u64,
                up_at.saturating_duration_since(switch_down_at).as_millis() as u64,
            ))
        }
        .await;
        let error_text = result.as_ref().err().map(ToString::to_string);
        if let Some(c) = child {
            // The same outage as the failed deploy's row: one outage, told the same everywhere.
            let (status, error, downtime) = match &result {
                Ok((d, _)) => (DeployStatus::Succeeded, None, Some(*d)),
                Err(_) => (DeployStatus::FailedDown, error_text.as_deref(), None),
            };
            let _ = self.store.finish_deployment(c, status, error, downtime);
            self.emit(DeployEvent::Audit {
                action: "auto-rollback".into(),
                target: plans[0].from.image.clone(),
                outcome: status.as_str().into(),
                detail: error.map(str::to_string),
            });
        }
        result
    }
}
