//! The image repository in an OCI registry (GHCR, Docker Hub, a private distribution).
//!
//! oci-client does the distribution API and the token dance (anonymous bearer tokens for
//! public images, basic credentials exchanged for tokens for private ones). We add tag
//! pagination, reading the config's OCI labels, and errors an operator can act on.

use super::proxy::ProxySettings;
use crate::config::RegistryConfig;
use crate::domain::{CommitSha, Digest, ImageRepo, Tag};
use chrono::{DateTime, Utc};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{ImageIndexEntry, OciImageManifest, OciManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use std::collections::HashMap;
use std::time::Duration;
use thiserror::Error;

const PAGE_SIZE: usize = 100;
/// A registry that keeps answering with new pages past this is misbehaving.
const MAX_TAGS: usize = 20_000;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RegistryError {
    #[error(
        "registry refused access to {repo} (401): the image is private or the credentials are wrong; set registry.username and registry.password_env, or `docker login {registry}`"
    )]
    Unauthorized { repo: String, registry: String },
    #[error("registry denied access to {repo} (403): {message}")]
    Denied { repo: String, message: String },
    #[error("{what} not found in the registry (404)")]
    NotFound { what: String },
    #[error("registry rate limit reached (429) for {repo}: {message}")]
    RateLimited { repo: String, message: String },
    #[error("registry {registry} not reachable: {reason}")]
    Unreachable { registry: String, reason: String },
    #[error("registry error for {repo}: {message}")]
    Other { repo: String, message: String },
}

impl RegistryError {
    /// Worth retrying: the registry or the network may recover by itself.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RegistryError::Unreachable { .. } | RegistryError::RateLimited { .. }
        ) || matches!(self, RegistryError::Other { message, .. } if message.contains("HTTP 5"))
    }
}

/// Facts about one tag, read from its manifest and image config. Not all-or-nothing: when a
/// manifest list names a platform manifest the registry no longer has, the list's digest and
/// whatever another platform tells are kept, and `problem` says what is missing.
#[derive(Debug, Clone, PartialEq)]
pub struct TagDetails {
    /// The digest the tag points to (a manifest list's own digest for a multi-platform tag).
    pub digest: Digest,
    pub labels: HashMap<String, String>,
    pub created: Option<DateTime<Utc>>,
    /// Compressed size of the platform image read (config + layers); None when none was.
    pub size_bytes: Option<u64>,
    /// The platform whose image the labels, time and size come from (`linux/amd64`), for a
    /// manifest list.
    pub platform: Option<String>,
    /// What could not be read, e.g. a platform manifest missing from the registry.
    pub problem: Option<String>,
}

impl TagDetails {
    pub fn revision(&self) -> Option<CommitSha> {
        self.labels
            .get("org.opencontainers.image.revision")
            .and_then(|r| CommitSha::parse(r).ok())
    }
}

#[derive(Clone)]
pub struct RegistrySource {
    /// One client per registry host, made on first use with that registry's proxy choice.
    clients: std::sync::Arc<std::sync::Mutex<HashMap<String, std::sync::Arc<Client>>>>,
    proxies: ProxySettings,
    plain_http: Vec<String>,
    timeout: Duration,
    username: String,
    password: Option<String>,
    /// What `docker login` left per registry, read once a while: a credential helper is a
    /// process to start, not something to run for each of a refresh's requests.
    docker_logins: std::sync::Arc<std::sync::Mutex<HashMap<String, DockerLogin>>>,
    detail_limit: usize,
    /// `registry.mirrors`: where each registry's images are read from instead.
    config: RegistryConfig,
    /// For identity tokens: the token endpoint's requests, and the access tokens it gave
    /// (per registry host and repository, until they expire).
    http: reqwest::Client,
    access_tokens: std::sync::Arc<std::sync::Mutex<HashMap<String, (std::time::Instant, String)>>>,
}

/// The user name under which `docker login` and credential helpers hand out an identity
/// token (an OAuth2 refresh token) instead of a password.
pub const IDENTITY_TOKEN_USER: &str = "<token>";

type DockerLogin = (std::time::Instant, Option<(String, String)>);
/// Helpers such as ECR's hand out tokens valid for hours; re-asking after this picks up a
/// new `docker login` or a rotated token.
const DOCKER_LOGIN_TTL: Duration = Duration::from_secs(300);

