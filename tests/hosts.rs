//! Several hosts against real engines: the test environment's first engine reached over
//! `ssh://` (the loopback sshd, key-only, host key checked) and its second dockerd over its
//! own unix socket. Each host runs the stub app in its own compose project and folder.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/engine_project.rs"]
mod engine_project;
#[path = "common/receiver.rs"]
mod receiver;

use common::*;
use engine_project::{EngineProject, engine_host_table, hosts_deployment_toml};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Hosts {
    first: EngineProject,
    second: EngineProject,
    repo: String,
    config_dir: tempfile::TempDir,
}

fn ssh_host_table(name: &str, labels: &str, p: &EngineProject) -> String {
    let env = testenv();
    format!(
        r#"[[hosts]]
name = "{name}"
endpoint = "{endpoint}"
folder = "{folder}"
ssh_identity = "{identity}"
ssh_known_hosts = "{known}"
labels = {{ {labels} }}
health = [{{ name = "app", url = "http://127.0.0.1:{port}/api/health", timeout_ms = 1000 }}]
"#,
        endpoint = env.get("ELT_TEST_SSH_HOST"),
        folder = p.folder().display(),
        identity = env.get("ELT_TEST_SSH_IDENTITY"),
        known = env.get("ELT_TEST_SSH_KNOWN_HOSTS"),
        port = p.port,
    )
}

