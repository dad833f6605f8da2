//! The multi-service-traefik deployment run for real (scripts/scenarios/multi-service-traefik):
//! an API and a worker, two images in two repositories of the local registry, behind the
//! Traefik stand-in (testenv/stubproxy), in a compose project, registry namespace and ports of
//! this test's own. The console moves one service, several together, rolls back, and `watch`
//! follows each service's own rule; what it does not move keeps running untouched.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

struct Scenario {
    dir: tempfile::TempDir,
    vars: HashMap<String, String>,
}

/// What identifies a running container: its id, its start and the image it runs.
#[derive(Debug, Clone, PartialEq)]
struct Running {
    id: String,
    started_at: String,
    image: String,
}

impl Scenario {
    fn script() -> PathBuf {
        repo_root().join("scripts/scenarios/multi-service-traefik/scenario.sh")
    }

    fn script_cmd(dir: &std::path::Path, vars: &[(&str, String)]) -> Command {
        let mut cmd = Command::new(Self::script());
        cmd.env("ELT_SCENARIO_DIR", dir)
            .env("ELT_TESTENV_DIR", testenv().get("ELT_TESTENV_DIR"));
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd
    }

    fn up(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let vars = [
            ("ELT_SCENARIO_PROJECT", format!("eltt-{name}")),
            ("ELT_SCENARIO_NAMESPACE", format!("elt-t-{name}")),
            ("ELT_SCENARIO_PORT", port.to_string()),
            ("ELT_SCENARIO_PING_PORT", free_port().to_string()),
            ("ELT_SCENARIO_HEALTH_TIMEOUT", "12".to_string()),
        ];
        // A project left by an earlier, killed run of this test.
        let _ = run(Self::script_cmd(dir.path(), &vars).args(["down", "--purge"]));
        run_ok(Self::script_cmd(dir.path(), &vars).arg("up"));
        let text = std::fs::read_to_string(dir.path().join("scenario.env")).unwrap();
        let vars = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Scenario { dir, vars }
    }

    fn var(&self, key: &str) -> &str {
        self.vars
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from scenario.env"))
    }

    fn tag(&self, release: u32) -> String {
        self.var(&format!("TAG_R{release}")).to_string()
    }

    fn console(&self) -> Command {
        let mut cmd = bin();
        cmd.arg("--config")
            .arg(self.var("SC_CONFIG"))
            .current_dir(self.var("SC_DEPLOY"));
        cmd
    }

