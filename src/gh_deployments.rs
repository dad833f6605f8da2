//! Deploys recorded as GitHub Deployments: a subscriber of the engine's `DeployEvent`s.
//!
//! `DeploymentMapper` turns events into `Intent`s (pure, tested on the fake engine); `apply`
//! queues them in the store's GitHub outbox; `flush` sends what is due, in order, with bounded
//! retries and backoff. A GitHub outage or a token without `deployments: write` never blocks or
//! fails a deploy: the statuses wait in the store (`history` lists them) and go out on a later
//! flush (the next deploy, or `watch`'s next tick).
//!
//! Which deployment is which on GitHub:
//! - a deploy (or a manual rollback) that gets as far as changing the server (its backup,
//!   migrate or recreate step starts) is a deployment of the target's commit: `in_progress`,
//!   then `success` or `failure` (naming the failed step);
//! - an automatic rollback is a second deployment, of the commit that ran before;
//! - a success marks the deployment it replaced (the environment's last successful one)
//!   `inactive`.
//!
//! A deploy that stops before touching the server (resolve or pull failed, nothing to do) leaves
//! GitHub alone: the environment still runs what it ran.

use crate::config::Config;
use crate::deploy::{DeployEvent, StepState};
pub use crate::domain::is_environment_name;
use crate::sources::github::{GithubError, GithubSource};
use crate::store::{DeployKind, DeployStatus, ImageSide, Store};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// What the event stream asks of GitHub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    Create {
        key: String,
        deployment_id: Option<i64>,
        sha: String,
        description: String,
    },
    Status {
        key: String,
        state: &'static str,
        description: String,
    },
    /// `key` succeeded: the environment's previous successful deployment becomes `inactive`.
    Replaced { key: String, description: String },
    /// Nothing can be recorded on GitHub for this deploy, and why (said once).
    Unrecordable { reason: String },
}

fn side_name(s: &ImageSide) -> String {
    s.tag_str()
        .map(str::to_string)
        .or_else(|| s.image.clone())
        .unwrap_or_else(|| "unknown".into())
}

/// Follows one run's events (see the module's comment for the mapping).
pub struct DeploymentMapper {
    run_at: DateTime<Utc>,
    started: Option<(Option<i64>, DeployKind, String)>,
    from: Option<ImageSide>,
    to: Option<ImageSide>,
    current: Option<String>,
    rollback: Option<String>,
    /// The deployment's own outcome was posted when the automatic rollback began.
    closed: bool,
    failed: Option<(String, String)>,
    unrecordable: bool,
}

impl Default for DeploymentMapper {
    fn default() -> Self {
        Self {
            run_at: Utc::now(),
            started: None,
            from: None,
            to: None,
            current: None,
            rollback: None,
            closed: false,
            failed: None,
            unrecordable: false,
        }
    }
}

impl DeploymentMapper {
    pub fn new() -> Self {
        Self::default()
    }

    fn key(&self, suffix: &str) -> String {
        let id = self
            .started
            .as_ref()
            .and_then(|s| s.0)
            // Without a store row (it could not be written) the key must still be unique.
            .map_or_else(
                || format!("unrecorded-{}", self.run_at.timestamp_millis()),
                |i| i.to_string(),
            );
        format!("{id}{suffix}")
    }

    fn failed_text(&self) -> String {
        match &self.failed {
            Some((step, summary)) => format!("{step} failed: {summary}"),
            None => "failed".into(),
        }
    }

