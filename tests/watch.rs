//! `elt-console watch` and `dispatch --watch --deploy` against the real engine, registry and
//! compose of the test environment (and the GitHub stand-in). Each test has its own registry
//! repository `127.0.0.1:5000/elt-t/<name>`, into which it pushes stub versions as the CI
//! would: a good v1 runs, a good v2 or the failing v3 appears as `latest` or `main-<sha>`.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::registry_proxy::{ProxyMode, RegistryProxy};
use common::*;
use elt_console::store::Store;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The digest `repo:tag` names in the registry now (HEAD, as a client would ask).
fn registry_digest(repo: &str, tag: &str) -> String {
    let (host, path) = repo.split_once('/').unwrap();
    let out = run_ok(Command::new("curl").args([
        "-sSI",
        "-H",
        "Accept: application/vnd.docker.distribution.manifest.v2+json",
        "-H",
        "Accept: application/vnd.oci.image.manifest.v1+json",
        "-H",
        "Accept: application/vnd.docker.distribution.manifest.list.v2+json",
        "-H",
        "Accept: application/vnd.oci.image.index.v1+json",
        &format!("http://{host}/v2/{path}/manifests/{tag}"),
    ]));
    out.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("docker-content-digest")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no digest for {repo}:{tag}: {out}"))
}

/// A compose project running stub v1 from `repo:t1`, with a console config for it.
type Project = RepoProject;

impl RepoProject {
    /// `pushed_to` is the registry's own name for `repo` (pushes never go through a proxy).
    fn new(name: &str, repo: &str, pushed_to: &str, extra_config: &str) -> Self {
        let project = Self::up(&format!("eltw-{name}"), repo, pushed_to, &[1]);
        project.write_config(
            repo,
            "main-{sha}",
            "",
            &format!("[watch]\ninterval_s = 1\nmax_backoff_s = 4\n\n{extra_config}"),
        );
        project
    }

    /// Deployments of kind `deploy` (not the automatic rollbacks), newest first.
    fn deploys(&self) -> Vec<serde_json::Value> {
        self.history()
            .into_iter()
            .filter(|d| d["kind"] == "deploy")
            .collect()
    }

    /// How many `watch` decisions of this kind the audit holds.
    fn decisions(&self, outcome: &str) -> u64 {
        Store::open(&self.path("state"))
            .unwrap()
            .count_audit("watch", outcome)
            .unwrap()
    }

    fn wait_decisions(&self, outcome: &str, at_least: u64, watch: &mut Background) -> u64 {
        wait_for(
            &format!("{at_least} `{outcome}` decisions"),
            Duration::from_secs(120),
            || {
                watch.assert_running();
                let n = self.decisions(outcome);
                (n >= at_least).then_some(n)
            },
        )
    }
}

