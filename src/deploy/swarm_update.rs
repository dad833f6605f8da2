//! The swarm-update strategy: a deploy of a runtime that is an orchestrator (Docker Swarm),
//! run by the step machine with its lock, heartbeat, record, audit, backup and interrupt, and
//! talking to the orchestrator only through its seam (orchestrator.rs).
//!
//! resolve (tag → digest; what runs is what the services' specs name) → pull (skipped: each
//! node pulls) → compare (the services' images) → backup → migrate (a one-off job) → recreate
//! (the service update, with the orchestrator's progress) → health (how the update ended:
//! completed, or rolled back by Swarm, recorded as the automatic rollback with Swarm's reason)
//! → record. A rollback to "the previous deployment" is the service's own rollback; a rollback
//! to a tag is an update to that tag. An interrupt is honoured until the first update starts.

use super::Engine;
use super::orchestrator::Orchestrator;
use super::seams::Seams;
use super::types::*;
use crate::domain::{DeployKind, DeployStatus, ImageRef, ImageSide, Tag};
use crate::swarm::{SwarmError, UpdateEnd, UpdateProgress};

/// What the plan says a Swarm rollback moves to: the spec before the last update.
const PREVIOUS_SPEC: &str = "the previous spec (Swarm's rollback)";

/// One service's move, with the orchestrator's name for it.
struct Move {
    name: String,
    plan: PlanService,
}

fn side_of(image: &str) -> ImageSide {
    let parsed = ImageRef::parse(image).ok();
    ImageSide {
        image: Some(image.to_string()).filter(|i| !i.is_empty()),
        tag: parsed.as_ref().and_then(|r| r.tag.clone()),
        digest: parsed.and_then(|r| r.digest),
        ..ImageSide::default()
    }
}

/// Swarm's own rollback of each service, rather than an update to a chosen image.
fn is_swarm_rollback(req: &DeployRequest) -> bool {
    matches!(req.target, Target::Previous)
}

/// Every service already runs the target's digest.
fn unchanged(req: &DeployRequest, moves: &[Move]) -> bool {
    !is_swarm_rollback(req)
        && moves
            .iter()
            .all(|m| m.plan.from.digest.is_some() && m.plan.from.digest == m.plan.to.digest)
}

