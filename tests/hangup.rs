//! A dropped SSH session, for real: an interactive bash on a pty runs `elt-console deploy` as
//! a foreground job, and the test closes the pty's master side mid-step. The kernel hangs the
//! terminal up, bash gets SIGHUP, passes it on to its job's process group and exits, and the
//! kernel sends SIGHUP to the old foreground group as well — what sshd's closing of the pty
//! does. The deploy, and the child it was running (compose, the backup command), must carry
//! on to a healthy app and a released lock.
//!
//! Needs the real test environment (scripts/testenv.sh up); run under the shared Docker lock.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The environment and signals of the processes under test.
#![allow(unsafe_code)]

mod common;

use common::*;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A stub project running `t1` from a registry repository of its own (tags t1, t2).
fn deployment(name: &str, deploy_extra: &str) -> (StubProject, String) {
    let repo = format!("{}/elt-t/{name}", registry());
    publish(&repo, 1, "t1");
    publish(&repo, 2, "t2");
    run_ok(Command::new("docker").args(["pull", "-q", &format!("{repo}:t1")]));
    let p = StubProject::up(&format!("elth-{name}"), &format!("{repo}:t1"));
    p.write_config(&repo, "main-{sha}", deploy_extra, "");
    (p, repo)
}

/// An interactive bash as the session leader of a fresh pty (what sshd starts for a login).
struct PtySession {
    master: Option<OwnedFd>,
    shell: Child,
    seen: String,
}

impl PtySession {
    /// Start bash on a new pty with the environment and folder the console's tests use.
    fn start(template: &Command) -> Self {
        use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
        let master =
            openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).expect("openpt");
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap();
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(name.to_str().unwrap())
            .unwrap();
        let mut cmd = Command::new("bash");
        cmd.args(["--norc", "--noprofile", "-i"])
            .env("PS1", "$ ")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        for (k, v) in template.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        if let Some(dir) = template.get_current_dir() {
            cmd.current_dir(dir);
        }
        // SAFETY: only async-signal-safe system calls (setsid, ioctl) between fork and exec.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                rustix::process::setsid()?;
                // stdin is the pty's slave: make it this new session's controlling terminal.
                rustix::process::ioctl_tiocsctty(std::io::stdin())?;
                Ok(())
            });
        }
        let shell = cmd.spawn().expect("bash");
        Self {
            master: Some(master),
            shell,
            seen: String::new(),
        }
    }

    fn type_line(&mut self, line: &str) {
        let fd = self.master.as_ref().unwrap();
        let mut f = std::fs::File::from(fd.try_clone().unwrap());
        f.write_all(format!("{line}\n").as_bytes()).unwrap();
    }

    /// Read what the terminal shows until `pred` holds for it, within `timeout`.
    fn wait_output(&mut self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let deadline = Instant::now() + timeout;
        let fd = self.master.as_ref().unwrap().try_clone().unwrap();
        let mut f = std::fs::File::from(fd);
        while !pred(&self.seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {what}; the terminal showed:\n{}",
                self.seen
            );
            let mut fds = [PollFd::new(&f, PollFlags::IN)];
            let wait = Timespec::try_from(left.min(Duration::from_millis(500))).unwrap();
            if poll(&mut fds, Some(&wait)).unwrap() == 0 {
                continue;
            }
            let mut buf = [0u8; 4096];
            match f.read(&mut buf) {
                Ok(0) | Err(_) => panic!("the pty closed while waiting for {what}:\n{}", self.seen),
                Ok(n) => self.seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    }

    /// Close the master side: the kernel hangs up the terminal. Returns once bash is gone.
    fn hang_up(&mut self) {
        drop(self.master.take());
        wait_for(
            "bash to exit on the hangup",
            Duration::from_secs(20),
            || self.shell.try_wait().unwrap(),
        );
    }
}

impl Drop for PtySession {
    fn drop(&mut self) {
        let _ = self.shell.kill();
        let _ = self.shell.wait();
    }
}

/// (pid, command line) of the live processes whose parent is `ppid`.
fn children_of(ppid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so split after its ')'.
        let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let parent = fields.next().and_then(|s| s.parse::<u32>().ok());
        if parent == Some(ppid) && state != "Z" {
            let cmdline = std::fs::read(entry.path().join("cmdline"))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .unwrap_or_default();
            out.push((pid, cmdline));
        }
    }
    out
}

