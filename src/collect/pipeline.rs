//! The GitHub side of the build → deploy loop, shared by the dashboard and the headless
//! commands: how often to poll within the rate-limit budget, starting a `workflow_dispatch`
//! and finding the run it created, following a run until it ends, and waiting until the image
//! a run built is in the registry. The deploy engine starts from `wait_for_run_image`.

use crate::config::ServiceConfig;
use crate::domain::{CommitSha, Digest, ImageRepo, JobView, RateLimit, RunView, Tag};
use crate::sources::github::{GithubError, GithubSource};
use crate::sources::registry::{RegistryError, RegistrySource};
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::time::Duration;
use thiserror::Error;

/// How long to wait before the next poll of a GitHub endpoint: the configured interval, but
/// never sooner than the remaining budget allows to last until it resets, and never before
/// GitHub said to come back.
pub fn next_poll_delay(
    base: Duration,
    rate: &RateLimit,
    blocked_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Duration {
    let to = |t: DateTime<Utc>| Duration::from_secs((t - now).num_seconds().max(1) as u64);
    if let Some(until) = blocked_until.filter(|u| *u > now) {
        return base.max(to(until));
    }
    match (rate.remaining, rate.reset) {
        (Some(0), Some(reset)) if reset > now => base.max(to(reset)),
        // Spread what is left over the time left, keeping a few requests in hand for the
        // operator's own actions (opening a run, dispatching).
        (Some(remaining), Some(reset)) if reset > now => {
            let spendable = remaining.saturating_sub(5).max(1);
            base.max(to(reset) / spendable as u32)
        }
        _ => base,
    }
}

/// The runs poller of the dashboard as a value, so a test can drive it on a simulated clock.
pub struct RunsPoller {
    pub gh: GithubSource,
    pub base: Duration,
}

/// One poll's outcome: what to show and when to ask again.
pub struct Polled {
    pub result: Result<Vec<RunView>, GithubError>,
    pub rate: RateLimit,
    pub blocked_until: Option<DateTime<Utc>>,
    pub next_in: Duration,
}

impl RunsPoller {
    pub async fn poll(&self, now: DateTime<Utc>) -> Polled {
        let result = self.gh.runs().await.map(|p| p.runs);
        let rate = self.gh.rate_limit();
        let blocked_until = self.gh.blocked_until(now);
        Polled {
            next_in: next_poll_delay(self.base, &rate, blocked_until, now),
            result,
            rate,
            blocked_until,
        }
    }
}

#[derive(Debug, Error)]
pub enum PipelineError {
    #[error(transparent)]
    Github(#[from] GithubError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(
        "GitHub accepted the dispatch but no new workflow_dispatch run appeared within {secs} s"
    )]
    RunNotFound { secs: u64 },
    /// The dispatch was accepted (200 with run details), but the run it named could not be
    /// read: the run exists, so the caller must not dispatch again.
    #[error(
        "GitHub accepted the dispatch: run {run_id}{}; but the run could not be read: {source}",
        html_url.as_deref().map(|u| format!(" ({u})")).unwrap_or_default()
    )]
    RunUnreadable {
        run_id: u64,
        html_url: Option<String>,
        source: GithubError,
    },
    #[error("run #{number} did not finish before the deadline (last status: {status})")]
    RunTimeout { number: u64, status: String },
    #[error("run #{number} ended {conclusion}: no image to deploy ({url})")]
    RunFailed {
        number: u64,
        conclusion: String,
        url: String,
    },
    #[error("{image} did not appear in the registry before the deadline")]
    ImageTimeout { image: String },
    #[error("run #{number} built {sha}, which no commit tag pattern of service {service} names")]
    NoCommitTag {
        number: u64,
        sha: String,
        service: String,
    },
}

/// Poll delays for work that waits on something: quick at first, then every `cap`.
fn backoff(attempt: u32, cap: Duration) -> Duration {
    let secs = [2u64, 3, 5, 8, 13].get(attempt as usize).copied();
    secs.map(Duration::from_secs).unwrap_or(cap).min(cap)
}

async fn sleep_until_deadline(d: Duration, deadline: tokio::time::Instant) -> bool {
    let now = tokio::time::Instant::now();
    if now >= deadline {
        return false;
    }
    tokio::time::sleep(d.min(deadline - now)).await;
    true
}

/// POST a dispatch (body from `workflow::dispatch_body`) and return the run it started. With
/// run details in the answer, the run is read by id; on a 204, runs of event
/// `workflow_dispatch` created after the request are polled until a new one appears.
pub async fn dispatch_and_find_run(
    gh: &GithubSource,
    body: &serde_json::Value,
    wait: Duration,
) -> Result<RunView, PipelineError> {
    // Clocks differ: look a minute back, and rule out runs that existed before we asked.
    let since = Utc::now() - chrono::Duration::seconds(60);
    let before: HashSet<u64> = gh
        .dispatch_runs_since(since)
        .await?
        .iter()
        .map(|r| r.id)
        .collect();
    let answer = gh.dispatch(body).await?;
    if let Some(id) = answer.run_id {
        return gh
            .run(id)
            .await
            .map_err(|source| PipelineError::RunUnreadable {
                run_id: id,
                html_url: answer.html_url,
                source,
            });
    }
    let deadline = tokio::time::Instant::now() + wait;
    let mut attempt = 0;
    loop {
        let runs = gh.dispatch_runs_since(since).await?;
        if let Some(run) = runs.into_iter().find(|r| !before.contains(&r.id)) {
            return Ok(run);
        }
        if !sleep_until_deadline(backoff(attempt, Duration::from_secs(10)), deadline).await {
            return Err(PipelineError::RunNotFound {
                secs: wait.as_secs(),
            });
        }
        attempt += 1;
    }
}