    pub fn feed(&mut self, event: &DeployEvent) -> Vec<Intent> {
        let mut out = Vec::new();
        match event {
            DeployEvent::Started {
                deployment_id,
                kind,
                actor,
                ..
            } => self.started = Some((*deployment_id, *kind, actor.clone())),
            DeployEvent::Sides { from, to } => {
                self.from = Some(from.clone());
                if let Some(to) = to {
                    self.to = Some(to.clone());
                }
            }
            DeployEvent::Step {
                name: name @ ("backup" | "migrate" | "recreate"),
                state: StepState::Running,
                ..
            } if self.current.is_none() && !self.unrecordable => {
                let Some((id, kind, actor)) = self.started.clone() else {
                    return out;
                };
                let to = self.to.clone().unwrap_or_default();
                match &to.sha {
                    Some(sha) => {
                        let key = self.key("");
                        out.push(Intent::Create {
                            key: key.clone(),
                            deployment_id: id,
                            sha: sha.to_string(),
                            description: crate::sources::github::clip_description(&format!(
                                "{} {} by {}",
                                kind.as_str(),
                                side_name(&to),
                                actor.split(" (").next().unwrap_or(&actor)
                            )),
                        });
                        out.push(Intent::Status {
                            key: key.clone(),
                            state: "in_progress",
                            description: format!("{name} of {}", side_name(&to)),
                        });
                        self.current = Some(key);
                    }
                    None => {
                        self.unrecordable = true;
                        out.push(Intent::Unrecordable {
                            reason: format!(
                                "the image {} names no commit (no org.opencontainers.image.revision label, no commit tag), so no GitHub deployment is recorded",
                                side_name(&to)
                            ),
                        });
                    }
                }
            }
            DeployEvent::Step {
                name,
                state: StepState::Failed,
                summary,
                ..
            } if self.failed.is_none() => {
                self.failed = Some(((*name).to_string(), summary.clone()));
            }
            DeployEvent::Step {
                name: "rollback",
                state: StepState::Running,
                ..
            } => {
                let Some(current) = self.current.clone() else {
                    return out;
                };
                out.push(Intent::Status {
                    key: current,
                    state: "failure",
                    description: crate::sources::github::clip_description(&format!(
                        "{}; rolling back",
                        self.failed_text()
                    )),
                });
                self.closed = true;
                let from = self.from.clone().unwrap_or_default();
                if let Some(sha) = &from.sha {
                    let key = self.key("-rollback");
                    out.push(Intent::Create {
                        key: key.clone(),
                        deployment_id: self.started.as_ref().and_then(|s| s.0),
                        sha: sha.to_string(),
                        description: format!("automatic rollback to {}", side_name(&from)),
                    });
                    out.push(Intent::Status {
                        key: key.clone(),
                        state: "in_progress",
                        description: format!("rolling back to {}", side_name(&from)),
                    });
                    self.rollback = Some(key);
                }
            }
            DeployEvent::Finished {
                status, message, ..
            } => {
                let to = self.to.clone().unwrap_or_default();
                let from = self.from.clone().unwrap_or_default();
                let clip = crate::sources::github::clip_description;
                if let Some(rb) = self.rollback.clone() {
                    if *status == DeployStatus::RolledBack {
                        out.push(Intent::Status {
                            key: rb.clone(),
                            state: "success",
                            description: clip(&format!(
                                "{} healthy again after {} failed",
                                side_name(&from),
                                side_name(&to)
                            )),
                        });
                        out.push(Intent::Replaced {
                            key: rb,
                            description: format!(
                                "replaced by the rollback to {}",
                                side_name(&from)
                            ),
                        });
                    } else {
                        out.push(Intent::Status {
                            key: rb,
                            state: "failure",
                            description: clip(&format!("rollback failed: {message}")),
                        });
                    }
                } else if let Some(current) = self.current.clone().filter(|_| !self.closed) {
                    match status {
                        DeployStatus::Succeeded | DeployStatus::Skipped => {
                            out.push(Intent::Status {
                                key: current.clone(),
                                state: "success",
                                description: clip(&format!("{} is live", side_name(&to))),
                            });
                            out.push(Intent::Replaced {
                                key: current,
                                description: clip(&format!("replaced by {}", side_name(&to))),
                            });
                        }
                        DeployStatus::Cancelled => out.push(Intent::Status {
                            key: current,
                            state: "error",
                            description: "cancelled".into(),
                        }),
                        _ => out.push(Intent::Status {
                            key: current,
                            state: "failure",
                            description: clip(&self.failed_text()),
                        }),
                    }
                }
            }
            _ => {}
        }
        out
    }
}

/// Where statuses go and what they carry.
#[derive(Debug, Clone)]
pub struct Target {
    pub environment: String,
    pub environment_url: String,
}

impl Target {
    pub fn from_config(config: &Config) -> Option<Self> {
        config.github.deployments.then(|| Self {
            environment: config.github.environment.clone(),
            environment_url: config.github.environment_url.clone(),
        })
    }
}

