//! The dashboard's background work. Each task owns its client, runs until cancelled, and
//! reports owned domain values over the loop's channel; none of them touches `App`.

use super::app::Msg;
use super::github_ui::{FormData, GithubEffect, GithubMsg};
use super::logs::parse_engine_line;
use crate::config::Config;
use crate::domain::{GpuStatus, Tag, TagView};
use crate::pipeline::{self, RunsPoller};
use crate::sources::docker::DockerSource;
use crate::sources::github::{GithubError, GithubSource, TokenSource};
use crate::sources::gpu::GpuSource;
use crate::sources::health::HealthChecker;
use crate::sources::registry::RegistrySource;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

pub struct Handles {
    /// Which container's logs to follow (id, tail lines).
    pub follow: watch::Sender<Option<(String, u32)>>,
    /// Whether the GPU panel is on screen; sampling stops while it is not.
    pub gpu_visible: watch::Sender<bool>,
    /// Wake the GitHub and registry pollers now.
    pub refresh: Arc<Notify>,
    /// Read the deploy store now (a deploy was just started).
    pub deploys_poke: Arc<Notify>,
    /// Work for the GitHub task: follow a run, load the dispatch form, dispatch.
    pub github: mpsc::Sender<GithubEffect>,
}

pub fn spawn_all(
    config: Arc<Config>,
    tx: mpsc::Sender<Msg>,
    cancel: &CancellationToken,
) -> (Handles, Vec<tokio::task::JoinHandle<()>>) {
    let (follow_tx, follow_rx) = watch::channel(None);
    let (gpu_tx, gpu_rx) = watch::channel(true);
    let refresh = Arc::new(Notify::new());
    let deploys_poke = Arc::new(Notify::new());
    let (github_tx, github_rx) = mpsc::channel(16);
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(deploys_task(
        config.clone(),
        tx.clone(),
        deploys_poke.clone(),
        cancel.child_token(),
    )));

    // Docker: the event-driven watcher forwards its updates.
    {
        let (dtx, mut drx) = mpsc::channel(16);
        let c = config.clone();
        tasks.push(tokio::spawn(DockerSource::watch(
            c.docker.host.clone(),
            c.docker.request_timeout_ms,
            c.deployment.project.clone(),
            dtx,
            cancel.child_token(),
        )));
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(u) = drx.recv().await {
                if tx.send(Msg::Docker(u)).await.is_err() {
                    return;
                }
            }
        }));
    }
    tasks.push(tokio::spawn(health_task(
        config.clone(),
        tx.clone(),
        cancel.child_token(),
    )));
    tasks.push(tokio::spawn(gpu_task(
        config.clone(),
        tx.clone(),
        gpu_rx,
        cancel.child_token(),
    )));
    tasks.push(tokio::spawn(github_task(
        config.clone(),
        tx.clone(),
        refresh.clone(),
        github_rx,
        cancel.child_token(),
    )));
    tasks.push(tokio::spawn(registry_task(
        config.clone(),
        tx.clone(),
        refresh.clone(),
        cancel.child_token(),
    )));
    tasks.push(tokio::spawn(logs_task(
        config,
        tx,
        follow_rx,
        cancel.child_token(),
    )));
    (
        Handles {
            follow: follow_tx,
            gpu_visible: gpu_tx,
            refresh,
            deploys_poke,
            github: github_tx,
        },
        tasks,
    )
}

/// Read the deploy store: twice a second while a deploy runs (from any operator), every
/// 2 s otherwise. A store that does not exist yet is an empty history, not created here.
async fn deploys_task(
    config: Arc<Config>,
    tx: mpsc::Sender<Msg>,
    poke: Arc<Notify>,
    cancel: CancellationToken,
) {
    let dir = crate::deploy::state_dir(&config);
    let stale_after = crate::deploy::lock_stale_after(&config);
    let mut reader = DeployReader {
        store: None,
        seen: None,
    };
    loop {
        let (snapshot, back) = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || {
                let snapshot = reader.read(&dir, stale_after);
                (snapshot, reader)
            })
            .await
            .unwrap_or_else(|e| {
                (
                    Some(Err(format!("deploy store reader failed: {e}"))),
                    DeployReader {
                        store: None,
                        seen: None,
                    },
                )
            })
        };
        reader = back;
        if let Some(snapshot) = snapshot
            && tx.send(Msg::Deploys(Box::new(snapshot))).await.is_err()
        {
            return;
        }
        let busy = reader.seen.is_some_and(|(_, quiet)| !quiet);
        let pause = Duration::from_millis(if busy { 500 } else { 2000 });
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep_until(on_the_beat(pause)) => {}
            _ = poke.notified() => {}
        }
    }
}

