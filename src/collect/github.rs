//! The GitHub collector: runs of the workflow, a followed run's jobs and image, the dispatch
//! form's data and dispatches, all over one client (one rate-limit hold).

use super::update::Update;
pub use super::update::{FormData, GithubEffect, GithubMsg, RunImage};
use crate::collect::pipeline::{self, RunsPoller};
use crate::config::Config;
use crate::sources::github::{GithubError, GithubSource, TokenSource};
use crate::sources::registry::RegistrySource;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

/// How many of the environment's GitHub Deployments are read (and shown under the runs).
pub const DEPLOYMENTS_SHOWN: u32 = 4;

/// Runs of the workflow, at an interval that keeps an unauthenticated console under GitHub's
/// 60 requests/hour and never while GitHub says the budget is spent; plus, on request, the
/// jobs of one run (while it is in progress), the dispatch form's data, and dispatches. All
/// share one client, so one rate-limit hold applies to all of them.
pub(super) async fn github_task(
    config: Arc<Config>,
    tx: mpsc::Sender<Update>,
    refresh: Arc<Notify>,
    mut work: mpsc::Receiver<GithubEffect>,
    cancel: CancellationToken,
) {
    let gh = match GithubSource::new(&config.github).await {
        Ok(g) => g,
        Err(e) => {
            let _ = tx.send(Update::Runs(Err(e.to_string()))).await;
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
                    Ok(runs) => Update::Runs(Ok((runs, polled.rate.clone(), token.clone()))),
                    Err(e) => Update::Runs(Err(e.to_string())),
                };
                let budget = Update::Github(GithubMsg::Budget {
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
                            .recent_deployments(&env, DEPLOYMENTS_SHOWN)
                            .await
                            .map_err(|e| e.to_string());
                        let _ = tx
                            .send(Update::Github(GithubMsg::Deployments { environment: env, result }))
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
                        // The dialog shows the failure's text.
                        let r = load_form(&gh).await.map_err(|e| e.to_string());
                        let _ = tx.send(Update::Github(GithubMsg::FormLoaded(r))).await;
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
                        let _ = tx.send(Update::Github(msg)).await;
                    });
                }
                Some(GithubEffect::Copy(_)) => {}
            },
        }
    }
    let _ = watcher.await;
}

async fn load_form(gh: &GithubSource) -> Result<FormData, crate::github_ops::PrepareError> {
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
    tx: mpsc::Sender<Update>,
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
            if tx.send(Update::Github(msg)).await.is_err() {
                return;
            }
            let _ = tx
                .send(Update::Github(GithubMsg::Budget {
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
                if tx.send(Update::Github(msg)).await.is_err() {
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
    tx: &mpsc::Sender<Update>,
) -> RunImage {
    use RunImage;
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
    let _ = tx.send(Update::Github(waiting)).await;
    let registry = RegistrySource::new(&config.registry);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30 * 60);
    match pipeline::wait_for_image(&registry, &service.image, &tag, deadline).await {
        Ok(_) => RunImage::Ready(tag),
        Err(e) => RunImage::Unavailable(e.to_string()),
    }
}
