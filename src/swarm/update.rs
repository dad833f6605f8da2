//! A service update (the deploy) and Swarm's own rollback, followed to their end.
//!
//! The update sets the image to a digest reference and the update config from `[swarm]`
//! (start-first, parallelism, monitor, failure action rollback); Swarm then starts new tasks,
//! waits for them to run (healthy, where the image has a healthcheck) before stopping the old
//! ones, watches them for the monitor period and rolls back by itself when one fails. We only
//! follow `UpdateStatus` until it reaches a state Swarm does not leave without someone acting.

use super::{SwarmError, SwarmSource, map};
pub use crate::config::{FailureAction, UpdateOrder};
use crate::domain::SwarmUpdateState;
use bollard::auth::DockerCredentials;
use bollard::models::{
    ServiceSpec, ServiceSpecRollbackConfig, ServiceSpecRollbackConfigFailureActionEnum,
    ServiceSpecRollbackConfigOrderEnum, ServiceSpecUpdateConfig,
    ServiceSpecUpdateConfigFailureActionEnum, ServiceSpecUpdateConfigOrderEnum,
};
use bollard::query_parameters::UpdateServiceOptionsBuilder;
use chrono::{DateTime, Utc};
use std::time::{Duration, Instant};

/// How Swarm rolls the new image out (the service's UpdateConfig, and its RollbackConfig).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateSettings {
    /// Tasks updated at once.
    pub parallelism: u64,
    /// How long Swarm watches each new task for a failure before it counts as updated.
    pub monitor: Duration,
    pub failure_action: FailureAction,
    pub order: UpdateOrder,
}

impl UpdateSettings {
    pub fn from_config(c: &crate::config::SwarmConfig) -> Self {
        Self {
            parallelism: c.parallelism,
            monitor: Duration::from_secs(c.monitor_s),
            failure_action: c.failure_action,
            order: c.order,
        }
    }
}

impl Default for UpdateSettings {
    fn default() -> Self {
        Self {
            parallelism: 1,
            monitor: Duration::from_secs(10),
            failure_action: FailureAction::Rollback,
            order: UpdateOrder::StartFirst,
        }
    }
}

/// An update (or rollback) Swarm accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateStarted {
    pub service: String,
    /// The image in the spec before.
    pub from_image: String,
    /// The image asked for (for a rollback: unknown until Swarm restores the previous spec).
    pub to_image: Option<String>,
    /// When the service's last update before this one started: the follower waits for a
    /// newer one, so an old `completed` is never taken for this update's end.
    pub baseline: Option<DateTime<Utc>>,
    /// False when the spec already named this image: nothing to follow.
    pub changed: bool,
    pub warnings: Vec<String>,
}

/// One look at an update in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateProgress {
    pub state: Option<SwarmUpdateState>,
    pub message: Option<String>,
    /// The image the spec names now (after an automatic rollback: the old one again).
    pub image: String,
    /// Running tasks on that image, and how many are wanted.
    pub updated: u64,
    pub wanted: u64,
    /// Running tasks on another image (the old version, kept until the new one runs).
    pub others_running: u64,
}

impl UpdateProgress {
    pub fn describe(&self) -> String {
        let state = self.state.map_or("waiting", |s| s.as_str());
        let mut text = format!(
            "{state}: {}/{} running the new spec, {} running another image",
            self.updated, self.wanted, self.others_running
        );
        if let Some(m) = &self.message {
            text.push_str(&format!(" ({m})"));
        }
        text
    }
}

/// How an update ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateEnd {
    Completed {
        message: String,
    },
    /// Swarm rolled the service back (by itself after a failure, or a manual rollback).
    RolledBack {
        reason: String,
    },
    Paused {
        message: String,
    },
    RollbackPaused {
        message: String,
    },
    /// The spec already named the image: Swarm had nothing to do.
    Unchanged,
    /// A new task stayed pending because no node can take it (no free GPU for a start-first
    /// copy, a constraint nobody meets): Swarm would wait for ever, the old tasks still run.
    Unplaceable {
        reason: String,
    },
}

impl UpdateEnd {
    pub fn describe(&self) -> String {
        match self {
            UpdateEnd::Completed { message } => format!("update completed ({message})"),
            UpdateEnd::RolledBack { reason } => format!("rolled back by Swarm: {reason}"),
            UpdateEnd::Paused { message } => format!("update paused: {message}"),
            UpdateEnd::RollbackPaused { message } => format!("rollback paused: {message}"),
            UpdateEnd::Unchanged => "the service already runs this image".into(),
            UpdateEnd::Unplaceable { reason } => {
                format!("Swarm cannot place the new task: {reason}")
            }
        }
    }
}

/// How long a new task may wait for a node before the update is called stuck: a stop-first
/// update's new task waits briefly while the old one frees its GPU; one that waits longer
/// waits for something that will not come by itself.
pub const UNPLACEABLE_AFTER: Duration = Duration::from_secs(15);

