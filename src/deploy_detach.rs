//! `deploy --detach` and `deploy wait <id>`: a deploy that does not depend on the shell that
//! started it (a CI job's SSH session may drop at any moment), and a follower that can be
//! started from any shell and ends with the exit code the deploy itself has.
//!
//! The detached deploy is this binary again (`deploy … --yes --json`) in a session of its own
//! (setsid, see sys.rs), its output in a file under the state dir, exactly as the
//! dashboard starts one. Its deployment id comes from its own first event; `wait` follows the
//! store, which the deploy writes as it goes.

use crate::config::Config;
use crate::deploy::command::{EXIT_UNREACHABLE, EXIT_USAGE, started_line, step_line};
use crate::deploy::{
    DeployEvent, EXIT_DEPLOY_FAILED, Outcome, STEPS, StepState, fmt_ms, lock_stale_after, state_dir,
};
use crate::store::{DeployKind, DeployStatus, Deployment, LockState, Store};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a detached deploy may take to take the lock and name its deployment before the
/// starter gives up waiting (the deploy itself goes on).
const START_WAIT: Duration = Duration::from_secs(120);
/// How often `wait` and the starter look again (a store read is well under a millisecond).
const POLL: Duration = Duration::from_millis(200);

pub struct DetachArgs {
    pub kind: DeployKind,
    pub tag: Option<String>,
    pub previous: bool,
    pub yes: bool,
    pub force: bool,
    pub json: bool,
    pub read_only: bool,
    pub explicit_config: Option<PathBuf>,
    /// `--service` names, already checked against the config by the caller.
    pub services: Vec<String>,
}

