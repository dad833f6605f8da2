//! The deploy engine's step machine on fake seams: every branch, without Docker, a registry or
//! compose, in well under ten seconds. The store is the real SQLite store in a temporary folder.
//! tests/deploy.rs proves the real seams on the real engine.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use elt_console::config::HealthEndpoint;
use elt_console::deploy::compose::{Runtime, RuntimeError};
use elt_console::deploy::follow::Followed;
use elt_console::deploy::seams::{Clock, Gpu, Health, Host, Registry, Seams};
use elt_console::deploy::settings::DeploySettings;
use elt_console::deploy::{DeployEvent, DeployRequest, Engine, Outcome, Parts, StepState, Target};
use elt_console::domain::{
    ContainerState, ContainerView, Digest, HealthResult, HealthState, ImageRepo, Tag,
};
use elt_console::sources::docker::{DockerError, LocalImage, PullEvent};
use elt_console::sources::registry::{RegistryError, TagDetails};
use elt_console::store::{Actor, DeployKind, DeployStatus, Store};
use futures_util::stream::BoxStream;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio_util::sync::CancellationToken;

const REPO: &str = "ghcr.io/arthurlee116/english-listening-trainer";

fn image_id(v: &str) -> String {
    format!("sha256:{v:0>64}")
}
fn digest(v: &str) -> String {
    format!("sha256:{v:a>64}")
}
fn reference(v: &str) -> String {
    format!("{REPO}:v{v}")
}

/// The fake world every seam reads and changes.
#[derive(Default)]
struct World {
    /// Image id of the app's container (None: no container).
    running: Option<String>,
    /// The reference the container was created from.
    running_ref: String,
    /// Image ids whose container turns healthy.
    healthy: HashSet<String>,
    images: Vec<LocalImage>,
    /// Tags in the registry: tag -> version.
    registry: HashMap<String, String>,
    /// Failures to inject: "resolve", "pull", "compare" (the second container listing),
    /// "migrate", "tag" (naming an image), "recreate" (the first), "recreate-all", "rmi".
    fail: HashSet<&'static str>,
    /// How many times the containers were listed.
    listings: u32,
    /// Cancelled when the pull starts / the migration runs (interrupts before the switch).
    cancel_on_pull: Option<CancellationToken>,
    cancel_on_migrate: Option<CancellationToken>,
    recreates: u32,
    died_at: Option<SystemTime>,
    /// The fake clock's zero on the wall clock (since the epoch).
    wall_base: Duration,
    /// The fake time: how far it has advanced (sleeps return at once and advance it).
    elapsed: Duration,
    /// Cancelled at the first recreate (an interrupt after the point of no return).
    cancel_on_recreate: Option<CancellationToken>,
    /// Images without a healthcheck (a bot): their containers report no health at all.
    no_healthcheck: bool,
    /// Image ids whose process dies at once: their container has been restarted.
    crashing: HashSet<String>,
    /// When the app's container started (the last recreate), on the wall clock.
    started_at: Option<SystemTime>,
    /// A stopped copy of an old container that compose renamed mid-recreate (its id).
    leftover: Option<String>,
    log: Vec<String>,
}

type W = Arc<Mutex<World>>;

fn local(v: &str, tags: &[String]) -> LocalImage {
    LocalImage {
        id: image_id(v),
        repo_tags: tags.to_vec(),
        repo_digests: vec![format!("{REPO}@{}", digest(v))],
        labels: HashMap::from([(
            "org.opencontainers.image.revision".to_string(),
            format!("{v:c>40}"),
        )]),
        created: None,
    }
}

impl World {
    fn find(&self, r: &str) -> Option<&LocalImage> {
        self.images.iter().find(|i| {
            i.id == r || i.repo_tags.iter().any(|t| t == r) || i.repo_digests.iter().any(|d| d == r)
        })
    }
}

#[derive(Clone)]
struct FakeHost(W);
struct FakeRuntime(W, Option<FakeSwarm>);
struct FakeRegistry(W);
struct FakeHealth(W);
struct FakeClock(W, Instant, SystemTime);
struct FakeGpu;
struct Fake;
impl Seams for Fake {
    type Runtime = FakeRuntime;
    type Host = FakeHost;
    type Registry = FakeRegistry;
    type Health = FakeHealth;
    type Clock = FakeClock;
    type Gpu = FakeGpu;
    // These engines have no proxy (start-first is tested on the real one: tests/start_first.rs).
    type Switch = elt_console::switch::ProxySwitch;
}

impl Gpu for FakeGpu {
    async fn sample(&self) -> elt_console::domain::GpuStatus {
        elt_console::domain::GpuStatus::Unavailable {
            reason: "no GPU in the fake world".into(),
        }
    }
}

/// Time that passes only when the engine sleeps: a 300 s health wait takes no real time.
impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.1 + self.0.lock().unwrap().elapsed
    }
    fn wall(&self) -> SystemTime {
        self.2 + self.0.lock().unwrap().elapsed
    }
    async fn sleep(&self, d: Duration) {
        self.0.lock().unwrap().elapsed += d;
        tokio::task::yield_now().await;
    }
}

