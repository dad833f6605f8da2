//! Every `--json` command against the real engine, registry and GitHub stand-in: its output
//! has the keys docs/status-json.md lists for it (the test reads the doc's table);
//! and `logs`, which follows a service across a recreate and ends cleanly on SIGINT.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// libc calls that send signals to, or ask about, the processes under test.
#![allow(unsafe_code)]

mod common;
use common::*;
use serde_json::Value;
use std::io::BufRead;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

/// (command, output kind, keys) from the doc's "Every `--json` command" table.
fn documented_shapes() -> Vec<(String, String, Vec<String>)> {
    let doc = std::fs::read_to_string(repo_root().join("docs/status-json.md")).unwrap();
    let section = doc
        .split("## Every `--json` command")
        .nth(1)
        .expect("docs/status-json.md has the command table");
    let ticked = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (
                ticked(cells[1])[0].clone(),
                cells[2].to_string(),
                ticked(cells[3]),
            )
        })
        .collect()
}

fn values(kind: &str, stdout: &[u8], what: &str) -> Vec<Value> {
    let text = String::from_utf8_lossy(stdout);
    match kind {
        "object" => {
            vec![serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}: {text}"))]
        }
        "array" => match serde_json::from_str(&text) {
            Ok(Value::Array(items)) => items,
            other => panic!("{what}: not an array: {other:?}: {text}"),
        },
        "lines" => text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{what}: {e}: {l}")))
            .collect(),
        other => panic!("unknown output kind {other} in the doc"),
    }
}

