//! The one switch the engine holds: whichever proxy `[proxy]` names.

use super::{SwitchError, TrafficSwitch, caddy, nginx};
use std::net::SocketAddr;

/// The proxy `[proxy]` configures, as one switch the engine holds.
#[derive(Debug, Clone)]
pub enum ProxySwitch {
    Nginx(nginx::NginxSwitch),
    Caddy(caddy::CaddySwitch),
    /// A label-routed proxy (Traefik) sends to every healthy container carrying the router
    /// labels: the new one joins once healthy, and the switch is the old one leaving.
    Labels,
}

impl ProxySwitch {
    /// The switch for `[proxy]`; None when no proxy is configured.
    pub fn from_config(c: &crate::config::ProxyConfig) -> Result<Option<Self>, SwitchError> {
        use crate::config::ProxyKind;
        Ok(match c.kind {
            ProxyKind::None => None,
            ProxyKind::Nginx => Some(ProxySwitch::Nginx(nginx::NginxSwitch::new(
                c.upstream_file.clone(),
                &c.upstream_name,
                c.nginx_command
                    .split_whitespace()
                    .map(str::to_string)
                    .collect(),
            )?)),
            ProxyKind::Caddy => Some(ProxySwitch::Caddy(caddy::CaddySwitch::new(
                &c.caddy_admin,
                &c.caddy_handler_id,
            )?)),
            ProxyKind::Labels => Some(ProxySwitch::Labels),
        })
    }
}

impl TrafficSwitch for ProxySwitch {
    fn describe(&self) -> String {
        match self {
            ProxySwitch::Nginx(n) => n.describe(),
            ProxySwitch::Caddy(c) => c.describe(),
            ProxySwitch::Labels => "label-routed proxy (routes to every healthy container)".into(),
        }
    }

    async fn switch_to(&self, to: &[SocketAddr]) -> Result<(), SwitchError> {
        match self {
            ProxySwitch::Nginx(n) => n.switch_to(to).await,
            ProxySwitch::Caddy(c) => c.switch_to(to).await,
            ProxySwitch::Labels => Ok(()),
        }
    }

    fn routes_by_labels(&self) -> bool {
        matches!(self, ProxySwitch::Labels)
    }
}
