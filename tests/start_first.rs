//! Start-first deploys (issue 12) with the real engine, compose, registry and a real proxy
//! (Debian's nginx and Caddy) in front of the stub app, the NVML stand-in telling the auto
//! strategy whether the GPU has room. A probe sends requests through the proxy for the whole
//! deploy: a start-first deploy, and a new version that never turns healthy, lose none of them.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::proxies::{Proxy, get, nginx_bin, start_caddy, start_nginx};
use common::*;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// Which proxy fronts the project.
enum Kind {
    Nginx,
    Caddy { admin: u16 },
}

/// A stub project behind a proxy of its own, with its console config.
struct Behind {
    d: RepoProject,
    proxy_dir: tempfile::TempDir,
    _proxy: Proxy,
    /// GPU memory in use, as the NVML stand-in reports it.
    used_mib: u32,
}

impl Behind {
    /// Project `name` running t1 (versions 1..4 published as t1..t4), behind `kind`; `used_mib`
    /// is the GPU memory in use the NVML stand-in reports (24 GiB in all), and the app's own
    /// process is given 2 GiB of it.
    fn up(name: &str, kind: Kind, used_mib: u32, deploy_extra: &str) -> Self {
        let repo = format!("{}/elt-t/{name}", registry());
        let d = RepoProject::up_behind_proxy(&format!("eltsf-{name}"), &repo, &[1, 2, 3, 4]);
        let proxy_dir = tempfile::tempdir().unwrap();
        let dir = proxy_dir.path();
        let old = d.app_addr(&d.app_container());
        let (proxy, section) = match kind {
            Kind::Nginx => {
                std::fs::write(
                    dir.join("upstream.conf"),
                    format!("upstream elt_app {{\n    server {old};\n}}\n"),
                )
                .unwrap();
                let proxy = start_nginx(dir, d.port);
                let section = format!(
                    "[proxy]\nkind = \"nginx\"\nservice = \"app\"\nport = 3000\nupstream_file = \"{d}/upstream.conf\"\nupstream_name = \"elt_app\"\nnginx_command = \"{nginx} -p {d} -c {d}/nginx.conf\"\n",
                    d = dir.display(),
                    nginx = nginx_bin()
                );
                (proxy, section)
            }
            Kind::Caddy { admin } => {
                let proxy = start_caddy(dir, admin, d.port, old);
                let section = format!(
                    "[proxy]\nkind = \"caddy\"\nservice = \"app\"\nport = 3000\ncaddy_admin = \"http://127.0.0.1:{admin}/\"\ncaddy_handler_id = \"elt_app\"\n"
                );
                (proxy, section)
            }
        };
        d.project.write_config(
            &d.repo.clone(),
            "t{sha}",
            &format!("keep_images = 2\n{deploy_extra}"),
            &format!(
                "{section}\n[gpu]\nnvml_library = \"{}\"\n\n[github]\napi_url = \"http://127.0.0.1:9\"\n",
                nvml_standin().display()
            ),
        );
        let b = Self {
            d,
            proxy_dir,
            _proxy: proxy,
            used_mib,
        };
        wait_for("the proxy serving v1", Duration::from_secs(30), || {
            b.version_through_proxy().filter(|v| v == "v1")
        });
        b
    }

    /// The console, with the NVML stand-in reporting the app's running process at 2 GiB.
    fn console(&self) -> Command {
        // During an overlap two containers run; the stand-in reports the first one's process.
        let running = self.d.app_container();
        let pid = run_ok(Command::new("docker").args([
            "inspect",
            "-f",
            "{{.State.Pid}}",
            running.lines().next().unwrap_or_default(),
        ]));
        let mut cmd = self.d.console();
        cmd.env(
            "ELT_NVML_STANDIN_PIDS",
            format!("{}:{}", pid.trim(), 2u64 << 30),
        )
        .env("ELT_NVML_STANDIN_USED_MIB", self.used_mib.to_string());
        cmd
    }

    /// The stub's version as the proxy answers (`/api/health`), or None on any failure.
    fn version_through_proxy(&self) -> Option<String> {
        let (status, body) = get(self.d.port, "/api/health")?;
        if status != 200 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        v["version"].as_str().map(str::to_string)
    }

