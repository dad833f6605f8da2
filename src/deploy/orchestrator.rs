//! The orchestrator seam: a runtime that runs the services itself and replaces their tasks on
//! an update (Docker Swarm), instead of compose recreating containers on one host. The step
//! machine hands a deploy of such a runtime to the `swarm-update` strategy (swarm_update.rs),
//! which talks to it only through this trait; the real implementation wraps src/swarm, a fake
//! lives in tests/engine_fake.rs.

use crate::config::{Config, FailureAction, UpdateOrder};
use crate::swarm::{
    JobOutcome, JobSpec, SwarmError, SwarmSource, UpdateEnd, UpdateProgress, UpdateSettings,
    UpdateStarted,
};
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often an update or a job is asked how far it got.
const POLL: Duration = Duration::from_millis(500);

/// What the engine needs from an orchestrator.
pub trait Orchestrator: Send + Sync {
    /// For the record: the stack, and the manager it is reached through.
    fn describe(&self) -> String;
    /// The strategy recorded with each deployment (`swarm start-first`).
    fn strategy(&self) -> String;
    /// How an update rolls out, for the plan: order, parallelism, monitor, failure action.
    fn update_policy(&self) -> String;
    /// The orchestrator's name of one of the deployment's services (`stack_service`).
    fn service_name(&self, service: &str) -> String;
    /// The one-off migration job of a deploy to `image`, modelled on the service `name` and
    /// named after the deployment; None where no migration is configured.
    fn migration_job(&self, name: &str, image: &str, deployment_id: i64) -> Option<JobSpec>;
    /// The image the service's spec names now; None: no such service.
    fn service_image(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, SwarmError>> + Send;
    /// Point the service at `reference` (a digest reference) with the configured update
    /// order, parallelism, monitor period and failure action.
    fn update(
        &self,
        name: &str,
        reference: &str,
        credentials: Option<(String, String)>,
    ) -> impl Future<Output = Result<UpdateStarted, SwarmError>> + Send;
    /// The service's own rollback to its previous spec.
    fn rollback(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<UpdateStarted, SwarmError>> + Send;
    /// Follow an update (or rollback) to the state the orchestrator ends it in, reporting
    /// each change of its progress.
    fn follow(
        &self,
        started: &UpdateStarted,
        on_progress: impl FnMut(&UpdateProgress) + Send,
    ) -> impl Future<Output = Result<UpdateEnd, SwarmError>> + Send;
    /// Run a one-off job (the migration) to its end, within `limit`; `stop` cancels it and
    /// removes what it started (`SwarmError::Cancelled`).
    fn run_job(
        &self,
        job: &JobSpec,
        limit: Duration,
        stop: &CancellationToken,
    ) -> impl Future<Output = Result<JobOutcome, SwarmError>> + Send;
}

/// Docker Swarm through its manager's API (src/swarm).
#[derive(Clone)]
pub struct SwarmOrchestrator {
    swarm: SwarmSource,
    stack: String,
    /// The manager as configured (empty: DOCKER_HOST), for the record.
    manager: String,
    settings: UpdateSettings,
    update_limit: Duration,
    migrate_args: Vec<String>,
}

impl SwarmOrchestrator {
    pub fn new(swarm: SwarmSource, config: &Config) -> Self {
        Self {
            swarm,
            stack: config.deployment.stack.clone(),
            manager: config.docker.host.clone(),
            settings: UpdateSettings::from_config(&config.swarm),
            update_limit: Duration::from_secs(config.swarm.update_timeout_s),
            migrate_args: config.swarm.migrate_args.clone(),
        }
    }
}

fn order_name(order: UpdateOrder) -> &'static str {
    match order {
        UpdateOrder::StartFirst => "start-first",
        UpdateOrder::StopFirst => "stop-first",
    }
}

fn failure_name(action: FailureAction) -> &'static str {
    match action {
        FailureAction::Rollback => "rollback",
        FailureAction::Pause => "pause",
        FailureAction::Continue => "continue",
    }
}

impl Orchestrator for SwarmOrchestrator {
    fn describe(&self) -> String {
        format!(
            "swarm stack {} via {}",
            self.stack,
            if self.manager.is_empty() {
                "DOCKER_HOST"
            } else {
                self.manager.as_str()
            }
        )
    }
    fn strategy(&self) -> String {
        format!("swarm {}", order_name(self.settings.order))
    }
    fn update_policy(&self) -> String {
        format!(
            "Swarm's update: {}, parallelism {}, monitor {} s, on failure {}",
            order_name(self.settings.order),
            self.settings.parallelism,
            self.settings.monitor.as_secs(),
            failure_name(self.settings.failure_action)
        )
    }
    fn service_name(&self, service: &str) -> String {
        SwarmSource::service_name(&self.stack, service)
    }
    fn migration_job(&self, name: &str, image: &str, deployment_id: i64) -> Option<JobSpec> {
        (!self.migrate_args.is_empty()).then(|| JobSpec {
            name: format!("{name}-migrate-{deployment_id}"),
            template_service: name.to_string(),
            image: image.to_string(),
            args: self.migrate_args.clone(),
            stack: self.stack.clone(),
        })
    }
    async fn service_image(&self, name: &str) -> Result<Option<String>, SwarmError> {
        Ok(self.swarm.service(name).await?.map(|s| s.image))
    }
    fn update(
        &self,
        name: &str,
        reference: &str,
        credentials: Option<(String, String)>,
    ) -> impl Future<Output = Result<UpdateStarted, SwarmError>> + Send {
        self.swarm
            .update_image(name, reference, &self.settings, credentials)
    }
    fn rollback(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<UpdateStarted, SwarmError>> + Send {
        self.swarm.rollback_service(name)
    }
    fn follow(
        &self,
        started: &UpdateStarted,
        on_progress: impl FnMut(&UpdateProgress) + Send,
    ) -> impl Future<Output = Result<UpdateEnd, SwarmError>> + Send {
        self.swarm
            .follow_update(started, POLL, self.update_limit, on_progress)
    }
    fn run_job(
        &self,
        job: &JobSpec,
        limit: Duration,
        stop: &CancellationToken,
    ) -> impl Future<Output = Result<JobOutcome, SwarmError>> + Send {
        self.swarm.run_job_until(job, POLL, limit, stop)
    }
}
