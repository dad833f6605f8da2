//! `elt-console status` end to end: the real binary against a real compose project on the real
//! engine, the real registry with the stub tags, the GitHub stand-in and the NVML stand-in.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use serde_json::Value;
use std::time::Duration;

fn status_json(config: &std::path::Path, extra_env: &[(&str, String)]) -> (Value, i32) {
    let mut cmd = bin();
    cmd.arg("--config").arg(config).args(["status", "--json"]);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = run(&mut cmd);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "status --json is not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (json, out.status.code().unwrap_or(-1))
}

#[test]
fn status_shows_containers_health_tags_runs_and_gpu_of_a_live_deployment() {
    let env = testenv();
    let Stack {
        github: _github,
        project,
        dir: _dir,
        config,
    } = Stack::up(
        "elt-test-status",
        2,
        &[1, 2, 3, 4],
        &nvml_standin().display().to_string(),
    );
    let app_pid = project.inspect("app", "{{.State.Pid}}");
    let app_id = project.container_id("app");

    let (s, code) = status_json(
        &config,
        &[("ELT_NVML_STANDIN_PIDS", format!("{app_pid}:3221225472"))],
    );

    assert_eq!(s["schema"], 1);
    assert_eq!(s["overall"], "healthy", "{s:#}");
    assert_eq!(code, 0);

    // Containers: the app, running and healthy, built from v2's commit.
    let containers = s["containers"]["data"].as_array().expect("containers data");
    let app = containers
        .iter()
        .find(|c| c["service"] == "app")
        .expect("app container");
    assert_eq!(app["state"], "running");
    assert_eq!(app["health"], "healthy");
    assert_eq!(app["revision"], env.sha(2));
    assert_eq!(app["id"], app_id.as_str());
    assert_eq!(s["services"][0]["tag"], env.tag(2));

    // Health: both endpoints answer, with the stub's version.
    let health = s["health"]["data"].as_array().unwrap();
    assert_eq!(health.len(), 2);
    assert!(
        health.iter().all(|h| h["ok"] == true && h["status"] == 200),
        "{health:#?}"
    );

    // Tags: every stub tag with its commit, created time, size; v2's tags marked running;
    // CI results correlated by SHA (the stand-in fails the run of the 3rd SHA).
    let repo = &s["tags"]["data"][0];
    let tags = repo["tags"].as_array().unwrap();
    for n in 1..=4 {
        let t = tags
            .iter()
            .find(|t| t["tag"] == env.tag(n))
            .unwrap_or_else(|| panic!("tag {} missing: {tags:#?}", env.tag(n)));
        assert_eq!(t["revision"], env.sha(n));
        assert!(
            t["created"].is_string() && t["size_bytes"].as_u64().unwrap() > 0,
            "{t:#}"
        );
        assert_eq!(t["running"], n == 2, "{t:#}");
        assert_eq!(t["ci"], if n == 3 { "failure" } else { "success" }, "{t:#}");
    }
    let created: Vec<&str> = tags.iter().filter_map(|t| t["created"].as_str()).collect();
    let mut sorted = created.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(created, sorted, "tags are newest first");

    // Runs: one per SHA from the published payload, newest first, with the rate budget.
    let runs = &s["runs"]["data"];
    assert_eq!(runs["runs"].as_array().unwrap().len(), 4);
    assert_eq!(runs["runs"][0]["head_sha"], env.sha(4));
    assert_eq!(runs["token"], "none (unauthenticated: 60 requests/hour)");
    assert!(runs["proxy"].is_null(), "no proxy variable: direct");
    assert!(runs["rate_limit"]["remaining"].as_u64().is_some());

    // GPU: the stand-in device, and its process mapped to the app container via its cgroup.
    let gpu = &s["gpu"]["data"];
    assert_eq!(gpu["state"], "available");
    let process = &gpu["devices"][0]["processes"][0];
    assert_eq!(process["pid"].as_u64().unwrap().to_string(), app_pid);
    assert_eq!(process["container_id"], app_id.as_str());
    assert_eq!(process["container"], "app");

    // The human form shows the same facts.
    let out = run_ok(
        bin()
            .arg("--config")
            .arg(&config)
            .arg("status")
            .env("ELT_NVML_STANDIN_PIDS", format!("{app_pid}:1")),
    );
    assert!(out.contains("overall: healthy (exit 0)"), "{out}");
    assert!(out.contains(&format!("* {}", env.tag(2))), "{out}");
    assert!(out.contains("Tesla P40 (stand-in)"), "{out}");
}

