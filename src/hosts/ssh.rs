//! `ssh://` endpoints, as the docker CLI reaches them: each connection is a fresh
//! `ssh … -- HOST docker system dial-stdio`, whose stdin and stdout carry the engine's API.
//! bollard cannot speak ssh with our options (BatchMode, known_hosts, identity), and compose
//! needs an address of its own, so the console serves a private unix socket (mode 0700 folder)
//! and bridges each connection to its own ssh child. bollard and compose both use that socket.

use super::endpoint::SshTarget;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::net::UnixListener;
use tokio_util::sync::CancellationToken;

/// How ssh is run for one host.
#[derive(Debug, Clone)]
pub struct SshOptions {
    pub target: SshTarget,
    pub identity: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub connect_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("{target}: cannot run ssh: {source}")]
    Spawn {
        target: String,
        source: std::io::Error,
    },
    #[error("{target}: {message}")]
    Remote { target: String, message: String },
    #[error("{target}: no answer within {secs} s")]
    Timeout { target: String, secs: u64 },
    #[error("cannot serve the ssh bridge socket in {dir}: {source}")]
    Socket {
        dir: PathBuf,
        source: std::io::Error,
    },
}

impl SshOptions {
    /// ssh's arguments up to and including the host: never a prompt (BatchMode), the host key
    /// checked against known_hosts (never added), the configured key only when one is given.
    pub fn ssh_args(&self) -> Vec<String> {
        let mut args: Vec<String> = [
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "ControlMaster=no",
            "-T",
            "-x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push("-o".into());
        args.push(format!(
            "ConnectTimeout={}",
            self.connect_timeout.as_secs().max(1)
        ));
        if let Some(k) = &self.known_hosts {
            args.push("-o".into());
            args.push(format!("UserKnownHostsFile={}", k.display()));
        }
        if let Some(id) = &self.identity {
            args.push("-i".into());
            args.push(id.display().to_string());
            args.push("-o".into());
            args.push("IdentitiesOnly=yes".into());
        }
        if let Some(p) = self.target.port {
            args.push("-p".into());
            args.push(p.to_string());
        }
        args.push("-l".into());
        args.push(self.target.user.clone());
        // `--`: the host (checked in endpoint.rs) can never read as an option.
        args.push("--".into());
        args.push(self.target.host.trim_matches(['[', ']']).to_string());
        args
    }

    pub(super) fn command(&self, remote: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("ssh");
        cmd.args(self.ssh_args())
            .args(remote)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// One round trip before serving: ssh's own words when the key, the host key or the
    /// remote docker is wrong, instead of a connection that closes with nothing said.
    pub async fn probe(&self) -> Result<String, SshError> {
        let target = self.target.to_string();
        let out = tokio::time::timeout(
            self.connect_timeout + Duration::from_secs(5),
            self.command(&["docker", "version", "--format", "{{.Server.Version}}"])
                .output(),
        )
        .await
        .map_err(|_| SshError::Timeout {
            target: target.clone(),
            secs: self.connect_timeout.as_secs() + 5,
        })?
        .map_err(|source| SshError::Spawn {
            target: target.clone(),
            source,
        })?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let message = stderr
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("ssh failed")
            .to_string();
        Err(SshError::Remote { target, message })
    }
}

/// A private unix socket whose every connection is bridged to `docker system dial-stdio`
/// over ssh. Stops serving and removes its folder when dropped.
pub struct SshBridge {
    dir: PathBuf,
    socket: PathBuf,
    stop: CancellationToken,
}

static BRIDGES: AtomicU32 = AtomicU32::new(0);

fn runtime_dir() -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .unwrap_or_else(std::env::temp_dir)
}

impl SshBridge {
    /// Probe the host, then serve the bridge socket.
    pub async fn start(options: SshOptions) -> Result<Self, SshError> {
        options.probe().await?;
        Self::serve(options)
    }

    fn serve(options: SshOptions) -> Result<Self, SshError> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = runtime_dir().join(format!(
            "elt-console-ssh-{}-{}",
            std::process::id(),
            BRIDGES.fetch_add(1, Ordering::Relaxed)
        ));
        let fail = |source| SshError::Socket {
            dir: dir.clone(),
            source,
        };
        // Only this user may reach the engine through it.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(fail)?;
        let socket = dir.join("docker.sock");
        let listener = UnixListener::bind(&socket).map_err(fail)?;
        let stop = CancellationToken::new();
        let token = stop.clone();
        tokio::spawn(async move {
            loop {
                let conn = tokio::select! {
                    () = token.cancelled() => break,
                    c = listener.accept() => c,
                };
                let Ok((stream, _)) = conn else { continue };
                let options = options.clone();
                let token = token.clone();
                tokio::spawn(async move {
                    bridge_one(stream, &options, token).await;
                });
            }
        });
        Ok(Self { dir, socket, stop })
    }

    /// The address bollard and compose use (`unix://…/docker.sock`).
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

async fn bridge_one(
    mut stream: tokio::net::UnixStream,
    options: &SshOptions,
    stop: CancellationToken,
) {
    let mut cmd = options.command(&["docker", "system", "dial-stdio"]);
    cmd.stdin(Stdio::piped()).stderr(Stdio::null());
    let Ok(mut child) = cmd.spawn() else {
        tracing::warn!(target = %options.target, "cannot run ssh for a bridged connection");
        return;
    };
    let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
        return;
    };
    let mut remote = tokio::io::join(stdout, stdin);
    tokio::select! {
        () = stop.cancelled() => {}
        r = tokio::io::copy_bidirectional(&mut stream, &mut remote) => {
            if let Err(e) = r {
                tracing::debug!(target = %options.target, "ssh bridge connection ended: {e}");
            }
        }
    }
    drop(remote);
    // dial-stdio ends when its stdin closes; a child that lingers is stopped.
    if tokio::time::timeout(Duration::from_secs(2), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

impl Drop for SshBridge {
    fn drop(&mut self) {
        self.stop.cancel();
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_is_run_without_prompts_with_the_host_key_checked_and_the_host_after_dashes() {
        let o = SshOptions {
            target: SshTarget {
                user: "root".into(),
                host: "127.0.0.1".into(),
                port: Some(2222),
            },
            identity: Some("/k/id".into()),
            known_hosts: Some("/k/known".into()),
            connect_timeout: Duration::from_secs(5),
        };
        let a = o.ssh_args().join(" ");
        assert!(a.contains("BatchMode=yes"), "{a}");
        assert!(a.contains("StrictHostKeyChecking=yes"), "{a}");
        assert!(a.contains("UserKnownHostsFile=/k/known"), "{a}");
        assert!(a.contains("-i /k/id -o IdentitiesOnly=yes"), "{a}");
        assert!(a.ends_with("-p 2222 -l root -- 127.0.0.1"), "{a}");
    }
}
