//! Caddy: its admin API replaces the upstreams of the app's `reverse_proxy` handler in one
//! request (`PATCH /id/<handler id>/upstreams`). Caddy loads the changed config as a whole and
//! lets requests in flight on the old one finish; a change it refuses leaves the running
//! config as it was. The operator gives the handler an `@id` in the Caddy config (docs show it).

use super::{SwitchError, TrafficSwitch, check_upstream_name};
use std::net::SocketAddr;
use std::time::Duration;

/// How long the admin API may take to answer (it answers once the new config runs).
const ADMIN_LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct CaddySwitch {
    /// `http://127.0.0.1:2019`, the admin endpoint (loopback: it is unauthenticated).
    admin: url::Url,
    handler_id: String,
    client: reqwest::Client,
}

impl CaddySwitch {
    pub fn new(admin: &str, handler_id: &str) -> Result<Self, SwitchError> {
        check_upstream_name(handler_id)?;
        let admin = url::Url::parse(admin)
            .ok()
            .filter(|u| u.scheme() == "http" && u.host_str().is_some() && u.path() == "/")
            .ok_or_else(|| SwitchError::BadAdmin(admin.to_string()))?;
        crate::sources::install_crypto_provider();
        // The admin API is local: never through an HTTP proxy.
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(ADMIN_LIMIT)
            .build()
            .map_err(|e| SwitchError::Command {
                command: "building the Caddy admin client".into(),
                output: e.to_string(),
            })?;
        Ok(Self {
            admin,
            handler_id: handler_id.to_string(),
            client,
        })
    }

    fn upstreams_url(&self) -> String {
        format!("{}id/{}/upstreams", self.admin, self.handler_id)
    }
}

impl TrafficSwitch for CaddySwitch {
    fn describe(&self) -> String {
        format!(
            "Caddy (handler @id {} via {})",
            self.handler_id,
            self.admin.as_str().trim_end_matches('/')
        )
    }

    async fn switch_to(&self, to: &[SocketAddr]) -> Result<(), SwitchError> {
        if to.is_empty() {
            return Err(SwitchError::NoAddress);
        }
        let body: Vec<serde_json::Value> = to
            .iter()
            .map(|a| serde_json::json!({ "dial": a.to_string() }))
            .collect();
        let command = format!("PATCH {}", self.upstreams_url());
        let answer = self
            .client
            .patch(self.upstreams_url())
            .json(&body)
            .send()
            .await
            .map_err(|e| SwitchError::Command {
                command: command.clone(),
                output: e.to_string(),
            })?;
        let status = answer.status();
        if status.is_success() {
            return Ok(());
        }
        let text = answer.text().await.unwrap_or_default();
        Err(SwitchError::Refused {
            command,
            output: format!("{status}: {}", crate::format::tail_lines(&text, 3)),
        })
    }
}
