//! Which token GitHub requests carry, and which route (proxy or direct) they take.

use super::error::GithubSetupError;
use crate::config::GithubConfig;
use crate::sources::proxy::{ProxyError, ProxySettings};
use std::time::Duration;

/// Where the token came from; the token itself is never shown, logged or stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    Env(&'static str),
    File(String),
    GhCli,
    None,
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Env(v) => write!(f, "environment variable {v}"),
            TokenSource::File(p) => write!(f, "token file {p}"),
            TokenSource::GhCli => f.write_str("`gh auth token`"),
            TokenSource::None => f.write_str("none (unauthenticated: 60 requests/hour)"),
        }
    }
}

/// Find a token: GH_TOKEN, GITHUB_TOKEN, the configured token file, then `gh auth token`.
/// A token file readable by group or others is refused, not silently used.
pub async fn resolve_token(
    config: &GithubConfig,
) -> Result<(Option<String>, TokenSource), GithubSetupError> {
    resolve_token_with(config, |var| std::env::var(var).ok()).await
}

/// `resolve_token` with the environment passed in, so tests need not change the real one.
pub async fn resolve_token_with(
    config: &GithubConfig,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(Option<String>, TokenSource), GithubSetupError> {
    for var in ["GH_TOKEN", "GITHUB_TOKEN"] {
        if let Some(t) = env(var)
            && !t.trim().is_empty()
        {
            return Ok((Some(t.trim().to_string()), TokenSource::Env(var)));
        }
    }
    if !config.token_file.is_empty() {
        let path = &config.token_file;
        let token = crate::secret_file::read("token file", path)?;
        return Ok((Some(token), TokenSource::File(path.clone())));
    }
    if let Some(t) = gh_cli_token(&config.api_url).await {
        return Ok((Some(t), TokenSource::GhCli));
    }
    Ok((None, TokenSource::None))
}

async fn gh_cli_token(api_url: &str) -> Option<String> {
    let host = url::Url::parse(api_url).ok()?.host_str()?.to_string();
    let host = if host == "api.github.com" {
        "github.com".to_string()
    } else {
        host
    };
    let child = tokio::process::Command::new("gh")
        .args(["auth", "token", "--hostname", &host])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(3), child)
        .await
        .ok()?
        .ok()?;
    let token = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !token.is_empty()).then_some(token)
}

/// How GitHub requests leave this machine, for `config show` and `status`: the proxy's
/// `host:port` and the variable that named it, never its credentials.
pub fn route_note(config: &GithubConfig) -> String {
    route_note_with(config, &ProxySettings::from_env())
}

pub fn route_note_with(config: &GithubConfig, proxies: &ProxySettings) -> String {
    let api = match url::Url::parse(&config.api_url) {
        Ok(u) => u,
        Err(e) => return format!("GitHub: github.api_url {:?}: {e}", config.api_url),
    };
    match proxies.for_url(&api) {
        Ok(Some(p)) => format!(
            "GitHub via proxy {p} (from {}{})",
            p.var(),
            if p.has_credentials() {
                ", with credentials, never shown"
            } else {
                ""
            }
        ),
        Ok(None) => format!(
            "GitHub direct (no proxy applies to {})",
            api.host_str().unwrap_or("the API")
        ),
        Err(ProxyError { var, why }) => format!("GitHub proxy: error: {var}: {why}"),
    }
}
