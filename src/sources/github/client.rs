//! The GitHub client: its setup (token, proxy, timeouts) and the one GET/POST path every
//! request takes (conditional GET with ETag cache, rate-limit bookkeeping, hold-back).

use super::error::{
    GithubError, GithubSetupError, LinkRefused, describe_octocrab, error_for, next_link,
    rate_from_headers, rate_limited,
};
use super::token::{TokenSource, resolve_token};
use crate::config::GithubConfig;
use crate::domain::{GithubRepo, RateLimit, WorkflowId};
use crate::sources::proxy::{ProxySettings, ProxyUrl};
use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone)]
pub struct GithubSource {
    pub(super) octo: Octocrab,
    pub(super) api_url: String,
    /// The proxy every request to `api_url` goes through, None when direct.
    pub(super) proxy: Option<ProxyUrl>,
    pub(super) repo: GithubRepo,
    pub(super) workflow: WorkflowId,
    pub(super) per_page: u32,
    pub token_source: TokenSource,
    pub(super) cache: Arc<Mutex<HashMap<String, Cached>>>,
    pub(super) rate: Arc<Mutex<RateLimit>>,
    /// Until when GitHub told us to stop (rate limit spent, or Retry-After): no request is
    /// sent before then, by any clone of this source.
    pub(super) blocked: Arc<Mutex<Option<DateTime<Utc>>>>,
}

#[derive(Clone)]
pub(super) struct Cached {
    etag: String,
    body: bytes::Bytes,
    link_next: Option<String>,
}

/// The raw answer to one GET, with 304 already resolved from the cache.
pub(super) struct Fetched {
    pub(super) body: bytes::Bytes,
    pub(super) not_modified: bool,
    pub(super) link_next: Option<String>,
}

impl GithubSource {
    pub async fn new(config: &GithubConfig) -> Result<Self, GithubSetupError> {
        let (token, token_source) = resolve_token(config).await?;
        Self::with_token(config, token, token_source)
    }

    /// A source with the token given and the proxy the process environment names.
    pub fn with_token(
        config: &GithubConfig,
        token: Option<String>,
        token_source: TokenSource,
    ) -> Result<Self, GithubSetupError> {
        Self::with_proxy(config, token, token_source, &ProxySettings::from_env())
    }

    /// A source with the token and the proxy rules given (tests pass their own rules rather
    /// than change the process environment).
    pub fn with_proxy(
        config: &GithubConfig,
        token: Option<String>,
        token_source: TokenSource,
        proxies: &ProxySettings,
    ) -> Result<Self, GithubSetupError> {
        crate::sources::install_crypto_provider();
        let api_url = |e: &dyn std::fmt::Display| GithubSetupError::ApiUrl {
            url: config.api_url.clone(),
            reason: e.to_string(),
        };
        let api = url::Url::parse(&config.api_url).map_err(|e| api_url(&e))?;
        let proxy = proxies
            .for_url(&api)
            .map_err(|source| GithubSetupError::Proxy {
                url: config.api_url.clone(),
                source,
            })?
            .cloned();
        let timeout = Duration::from_millis(config.request_timeout_ms);
        let rules = proxies.clone();
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .read_timeout(timeout)
            // octocrab's hyper client never followed redirects; an API 301 stays an answer.
            .redirect(reqwest::redirect::Policy::none())
            // Every URL asks our rules; this also turns off reqwest's own reading of the
            // environment, so the proxy shown is the proxy used.
            .proxy(reqwest::Proxy::custom(move |url| {
                rules.for_url(url).ok().flatten().map(|p| p.url().clone())
            }))
            .build()
            .map_err(|e| GithubSetupError::Client(e.to_string()))?;
        let mut builder = Octocrab::builder()
            .base_uri(config.api_url.as_str())
            .map_err(|e| api_url(&e))?
            .add_header(http::header::ACCEPT, "application/vnd.github+json".into())
            .add_header(
                http::HeaderName::from_static("x-github-api-version"),
                "2022-11-28".into(),
            );
        if let Some(token) = token {
            builder = builder.personal_token(token);
        }
        let octo = builder
            .build_with_reqwest(http)
            .map_err(|e| GithubSetupError::Client(e.to_string()))?;
        Ok(Self {
            octo,
            api_url: config.api_url.trim_end_matches('/').to_string(),
            proxy,
            repo: config.repo.clone(),
            workflow: config.workflow.clone(),
            per_page: config.runs_per_page,
            token_source,
            cache: Arc::default(),
            rate: Arc::default(),
            blocked: Arc::default(),
        })
    }

    /// `host:port` of the proxy GitHub requests go through; None when they go direct.
    pub fn proxy(&self) -> Option<&str> {
        self.proxy.as_ref().map(ProxyUrl::host_port)
    }

    pub fn repo(&self) -> &GithubRepo {
        &self.repo
    }

    pub fn workflow(&self) -> &WorkflowId {
        &self.workflow
    }