/// Alive and not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, r)| !r.starts_with('Z')))
        .unwrap_or(false)
}

/// The console running under the shell, and its child whose command line has `needle`.
fn console_and_child(shell: u32, needle: &str) -> (u32, u32) {
    wait_for(
        &format!("the deploy's child `{needle}`"),
        Duration::from_secs(60),
        || {
            children_of(shell)
                .into_iter()
                .filter(|(_, c)| c.contains("elt-console"))
                .find_map(|(console, _)| {
                    children_of(console)
                        .into_iter()
                        .find(|(_, c)| c.contains(needle))
                        .map(|(child, _)| (console, child))
                })
        },
    )
}

fn history(p: &StubProject) -> serde_json::Value {
    let out = run_ok(p.console().args(["history", "--json"]));
    serde_json::from_str(&out).unwrap()
}

/// Wait for deployment to `tag` to end; its record.
fn finished_deployment(p: &StubProject, tag: &str) -> serde_json::Value {
    wait_for("the deploy to finish", Duration::from_secs(120), || {
        history(p)
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["to"]["tag"] == tag && d["status"] != "running")
            .cloned()
    })
}

fn check_after(p: &StubProject, repo: &str, record: &serde_json::Value) {
    assert_eq!(record["status"], "succeeded", "{record:#}");
    let out = p.console().args(["lock", "status"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "lock released: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    p.wait_healthy();
    assert_eq!(p.inspect("{{.Config.Image}}"), format!("{repo}:t2"));
}

fn start_deploy(p: &StubProject) -> PtySession {
    let mut console = p.console();
    let mut session = PtySession::start(&console);
    let args: Vec<String> = console
        .args(["deploy", "t2", "--yes", "--json"])
        .get_args()
        .map(|a| format!("'{}'", a.to_str().unwrap()))
        .collect();
    session.wait_output("the prompt", Duration::from_secs(10), |s| s.contains("$ "));
    session.type_line(&format!(
        "'{}' {}",
        console.get_program().to_str().unwrap(),
        args.join(" ")
    ));
    session
}

#[test]
fn hangup_mid_backup_lets_the_backup_and_the_deploy_finish() {
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let backup = dir.path().join("backup.sql");
    // The backup runs until the test lets it go, so the hangup lands in the middle of it.
    let (p, repo) = deployment(
        "hup-backup",
        &format!(
            "backup_command = \"while [ ! -e {go} ]; do sleep 0.1; done; echo dump > {b}; echo wrote {b}\"",
            go = go.display(),
            b = backup.display()
        ),
    );
    let mut session = start_deploy(&p);
    session.wait_output("the backup step", Duration::from_secs(120), |s| {
        s.contains(r#""name":"backup","state":"running""#)
    });
    let (console, child) = console_and_child(session.shell.id(), "while [ ! -e");

    session.hang_up();
    assert!(alive(console), "the deploy survived the hangup");
    assert!(alive(child), "the backup command survived the hangup");

    std::fs::File::create(&go).unwrap();
    let record = finished_deployment(&p, "t2");
    assert_eq!(record["backup_path"], backup.display().to_string());
    check_after(&p, &repo, &record);
}

#[test]
fn hangup_mid_recreate_lets_compose_and_the_deploy_finish() {
    let (p, repo) = deployment("hup-recreate", "");
    let mut session = start_deploy(&p);
    session.wait_output("the recreate step", Duration::from_secs(120), |s| {
        s.contains(r#""name":"recreate","state":"running""#)
    });
    let (console, compose) = console_and_child(session.shell.id(), "--force-recreate");

    session.hang_up();
    assert!(alive(console), "the deploy survived the hangup");
    // compose is still at work (or already done, having not been killed).
    let _ = compose;
    let record = finished_deployment(&p, "t2");
    check_after(&p, &repo, &record);
    let recreate = record["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "recreate")
        .unwrap();
    assert_eq!(recreate["status"], "ok", "{record:#}");
}

/// The first JSON object on the terminal whose `event` is `event`.
fn json_event(shown: &str, event: &str) -> Option<serde_json::Value> {
    shown
        .lines()
        // Readline's bracketed-paste switches may precede the object on its line.
        .filter_map(|l| l.find('{').map(|i| l[i..].trim()))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == event)
}

#[test]
fn detached_deploy_outlives_its_session_and_wait_ends_with_its_exit_code() {
    let (p, repo) = deployment("hup-detach", "");
    let mut console = p.console();
    let mut session = PtySession::start(&console);
    session.wait_output("the prompt", Duration::from_secs(10), |s| s.contains("$ "));
    let args: Vec<String> = console
        .args(["deploy", "t2", "--detach", "--yes", "--json"])
        .get_args()
        .map(|a| format!("'{}'", a.to_str().unwrap()))
        .collect();
    session.type_line(&format!(
        "'{}' {}",
        console.get_program().to_str().unwrap(),
        args.join(" ")
    ));
    session.wait_output("the deployment id", Duration::from_secs(60), |s| {
        json_event(s, "detached").is_some()
    });
    let detached = json_event(&session.seen, "detached").unwrap();
    let id = detached["deployment_id"].as_i64().unwrap();
    assert!(detached["pid"].as_u64().is_some(), "{detached}");
    // The SSH session drops at once: the deploy is in a session of its own.
    session.hang_up();

    // From another shell: the steps as the deploy prints them, and its exit code.
    let out = p
        .console()
        .args(["deploy", "wait", &id.to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.starts_with(&format!("deploy t2: deployment #{id} by ")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("7 recreate  ok")),
        "{text}"
    );
    assert!(text.contains("\nsucceeded: deployed "), "{text}");
    let record = finished_deployment(&p, "t2");
    check_after(&p, &repo, &record);
    // The log of the detached deploy holds its JSON events.
    let log = std::fs::read_to_string(detached["log"].as_str().unwrap()).unwrap();
    assert!(log.contains(r#""event":"finished""#), "{log}");

    // A detached deploy that fails after it started: wait says so and exits 1, in JSON too.
    let out = p
        .console()
        .args(["deploy", "no-such-tag", "--detach", "--yes"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let id: i64 = text
        .split("deployment #")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no id in {text}"));
    let out = p
        .console()
        .args(["deploy", "attach", &id.to_string(), "--json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "finished");
    assert_eq!(last["status"], "failed");
    assert!(
        text.contains(r#""name":"resolve","state":"failed""#),
        "{text}"
    );

    // Refused before it had a deployment: the starter says why, with the deploy's own code.
    let out = p
        .console()
        .args(["deploy", "t2", "--detach"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let out = p
        .console()
        .args(["deploy", "wait", "999"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
}

#[test]
fn ctrl_c_mid_backup_cancels_and_stops_the_backups_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild.pid");
    // A backup that forks: the grandchild (a background job of `sh`, which ignores SIGINT
    // by POSIX rule) is what a cancel must not leave behind.
    let (p, repo) = deployment(
        "ctrl-c-backup",
        &format!(
            "backup_command = \"sleep 300 & echo $! > {pid}; wait\"",
            pid = pidfile.display()
        ),
    );
    let mut session = start_deploy(&p);
    session.wait_output("the backup step", Duration::from_secs(120), |s| {
        s.contains(r#""name":"backup","state":"running""#)
    });
    let grandchild: u32 = wait_for("the backup's child", Duration::from_secs(30), || {
        std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse().ok())
    });
    assert!(alive(grandchild));

    // Ctrl-C typed on the terminal: the line discipline sends SIGINT to the foreground job.
    session.type_line("\u{3}");
    session.wait_output("the cancelled deploy", Duration::from_secs(60), |s| {
        s.contains(r#""event":"finished""#)
    });
    let finished = json_event(&session.seen, "finished").unwrap();
    assert_eq!(finished["status"], "cancelled", "{}", session.seen);
    wait_for(
        "the backup's whole process group to be gone",
        Duration::from_secs(10),
        || (!alive(grandchild)).then_some(()),
    );
    let out = p.console().args(["lock", "status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "lock released");
    assert_eq!(p.inspect("{{.Config.Image}}"), format!("{repo}:t1"));
    assert_eq!(p.inspect("{{.State.Health.Status}}"), "healthy");
}
