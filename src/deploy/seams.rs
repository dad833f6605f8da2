//! The engine's seams: everything outside it that a deploy talks to, each a trait with the
//! real implementation here and fakes in the engine's tests (tests/engine_fake.rs).
//!
//! - `Runtime` (compose.rs): what runs the services: one-off steps and the switch.
//! - `Host`: the container engine beside it: the project's containers (state and healthcheck),
//!   local images, pulls, and the event that the old containers stopped.
//! - `Registry`: resolving a tag to a digest and its labels.
//! - `Health`: the configured HTTP endpoints.
//! - `Clock`: time for step durations, the health deadline, downtime and retry pauses.
//! - `Gpu`: free VRAM and the app's own, for the auto strategy (NVML).
//! - `Switch`: the reverse proxy a start-first deploy switches (nginx, Caddy, labels).
//!
//! A new runtime (Swarm, a remote engine) or a start-first strategy is a new implementation of
//! these, chosen by a new `Seams` bundle; the step machine does not change.

use super::compose::{ComposeCli, Runtime, RuntimeError};
use super::orchestrator::{Orchestrator, SwarmOrchestrator};
use crate::config::HealthEndpoint;
use crate::domain::{ContainerView, Digest, GpuStatus, HealthResult, ImageRepo, Tag};
use crate::sources::docker::{DockerError, DockerSource, LocalImage, PullEvent};
use crate::sources::health::HealthChecker;
use crate::sources::registry::{RegistryError, RegistrySource, TagDetails};
use crate::switch::{ProxySwitch, TrafficSwitch};
use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

/// The container engine on the deploy's host.
pub trait Host: Send + Sync + Clone + 'static {
    /// Every container of the compose project (one-offs included).
    fn containers(
        &self,
        project: &str,
    ) -> impl Future<Output = Result<Vec<ContainerView>, DockerError>> + Send;
    /// The local image a reference (tag, digest reference or id) names, if any.
    fn local_image(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<Option<LocalImage>, DockerError>> + Send;
    fn tag_image(
        &self,
        image: &str,
        repo: &str,
        tag: &str,
    ) -> impl Future<Output = Result<(), DockerError>> + Send;
    /// Local images of a repository, newest first.
    fn repo_images(
        &self,
        repo: &str,
    ) -> impl Future<Output = Result<Vec<LocalImage>, DockerError>> + Send;
    fn remove_image(&self, reference: &str)
    -> impl Future<Output = Result<(), DockerError>> + Send;
    /// Remove a stopped container (the leftover of an interrupted recreate, repair.rs).
    fn remove_container(&self, id: &str) -> impl Future<Output = Result<(), DockerError>> + Send;
    /// Stop a container (its stop signal, then a kill after `grace`) and remove it: the old
    /// version after a start-first switch, or a new one that never turned healthy.
    fn stop_and_remove(
        &self,
        id: &str,
        grace: Duration,
    ) -> impl Future<Output = Result<(), DockerError>> + Send;
    /// Where this host reaches a container's TCP `port` (published, else on its network).
    fn container_addr(
        &self,
        id: &str,
        port: u16,
    ) -> impl Future<Output = Result<Option<SocketAddr>, DockerError>> + Send;
    /// The last `lines` lines of a container's output.
    fn logs_tail(
        &self,
        id: &str,
        lines: u32,
    ) -> impl Future<Output = Result<String, DockerError>> + Send;
    /// Pull a reference, reporting per-layer progress.
    fn pull(
        &self,
        reference: &str,
        credentials: Option<(String, String)>,
    ) -> BoxStream<'static, Result<PullEvent, DockerError>>;
    /// When the first of `ids` stopped (its `die` event since `since`), waiting up to `limit`.
    fn first_death(
        &self,
        ids: Vec<String>,
        since: DateTime<Utc>,
        limit: Duration,
    ) -> impl Future<Output = Option<SystemTime>> + Send;
}

/// Where images come from.
pub trait Registry: Send + Sync {
    fn describe(
        &self,
        repo: &ImageRepo,
        tag: &Tag,
    ) -> impl Future<Output = Result<TagDetails, RegistryError>> + Send;
    fn resolve(
        &self,
        repo: &ImageRepo,
        tag: &Tag,
    ) -> impl Future<Output = Result<Digest, RegistryError>> + Send;
}

/// The app's HTTP health endpoints (the container healthcheck comes with `Host::containers`).
pub trait Health: Send + Sync {
    fn check_all(
        &self,
        endpoints: &[HealthEndpoint],
    ) -> impl Future<Output = Vec<HealthResult>> + Send;
}

/// The GPUs: free memory and each process's use, for the auto strategy's VRAM check.
pub trait Gpu: Send + Sync {
    fn sample(&self) -> impl Future<Output = GpuStatus> + Send;
}

/// NVML through nvml-wrapper, opened for each sample (a deploy asks once).
pub struct Nvml {
    pub library: String,
}

impl Gpu for Nvml {
    async fn sample(&self) -> GpuStatus {
        let library = self.library.clone();
        // NVML calls block; a deploy's runtime keeps its other tasks (heartbeat) going.
        tokio::task::spawn_blocking(move || crate::sources::gpu::sample_once(&library))
            .await
            .unwrap_or_else(|e| GpuStatus::Unavailable {
                reason: format!("the NVML sample did not finish: {e}"),
            })
    }
}

/// The engine's time: a fake one lets tests wait out a 300 s health timeout at once.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
    /// Wall-clock time, to place the engine's `die` events (`Host::first_death`) on `now`.
    fn wall(&self) -> SystemTime;
    fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send;
}

/// Real time (tokio's timer).
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
    fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(d)
    }
}

