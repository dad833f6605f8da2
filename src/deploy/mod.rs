//! The deploy engine, shared by the TUI and the CLI: plan, lock, steps, automatic rollback.
//!
//! One deploy at a time per host (a lock in the store). Nothing is touched before the target
//! is resolved, pulled, backed up and migrated; once the app's container has been replaced the
//! engine either reaches a healthy new version or brings the old one back (never a rollback of
//! a rollback). Every step is timed and recorded in the store as it happens, so a console
//! elsewhere can follow, and every attempt is audited, refused ones too.

pub mod command;
pub mod compose;
pub mod envfile;
pub mod previous;

use crate::config::{Config, ServiceConfig};
use crate::domain::{
    CommitSha, ContainerState, ContainerView, Digest, HealthState, ImageRepo, Tag,
};
use crate::sources::docker::{DockerSource, LocalImage};
use crate::sources::health::HealthChecker;
use crate::sources::registry::{self, RegistryError, RegistrySource};
use crate::store::{Actor, DeployKind, DeployStatus, ImageSide, LockState, NewDeployment, Store};
use compose::{ComposeCli, Runtime};
use futures_util::StreamExt;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The steps every deploy goes through, in order (1-based in events and the store).
pub const STEPS: [&str; 11] = [
    "lock",
    "resolve",
    "pull",
    "compare",
    "backup",
    "migrate",
    "recreate",
    "health",
    "rollback",
    "retention",
    "record",
];

fn seq(name: &str) -> u32 {
    STEPS
        .iter()
        .position(|s| *s == name)
        .map_or(0, |i| i as u32 + 1)
}

/// What to deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The registry's `latest` tag, pinned to the commit tag with the same digest.
    Latest,
    Tag(Tag),
    /// What ran before the current version (from the store).
    Previous,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Latest => f.write_str("latest"),
            Target::Tag(t) => write!(f, "{t}"),
            Target::Previous => f.write_str("the previous deployment"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DeployRequest {
    pub kind: DeployKind,
    pub target: Target,
    pub force: bool,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepState {
    Running,
    Ok,
    /// Failed but not fatal (an optional backup).
    Warning,
    Failed,
    Skipped,
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Running => "running",
            StepState::Ok => "ok",
            StepState::Warning => "warning",
            StepState::Failed => "failed",
            StepState::Skipped => "skipped",
        }
    }
}