    /// Every container of the app service, running or not.
    fn app_containers(&self) -> Vec<String> {
        run_ok(Command::new("docker").args([
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.d.name),
            "--filter",
            "label=com.docker.compose.service=app",
            "--filter",
            "label=com.docker.compose.oneoff=False",
        ]))
        .split_whitespace()
        .map(str::to_string)
        .collect()
    }

    fn upstream_file(&self) -> String {
        std::fs::read_to_string(self.proxy_dir.path().join("upstream.conf")).unwrap()
    }

    fn deploy(&self, tag: &str) -> (i32, String) {
        let out = run(self.console().args(["deploy", tag, "--yes"]));
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    fn spawn_deploy(&self, tag: &str) -> Child {
        self.console()
            .args(["deploy", tag, "--yes"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn set_health_timeout(&self, seconds: u32) {
        let path = self.d.path("config.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("health_timeout_s = 30\n"), "{text}");
        std::fs::write(
            &path,
            text.replace(
                "health_timeout_s = 30\n",
                &format!("health_timeout_s = {seconds}\n"),
            ),
        )
        .unwrap();
    }

    /// The newest deployment's step summary of `step`.
    fn step_summary(h: &serde_json::Value, step: &str) -> String {
        h["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == step)
            .map(|s| s["summary"].as_str().unwrap_or("").to_string())
            .unwrap_or_else(|| panic!("no step {step} in {h}"))
    }
}

trait AppAddr {
    fn app_addr(&self, container: &str) -> SocketAddr;
}

impl AppAddr for RepoProject {
    /// Where the host reaches a container's port 3000 (its published binding).
    fn app_addr(&self, container: &str) -> SocketAddr {
        run_ok(Command::new("docker").args(["port", container, "3000/tcp"]))
            .lines()
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

/// Requests one after another through the proxy on `port` until stopped: how many were sent,
/// how many failed, and the versions that answered.
struct Probe {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU32>,
    failed: Arc<AtomicU32>,
    thread: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl Probe {
    fn start(port: u16) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU32::new(0));
        let failed = Arc::new(AtomicU32::new(0));
        let thread = {
            let (stop, sent, failed) = (stop.clone(), sent.clone(), failed.clone());
            std::thread::spawn(move || {
                let mut versions: Vec<String> = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let answer = get(port, "/api/health")
                        .filter(|(status, _)| *status == 200)
                        .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
                        .and_then(|v| v["version"].as_str().map(str::to_string));
                    match answer {
                        Some(v) => {
                            if versions.last() != Some(&v) {
                                versions.push(v);
                            }
                        }
                        None => {
                            failed.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    sent.fetch_add(1, Ordering::SeqCst);
                }
                versions
            })
        };
        let p = Self {
            stop,
            sent,
            failed,
            thread: Some(thread),
        };
        wait_for("100 probe requests", Duration::from_secs(30), || {
            (p.sent.load(Ordering::SeqCst) >= 100).then_some(())
        });
        p
    }

    /// Go on to at least `at_least` requests, then stop: (sent, failed, versions in order).
    fn finish(mut self, at_least: u32) -> (u32, u32, Vec<String>) {
        wait_for("enough probe requests", Duration::from_secs(120), || {
            (self.sent.load(Ordering::SeqCst) >= at_least).then_some(())
        });
        self.stop.store(true, Ordering::SeqCst);
        let versions = self.thread.take().unwrap().join().unwrap();
        (
            self.sent.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
            versions,
        )
    }
}

#[test]
fn start_first_through_nginx_loses_no_request_and_a_bad_version_costs_nothing() {
    let b = Behind::up("nginx", Kind::Nginx, 5120, "drain_s = 1\nmonitor_s = 3\n");
    let old = b.d.app_container();

    // The GPU has room (19 GiB free, the app uses 2 GiB): auto picks start-first.
    let probe = Probe::start(b.d.port);
    let (code, output) = b.deploy("t2");
    let (sent, failed, versions) = probe.finish(1000);
    assert_eq!(code, 0, "{output}");
    assert_eq!(failed, 0, "{failed} of {sent} requests failed: {output}");
    // Old and new both answer for the moment nginx's old worker finishes its queue (about
    // 0.1 s, both healthy); then only the new one.
    assert_eq!(versions.first().map(String::as_str), Some("v1"), "{output}");
    assert_eq!(versions.last().map(String::as_str), Some("v2"), "{output}");
    let h = &b.d.history()[0];
    assert_eq!(h["strategy"], "start-first", "{h}");
    assert_eq!(h["status"], "succeeded", "{h}");
    assert_eq!(h["downtime_ms"], 0, "{h}");
    let compare = Behind::step_summary(h, "compare");
    assert!(
        compare.contains("start-first: GPU 0 has") && compare.contains("via nginx"),
        "{compare}"
    );
    assert!(
        output.contains("no downtime (start-first via nginx"),
        "{output}"
    );
    // One container left: the new one, which the upstream file names; the old one is gone.
    let now = b.app_containers();
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now[0], old);
    let new_addr = b.d.app_addr(&now[0]);
    assert!(
        b.upstream_file().contains(&format!("server {new_addr};")),
        "{}",
        b.upstream_file()
    );
    assert!(b.d.env_file().contains(":t2\n"), "{}", b.d.env_file());

    // A version that never turns healthy: started beside, removed; nothing switched, and the
    // users never noticed.
    b.set_health_timeout(6);
    let probe = Probe::start(b.d.port);
    let (code, output) = b.deploy("t3");
    let (sent, failed, versions) = probe.finish(1000);
    assert_eq!(code, 1, "{output}");
    assert_eq!(failed, 0, "{failed} of {sent} requests failed: {output}");
    assert_eq!(versions, ["v2"], "{output}");
    let h = &b.d.history()[0];
    assert_eq!(h["status"], "failed", "{h}");
    assert!(
        h["error"]
            .as_str()
            .unwrap()
            .contains("nothing was switched, so nothing is rolled back"),
        "{h}"
    );
    assert_eq!(b.app_containers(), now, "the new container was not removed");
    assert!(b.d.env_file().contains(":t2\n"), "{}", b.d.env_file());
    assert!(
        b.upstream_file().contains(&format!("server {new_addr};")),
        "{}",
        b.upstream_file()
    );
}

#[test]
fn a_new_version_failing_after_the_switch_is_switched_back_even_after_a_hangup_and_ctrl_c() {
    let b = Behind::up("back", Kind::Nginx, 5120, "drain_s = 1\nmonitor_s = 60\n");
    let old = b.d.app_container();
    let old_addr = b.d.app_addr(&old);
    let child = b.spawn_deploy("t2");
    // The switch: the upstream file names another address. Then the new version dies.
    let new = wait_for(
        "the switch to the new container",
        Duration::from_secs(60),
        || {
            if b.upstream_file().contains(&format!("server {old_addr};")) {
                return None;
            }
            b.app_containers().into_iter().find(|c| *c != old)
        },
    );
    // After the switch a hangup and a Ctrl-C change nothing: the deploy finishes (here, by
    // switching back), it is not cut off with two containers and the proxy half-moved.
    for signal in ["-HUP", "-INT"] {
        run_ok(Command::new("kill").args([signal, &child.id().to_string()]));
    }
    run_ok(Command::new("docker").args(["kill", &new]));
    let out = child.wait_with_output().unwrap();
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{output}");
    let h = &b.d.history()[0];
    assert_eq!(h["status"], "rolled-back", "{h}");
    assert!(
        Behind::step_summary(h, "rollback").contains("switched back to"),
        "{h}"
    );
    // The old container never stopped; the proxy and the pin are back on it.
    assert_eq!(b.app_containers(), [old]);
    assert!(
        b.upstream_file().contains(&format!("server {old_addr};")),
        "{}",
        b.upstream_file()
    );
    assert!(b.d.env_file().contains(":t1\n"), "{}", b.d.env_file());
    wait_for(
        "v1 through the proxy again",
        Duration::from_secs(10),
        || b.version_through_proxy().filter(|v| v == "v1"),
    );
}

#[test]
fn no_gpu_room_means_stop_first_with_the_reason_and_the_proxy_follows_the_new_container() {
    // 23,000 of 24,576 MiB in use: 1.2 GiB free, the app needs 2 GiB + 10 %.
    let b = Behind::up("noroom", Kind::Nginx, 23000, "");
    let (code, output) = b.deploy("t2");
    assert_eq!(code, 0, "{output}");
    let h = &b.d.history()[0];
    assert_eq!(h["strategy"], "stop-first", "{h}");
    let compare = Behind::step_summary(h, "compare");
    assert!(
        compare.contains("stop-first: GPU 0 has") && compare.contains("free"),
        "{compare}"
    );
    assert!(
        Behind::step_summary(h, "switch").starts_with("stop-first: GPU 0 has"),
        "{h}"
    );
    // The recreated container has a new host port; the proxy was pointed at it.
    let now = b.app_containers();
    assert_eq!(now.len(), 1, "{now:?}");
    let addr = b.d.app_addr(&now[0]);
    assert!(
        b.upstream_file().contains(&format!("server {addr};")),
        "{}",
        b.upstream_file()
    );
    // nginx's old worker may answer from the stopped container for a moment after the reload.
    wait_for("v2 through the proxy", Duration::from_secs(10), || {
        b.version_through_proxy().filter(|v| v == "v2")
    });
}

#[test]
fn start_first_through_caddy_loses_no_request_and_ctrl_c_before_the_switch_removes_the_new_one_sighup_changes_nothing()
 {
    let b = Behind::up(
        "caddy",
        Kind::Caddy { admin: free_port() },
        5120,
        "drain_s = 1\nmonitor_s = 2\n",
    );
    let probe = Probe::start(b.d.port);
    let (code, output) = b.deploy("t2");
    let (sent, failed, versions) = probe.finish(1000);
    assert_eq!(code, 0, "{output}");
    assert_eq!(failed, 0, "{failed} of {sent} requests failed: {output}");
    assert_eq!(versions, ["v1", "v2"], "{output}");
    assert!(
        output.contains("no downtime (start-first via Caddy"),
        "{output}"
    );
    let serving = b.app_containers();
    assert_eq!(serving.len(), 1);

    // Ctrl-C while the bad version's health is awaited: the new container goes, v2 serves on.
    // A hangup first is ignored (the exit code below would be 129 otherwise).
    let child = b.spawn_deploy("t3");
    wait_for("the new container beside", Duration::from_secs(60), || {
        (b.app_containers().len() == 2).then_some(())
    });
    run_ok(Command::new("kill").args(["-HUP", &child.id().to_string()]));
    run_ok(Command::new("kill").args(["-INT", &child.id().to_string()]));
    let out = child.wait_with_output().unwrap();
    let output = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(130), "{output}");
    let h = &b.d.history()[0];
    assert_eq!(h["status"], "cancelled", "{h}");
    assert_eq!(b.app_containers(), serving);
    assert_eq!(b.version_through_proxy().as_deref(), Some("v2"));
}

#[test]
fn a_start_first_deploy_killed_in_its_overlap_is_ended_by_lock_release() {
    let b = Behind::up("kill9", Kind::Nginx, 5120, "drain_s = 1\nmonitor_s = 60\n");
    let old = b.d.app_container();
    let old_addr = b.d.app_addr(&old);
    let release = |b: &Behind| {
        let out = run(b.console().args(["lock", "release", "--force"]));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{text}");
        text
    };

    // Killed before the switch (a bad version, still starting): the old one is kept.
    b.set_health_timeout(60);
    let mut child = b.spawn_deploy("t3");
    wait_for("the new container beside", Duration::from_secs(60), || {
        (b.app_containers().len() == 2).then_some(())
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let text = release(&b);
    assert!(text.contains("had not switched to it"), "{text}");
    assert_eq!(b.app_containers(), std::slice::from_ref(&old), "{text}");
    assert!(b.upstream_file().contains(&format!("server {old_addr};")));
    assert!(b.d.env_file().contains(":t1\n"), "{}", b.d.env_file());

    // Killed in the watch after the switch: the new one is kept, the old one removed, the
    // pin follows it.
    let mut child = b.spawn_deploy("t2");
    let new = wait_for("the switch", Duration::from_secs(60), || {
        if b.upstream_file().contains(&format!("server {old_addr};")) {
            return None;
        }
        b.app_containers().into_iter().find(|c| *c != old)
    });
    wait_for("the switch step recorded", Duration::from_secs(20), || {
        b.d.history()[0]["steps"]
            .as_array()?
            .iter()
            .any(|s| s["name"] == "switch" && s["status"] == "ok")
            .then_some(())
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let text = release(&b);
    assert!(text.contains("had switched to it"), "{text}");
    assert_eq!(b.app_containers(), [new], "{text}");
    assert!(b.d.env_file().contains(":t2\n"), "{}", b.d.env_file());
    wait_for("v2 through the proxy", Duration::from_secs(10), || {
        b.version_through_proxy().filter(|v| v == "v2")
    });
}
