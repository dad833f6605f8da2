//! `elt-console watch`: the replacement for the cron job and auto-deploy script. At an interval
//! it asks the registry which digest each service's `latest` tag names (one HEAD request per
//! service), compares that with what the running containers were created from (for a Swarm
//! stack: what each service's spec names), and deploys a new one through the engine exactly as
//! `elt-console deploy --yes` would.
//!
//! Every decision is one line on stdout (JSON with `--json`) and one `watch` row in the store's
//! audit, whose target is the set of digests (`app@sha256:…`). The audit is also the memory
//! that keeps a digest from being deployed twice: once watch has deployed a set, or seen it
//! fail after it replaced the running version (rolled back), it leaves that set alone until
//! `latest` moves — also across restarts, and also when an operator has since rolled back.

use crate::collect::taghistory::deploy_target;
use crate::config::Config;
use crate::config::RuntimeKind;
use crate::deploy::{
    DeployEvent, DeployRequest, EXIT_REFUSED, Engine, StepState, Target, lock_stale_after,
    short_digest, state_dir,
};
use crate::domain::{ContainerState, ContainerView, Digest, FollowRule, Tag, TagView};
use crate::sources::docker::DockerSource;
use crate::sources::registry::{RegistryError, RegistrySource};
use crate::store::{Actor, DeployKind, DeployStatus, LockState, Store};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub const ACTION: &str = "watch";
/// Outcomes that mean "watch is done with this set of digests".
const REMEMBERED: [&str; 3] = ["deployed", "failed", "already-running"];
/// Routine `no-change` rows older than this are dropped from the audit.
const KEEP_NO_CHANGE_DAYS: i64 = 14;

use crate::exit_code::{FAILED as EXIT_DEPLOY_FAILED, UNREACHABLE as EXIT_UNREACHABLE};

pub struct WatchArgs {
    /// Seconds between checks (default `watch.interval_s`).
    pub interval_s: Option<u64>,
    /// One check (and deploy if needed), then exit.
    pub once: bool,
    pub json: bool,
    pub read_only: bool,
}

/// What `latest` and the running containers say for one service.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ServiceState {
    pub service: String,
    pub latest: Option<String>,
    /// The digest the running container's image is known by in this repository (None: no
    /// running container, or a local image that came from elsewhere).
    pub running: Option<String>,
}

/// One decision, as printed and audited.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub at: DateTime<Utc>,
    pub decision: &'static str,
    /// The digests of `latest`, `app@sha256:…` (comma-separated for several services).
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<i64>,
    pub detail: String,
    /// When the next check is due (None: watch is stopping).
    pub next_check_s: Option<u64>,
}

/// What one check ended with, for the next delay and `--once`'s exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Nothing to do, or done: the normal interval.
    Calm,
    /// The registry or the engine could not be read, or a pull failed: back off.
    Backoff,
    /// Another deploy holds the lock: try again at the next tick.
    Locked,
    /// A deploy failed (rolled back, or stopped before any change).
    DeployFailed,
    /// Something that waiting will not fix (no `latest` tag, refused access): reported, and
    /// checked again at the normal interval.
    Error,
    /// Stop was requested while deploying.
    Stopped,
}

struct Watcher {
    config: Config,
    registry: RegistrySource,
    /// Described tags kept between checks, per service, for `newest:` follow rules.
    tag_cache: HashMap<String, HashMap<Tag, TagView>>,
    /// Connected on first use and kept; dropped after an error so the next check reconnects.
    docker: Option<DockerSource>,
    store: Store,
    actor: Actor,
    json: bool,
    stop: CancellationToken,
}

