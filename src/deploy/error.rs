//! The engine's typed error at its edge: why an engine could not be started.

use super::compose::RuntimeError;
use crate::sources::docker::DockerError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP client for the health endpoints could not be built (TLS setup).
    #[error("{0:#}")]
    HealthClient(anyhow::Error),
    /// `[proxy]` names a proxy that cannot be set up (checked with the config too).
    #[error("[proxy]: {0}")]
    Proxy(String),
}

/// Why a deploy could not be planned: what runs, the target, or the previous version.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Registry(#[from] crate::sources::registry::RegistryError),
    #[error("tag {tag} does not exist in {repo}")]
    NoSuchTag { tag: String, repo: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{service}: no previous version recorded in {} to roll back to (use `rollback TAG`)",
        store.display()
    )]
    NoPrevious {
        service: String,
        store: std::path::PathBuf,
    },
    #[error("{service}: the previous image {image} is no longer local and has no tag to pull")]
    PreviousGone { service: String, image: String },
    #[error("{service}: {source}")]
    BadTag {
        service: String,
        source: crate::domain::NameError,
    },
    #[error(transparent)]
    BadName(#[from] crate::domain::NameError),
    #[error("{service}: no tag or digest to deploy")]
    NoTarget { service: String },
    #[error(transparent)]
    EnvFile(#[from] super::envfile::EnvFileError),
}

/// Why the app is not healthy (yet): one poll's verdict, or the end of the wait.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HealthError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("{service}: no container yet")]
    NoContainer { service: String },
    #[error("{service}: container healthcheck starting")]
    Starting { service: String },
    #[error("{service}: container healthcheck reports unhealthy")]
    Unhealthy { service: String },
    #[error("{service}: container {container} exited (code {})", code.map_or("?".into(), |c| c.to_string()))]
    Exited {
        service: String,
        container: String,
        code: Option<i64>,
    },
    /// Created, restarting, paused…: the state's name in lower case.
    #[error("{service}: container is {state}")]
    State { service: String, state: String },
    #[error("endpoint {name} ({url}): {}", error.as_deref().unwrap_or("not OK"))]
    Endpoint {
        name: String,
        url: String,
        error: Option<String>,
    },
    /// `ready = "running:Ns"`: up, but not for long enough yet.
    #[error("{service}: running {ran_s} s of the {want_s} s without a restart it needs (ready)")]
    NotReadyYet {
        service: String,
        ran_s: u64,
        want_s: u64,
    },
    /// `ready = "running:Ns"`: the container's process died and its restart policy restarted it.
    #[error("{service}: container {container} restarted {restarts} time(s); ready wants none")]
    Restarted {
        service: String,
        container: String,
        restarts: u64,
    },
    /// The new container's log says the GPU ran out of memory (a start-first deploy with two
    /// copies of the model): it will not turn healthy by waiting.
    #[error("{service}: container {container} ran out of GPU memory: {line}")]
    OutOfMemory {
        service: String,
        container: String,
        line: String,
    },
    #[error("not checked yet")]
    NotChecked,
    #[error("not healthy within {secs} s (deploy.health_timeout_s): {last}")]
    Timeout { secs: u64, last: Box<HealthError> },
}

impl HealthError {
    /// A container that exited (or restarted, under a `ready` rule) will not turn healthy by
    /// waiting.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            HealthError::Exited { .. }
                | HealthError::Restarted { .. }
                | HealthError::OutOfMemory { .. }
        )
    }
}

/// Why the automatic rollback did not bring the old version back.
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error(transparent)]
    EnvFile(#[from] super::envfile::EnvFileError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Health(#[from] HealthError),
}

/// One pull attempt that did not finish.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("no progress within {secs} s")]
    NoProgress { secs: u64 },
}

/// The configured backup command did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` did not finish within {secs} s (stopped)")]
    Timeout { command: String, secs: u64 },
    #[error("`{command}`: {source}")]
    Wait {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed (exit {code}): {output}")]
    Failed {
        command: String,
        code: i32,
        output: String,
    },
}

/// Local images could not be kept (for the rollback) or removed (retention).
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("no repository")]
    NoRepository,
    #[error("keeping the previous image {id} for a rollback: {source}")]
    Keep { id: String, source: DockerError },
    #[error("{reference}: {source}")]
    Remove {
        reference: String,
        source: DockerError,
    },
}

/// The end of a deploy that the store did not take, after retrying (the deploy itself ran).
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("not recorded in the store: {0}")]
    NotRecorded(crate::store::StoreError),
    #[error("the deploy lock was not released: {0}")]
    LockKept(crate::store::StoreError),
}

/// `--service NAME` for a service the deployment does not have.
#[derive(Debug, thiserror::Error)]
#[error("--service {name}: not a service of deployment.services (configured: {configured})")]
pub struct UnknownService {
    pub name: String,
    pub configured: String,
}
