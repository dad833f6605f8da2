//! A deploy (or rollback) of a Swarm deployment, with the engine's vocabulary: the same lock,
//! steps, events and store rows as a compose deploy (through the engine's recorder), so the
//! history, `deploy wait` and the dashboard read it alike.
//!
//! lock → resolve (tag → digest) → pull (skipped: each node pulls) → compare → backup →
//! migrate (a one-off job) → recreate (the service update, with Swarm's progress) → health
//! (Swarm's verdict: completed, or rolled back by Swarm, recorded as the automatic rollback
//! with Swarm's reason) → record. A rollback to "the previous deployment" is Swarm's own
//! rollback of the service; a rollback to a tag is an update to that tag.
//!
//! This runs beside the step machine (src/deploy/machine.rs), not inside it, until the engine
//! has a seam for how the new version replaces the old one.

use super::{JobSpec, SwarmSource, UpdateEnd, UpdateSettings, UpdateStarted};
use crate::config::Config;
use crate::deploy::RecorderLink;
use crate::deploy::{Events, Outcome};
use crate::domain::{
    Actor, DeployEvent, DeployKind, DeployRequest, DeployStatus, Digest, ImageRef, ImageSide,
    NewDeployment, RollbackEvent, STEPS, StepState, Tag, Target,
};
use crate::sources::registry::RegistrySource;
use crate::store::Store;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const POLL: Duration = Duration::from_millis(500);

fn seq(name: &str) -> u32 {
    STEPS
        .iter()
        .position(|s| *s == name)
        .map_or(0, |i| i as u32 + 1)
}

/// Where the run stands: what it tells, and to whom.
struct Run<'a> {
    config: &'a Config,
    recorder: RecorderLink,
    events: Option<Events>,
    deployment_id: Option<i64>,
    started: Instant,
}

/// One service's move.
struct Move {
    service: String,
    repo: crate::domain::ImageRepo,
    swarm_name: String,
    from: ImageSide,
    to: ImageSide,
    /// The digest reference the spec gets; None for Swarm's own rollback.
    to_ref: Option<String>,
}

impl Run<'_> {
    fn emit(&self, event: DeployEvent) {
        self.recorder.record(event.clone());
        if let Some(events) = &self.events {
            let _ = events.send(event);
        }
    }

    fn step(&self, name: &'static str, state: StepState, started: Instant, summary: String) {
        self.emit(DeployEvent::Step {
            seq: seq(name),
            name,
            state,
            duration_ms: Some(started.elapsed().as_millis() as u64),
            summary,
        });
    }

    fn begin(&self, name: &'static str) -> Instant {
        self.emit(DeployEvent::Step {
            seq: seq(name),
            name,
            state: StepState::Running,
            duration_ms: None,
            summary: String::new(),
        });
        Instant::now()
    }

    fn skip(&self, name: &'static str, why: &str) {
        self.step(name, StepState::Skipped, Instant::now(), why.to_string());
    }

    fn audit(&self, action: &str, target: &str, outcome: &str, detail: Option<&str>) {
        self.emit(DeployEvent::Audit {
            action: action.to_string(),
            target: Some(target.to_string()),
            outcome: outcome.to_string(),
            detail: detail.map(str::to_string),
        });
    }

    fn outcome(&self, status: DeployStatus, message: String) -> Outcome {
        Outcome {
            deployment_id: self.deployment_id,
            status,
            message,
            downtime_ms: None,
            refused: false,
        }
    }

    fn failed(&self, step: &'static str, started: Instant, message: String) -> Outcome {
        self.step(step, StepState::Failed, started, message.clone());
        self.outcome(DeployStatus::Failed, message)
    }
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