impl Host for FakeHost {
    async fn stop_and_remove(&self, id: &str, _grace: Duration) -> Result<(), DockerError> {
        self.0
            .lock()
            .unwrap()
            .log
            .push(format!("stop and remove {id}"));
        Ok(())
    }
    async fn container_addr(
        &self,
        _id: &str,
        _port: u16,
    ) -> Result<Option<std::net::SocketAddr>, DockerError> {
        Ok(None)
    }
    async fn logs_tail(&self, _id: &str, _lines: u32) -> Result<String, DockerError> {
        Ok(String::new())
    }
    async fn containers(&self, _project: &str) -> Result<Vec<ContainerView>, DockerError> {
        let mut w = self.0.lock().unwrap();
        w.listings += 1;
        if w.fail.contains("compare") && w.listings == 2 {
            return Err(DockerError::Api("connection reset by peer".into()));
        }
        let leftover = w.leftover.iter().map(|id| ContainerView {
            id: id.clone(),
            name: format!("{}_elt-app-1", &id[..12]),
            service: "app".into(),
            oneoff: false,
            state: ContainerState::Exited,
            health: HealthState::None,
            exit_code: Some(0),
            restarts: 0,
            started_at: None,
            image: reference("0"),
            image_id: image_id("0"),
            repo_digests: Vec::new(),
            revision: None,
            image_created: None,
            image_version: None,
            pid: None,
        });
        let leftover: Vec<ContainerView> = leftover.collect();
        Ok(w.running
            .iter()
            .map(|id| ContainerView {
                id: format!("c-{}", w.recreates),
                name: "elt-app-1".into(),
                service: "app".into(),
                oneoff: false,
                state: ContainerState::Running,
                health: if w.no_healthcheck {
                    HealthState::None
                } else if w.healthy.contains(id) {
                    HealthState::Healthy
                } else {
                    HealthState::Unhealthy
                },
                exit_code: None,
                restarts: u64::from(w.crashing.contains(id)),
                started_at: w.started_at.map(chrono::DateTime::<chrono::Utc>::from),
                image: w.running_ref.clone(),
                image_id: id.clone(),
                repo_digests: w
                    .find(id)
                    .map(|i| i.repo_digests.clone())
                    .unwrap_or_default(),
                // As the Docker source reads it: the image's revision label.
                revision: w
                    .find(id)
                    .and_then(|i| i.labels.get("org.opencontainers.image.revision").cloned()),
                image_created: None,
                image_version: None,
                pid: None,
            })
            .chain(leftover)
            .collect())
    }
    async fn local_image(&self, r: &str) -> Result<Option<LocalImage>, DockerError> {
        Ok(self.0.lock().unwrap().find(r).cloned())
    }
    async fn tag_image(&self, image: &str, repo: &str, tag: &str) -> Result<(), DockerError> {
        let mut w = self.0.lock().unwrap();
        // Only the name kept for the rollback: the pull's own tagging works.
        if w.fail.contains("tag") && tag.starts_with("elt-rollback") {
            return Err(DockerError::Api("no space left on device".into()));
        }
        let name = format!("{repo}:{tag}");
        for i in &mut w.images {
            i.repo_tags.retain(|t| *t != name);
        }
        let img = w
            .images
            .iter_mut()
            .find(|i| i.id == image)
            .ok_or_else(|| DockerError::Api(format!("no such image {image}")))?;
        img.repo_tags.push(name);
        Ok(())
    }
    async fn repo_images(&self, _repo: &str) -> Result<Vec<LocalImage>, DockerError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .images
            .iter()
            .rev()
            .cloned()
            .collect())
    }
    async fn remove_container(&self, id: &str) -> Result<(), DockerError> {
        let mut w = self.0.lock().unwrap();
        w.log.push(format!("rm {id}"));
        if w.leftover.as_deref() == Some(id) {
            w.leftover = None;
            Ok(())
        } else {
            Err(DockerError::Api(format!("no such stopped container: {id}")))
        }
    }
    async fn remove_image(&self, r: &str) -> Result<(), DockerError> {
        let mut w = self.0.lock().unwrap();
        w.log.push(format!("rmi {r}"));
        if w.fail.contains("rmi") {
            return Err(DockerError::Api(format!("conflict: {r} is in use")));
        }
        // As the engine does: the image goes with its last tag (or its digest reference).
        let Some(at) = w
            .images
            .iter()
            .position(|i| i.repo_tags.iter().chain(&i.repo_digests).any(|t| t == r))
        else {
            return Err(DockerError::Api(format!("no such image: {r}")));
        };
        let img = &mut w.images[at];
        img.repo_tags.retain(|t| t != r);
        if img.repo_tags.is_empty() {
            w.images.remove(at);
        }
        Ok(())
    }
    fn pull(
        &self,
        r: &str,
        _credentials: Option<(String, String)>,
    ) -> BoxStream<'static, Result<PullEvent, DockerError>> {
        let mut w = self.0.lock().unwrap();
        w.log.push(format!("pull {r}"));
        if let Some(t) = w.cancel_on_pull.take() {
            t.cancel();
        }
        if w.fail.contains("pull") {
            return Box::pin(futures_util::stream::iter(vec![Err(DockerError::Api(
                "manifest unknown: manifest unknown".into(),
            ))]));
        }
        let v = w
            .registry
            .values()
            .find(|v| r.ends_with(&digest(v)))
            .cloned()
            .unwrap_or_default();
        w.images.push(local(&v, &[]));
        let ev = |status: &str, current| PullEvent {
            layer: "layer1".into(),
            status: status.into(),
            current,
            total: Some(10),
        };
        Box::pin(futures_util::stream::iter(vec![
            Ok(ev("Downloading", Some(5))),
            Ok(ev("Pull complete", None)),
        ]))
    }
    async fn first_death(
        &self,
        _ids: Vec<String>,
        _since: chrono::DateTime<chrono::Utc>,
        limit: Duration,
    ) -> Option<SystemTime> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(t) = self.0.lock().unwrap().died_at {
                return Some(t);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Runtime for FakeRuntime {
    fn describe(&self) -> String {
        match &self.1 {
            Some(swarm) => swarm.describe(),
            None => "fake runtime".into(),
        }
    }
    type Orchestrator = FakeSwarm;
    fn orchestrator(&self) -> Option<&FakeSwarm> {
        self.1.as_ref()
    }
    async fn start_beside(
        &self,
        service: &str,
        _count: u32,
        _env: &[(String, String)],
        _timeout: Duration,
    ) -> Result<String, RuntimeError> {
        Err(RuntimeError::Failed {
            command: format!("start {service} beside"),
            code: 1,
            output: "the fake world runs one container per service".into(),
        })
    }
    async fn run_oneoff(
        &self,
        service: &str,
        env: &[(String, String)],
        _timeout: Duration,
    ) -> Result<String, RuntimeError> {
        let mut w = self.0.lock().unwrap();
        w.log.push(format!("run {service} {}", env[0].1));
        if let Some(t) = w.cancel_on_migrate.take() {
            t.cancel();
        }
        if w.fail.contains("migrate") {
            return Err(RuntimeError::Failed {
                command: format!("compose run {service}"),
                code: 1,
                output: "schema mismatch".into(),
            });
        }
        Ok("migrated".into())
    }
    async fn recreate(
        &self,
        services: &[String],
        env: &[(String, String)],
        _timeout: Duration,
    ) -> Result<String, RuntimeError> {
        let mut w = self.0.lock().unwrap();
        w.recreates += 1;
        w.log
            .push(format!("recreate {} {}", services.join(","), env[0].1));
        if let Some(t) = w.cancel_on_recreate.take() {
            t.cancel();
        }
        if w.fail.contains("recreate-keeps-old") {
            // The engine went away before compose touched anything (a dockerd restart): the
            // old container runs on.
            return Err(RuntimeError::Failed {
                command: "compose up".into(),
                code: 1,
                output: "Cannot connect to the Docker daemon".into(),
            });
        }
        let failing =
            w.fail.contains("recreate-all") || (w.fail.contains("recreate") && w.recreates == 1);
        // The old container is gone either way (in the fake clock's time).
        w.died_at = Some(SystemTime::UNIX_EPOCH + w.wall_base + w.elapsed);
        if failing {
            w.running = None;
            return Err(RuntimeError::Failed {
                command: "compose up".into(),
                code: 1,
                output: "port is already allocated".into(),
            });
        }
        let id = w.find(&env[0].1).map(|i| i.id.clone());
        w.running = id;
        w.started_at = Some(SystemTime::UNIX_EPOCH + w.wall_base + w.elapsed);
        w.running_ref = env[0].1.clone();
        Ok("Recreating elt-app-1 ... done".into())
    }
}

impl Registry for FakeRegistry {
    async fn describe(&self, repo: &ImageRepo, tag: &Tag) -> Result<TagDetails, RegistryError> {
        let d = self.resolve(repo, tag).await?;
        let v = self.0.lock().unwrap().registry[tag.as_str()].clone();
        Ok(TagDetails {
            digest: d,
            labels: local(&v, &[]).labels,
            created: None,
            size_bytes: Some(1000),
            platform: None,
            problem: None,
        })
    }
    async fn resolve(&self, repo: &ImageRepo, tag: &Tag) -> Result<Digest, RegistryError> {
        let w = self.0.lock().unwrap();
        match w.registry.get(tag.as_str()) {
            Some(v) if !w.fail.contains("resolve") => Ok(Digest::parse(&digest(v)).unwrap()),
            _ => Err(RegistryError::NotFound {
                what: format!("{repo}:{tag}"),
            }),
        }
    }
}

impl Health for FakeHealth {
    async fn check_all(&self, endpoints: &[HealthEndpoint]) -> Vec<HealthResult> {
        let w = self.0.lock().unwrap();
        let ok = w.running.as_ref().is_some_and(|id| w.healthy.contains(id));
        endpoints
            .iter()
            .map(|e| HealthResult {
                name: e.name.clone(),
                url: e.url.clone(),
                ok,
                status: Some(if ok { 200 } else { 503 }),
                latency_ms: 1,
                app_status: None,
                version: None,
                error: (!ok).then(|| "HTTP 503".into()),
                checked_at: chrono::Utc::now(),
            })
            .collect()
    }
}

/// v1 runs (healthy, pinned in the env file); v2 and v4 are good images in the registry, v3 a
/// bad one; v1 and v2's images are local.
struct Harness {
    /// The fake clock's zero.
    base: Instant,
    dir: tempfile::TempDir,
    world: W,
    settings: DeploySettings,
    /// A Swarm stack instead of compose (the swarm-update strategy).
    swarm: Option<FakeSwarm>,
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = elt_console::config::load(&elt_console::config::Sources::default())
            .unwrap()
            .config;
        config.deployment.env_file = dir.path().join(".env");
        config.deployment.state_dir = dir.path().join("state");
        std::fs::write(
            dir.path().join(".env"),
            format!("IMAGE_TAG={}\n", reference("1")),
        )
        .unwrap();
        let mut settings = DeploySettings::from_config(&config);
        // The real health timeout, interval and retry pauses: they pass on the fake clock.
        settings.health_successes = 2;
        settings.death_event_wait = Duration::from_millis(200);
        settings.recreate_grace = Duration::from_secs(1);
        settings.keep_images = 1;
        let mut w = World {
            wall_base: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap(),
            running: Some(image_id("1")),
            running_ref: reference("1"),
            ..Default::default()
        };
        for v in ["1", "2", "4"] {
            w.healthy.insert(image_id(v));
        }
        for v in ["1", "2", "3", "4"] {
            w.registry.insert(format!("v{v}"), v.to_string());
        }
        w.images.push(local("1", &[reference("1")]));
        w.images.push(local("2", &[]));
        Self {
            base: Instant::now(),
            dir,
            world: Arc::new(Mutex::new(w)),
            settings,
            swarm: None,
        }
    }

    fn store(&self) -> Store {
        Store::open(&self.settings.state_dir).unwrap()
    }

    async fn run(&self, kind: DeployKind, target: Target, interrupt: CancellationToken) -> Run {
        let req = DeployRequest {
            kind,
            target,
            force: false,
            dry_run: false,
        };
        self.request(req, interrupt).await
    }

    async fn request(&self, req: DeployRequest, interrupt: CancellationToken) -> Run {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // Read before the engine is built: Engine::new reads the clock, which locks the world.
        let wall_base = SystemTime::UNIX_EPOCH + self.world.lock().unwrap().wall_base;
        let engine = Engine::<Fake>::new(
            Parts {
                settings: self.settings.clone(),
                runtime: FakeRuntime(self.world.clone(), self.swarm.clone()),
                host: FakeHost(self.world.clone()),
                registry: FakeRegistry(self.world.clone()),
                health: FakeHealth(self.world.clone()),
                clock: FakeClock(self.world.clone(), self.base, wall_base),
                gpu: FakeGpu,
                switch: None,
                store: self.store(),
                actor: Actor::current(),
            },
            tx,
            interrupt,
        );
        let outcome = engine.run(req).await;
        let mut events = Vec::new();
        while let Ok(e) = rx.try_recv() {
            events.push(e);
        }
        Run { outcome, events }
    }

    async fn deploy(&self, v: &str) -> Run {
        self.run(DeployKind::Deploy, tag(v), CancellationToken::new())
            .await
    }

    fn running(&self) -> Option<String> {
        self.world.lock().unwrap().running.clone()
    }

    fn log(&self) -> Vec<String> {
        self.world.lock().unwrap().log.clone()
    }

    fn fail(&self, what: &'static str) {
        self.world.lock().unwrap().fail.insert(what);
    }

    /// The old version runs and the env file's pin names it.
    fn assert_v1_runs_and_is_pinned(&self) {
        assert_eq!(self.running(), Some(image_id("1")));
        assert!(
            self.env()
                .contains(&format!("IMAGE_TAG={}\n", reference("1"))),
            "{}",
            self.env()
        );
    }

    fn env(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(".env")).unwrap()
    }
}

