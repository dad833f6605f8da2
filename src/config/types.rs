//! The configuration's types, where each value came from, and which files are read.

use crate::domain::{CommitTagPattern, GithubRepo, ImageRepo, WorkflowId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use thiserror::Error;

pub const DEFAULT_CONFIG_TOML: &str = include_str!("../../assets/default-config.toml");
pub const SYSTEM_CONFIG_PATH: &str = "/etc/elt-console/config.toml";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub deployment: DeploymentConfig,
    pub registry: RegistryConfig,
    #[serde(default)]
    pub health: Vec<HealthEndpoint>,
    pub github: GithubConfig,
    pub gpu: GpuConfig,
    pub docker: DockerConfig,
    pub deploy: DeployConfig,
    pub watch: WatchConfig,
    pub ui: UiConfig,
    /// Action name → keys; parsed into a `Keymap` when the config is loaded.
    pub keys: BTreeMap<String, Vec<String>>,
    /// Where deploy notifications go (`[[notify]]`); none by default.
    #[serde(default)]
    pub notify: Vec<crate::notify::NotifyTarget>,
    /// The reverse proxy in front of the app, switched by start-first deploys.
    #[serde(default)]
    pub proxy: ProxyConfig,
    /// The engines this console watches and rolls releases across (`[[hosts]]`); none: the
    /// one engine of `[docker]`.
    #[serde(default)]
    pub hosts: Vec<HostConfig>,
    /// How a Swarm deployment (`deployment.runtime = "swarm"`) rolls a new image out.
    pub swarm: SwarmConfig,
}

/// One `[[hosts]]` table.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// How the console names the host (letters, digits, '-', '_', '.').
    pub name: String,
    /// `unix:///path`, `tcp://host:port` or `ssh://user@host[:port]`.
    pub endpoint: String,
    /// This host's deployment folder as the console sees it: the compose file, env file and
    /// store resolve against it. "": the shared compose file, and the env file and store
    /// under `<deployment.state_dir>/hosts/<name>`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub folder: String,
    /// Free labels, e.g. `role = "canary"`; `--hosts LABEL` selects by value, a host whose
    /// `role` is `canary` rolls first.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `tcp://` over TLS with the client certificate in `cert_path` (ca.pem, cert.pem,
    /// key.pem); "" with `tls_verify`: DOCKER_CERT_PATH.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls_verify: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cert_path: String,
    /// `ssh://`: the private key to offer ("": the agent's and ssh's own defaults).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ssh_identity: String,
    /// `ssh://`: the known_hosts file the host key is checked against ("": ssh's own).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ssh_known_hosts: String,
    /// This host's health endpoints (none: the `[[health]]` list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health: Vec<HealthEndpoint>,
    /// `ssh://`: the nvidia-smi the host's GPUs are read with ("": `nvidia-smi` on the remote
    /// PATH).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gpu_command: String,
}

/// How a deploy replaces the running version (`deploy.strategy`, per service too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyChoice {
    /// Start-first when a proxy is configured and the GPU has room, else stop-first.
    #[default]
    Auto,
    StartFirst,
    StopFirst,
}

impl StrategyChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            StrategyChoice::Auto => "auto",
            StrategyChoice::StartFirst => "start-first",
            StrategyChoice::StopFirst => "stop-first",
        }
    }
}

/// Which reverse proxy sends the users to the app (`[proxy] kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyKind {
    /// No proxy: every deploy is stop-first.
    #[default]
    None,
    /// nginx on the host, through an upstream file elt-console owns.
    Nginx,
    /// Caddy, through its admin API.
    Caddy,
    /// A label-routed proxy in the compose project (Traefik): it sends to every healthy
    /// container with the router labels, so the switch is the old one leaving.
    Labels,
}

/// `[proxy]`: the proxy in front of `service`, which it reaches on the container's `port`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    pub kind: ProxyKind,
    /// The compose service behind the proxy (the one a start-first deploy starts twice).
    pub service: String,
    /// The container port the proxy sends to; the service publishes it on an address Docker
    /// chooses (`127.0.0.1::3000`), so two copies can run at once.
    pub port: u16,
    /// nginx: the upstream file elt-console writes (the operator's config includes it), the
    /// upstream's name, and the nginx command (words; `-t` and `-s reload` are added).
    pub upstream_file: PathBuf,
    pub upstream_name: String,
    pub nginx_command: String,
    /// Caddy: the admin endpoint and the `@id` of the reverse_proxy handler.
    pub caddy_admin: String,
    pub caddy_handler_id: String,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            kind: ProxyKind::None,
            service: "app".into(),
            port: 3000,
            upstream_file: PathBuf::new(),
            upstream_name: "elt_app".into(),
            nginx_command: "nginx".into(),
            caddy_admin: "http://127.0.0.1:2019/".into(),
            caddy_handler_id: "elt_app".into(),
        }
    }
}

