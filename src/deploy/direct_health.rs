//! The health of one new container, asked directly (not through the proxy): its state, its
//! healthcheck (or `ready` rule), a GPU out-of-memory error in its log, and every configured
//! endpoint at the container's own address. Used by the start-first strategy before the switch
//! (until healthy) and after it (the watch that may switch back).

use super::Engine;
use super::error::HealthError;
use super::seams::{Clock, Health, Host, Seams};
use crate::config::HealthEndpoint;
use crate::domain::ContainerView;
use std::net::SocketAddr;
use std::time::Instant;

/// Lines of the new container's log read for a GPU out-of-memory error.
const OOM_LOG_LINES: u32 = 60;

/// How the wait for the new container ended, when it did not turn healthy.
pub(super) enum WaitEnd {
    Cancelled,
    Unhealthy(HealthError),
}

impl<S: Seams> Engine<S> {
    /// Poll the new container until it is healthy `health_successes` times in a row, fails for
    /// good, the health timeout passes, or the operator cancels.
    pub(super) async fn wait_container_healthy(
        &self,
        service: &str,
        new: &ContainerView,
        endpoints: &[HealthEndpoint],
    ) -> Result<(), WaitEnd> {
        let timeout = self.settings.health_timeout;
        let interval = self.settings.health_interval;
        let needed = self.settings.health_successes;
        let deadline = self.clock.now() + timeout;
        let mut streak = 0u32;
        let mut last = HealthError::NotChecked;
        loop {
            if self.interrupt.is_cancelled() {
                return Err(WaitEnd::Cancelled);
            }
            let now = self.clock.now();
            match self.container_poll(service, new, endpoints).await {
                Ok(()) => {
                    streak += 1;
                    if streak >= needed {
                        return Ok(());
                    }
                    self.progress(
                        "health",
                        format!("{} healthy {streak}/{needed}", new.name),
                        streak as u64,
                        needed as u64,
                    );
                }
                Err(reason) => {
                    streak = 0;
                    if reason.is_final() {
                        return Err(WaitEnd::Unhealthy(reason));
                    }
                    self.progress(
                        "health",
                        format!(
                            "{} waiting ({}s/{}s): {reason}",
                            new.name,
                            timeout
                                .saturating_sub(deadline.saturating_duration_since(now))
                                .as_secs(),
                            timeout.as_secs()
                        ),
                        0,
                        needed as u64,
                    );
                    last = reason;
                }
            }
            if self.clock.now() >= deadline {
                return Err(WaitEnd::Unhealthy(HealthError::Timeout {
                    secs: timeout.as_secs(),
                    last: Box::new(last),
                }));
            }
            let pause = if streak > 0 { interval / 4 } else { interval };
            self.clock
                .sleep(pause.min(deadline.saturating_duration_since(self.clock.now())))
                .await;
        }
    }

    /// After the switch: watch the new container for `max(drain_s, monitor_s)`. Failing
    /// `health_successes` polls in a row (or for good at once) ends the watch with the reason
    /// and when the failures began.
    pub(super) async fn watch_after_switch(
        &self,
        service: &str,
        new: &ContainerView,
        endpoints: &[HealthEndpoint],
    ) -> Result<(), (HealthError, Instant)> {
        let span = self.settings.drain.max(self.settings.monitor);
        let start = self.clock.now();
        let end = start + span;
        let needed = self.settings.health_successes;
        let mut failing: Option<(u32, Instant)> = None;
        while self.clock.now() < end {
            let pause = self
                .settings
                .health_interval
                .min(end.saturating_duration_since(self.clock.now()));
            self.clock.sleep(pause).await;
            let now = self.clock.now();
            match self.container_poll(service, new, endpoints).await {
                Ok(()) => failing = None,
                Err(reason) => {
                    let (count, since) = failing.map_or((1, now), |(n, s)| (n + 1, s));
                    if reason.is_final() || count >= needed {
                        return Err((reason, since));
                    }
                    failing = Some((count, since));
                }
            }
            let done = now.saturating_duration_since(start);
            self.progress(
                "rollback",
                format!(
                    "watching {} after the switch ({}s/{}s); the old version drains{}",
                    new.name,
                    done.as_secs(),
                    span.as_secs(),
                    if done >= self.settings.drain {
                        " (drained)"
                    } else {
                        ""
                    }
                ),
                done.as_secs(),
                span.as_secs(),
            );
        }
        Ok(())
    }