fn out(line: &str) {
    // Never fail on output: journald or a closed pipe must not stop a deploy.
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

/// Which service one check deploys, in a deployment of several: the first whose followed
/// image differs from what runs (`moved`) and that watch has not already tried at that digest
/// (`remembered`); else the first that differs, so the check says why it waits. One service
/// per check, so a failing image of one service never holds back (or rolls back) another's.
fn to_deploy(moved: &[bool], remembered: &[bool]) -> Option<usize> {
    let moved_idx = || (0..moved.len()).filter(|i| moved[*i]);
    moved_idx()
        .find(|i| !remembered.get(*i).copied().unwrap_or(false))
        .or_else(|| moved_idx().next())
}

/// The items of `list` whose index `keep` accepts.
fn only<T>(list: Vec<T>, keep: impl Fn(usize) -> bool) -> Vec<T> {
    list.into_iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(_, x)| x)
        .collect()
}

/// The set key: `service@digest` for each service, in config order.
fn target_of(states: &[ServiceState]) -> String {
    states
        .iter()
        .map(|s| format!("{}@{}", s.service, s.latest.as_deref().unwrap_or("?")))
        .collect::<Vec<_>>()
        .join(",")
}

/// The running, long-lived containers of `service`.
fn running_of<'a>(list: &'a [ContainerView], service: &str) -> Vec<&'a ContainerView> {
    list.iter()
        .filter(|c| !c.oneoff && c.service == service && c.state == ContainerState::Running)
        .collect()
}

/// The digest a container's image is known by in `docker_name` (its repository), if any.
fn digest_in(c: &ContainerView, docker_name: &str) -> Option<String> {
    c.repo_digests.iter().find_map(|d| {
        d.split_once('@')
            .filter(|(r, _)| *r == docker_name)
            .map(|(_, d)| d.to_string())
    })
}

/// Whether every running container of the service was created from `digest`.
fn runs_digest(containers: &[&ContainerView], docker_name: &str, digest: &str) -> bool {
    !containers.is_empty()
        && containers.iter().all(|c| {
            c.repo_digests
                .iter()
                .any(|d| d.split_once('@') == Some((docker_name, digest)))
        })
}

/// Delay after `failures` checks in a row that had to back off: the interval doubled each
/// time, capped.
pub fn backoff_delay(interval: Duration, cap: Duration, failures: u32) -> Duration {
    crate::retry::pause_after(interval, cap, failures)
}

impl Watcher {
    fn decide(&self, mut d: Decision) {
        d.at = Utc::now();
        if let Err(e) = self.store.audit(
            &self.actor,
            ACTION,
            d.target.as_deref(),
            d.decision,
            Some(&d.detail),
        ) {
            tracing::warn!("audit: {e}");
        }
        if self.json {
            if let Ok(line) = serde_json::to_string(&d) {
                out(&line);
            }
        } else {
            out(&format!(
                "{} {}: {}{}",
                d.at.format("%Y-%m-%dT%H:%M:%SZ"),
                d.decision,
                d.detail,
                d.next_check_s
                    .map(|s| format!(" (next check in {s}s)"))
                    .unwrap_or_default()
            ));
        }
    }

    fn decision(&self, kind: &'static str, target: Option<String>, detail: String) -> Decision {
        Decision {
            at: Utc::now(),
            decision: kind,
            target,
            services: Vec::new(),
            deployment_id: None,
            detail,
            next_check_s: None,
        }
    }

    /// The tag each service follows (`deployment.services[].follow`) and its digest: for
    /// `latest`, one HEAD request; for `semver`, the tag list; for `newest:`, the tag list and
    /// the created dates of the newest tags (kept between checks).
    async fn latest(&mut self) -> Result<Vec<(String, Tag, Digest)>, RegistryError> {
        let mut found = Vec::new();
        for svc in &self.config.deployment.services {
            let cache = self.tag_cache.entry(svc.name.clone()).or_default();
            let tag = crate::collect::taghistory::follow_tag(&self.registry, svc, cache).await?;
            let digest = self.registry.resolve(&svc.image, &tag).await?;
            found.push((svc.name.clone(), tag, digest));
        }
        Ok(found)
    }