impl RegistrySource {
    /// Credentials: `registry.username` with the password from `registry.password_env`.
    pub fn new(config: &RegistryConfig) -> Self {
        let password = (!config.password_env.is_empty())
            .then(|| std::env::var(&config.password_env).ok())
            .flatten()
            .filter(|p| !p.is_empty());
        Self::with_password(config, password)
    }

    pub fn with_password(config: &RegistryConfig, password: Option<String>) -> Self {
        Self::with_proxies(config, password, &ProxySettings::from_env())
    }

    /// With the proxy rules given (tests pass their own rather than change the environment).
    pub fn with_proxies(
        config: &RegistryConfig,
        password: Option<String>,
        proxies: &ProxySettings,
    ) -> Self {
        super::install_crypto_provider();
        let timeout = Duration::from_millis(config.request_timeout_ms);
        // The identity-token exchange goes through the same proxy choice as the registry's
        // own requests (and the GitHub client's).
        let rules = proxies.clone();
        Self {
            clients: Default::default(),
            proxies: proxies.clone(),
            plain_http: config.plain_http.clone(),
            timeout,
            username: config.username.clone(),
            password,
            docker_logins: Default::default(),
            detail_limit: config.tag_detail_limit.max(1),
            config: config.clone(),
            http: reqwest::Client::builder()
                .proxy(reqwest::Proxy::custom(move |url| {
                    rules.for_url(url).ok().flatten().map(|p| p.url().clone())
                }))
                .connect_timeout(timeout)
                .timeout(timeout)
                .build()
                .unwrap_or_default(),
            access_tokens: Default::default(),
        }
    }

    /// The credentials for `repo`'s requests: as `auth_for` finds them, except that an
    /// identity token is exchanged for an access token first (Docker's token spec, OAuth2
    /// `grant_type=refresh_token`), since oci-client's token flow sends only user and password.
    async fn auth(&self, repo: &ImageRepo) -> Result<RegistryAuth, RegistryError> {
        let host = self.host(repo);
        let refresh = match self.auth_for(host) {
            RegistryAuth::Basic(user, secret) if user == IDENTITY_TOKEN_USER => secret,
            other => return Ok(other),
        };
        let key = format!("{host}/{}", repo.path());
        if let Ok(cache) = self.access_tokens.lock()
            && let Some((until, token)) = cache.get(&key)
            && *until > std::time::Instant::now()
        {
            return Ok(RegistryAuth::Bearer(token.clone()));
        }
        let scheme = if self.config.plain_http.iter().any(|h| h == host) {
            "http"
        } else {
            "https"
        };
        let (token, ttl) = exchange_identity_token(&self.http, scheme, host, repo.path(), &refresh)
            .await
            .map_err(|e| match e {
                TokenExchangeError::Refused(why) => {
                    tracing::warn!(registry = host, "identity token not accepted: {why}");
                    RegistryError::Unauthorized {
                        repo: repo.to_string(),
                        registry: host.to_string(),
                    }
                }
                TokenExchangeError::Unreachable(reason) => RegistryError::Unreachable {
                    registry: host.to_string(),
                    reason,
                },
                TokenExchangeError::Other(message) => RegistryError::Other {
                    repo: repo.to_string(),
                    message: format!("identity token: {message}"),
                },
            })?;
        if let Ok(mut cache) = self.access_tokens.lock() {
            // A little before the registry's own expiry, so a request never carries a token
            // that lapses on the way.
            let until = std::time::Instant::now() + ttl.saturating_sub(Duration::from_secs(10));
            cache.insert(key, (until, token.clone()));
        }
        Ok(RegistryAuth::Bearer(token))
    }

    /// The host `repo`'s requests go to: its registry's mirror (`registry.mirrors`), else
    /// its registry. Errors still name the repository as configured.
    fn host<'a>(&'a self, repo: &'a ImageRepo) -> &'a str {
        self.config.host_for(repo)
    }

    /// Configured credentials first, then what `docker login` stored, else anonymous.
    fn auth_for(&self, registry: &str) -> RegistryAuth {
        if let (false, Some(password)) = (self.username.is_empty(), &self.password) {
            return RegistryAuth::Basic(self.username.clone(), password.clone());
        }
        self.docker_login(registry)
            .map(|(u, p)| RegistryAuth::Basic(u, p))
            .unwrap_or(RegistryAuth::Anonymous)
    }

    /// How many tags' details a listing reads per refresh (`registry.tag_detail_limit`).
    pub fn detail_limit(&self) -> usize {
        self.detail_limit
    }

