//! The start-first strategy (issue 12). The new version starts beside the old one, which keeps
//! serving. Once the new container is healthy, asked directly (its own healthcheck and every
//! endpoint at the container's own address, never through the proxy), the proxy is switched
//! to it. The old container keeps its requests in flight for `drain_s` and stays until the
//! `monitor_s` watch of the new version is over; then it is stopped and removed.
//!
//! A new version that never turns healthy (or runs out of GPU memory, or exits) is removed:
//! nothing was switched and the old one was never touched, so nothing is rolled back. One that
//! turns unhealthy within the watch is switched away from, back to the old container, which
//! still runs.

use super::Engine;
use super::compose::Runtime;
use super::direct_health::{WaitEnd, direct_endpoints};
use super::envfile;
use super::error::HealthError;
use super::machine::images_of;
use super::seams::{Clock, Host, Seams};
use super::types::*;
use super::util::*;
use crate::domain::{ContainerState, ContainerView, DeployStatus};
use crate::format::duration_ms as fmt_ms;
use crate::switch::TrafficSwitch;
use std::net::SocketAddr;
use std::time::Instant;

impl<S: Seams> Engine<S> {
    /// Steps 7 to 11 of a start-first deploy (the old containers run on until the switch).
    pub(super) async fn start_first(
        &self,
        req: &DeployRequest,
        mut plans: Vec<PlanService>,
    ) -> Outcome {
        let service = plans[0].service.clone();
        let port = self.settings.proxy.port;

        // 7. recreate: here, start the new container beside the old one.
        let t = self.step_begin("recreate");
        if let Err(e) = self.keep_rollback_images(&mut plans).await {
            return self.untouched("recreate", t, e.to_string(), None).await;
        }
        let plan = plans[0].clone();
        let pins = vec![(plan.image_var.clone(), plan.to_ref.clone())];
        let before = match self.service_containers(&service).await {
            Ok(list) => list,
            Err(e) => return self.untouched("recreate", t, e.to_string(), None).await,
        };
        // A stopped copy left by an earlier run would be started again by the scale-up, with
        // its old image; it serves nobody, so it goes first.
        let mut removed = Vec::new();
        for c in before.iter().filter(|c| c.state != ContainerState::Running) {
            if self.host.remove_container(&c.id).await.is_ok() {
                removed.push(c.name.clone());
            }
        }
        let old: Vec<ContainerView> = before
            .into_iter()
            .filter(|c| c.state == ContainerState::Running)
            .collect();
        let old_names = names(&old);
        let started = self
            .runtime
            .start_beside(
                &service,
                old.len() as u32 + 1,
                &pins,
                self.settings.recreate_timeout(),
            )
            .await;
        let new = self
            .service_containers(&service)
            .await
            .unwrap_or_default()
            .into_iter()
            .find(|c| !old.iter().any(|o| o.id == c.id));
        let out = match started {
            Ok(out) => out,
            Err(e) => {
                let hint = if e.to_string().contains("port is already allocated") {
                    format!(
                        " ({service} publishes a fixed host port, so two copies cannot run: publish \"127.0.0.1::{port}\" and point the proxy at it, see docs/zero-downtime.md)"
                    )
                } else {
                    String::new()
                };
                return self
                    .untouched(
                        "recreate",
                        t,
                        format!("starting a new {service} beside {old_names} failed: {e}{hint}"),
                        new.as_ref(),
                    )
                    .await;
            }
        };
        let Some(new) = new else {
            return self
                .untouched(
                    "recreate",
                    t,
                    format!("compose started no new {service} container beside {old_names}"),
                    None,
                )
                .await;
        };
        self.step_end(
            "recreate",
            t,
            ok(format!(
                "{} started with {} beside {old_names}, which keeps serving{}{}",
                new.name,
                plan.to_ref,
                if removed.is_empty() {
                    String::new()
                } else {
                    format!("; stopped leftover {} removed", removed.join(", "))
                },
                last_line(&out)
            )),
        );

        // 8. health, of the new container itself.
        let t = self.step_begin("health");
        let addr = match self.host.container_addr(&new.id, port).await {
            Ok(Some(addr)) => addr,
            Ok(None) => {
                let message = format!(
                    "{} has no address for port {port} ([proxy] port): publish it as \"127.0.0.1::{port}\"",
                    new.name
                );
                return self.unhealthy(t, message, &new).await;
            }
            Err(e) => return self.unhealthy(t, e.to_string(), &new).await,
        };
        let endpoints = direct_endpoints(&self.settings.endpoints, &service, addr);
        match self
            .wait_container_healthy(&service, &new, &endpoints)
            .await
        {
            Ok(()) => self.step_end(
                "health",
                t,
                ok(format!(
                    "{} healthy {} times in a row, asked directly at {addr}; {old_names} still serves",
                    new.name, self.settings.health_successes
                )),
            ),
            Err(WaitEnd::Cancelled) => {
                return self
                    .cancelled_beside("health", t, &new, &old_names)
                    .await;
            }
            Err(WaitEnd::Unhealthy(reason)) => {
                return self
                    .unhealthy(
                        t,
                        format!("the new version did not become healthy: {reason}"),
                        &new,
                    )
                    .await;
            }
        }
        let healthy_at = self.clock.now();
        if self.interrupt.is_cancelled() {
            let t = self.step_begin("switch");
            return self.cancelled_beside("switch", t, &new, &old_names).await;
        }

        // 9. switch. From here on an interrupt is ignored: we finish or switch back.
        let t = self.step_begin("switch");
        let Some(switch) = &self.switch else {
            // The strategy is start-first only with a proxy; this is a bug's safety net.
            return self
                .untouched("switch", t, "no proxy to switch".into(), Some(&new))
                .await;
        };
        let mut old_addrs = Vec::new();
        for o in &old {
            if let Ok(Some(a)) = self.host.container_addr(&o.id, port).await {
                old_addrs.push(a);
            }
        }
        if let Err(e) = switch.switch_to(&[addr]).await {
            return self
                .untouched(
                    "switch",
                    t,
                    format!("{e}; {} removed", new.name),
                    Some(&new),
                )
                .await;
        }
        let pinned = envfile::pin(&self.settings.env_file, &pins)
            .map(|()| format!("; {} pinned", plan.image_var))
            .unwrap_or_else(|e| format!("; pinning the env file failed: {e}"));
        self.step_end(
            "switch",
            t,
            ok(if switch.routes_by_labels() {
                format!(
                    "{} routes to {} too; {old_names} leaves after the watch{pinned}",
                    switch.describe(),
                    new.name
                )
            } else {
                format!(
                    "{} sends new requests to {} ({addr}); {old_names} drains{pinned}",
                    switch.describe(),
                    new.name
                )
            }),
        );

        // 10. the watch after the switch; `rollback` switches back to the old container.
        let watch = self.step_begin("rollback");
        if let Err((reason, failing_since)) =
            self.watch_after_switch(&service, &new, &endpoints).await
        {
            return self
                .switch_back(watch, reason, failing_since, &new, &old, &old_addrs, &plans)
                .await;
        }
        let span = self.settings.drain.max(self.settings.monitor);
        self.skip(
            "rollback",
            &format!(
                "not needed: {} stayed healthy through the {} watch after the switch",
                new.name,
                fmt_ms(span.as_millis() as u64)
            ),
        );
        let mut left = Vec::new();
        for o in &old {
            if let Err(e) = self
                .host
                .stop_and_remove(&o.id, self.settings.stop_grace)
                .await
            {
                left.push(format!("{}: {e}", o.name));
            }
        }
        let old_gone = self
            .clock
            .now()
            .saturating_duration_since(healthy_at)
            .as_millis() as u64;

        // 11. retention
        let t = self.step_begin("retention");
        let summary = self.retention(&plans).await;
        self.step_end("retention", t, ok(summary));
        self.finish(
            DeployStatus::Succeeded,
            format!(
                "{}; no downtime (start-first via {}): {old_names} {} {} after {} turned healthy",
                self.moved_to(req, &plans),
                switch.describe(),
                if left.is_empty() {
                    "removed".to_string()
                } else {
                    format!("could not all be removed ({})", left.join("; "))
                },
                fmt_ms(old_gone),
                new.name
            ),
            Some(0),
        )
    }