/// The scheduler's words for a task no node can take (`no suitable node (insufficient
/// resources on 2 nodes)`).
pub fn is_unplaceable(error: &str) -> bool {
    error.starts_with("no suitable node")
}

fn credentials(creds: Option<(String, String)>) -> Option<DockerCredentials> {
    creds.map(|(username, password)| {
        if username == crate::sources::registry::IDENTITY_TOKEN_USER {
            DockerCredentials {
                identitytoken: Some(password),
                ..Default::default()
            }
        } else {
            DockerCredentials {
                username: Some(username),
                password: Some(password),
                ..Default::default()
            }
        }
    })
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn apply_settings(spec: &mut ServiceSpec, settings: &UpdateSettings) {
    let parallelism = i64::try_from(settings.parallelism).unwrap_or(i64::MAX);
    spec.update_config = Some(ServiceSpecUpdateConfig {
        parallelism: Some(parallelism),
        monitor: Some(nanos(settings.monitor)),
        failure_action: Some(match settings.failure_action {
            FailureAction::Rollback => ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK,
            FailureAction::Pause => ServiceSpecUpdateConfigFailureActionEnum::PAUSE,
            FailureAction::Continue => ServiceSpecUpdateConfigFailureActionEnum::CONTINUE,
        }),
        order: Some(match settings.order {
            UpdateOrder::StartFirst => ServiceSpecUpdateConfigOrderEnum::START_FIRST,
            UpdateOrder::StopFirst => ServiceSpecUpdateConfigOrderEnum::STOP_FIRST,
        }),
        ..spec.update_config.clone().unwrap_or_default()
    });
    // The rollback goes the same way (start-first keeps the running version up while the
    // restored one starts); a rollback that fails stops, it cannot roll back itself.
    spec.rollback_config = Some(ServiceSpecRollbackConfig {
        parallelism: Some(parallelism),
        monitor: Some(nanos(settings.monitor)),
        failure_action: Some(ServiceSpecRollbackConfigFailureActionEnum::PAUSE),
        order: Some(match settings.order {
            UpdateOrder::StartFirst => ServiceSpecRollbackConfigOrderEnum::START_FIRST,
            UpdateOrder::StopFirst => ServiceSpecRollbackConfigOrderEnum::STOP_FIRST,
        }),
        ..spec.rollback_config.clone().unwrap_or_default()
    });
}

impl SwarmSource {
    async fn spec_and_version(
        &self,
        service: &str,
    ) -> Result<(bollard::models::Service, ServiceSpec, i32), SwarmError> {
        let current = self
            .inspect(service)
            .await?
            .ok_or_else(|| SwarmError::NoService {
                service: service.to_string(),
                host: self.host().to_string(),
            })?;
        let spec = current.spec.clone().ok_or_else(|| SwarmError::Spec {
            service: service.to_string(),
            what: "the engine returned no spec".into(),
        })?;
        let version = current
            .version
            .as_ref()
            .and_then(|v| v.index)
            .and_then(|v| i32::try_from(v).ok())
            .ok_or_else(|| SwarmError::Spec {
                service: service.to_string(),
                what: "the engine returned no usable spec version".into(),
            })?;
        Ok((current, spec, version))
    }

    /// Point `service` at `image` (a digest reference) with the update config from
    /// `settings`. Swarm does the rollout; follow it with [`SwarmSource::follow_update`].
    pub async fn update_image(
        &self,
        service: &str,
        image: &str,
        settings: &UpdateSettings,
        creds: Option<(String, String)>,
    ) -> Result<UpdateStarted, SwarmError> {
        let (current, mut spec, version) = self.spec_and_version(service).await?;
        let from_image = map::service_image(&current);
        let baseline =
            map::update_status(current.update_status.as_ref()).and_then(|u| u.started_at);
        if from_image == image {
            return Ok(UpdateStarted {
                service: service.to_string(),
                from_image,
                to_image: Some(image.to_string()),
                baseline,
                changed: false,
                warnings: Vec::new(),
            });
        }
        let container = spec
            .task_template
            .as_mut()
            .and_then(|t| t.container_spec.as_mut())
            .ok_or_else(|| SwarmError::Spec {
                service: service.to_string(),
                what: "not a container service (no ContainerSpec)".into(),
            })?;
        container.image = Some(image.to_string());
        apply_settings(&mut spec, settings);
        let options = UpdateServiceOptionsBuilder::default()
            .version(version)
            .build();
        let response = self
            .call(
                self.client()
                    .update_service(service, spec, options, credentials(creds)),
            )
            .await?;
        Ok(UpdateStarted {
            service: service.to_string(),
            from_image,
            to_image: Some(image.to_string()),
            baseline,
            changed: true,
            warnings: response.warnings.unwrap_or_default(),
        })
    }

    /// Swarm's own rollback to the service's previous spec (`docker service rollback`).
    pub async fn rollback_service(&self, service: &str) -> Result<UpdateStarted, SwarmError> {
        let (current, spec, version) = self.spec_and_version(service).await?;
        let options = UpdateServiceOptionsBuilder::default()
            .version(version)
            .rollback("previous")
            .build();
        // The engine ignores the body of a rollback, but it must still be a valid spec.
        let response = self
            .call(self.client().update_service(service, spec, options, None))
            .await?;
        Ok(UpdateStarted {
            service: service.to_string(),
            from_image: map::service_image(&current),
            to_image: None,
            baseline: map::update_status(current.update_status.as_ref()).and_then(|u| u.started_at),
            changed: true,
            warnings: response.warnings.unwrap_or_default(),
        })
    }

    /// Follow an update until Swarm ends it (completed, rolled back, paused), every `poll`,
    /// for at most `limit`. `on_progress` hears each change.
    pub async fn follow_update(
        &self,
        started: &UpdateStarted,
        poll: Duration,
        limit: Duration,
        mut on_progress: impl FnMut(&UpdateProgress),
    ) -> Result<UpdateEnd, SwarmError> {
        if !started.changed {
            return Ok(UpdateEnd::Unchanged);
        }
        let service = started.service.as_str();
        let deadline = Instant::now() + limit;
        let mut last: Option<UpdateProgress> = None;
        let mut rollback_reason: Option<String> = None;
        let mut new_task_error: Option<String> = None;
        // Since when a new task has been waiting for a node, and the scheduler's words.
        let mut unplaced_since: Option<(Instant, String)> = None;
        loop {
            let (current, _, _) = self.spec_and_version(service).await?;
            let status = map::update_status(current.update_status.as_ref())
                // An update status from before ours says nothing about ours.
                .filter(|u| u.started_at != started.baseline);
            let image = map::service_image(&current);
            let tasks = self.tasks_of(service).await?;
            if let Some(to) = &started.to_image
                && let Some(err) = tasks
                    .iter()
                    .filter(|t| &t.image == to)
                    .find_map(|t| t.error.clone())
            {
                new_task_error = Some(err);
            }
            let unplaced = started.to_image.as_ref().and_then(|to| {
                tasks
                    .iter()
                    .filter(|t| &t.image == to && t.state == "pending")
                    .find_map(|t| t.error.clone().filter(|e| is_unplaceable(e)))
            });
            unplaced_since = match (unplaced, unplaced_since) {
                (Some(_), Some(since)) => Some(since),
                (Some(reason), None) => Some((Instant::now(), reason)),
                (None, _) => None,
            };
            if let Some((since, reason)) = &unplaced_since
                && since.elapsed() >= UNPLACEABLE_AFTER
                // Swarm's own rollback started: it is undoing the update already.
                && rollback_reason.is_none()
            {
                return Ok(UpdateEnd::Unplaceable {
                    reason: reason.clone(),
                });
            }
            let wanted = map::service_view(&current, 0).replicas.unwrap_or(1);
            let progress = UpdateProgress {
                state: status.as_ref().map(|s| s.state),
                message: status.as_ref().and_then(|s| s.message.clone()),
                updated: tasks
                    .iter()
                    .filter(|t| t.is_running() && t.image == image)
                    .count() as u64,
                wanted,
                others_running: tasks
                    .iter()
                    .filter(|t| t.is_running() && t.image != image)
                    .count() as u64,
                image,
            };
            if last.as_ref() != Some(&progress) {
                on_progress(&progress);
                last = Some(progress.clone());
            }
            if let Some(status) = status {
                let message = status.message.clone().unwrap_or_default();
                match status.state {
                    SwarmUpdateState::RollbackStarted => {
                        rollback_reason.get_or_insert(message);
                    }
                    SwarmUpdateState::Completed => return Ok(UpdateEnd::Completed { message }),
                    SwarmUpdateState::Paused => return Ok(UpdateEnd::Paused { message }),
                    SwarmUpdateState::RollbackPaused => {
                        return Ok(UpdateEnd::RollbackPaused { message });
                    }
                    SwarmUpdateState::RollbackCompleted => {
                        let mut reason = rollback_reason.unwrap_or(message);
                        if let Some(err) = new_task_error {
                            reason.push_str(&format!("; the new task: {err}"));
                        }
                        return Ok(UpdateEnd::RolledBack { reason });
                    }
                    SwarmUpdateState::Updating => {}
                }
            }
            if Instant::now() >= deadline {
                return Err(SwarmError::Timeout {
                    what: format!("the update of service {service}"),
                    secs: limit.as_secs(),
                    last: last.map_or_else(|| "nothing seen".into(), |p| p.describe()),
                });
            }
            tokio::time::sleep(poll).await;
        }
    }
}
