//! Waiting until healthy (container healthcheck plus endpoints) and when the old version
//! stopped (the downtime's start).

use super::Engine;
use super::error::HealthError;
use super::seams::{Clock, Health, Host, Seams};
use crate::config::ReadyRule;
use crate::domain::{ContainerState, ContainerView, HealthState};
use std::time::{Duration, Instant};

impl<S: Seams> Engine<S> {
    /// Start watching for the moment the running containers of `services` stop, so the
    /// downtime starts when the old version really went away, not when compose started.
    pub(super) async fn watch_death(&self, services: &[String]) -> Option<DeathWatch> {
        let ids: Vec<String> = self
            .current_containers()
            .await
            .ok()?
            .into_iter()
            .filter(|(s, c)| services.contains(s) && c.state == ContainerState::Running)
            .map(|(_, c)| c.id)
            .collect();
        if ids.is_empty() {
            return None;
        }
        let host = self.host.clone();
        let since = chrono::Utc::now() - chrono::Duration::seconds(1);
        let limit = self.settings.recreate_timeout();
        Some(DeathWatch(tokio::spawn(async move {
            host.first_death(ids, since, limit).await
        })))
    }

    /// Poll until every service's container is running and healthy (by its own healthcheck,
    /// if it has one) and every configured endpoint answers OK `health_successes` times in a
    /// row. Returns when the streak began (the moment the app was first seen up).
    pub(super) async fn wait_healthy(
        &self,
        services: &[String],
        step: &'static str,
    ) -> Result<Instant, HealthError> {
        let timeout = self.settings.health_timeout;
        let interval = self.settings.health_interval;
        let needed = self.settings.health_successes;
        let deadline = self.clock.now() + timeout;
        let mut streak = 0u32;
        let mut streak_start = self.clock.now();
        // Since when every endpoint has answered OK without a break: the app serves again,
        // even while its container healthcheck still says "starting".
        let mut serving_since: Option<Instant> = None;
        let mut last_reason = HealthError::NotChecked;
        loop {
            let now = self.clock.now();
            let poll = self.health_once(services).await;
            serving_since = if poll.serving {
                Some(serving_since.unwrap_or(now))
            } else {
                None
            };
            match poll.verdict {
                Ok(()) => {
                    if streak == 0 {
                        streak_start = now;
                    }
                    streak += 1;
                    if streak >= needed {
                        return Ok(serving_since.unwrap_or(streak_start).min(streak_start));
                    }
                    self.progress(
                        step,
                        format!("healthy {streak}/{needed}"),
                        streak as u64,
                        needed as u64,
                    );
                }
                Err(reason) => {
                    streak = 0;
                    if reason.is_final() {
                        return Err(reason);
                    }
                    self.progress(
                        step,
                        format!(
                            "waiting ({}s/{}s): {reason}",
                            (timeout.saturating_sub(deadline.saturating_duration_since(now)))
                                .as_secs(),
                            timeout.as_secs()
                        ),
                        0,
                        needed as u64,
                    );
                    last_reason = reason;
                }
            }
            if self.clock.now() >= deadline {
                return Err(HealthError::Timeout {
                    secs: timeout.as_secs(),
                    last: Box::new(last_reason),
                });
            }
            // Confirmations come quicker than the first wait: the app is up, we only make sure.
            let pause = if streak > 0 { interval / 4 } else { interval };
            self.clock
                .sleep(pause.min(deadline.saturating_duration_since(self.clock.now())))
                .await;
        }
    }

    /// For the health step's summary: how the services with a `ready` rule were judged.
    pub(super) fn ready_note(&self) -> String {
        let with_rule: Vec<_> = self
            .settings
            .services
            .iter()
            .filter(|s| s.ready.is_some())
            .cloned()
            .collect();
        health_basis(&with_rule)
            .into_iter()
            .map(|(name, basis)| format!(" ({name}: {basis})"))
            .collect()
    }