fn out(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

fn err(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Why a detached deploy was not started.
#[derive(Debug, thiserror::Error)]
pub enum DetachError {
    #[error("give a TAG or --previous, not both")]
    TagAndPrevious,
    #[error(transparent)]
    Tag(#[from] crate::domain::NameError),
    #[error("cannot write its log {}: {source}", .path.display())]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start it: {0}")]
    Spawn(std::io::Error),
}

/// The child's command line: this binary, the same config and flags, `--yes --json`.
fn child_command(exe: &Path, args: &DetachArgs) -> Result<std::process::Command, DetachError> {
    let mut cmd = std::process::Command::new(exe);
    if let Some(path) = &args.explicit_config {
        cmd.arg("--config").arg(crate::deploy::absolute(path));
    }
    if args.read_only {
        cmd.arg("--read-only");
    }
    cmd.arg(args.kind.as_str());
    match (&args.tag, args.previous) {
        (Some(_), true) => return Err(DetachError::TagAndPrevious),
        (Some(t), false) => {
            // Checked again by the child; refused here so nothing odd reaches its argv.
            crate::domain::Tag::parse(t)?;
            cmd.arg(t);
        }
        (None, true) => {
            cmd.arg("--previous");
        }
        (None, false) => {}
    }
    if args.force {
        cmd.arg("--force");
    }
    for service in &args.services {
        cmd.arg("--service").arg(service);
    }
    cmd.args(["--yes", "--json"]);
    Ok(cmd)
}

/// Start `cmd` (this binary's deploy or rollback) in a session of its own (setsid), stdin
/// closed, its output in a new file under the state dir's deploy-logs, so that it outlives the
/// shell, the SSH connection or the dashboard that started it. The child and its log's path.
pub fn start_in_own_session(
    config: &Config,
    mut cmd: std::process::Command,
    action: &str,
) -> Result<(std::process::Child, PathBuf), DetachError> {
    let dir = state_dir(config).join("deploy-logs");
    let log_path = dir.join(format!(
        "{}-{action}-{}.log",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id()
    ));
    let (log_out, log_err) = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::File::create(&log_path))
        .and_then(|f| Ok((f.try_clone()?, f)))
        .map_err(|source| DetachError::Log {
            path: log_path.clone(),
            source,
        })?;
    cmd.stdin(std::process::Stdio::null())
        .stdout(log_out)
        .stderr(log_err);
    crate::sys::new_session_for_child(&mut cmd);
    let child = cmd.spawn().map_err(DetachError::Spawn)?;
    Ok((child, log_path))
}

pub async fn detach_command(config: &Config, args: DetachArgs) -> i32 {
    let action = args.kind.as_str();
    if !args.yes {
        err(&format!(
            "elt-console: {action} --detach needs --yes: a deploy in the background cannot ask (see the plan first with --dry-run)"
        ));
        return EXIT_USAGE;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            err(&format!(
                "elt-console: {action}: cannot find our own binary: {e}"
            ));
            return EXIT_UNREACHABLE;
        }
    };
    let cmd = match child_command(&exe, &args) {
        Ok(c) => c,
        Err(e) => {
            err(&format!("elt-console: {action}: {e}"));
            return EXIT_USAGE;
        }
    };
    let (mut child, log_path) = match start_in_own_session(config, cmd, action) {
        Ok(started) => started,
        Err(e) => {
            err(&format!("elt-console: {action}: {e}"));
            return EXIT_UNREACHABLE;
        }
    };
    let pid = child.id();

    let mut log = LogTail::new(&log_path);
    let deadline = Instant::now() + START_WAIT;
    loop {
        let exited = match child.try_wait() {
            Ok(s) => s,
            Err(e) => {
                err(&format!(
                    "elt-console: {action}: cannot watch pid {pid}: {e}"
                ));
                return EXIT_UNREACHABLE;
            }
        };
        // Read after the exit check, so nothing the child wrote before exiting is missed.
        log.read();
        if let Some(id) = log.deployment_id {
            // Started: from here on it needs nobody. (It may have finished already; `wait`
            // tells how.)
            if args.json {
                out(&serde_json::json!({
                    "event": "detached",
                    "deployment_id": id,
                    "pid": pid,
                    "log": log_path.display().to_string(),
                })
                .to_string());
            } else {
                out(&format!(
                    "{action}: deployment #{id} runs in the background (pid {pid}; its output: {})",
                    log_path.display()
                ));
                out(&format!("follow it: elt-console deploy wait {id}"));
            }
            return 0;
        }
        if let Some(status) = exited {
            // Ended before it had a deployment (refused, bad config, nothing to deploy): its
            // own words and its own exit code.
            log.replay(args.json);
            return status.code().unwrap_or(EXIT_DEPLOY_FAILED);
        }
        if Instant::now() >= deadline {
            err(&format!(
                "elt-console: {action}: pid {pid} has not named its deployment within {} s; it goes on in the background (its output: {})",
                START_WAIT.as_secs(),
                log_path.display()
            ));
            return EXIT_UNREACHABLE;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// What the detached child wrote so far: JSON events and, before the engine starts, plain
/// error lines.
struct LogTail {
    path: PathBuf,
    offset: u64,
    partial: String,
    lines: Vec<String>,
    deployment_id: Option<i64>,
}

impl LogTail {
    fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            offset: 0,
            partial: String::new(),
            lines: Vec::new(),
            deployment_id: None,
        }
    }

    fn read(&mut self) {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return;
        };
        let mut buf = Vec::new();
        if f.seek(SeekFrom::Start(self.offset)).is_err() || f.read_to_end(&mut buf).is_err() {
            return;
        }
        self.offset += buf.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&buf));
        while let Some(n) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=n).collect();
            let line = line.trim_end().to_string();
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && v["event"] == "started"
            {
                self.deployment_id = self.deployment_id.or(v["deployment_id"].as_i64());
            }
            self.lines.push(line);
        }
    }

    /// Show what an early-ended child said: its JSON as it was (with --json), else its plain
    /// lines on stderr and the last event's message.
    fn replay(&mut self, json: bool) {
        self.read();
        // The child has exited: an unterminated last line is complete.
        if !self.partial.trim().is_empty() {
            let last = std::mem::take(&mut self.partial);
            self.lines.push(last.trim_end().to_string());
        }
        for line in &self.lines {
            match serde_json::from_str::<serde_json::Value>(line) {
                Ok(_) if json => out(line),
                Ok(v) if v["event"] == "finished" => out(&format!(
                    "{}: {}",
                    v["status"].as_str().unwrap_or("?"),
                    v["message"].as_str().unwrap_or_default()
                )),
                Ok(_) => {}
                Err(_) if !line.trim().is_empty() => err(line),
                Err(_) => {}
            }
        }
    }
}

fn step_state(s: &str) -> StepState {
    match s {
        "ok" => StepState::Ok,
        "warning" => StepState::Warning,
        "failed" => StepState::Failed,
        "skipped" => StepState::Skipped,
        _ => StepState::Running,
    }
}