#[test]
fn status_exits_1_when_the_app_is_down_and_2_when_docker_is_unreachable() {
    let Stack {
        github: _github,
        project,
        dir: _dir,
        config,
    } = Stack::up("elt-test-down", 1, &[1], "/nonexistent/libnvidia-ml.so.1");

    let (s, code) = status_json(&config, &[]);
    assert_eq!((s["overall"].as_str(), code), (Some("healthy"), 0), "{s:#}");
    assert_eq!(s["gpu"]["data"]["state"], "unavailable");

    assert!(
        project
            .compose(&["stop", "-t", "1", "app"])
            .status
            .success()
    );
    let (s, code) = status_json(&config, &[]);
    assert_eq!(code, 1, "{s:#}");
    assert_eq!(s["overall"], "app_down");
    let reasons = s["reasons"].to_string();
    assert!(
        reasons.contains("service app") && reasons.contains("health app failed"),
        "{reasons}"
    );

    let (s, code) = status_json(
        &config,
        &[("ELT_DOCKER_HOST", "unix:///nonexistent/docker.sock".into())],
    );
    assert_eq!(code, 2, "{s:#}");
    assert_eq!(s["overall"], "unknown");
    assert!(
        s["containers"]["error"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/docker.sock")
    );
    // The other sections still report, each on its own.
    assert_eq!(s["tags"]["status"], "ok");
    assert_eq!(s["runs"]["status"], "ok");
}

#[test]
fn status_on_a_bare_machine_reports_every_reason_within_the_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "bare.toml",
        r#"[docker]
host = "unix:///nonexistent/docker.sock"
[registry]
plain_http = ["127.0.0.1:9"]
request_timeout_ms = 2000
[[deployment.services]]
name = "app"
image = "127.0.0.1:9/elt/app"
image_var = "IMAGE_TAG"
[[health]]
name = "app"
url = "http://127.0.0.1:9/api/health"
[github]
api_url = "http://127.0.0.1:9"
request_timeout_ms = 2000
[gpu]
nvml_library = "/nonexistent/libnvidia-ml.so.1"
"#,
    );
    let started = std::time::Instant::now();
    let (s, code) = status_json(&config, &[]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(code, 2);
    for section in ["containers", "tags", "runs"] {
        assert_eq!(s[section]["status"], "error", "{section}: {s:#}");
    }
    assert_eq!(s["health"]["data"][0]["ok"], false);
    assert!(
        s["gpu"]["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("could not be loaded")
    );
}

#[test]
fn status_json_with_a_config_error_prints_a_json_error_and_exits_78() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(dir.path(), "bad.toml", "[deployment]\nprojekt = \"elt\"\n");
    let out = run(bin()
        .arg("--config")
        .arg(&config)
        .args(["status", "--json"]));
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {:?}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(v["schema"], 1);
    assert_eq!(v["overall"], "unknown");
    assert_eq!(v["exit_code"], 78);
    assert_eq!(v["error"]["kind"], "config");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("bad.toml") && message.contains("projekt"),
        "{message}"
    );
    assert!(
        v["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("config error: ")
    );
    assert!(stderr.contains("config error"), "{stderr}");
    // Without --json the human form is unchanged: nothing on stdout.
    let out = run(bin().arg("--config").arg(&config).arg("status"));
    assert_eq!(out.status.code(), Some(78));
    assert!(out.stdout.is_empty());
}

