//! The compose project's containers, read from the Docker engine with bollard.
//!
//! Containers are found by compose's labels, which compose v1 (`elt_app_1`) and v2
//! (`elt-app-1`) both set, so naming differences do not matter. The watcher follows the
//! engine's event stream and re-reads the project when something changes; it reconnects with
//! backoff when the engine goes away.

use crate::domain::{ContainerState, ContainerView, HealthState};
mod container_ops;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::{
    CreateImageOptionsBuilder, EventsOptionsBuilder, ListContainersOptionsBuilder,
    ListImagesOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptionsBuilder, TagImageOptionsBuilder,
};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub const PROJECT_LABEL: &str = "com.docker.compose.project";
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
pub const ONEOFF_LABEL: &str = "com.docker.compose.oneoff";
const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";

#[derive(Debug, Error, Clone)]
pub enum DockerError {
    #[error("Docker engine not reachable at {host}: {reason}")]
    Unreachable { host: String, reason: String },
    #[error("Docker engine at {host} did not answer within {ms} ms")]
    Timeout { host: String, ms: u64 },
    #[error("Docker engine error: {0}")]
    Api(String),
}

#[derive(Clone)]
pub struct DockerSource {
    docker: Docker,
    host: String,
    timeout: Duration,
}

/// A local image as the engine knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalImage {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub labels: HashMap<String, String>,
    /// Seconds since the epoch (from the image list; absent from an inspect).
    pub created: Option<i64>,
}

/// One progress message of a pull: a layer's status and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullEvent {
    pub layer: String,
    pub status: String,
    pub current: Option<u64>,
    pub total: Option<u64>,
}

/// A container's run state, for following its logs across restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunState {
    pub running: bool,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// What the watcher reports: a fresh view of the whole project, or why it has none.
#[derive(Debug, Clone)]
pub enum DockerUpdate {
    Containers(Vec<ContainerView>),
    Error(DockerError),
}