/// The deploy's last line, from its record (the live deploy words it the same way).
fn final_message(d: &Deployment) -> String {
    if let Some(e) = &d.error {
        return e.clone();
    }
    let to =
        d.to.image
            .clone()
            .or_else(|| d.to.tag_str().map(str::to_string))
            .unwrap_or_else(|| "?".into());
    match d.status {
        DeployStatus::Skipped => d
            .steps
            .iter()
            .find(|s| s.name == "compare")
            .and_then(|s| s.summary.clone())
            .unwrap_or_else(|| format!("{to} already runs; nothing to do")),
        _ => format!(
            "{} {to} in {}; downtime {}",
            if d.kind == DeployKind::Deploy {
                "deployed"
            } else {
                "rolled back to"
            },
            d.duration_ms().map(fmt_ms).unwrap_or_else(|| "-".into()),
            d.downtime_ms.map(fmt_ms).unwrap_or_else(|| "-".into())
        ),
    }
}

/// The exit code the deploy itself had (or has, once it ends): the table of `deploy`.
pub fn exit_code_of(status: DeployStatus) -> i32 {
    Outcome {
        deployment_id: None,
        status,
        message: String::new(),
        downtime_ms: None,
        refused: false,
    }
    .exit_code()
}

/// `deploy wait <id>` (alias `attach`): the deployment's steps as the deploy prints them, from
/// the store, until it ends; exit with the deploy's own exit code.
pub async fn wait_command(config: &Config, id: i64, json: bool) -> i32 {
    let dir = state_dir(config);
    let store = match Store::open(&dir) {
        Ok(s) => s,
        Err(e) => {
            err(&format!("elt-console: deploy wait: {e}"));
            return EXIT_UNREACHABLE;
        }
    };
    let stale_after = lock_stale_after(config);
    let mut printed: Vec<u32> = Vec::new();
    let mut first = true;
    loop {
        // The lock first: the deploy records its end before it releases the lock, so a
        // free lock read here means the row read next already says how it ended.
        let read = store
            .lock_state(stale_after)
            .and_then(|lock| Ok((lock, store.deployment(id)?)));
        let (lock, d) = match read {
            Ok((lock, Some(d))) => (lock, d),
            Ok((_, None)) => {
                err(&format!(
                    "elt-console: deploy wait: no deployment #{id} in {}",
                    store.path().display()
                ));
                return EXIT_USAGE;
            }
            Err(e) => {
                err(&format!("elt-console: deploy wait: {e}"));
                return EXIT_UNREACHABLE;
            }
        };
        if first {
            first = false;
            let target = d.to.tag_str().unwrap_or("?").to_string();
            if json {
                out(&serde_json::json!({
                    "event": "started",
                    "deployment_id": id,
                    "kind": d.kind,
                    "target": target,
                    "actor": d.actor.describe(),
                })
                .to_string());
            } else {
                out(&started_line(d.kind, &target, id, &d.actor.describe()));
            }
        }
        let mut steps: Vec<_> = d
            .steps
            .iter()
            .filter(|s| s.status != "running" && !printed.contains(&s.seq))
            .collect();
        steps.sort_by_key(|s| s.seq);
        for s in steps {
            printed.push(s.seq);
            let state = step_state(&s.status);
            let summary = s.summary.clone().unwrap_or_default();
            // The deploy's own event type, so the lines are the deploy's, field for field.
            let name = STEPS.iter().find(|n| **n == s.name);
            if let (true, Some(name)) = (json, name) {
                let ev = DeployEvent::Step {
                    seq: s.seq,
                    name,
                    state,
                    duration_ms: s.duration_ms,
                    summary,
                };
                out(&serde_json::to_string(&ev).unwrap_or_default());
            } else {
                out(&step_line(s.seq, &s.name, state, s.duration_ms, &summary));
            }
        }
        if d.status != DeployStatus::Running {
            let message = final_message(&d);
            if json {
                let ev = DeployEvent::Finished {
                    deployment_id: Some(id),
                    status: d.status,
                    message,
                    downtime_ms: d.downtime_ms,
                    duration_ms: d.duration_ms().unwrap_or(0),
                };
                out(&serde_json::to_string(&ev).unwrap_or_default());
            } else {
                out(&format!("{}: {message}", d.status.as_str()));
            }
            return exit_code_of(d.status);
        }
        let live = matches!(&lock, LockState::Held { holder } if holder.deployment_id == Some(id));
        if !live {
            let why = match &lock {
                LockState::Stale { reason, .. } => reason.clone(),
                _ => "it no longer holds the deploy lock".into(),
            };
            let message = format!(
                "deployment #{id} ended without recording how ({why}); `elt-console lock status` shows the app's true state"
            );
            if json {
                let ev = DeployEvent::Finished {
                    deployment_id: Some(id),
                    status: DeployStatus::Interrupted,
                    message,
                    downtime_ms: None,
                    duration_ms: (chrono::Utc::now() - d.started_at)
                        .num_milliseconds()
                        .max(0) as u64,
                };
                out(&serde_json::to_string(&ev).unwrap_or_default());
            } else {
                out(&format!("interrupted: {message}"));
            }
            return EXIT_DEPLOY_FAILED;
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `deploy --detach` and the dashboard both start: output into a new log under the
    /// state dir's deploy-logs, stdin closed, and the child leading a session of its own.
    #[test]
    fn the_started_child_writes_its_log_and_leads_its_own_session() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::config::defaults();
        config.deployment.state_dir = dir.path().to_path_buf();
        let mut cmd = std::process::Command::new("sh");
        // Its session id, its pid, and what stdin gives (nothing: /dev/null).
        cmd.args([
            "-c",
            "ps -o sid= -p $$; echo $$; cat; echo out; echo err >&2",
        ]);
        let (mut child, log) = start_in_own_session(&config, cmd, "deploy").unwrap();
        assert!(child.wait().unwrap().success());
        assert_eq!(log.parent().unwrap(), dir.path().join("deploy-logs"));
        let name = log.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.contains("-deploy-") && name.ends_with(".log"),
            "{name}"
        );
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(
            lines[0], lines[1],
            "the child is its own session's leader: {text}"
        );
        assert_eq!(&lines[2..], ["out", "err"]);
    }

    #[test]
    fn the_child_gets_the_same_config_and_flags_and_never_an_odd_tag() {
        let args = DetachArgs {
            kind: DeployKind::Rollback,
            tag: None,
            previous: true,
            yes: true,
            force: false,
            json: false,
            read_only: true,
            explicit_config: Some("/etc/elt/c.toml".into()),
            services: vec![],
        };
        let cmd = child_command(Path::new("/bin/elt-console"), &args).unwrap();
        let argv: Vec<_> = cmd.get_args().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            argv,
            [
                "--config",
                "/etc/elt/c.toml",
                "--read-only",
                "rollback",
                "--previous",
                "--yes",
                "--json"
            ]
        );
        let bad = DetachArgs {
            kind: DeployKind::Deploy,
            tag: Some("x; rm -rf /".into()),
            previous: false,
            ..args
        };
        assert!(child_command(Path::new("/bin/elt-console"), &bad).is_err());
        let one_service = DetachArgs {
            kind: DeployKind::Deploy,
            tag: Some("v1.2.0".into()),
            previous: false,
            read_only: false,
            explicit_config: None,
            services: vec!["api".into()],
            ..bad
        };
        let cmd = child_command(Path::new("/bin/elt-console"), &one_service).unwrap();
        let argv: Vec<_> = cmd.get_args().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            argv,
            ["deploy", "v1.2.0", "--service", "api", "--yes", "--json"]
        );
    }

    #[test]
    fn the_starter_reads_the_id_from_the_childs_first_event_as_lines_arrive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.log");
        std::fs::write(&path, "elt-console: warming up\n{\"event\":\"star").unwrap();
        let mut tail = LogTail::new(&path);
        tail.read();
        assert_eq!(tail.deployment_id, None, "half a line is not read");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"ted\",\"deployment_id\":7}\n{\"event\":\"step\"}")
            .unwrap();
        tail.read();
        assert_eq!(tail.deployment_id, Some(7));
        tail.replay(true);
        assert_eq!(tail.lines.len(), 3, "{:?}", tail.lines);
        assert_eq!(tail.lines[2], "{\"event\":\"step\"}");
    }

    #[test]
    fn wait_exits_as_the_deploy_did() {
        assert_eq!(exit_code_of(DeployStatus::Succeeded), 0);
        assert_eq!(exit_code_of(DeployStatus::Skipped), 0);
        assert_eq!(exit_code_of(DeployStatus::RolledBack), 1);
        assert_eq!(exit_code_of(DeployStatus::Failed), 1);
        assert_eq!(exit_code_of(DeployStatus::FailedDown), 3);
        assert_eq!(exit_code_of(DeployStatus::Cancelled), 130);
    }
}
