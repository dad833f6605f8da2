//! The deploy's outside subscribers: GitHub Deployments and `[[notify]]` targets. They read the
//! engine's event stream on its way to the printer (`attach` puts itself between the two), so
//! the engine knows nothing of them, and they work in their own tasks: nothing they do waits on
//! the network in the engine's path. `Subscribers::finish` gives them a bounded time once the
//! deploy has ended; what is left then is reported (notifications) or stays queued in the
//! store (GitHub statuses).

use crate::config::Config;
use crate::deploy::DeployEvent;
use crate::gh_deployments::{self, DeploymentMapper};
use crate::notify::{Delivery, NoticeContext, NoticeMapper, Receiver};
use crate::sources::github::GithubSource;
use crate::store::{Actor, Store};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

/// What the subscribers had to say, for the operator (stderr) and the audit log.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub lines: Vec<String>,
    pub deliveries: Vec<Delivery>,
}

/// How long a finished deploy's process waits for notifications still in flight: enough for
/// a receiver that answers (and a retry or two), short enough that a hanging one is cut off.
pub const NOTIFY_EXIT_WAIT_MS: u64 = 3000;

pub struct Subscribers {
    tee: JoinHandle<(JoinSet<Delivery>, Vec<String>)>,
    flusher: Option<(mpsc::UnboundedSender<()>, JoinHandle<Vec<String>>)>,
    state_dir: PathBuf,
    grace: Duration,
    gh_grace: Duration,
}

/// Put the subscribers between the engine's events and whoever prints them: the returned
/// receiver gets every event, unchanged and in order.
/// GitHub Deployments need a token: without one (or with github.deployments = false) deploys
/// are not recorded on GitHub, and only the log says so.
pub async fn attach(
    config: &Config,
    events: mpsc::UnboundedReceiver<DeployEvent>,
) -> (mpsc::UnboundedReceiver<DeployEvent>, Subscribers) {
    let mut early = Vec::new();
    let mut gh = None;
    if config.github.deployments {
        match crate::sources::github::resolve_token(&config.github).await {
            Ok((Some(token), source)) => {
                match GithubSource::with_token(&config.github, Some(token), source) {
                    Ok(g) => gh = Some(g),
                    Err(e) => early.push(format!("GitHub Deployments: {e}")),
                }
            }
            Ok((None, _)) => tracing::info!(
                "GitHub Deployments: no GitHub token, so deploys are not recorded on GitHub"
            ),
            Err(e) => early.push(format!("GitHub Deployments: {e}")),
        }
    }
    attach_with(config, gh, &|v| std::env::var(v).ok(), events, early)
}

/// `attach` with the GitHub client and the environment the secrets are read from given
/// (tests).
pub fn attach_with(
    config: &Config,
    gh: Option<GithubSource>,
    env: &dyn Fn(&str) -> Option<String>,
    mut events: mpsc::UnboundedReceiver<DeployEvent>,
    mut early: Vec<String>,
) -> (mpsc::UnboundedReceiver<DeployEvent>, Subscribers) {
    let gh_target = gh
        .as_ref()
        .and_then(|_| gh_deployments::Target::from_config(config));
    let mut receivers = Vec::new();
    for (i, t) in config.notify.iter().enumerate() {
        match Receiver::resolve(i, t, env) {
            Ok(r) => receivers.push(r),
            Err(e) => early.push(format!("notify: {e}; this target is skipped")),
        }
    }
    let client = if receivers.is_empty() {
        None
    } else {
        match crate::notify::client() {
            Ok(c) => Some(c),
            Err(e) => {
                early.push(e.to_string());
                None
            }
        }
    };
    let grace = Duration::from_millis(
        config
            .notify
            .iter()
            .map(|t| t.timeout_ms)
            .max()
            .unwrap_or(0)
            .min(NOTIFY_EXIT_WAIT_MS),
    );
    let gh_grace = Duration::from_millis(config.github.request_timeout_ms.min(10_000));
    let state_dir = crate::deploy::state_dir(config);
    let ctx = NoticeContext {
        host: hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "unknown-host".into()),
        project: config.deployment.project.clone(),
        environment: config.github.environment.clone(),
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let flusher = gh.filter(|_| gh_target.is_some()).map(|gh| {
        let (poke, pokes) = mpsc::unbounded_channel();
        (poke, tokio::spawn(run_flusher(config.clone(), gh, pokes)))
    });
    let poke = flusher.as_ref().map(|(p, _)| p.clone());
    let dir = state_dir.clone();
    let tee = tokio::spawn(async move {
        let mut lines = early;
        let mut deliveries = JoinSet::new();
        let store = gh_target.as_ref().and_then(|_| Store::open(&dir).ok());
        let mut gh_mapper = DeploymentMapper::new();
        let mut notices = NoticeMapper::new(ctx);
        while let Some(event) = events.recv().await {
            if let (Some(target), Some(store)) = (&gh_target, &store) {
                let intents = gh_mapper.feed(&event);
                if !intents.is_empty() {
                    lines.extend(gh_deployments::apply(store, target, &intents));
                    if let Some(p) = &poke {
                        let _ = p.send(());
                    }
                }
            }
            if let (Some(notice), Some(client)) = (notices.feed(&event), &client) {
                for r in receivers.iter().filter(|r| r.wants(&notice)) {
                    let (r, client, notice) = (r.clone(), client.clone(), notice.clone());
                    deliveries.spawn(async move { r.deliver(&client, &notice).await });
                }
            }
            let _ = tx.send(event);
        }
        (deliveries, lines)
    });
    (
        rx,
        Subscribers {
            tee,
            flusher,
            state_dir,
            grace,
            gh_grace,
        },
    )
}

