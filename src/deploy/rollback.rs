//! The automatic rollback after a failed switch, recorded as its own deployment.

use super::compose::Runtime;
use super::error::RollbackError;
use super::health::stopped_at;
use super::seams::Clock;
use super::seams::Seams;
use super::types::*;
use super::util::*;
use super::{Engine, envfile};
use crate::domain::DeployStatus;
use std::time::Instant;

impl<S: Seams> Engine<S> {
    /// Put the old images back and wait for them to be healthy. Recorded as its own
    /// deployment (kind auto-rollback) pointing at the failed one, by the recorder from the
    /// `AutoRollback` events.
    /// Returns the users' outage (from `down_at`, when the old version stopped for the failed
    /// deploy, to the first healthy answer after the rollback) and the rollback's own switch.
    pub(super) async fn auto_rollback(
        &mut self,
        plans: &[PlanService],
        services: &[String],
        reason: &str,
        down_at: Instant,
    ) -> Result<(u64, u64), RollbackError> {
        self.emit(DeployEvent::AutoRollback(RollbackEvent::Started {
            services: services.to_vec(),
            from: Box::new(plans[0].to.clone()),
            to: Box::new(plans[0].from.clone()),
        }));
        self.emit(DeployEvent::Audit {
            action: "auto-rollback".into(),
            target: plans[0].from.image.clone(),
            outcome: "attempted".into(),
            detail: Some(reason.to_string()),
        });
        let pins: Vec<(String, String)> = plans
            .iter()
            .filter_map(|p| p.from.image.clone().map(|i| (p.image_var.clone(), i)))
            .collect();
        let step_ok = |name: &'static str, t: Instant, summary: String| {
            DeployEvent::AutoRollback(RollbackEvent::Step {
                seq: seq(name),
                name,
                state: StepState::Ok,
                duration_ms: self.clock.now().saturating_duration_since(t).as_millis() as u64,
                summary,
            })
        };
        let t = self.clock.now();
        let env_file = self.settings.env_file.clone();
        let result: Result<(u64, u64), RollbackError> = async {
            envfile::pin(&env_file, &pins)?;
            let death = self.watch_death(services).await;
            let recreate_started = self.clock.now();
            let limit = self.settings.recreate_timeout();
            let out = self.runtime.recreate(services, &pins, limit).await?;
            let proxied = self.proxy_follows_recreate(services).await;
            self.emit(step_ok(
                "recreate",
                t,
                format!("{}{proxied}", last_line(&out)),
            ));
            let t2 = self.clock.now();
            let up_at = self.wait_healthy(services, "rollback").await?;
            let switch_down_at = stopped_at(
                death,
                recreate_started,
                self.settings.death_event_wait,
                &self.clock,
            )
            .await;
            self.emit(step_ok("health", t2, "healthy again".into()));
            Ok((
                up_at.saturating_duration_since(down_at).as_millis() as u64,
                up_at.saturating_duration_since(switch_down_at).as_millis() as u64,
            ))
        }
        .await;
        // The same outage as the failed deploy's row: one outage, told the same everywhere.
        let (status, error, downtime_ms) = match &result {
            Ok((d, _)) => (DeployStatus::Succeeded, None, Some(*d)),
            Err(e) => (DeployStatus::FailedDown, Some(e.to_string()), None),
        };
        self.emit(DeployEvent::AutoRollback(RollbackEvent::Finished {
            status,
            error: error.clone(),
            downtime_ms,
        }));
        self.emit(DeployEvent::Audit {
            action: "auto-rollback".into(),
            target: plans[0].from.image.clone(),
            outcome: status.as_str().into(),
            detail: error,
        });
        result
    }
}
