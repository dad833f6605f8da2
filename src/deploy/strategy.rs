//! How the new version replaces the old one, chosen once per deploy after the compare step
//! (issue 12): stop-first (the old container stops, then the new one starts) or start-first
//! (the new one starts beside the old one behind the proxy; start_first.rs). The choice and its
//! reason go into the plan, the compare step, the store and the history.

use super::Engine;
use super::headroom;
use super::seams::{Gpu, Host, Seams};
use crate::config::{Config, ProxyConfig, ServiceConfig, StrategyChoice};
use crate::domain::{ContainerState, ContainerView, GpuStatus, PlanService};
use crate::switch::{ProxySwitch, TrafficSwitch};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    StopFirst,
    StartFirst,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::StopFirst => "stop-first",
            Strategy::StartFirst => "start-first",
        }
    }
}

/// The strategy and why, in the words the plan shows (`stop-first: GPU 0 has …`).
#[derive(Debug, Clone)]
pub struct Chosen {
    pub strategy: Strategy,
    pub why: String,
}

impl Chosen {
    fn stop_first(why: impl std::fmt::Display) -> Self {
        Self {
            strategy: Strategy::StopFirst,
            why: format!("stop-first: {why}"),
        }
    }
}

/// What decides the strategy, from the config: shared by the engine and the dashboard's
/// confirmation, which says the same before the deploy starts.
#[derive(Debug, Clone, Default)]
pub struct StrategyRule {
    default: StrategyChoice,
    /// Per service: its own strategy and expected VRAM.
    services: Vec<(String, Option<StrategyChoice>, Option<u64>)>,
    proxied: String,
    /// The proxy, as its switch describes itself; None without one.
    via: Option<String>,
    margin_pct: u32,
}

impl StrategyRule {
    pub fn new(
        services: &[ServiceConfig],
        default: StrategyChoice,
        proxy: &ProxyConfig,
        via: Option<String>,
        margin_pct: u32,
    ) -> Self {
        Self {
            default,
            services: services
                .iter()
                .map(|s| (s.name.clone(), s.strategy, s.expected_vram_mib))
                .collect(),
            proxied: proxy.service.clone(),
            via,
            margin_pct,
        }
    }

    pub fn from_config(c: &Config) -> Self {
        let via = ProxySwitch::from_config(&c.proxy)
            .ok()
            .flatten()
            .map(|s| s.describe());
        Self::new(
            &c.deployment.services,
            c.deploy.strategy,
            &c.proxy,
            via,
            c.deploy.vram_margin_pct,
        )
    }

    /// The service behind the proxy.
    pub fn proxied(&self) -> &str {
        &self.proxied
    }

    /// Whether `decide` reads the GPU (only with a proxy: otherwise it is stop-first anyway).
    pub fn needs_gpu(&self) -> bool {
        self.via.is_some()
    }

    fn choice_of(&self, service: &str) -> StrategyChoice {
        self.services
            .iter()
            .find(|(name, _, _)| name == service)
            .and_then(|(_, choice, _)| *choice)
            .unwrap_or(self.default)
    }

    /// The strategy for moving `moved` while `running` (the proxied service's running
    /// container, if any) serves, with the GPU as `gpu` says.
    pub fn decide(
        &self,
        moved: &[&str],
        running: Option<&ContainerView>,
        gpu: &GpuStatus,
    ) -> Chosen {
        if let Some(service) = moved
            .iter()
            .find(|s| self.choice_of(s) == StrategyChoice::StopFirst)
        {
            return Chosen::stop_first(format!("configured for {service}"));
        }
        let Some(via) = &self.via else {
            return Chosen::stop_first("no proxy is configured ([proxy] kind = \"none\")");
        };
        let proxied = &self.proxied;
        if moved != [proxied.as_str()] {
            return Chosen::stop_first(format!(
                "start-first moves only the service behind the proxy ({proxied}); this deploy moves {}",
                moved.join(", ")
            ));
        }
        let Some(running) = running.filter(|c| c.state == ContainerState::Running) else {
            return Chosen::stop_first(format!(
                "{proxied} does not run, so there is nothing to keep serving"
            ));
        };
        if self.choice_of(proxied) == StrategyChoice::StartFirst {
            return Chosen {
                strategy: Strategy::StartFirst,
                why: format!("start-first: configured for {proxied}; via {via}"),
            };
        }
        let expected = self
            .services
            .iter()
            .find(|(name, _, _)| name == proxied)
            .and_then(|(_, _, vram)| *vram);
        let verdict = headroom::judge(
            gpu,
            std::slice::from_ref(&running.id),
            expected,
            self.margin_pct,
        );
        if verdict.start_first {
            Chosen {
                strategy: Strategy::StartFirst,
                why: format!("{}; via {via}", verdict.why),
            }
        } else {
            Chosen {
                strategy: Strategy::StopFirst,
                why: verdict.why,
            }
        }
    }
}

impl<S: Seams> Engine<S> {
    /// The strategy for moving `plans` from `current`; the GPU is sampled only when it counts.
    pub(super) async fn choose_strategy(
        &self,
        plans: &[PlanService],
        current: &HashMap<String, ContainerView>,
    ) -> Chosen {
        let rule = StrategyRule::new(
            &self.settings.services,
            self.settings.strategy,
            &self.settings.proxy,
            self.switch.as_ref().map(|s| s.describe()),
            self.settings.vram_margin_pct,
        );
        let gpu = if rule.needs_gpu() {
            self.gpu.sample().await
        } else {
            GpuStatus::Unavailable {
                reason: "not read: no proxy".into(),
            }
        };
        let moved: Vec<&str> = plans.iter().map(|p| p.service.as_str()).collect();
        rule.decide(&moved, current.get(&self.settings.proxy.service), &gpu)
    }