/// The dashboard's reader of the deploy store. It re-reads only when another process has
/// committed since (SQLite's data_version), or while a deploy or lock is active (a dead
/// holder turns stale without any write).
struct DeployReader {
    store: Option<crate::store::Store>,
    /// (data_version, quiet: no deploy running and the lock free) at the last read.
    seen: Option<(i64, bool)>,
}

impl DeployReader {
    fn read(
        &mut self,
        dir: &std::path::Path,
        stale_after: Duration,
    ) -> Option<Result<super::deploys::DeploySnapshot, String>> {
        if self.store.is_none() {
            if !dir.join(crate::store::STORE_FILE).exists() {
                let first = self.seen.is_none();
                self.seen = Some((0, true));
                return first.then(|| Ok(super::deploys::DeploySnapshot::empty()));
            }
            match crate::store::Store::open(dir) {
                Ok(s) => self.store = Some(s),
                Err(e) => return Some(Err(e.to_string())),
            }
        }
        let store = self.store.as_ref()?;
        let result = (|| -> Result<_, crate::store::StoreError> {
            let version = store.data_version()?;
            if let Some((seen, true)) = self.seen
                && seen == version
            {
                return Ok(None);
            }
            let snapshot = super::deploys::DeploySnapshot {
                running: store.running_deployment()?,
                recent: store.deployments(50)?,
                lock: store.lock_state(stale_after)?,
            };
            let quiet =
                snapshot.running.is_none() && snapshot.lock == crate::store::LockState::Free;
            self.seen = Some((version, quiet));
            Ok(Some(snapshot))
        })();
        match result {
            Ok(s) => s.map(Ok),
            Err(e) => {
                self.store = None;
                self.seen = None;
                Some(Err(e.to_string()))
            }
        }
    }
}

/// The whole second of the dashboard's clock (the beat its 1 s tick keeps) nearest to `d` from
/// now. Periodic reads wait for it so they wake the process together with the tick, not each
/// at a moment of its own; rounding to the nearest keeps their average interval `d`. Waits
/// under a second (a deploy being followed) are not moved.
pub fn on_the_beat(d: Duration) -> tokio::time::Instant {
    static EPOCH: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(tokio::time::Instant::now);
    let at = tokio::time::Instant::now() + d;
    if d < Duration::from_secs(1) {
        return at;
    }
    let since = at.saturating_duration_since(epoch);
    epoch + Duration::from_secs(since.as_secs() + u64::from(since.subsec_millis() >= 500))
}

async fn sleep_or_cancel(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep_until(on_the_beat(d)) => true,
    }
}

async fn health_task(config: Arc<Config>, tx: mpsc::Sender<Msg>, cancel: CancellationToken) {
    health_task_with(config, tx, cancel, || {
        HealthChecker::new().map_err(|e| e.to_string())
    })
    .await
}

/// The health loop with its client's setup given, so a failing setup can be tested. A setup
/// error is each endpoint's result (the panel shows it instead of "loading" for ever) and
/// the setup is tried again at the next interval.
async fn health_task_with(
    config: Arc<Config>,
    tx: mpsc::Sender<Msg>,
    cancel: CancellationToken,
    setup: impl Fn() -> Result<HealthChecker, String>,
) {
    let every = Duration::from_millis(config.ui.health_interval_ms);
    let checker = loop {
        match setup() {
            Ok(c) => break c,
            Err(e) => {
                let now = chrono::Utc::now();
                let results = config
                    .health
                    .iter()
                    .map(|h| HealthChecker::not_checked(h, &e, now))
                    .collect();
                if tx.send(Msg::Health(results)).await.is_err()
                    || !sleep_or_cancel(every, &cancel).await
                {
                    return;
                }
            }
        }
    };
    loop {
        let results = tokio::select! {
            _ = cancel.cancelled() => return,
            r = checker.check_all(&config.health) => r,
        };
        if tx.send(Msg::Health(results)).await.is_err() || !sleep_or_cancel(every, &cancel).await {
            return;
        }
    }
}