fn tag(v: &str) -> Target {
    Target::Tag(Tag::parse(&format!("v{v}")).unwrap())
}

struct Run {
    outcome: Outcome,
    events: Vec<DeployEvent>,
}

impl Run {
    /// How each step ended, by name (the last event for it).
    fn step(&self, name: &str) -> (StepState, String) {
        self.events
            .iter()
            .rev()
            .find_map(|e| match e {
                DeployEvent::Step {
                    name: n,
                    state,
                    summary,
                    ..
                } if *n == name && *state != StepState::Running => Some((*state, summary.clone())),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no end for step {name}: {:?}", self.events))
    }

    fn status(&self) -> DeployStatus {
        self.outcome.status
    }

    /// Every step from `from` on, except record, ended skipped.
    fn skipped_from(&self, from: &str) {
        let names = elt_console::deploy::STEPS;
        let start = names.iter().position(|n| *n == from).unwrap();
        for n in &names[start..names.len() - 1] {
            assert_eq!(self.step(n).0, StepState::Skipped, "{n}: {:?}", self.events);
        }
        assert_eq!(self.step("record").0, StepState::Ok);
    }
}

#[tokio::test]
async fn a_good_deploy_runs_every_step_and_records_it() {
    let h = Harness::new();
    let r = h.deploy("2").await;
    assert_eq!(r.status(), DeployStatus::Succeeded, "{}", r.outcome.message);
    for n in [
        "lock",
        "resolve",
        "pull",
        "compare",
        "migrate",
        "recreate",
        "health",
        "retention",
        "record",
    ] {
        assert_eq!(r.step(n).0, StepState::Ok, "{n}");
    }
    assert_eq!(
        r.step("backup"),
        (
            StepState::Skipped,
            "no deploy.backup_command configured".into()
        )
    );
    assert_eq!(r.step("rollback").1, "not needed");
    assert_eq!(h.running(), Some(image_id("2")));
    assert!(
        h.env().contains(&format!("IMAGE_TAG={}:v2\n", REPO)),
        "{}",
        h.env()
    );
    assert!(
        h.log().iter().any(|l| l.starts_with("run migrate")),
        "{:?}",
        h.log()
    );
    assert!(r.outcome.downtime_ms.is_some());
    let d = h.store().deployments(1).unwrap().remove(0);
    assert_eq!(d.status, DeployStatus::Succeeded);
    assert_eq!(d.from.image_id, Some(image_id("1")));
    assert_eq!(d.to.image_id, Some(image_id("2")));
    assert_eq!(d.steps.len(), 12);
    // No proxy in this world: stop-first, and the record says why.
    assert_eq!(d.strategy, "stop-first");
    assert!(
        r.step("compare")
            .1
            .contains("stop-first: no proxy is configured"),
        "{}",
        r.step("compare").1
    );
    assert_eq!(r.step("switch").0, StepState::Skipped);
    let audit = h.store().audit_entries(10).unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "deploy" && a.outcome == "attempted")
    );
    assert!(
        audit
            .iter()
            .any(|a| a.action == "deploy" && a.outcome == "succeeded")
    );
}

#[tokio::test]
async fn the_same_image_is_skipped_without_touching_anything() {
    let h = Harness::new();
    let r = h.deploy("1").await;
    assert_eq!(r.status(), DeployStatus::Skipped);
    assert!(
        r.outcome.message.contains("already runs"),
        "{}",
        r.outcome.message
    );
    r.skipped_from("backup");
    assert!(
        !h.log()
            .iter()
            .any(|l| l.starts_with("recreate") || l.starts_with("run"))
    );
}

#[tokio::test]
async fn each_step_before_the_switch_failing_leaves_the_running_version_untouched() {
    for (what, step) in [
        ("resolve", "resolve"),
        ("pull", "pull"),
        ("migrate", "migrate"),
    ] {
        let h = Harness::new();
        h.fail(what);
        // v4 is not local: the pull step must pull it.
        let r = h.deploy("4").await;
        assert_eq!(
            r.status(),
            DeployStatus::Failed,
            "{what}: {}",
            r.outcome.message
        );
        assert_eq!(r.step(step).0, StepState::Failed, "{what}");
        if what == "resolve" {
            assert!(
                r.outcome
                    .message
                    .starts_with(&format!("tag v4 does not exist in {REPO}")),
                "{}",
                r.outcome.message
            );
        }
        assert!(
            r.outcome.message.contains("nothing was changed"),
            "{}",
            r.outcome.message
        );
        let next = elt_console::deploy::STEPS
            .iter()
            .position(|n| *n == step)
            .unwrap()
            + 1;
        r.skipped_from(elt_console::deploy::STEPS[next]);
        assert_eq!(h.running(), Some(image_id("1")), "{what}");
        assert!(!h.log().iter().any(|l| l.starts_with("recreate")), "{what}");
        // What ran is recorded even when the target never resolved.
        let d = h.store().deployments(1).unwrap().remove(0);
        assert_eq!(d.from.image_id, Some(image_id("1")), "{what}");
    }
}