#[test]
fn every_json_command_prints_the_keys_its_doc_lists() {
    let env = testenv();
    let Stack {
        github: _github,
        project: _project,
        dir: _dir,
        config,
    } = Stack::up(
        "elt-test-cli-json",
        2,
        &[1, 2, 3, 4],
        "/nonexistent/libnvml.so",
    );

    // How each documented command is run here; a command the doc lists must be in here or
    // named, with where it is tested, in `elsewhere`.
    let args: &[(&str, &[&str])] = &[
        ("status --json", &["status", "--json"]),
        ("runs --json", &["runs", "--json"]),
        ("tags --json", &["tags", "--json"]),
        ("history --json", &["history", "--json"]),
        ("lock status --json", &["lock", "status", "--json"]),
        ("config show --json", &["config", "show", "--json"]),
        ("logs --json", &["logs", "--json", "--tail", "3"]),
        ("dispatch --json", &["dispatch", "--json", "--yes"]),
        (
            "deploy --json",
            &["deploy", "--json", "--yes", "--force", env.tag(2)],
        ),
        (
            "rollback --json",
            &["rollback", "--json", "--yes", "--previous"],
        ),
    ];
    // Watch deploys whatever `latest` is; its JSON lines are checked in tests/watch.rs.
    // `deploy --detach` and `deploy wait`: tests/hangup.rs (a detached deploy and its wait).
    let elsewhere = [
        "watch --json",
        "deploy --detach --json",
        "deploy wait --json",
    ];

    let shapes = documented_shapes();
    assert!(shapes.len() >= 10, "the doc's table: {shapes:?}");
    for (command, kind, keys) in &shapes {
        if elsewhere.contains(&command.as_str()) {
            continue;
        }
        let argv = args
            .iter()
            .find(|(c, _)| c == command)
            .unwrap_or_else(|| panic!("docs list `{command}` but this test does not run it"))
            .1;
        let out = run(bin().arg("--config").arg(&config).args(argv));
        let items = values(kind, &out.stdout, command);
        assert!(
            !items.is_empty() || kind == "array",
            "`{command}` printed nothing; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for item in &items {
            for key in keys {
                // `app.status` is the key `status` inside `app`.
                let pointer = format!("/{}", key.replace('.', "/"));
                assert!(
                    item.pointer(&pointer).is_some(),
                    "`{command}` lacks documented key {key}: {item:#}\nstderr: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}

#[test]
fn config_show_json_names_every_key_with_its_origin_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "config.toml",
        "[deployment]\nproject = \"shown\"\n",
    );
    let out = run(bin()
        .arg("--config")
        .arg(&config)
        .env("GH_TOKEN", "hunter2-token-value")
        .args(["config", "show", "--json"]));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("hunter2"),
        "a password reached the output: {text}"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    let key = |k: &str| {
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == k)
            .unwrap_or_else(|| panic!("no key {k}: {v:#}"))
            .clone()
    };
    assert_eq!(key("deployment.project")["value"], "shown");
    assert_eq!(
        key("deployment.project")["origin"],
        format!("{}:2:1", config.display())
    );
    assert_eq!(
        key("docker.request_timeout_ms")["origin"],
        "built-in defaults"
    );
    assert_eq!(key("health[0].name")["origin"], "built-in defaults");
    assert!(
        v["github_token"]["source"]
            .as_str()
            .is_some_and(|s| s.contains("GH_TOKEN")),
        "{v:#}"
    );
}

/// Lines from a child's stdout, as they come.
fn line_reader(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn next_matching(rx: &mpsc::Receiver<String>, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("waiting for {what}: {e}"));
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if pred(&v) {
            return v;
        }
    }
}

#[test]
fn logs_filter_name_the_services_and_follow_the_service_across_a_recreate() {
    let env = testenv();
    let project = ComposeProject::up("elt-test-cli-logs", &env.image_ref(1));
    project.wait_healthy("app");
    let dir = tempfile::tempdir().unwrap();
    let config = sandbox_config(
        dir.path(),
        &project,
        "http://127.0.0.1:9",
        "/nonexistent/x.so",
    );
    let console = || {
        let mut c = bin();
        c.arg("--config").arg(&config);
        c
    };

    // Plain text, filtered, without escapes (stdout is a pipe).
    let out = run(console().args(["logs", "--grep", "listening on"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("INFO stub-app"), "{text}");
    assert!(text.lines().all(|l| l.contains("listening on")), "{text}");
    assert!(!text.contains('\x1b'), "{text:?}");

    // --tail and --since bound what comes back.
    let out = run(console().args(["logs", "--json", "--tail", "1"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    let out = run(console().args([
        "logs",
        "--since",
        "2000-01-01T00:00:00Z",
        "--grep",
        "listening",
    ]));
    assert!(out.status.success());
    assert!(!out.stdout.is_empty());

    // An unknown service names those that exist.
    let out = run(console().args(["logs", "nosuch"]));
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"nosuch\"") && err.contains("app"), "{err}");

    // Follow: the first container's start line, then after a recreate a marker and the new
    // container's start line; SIGINT ends it with 0.
    let old_id = project.container_id("app");
    let mut child = console()
        .args(["logs", "--follow", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = line_reader(&mut child);
    let first = next_matching(&rx, "the first container's lines", |v| {
        v["line"]
            .as_str()
            .is_some_and(|l| l.contains("listening on"))
    });
    assert_eq!(first["stream"], "stdout");
    assert!(first["time"].as_str().is_some_and(|t| t.starts_with("20")));
    let out = project.compose(&["up", "-d", "--force-recreate", "app"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_id = project.container_id("app");
    assert_ne!(old_id, new_id);
    let marker = next_matching(&rx, "the new container's marker", |v| {
        v["stream"] == "marker"
            && v["line"]
                .as_str()
                .is_some_and(|l| l.contains("new container"))
    });
    assert!(
        marker["line"].as_str().unwrap().contains(&new_id[..12]),
        "{marker}"
    );
    next_matching(&rx, "the new container's start line", |v| {
        v["line"]
            .as_str()
            .is_some_and(|l| l.contains("listening on"))
    });
    // A restart of the same container carries on in it, after its own marker.
    run_ok(std::process::Command::new("docker").args(["restart", "-t", "1", &new_id]));
    next_matching(&rx, "the restart's marker", |v| {
        v["stream"] == "marker"
            && v["line"]
                .as_str()
                .is_some_and(|l| l.contains("container restarted"))
    });
    next_matching(&rx, "the restarted container's start line", |v| {
        v["line"]
            .as_str()
            .is_some_and(|l| l.contains("listening on"))
    });
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = wait_for("logs --follow to exit", Duration::from_secs(10), || {
        child.try_wait().unwrap()
    });
    assert_eq!(status.code(), Some(0));
}

/// A one-service compose project whose container writes hostile escapes, then sleeps.
struct NoisyProject {
    name: String,
    dir: tempfile::TempDir,
}

impl NoisyProject {
    fn up(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        write_file(
            dir.path(),
            "docker-compose.yml",
            &format!(
                r#"version: "3.8"
services:
  noisy:
    image: {image}
    command:
      - sh
      - -c
      - printf 'a\033]0;evil title\007b \033[31mred\033[0m \033[2Jgone\n'; exec sleep 3600
"#,
                image = testenv().get("ELT_TEST_BUSYBOX_IMAGE")
            ),
        );
        let p = Self {
            name: name.to_string(),
            dir,
        };
        let _ = p.compose(&["down", "-t", "1"]);
        let out = p.compose(&["up", "-d"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        p
    }

    fn compose(&self, args: &[&str]) -> std::process::Output {
        let parts = testenv().compose();
        run(std::process::Command::new(&parts[0])
            .args(&parts[1..])
            .args(["-p", &self.name, "-f"])
            .arg(self.dir.path().join("docker-compose.yml"))
            .args(args))
    }
}

impl Drop for NoisyProject {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-t", "1"]);
    }
}

#[test]
fn logs_pass_through_the_dashboards_sanitiser_with_colour_only_on_a_terminal() {
    let project = NoisyProject::up("elt-test-cli-logs-esc");
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "config.toml",
        &format!("[deployment]\nproject = \"{}\"\n", project.name),
    );
    let logs = |extra: &[&str]| {
        let mut c = bin();
        c.arg("--config")
            .arg(&config)
            .args(["logs", "noisy"])
            .args(extra);
        c
    };
    let text = wait_for("the noisy line", Duration::from_secs(30), || {
        let out = run(&mut logs(&[]));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains("gone").then_some(text)
    });
    // On a pipe: the text alone; the title, the clear-screen and the colour are gone.
    assert_eq!(text, "ab red gone\n");

    let json = run(&mut logs(&["--json"]));
    let line: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(line["line"], "ab red gone");

    // On a terminal: the colour comes back as SGR, nothing else does; NO_COLOR turns it off.
    let on_tty = |no_color: bool| {
        let cmd = format!(
            "{} --config {} logs noisy",
            env!("CARGO_BIN_EXE_elt-console"),
            config.display()
        );
        let mut c = std::process::Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"])
            .env("HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path())
            .env_remove("NO_COLOR");
        if no_color {
            c.env("NO_COLOR", "1");
        }
        String::from_utf8_lossy(&run(&mut c).stdout).into_owned()
    };
    let coloured = on_tty(false);
    assert!(
        coloured.contains("ab \x1b[0;31mred\x1b[0m gone"),
        "{coloured:?}"
    );
    assert!(
        !coloured.contains("evil") && !coloured.contains("\x1b[2J"),
        "{coloured:?}"
    );
    let plain = on_tty(true);
    assert!(
        plain.contains("ab red gone") && !plain.contains('\x1b'),
        "{plain:?}"
    );
}