/// Deploy (or roll back) `req` on the configured stack. Events go to `events` as they happen
/// and into the store through the engine's recorder.
pub async fn run(
    config: &Config,
    actor: Actor,
    req: DeployRequest,
    events: Option<Events>,
) -> Outcome {
    let state_dir = crate::deploy::state_dir(config);
    let run = Run {
        config,
        recorder: RecorderLink::start(actor.clone(), state_dir.clone()),
        events,
        deployment_id: None,
        started: Instant::now(),
    };
    let action = req.kind.as_str();
    let target = req.target.to_string();
    if req.dry_run {
        run.audit(action, &target, "dry-run", None);
        let outcome = dry_run(&run, &req).await;
        return finish(run, action, &target, outcome).await;
    }
    run.audit(action, &target, "attempted", None);
    let mut run = run;
    let mut store = match Store::open(&state_dir) {
        Ok(s) => s,
        Err(e) => {
            let message = format!("cannot open the deploy store: {e}");
            return finish(run, action, &target, refused(message)).await;
        }
    };
    let new = NewDeployment {
        kind: req.kind,
        parent_id: None,
        services: config.service_names().map(str::to_string).collect(),
        to_tag: match &req.target {
            Target::Tag(t) => Some(t.to_string()),
            Target::Latest => Some("latest".into()),
            Target::Previous => None,
        },
        strategy: format!("swarm {}", order_name(config)),
    };
    let t = Instant::now();
    let stale_after = crate::deploy::lock_stale_after(config);
    let acquired = store
        .acquire_lock(&actor, action, stale_after, Some(&new))
        .map_err(|e| format!("cannot take the deploy lock: {e}"))
        .and_then(|r| r.map_err(|state| crate::deploy::describe_lock_refusal(&state)));
    let id = match acquired {
        Ok(id) => id,
        Err(message) => {
            run.step("lock", StepState::Failed, t, message.clone());
            return finish(run, action, &target, refused(message)).await;
        }
    };
    run.deployment_id = id;
    run.emit(DeployEvent::Started {
        deployment_id: id,
        kind: req.kind,
        target: target.clone(),
        actor: actor.describe(),
        runtime: format!(
            "swarm stack {} via {}",
            config.deployment.stack,
            if config.docker.host.is_empty() {
                "DOCKER_HOST"
            } else {
                config.docker.host.as_str()
            }
        ),
    });
    run.step(
        "lock",
        StepState::Ok,
        t,
        format!("held by {}", actor.describe()),
    );
    let heartbeat = start_heartbeat(state_dir, actor.clone(), stale_after);
    let outcome = execute(&run, &req).await;
    heartbeat.cancel();

    let t = run.begin("record");
    let mut outcome = outcome;
    match run.recorder.record_final(&outcome).await {
        Ok(()) => run.step(
            "record",
            StepState::Ok,
            t,
            format!("deployment #{}", id.unwrap_or(0)),
        ),
        Err(e) => {
            run.step("record", StepState::Failed, t, e.to_string());
            outcome.message = format!("{}; {e}", outcome.message);
        }
    }
    if let Err(e) = store.release_lock(&actor) {
        tracing::warn!("releasing the deploy lock: {e}");
    }
    finish(run, action, &target, outcome).await
}

/// What a deploy would do, changing nothing: the plan, and how Swarm would roll it out.
async fn dry_run(run: &Run<'_>, req: &DeployRequest) -> Outcome {
    let config = run.config;
    let (_, moves) = match resolve_moves(config, req).await {
        Ok(r) => r,
        Err(e) => return run.outcome(DeployStatus::Failed, format!("dry run: {e}")),
    };
    run.emit(DeployEvent::Plan {
        services: moves
            .iter()
            .map(|m| crate::domain::PlanService {
                service: m.service.clone(),
                from: m.from.clone(),
                to: m.to.clone(),
                older: None,
                to_ref: m
                    .to_ref
                    .clone()
                    .unwrap_or_else(|| "the previous spec (Swarm's rollback)".into()),
                health: Some(format!(
                    "Swarm's update: {}, parallelism {}, monitor {} s, on failure {:?}",
                    order_name(config),
                    config.swarm.parallelism,
                    config.swarm.monitor_s,
                    config.swarm.failure_action
                )),
                repo: Some(m.repo.clone()),
                image_var: String::new(),
                migrate_service: None,
                pin_tag: None,
            })
            .collect(),
    });
    let mut lines = Vec::new();
    if moves
        .iter()
        .all(|m| m.to_ref.is_some() && m.from.digest.is_some() && m.from.digest == m.to.digest)
        && !req.force
    {
        lines.push("the target already runs: a deploy would stop at the compare step".to_string());
    } else {
        if !config.deploy.backup_command.is_empty() {
            lines.push(format!("backup: run `{}`", config.deploy.backup_command));
        }
        if !config.swarm.migrate_args.is_empty() && moves.iter().any(|m| m.to_ref.is_some()) {
            lines.push(format!(
                "migrate: a one-off job with args {:?}",
                config.swarm.migrate_args
            ));
        }
        for m in &moves {
            lines.push(match &m.to_ref {
                Some(r) => format!("update {} to {r}", m.swarm_name),
                None => format!("Swarm's rollback of {}", m.swarm_name),
            });
        }
    }
    run.outcome(
        DeployStatus::Skipped,
        format!("dry run, nothing changed: {}", lines.join("; ")),
    )
}