/// `deployment.runtime`: what runs the app. Compose on this host (the default), or a Docker
/// Swarm stack whose services are updated through the manager's API (src/swarm/).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    #[default]
    Compose,
    Swarm,
}

/// `[swarm]`: the service update Swarm performs for a deploy, and its one-off migrate job.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwarmConfig {
    /// Tasks updated at once (0: all at once, as Docker means it).
    pub parallelism: u64,
    /// Seconds Swarm watches each new task for a failure before counting it updated.
    pub monitor_s: u64,
    pub failure_action: FailureAction,
    pub order: UpdateOrder,
    /// How long the console follows an update (or rollback) before giving up on it.
    pub update_timeout_s: u64,
    /// Arguments of the one-off migrate job (the service's own task template, new image);
    /// empty: no migrate step.
    pub migrate_args: Vec<String>,
}

/// `[swarm] order`: whether a new task starts before the old one stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateOrder {
    #[default]
    StartFirst,
    StopFirst,
}

/// `[swarm] failure_action`: what Swarm does when a new task fails during the update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FailureAction {
    #[default]
    Rollback,
    Pause,
    Continue,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiConfig {
    pub read_only: bool,
    pub mouse: bool,
    pub log_tail_lines: u32,
    pub log_ring_lines: u32,
    pub max_fps: u32,
    pub health_interval_ms: u64,
    pub github_interval_unauthenticated_s: u64,
    pub github_interval_authenticated_s: u64,
    pub registry_interval_s: u64,
}

/// How the deploy engine behaves: health wait, backup, migrate, lock and image retention.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    pub health_timeout_s: u64,
    pub health_interval_ms: u64,
    pub health_successes: u32,
    pub backup_command: String,
    pub backup_timeout_s: u64,
    pub backup_optional: bool,
    pub migrate_timeout_s: u64,
    pub pull_attempts: u32,
    pub pull_timeout_s: u64,
    pub lock_stale_after_s: u64,
    pub keep_images: u32,
    pub compose_command: String,
    /// `auto`, `start-first` or `stop-first` (a service's own `strategy` wins).
    #[serde(default)]
    pub strategy: StrategyChoice,
    /// Start-first: how long the old container keeps its in-flight requests after the switch.
    #[serde(default = "default_drain_s")]
    pub drain_s: u64,
    /// Start-first: how long after the switch the new version is watched; unhealthy within it,
    /// the proxy is switched back to the old container, which is kept until then.
    #[serde(default = "default_monitor_s")]
    pub monitor_s: u64,
    /// Auto: the margin on the app's VRAM that must also fit for a second copy.
    #[serde(default = "default_vram_margin_pct")]
    pub vram_margin_pct: u32,
}

fn default_drain_s() -> u64 {
    10
}
fn default_monitor_s() -> u64 {
    30
}
fn default_vram_margin_pct() -> u32 {
    10
}

/// `elt-console watch`: how often `latest` is checked, and how far it backs off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    pub interval_s: u64,
    pub max_backoff_s: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    /// `compose` (this host's compose project) or `swarm` (the stack `stack`).
    #[serde(default)]
    pub runtime: RuntimeKind,
    /// The Swarm stack (`docker stack deploy ... NAME`) when `runtime = "swarm"`.
    #[serde(default)]
    pub stack: String,
    pub project: String,
    pub compose_file: PathBuf,
    pub env_file: PathBuf,
    pub state_dir: PathBuf,
    pub services: Vec<ServiceConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub name: String,
    pub image: ImageRepo,
    pub image_var: String,
    #[serde(default)]
    pub commit_tags: Vec<CommitTagPattern>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub migrate_service: Option<String>,
    /// The tag `watch` follows: `latest`, `semver`, or `newest:PATTERN`.
    #[serde(default)]
    pub follow: crate::domain::FollowRule,
    /// When a container without a healthcheck of its own counts as up: `running:Ns`.
    #[serde(default, deserialize_with = "ready_rule")]
    pub ready: Option<ReadyRule>,
    /// This service's own strategy, over `deploy.strategy` (`""`: that one).
    #[serde(default, deserialize_with = "strategy_or_empty")]
    pub strategy: Option<StrategyChoice>,
    /// The VRAM one copy needs, for `auto` when NVML cannot tell (no driver, or the model
    /// not loaded yet); 0 means the service uses no GPU, -1 (the default) unknown.
    #[serde(default, deserialize_with = "negative_as_none")]
    pub expected_vram_mib: Option<u64>,
}

