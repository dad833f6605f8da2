//! Checks on values that serde alone cannot make: names, URLs, ranges.

use super::layers::origin_of;
use super::types::{Config, ConfigError, Origin};
use crate::domain::is_environment_name;
use std::collections::BTreeMap;

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

/// A Swarm stack name as `docker stack deploy` takes it (it prefixes every service name).
fn is_stack_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
}

fn check_swarm(
    c: &Config,
    fail: &impl Fn(String, String) -> ConfigError,
) -> Result<(), ConfigError> {
    use super::types::RuntimeKind;
    // An empty stack is pointed out where the swarm runtime was asked for.
    if c.deployment.runtime == RuntimeKind::Swarm && c.deployment.stack.is_empty() {
        return Err(fail(
            "deployment.runtime".into(),
            "runtime = \"swarm\" needs deployment.stack (the stack's name)".into(),
        ));
    }
    if !c.deployment.stack.is_empty() && !is_stack_name(&c.deployment.stack) {
        return Err(fail(
            "deployment.stack".into(),
            format!(
                "{:?} is not a stack name (letters, digits, '-' and '_', up to 63)",
                c.deployment.stack
            ),
        ));
    }
    if !(1..=3600).contains(&c.swarm.monitor_s) {
        return Err(fail("swarm.monitor_s".into(), "must be 1 to 3600".into()));
    }
    if c.swarm.update_timeout_s < c.swarm.monitor_s {
        return Err(fail(
            "swarm.update_timeout_s".into(),
            format!("must be at least swarm.monitor_s ({})", c.swarm.monitor_s),
        ));
    }
    for (i, arg) in c.swarm.migrate_args.iter().enumerate() {
        // Arguments go to the engine as a list, never through a shell; a NUL cannot.
        if arg.contains('\0') {
            return Err(fail(
                format!("swarm.migrate_args[{i}]"),
                "contains a NUL byte".into(),
            ));
        }
    }
    Ok(())
}

pub(super) fn validate(c: &Config, origins: &BTreeMap<String, Origin>) -> Result<(), ConfigError> {
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
    check_swarm(c, &fail)?;
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
    if !is_environment_name(&c.github.environment) {
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
    super::hosts::validate_all(&c.hosts).map_err(|(key, m)| fail(key, m))?;
    if c.deployment.env_file.is_absolute() && c.hosts.iter().any(|h| !h.folder.is_empty()) {
        // Each host pins its own image: one absolute env file would be every host's.
        return Err(fail(
            "deployment.env_file".into(),
            format!(
                "{} is absolute, but [[hosts]] with a folder each pin their own image in it: give a path relative to the folder (e.g. \".env\")",
                c.deployment.env_file.display()
            ),
        ));
    }
    if c.docker.tls_verify && !c.docker.host.starts_with("tcp://") {
        return Err(fail(
            "docker.tls_verify".into(),
            "TLS applies to a tcp:// host only".into(),
        ));
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
    check_proxy(c).map_err(|(key, m)| fail(key, m))?;
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

/// `[proxy]`: what a start-first deploy writes into a proxy's config or sends to its API is
/// checked here, before any deploy.
fn check_proxy(c: &Config) -> Result<(), (String, String)> {
    use super::types::ProxyKind;
    let p = &c.proxy;
    if p.kind == ProxyKind::None {
        return Ok(());
    }
    let key = |k: &str| format!("proxy.{k}");
    if !c.deployment.services.iter().any(|s| s.name == p.service) {
        return Err((
            key("service"),
            format!(
                "{:?} is not one of deployment.services ({})",
                p.service,
                c.deployment
                    .services
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if p.port == 0 {
        return Err((
            key("port"),
            "must be the container port the proxy sends to (1-65535)".into(),
        ));
    }
    match p.kind {
        ProxyKind::Nginx => {
            if !p.upstream_file.is_absolute() {
                return Err((
                    key("upstream_file"),
                    format!(
                        "{:?}: an absolute path to the upstream file your nginx config includes",
                        p.upstream_file
                    ),
                ));
            }
            crate::switch::check_upstream_name(&p.upstream_name)
                .map_err(|e| (key("upstream_name"), e.to_string()))?;
            if p.nginx_command.split_whitespace().next().is_none() {
                return Err((key("nginx_command"), "is empty".into()));
            }
        }
        ProxyKind::Caddy => {
            crate::switch::caddy::CaddySwitch::new(&p.caddy_admin, &p.caddy_handler_id)
                .map_err(|e| (key("caddy_admin"), e.to_string()))?;
        }
        ProxyKind::Labels | ProxyKind::None => {}
    }
    Ok(())
}