    /// Until when requests are held back because GitHub said so; None when free to ask.
    pub fn blocked_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.blocked
            .lock()
            .ok()
            .and_then(|b| *b)
            .filter(|until| *until > now)
    }

    pub(super) fn block_until(&self, until: DateTime<Utc>) {
        if let Ok(mut b) = self.blocked.lock()
            && b.is_none_or(|old| old < until)
        {
            *b = Some(until);
        }
    }

    pub(super) fn repo_url(&self) -> String {
        format!(
            "{}/repos/{}/{}",
            self.api_url,
            self.repo.owner(),
            self.repo.name()
        )
    }

    /// A `Link` target to follow: any path on the API's own scheme, host and port (GHCR links
    /// an organisation's pages as `/organizations/<id>/…`, outside a GitHub Enterprise
    /// `api_url`'s `/api/v3`). Another host would get our token, so it is refused.
    pub(super) fn same_host_link(&self, link: &str) -> Result<String, LinkRefused> {
        let origin = |u: &url::Url| {
            (
                u.scheme().to_string(),
                u.host_str().map(str::to_string),
                u.port_or_known_default(),
            )
        };
        let api = url::Url::parse(&self.api_url).map_err(LinkRefused::ApiUrl)?;
        let target = url::Url::parse(link).map_err(|source| LinkRefused::Unusable {
            link: link.to_string(),
            source,
        })?;
        if origin(&api) == origin(&target) {
            Ok(target.to_string())
        } else {
            Err(LinkRefused::OtherHost {
                target: target.origin().ascii_serialization(),
                api: api.origin().ascii_serialization(),
            })
        }
    }

    /// A request that got no answer; names the proxy, never its credentials.
    pub(super) fn unreachable(&self, e: &octocrab::Error) -> GithubError {
        let reason = describe_octocrab(e);
        GithubError::Unreachable {
            url: self.api_url.clone(),
            proxy: self.proxy.as_ref().map(|p| p.host_port().to_string()),
            reason: match &self.proxy {
                Some(p) => p.redact(&reason),
                None => reason,
            },
        }
    }

    pub(super) fn check_blocked(&self) -> Result<(), GithubError> {
        match self.blocked_until(Utc::now()) {
            Some(until) => Err(rate_limited(Some(until))),
            None => Ok(()),
        }
    }

    /// Map a failed answer, and hold back further requests when it says to.
    pub(super) fn failed(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        what: &str,
    ) -> GithubError {
        // A plain-http request through a proxy gets the proxy's own refusal as its answer.
        if status == StatusCode::PROXY_AUTHENTICATION_REQUIRED
            && let Some(p) = &self.proxy
        {
            return GithubError::Unreachable {
                url: self.api_url.clone(),
                proxy: Some(p.host_port().to_string()),
                reason: if p.has_credentials() {
                    "the proxy refused its credentials (407)".into()
                } else {
                    "the proxy wants credentials (407): put them in the proxy URL, \
                     http://user:password@host:port"
                        .into()
                },
            };
        }
        let e = error_for(status, headers, body, what);
        if let GithubError::RateLimited {
            until: Some(until), ..
        } = &e
        {
            self.block_until(*until);
        }
        e
    }

    pub fn rate_limit(&self) -> RateLimit {
        self.rate.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Sends one request unless GitHub holds us back, notes its rate-limit headers and reads
    /// the whole answer: what every GET and POST does before looking at the status.
    pub(super) async fn exchange(
        &self,
        send: impl std::future::Future<
            Output = Result<
                http::Response<http_body_util::combinators::BoxBody<bytes::Bytes, octocrab::Error>>,
                octocrab::Error,
            >,
        >,
    ) -> Result<(http::response::Parts, bytes::Bytes), GithubError> {
        self.check_blocked()?;
        let response = send.await.map_err(|e| self.unreachable(&e))?;
        let (parts, body) = response.into_parts();
        self.record_rate(&parts.headers);
        let body = body
            .collect()
            .await
            .map_err(|e| self.unreachable(&e))?
            .to_bytes();
        Ok((parts, body))
    }

    pub(super) async fn get(&self, url: &str, what: &str) -> Result<Fetched, GithubError> {
        let cached = self.cache.lock().ok().and_then(|c| c.get(url).cloned());
        let mut headers = HeaderMap::new();
        if let Some(c) = &cached
            && let Ok(v) = HeaderValue::from_str(&c.etag)
        {
            headers.insert(http::header::IF_NONE_MATCH, v);
        }
        let (parts, body) = self
            .exchange(self.octo._get_with_headers(url, Some(headers)))
            .await?;
        match parts.status {
            StatusCode::NOT_MODIFIED => match cached {
                Some(c) => Ok(Fetched {
                    body: c.body,
                    not_modified: true,
                    link_next: c.link_next,
                }),
                None => Err(GithubError::Decode("304 without a cached answer".into())),
            },
            s if s.is_success() => {
                let link_next = parts
                    .headers
                    .get(http::header::LINK)
                    .and_then(|v| v.to_str().ok())
                    .and_then(next_link);
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
                            link_next: link_next.clone(),
                        },
                    );
                }
                Ok(Fetched {
                    body,
                    not_modified: false,
                    link_next,
                })
            }
            s => Err(self.failed(s, &parts.headers, &body, what)),
        }
    }

    pub(super) fn record_rate(&self, headers: &HeaderMap) {
        let rate = rate_from_headers(headers);
        // A spent budget blocks until it resets, even before a request is refused.
        if rate.remaining == Some(0)
            && let Some(reset) = rate.reset
        {
            self.block_until(reset);
        }
        if rate.remaining.is_some()
            && let Ok(mut r) = self.rate.lock()
        {
            *r = rate;
        }
    }
}