    /// The project's containers of `service` (one-offs aside).
    pub(super) async fn service_containers(
        &self,
        service: &str,
    ) -> Result<Vec<ContainerView>, crate::sources::docker::DockerError> {
        Ok(self
            .host
            .containers(&self.settings.project)
            .await?
            .into_iter()
            .filter(|c| c.service == service && !c.oneoff)
            .collect())
    }

    /// A failure before the switch: the new container (if any) removed, the old one untouched.
    async fn untouched(
        &self,
        step: &'static str,
        t: Instant,
        message: String,
        new: Option<&ContainerView>,
    ) -> Outcome {
        let removed = match new {
            Some(n) => self.remove_new(n).await,
            None => String::new(),
        };
        self.step_end(
            step,
            t,
            StepEnd {
                state: StepState::Failed,
                summary: format!("{message}{removed}"),
            },
        );
        self.skip_rest_after(step, "start-first: nothing was switched");
        self.finish(
            DeployStatus::Failed,
            format!(
                "{message}{removed}; nothing was switched, so nothing is rolled back: the running version is untouched and kept serving"
            ),
            Some(0),
        )
    }

    /// The new version did not turn healthy: removed; the old one never stopped serving.
    async fn unhealthy(&self, t: Instant, message: String, new: &ContainerView) -> Outcome {
        let tail = self
            .host
            .logs_tail(&new.id, 5)
            .await
            .ok()
            .map(|l| crate::format::tail_lines(&l, 3))
            .filter(|l| !l.trim().is_empty())
            .map(|l| format!(" (its last lines: {})", l.replace('\n', " | ")))
            .unwrap_or_default();
        self.untouched("health", t, format!("{message}{tail}"), Some(new))
            .await
    }