#[test]
fn one_repositorys_registry_error_is_reported_beside_anothers_tags() {
    let env = testenv();
    let dir = tempfile::tempdir().unwrap();
    let registry = env.get("ELT_TEST_REGISTRY");
    let config = write_file(
        dir.path(),
        "two-repos.toml",
        &format!(
            r#"[docker]
host = "unix:///nonexistent/docker.sock"
[registry]
plain_http = ["{registry}", "127.0.0.1:9"]
request_timeout_ms = 2000
[[deployment.services]]
name = "app"
image = "{image}"
image_var = "IMAGE_TAG"
commit_tags = ["main-{{sha}}"]
[[deployment.services]]
name = "worker"
image = "127.0.0.1:9/elt/worker"
image_var = "WORKER_TAG"
[github]
api_url = "http://127.0.0.1:9"
request_timeout_ms = 2000
[gpu]
nvml_library = "/nonexistent/libnvidia-ml.so.1"
"#,
            image = env.image()
        ),
    );
    let (s, code) = status_json(&config, &[]);
    assert_eq!(code, 2, "{s:#}");
    let repos = s["tags"]["data"].as_array().expect("tags data");
    assert_eq!(repos.len(), 2, "{repos:#?}");
    assert!(repos[0]["error"].is_null() && !repos[0]["tags"].as_array().unwrap().is_empty());
    assert_eq!(repos[1]["service"], "worker");
    let error = repos[1]["error"].as_str().expect("worker's error");
    assert!(error.contains("127.0.0.1:9"), "{error}");
    let reasons = s["reasons"].to_string();
    assert!(reasons.contains("registry: worker: "), "{reasons}");
}

/// `scripts/sandbox.sh` run as the README says, with the test's binary instead of a release
/// build; the sandbox is taken down (and purged) when the test ends.
fn sandbox(args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(repo_root().join("scripts/sandbox.sh"));
    cmd.args(args)
        .env("ELT_SANDBOX_BIN", env!("CARGO_BIN_EXE_elt-console"))
        .env("XDG_CONFIG_HOME", "/nonexistent-elt-test-config");
    for var in [
        "GH_TOKEN",
        "GITHUB_TOKEN",
        "DOCKER_HOST",
        "HTTPS_PROXY",
        "HTTP_PROXY",
    ] {
        cmd.env_remove(var);
    }
    run(&mut cmd)
}

struct SandboxDown;
impl Drop for SandboxDown {
    fn drop(&mut self) {
        let _ = sandbox(&["down", "--purge"]);
    }
}

#[test]
fn the_sandbox_cli_form_runs_status_history_and_lock_against_the_sandbox() {
    testenv();
    let _down = SandboxDown;
    let out = sandbox(&["cli", "status", "--json"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    // Only the command's output on stdout: the setup talks on stderr.
    let s: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}\n{stderr}"));
    assert!(stderr.contains("sandbox: app healthy"), "{stderr}");
    assert_eq!(s["project"], "elt-sandbox");
    assert_eq!(s["overall"], "healthy", "{s:#}");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(s["runs"]["data"]["runs"].as_array().unwrap().len(), 4);

    // The sandbox's app sits behind nginx, and the stub uses no GPU: a deploy is start-first,
    // and the proxy answers from the new version after it.
    let v1 = testenv().tag(1).to_string();
    let out = sandbox(&["cli", "deploy", &v1, "--yes"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("no downtime (start-first via nginx"),
        "{text}"
    );
    let out = sandbox(&["cli", "history", "--json"]);
    let h: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(h[0]["strategy"], "start-first", "{h:#}");

    let out = sandbox(&["cli", "history"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sandbox(&["cli", "lock", "status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("free"), "{text}");
    // A bare `cli` says how to use it.
    let out = sandbox(&["cli"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: scripts/sandbox.sh cli"));
}

#[test]
fn the_sandboxs_stand_in_does_not_keep_its_launchers_lock() {
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("lock");
    let (port_file, pid_file) = (dir.path().join("port"), dir.path().join("pid"));
    // As a developer does: `flock LOCK scripts/sandbox.sh …`, which starts the stand-in in
    // the background and ends; flock hands its locked descriptor down to both.
    let script = format!(
        "nohup python3 {} --new-session --port 0 --port-file {} >/dev/null 2>&1 </dev/null & echo $! >{}",
        repo_root().join("scripts/github-standin.py").display(),
        port_file.display(),
        pid_file.display()
    );
    let out = run(std::process::Command::new("flock")
        .arg(&lock)
        .args(["sh", "-c", &script]));
    assert!(out.status.success());
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_string();
    wait_for("the stand-in's port file", Duration::from_secs(15), || {
        port_file.exists().then_some(())
    });
    let free = run(std::process::Command::new("flock")
        .args(["-n"])
        .arg(&lock)
        .arg("true"))
    .status
    .success();
    let _ = std::process::Command::new("kill").arg(&pid).status();
    assert!(
        free,
        "the stand-in (pid {pid}) still holds its launcher's lock"
    );
}