    /// One look at the new container: its state, healthcheck (or `ready` rule), a GPU
    /// out-of-memory error in its log, then the endpoints at its own address.
    async fn container_poll(
        &self,
        service: &str,
        new: &ContainerView,
        endpoints: &[HealthEndpoint],
    ) -> Result<(), HealthError> {
        let list = self.host.containers(&self.settings.project).await?;
        let Some(c) = list.into_iter().find(|c| c.id == new.id) else {
            return Err(HealthError::NoContainer {
                service: service.to_string(),
            });
        };
        let verdict = self.container_verdict(service, &c);
        if verdict.is_err() {
            if let Some(line) = self.out_of_memory_line(&c).await {
                return Err(HealthError::OutOfMemory {
                    service: service.to_string(),
                    container: c.name.clone(),
                    line,
                });
            }
            return verdict;
        }
        let results = self.health.check_all(endpoints).await;
        match results.into_iter().find(|r| !r.ok) {
            Some(bad) => Err(HealthError::Endpoint {
                name: bad.name,
                url: bad.url,
                error: bad.error,
            }),
            None => Ok(()),
        }
    }

    /// The line of the container's log that says the GPU ran out of memory, if one does.
    async fn out_of_memory_line(&self, c: &ContainerView) -> Option<String> {
        let log = self.host.logs_tail(&c.id, OOM_LOG_LINES).await.ok()?;
        log.lines()
            .find(|l| is_out_of_memory(l))
            .map(|l| l.trim().chars().take(200).collect())
    }
}

/// CUDA's and the frameworks' words for a failed GPU allocation.
pub(super) fn is_out_of_memory(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    l.contains("cuda out of memory")
        || l.contains("cuda_error_out_of_memory")
        || l.contains("cudaerrormemoryallocation")
        || (l.contains("out of memory") && (l.contains("cuda") || l.contains("gpu")))
}

/// The endpoints of `service`, asked of its new container at `addr` instead of through the
/// proxy: path and query kept, scheme plain HTTP (TLS ends at the proxy). The service's
/// endpoints are those named after it, or every one when none is; the others belong to services
/// this deploy does not move and are asked where they are.
pub(super) fn direct_endpoints(
    endpoints: &[HealthEndpoint],
    service: &str,
    addr: SocketAddr,
) -> Vec<HealthEndpoint> {
    let named = endpoints.iter().any(|e| e.name == service);
    endpoints
        .iter()
        .filter_map(|e| {
            if named && e.name != service {
                return Some(e.clone());
            }
            let mut url = url::Url::parse(&e.url).ok()?;
            url.set_scheme("http").ok()?;
            url.set_ip_host(addr.ip()).ok()?;
            url.set_port(Some(addr.port())).ok()?;
            let mut direct = e.clone();
            direct.name = format!("{} (direct)", e.name);
            direct.url = url.to_string();
            Some(direct)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_asked_of_the_container_directly() {
        let e = HealthEndpoint {
            name: "app".into(),
            url: "https://elt.example.com/api/health?deep=1".into(),
            timeout_ms: 2000,
        };
        let tts = HealthEndpoint {
            name: "tts".into(),
            url: "http://127.0.0.1:3001/api/tts/health".into(),
            timeout_ms: 2000,
        };
        let addr = "127.0.0.1:49153".parse().unwrap();
        let direct = direct_endpoints(&[e.clone(), tts.clone()], "app", addr);
        assert_eq!(direct[0].url, "http://127.0.0.1:49153/api/health?deep=1");
        assert_eq!(direct[0].name, "app (direct)");
        // Another service's endpoint is asked where it is.
        assert_eq!(direct[1].url, tts.url);
        // None named after the service: every endpoint is the service's.
        let direct = direct_endpoints(&[tts], "app", addr);
        assert_eq!(direct[0].url, "http://127.0.0.1:49153/api/tts/health");
    }

    #[test]
    fn cuda_out_of_memory_lines_are_recognised() {
        assert!(is_out_of_memory(
            "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
        ));
        assert!(is_out_of_memory(
            "RuntimeError: CUDA error: CUDA_ERROR_OUT_OF_MEMORY"
        ));
        assert!(!is_out_of_memory("GET /api/health 200 (memory 12 MB)"));
        assert!(!is_out_of_memory(
            "worker: out of memory budget for cache, evicting"
        ));
    }
}