async fn gpu_task(
    config: Arc<Config>,
    tx: mpsc::Sender<Msg>,
    mut visible: watch::Receiver<bool>,
    cancel: CancellationToken,
) {
    let library = config.gpu.nvml_library.clone();
    let opened = tokio::task::spawn_blocking(move || GpuSource::open(&library)).await;
    let source = match opened {
        Ok(Ok(s)) => Arc::new(s),
        Ok(Err(crate::sources::gpu::GpuUnavailable { reason })) => {
            let _ = tx.send(Msg::Gpu(GpuStatus::Unavailable { reason })).await;
            return;
        }
        Err(e) => {
            let _ = tx
                .send(Msg::Gpu(GpuStatus::Unavailable {
                    reason: format!("NVML task failed: {e}"),
                }))
                .await;
            return;
        }
    };
    let every = Duration::from_millis(config.gpu.sample_interval_ms);
    loop {
        if !*visible.borrow() {
            tokio::select! {
                _ = cancel.cancelled() => return,
                r = visible.changed() => if r.is_err() { return },
            }
            continue;
        }
        let s = source.clone();
        let sample = match tokio::task::spawn_blocking(move || s.sample()).await {
            Ok(sample) => sample,
            Err(e) => GpuStatus::Unavailable {
                reason: format!("NVML sampling failed: {e}"),
            },
        };
        if tx.send(Msg::Gpu(sample)).await.is_err() || !sleep_or_cancel(every, &cancel).await {
            return;
        }
    }
}

/// Runs of the workflow, at an interval that keeps an unauthenticated console under GitHub's
/// 60 requests/hour and never while GitHub says the budget is spent; plus, on request, the
/// jobs of one run (while it is in progress), the dispatch form's data, and dispatches. All
/// share one client, so one rate-limit hold applies to all of them.
async fn github_task(
    config: Arc<Config>,
    tx: mpsc::Sender<Msg>,
    refresh: Arc<Notify>,
    mut work: mpsc::Receiver<GithubEffect>,
    cancel: CancellationToken,
) {
    let gh = match GithubSource::new(&config.github).await {
        Ok(g) => g,
        Err(e) => {
            let _ = tx.send(Msg::Runs(Err(e.to_string()))).await;
            return;
        }
    };
    let authenticated = gh.token_source != TokenSource::None;
    // GitHub Deployment statuses an earlier deploy could not deliver go out on this start.
    if authenticated && config.github.deployments {
        let config = config.clone();
        tokio::spawn(async move {
            for line in crate::gh_deployments::flush_pending(&config).await {
                tracing::warn!("{line}");
            }
        });
    }
    let poller = RunsPoller {
        base: Duration::from_secs(if authenticated {
            config.ui.github_interval_authenticated_s
        } else {
            config.ui.github_interval_unauthenticated_s
        }),
        gh: gh.clone(),
    };
    let (watch_tx, watch_rx) = watch::channel(None);
    let watcher = tokio::spawn(run_watch_task(
        config.clone(),
        gh.clone(),
        authenticated,
        tx.clone(),
        watch_rx,
        cancel.child_token(),
    ));
    let token = gh.token_source.to_string();
    let mut next = tokio::time::Instant::now();
    let mut deployments_due: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep_until(next) => {
                let polled = tokio::select! {
                    _ = cancel.cancelled() => break,
                    p = poller.poll(chrono::Utc::now()) => p,
                };
                next = tokio::time::Instant::now() + polled.next_in;
                let msg = match polled.result {
                    Ok(runs) => Msg::Runs(Ok((runs, polled.rate.clone(), token.clone()))),
                    Err(e) => Msg::Runs(Err(e.to_string())),
                };
                let budget = Msg::Github(GithubMsg::Budget {
                    rate: polled.rate,
                    blocked_until: polled.blocked_until,
                });
                if tx.send(msg).await.is_err() || tx.send(budget).await.is_err() {
                    break;
                }
                // The environment's deployments beside the runs: with a token only (GitHub
                // Deployments need one), at most once a minute, conditional GETs.
                if authenticated
                    && config.github.deployments
                    && deployments_due.is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
                {
                    deployments_due = Some(std::time::Instant::now());
                    let (gh, tx, env) = (gh.clone(), tx.clone(), config.github.environment.clone());
                    tokio::spawn(async move {
                        let result = gh
                            .recent_deployments(&env, super::gh_deployments_panel::SHOWN)
                            .await
                            .map_err(|e| e.to_string());
                        let _ = tx
                            .send(Msg::Github(GithubMsg::Deployments { environment: env, result }))
                            .await;
                    });
                }
            }
            _ = refresh.notified() => next = tokio::time::Instant::now(),
            w = work.recv() => match w {
                None => break,
                Some(GithubEffect::WatchRun(id)) => {
                    let _ = watch_tx.send(id);
                }
                Some(GithubEffect::LoadForm) => {
                    let (gh, tx) = (gh.clone(), tx.clone());
                    tokio::spawn(async move {
                        let r = load_form(&gh).await;
                        let _ = tx.send(Msg::Github(GithubMsg::FormLoaded(r))).await;
                    });
                }
                Some(GithubEffect::Dispatch(body)) => {
                    let (gh, tx) = (gh.clone(), tx.clone());
                    tokio::spawn(async move {
                        let msg = match pipeline::dispatch_and_find_run(&gh, &body, Duration::from_secs(120)).await {
                            Ok(run) => GithubMsg::Dispatched(Ok(run)),
                            Err(pipeline::PipelineError::RunUnreadable { run_id, html_url, source }) => {
                                GithubMsg::DispatchAccepted { run_id, html_url, error: source.to_string() }
                            }
                            Err(e) => GithubMsg::Dispatched(Err(e.to_string())),
                        };
                        let _ = tx.send(Msg::Github(msg)).await;
                    });
                }
                Some(GithubEffect::Copy(_)) => {}
            },
        }
    }
    let _ = watcher.await;
}

