//! GitHub Actions through octocrab: the configured workflow's runs, fetched with conditional
//! requests (`If-None-Match` → 304 costs no rate-limit budget) and with the rate-limit headers
//! of every answer kept, so the console can show and respect its budget.
//!
//! We use octocrab's raw request methods because its typed builders hide the ETag and the
//! rate-limit headers; the JSON is mapped into our `RunView` here.
//!
//! Transport: octocrab's own middleware (base URI, auth header, extra headers, tracing) over a
//! reqwest client we configure (`build_with_reqwest`). octocrab's default hyper client has no
//! proxy support and no hook for a connector short of rebuilding that middleware ourselves;
//! reqwest tunnels https through `CONNECT host:443` (TLS stays end to end with GitHub) and
//! sends plain-http requests to the proxy in absolute form, with `Proxy-Authorization` for
//! credentials in the proxy URL. Which proxy, if any, is decided by `super::proxy` from the
//! usual variables, so it can be shown to the operator.

mod deployments;
pub use deployments::{DeploymentView, clip_description};

use super::proxy::{ProxyError, ProxySettings, ProxyUrl};
use crate::config::GithubConfig;
use crate::domain::{CommitSha, GithubRepo, JobView, RateLimit, RunView, StepView, WorkflowId};
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

/// Why a GitHub client could not be set up, before any request was sent.
#[derive(Debug, Error)]
pub enum GithubSetupError {
    #[error("token file {path}: {source}")]
    TokenFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "token file {path} is readable by group or others (mode {mode:o}); run `chmod 600 {path}`"
    )]
    TokenFileOpen { path: String, mode: u32 },
    #[error("token file {path} is empty")]
    TokenFileEmpty { path: String },
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
enum LinkRefused {
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
        let unreadable = |source| GithubSetupError::TokenFile {
            path: path.clone(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(unreadable)?;
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(GithubSetupError::TokenFileOpen {
                path: path.clone(),
                mode,
            });
        }
        let text = std::fs::read_to_string(path).map_err(unreadable)?;
        let token = text.trim();
        if token.is_empty() {
            return Err(GithubSetupError::TokenFileEmpty { path: path.clone() });
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

/// A page of runs, and whether GitHub said nothing changed since the last fetch.
#[derive(Debug, Clone)]
pub struct RunsPage {
    pub runs: Vec<RunView>,
    pub not_modified: bool,
    pub rate: RateLimit,
}

/// A package with more pages than this is not one this console can show usefully.
const MAX_PACKAGE_PAGES: u32 = 50;

#[derive(Clone)]
pub struct GithubSource {
    octo: Octocrab,
    api_url: String,
    /// The proxy every request to `api_url` goes through, None when direct.
    proxy: Option<ProxyUrl>,
    repo: GithubRepo,
    workflow: WorkflowId,
    per_page: u32,
    pub token_source: TokenSource,
    cache: Arc<Mutex<HashMap<String, Cached>>>,
    rate: Arc<Mutex<RateLimit>>,
    /// Until when GitHub told us to stop (rate limit spent, or Retry-After): no request is
    /// sent before then, by any clone of this source.
    blocked: Arc<Mutex<Option<DateTime<Utc>>>>,
}

#[derive(Clone)]
struct Cached {
    etag: String,
    body: bytes::Bytes,
    link_next: Option<String>,
}

/// The raw answer to one GET, with 304 already resolved from the cache.
struct Fetched {
    body: bytes::Bytes,
    not_modified: bool,
    link_next: Option<String>,
}

/// What a `workflow_dispatch` request got back: with `return_run_details`, GitHub answers 200
/// with the new run's id; older servers (and GHES) answer 204 with nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchAnswer {
    pub run_id: Option<u64>,
    pub html_url: Option<String>,
}

/// Every version of a package that could be listed, and why the listing is incomplete when
/// it is (a next page GitHub pointed at that this client will not follow).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PackageVersions {
    pub versions: Vec<PackageVersion>,
    pub note: Option<String>,
}

/// One version of a container package (GitHub Packages API): its digest, when it was pushed,
/// and every tag it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageVersion {
    pub id: u64,
    pub digest: String,
    pub created_at: DateTime<Utc>,
    pub tags: Vec<String>,
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
        super::install_crypto_provider();
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

