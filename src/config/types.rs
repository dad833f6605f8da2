//! Typed configuration with built-in ELT defaults and layered overrides.
//!
//! Load order (later wins): embedded `assets/default-config.toml` < `/etc/elt-console/config.toml`
//! < `$XDG_CONFIG_HOME/elt-console/config.toml` < `--config FILE` < `ELT_<SECTION>_<KEY>` env.
//! Every key is checked against the embedded defaults, so an unknown key or a value of the wrong
//! type is an error naming the file, line, column and key. Arrays of tables (`[[health]]`,
//! `[[deployment.services]]`) are replaced whole by a later layer, never merged item by item.

use crate::domain::{CommitTagPattern, GithubRepo, ImageRepo, WorkflowId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use thiserror::Error;
use toml::{Table, Value};

pub const DEFAULT_CONFIG_TOML: &str = include_str!("../assets/default-config.toml");
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

    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{s:?} is not a ready rule: \"running:Ns\" (N from 1 to {}), or \"\" for none",
                Self::MAX_SECS
            )
        };
        let secs = s
            .strip_prefix("running:")
            .and_then(|n| n.strip_suffix('s'))
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|n| (1..=Self::MAX_SECS).contains(n))
            .ok_or_else(bad)?;
        Ok(ReadyRule::Running { secs })
    }

    /// How long the container must have run without a restart.
    pub fn duration(self) -> std::time::Duration {
        match self {
            ReadyRule::Running { secs } => std::time::Duration::from_secs(secs),
        }
    }
}

impl TryFrom<String> for ReadyRule {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
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

pub fn load(sources: &Sources) -> Result<LoadedConfig, ConfigError> {
    let schema = parse_layer(DEFAULT_CONFIG_TOML, &Origin::Defaults, None)?;
    let mut merged = Table::new();
    let mut origins = BTreeMap::new();
    merge_layer(
        &mut merged,
        &mut origins,
        schema.table.clone(),
        &schema.origins,
    );
    let mut files = Vec::new();

    for (path, required) in &sources.files {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.clone(),
                    source,
                });
            }
        };
        let origin = Origin::File {
            path: path.clone(),
            line: 1,
            column: 1,
        };
        let layer = parse_layer(&text, &origin, Some(&schema.table))?;
        merge_layer(&mut merged, &mut origins, layer.table, &layer.origins);
        files.push(path.clone());
    }

    apply_env(&mut merged, &mut origins, &schema.table, &sources.env)?;

    let config = deserialize(merged, &origins)?;
    validate(&config, &origins)?;
    let keymap = crate::keymap::Keymap::from_table(&config.keys).map_err(|e| {
        let key = format!("keys.{}", e.action);
        ConfigError::Key {
            origin: origin_of(&origins, &key),
            key,
            message: e.message,
        }
    })?;
    Ok(LoadedConfig {
        config,
        keymap,
        origins,
        files,
    })
}

/// Only the embedded defaults (tests, and a fallback description of the ELT deployment).
pub fn defaults() -> Config {
    load(&Sources::default())
        .map(|l| l.config)
        .unwrap_or_else(|e| unreachable!("embedded default config is invalid: {e}"))
}

struct Layer {
    table: Table,
    origins: BTreeMap<String, Origin>,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn at(origin: &Origin, text: &str, offset: usize) -> Origin {
    match origin {
        Origin::File { path, .. } => {
            let (line, column) = line_col(text, offset);
            Origin::File {
                path: path.clone(),
                line,
                column,
            }
        }
        other => other.clone(),
    }
}

/// Parse one file, record each leaf key's position, and check keys and types against `schema`.
fn parse_layer(text: &str, origin: &Origin, schema: Option<&Table>) -> Result<Layer, ConfigError> {
    let doc: toml_edit::Document<String> =
        toml_edit::Document::parse(text.to_string()).map_err(|e| ConfigError::Syntax {
            origin: at(origin, text, e.span().map_or(0, |s| s.start)),
            message: e.message().trim().to_string(),
        })?;
    let mut origins = BTreeMap::new();
    walk_item(
        doc.as_item(),
        "",
        text,
        origin,
        schema.map(|t| t as &Table),
        &mut origins,
    )?;
    let table: Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        origin: at(origin, text, e.span().map_or(0, |s| s.start)),
        message: e.message().trim().to_string(),
    })?;
    Ok(Layer { table, origins })
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Integer(_) => "integer",
        Value::Float(_) => "float",
        Value::Boolean(_) => "boolean",
        Value::Datetime(_) => "datetime",
        Value::Array(a) if a.iter().all(|v| v.is_table()) && !a.is_empty() => "array of tables",
        Value::Array(_) => "array",
        Value::Table(_) => "table",
    }
}

