//! The deploy engine against the real engine, registry and compose of the test environment.
//! Each test pushes the stub images into its own repository of the local registry, so image
//! retention and pulls in one test never touch another test's images.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// libc calls that send signals to, or ask about, the processes under test.
#![allow(unsafe_code)]

mod common;

use common::registry_proxy::{ProxyMode, RegistryProxy};
use common::*;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A stub-app compose project deploying from its own registry repository.
type Deployment = RepoProject;

/// Build an image of stub version `n` plus a layer of `kib` KiB of random bytes that exists
/// nowhere else, push it as `repo:tag`, and remove it locally: its pull must download.
fn publish_unique(repo: &str, n: u32, tag: &str, kib: usize) {
    let env = testenv();
    let ctx = tempfile::tempdir().unwrap();
    let mut pad = vec![0u8; kib * 1024];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut pad)
        .unwrap();
    std::fs::write(ctx.path().join("pad.bin"), &pad).unwrap();
    write_file(
        ctx.path(),
        "Dockerfile",
        &format!("FROM {}\nCOPY pad.bin /pad.bin\n", env.image_ref(n)),
    );
    let target = format!("{repo}:{tag}");
    run_ok(
        Command::new("docker")
            .env("DOCKER_BUILDKIT", "0")
            .args(["build", "-q", "-t", &target])
            .arg(ctx.path()),
    );
    run_ok(Command::new("docker").args(["push", "-q", &target]));
    let id = run_ok(Command::new("docker").args(["image", "inspect", "-f", "{{.Id}}", &target]));
    run_ok(Command::new("docker").args(["rmi", &target]));
    // Gone for real, or the pull would find the layer locally.
    let _ = Command::new("docker").args(["rmi", id.trim()]).output();
}

impl RepoProject {
    /// Project `name` running stub v1, published in its own repository as tags t1..t4.
    fn new(name: &str) -> Self {
        let repo = format!("{}/elt-t/{name}", registry());
        let d = Self::up(&format!("eltd-{name}"), &repo, &repo, &[1, 2, 3, 4]);
        d.write_config(&d.repo.clone(), "");
        d
    }

    /// The console's config for this project; `image` is the repository the console deploys
    /// from (the registry itself, or a proxy in front of it).
    fn write_config(&self, image: &str, extra_deploy: &str) {
        self.project.write_config(
            image,
            "t{sha}",
            &format!("keep_images = 2\n{extra_deploy}"),
            // Nothing here asks GitHub: point it where nothing answers.
            "[github]\napi_url = \"http://127.0.0.1:9\"\n",
        );
    }