async fn load_form(gh: &GithubSource) -> Result<FormData, String> {
    let (prepared, spec) = crate::github_ops::prepare_dispatch(gh, None, &[]).await?;
    Ok(FormData {
        repository: prepared.repository,
        workflow: prepared.workflow,
        default_ref: prepared.git_ref,
        spec,
    })
}

/// The jobs dialog's data: the run and its jobs, re-read while the run is not completed
/// (every 10 s with a token, 30 s without), and not at all once it is. Once it has
/// succeeded, its commit tag is looked up in the registry (HEAD requests with backoff) so
/// the dialog can offer to deploy it.
async fn run_watch_task(
    config: Arc<Config>,
    gh: GithubSource,
    authenticated: bool,
    tx: mpsc::Sender<Msg>,
    mut which: watch::Receiver<Option<u64>>,
    cancel: CancellationToken,
) {
    let every = Duration::from_secs(if authenticated { 10 } else { 30 });
    loop {
        let current = *which.borrow_and_update();
        let mut wait_for_change = true;
        if let Some(run_id) = current {
            let result = tokio::select! {
                _ = cancel.cancelled() => return,
                r = async { Ok::<_, GithubError>((gh.run(run_id).await?, gh.jobs(run_id).await?)) } => r,
            };
            let in_progress = matches!(&result, Ok((run, _)) if !run.is_completed())
                || matches!(&result, Err(GithubError::RateLimited { .. }));
            let succeeded = match &result {
                Ok((run, _))
                    if run.is_completed() && run.conclusion.as_deref() == Some("success") =>
                {
                    Some(run.clone())
                }
                _ => None,
            };
            let msg = GithubMsg::RunDetails {
                run_id,
                result: result.map_err(|e| e.to_string()),
            };
            if tx.send(Msg::Github(msg)).await.is_err() {
                return;
            }
            let _ = tx
                .send(Msg::Github(GithubMsg::Budget {
                    rate: gh.rate_limit(),
                    blocked_until: gh.blocked_until(chrono::Utc::now()),
                }))
                .await;
            if let Some(run) = succeeded {
                let image = tokio::select! {
                    _ = cancel.cancelled() => return,
                    r = which.changed() => if r.is_err() { return } else { continue },
                    image = run_image(&config, &run, &tx) => image,
                };
                let msg = GithubMsg::RunImage { run_id, image };
                if tx.send(Msg::Github(msg)).await.is_err() {
                    return;
                }
            }
            if in_progress {
                wait_for_change = false;
                let delay = pipeline::next_poll_delay(
                    every,
                    &gh.rate_limit(),
                    gh.blocked_until(chrono::Utc::now()),
                    chrono::Utc::now(),
                );
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    r = which.changed() => if r.is_err() { return },
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
        if wait_for_change {
            tokio::select! {
                _ = cancel.cancelled() => return,
                r = which.changed() => if r.is_err() { return },
            }
        }
    }
}

/// Where a successful run's image stands: its commit tag (the first service's pattern on the
/// run's head SHA), reported as waiting until it resolves in the registry, for up to 30 minutes.
async fn run_image(
    config: &Config,
    run: &crate::domain::RunView,
    tx: &mpsc::Sender<Msg>,
) -> super::github_ui::RunImage {
    use super::github_ui::RunImage;
    let Some(service) = config.deployment.services.first() else {
        return RunImage::Unavailable("no service configured".into());
    };
    let tag = match pipeline::image_tag_for(service, run) {
        Ok(t) => t,
        Err(e) => return RunImage::Unavailable(e.to_string()),
    };
    let waiting = GithubMsg::RunImage {
        run_id: run.id,
        image: RunImage::Waiting(tag.clone()),
    };
    let _ = tx.send(Msg::Github(waiting)).await;
    let registry = RegistrySource::new(&config.registry);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30 * 60);
    match pipeline::wait_for_image(&registry, &service.image, &tag, deadline).await {
        Ok(_) => RunImage::Ready(tag),
        Err(e) => RunImage::Unavailable(e.to_string()),
    }
}

async fn registry_task(
    config: Arc<Config>,
    tx: mpsc::Sender<Msg>,
    refresh: Arc<Notify>,
    cancel: CancellationToken,
) {
    let registry = RegistrySource::new(&config.registry);
    let mut caches: HashMap<String, HashMap<Tag, TagView>> = HashMap::new();
    // With a token, GHCR images also get dates and aliases from the Packages API. A token
    // that cannot be read is said in the panel, not dropped.
    let (packages, setup_note) = match GithubSource::new(&config.github).await {
        Ok(gh) if gh.token_source != TokenSource::None => (Some(gh), None),
        Ok(_) => (None, None),
        Err(e) => (None, Some(format!("GitHub Packages API not used: {e}"))),
    };
    let every = Duration::from_secs(config.ui.registry_interval_s);
    loop {
        let read = tokio::select! {
            _ = cancel.cancelled() => return,
            r = crate::status::read_repos(
                &registry,
                &config.deployment.services,
                &mut caches,
                packages.as_ref(),
            ) => r,
        };
        let msg = Msg::Tags(read.map_err(|e| e.to_string()).map(|mut repos| {
            if let Some(note) = &setup_note {
                for repo in repos.iter_mut().filter(|r| r.note.is_none()) {
                    repo.note = Some(note.clone());
                }
            }
            repos
        }));
        if tx.send(msg).await.is_err() {
            return;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
            _ = refresh.notified() => {}
        }
    }
}

/// Follow one container's log stream at a time, switching when the selection changes.
/// Lines are sanitised here, off the UI thread, and sent in batches so a flood of 20 000
/// lines a second becomes a few dozen messages.
async fn logs_task(
    config: Arc<Config>,
    tx: mpsc::Sender<Msg>,
    mut follow: watch::Receiver<Option<(String, u32)>>,
    cancel: CancellationToken,
) {
    loop {
        let current = follow.borrow_and_update().clone();
        let stream_cancel = cancel.child_token();
        let stream = current.clone().map(|(id, tail)| {
            let tx = tx.clone();
            let c = config.clone();
            let token = stream_cancel.clone();
            tokio::spawn(async move { follow_container(&c, id, tail, &tx, &token).await })
        });
        let changed = tokio::select! {
            _ = cancel.cancelled() => false,
            r = follow.changed() => r.is_ok(),
        };
        stream_cancel.cancel();
        if let Some(handle) = stream {
            let _ = handle.await;
        }
        if !changed {
            return;
        }
    }
}

const BATCH_LINES: usize = 2000;
const BATCH_WINDOW: Duration = Duration::from_millis(25);

/// Follow one container's logs for as long as it is selected. When its stream ends (the
/// container stopped or restarted, the engine went away), wait until it runs again and carry
/// on after the last line shown, telling the dashboard so it can mark the gap. A container
/// that no longer exists is left to the dashboard, which follows its service's replacement.
async fn follow_container(
    config: &Config,
    id: String,
    tail: u32,
    tx: &mpsc::Sender<Msg>,
    cancel: &CancellationToken,
) {
    let mut started =
        match DockerSource::connect(&config.docker.host, config.docker.request_timeout_ms).await {
            Ok(d) => d
                .run_state(&id)
                .await
                .ok()
                .flatten()
                .and_then(|s| s.started_at),
            Err(_) => None,
        };
    // The engine's timestamp of the last line passed on (fixed-width RFC 3339, so byte order
    // is time order): lines replayed on resuming are dropped up to it.
    let mut last_stamp: Option<Vec<u8>> = None;
    let mut resume = false;
    loop {
        let reason = follow_one(config, &id, tail, resume, &mut last_stamp, tx, cancel).await;
        if cancel.is_cancelled() {
            return;
        }
        let _ = tx
            .send(Msg::LogEnded {
                container_id: id.clone(),
                reason: format!("{reason}; waiting for the container to run again"),
            })
            .await;
        let Some(state) = wait_running(config, &id, tx, cancel).await else {
            return;
        };
        let what = match started {
            _ if state.started_at == started => "log stream resumed",
            None => "container started",
            Some(_) => "container restarted",
        };
        started = state.started_at;
        let msg = Msg::LogResumed {
            container_id: id.clone(),
            what,
            at: state.started_at.unwrap_or_else(chrono::Utc::now),
        };
        if tx.send(msg).await.is_err() {
            return;
        }
        resume = true;
    }
}

/// Wait until the container runs: its `start` event, or a fresh look every 30 s; an engine
/// that is away is retried with backoff (0.5 s doubling to 5 s). None when cancelled, or when
/// the container no longer exists (said to the dashboard).
async fn wait_running(
    config: &Config,
    id: &str,
    tx: &mpsc::Sender<Msg>,
    cancel: &CancellationToken,
) -> Option<crate::sources::docker::RunState> {
    enum Seen {
        Running(crate::sources::docker::RunState),
        Gone,
        LookAgain,
    }
    let mut backoff = Duration::from_millis(500);
    loop {
        let attempt = async {
            let docker =
                DockerSource::connect(&config.docker.host, config.docker.request_timeout_ms)
                    .await?;
            let looked_at = chrono::Utc::now();
            match docker.run_state(id).await? {
                None => Ok(Seen::Gone),
                Some(s) if s.running => Ok(Seen::Running(s)),
                Some(_) => {
                    // Replayed from the look, so a start in between is not missed.
                    docker
                        .wait_for_start(id, looked_at, Duration::from_secs(30))
                        .await?;
                    Ok::<_, crate::sources::docker::DockerError>(Seen::LookAgain)
                }
            }
        };
        let seen = tokio::select! {
            _ = cancel.cancelled() => return None,
            r = attempt => r,
        };
        match seen {
            Ok(Seen::Running(s)) => return Some(s),
            Ok(Seen::Gone) => {
                let _ = tx
                    .send(Msg::LogEnded {
                        container_id: id.to_string(),
                        reason: "container removed".into(),
                    })
                    .await;
                return None;
            }
            Ok(Seen::LookAgain) => backoff = Duration::from_millis(500),
            Err(_) => {
                tokio::select! {
                    _ = cancel.cancelled() => return None,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// The engine's timestamp at the start of a raw log line, if it has one.
fn line_stamp(raw: &[u8]) -> Option<&[u8]> {
    let end = raw.iter().position(|b| *b == b' ')?;
    (end >= 20 && raw[4] == b'-' && raw[10] == b'T').then(|| &raw[..end])
}

/// Follow the stream until it ends; the reason it ended. With `resume`, lines from the second
/// of `last_stamp` on are asked for and those up to it dropped, so none is shown twice.
async fn follow_one(
    config: &Config,
    id: &str,
    tail: u32,
    resume: bool,
    last_stamp: &mut Option<Vec<u8>>,
    tx: &mpsc::Sender<Msg>,
    cancel: &CancellationToken,
) -> String {
    let docker =
        match DockerSource::connect(&config.docker.host, config.docker.request_timeout_ms).await {
            Ok(d) => d,
            Err(e) => return e.to_string(),
        };
    let since = if resume {
        last_stamp
            .as_deref()
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.timestamp())
    } else {
        None
    };
    let mut skip_until = since.and(last_stamp.clone());
    let mut stream = std::pin::pin!(docker.follow_logs(id, tail, since));
    let mut carry: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut batch = Vec::new();
    let mut deadline = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return "stopped".into(),
            _ = tokio::time::sleep_until(deadline), if !batch.is_empty() => {
                send_batch(tx, id, &mut batch).await;
            }
            item = stream.next() => match item {
                None => {
                    flush_partial(&mut carry, &mut batch);
                    send_batch(tx, id, &mut batch).await;
                    return "log stream closed".into();
                }
                Some(Err(e)) => {
                    send_batch(tx, id, &mut batch).await;
                    return e.to_string();
                }
                Some(Ok((stderr, bytes))) => {
                    if batch.is_empty() {
                        deadline = tokio::time::Instant::now() + BATCH_WINDOW;
                    }
                    let buf = &mut carry[stderr as usize];
                    buf.extend_from_slice(&bytes);
                    while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=pos).collect();
                        let line = &line[..line.len() - 1];
                        if let Some(stamp) = line_stamp(line) {
                            if skip_until.as_deref().is_some_and(|s| stamp <= s) {
                                continue;
                            }
                            skip_until = None;
                            *last_stamp = Some(stamp.to_vec());
                        }
                        batch.push(parse_engine_line(line, stderr));
                    }
                    // A line that never ends is cut rather than held (and grown) forever.
                    if buf.len() > super::sanitize::MAX_LINE_BYTES * 2 {
                        let line = std::mem::take(buf);
                        batch.push(parse_engine_line(&line, stderr));
                    }
                    if batch.len() >= BATCH_LINES {
                        send_batch(tx, id, &mut batch).await;
                    }
                }
            },
        }
    }
}

fn flush_partial(
    carry: &mut [Vec<u8>; 2],
    batch: &mut Vec<(Option<String>, bool, super::sanitize::StyledLine)>,
) {
    for (i, buf) in carry.iter_mut().enumerate() {
        if !buf.is_empty() {
            batch.push(parse_engine_line(buf, i == 1));
            buf.clear();
        }
    }
}

async fn send_batch(
    tx: &mpsc::Sender<Msg>,
    id: &str,
    batch: &mut Vec<(Option<String>, bool, super::sanitize::StyledLine)>,
) {
    if batch.is_empty() {
        return;
    }
    let lines = std::mem::take(batch);
    let _ = tx
        .send(Msg::LogLines {
            container_id: id.to_string(),
            lines,
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_health_setup_error_reaches_the_panel_and_the_setup_is_retried() {
        let mut config = crate::config::defaults();
        config.ui.health_interval_ms = 10;
        let endpoints = config.health.len();
        assert!(endpoints > 0, "the defaults name the app's endpoints");
        let (tx, mut rx) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let tries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = tries.clone();
        let task = tokio::spawn(health_task_with(
            Arc::new(config),
            tx,
            cancel.clone(),
            move || {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Err("no TLS provider".to_string())
            },
        ));
        for _ in 0..2 {
            let msg = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("a health message within 10 s")
                .expect("the task is alive");
            let Msg::Health(results) = msg else {
                panic!("not a health message: {msg:?}")
            };
            assert_eq!(results.len(), endpoints);
            assert!(results.iter().all(|r| {
                !r.ok
                    && r.error
                        .as_deref()
                        .is_some_and(|e| e.contains("no TLS provider"))
            }));
        }
        assert!(tries.load(std::sync::atomic::Ordering::SeqCst) >= 2);
        cancel.cancel();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn periodic_reads_wait_for_whole_seconds_of_one_beat() {
        let now = tokio::time::Instant::now();
        let tick = on_the_beat(Duration::from_secs(1));
        let health = on_the_beat(Duration::from_millis(5000));
        let deploys = on_the_beat(Duration::from_millis(2300));
        // The nearest beat: the average interval stays what was asked for.
        let near = |at: tokio::time::Instant, d: u64| {
            let want = now + Duration::from_millis(d);
            at.max(want) - at.min(want) <= Duration::from_millis(500)
        };
        assert!(near(health, 5000) && near(deploys, 2300));
        for at in [health, deploys] {
            assert_eq!(
                at.saturating_duration_since(tick).subsec_nanos(),
                0,
                "on the tick's beat"
            );
        }
        assert!([2, 3].contains(&(health - deploys).as_secs()));
        // Short waits (following a deploy twice a second) are not moved.
        let short = on_the_beat(Duration::from_millis(500));
        assert!(short >= now + Duration::from_millis(500));
    }
}