    fn block_until(&self, until: DateTime<Utc>) {
        if let Ok(mut b) = self.blocked.lock()
            && b.is_none_or(|old| old < until)
        {
            *b = Some(until);
        }
    }

    fn repo_url(&self) -> String {
        format!(
            "{}/repos/{}/{}",
            self.api_url,
            self.repo.owner(),
            self.repo.name()
        )
    }

    /// One run by id (to follow a run we dispatched, or the one whose jobs are open).
    pub async fn run(&self, run_id: u64) -> Result<RunView, GithubError> {
        let url = format!("{}/actions/runs/{run_id}", self.repo_url());
        let fetched = self
            .get(&url, &format!("run {run_id} in {}", self.repo))
            .await?;
        let raw: RawRun = serde_json::from_slice(&fetched.body)
            .map_err(|e| GithubError::Decode(format!("run {run_id}: {e}")))?;
        Ok(raw.into())
    }

    /// Jobs of a run with their steps (first 100 jobs: a build workflow has a handful).
    pub async fn jobs(&self, run_id: u64) -> Result<Vec<JobView>, GithubError> {
        let url = format!(
            "{}/actions/runs/{run_id}/jobs?per_page=100",
            self.repo_url()
        );
        let fetched = self
            .get(&url, &format!("jobs of run {run_id} in {}", self.repo))
            .await?;
        parse_jobs(&fetched.body)
    }

    /// The repository's default branch (what a dispatch form offers as the ref).
    pub async fn default_branch(&self) -> Result<String, GithubError> {
        let fetched = self
            .get(&self.repo_url(), &format!("repository {}", self.repo))
            .await?;
        let v: serde_json::Value = serde_json::from_slice(&fetched.body)
            .map_err(|e| GithubError::Decode(format!("repository: {e}")))?;
        v.get("default_branch")
            .and_then(|b| b.as_str())
            .map(str::to_string)
            .ok_or_else(|| GithubError::Decode("repository without default_branch".into()))
    }

    /// The configured workflow's file path in the repository (`.github/workflows/x.yml`).
    pub async fn workflow_path(&self) -> Result<String, GithubError> {
        let url = format!("{}/actions/workflows/{}", self.repo_url(), self.workflow);
        let fetched = self
            .get(
                &url,
                &format!("workflow {} in {}", self.workflow, self.repo),
            )
            .await?;
        let v: serde_json::Value = serde_json::from_slice(&fetched.body)
            .map_err(|e| GithubError::Decode(format!("workflow: {e}")))?;
        v.get("path")
            .and_then(|b| b.as_str())
            .map(str::to_string)
            .ok_or_else(|| GithubError::Decode("workflow without path".into()))
    }

    /// A text file of the repository at `git_ref`, through the contents API (base64).
    pub async fn file(&self, path: &str, git_ref: &str) -> Result<String, GithubError> {
        // Both reach the URL: refuse anything that could change its meaning.
        let path_ok = !path.is_empty()
            && !path.contains("..")
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-'));
        if !path_ok {
            return Err(GithubError::Decode(format!("unusable file path {path:?}")));
        }
        let git_ref = crate::workflow::validate_ref(git_ref)
            .map_err(|e| GithubError::Decode(e.to_string()))?;
        let url = format!(
            "{}/contents/{path}?ref={}",
            self.repo_url(),
            url::form_urlencoded::byte_serialize(git_ref.as_bytes()).collect::<String>()
        );
        let fetched = self
            .get(&url, &format!("{path} at {git_ref} in {}", self.repo))
            .await?;
        decode_content(&fetched.body)
    }