fn refused(message: String) -> Outcome {
    Outcome {
        deployment_id: None,
        status: DeployStatus::Failed,
        message,
        downtime_ms: None,
        refused: true,
    }
}

async fn finish(run: Run<'_>, action: &str, target: &str, outcome: Outcome) -> Outcome {
    run.audit(
        action,
        target,
        outcome.status.as_str(),
        Some(&outcome.message),
    );
    run.emit(DeployEvent::Finished {
        deployment_id: outcome.deployment_id,
        status: outcome.status,
        message: outcome.message.clone(),
        downtime_ms: outcome.downtime_ms,
        duration_ms: run.started.elapsed().as_millis() as u64,
    });
    // Dropping the link waits until everything queued is written.
    drop(run);
    outcome
}

fn order_name(config: &Config) -> &'static str {
    match config.swarm.order {
        crate::config::UpdateOrder::StartFirst => "start-first",
        crate::config::UpdateOrder::StopFirst => "stop-first",
    }
}

/// The lock's heartbeat on a store connection of its own, until cancelled.
fn start_heartbeat(
    state_dir: std::path::PathBuf,
    actor: Actor,
    stale_after: Duration,
) -> CancellationToken {
    let token = CancellationToken::new();
    let stop = token.clone();
    let every = (stale_after / 3).max(Duration::from_secs(1));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            match Store::open(&state_dir).and_then(|s| s.heartbeat(&actor)) {
                Ok(_) => {}
                Err(e) => tracing::warn!("deploy lock heartbeat: {e}"),
            }
        }
    });
    token
}

/// The swarm, and each configured service's move: what its spec names now and the digest
/// reference it gets (none for Swarm's own rollback).
async fn resolve_moves(
    config: &Config,
    req: &DeployRequest,
) -> Result<(SwarmSource, Vec<Move>), String> {
    let stack = config.deployment.stack.as_str();
    let swarm = match SwarmSource::connect_config(&config.docker).await {
        Ok(s) => s,
        Err(e) => return Err(e.to_string()),
    };
    let registry = RegistrySource::new(&config.registry);
    let mut moves = Vec::new();
    for service in &config.deployment.services {
        let swarm_name = SwarmSource::service_name(stack, &service.name);
        let current = match swarm.service(&swarm_name).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                return Err(format!(
                    "service {swarm_name} is not in stack {stack} (docker stack deploy it first)"
                ));
            }
            Err(e) => return Err(e.to_string()),
        };
        let from = side_of(&current.image);
        let (to, to_ref) = match &req.target {
            Target::Previous => (ImageSide::default(), None),
            Target::Tag(_) | Target::Latest => {
                let tag = match &req.target {
                    Target::Tag(t) => t.clone(),
                    _ => match Tag::parse("latest") {
                        Ok(t) => t,
                        Err(e) => return Err(e.to_string()),
                    },
                };
                let digest: Digest = match registry.resolve(&service.image, &tag).await {
                    Ok(d) => d,
                    Err(e) => {
                        return Err(format!("{}:{tag}: {e}", service.image.docker_name()));
                    }
                };
                let reference = format!("{}:{tag}@{digest}", service.image.docker_name());
                (side_of(&reference), Some(reference))
            }
        };
        moves.push(Move {
            service: service.name.clone(),
            repo: service.image.clone(),
            swarm_name,
            from,
            to,
            to_ref,
        });
    }
    Ok((swarm, moves))
}