    /// After a stop-first recreate (or the rollback's), the proxy (if one is configured) sends
    /// to the container that now runs: its published port changed with it. Returns a note for
    /// the step's summary.
    pub(super) async fn proxy_follows_recreate(&self, services: &[String]) -> String {
        let Some(switch) = &self.switch else {
            return String::new();
        };
        let service = &self.settings.proxy.service;
        if switch.routes_by_labels() || !services.contains(service) {
            return String::new();
        }
        let running = match self.service_containers(service).await {
            Ok(list) => list
                .into_iter()
                .filter(|c| c.state == ContainerState::Running)
                .max_by_key(|c| c.started_at),
            Err(e) => return format!("; the proxy was not switched: {e}"),
        };
        let Some(c) = running else {
            return format!("; the proxy was not switched: no {service} container runs");
        };
        match self
            .host
            .container_addr(&c.id, self.settings.proxy.port)
            .await
        {
            Ok(Some(addr)) => match switch.switch_to(&[addr]).await {
                Ok(()) => format!("; {} sends to {} ({addr})", switch.describe(), c.name),
                Err(e) => format!("; switching the proxy to {} failed: {e}", c.name),
            },
            Ok(None) => format!(
                "; the proxy was not switched: {} has no address for port {}",
                c.name, self.settings.proxy.port
            ),
            Err(e) => format!("; the proxy was not switched: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{GpuDevice, GpuProcess};

    const MIB: u64 = 1024 * 1024;

    fn config(extra: &str) -> Config {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, extra.as_bytes()).unwrap();
        crate::config::load(&crate::config::Sources {
            files: vec![(f.path().to_path_buf(), true)],
            env: vec![],
        })
        .unwrap()
        .config
    }

    /// One 24 GiB GPU with `used_mib` in use, `app_mib` of it by container "c0ffee".
    fn gpu(used_mib: u64, app_mib: u64) -> GpuStatus {
        GpuStatus::Available {
            driver_version: None,
            devices: vec![GpuDevice {
                index: 0,
                name: "Tesla P40".into(),
                uuid: None,
                utilization_pct: None,
                memory_utilization_pct: None,
                memory_used_bytes: Some(used_mib * MIB),
                memory_total_bytes: Some(24576 * MIB),
                temperature_c: None,
                power_mw: None,
                power_limit_mw: None,
                processes: vec![GpuProcess {
                    pid: 7,
                    used_bytes: Some(app_mib * MIB),
                    container_id: Some("c0ffee".into()),
                    container: None,
                }],
            }],
            sampled_at: chrono::Utc::now(),
        }
    }

    const NGINX: &str =
        "[proxy]\nkind = \"nginx\"\nupstream_file = \"/etc/nginx/elt/upstream.conf\"\n";

    #[test]
    fn each_reason_for_the_strategy_is_said() {
        let app = ContainerView::running_for_test("c0ffee", "app", 60);
        let room = gpu(5000, 2048);
        let decide =
            |extra: &str, moved: &[&str], running: Option<&ContainerView>, g: &GpuStatus| {
                StrategyRule::from_config(&config(extra)).decide(moved, running, g)
            };
        let c = decide("", &["app"], Some(&app), &room);
        assert_eq!(c.strategy, Strategy::StopFirst);
        assert!(
            c.why.starts_with("stop-first: no proxy is configured"),
            "{}",
            c.why
        );

        let c = decide(NGINX, &["app"], Some(&app), &room);
        assert_eq!(c.strategy, Strategy::StartFirst, "{}", c.why);
        assert!(c.why.contains("via nginx (upstream elt_app"), "{}", c.why);

        let c = decide(NGINX, &["app"], Some(&app), &gpu(23000, 2048));
        assert_eq!(c.strategy, Strategy::StopFirst);
        assert!(
            c.why.contains("GPU 0 has") && c.why.contains("free"),
            "{}",
            c.why
        );

        let c = decide(NGINX, &["app"], None, &room);
        assert!(c.why.contains("app does not run"), "{}", c.why);

        let c = decide(
            &format!("{NGINX}[deploy]\nstrategy = \"stop-first\"\n"),
            &["app"],
            Some(&app),
            &room,
        );
        assert!(c.why.contains("configured for app"), "{}", c.why);

        // Forced start-first skips the GPU check; no NVML at all is stop-first under auto.
        let none = GpuStatus::Unavailable {
            reason: "no driver".into(),
        };
        let c = decide(
            &format!("{NGINX}[deploy]\nstrategy = \"start-first\"\n"),
            &["app"],
            Some(&app),
            &none,
        );
        assert_eq!(c.strategy, Strategy::StartFirst, "{}", c.why);
        let c = decide(NGINX, &["app"], Some(&app), &none);
        assert!(c.why.contains("no NVML"), "{}", c.why);

        let two = "[[deployment.services]]\nname = \"app\"\nimage = \"ghcr.io/a/app\"\nimage_var = \"APP\"\n[[deployment.services]]\nname = \"worker\"\nimage = \"ghcr.io/a/worker\"\nimage_var = \"WORKER\"\n";
        let c = decide(
            &format!("{two}{NGINX}"),
            &["app", "worker"],
            Some(&app),
            &room,
        );
        assert!(c.why.contains("this deploy moves app, worker"), "{}", c.why);
    }
}