    /// POST the workflow's dispatches endpoint with a body already validated by the caller.
    pub async fn dispatch(&self, body: &serde_json::Value) -> Result<DispatchAnswer, GithubError> {
        let url = format!(
            "{}/actions/workflows/{}/dispatches",
            self.repo_url(),
            self.workflow
        );
        let what = format!("workflow {} in {}", self.workflow, self.repo);
        let (parts, body) = self
            .exchange(self.octo._post(url.as_str(), Some(body)))
            .await?;
        match parts.status.as_u16() {
            204 => Ok(DispatchAnswer {
                run_id: None,
                html_url: None,
            }),
            200 | 201 => {
                let v: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|e| GithubError::Decode(format!("dispatch answer: {e}")))?;
                Ok(DispatchAnswer {
                    run_id: v.get("workflow_run_id").and_then(|i| i.as_u64()),
                    html_url: v
                        .get("html_url")
                        .and_then(|u| u.as_str())
                        .map(str::to_string),
                })
            }
            _ => Err(self.failed(parts.status, &parts.headers, &body, &what)),
        }
    }

    /// Runs of the workflow started by `workflow_dispatch` at or after `since` (newest first):
    /// how a dispatch answered with 204 finds the run it started.
    pub async fn dispatch_runs_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<RunView>, GithubError> {
        let url = format!(
            "{}/actions/workflows/{}/runs?event=workflow_dispatch&created=%3E%3D{}&per_page=20",
            self.repo_url(),
            self.workflow,
            since.format("%Y-%m-%dT%H:%M:%SZ")
        );
        let what = format!("workflow {} in {}", self.workflow, self.repo);
        let fetched = self.get(&url, &what).await?;
        parse_runs(&fetched.body)
    }

    /// Every version of a container package, following pagination. `owner` may be a user or
    /// an organisation: the user listing is tried first, then the organisation's.
    pub async fn package_versions(
        &self,
        owner: &str,
        package: &str,
    ) -> Result<PackageVersions, GithubError> {
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
        };
        if !name_ok(owner) || owner.contains('/') || !name_ok(package) {
            return Err(GithubError::Decode(format!(
                "unusable package name {owner}/{package}"
            )));
        }
        let encoded: String = url::form_urlencoded::byte_serialize(package.as_bytes()).collect();
        let what = format!("container package {owner}/{package}");
        let mut out = PackageVersions::default();
        for scope in ["users", "orgs"] {
            let mut next = Some(format!(
                "{}/{scope}/{owner}/packages/container/{encoded}/versions?per_page=100",
                self.api_url
            ));
            let mut pages = 0;
            let mut result = Ok(());
            while let Some(url) = next.take() {
                pages += 1;
                match self.get(&url, &what).await {
                    Ok(f) => {
                        out.versions.extend(parse_package_versions(&f.body)?);
                        let Some(link) = f.link_next else { break };
                        if pages >= MAX_PACKAGE_PAGES {
                            out.note = Some(format!(
                                "GitHub Packages API: stopped after {pages} pages ({} versions)",
                                out.versions.len()
                            ));
                        } else {
                            match self.same_host_link(&link) {
                                Ok(u) => next = Some(u),
                                Err(why) => {
                                    out.note = Some(format!(
                                        "GitHub Packages API: page {} not read ({why}); showing the first {}",
                                        pages + 1,
                                        crate::format::count(
                                            out.versions.len(),
                                            "version",
                                            "versions"
                                        )
                                    ))
                                }
                            }
                        }
                    }
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            match result {
                Ok(()) => return Ok(out),
                Err(GithubError::NotFound { .. }) if scope == "users" => {
                    out = PackageVersions::default()
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// A `Link` target to follow: any path on the API's own scheme, host and port (GHCR links
    /// an organisation's pages as `/organizations/<id>/…`, outside a GitHub Enterprise
    /// `api_url`'s `/api/v3`). Another host would get our token, so it is refused.
    fn same_host_link(&self, link: &str) -> Result<String, LinkRefused> {
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
    fn unreachable(&self, e: &octocrab::Error) -> GithubError {
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

    fn check_blocked(&self) -> Result<(), GithubError> {
        match self.blocked_until(Utc::now()) {
            Some(until) => Err(rate_limited(Some(until))),
            None => Ok(()),
        }
    }

    /// Map a failed answer, and hold back further requests when it says to.
    fn failed(
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

    /// The commits between two commits (`GET /repos/{o}/{r}/compare/{base}...{head}`), through
    /// the same conditional GET, cache and hold as every other request. Without paging GitHub
    /// lists up to 250 commits, oldest first; `total_commits` counts them all.
    pub async fn compare(
        &self,
        base: &CommitSha,
        head: &CommitSha,
    ) -> Result<Comparison, GithubError> {
        let url = format!(
            "{}/compare/{}...{}",
            self.repo_url(),
            base.as_str(),
            head.as_str()
        );
        let what = format!(
            "commits {}...{} in {}",
            base.short(),
            head.short(),
            self.repo
        );
        let fetched = self.get(&url, &what).await?;
        parse_comparison(&fetched.body)
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

    /// Sends one request unless GitHub holds us back, notes its rate-limit headers and reads
    /// the whole answer: what every GET and POST does before looking at the status.
    async fn exchange(
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

    async fn get(&self, url: &str, what: &str) -> Result<Fetched, GithubError> {
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

    fn record_rate(&self, headers: &HeaderMap) {
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

fn rate_limited(until: Option<DateTime<Utc>>) -> GithubError {
    GithubError::RateLimited {
        until,
        until_local: until.map_or_else(
            || "the limit resets".to_string(),
            |t| crate::format::clock(t, Utc::now()),
        ),
    }
}

/// The `rel="next"` target of a `Link` header.
fn next_link(header: &str) -> Option<String> {
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
    head_commit: Option<HeadCommit>,
}

#[derive(Deserialize)]
struct HeadCommit {
    message: Option<String>,
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
            // Runs from before `display_title` existed (and some without a `name`) still get
            // a title: the head commit's first line, as GitHub's own run list shows.
            title: [
                r.display_title,
                r.name,
                r.head_commit
                    .and_then(|c| c.message)
                    .and_then(|m| m.lines().next().map(str::to_string)),
            ]
            .into_iter()
            .flatten()
            .map(|t| t.trim().to_string())
            .find(|t| !t.is_empty()),
            actor: r.actor.map(|a| a.login),
            created_at: r.created_at,
            updated_at: r.updated_at,
            run_started_at: r.run_started_at,
            html_url: r.html_url,
        }
    }
}

/// Parse a runs-list body (exposed for tests on the published payloads).
/// What lies between two commits, as GitHub's compare API tells it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Comparison {
    /// `ahead`, `behind`, `diverged` or `identical` (head relative to base).
    pub status: String,
    pub ahead_by: u64,
    pub behind_by: u64,
    pub total_commits: u64,
    /// The commits in head and not in base, oldest first (at most 250).
    pub commits: Vec<CommitSummary>,
}

/// One commit of a comparison: what an operator needs to recognise it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommitSummary {
    pub sha: String,
    /// The first line of the message.
    pub title: String,
    pub author: Option<String>,
    pub date: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct RawComparison {
    status: String,
    ahead_by: u64,
    behind_by: u64,
    total_commits: u64,
    #[serde(default)]
    commits: Vec<RawCompareCommit>,
}

#[derive(Deserialize)]
struct RawCompareCommit {
    sha: String,
    commit: RawCompareCommitInner,
}

#[derive(Deserialize)]
struct RawCompareCommitInner {
    message: String,
    author: Option<RawGitActor>,
}

#[derive(Deserialize)]
struct RawGitActor {
    name: Option<String>,
    date: Option<DateTime<Utc>>,
}

pub fn parse_comparison(body: &[u8]) -> Result<Comparison, GithubError> {
    let raw: RawComparison = serde_json::from_slice(body)
        .map_err(|e| GithubError::Decode(format!("comparison: {e}")))?;
    Ok(Comparison {
        status: raw.status,
        ahead_by: raw.ahead_by,
        behind_by: raw.behind_by,
        total_commits: raw.total_commits,
        commits: raw
            .commits
            .into_iter()
            .map(|c| CommitSummary {
                sha: c.sha,
                // Titles are shown on one line: no control characters from a message.
                title: c
                    .commit
                    .message
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .filter(|ch| !ch.is_control())
                    .take(200)
                    .collect(),
                author: c.commit.author.as_ref().and_then(|a| a.name.clone()),
                date: c.commit.author.and_then(|a| a.date),
            })
            .collect(),
    })
}

pub fn parse_runs(body: &[u8]) -> Result<Vec<RunView>, GithubError> {
    let list: RunsList =
        serde_json::from_slice(body).map_err(|e| GithubError::Decode(format!("runs list: {e}")))?;
    Ok(list.workflow_runs.into_iter().map(RunView::from).collect())
}

#[derive(Deserialize)]
struct JobsList {
    jobs: Vec<RawJob>,
}

#[derive(Deserialize)]
struct RawJob {
    id: u64,
    name: String,
    status: String,
    conclusion: Option<String>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    html_url: Option<String>,
    #[serde(default)]
    steps: Vec<RawStep>,
}

#[derive(Deserialize)]
struct RawStep {
    number: u64,
    name: String,
    status: String,
    conclusion: Option<String>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
}

/// Parse a jobs-list body (exposed for tests on the published payloads).
pub fn parse_jobs(body: &[u8]) -> Result<Vec<JobView>, GithubError> {
    let list: JobsList =
        serde_json::from_slice(body).map_err(|e| GithubError::Decode(format!("jobs list: {e}")))?;
    Ok(list
        .jobs
        .into_iter()
        .map(|j| JobView {
            id: j.id,
            name: j.name,
            status: j.status,
            conclusion: j.conclusion,
            started_at: j.started_at,
            completed_at: j.completed_at,
            html_url: j.html_url,
            steps: j
                .steps
                .into_iter()
                .map(|s| StepView {
                    number: s.number,
                    name: s.name,
                    status: s.status,
                    conclusion: s.conclusion,
                    started_at: s.started_at,
                    completed_at: s.completed_at,
                })
                .collect(),
        })
        .collect())
}

/// The text of a contents-API file answer. Base64 lines are joined by newlines on GitHub;
/// the published example joins them with a literal backslash-n, which base64 never contains.
pub fn decode_content(body: &[u8]) -> Result<String, GithubError> {
    use base64::Engine;
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| GithubError::Decode(format!("file contents: {e}")))?;
    if v.get("type").and_then(|t| t.as_str()) != Some("file") {
        return Err(GithubError::Decode("the path is not a file".into()));
    }
    let encoded = v
        .get("content")
        .and_then(|c| c.as_str())
        .ok_or_else(|| GithubError::Decode("file answer without content".into()))?;
    let cleaned: String = encoded
        .replace("\\n", "")
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cleaned)
        .map_err(|e| GithubError::Decode(format!("file content is not base64: {e}")))?;
    String::from_utf8(bytes).map_err(|_| GithubError::Decode("file is not UTF-8 text".into()))
}

#[derive(Deserialize)]
struct RawPackageVersion {
    id: u64,
    name: String,
    created_at: DateTime<Utc>,
    #[serde(default)]
    metadata: Option<RawPackageMetadata>,
}

#[derive(Deserialize)]
struct RawPackageMetadata {
    container: Option<RawContainerMetadata>,
}

#[derive(Deserialize)]
struct RawContainerMetadata {
    #[serde(default)]
    tags: Vec<String>,
}

/// Parse a package-versions list (exposed for tests on the published payloads). Versions of
/// other package types carry no container tags and come back with an empty list.
pub fn parse_package_versions(body: &[u8]) -> Result<Vec<PackageVersion>, GithubError> {
    let list: Vec<RawPackageVersion> = serde_json::from_slice(body)
        .map_err(|e| GithubError::Decode(format!("package versions: {e}")))?;
    Ok(list
        .into_iter()
        .map(|v| PackageVersion {
            id: v.id,
            digest: v.name,
            created_at: v.created_at,
            tags: v
                .metadata
                .and_then(|m| m.container)
                .map(|c| c.tags)
                .unwrap_or_default(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published runs-list payload, with `keys` removed from its run.
    fn runs_payload_without(keys: &[&str]) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/github/actions-runs-list.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        for run in v["workflow_runs"].as_array_mut().unwrap() {
            for k in keys {
                run.as_object_mut().unwrap().remove(*k);
            }
        }
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn a_run_title_falls_back_to_the_name_then_the_head_commits_first_line() {
        let runs = parse_runs(&runs_payload_without(&[])).unwrap();
        assert_eq!(runs[0].title.as_deref(), Some("Update README.md"));
        let runs = parse_runs(&runs_payload_without(&["display_title"])).unwrap();
        assert_eq!(runs[0].title.as_deref(), Some("Build"));
        // An older payload: neither field; the head commit says "Create linter.yaml".
        let runs = parse_runs(&runs_payload_without(&["display_title", "name"])).unwrap();
        assert_eq!(runs[0].title.as_deref(), Some("Create linter.yaml"));
        let runs = parse_runs(&runs_payload_without(&[
            "display_title",
            "name",
            "head_commit",
        ]))
        .unwrap();
        assert_eq!(runs[0].title, None);
    }

    #[test]
    fn only_the_first_line_of_a_multi_line_commit_message_is_a_title() {
        let mut v: serde_json::Value =
            serde_json::from_slice(&runs_payload_without(&["display_title", "name"])).unwrap();
        v["workflow_runs"][0]["head_commit"]["message"] =
            "Fix the tag column\n\nLonger explanation.".into();
        let runs = parse_runs(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(runs[0].title.as_deref(), Some("Fix the tag column"));
    }
}