    fn docker_login(&self, registry: &str) -> Option<(String, String)> {
        let Ok(mut logins) = self.docker_logins.lock() else {
            return docker_login_credentials(registry);
        };
        match logins.get(registry) {
            Some((at, found)) if at.elapsed() < DOCKER_LOGIN_TTL => found.clone(),
            _ => {
                let found = docker_login_credentials(registry);
                logins.insert(
                    registry.to_string(),
                    (std::time::Instant::now(), found.clone()),
                );
                found
            }
        }
    }

    /// The client for `repo`'s registry: through the proxy the rules choose for it, as the
    /// GitHub client would for the same URL (an unusable proxy variable refuses the request).
    fn client_for(&self, repo: &ImageRepo) -> Result<std::sync::Arc<Client>, RegistryError> {
        // The host requests go to: a mirror's (`registry.mirrors`) when one is configured.
        let registry = self.host(repo);
        if let Ok(clients) = self.clients.lock()
            && let Some(c) = clients.get(registry)
        {
            return Ok(c.clone());
        }
        let unreachable = |reason: String| RegistryError::Unreachable {
            registry: registry.to_string(),
            reason,
        };
        let plain = self.plain_http.iter().any(|h| h == registry);
        let url = url::Url::parse(&format!(
            "{}://{registry}/",
            if plain { "http" } else { "https" }
        ))
        .map_err(|e| unreachable(format!("not a registry address: {e}")))?;
        let fields = self
            .proxies
            .client_fields(&url)
            .map_err(|e| unreachable(e.to_string()))?;
        let client = Client::try_from(ClientConfig {
            protocol: if self.plain_http.is_empty() {
                ClientProtocol::Https
            } else {
                ClientProtocol::HttpsExcept(self.plain_http.clone())
            },
            read_timeout: Some(self.timeout),
            connect_timeout: Some(self.timeout),
            https_proxy: fields.https_proxy,
            http_proxy: fields.http_proxy,
            no_proxy: fields.no_proxy,
            ..Default::default()
        })
        .map(std::sync::Arc::new)
        // reqwest's message may quote the proxy URL: keep only the kind of failure.
        .map_err(|e| {
            unreachable(format!(
                "cannot set up the registry client: {}",
                short_reason(&e)
            ))
        })?;
        if let Ok(mut clients) = self.clients.lock() {
            clients.insert(registry.to_string(), client.clone());
        }
        Ok(client)
    }

    fn reference(&self, repo: &ImageRepo, tag: &Tag) -> Reference {
        Reference::with_tag(
            self.host(repo).to_string(),
            repo.path().to_string(),
            tag.to_string(),
        )
    }

    /// Every tag of the repository, following pagination. Tags that are not valid OCI tags
    /// are dropped rather than passed on.
    pub async fn list_tags(&self, repo: &ImageRepo) -> Result<Vec<Tag>, RegistryError> {
        let probe = Reference::with_tag(
            self.host(repo).to_string(),
            repo.path().to_string(),
            "latest".to_string(),
        );
        let auth = self.auth(repo).await?;
        let mut tags: Vec<Tag> = Vec::new();
        let mut last: Option<String> = None;
        let client = self.client_for(repo)?;
        loop {
            let page = client
                .list_tags(&probe, &auth, Some(PAGE_SIZE), last.as_deref())
                .await
                .map_err(|e| classify(e, repo, &repo.to_string()))?;
            let count = page.tags.len();
            let page_last = page.tags.last().cloned();
            tags.extend(page.tags.iter().filter_map(|t| Tag::parse(t).ok()));
            // Stop on a short page, or when the registry ignores `last` and repeats itself.
            if count < PAGE_SIZE
                || page_last.is_none()
                || page_last == last
                || tags.len() >= MAX_TAGS
            {
                break;
            }
            last = page_last;
        }
        tags.sort();
        tags.dedup();
        Ok(tags)
    }

    /// The manifest digest a tag points to now (one HEAD request where the registry allows).
    pub async fn resolve(&self, repo: &ImageRepo, tag: &Tag) -> Result<Digest, RegistryError> {
        let reference = self.reference(repo, tag);
        let what = repo.with_tag(tag);
        let digest = self
            .client_for(repo)?
            .fetch_manifest_digest(&reference, &self.auth(repo).await?)
            .await
            .map_err(|e| classify(e, repo, &what))?;
        Digest::parse(&digest).map_err(|e| RegistryError::Other {
            repo: repo.to_string(),
            message: e.to_string(),
        })
    }