fn edit_type_name(item: &toml_edit::Item) -> &'static str {
    use toml_edit::{Item, Value as V};
    match item {
        Item::None => "nothing",
        Item::Table(_) => "table",
        Item::ArrayOfTables(_) => "array of tables",
        Item::Value(v) => match v {
            V::String(_) => "string",
            V::Integer(_) => "integer",
            V::Float(_) => "float",
            V::Boolean(_) => "boolean",
            V::Datetime(_) => "datetime",
            V::Array(_) => "array",
            V::InlineTable(_) => "table",
        },
    }
}

fn walk_item(
    item: &toml_edit::Item,
    path: &str,
    text: &str,
    origin: &Origin,
    schema: Option<&Table>,
    origins: &mut BTreeMap<String, Origin>,
) -> Result<(), ConfigError> {
    let entries: Vec<(String, &toml_edit::Item, usize)> = match item {
        toml_edit::Item::Table(t) => t
            .iter()
            .map(|(k, v)| {
                let span = t.key(k).and_then(|key| key.span()).map_or(0, |s| s.start);
                (k.to_string(), v, span)
            })
            .collect(),
        _ => return Ok(()),
    };
    for (key, child, span) in entries {
        let full = join(path, &key);
        let here = at(origin, text, span);
        let expected = schema.map(|s| s.get(&key));
        if let Some(None) = expected {
            let known: Vec<&str> = schema
                .map(|t| t.keys().map(String::as_str).collect())
                .unwrap_or_default();
            return Err(ConfigError::Key {
                origin: here,
                key: full,
                message: format!("unknown key (known keys here: {})", known.join(", ")),
            });
        }
        let expected = expected.flatten();
        if let Some(exp) = expected {
            let got = edit_type_name(child);
            let want = type_name(exp);
            let compatible = got == want
                || (want == "array of tables" && got == "array")
                || (want == "array" && got == "array of tables");
            if !compatible {
                return Err(ConfigError::Key {
                    origin: here,
                    key: full,
                    message: format!("expected {want}, found {got}"),
                });
            }
        }
        match child {
            toml_edit::Item::Table(_) => {
                walk_item(
                    child,
                    &full,
                    text,
                    origin,
                    expected.and_then(Value::as_table),
                    origins,
                )?;
            }
            toml_edit::Item::ArrayOfTables(arr) => {
                let item_schema = expected
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .and_then(Value::as_table);
                origins.insert(full.clone(), here.clone());
                for (i, t) in arr.iter().enumerate() {
                    let as_item = toml_edit::Item::Table(t.clone());
                    walk_item(
                        &as_item,
                        &format!("{full}[{i}]"),
                        text,
                        origin,
                        item_schema,
                        origins,
                    )?;
                }
            }
            toml_edit::Item::Value(toml_edit::Value::InlineTable(t)) => {
                let as_item = toml_edit::Item::Table(t.clone().into_table());
                walk_item(
                    &as_item,
                    &full,
                    text,
                    origin,
                    expected.and_then(Value::as_table),
                    origins,
                )?;
            }
            _ => {
                origins.insert(full, here);
            }
        }
    }
    Ok(())
}