/// Queue intents in the store's outbox. Returns the warnings to show (at most one per run).
pub fn apply(store: &Store, target: &Target, intents: &[Intent]) -> Vec<String> {
    let mut warnings = Vec::new();
    for intent in intents {
        let written = match intent {
            Intent::Create {
                key,
                deployment_id,
                sha,
                description,
            } => store.gh_queue_deployment(
                key,
                *deployment_id,
                &target.environment,
                sha,
                description,
            ),
            Intent::Status {
                key,
                state,
                description,
            } => store.gh_queue_status(key, state, description, &target.environment_url),
            Intent::Replaced { key, description } => {
                match store.gh_active_deployment(&target.environment, key) {
                    Ok(Some(old)) => store.gh_queue_status(
                        &old.key,
                        "inactive",
                        description,
                        &target.environment_url,
                    ),
                    Ok(None) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Intent::Unrecordable { reason } => {
                warnings.push(format!("GitHub Deployments: {reason}"));
                Ok(())
            }
        };
        if let Err(e) = written {
            warnings.push(format!(
                "GitHub Deployments: cannot queue in the store: {e}"
            ));
        }
    }
    warnings
}

/// Attempts per create or status before it is given up (shown in `history`).
pub const MAX_ATTEMPTS: u32 = 8;

/// The wait before attempt `attempts + 1`: 10 s doubling, at most 30 minutes.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(10u64.saturating_mul(1 << attempts.min(8)).min(1800))
}

/// What one flush did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Flushed {
    pub sent: u32,
    /// Still queued (will be retried).
    pub waiting: u32,
    /// Warnings for the operator (a token that may not create deployments; given-up items).
    pub warnings: Vec<String>,
}

enum Failure {
    /// Will not pass by retrying: the token's rights, or GitHub refused the request.
    Denied,
    Refused,
    Retry,
}

fn classify(e: &GithubError) -> Failure {
    match e {
        GithubError::Forbidden(_) | GithubError::NotFound { .. } | GithubError::Unauthorized(_) => {
            Failure::Denied
        }
        GithubError::Validation(_) => Failure::Refused,
        _ => Failure::Retry,
    }
}

/// Why a flush stopped: the outbox could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    #[error("the deploy store's lock is poisoned")]
    Poisoned,
    #[error(transparent)]
    Store(crate::store::StoreError),
}

/// Send what is due (everything, when `all`) in the order it was queued: a status goes after
/// its deployment's create and after the statuses queued before it (so a replaced deployment
/// turns `inactive` after its successor's `success`). Stops at the first sign that GitHub is
/// unreachable, so an outage costs one request per flush.
pub async fn flush(
    store: &std::sync::Mutex<Store>,
    gh: &GithubSource,
    all: bool,
) -> Result<Flushed, FlushError> {
    // The store is locked for each short read or write only, never across a request.
    let with = |f: &mut dyn FnMut(&Store) -> Result<(), crate::store::StoreError>| {
        let s = store.lock().map_err(|_| FlushError::Poisoned)?;
        f(&s).map_err(FlushError::Store)
    };
    let mut report = Flushed::default();
    let now = Utc::now();
    let due = |at: DateTime<Utc>| all || at <= now;
    let next = |attempts: u32| {
        (attempts + 1 < MAX_ATTEMPTS).then(|| {
            now + chrono::Duration::from_std(backoff(attempts)).unwrap_or(chrono::Duration::MAX)
        })
    };
    let mut queued = Vec::new();
    with(&mut |s| {
        queued = s.gh_queued_statuses_all()?;
        Ok(())
    })?;
    // Deployments whose next status must wait (an earlier one of theirs is still queued).
    let mut held: std::collections::HashSet<String> = std::collections::HashSet::new();
    for status in queued {
        if held.contains(&status.key) {
            continue;
        }
        let mut d = None;
        with(&mut |s| {
            d = s.gh_deployment(&status.key)?;
            Ok(())
        })?;
        let Some(d) = d else { continue };
        let github_id = match (d.state.as_str(), d.github_id) {
            ("created", Some(id)) => id,
            ("pending", _) => {
                if !due(d.next_attempt_at) {
                    report.waiting += 1;
                    held.insert(d.key.clone());
                    continue;
                }
                match gh
                    .create_deployment(&d.sha, &d.environment, &d.description)
                    .await
                {
                    Ok(id) => {
                        with(&mut |s| s.gh_created(&d.key, id))?;
                        report.sent += 1;
                        id
                    }
                    Err(e) => {
                        let text = e.to_string();
                        let (at, state) = match classify(&e) {
                            Failure::Denied => {
                                report.warnings.push(format!(
                                    "GitHub Deployments: not recorded on GitHub ({text}); the token needs `deployments: write` on {} (or set github.deployments = false)",
                                    gh.repo()
                                ));
                                (None, "denied")
                            }
                            Failure::Refused => {
                                report.warnings.push(format!(
                                    "GitHub Deployments: GitHub refused the deployment of {}: {text}",
                                    d.sha
                                ));
                                (None, "given-up")
                            }
                            Failure::Retry => {
                                let at = next(d.attempts);
                                if at.is_none() {
                                    report.warnings.push(format!(
                                        "GitHub Deployments: gave up creating the deployment of {} after {MAX_ATTEMPTS} attempts: {text}",
                                        d.sha
                                    ));
                                }
                                with(&mut |s| s.gh_create_failed(&d.key, &text, at, "given-up"))?;
                                report.waiting += 1;
                                return Ok(report);
                            }
                        };
                        with(&mut |s| s.gh_create_failed(&d.key, &text, at, state))?;
                        held.insert(d.key.clone());
                        continue;
                    }
                }
            }
            _ => continue,
        };
        if !due(status.next_attempt_at) {
            report.waiting += 1;
            held.insert(d.key.clone());
            continue;
        }
        match gh
            .create_deployment_status(
                github_id,
                &status.state,
                &status.description,
                &status.environment_url,
            )
            .await
        {
            Ok(()) => {
                with(&mut |s| s.gh_status_sent(status.id))?;
                report.sent += 1;
            }
            Err(e) => {
                let text = e.to_string();
                if let Failure::Retry = classify(&e) {
                    let at = next(status.attempts);
                    with(&mut |s| s.gh_status_failed(status.id, &text, at))?;
                    report.waiting += 1;
                    return Ok(report);
                }
                with(&mut |s| s.gh_status_failed(status.id, &text, None))?;
                report.warnings.push(format!(
                    "GitHub Deployments: status {} of deployment {github_id} refused: {text}",
                    status.state
                ));
            }
        }
    }
    Ok(report)
}