    /// Digest, labels, created time and compressed size of a tag's image. For a manifest
    /// list, the platform image is this machine's platform if listed (else linux/amd64, else
    /// the first real platform); a platform manifest that cannot be found is named in
    /// `problem` and the next platform is tried, so the list's digest is never lost.
    pub async fn describe(&self, repo: &ImageRepo, tag: &Tag) -> Result<TagDetails, RegistryError> {
        let digest = self.resolve(repo, tag).await?;
        let reference = self.reference(repo, tag);
        let what = repo.with_tag(tag);
        let auth = self.auth(repo).await?;
        let client = self.client_for(repo)?;
        let (manifest, _) = client
            .pull_manifest(&reference, &auth)
            .await
            .map_err(|e| classify(e, repo, &what))?;
        let index = match manifest {
            OciManifest::Image(image) => {
                let (labels, created) = self.read_config(repo, &reference, &image, &what).await?;
                return Ok(TagDetails {
                    digest,
                    labels,
                    created,
                    size_bytes: Some(image_size(&image)),
                    platform: None,
                    problem: None,
                });
            }
            OciManifest::ImageIndex(index) => index,
        };
        let mut missing: Vec<String> = Vec::new();
        for entry in platform_preference(&index.manifests) {
            let platform = platform_name(entry);
            let child = Reference::with_digest(
                self.host(repo).to_string(),
                repo.path().to_string(),
                entry.digest.clone(),
            );
            let child_what = format!("{what} platform {platform} manifest {}", entry.digest);
            let image = match client.pull_manifest(&child, &auth).await {
                Ok((OciManifest::Image(image), _)) => image,
                // A nested index is not an image of this platform: skip it.
                Ok((OciManifest::ImageIndex(_), _)) => continue,
                Err(e) => match classify(e, repo, &child_what) {
                    RegistryError::NotFound { .. } => {
                        missing.push(format!(
                            "platform {platform} manifest {} is missing from the registry (404)",
                            entry.digest
                        ));
                        continue;
                    }
                    other => return Err(other),
                },
            };
            let (labels, created) = match self.read_config(repo, &child, &image, &child_what).await
            {
                Ok(c) => c,
                Err(RegistryError::NotFound { .. }) => {
                    missing.push(format!(
                        "platform {platform} config {} is missing from the registry (404)",
                        image.config.digest
                    ));
                    continue;
                }
                Err(e) => return Err(e),
            };
            return Ok(TagDetails {
                digest,
                labels,
                created,
                size_bytes: Some(image_size(&image)),
                platform: Some(platform),
                problem: (!missing.is_empty()).then(|| {
                    format!(
                        "{}; details from {}",
                        missing.join("; "),
                        platform_name(entry)
                    )
                }),
            });
        }
        Ok(TagDetails {
            digest,
            labels: HashMap::new(),
            created: None,
            size_bytes: None,
            platform: None,
            problem: Some(if missing.is_empty() {
                "manifest list names no platform image".to_string()
            } else {
                missing.join("; ")
            }),
        })
    }

    /// The labels and created time from an image's config blob.
    async fn read_config(
        &self,
        repo: &ImageRepo,
        reference: &Reference,
        image: &OciImageManifest,
        what: &str,
    ) -> Result<(HashMap<String, String>, Option<DateTime<Utc>>), RegistryError> {
        let mut raw: Vec<u8> = Vec::new();
        self.client_for(repo)?
            .pull_blob(reference, &image.config, &mut raw)
            .await
            .map_err(|e| classify(e, repo, &format!("image config of {what}")))?;
        let config: serde_json::Value =
            serde_json::from_slice(&raw).map_err(|e| RegistryError::Other {
                repo: repo.to_string(),
                message: format!("image config of {what} is not JSON: {e}"),
            })?;
        let labels: HashMap<String, String> = config
            .pointer("/config/Labels")
            .and_then(|l| l.as_object())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let created = labels
            .get("org.opencontainers.image.created")
            .map(String::as_str)
            .or_else(|| config.get("created").and_then(|c| c.as_str()))
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        Ok((labels, created))
    }
}

fn image_size(image: &OciImageManifest) -> u64 {
    image.config.size.max(0) as u64
        + image
            .layers
            .iter()
            .map(|l| l.size.max(0) as u64)
            .sum::<u64>()
}

fn platform_name(entry: &ImageIndexEntry) -> String {
    match &entry.platform {
        Some(p) => match &p.variant {
            Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
            None => format!("{}/{}", p.os, p.architecture),
        },
        None => "unknown".to_string(),
    }
}

