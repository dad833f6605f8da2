//! `[[hosts]]` as configured: one table per Docker engine the console watches and rolls
//! releases across, and the checks on it (the hosts module does the connecting and rolling).

use super::types::HostConfig;
use crate::hosts::endpoint::{self, Endpoint};

/// A host name as it may reach a file name, an env value and a table.
pub fn is_host_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn is_label_key(s: &str) -> bool {
    is_host_name(s)
}

impl HostConfig {
    pub fn endpoint(&self) -> Result<Endpoint, endpoint::EndpointError> {
        Endpoint::parse(&self.endpoint)
    }

    pub fn is_canary(&self) -> bool {
        self.labels.get("role").is_some_and(|r| r == "canary")
    }

    /// The key (under `hosts[i].`) and message of the first thing wrong, if any.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if !is_host_name(&self.name) {
            return Err((
                "name".into(),
                format!(
                    "{:?} is not a host name (1 to 64 letters, digits, '-', '_', '.')",
                    self.name
                ),
            ));
        }
        let ep = self
            .endpoint()
            .map_err(|e| ("endpoint".to_string(), e.to_string()))?;
        for (k, v) in &self.labels {
            if !is_label_key(k) || !is_host_name(v) {
                return Err((
                    format!("labels.{k}"),
                    format!(
                        "{k:?} = {v:?}: label keys and values are names (letters, digits, '-', '_', '.')"
                    ),
                ));
            }
        }
        if (self.tls_verify || !self.cert_path.is_empty()) && !matches!(ep, Endpoint::Tcp { .. }) {
            return Err((
                "tls_verify".into(),
                "TLS settings apply to tcp:// endpoints only".into(),
            ));
        }
        if (!self.ssh_identity.is_empty() || !self.ssh_known_hosts.is_empty())
            && !matches!(ep, Endpoint::Ssh(_))
        {
            return Err((
                "ssh_identity".into(),
                "ssh settings apply to ssh:// endpoints only".into(),
            ));
        }
        if !self.gpu_command.is_empty() {
            if !matches!(ep, Endpoint::Ssh(_)) {
                return Err((
                    "gpu_command".into(),
                    "gpu_command applies to ssh:// endpoints only (a local engine's GPUs are read with NVML)".into(),
                ));
            }
            if !crate::hosts::remote_gpu::is_gpu_command(&self.gpu_command) {
                return Err((
                    "gpu_command".into(),
                    format!(
                        "{:?} is not a command path (letters, digits, '/', '.', '_', '-')",
                        self.gpu_command
                    ),
                ));
            }
        }
        for (key, path) in [
            ("cert_path", &self.cert_path),
            ("ssh_identity", &self.ssh_identity),
            ("ssh_known_hosts", &self.ssh_known_hosts),
            ("folder", &self.folder),
        ] {
            // These reach an ssh command line or compose's environment.
            if path.starts_with('-') || path.contains(['\n', '\0']) {
                return Err((key.into(), format!("{path:?} is not a usable path")));
            }
        }
        for (i, h) in self.health.iter().enumerate() {
            let ok = url::Url::parse(&h.url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err((
                    format!("health[{i}].url"),
                    format!("expected an http(s) URL with a host, found {:?}", h.url),
                ));
            }
        }
        Ok(())
    }
}

/// Checks across hosts: each valid, names unique. `(key, message)` for config errors.
pub fn validate_all(hosts: &[HostConfig]) -> Result<(), (String, String)> {
    let mut seen = std::collections::HashSet::new();
    for (i, h) in hosts.iter().enumerate() {
        h.validate()
            .map_err(|(k, m)| (format!("hosts[{i}].{k}"), m))?;
        if !seen.insert(h.name.as_str()) {
            return Err((
                format!("hosts[{i}].name"),
                format!("host {:?} is listed twice", h.name),
            ));
        }
    }
    Ok(())
}