    /// Ctrl-C before the switch: the new container goes, nothing else changed.
    async fn cancelled_beside(
        &self,
        step: &'static str,
        t: Instant,
        new: &ContainerView,
        old_names: &str,
    ) -> Outcome {
        let removed = self.remove_new(new).await;
        self.step_end(
            step,
            t,
            StepEnd {
                state: StepState::Skipped,
                summary: format!("cancelled{removed}"),
            },
        );
        self.skip_rest_after(step, "cancelled");
        self.finish(
            DeployStatus::Cancelled,
            format!(
                "cancelled by the operator before the switch{removed}; {old_names} kept serving, nothing was switched"
            ),
            Some(0),
        )
    }

    /// Stop and remove a new container that will not serve; said in the summary.
    async fn remove_new(&self, new: &ContainerView) -> String {
        match self
            .host
            .stop_and_remove(&new.id, self.settings.stop_grace)
            .await
        {
            Ok(()) => format!("; the new container {} was removed", new.name),
            Err(e) => format!("; removing the new container {} failed: {e}", new.name),
        }
    }

    /// Record every step after `step` up to `record` as skipped.
    fn skip_rest_after(&self, step: &'static str, why: &str) {
        for name in STEPS
            .iter()
            .skip(seq(step) as usize)
            .take_while(|n| **n != "record")
        {
            self.skip(name, why);
        }
    }

    /// The new version failed within the watch: the proxy goes back to the old container
    /// (still running), the new one is removed, the env file pins the old image again.
    #[allow(clippy::too_many_arguments)]
    async fn switch_back(
        &self,
        t: Instant,
        reason: HealthError,
        failing_since: Instant,
        new: &ContainerView,
        old: &[ContainerView],
        old_addrs: &[SocketAddr],
        plans: &[PlanService],
    ) -> Outcome {
        let old_names = names(old);
        let Some(switch) = &self.switch else {
            return self.finish(DeployStatus::FailedDown, reason.to_string(), None);
        };
        self.emit(DeployEvent::Error {
            message: format!(
                "the new version turned unhealthy after the switch: {reason}; switching back to {old_names}"
            ),
        });
        let back = if switch.routes_by_labels() {
            Ok(())
        } else {
            switch.switch_to(old_addrs).await
        };
        if let Err(e) = back {
            self.step_end(
                "rollback",
                t,
                StepEnd {
                    state: StepState::Failed,
                    summary: format!("switching back to {old_names} failed: {e}"),
                },
            );
            self.skip("retention", "deploy failed");
            return self.finish(
                DeployStatus::FailedDown,
                format!(
                    "the new version turned unhealthy after the switch: {reason}; switching the proxy back to {old_names} failed: {e}; the proxy may still send to {}, which is failing",
                    new.name
                ),
                None,
            );
        }
        let bad_for = self
            .clock
            .now()
            .saturating_duration_since(failing_since)
            .as_millis() as u64;
        let removed = self.remove_new(new).await;
        let old_pins: Vec<(String, String)> = plans
            .iter()
            .filter_map(|p| Some((p.image_var.clone(), p.from.image.clone()?)))
            .collect();
        let repinned = envfile::pin(&self.settings.env_file, &old_pins)
            .map(|()| String::new())
            .unwrap_or_else(|e| format!("; pinning the old image again failed: {e}"));
        self.step_end(
            "rollback",
            t,
            ok(format!(
                "switched back to {old_names}{removed}; failing for {} before the switch back{repinned}",
                fmt_ms(bad_for)
            )),
        );
        self.skip("retention", "deploy failed");
        self.finish(
            DeployStatus::RolledBack,
            format!(
                "the new version turned unhealthy after the switch: {reason}; switched back to {} ({old_names}, never stopped){removed}",
                images_of(plans, |p| p.from.image.as_deref())
            ),
            Some(bad_for),
        )
    }
}

fn names(list: &[ContainerView]) -> String {
    if list.is_empty() {
        return "nothing".into();
    }
    list.iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
