//! The step machine: lock, then resolve → pull → compare → backup → migrate → recreate →
//! health → [rollback] → retention → record, and where an interrupt is still honoured.

use super::compose::Runtime;
use super::health::stopped_at;
use super::orchestrator::Orchestrator;
use super::seams::Clock;
use super::seams::Seams;
use super::strategy::Strategy;
use super::types::*;
use super::util::*;
use super::{Engine, describe_lock_refusal, envfile};
use crate::domain::ContainerState;
use crate::domain::{DeployKind, DeployStatus, NewDeployment};
use crate::format::duration_ms as fmt_ms;

impl<S: Seams> Engine<S> {
    /// Run the request to its end. Never returns with the app half-deployed: after the
    /// recreate step it is either healthy on the new version or rolled back (or, if even the
    /// rollback fails, reported as possibly down).
    /// The last event of every run, from its outcome: a dry run or a refusal has no
    /// deployment and no downtime.
    pub(super) fn emit_finished(&self, outcome: &Outcome) {
        let duration_ms = self
            .clock
            .now()
            .saturating_duration_since(self.started)
            .as_millis() as u64;
        self.emit(DeployEvent::Finished {
            deployment_id: outcome.deployment_id,
            status: outcome.status,
            message: outcome.message.clone(),
            downtime_ms: outcome.downtime_ms,
            duration_ms,
        });
    }

    pub async fn run(mut self, req: DeployRequest) -> Outcome {
        let action = req.kind.as_str();
        let target = req.target.to_string();
        if req.dry_run {
            self.audit(action, &target, "dry-run", None);
            let outcome = self.dry_run(&req).await;
            self.emit_finished(&outcome);
            return outcome;
        }
        self.audit(action, &target, "attempted", None);

        let t = self.clock.now();
        let new = NewDeployment {
            kind: req.kind,
            parent_id: None,
            services: self.settings.service_names().map(str::to_string).collect(),
            to_tag: match &req.target {
                Target::Tag(t) => Some(t.to_string()),
                Target::Latest => Some("latest".into()),
                Target::Previous => None,
            },
            strategy: self
                .runtime
                .orchestrator()
                .map_or_else(|| "recreate".into(), |o| o.strategy()),
        };
        let stale_after = self.settings.lock_stale_after;
        let actor = self.actor.clone();
        // A store error and a lock held by someone else end the same way: refused, recorded.
        let acquired = self
            .store
            .acquire_lock(&actor, action, stale_after, Some(&new))
            .map_err(|e| format!("cannot take the deploy lock: {e}"))
            .and_then(|r| r.map_err(|state| describe_lock_refusal(&state)));
        let id = match acquired {
            Ok(id) => id,
            Err(message) => {
                self.step_end(
                    "lock",
                    t,
                    StepEnd {
                        state: StepState::Failed,
                        summary: message.clone(),
                    },
                );
                return self.refused(action, &target, message);
            }
        };
        self.deployment_id = id;
        self.emit(DeployEvent::Started {
            deployment_id: id,
            kind: req.kind,
            target: target.clone(),
            actor: self.actor.describe(),
            runtime: self.runtime.describe(),
        });
        self.step_end("lock", t, ok(format!("held by {}", self.actor.describe())));

        let heartbeat = self.start_heartbeat();
        let outcome = self.execute(&req).await;
        heartbeat.cancel();

        // The recorder writes the final record (retried: a full disk or a busy store is often
        // brief); the lock is released after it, so whoever takes it next finds this
        // deployment ended.
        let t = self.step_begin("record");
        let mut outcome = outcome;
        let released = self.record_and_release(&outcome).await;
        match &released {
            Ok(()) => self.step_end("record", t, ok(format!("deployment #{}", id.unwrap_or(0)))),
            Err(e) => {
                // Said, not only logged: otherwise the deploy reports success while the store
                // keeps `running` and a lock that `lock release --force` turns into
                // `interrupted` (found by the soak, issue 16).
                self.step_end(
                    "record",
                    t,
                    StepEnd {
                        state: StepState::Failed,
                        summary: e.to_string(),
                    },
                );
                outcome.message = format!("{}; {e}", outcome.message);
            }
        }
        self.audit(
            action,
            &target,
            outcome.status.as_str(),
            Some(&outcome.message),
        );
        self.emit_finished(&outcome);
        if released.is_err()
            && let Err(e) = self.store.release_lock(&self.actor)
        {
            tracing::warn!("releasing the lock: {e}");
        }
        outcome
    }

