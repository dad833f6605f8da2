//! What can go wrong talking to GitHub, and how an answer's status and headers become one
//! of these errors.

use crate::domain::RateLimit;
use crate::sources::proxy::ProxyError;
use chrono::{DateTime, TimeZone, Utc};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
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
    #[error("GitHub API not reachable at {url}{}: {reason}", via(proxy))]
    Unreachable {
        url: String,
        /// The proxy's `host:port` when the request went through one (never credentials).
        proxy: Option<String>,
        reason: String,
    },
    #[error("unexpected answer from GitHub: {0}")]
    Decode(String),
}

fn via(proxy: &Option<String>) -> String {
    proxy
        .as_ref()
        .map(|p| format!(" via proxy {p}"))
        .unwrap_or_default()
}

/// Why a GitHub client could not be set up, before any request was sent.
#[derive(Debug, Error)]
pub enum GithubSetupError {
    #[error(transparent)]
    TokenFile(#[from] crate::secret_file::SecretFileError),
    #[error("github.api_url {url:?}: {reason}")]
    ApiUrl { url: String, reason: String },
    #[error("GitHub API at {url}: {source}")]
    Proxy {
        url: String,
        #[source]
        source: ProxyError,
    },
    #[error("cannot set up the GitHub client: {0}")]
    Client(String),
}

/// Why a `Link` to a next page is not followed.
#[derive(Debug, Error)]
pub(super) enum LinkRefused {
    #[error("api_url: {0}")]
    ApiUrl(url::ParseError),
    #[error("unusable link {link:?}: {source}")]
    Unusable {
        link: String,
        source: url::ParseError,
    },
    #[error("it is on {target}, not on the API's host {api}")]
    OtherHost { target: String, api: String },
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
            rate_limited(until)
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

pub(super) fn rate_limited(until: Option<DateTime<Utc>>) -> GithubError {
    GithubError::RateLimited {
        until,
        until_local: until.map_or_else(
            || "the limit resets".to_string(),
            |t| crate::format::clock(t, Utc::now()),
        ),
    }
}

/// The `rel="next"` target of a `Link` header.
pub(super) fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                target
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

pub(super) fn describe_octocrab(e: &octocrab::Error) -> String {
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
