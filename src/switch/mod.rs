//! The traffic switch of a start-first deploy (issue 12): the reverse proxy in front of the app
//! is told to send new requests to the new container once it is healthy, while requests in
//! flight on the old one finish. One implementation per proxy kind: nginx on the host (an
//! upstream file we own, `nginx -t`, a graceful reload) and Caddy (its admin API).
//!
//! Addresses reach a proxy's config only as `SocketAddr`s, and names only after
//! `check_upstream_name`, so nothing an operator or a registry says is written into a proxy
//! config as text.

pub mod caddy;
pub mod nginx;
mod proxy;

pub use proxy::ProxySwitch;

use std::net::SocketAddr;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SwitchError {
    #[error("proxy upstream name {0:?}: use letters, digits and _ only")]
    BadName(String),
    #[error("Caddy admin endpoint {0:?}: expected http://HOST:PORT/")]
    BadAdmin(String),
    #[error("a switch needs at least one address")]
    NoAddress,
    #[error("writing {path}: {source}")]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("the proxy refused the change (`{command}`), so nothing was switched: {output}")]
    Refused { command: String, output: String },
    #[error("`{command}` failed: {output}")]
    Command { command: String, output: String },
    #[error("`{command}` did not finish within {} s", .limit.as_secs())]
    Timeout { command: String, limit: Duration },
}

/// What a start-first deploy needs from the proxy.
pub trait TrafficSwitch: Send + Sync {
    /// For the plan and the record: which proxy and where.
    fn describe(&self) -> String;
    /// Send new requests to `to` (and nothing else). An error leaves the proxy serving what it
    /// served before.
    fn switch_to(&self, to: &[SocketAddr]) -> impl Future<Output = Result<(), SwitchError>> + Send;
    /// The proxy finds healthy containers itself (labels): nothing to switch, and the old
    /// container must be stopped for traffic to leave it.
    fn routes_by_labels(&self) -> bool {
        false
    }
}

/// An nginx upstream name (also used in the config's `proxy_pass http://NAME`).
pub fn check_upstream_name(name: &str) -> Result<(), SwitchError> {
    if !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(())
    } else {
        Err(SwitchError::BadName(name.to_string()))
    }
}
