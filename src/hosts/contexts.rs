//! `elt-console hosts import-contexts`: the docker CLI's contexts (`docker context inspect`)
//! as `[[hosts]]` tables to paste into the config. Only names, endpoints and the folder of a
//! context's TLS files are printed, never a key's contents.

use super::HostConfig;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Context {
    name: String,
    #[serde(default)]
    endpoints: BTreeMap<String, ContextEndpoint>,
    #[serde(default, rename = "TLSMaterial")]
    tls_material: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    storage: Option<Storage>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContextEndpoint {
    #[serde(default)]
    host: String,
}

#[derive(Debug, Deserialize)]
struct Storage {
    #[serde(rename = "TLSPath", default)]
    tls_path: String,
}

/// A context name made into a host name (other characters become '-').
fn host_name(context: &str) -> String {
    let s: String = context
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.trim_start_matches(['-', '_', '.'])
        .chars()
        .take(64)
        .collect()
}

/// Hosts from `docker context inspect` output; contexts whose endpoint the console cannot use
/// are listed in the second value with the reason.
pub fn from_inspect(json: &str) -> Result<(Vec<HostConfig>, Vec<String>), serde_json::Error> {
    let contexts: Vec<Context> = serde_json::from_str(json)?;
    let mut hosts = Vec::new();
    let mut skipped = Vec::new();
    for c in contexts {
        let Some(ep) = c.endpoints.get("docker") else {
            skipped.push(format!("{}: no docker endpoint", c.name));
            continue;
        };
        let tls = c.tls_material.contains_key("docker");
        let cert_path = match (&c.storage, tls) {
            (Some(s), true) if !s.tls_path.starts_with('<') => format!("{}/docker", s.tls_path),
            _ => String::new(),
        };
        let host = HostConfig {
            name: host_name(&c.name),
            endpoint: ep.host.clone(),
            folder: String::new(),
            labels: BTreeMap::from([("context".to_string(), host_name(&c.name))]),
            tls_verify: tls && ep.host.starts_with("tcp://"),
            cert_path: if ep.host.starts_with("tcp://") {
                cert_path
            } else {
                String::new()
            },
            ssh_identity: String::new(),
            ssh_known_hosts: String::new(),
            health: Vec::new(),
            gpu_command: String::new(),
        };
        match host.validate() {
            Ok(()) => hosts.push(host),
            Err((key, why)) => skipped.push(format!("{}: {key}: {why}", c.name)),
        }
    }
    Ok((hosts, skipped))
}

/// The hosts as TOML, ready to paste.
pub fn to_toml(hosts: &[HostConfig]) -> Result<String, toml::ser::Error> {
    #[derive(serde::Serialize)]
    struct Doc<'a> {
        hosts: &'a [HostConfig],
    }
    toml::to_string(&Doc { hosts })
}

/// Run `docker context ls` and `docker context inspect` and print the hosts.
pub async fn import_command() -> i32 {
    let names = match tokio::process::Command::new("docker")
        .args(["context", "ls", "--quiet"])
        .output()
        .await
    {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => {
            eprintln!(
                "elt-console: docker context ls failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            return crate::exit_code::UNREACHABLE;
        }
        Err(e) => {
            eprintln!("elt-console: cannot run docker context ls: {e}");
            return crate::exit_code::UNREACHABLE;
        }
    };
    let names: Vec<&str> = names.split_whitespace().collect();
    let inspect = match tokio::process::Command::new("docker")
        .args(["context", "inspect"])
        .args(&names)
        .output()
        .await
    {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => {
            eprintln!(
                "elt-console: docker context inspect failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            return crate::exit_code::UNREACHABLE;
        }
        Err(e) => {
            eprintln!("elt-console: cannot run docker context inspect: {e}");
            return crate::exit_code::UNREACHABLE;
        }
    };
    let (hosts, skipped) = match from_inspect(&inspect) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("elt-console: cannot read docker context inspect's output: {e}");
            return crate::exit_code::INTERNAL;
        }
    };
    for s in &skipped {
        eprintln!("elt-console: context skipped: {s}");
    }
    match to_toml(&hosts) {
        Ok(t) => {
            println!(
                "# From `docker context inspect`: paste into the config (docs/scaling.md). Add\n# ssh_identity / ssh_known_hosts for ssh:// hosts and labels such as role = \"canary\".\n{t}"
            );
            0
        }
        Err(e) => {
            eprintln!("elt-console: cannot write TOML: {e}");
            crate::exit_code::INTERNAL
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_become_hosts_with_tls_folders_but_never_key_contents() {
        let json = r#"[
          {"Name":"default","Metadata":{},"Endpoints":{"docker":{"Host":"unix:///var/run/docker.sock","SkipTLSVerify":false}},
           "TLSMaterial":{},"Storage":{"MetadataPath":"<IN MEMORY>","TLSPath":"<IN MEMORY>"}},
          {"Name":"gpu 2","Metadata":{},"Endpoints":{"docker":{"Host":"tcp://gpu2.example:2376","SkipTLSVerify":false}},
           "TLSMaterial":{"docker":["ca.pem","cert.pem","key.pem"]},"Storage":{"MetadataPath":"/root/.docker/contexts/meta/ab","TLSPath":"/root/.docker/contexts/tls/ab"}},
          {"Name":"edge","Metadata":{},"Endpoints":{"docker":{"Host":"ssh://deploy@edge.example"}},"TLSMaterial":{},"Storage":{}},
          {"Name":"odd","Metadata":{},"Endpoints":{"docker":{"Host":"npipe:////./pipe/docker"}},"TLSMaterial":{},"Storage":{}}
        ]"#;
        let (hosts, skipped) = from_inspect(json).unwrap();
        let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["default", "gpu-2", "edge"]);
        assert!(hosts[1].tls_verify);
        assert_eq!(hosts[1].cert_path, "/root/.docker/contexts/tls/ab/docker");
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        let toml = to_toml(&hosts).unwrap();
        assert!(toml.contains("[[hosts]]") && toml.contains("ssh://deploy@edge.example"));
        assert!(!toml.contains("key.pem"), "{toml}");
        // What is printed is a config the console accepts.
        #[derive(serde::Deserialize)]
        struct Doc {
            hosts: Vec<HostConfig>,
        }
        let back: Doc = toml::from_str(&toml).unwrap();
        assert!(super::super::validate_all(&back.hosts).is_ok());
    }
}
