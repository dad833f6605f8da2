//! Reaching one host's engine: the address bollard and compose use for it, and for `ssh://` the
//! bridge that must live as long as they do.

use super::HostConfig;
use super::endpoint::Endpoint;
use super::ssh::{SshBridge, SshError, SshOptions};
use crate::config::Config;
use crate::domain::GpuStatus;
use std::path::PathBuf;
use std::time::Duration;

/// A host made reachable: `docker_host` is what bollard and compose are given.
pub struct HostLink {
    pub docker_host: String,
    /// How the host is reached over ssh, for what the engine's API cannot tell (its GPUs).
    pub ssh: Option<SshOptions>,
    _bridge: Option<SshBridge>,
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("host {host}: {source}")]
    Endpoint {
        host: String,
        source: super::endpoint::EndpointError,
    },
    #[error("host {host}: {source}")]
    Ssh { host: String, source: SshError },
}

fn non_empty_path(s: &str) -> Option<PathBuf> {
    (!s.is_empty()).then(|| crate::deploy::absolute(std::path::Path::new(s)))
}

impl HostLink {
    pub async fn open(host: &HostConfig, connect_timeout: Duration) -> Result<Self, LinkError> {
        let endpoint = host.endpoint().map_err(|source| LinkError::Endpoint {
            host: host.name.clone(),
            source,
        })?;
        match endpoint {
            Endpoint::Unix(_) | Endpoint::Tcp { .. } => Ok(Self {
                docker_host: endpoint.to_string(),
                ssh: None,
                _bridge: None,
            }),
            Endpoint::Ssh(target) => {
                let options = SshOptions {
                    target,
                    identity: non_empty_path(&host.ssh_identity),
                    known_hosts: non_empty_path(&host.ssh_known_hosts),
                    connect_timeout,
                };
                let bridge =
                    SshBridge::start(options.clone())
                        .await
                        .map_err(|source| LinkError::Ssh {
                            host: host.name.clone(),
                            source,
                        })?;
                Ok(Self {
                    docker_host: bridge.docker_host(),
                    ssh: Some(options),
                    _bridge: Some(bridge),
                })
            }
        }
    }

    /// The config this host's engine, store and compose run with.
    pub fn config(&self, base: &Config, host: &HostConfig) -> Config {
        super::host_config(base, host, &self.docker_host)
    }
}

/// Where a host's GPU figures come from: NVML here for a host on this machine, the host's
/// own nvidia-smi over ssh, none for a tcp:// engine. One rule for `hosts`, `status` and the
/// dashboard.
pub enum GpuSource {
    Local,
    Ssh(SshOptions),
    Unknown,
}

impl GpuSource {
    pub fn of(host: &HostConfig, link: &HostLink) -> Self {
        if host.endpoint.starts_with("unix://") {
            GpuSource::Local
        } else if let Some(ssh) = &link.ssh {
            GpuSource::Ssh(ssh.clone())
        } else {
            GpuSource::Unknown
        }
    }

    /// What a host whose GPUs cannot be read shows instead.
    pub fn unknown(host: &HostConfig) -> GpuStatus {
        GpuStatus::Unavailable {
            reason: format!(
                "not known for tcp:// host {} (NVML reads this machine's GPUs; an ssh:// endpoint reads the host's nvidia-smi)",
                host.name
            ),
        }
    }
}