async fn execute(run: &Run<'_>, req: &DeployRequest) -> Outcome {
    let config = run.config;
    let t = run.begin("resolve");
    let (swarm, moves) = match resolve_moves(config, req).await {
        Ok(r) => r,
        Err(e) => return run.failed("resolve", t, e),
    };
    let summary = moves
        .iter()
        .map(|m| match &m.to_ref {
            Some(r) => format!("{} → {r}", m.swarm_name),
            None => format!("{} → its previous spec (Swarm's rollback)", m.swarm_name),
        })
        .collect::<Vec<_>>()
        .join("; ");
    run.step("resolve", StepState::Ok, t, summary);
    if let Some(first) = moves.first() {
        run.emit(DeployEvent::Sides {
            from: first.from.clone(),
            to: first.to_ref.as_ref().map(|_| first.to.clone()),
        });
    }
    run.skip("pull", "each swarm node pulls the image for its own tasks");

    // compare
    let t = run.begin("compare");
    let unchanged = moves
        .iter()
        .all(|m| m.to_ref.is_some() && m.from.digest.is_some() && m.from.digest == m.to.digest);
    if unchanged && !req.force {
        run.step(
            "compare",
            StepState::Ok,
            t,
            "already running: nothing to do".into(),
        );
        return run.outcome(
            DeployStatus::Skipped,
            "the stack already runs this image".into(),
        );
    }
    run.step(
        "compare",
        StepState::Ok,
        t,
        format!("swarm update, {}", order_name(config)),
    );

    if let Err(outcome) = backup(run, &moves).await {
        return outcome;
    }
    if let Err(outcome) = migrate(run, &swarm, &moves).await {
        return outcome;
    }

    // recreate: Swarm replaces the tasks; health: how Swarm's update ended.
    let settings = UpdateSettings::from_config(&config.swarm);
    let limit = Duration::from_secs(config.swarm.update_timeout_s);
    for m in &moves {
        let t = run.begin("recreate");
        let asked = match &m.to_ref {
            Some(reference) => {
                // Passed to the manager, which hands them to the nodes that pull.
                let creds = crate::sources::registry::pull_credentials(
                    &config.registry,
                    config.registry.host_for(&m.repo),
                );
                swarm
                    .update_image(&m.swarm_name, reference, &settings, creds)
                    .await
            }
            None => swarm.rollback_service(&m.swarm_name).await,
        };
        let started: UpdateStarted = match asked {
            Ok(s) => s,
            Err(e) => return run.failed("recreate", t, e.to_string()),
        };
        let seq_recreate = seq("recreate");
        let end = swarm
            .follow_update(&started, POLL, limit, |p| {
                run.emit(DeployEvent::Progress {
                    seq: seq_recreate,
                    message: p.describe(),
                    current: p.updated,
                    total: p.wanted,
                });
            })
            .await;
        run.step(
            "recreate",
            StepState::Ok,
            t,
            format!(
                "{}: Swarm rolled {} out ({})",
                m.swarm_name,
                started.to_image.as_deref().unwrap_or("the previous spec"),
                order_name(config)
            ),
        );
        let t = run.begin("health");
        let end = match end {
            Ok(end) => end,
            Err(e) => {
                let message = e.to_string();
                run.step("health", StepState::Failed, t, message.clone());
                run.emit(DeployEvent::Error {
                    message: message.clone(),
                });
                return run.outcome(DeployStatus::FailedDown, message);
            }
        };
        match end {
            UpdateEnd::Completed { .. } | UpdateEnd::Unchanged => {
                run.step("health", StepState::Ok, t, end.describe());
            }
            // Asked for: Swarm's own rollback to the previous spec ends as a rollback.
            UpdateEnd::RolledBack { .. } if m.to_ref.is_none() => {
                run.step("health", StepState::Ok, t, end.describe());
            }
            UpdateEnd::RolledBack { reason } => {
                let message = format!("{}: Swarm rolled the update back: {reason}", m.swarm_name);
                run.step("health", StepState::Failed, t, message.clone());
                run.emit(DeployEvent::Error {
                    message: message.clone(),
                });
                record_swarm_rollback(run, m, &reason);
                return run.outcome(DeployStatus::RolledBack, message);
            }
            UpdateEnd::Paused { message } | UpdateEnd::RollbackPaused { message } => {
                let message = format!("{}: {message}", m.swarm_name);
                run.step("health", StepState::Failed, t, message.clone());
                run.emit(DeployEvent::Error {
                    message: message.clone(),
                });
                return run.outcome(DeployStatus::FailedDown, message);
            }
        }
    }
    run.skip(
        "switch",
        "no proxy to switch: Swarm's tasks replace each other behind the service",
    );
    run.skip("rollback", "not needed");
    run.skip("retention", "Swarm keeps its own task history");
    let done = moves
        .iter()
        .map(|m| m.swarm_name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let status = DeployStatus::Succeeded;
    let message = match req.kind {
        DeployKind::Rollback => format!("rolled back {done}"),
        _ => format!("deployed {done}"),
    };
    run.outcome(status, message)
}

/// Swarm's automatic rollback, recorded as the engine records its own: a row of its own
/// pointing at the failed deployment, with Swarm's reason.
fn record_swarm_rollback(run: &Run<'_>, m: &Move, reason: &str) {
    run.emit(DeployEvent::AutoRollback(RollbackEvent::Started {
        services: vec![m.service.clone()],
        from: Box::new(m.to.clone()),
        to: Box::new(m.from.clone()),
    }));
    run.emit(DeployEvent::AutoRollback(RollbackEvent::Step {
        seq: seq("rollback"),
        name: "rollback",
        state: StepState::Ok,
        duration_ms: 0,
        summary: format!("by Swarm (update failure_action = rollback): {reason}"),
    }));
    run.emit(DeployEvent::AutoRollback(RollbackEvent::Finished {
        status: DeployStatus::Succeeded,
        error: None,
        downtime_ms: None,
    }));
    run.audit(
        "auto-rollback",
        &m.swarm_name,
        "succeeded",
        Some(&format!("by Swarm: {reason}")),
    );
}

async fn backup(run: &Run<'_>, moves: &[Move]) -> Result<(), Outcome> {
    let config = run.config;
    let command = config.deploy.backup_command.clone();
    if command.is_empty() {
        run.skip("backup", "no deploy.backup_command configured");
        return Ok(());
    }
    let t = run.begin("backup");
    let limit = Duration::from_secs(config.deploy.backup_timeout_s);
    let target = moves
        .first()
        .and_then(|m| m.to_ref.clone())
        .unwrap_or_default();
    let output = tokio::time::timeout(
        limit,
        tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&command)
            .env("ELT_DEPLOY_TARGET", &target)
            .env("ELT_DEPLOY_STACK", &config.deployment.stack)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await;
    let result = match output {
        Err(_) => Err(format!(
            "`{command}` did not finish within {} s",
            limit.as_secs()
        )),
        Ok(Err(e)) => Err(format!("cannot run `{command}`: {e}")),
        Ok(Ok(out)) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| std::path::Path::new(l).is_file())
            .map(str::to_string)),
        Ok(Ok(out)) => Err(format!(
            "`{command}` exited with {}",
            out.status.code().unwrap_or(-1)
        )),
    };
    match result {
        Ok(path) => {
            if let Some(p) = &path {
                run.emit(DeployEvent::Backup { path: p.clone() });
            }
            run.step(
                "backup",
                StepState::Ok,
                t,
                path.map_or_else(
                    || format!("`{command}` succeeded (it named no backup file)"),
                    |p| format!("backup written to {p}"),
                ),
            );
            Ok(())
        }
        Err(e) if config.deploy.backup_optional => {
            run.step(
                "backup",
                StepState::Warning,
                t,
                format!("{e}; continuing (deploy.backup_optional = true)"),
            );
            Ok(())
        }
        Err(e) => Err(run.failed("backup", t, e)),
    }
}