#[tokio::test]
async fn a_failing_backup_stops_the_deploy_unless_it_is_optional() {
    let h = Harness::new();
    let mut settings = h.settings.clone();
    settings.backup_command = "echo no space left >&2; exit 3".into();
    let h = Harness { settings, ..h };
    let r = h.deploy("2").await;
    assert_eq!(r.status(), DeployStatus::Failed);
    let (state, summary) = r.step("backup");
    assert_eq!(state, StepState::Failed);
    assert!(
        summary.contains("exit 3") && summary.contains("no space left"),
        "{summary}"
    );
    r.skipped_from("migrate");

    let mut settings = h.settings.clone();
    settings.backup_optional = true;
    let h = Harness { settings, ..h };
    let r = h.deploy("2").await;
    assert_eq!(r.status(), DeployStatus::Succeeded, "{}", r.outcome.message);
    assert_eq!(r.step("backup").0, StepState::Warning);
}

#[tokio::test]
async fn a_failed_health_check_is_rolled_back_and_the_outage_covers_the_wait() {
    let h = Harness::new();
    assert_eq!(h.settings.health_timeout, Duration::from_secs(300));
    let real = Instant::now();
    let r = h.deploy("3").await;
    // The 300 s health wait passed on the fake clock, not in real time.
    assert!(
        real.elapsed() < Duration::from_secs(10),
        "{:?}",
        real.elapsed()
    );
    assert_eq!(
        r.status(),
        DeployStatus::RolledBack,
        "{}",
        r.outcome.message
    );
    assert_eq!(r.step("health").0, StepState::Failed);
    assert_eq!(r.step("rollback").0, StepState::Ok);
    assert_eq!(
        r.step("retention"),
        (StepState::Skipped, "deploy failed".into())
    );
    h.assert_v1_runs_and_is_pinned();
    // The users' outage spans the health timeout, not just the rollback's switch.
    assert!(
        r.outcome.downtime_ms.unwrap() >= 300_000,
        "{:?}",
        r.outcome.downtime_ms
    );
    // Retention was skipped before the rollback began, and why it failed was recorded then.
    let order: Vec<&str> = r
        .events
        .iter()
        .filter_map(|e| match e {
            DeployEvent::Step { name, state, .. } if *state != StepState::Running => Some(*name),
            _ => None,
        })
        .collect();
    let at = |n: &str| order.iter().position(|x| *x == n).unwrap();
    assert!(at("retention") < at("rollback"), "{order:?}");
    let list = h.store().deployments(2).unwrap();
    assert_eq!(list[0].kind, DeployKind::AutoRollback);
    assert_eq!(list[0].status, DeployStatus::Succeeded);
    assert_eq!(list[0].parent_id, Some(list[1].id));
    assert_eq!(list[0].downtime_ms, list[1].downtime_ms);
    // The dashboard follows the store through the same events: what it reads back is what the
    // engine told (but the duration, which the store measures on the wall clock).
    let mut stored = Followed::from_store(&list[1]);
    let mut live = Followed::from_events(&r.events);
    stored.duration_ms = None;
    live.duration_ms = None;
    assert_eq!(stored, live);
    let why = list[1].error.as_deref().unwrap();
    assert!(
        why.contains(
            "did not become healthy: not healthy within 300 s (deploy.health_timeout_s): app: container healthcheck reports unhealthy"
        ),
        "{why}"
    );
}

#[tokio::test]
async fn a_failed_recreate_is_rolled_back_and_health_is_skipped() {
    let h = Harness::new();
    h.fail("recreate");
    let r = h.deploy("2").await;
    assert_eq!(
        r.status(),
        DeployStatus::RolledBack,
        "{}",
        r.outcome.message
    );
    assert_eq!(r.step("recreate").0, StepState::Failed);
    assert_eq!(
        r.step("health"),
        (StepState::Skipped, "the recreate failed".into())
    );
    assert_eq!(h.running(), Some(image_id("1")));
}

#[tokio::test]
async fn when_the_rollback_fails_too_the_app_is_reported_down() {
    let h = Harness::new();
    h.fail("recreate-all");
    let r = h.deploy("2").await;
    assert_eq!(
        r.status(),
        DeployStatus::FailedDown,
        "{}",
        r.outcome.message
    );
    assert_eq!(r.step("rollback").0, StepState::Failed);
    assert!(
        r.outcome.message.contains("the app may be down"),
        "{}",
        r.outcome.message
    );
    assert_eq!(r.outcome.exit_code(), elt_console::deploy::EXIT_APP_DOWN);
}

#[tokio::test]
async fn a_rollback_runs_no_migration_and_is_never_rolled_back_in_turn() {
    let h = Harness::new();
    // A rollback to a good version: no migration.
    let r = h
        .run(DeployKind::Rollback, tag("2"), CancellationToken::new())
        .await;
    assert_eq!(r.status(), DeployStatus::Succeeded, "{}", r.outcome.message);
    assert_eq!(
        r.step("migrate"),
        (StepState::Skipped, "a rollback runs no migration".into())
    );
    assert!(
        !h.log().iter().any(|l| l.starts_with("run")),
        "{:?}",
        h.log()
    );
    // A rollback to a bad one: reported, not undone.
    let r = h
        .run(DeployKind::Rollback, tag("3"), CancellationToken::new())
        .await;
    assert_eq!(r.status(), DeployStatus::FailedDown);
    assert_eq!(
        r.step("rollback"),
        (StepState::Skipped, "never automatic for a rollback".into())
    );
    assert!(
        r.outcome.message.contains("not rolled back in turn"),
        "{}",
        r.outcome.message
    );
    assert_eq!(h.world.lock().unwrap().recreates, 2);
}

#[tokio::test]
async fn an_interrupt_counts_before_the_switch_and_not_after() {
    let h = Harness::new();
    let stop = CancellationToken::new();
    stop.cancel();
    let r = h.run(DeployKind::Deploy, tag("2"), stop).await;
    assert_eq!(r.status(), DeployStatus::Cancelled, "{}", r.outcome.message);
    assert_eq!(r.outcome.exit_code(), elt_console::deploy::EXIT_CANCELLED);
    assert_eq!(h.running(), Some(image_id("1")));
    assert!(!h.log().iter().any(|l| l.starts_with("recreate")));

    // Past the point of no return the deploy finishes (here: healthy on the new version).
    let h = Harness::new();
    let stop = CancellationToken::new();
    h.world.lock().unwrap().cancel_on_recreate = Some(stop.clone());
    let r = h.run(DeployKind::Deploy, tag("2"), stop.clone()).await;
    assert!(stop.is_cancelled());
    assert_eq!(r.status(), DeployStatus::Succeeded, "{}", r.outcome.message);
    assert_eq!(h.running(), Some(image_id("2")));
}

#[tokio::test]
async fn retention_keeps_the_running_previous_and_target_images() {
    let h = Harness::new();
    {
        let mut w = h.world.lock().unwrap();
        // Older local images of the repository that no deployment protects.
        w.images.insert(0, local("5", &[format!("{REPO}:v5")]));
        w.images.insert(0, local("6", &[format!("{REPO}:v6")]));
    }
    let r = h.deploy("2").await;
    assert_eq!(r.status(), DeployStatus::Succeeded, "{}", r.outcome.message);
    let w = h.world.lock().unwrap();
    let ids: Vec<&str> = w.images.iter().map(|i| i.id.as_str()).collect();
    assert!(
        ids.contains(&image_id("1").as_str()),
        "previous kept: {ids:?}"
    );
    assert!(
        ids.contains(&image_id("2").as_str()),
        "target kept: {ids:?}"
    );
    assert!(
        !ids.contains(&image_id("5").as_str()) && !ids.contains(&image_id("6").as_str()),
        "{ids:?} {:?}",
        w.log
    );
    assert!(
        r.step("retention").1.contains("removed 2"),
        "{:?}",
        r.step("retention")
    );
}