impl<S: Seams> Engine<S> {
    /// Each configured service's move: what its spec names now, and the digest reference it
    /// gets (none for Swarm's own rollback).
    async fn swarm_moves<O: Orchestrator>(
        &self,
        req: &DeployRequest,
        orch: &O,
    ) -> Result<Vec<Move>, String> {
        let tag = match &req.target {
            Target::Previous => None,
            Target::Tag(t) => Some(t.clone()),
            Target::Latest => Some(Tag::parse("latest").map_err(|e| e.to_string())?),
        };
        let mut moves = Vec::new();
        for service in &self.settings.services {
            let name = orch.service_name(&service.name);
            let image = orch
                .service_image(&name)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| {
                    format!(
                        "service {name} is not in the {} (docker stack deploy it first)",
                        orch.describe()
                    )
                })?;
            let (to, to_ref) = match &tag {
                None => (ImageSide::default(), PREVIOUS_SPEC.to_string()),
                Some(tag) => {
                    let mut to = self
                        .describe_in_registry(&service.image, tag)
                        .await
                        .map_err(|e| e.to_string())?;
                    // `latest` is pinned to its commit tag, as a compose deploy pins it, so
                    // the spec names a tag that will not move.
                    let pin = match req.target {
                        Target::Latest => self.commit_tag_for(service, &to).await,
                        _ => None,
                    }
                    .unwrap_or_else(|| tag.clone());
                    let digest = to.digest.clone().ok_or_else(|| {
                        format!("{}: the registry named no digest", service.image)
                    })?;
                    let reference = format!("{}:{pin}@{digest}", service.image.docker_name());
                    to.tag = Some(pin);
                    to.image = Some(reference.clone());
                    (to, reference)
                }
            };
            moves.push(Move {
                name,
                plan: PlanService {
                    service: service.name.clone(),
                    from: side_of(&image),
                    to,
                    older: None,
                    to_ref,
                    health: Some(orch.update_policy()),
                    repo: Some(service.image.clone()),
                    image_var: service.image_var.clone(),
                    migrate_service: None,
                    pin_tag: None,
                },
            });
        }
        Ok(moves)
    }

    /// What a deploy would do, changing nothing: the plan, and how Swarm would roll it out.
    pub(super) async fn swarm_dry_run<O: Orchestrator>(
        &self,
        req: &DeployRequest,
        orch: &O,
    ) -> Outcome {
        let moves = match self.swarm_moves(req, orch).await {
            Ok(m) => m,
            Err(e) => return self.finish(DeployStatus::Failed, format!("dry run: {e}"), None),
        };
        self.emit(DeployEvent::Plan {
            services: moves.iter().map(|m| m.plan.clone()).collect(),
        });
        let mut lines = Vec::new();
        if unchanged(req, &moves) && !req.force {
            lines.push("the target already runs: a deploy would stop at the compare step".into());
        } else {
            if !self.settings.backup_command.is_empty() {
                lines.push(format!("backup: run `{}`", self.settings.backup_command));
            }
            let job = moves.first().and_then(|m| {
                orch.migration_job(&m.name, &m.plan.to_ref, self.deployment_id.unwrap_or(0))
            });
            if let Some(job) = job.filter(|_| req.kind != DeployKind::Rollback) {
                lines.push(format!("migrate: a one-off job with args {:?}", job.args));
            }
            for m in &moves {
                lines.push(if is_swarm_rollback(req) {
                    format!("Swarm's rollback of {}", m.name)
                } else {
                    format!("update {} to {}", m.name, m.plan.to_ref)
                });
            }
        }
        self.finish(
            DeployStatus::Skipped,
            format!("dry run, nothing changed: {}", lines.join("; ")),
            None,
        )
    }

    /// The deploy from resolve to the end, for an orchestrator.
    pub(super) async fn swarm_update<O: Orchestrator>(
        &self,
        req: &DeployRequest,
        orch: &O,
    ) -> Outcome {
        let t = self.step_begin("resolve");
        let moves = match self.swarm_moves(req, orch).await {
            Ok(m) => m,
            Err(e) => return self.stopped_before_change(self.failed_step("resolve", t, e)),
        };
        let plans: Vec<PlanService> = moves.iter().map(|m| m.plan.clone()).collect();
        self.emit(DeployEvent::Sides {
            from: plans[0].from.clone(),
            to: (!is_swarm_rollback(req)).then(|| plans[0].to.clone()),
        });
        let resolved = moves
            .iter()
            .map(|m| format!("{} → {}", m.name, m.plan.to_ref))
            .collect::<Vec<_>>()
            .join("; ");
        self.step_end("resolve", t, ok(resolved));
        self.emit(DeployEvent::Plan {
            services: plans.clone(),
        });
        if let Err(f) = self.interrupted("pull") {
            return self.stopped_before_change(f);
        }
        self.skip("pull", "each swarm node pulls the image for its own tasks");
        if let Err(f) = self.interrupted("compare") {
            return self.stopped_before_change(f);
        }

        let t = self.step_begin("compare");
        if unchanged(req, &moves) && !req.force {
            self.step_end("compare", t, ok("already running: nothing to do"));
            self.skip_after("compare", "already running");
            return self.finish(
                DeployStatus::Skipped,
                "the stack already runs this image".into(),
                None,
            );
        }
        self.emit(DeployEvent::Strategy {
            strategy: orch.strategy(),
            why: orch.update_policy(),
        });
        self.step_end(
            "compare",
            t,
            ok(format!("swarm update; {}", orch.update_policy())),
        );

        // The running version is untouched until the first update starts.
        if let Err(f) = self.backup(&plans).await {
            return self.stopped_before_change(f);
        }
        if let Err(f) = self.swarm_migrate(req, orch, &moves).await {
            return self.stopped_before_change(f);
        }
        if let Err(f) = self.interrupted("recreate") {
            return self.stopped_before_change(f);
        }
        self.skip(
            "switch",
            "no proxy to switch: Swarm's tasks replace each other behind the service",
        );
        for (i, m) in moves.iter().enumerate() {
            if let Some(outcome) = self.swarm_update_one(req, orch, m, i).await {
                return outcome;
            }
        }
        self.skip("rollback", "not needed");
        self.skip("retention", "Swarm keeps its own task history");
        let done = moves
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let message = match req.kind {
            DeployKind::Rollback => format!("rolled back {done}"),
            _ => format!("deployed {done}"),
        };
        self.finish(DeployStatus::Succeeded, message, None)
    }

    /// Update (or roll back) one service and follow it to its end; the run's outcome where
    /// that ends the deploy.
    async fn swarm_update_one<O: Orchestrator>(
        &self,
        req: &DeployRequest,
        orch: &O,
        m: &Move,
        index: usize,
    ) -> Option<Outcome> {
        let t = self.step_begin("recreate");
        let asked = if is_swarm_rollback(req) {
            orch.rollback(&m.name).await
        } else {
            // Passed to the manager, which hands them to the nodes that pull.
            let credentials = m.plan.repo.as_ref().and_then(|repo| {
                crate::sources::registry::pull_credentials(
                    &self.settings.registry,
                    self.settings.registry.host_for(repo),
                )
            });
            orch.update(&m.name, &m.plan.to_ref, credentials).await
        };
        let started = match asked {
            Ok(s) => s,
            Err(e) if index == 0 => {
                let failure = self.failed_step("recreate", t, format!("{}: {e}", m.name));
                return Some(self.stopped_before_change_noted(failure));
            }
            Err(e) => {
                let message = format!(
                    "{}: {e}; the services before it were updated already",
                    m.name
                );
                self.failed_step("recreate", t, &message);
                self.skip("health", "the update could not start");
                self.skip("rollback", "Swarm rolls back only an update it ran");
                self.skip("retention", "deploy failed");
                return Some(self.finish(DeployStatus::FailedDown, message, None));
            }
        };
        // The follower reports from the orchestrator's side; the engine tells each change.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<UpdateProgress>();
        let follow = orch.follow(&started, move |p| {
            let _ = tx.send(p.clone());
        });
        let tell = async {
            while let Some(p) = rx.recv().await {
                self.progress("recreate", p.describe(), p.updated, p.wanted);
            }
        };
        let (end, ()) = tokio::join!(follow, tell);
        self.step_end(
            "recreate",
            t,
            ok(format!(
                "{}: Swarm rolled {} out ({})",
                m.name,
                started.to_image.as_deref().unwrap_or("the previous spec"),
                orch.strategy()
            )),
        );
        let t = self.step_begin("health");
        let failed = |message: String| {
            self.step_end(
                "health",
                t,
                StepEnd {
                    state: StepState::Failed,
                    summary: message.clone(),
                },
            );
            self.emit(DeployEvent::Error {
                message: message.clone(),
            });
            self.skip("retention", "deploy failed");
            message
        };
        let down = |message: String| {
            self.skip("rollback", "Swarm's update did not end, nor roll back");
            Some(self.finish(DeployStatus::FailedDown, message, None))
        };
        match end {
            Err(e) => down(failed(format!("{}: {e}", m.name))),
            Ok(end @ (UpdateEnd::Completed { .. } | UpdateEnd::Unchanged)) => {
                self.step_end("health", t, ok(end.describe()));
                None
            }
            // Asked for: the service's own rollback ends as a rollback.
            Ok(end @ UpdateEnd::RolledBack { .. }) if is_swarm_rollback(req) => {
                self.step_end("health", t, ok(end.describe()));
                None
            }
            Ok(UpdateEnd::RolledBack { reason }) => {
                let message = failed(format!(
                    "{}: Swarm rolled the update back: {reason}",
                    m.name
                ));
                self.record_swarm_rollback(m, &reason);
                Some(self.finish(DeployStatus::RolledBack, message, None))
            }
            Ok(UpdateEnd::Unplaceable { reason }) if !is_swarm_rollback(req) => {
                // Swarm would wait for a node for ever: undo the update (its rollback returns
                // the previous spec) rather than leave the service half updated.
                let undone = match orch.rollback(&m.name).await {
                    Ok(back) => orch.follow(&back, |_| {}).await,
                    Err(e) => Err(e),
                };
                let hint = if orch.strategy().contains("start-first") {
                    "a start-first update needs room for one more task (a free GPU) on a node: set [swarm] order = \"stop-first\", or free one"
                } else {
                    "no node meets the task's reservations and constraints"
                };
                match undone {
                    Ok(UpdateEnd::RolledBack { .. } | UpdateEnd::Completed { .. }) => {
                        let message = failed(format!(
                            "{}: Swarm cannot place the new task ({reason}); {hint}. The update was rolled back to the previous spec",
                            m.name
                        ));
                        self.record_rollback_of(
                            m,
                            "asked of Swarm by the console",
                            &format!("the new task could not be placed: {reason}"),
                        );
                        Some(self.finish(DeployStatus::RolledBack, message, None))
                    }
                    Ok(other) => down(failed(format!(
                        "{}: Swarm cannot place the new task ({reason}); {hint}. Its rollback ended: {}",
                        m.name,
                        other.describe()
                    ))),
                    Err(e) => down(failed(format!(
                        "{}: Swarm cannot place the new task ({reason}); {hint}. Its rollback failed: {e}",
                        m.name
                    ))),
                }
            }
            Ok(UpdateEnd::Unplaceable { reason }) => down(failed(format!(
                "{}: Swarm cannot place the task: {reason}",
                m.name
            ))),
            Ok(UpdateEnd::Paused { message } | UpdateEnd::RollbackPaused { message }) => {
                down(failed(format!("{}: {message}", m.name)))
            }
        }
    }

    /// Swarm's automatic rollback, recorded as the engine records its own: a row of its own
    /// pointing at the failed deployment, with Swarm's reason.
    fn record_swarm_rollback(&self, m: &Move, reason: &str) {
        self.record_rollback_of(m, "by Swarm (update failure_action = rollback)", reason);
    }

    /// A rollback of the service's update recorded as the automatic rollback: `by` whom, why.
    fn record_rollback_of(&self, m: &Move, by: &str, reason: &str) {
        self.emit(DeployEvent::AutoRollback(RollbackEvent::Started {
            services: vec![m.plan.service.clone()],
            from: Box::new(m.plan.to.clone()),
            to: Box::new(m.plan.from.clone()),
        }));
        self.emit(DeployEvent::AutoRollback(RollbackEvent::Step {
            seq: seq("rollback"),
            name: "rollback",
            state: StepState::Ok,
            duration_ms: 0,
            summary: format!("{by}: {reason}"),
        }));
        self.emit(DeployEvent::AutoRollback(RollbackEvent::Finished {
            status: DeployStatus::Succeeded,
            error: None,
            downtime_ms: None,
        }));
        self.audit(
            "auto-rollback",
            &m.name,
            "succeeded",
            Some(&format!("{by}: {reason}")),
        );
    }

    /// The migration as a one-off job of the first service's new image; a rollback runs
    /// none (the older version's migrations ran when it was deployed).
    async fn swarm_migrate<O: Orchestrator>(
        &self,
        req: &DeployRequest,
        orch: &O,
        moves: &[Move],
    ) -> Result<(), Failure> {
        if req.kind == DeployKind::Rollback {
            self.skip("migrate", "a rollback runs no migration");
            return Ok(());
        }
        let job = moves.first().and_then(|m| {
            orch.migration_job(&m.name, &m.plan.to_ref, self.deployment_id.unwrap_or(0))
        });
        let Some(job) = job else {
            self.skip("migrate", "no swarm.migrate_args configured");
            return Ok(());
        };
        let t = self.step_begin("migrate");
        let outcome = match orch
            .run_job(&job, self.settings.migrate_timeout, &self.interrupt)
            .await
        {
            Ok(outcome) => outcome,
            Err(SwarmError::Cancelled { .. }) => {
                return Err(Failure {
                    step: "migrate",
                    message: "cancelled by the operator during the migration".into(),
                    cancelled: true,
                });
            }
            Err(e) => return Err(self.failed_step("migrate", t, e)),
        };
        if outcome.succeeded() {
            self.step_end(
                "migrate",
                t,
                ok(format!(
                    "job {} exited 0: {}",
                    job.name,
                    outcome.output_tail.last().map_or("", String::as_str)
                )),
            );
            return Ok(());
        }
        Err(self.failed_step(
            "migrate",
            t,
            format!(
                "job {} {} (exit code {}{}): {}",
                job.name,
                outcome.state,
                outcome
                    .exit_code
                    .map_or_else(|| "none".to_string(), |c| c.to_string()),
                outcome
                    .error
                    .as_deref()
                    .map(|e| format!(", {e}"))
                    .unwrap_or_default(),
                outcome.output_tail.join(" | ")
            ),
        ))
    }
}