    /// One container's verdict by its state and healthcheck (or, without one, its `ready`
    /// rule): the same for the stop-first wait and a start-first's new container.
    pub(super) fn container_verdict(
        &self,
        service: &str,
        c: &ContainerView,
    ) -> Result<(), HealthError> {
        let ready = self
            .settings
            .services
            .iter()
            .find(|x| x.name == service)
            .and_then(|x| x.ready);
        match c.state {
            // A service without a healthcheck of its own and a `ready` rule: up once it has
            // run that long; a restart (its process died) fails at once.
            _ if ready.is_some() && c.health == HealthState::None && c.restarts > 0 => {
                Err(HealthError::Restarted {
                    service: service.to_string(),
                    container: c.name.clone(),
                    restarts: c.restarts,
                })
            }
            ContainerState::Running => match c.health {
                HealthState::None if ready.is_some() => {
                    let want = ready.map(ReadyRule::duration).unwrap_or_default();
                    let ran = c
                        .started_at
                        .and_then(|t| self.clock.wall().duration_since(t.into()).ok())
                        .unwrap_or_default();
                    if ran >= want {
                        Ok(())
                    } else {
                        Err(HealthError::NotReadyYet {
                            service: service.to_string(),
                            ran_s: ran.as_secs(),
                            want_s: want.as_secs(),
                        })
                    }
                }
                HealthState::Healthy | HealthState::None => Ok(()),
                HealthState::Starting => Err(HealthError::Starting {
                    service: service.to_string(),
                }),
                // Not final: a model that loads for longer than the image's start period
                // turns healthy later, and the deadline is the operator's to set.
                HealthState::Unhealthy => Err(HealthError::Unhealthy {
                    service: service.to_string(),
                }),
            },
            ContainerState::Exited | ContainerState::Dead => Err(HealthError::Exited {
                service: service.to_string(),
                container: c.name.clone(),
                code: c.exit_code,
            }),
            other => Err(HealthError::State {
                service: service.to_string(),
                state: format!("{other:?}").to_lowercase(),
            }),
        }
    }

    /// One check of every service container and endpoint.
    pub(super) async fn health_once(&self, services: &[String]) -> HealthPoll {
        let containers = match self.current_containers().await {
            Ok(c) => c,
            Err(e) => {
                return HealthPoll {
                    verdict: Err(HealthError::Docker(e)),
                    serving: false,
                };
            }
        };
        let mut verdict: Result<(), HealthError> = Ok(());
        let mut running = true;
        for s in services {
            let Some(c) = containers.get(s) else {
                verdict = Err(HealthError::NoContainer { service: s.clone() });
                running = false;
                break;
            };
            let this = self.container_verdict(s, c);
            if c.state != ContainerState::Running {
                running = false;
            }
            if let Err(e) = this {
                let fatal = e.is_final();
                if verdict.is_ok() || fatal {
                    verdict = Err(e);
                }
                if fatal {
                    break;
                }
            }
        }
        if !running || verdict.as_ref().is_err_and(HealthError::is_final) {
            return HealthPoll {
                verdict,
                serving: false,
            };
        }
        // Endpoints are asked even while a healthcheck starts, to know when serving resumed.
        let results = self.health.check_all(&self.settings.endpoints).await;
        let bad = results.iter().find(|r| !r.ok);
        let serving = bad.is_none();
        if let (Some(bad), Ok(())) = (bad, &verdict) {
            verdict = Err(HealthError::Endpoint {
                name: bad.name.clone(),
                url: bad.url.clone(),
                error: bad.error.clone(),
            });
        }
        HealthPoll { verdict, serving }
    }
}

/// How health is judged for each of `services`, for the plan and the health step: the
/// image's healthcheck, or (where `ready` is set) running N s without a restart when it has none.
pub fn health_basis(services: &[crate::config::ServiceConfig]) -> Vec<(String, String)> {
    services
        .iter()
        .map(|s| {
            let basis = match s.ready {
                Some(ReadyRule::Running { secs }) => format!(
                    "its healthcheck, or running {secs}s without a restart if the image has none (ready = \"running:{secs}s\")"
                ),
                None => "its healthcheck, or running if the image has none".to_string(),
            };
            (s.name.clone(), basis)
        })
        .collect()
}

/// The instant the old containers died (from the engine's event), or when the recreate began
/// if that is unknown (nothing ran, or the event stream failed).
pub(super) async fn stopped_at(
    death: Option<DeathWatch>,
    fallback: Instant,
    wait: Duration,
    clock: &impl Clock,
) -> Instant {
    let Some(mut watch) = death else {
        return fallback;
    };
    // The death happened during the recreate, long before health; the event is there by now.
    let died = match tokio::time::timeout(wait, &mut watch.0).await {
        Ok(Ok(Some(t))) => t,
        _ => return fallback,
    };
    let ago = clock.wall().duration_since(died).unwrap_or_default();
    clock
        .now()
        .checked_sub(ago)
        .filter(|t| *t >= fallback)
        .unwrap_or(fallback)
}

/// One health poll: the verdict for the deploy, and whether every endpoint answered OK.
pub(super) struct HealthPoll {
    pub(super) verdict: Result<(), HealthError>,
    pub(super) serving: bool,
}

/// The task waiting for the old containers' `die` event; stopped when no longer needed.
pub(super) struct DeathWatch(tokio::task::JoinHandle<Option<std::time::SystemTime>>);

impl Drop for DeathWatch {
    fn drop(&mut self) {
        self.0.abort();
    }
}