/// One service's move, as planned.
#[derive(Debug, Clone, Serialize)]
pub struct PlanService {
    pub service: String,
    pub from: ImageSide,
    pub to: ImageSide,
    /// The target image was built before the one that runs now.
    pub older: Option<bool>,
    /// The reference written to the env file and given to compose.
    pub to_ref: String,
    #[serde(skip)]
    repo: Option<ImageRepo>,
    #[serde(skip)]
    image_var: String,
    #[serde(skip)]
    migrate_service: Option<String>,
    #[serde(skip)]
    pin_tag: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum DeployEvent {
    Started {
        deployment_id: Option<i64>,
        kind: DeployKind,
        target: String,
        actor: String,
        runtime: String,
    },
    Plan {
        services: Vec<PlanService>,
    },
    Step {
        seq: u32,
        name: &'static str,
        state: StepState,
        duration_ms: Option<u64>,
        summary: String,
    },
    Progress {
        seq: u32,
        message: String,
        current: u64,
        total: u64,
    },
    Finished {
        deployment_id: Option<i64>,
        status: DeployStatus,
        message: String,
        downtime_ms: Option<u64>,
        duration_ms: u64,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub deployment_id: Option<i64>,
    pub status: DeployStatus,
    pub message: String,
    pub downtime_ms: Option<u64>,
    /// Refused before it started (lock held, stale lock): nothing was attempted.
    pub refused: bool,
}

/// Exit codes of `deploy` and `rollback` (docs/runbook.md).
pub const EXIT_DEPLOY_FAILED: i32 = 1;
pub const EXIT_APP_DOWN: i32 = 3;
pub const EXIT_REFUSED: i32 = 4;
pub const EXIT_CANCELLED: i32 = 130;

impl Outcome {
    pub fn exit_code(&self) -> i32 {
        if self.refused {
            return EXIT_REFUSED;
        }
        match self.status {
            DeployStatus::Succeeded | DeployStatus::Skipped => 0,
            DeployStatus::FailedDown => EXIT_APP_DOWN,
            DeployStatus::Cancelled => EXIT_CANCELLED,
            _ => EXIT_DEPLOY_FAILED,
        }
    }
}

pub type Events = mpsc::UnboundedSender<DeployEvent>;

/// The deployment folder's paths, resolved against the current folder.
pub fn state_dir(config: &Config) -> PathBuf {
    absolute(&config.deployment.state_dir)
}

fn absolute(p: &std::path::Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

pub fn lock_stale_after(config: &Config) -> Duration {
    Duration::from_secs(config.deploy.lock_stale_after_s)
}

pub struct Engine<R: Runtime> {
    config: Config,
    runtime: R,
    docker: DockerSource,
    registry: RegistrySource,
    health: HealthChecker,
    store: Store,
    actor: Actor,
    events: Events,
    interrupt: CancellationToken,
    deployment_id: Option<i64>,
    started: Instant,
}

impl Engine<ComposeCli> {
    /// Connect to everything a deploy needs; an error here means nothing was attempted.
    pub async fn connect(
        config: Config,
        events: Events,
        interrupt: CancellationToken,
    ) -> Result<Self, String> {
        let docker = DockerSource::connect(&config.docker.host, config.docker.request_timeout_ms)
            .await
            .map_err(|e| e.to_string())?;
        let runtime = ComposeCli::detect(
            &config.deploy.compose_command,
            &config.deployment.project,
            absolute(&config.deployment.compose_file),
            absolute(&config.deployment.env_file),
        )
        .await
        .map_err(|e| e.to_string())?;
        let store = Store::open(&state_dir(&config)).map_err(|e| e.to_string())?;
        let health = HealthChecker::new().map_err(|e| format!("{e:#}"))?;
        let registry = RegistrySource::new(&config.registry);
        Ok(Engine {
            config,
            runtime,
            docker,
            registry,
            health,
            store,
            actor: Actor::current(),
            events,
            interrupt,
            deployment_id: None,
            started: Instant::now(),
        })
    }
}

/// How a step ended, for `step_end`.
struct StepEnd {
    state: StepState,
    summary: String,
}

fn ok(summary: impl Into<String>) -> StepEnd {
    StepEnd {
        state: StepState::Ok,
        summary: summary.into(),
    }
}

/// A failure inside `execute`, with the step it happened in.
struct Failure {
    step: &'static str,
    message: String,
    cancelled: bool,
}

fn fail(step: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        step,
        message: message.into(),
        cancelled: false,
    }
}

impl<R: Runtime> Engine<R> {
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    fn emit(&self, event: DeployEvent) {
        let _ = self.events.send(event);
    }

    fn step_begin(&self, name: &'static str) -> Instant {
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
        Instant::now()
    }

    fn step_end(&self, name: &'static str, started: Instant, end: StepEnd) {
        let ms = started.elapsed().as_millis() as u64;
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

    fn skip(&self, name: &'static str, why: &str) {
        let t = Instant::now();
        self.step_end(
            name,
            t,
            StepEnd {
                state: StepState::Skipped,
                summary: why.to_string(),
            },
        );
    }

    fn progress(&self, name: &'static str, message: String, current: u64, total: u64) {
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

    fn audit(&self, action: &str, target: &str, outcome: &str, detail: Option<&str>) {
        if let Err(e) = self
            .store
            .audit(&self.actor, action, Some(target), outcome, detail)
        {
            tracing::warn!("audit: {e}");
        }
    }

    /// Run the request to its end. Never returns with the app half-deployed: after the
    /// recreate step it is either healthy on the new version or rolled back (or, if even the
    /// rollback fails, reported as possibly down).
    pub async fn run(mut self, req: DeployRequest) -> Outcome {
        let action = req.kind.as_str();
        let target = req.target.to_string();
        if req.dry_run {
            self.audit(action, &target, "dry-run", None);
            let outcome = self.dry_run(&req).await;
            self.emit(DeployEvent::Finished {
                deployment_id: None,
                status: outcome.status,
                message: outcome.message.clone(),
                downtime_ms: None,
                duration_ms: self.started.elapsed().as_millis() as u64,
            });
            return outcome;
        }
        self.audit(action, &target, "attempted", None);

        let t = Instant::now();
        let new = NewDeployment {
            kind: req.kind,
            parent_id: None,
            services: self.config.service_names().map(str::to_string).collect(),
            to_tag: match &req.target {
                Target::Tag(t) => Some(t.to_string()),
                Target::Latest => Some("latest".into()),
                Target::Previous => None,
            },
            strategy: "recreate".into(),
        };
        let stale_after = lock_stale_after(&self.config);
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

        let t = self.step_begin("record");
        if let Some(id) = self.deployment_id
            && let Err(e) = self.store.finish_deployment(
                id,
                outcome.status,
                (outcome.status != DeployStatus::Succeeded
                    && outcome.status != DeployStatus::Skipped)
                    .then_some(outcome.message.as_str()),
                outcome.downtime_ms,
            )
        {
            tracing::warn!("store: {e}");
        }
        self.step_end("record", t, ok(format!("deployment #{}", id.unwrap_or(0))));
        if let Err(e) = self.store.release_lock(&self.actor) {
            tracing::warn!("releasing the lock: {e}");
        }
        self.audit(
            action,
            &target,
            outcome.status.as_str(),
            Some(&outcome.message),
        );
        self.emit(DeployEvent::Finished {
            deployment_id: outcome.deployment_id,
            status: outcome.status,
            message: outcome.message.clone(),
            downtime_ms: outcome.downtime_ms,
            duration_ms: self.started.elapsed().as_millis() as u64,
        });
        outcome
    }

    fn refused(&self, action: &str, target: &str, message: String) -> Outcome {
        self.audit(action, target, "refused", Some(&message));
        let outcome = Outcome {
            deployment_id: None,
            status: DeployStatus::Failed,
            message,
            downtime_ms: None,
            refused: true,
        };
        self.emit(DeployEvent::Finished {
            deployment_id: None,
            status: outcome.status,
            message: outcome.message.clone(),
            downtime_ms: None,
            duration_ms: self.started.elapsed().as_millis() as u64,
        });
        outcome
    }

    /// Keeps the lock's heartbeat fresh from its own connection while the deploy runs.
    fn start_heartbeat(&self) -> CancellationToken {
        let stop = CancellationToken::new();
        let every = Duration::from_secs((self.config.deploy.lock_stale_after_s / 3).clamp(1, 5));
        let dir = state_dir(&self.config);
        let actor = self.actor.clone();
        let token = stop.clone();
        tokio::spawn(async move {
            let Ok(store) = Store::open(&dir) else { return };
            loop {
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                match store.heartbeat(&actor) {
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

    fn finish(&self, status: DeployStatus, message: String, downtime_ms: Option<u64>) -> Outcome {
        Outcome {
            deployment_id: self.deployment_id,
            status,
            message,
            downtime_ms,
            refused: false,
        }
    }

    fn interrupted(&self, step: &'static str) -> Result<(), Failure> {
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

    async fn execute(&mut self, req: &DeployRequest) -> Outcome {
        let mut plans = match self.prepare(req).await {
            Ok(p) => p,
            Err(f) => return self.stopped_before_change(f),
        };

        // 4. compare
        let t = self.step_begin("compare");
        let current = match self.current_containers().await {
            Ok(c) => c,
            Err(e) => return self.stopped_before_change(fail("compare", e)),
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
            for name in [
                "backup",
                "migrate",
                "recreate",
                "health",
                "rollback",
                "retention",
            ] {
                self.skip(name, "already running");
            }
            return self.finish(DeployStatus::Skipped, message, None);
        }
        self.step_end(
            "compare",
            t,
            ok(if same {
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
            }),
        );

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

        // 7. recreate. From here on an interrupt is ignored: we finish or roll back.
        let t = self.step_begin("recreate");
        if let Err(e) = self.keep_rollback_images(&mut plans).await {
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
        let pins: Vec<(String, String)> = plans
            .iter()
            .map(|p| (p.image_var.clone(), p.to_ref.clone()))
            .collect();
        let env_file = absolute(&self.config.deployment.env_file);
        if let Err(e) = envfile::pin(&env_file, &pins) {
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
        let recreate_started = Instant::now();
        let recreate_timeout = Duration::from_secs(self.config.deploy.health_timeout_s + 120);
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
                self.step_end(
                    "recreate",
                    t,
                    ok(format!(
                        "{} recreated with {}; {} pinned in {}{}",
                        services.join(", "),
                        plans[0].to_ref,
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
                        let down_at = stopped_at(death.take(), recreate_started).await;
                        let downtime = up_at.saturating_duration_since(down_at).as_millis() as u64;
                        self.step_end(
                            "health",
                            t,
                            ok(format!(
                                "healthy {} times in a row; downtime {}",
                                self.config.deploy.health_successes,
                                fmt_ms(downtime)
                            )),
                        );
                        self.skip("rollback", "not needed");
                        let t = self.step_begin("retention");
                        let summary = self.retention(&plans).await;
                        self.step_end("retention", t, ok(summary));
                        let p = &plans[0];
                        return self.finish(
                            DeployStatus::Succeeded,
                            format!(
                                "{} {} ({}) in {}; downtime {}",
                                if req.kind == DeployKind::Rollback {
                                    "rolled back to"
                                } else {
                                    "deployed"
                                },
                                p.to.tag.as_deref().unwrap_or(&p.to_ref),
                                p.to.sha.as_deref().map(short).unwrap_or("no commit label"),
                                fmt_ms(self.started.elapsed().as_millis() as u64),
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
                                summary: reason.clone(),
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
            return self.finish(
                DeployStatus::FailedDown,
                format!("{reason}; this was a rollback, so it is not rolled back in turn: the app may be down"),
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
        if let Some(id) = self.deployment_id
            && let Err(e) = self.store.set_error(
                id,
                &format!(
                    "{reason}; rolling back automatically to {}",
                    plans[0]
                        .from
                        .image
                        .as_deref()
                        .unwrap_or("the previous image")
                ),
            )
        {
            tracing::warn!("store: {e}");
        }
        let t = self.step_begin("rollback");
        // The users' outage began when the old version stopped for the failed deploy, not
        // when the rollback's own switch began: it spans the whole health wait.
        let down_at = stopped_at(death.take(), recreate_started).await;
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
                        plans[0].from.image.as_deref().unwrap_or("previous image"),
                        fmt_ms(downtime),
                        fmt_ms(switch)
                    )),
                );
                self.finish(
                    DeployStatus::RolledBack,
                    format!(
                        "{reason}; rolled back automatically to {} (healthy)",
                        plans[0]
                            .from
                            .image
                            .as_deref()
                            .unwrap_or("the previous image")
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
                        summary: e.clone(),
                    },
                );
                self.finish(
                    DeployStatus::FailedDown,
                    format!(
                        "{reason}; the automatic rollback failed too: {e}; the app may be down"
                    ),
                    None,
                )
            }
        }
    }

    /// Steps 2 and 3: resolve and pull. Nothing on the host changes here but local images.
    async fn prepare(&mut self, req: &DeployRequest) -> Result<Vec<PlanService>, Failure> {
        let t = self.step_begin("resolve");
        let current = self
            .current_containers()
            .await
            .map_err(|e| self.failed_step("resolve", t, e))?;
        // What runs is recorded before the target is resolved, so a deploy that fails there
        // still says what it would have replaced.
        if let (Some(id), Some(first)) =
            (self.deployment_id, self.config.deployment.services.first())
            && let Err(e) = self
                .store
                .set_from_side(id, &self.running_side(first, current.get(&first.name)))
        {
            tracing::warn!("store: {e}");
        }
        let mut plans = Vec::new();
        let services = self.config.deployment.services.clone();
        for svc in &services {
            let plan = self
                .resolve_service(svc, &req.target, current.get(&svc.name), req.kind)
                .await
                .map_err(|e| self.failed_step("resolve", t, e))?;
            plans.push(plan);
        }
        if let Some(id) = self.deployment_id {
            let _ = self
                .store
                .set_deploy_sides(id, &plans[0].from, &plans[0].to);
        }
        self.step_end(
            "resolve",
            t,
            ok(plans
                .iter()
                .map(|p| {
                    format!(
                        "{}: {} = {}{}",
                        p.service,
                        p.to.tag.as_deref().unwrap_or("?"),
                        p.to.digest
                            .as_deref()
                            .map(short_digest)
                            .unwrap_or("local image"),
                        p.to.sha
                            .as_deref()
                            .map(|s| format!(", commit {}", short(s)))
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
        if let Some(id) = self.deployment_id {
            let _ = self
                .store
                .set_deploy_sides(id, &plans[0].from, &plans[0].to);
        }
        self.step_end("pull", t, ok(summaries.join("; ")));
        self.interrupted("compare")?;
        Ok(plans)
    }

    fn failed_step(&self, name: &'static str, t: Instant, message: String) -> Failure {
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

    /// The run ended before the app was touched: record the remaining steps as skipped.
    fn stopped_before_change(&self, f: Failure) -> Outcome {
        if f.cancelled {
            let t = Instant::now();
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

    fn stopped_before_change_noted(&self, f: Failure) -> Outcome {
        let from = seq(f.step) as usize;
        for name in STEPS.iter().skip(from).take_while(|n| **n != "record") {
            self.skip(
                name,
                if f.cancelled {
                    "cancelled"
                } else {
                    "an earlier step failed"
                },
            );
        }
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

    /// The newest non-one-off container of each service of the project.
    async fn current_containers(&self) -> Result<HashMap<String, ContainerView>, String> {
        let list = self
            .docker
            .project_containers(&self.config.deployment.project)
            .await
            .map_err(|e| e.to_string())?;
        let mut map: HashMap<String, ContainerView> = HashMap::new();
        for c in list.into_iter().filter(|c| !c.oneoff) {
            let better = match map.get(&c.service) {
                None => true,
                Some(old) => {
                    (c.state == ContainerState::Running, c.started_at)
                        > (old.state == ContainerState::Running, old.started_at)
                }
            };
            if better {
                map.insert(c.service.clone(), c);
            }
        }
        Ok(map)
    }

    async fn resolve_service(
        &self,
        svc: &ServiceConfig,
        target: &Target,
        running: Option<&ContainerView>,
        kind: DeployKind,
    ) -> Result<PlanService, String> {
        let repo = &svc.image;
        let from = self.running_side(svc, running);
        let mut to: ImageSide;
        let pin_tag: Option<String>;
        match target {
            Target::Previous => {
                let prev = self.previous_side(svc, running)?;
                to = prev.clone();
                pin_tag = prev
                    .tag
                    .clone()
                    .or_else(|| prev.image.as_deref().and_then(tag_of));
                // Prefer the local copy (no registry needed); else the registry by tag.
                let local = match &prev.image_id {
                    Some(id) => self
                        .docker
                        .local_image(id)
                        .await
                        .map_err(|e| e.to_string())?,
                    None => None,
                };
                if local.is_none() {
                    let tag = pin_tag
                        .as_deref()
                        .and_then(|t| Tag::parse(t).ok())
                        .ok_or_else(|| {
                            format!(
                                "{}: the previous image {} is no longer local and has no tag to pull",
                                svc.name,
                                prev.image.as_deref().unwrap_or("?")
                            )
                        })?;
                    to = self.describe_in_registry(repo, &tag).await?;
                }
            }
            Target::Tag(tag) => {
                let local = if kind == DeployKind::Rollback {
                    self.docker
                        .local_image(&repo.with_tag(tag))
                        .await
                        .map_err(|e| e.to_string())?
                } else {
                    None
                };
                match local {
                    // A rollback to a retained image needs no registry at all.
                    Some(img) => {
                        to = side_of_local(&img, repo);
                        to.tag = Some(tag.to_string());
                        to.image = Some(repo.with_tag(tag));
                    }
                    None => to = self.describe_in_registry(repo, tag).await?,
                }
                pin_tag = Some(tag.to_string());
            }
            Target::Latest => {
                let latest = Tag::parse("latest").map_err(|e| e.to_string())?;
                to = self.describe_in_registry(repo, &latest).await?;
                pin_tag = self.commit_tag_for(svc, &to).await;
            }
        }
        let to_ref = match (&pin_tag, &to.digest) {
            (Some(t), _) if t != "latest" || target != &Target::Latest => {
                let tag = Tag::parse(t).map_err(|e| format!("{}: {e}", svc.name))?;
                repo.with_tag(&tag)
            }
            (_, Some(d)) => {
                let digest = Digest::parse(d).map_err(|e| e.to_string())?;
                repo.with_digest(&digest)
            }
            _ => return Err(format!("{}: no tag or digest to deploy", svc.name)),
        };
        envfile::check_image_ref(&to_ref)?;
        if to.tag.is_none() {
            to.tag = pin_tag.clone();
        }
        to.image = Some(to_ref.clone());
        let older = match (
            from.created.as_deref().and_then(parse_time),
            to.created.as_deref().and_then(parse_time),
        ) {
            (Some(f), Some(t)) => Some(t < f),
            _ => None,
        };
        Ok(PlanService {
            service: svc.name.clone(),
            from,
            to,
            older,
            to_ref,
            repo: Some(repo.clone()),
            image_var: svc.image_var.clone(),
            migrate_service: svc.migrate_service.clone(),
            pin_tag,
        })
    }

    /// What runs now for `svc`: its container's image, else what the env file pins.
    fn running_side(&self, svc: &ServiceConfig, running: Option<&ContainerView>) -> ImageSide {
        match running {
            Some(c) => ImageSide {
                image: Some(c.image.clone()),
                tag: tag_of(&c.image),
                digest: digest_for(&c.repo_digests, &svc.image),
                sha: c.revision.clone(),
                image_id: Some(c.image_id.clone()),
                created: c.image_created.clone(),
            },
            None => ImageSide {
                image: envfile::read_var(
                    &absolute(&self.config.deployment.env_file),
                    &svc.image_var,
                ),
                ..Default::default()
            },
        }
    }

    /// The last version that ran healthy before what runs now (`previous::previous_version`).
    fn previous_side(
        &self,
        svc: &ServiceConfig,
        running: Option<&ContainerView>,
    ) -> Result<ImageSide, String> {
        let list = self.store.deployments(500).map_err(|e| e.to_string())?;
        previous::previous_version(&list, &svc.name, running.map(|c| c.image_id.as_str()))
            .map(|p| p.side.clone())
            .ok_or_else(|| {
                format!(
                    "{}: no previous version recorded in {} to roll back to (use `rollback TAG`)",
                    svc.name,
                    self.store.path().display()
                )
            })
    }

    async fn describe_in_registry(&self, repo: &ImageRepo, tag: &Tag) -> Result<ImageSide, String> {
        let mut delay = Duration::from_millis(500);
        let mut attempt = 1;
        loop {
            match self.registry.describe(repo, tag).await {
                Ok(d) => {
                    return Ok(ImageSide {
                        image: Some(repo.with_tag(tag)),
                        tag: Some(tag.to_string()),
                        digest: Some(d.digest.to_string()),
                        sha: d.revision().map(|s| s.to_string()),
                        image_id: None,
                        created: d
                            .labels
                            .get("org.opencontainers.image.created")
                            .cloned()
                            .or(d.created.map(|c| c.to_rfc3339())),
                    });
                }
                Err(RegistryError::NotFound { .. }) => {
                    return Err(format!("tag {tag} does not exist in {repo}"));
                }
                Err(e) if e.is_transient() && attempt < 3 => {
                    tracing::info!("registry: {e}; retrying in {delay:?}");
                    tokio::select! {
                        _ = self.interrupt.cancelled() => return Err(e.to_string()),
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay *= 2;
                    attempt += 1;
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// The commit tag (`main-<sha>`) that points at the same digest as `latest`, so the env
    /// file pins a name that will not move.
    async fn commit_tag_for(&self, svc: &ServiceConfig, latest: &ImageSide) -> Option<String> {
        let sha = CommitSha::parse(latest.sha.as_deref()?).ok()?;
        let short_sha = CommitSha::parse(sha.short()).ok()?;
        for pattern in &svc.commit_tags {
            for s in [&sha, &short_sha] {
                let tag = pattern.tag_for(s);
                if let Ok(d) = self.registry.resolve(&svc.image, &tag).await
                    && Some(d.to_string()) == latest.digest
                {
                    return Some(tag.to_string());
                }
            }
        }
        None
    }

    /// Make the target image local (pulling by digest with progress and retries) and make
    /// `to_ref` name it. Returns the step summary.
    async fn ensure_local(&self, plan: &mut PlanService) -> Result<String, Failure> {
        let repo = plan
            .repo
            .clone()
            .ok_or_else(|| fail("pull", "no repository"))?;
        let docker_name = repo.docker_name();
        let by_digest = plan
            .to
            .digest
            .as_deref()
            .and_then(|d| Digest::parse(d).ok())
            .map(|d| repo.with_digest(&d));
        let mut local = match &plan.to.image_id {
            Some(id) => self
                .docker
                .local_image(id)
                .await
                .map_err(|e| fail("pull", e.to_string()))?,
            None => None,
        };
        if local.is_none()
            && let Some(r) = &by_digest
        {
            local = self
                .docker
                .local_image(r)
                .await
                .map_err(|e| fail("pull", e.to_string()))?;
        }
        let mut summary = format!("{}: already local", plan.service);
        if local.is_none() {
            let reference = by_digest
                .clone()
                .ok_or_else(|| fail("pull", format!("{}: no digest to pull", plan.service)))?;
            summary = self
                .pull_with_retries(&reference, &repo, &plan.service)
                .await?;
            local = self
                .docker
                .local_image(&reference)
                .await
                .map_err(|e| fail("pull", e.to_string()))?;
        }
        let img = local.ok_or_else(|| {
            fail(
                "pull",
                format!(
                    "{}: the engine has no image for {} after the pull",
                    plan.service, plan.to_ref
                ),
            )
        })?;
        if let Some(tag) = plan
            .pin_tag
            .as_deref()
            .filter(|_| !plan.to_ref.contains('@'))
        {
            self.docker
                .tag_image(&img.id, &docker_name, tag)
                .await
                .map_err(|e| fail("pull", format!("tagging {}: {e}", plan.to_ref)))?;
        }
        if plan.to.digest.is_none() {
            plan.to.digest = digest_for(&img.repo_digests, &repo);
        }
        if plan.to.sha.is_none() {
            plan.to.sha = img.labels.get("org.opencontainers.image.revision").cloned();
        }
        plan.to.image_id = Some(img.id);
        Ok(summary)
    }

    async fn pull_with_retries(
        &self,
        reference: &str,
        repo: &ImageRepo,
        service: &str,
    ) -> Result<String, Failure> {
        let attempts = self.config.deploy.pull_attempts.max(1);
        let credentials = registry::pull_credentials(&self.config.registry, repo.registry());
        let mut delay = Duration::from_secs(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            let started = Instant::now();
            let pull = self.pull_once(reference, credentials.clone());
            let limit = Duration::from_secs(self.config.deploy.pull_timeout_s);
            let result = tokio::select! {
                _ = self.interrupt.cancelled() => {
                    return Err(Failure { step: "pull", message: "cancelled by the operator during the pull".into(), cancelled: true });
                }
                r = tokio::time::timeout(limit, pull) => r.unwrap_or_else(|_| Err(format!("no progress within {} s", limit.as_secs()))),
            };
            match result {
                Ok((layers, bytes)) => {
                    return Ok(format!(
                        "{service}: pulled {reference} ({layers} layers, {}) in {}{}",
                        fmt_bytes(bytes),
                        fmt_ms(started.elapsed().as_millis() as u64),
                        if attempt > 1 {
                            format!(", attempt {attempt}")
                        } else {
                            String::new()
                        }
                    ));
                }
                Err(e) => {
                    last = e;
                    if !is_transient_pull_error(&last) || attempt == attempts {
                        break;
                    }
                    self.progress(
                        "pull",
                        format!(
                            "attempt {attempt} failed: {last}; retrying in {} s",
                            delay.as_secs()
                        ),
                        0,
                        0,
                    );
                    tokio::select! {
                        _ = self.interrupt.cancelled() => {
                            return Err(Failure { step: "pull", message: "cancelled by the operator during the pull".into(), cancelled: true });
                        }
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        }
        Err(fail(
            "pull",
            format!("{service}: pulling {reference} failed after {attempts} attempt(s): {last}"),
        ))
    }

    /// One pull; returns (layers, bytes downloaded).
    async fn pull_once(
        &self,
        reference: &str,
        credentials: Option<(String, String)>,
    ) -> Result<(usize, u64), String> {
        let mut stream = Box::pin(self.docker.pull(reference, credentials));
        let mut layers: HashMap<String, (u64, u64, bool)> = HashMap::new();
        let mut last_report = Instant::now() - Duration::from_secs(1);
        while let Some(item) = stream.next().await {
            let ev = item.map_err(|e| e.to_string())?;
            let is_layer = !ev.layer.is_empty()
                && !ev.status.starts_with("Pulling from")
                && !ev.status.starts_with("Digest")
                && !ev.status.starts_with("Status");
            if is_layer {
                let entry = layers.entry(ev.layer.clone()).or_insert((0, 0, false));
                if let (Some(c), Some(t)) = (ev.current, ev.total)
                    && ev.status.starts_with("Downloading")
                {
                    entry.0 = c;
                    entry.1 = t;
                }
                if ev.status.starts_with("Pull complete") || ev.status.starts_with("Already exists")
                {
                    entry.2 = true;
                    if entry.1 > 0 {
                        entry.0 = entry.1;
                    }
                }
            }
            if last_report.elapsed() >= Duration::from_millis(200) {
                last_report = Instant::now();
                self.report_layers(&layers);
            }
        }
        Ok((layers.len(), self.report_layers(&layers)))
    }

    /// Send the pull's progress over all layers; returns the bytes downloaded so far.
    fn report_layers(&self, layers: &HashMap<String, (u64, u64, bool)>) -> u64 {
        let (cur, tot, done) = totals(layers);
        self.progress(
            "pull",
            format!(
                "layers {done}/{} · {} of {}",
                layers.len(),
                fmt_bytes(cur),
                fmt_bytes(tot)
            ),
            cur,
            tot.max(cur),
        );
        cur
    }

    async fn backup(&self, plans: &[PlanService]) -> Result<(), Failure> {
        let command = self.config.deploy.backup_command.trim().to_string();
        if command.is_empty() {
            self.skip("backup", "no deploy.backup_command configured");
            return Ok(());
        }
        let t = self.step_begin("backup");
        let limit = Duration::from_secs(self.config.deploy.backup_timeout_s);
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(&command)
            .env("ELT_DEPLOY_TARGET", &plans[0].to_ref)
            .env("ELT_DEPLOY_PROJECT", &self.config.deployment.project)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let result: Result<String, String> = match cmd.spawn() {
            Err(e) => Err(format!("cannot run `{command}`: {e}")),
            Ok(child) => tokio::select! {
                _ = self.interrupt.cancelled() => {
                    return Err(Failure { step: "backup", message: "cancelled by the operator during the backup".into(), cancelled: true });
                }
                r = tokio::time::timeout(limit, child.wait_with_output()) => match r {
                    Err(_) => Err(format!("`{command}` did not finish within {} s (stopped)", limit.as_secs())),
                    Ok(Err(e)) => Err(format!("`{command}`: {e}")),
                    Ok(Ok(out)) => {
                        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                        text.push_str(&String::from_utf8_lossy(&out.stderr));
                        if out.status.success() {
                            Ok(text)
                        } else {
                            Err(format!("`{command}` failed (exit {}): {}", out.status.code().unwrap_or(-1), compose::tail_lines(&text, 5)))
                        }
                    }
                },
            },
        };
        match result {
            Ok(text) => {
                let path = backup_path_in(&text);
                if let (Some(id), Some(p)) = (self.deployment_id, &path) {
                    let _ = self.store.set_backup_path(id, p);
                }
                self.step_end(
                    "backup",
                    t,
                    ok(match path {
                        Some(p) => format!("backup written to {p}"),
                        None => format!("`{command}` succeeded (it named no backup file)"),
                    }),
                );
                Ok(())
            }
            Err(e) if self.config.deploy.backup_optional => {
                self.step_end(
                    "backup",
                    t,
                    StepEnd {
                        state: StepState::Warning,
                        summary: format!("{e}; continuing (deploy.backup_optional = true)"),
                    },
                );
                Ok(())
            }
            Err(e) => Err(self.failed_step("backup", t, format!("backup failed: {e}"))),
        }
    }

    async fn migrate(&self, plans: &[PlanService]) -> Result<(), Failure> {
        let steps: Vec<&PlanService> = plans
            .iter()
            .filter(|p| p.migrate_service.is_some())
            .collect();
        if steps.is_empty() {
            self.skip("migrate", "no migrate_service configured");
            return Ok(());
        }
        let t = self.step_begin("migrate");
        let pins: Vec<(String, String)> = plans
            .iter()
            .map(|p| (p.image_var.clone(), p.to_ref.clone()))
            .collect();
        let limit = Duration::from_secs(self.config.deploy.migrate_timeout_s);
        let mut summaries = Vec::new();
        for p in steps {
            let service = p.migrate_service.as_deref().unwrap_or_default();
            let result = tokio::select! {
                _ = self.interrupt.cancelled() => {
                    return Err(Failure { step: "migrate", message: "cancelled by the operator during the migration".into(), cancelled: true });
                }
                r = self.runtime.run_oneoff(service, &pins, limit) => r,
            };
            match result {
                Ok(out) => summaries.push(format!(
                    "{service} ran with {}{}",
                    p.to_ref,
                    last_line(&out)
                )),
                Err(e) => {
                    return Err(self.failed_step(
                        "migrate",
                        t,
                        format!("migration `{service}` failed: {e}"),
                    ));
                }
            }
        }
        self.step_end("migrate", t, ok(summaries.join("; ")));
        Ok(())
    }

    /// Make sure each old image can be named locally after the recreate, so a rollback never
    /// needs the registry (its tag may have moved, e.g. `latest`).
    async fn keep_rollback_images(&self, plans: &mut [PlanService]) -> Result<(), String> {
        for p in plans.iter_mut() {
            let (Some(image), Some(id)) = (p.from.image.clone(), p.from.image_id.clone()) else {
                continue;
            };
            let named = self
                .docker
                .local_image(&image)
                .await
                .map_err(|e| e.to_string())?;
            if named.as_ref().map(|i| &i.id) == Some(&id) {
                continue;
            }
            let repo = p.repo.clone().ok_or("no repository")?;
            let hex = id.trim_start_matches("sha256:");
            let tag = format!("elt-rollback-{}", &hex[..hex.len().min(12)]);
            self.docker
                .tag_image(&id, &repo.docker_name(), &tag)
                .await
                .map_err(|e| format!("keeping the previous image {id} for a rollback: {e}"))?;
            p.from.image = Some(format!("{}:{tag}", repo.docker_name()));
        }
        Ok(())
    }

    /// Put the old images back and wait for them to be healthy. Recorded as its own
    /// deployment (kind auto-rollback) pointing at the failed one.
    /// Returns the users' outage (from `down_at`, when the old version stopped for the failed
    /// deploy, to the first healthy answer after the rollback) and the rollback's own switch.
    async fn auto_rollback(
        &mut self,
        plans: &[PlanService],
        services: &[String],
        reason: &str,
        down_at: Instant,
    ) -> Result<(u64, u64), String> {
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
            let _ = self.store.audit(
                &self.actor,
                "auto-rollback",
                plans[0].from.image.as_deref(),
                "attempted",
                Some(reason),
            );
        }
        let pins: Vec<(String, String)> = plans
            .iter()
            .filter_map(|p| p.from.image.clone().map(|i| (p.image_var.clone(), i)))
            .collect();
        let record =
            |store: &Store, seq: u32, name: &str, state: &str, t: Instant, summary: &str| {
                if let Some(c) = child {
                    let _ = store.step_started(c, seq, name);
                    let _ = store.step_finished(
                        c,
                        seq,
                        name,
                        state,
                        t.elapsed().as_millis() as u64,
                        summary,
                    );
                }
            };
        let t = Instant::now();
        let env_file = absolute(&self.config.deployment.env_file);
        let result: Result<(u64, u64), String> = async {
            envfile::pin(&env_file, &pins)?;
            let death = self.watch_death(services).await;
            let recreate_started = Instant::now();
            let limit = Duration::from_secs(self.config.deploy.health_timeout_s + 120);
            let out = self
                .runtime
                .recreate(services, &pins, limit)
                .await
                .map_err(|e| e.to_string())?;
            record(
                &self.store,
                seq("recreate"),
                "recreate",
                "ok",
                t,
                &last_line(&out),
            );
            let t2 = Instant::now();
            let up_at = self.wait_healthy(services, "rollback").await?;
            let switch_down_at = stopped_at(death, recreate_started).await;
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
        if let Some(c) = child {
            // The same outage as the failed deploy's row: one outage, told the same everywhere.
            let (status, error, downtime) = match &result {
                Ok((d, _)) => (DeployStatus::Succeeded, None, Some(*d)),
                Err(e) => (DeployStatus::FailedDown, Some(e.as_str()), None),
            };
            let _ = self.store.finish_deployment(c, status, error, downtime);
            let _ = self.store.audit(
                &self.actor,
                "auto-rollback",
                plans[0].from.image.as_deref(),
                status.as_str(),
                error,
            );
        }
        result
    }

    /// Start watching for the moment the running containers of `services` stop, so the
    /// downtime starts when the old version really went away, not when compose started.
    async fn watch_death(&self, services: &[String]) -> Option<DeathWatch> {
        let ids: Vec<String> = self
            .current_containers()
            .await
            .ok()?
            .into_iter()
            .filter(|(s, c)| services.contains(s) && c.state == ContainerState::Running)
            .map(|(_, c)| c.id)
            .collect();
        if ids.is_empty() {
            return None;
        }
        let docker = self.docker.clone();
        let since = chrono::Utc::now() - chrono::Duration::seconds(1);
        let limit = Duration::from_secs(self.config.deploy.health_timeout_s + 120);
        Some(DeathWatch(tokio::spawn(async move {
            docker.first_death(&ids, since, limit).await
        })))
    }

    /// Poll until every service's container is running and healthy (by its own healthcheck,
    /// if it has one) and every configured endpoint answers OK `health_successes` times in a
    /// row. Returns when the streak began (the moment the app was first seen up).
    async fn wait_healthy(
        &self,
        services: &[String],
        step: &'static str,
    ) -> Result<Instant, String> {
        let timeout = Duration::from_secs(self.config.deploy.health_timeout_s);
        let interval = Duration::from_millis(self.config.deploy.health_interval_ms);
        let needed = self.config.deploy.health_successes.max(1);
        let deadline = Instant::now() + timeout;
        let mut streak = 0u32;
        let mut streak_start = Instant::now();
        // Since when every endpoint has answered OK without a break: the app serves again,
        // even while its container healthcheck still says "starting".
        let mut serving_since: Option<Instant> = None;
        let mut last_reason = String::from("not checked yet");
        loop {
            let now = Instant::now();
            let poll = self.health_once(services).await;
            serving_since = if poll.serving {
                Some(serving_since.unwrap_or(now))
            } else {
                None
            };
            match poll.verdict {
                Ok(()) => {
                    if streak == 0 {
                        streak_start = now;
                    }
                    streak += 1;
                    if streak >= needed {
                        return Ok(serving_since.unwrap_or(streak_start).min(streak_start));
                    }
                    self.progress(
                        step,
                        format!("healthy {streak}/{needed}"),
                        streak as u64,
                        needed as u64,
                    );
                }
                Err((reason, fatal)) => {
                    streak = 0;
                    if fatal {
                        return Err(reason);
                    }
                    self.progress(
                        step,
                        format!(
                            "waiting ({}s/{}s): {reason}",
                            (timeout.saturating_sub(deadline.saturating_duration_since(now)))
                                .as_secs(),
                            timeout.as_secs()
                        ),
                        0,
                        needed as u64,
                    );
                    last_reason = reason;
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "not healthy within {} s (deploy.health_timeout_s): {last_reason}",
                    timeout.as_secs()
                ));
            }
            // Confirmations come quicker than the first wait: the app is up, we only make sure.
            let pause = if streak > 0 { interval / 4 } else { interval };
            tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
        }
    }

    /// One check of every service container and endpoint.
    async fn health_once(&self, services: &[String]) -> HealthPoll {
        let containers = match self.current_containers().await {
            Ok(c) => c,
            Err(e) => {
                return HealthPoll {
                    verdict: Err((e, false)),
                    serving: false,
                };
            }
        };
        let mut verdict: Result<(), (String, bool)> = Ok(());
        let mut running = true;
        for s in services {
            let Some(c) = containers.get(s) else {
                verdict = Err((format!("{s}: no container yet"), false));
                running = false;
                break;
            };
            let this = match c.state {
                ContainerState::Running => match c.health {
                    HealthState::Healthy | HealthState::None => Ok(()),
                    HealthState::Starting => {
                        Err((format!("{s}: container healthcheck starting"), false))
                    }
                    // Not final: a model that loads for longer than the image's start period
                    // turns healthy later, and the deadline is the operator's to set.
                    HealthState::Unhealthy => Err((
                        format!("{s}: container healthcheck reports unhealthy"),
                        false,
                    )),
                },
                ContainerState::Exited | ContainerState::Dead => Err((
                    format!(
                        "{s}: container {} exited (code {})",
                        c.name,
                        c.exit_code.map_or("?".into(), |c| c.to_string())
                    ),
                    true,
                )),
                other => Err((format!("{s}: container is {other:?}").to_lowercase(), false)),
            };
            if c.state != ContainerState::Running {
                running = false;
            }
            if let Err(e) = this {
                let fatal = e.1;
                if verdict.is_ok() || fatal {
                    verdict = Err(e);
                }
                if fatal {
                    break;
                }
            }
        }
        if !running || matches!(&verdict, Err((_, true))) {
            return HealthPoll {
                verdict,
                serving: false,
            };
        }
        // Endpoints are asked even while a healthcheck starts, to know when serving resumed.
        let results = self.health.check_all(&self.config.health).await;
        let bad = results.iter().find(|r| !r.ok);
        let serving = bad.is_none();
        if let (Some(bad), Ok(())) = (bad, &verdict) {
            verdict = Err((
                format!(
                    "endpoint {} ({}): {}",
                    bad.name,
                    bad.url,
                    bad.error.as_deref().unwrap_or("not OK")
                ),
                false,
            ));
        }
        HealthPoll { verdict, serving }
    }

    /// Remove old local images of each deployed repository beyond `keep_images`, never the
    /// running one, the previous one, or any image of the last `keep_images` deployments.
    async fn retention(&self, plans: &[PlanService]) -> String {
        let keep = self.config.deploy.keep_images as usize;
        let mut protected: HashSet<String> = HashSet::new();
        for p in plans {
            protected.extend(p.to.image_id.clone());
            protected.extend(p.from.image_id.clone());
        }
        if let Ok(recent) = self.store.deployments(keep as u32) {
            for d in recent {
                protected.extend(d.to.image_id.clone());
                protected.extend(d.from.image_id.clone());
            }
        }
        let mut removed = Vec::new();
        let mut errors = Vec::new();
        let mut kept_total = 0;
        let mut seen_repos = HashSet::new();
        for p in plans {
            let Some(repo) = &p.repo else { continue };
            let name = repo.docker_name();
            if !seen_repos.insert(name.clone()) {
                continue;
            }
            let images = match self.docker.repo_images(&name).await {
                Ok(i) => i,
                Err(e) => {
                    errors.push(e.to_string());
                    continue;
                }
            };
            // Protected images count towards `keep`; the newest others fill the rest.
            let mut kept = images.iter().filter(|i| protected.contains(&i.id)).count();
            for img in &images {
                if protected.contains(&img.id) {
                    continue;
                }
                if kept < keep {
                    kept += 1;
                    continue;
                }
                match self.remove_local(img, &name).await {
                    Ok(refs) => removed.extend(refs),
                    Err(e) => errors.push(e),
                }
            }
            kept_total += kept;
        }
        let mut summary = format!(
            "kept {kept_total} image(s) (deploy.keep_images = {keep}), removed {}",
            removed.len()
        );
        if !removed.is_empty() {
            summary.push_str(&format!(": {}", removed.join(", ")));
        }
        if !errors.is_empty() {
            summary.push_str(&format!("; not removed: {}", errors.join("; ")));
        }
        summary
    }

    /// Untag every tag of `repo` on the image (the engine deletes it with its last tag).
    async fn remove_local(&self, img: &LocalImage, repo: &str) -> Result<Vec<String>, String> {
        let mut refs: Vec<String> = img
            .repo_tags
            .iter()
            .filter(|t| t.rsplit_once(':').is_some_and(|(r, _)| r == repo))
            .cloned()
            .collect();
        if refs.is_empty() {
            refs = img
                .repo_digests
                .iter()
                .filter(|d| d.split_once('@').is_some_and(|(r, _)| r == repo))
                .cloned()
                .collect();
        }
        for r in &refs {
            self.docker
                .remove_image(r)
                .await
                .map_err(|e| format!("{r}: {e}"))?;
        }
        Ok(refs)
    }

    async fn dry_run(&mut self, req: &DeployRequest) -> Outcome {
        let current = match self.current_containers().await {
            Ok(c) => c,
            Err(e) => return self.finish(DeployStatus::Failed, format!("dry run: {e}"), None),
        };
        let mut plans = Vec::new();
        for svc in self.config.deployment.services.clone() {
            match self
                .resolve_service(&svc, &req.target, current.get(&svc.name), req.kind)
                .await
            {
                Ok(p) => plans.push(p),
                Err(e) => return self.finish(DeployStatus::Failed, format!("dry run: {e}"), None),
            }
        }
        self.emit(DeployEvent::Plan {
            services: plans.clone(),
        });
        let mut lines = Vec::new();
        let same = plans.iter().all(|p| {
            current.get(&p.service).is_some_and(|c| {
                c.state == ContainerState::Running
                    && (p.to.digest.is_some()
                        && p.to.digest
                            == digest_for(
                                &c.repo_digests,
                                p.repo
                                    .as_ref()
                                    .unwrap_or(&self.config.deployment.services[0].image),
                            )
                        || p.to.image_id.as_deref() == Some(c.image_id.as_str()))
            })
        });
        if same && !req.force {
            lines.push(
                "the target already runs: a deploy would stop at the compare step".to_string(),
            );
        } else {
            let backup = self.config.deploy.backup_command.trim();
            lines.push(if backup.is_empty() {
                "backup: none configured".into()
            } else {
                format!("backup: run `{backup}`")
            });
            for p in plans.iter().filter(|_| req.kind != DeployKind::Rollback) {
                if let Some(m) = &p.migrate_service {
                    lines.push(format!("migrate: `compose run --rm {m}` with {}", p.to_ref));
                }
            }
            lines.push(format!(
                "recreate {} with {} via {}, pinned in {}",
                plans
                    .iter()
                    .map(|p| p.service.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                plans[0].to_ref,
                self.runtime.describe(),
                self.config.deployment.env_file.display()
            ));
            lines.push(format!(
                "wait up to {} s for health, then {}",
                self.config.deploy.health_timeout_s,
                if req.kind == DeployKind::Deploy {
                    "roll back automatically on failure"
                } else {
                    "report (a rollback is not rolled back)"
                }
            ));
        }
        self.finish(
            DeployStatus::Skipped,
            format!("dry run, nothing changed: {}", lines.join("; ")),
            None,
        )
    }
}

/// The lock refusal as an operator should read it.
pub fn describe_lock_refusal(state: &LockState) -> String {
    match state {
        LockState::Free => "the deploy lock is free".into(),
        LockState::Held { holder } => format!(
            "another {} is in progress: {} since {}{} (heartbeat {}s ago); wait for it, or see `elt-console lock status`",
            holder.action,
            holder.actor.describe(),
            holder.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            holder
                .deployment_id
                .map(|d| format!(", deployment #{d}"))
                .unwrap_or_default(),
            (chrono::Utc::now() - holder.heartbeat_at)
                .num_seconds()
                .max(0)
        ),
        LockState::Stale { holder, reason } => format!(
            "the deploy lock is stale: held by {} for a {} since {} but {reason}; check the app (`elt-console status`), then `elt-console lock release --force`",
            holder.actor.describe(),
            holder.action,
            holder.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        ),
    }
}

/// The instant the old containers died (from the engine's event), or when the recreate began
/// if that is unknown (nothing ran, or the event stream failed).
async fn stopped_at(death: Option<DeathWatch>, fallback: Instant) -> Instant {
    let Some(mut watch) = death else {
        return fallback;
    };
    // The death happened during the recreate, long before health; the event is there by now.
    let died = match tokio::time::timeout(Duration::from_secs(2), &mut watch.0).await {
        Ok(Ok(Some(t))) => t,
        _ => return fallback,
    };
    let ago = std::time::SystemTime::now()
        .duration_since(died)
        .unwrap_or_default();
    Instant::now()
        .checked_sub(ago)
        .filter(|t| *t >= fallback)
        .unwrap_or(fallback)
}

/// One health poll: the verdict for the deploy, and whether every endpoint answered OK.
struct HealthPoll {
    verdict: Result<(), (String, bool)>,
    serving: bool,
}

/// The task waiting for the old containers' `die` event; stopped when no longer needed.
struct DeathWatch(tokio::task::JoinHandle<Option<std::time::SystemTime>>);

impl Drop for DeathWatch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn totals(layers: &HashMap<String, (u64, u64, bool)>) -> (u64, u64, usize) {
    layers
        .values()
        .fold((0, 0, 0), |(c, t, d), (lc, lt, done)| {
            (c + lc, t + lt, d + usize::from(*done))
        })
}

/// Failures of a pull that may pass by themselves (network, registry overload).
pub fn is_transient_pull_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    let permanent = [
        "manifest unknown",
        "not found",
        "unauthorized",
        "denied",
        "invalid reference",
        "no such host",
    ];
    if permanent.iter().any(|p| m.contains(p)) {
        return false;
    }
    [
        "timeout",
        "timed out",
        "connection reset",
        "connection refused",
        "eof",
        "broken pipe",
        "tls handshake",
        "http 5",
        " 500",
        " 502",
        " 503",
        " 504",
        "429",
        "toomanyrequests",
        "temporar",
        "i/o",
        "unreachable",
        "no progress",
    ]
    .iter()
    .any(|p| m.contains(p))
}

fn side_of_local(img: &LocalImage, repo: &ImageRepo) -> ImageSide {
    ImageSide {
        image: None,
        tag: None,
        digest: digest_for(&img.repo_digests, repo),
        sha: img.labels.get("org.opencontainers.image.revision").cloned(),
        image_id: Some(img.id.clone()),
        created: img.labels.get("org.opencontainers.image.created").cloned(),
    }
}

/// The digest under which `repo` knows the image (`repo@sha256:...` entries).
fn digest_for(repo_digests: &[String], repo: &ImageRepo) -> Option<String> {
    let name = repo.docker_name();
    repo_digests
        .iter()
        .find_map(|d| {
            d.split_once('@')
                .filter(|(r, _)| *r == name)
                .map(|(_, d)| d.to_string())
        })
        .or_else(|| {
            repo_digests
                .first()
                .and_then(|d| d.split_once('@'))
                .map(|(_, d)| d.to_string())
        })
}

/// The tag of `repo:tag` (not of `host:port/repo`), if any.
fn tag_of(image: &str) -> Option<String> {
    let name = image.split('@').next()?;
    let last = name.rsplit('/').next()?;
    last.split_once(':').map(|(_, t)| t.to_string())
}

/// Last line of a backup command's output that names an existing file.
fn backup_path_in(output: &str) -> Option<String> {
    output.lines().rev().find_map(|line| {
        line.split_whitespace()
            .rev()
            .map(|w| w.trim_matches(|c: char| c == '"' || c == '\'' || c == ',' || c == ';'))
            .find(|w| !w.is_empty() && std::path::Path::new(w).is_file())
            .map(str::to_string)
    })
}

fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

fn last_line(out: &str) -> String {
    out.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(" ({})", l.trim()))
        .unwrap_or_default()
}

pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

pub fn short_digest(d: &str) -> &str {
    let hex_start = d.find(':').map_or(0, |i| i + 1);
    &d[..(hex_start + 12).min(d.len())]
}

pub fn fmt_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

pub fn fmt_bytes(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{:.2} GB", b as f64 / (1u64 << 30) as f64)
    } else if b >= 1 << 20 {
        format!("{:.1} MB", b as f64 / (1u64 << 20) as f64)
    } else if b >= 1 << 10 {
        format!("{:.1} KB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_pull_errors() {
        assert!(is_transient_pull_error(
            "Get \"http://x/v2/\": dial tcp: connection refused"
        ));
        assert!(is_transient_pull_error("unexpected EOF"));
        assert!(is_transient_pull_error(
            "received unexpected HTTP status: 503 Service Unavailable"
        ));
        assert!(!is_transient_pull_error(
            "manifest unknown: manifest unknown"
        ));
        assert!(!is_transient_pull_error(
            "unauthorized: authentication required"
        ));
    }

    #[test]
    fn tags_of_references() {
        assert_eq!(
            tag_of("127.0.0.1:5000/elt/app:main-abc").as_deref(),
            Some("main-abc")
        );
        assert_eq!(tag_of("127.0.0.1:5000/elt/app"), None);
        assert_eq!(tag_of("ghcr.io/a/b@sha256:00"), None);
        assert_eq!(tag_of("redis:7"), Some("7".into()));
    }

    #[test]
    fn backup_path_is_the_last_existing_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("db-2026.sql.gz");
        std::fs::write(&f, "x").unwrap();
        let out = format!("dumping...\nwrote {}\ndone in 2s\n", f.display());
        assert_eq!(backup_path_in(&out), Some(f.display().to_string()));
        assert_eq!(backup_path_in("no file here\n/does/not/exist\n"), None);
    }

    #[test]
    fn steps_are_numbered_in_order() {
        assert_eq!(seq("lock"), 1);
        assert_eq!(seq("recreate"), 7);
        assert_eq!(seq("record"), 11);
    }
}