async fn migrate(run: &Run<'_>, swarm: &SwarmSource, moves: &[Move]) -> Result<(), Outcome> {
    let config = run.config;
    let args = &config.swarm.migrate_args;
    let Some(first) = moves.first().filter(|_| !args.is_empty()) else {
        run.skip("migrate", "no swarm.migrate_args configured");
        return Ok(());
    };
    let Some(image) = first.to_ref.clone() else {
        run.skip(
            "migrate",
            "Swarm's rollback restores the previous spec: no migration",
        );
        return Ok(());
    };
    let t = run.begin("migrate");
    let job = JobSpec {
        name: format!(
            "{}-migrate-{}",
            first.swarm_name,
            run.deployment_id.unwrap_or(0)
        ),
        template_service: first.swarm_name.clone(),
        image,
        args: args.clone(),
        stack: config.deployment.stack.clone(),
    };
    let limit = Duration::from_secs(config.deploy.migrate_timeout_s);
    match swarm.run_job(&job, POLL, limit).await {
        Ok(outcome) if outcome.succeeded() => {
            run.step(
                "migrate",
                StepState::Ok,
                t,
                format!(
                    "job {} exited 0: {}",
                    job.name,
                    outcome.output_tail.last().map_or("", String::as_str)
                ),
            );
            Ok(())
        }
        Ok(outcome) => Err(run.failed(
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
        )),
        Err(e) => Err(run.failed("migrate", t, e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_compose_engine_refuses_a_swarm_deployment() {
        let mut config = crate::config::defaults();
        config.deployment.runtime = crate::config::RuntimeKind::Swarm;
        config.deployment.stack = "elt".into();
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let refused = crate::deploy::Engine::connect(config, tx, CancellationToken::new()).await;
        let Err(e) = refused else {
            panic!("the compose engine took a Swarm deployment");
        };
        assert!(e.to_string().contains("stack elt"), "{e}");
    }
}