#[tokio::test]
async fn a_held_lock_refuses_the_deploy_and_audits_it() {
    let h = Harness::new();
    let mut store = h.store();
    let other = Actor {
        user: "someone".into(),
        ssh_client: None,
        host: "h".into(),
        pid: std::process::id(),
    };
    store
        .acquire_lock(&other, "deploy", Duration::from_secs(60), None)
        .unwrap()
        .unwrap();
    let r = h.deploy("2").await;
    assert!(r.outcome.refused, "{}", r.outcome.message);
    assert_eq!(r.outcome.exit_code(), elt_console::deploy::EXIT_REFUSED);
    assert!(
        r.outcome.message.contains("another deploy is in progress"),
        "{}",
        r.outcome.message
    );
    assert_eq!(h.running(), Some(image_id("1")));
    let audit = store.audit_entries(5).unwrap();
    assert!(audit.iter().any(|a| a.outcome == "refused"), "{audit:?}");
}

#[tokio::test]
async fn rollback_previous_goes_to_what_ran_healthy_before() {
    let h = Harness::new();
    assert_eq!(h.deploy("2").await.status(), DeployStatus::Succeeded);
    assert_eq!(h.deploy("3").await.status(), DeployStatus::RolledBack);
    let r = h
        .run(
            DeployKind::Rollback,
            Target::Previous,
            CancellationToken::new(),
        )
        .await;
    assert_eq!(r.status(), DeployStatus::Succeeded, "{}", r.outcome.message);
    // v3 never ran healthy: previous is v1.
    assert_eq!(h.running(), Some(image_id("1")));
}

#[tokio::test]
async fn a_failed_compare_ends_its_step_and_changes_nothing() {
    let h = Harness::new();
    h.fail("compare");
    let r = h.deploy("2").await;
    assert_eq!(r.status(), DeployStatus::Failed, "{}", r.outcome.message);
    let (state, summary) = r.step("compare");
    assert_eq!(state, StepState::Failed);
    assert!(summary.contains("connection reset"), "{summary}");
    r.skipped_from("backup");
    assert_eq!(h.running(), Some(image_id("1")));
    assert!(!h.log().iter().any(|l| l.starts_with("recreate")));
    // No step is left running in the store.
    let d = h.store().deployments(1).unwrap().remove(0);
    assert!(
        d.steps.iter().all(|s| s.status != "running"),
        "{:?}",
        d.steps
    );
}

#[tokio::test]
async fn keeping_the_rollback_image_failing_stops_before_the_switch() {
    let h = Harness::new();
    {
        // What runs has lost its tag: the engine must name it before the switch, and cannot.
        let mut w = h.world.lock().unwrap();
        w.images[0].repo_tags.clear();
        w.fail.insert("tag");
    }
    let r = h.deploy("2").await;
    assert_eq!(r.status(), DeployStatus::Failed, "{}", r.outcome.message);
    let (state, summary) = r.step("recreate");
    assert_eq!(state, StepState::Failed);
    assert!(summary.contains("no space left"), "{summary}");
    assert!(
        r.outcome.message.contains("nothing was changed"),
        "{}",
        r.outcome.message
    );
    r.skipped_from("health");
    assert_eq!(h.running(), Some(image_id("1")));
    assert!(!h.log().iter().any(|l| l.starts_with("recreate")));
    assert!(h.env().contains(&format!("IMAGE_TAG={}\n", reference("1"))));
}

#[tokio::test]
async fn an_untagged_running_image_is_named_and_the_rollback_uses_that_name() {
    let h = Harness::new();
    h.world.lock().unwrap().images[0].repo_tags.clear();
    let r = h.deploy("3").await;
    assert_eq!(
        r.status(),
        DeployStatus::RolledBack,
        "{}",
        r.outcome.message
    );
    assert_eq!(h.running(), Some(image_id("1")));
    let kept = format!("{REPO}:elt-rollback-{}", &image_id("1")[7..19]);
    assert!(
        h.env().contains(&format!("IMAGE_TAG={kept}\n")),
        "{}",
        h.env()
    );
}

#[tokio::test]
async fn an_interrupt_during_the_pull_or_the_migration_still_changes_nothing() {
    for during in ["pull", "migrate"] {
        let h = Harness::new();
        let stop = CancellationToken::new();
        {
            let mut w = h.world.lock().unwrap();
            match during {
                "pull" => w.cancel_on_pull = Some(stop.clone()),
                _ => w.cancel_on_migrate = Some(stop.clone()),
            }
        }
        // v4 is not local, so it is pulled.
        let r = h.run(DeployKind::Deploy, tag("4"), stop.clone()).await;
        assert!(stop.is_cancelled(), "{during}");
        assert_eq!(
            r.status(),
            DeployStatus::Cancelled,
            "{during}: {}",
            r.outcome.message
        );
        assert_eq!(r.step(during).0, StepState::Ok, "{during}");
        let next = if during == "pull" {
            "compare"
        } else {
            "recreate"
        };
        assert_eq!(
            r.step(next),
            (StepState::Skipped, "cancelled".into()),
            "{during}"
        );
        r.skipped_from(next);
        assert_eq!(h.running(), Some(image_id("1")), "{during}");
        assert!(
            !h.log().iter().any(|l| l.starts_with("recreate")),
            "{during}"
        );
        let d = h.store().deployments(1).unwrap().remove(0);
        assert_eq!(d.status, DeployStatus::Cancelled, "{during}");
    }
}

#[tokio::test]
async fn a_failed_first_deploy_has_nothing_to_roll_back_to() {
    let h = Harness::new();
    h.world.lock().unwrap().running = None;
    // Nothing pinned either: nothing to go back to.
    std::fs::write(h.dir.path().join(".env"), "").unwrap();
    let r = h.deploy("3").await;
    assert_eq!(
        r.status(),
        DeployStatus::FailedDown,
        "{}",
        r.outcome.message
    );
    assert_eq!(
        r.step("rollback"),
        (StepState::Skipped, "nothing ran before this deploy".into())
    );
    assert!(
        r.outcome.message.contains("nothing to roll back to"),
        "{}",
        r.outcome.message
    );
    assert_eq!(h.world.lock().unwrap().recreates, 1);
    // A first deploy of a good image needs nothing before it.
    let h = Harness::new();
    h.world.lock().unwrap().running = None;
    assert_eq!(h.deploy("2").await.status(), DeployStatus::Succeeded);
    assert_eq!(h.running(), Some(image_id("2")));
}

#[tokio::test]
async fn force_redeploys_what_already_runs() {
    let h = Harness::new();
    let r = h
        .request(
            DeployRequest {
                kind: DeployKind::Deploy,
                target: tag("1"),
                force: true,
                dry_run: false,
            },
            CancellationToken::new(),
        )
        .await;
    assert_eq!(r.status(), DeployStatus::Succeeded, "{}", r.outcome.message);
    assert!(
        r.step("compare").1.contains("--force"),
        "{:?}",
        r.step("compare")
    );
    assert_eq!(h.world.lock().unwrap().recreates, 1);
}

#[tokio::test]
async fn a_dry_run_records_no_deployment_and_changes_nothing() {
    let h = Harness::new();
    let r = h
        .request(
            DeployRequest {
                kind: DeployKind::Deploy,
                target: tag("4"),
                force: false,
                dry_run: true,
            },
            CancellationToken::new(),
        )
        .await;
    assert_eq!(r.outcome.deployment_id, None);
    assert!(
        r.events
            .iter()
            .any(|e| matches!(e, DeployEvent::Plan { .. }))
    );
    assert!(h.store().deployments(5).unwrap().is_empty());
    assert!(h.log().is_empty(), "{:?}", h.log());
    assert_eq!(h.store().count_audit("deploy", "dry-run").unwrap(), 1);
}

