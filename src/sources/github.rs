//! GitHub Actions through octocrab: the configured workflow's runs, fetched with conditional
//! requests (`If-None-Match` → 304 costs no rate-limit budget) and with the rate-limit headers
//! of every answer kept, so the console can show and respect its budget.
//!
//! We use octocrab's raw request methods because its typed builders hide the ETag and the
//! rate-limit headers; the JSON is mapped into our `RunView` here.

use crate::config::GithubConfig;
use crate::domain::{GithubRepo, RateLimit, RunView, WorkflowId};
use chrono::{DateTime, TimeZone, Utc};
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum GithubError {
    #[error("GitHub rejected the token (401): {0}; check GH_TOKEN/GITHUB_TOKEN or the token file")]
    Unauthorized(String),
    #[error("GitHub rate limit reached: rate limited until {until_local}")]
    RateLimited {
        until: Option<DateTime<Utc>>,
        until_local: String,
    },
    #[error("GitHub refused access (403): {0}")]
    Forbidden(String),
    #[error("{what}: repository or workflow not found, or the token cannot see it (404)")]
    NotFound { what: String },
    #[error("GitHub refused the request (422): {0}")]
    Validation(String),
    #[error("GitHub server error (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    #[error("GitHub API not reachable at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("unexpected answer from GitHub: {0}")]
    Decode(String),
}

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
pub async fn resolve_token(config: &GithubConfig) -> Result<(Option<String>, TokenSource), String> {
    resolve_token_with(config, |var| std::env::var(var).ok()).await
}

