//! Several hosts in one console (`[[hosts]]`): each a Docker engine reached by `unix://`,
//! `tcp://` (TLS) or `ssh://` (the remote `docker system dial-stdio`, as the docker CLI does),
//! with its own deployment folder, store and lock. The overview and `status` read every host;
//! `deploy --hosts` rolls a release across them host by host (roll.rs).

pub mod contexts;
pub mod endpoint;
pub mod history;
pub mod link;
pub mod overview;
pub mod remote_gpu;
pub mod roll;
pub mod seen;
pub mod ssh;

use crate::config::Config;
use std::path::{Path, PathBuf};

pub use crate::config::{HostConfig, is_host_name, validate_all};

impl HostConfig {
    /// Where this host's env file and store live.
    pub fn state_root(&self, base: &Config) -> PathBuf {
        if self.folder.is_empty() {
            crate::deploy::absolute(&base.deployment.state_dir)
                .join("hosts")
                .join(&self.name)
        } else {
            crate::deploy::absolute(Path::new(&self.folder))
        }
    }
}

/// The configured hosts (none: commands act on the one engine of `[docker]`).
pub fn configured(config: &Config) -> Vec<HostConfig> {
    config.hosts.clone()
}

/// Rolling order: canaries first, then the others, each group in the config's order.
pub fn rolling_order(hosts: Vec<HostConfig>) -> Vec<HostConfig> {
    let (mut first, rest): (Vec<_>, Vec<_>) = hosts.into_iter().partition(HostConfig::is_canary);
    first.extend(rest);
    first
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("no [[hosts]] are configured; `--hosts` needs them (see docs/scaling.md)")]
    NoHosts,
    #[error("{0:?} is neither a host name nor a label value of any host (hosts: {1})")]
    Unknown(String, String),
}

/// `--hosts all|LABEL|NAME…` in rolling order, each host once.
pub fn select(config: &Config, wanted: &[String]) -> Result<Vec<HostConfig>, SelectError> {
    let hosts = configured(config);
    if hosts.is_empty() {
        return Err(SelectError::NoHosts);
    }
    let words: Vec<&str> = wanted
        .iter()
        .flat_map(|w| w.split(','))
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() || words.contains(&"all") {
        return Ok(rolling_order(hosts));
    }
    let mut chosen: Vec<&HostConfig> = Vec::new();
    for w in &words {
        let matching: Vec<&HostConfig> = hosts
            .iter()
            .filter(|h| h.name == *w || h.labels.values().any(|v| v == w))
            .collect();
        if matching.is_empty() {
            let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
            return Err(SelectError::Unknown(w.to_string(), names.join(", ")));
        }
        chosen.extend(matching);
    }
    // Config order, then canaries first.
    let picked: Vec<HostConfig> = hosts
        .iter()
        .filter(|h| chosen.iter().any(|c| c.name == h.name))
        .cloned()
        .collect();
    Ok(rolling_order(picked))
}

