//! What the engine needs to know, and nothing more: the deployment it moves, its health
//! endpoints, and the timings of each step. Built once from the `Config`; the timings that have
//! no config key are named here with their defaults instead of being numbers in the steps.

use super::util::absolute;
use crate::config::{
    Config, HealthEndpoint, ProxyConfig, RegistryConfig, ServiceConfig, StrategyChoice,
};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct DeploySettings {
    /// The compose project whose services are moved.
    pub project: String,
    /// The Swarm stack (`deployment.stack`; empty for compose), for the backup's environment.
    pub stack: String,
    /// The env file that pins each service's image (absolute).
    pub env_file: PathBuf,
    /// Where the store lives (absolute), for the heartbeat's own connection.
    pub state_dir: PathBuf,
    pub services: Vec<ServiceConfig>,
    pub endpoints: Vec<HealthEndpoint>,
    /// Credentials for pulls from a private registry.
    pub registry: RegistryConfig,
    /// `deploy.health_timeout_s`: how long a new version may take to turn healthy.
    pub health_timeout: Duration,
    /// `deploy.health_interval_ms`: between health polls until the first OK (confirmations
    /// come four times as often).
    pub health_interval: Duration,
    /// `deploy.health_successes`: OK polls in a row that count as healthy.
    pub health_successes: u32,
    pub backup_command: String,
    pub backup_timeout: Duration,
    pub backup_optional: bool,
    pub migrate_timeout: Duration,
    pub pull_attempts: u32,
    /// A pull that makes no progress for this long is stopped (and retried).
    pub pull_timeout: Duration,
    pub lock_stale_after: Duration,
    pub keep_images: u32,
    /// A recreate may take the health timeout plus this: compose waits for the old container
    /// to stop (its own stop timeout) and for the new one to start.
    pub recreate_grace: Duration,
    /// How long the old containers' `die` event is awaited once the app is up again, before
    /// the downtime falls back to the start of the recreate.
    pub death_event_wait: Duration,
    /// Registry look-ups of the target: attempts on a transient error, and the first pause
    /// (doubling).
    pub registry_attempts: u32,
    pub registry_retry_delay: Duration,
    /// Pauses between pull attempts: the first, doubling up to the cap.
    pub pull_retry_delay: Duration,
    pub pull_retry_max_delay: Duration,
    /// Pull progress is reported at most this often.
    pub progress_every: Duration,
    /// After a failure nothing rolls back, how long the engine may take to settle (dockerd
    /// restarting, containers coming back) before the pins are set to what runs.
    pub repair_wait: Duration,
    /// `deploy.strategy` (a service's own `strategy` wins), and start-first's timings.
    pub strategy: StrategyChoice,
    pub drain: Duration,
    pub monitor: Duration,
    pub vram_margin_pct: u32,
    /// The proxy a start-first deploy switches.
    pub proxy: ProxyConfig,
    /// Start-first: the old container's stop timeout once it has drained.
    pub stop_grace: Duration,
    /// NVML's library (empty: the system's), for the auto strategy's VRAM check.
    pub nvml_library: String,
}

impl DeploySettings {
    pub fn from_config(c: &Config) -> Self {
        let d = &c.deploy;
        Self {
            project: c.deployment.project.clone(),
            stack: c.deployment.stack.clone(),
            env_file: absolute(&c.deployment.env_file),
            state_dir: absolute(&c.deployment.state_dir),
            services: c.deployment.services.clone(),
            endpoints: c.health.clone(),
            registry: c.registry.clone(),
            health_timeout: Duration::from_secs(d.health_timeout_s),
            health_interval: Duration::from_millis(d.health_interval_ms),
            health_successes: d.health_successes.max(1),
            backup_command: d.backup_command.trim().to_string(),
            backup_timeout: Duration::from_secs(d.backup_timeout_s),
            backup_optional: d.backup_optional,
            migrate_timeout: Duration::from_secs(d.migrate_timeout_s),
            pull_attempts: d.pull_attempts.max(1),
            pull_timeout: Duration::from_secs(d.pull_timeout_s),
            lock_stale_after: Duration::from_secs(d.lock_stale_after_s),
            keep_images: d.keep_images,
            recreate_grace: Duration::from_secs(120),
            death_event_wait: Duration::from_secs(2),
            registry_attempts: 3,
            registry_retry_delay: Duration::from_millis(500),
            pull_retry_delay: Duration::from_secs(1),
            pull_retry_max_delay: Duration::from_secs(30),
            progress_every: Duration::from_millis(200),
            repair_wait: Duration::from_secs(30),
            strategy: d.strategy,
            drain: Duration::from_secs(d.drain_s),
            monitor: Duration::from_secs(d.monitor_s),
            vram_margin_pct: d.vram_margin_pct,
            proxy: c.proxy.clone(),
            stop_grace: Duration::from_secs(10),
            nvml_library: c.gpu.nvml_library.clone(),
        }
    }

    /// The longest a recreate (and the watch for the old containers' stop) may take.
    pub fn recreate_timeout(&self) -> Duration {
        self.health_timeout + self.recreate_grace
    }

    pub fn service_names(&self) -> impl Iterator<Item = &str> {
        self.services.iter().map(|s| s.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_the_built_in_config_name_every_timing() {
        let config = crate::config::load(&crate::config::Sources::default())
            .unwrap()
            .config;
        let s = DeploySettings::from_config(&config);
        assert_eq!(s.health_timeout, Duration::from_secs(300));
        assert_eq!(s.recreate_timeout(), Duration::from_secs(420));
        assert_eq!(s.services.len(), config.deployment.services.len());
        assert!(s.env_file.is_absolute() && s.state_dir.is_absolute());
        assert!(s.health_successes >= 1 && s.pull_attempts >= 1);
    }
}