    pub(super) async fn execute(&mut self, req: &DeployRequest) -> Outcome {
        // The one choice of runtime: an orchestrator (Swarm) replaces the services itself.
        if let Some(orchestrator) = self.runtime.orchestrator() {
            return self.swarm_update(req, orchestrator).await;
        }
        let mut plans = match self.prepare(req).await {
            Ok(p) => p,
            Err(f) => return self.stopped_before_change(f),
        };

        // 4. compare
        let t = self.step_begin("compare");
        let current = match self.current_containers().await {
            Ok(c) => c,
            // The step ends failed like any other, not left running in the store.
            Err(e) => return self.stopped_before_change(self.failed_step("compare", t, e)),
        };
        let same = plans.iter().all(|p| {
            current.get(&p.service).is_some_and(|c| {
                c.state == ContainerState::Running && Some(&c.image_id) == p.to.image_id.as_ref()
            })
        });
        if same && !req.force {
            let message = format!(
                "{} already runs {}; nothing to do (--force redeploys)",
                plans
                    .iter()
                    .map(|p| p.service.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                plans[0].to_ref
            );
            self.step_end("compare", t, ok(message.clone()));
            self.skip_after("compare", "already running");
            return self.finish(DeployStatus::Skipped, message, None);
        }
        let chosen = self.choose_strategy(&plans, &current).await;
        self.emit(DeployEvent::Strategy {
            strategy: chosen.strategy.as_str().to_string(),
            why: chosen.why.clone(),
        });
        let compared = if same {
            "already running; redeploying (--force)".to_string()
        } else {
            plans
                .iter()
                .map(|p| {
                    format!(
                        "{}: {} -> {}",
                        p.service,
                        p.from.image.as_deref().unwrap_or("nothing"),
                        p.to_ref
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        self.step_end("compare", t, ok(format!("{compared}; {}", chosen.why)));

        // 5. backup, 6. migrate: the old app still runs, untouched, if either fails.
        if let Err(f) = self.backup(&plans).await {
            return self.stopped_before_change(f);
        }
        if req.kind == DeployKind::Rollback {
            // The older version's migrations ran when it was deployed; running its migrate
            // step against a newer schema could only do harm, and costs seconds.
            self.skip("migrate", "a rollback runs no migration");
        } else if let Err(f) = self.migrate(&plans).await {
            return self.stopped_before_change(f);
        }
        if let Err(f) = self.interrupted("recreate") {
            return self.stopped_before_change(f);
        }
        if chosen.strategy == Strategy::StartFirst {
            return self.start_first(req, plans).await;
        }

        // 7. recreate. From here on an interrupt is ignored: we finish or roll back.
        self.skip("switch", &chosen.why);
        let t = self.step_begin("recreate");
        if let Err(e) = self.keep_rollback_images(&mut plans).await {
            self.step_end(
                "recreate",
                t,
                StepEnd {
                    state: StepState::Failed,
                    summary: e.to_string(),
                },
            );
            return self.stopped_before_change_noted(fail("recreate", e.to_string()));
        }
        let pins: Vec<(String, String)> = plans
            .iter()
            .map(|p| (p.image_var.clone(), p.to_ref.clone()))
            .collect();
        let env_file = self.settings.env_file.clone();
        if let Err(e) = envfile::pin(&env_file, &pins).map_err(|e| e.to_string()) {
            self.step_end(
                "recreate",
                t,
                StepEnd {
                    state: StepState::Failed,
                    summary: e.clone(),
                },
            );
            return self.stopped_before_change_noted(fail("recreate", e));
        }
        let services: Vec<String> = plans.iter().map(|p| p.service.clone()).collect();
        let mut death = self.watch_death(&services).await;
        let recreate_started = self.clock.now();
        let recreate_timeout = self.settings.recreate_timeout();
        let failure = match self
            .runtime
            .recreate(&services, &pins, recreate_timeout)
            .await
        {
            Err(e) => {
                let message = e.to_string();
                self.step_end(
                    "recreate",
                    t,
                    StepEnd {
                        state: StepState::Failed,
                        summary: message.clone(),
                    },
                );
                self.skip("health", "the recreate failed");
                Some(format!("recreate failed: {message}"))
            }
            Ok(out) => {
                let proxied = self.proxy_follows_recreate(&services).await;
                self.step_end(
                    "recreate",
                    t,
                    ok(format!(
                        "{} recreated with {}; {} pinned in {}{}{proxied}",
                        services.join(", "),
                        images_of(&plans, |p| Some(p.to_ref.as_str())),
                        plans
                            .iter()
                            .map(|p| p.image_var.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        env_file.display(),
                        last_line(&out)
                    )),
                );
                // 8. health
                let t = self.step_begin("health");
                match self.wait_healthy(&services, "health").await {
                    Ok(up_at) => {
                        let down_at = stopped_at(
                            death.take(),
                            recreate_started,
                            self.settings.death_event_wait,
                            &self.clock,
                        )
                        .await;
                        let downtime = up_at.saturating_duration_since(down_at).as_millis() as u64;
                        self.step_end(
                            "health",
                            t,
                            ok(format!(
                                "healthy {} times in a row{}; downtime {}",
                                self.settings.health_successes,
                                self.ready_note(),
                                fmt_ms(downtime)
                            )),
                        );
                        self.skip("rollback", "not needed");
                        let t = self.step_begin("retention");
                        let summary = self.retention(&plans).await;
                        self.step_end("retention", t, ok(summary));
                        return self.finish(
                            DeployStatus::Succeeded,
                            format!(
                                "{}; downtime {}",
                                self.moved_to(req, &plans),
                                fmt_ms(downtime)
                            ),
                            Some(downtime),
                        );
                    }
                    Err(reason) => {
                        self.step_end(
                            "health",
                            t,
                            StepEnd {
                                state: StepState::Failed,
                                summary: reason.to_string(),
                            },
                        );
                        Some(format!("the new version did not become healthy: {reason}"))
                    }
                }
            }
        };
        let reason = failure.unwrap_or_default();

        // 9. rollback, only for a plain deploy: a failed rollback is reported, not undone.
        if req.kind != DeployKind::Deploy {
            self.skip("rollback", "never automatic for a rollback");
            self.skip("retention", "deploy failed");
            let repinned = self.pins_follow_what_runs().await;
            return self.finish(
                DeployStatus::FailedDown,
                format!("{reason}; this was a rollback, so it is not rolled back in turn: the app may be down{repinned}"),
                None,
            );
        }
        if plans.iter().any(|p| p.from.image.is_none()) {
            self.skip("rollback", "nothing ran before this deploy");
            self.skip("retention", "deploy failed");
            return self.finish(
                DeployStatus::FailedDown,
                format!("{reason}; nothing ran before, so there is nothing to roll back to: the app is down"),
                None,
            );
        }
        // Say how the deploy ended and why before the rollback starts, so whoever follows
        // (the dashboard reads the store) sees it during the rollback, not only after it.
        self.skip("retention", "deploy failed");
        self.emit(DeployEvent::Error {
            message: format!(
                "{reason}; rolling back automatically to {}",
                images_of(&plans, |p| p.from.image.as_deref())
            ),
        });
        let t = self.step_begin("rollback");
        // The users' outage began when the old version stopped for the failed deploy, not
        // when the rollback's own switch began: it spans the whole health wait.
        let down_at = stopped_at(
            death.take(),
            recreate_started,
            self.settings.death_event_wait,
            &self.clock,
        )
        .await;
        let rolled = self
            .auto_rollback(&plans, &services, &reason, down_at)
            .await;
        match rolled {
            Ok((downtime, switch)) => {
                self.step_end(
                    "rollback",
                    t,
                    ok(format!(
                        "{} healthy again; downtime {} (the rollback's own switch {})",
                        images_of(&plans, |p| p.from.image.as_deref()),
                        fmt_ms(downtime),
                        fmt_ms(switch)
                    )),
                );
                self.finish(
                    DeployStatus::RolledBack,
                    format!(
                        "{reason}; rolled back automatically to {} (healthy)",
                        images_of(&plans, |p| p.from.image.as_deref())
                    ),
                    Some(downtime),
                )
            }
            Err(e) => {
                self.step_end(
                    "rollback",
                    t,
                    StepEnd {
                        state: StepState::Failed,
                        summary: e.to_string(),
                    },
                );
                let repinned = self.pins_follow_what_runs().await;
                self.finish(
                    DeployStatus::FailedDown,
                    format!(
                        "{reason}; the automatic rollback failed too: {e}; the app may be down{repinned}"
                    ),
                    None,
                )
            }
        }
    }

    /// How a successful run begins its message: `deployed TAG (SHA) in 12.3 s`.
    pub(super) fn moved_to(&self, req: &DeployRequest, plans: &[PlanService]) -> String {
        let p = &plans[0];
        format!(
            "{} {} ({}) in {}",
            if req.kind == DeployKind::Rollback {
                "rolled back to"
            } else {
                "deployed"
            },
            p.to.tag_str().unwrap_or(&p.to_ref),
            p.to.sha_str().map(short).unwrap_or("no commit label"),
            fmt_ms(
                self.clock
                    .now()
                    .saturating_duration_since(self.started)
                    .as_millis() as u64
            )
        )
    }

    /// Steps 2 and 3: resolve and pull. Nothing on the host changes here but local images.
    pub(super) async fn prepare(
        &mut self,
        req: &DeployRequest,
    ) -> Result<Vec<PlanService>, Failure> {
        let t = self.step_begin("resolve");
        let current = self
            .current_containers()
            .await
            .map_err(|e| self.failed_step("resolve", t, e))?;
        // What runs is recorded before the target is resolved, so a deploy that fails there
        // still says what it would have replaced.
        if let Some(first) = self.settings.services.first() {
            self.emit(DeployEvent::Sides {
                from: self.running_side(first, current.get(&first.name)),
                to: None,
            });
        }
        let mut plans = Vec::new();
        let services = self.settings.services.clone();
        for svc in &services {
            let plan = self
                .resolve_service(svc, &req.target, current.get(&svc.name), req.kind)
                .await
                .map_err(|e| self.failed_step("resolve", t, e))?;
            plans.push(plan);
        }
        self.emit(DeployEvent::Sides {
            from: plans[0].from.clone(),
            to: Some(plans[0].to.clone()),
        });
        self.step_end(
            "resolve",
            t,
            ok(plans
                .iter()
                .map(|p| {
                    format!(
                        "{}: {} = {}{}",
                        p.service,
                        p.to.tag_str().unwrap_or("?"),
                        p.to.digest_str().map(short_digest).unwrap_or("local image"),
                        p.to.sha
                            .as_ref()
                            .map(|s| format!(", commit {}", s.short()))
                            .unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")),
        );
        self.emit(DeployEvent::Plan {
            services: plans.clone(),
        });
        self.interrupted("pull")?;

        let t = self.step_begin("pull");
        let mut summaries = Vec::new();
        for plan in &mut plans {
            let summary = self.ensure_local(plan).await.inspect_err(|f| {
                if !f.cancelled {
                    self.step_end(
                        "pull",
                        t,
                        StepEnd {
                            state: StepState::Failed,
                            summary: f.message.clone(),
                        },
                    );
                }
            })?;
            summaries.push(summary);
        }
        self.emit(DeployEvent::Sides {
            from: plans[0].from.clone(),
            to: Some(plans[0].to.clone()),
        });
        self.step_end("pull", t, ok(summaries.join("; ")));
        self.interrupted("compare")?;
        Ok(plans)
    }

    /// The run ended before the app was touched: record the remaining steps as skipped.
    pub(super) fn stopped_before_change(&self, f: Failure) -> Outcome {
        if f.cancelled {
            let t = self.clock.now();
            self.step_end(
                f.step,
                t,
                StepEnd {
                    state: StepState::Skipped,
                    summary: "cancelled".into(),
                },
            );
        }
        self.stopped_before_change_noted(f)
    }

    pub(super) fn stopped_before_change_noted(&self, f: Failure) -> Outcome {
        self.skip_after(
            f.step,
            if f.cancelled {
                "cancelled"
            } else {
                "an earlier step failed"
            },
        );
        let status = if f.cancelled {
            DeployStatus::Cancelled
        } else {
            DeployStatus::Failed
        };
        self.finish(
            status,
            format!(
                "{}; nothing was changed, the running version is untouched",
                f.message
            ),
            None,
        )
    }
}

/// The image of each moved service, for the record: the image alone for one service (as
/// before), `service image` for each when several moved, so a message about a rollback names
/// every service it returned.
pub(super) fn images_of<'a>(
    plans: &'a [PlanService],
    image: impl Fn(&'a PlanService) -> Option<&'a str>,
) -> String {
    let shown = |p: &'a PlanService| image(p).unwrap_or("the previous image");
    match plans {
        [one] => shown(one).to_string(),
        _ => plans
            .iter()
            .map(|p| format!("{} {}", p.service, shown(p)))
            .collect::<Vec<_>>()
            .join(", "),
    }
}