/// A console command running in the background, its output in files; stopped when dropped.
struct Background {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Background {
    fn start(mut cmd: Command, dir: &Path, name: &str) -> Self {
        let out = dir.join(format!("{name}.out"));
        let err = dir.join(format!("{name}.err"));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("start the console");
        Self { child, out, err }
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout(),
            std::fs::read_to_string(&self.err).unwrap_or_default()
        )
    }

    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("the console ended early ({status}):\n{}", self.output());
        }
    }

    fn signal(&self, sig: &str) {
        run_ok(Command::new("kill").args([sig, &self.child.id().to_string()]));
    }

    fn wait_exit(&mut self, within: Duration) -> i32 {
        let status = wait_for("the console to exit", within, || {
            self.child.try_wait().ok().flatten()
        });
        status.code().unwrap_or(-1)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn decisions_in(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

#[test]
fn watch_deploys_a_new_latest_once_not_twice() {
    let proxy = RegistryProxy::start(ProxyMode::Plain);
    let name = "once";
    let pushed = format!("{}/elt-t/{name}", registry());
    let p = Project::new(name, &proxy.repo(name), &pushed, "");
    let env = testenv();
    // `latest` is what runs: nothing to do.
    publish(&pushed, 1, "latest");
    let mut watch = Background::start(
        {
            let mut c = p.console();
            c.args(["watch", "--interval", "1", "--json"]);
            c
        },
        p.dir.path(),
        "watch",
    );
    let c1 = p.wait_decisions("no-change", 2, &mut watch);
    // Requests per unchanged check, through the proxy: count over several checks.
    let (n1, r1) = (p.decisions("no-change"), proxy.count());
    let n2 = p.wait_decisions("no-change", n1 + 5, &mut watch);
    let r2 = proxy.count();
    let per_check = (r2 - r1) as f64 / (n2 - n1) as f64;
    eprintln!("registry requests per unchanged check: {per_check:.2} ({r1}..{r2} over {n1}..{n2})");
    assert!(
        r2 - r1 <= 2 * (n2 - n1) + 2,
        "an unchanged check costs at most a probe and a HEAD: {} requests for {} checks",
        r2 - r1,
        n2 - n1
    );
    assert!(c1 >= 2 && p.deploys().is_empty());

    // CI pushes v2 as its commit tag and as `latest`.
    let v2_tag = env.tag(2).to_string();
    publish(&pushed, 2, &v2_tag);
    publish(&pushed, 2, "latest");
    let v2_digest = registry_digest(&pushed, "latest");
    let deployed = wait_for(
        "watch deploys the new latest",
        Duration::from_secs(120),
        || {
            watch.assert_running();
            p.deploys().into_iter().find(|d| d["status"] == "succeeded")
        },
    );
    assert_eq!(deployed["to"]["digest"], v2_digest.as_str());
    assert_eq!(
        deployed["to"]["image"],
        format!("{}:{v2_tag}", p.repo),
        "latest pinned to its commit tag"
    );
    assert_eq!(p.inspect("{{.Image}}"), image_id(2));
    let env_file = std::fs::read_to_string(p.path(".env")).unwrap();
    assert!(
        env_file.contains(&format!("IMAGE_TAG={}:{v2_tag}\n", p.repo)),
        "{env_file}"
    );

    // Several more intervals: each one a no-change, and still exactly one deployment.
    let after = p.decisions("no-change");
    p.wait_decisions("no-change", after + 3, &mut watch);
    let deploys = p.deploys();
    assert_eq!(deploys.len(), 1, "deployed once, not twice: {deploys:#?}");
    assert_eq!(p.decisions("deploying"), 1);
    assert_eq!(p.decisions("deployed"), 1);

    // SIGTERM between checks: a clean stop.
    watch.signal("-TERM");
    let code = watch.wait_exit(Duration::from_secs(30));
    assert_eq!(code, 0, "{}", watch.output());
    let lines = decisions_in(&watch.stdout());
    assert_eq!(lines.first().unwrap()["decision"], "started");
    assert_eq!(lines.last().unwrap()["decision"], "stopped");
    let deployed_line = lines
        .iter()
        .find(|l| l["decision"] == "deployed")
        .unwrap_or_else(|| panic!("{}", watch.output()));
    assert_eq!(deployed_line["deployment_id"], deployed["id"]);
    assert!(
        deployed_line["target"]
            .as_str()
            .unwrap()
            .ends_with(&v2_digest),
        "{deployed_line}"
    );
    let no_change = lines.iter().find(|l| l["decision"] == "no-change").unwrap();
    assert_eq!(no_change["next_check_s"], 1);
    assert_eq!(no_change["services"][0]["service"], "app");

    // Read-only refuses to start; a second watcher of the same folder too.
    let out = run(p.console().args(["--read-only", "watch", "--once"]));
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("read-only"));
}

#[test]
fn a_failing_latest_is_deployed_once_rolled_back_and_not_retried() {
    let name = "bad";
    let repo = format!("{}/elt-t/{name}", registry());
    let p = Project::new(name, &repo, &repo, "");
    let env = testenv();
    let v1 = image_id(1);
    // CI pushed the failing v3 as `latest`.
    publish(&repo, 3, "latest");
    let bad_digest = registry_digest(&repo, "latest");
    let mut watch = Background::start(
        {
            let mut c = p.console();
            c.args(["watch", "--interval", "1"]);
            c
        },
        p.dir.path(),
        "watch",
    );
    let rolled_back = wait_for(
        "the failing deploy to roll back",
        Duration::from_secs(150),
        || {
            watch.assert_running();
            p.deploys()
                .into_iter()
                .find(|d| d["status"] == "rolled-back")
        },
    );
    assert_eq!(rolled_back["to"]["digest"], bad_digest.as_str());
    p.wait_healthy();
    assert_eq!(p.inspect("{{.Image}}"), v1, "v1 runs again");
    // Several more checks: each skips the digest that failed, none deploys it again.
    p.wait_decisions("skipped-failed", 3, &mut watch);
    assert_eq!(p.deploys().len(), 1, "{:#?}", p.history());
    assert_eq!(p.decisions("failed"), 1);
    watch.signal("-INT");
    assert_eq!(watch.wait_exit(Duration::from_secs(30)), 0);
    let text = watch.stdout();
    assert!(text.contains(" deploying: "), "{text}");
    assert!(text.contains(" failed: "), "{text}");
    assert!(
        text.contains("rollback"),
        "step lines under the decision: {text}"
    );

    // A restarted watch remembers (the audit is its memory).
    let out = run(p.console().args(["watch", "--once", "--json"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let lines = decisions_in(&stdout);
    assert_eq!(
        lines.last().unwrap()["decision"],
        "skipped-failed",
        "{stdout}"
    );
    assert_eq!(p.deploys().len(), 1);

    // `latest` moves on to a good build, while another operator holds the deploy lock:
    // watch leaves it for the next tick.
    publish(&repo, 2, env.tag(2));
    publish(&repo, 2, "latest");
    let mut store = Store::open(&p.path("state")).unwrap();
    let me = elt_console::store::Actor::current();
    store
        .acquire_lock(&me, "deploy", Duration::from_secs(30), None)
        .unwrap()
        .unwrap();
    let out = run(p.console().args(["watch", "--once", "--json"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{stdout}");
    let lines = decisions_in(&stdout);
    assert_eq!(
        lines.last().unwrap()["decision"],
        "skipped-locked",
        "{stdout}"
    );
    assert_eq!(p.deploys().len(), 1);
    store.release_lock(&me).unwrap();
    // The lock is free: deployed at once.
    let out = run(p.console().args(["watch", "--once", "--json"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let lines = decisions_in(&stdout);
    assert_eq!(lines.last().unwrap()["decision"], "deployed", "{stdout}");
    assert_eq!(p.inspect("{{.Image}}"), image_id(2));
    assert_eq!(p.deploys().len(), 2);
}

#[test]
fn dispatch_watch_deploy_yes_deploys_the_runs_image() {
    let name = "dispatch";
    let repo = format!("{}/elt-t/{name}", registry());
    let env = testenv();
    // A commit of its own, so its tag exists nowhere until the test pushes it.
    let sha: String = {
        let mut bytes = [0u8; 20];
        std::fs::File::open("/dev/urandom")
            .unwrap()
            .read_exact(&mut bytes)
            .unwrap();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    };
    let mut shas: Vec<&str> = (1..=4).map(|n| env.sha(n)).collect();
    shas.push(&sha);
    let standin = GithubStandin::start(&shas);
    standin.control(
        "POST",
        "/_standin/mode",
        r#"{"dispatch_conclusion":"success"}"#,
    );
    let p = Project::new(
        name,
        &repo,
        &repo,
        &format!("[github]\napi_url = \"{}\"\n", standin.url()),
    );
    let mut dispatch = Background::start(
        {
            let mut c = p.console();
            c.args(["dispatch", "--watch", "--deploy", "--yes", "--json"]);
            c
        },
        p.dir.path(),
        "dispatch",
    );
    let tag = format!("main-{sha}");
    wait_for(
        "the run to succeed and the wait for its image",
        Duration::from_secs(60),
        || {
            dispatch.assert_running();
            // With --json, stdout holds only JSON lines; notes go to stderr.
            dispatch
                .output()
                .contains(&format!("waiting for {repo}:{tag}"))
                .then_some(())
        },
    );
    assert!(
        p.deploys().is_empty(),
        "nothing deployed before the image exists"
    );
    publish(&repo, 2, &tag);
    let code = dispatch.wait_exit(Duration::from_secs(120));
    let output = dispatch.output();
    assert_eq!(code, 0, "{output}");
    let events: Vec<serde_json::Value> = dispatch
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let built = events
        .iter()
        .position(|e| e["event"] == "image-built" && e["tag"] == tag.as_str())
        .unwrap_or_else(|| panic!("no image-built event: {output}"));
    assert!(
        events[..built].iter().any(|e| e["event"] == "dispatched"),
        "{output}"
    );
    assert!(
        events[built..].iter().any(|e| e["event"] == "started"),
        "the deploy's events follow: {output}"
    );
    let deploys = p.deploys();
    assert_eq!(deploys.len(), 1, "{deploys:#?}");
    assert_eq!(deploys[0]["status"], "succeeded");
    assert_eq!(deploys[0]["to"]["tag"], tag.as_str());
    assert_eq!(p.inspect("{{.Image}}"), image_id(2));
    let posts = standin.requests()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "POST")
        .count();
    assert_eq!(posts, 1, "one dispatch");

    // Without --deploy: the exact command to run, and nothing deployed.
    let out = run(p.console().args(["dispatch", "--watch", "--yes"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let want = format!(
        "to deploy it: elt-console --config {} deploy {tag}",
        p.path("config.toml").display()
    );
    assert!(stdout.contains(&want), "{stdout}");
    assert_eq!(p.deploys().len(), 1);
}
