//! HTTP health endpoints: status, latency, and the `status`/`version` fields of a JSON body.
//! Redirects are reported, not followed, and at most `MAX_BODY` bytes of a body are read, so a
//! hostile or broken endpoint cannot stall or flood the console.

use crate::config::HealthEndpoint;
use crate::domain::HealthResult;
use chrono::{DateTime, Utc};
use std::time::{Duration, Instant};

pub const MAX_BODY: usize = 64 * 1024;

#[derive(Clone)]
pub struct HealthChecker {
    client: reqwest::Client,
}

impl HealthChecker {
    pub fn new() -> anyhow::Result<Self> {
        super::install_crypto_provider();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("elt-console/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .build()?;
        Ok(Self { client })
    }

    pub async fn check_all(&self, endpoints: &[HealthEndpoint]) -> Vec<HealthResult> {
        futures_util::future::join_all(endpoints.iter().map(|e| self.check(e))).await
    }

    /// The result of an endpoint that could not be checked at all (the HTTP client could not
    /// be set up): failing, with the reason.
    pub fn not_checked(endpoint: &HealthEndpoint, why: &str, now: DateTime<Utc>) -> HealthResult {
        HealthResult {
            name: endpoint.name.clone(),
            url: endpoint.url.clone(),
            ok: false,
            status: None,
            latency_ms: 0,
            app_status: None,
            version: None,
            error: Some(format!("not checked: cannot set up the HTTP client: {why}")),
            checked_at: now,
        }
    }

    pub async fn check(&self, endpoint: &HealthEndpoint) -> HealthResult {
        let started = Instant::now();
        let timeout = Duration::from_millis(endpoint.timeout_ms);
        let outcome = tokio::time::timeout(timeout, self.fetch(&endpoint.url)).await;
        let latency_ms = started.elapsed().as_millis() as u64;
        let mut result = HealthResult {
            name: endpoint.name.clone(),
            url: endpoint.url.clone(),
            ok: false,
            status: None,
            latency_ms,
            app_status: None,
            version: None,
            error: None,
            checked_at: Utc::now(),
        };
        match outcome {
            Err(_) => result.error = Some(format!("no answer within {} ms", endpoint.timeout_ms)),
            Ok(Err(e)) => result.error = Some(e.to_string()),
            Ok(Ok(answer)) => {
                result.status = Some(answer.status);
                let json: Option<serde_json::Value> = serde_json::from_slice(&answer.body).ok();
                let field = |name: &str| {
                    json.as_ref()
                        .and_then(|j| j.get(name))
                        .and_then(|v| v.as_str())
                        .map(str::to_string)
                };
                result.app_status = field("status");
                result.version = field("version");
                let status_ok = (200..300).contains(&answer.status);
                let app_ok = result.app_status.as_deref().is_none_or(|s| {
                    matches!(
                        s.to_ascii_lowercase().as_str(),
                        "ok" | "healthy" | "up" | "pass" | "ready"
                    )
                });
                result.ok = status_ok && app_ok;
                if !status_ok {
                    result.error = Some(match answer.location {
                        Some(loc) => {
                            format!("HTTP {} redirect to {loc} (not followed)", answer.status)
                        }
                        None => format!("HTTP {}{}", answer.status, snippet(&answer.body)),
                    });
                } else if !app_ok {
                    result.error = Some(format!(
                        "reports status {:?}",
                        result.app_status.as_deref().unwrap_or_default()
                    ));
                }
                if answer.truncated {
                    let note = format!("body over {} KiB, read cut short", MAX_BODY / 1024);
                    result.error = Some(match result.error.take() {
                        Some(e) => format!("{e}; {note}"),
                        None => note,
                    });
                }
            }
        }
        result
    }

    async fn fetch(&self, url: &str) -> Result<Answer, FetchError> {
        let mut response = self.client.get(url).send().await.map_err(FetchError)?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response.chunk().await.map_err(FetchError)? {
            let room = MAX_BODY - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            location,
            body,
            truncated,
        })
    }
}

struct Answer {
    status: u16,
    location: Option<String>,
    body: Vec<u8>,
    truncated: bool,
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(120)]);
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = clean.trim();
    if clean.is_empty() {
        String::new()
    } else {
        format!(": {clean}")
    }
}

/// reqwest's Display hides the cause ("error sending request"); walk the chain for it.
/// A request to an endpoint that got no (whole) answer.
#[derive(Debug, thiserror::Error)]
#[error("{}", describe_reqwest(.0))]
struct FetchError(#[source] reqwest::Error);

pub fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut msg = if e.is_connect() {
        "connection failed".to_string()
    } else if e.is_timeout() {
        "timed out".to_string()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    let mut last = String::new();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    if !last.is_empty() && !msg.contains(&last) {
        msg = format!("{msg}: {last}");
    }
    msg
}