    /// Shorten `deploy.health_timeout_s` (30 s in the shared config) in the written config.
    fn set_health_timeout(&self, seconds: u32) {
        let path = self.path("config.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("health_timeout_s = 30\n"), "{text}");
        let text = text.replace(
            "health_timeout_s = 30\n",
            &format!("health_timeout_s = {seconds}\n"),
        );
        std::fs::write(&path, text).unwrap();
    }

    fn running_image_id(&self) -> String {
        self.inspect("{{.Image}}")
    }

    fn data_records(&self) -> String {
        run_ok(Command::new("docker").args([
            "exec",
            &self.app_container(),
            "cat",
            "/data/records.log",
        ]))
    }
}

/// Run the console; return (exit code, stdout, stderr).
fn console_run(cmd: &mut Command) -> (i32, String, String) {
    let out = run(cmd);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn events(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

fn finished(stdout: &str) -> serde_json::Value {
    events(stdout)
        .into_iter()
        .rev()
        .find(|e| e["event"] == "finished")
        .unwrap_or_else(|| panic!("no finished event in {stdout}"))
}

fn step<'a>(evs: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    evs.iter()
        .rev()
        .find(|e| e["event"] == "step" && e["name"] == name)
        .unwrap_or_else(|| panic!("no step {name}"))
}

#[test]
fn deploy_rollback_and_history_on_the_real_engine() {
    let d = Deployment::new("main");
    let v1 = image_id(1);
    let v2 = image_id(2);
    assert_eq!(d.running_image_id(), v1);
    let first_records = d.data_records();
    assert!(first_records.contains("v1"), "{first_records}");

    // Dry run: the plan, nothing touched.
    let before = d.app_container();
    let (code, out, err) = console_run(d.console().args(["deploy", "t2", "--dry-run"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("dry run, nothing changed"), "{out}");
    assert_eq!(d.app_container(), before);

    // Not on a terminal and no --yes: refused (4, the one refusal code; was 64).
    let (code, _, err) = console_run(d.console().args(["deploy", "t2"]).stdin(Stdio::null()));
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("--yes"), "{err}");

    // A backup command is run first and its file recorded.
    d.write_config(
        &d.repo.clone(),
        "backup_command = \"echo dumping; echo \\\"$ELT_DEPLOY_TARGET\\\" > backup-1.sql; echo wrote $PWD/backup-1.sql\"",
    );

    // Good v1 -> good v2.
    let (code, out, err) = console_run(d.console().args(["deploy", "t2", "--yes", "--json"]));
    assert_eq!(code, 0, "{out}{err}");
    let evs = events(&out);
    for name in [
        "lock", "resolve", "pull", "compare", "migrate", "recreate", "health", "record",
    ] {
        assert_eq!(step(&evs, name)["state"], "ok", "{name}: {out}");
    }
    assert_eq!(step(&evs, "backup")["state"], "ok", "{out}");
    let backup = d.path("backup-1.sql");
    assert_eq!(
        std::fs::read_to_string(&backup).unwrap().trim(),
        format!("{}:t2", d.repo)
    );
    assert!(
        evs.iter()
            .any(|e| e["event"] == "progress" && e["seq"] == 3),
        "pull progress: {out}"
    );
    let done = finished(&out);
    assert_eq!(done["status"], "succeeded");
    assert!(done["downtime_ms"].as_u64().unwrap() > 0);
    assert_eq!(d.running_image_id(), v2);
    assert_eq!(d.inspect("{{.State.Health.Status}}"), "healthy");
    let env = d.env_file();
    assert!(env.contains(&format!("IMAGE_TAG={}:t2\n", d.repo)), "{env}");
    assert!(
        env.starts_with("# the operator's own settings\nCOMPOSE_HTTP_TIMEOUT=120\n"),
        "{env}"
    );
    // v1's data survived; v2 has started on it.
    let records = d.data_records();
    assert!(records.starts_with(first_records.trim_end()), "{records}");
    assert!(records.contains("v2"), "{records}");
    // The migration ran with the new image, on the same volume.
    let migrations = run_ok(Command::new("docker").args([
        "exec",
        &d.app_container(),
        "cat",
        "/data/migrations.log",
    ]));
    assert!(migrations.contains("v2"), "{migrations}");

    let h = d.history();
    let last = &h[0];
    assert_eq!(last["status"], "succeeded");
    assert_eq!(last["kind"], "deploy");
    assert_eq!(last["to"]["tag"], "t2");
    assert_eq!(last["from"]["image"], format!("{}:t1", d.repo));
    assert_eq!(last["to"]["image_id"], v2.as_str());
    assert_eq!(last["from"]["image_id"], v1.as_str());
    assert_eq!(last["to"]["sha"], testenv().sha(2));
    // Every step has a row, the `switch` of a stop-first deploy (no proxy here) too.
    assert_eq!(last["steps"].as_array().unwrap().len(), 12);
    assert_eq!(last["strategy"], "stop-first");
    assert!(last["downtime_ms"].as_u64().is_some());
    assert_eq!(last["backup_path"], backup.display().to_string());
    d.write_config(&d.repo.clone(), "");

    // A plain `compose up -d` keeps the deployed version.
    let out = d.compose(&["up", "-d", "app"]);
    assert!(out.status.success());
    assert_eq!(d.running_image_id(), v2);

    // The same digest again: skipped; --force redeploys.
    let before = d.app_container();
    let (code, out, _) = console_run(d.console().args(["deploy", "t2", "--yes", "--json"]));
    assert_eq!(code, 0, "{out}");
    assert_eq!(finished(&out)["status"], "skipped");
    assert_eq!(d.app_container(), before);
    let (code, out, _) = console_run(
        d.console()
            .args(["deploy", "t2", "--yes", "--force", "--json"]),
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(finished(&out)["status"], "succeeded");
    assert_ne!(d.app_container(), before);
    assert_eq!(d.running_image_id(), v2);

    // The failing image: deployed, unhealthy, rolled back automatically to v2. A short health
    // timeout keeps the wait (which is part of the users' outage) brief.
    d.set_health_timeout(8);
    let (code, out, err) = console_run(d.console().args(["deploy", "t3", "--yes", "--json"]));
    assert_eq!(code, 1, "{out}{err}");
    let evs = events(&out);
    assert_eq!(step(&evs, "health")["state"], "failed");
    assert_eq!(step(&evs, "rollback")["state"], "ok");
    assert_eq!(finished(&out)["status"], "rolled-back");
    // The users' outage runs from the old container's stop through the whole health wait to
    // the first healthy answer after the rollback, not just the rollback's own switch.
    // (The rollback's share is not bounded here: the app may serve before its container
    // healthcheck says so, and the outage ends at the first OK answer.)
    let health_wait = step(&evs, "health")["duration_ms"].as_u64().unwrap();
    let outage = finished(&out)["downtime_ms"].as_u64().unwrap();
    assert!(
        outage >= health_wait && outage >= 8_000,
        "outage {outage} ms, health wait {health_wait} ms: {out}"
    );
    assert_eq!(d.running_image_id(), v2);
    assert_eq!(d.inspect("{{.State.Health.Status}}"), "healthy");
    assert!(d.env_file().contains(&format!("IMAGE_TAG={}:t2\n", d.repo)));
    let h = d.history();
    assert_eq!(h[0]["kind"], "auto-rollback");
    assert_eq!(h[0]["status"], "succeeded");
    assert_eq!(h[0]["parent_id"], h[1]["id"]);
    assert_eq!(h[1]["status"], "rolled-back");
    let why = h[1]["error"].as_str().unwrap();
    assert!(why.contains("did not become healthy"), "{why}");
    // One outage, the same figure in both rows of history as in the finished event.
    assert_eq!(h[1]["downtime_ms"].as_u64(), Some(outage));
    assert_eq!(h[0]["downtime_ms"].as_u64(), Some(outage));
    d.write_config(&d.repo.clone(), "");

    // Migration fails: the old app is untouched and healthy.
    let before = d.app_container();
    let (code, out, _) = console_run(
        d.console()
            .env("STUB_MIGRATE_FAIL", "1")
            .args(["deploy", "t1", "--yes", "--json"]),
    );
    assert_eq!(code, 1, "{out}");
    let evs = events(&out);
    assert_eq!(step(&evs, "migrate")["state"], "failed");
    assert_eq!(step(&evs, "recreate")["state"], "skipped");
    assert_eq!(d.app_container(), before);
    assert_eq!(d.inspect("{{.State.Health.Status}}"), "healthy");
    assert!(d.env_file().contains(&format!("IMAGE_TAG={}:t2\n", d.repo)));

    // A tag that does not exist: refused at resolve, nothing stopped.
    let (code, out, _) = console_run(d.console().args(["deploy", "t9", "--yes"]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("does not exist"), "{out}");
    assert_eq!(d.app_container(), before);
    // Its history row still says what ran.
    let h = d.history();
    assert_eq!(h[0]["status"], "failed");
    assert_eq!(h[0]["from"]["image"], format!("{}:t2", d.repo));
    assert_eq!(h[0]["from"]["image_id"], v2.as_str());
    let table = run_ok(d.console().args(["history", "-n", "1"]));
    assert!(table.contains("t2 -> t9"), "{table}");

    // Hostile tags never get past parsing.
    for bad in [
        "t1; rm -rf /",
        "$(touch /tmp/pwned)",
        "t1\nIMAGE_TAG=evil",
        "../t1",
        "t1 t2",
    ] {
        let (code, out, err) = console_run(d.console().args(["deploy", bad, "--yes"]));
        assert_eq!(code, 64, "{bad:?}: {out}{err}");
        assert!(err.contains("invalid tag"), "{bad:?}: {err}");
    }
    assert_eq!(d.app_container(), before);
    assert!(!Path::new("/tmp/pwned").exists());

    // Rollback to v1 by tag (a retained local image: no registry needed), then --previous.
    let (code, out, err) = console_run(d.console().args(["rollback", "t1", "--yes"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("rolled back to t1"), "{out}");
    assert!(out.contains("a rollback runs no migration"), "{out}");
    assert_eq!(d.running_image_id(), v1);
    let (code, out, err) = console_run(d.console().args(["rollback", "--previous", "--yes"]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(d.running_image_id(), v2);
    let h = d.history();
    assert_eq!(h[0]["kind"], "rollback");
    assert_eq!(h[0]["to"]["image_id"], v2.as_str());

    // Retention (keep 2): the running (v2) and previous (v1) stay; v3 went.
    let local = |tag: &str| {
        Command::new("docker")
            .args(["image", "inspect", &format!("{}:{tag}", d.repo)])
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(local("t2"));
    assert!(local("t1"));
    assert!(!local("t3"), "t3 should have been removed by retention");

    // Every attempt was audited, refused ones too.
    let db = d.path("state/elt-console.db");
    let conn = rusqlite::Connection::open(db).unwrap();
    let refused: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM audit WHERE outcome = 'refused'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(refused >= 6, "refused attempts audited: {refused}");

    // Human history output.
    let text = run_ok(d.console().arg("history"));
    assert!(text.contains("rolled-back"), "{text}");
    assert!(text.contains("auto-rollback"), "{text}");
}

#[test]
fn pull_interrupted_or_registry_down_changes_nothing() {
    let d = Deployment::new("pullcut");
    let before = d.app_container();

    // A failing backup stops the deploy before anything is touched...
    d.write_config(
        &d.repo.clone(),
        "backup_command = \"echo disk full >&2; exit 5\"",
    );
    let (code, out, _) = console_run(d.console().args(["deploy", "t2", "--yes", "--json"]));
    assert_eq!(code, 1, "{out}");
    let evs = events(&out);
    assert_eq!(step(&evs, "backup")["state"], "failed", "{out}");
    assert!(
        step(&evs, "backup")["summary"]
            .as_str()
            .unwrap()
            .contains("disk full")
    );
    assert_eq!(step(&evs, "migrate")["state"], "skipped");
    assert_eq!(d.app_container(), before);
    // ...unless the config says backups are optional.
    d.write_config(
        &d.repo.clone(),
        "backup_command = \"exit 5\"\nbackup_optional = true",
    );
    let (code, out, _) = console_run(d.console().args(["deploy", "t2", "--yes", "--json"]));
    assert_eq!(code, 0, "{out}");
    assert_eq!(step(&events(&out), "backup")["state"], "warning", "{out}");
    let before = d.app_container();

    // The registry's host is down: refused at resolve.
    d.write_config(&format!("127.0.0.1:{}/elt-t/pullcut", free_port()), "");
    let (code, out, _) = console_run(d.console().args(["deploy", "t2", "--yes"]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not reachable"), "{out}");
    assert!(out.contains("nothing was changed"), "{out}");
    assert_eq!(d.app_container(), before);

    // The link breaks in the middle of every layer download: retried, then refused.
    publish_unique(&d.repo, 2, "cut", 1024);
    let proxy = RegistryProxy::start(ProxyMode::CutAfter(96 * 1024));
    d.write_config(&proxy.repo("pullcut"), "");
    let (code, out, err) = console_run(d.console().args(["deploy", "cut", "--yes", "--json"]));
    assert_eq!(code, 1, "{out}{err}");
    let evs = events(&out);
    let pull = step(&evs, "pull");
    assert_eq!(pull["state"], "failed", "{out}");
    assert!(
        pull["summary"]
            .as_str()
            .unwrap()
            .contains("after 2 attempt"),
        "{pull}"
    );
    assert_eq!(step(&evs, "recreate")["state"], "skipped");
    assert_eq!(d.app_container(), before);
    assert_eq!(d.inspect("{{.State.Health.Status}}"), "healthy");
    assert!(d.env_file().contains(&format!("IMAGE_TAG={}:t2\n", d.repo)));
    assert_eq!(d.history()[0]["status"], "failed");
}

fn spawn_deploy(d: &Deployment, tag: &str) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = d
        .console()
        .args(["deploy", tag, "--yes", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Read lines until one satisfies `pred`, within `timeout`; all lines read are kept.
fn wait_line(
    rx: &std::sync::mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&str) -> bool,
) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let hit = pred(&line);
                seen.push(line);
                if hit {
                    return;
                }
            }
            Err(_) => panic!(
                "timed out waiting for {what}; output so far:\n{}",
                seen.join("\n")
            ),
        }
    }
}

fn wait_exit(child: &mut Child, timeout: Duration) -> i32 {
    wait_for("the deploy to exit", timeout, || {
        child.try_wait().unwrap().map(|s| s.code().unwrap_or(-1))
    })
}

/// Send `signal` to a running deploy; it must exit with `code` and end on a `status` event.
fn signal_and_expect(
    child: &mut Child,
    rx: &std::sync::mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    signal: i32,
    within: Duration,
    code: i32,
    status: &str,
) {
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
    let exit = wait_exit(child, within);
    seen.extend(rx.try_iter());
    assert_eq!(exit, code, "{}", seen.join("\n"));
    assert!(
        seen.last()
            .unwrap()
            .contains(&format!("\"status\":\"{status}\"")),
        "{}",
        seen.join("\n")
    );
}

fn pulling(line: &str) -> bool {
    line.contains("\"event\":\"progress\"") && line.contains("\"seq\":3") && line.contains("layers")
}

/// A deploy of `tag` started and seen in its pull step (it holds the lock): the child, its
/// output lines as they come, and the lines seen so far.
fn deploy_until_pulling(
    d: &Deployment,
    tag: &str,
) -> (Child, std::sync::mpsc::Receiver<String>, Vec<String>) {
    let (child, rx) = spawn_deploy(d, tag);
    let mut seen = Vec::new();
    wait_line(
        &rx,
        &mut seen,
        Duration::from_secs(60),
        "pull progress",
        pulling,
    );
    (child, rx, seen)
}

#[test]
fn concurrent_deploy_refused_sighup_survived_kill9_reported_stale() {
    let d = Deployment::new("lock");
    publish_unique(&d.repo, 2, "slow1", 1536);
    publish_unique(&d.repo, 2, "slow2", 1536);
    // About 160 KB/s: the 1.5 MiB layer takes ~10 s to arrive.
    let proxy = RegistryProxy::start(ProxyMode::Throttle(160 * 1024));
    d.write_config(&proxy.repo("lock"), "");

    // A deploy in its pull step holds the lock: a second one is refused with who holds it.
    let (mut first, rx, mut seen) = deploy_until_pulling(&d, "slow1");
    let (code, out, _) = console_run(d.console().args(["deploy", "t2", "--yes"]));
    assert_eq!(code, 4, "{out}");
    assert!(out.contains(&format!("pid {}", first.id())), "{out}");
    assert!(out.contains("another deploy is in progress"), "{out}");
    let (code, out, _) = console_run(d.console().args(["lock", "status"]));
    assert_eq!(code, 5, "lock held: {out}");
    assert!(out.contains("at step pull"), "{out}");

    // The operator's SSH session drops mid-pull: the deploy carries on to the end.
    signal_and_expect(
        &mut first,
        &rx,
        &mut seen,
        libc::SIGHUP,
        Duration::from_secs(120),
        0,
        "succeeded",
    );
    assert_eq!(
        d.inspect("{{.Config.Image}}"),
        format!("{}:slow1", proxy.repo("lock"))
    );
    let running = d.running_image_id();

    // A deploy killed outright mid-pull: the next command reports a stale lock and the truth.
    let (mut second, _, _) = deploy_until_pulling(&d, "slow2");
    let pid = second.id();
    second.kill().unwrap();
    let _ = second.wait();
    let (code, out, _) = console_run(d.console().args(["lock", "status"]));
    assert_eq!(code, 6, "stale lock: {out}");
    assert!(out.contains("stale"), "{out}");
    assert!(
        out.contains(&format!("pid {pid}) is no longer running")),
        "{out}"
    );
    assert!(
        out.contains("running/healthy"),
        "the app's true state: {out}"
    );
    let (code, out, _) = console_run(d.console().args(["deploy", "t2", "--yes"]));
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("stale"), "{out}");
    assert_eq!(d.running_image_id(), running, "nothing changed");
    let (code, _, err) = console_run(d.console().args(["lock", "release"]));
    assert_eq!(code, 64, "{err}");
    let (code, out, _) = console_run(d.console().args(["lock", "release", "--force"]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("marked interrupted"), "{out}");
    let h = d.history();
    let killed = h.iter().find(|x| x["to"]["tag"] == "slow2").unwrap();
    assert_eq!(killed["status"], "interrupted");
    let (code, out, _) = console_run(d.console().args(["lock", "status"]));
    assert_eq!(code, 0, "{out}");

    // Ctrl-C during the pull cancels cleanly: nothing changed, lock released.
    publish_unique(&d.repo, 2, "slow3", 1536);
    let (mut third, rx, mut seen) = deploy_until_pulling(&d, "slow3");
    signal_and_expect(
        &mut third,
        &rx,
        &mut seen,
        libc::SIGINT,
        Duration::from_secs(60),
        130,
        "cancelled",
    );
    assert_eq!(d.running_image_id(), running, "nothing changed");
    let (code, out, _) = console_run(d.console().args(["lock", "status"]));
    assert_eq!(code, 0, "lock released after the cancel: {out}");
}

/// A deploy killed between pinning the `.env` and compose's recreate, with compose's renamed,
/// stopped copy of an old container left behind (what `kill -9` leaves at the wrong moment):
/// `lock release --force` sets the pin back to the image the app runs, removes the copy, says
/// both, and leaves the running app alone (the soak's `kill9:env-pin` and
/// `kill9-group:orphans`). Before the fix the release left both.
#[test]
fn releasing_a_dead_deploys_lock_repins_what_runs_and_removes_its_leftover() {
    let d = Deployment::new("repair");
    publish_unique(&d.repo, 2, "slow1", 1536);
    let proxy = RegistryProxy::start(ProxyMode::Throttle(160 * 1024));
    d.write_config(&proxy.repo("repair"), "");
    let app = d.app_container();
    let runs = d.inspect("{{.Config.Image}}");
    let (mut killed, _, _) = deploy_until_pulling(&d, "slow1");
    killed.kill().unwrap();
    let _ = killed.wait();
    // What it would have done next: pin the target, and compose renames the old container.
    let pinned = format!("{}:slow1", proxy.repo("repair"));
    let env = d.env_file().replace(
        &format!("IMAGE_TAG={runs}\n"),
        &format!("IMAGE_TAG={pinned}\n"),
    );
    assert!(env.contains(&pinned), "{env}");
    std::fs::write(d.path(".env"), &env).unwrap();
    let copy = run_ok(Command::new("docker").args([
        "create",
        "--label",
        &format!("com.docker.compose.project={}", d.name),
        "--label",
        "com.docker.compose.service=app",
        "--label",
        "com.docker.compose.oneoff=False",
        &runs,
    ]))
    .trim()
    .to_string();
    let copy_name = format!("{}_{}_app_1", &copy[..12], d.name);
    run_ok(Command::new("docker").args(["rename", &copy, &copy_name]));

    let (code, out, err) = console_run(d.console().args(["lock", "release", "--force"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("marked interrupted"), "{out}");
    assert!(
        out.contains(&format!("repair: IMAGE_TAG set back to {runs}")),
        "{out}{err}"
    );
    assert!(out.contains(&format!("removed {copy_name}")), "{out}");
    assert!(
        d.env_file().contains(&format!("IMAGE_TAG={runs}\n")),
        "{}",
        d.env_file()
    );
    let gone = Command::new("docker")
        .args(["inspect", &copy])
        .output()
        .unwrap();
    assert!(!gone.status.success(), "the stopped copy is still there");
    assert_eq!(d.app_container(), app, "the running app was not touched");
}