/// The config one host's engine, store and compose run with: the base config with this
/// host's engine address (`docker_host`, which for ssh:// is the local bridge socket), TLS,
/// deployment folder and health endpoints.
pub fn host_config(base: &Config, host: &HostConfig, docker_host: &str) -> Config {
    let mut c = base.clone();
    c.docker.host = docker_host.to_string();
    c.docker.tls_verify = host.tls_verify;
    c.docker.cert_path = if host.cert_path.is_empty() && host.tls_verify {
        std::env::var("DOCKER_CERT_PATH").unwrap_or_default()
    } else {
        host.cert_path.clone()
    };
    let root = host.state_root(base);
    if host.folder.is_empty() {
        c.deployment.compose_file = crate::deploy::absolute(&base.deployment.compose_file);
        c.deployment.env_file = root.join(
            base.deployment
                .env_file
                .file_name()
                .unwrap_or(std::ffi::OsStr::new(".env")),
        );
        c.deployment.state_dir = root;
    } else {
        // A relative path is in the host's folder. An absolute compose file may be shared;
        // an absolute state dir gets a folder per host, or every host would share one store
        // and lock (an absolute env file is refused when the config loads: config/validate.rs).
        c.deployment.compose_file = root.join(&base.deployment.compose_file);
        c.deployment.env_file = root.join(&base.deployment.env_file);
        c.deployment.state_dir = if base.deployment.state_dir.is_absolute() {
            base.deployment.state_dir.join("hosts").join(&host.name)
        } else {
            root.join(&base.deployment.state_dir)
        };
    }
    if !host.health.is_empty() {
        c.health = host.health.clone();
    }
    c.hosts = Vec::new();
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn host(name: &str, endpoint: &str, role: Option<&str>) -> HostConfig {
        HostConfig {
            name: name.into(),
            endpoint: endpoint.into(),
            folder: String::new(),
            labels: role
                .map(|r| BTreeMap::from([("role".to_string(), r.to_string())]))
                .unwrap_or_default(),
            tls_verify: false,
            cert_path: String::new(),
            ssh_identity: String::new(),
            ssh_known_hosts: String::new(),
            health: Vec::new(),
            gpu_command: String::new(),
        }
    }

    #[test]
    fn hosts_roll_canary_first_and_select_by_name_or_label() {
        let mut c = crate::config::defaults();
        c.hosts = vec![
            host("gpu1", "unix:///run/a.sock", None),
            host("gpu2", "ssh://root@gpu2", Some("canary")),
            host("gpu3", "tcp://gpu3:2376", Some("batch")),
        ];
        let names = |v: Vec<HostConfig>| v.into_iter().map(|h| h.name).collect::<Vec<_>>();
        assert_eq!(
            names(select(&c, &["all".into()]).unwrap()),
            ["gpu2", "gpu1", "gpu3"]
        );
        assert_eq!(
            names(select(&c, &["gpu3".into(), "canary".into()]).unwrap()),
            ["gpu2", "gpu3"]
        );
        assert!(matches!(
            select(&c, &["nope".into()]),
            Err(SelectError::Unknown(..))
        ));
        c.hosts.clear();
        assert_eq!(
            select(&c, &["all".into()]).unwrap_err(),
            SelectError::NoHosts
        );
    }

    #[test]
    fn a_host_config_points_engine_store_and_env_file_at_the_host() {
        let mut base = crate::config::defaults();
        base.deployment.state_dir = "/srv/elt/.elt-console".into();
        let h = host("gpu2", "ssh://root@gpu2", None);
        let c = host_config(&base, &h, "unix:///tmp/bridge.sock");
        assert_eq!(c.docker.host, "unix:///tmp/bridge.sock");
        assert_eq!(
            c.deployment.state_dir,
            PathBuf::from("/srv/elt/.elt-console/hosts/gpu2")
        );
        assert_eq!(
            c.deployment.env_file,
            PathBuf::from("/srv/elt/.elt-console/hosts/gpu2/.env")
        );
        assert!(c.hosts.is_empty());
        assert_eq!(
            c.docker.compose_env(),
            vec![(
                "DOCKER_HOST".to_string(),
                "unix:///tmp/bridge.sock".to_string()
            )]
        );
    }

    #[test]
    fn a_bad_host_is_a_config_error_at_its_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let load = |text: &str| {
            std::fs::write(&path, text).unwrap();
            crate::config::load(&crate::config::Sources {
                files: vec![(path.clone(), true)],
                env: vec![],
            })
        };
        let ok = load(
            "[[hosts]]\nname = \"gpu1\"\nendpoint = \"ssh://root@127.0.0.1:2222\"\nlabels = { role = \"canary\" }\n",
        )
        .unwrap();
        assert_eq!(ok.config.hosts[0].name, "gpu1");
        assert!(ok.config.hosts[0].is_canary());
        let e = load(
            "[[hosts]]\nname = \"gpu1\"\nendpoint = \"unix:///run/docker.sock\"\n\n[[hosts]]\nname = \"gpu2\"\nendpoint = \"ssh://gpu2\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("config.toml:7:1: key `hosts[1].endpoint`"),
            "{e}"
        );
        assert!(e.contains("ssh://user@host"), "{e}");
        let e = load("[[hosts]]\nname = \"gpu1\"\nendpoint = \"unix:///x\"\nport = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("hosts[0]") && e.contains("port"), "{e}");
        // With folders, one absolute env file would be every host's pin.
        let e = load(
            "[deployment]\nenv_file = \"/srv/elt/.env\"\n\n[[hosts]]\nname = \"gpu1\"\nendpoint = \"unix:///x\"\nfolder = \"/srv/gpu1\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("config.toml:2:") && e.contains("deployment.env_file"),
            "{e}"
        );
    }

    #[test]
    fn hosts_with_folders_never_share_a_store_even_with_an_absolute_state_dir() {
        let mut base = crate::config::defaults();
        let mut a = host("gpu1", "unix:///run/a.sock", None);
        a.folder = "/srv/gpu1".into();
        let mut b = host("gpu2", "unix:///run/b.sock", None);
        b.folder = "/srv/gpu2".into();
        base.deployment.state_dir = ".elt-console".into();
        let dir =
            |h: &HostConfig, base: &Config| host_config(base, h, "unix:///x").deployment.state_dir;
        assert_eq!(dir(&a, &base), PathBuf::from("/srv/gpu1/.elt-console"));
        base.deployment.state_dir = "/var/lib/elt-console".into();
        assert_eq!(
            dir(&a, &base),
            PathBuf::from("/var/lib/elt-console/hosts/gpu1")
        );
        assert_ne!(dir(&a, &base), dir(&b, &base));
    }

    #[test]
    fn settings_for_another_transport_or_unsafe_paths_are_refused() {
        let mut h = host("gpu1", "unix:///run/a.sock", None);
        h.ssh_identity = "/root/.ssh/id".into();
        assert_eq!(h.validate().unwrap_err().0, "ssh_identity");
        let mut h = host("gpu1", "ssh://root@gpu1", None);
        h.ssh_identity = "-oProxyCommand=x".into();
        assert_eq!(h.validate().unwrap_err().0, "ssh_identity");
        let h = host("bad name", "ssh://root@gpu1", None);
        assert_eq!(h.validate().unwrap_err().0, "name");
        assert!(
            validate_all(&[host("a", "ssh://r@x", None), host("a", "ssh://r@y", None)]).is_err()
        );
    }
}
