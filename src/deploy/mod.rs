//! The deploy engine, shared by the TUI and the CLI: plan, lock, steps, automatic rollback.
//!
//! One deploy at a time per host (a lock in the store). Nothing is touched before the target
//! is resolved, pulled, backed up and migrated; once the app's container has been replaced the
//! engine either reaches a healthy new version or brings the old one back (never a rollback of
//! a rollback). Every step is timed and recorded in the store as it happens, so a console
//! elsewhere can follow, and every attempt is audited, refused ones too.

mod child;
pub mod command;
pub mod compose;
mod direct_health;
mod emit;
pub mod envfile;
pub mod error;
pub mod follow;
pub mod headroom;
mod health;
mod lifecycle;
mod machine;
pub mod orchestrator;
mod plan;
pub mod previous;
mod recorder;
pub mod repair;
mod rollback;
pub mod seams;
pub mod settings;
mod start_first;
mod steps;
pub mod strategy;
mod swarm_update;
mod types;
mod util;
mod writer;

/// Step and deploy durations, as `format::duration_ms` prints them.
pub use crate::format::duration_ms as fmt_ms;
pub use error::DeployError;
pub use health::health_basis;
pub use plan::select_services;
pub use types::{
    DeployEvent, DeployRequest, EXIT_APP_DOWN, EXIT_CANCELLED, EXIT_DEPLOY_FAILED, EXIT_REFUSED,
    Events, Outcome, PlanService, RollbackEvent, STEPS, StepState, Target,
};
pub use util::{absolute, is_transient_pull_error, short, short_digest, state_dir};

use crate::config::Config;
use crate::domain::{Actor, LockState};
use crate::sources::docker::DockerSource;
use crate::sources::health::HealthChecker;
use crate::sources::registry::RegistrySource;
use crate::store::Store;
use compose::ComposeCli;
use orchestrator::SwarmOrchestrator;
use seams::{Clock, Real, RealRuntime, Seams};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub fn lock_stale_after(config: &Config) -> Duration {
    Duration::from_secs(config.deploy.lock_stale_after_s)
}

/// The deploy engine over its seams (`Real` on this host; fakes in the engine's tests).
pub struct Engine<S: Seams = Real> {
    settings: settings::DeploySettings,
    runtime: S::Runtime,
    host: S::Host,
    registry: S::Registry,
    health: S::Health,
    clock: S::Clock,
    gpu: S::Gpu,
    /// The proxy a start-first deploy switches; None without `[proxy]`.
    switch: Option<S::Switch>,
    store: Store,
    actor: Actor,
    /// The one subscriber that writes the store's deployment rows from the events, on a
    /// thread of its own (writer.rs).
    recorder: writer::RecorderLink,
    events: Events,
    interrupt: CancellationToken,
    deployment_id: Option<i64>,
    started: Instant,
}

/// What an engine is made of, for `Engine::new`.
pub struct Parts<S: Seams> {
    pub settings: settings::DeploySettings,
    pub runtime: S::Runtime,
    pub host: S::Host,
    pub registry: S::Registry,
    pub health: S::Health,
    pub clock: S::Clock,
    pub gpu: S::Gpu,
    pub switch: Option<S::Switch>,
    pub store: Store,
    pub actor: Actor,
}

impl<S: Seams> Engine<S> {
    /// An engine over any seams; `events` receives its progress, `interrupt` stops it up to
    /// the point of no return (the switch).
    pub fn new(parts: Parts<S>, events: Events, interrupt: CancellationToken) -> Self {
        let started = parts.clock.now();
        let store_dir = parts
            .store
            .path()
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_else(|| parts.settings.state_dir.clone());
        Engine {
            settings: parts.settings,
            runtime: parts.runtime,
            host: parts.host,
            registry: parts.registry,
            health: parts.health,
            clock: parts.clock,
            gpu: parts.gpu,
            switch: parts.switch,
            recorder: writer::RecorderLink::start(parts.actor.clone(), store_dir),
            store: parts.store,
            actor: parts.actor,
            events,
            interrupt,
            deployment_id: None,
            started,
        }
    }
}

impl Engine<Real> {
    /// Connect to everything a deploy needs; an error here means nothing was attempted.
    pub async fn connect(
        config: Config,
        events: Events,
        interrupt: CancellationToken,
    ) -> Result<Self, error::DeployError> {
        let docker = DockerSource::connect_config(&config.docker).await?;
        let runtime = match config.deployment.runtime {
            // A Swarm stack's services are updated through its manager (the engine the
            // console reads); compose never runs against its folder.
            crate::config::RuntimeKind::Swarm => {
                let swarm = crate::swarm::SwarmSource::from_docker(docker.clone());
                RealRuntime::Swarm(SwarmOrchestrator::new(swarm, &config))
            }
            crate::config::RuntimeKind::Compose => RealRuntime::Compose(
                ComposeCli::detect(
                    &config.deploy.compose_command,
                    &config.deployment.project,
                    absolute(&config.deployment.compose_file),
                    absolute(&config.deployment.env_file),
                )
                .await?
                // Compose talks to the engine the console reads (a configured host, or one
                // of [[hosts]]), not to whatever DOCKER_HOST the process has.
                .with_engine_env(config.docker.compose_env()),
            ),
        };
        let store = Store::open(&state_dir(&config))?;
        let health = HealthChecker::new().map_err(error::DeployError::HealthClient)?;
        let registry = RegistrySource::new(&config.registry);
        let switch = crate::switch::ProxySwitch::from_config(&config.proxy)
            .map_err(|e| error::DeployError::Proxy(e.to_string()))?;
        Ok(Engine::new(
            Parts {
                settings: settings::DeploySettings::from_config(&config),
                runtime,
                host: docker,
                registry,
                health,
                clock: seams::SystemClock,
                gpu: seams::Nvml {
                    library: config.gpu.nvml_library.clone(),
                },
                switch,
                store,
                actor: Actor::current(),
            },
            events,
            interrupt,
        ))
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
