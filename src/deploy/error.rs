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