/// One choice of implementation for every seam.
pub trait Seams: 'static {
    type Runtime: Runtime;
    type Host: Host;
    type Registry: Registry;
    type Health: Health;
    type Clock: Clock;
    type Gpu: Gpu;
    /// The proxy a start-first deploy switches.
    type Switch: TrafficSwitch;
}

/// This host: compose CLI or a Swarm stack, the Docker engine, the OCI registry, reqwest.
pub struct Real;

/// What runs a real deployment's services: compose on its host, or a Swarm stack
/// (`deployment.runtime`), so every caller has the one `Engine<Real>`.
pub enum RealRuntime {
    Compose(ComposeCli),
    Swarm(SwarmOrchestrator),
}

/// Never asked for (the machine hands a Swarm deploy to the swarm-update strategy), but said
/// plainly if it were.
fn not_compose(what: &str, swarm: &SwarmOrchestrator) -> RuntimeError {
    RuntimeError::NotCompose {
        what: what.to_string(),
        runtime: swarm.describe(),
    }
}

impl Runtime for RealRuntime {
    fn describe(&self) -> String {
        match self {
            RealRuntime::Compose(c) => c.describe(),
            RealRuntime::Swarm(s) => s.describe(),
        }
    }
    type Orchestrator = SwarmOrchestrator;
    fn orchestrator(&self) -> Option<&SwarmOrchestrator> {
        match self {
            RealRuntime::Compose(_) => None,
            RealRuntime::Swarm(s) => Some(s),
        }
    }
    async fn run_oneoff(
        &self,
        service: &str,
        env: &[(String, String)],
        timeout: Duration,
    ) -> Result<String, RuntimeError> {
        match self {
            RealRuntime::Compose(c) => c.run_oneoff(service, env, timeout).await,
            RealRuntime::Swarm(s) => Err(not_compose("a one-off compose run", s)),
        }
    }
    async fn start_beside(
        &self,
        service: &str,
        count: u32,
        env: &[(String, String)],
        timeout: Duration,
    ) -> Result<String, RuntimeError> {
        match self {
            RealRuntime::Compose(c) => c.start_beside(service, count, env, timeout).await,
            RealRuntime::Swarm(s) => Err(not_compose("a container beside the running one", s)),
        }
    }
    async fn recreate(
        &self,
        services: &[String],
        env: &[(String, String)],
        timeout: Duration,
    ) -> Result<String, RuntimeError> {
        match self {
            RealRuntime::Compose(c) => c.recreate(services, env, timeout).await,
            RealRuntime::Swarm(s) => Err(not_compose("a compose recreate", s)),
        }
    }
}

impl Seams for Real {
    type Runtime = RealRuntime;
    type Host = DockerSource;
    type Registry = RegistrySource;
    type Health = HealthChecker;
    type Clock = SystemClock;
    type Gpu = Nvml;
    type Switch = ProxySwitch;
}

impl Host for DockerSource {
    fn containers(
        &self,
        project: &str,
    ) -> impl Future<Output = Result<Vec<ContainerView>, DockerError>> + Send {
        self.project_containers(project)
    }
    fn local_image(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<Option<LocalImage>, DockerError>> + Send {
        DockerSource::local_image(self, reference)
    }
    fn tag_image(
        &self,
        image: &str,
        repo: &str,
        tag: &str,
    ) -> impl Future<Output = Result<(), DockerError>> + Send {
        DockerSource::tag_image(self, image, repo, tag)
    }
    fn repo_images(
        &self,
        repo: &str,
    ) -> impl Future<Output = Result<Vec<LocalImage>, DockerError>> + Send {
        DockerSource::repo_images(self, repo)
    }
    fn remove_image(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<(), DockerError>> + Send {
        DockerSource::remove_image(self, reference)
    }
    fn remove_container(&self, id: &str) -> impl Future<Output = Result<(), DockerError>> + Send {
        DockerSource::remove_container(self, id)
    }
    fn stop_and_remove(
        &self,
        id: &str,
        grace: Duration,
    ) -> impl Future<Output = Result<(), DockerError>> + Send {
        DockerSource::stop_and_remove(self, id, grace)
    }
    fn container_addr(
        &self,
        id: &str,
        port: u16,
    ) -> impl Future<Output = Result<Option<SocketAddr>, DockerError>> + Send {
        DockerSource::container_addr(self, id, port)
    }
    fn logs_tail(
        &self,
        id: &str,
        lines: u32,
    ) -> impl Future<Output = Result<String, DockerError>> + Send {
        DockerSource::logs_tail(self, id, lines)
    }
    fn pull(
        &self,
        reference: &str,
        credentials: Option<(String, String)>,
    ) -> BoxStream<'static, Result<PullEvent, DockerError>> {
        Box::pin(DockerSource::pull(self, reference, credentials))
    }
    async fn first_death(
        &self,
        ids: Vec<String>,
        since: DateTime<Utc>,
        limit: Duration,
    ) -> Option<SystemTime> {
        DockerSource::first_death(self, &ids, since, limit).await
    }
}

impl Registry for RegistrySource {
    fn describe(
        &self,
        repo: &ImageRepo,
        tag: &Tag,
    ) -> impl Future<Output = Result<TagDetails, RegistryError>> + Send {
        RegistrySource::describe(self, repo, tag)
    }
    fn resolve(
        &self,
        repo: &ImageRepo,
        tag: &Tag,
    ) -> impl Future<Output = Result<Digest, RegistryError>> + Send {
        RegistrySource::resolve(self, repo, tag)
    }
}

impl Health for HealthChecker {
    fn check_all(
        &self,
        endpoints: &[HealthEndpoint],
    ) -> impl Future<Output = Vec<HealthResult>> + Send {
        HealthChecker::check_all(self, endpoints)
    }
}