/// Send what is queued from earlier runs (a start, `watch`'s tick): only when there is
/// something due, so an empty outbox costs no token lookup and no request.
pub async fn flush_pending(config: &Config) -> Vec<String> {
    let Ok(store) = Store::open(&crate::deploy::state_dir(config)) else {
        return Vec::new();
    };
    let now = Utc::now();
    let due = match store.gh_open_deployments() {
        Ok(open) => open.iter().any(|d| {
            d.next_attempt_at <= now
                || store
                    .gh_queued_statuses(&d.key)
                    .map(|s| s.first().is_some_and(|s| s.next_attempt_at <= now))
                    .unwrap_or(false)
        }),
        Err(_) => false,
    };
    if !due {
        return Vec::new();
    }
    let gh = match crate::sources::github::resolve_token(&config.github).await {
        Ok((Some(token), source)) => {
            match GithubSource::with_token(&config.github, Some(token), source) {
                Ok(g) => g,
                Err(e) => return vec![format!("GitHub Deployments: {e}")],
            }
        }
        // Queued while a token was there; they wait for it to come back.
        Ok((None, _)) => return Vec::new(),
        Err(e) => return vec![format!("GitHub Deployments: {e}")],
    };
    match flush(&std::sync::Mutex::new(store), &gh, false).await {
        Ok(r) => r.warnings,
        Err(e) => vec![format!("GitHub Deployments: {e}")],
    }
}

/// `history`'s lines about what GitHub did not get for a deployment.
pub fn undelivered_lines(store: &Store, deployment_id: i64) -> Vec<String> {
    store
        .gh_undelivered(deployment_id)
        .unwrap_or_default()
        .into_iter()
        .map(|u| {
            let what = match u.outcome.as_str() {
                "queued" => format!("queued, {} attempt(s) so far", u.attempts),
                "dropped" => "dropped: the deployment could not be created".into(),
                _ => format!("given up after {} attempt(s)", u.attempts),
            };
            format!(
                "GitHub status {} (deployment {}) not delivered: {what}{}",
                u.status,
                u.key,
                u.error.map(|e| format!(" ({e})")).unwrap_or_default()
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_names_and_backoff() {
        assert!(is_environment_name("production"));
        assert!(is_environment_name("staging/eu-1"));
        assert!(!is_environment_name(""));
        assert!(!is_environment_name("prod\nx"));
        assert_eq!(backoff(0), Duration::from_secs(10));
        assert_eq!(backoff(1), Duration::from_secs(20));
        assert_eq!(backoff(20), Duration::from_secs(1800));
    }
}