#[tokio::test]
async fn retention_that_cannot_remove_an_image_says_so_and_the_deploy_succeeds() {
    let h = Harness::new();
    {
        let mut w = h.world.lock().unwrap();
        w.images.insert(0, local("5", &[format!("{REPO}:v5")]));
        w.fail.insert("rmi");
    }
    let r = h.deploy("2").await;
    assert_eq!(r.status(), DeployStatus::Succeeded, "{}", r.outcome.message);
    let (state, summary) = r.step("retention");
    assert_eq!(state, StepState::Ok);
    assert!(
        summary.contains("removed 0")
            && summary.contains("not removed")
            && summary.contains("in use"),
        "{summary}"
    );
    assert!(
        h.world
            .lock()
            .unwrap()
            .images
            .iter()
            .any(|i| i.id == image_id("5"))
    );
}

#[tokio::test]
async fn retention_after_two_deploys_keeps_the_running_and_the_previous_image() {
    let h = Harness::new();
    h.world
        .lock()
        .unwrap()
        .images
        .insert(0, local("5", &[format!("{REPO}:v5")]));
    assert_eq!(h.deploy("2").await.status(), DeployStatus::Succeeded);
    // Now v4 (target, then running) replaces v2 (previous); v1 and v5 are protected by nothing
    // within deploy.keep_images = 1.
    let r = h.deploy("4").await;
    assert_eq!(r.status(), DeployStatus::Succeeded, "{}", r.outcome.message);
    let w = h.world.lock().unwrap();
    let ids: Vec<&str> = w.images.iter().map(|i| i.id.as_str()).collect();
    for (v, kept) in [("4", true), ("2", true), ("1", false), ("5", false)] {
        assert_eq!(
            ids.contains(&image_id(v).as_str()),
            kept,
            "v{v}: {ids:?} {:?}",
            w.log
        );
    }
}

// ---------- subscribers: GitHub Deployments and notifications from the engine's events ----------

use elt_console::gh_deployments::{DeploymentMapper, Intent};
use elt_console::notify::{NoticeContext, NoticeMapper, NotifyOn};

fn gh_intents(r: &Run) -> Vec<Intent> {
    let mut m = DeploymentMapper::new();
    r.events.iter().flat_map(|e| m.feed(e)).collect()
}

fn notices(r: &Run) -> Vec<(NotifyOn, Option<DeployStatus>)> {
    let mut m = NoticeMapper::new(NoticeContext {
        host: "h".into(),
        project: "elt".into(),
        environment: "production".into(),
    });
    r.events
        .iter()
        .filter_map(|e| m.feed(e))
        .map(|n| (n.event, n.status))
        .collect()
}

fn sha(v: &str) -> String {
    format!("{v:c>40}")
}

/// The shape of the intents, descriptions left out (each is checked where it matters).
fn shape(intents: &[Intent]) -> Vec<String> {
    intents
        .iter()
        .map(|i| match i {
            Intent::Create { key, sha, .. } => format!("create {key} {sha}"),
            Intent::Status { key, state, .. } => format!("status {key} {state}"),
            Intent::Replaced { key, .. } => format!("replaced-by {key}"),
            Intent::Unrecordable { .. } => "unrecordable".into(),
        })
        .collect()
}

#[tokio::test]
async fn a_good_deploy_is_one_github_deployment_of_its_commit_in_progress_then_success() {
    let h = Harness::new();
    let r = h.deploy("2").await;
    assert_eq!(r.status(), DeployStatus::Succeeded, "{}", r.outcome.message);
    let id = r.outcome.deployment_id.unwrap();
    let intents = gh_intents(&r);
    assert_eq!(
        shape(&intents),
        vec![
            format!("create {id} {}", sha("2")),
            format!("status {id} in_progress"),
            format!("status {id} success"),
            format!("replaced-by {id}"),
        ]
    );
    assert_eq!(
        notices(&r),
        vec![
            (NotifyOn::Started, None),
            (NotifyOn::Finished, Some(DeployStatus::Succeeded))
        ]
    );
}