    /// Run the console; (exit code, stdout, stderr).
    fn console_run(&self, args: &[&str]) -> (i32, String, String) {
        let out = run(self.console().args(args));
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn running(&self, service: &str) -> Running {
        let id = run_ok(Command::new("docker").args([
            "ps",
            "-q",
            "--no-trunc",
            "--filter",
            &format!(
                "label=com.docker.compose.project={}",
                self.var("SC_PROJECT")
            ),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
            "--filter",
            "label=com.docker.compose.oneoff=False",
        ]))
        .trim()
        .to_string();
        assert!(!id.is_empty() && !id.contains('\n'), "{service}: {id:?}");
        let out = run_ok(Command::new("docker").args([
            "inspect",
            "-f",
            "{{.State.StartedAt}} {{.Config.Image}}",
            &id,
        ]));
        let (started_at, image) = out.trim().split_once(' ').unwrap();
        Running {
            id,
            started_at: started_at.to_string(),
            image: image.to_string(),
        }
    }

    fn image(&self, service: &str, release: u32) -> String {
        let repo = if service == "api" {
            self.var("API_REPO")
        } else {
            self.var("WORKER_REPO")
        };
        format!("{repo}:{}", self.tag(release))
    }

    /// The version a service answers with through the proxy.
    fn version_via_proxy(&self, path: &str, host: Option<&str>) -> String {
        let mut cmd = Command::new("curl");
        cmd.args(["-fsS", "-m", "3"]);
        if let Some(h) = host {
            cmd.args(["-H", &format!("Host: {h}")]);
        }
        cmd.arg(format!("http://127.0.0.1:{}{path}", self.var("SHOP_PORT")));
        let body: serde_json::Value = serde_json::from_str(&run_ok(&mut cmd)).unwrap();
        body["version"].as_str().unwrap().to_string()
    }

    /// A file in one of the project's volumes, read by a throwaway busybox container.
    fn volume_file(&self, volume: &str, path: &str) -> String {
        run_ok(Command::new("docker").args([
            "run",
            "--rm",
            // No network: the engine may run without a default bridge.
            "--network",
            "none",
            "-v",
            &format!("{}_{volume}:/v:ro", self.var("SC_PROJECT")),
            testenv().get("ELT_TEST_BUSYBOX_IMAGE"),
            "cat",
            &format!("/v/{path}"),
        ]))
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        let _ = run(Self::script_cmd(
            self.dir.path(),
            &[
                ("ELT_SCENARIO_PROJECT", self.var("SC_PROJECT").to_string()),
                ("ELT_SCENARIO_PORT", self.var("SHOP_PORT").to_string()),
                (
                    "ELT_SCENARIO_PING_PORT",
                    self.var("SHOP_PING_PORT").to_string(),
                ),
            ],
        )
        .args(["down", "--purge"]));
    }
}

fn events(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn finished(stdout: &str) -> serde_json::Value {
    events(stdout)
        .into_iter()
        .rfind(|e| e["event"] == "finished")
        .unwrap_or_else(|| panic!("no finished event in {stdout}"))
}

/// The services of the run's plan event.
fn planned(stdout: &str) -> Vec<String> {
    events(stdout)
        .iter()
        .find(|e| e["event"] == "plan")
        .unwrap_or_else(|| panic!("no plan event in {stdout}"))["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn per_service_deploys_rollbacks_and_watch_behind_the_proxy() {
    let s = Scenario::up("traefik");
    let proxy = s.running("traefik");
    let certs = s.volume_file("certs", "acme.json");
    assert!(certs.contains("\"KeyId\""), "{certs}");
    let uploads = s.volume_file("uploads", "records.log");
    assert!(uploads.contains("version=r1"), "{uploads}");
    // The proxy routes by path prefix (stripping /worker) and by Host.
    assert_eq!(s.version_via_proxy("/api/health", None), "r1");
    assert_eq!(s.version_via_proxy("/worker/api/health", None), "r1");
    assert_eq!(
        s.version_via_proxy("/api/health", Some("shop.localhost")),
        "r1"
    );

    // A service that is not configured is refused before anything happens.
    let (code, _, err) = s.console_run(&["deploy", "--service", "gateway", "--yes"]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("configured: worker, api"), "{err}");

    // 1. One service: only the worker moves; the API and the proxy keep running untouched.
    let api = s.running("api");
    let (code, out, err) = s.console_run(&[
        "deploy",
        "--service",
        "worker",
        &s.tag(2),
        "--yes",
        "--json",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(planned(&out), ["worker"]);
    assert_eq!(finished(&out)["status"], "succeeded", "{out}");
    assert_eq!(s.running("worker").image, s.image("worker", 2));
    assert_eq!(s.running("api"), api, "the API was not to be touched");
    assert_eq!(s.running("traefik"), proxy);
    assert_eq!(s.version_via_proxy("/worker/api/health", None), "r2");
    assert_eq!(s.version_via_proxy("/api/health", None), "r1");

    // 2. Both together (worker listed first in the config), the API's image bad: health
    // fails, and the automatic rollback returns both to what they ran, recreated in
    // dependency order (api before worker, which depends on it).
    let worker = s.running("worker");
    let (code, out, err) = s.console_run(&["deploy", &s.tag(3), "--yes", "--json"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert_eq!(planned(&out), ["worker", "api"]);
    let end = finished(&out);
    assert_eq!(end["status"], "rolled-back", "{out}");
    let message = end["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("worker {}", s.image("worker", 2)))
            && message.contains(&format!("api {}", s.image("api", 1))),
        "the rollback names every service it returned: {message}"
    );
    let (api_now, worker_now) = (s.running("api"), s.running("worker"));
    assert_eq!(api_now.image, s.image("api", 1));
    assert_eq!(worker_now.image, s.image("worker", 2));
    assert_ne!(
        api_now.id, api.id,
        "the API was recreated (and rolled back)"
    );
    assert_ne!(worker_now.id, worker.id);
    assert!(
        api_now.started_at < worker_now.started_at,
        "api starts before the worker that depends on it: {api_now:?} {worker_now:?}"
    );
    assert_eq!(s.running("traefik"), proxy);
    assert_eq!(s.version_via_proxy("/api/health", None), "r1");
    assert_eq!(s.version_via_proxy("/worker/api/health", None), "r2");
    let env = std::fs::read_to_string(PathBuf::from(s.var("SC_DEPLOY")).join(".env")).unwrap();
    assert!(
        env.contains(&format!("API_IMAGE={}\n", s.image("api", 1)))
            && env.contains(&format!("WORKER_IMAGE={}\n", s.image("worker", 2))),
        "{env}"
    );

    // 3. Roll one service back to a chosen tag; the API keeps running untouched.
    let api = s.running("api");
    let (code, out, err) = s.console_run(&[
        "rollback",
        "--service",
        "worker",
        &s.tag(1),
        "--yes",
        "--json",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(planned(&out), ["worker"]);
    assert_eq!(s.running("worker").image, s.image("worker", 1));
    assert_eq!(s.running("api"), api);
    assert_eq!(s.running("traefik"), proxy);

    // 4. watch, each service following its own `latest`, one service per check.
    let publish_latest = |service: &str, release: u32| {
        let repo = if service == "api" {
            "API_REPO"
        } else {
            "WORKER_REPO"
        };
        let latest = format!("{}:latest", s.var(repo));
        run_ok(Command::new("docker").args(["tag", &s.image(service, release), &latest]));
        run_ok(Command::new("docker").args(["push", "-q", &latest]));
    };
    let decision = |out: &str, kind: &str| {
        events(out)
            .into_iter()
            .find(|d| d["decision"] == kind)
            .unwrap_or_else(|| panic!("no {kind} decision: {out}"))
    };
    // 4a. The API's `latest` moves to the bad r3: deployed alone, rolled back; the worker
    // keeps running untouched.
    publish_latest("api", 3);
    let worker = s.running("worker");
    let (code, out, err) = s.console_run(&["watch", "--once", "--json"]);
    assert_eq!(code, 1, "{out}\n{err}");
    let failed = decision(&out, "failed");
    let target = failed["target"].as_str().unwrap();
    assert!(
        target.starts_with("api@sha256:") && !target.contains("worker@"),
        "{failed}"
    );
    assert_eq!(s.running("api").image, s.image("api", 1));
    assert_eq!(
        s.running("worker"),
        worker,
        "the worker was not to be touched"
    );
    let api = s.running("api");
    // 4b. The worker's `latest` moves to r4: the API's failed image (still its `latest`) is
    // not tried again and does not hold the worker back.
    publish_latest("worker", 4);
    let (code, out, err) = s.console_run(&["watch", "--once", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let deployed = decision(&out, "deployed");
    let target = deployed["target"].as_str().unwrap();
    assert!(
        target.starts_with("worker@sha256:") && !target.contains("api@"),
        "{deployed}"
    );
    assert_eq!(
        s.running("worker").image,
        s.image("worker", 4),
        "pinned to the commit tag"
    );
    assert_eq!(s.running("api"), api, "watch left the API alone");
    assert_eq!(s.version_via_proxy("/worker/api/health", None), "r4");
    // 4c. Nothing new: the API waits for its `latest` to move.
    let (code, out, err) = s.console_run(&["watch", "--once", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let waits = decision(&out, "skipped-failed");
    assert!(
        waits["target"].as_str().unwrap().starts_with("api@"),
        "{waits}"
    );
    assert_eq!(s.running("api"), api);

    // 5. Both together, good images: one run, recreated in dependency order.
    let (code, out, err) = s.console_run(&["deploy", &s.tag(2), "--yes", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(planned(&out), ["worker", "api"]);
    let (api_now, worker_now) = (s.running("api"), s.running("worker"));
    assert_eq!(
        (api_now.image.as_str(), worker_now.image.as_str()),
        (s.image("api", 2).as_str(), s.image("worker", 2).as_str())
    );
    assert!(
        api_now.started_at < worker_now.started_at,
        "api starts before the worker: {api_now:?} {worker_now:?}"
    );
    assert_eq!(s.version_via_proxy("/api/health", None), "r2");
    assert_eq!(s.version_via_proxy("/worker/api/health", None), "r2");

    // Volumes: the proxy's certificates and the API's uploads are kept across every deploy,
    // rollback and automatic rollback (the API restarted three times, its records appended).
    assert_eq!(s.running("traefik"), proxy, "the proxy was never recreated");
    assert_eq!(s.volume_file("certs", "acme.json"), certs);
    let uploads_now = s.volume_file("uploads", "records.log");
    assert!(
        uploads_now.starts_with(&uploads) && uploads_now.contains("version=r3"),
        "the uploads volume lost its records: {uploads_now}"
    );
    wait_for("the proxy still routing", Duration::from_secs(5), || {
        (s.version_via_proxy("/api/health", Some("shop.localhost")) == "r2").then_some(())
    });
}