fn merge_layer(
    merged: &mut Table,
    origins: &mut BTreeMap<String, Origin>,
    layer: Table,
    layer_origins: &BTreeMap<String, Origin>,
) {
    fn merge(into: &mut Table, from: Table, path: &str, origins: &mut BTreeMap<String, Origin>) {
        for (k, v) in from {
            let full = join(path, &k);
            match (into.get_mut(&k), v) {
                (Some(Value::Table(dst)), Value::Table(src)) => merge(dst, src, &full, origins),
                (_, v) => {
                    // A replaced subtree's old origins no longer apply.
                    origins.retain(|key, _| {
                        !(key == &full
                            || key.starts_with(&format!("{full}."))
                            || key.starts_with(&format!("{full}[")))
                    });
                    into.insert(k, v);
                }
            }
        }
    }
    merge(merged, layer, "", origins);
    origins.extend(layer_origins.iter().map(|(k, v)| (k.clone(), v.clone())));
}

/// `ELT_<SECTION>_<KEY>=value` sets `[section].key`. Only scalar and string-list keys of known
/// sections are settable this way; other `ELT_*` variables (such as the test environment's)
/// are left alone, but an unknown key inside a known section is an error.
fn apply_env(
    merged: &mut Table,
    origins: &mut BTreeMap<String, Origin>,
    schema: &Table,
    env: &[(String, String)],
) -> Result<(), ConfigError> {
    for (var, raw) in env {
        let Some(rest) = var.strip_prefix("ELT_") else {
            continue;
        };
        let Some((section, key)) = rest.split_once('_') else {
            continue;
        };
        let section = section.to_ascii_lowercase();
        let key = key.to_ascii_lowercase();
        let Some(Value::Table(section_schema)) = schema.get(&section) else {
            continue;
        };
        let origin = Origin::Env(var.clone());
        let full = join(&section, &key);
        let err = |message: String| ConfigError::Key {
            origin: origin.clone(),
            key: full.clone(),
            message,
        };
        let value = match section_schema.get(&key) {
            None => return Err(err("unknown key".into())),
            Some(Value::String(_)) => Value::String(raw.clone()),
            Some(Value::Integer(_)) => Value::Integer(
                raw.trim()
                    .parse()
                    .map_err(|_| err(format!("expected an integer, found {raw:?}")))?,
            ),
            Some(Value::Boolean(_)) => Value::Boolean(match raw.trim() {
                "1" | "true" | "yes" => true,
                "0" | "false" | "no" => false,
                _ => return Err(err(format!("expected true or false, found {raw:?}"))),
            }),
            Some(Value::Array(a)) if a.iter().all(Value::is_str) => Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_string()))
                    .collect(),
            ),
            Some(_) => return Err(err("cannot be set from the environment".into())),
        };
        if let Some(Value::Table(t)) = merged.get_mut(&section) {
            t.insert(key.clone(), value);
        }
        origins.insert(full, origin);
    }
    Ok(())
}

pub(crate) fn origin_of(origins: &BTreeMap<String, Origin>, key: &str) -> Origin {
    // Walk up from the exact key to its nearest recorded ancestor.
    let mut k = key.to_string();
    loop {
        if let Some(o) = origins.get(&k) {
            return o.clone();
        }
        match k.rfind(['.', '[']) {
            Some(i) => k.truncate(i),
            None => return Origin::Defaults,
        }
    }
}

fn deserialize(merged: Table, origins: &BTreeMap<String, Origin>) -> Result<Config, ConfigError> {
    let value = Value::Table(merged);
    serde_path_to_error::deserialize::<_, Config>(value).map_err(|e| {
        let key = e
            .path()
            .to_string()
            .replace(".[", "[")
            .trim_start_matches('.')
            .to_string();
        ConfigError::Key {
            origin: origin_of(origins, &key),
            message: e.into_inner().to_string(),
            key,
        }
    })
}

fn is_compose_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-'))
}

fn is_service_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}