#[tokio::test]
async fn an_automatic_rollback_fails_the_deployment_and_deploys_the_older_commit() {
    let h = Harness::new();
    let r = h.deploy("3").await;
    assert_eq!(
        r.status(),
        DeployStatus::RolledBack,
        "{}",
        r.outcome.message
    );
    let id = r.outcome.deployment_id.unwrap();
    let intents = gh_intents(&r);
    assert_eq!(
        shape(&intents),
        vec![
            format!("create {id} {}", sha("3")),
            format!("status {id} in_progress"),
            format!("status {id} failure"),
            format!("create {id}-rollback {}", sha("1")),
            format!("status {id}-rollback in_progress"),
            format!("status {id}-rollback success"),
            format!("replaced-by {id}-rollback"),
        ]
    );
    // The failure names the step that failed.
    match &intents[2] {
        Intent::Status { description, .. } => {
            assert!(description.starts_with("health failed: "), "{description}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        notices(&r),
        vec![
            (NotifyOn::Started, None),
            (NotifyOn::AutoRollback, None),
            (NotifyOn::Finished, Some(DeployStatus::RolledBack))
        ]
    );
}

#[tokio::test]
async fn a_deploy_that_changes_nothing_leaves_github_alone() {
    let h = Harness::new();
    let skipped = h.deploy("1").await;
    assert_eq!(skipped.status(), DeployStatus::Skipped);
    assert_eq!(gh_intents(&skipped), vec![]);
    h.fail("pull");
    let failed = h.deploy("4").await;
    assert_eq!(failed.status(), DeployStatus::Failed);
    assert_eq!(gh_intents(&failed), vec![]);
    // Operators still hear that it was tried and how it ended.
    assert_eq!(
        notices(&failed),
        vec![
            (NotifyOn::Started, None),
            (NotifyOn::Finished, Some(DeployStatus::Failed))
        ]
    );
}

#[tokio::test]
async fn a_failed_migration_is_a_failure_naming_the_migrate_step() {
    let h = Harness::new();
    h.fail("migrate");
    let r = h.deploy("2").await;
    assert_eq!(r.status(), DeployStatus::Failed, "{}", r.outcome.message);
    let id = r.outcome.deployment_id.unwrap();
    let intents = gh_intents(&r);
    assert_eq!(
        shape(&intents),
        vec![
            format!("create {id} {}", sha("2")),
            format!("status {id} in_progress"),
            format!("status {id} failure"),
        ]
    );
    match &intents[2] {
        Intent::Status { description, .. } => {
            assert!(description.starts_with("migrate failed: "), "{description}")
        }
        other => panic!("{other:?}"),
    }
}

/// `ready = "running:10s"` for an image without a healthcheck (a bot): the deploy waits until
/// the new container has run 10 s (on the fake clock) and says so; one whose process died and
/// was restarted fails at once (long before the 300 s health timeout) and is rolled back.
/// Without the rule, a running container without a healthcheck counted as up at once.
#[tokio::test]
async fn ready_running_waits_for_n_seconds_without_a_restart() {
    let mut h = Harness::new();
    h.settings.services[0].ready =
        Some(elt_console::config::ReadyRule::parse("running:10s").unwrap());
    h.settings.endpoints.clear();
    {
        let mut w = h.world.lock().unwrap();
        w.no_healthcheck = true;
        w.crashing.insert(image_id("3"));
    }
    let r = h.deploy("2").await;
    assert_eq!(r.status(), DeployStatus::Succeeded, "{}", r.outcome.message);
    let (started, elapsed) = {
        let w = h.world.lock().unwrap();
        (w.started_at.unwrap(), w.elapsed)
    };
    let wall_base = SystemTime::UNIX_EPOCH + h.world.lock().unwrap().wall_base;
    let ran = (wall_base + elapsed).duration_since(started).unwrap();
    assert!(
        ran >= Duration::from_secs(10),
        "healthy after {ran:?} of running"
    );
    assert!(
        r.step("health").1.contains("running 10s without a restart"),
        "{}",
        r.step("health").1
    );
    let plan = r
        .events
        .iter()
        .find_map(|e| match e {
            DeployEvent::Plan { services } => Some(services[0].health.clone()),
            _ => None,
        })
        .flatten()
        .expect("the plan states how health is judged");
    assert!(plan.contains("running:10s"), "{plan}");

    let before = h.world.lock().unwrap().elapsed;
    let r = h.deploy("3").await;
    assert_eq!(
        r.status(),
        DeployStatus::RolledBack,
        "{}",
        r.outcome.message
    );
    assert!(
        r.outcome.message.contains("restarted"),
        "{}",
        r.outcome.message
    );
    let spent = h.world.lock().unwrap().elapsed - before;
    assert!(
        spent < Duration::from_secs(60),
        "took {spent:?} of fake time"
    );
    assert_eq!(h.running(), Some(image_id("2")));
}

/// An explicit rollback whose recreate fails is not rolled back in turn; when the old
/// container still runs (dockerd went away before compose touched it) the `.env` pin follows
/// it instead of naming the target (the soak's `dockerd-restart:env-pin`). Before the fix the
/// pin stayed on v2.
#[tokio::test]
async fn a_failed_rollback_leaves_the_pin_on_what_runs() {
    let h = Harness::new();
    h.fail("recreate-keeps-old");
    let r = h
        .run(DeployKind::Rollback, tag("2"), CancellationToken::new())
        .await;
    assert_eq!(
        r.status(),
        DeployStatus::FailedDown,
        "{}",
        r.outcome.message
    );
    h.assert_v1_runs_and_is_pinned();
    assert!(
        r.outcome.message.contains("IMAGE_TAG set back to"),
        "{}",
        r.outcome.message
    );
}

/// The repair after a killed deploy (`lock release --force`): the pin written before compose
/// ran follows the container that still runs, and compose's renamed, stopped copy of an old
/// container is removed; the running container is not touched (`kill9:env-pin`,
/// `kill9-group:orphans`).
#[tokio::test]
async fn the_repair_repins_what_runs_and_removes_a_recreates_leftover() {
    let h = Harness::new();
    let env = h.dir.path().join(".env");
    std::fs::write(&env, format!("# ours\nIMAGE_TAG={}\n", reference("2"))).unwrap();
    h.world.lock().unwrap().leftover = Some(format!("{:f>64}", "1"));
    let host = FakeHost(h.world.clone());
    let repair_now = || {
        elt_console::deploy::repair::pins_follow_what_runs(&host, "elt", &env, &h.settings.services)
    };
    let repair = repair_now().await.unwrap();
    assert_eq!(h.env(), format!("# ours\nIMAGE_TAG={}\n", reference("1")));
    assert_eq!(repair.removed.len(), 1, "{repair:?}");
    assert!(h.world.lock().unwrap().leftover.is_none());
    assert_eq!(h.running(), Some(image_id("1")));
    assert_eq!(repair.repinned.len(), 1, "{repair:?}");
    // Nothing runs: the pin is left as it is, and said so.
    h.world.lock().unwrap().running = None;
    std::fs::write(&env, format!("IMAGE_TAG={}\n", reference("2"))).unwrap();
    let repair = repair_now().await.unwrap();
    assert!(repair.repinned.is_empty() && repair.removed.is_empty());
    assert!(
        repair
            .describe()
            .iter()
            .any(|l| l.contains("no container of app runs")),
        "{repair:?}"
    );
    assert_eq!(h.env(), format!("IMAGE_TAG={}\n", reference("2")));
}

// ---- Swarm: the swarm-update strategy on a fake orchestrator ----------------------------

use elt_console::deploy::orchestrator::Orchestrator;
use elt_console::swarm::{
    JobOutcome, JobSpec, SwarmError, UpdateEnd, UpdateProgress, UpdateStarted,
};

/// The digest reference a deploy of version `v` points the service at.
fn swarm_ref(v: &str) -> String {
    format!("{}@{}", reference(v), digest(v))
}

/// A one-service stack on a fake swarm: what each spec names, Swarm's verdicts.
#[derive(Default)]
struct SwarmWorld {
    /// Service name -> the image its spec names, and the one before (Swarm's rollback).
    specs: HashMap<String, (String, Option<String>)>,
    /// Images whose new tasks fail: Swarm rolls the update back.
    failing: HashSet<String>,
    /// Images whose new task no node can take (no free GPU for a start-first copy).
    unplaceable: HashSet<String>,
    /// A migration job is configured.
    migrates: bool,
    /// Cancelled when the migration job starts (the operator's Ctrl-C during it).
    cancel_on_job: Option<CancellationToken>,
    log: Vec<String>,
}

#[derive(Clone)]
struct FakeSwarm(Arc<Mutex<SwarmWorld>>);

impl FakeSwarm {
    fn spec(&self) -> String {
        self.0.lock().unwrap().specs["elt_app"].0.clone()
    }
    fn log(&self) -> Vec<String> {
        self.0.lock().unwrap().log.clone()
    }
}

impl Orchestrator for FakeSwarm {
    fn describe(&self) -> String {
        "swarm stack elt via a fake manager".into()
    }
    fn strategy(&self) -> String {
        "swarm start-first".into()
    }
    fn update_policy(&self) -> String {
        "Swarm's update: start-first, parallelism 1, monitor 3 s, on failure rollback".into()
    }
    fn service_name(&self, service: &str) -> String {
        format!("elt_{service}")
    }
    fn migration_job(&self, name: &str, image: &str, deployment_id: i64) -> Option<JobSpec> {
        self.0.lock().unwrap().migrates.then(|| JobSpec {
            name: format!("{name}-migrate-{deployment_id}"),
            template_service: name.into(),
            image: image.into(),
            args: vec!["migrate".into()],
            stack: "elt".into(),
        })
    }
    async fn service_image(&self, name: &str) -> Result<Option<String>, SwarmError> {
        Ok(self.0.lock().unwrap().specs.get(name).map(|s| s.0.clone()))
    }
    async fn update(
        &self,
        name: &str,
        reference: &str,
        _credentials: Option<(String, String)>,
    ) -> Result<UpdateStarted, SwarmError> {
        let mut w = self.0.lock().unwrap();
        w.log.push(format!("update {name} {reference}"));
        let spec = w.specs.get_mut(name).unwrap();
        let from_image = spec.0.clone();
        let changed = from_image != reference;
        if changed {
            *spec = (reference.to_string(), Some(from_image.clone()));
        }
        Ok(UpdateStarted {
            service: name.into(),
            from_image,
            to_image: Some(reference.into()),
            baseline: None,
            changed,
            warnings: vec![],
        })
    }
    async fn rollback(&self, name: &str) -> Result<UpdateStarted, SwarmError> {
        let mut w = self.0.lock().unwrap();
        w.log.push(format!("rollback {name}"));
        let spec = w.specs.get_mut(name).unwrap();
        let from_image = spec.0.clone();
        let previous = spec.1.clone().unwrap();
        *spec = (previous, Some(from_image.clone()));
        Ok(UpdateStarted {
            service: name.into(),
            from_image,
            to_image: None,
            baseline: None,
            changed: true,
            warnings: vec![],
        })
    }
    async fn follow(
        &self,
        started: &UpdateStarted,
        mut on_progress: impl FnMut(&UpdateProgress) + Send,
    ) -> Result<UpdateEnd, SwarmError> {
        if !started.changed {
            return Ok(UpdateEnd::Unchanged);
        }
        let Some(image) = &started.to_image else {
            return Ok(UpdateEnd::RolledBack {
                reason: "manually requested rollback".into(),
            });
        };
        if self.0.lock().unwrap().unplaceable.contains(image) {
            // The spec stays on the new image, its task pending: only a rollback ends it.
            return Ok(UpdateEnd::Unplaceable {
                reason: "no suitable node (insufficient resources on 2 nodes)".into(),
            });
        }
        let failing = self.0.lock().unwrap().failing.contains(image);
        on_progress(&UpdateProgress {
            state: None,
            message: Some("update in progress".into()),
            image: image.clone(),
            updated: 0,
            wanted: 1,
            others_running: 1,
        });
        if failing {
            let mut w = self.0.lock().unwrap();
            let spec = w.specs.get_mut(&started.service).unwrap();
            *spec = (started.from_image.clone(), None);
            return Ok(UpdateEnd::RolledBack {
                reason: "update rolled back due to failure or early termination of task x".into(),
            });
        }
        Ok(UpdateEnd::Completed {
            message: "update completed".into(),
        })
    }
    async fn run_job(
        &self,
        job: &JobSpec,
        _limit: Duration,
        stop: &CancellationToken,
    ) -> Result<JobOutcome, SwarmError> {
        let mut w = self.0.lock().unwrap();
        w.log.push(format!("job {} {}", job.name, job.image));
        if let Some(t) = w.cancel_on_job.take() {
            t.cancel();
        }
        // As the real one: a cancelled job's service is removed, and it says so.
        if stop.is_cancelled() {
            return Err(SwarmError::Cancelled {
                what: format!("the job {}", job.name),
            });
        }
        Ok(JobOutcome {
            task_id: Some("t1".into()),
            state: "complete".into(),
            exit_code: Some(0),
            error: None,
            output_tail: vec!["stub-app v2 migrate ok".into()],
        })
    }
}

impl Harness {
    /// v1 runs as the stack's one service, `elt_app`; a migration job is configured.
    fn swarm() -> Self {
        let mut h = Harness::new();
        let world = SwarmWorld {
            specs: HashMap::from([("elt_app".to_string(), (swarm_ref("1"), None))]),
            failing: HashSet::from([swarm_ref("3")]),
            migrates: true,
            ..Default::default()
        };
        h.swarm = Some(FakeSwarm(Arc::new(Mutex::new(world))));
        h
    }

    fn fake_swarm(&self) -> &FakeSwarm {
        self.swarm.as_ref().unwrap()
    }
}

#[tokio::test]
async fn a_swarm_update_runs_through_the_machine_and_is_recorded() {
    let h = Harness::swarm();
    let r = h.deploy("2").await;
    assert_eq!(r.status(), DeployStatus::Succeeded, "{}", r.outcome.message);
    assert_eq!(h.fake_swarm().spec(), swarm_ref("2"));
    assert!(
        r.step("pull").1.contains("each swarm node pulls"),
        "{:?}",
        r.step("pull")
    );
    let (state, summary) = r.step("migrate");
    assert_eq!(state, StepState::Ok);
    assert!(
        summary.contains("exited 0") && summary.contains("migrate ok"),
        "{summary}"
    );
    assert!(r.step("health").1.contains("update completed"));
    assert!(
        r.events
            .iter()
            .any(|e| matches!(e, DeployEvent::Progress { .. })),
        "Swarm's progress reached the stream"
    );
    // The job ran the new image before the service was updated, and compose never ran.
    let log = h.fake_swarm().log();
    assert!(
        log[0].starts_with("job elt_app-migrate-") && log[0].ends_with(&swarm_ref("2")),
        "{log:?}"
    );
    assert_eq!(log[1], format!("update elt_app {}", swarm_ref("2")));
    assert_eq!(h.world.lock().unwrap().recreates, 0);
    let row = h
        .store()
        .deployment(r.outcome.deployment_id.unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(row.strategy, "swarm start-first");
    assert_eq!(row.to.digest_str(), Some(digest("2").as_str()));
    assert_eq!(row.from.digest_str(), Some(digest("1").as_str()));
    // Again: the services' images say it already runs.
    let r = h.deploy("2").await;
    assert_eq!(r.status(), DeployStatus::Skipped, "{}", r.outcome.message);
    assert_eq!(h.fake_swarm().log().len(), 2);
}

/// A new task no node can take would keep Swarm's update waiting for ever: the engine asks
/// Swarm to roll the update back and says why, with what to change.
#[tokio::test]
async fn an_update_whose_new_task_cannot_be_placed_is_rolled_back_with_the_reason() {
    let h = Harness::swarm();
    h.fake_swarm()
        .0
        .lock()
        .unwrap()
        .unplaceable
        .insert(swarm_ref("2"));
    let r = h.deploy("2").await;
    assert_eq!(
        r.status(),
        DeployStatus::RolledBack,
        "{}",
        r.outcome.message
    );
    let message = &r.outcome.message;
    assert!(
        message.contains("Swarm cannot place the new task (no suitable node")
            && message.contains("order = \"stop-first\""),
        "{message}"
    );
    assert_eq!(h.fake_swarm().spec(), swarm_ref("1"));
    assert_eq!(
        h.fake_swarm().log().last().map(String::as_str),
        Some("rollback elt_app")
    );
    let failed = r.outcome.deployment_id.unwrap();
    let rows = h.store().deployments(10).unwrap();
    let auto = rows
        .iter()
        .find(|d| d.parent_id == Some(failed))
        .expect("the rollback's row");
    assert_eq!(auto.kind, DeployKind::AutoRollback);
    assert_eq!(auto.status, DeployStatus::Succeeded);
}

#[tokio::test]
async fn swarms_own_rollback_is_recorded_as_the_automatic_rollback() {
    let h = Harness::swarm();
    let r = h.deploy("3").await;
    assert_eq!(
        r.status(),
        DeployStatus::RolledBack,
        "{}",
        r.outcome.message
    );
    assert!(
        r.outcome
            .message
            .contains("Swarm rolled the update back: update rolled back due to failure")
    );
    assert_eq!(r.step("health").0, StepState::Failed);
    assert_eq!(h.fake_swarm().spec(), swarm_ref("1"));
    let failed = r.outcome.deployment_id.unwrap();
    let rows = h.store().deployments(10).unwrap();
    let auto = rows
        .iter()
        .find(|d| d.parent_id == Some(failed))
        .expect("the automatic rollback's row");
    assert_eq!(auto.kind, DeployKind::AutoRollback);
    assert_eq!(auto.status, DeployStatus::Succeeded);

    // A manual rollback to the previous deployment is the service's own rollback.
    let r = h.deploy("2").await;
    assert_eq!(r.status(), DeployStatus::Succeeded, "{}", r.outcome.message);
    let r = h
        .run(
            DeployKind::Rollback,
            Target::Previous,
            CancellationToken::new(),
        )
        .await;
    assert_eq!(r.status(), DeployStatus::Succeeded, "{}", r.outcome.message);
    assert!(r.step("health").1.contains("manually requested rollback"));
    assert_eq!(r.step("migrate").1, "a rollback runs no migration");
    assert_eq!(h.fake_swarm().spec(), swarm_ref("1"));
}

#[tokio::test]
async fn a_cancel_during_the_swarm_migration_changes_nothing() {
    let h = Harness::swarm();
    let interrupt = CancellationToken::new();
    h.fake_swarm().0.lock().unwrap().cancel_on_job = Some(interrupt.clone());
    let r = h.run(DeployKind::Deploy, tag("2"), interrupt).await;
    assert_eq!(r.status(), DeployStatus::Cancelled, "{}", r.outcome.message);
    assert_eq!(r.outcome.exit_code(), 130);
    assert_eq!(r.step("migrate"), (StepState::Skipped, "cancelled".into()));
    r.skipped_from("recreate");
    assert_eq!(h.fake_swarm().spec(), swarm_ref("1"));
    let log = h.fake_swarm().log();
    assert!(log.iter().all(|l| !l.starts_with("update")), "{log:?}");
    let row = h
        .store()
        .deployment(r.outcome.deployment_id.unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(row.status, DeployStatus::Cancelled);
}