/// Sends the GitHub outbox whenever poked; a last pass, due or not, when the run ends.
async fn run_flusher(
    config: Config,
    gh: GithubSource,
    mut pokes: mpsc::UnboundedReceiver<()>,
) -> Vec<String> {
    let mut warnings = Vec::new();
    let store = match Store::open(&crate::deploy::state_dir(&config)) {
        Ok(s) => std::sync::Mutex::new(s),
        Err(e) => return vec![format!("GitHub Deployments: {e}")],
    };
    let mut last = true;
    loop {
        let all = match pokes.recv().await {
            Some(()) => {
                while pokes.try_recv().is_ok() {}
                false
            }
            None => {
                if !last {
                    break;
                }
                last = false;
                true
            }
        };
        match gh_deployments::flush(&store, &gh, all).await {
            Ok(r) => {
                for w in r.warnings {
                    if !warnings.contains(&w) {
                        warnings.push(w);
                    }
                }
            }
            Err(e) => warnings.push(format!("GitHub Deployments: {e}")),
        }
        if all {
            break;
        }
    }
    warnings
}

impl Subscribers {
    /// Wait for the notifications still in flight (at most the largest target timeout, capped
    /// at `NOTIFY_EXIT_WAIT_MS`) and the GitHub outbox's last pass (at most the GitHub request timeout), then
    /// report. Call after the engine has finished: the deploy never waits for this.
    pub async fn finish(self) -> Report {
        let mut report = Report::default();
        let (mut deliveries, lines) = match self.tee.await {
            Ok(x) => x,
            Err(e) => (JoinSet::new(), vec![format!("subscribers: {e}")]),
        };
        report.lines.extend(lines);
        let gh = self.flusher.map(|(poke, handle)| {
            drop(poke);
            handle
        });
        let deadline = tokio::time::Instant::now() + self.grace;
        loop {
            tokio::select! {
                next = deliveries.join_next() => match next {
                    Some(Ok(d)) => report.deliveries.push(d),
                    Some(Err(_)) => {}
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline) => {
                    if !deliveries.is_empty() {
                        report.lines.push(format!(
                            "notify: {} notification(s) still waiting for their receiver at exit; not delivered",
                            deliveries.len()
                        ));
                    }
                    deliveries.abort_all();
                    break;
                }
            }
        }
        if let Some(mut handle) = gh {
            match tokio::time::timeout(self.gh_grace, &mut handle).await {
                Ok(Ok(w)) => report.lines.extend(w),
                Ok(Err(_)) => {}
                Err(_) => {
                    handle.abort();
                    report.lines.push(
                        "GitHub Deployments: GitHub did not answer in time; the statuses stay queued (`history` lists them)".into(),
                    );
                }
            }
        }
        for d in &report.deliveries {
            if d.error.is_some() {
                report.lines.push(d.describe());
            }
        }
        if let Ok(store) = Store::open(&self.state_dir) {
            let actor = Actor::current();
            for d in &report.deliveries {
                let _ = store.audit(
                    &actor,
                    "notify",
                    Some(&d.receiver),
                    if d.error.is_none() {
                        "delivered"
                    } else {
                        "failed"
                    },
                    Some(&d.describe()),
                );
            }
        }
        for l in &report.lines {
            tracing::warn!("{l}");
        }
        report
    }
}