fn is_env_var_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Why a configured URL is refused.
#[derive(Debug, thiserror::Error)]
enum UrlError {
    #[error("not a URL ({source}): {url:?}")]
    Parse {
        url: String,
        source: url::ParseError,
    },
    #[error("expected an http(s) URL with a host, found {0:?}")]
    NotHttp(String),
    #[error("credentials do not belong in a URL; use the token settings")]
    Credentials,
}

fn check_http_url(s: &str) -> Result<(), UrlError> {
    let url = url::Url::parse(s).map_err(|source| UrlError::Parse {
        url: s.to_string(),
        source,
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(UrlError::NotHttp(s.to_string()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Credentials);
    }
    Ok(())
}

fn validate(c: &Config, origins: &BTreeMap<String, Origin>) -> Result<(), ConfigError> {
    let fail = |key: String, message: String| ConfigError::Key {
        origin: origin_of(origins, &key),
        key,
        message,
    };
    if !is_compose_name(&c.deployment.project) {
        return Err(fail(
            "deployment.project".into(),
            format!(
                "{:?} is not a compose project name (lowercase letters, digits, '-' and '_')",
                c.deployment.project
            ),
        ));
    }
    if c.deployment.services.is_empty() {
        return Err(fail(
            "deployment.services".into(),
            "at least one service must be deployed".into(),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, s) in c.deployment.services.iter().enumerate() {
        let key = |k: &str| format!("deployment.services[{i}].{k}");
        if !is_service_name(&s.name) {
            return Err(fail(
                key("name"),
                format!("{:?} is not a compose service name", s.name),
            ));
        }
        if !seen.insert(s.name.as_str()) {
            return Err(fail(
                key("name"),
                format!("service {:?} is listed twice", s.name),
            ));
        }
        if !is_env_var_name(&s.image_var) {
            return Err(fail(
                key("image_var"),
                format!("{:?} is not a variable name", s.image_var),
            ));
        }
        if let Some(m) = &s.migrate_service
            && !is_service_name(m)
        {
            return Err(fail(
                key("migrate_service"),
                format!("{m:?} is not a compose service name"),
            ));
        }
    }
    for (i, h) in c.health.iter().enumerate() {
        check_http_url(&h.url).map_err(|m| fail(format!("health[{i}].url"), m.to_string()))?;
        if h.timeout_ms == 0 {
            return Err(fail(
                format!("health[{i}].timeout_ms"),
                "must be above 0".into(),
            ));
        }
    }
    check_http_url(&c.github.api_url).map_err(|m| fail("github.api_url".into(), m.to_string()))?;
    if !crate::gh_deployments::is_environment_name(&c.github.environment) {
        return Err(fail(
            "github.environment".into(),
            format!(
                "{:?} is not a GitHub environment name (1 to 255 letters, digits, spaces, '-', '_', '.', '/')",
                c.github.environment
            ),
        ));
    }
    if !c.github.environment_url.is_empty() {
        check_http_url(&c.github.environment_url)
            .map_err(|m| fail("github.environment_url".into(), m.to_string()))?;
    }
    for (i, n) in c.notify.iter().enumerate() {
        n.validate()
            .map_err(|(key, m)| fail(format!("notify[{i}].{key}"), m))?;
    }
    for (key, value) in [
        ("deploy.health_timeout_s", c.deploy.health_timeout_s),
        ("deploy.health_interval_ms", c.deploy.health_interval_ms),
        (
            "deploy.health_successes",
            u64::from(c.deploy.health_successes),
        ),
        ("deploy.backup_timeout_s", c.deploy.backup_timeout_s),
        ("deploy.migrate_timeout_s", c.deploy.migrate_timeout_s),
        ("deploy.pull_attempts", u64::from(c.deploy.pull_attempts)),
        ("deploy.pull_timeout_s", c.deploy.pull_timeout_s),
        ("deploy.lock_stale_after_s", c.deploy.lock_stale_after_s),
    ] {
        if value == 0 {
            return Err(fail(key.into(), "must be above 0".into()));
        }
    }
    if c.watch.interval_s == 0 {
        return Err(fail("watch.interval_s".into(), "must be above 0".into()));
    }
    if c.watch.max_backoff_s < c.watch.interval_s {
        return Err(fail(
            "watch.max_backoff_s".into(),
            format!("must be at least watch.interval_s ({})", c.watch.interval_s),
        ));
    }
    if c.deploy.keep_images < 2 {
        return Err(fail(
            "deploy.keep_images".into(),
            "must be at least 2 (the running image and the previous one)".into(),
        ));
    }
    if !(1..=100).contains(&c.github.runs_per_page) {
        return Err(fail(
            "github.runs_per_page".into(),
            "must be 1 to 100".into(),
        ));
    }
    for (i, host) in c.registry.plain_http.iter().enumerate() {
        let ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
        if !ok {
            return Err(fail(
                format!("registry.plain_http[{i}]"),
                format!("{host:?} is not host[:port]"),
            ));
        }
    }
    for (i, pair) in c.registry.mirrors.iter().enumerate() {
        let host_ok = |h: &str| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
        };
        let ok = pair
            .split_once('=')
            .is_some_and(|(from, to)| host_ok(from.trim()) && host_ok(to.trim()));
        if !ok {
            return Err(fail(
                format!("registry.mirrors[{i}]"),
                format!("{pair:?} is not REGISTRY=MIRROR (e.g. \"docker.io=mirror.example:5000\")"),
            ));
        }
    }
    if !c.registry.password_env.is_empty() && !is_env_var_name(&c.registry.password_env) {
        return Err(fail(
            "registry.password_env".into(),
            "not a variable name".into(),
        ));
    }
    if !(1..=120).contains(&c.ui.max_fps) {
        return Err(fail("ui.max_fps".into(), "must be 1 to 120".into()));
    }
    if c.ui.log_ring_lines < 100 || c.ui.log_tail_lines > c.ui.log_ring_lines {
        return Err(fail(
            "ui.log_ring_lines".into(),
            "must be at least 100 and at least ui.log_tail_lines".into(),
        ));
    }
    for (key, v) in [
        ("ui.health_interval_ms", c.ui.health_interval_ms),
        (
            "ui.github_interval_unauthenticated_s",
            c.ui.github_interval_unauthenticated_s,
        ),
        (
            "ui.github_interval_authenticated_s",
            c.ui.github_interval_authenticated_s,
        ),
        ("ui.registry_interval_s", c.ui.registry_interval_s),
        ("gpu.sample_interval_ms", c.gpu.sample_interval_ms),
        ("docker.request_timeout_ms", c.docker.request_timeout_ms),
        ("registry.request_timeout_ms", c.registry.request_timeout_ms),
        (
            "registry.tag_detail_limit",
            c.registry.tag_detail_limit as u64,
        ),
        ("github.request_timeout_ms", c.github.request_timeout_ms),
    ] {
        if v == 0 {
            return Err(fail(key.into(), "must be above 0".into()));
        }
    }
    Ok(())
}

impl LoadedConfig {
    /// The effective config as TOML, each value followed by where it came from.
    pub fn show(&self) -> String {
        let value = Value::try_from(&self.config).unwrap_or(Value::Table(Table::new()));
        let mut out = String::new();
        if let Value::Table(t) = value {
            render_table(&t, "", &self.origins, &mut out);
        }
        out
    }
}

fn render_table(t: &Table, path: &str, origins: &BTreeMap<String, Origin>, out: &mut String) {
    use std::fmt::Write;
    for (k, v) in t {
        if !matches!(v, Value::Table(_)) && !is_table_array(v) {
            let full = join(path, k);
            let _ = writeln!(out, "{k} = {}  # {}", inline(v), origin_of(origins, &full));
        }
    }
    for (k, v) in t {
        let full = join(path, k);
        match v {
            Value::Table(sub) => {
                let _ = writeln!(out, "\n[{full}]");
                render_table(sub, &full, origins, out);
            }
            Value::Array(items) if is_table_array(v) => {
                for (i, item) in items.iter().enumerate() {
                    if let Value::Table(sub) = item {
                        let _ = writeln!(out, "\n[[{full}]]");
                        render_table(sub, &format!("{full}[{i}]"), origins, out);
                    }
                }
            }
            _ => {}
        }
    }
}

fn is_table_array(v: &Value) -> bool {
    matches!(v, Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_table))
}

fn inline(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Array(a) => format!("[{}]", a.iter().map(inline).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn with_file(text: &str) -> (tempfile::NamedTempFile, Sources) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        let sources = Sources {
            files: vec![(f.path().to_path_buf(), true)],
            env: vec![],
        };
        (f, sources)
    }

    #[test]
    fn embedded_defaults_describe_elt() {
        let c = defaults();
        assert_eq!(c.deployment.project, "elt");
        assert_eq!(
            c.deployment.compose_file,
            PathBuf::from("docker-compose.gpu.yml")
        );
        let app = &c.deployment.services[0];
        assert_eq!(app.name, "app");
        assert_eq!(
            app.image.docker_name(),
            "ghcr.io/arthurlee116/english-listening-trainer"
        );
        assert_eq!(app.image_var, "IMAGE_TAG");
        assert_eq!(app.migrate_service.as_deref(), Some("migrate"));
        assert_eq!(String::from(app.commit_tags[0].clone()), "main-{sha}");
        assert_eq!(c.health[0].url, "http://localhost:3000/api/health");
        assert_eq!(
            c.github.repo.to_string(),
            "arthurlee116/english-listening-trainer"
        );
        assert_eq!(c.github.workflow.as_str(), "build-and-push.yml");
        assert_eq!(c.github.api_url, "https://api.github.com");
    }

    #[test]
    fn unknown_key_names_file_line_column_and_key() {
        let (f, s) =
            with_file("[github]\nrepo = \"a/b\"\n\n[gpu]\nsample_interval_ms = 500\nbogus = 1\n");
        let err = load(&s).unwrap_err().to_string();
        let want = format!("{}:6:1: key `gpu.bogus`: unknown key", f.path().display());
        assert!(err.starts_with(&want), "{err}");
    }

    #[test]
    fn wrong_type_is_reported_at_its_line() {
        let (_f, s) = with_file("[github]\nruns_per_page = \"many\"\n");
        let err = load(&s).unwrap_err().to_string();
        assert!(
            err.contains(":2:1: key `github.runs_per_page`: expected integer, found string"),
            "{err}"
        );
    }

    #[test]
    fn ready_rules_and_mirrors_parse_and_bad_ones_point_at_their_key() {
        let svc = |ready: &str| {
            format!(
                "[[deployment.services]]\nname = \"bot\"\nimage = \"acme/bot\"\nimage_var = \"BOT_IMAGE\"\n{ready}"
            )
        };
        for (line, want) in [
            ("", None),
            ("ready = \"\"\n", None),
            (
                "ready = \"running:10s\"\n",
                Some(ReadyRule::Running { secs: 10 }),
            ),
        ] {
            let (_f, s) = with_file(&svc(line));
            let c = load(&s).unwrap().config;
            assert_eq!(c.deployment.services[0].ready, want, "{line}");
        }
        for bad in [
            "running",
            "running:0s",
            "running:10",
            "healthy",
            "running:9999s",
        ] {
            let (_f, s) = with_file(&svc(&format!("ready = \"{bad}\"\n")));
            let err = load(&s).unwrap_err().to_string();
            assert!(
                err.contains("deployment.services") && err.contains("running:Ns"),
                "{bad}: {err}"
            );
        }
        let (_f, s) = with_file("[registry]\nmirrors = [\"docker.io=127.0.0.1:5000\"]\n");
        let r = load(&s).unwrap().config.registry;
        let official = ImageRepo::parse("redis").unwrap();
        let user = ImageRepo::parse("docker.io/acme/chat-bot").unwrap();
        let ghcr = ImageRepo::parse("ghcr.io/acme/notes").unwrap();
        assert_eq!(r.pull_name(&official), "127.0.0.1:5000/library/redis");
        assert_eq!(r.pull_name(&user), "127.0.0.1:5000/acme/chat-bot");
        assert_eq!(r.host_for(&user), "127.0.0.1:5000");
        assert_eq!(r.pull_name(&ghcr), "ghcr.io/acme/notes");
        assert_eq!(r.host_for(&ghcr), "ghcr.io");
        for bad in [
            "docker.io",
            "docker.io=",
            "docker.io=a b",
            "=127.0.0.1:5000",
        ] {
            let (_f, s) = with_file(&format!("[registry]\nmirrors = [\"{bad}\"]\n"));
            let err = load(&s).unwrap_err().to_string();
            assert!(err.contains("registry.mirrors[0]"), "{bad}: {err}");
        }
    }

    #[test]
    fn follow_rules_parse_and_bad_ones_point_at_their_line() {
        let svc = |follow: &str| {
            format!(
                "[[deployment.services]]\nname = \"app\"\nimage = \"ghcr.io/acme/pm\"\nimage_var = \"IMAGE_TAG\"\n{follow}"
            )
        };
        use crate::domain::{CommitTagPattern, FollowRule};
        for (line, want) in [
            ("", FollowRule::Latest),
            ("follow = \"latest\"\n", FollowRule::Latest),
            (
                "follow = \"semver\"\n",
                FollowRule::Semver { prereleases: false },
            ),
            (
                "follow = \"semver-prerelease\"\n",
                FollowRule::Semver { prereleases: true },
            ),
            (
                "follow = \"newest:sha-{sha}\"\n",
                FollowRule::Newest(CommitTagPattern::parse("sha-{sha}").unwrap()),
            ),
        ] {
            let (_f, s) = with_file(&svc(line));
            let c = load(&s).unwrap().config;
            assert_eq!(c.deployment.services[0].follow, want, "{line}");
        }
        for bad in [
            "follow = \"newest\"\n",
            "follow = \"newest:sha-\"\n",
            "follow = 3\n",
        ] {
            let (f, s) = with_file(&svc(bad));
            let err = load(&s).unwrap_err().to_string();
            let want = format!("{}:5:1", f.path().display());
            assert!(err.starts_with(&want), "{bad}: {err}");
            assert!(
                err.contains("deployment.services[0].follow"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn tag_detail_limit_must_be_above_zero() {
        let (_f, s) = with_file("[registry]\ntag_detail_limit = 3\n");
        assert_eq!(load(&s).unwrap().config.registry.tag_detail_limit, 3);
        let (_f, s) = with_file("[registry]\ntag_detail_limit = 0\n");
        let err = load(&s).unwrap_err().to_string();
        assert!(err.contains("registry.tag_detail_limit"), "{err}");
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let (_f, s) = with_file("[github]\nrepo = \"unterminated\n");
        let err = load(&s).unwrap_err().to_string();
        assert!(err.contains(":2:"), "{err}");
    }

    #[test]
    fn invalid_values_point_at_their_origin() {
        let (_f, s) = with_file(
            "[[deployment.services]]\nname = \"app\"\nimage = \"ghcr.io/Bad/Name\"\nimage_var = \"IMAGE_TAG\"\n",
        );
        let err = load(&s).unwrap_err().to_string();
        assert!(err.contains("key `deployment.services[0].image`"), "{err}");
        assert!(err.contains(":3:1"), "{err}");

        let (_f, s) = with_file("[[health]]\nname = \"x\"\nurl = \"ftp://x\"\n");
        let err = load(&s).unwrap_err().to_string();
        assert!(
            err.contains("health[0].url") && err.contains(":3:1"),
            "{err}"
        );

        let (_f, s) = with_file(
            "[[deployment.services]]\nname = \"app\"\nimage = \"ghcr.io/a/b\"\nimage_var = \"IMAGE_TAG\"\ncommit_tags = [\"x;{sha}\"]\n",
        );
        let err = load(&s).unwrap_err().to_string();
        assert!(err.contains("commit_tags"), "{err}");
    }

    #[test]
    fn layers_override_in_order_and_record_origins() {
        let (_f, mut s) = with_file("[github]\nrepo = \"me/app\"\nworkflow = \"ci.yml\"\n");
        s.env = vec![
            ("ELT_GITHUB_WORKFLOW".into(), "deploy.yml".into()),
            (
                "ELT_REGISTRY_PLAIN_HTTP".into(),
                "127.0.0.1:5000, localhost:5000".into(),
            ),
            ("ELT_TEST_REGISTRY".into(), "ignored".into()),
        ];
        let l = load(&s).unwrap();
        assert_eq!(l.config.github.repo.to_string(), "me/app");
        assert_eq!(l.config.github.workflow.as_str(), "deploy.yml");
        assert_eq!(
            l.config.registry.plain_http,
            vec!["127.0.0.1:5000", "localhost:5000"]
        );
        assert_eq!(
            l.origins["github.workflow"],
            Origin::Env("ELT_GITHUB_WORKFLOW".into())
        );
        assert!(matches!(
            l.origins["github.repo"],
            Origin::File { line: 2, .. }
        ));
        assert_eq!(l.origins["gpu.sample_interval_ms"], Origin::Defaults);
        let shown = l.show();
        assert!(
            shown.contains("workflow = \"deploy.yml\"  # environment variable ELT_GITHUB_WORKFLOW"),
            "{shown}"
        );
    }

    #[test]
    fn bad_env_values_are_errors() {
        let s = Sources {
            files: vec![],
            env: vec![("ELT_GPU_SAMPLE_INTERVAL_MS".into(), "fast".into())],
        };
        let err = load(&s).unwrap_err().to_string();
        assert!(
            err.contains("ELT_GPU_SAMPLE_INTERVAL_MS") && err.contains("integer"),
            "{err}"
        );
        let s = Sources {
            files: vec![],
            env: vec![("ELT_GITHUB_REPOSITORY".into(), "x/y".into())],
        };
        assert!(load(&s).unwrap_err().to_string().contains("unknown key"));
    }

    #[test]
    fn a_later_array_of_tables_replaces_the_default_one() {
        let (_f, s) =
            with_file("[[health]]\nname = \"api\"\nurl = \"http://127.0.0.1:8080/healthz\"\n");
        let c = load(&s).unwrap().config;
        assert_eq!(c.health.len(), 1);
        assert_eq!(c.health[0].name, "api");
        assert_eq!(c.health[0].timeout_ms, 3000);
    }

    #[test]
    fn key_clashes_name_the_line_of_the_offending_binding() {
        let (f, s) = with_file("[keys]\nrefresh = [\"q\"]\n");
        let err = load(&s).unwrap_err().to_string();
        let want = format!(
            "{}:2:1: key `keys.refresh`: key q is also bound to quit",
            f.path().display()
        );
        assert!(err.starts_with(&want), "{err}");
        let (_f, s) = with_file("[keys]\nquit = [\"ctrl-\"]\n");
        assert!(
            load(&s)
                .unwrap_err()
                .to_string()
                .contains("unknown key \"ctrl-\"")
        );
        let (_f, s) = with_file("[keys]\nlaunch_rockets = [\"x\"]\n");
        assert!(
            load(&s)
                .unwrap_err()
                .to_string()
                .contains("keys.launch_rockets`: unknown key")
        );
        let (_f, s) = with_file("[keys]\nquit = [\"x\"]\n");
        let l = load(&s).unwrap();
        assert_eq!(l.keymap.label(crate::keymap::Action::Quit), "x");
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let s = Sources {
            files: vec![(PathBuf::from("/nonexistent/elt.toml"), true)],
            env: vec![],
        };
        assert!(
            load(&s)
                .unwrap_err()
                .to_string()
                .contains("/nonexistent/elt.toml")
        );
    }
}