/// Follow a run until it completes, calling `on_update` with each new state of the run and
/// its jobs. Polls every `every` (conditional requests: an unchanged run costs no budget on
/// GitHub's side), waiting out rate limits.
pub async fn follow_run(
    gh: &GithubSource,
    run_id: u64,
    every: Duration,
    wait: Duration,
    mut on_update: impl FnMut(&RunView, &[JobView]),
) -> Result<RunView, PipelineError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut last: Option<(RunView, Vec<JobView>)> = None;
    loop {
        let polled =
            async { Ok::<_, GithubError>((gh.run(run_id).await?, gh.jobs(run_id).await?)) };
        match polled.await {
            Ok((run, jobs)) => {
                if last.as_ref() != Some(&(run.clone(), jobs.clone())) {
                    on_update(&run, &jobs);
                }
                if run.is_completed() {
                    return Ok(run);
                }
                last = Some((run, jobs));
            }
            Err(GithubError::RateLimited { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let delay = match gh.blocked_until(Utc::now()) {
            Some(until) => every.max(Duration::from_secs(
                (until - Utc::now()).num_seconds().max(1) as u64,
            )),
            None => every,
        };
        if !sleep_until_deadline(delay, deadline).await {
            let (number, status) = last
                .map(|(r, _)| (r.number, r.status))
                .unwrap_or((0, "unknown".into()));
            return Err(PipelineError::RunTimeout { number, status });
        }
    }
}

/// Wait until `repo:tag` resolves in the registry (HEAD requests with backoff), returning its
/// digest. A missing tag or a registry hiccup means "not yet"; refused access ends the wait.
pub async fn wait_for_image(
    registry: &RegistrySource,
    repo: &ImageRepo,
    tag: &Tag,
    deadline: tokio::time::Instant,
) -> Result<Digest, PipelineError> {
    let mut attempt = 0;
    loop {
        match registry.resolve(repo, tag).await {
            Ok(d) => return Ok(d),
            Err(RegistryError::NotFound { .. }) => {}
            Err(e) if e.is_transient() => {}
            Err(e) => return Err(e.into()),
        }
        if !sleep_until_deadline(backoff(attempt, Duration::from_secs(15)), deadline).await {
            return Err(PipelineError::ImageTimeout {
                image: repo.with_tag(tag),
            });
        }
        attempt += 1;
    }
}

/// What a finished, successful run produced for one service.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub run: RunView,
    pub tag: Tag,
    pub digest: Digest,
}

/// "The run succeeded and its image tag appeared in the registry": follow run `run_id` to its
/// end, fail unless it succeeded, then wait for the service's commit tag for the run's head
/// SHA (`main-<sha>` for ELT) to resolve. Both waits share `deadline`.
pub async fn wait_for_run_image(
    gh: &GithubSource,
    registry: &RegistrySource,
    service: &ServiceConfig,
    run_id: u64,
    poll_every: Duration,
    deadline: tokio::time::Instant,
    on_update: impl FnMut(&RunView, &[JobView]),
) -> Result<BuiltImage, PipelineError> {
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let run = follow_run(gh, run_id, poll_every, left, on_update).await?;
    if run.conclusion.as_deref() != Some("success") {
        return Err(PipelineError::RunFailed {
            number: run.number,
            conclusion: run
                .conclusion
                .clone()
                .unwrap_or_else(|| "without a result".into()),
            url: run.html_url.clone(),
        });
    }
    let tag = image_tag_for(service, &run)?;
    let digest = wait_for_image(registry, &service.image, &tag, deadline).await?;
    Ok(BuiltImage { run, tag, digest })
}

/// The commit tag a run's image carries: the service's first commit tag pattern applied to
/// the run's full head SHA.
pub fn image_tag_for(service: &ServiceConfig, run: &RunView) -> Result<Tag, PipelineError> {
    let no_tag = || PipelineError::NoCommitTag {
        number: run.number,
        sha: run.head_sha.clone(),
        service: service.name.clone(),
    };
    let sha = CommitSha::parse(&run.head_sha).map_err(|_| no_tag())?;
    service
        .commit_tags
        .first()
        .map(|p| p.tag_for(&sha))
        .ok_or_else(no_tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn delay_respects_base_budget_and_blocks() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let base = Duration::from_secs(90);
        let mut rate = RateLimit::default();
        assert_eq!(next_poll_delay(base, &rate, None, now), base);
        // 10 left for an hour: one every 720 s (keeping 5 in hand).
        rate.remaining = Some(10);
        rate.reset = Some(now + chrono::Duration::seconds(3600));
        assert_eq!(
            next_poll_delay(base, &rate, None, now),
            Duration::from_secs(720)
        );
        rate.remaining = Some(0);
        assert_eq!(
            next_poll_delay(base, &rate, None, now),
            Duration::from_secs(3600)
        );
        let until = now + chrono::Duration::seconds(300);
        assert_eq!(
            next_poll_delay(base, &RateLimit::default(), Some(until), now),
            Duration::from_secs(300)
        );
        // A plentiful budget leaves the base interval alone.
        rate.remaining = Some(4000);
        assert_eq!(next_poll_delay(base, &rate, None, now), base);
    }

    #[test]
    fn backoff_grows_then_caps() {
        let cap = Duration::from_secs(10);
        let seq: Vec<u64> = (0..7).map(|a| backoff(a, cap).as_secs()).collect();
        assert_eq!(seq, [2, 3, 5, 8, 10, 10, 10]);
    }
}