impl DockerSource {
    /// Connect and agree on an API version, within the configured timeout.
    pub async fn connect(host: &str, timeout_ms: u64) -> Result<Self, DockerError> {
        let host = if host.is_empty() {
            std::env::var("DOCKER_HOST")
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| DEFAULT_SOCKET.to_string())
        } else {
            host.to_string()
        };
        let timeout = Duration::from_millis(timeout_ms);
        let secs = timeout.as_secs().max(1);
        let unreachable = |reason: String| DockerError::Unreachable {
            host: host.clone(),
            reason,
        };
        let docker = if host.starts_with("unix://") || host.starts_with('/') {
            Docker::connect_with_unix(&host, secs, bollard::API_DEFAULT_VERSION)
        } else if host.starts_with("tcp://") || host.starts_with("http://") {
            Docker::connect_with_http(&host, secs, bollard::API_DEFAULT_VERSION)
        } else {
            return Err(unreachable(
                "unsupported DOCKER_HOST scheme (use unix:// or tcp://)".into(),
            ));
        }
        .map_err(|e| unreachable(describe(&e)))?;
        Self::negotiated(docker, host, timeout).await
    }

    /// Connect as `[docker]` says: `connect`, or over TLS for a `tcp://` host with
    /// `tls_verify` (the client certificate in `cert_path`: ca.pem, cert.pem, key.pem).
    pub async fn connect_config(c: &crate::config::DockerConfig) -> Result<Self, DockerError> {
        if !c.tls_verify {
            return Self::connect(&c.host, c.request_timeout_ms).await;
        }
        let host = c.host.clone();
        let timeout = Duration::from_millis(c.request_timeout_ms);
        let unreachable = |reason: String| DockerError::Unreachable {
            host: host.clone(),
            reason,
        };
        let dir = std::path::Path::new(&c.cert_path);
        let docker = Docker::connect_with_ssl(
            &host,
            &dir.join("key.pem"),
            &dir.join("cert.pem"),
            &dir.join("ca.pem"),
            timeout.as_secs().max(1),
            bollard::API_DEFAULT_VERSION,
        )
        .map_err(|e| {
            unreachable(format!(
                "TLS with certificates in {}: {}",
                dir.display(),
                describe(&e)
            ))
        })?;
        Self::negotiated(docker, host, timeout).await
    }

    /// The API version agreed with the engine (within the request timeout): the last step of
    /// every way of connecting.
    async fn negotiated(
        docker: Docker,
        host: String,
        timeout: Duration,
    ) -> Result<Self, DockerError> {
        let negotiated = tokio::time::timeout(timeout, docker.negotiate_version())
            .await
            .map_err(|_| DockerError::Timeout {
                host: host.clone(),
                ms: timeout.as_millis() as u64,
            })?
            .map_err(|e| DockerError::Unreachable {
                host: host.clone(),
                reason: describe(&e),
            })?;
        Ok(Self {
            docker: negotiated,
            host,
            timeout,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The bollard client, for src/swarm/ (services, tasks, nodes on the same connection).
    pub(crate) fn client(&self) -> &Docker {
        &self.docker
    }

    pub(crate) async fn timed<T>(
        &self,
        fut: impl Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<T, DockerError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Err(_) => Err(DockerError::Timeout {
                host: self.host.clone(),
                ms: self.timeout.as_millis() as u64,
            }),
            Ok(Err(e)) => Err(self.classify(e)),
            Ok(Ok(v)) => Ok(v),
        }
    }

    pub(crate) fn classify(&self, e: bollard::errors::Error) -> DockerError {
        use bollard::errors::Error as E;
        match e {
            E::DockerResponseServerError { .. } | E::JsonDataError { .. } => {
                DockerError::Api(describe(&e))
            }
            other => DockerError::Unreachable {
                host: self.host.clone(),
                reason: describe(&other),
            },
        }
    }

    /// Every container of the compose project, running or not, sorted by service then name.
    pub async fn project_containers(
        &self,
        project: &str,
    ) -> Result<Vec<ContainerView>, DockerError> {
        let filters = HashMap::from([("label", vec![format!("{PROJECT_LABEL}={project}")])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let summaries = self
            .timed(self.docker.list_containers(Some(options)))
            .await?;
        let mut image_cache: HashMap<String, ImageFacts> = HashMap::new();
        let mut views = Vec::with_capacity(summaries.len());
        for summary in summaries {
            let Some(id) = summary.id else { continue };
            // A container can vanish between list and inspect; skip it rather than fail.
            match self.container_view(&id, &mut image_cache).await {
                Ok(Some(view)) => views.push(view),
                Ok(None) => {}
                Err(e) => return Err(e),
            }
        }
        views.sort_by(|a, b| (a.oneoff, &a.service, &a.name).cmp(&(b.oneoff, &b.service, &b.name)));
        Ok(views)
    }

    async fn container_view(
        &self,
        id: &str,
        image_cache: &mut HashMap<String, ImageFacts>,
    ) -> Result<Option<ContainerView>, DockerError> {
        let inspect = match self.timed(self.docker.inspect_container(id, None)).await {
            Err(DockerError::Api(msg))
                if msg.contains("404") || msg.contains("No such container") =>
            {
                return Ok(None);
            }
            other => other?,
        };
        let labels = inspect
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        let state = inspect.state.as_ref();
        let image_id = inspect.image.clone().unwrap_or_default();
        let facts = match image_cache.get(&image_id) {
            Some(f) => f.clone(),
            None => {
                let facts = self.image_facts(&image_id).await;
                image_cache.insert(image_id.clone(), facts.clone());
                facts
            }
        };
        let status = state.and_then(|s| s.status).map(|s| s.to_string());
        Ok(Some(ContainerView {
            id: inspect.id.clone().unwrap_or_else(|| id.to_string()),
            name: inspect
                .name
                .as_deref()
                .unwrap_or(id)
                .trim_start_matches('/')
                .to_string(),
            service: labels.get(SERVICE_LABEL).cloned().unwrap_or_default(),
            oneoff: labels
                .get(ONEOFF_LABEL)
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            state: map_state(status.as_deref().unwrap_or("")),
            health: map_health(
                state
                    .and_then(|s| s.health.as_ref())
                    .and_then(|h| h.status)
                    .map(|h| h.to_string())
                    .as_deref(),
            ),
            exit_code: state.and_then(|s| s.exit_code),
            restarts: inspect.restart_count.unwrap_or(0).max(0) as u64,
            started_at: state
                .and_then(|s| s.started_at.as_deref())
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&chrono::Utc))
                .filter(|t| t.timestamp() > 0),
            image: inspect
                .config
                .as_ref()
                .and_then(|c| c.image.clone())
                .unwrap_or_default(),
            image_id,
            repo_digests: facts.repo_digests,
            revision: facts
                .labels
                .get("org.opencontainers.image.revision")
                .cloned(),
            image_created: facts
                .labels
                .get("org.opencontainers.image.created")
                .cloned()
                .or(facts.created),
            image_version: facts
                .labels
                .get("org.opencontainers.image.version")
                .cloned(),
            pid: state.and_then(|s| s.pid).filter(|p| *p > 0),
        }))
    }

    async fn image_facts(&self, image_id: &str) -> ImageFacts {
        match self.timed(self.docker.inspect_image(image_id)).await {
            Ok(img) => ImageFacts {
                repo_digests: img.repo_digests.unwrap_or_default(),
                labels: img.config.and_then(|c| c.labels).unwrap_or_default(),
                created: img.created,
            },
            // The image may have been removed under a running container; its labels are
            // then unknown, which is not an error for the container itself.
            Err(_) => ImageFacts::default(),
        }
    }

    /// A container's log stream, following, with the engine's timestamps: from `tail` lines
    /// back, or (`since`, Unix seconds) every line from that second on. Items are (from
    /// stderr, bytes); bytes are chunks, not lines.
    pub fn follow_logs(
        &self,
        container_id: &str,
        tail: u32,
        since: Option<i64>,
    ) -> impl futures_util::Stream<Item = Result<(bool, bytes::Bytes), DockerError>> + use<> {
        match since {
            Some(_) => self.logs(container_id, true, None, since),
            None => self.logs(container_id, true, Some(tail), None),
        }
    }

    /// A container's logs with the engine's timestamps, following or up to now: the last
    /// `tail` lines (None: all) from `since` (Unix seconds) on. Items as for `follow_logs`.
    pub fn logs(
        &self,
        container_id: &str,
        follow: bool,
        tail: Option<u32>,
        since: Option<i64>,
    ) -> impl futures_util::Stream<Item = Result<(bool, bytes::Bytes), DockerError>> + use<> {
        let options = log_options(follow, tail, since);
        let host = self.host.clone();
        self.docker
            .logs(container_id, Some(options))
            .map(move |item| match item {
                Ok(LogOutput::StdErr { message }) => Ok((true, message)),
                Ok(
                    LogOutput::StdOut { message }
                    | LogOutput::Console { message }
                    | LogOutput::StdIn { message },
                ) => Ok((false, message)),
                Err(e) => Err(DockerError::Unreachable {
                    host: host.clone(),
                    reason: describe(&e),
                }),
            })
    }

    /// Whether a container runs now and when it last started; None when it no longer exists.
    pub async fn run_state(&self, container_id: &str) -> Result<Option<RunState>, DockerError> {
        let inspect = match self
            .timed(self.docker.inspect_container(container_id, None))
            .await
        {
            Err(DockerError::Api(msg))
                if msg.contains("404") || msg.contains("No such container") =>
            {
                return Ok(None);
            }
            other => other?,
        };
        let state = inspect.state.as_ref();
        Ok(Some(RunState {
            running: state.and_then(|s| s.running).unwrap_or(false),
            started_at: state
                .and_then(|s| s.started_at.as_deref())
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&chrono::Utc))
                .filter(|t| t.timestamp() > 0),
        }))
    }

    /// Wait until the container starts (its `start` event, replayed from `since`) or `limit`
    /// passes. Ok(true) when it started, Ok(false) at the limit.
    pub async fn wait_for_start(
        &self,
        container_id: &str,
        since: chrono::DateTime<chrono::Utc>,
        limit: Duration,
    ) -> Result<bool, DockerError> {
        let filters = HashMap::from([
            ("type", vec!["container".to_string()]),
            ("event", vec!["start".to_string()]),
            ("container", vec![container_id.to_string()]),
        ]);
        let since = since.timestamp().to_string();
        let options = EventsOptionsBuilder::default()
            .since(&since)
            .filters(&filters)
            .build();
        let mut events = self.docker.events(Some(options));
        match tokio::time::timeout(limit, events.next()).await {
            Err(_) => Ok(false),
            Ok(Some(Ok(_))) => Ok(true),
            Ok(Some(Err(e))) => Err(self.classify(e)),
            Ok(None) => Err(DockerError::Unreachable {
                host: self.host.clone(),
                reason: "event stream ended".into(),
            }),
        }
    }

    /// A local image by reference or id; None when the engine has no such image.
    pub async fn local_image(&self, reference: &str) -> Result<Option<LocalImage>, DockerError> {
        match self.timed(self.docker.inspect_image(reference)).await {
            Ok(img) => Ok(Some(LocalImage {
                id: img.id.unwrap_or_default(),
                repo_tags: img.repo_tags.unwrap_or_default(),
                repo_digests: img.repo_digests.unwrap_or_default(),
                labels: img.config.and_then(|c| c.labels).unwrap_or_default(),
                created: None,
            })),
            Err(DockerError::Api(msg)) if msg.contains("404") || msg.contains("No such image") => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Every local image whose name is `repo` (any tag), newest first.
    pub async fn repo_images(&self, repo: &str) -> Result<Vec<LocalImage>, DockerError> {
        let filters = HashMap::from([("reference", vec![repo.to_string()])]);
        let options = ListImagesOptionsBuilder::default()
            .all(false)
            .filters(&filters)
            .build();
        let mut list: Vec<LocalImage> = self
            .timed(self.docker.list_images(Some(options)))
            .await?
            .into_iter()
            .map(|s| LocalImage {
                id: s.id,
                repo_tags: s.repo_tags,
                repo_digests: s.repo_digests,
                labels: s.labels,
                created: Some(s.created),
            })
            .collect();
        list.sort_by_key(|i| std::cmp::Reverse(i.created));
        Ok(list)
    }

    /// When the first of `container_ids` stopped (its `die` event), as the engine saw it.
    /// Replays from `since` so a stop that happened before the stream was read is still seen;
    /// waits at most `limit`.
    pub async fn first_death(
        &self,
        container_ids: &[String],
        since: chrono::DateTime<chrono::Utc>,
        limit: Duration,
    ) -> Option<std::time::SystemTime> {
        if container_ids.is_empty() {
            return None;
        }
        let filters = HashMap::from([
            ("type", vec!["container".to_string()]),
            ("event", vec!["die".to_string()]),
            ("container", container_ids.to_vec()),
        ]);
        let since = since.timestamp().to_string();
        let options = EventsOptionsBuilder::default()
            .since(&since)
            .filters(&filters)
            .build();
        let mut events = self.docker.events(Some(options));
        let first = tokio::time::timeout(limit, events.next())
            .await
            .ok()??
            .ok()?;
        let nanos = first.time_nano.or(first.time.map(|t| t * 1_000_000_000))?;
        Some(std::time::UNIX_EPOCH + Duration::from_nanos(nanos.max(0) as u64))
    }

    /// Point `repo:tag` at an existing local image (by id or reference).
    pub async fn tag_image(&self, image: &str, repo: &str, tag: &str) -> Result<(), DockerError> {
        let options = TagImageOptionsBuilder::default()
            .repo(repo)
            .tag(tag)
            .build();
        self.timed(self.docker.tag_image(image, Some(options)))
            .await
    }

    /// Remove one reference (a tag, or an image id when untagged). Never forced: the engine
    /// refuses to remove an image a container uses, which is what we want.
    pub async fn remove_image(&self, reference: &str) -> Result<(), DockerError> {
        let options = RemoveImageOptionsBuilder::default()
            .force(false)
            .noprune(false)
            .build();
        self.timed(self.docker.remove_image(reference, Some(options), None))
            .await
            .map(|_| ())
    }

    /// Remove a container that is not running (never forced: a running one is an error).
    pub async fn remove_container(&self, id: &str) -> Result<(), DockerError> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(false)
            .build();
        self.timed(self.docker.remove_container(id, Some(options)))
            .await
    }

    /// Pull `reference` (`repo@sha256:...` or `repo:tag`), reporting each layer's progress.
    /// The engine does the registry protocol; credentials are passed per request, never stored.
    pub fn pull(
        &self,
        reference: &str,
        credentials: Option<(String, String)>,
    ) -> impl futures_util::Stream<Item = Result<PullEvent, DockerError>> + use<> {
        let options = CreateImageOptionsBuilder::default()
            .from_image(reference)
            .build();
        let creds = credentials.map(|(username, password)| {
            if username == super::registry::IDENTITY_TOKEN_USER {
                // An identity token: the engine exchanges it at the registry itself.
                bollard::auth::DockerCredentials {
                    identitytoken: Some(password),
                    ..Default::default()
                }
            } else {
                bollard::auth::DockerCredentials {
                    username: Some(username),
                    password: Some(password),
                    ..Default::default()
                }
            }
        });
        let host = self.host.clone();
        self.docker
            .create_image(Some(options), None, creds)
            .map(move |item| match item {
                Ok(info) => {
                    if let Some(err) = info.error_detail.and_then(|d| d.message) {
                        return Err(DockerError::Api(err));
                    }
                    let detail = info.progress_detail.unwrap_or_default();
                    Ok(PullEvent {
                        layer: info.id.unwrap_or_default(),
                        status: info.status.unwrap_or_default(),
                        current: detail.current.map(|c| c.max(0) as u64),
                        total: detail.total.map(|t| t.max(0) as u64),
                    })
                }
                Err(e @ bollard::errors::Error::DockerResponseServerError { .. }) => {
                    Err(DockerError::Api(describe(&e)))
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    Err(DockerError::Api(error))
                }
                Err(e) => Err(DockerError::Unreachable {
                    host: host.clone(),
                    reason: describe(&e),
                }),
            })
    }

    /// Follow the engine's events for this project and send a fresh view after each burst of
    /// changes. Reconnects with backoff (1 s doubling to 30 s) until cancelled.
    pub async fn watch(
        host: String,
        timeout_ms: u64,
        project: String,
        tx: mpsc::Sender<DockerUpdate>,
        cancel: CancellationToken,
    ) {
        let schedule =
            || crate::retry::doubling(Duration::from_secs(1), Duration::from_secs(30), None);
        let mut pauses = schedule();
        loop {
            let outcome = tokio::select! {
                _ = cancel.cancelled() => return,
                r = Self::watch_once(&host, timeout_ms, &project, &tx) => r,
            };
            if let Err(e) = outcome {
                if tx.send(DockerUpdate::Error(e)).await.is_err() {
                    return;
                }
            } else {
                pauses = schedule();
            }
            let pause = pauses.next().unwrap_or(Duration::from_secs(30));
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One connection's worth of watching: read the state, then follow events from a moment
    /// before that read, so nothing in between is missed. Returns when the stream ends or fails.
    async fn watch_once(
        host: &str,
        timeout_ms: u64,
        project: &str,
        tx: &mpsc::Sender<DockerUpdate>,
    ) -> Result<(), DockerError> {
        let source = Self::connect(host, timeout_ms).await?;
        // Only actions that change what we show. Healthchecks run `exec` in the container
        // every few seconds; those exec_* events would otherwise cost a full re-read each.
        // (The engine matches `health_status` against `health_status: healthy` etc.)
        let actions = [
            "create",
            "start",
            "restart",
            "stop",
            "die",
            "kill",
            "oom",
            "pause",
            "unpause",
            "destroy",
            "rename",
            "update",
            "health_status",
        ];
        let filters = HashMap::from([
            ("type", vec!["container".to_string()]),
            ("label", vec![format!("{PROJECT_LABEL}={project}")]),
            ("event", actions.iter().map(|a| a.to_string()).collect()),
        ]);
        // The events request only goes out when the stream is first polled, after the listing.
        // Asking the engine to replay from just before the listing closes that gap; a replayed
        // event costs one extra re-read, a missed one would leave the view wrong.
        let since = (chrono::Utc::now() - chrono::Duration::seconds(1))
            .timestamp()
            .to_string();
        let views = source.project_containers(project).await?;
        let options = EventsOptionsBuilder::default()
            .since(&since)
            .filters(&filters)
            .build();
        let mut events = source.docker.events(Some(options));
        if tx.send(DockerUpdate::Containers(views)).await.is_err() {
            return Ok(());
        }
        // Events come in bursts (create, start, health_status...); coalesce them for a moment
        // so one deploy does not cause dozens of full re-reads.
        const COALESCE: Duration = Duration::from_millis(150);
        loop {
            match events.next().await {
                None => {
                    return Err(DockerError::Unreachable {
                        host: source.host.clone(),
                        reason: "event stream ended".into(),
                    });
                }
                Some(Err(e)) => return Err(source.classify(e)),
                Some(Ok(_)) => {
                    let deadline = tokio::time::Instant::now() + COALESCE;
                    loop {
                        match tokio::time::timeout_at(deadline, events.next()).await {
                            Err(_) => break,
                            Ok(Some(Ok(_))) => continue,
                            Ok(Some(Err(e))) => return Err(source.classify(e)),
                            Ok(None) => break,
                        }
                    }
                    let views = source.project_containers(project).await?;
                    if tx.send(DockerUpdate::Containers(views)).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
struct ImageFacts {
    repo_digests: Vec<String>,
    labels: HashMap<String, String>,
    created: Option<String>,
}

fn map_state(s: &str) -> ContainerState {
    match s {
        "created" => ContainerState::Created,
        "running" => ContainerState::Running,
        "paused" => ContainerState::Paused,
        "restarting" => ContainerState::Restarting,
        "removing" => ContainerState::Removing,
        "exited" | "stopping" => ContainerState::Exited,
        "dead" => ContainerState::Dead,
        _ => ContainerState::Unknown,
    }
}

fn map_health(s: Option<&str>) -> HealthState {
    match s {
        Some("healthy") => HealthState::Healthy,
        Some("unhealthy") => HealthState::Unhealthy,
        Some("starting") => HealthState::Starting,
        _ => HealthState::None,
    }
}

/// bollard's messages for a missing or refused socket are terse; say what the operator can do.
pub(crate) fn describe(e: &bollard::errors::Error) -> String {
    use bollard::errors::Error as E;
    match e {
        E::SocketNotFoundError(path) => {
            format!("socket {path} not found (is dockerd running? is DOCKER_HOST right?)")
        }
        E::DockerResponseServerError {
            status_code,
            message,
        } => format!("HTTP {status_code}: {message}"),
        other => {
            let text = other.to_string();
            let mut cause = String::new();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                cause = s.to_string();
                source = s.source();
            }
            if cause.contains("Permission denied") || text.contains("Permission denied") {
                "permission denied on the Docker socket (is this user in the docker group?)"
                    .to_string()
            } else if cause.contains("Connection refused") {
                // hyper's wrapper ("Error in the hyper legacy client: client error (Connect)")
                // says nothing an operator can act on; the cause and the usual reason do.
                "connection refused (is dockerd running?)".to_string()
            } else if !cause.is_empty() && !text.contains(&cause) {
                format!("{text}: {cause}")
            } else {
                text
            }
        }
    }
}

/// The options of a log read (a container's or a Swarm task's): stdout and stderr with the
/// engine's timestamps, the last `tail` lines (None: all) from `since` (Unix seconds) on.
pub(crate) fn log_options(
    follow: bool,
    tail: Option<u32>,
    since: Option<i64>,
) -> bollard::query_parameters::LogsOptions {
    let tail = tail.map_or_else(|| "all".to_string(), |n| n.to_string());
    let mut builder = LogsOptionsBuilder::default()
        .follow(follow)
        .stdout(true)
        .stderr(true)
        .timestamps(true)
        .tail(&tail);
    if let Some(s) = since {
        builder = builder.since(i32::try_from(s).unwrap_or(i32::MAX));
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_health_map_to_domain() {
        assert_eq!(map_state("running"), ContainerState::Running);
        assert_eq!(map_state("exited"), ContainerState::Exited);
        assert_eq!(map_state("weird"), ContainerState::Unknown);
        assert_eq!(map_health(Some("unhealthy")), HealthState::Unhealthy);
        assert_eq!(map_health(Some("")), HealthState::None);
        assert_eq!(map_health(None), HealthState::None);
    }
}