/// `resolve_token` with the environment passed in, so tests need not change the real one.
pub async fn resolve_token_with(
    config: &GithubConfig,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(Option<String>, TokenSource), String> {
    for var in ["GH_TOKEN", "GITHUB_TOKEN"] {
        if let Some(t) = env(var)
            && !t.trim().is_empty()
        {
            return Ok((Some(t.trim().to_string()), TokenSource::Env(var)));
        }
    }
    if !config.token_file.is_empty() {
        let path = &config.token_file;
        let meta = std::fs::metadata(path).map_err(|e| format!("token file {path}: {e}"))?;
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "token file {path} is readable by group or others (mode {mode:o}); run `chmod 600 {path}`"
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("token file {path}: {e}"))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(format!("token file {path} is empty"));
        }
        return Ok((Some(token.to_string()), TokenSource::File(path.clone())));
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

/// A page of runs, and whether GitHub said nothing changed since the last fetch.
#[derive(Debug, Clone)]
pub struct RunsPage {
    pub runs: Vec<RunView>,
    pub not_modified: bool,
    pub rate: RateLimit,
}

#[derive(Clone)]
pub struct GithubSource {
    octo: Octocrab,
    api_url: String,
    repo: GithubRepo,
    workflow: WorkflowId,
    per_page: u32,
    pub token_source: TokenSource,
    cache: Arc<Mutex<HashMap<String, Cached>>>,
    rate: Arc<Mutex<RateLimit>>,
}

#[derive(Clone)]
struct Cached {
    etag: String,
    body: bytes::Bytes,
}

/// The raw answer to one GET, with 304 already resolved from the cache.
struct Fetched {
    body: bytes::Bytes,
    not_modified: bool,
}

impl GithubSource {
    pub async fn new(config: &GithubConfig) -> Result<Self, String> {
        let (token, token_source) = resolve_token(config).await?;
        Self::with_token(config, token, token_source)
    }

    pub fn with_token(
        config: &GithubConfig,
        token: Option<String>,
        token_source: TokenSource,
    ) -> Result<Self, String> {
        super::install_crypto_provider();
        let timeout = Duration::from_millis(config.request_timeout_ms);
        let mut builder = Octocrab::builder()
            .base_uri(config.api_url.as_str())
            .map_err(|e| format!("github.api_url {:?}: {e}", config.api_url))?
            .set_connect_timeout(Some(timeout))
            .set_read_timeout(Some(timeout))
            .add_header(http::header::ACCEPT, "application/vnd.github+json".into())
            .add_header(
                http::HeaderName::from_static("x-github-api-version"),
                "2022-11-28".into(),
            );
        if let Some(token) = token {
            builder = builder.personal_token(token);
        }
        let octo = builder
            .build()
            .map_err(|e| format!("cannot set up the GitHub client: {e}"))?;
        Ok(Self {
            octo,
            api_url: config.api_url.trim_end_matches('/').to_string(),
            repo: config.repo.clone(),
            workflow: config.workflow.clone(),
            per_page: config.runs_per_page,
            token_source,
            cache: Arc::default(),
            rate: Arc::default(),
        })
    }

    pub fn rate_limit(&self) -> RateLimit {
        self.rate.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Recent runs of the configured workflow, newest first.
    pub async fn runs(&self) -> Result<RunsPage, GithubError> {
        let url = format!(
            "{}/repos/{}/{}/actions/workflows/{}/runs?per_page={}",
            self.api_url,
            self.repo.owner(),
            self.repo.name(),
            self.workflow,
            self.per_page
        );
        let what = format!("workflow {} in {}", self.workflow, self.repo);
        let fetched = self.get(&url, &what).await?;
        let list: RunsList = serde_json::from_slice(&fetched.body)
            .map_err(|e| GithubError::Decode(format!("runs list: {e}")))?;
        Ok(RunsPage {
            runs: list.workflow_runs.into_iter().map(RunView::from).collect(),
            not_modified: fetched.not_modified,
            rate: self.rate_limit(),
        })
    }

    async fn get(&self, url: &str, what: &str) -> Result<Fetched, GithubError> {
        let cached = self.cache.lock().ok().and_then(|c| c.get(url).cloned());
        let mut headers = HeaderMap::new();
        if let Some(c) = &cached
            && let Ok(v) = HeaderValue::from_str(&c.etag)
        {
            headers.insert(http::header::IF_NONE_MATCH, v);
        }
        let response = self
            .octo
            ._get_with_headers(url, Some(headers))
            .await
            .map_err(|e| GithubError::Unreachable {
                url: self.api_url.clone(),
                reason: describe_octocrab(&e),
            })?;
        let (parts, body) = response.into_parts();
        self.record_rate(&parts.headers);
        let body = body
            .collect()
            .await
            .map_err(|e| GithubError::Unreachable {
                url: self.api_url.clone(),
                reason: describe_octocrab(&e),
            })?
            .to_bytes();
        match parts.status {
            StatusCode::NOT_MODIFIED => match cached {
                Some(c) => Ok(Fetched {
                    body: c.body,
                    not_modified: true,
                }),
                None => Err(GithubError::Decode("304 without a cached answer".into())),
            },
            s if s.is_success() => {
                if let Some(etag) = parts
                    .headers
                    .get(http::header::ETAG)
                    .and_then(|v| v.to_str().ok())
                    && let Ok(mut cache) = self.cache.lock()
                {
                    cache.insert(
                        url.to_string(),
                        Cached {
                            etag: etag.to_string(),
                            body: body.clone(),
                        },
                    );
                }
                Ok(Fetched {
                    body,
                    not_modified: false,
                })
            }
            s => Err(error_for(s, &parts.headers, &body, what)),
        }
    }

    fn record_rate(&self, headers: &HeaderMap) {
        let rate = rate_from_headers(headers);
        if rate.remaining.is_some()
            && let Ok(mut r) = self.rate.lock()
        {
            *r = rate;
        }
    }
}

pub fn rate_from_headers(headers: &HeaderMap) -> RateLimit {
    let num = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    RateLimit {
        limit: num("x-ratelimit-limit"),
        remaining: num("x-ratelimit-remaining"),
        used: num("x-ratelimit-used"),
        reset: num("x-ratelimit-reset").and_then(|s| Utc.timestamp_opt(s as i64, 0).single()),
        resource: headers
            .get("x-ratelimit-resource")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

/// Turn a non-success answer into an error that says what to do.
pub fn error_for(status: StatusCode, headers: &HeaderMap, body: &[u8], what: &str) -> GithubError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|b| b.message.clone())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("unknown").to_string());
    let rate = rate_from_headers(headers);
    let retry_after = headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let limited = rate.remaining == Some(0) || retry_after.is_some();
    match status.as_u16() {
        401 => GithubError::Unauthorized(message),
        403 | 429 if limited => {
            let until = match retry_after {
                Some(secs) => Some(Utc::now() + chrono::Duration::seconds(secs)),
                None => rate.reset,
            };
            GithubError::RateLimited {
                until,
                until_local: until.map_or_else(
                    || "the limit resets".to_string(),
                    |t| t.with_timezone(&chrono::Local).format("%H:%M").to_string(),
                ),
            }
        }
        403 => GithubError::Forbidden(message),
        404 => GithubError::NotFound {
            what: what.to_string(),
        },
        422 => {
            let details: Vec<String> = parsed
                .map(|b| b.errors)
                .unwrap_or_default()
                .iter()
                .map(|e| match e {
                    serde_json::Value::String(s) => s.clone(),
                    other => {
                        let field = other.get("field").and_then(|f| f.as_str()).unwrap_or("");
                        let code = other.get("code").and_then(|f| f.as_str()).unwrap_or("");
                        let msg = other.get("message").and_then(|f| f.as_str()).unwrap_or("");
                        [field, code, msg]
                            .iter()
                            .filter(|s| !s.is_empty())
                            .copied()
                            .collect::<Vec<_>>()
                            .join(" ")
                    }
                })
                .collect();
            if details.is_empty() {
                GithubError::Validation(message)
            } else {
                GithubError::Validation(format!("{message} ({})", details.join("; ")))
            }
        }
        s => GithubError::Server { status: s, message },
    }
}

fn describe_octocrab(e: &octocrab::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    let mut last = String::new();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    if !last.is_empty() && !text.contains(&last) {
        text = format!("{text}: {last}");
    }
    text
}

#[derive(Deserialize)]
struct RunsList {
    workflow_runs: Vec<RawRun>,
}

#[derive(Deserialize)]
struct RawRun {
    id: u64,
    run_number: u64,
    status: Option<String>,
    conclusion: Option<String>,
    head_branch: Option<String>,
    event: String,
    head_sha: String,
    display_title: Option<String>,
    name: Option<String>,
    actor: Option<Actor>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    run_started_at: Option<DateTime<Utc>>,
    html_url: String,
}

#[derive(Deserialize)]
struct Actor {
    login: String,
}

impl From<RawRun> for RunView {
    fn from(r: RawRun) -> Self {
        RunView {
            id: r.id,
            number: r.run_number,
            status: r.status.unwrap_or_else(|| "unknown".into()),
            conclusion: r.conclusion,
            branch: r.head_branch,
            event: r.event,
            head_sha: r.head_sha,
            title: r.display_title.or(r.name),
            actor: r.actor.map(|a| a.login),
            created_at: r.created_at,
            updated_at: r.updated_at,
            run_started_at: r.run_started_at,
            html_url: r.html_url,
        }
    }
}

/// Parse a runs-list body (exposed for tests on the published payloads).
pub fn parse_runs(body: &[u8]) -> Result<Vec<RunView>, GithubError> {
    let list: RunsList =
        serde_json::from_slice(body).map_err(|e| GithubError::Decode(format!("runs list: {e}")))?;
    Ok(list.workflow_runs.into_iter().map(RunView::from).collect())
}