impl Hosts {
    /// Stub v1 as `t1` on both engines, `t2` published; the second host's healthcheck
    /// refuses stub version `second_refuses` (`none`: nothing).
    fn up(name: &str, second_refuses: &str) -> Self {
        let repo = format!("{}/elt-t/{name}", registry());
        for n in [1, 2] {
            publish(&repo, n, &format!("t{n}"));
        }
        let image = format!("{repo}:t1");
        let project = format!("elth-{name}");
        let first = EngineProject::up(
            &project,
            testenv().get("ELT_TEST_DOCKER_HOST"),
            &image,
            "none",
        );
        let second = EngineProject::up(
            &project,
            testenv().get("ELT_TEST_ENGINE2_HOST"),
            &image,
            second_refuses,
        );
        Self {
            first,
            second,
            repo,
            config_dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write_config(&self, second_endpoint: &str) -> PathBuf {
        self.write_config_with(&engine_host_table(
            "gpu2",
            second_endpoint,
            "",
            &self.second,
        ))
    }

    /// The config with `second` as the second host's table.
    fn write_config_with(&self, second: &str) -> PathBuf {
        write_file(
            self.config_dir.path(),
            "config.toml",
            &format!(
                r#"{deployment}
[deploy]
health_timeout_s = 20
health_interval_ms = 250
health_successes = 2
pull_attempts = 2
keep_images = 2
compose_command = "{compose}"

{first}
{second}
"#,
                deployment = hosts_deployment_toml(
                    &self.first.project,
                    &self.repo,
                    "migrate_service = \"migrate\"\n"
                ),
                compose = testenv().compose().join(" "),
                first = ssh_host_table("gpu1", r#"role = "canary""#, &self.first),
                second = second,
            ),
        )
    }

    fn console(&self, config: &Path) -> Command {
        let mut cmd = bin();
        cmd.arg("--config")
            .arg(config)
            .current_dir(self.config_dir.path());
        cmd
    }
}

fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn host<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no host {name} in {report:#}"))
}

#[test]
fn status_covers_both_engines_and_one_down_does_not_hide_the_other() {
    let hosts = Hosts::up("ovw", "none");
    let config = hosts.write_config(testenv().get("ELT_TEST_ENGINE2_HOST"));

    let out = run(hosts.console(&config).args(["status", "--json"]));
    let report = json_of(&out);
    for name in ["gpu1", "gpu2"] {
        let h = host(&report, name);
        assert_eq!(h["reachable"], true, "{h:#}");
        assert_eq!(h["report"]["services"][0]["tag"], "t1", "{h:#}");
        assert_eq!(h["report"]["health"]["data"][0]["ok"], true, "{h:#}");
    }
    assert_eq!(
        host(&report, "gpu1")["endpoint"],
        testenv().get("ELT_TEST_SSH_HOST")
    );
    // Both answer; GitHub is pointed where nothing answers, so each is "degraded" (exit 2)
    // at worst, never down.
    assert_ne!(report["exit_code"], 1, "{report:#}");

    // The same engine over its TLS port (tcp://, client certificate): the same answer.
    let env = testenv();
    let config = hosts.write_config_with(&engine_host_table(
        "gpu2",
        env.get("ELT_TEST_ENGINE2_TLS_HOST"),
        &format!(
            "tls_verify = true\ncert_path = \"{}\"",
            env.get("ELT_TEST_ENGINE2_CERT_PATH")
        ),
        &hosts.second,
    ));
    let report = json_of(&run(hosts.console(&config).args(["status", "--json"])));
    let h = host(&report, "gpu2");
    assert_eq!(h["reachable"], true, "{h:#}");
    assert_eq!(h["report"]["services"][0]["tag"], "t1", "{h:#}");
    // A tcp engine cannot tell its GPUs, and NVML here would read the wrong machine's.
    let reason = h["report"]["gpu"]["data"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("tcp:// host"), "{h:#}");
    // Without the client certificate the engine refuses, and the report says so.
    let config = hosts.write_config_with(&engine_host_table(
        "gpu2",
        env.get("ELT_TEST_ENGINE2_TLS_HOST"),
        "",
        &hosts.second,
    ));
    let report = json_of(&run(hosts.console(&config).args(["status", "--json"])));
    assert_eq!(host(&report, "gpu2")["reachable"], false, "{report:#}");

    // The second engine's address stops answering (a socket nobody serves): the first
    // keeps reporting, the second says since when it is down.
    let dead = hosts.config_dir.path().join("dead.sock");
    let config = hosts.write_config(&format!("unix://{}", dead.display()));
    let out = run(hosts.console(&config).args(["hosts", "--json"]));
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report = json_of(&out);
    let first = host(&report, "gpu1");
    assert_eq!(first["reachable"], true, "{first:#}");
    assert_eq!(first["report"]["services"][0]["up"], true);
    let second = host(&report, "gpu2");
    assert_eq!(second["reachable"], false, "{second:#}");
    assert!(second["down_since"].is_string(), "{second:#}");
    assert!(second["last_up"].is_string(), "{second:#}");
    assert!(
        report["reasons"].as_array().unwrap().iter().any(|r| r
            .as_str()
            .unwrap()
            .starts_with("host gpu2: engine unreachable since")),
        "{report:#}"
    );

    // The table says the same.
    let out = run(hosts.console(&config).args(["hosts"]));
    let text = String::from_utf8_lossy(&out.stdout);
    let row = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row {name}: {text}"))
            .to_string()
    };
    assert!(
        row("gpu1").contains(" up ") && row("gpu1").contains("t1"),
        "{text}"
    );
    assert!(row("gpu2").contains("DOWN"), "{text}");
}

#[test]
fn a_release_rolls_canary_first_and_a_failure_on_the_second_host_stops_the_roll() {
    let hosts = Hosts::up("roll", "v2");
    let config = hosts.write_config(testenv().get("ELT_TEST_ENGINE2_HOST"));
    let t2 = format!("{}:t2", hosts.repo);
    let t1 = format!("{}:t1", hosts.repo);

    // t2 turns unhealthy on the second host only: the first (the canary) stays on t2, the
    // second is rolled back to t1 by its engine, and the roll stops with that failure.
    let out = run(hosts
        .console(&config)
        .args(["deploy", "t2", "--hosts", "all", "--yes"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("in this order: gpu1, gpu2"), "{text}");
    assert_eq!(hosts.first.app_image(), t2);
    assert_eq!(hosts.second.app_image(), t1);
    let summary: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("deploy across hosts: stopped"))
        .collect();
    assert!(
        summary
            .iter()
            .any(|l| l.contains("gpu1") && l.contains("done") && l.contains(&t2)),
        "{text}"
    );
    assert!(
        summary
            .iter()
            .any(|l| l.contains("gpu2") && l.contains("rolled-back (exit 1)") && l.contains(&t1)),
        "{text}"
    );

    // Fixed, the roll goes through: gpu1 already runs t2, gpu2 moves to it.
    std::fs::write(
        hosts.second.folder().join(".env"),
        std::fs::read_to_string(hosts.second.folder().join(".env"))
            .unwrap()
            .replace("HEALTH_REFUSE=v2", "HEALTH_REFUSE=none"),
    )
    .unwrap();
    let out = run(hosts
        .console(&config)
        .args(["deploy", "t2", "--hosts", "all", "--yes", "--json"]));
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find(|l| l.contains("\"rolled\""))
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .unwrap_or_else(|| panic!("{}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(out.status.code(), Some(0), "{last:#}");
    assert_eq!(
        last["hosts"][1]["running"][0],
        format!("app={t2}"),
        "{last:#}"
    );
    assert_eq!(hosts.second.app_image(), t2);

    // A rollback rolls the same way: both back on t1.
    let out = run(hosts
        .console(&config)
        .args(["rollback", "t1", "--hosts", "all", "--yes"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("rollback across hosts: done on every host"),
        "{text}"
    );
    assert_eq!(hosts.first.app_image(), t1);
    assert_eq!(hosts.second.app_image(), t1);

    // Each host's own store recorded its deploys; `history` merges them, naming the host.
    let out = run(hosts.console(&config).args(["history", "--json"]));
    let list = json_of(&out);
    let rows = |host: &str, kind: &str, status: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .filter(|d| d["host"] == host && d["kind"] == kind && d["status"] == status)
            .count()
    };
    assert_eq!(rows("gpu1", "deploy", "succeeded"), 1, "{list:#}");
    assert_eq!(rows("gpu2", "deploy", "rolled-back"), 1, "{list:#}");
    assert_eq!(rows("gpu2", "deploy", "succeeded"), 1, "{list:#}");
    assert_eq!(rows("gpu1", "rollback", "succeeded"), 1, "{list:#}");
    assert_eq!(rows("gpu2", "rollback", "succeeded"), 1, "{list:#}");
    // Newest first across hosts: gpu2's rollback ran last.
    assert_eq!(list[0]["host"], "gpu2", "{list:#}");
    let out = run(hosts
        .console(&config)
        .args(["history", "--hosts", "canary"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("gpu1") && !text.contains("gpu2"), "{text}");
}

/// ssh never prompts and never trusts a host key it does not know: with an empty known_hosts
/// the host is reported unreachable with ssh's own reason, and nothing hangs.
#[test]
fn an_unknown_host_key_is_refused_with_ssh_s_reason() {
    let env = testenv();
    let dir = tempfile::tempdir().unwrap();
    let empty = write_file(dir.path(), "known_hosts", "");
    let config = write_file(
        dir.path(),
        "config.toml",
        &format!(
            r#"[github]
api_url = "http://127.0.0.1:9"

[[hosts]]
name = "stranger"
endpoint = "{endpoint}"
ssh_identity = "{identity}"
ssh_known_hosts = "{known}"
"#,
            endpoint = env.get("ELT_TEST_SSH_HOST"),
            identity = env.get("ELT_TEST_SSH_IDENTITY"),
            known = empty.display(),
        ),
    );
    let out = run(bin()
        .arg("--config")
        .arg(&config)
        .current_dir(dir.path())
        .args(["hosts", "--json"]));
    assert_eq!(out.status.code(), Some(2));
    let report = json_of(&out);
    let h = host(&report, "stranger");
    assert_eq!(h["reachable"], false, "{h:#}");
    assert!(h["report"].is_null(), "{h:#}");
    let error = h["error"].as_str().unwrap();
    assert!(error.contains("Host key verification failed"), "{error}");
}

/// NVML reads only the machine the console runs on: over ssh the host's own nvidia-smi is
/// asked, and the app's GPU process is put on its container by the cgroup the host reports.
/// The stand-in answers in nvidia-smi's csv shape with the pid of the real app container.
#[test]
fn an_ssh_host_reports_its_gpus_from_its_own_nvidia_smi() {
    let hosts = Hosts::up("gpu", "none");
    let standin = tempfile::tempdir().unwrap();
    let smi = standin.path().join("nvidia-smi");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/nvml-standin/nvidia-smi"),
        &smi,
    )
    .unwrap();
    let pid = run_ok(hosts.first.docker().args([
        "inspect",
        "-f",
        "{{.State.Pid}}",
        &hosts.first.app_container(),
    ]))
    .trim()
    .to_string();
    let uuid = "GPU-5e1b9d3c-0a7f-4b2e-9c61-2f8d4e6a7b90";
    write_file(
        standin.path(),
        "gpus.csv",
        &format!("0, {uuid}, Tesla P40, 535.104.05, 37, 12, 9011, 24576, 41, 51.23, 250.00\n"),
    );
    write_file(
        standin.path(),
        "apps.csv",
        &format!("{uuid}, {pid}, 8950\n"),
    );
    let with_gpu_command = |command: &str| {
        let config = hosts.write_config(testenv().get("ELT_TEST_ENGINE2_HOST"));
        let text = std::fs::read_to_string(&config).unwrap().replacen(
            "ssh_known_hosts = ",
            &format!("gpu_command = \"{command}\"\nssh_known_hosts = "),
            1,
        );
        std::fs::write(&config, text).unwrap();
        config
    };

    let config = with_gpu_command(&smi.display().to_string());
    let report = json_of(&run(hosts.console(&config).args(["hosts", "--json"])));
    let gpu = &host(&report, "gpu1")["report"]["gpu"]["data"];
    assert_eq!(gpu["state"], "available", "{gpu:#}");
    let device = &gpu["devices"][0];
    assert_eq!(device["name"], "Tesla P40", "{gpu:#}");
    assert_eq!(device["memory_total_bytes"], 24576u64 * 1024 * 1024);
    assert_eq!(device["processes"][0]["pid"].to_string(), pid);
    assert_eq!(device["processes"][0]["container"], "app", "{gpu:#}");
    let out = run(hosts.console(&config).args(["hosts"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("gpu1") && l.contains("37% 36% mem (app 8950 MiB)")),
        "{text}"
    );

    // A host without nvidia-smi says so where the figures would be.
    let config = with_gpu_command("/nonexistent/nvidia-smi");
    let report = json_of(&run(hosts.console(&config).args(["hosts", "--json"])));
    let gpu = &host(&report, "gpu1")["report"]["gpu"]["data"];
    assert_eq!(gpu["state"], "unavailable", "{gpu:#}");
    let reason = gpu["reason"].as_str().unwrap();
    assert!(
        reason.contains("/nonexistent/nvidia-smi") && reason.contains("not found"),
        "{reason}"
    );
    assert_eq!(host(&report, "gpu1")["reachable"], true);

    // A command that could break out of the remote shell line never reaches it.
    let config = with_gpu_command("nvidia-smi; touch /tmp/owned");
    let out = run(hosts.console(&config).args(["hosts", "--json"]));
    assert_eq!(out.status.code(), Some(78), "a config error: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("gpu_command") && stderr.contains("config.toml"),
        "{stderr}"
    );
}

/// GitHub's runs and the registry's tags are the same for every host: `hosts` reads them once,
/// not once per host (GitHub allows 60 requests an hour without a token). No engine answers
/// here; only the requests are counted.
#[test]
fn github_and_the_registry_are_read_once_for_all_hosts() {
    let count = |hosts: usize| {
        let server = receiver::Receiver::start(&[]);
        let dir = tempfile::tempdir().unwrap();
        let tables: String = (0..hosts)
            .map(|i| {
                format!(
                    "[[hosts]]\nname = \"h{i}\"\nendpoint = \"unix://{}/h{i}.sock\"\n\n",
                    dir.path().display()
                )
            })
            .collect();
        let config = write_file(
            dir.path(),
            "config.toml",
            &format!(
                r#"health = []

[[deployment.services]]
name = "app"
image = "127.0.0.1:{port}/elt/app"
image_var = "IMAGE_TAG"

[registry]
plain_http = ["127.0.0.1:{port}"]

[github]
api_url = "{api}"

{tables}"#,
                port = server.port,
                api = server.url(""),
            ),
        );
        let out = run(bin()
            .arg("--config")
            .arg(&config)
            .current_dir(dir.path())
            .args(["status", "--json"]));
        assert!(out.status.code().is_some(), "{out:?}");
        let requests = server.requests();
        let github = requests
            .iter()
            .filter(|r| r.path.starts_with("/repos/"))
            .count();
        let registry = requests
            .iter()
            .filter(|r| r.path.starts_with("/v2/"))
            .count();
        (github, registry)
    };
    let one = count(1);
    assert!(one.0 >= 1 && one.1 >= 1, "one host reads both: {one:?}");
    assert_eq!(
        count(3),
        one,
        "three hosts read GitHub and the registry as often as one"
    );
}