/// The entries worth reading, best first: this machine's platform, then linux/amd64 (what the
/// deployment's server runs), then the other linux images. Attestations (`unknown/unknown`)
/// and entries without a platform come last.
fn platform_preference(entries: &[ImageIndexEntry]) -> Vec<&ImageIndexEntry> {
    let here = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let rank = |e: &ImageIndexEntry| match &e.platform {
        Some(p) if p.os.to_string() == "linux" && p.architecture.to_string() == here => 0,
        Some(p) if p.os.to_string() == "linux" && p.architecture.to_string() == "amd64" => 1,
        Some(p) if p.os.to_string() != "unknown" => 2,
        _ => 3,
    };
    let mut sorted: Vec<&ImageIndexEntry> = entries.iter().collect();
    sorted.sort_by_key(|e| rank(e));
    sorted
}

fn classify(e: OciDistributionError, repo: &ImageRepo, what: &str) -> RegistryError {
    let repo_name = repo.to_string();
    match e {
        OciDistributionError::UnauthorizedError { .. } => RegistryError::Unauthorized {
            repo: repo_name,
            registry: repo.registry().to_string(),
        },
        OciDistributionError::AuthenticationFailure(message) => RegistryError::Unauthorized {
            repo: format!("{repo_name} ({message})"),
            registry: repo.registry().to_string(),
        },
        OciDistributionError::RegistryError { envelope, .. } => {
            let message = envelope
                .errors
                .iter()
                .map(|e| e.message.clone())
                .collect::<Vec<_>>()
                .join("; ");
            match envelope.errors.first().map(|e| &e.code) {
                Some(OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown) => {
                    RegistryError::NotFound {
                        what: what.to_string(),
                    }
                }
                Some(OciErrorCode::Unauthorized) => RegistryError::Unauthorized {
                    repo: repo_name,
                    registry: repo.registry().to_string(),
                },
                Some(OciErrorCode::Denied) => RegistryError::Denied {
                    repo: repo_name,
                    message,
                },
                Some(OciErrorCode::Toomanyrequests) => RegistryError::RateLimited {
                    repo: repo_name,
                    message,
                },
                _ => RegistryError::Other {
                    repo: repo_name,
                    message,
                },
            }
        }
        OciDistributionError::ServerError { code, message, .. } => match code {
            401 => RegistryError::Unauthorized {
                repo: repo_name,
                registry: repo.registry().to_string(),
            },
            403 => RegistryError::Denied {
                repo: repo_name,
                message: short(&message),
            },
            404 => RegistryError::NotFound {
                what: what.to_string(),
            },
            429 => RegistryError::RateLimited {
                repo: repo_name,
                message: short(&message),
            },
            _ => RegistryError::Other {
                repo: repo_name,
                message: format!("HTTP {code}: {}", short(&message)),
            },
        },
        OciDistributionError::RequestError(e) => RegistryError::Unreachable {
            registry: repo.registry().to_string(),
            reason: super::health::describe_reqwest(&e),
        },
        other => RegistryError::Other {
            repo: repo_name,
            message: other.to_string(),
        },
    }
}

fn short(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Credentials to hand the engine for a pull from `registry`: the configured ones, else what
/// `docker login` stored, else none (anonymous; the engine does the token flow itself).
pub fn pull_credentials(config: &RegistryConfig, registry: &str) -> Option<(String, String)> {
    let password = (!config.password_env.is_empty())
        .then(|| std::env::var(&config.password_env).ok())
        .flatten()
        .filter(|p| !p.is_empty());
    match (config.username.is_empty(), password) {
        (false, Some(p)) => Some((config.username.clone(), p)),
        _ => docker_login_credentials(registry),
    }
}

/// Credentials as `docker login REGISTRY` left them in `$DOCKER_CONFIG/config.json` (else
/// `~/.docker/config.json`): a per-registry `credHelpers` entry, inline `auths`, or the
/// `credsStore` helper (`docker-credential-NAME get`). docker_credential speaks the helper
/// protocol. A helper that fails is logged by name only: its output could hold the secret.
fn docker_login_credentials(registry: &str) -> Option<(String, String)> {
    // Docker stores Docker Hub's credentials under its legacy index URL.
    let server = if registry == crate::domain::DOCKER_HUB {
        "https://index.docker.io/v1/"
    } else {
        registry
    };
    match docker_credential::get_credential(server) {
        Ok(docker_credential::DockerCredential::UsernamePassword(user, secret)) => {
            Some((user, secret))
        }
        // An OAuth2 refresh token: exchanged at the registry's token endpoint for our own
        // requests (`RegistrySource::auth`), handed to the engine as `identitytoken` for pulls.
        Ok(docker_credential::DockerCredential::IdentityToken(token)) => {
            Some((IDENTITY_TOKEN_USER.to_string(), token))
        }
        Err(
            docker_credential::CredentialRetrievalError::NoCredentialConfigured
            | docker_credential::CredentialRetrievalError::ConfigNotFound
            | docker_credential::CredentialRetrievalError::ConfigReadError,
        ) => None,
        Err(docker_credential::CredentialRetrievalError::HelperFailure { helper, .. }) => {
            tracing::warn!(registry, helper, "docker credential helper failed");
            None
        }
        Err(e) => {
            tracing::warn!(registry, error = %e, "docker credentials not read");
            None
        }
    }
}

/// What went wrong setting up a client, without anything the error quotes from its input.
fn short_reason(e: &OciDistributionError) -> &'static str {
    match e {
        OciDistributionError::RequestError(_) => "the HTTP client refused its settings",
        _ => "invalid client settings",
    }
}