/// `deployment.services[].ready`: how a deploy judges a service whose image has no
/// healthcheck (a bot serves no HTTP to poll). A healthcheck, where there is one, still decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ReadyRule {
    /// Running for this long without a restart (`running:10s`).
    Running { secs: u64 },
}

impl ReadyRule {
    /// The longest wait a rule may ask for; a deploy's health timeout is the real bound.
    const MAX_SECS: u64 = 3600;

    pub fn parse(s: &str) -> Result<Self, BadReadyRule> {
        let secs = s
            .strip_prefix("running:")
            .and_then(|n| n.strip_suffix('s'))
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|n| (1..=Self::MAX_SECS).contains(n))
            .ok_or_else(|| BadReadyRule {
                text: s.to_string(),
            })?;
        Ok(ReadyRule::Running { secs })
    }

    /// How long the container must have run without a restart.
    pub fn duration(self) -> std::time::Duration {
        match self {
            ReadyRule::Running { secs } => std::time::Duration::from_secs(secs),
        }
    }
}

/// A `ready` value that is no rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a ready rule: \"running:Ns\" (N from 1 to {max}), or \"\" for none", max = ReadyRule::MAX_SECS)]
pub struct BadReadyRule {
    text: String,
}

impl TryFrom<String> for ReadyRule {
    type Error = BadReadyRule;
    fn try_from(s: String) -> Result<Self, BadReadyRule> {
        ReadyRule::parse(&s)
    }
}

impl From<ReadyRule> for String {
    fn from(r: ReadyRule) -> String {
        r.to_string()
    }
}

impl fmt::Display for ReadyRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadyRule::Running { secs } => write!(f, "running:{secs}s"),
        }
    }
}

fn ready_rule<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<ReadyRule>, D::Error> {
    let s = Option::<String>::deserialize(d)?.unwrap_or_default();
    if s.is_empty() {
        return Ok(None);
    }
    ReadyRule::parse(&s)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    pub plain_http: Vec<String>,
    pub username: String,
    pub password_env: String,
    pub request_timeout_ms: u64,
    /// Tags whose manifest and config are read per repository and refresh (about 3 requests
    /// each); the newest known are read first.
    pub tag_detail_limit: usize,
    /// `REGISTRY=MIRROR` pairs: images of REGISTRY are read and pulled from MIRROR, which
    /// serves them under the same path (as dockerd's `registry-mirrors` does for docker.io).
    #[serde(default)]
    pub mirrors: Vec<String>,
}

impl RegistryConfig {
    /// The mirror host for `registry`, if `registry.mirrors` names one.
    pub fn mirror_for(&self, registry: &str) -> Option<&str> {
        self.mirrors.iter().find_map(|m| {
            m.split_once('=')
                .filter(|(from, _)| from.trim() == registry)
                .map(|(_, to)| to.trim())
        })
    }

    /// The registry host images of `repo` are read and pulled from: its mirror, else its own.
    pub fn host_for<'a>(&'a self, repo: &'a ImageRepo) -> &'a str {
        self.mirror_for(repo.registry()).unwrap_or(repo.registry())
    }

