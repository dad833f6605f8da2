//! The periodic collectors (health endpoints, GPU samples, registry tags) and the beat they
//! keep with the dashboard's tick.

use super::update::Update;
use crate::config::Config;
use crate::domain::{GpuStatus, Tag, TagView};
use crate::sources::github::{GithubSource, TokenSource};
use crate::sources::gpu::GpuSource;
use crate::sources::health::HealthChecker;
use crate::sources::registry::RegistrySource;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

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

pub(super) async fn sleep_or_cancel(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep_until(on_the_beat(d)) => true,
    }
}

pub(super) async fn health_task(
    config: Arc<Config>,
    tx: mpsc::Sender<Update>,
    cancel: CancellationToken,
) {
    health_task_with(config, tx, cancel, HealthChecker::new).await
}

/// The health loop with its client's setup given, so a failing setup can be tested. A setup
/// error is each endpoint's result (the panel shows it instead of "loading" for ever) and
/// the setup is tried again at the next interval.
async fn health_task_with<E: std::fmt::Display>(
    config: Arc<Config>,
    tx: mpsc::Sender<Update>,
    cancel: CancellationToken,
    setup: impl Fn() -> Result<HealthChecker, E>,
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
                    .map(|h| HealthChecker::not_checked(h, &e.to_string(), now))
                    .collect();
                if tx.send(Update::Health(results)).await.is_err()
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
        if tx.send(Update::Health(results)).await.is_err() || !sleep_or_cancel(every, &cancel).await
        {
            return;
        }
    }
}

pub(super) async fn gpu_task(
    config: Arc<Config>,
    tx: mpsc::Sender<Update>,
    mut visible: watch::Receiver<bool>,
    cancel: CancellationToken,
) {
    let library = config.gpu.nvml_library.clone();
    let opened = tokio::task::spawn_blocking(move || GpuSource::open(&library)).await;
    let source = match opened {
        Ok(Ok(s)) => Arc::new(s),
        Ok(Err(crate::sources::gpu::GpuUnavailable { reason })) => {
            let _ = tx
                .send(Update::Gpu(GpuStatus::Unavailable { reason }))
                .await;
            return;
        }
        Err(e) => {
            let _ = tx
                .send(Update::Gpu(GpuStatus::Unavailable {
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
        if tx.send(Update::Gpu(sample)).await.is_err() || !sleep_or_cancel(every, &cancel).await {
            return;
        }
    }
}

pub(super) async fn registry_task(
    config: Arc<Config>,
    tx: mpsc::Sender<Update>,
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
            r = crate::collect::status::read_repos(
                &registry,
                &config.deployment.services,
                &mut caches,
                packages.as_ref(),
            ) => r,
        };
        let msg = Update::Tags(read.map_err(|e| e.to_string()).map(|mut repos| {
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
            let Update::Health(results) = msg else {
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
