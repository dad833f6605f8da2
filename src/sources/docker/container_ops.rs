//! What the start-first strategy does to single containers: where the host reaches one, stop
//! and remove one, and the tail of its log.

use super::{DockerError, DockerSource};
use bollard::query_parameters::{LogsOptionsBuilder, StopContainerOptionsBuilder};
use futures_util::StreamExt;
use std::time::Duration;

impl DockerSource {
    /// Where the host reaches a container's TCP `port`: its first published binding (an
    /// unspecified host address means loopback); None when the port is not published. The
    /// start-first strategy asks a new container's health here, not through the proxy.
    pub async fn published_addr(
        &self,
        container_id: &str,
        port: u16,
    ) -> Result<Option<std::net::SocketAddr>, DockerError> {
        let inspect = self
            .timed(self.docker.inspect_container(container_id, None))
            .await?;
        let bindings = inspect
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|mut ports| ports.remove(&format!("{port}/tcp")))
            .flatten()
            .unwrap_or_default();
        Ok(bindings.into_iter().find_map(|b| {
            let host_port: u16 = b.host_port?.parse().ok()?;
            let ip: std::net::IpAddr = match b.host_ip.as_deref() {
                None | Some("") | Some("0.0.0.0") => std::net::Ipv4Addr::LOCALHOST.into(),
                Some("::") => std::net::Ipv6Addr::LOCALHOST.into(),
                Some(other) => other.parse().ok()?,
            };
            Some(std::net::SocketAddr::new(ip, host_port))
        }))
    }

    /// Where the host reaches a container's TCP `port`: its published binding, else its
    /// address on its first network (a label-routed proxy's containers publish nothing; a
    /// bridge network is reachable from the host). None when it has neither.
    pub async fn container_addr(
        &self,
        container_id: &str,
        port: u16,
    ) -> Result<Option<std::net::SocketAddr>, DockerError> {
        if let Some(addr) = self.published_addr(container_id, port).await? {
            return Ok(Some(addr));
        }
        let inspect = self
            .timed(self.docker.inspect_container(container_id, None))
            .await?;
        let ip = inspect
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|nets| {
                let mut nets: Vec<_> = nets.into_iter().collect();
                nets.sort_by(|a, b| a.0.cmp(&b.0));
                nets.into_iter()
                    .find_map(|(_, n)| n.ip_address.filter(|ip| !ip.is_empty()))
            })
            .and_then(|ip| ip.parse::<std::net::IpAddr>().ok());
        Ok(ip.map(|ip| std::net::SocketAddr::new(ip, port)))
    }

    /// Stop a container (SIGTERM, then SIGKILL after `grace`) and remove it.
    pub async fn stop_and_remove(&self, id: &str, grace: Duration) -> Result<(), DockerError> {
        let options = StopContainerOptionsBuilder::default()
            .t(i32::try_from(grace.as_secs()).unwrap_or(i32::MAX))
            .build();
        // The stop takes up to the grace period, longer than one API request may.
        match tokio::time::timeout(
            grace + self.timeout,
            self.docker.stop_container(id, Some(options)),
        )
        .await
        {
            Err(_) => {
                return Err(DockerError::Timeout {
                    host: self.host.clone(),
                    ms: (grace + self.timeout).as_millis() as u64,
                });
            }
            // 304: already stopped.
            Ok(Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            })) => {}
            Ok(Err(e)) => return Err(self.classify(e)),
            Ok(Ok(())) => {}
        }
        self.remove_container(id).await
    }

    /// The last `lines` lines of a container's output (stdout and stderr), as text.
    pub async fn logs_tail(&self, id: &str, lines: u32) -> Result<String, DockerError> {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        let stream = self.docker.logs(id, Some(options));
        let chunks = self
            .timed(async move {
                stream
                    .map(|item| item.map(|out| out.into_bytes()))
                    .collect::<Vec<_>>()
                    .await
                    .into_iter()
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        Ok(chunks
            .iter()
            .map(|c| String::from_utf8_lossy(c))
            .collect::<String>())
    }
}