    /// The name the engine pulls `repo` by (`MIRROR/PATH` through a mirror), and that the
    /// pulled image's digests carry; the image is tagged under `repo.docker_name()` after.
    pub fn pull_name(&self, repo: &ImageRepo) -> String {
        match self.mirror_for(repo.registry()) {
            Some(mirror) => format!("{mirror}/{}", repo.path()),
            None => repo.docker_name(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthEndpoint {
    pub name: String,
    pub url: String,
    #[serde(default = "default_health_timeout")]
    pub timeout_ms: u64,
}

fn default_health_timeout() -> u64 {
    3000
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    pub repo: GithubRepo,
    pub workflow: WorkflowId,
    pub api_url: String,
    pub token_file: String,
    pub runs_per_page: u32,
    pub request_timeout_ms: u64,
    /// Record each deploy as a GitHub Deployment (needs a token with `deployments: write`).
    #[serde(default = "default_true")]
    pub deployments: bool,
    /// The GitHub environment deployments are made to.
    #[serde(default = "default_environment")]
    pub environment: String,
    /// The app's public URL, shown by GitHub beside each deployment ("" for none).
    #[serde(default)]
    pub environment_url: String,
}

fn default_true() -> bool {
    true
}

fn default_environment() -> String {
    "production".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuConfig {
    pub nvml_library: String,
    pub sample_interval_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerConfig {
    pub host: String,
    pub request_timeout_ms: u64,
    /// A `tcp://` host spoken to over TLS with the client certificate in `cert_path`
    /// (`ca.pem`, `cert.pem`, `key.pem`, as the docker CLI's DOCKER_CERT_PATH).
    #[serde(default)]
    pub tls_verify: bool,
    #[serde(default)]
    pub cert_path: String,
}

impl DockerConfig {
    /// What compose needs to reach the engine the console reads: the same host and TLS
    /// settings (nothing when `host` is empty: compose then reads DOCKER_HOST like we do).
    pub fn compose_env(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if !self.host.is_empty() {
            env.push(("DOCKER_HOST".to_string(), self.host.clone()));
            if self.tls_verify {
                env.push(("DOCKER_TLS_VERIFY".to_string(), "1".to_string()));
                env.push(("DOCKER_CERT_PATH".to_string(), self.cert_path.clone()));
            }
        }
        env
    }
}

fn strategy_or_empty<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<StrategyChoice>, D::Error> {
    match Option::<String>::deserialize(d)?.as_deref() {
        None | Some("") => Ok(None),
        Some("auto") => Ok(Some(StrategyChoice::Auto)),
        Some("start-first") => Ok(Some(StrategyChoice::StartFirst)),
        Some("stop-first") => Ok(Some(StrategyChoice::StopFirst)),
        Some(other) => Err(serde::de::Error::custom(format!(
            "{other:?}: expected \"auto\", \"start-first\", \"stop-first\" or \"\""
        ))),
    }
}

fn negative_as_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Option::<i64>::deserialize(d)?.and_then(|n| u64::try_from(n).ok()))
}

fn empty_as_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    Ok(s.filter(|s| !s.is_empty()))
}

impl Config {
    /// The compose service names that a deployment moves together.
    pub fn service_names(&self) -> impl Iterator<Item = &str> {
        self.deployment.services.iter().map(|s| s.name.as_str())
    }
}

/// Where a value came from, for `config show` and for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Defaults,
    File {
        path: PathBuf,
        line: usize,
        column: usize,
    },
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Defaults => f.write_str("built-in defaults"),
            Origin::File { path, line, column } => {
                write!(f, "{}:{line}:{column}", path.display())
            }
            Origin::Env(var) => write!(f, "environment variable {var}"),
        }
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Syntax { origin: Origin, message: String },
    #[error("{origin}: key `{key}`: {message}")]
    Key {
        origin: Origin,
        key: String,
        message: String,
    },
}

/// The effective config plus where each leaf value came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub keymap: crate::keymap::Keymap,
    pub origins: BTreeMap<String, Origin>,
    /// Files that were read, in order.
    pub files: Vec<PathBuf>,
}

/// Which layers to read. Tests and `config check` build this by hand; `standard` is what the
/// binary uses.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub files: Vec<(PathBuf, bool)>,
    pub env: Vec<(String, String)>,
}

impl Sources {
    /// System, user, and `--config` files (the latter required), and `ELT_*` variables.
    pub fn standard(explicit: Option<&Path>) -> Self {
        let mut files = vec![(PathBuf::from(SYSTEM_CONFIG_PATH), false)];
        if let Some(dir) = user_config_dir() {
            files.push((dir.join("elt-console").join("config.toml"), false));
        }
        if let Some(path) = explicit {
            files.push((path.to_path_buf(), true));
        }
        let env = std::env::vars()
            .filter(|(k, _)| k.starts_with("ELT_"))
            .collect();
        Self { files, env }
    }
}

fn user_config_dir() -> Option<PathBuf> {
    match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => dirs::home_dir().map(|h| h.join(".config")),
    }
}
