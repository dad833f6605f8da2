//! nginx on the host: elt-console owns one file holding the app's `upstream` block; the
//! operator's server block includes it and proxies to the upstream by name (docs show the
//! snippet). A switch writes the file atomically, asks `nginx -t` whether the whole config
//! still loads (and puts the previous file back if not), then reloads: nginx starts new workers
//! with the new upstream and lets the old ones finish their requests, so nothing in flight is
//! cut.

use super::{SwitchError, TrafficSwitch, check_upstream_name};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// How long `nginx -t` and `nginx -s reload` may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct NginxSwitch {
    upstream_file: PathBuf,
    upstream_name: String,
    /// The nginx command and the options that find its config (`nginx`, or `nginx -p DIR -c
    /// FILE`); `-t` and `-s reload` are added to it.
    command: Vec<String>,
}

impl NginxSwitch {
    pub fn new(
        upstream_file: PathBuf,
        upstream_name: &str,
        command: Vec<String>,
    ) -> Result<Self, SwitchError> {
        check_upstream_name(upstream_name)?;
        let command = if command.is_empty() {
            vec!["nginx".to_string()]
        } else {
            command
        };
        Ok(Self {
            upstream_file,
            upstream_name: upstream_name.to_string(),
            command,
        })
    }

    /// The file's whole text for `addrs`.
    pub fn render(&self, addrs: &[SocketAddr]) -> String {
        let mut text = format!(
            "# Written by elt-console at each start-first deploy; edits here are replaced.\nupstream {} {{\n",
            self.upstream_name
        );
        for a in addrs {
            text.push_str(&format!("    server {a};\n"));
        }
        text.push_str("}\n");
        text
    }

    async fn nginx(&self, args: &[&str]) -> Result<(), (String, Option<String>)> {
        let shown = format!("{} {}", self.command.join(" "), args.join(" "));
        let mut cmd = tokio::process::Command::new(&self.command[0]);
        cmd.args(&self.command[1..])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let out = match tokio::time::timeout(COMMAND_LIMIT, cmd.output()).await {
            Err(_) => return Err((shown, None)),
            Ok(Err(e)) => return Err((shown, Some(e.to_string()))),
            Ok(Ok(out)) => out,
        };
        if out.status.success() {
            Ok(())
        } else {
            let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stdout));
            Err((shown, Some(crate::format::tail_lines(&text, 6))))
        }
    }
}

fn write_atomically(path: &Path, text: &str) -> Result<(), SwitchError> {
    crate::atomic_file::replace(path, text).map_err(|source| SwitchError::Write {
        path: path.to_path_buf(),
        source,
    })
}

impl TrafficSwitch for NginxSwitch {
    fn describe(&self) -> String {
        format!(
            "nginx (upstream {} in {})",
            self.upstream_name,
            self.upstream_file.display()
        )
    }

    async fn switch_to(&self, to: &[SocketAddr]) -> Result<(), SwitchError> {
        if to.is_empty() {
            return Err(SwitchError::NoAddress);
        }
        let previous = std::fs::read_to_string(&self.upstream_file).ok();
        write_atomically(&self.upstream_file, &self.render(to))?;
        if let Err((command, output)) = self.nginx(&["-t"]).await {
            // The running nginx never saw the new file; the next reload must not either.
            let restored = match &previous {
                Some(text) => write_atomically(&self.upstream_file, text),
                None => {
                    std::fs::remove_file(&self.upstream_file).map_err(|source| SwitchError::Write {
                        path: self.upstream_file.clone(),
                        source,
                    })
                }
            };
            if let Err(e) = restored {
                tracing::warn!("putting the previous nginx upstream file back: {e}");
            }
            return Err(match output {
                Some(output) => SwitchError::Refused { command, output },
                None => SwitchError::Timeout {
                    command,
                    limit: COMMAND_LIMIT,
                },
            });
        }
        match self.nginx(&["-s", "reload"]).await {
            Ok(()) => Ok(()),
            Err((command, Some(output))) => Err(SwitchError::Command { command, output }),
            Err((command, None)) => Err(SwitchError::Timeout {
                command,
                limit: COMMAND_LIMIT,
            }),
        }
    }
}