/// Why an identity token could not be exchanged. Never holds the token.
#[derive(Debug)]
enum TokenExchangeError {
    /// The token endpoint said no (401/403, or an error answer).
    Refused(String),
    Unreachable(String),
    Other(String),
}

/// Exchange an identity token (OAuth2 refresh token) for an access token to pull `path`:
/// the registry's `/v2/` challenge names the token endpoint (`realm`) and `service`; a form
/// POST with `grant_type=refresh_token` answers `access_token` (and `expires_in`, 60 s when
/// absent), per Docker's token authentication spec.
async fn exchange_identity_token(
    http: &reqwest::Client,
    scheme: &str,
    host: &str,
    path: &str,
    refresh: &str,
) -> Result<(String, Duration), TokenExchangeError> {
    let probe_url = format!("{scheme}://{host}/v2/");
    let probe = http
        .get(&probe_url)
        .send()
        .await
        .map_err(|e| TokenExchangeError::Unreachable(format!("GET {probe_url}: {e}")))?;
    let header = probe
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| {
            TokenExchangeError::Other(format!(
                "{probe_url} answered {} without a Bearer challenge",
                probe.status()
            ))
        })?;
    let (realm, service) = bearer_challenge(header).ok_or_else(|| {
        TokenExchangeError::Other(format!("{probe_url}: no Bearer realm in its challenge"))
    })?;
    let realm_url = url::Url::parse(&realm)
        .map_err(|e| TokenExchangeError::Other(format!("token realm {realm:?}: {e}")))?;
    // Built apart: the serializer is not Send and must not live across an await.
    let form = {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", refresh)
            .append_pair("scope", &format!("repository:{path}:pull"))
            .append_pair("client_id", "elt-console");
        if let Some(service) = &service {
            form.append_pair("service", service);
        }
        form.finish()
    };
    let answer = http
        .post(realm_url.clone())
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form)
        .send()
        .await
        .map_err(|e| TokenExchangeError::Unreachable(format!("POST {realm_url}: {e}")))?;
    let status = answer.status();
    if !status.is_success() {
        return Err(TokenExchangeError::Refused(format!(
            "token endpoint {realm_url} answered {status}"
        )));
    }
    #[derive(serde::Deserialize)]
    struct TokenAnswer {
        access_token: Option<String>,
        token: Option<String>,
        expires_in: Option<u64>,
    }
    let body: TokenAnswer = answer.json().await.map_err(|e| {
        TokenExchangeError::Other(format!(
            "token endpoint {realm_url}: unreadable answer: {e}"
        ))
    })?;
    let token = body
        .access_token
        .or(body.token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            TokenExchangeError::Refused(format!("token endpoint {realm_url} gave no access token"))
        })?;
    Ok((
        token,
        Duration::from_secs(body.expires_in.unwrap_or(60).max(1)),
    ))
}

/// `realm` and `service` of the Bearer challenge in a `WWW-Authenticate` header.
fn bearer_challenge(header: &str) -> Option<(String, Option<String>)> {
    http_auth::ChallengeParser::new(header)
        .filter_map(Result::ok)
        .find(|c| c.scheme.eq_ignore_ascii_case("Bearer"))
        .and_then(|c| {
            let param = |name: &str| {
                c.params
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.to_unescaped())
            };
            Some((param("realm")?, param("service")))
        })
}
