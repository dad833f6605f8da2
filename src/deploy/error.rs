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