    /// What runs: the project's containers, or for a Swarm stack what each configured
    /// service's spec names (Swarm runs that once its update has ended, or rolled back).
    async fn containers(&mut self) -> Result<Vec<ContainerView>, String> {
        let docker = match self.docker.take() {
            Some(d) => d,
            None => DockerSource::connect_config(&self.config.docker)
                .await
                .map_err(|e| e.to_string())?,
        };
        let result = match self.config.deployment.runtime {
            RuntimeKind::Compose => docker
                .project_containers(&self.config.deployment.project)
                .await
                .map_err(|e| e.to_string()),
            RuntimeKind::Swarm => swarm_specs::running(&self.config, &docker).await,
        };
        // A failed read drops the connection: the next check connects again.
        if result.is_ok() {
            self.docker = Some(docker);
        }
        result
    }

    async fn check(&mut self, next: impl Fn(Verdict) -> Duration) -> Verdict {
        let secs = |v: Verdict| Some(next(v).as_secs());
        let latest = match self.latest().await {
            Ok(l) => l,
            Err(e) => {
                let backoff = e.is_transient();
                let kind = if backoff { "registry-backoff" } else { "error" };
                let verdict = if backoff {
                    Verdict::Backoff
                } else {
                    Verdict::Error
                };
                let mut d = self.decision(kind, None, e.to_string());
                d.next_check_s = secs(verdict);
                self.decide(d);
                return verdict;
            }
        };
        let containers = match self.containers().await {
            Ok(c) => c,
            Err(e) => {
                let mut d = self.decision(
                    "error",
                    None,
                    format!("cannot read the running containers: {e}"),
                );
                d.next_check_s = secs(Verdict::Backoff);
                self.decide(d);
                return Verdict::Backoff;
            }
        };

        let mut states = Vec::new();
        let mut all_run = true;
        let mut none_running = true;
        let mut moved = Vec::new();
        for (svc, (name, _, digest)) in self.config.deployment.services.iter().zip(&latest) {
            // Through a mirror, pulled images carry the mirror's name in their digests.
            let docker_name = self.config.registry.pull_name(&svc.image);
            let running = running_of(&containers, name);
            none_running &= running.is_empty();
            let runs = runs_digest(&running, &docker_name, digest.as_str());
            all_run &= runs;
            moved.push(!runs);
            states.push(ServiceState {
                service: name.clone(),
                latest: Some(digest.to_string()),
                running: running.iter().find_map(|c| digest_in(c, &docker_name)),
            });
        }
        // Each service follows its own rule: only a service whose followed image differs from
        // what runs is deployed, one per check, and remembered as `service@digest`; the others
        // keep running untouched (and differ still: the next check takes the next one).
        let (services, latest, states) = if all_run {
            (self.config.deployment.services.clone(), latest, states)
        } else {
            let remembered: Vec<bool> = states
                .iter()
                .map(|s| {
                    let key = target_of(std::slice::from_ref(s));
                    matches!(
                        self.store.last_audit(ACTION, &key, &REMEMBERED),
                        Ok(Some(_))
                    )
                })
                .collect();
            let pick = to_deploy(&moved, &remembered);
            let keep = |i: usize| Some(i) == pick;
            (
                only(self.config.deployment.services.clone(), keep),
                only(latest, keep),
                only(states, keep),
            )
        };
        let target = target_of(&states);
        let deploy_target = match deploy_target(&services, &latest) {
            Ok(t) => t,
            Err(e) => {
                let mut d = self.decision("error", Some(target), e.to_string());
                d.next_check_s = secs(Verdict::Error);
                self.decide(d);
                return Verdict::Error;
            }
        };
        let first = &latest[0].2;
        let summary = format!("{} = {}", latest[0].1, short_digest(first.as_str()));

        if all_run {
            let mut d = self.decision(
                "no-change",
                Some(target),
                format!("{summary}, which runs now"),
            );
            d.services = states;
            d.next_check_s = secs(Verdict::Calm);
            self.decide(d);
            return Verdict::Calm;
        }
        // Nothing runs (stopped for maintenance?): do not start it for a version that was
        // already deployed; a new `latest` is still deployed.
        if none_running {
            let last = self
                .store
                .deployments_with_status(&[DeployStatus::Succeeded], 1)
                .ok()
                .and_then(|l| l.into_iter().next());
            if let Some(dep) = last
                && dep.to.digest_str() == Some(first.as_str())
            {
                let mut d = self.decision(
                    "no-change",
                    Some(target),
                    format!(
                        "{summary}, deployed by #{}; no container runs now, so it is left stopped",
                        dep.id
                    ),
                );
                d.services = states;
                d.next_check_s = secs(Verdict::Calm);
                self.decide(d);
                return Verdict::Calm;
            }
        }
        match self.store.last_audit(ACTION, &target, &REMEMBERED) {
            Ok(Some(seen)) => {
                let kind = if seen.outcome == "failed" {
                    "skipped-failed"
                } else {
                    "skipped-done"
                };
                let mut d = self.decision(
                    kind,
                    Some(target),
                    format!(
                        "{summary} does not run, but watch already {} it at {} ({}); it waits until latest moves",
                        match seen.outcome.as_str() {
                            "failed" => "tried and failed to deploy",
                            "already-running" => "found it running",
                            _ => "deployed",
                        },
                        seen.at.format("%Y-%m-%d %H:%M:%SZ"),
                        seen.detail.as_deref().unwrap_or("-")
                    ),
                );
                d.services = states;
                d.next_check_s = secs(Verdict::Calm);
                self.decide(d);
                return Verdict::Calm;
            }
            Ok(None) => {}
            Err(e) => {
                // Without its memory watch could deploy a known-bad digest again: wait.
                let mut d =
                    self.decision("error", Some(target), format!("cannot read the audit: {e}"));
                d.next_check_s = secs(Verdict::Backoff);
                self.decide(d);
                return Verdict::Backoff;
            }
        }
        match self.store.lock_state(lock_stale_after(&self.config)) {
            Ok(LockState::Free) => {}
            Ok(state) => {
                let mut d = self.decision(
                    "skipped-locked",
                    Some(target),
                    format!(
                        "{summary} is new, but {}",
                        crate::deploy::describe_lock_refusal(&state)
                    ),
                );
                d.services = states;
                d.next_check_s = secs(Verdict::Locked);
                self.decide(d);
                return Verdict::Locked;
            }
            Err(e) => {
                let mut d = self.decision(
                    "error",
                    Some(target),
                    format!("cannot read the deploy lock: {e}"),
                );
                d.next_check_s = secs(Verdict::Backoff);
                self.decide(d);
                return Verdict::Backoff;
            }
        }
        let mut d = self.decision(
            "deploying",
            Some(target.clone()),
            format!(
                "{summary} differs from what runs ({}); deploying {deploy_target}",
                states
                    .iter()
                    .map(|s| format!(
                        "{}: {}",
                        s.service,
                        s.running.as_deref().map(short_digest).unwrap_or("none")
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        d.services = states.clone();
        self.decide(d);
        let names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
        self.deploy(states, &names, target, deploy_target, &next)
            .await
    }

    async fn deploy(
        &self,
        mut states: Vec<ServiceState>,
        services: &[String],
        target: String,
        deploy_target: Target,
        next: &impl Fn(Verdict) -> Duration,
    ) -> Verdict {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut config = self.config.clone();
        if let Err(e) = crate::deploy::select_services(&mut config, services) {
            let mut d = self.decision("error", Some(target), e.to_string());
            d.next_check_s = Some(next(Verdict::Error).as_secs());
            self.decide(d);
            return Verdict::Error;
        }
        let engine = match Engine::connect(config, tx, self.stop.clone()).await {
            Ok(e) => e,
            Err(e) => {
                let mut d = self.decision(
                    "error",
                    Some(target),
                    format!("cannot start the deploy: {e}"),
                );
                d.next_check_s = Some(next(Verdict::Backoff).as_secs());
                self.decide(d);
                return Verdict::Backoff;
            }
        };
        let (rx, subscribers) = crate::subscribers::attach(&self.config, rx).await;
        let printer = tokio::spawn(print_steps(rx, self.json));
        let outcome = engine
            .run(DeployRequest {
                kind: DeployKind::Deploy,
                target: deploy_target,
                force: false,
                dry_run: false,
            })
            .await;
        let _ = printer.await;
        for line in subscribers.finish().await.lines {
            eprintln!("elt-console: watch: {line}");
        }

        // `latest` may have moved between our HEAD and the engine's: remember what the engine
        // actually deployed (the store keeps the first service's side).
        let deployment = outcome
            .deployment_id
            .and_then(|id| self.store.deployment(id).ok().flatten());
        let mut target = target;
        if let (Some(dep), Some(first)) = (&deployment, states.first_mut())
            && let Some(d) = &dep.to.digest
            && first.latest.as_deref() != Some(d.as_str())
        {
            first.latest = Some(d.to_string());
            target = target_of(&states);
        }
        let failed_step = deployment.as_ref().and_then(|dep| {
            dep.steps
                .iter()
                .find(|s| s.status == "failed")
                .map(|s| s.name.clone())
        });
        let id_text = outcome
            .deployment_id
            .map(|id| format!("deployment #{id}: "))
            .unwrap_or_default();
        let (kind, verdict) = match outcome.status {
            _ if outcome.refused => ("skipped-locked", Verdict::Locked),
            DeployStatus::Succeeded => ("deployed", Verdict::Calm),
            DeployStatus::Skipped => ("already-running", Verdict::Calm),
            DeployStatus::Cancelled => ("cancelled", Verdict::Stopped),
            // The registry or the network let the deploy down before anything changed: try
            // again, later each time.
            DeployStatus::Failed
                if matches!(failed_step.as_deref(), Some("resolve" | "pull") | None) =>
            {
                ("failed-retry", Verdict::Backoff)
            }
            _ => ("failed", Verdict::DeployFailed),
        };
        let mut d = self.decision(kind, Some(target), format!("{id_text}{}", outcome.message));
        d.services = states;
        d.deployment_id = outcome.deployment_id;
        d.next_check_s = (!self.stop.is_cancelled()).then(|| next(verdict).as_secs());
        self.decide(d);
        if self.stop.is_cancelled() {
            Verdict::Stopped
        } else {
            verdict
        }
    }
}

/// The engine's finished steps, one line each, under the `deploying` line (text mode only:
/// JSON mode keeps to one line per decision; `history --json` has the steps).
async fn print_steps(mut rx: mpsc::UnboundedReceiver<DeployEvent>, json: bool) {
    while let Some(ev) = rx.recv().await {
        if json {
            continue;
        }
        if let DeployEvent::Step {
            seq,
            name,
            state,
            duration_ms,
            summary,
        } = ev
        {
            if state == StepState::Running || state == StepState::Skipped {
                continue;
            }
            out(&crate::deploy::command::step_line(
                seq,
                name,
                state,
                duration_ms,
                &summary,
            ));
        }
    }
}

/// One watcher per deployment folder: a second would race the first to each new digest.
struct InstanceLock {
    _file: std::fs::File,
}

/// Why this watcher cannot take the deployment folder's watch lock.
#[derive(Debug, thiserror::Error)]
enum InstanceLockError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot lock {}: {source}", .path.display())]
    Lock {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("another `elt-console watch` already watches this deployment ({} is locked)", .0.display())]
    Held(std::path::PathBuf),
}

fn take_instance_lock(config: &Config) -> Result<InstanceLock, InstanceLockError> {
    let dir = state_dir(config);
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| InstanceLockError::Io { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let path = dir.join("watch.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(&path))?;
    let locked =
        crate::sys::try_lock_exclusive(&file).map_err(|source| InstanceLockError::Lock {
            path: path.clone(),
            source,
        })?;
    if !locked {
        return Err(InstanceLockError::Held(path));
    }
    Ok(InstanceLock { _file: file })
}

/// SIGINT/SIGTERM stop the watcher (and cancel a deploy that has not yet touched the app; past
/// the recreate step the engine finishes or rolls back first). SIGHUP is ignored.
fn stop_on_signals(stop: CancellationToken, json: bool) {
    let stopped = stop.clone();
    // Listens for the watcher's whole life: the returned token is never cancelled.
    let _listening = crate::sys::on_stop_signals(stop, move |signal| {
        if !json && !stopped.is_cancelled() {
            eprintln!(
                "elt-console watch: {}: stopping (a deploy in progress stops only if it has not yet replaced the app, else it finishes or rolls back)",
                signal.name()
            );
        }
    });
}

pub async fn watch_command(config: Config, args: WatchArgs) -> i32 {
    let actor = Actor::current();
    let store = match Store::open(&state_dir(&config)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("elt-console: watch: {e}");
            return EXIT_UNREACHABLE;
        }
    };
    if args.read_only || config.ui.read_only {
        let why =
            "read-only mode (--read-only or ui.read_only) refuses every change, and watch deploys";
        let _ = store.audit(&actor, ACTION, None, "refused", Some(why));
        eprintln!("elt-console: watch refused: {why}");
        return EXIT_REFUSED;
    }
    let interval = Duration::from_secs(args.interval_s.unwrap_or(config.watch.interval_s));
    if interval.is_zero() {
        eprintln!("elt-console: watch: --interval must be above 0 seconds");
        return crate::exit_code::USAGE;
    }
    let cap = Duration::from_secs(config.watch.max_backoff_s).max(interval);
    let _instance = match take_instance_lock(&config) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("elt-console: watch: {e}");
            return EXIT_REFUSED;
        }
    };
    let stop = CancellationToken::new();
    stop_on_signals(stop.clone(), args.json);
    if let Err(e) = store.prune_audit(
        ACTION,
        "no-change",
        Utc::now() - chrono::Duration::days(KEEP_NO_CHANGE_DAYS),
    ) {
        tracing::warn!("pruning the audit: {e}");
    }
    let mut watcher = Watcher {
        registry: RegistrySource::new(&config.registry),
        tag_cache: HashMap::new(),
        docker: None,
        store,
        actor,
        json: args.json,
        stop: stop.clone(),
        config,
    };
    let services: Vec<String> = watcher
        .config
        .deployment
        .services
        .iter()
        .map(|s| match &s.follow {
            FollowRule::Latest => format!("{}:latest", s.image.docker_name()),
            rule => format!("{} ({rule})", s.image),
        })
        .collect();
    watcher.decide(watcher.decision(
        "started",
        None,
        format!(
            "watching {} every {}s (backing off up to {}s), project {}",
            services.join(", "),
            interval.as_secs(),
            cap.as_secs(),
            watcher.config.deployment.project
        ),
    ));

    let mut failures = 0u32;
    loop {
        let f = failures;
        let verdict = watcher
            .check(|v| match v {
                Verdict::Backoff => backoff_delay(interval, cap, f + 1),
                _ => interval,
            })
            .await;
        failures = if verdict == Verdict::Backoff {
            failures.saturating_add(1)
        } else {
            0
        };
        if args.once || verdict == Verdict::Stopped || stop.is_cancelled() {
            if !args.once || stop.is_cancelled() {
                watcher.decide(watcher.decision("stopped", None, "stop requested".into()));
            }
            return match verdict {
                Verdict::Calm | Verdict::Stopped => 0,
                Verdict::Locked => EXIT_REFUSED,
                Verdict::DeployFailed => EXIT_DEPLOY_FAILED,
                Verdict::Backoff | Verdict::Error => EXIT_UNREACHABLE,
            };
        }
        // GitHub statuses a deploy could not deliver are retried on each tick.
        for line in crate::gh_deployments::flush_pending(&watcher.config).await {
            eprintln!("elt-console: watch: {line}");
        }
        let delay = if failures > 0 {
            backoff_delay(interval, cap, failures)
        } else {
            interval
        };
        tokio::select! {
            _ = stop.cancelled() => {
                watcher.decide(watcher.decision("stopped", None, "stop requested".into()));
                return 0;
            }
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

mod swarm_specs;
#[cfg(test)]
mod tests;
