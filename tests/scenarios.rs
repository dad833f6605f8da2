//! The deployment kinds of assets/examples/ as sandbox scenarios (scripts/sandbox.sh --scenario,
//! scripts/scenarios/): each brought up by its scenario script on the real engine, registry and
//! compose, then deployed, rolled back automatically from a bad image, rolled back to a chosen
//! tag, and watched, by the console binary. Each test has its own folder, compose project and
//! registry namespace (`scn-*`), so it never touches an operator's scenario sandbox.
//! Run under the shared docker lock: `flock /tmp/elt-docker.lock cargo test --test scenarios`.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// One scenario brought up by `scripts/sandbox.sh --scenario NAME --no-run`; down (volumes
/// too) on drop.
struct Scenario {
    name: &'static str,
    dir: tempfile::TempDir,
    project: String,
    namespace: String,
    port: Option<u16>,
    vars: HashMap<String, String>,
}

/// One scenario at a time in this binary: each runs `scripts/testenv.sh up` and moves images
/// in the shared engine.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Scenario {
    fn up(name: &'static str, short: &str, port: Option<u16>) -> Self {
        testenv();
        let mut s = Self {
            name,
            dir: tempfile::tempdir().unwrap(),
            // The namespace is fixed (images are reused between runs); the project is this
            // run's own.
            project: format!("scn-{short}-{}", std::process::id()),
            namespace: format!("scn-{short}"),
            port,
            vars: HashMap::new(),
        };
        let out = run(s.sandbox().arg("--no-run"));
        assert!(
            out.status.success(),
            "sandbox.sh --scenario {name} --no-run failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(s.dir.path().join("scenario.env")).unwrap();
        s.vars = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
            .collect();
        s
    }

    fn sandbox(&self) -> Command {
        let mut c = Command::new(repo_root().join("scripts/sandbox.sh"));
        c.args(["--scenario", self.name])
            .env("ELT_SCENARIO_DIR", self.dir.path())
            .env("ELT_SCENARIO_PROJECT", &self.project)
            .env("ELT_SCENARIO_NAMESPACE", &self.namespace)
            .env("ELT_SCENARIO_READY_S", "3");
        if let Some(p) = self.port {
            c.env("ELT_SCENARIO_PORT", p.to_string());
        }
        c
    }

    fn var(&self, k: &str) -> &str {
        self.vars
            .get(k)
            .unwrap_or_else(|| panic!("{k} missing from scenario.env"))
    }

    fn deploy_dir(&self) -> PathBuf {
        self.dir.path().join("deploy")
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    fn env_file(&self) -> String {
        std::fs::read_to_string(self.deploy_dir().join(".env")).unwrap()
    }

    /// The console on this scenario: (exit code, stdout, stderr).
    fn console(&self, args: &[&str]) -> (i32, String, String) {
        let out = run(bin()
            .arg("--config")
            .arg(self.config())
            .args(args)
            .current_dir(self.deploy_dir()));
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A deploy or rollback with --yes --json: its exit code, events and stderr.
    fn change(&self, args: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
        let mut all = args.to_vec();
        all.extend(["--yes", "--json"]);
        let (code, out, err) = self.console(&all);
        let events = out
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .collect();
        (code, events, format!("{out}\n{err}"))
    }

    /// The running container of a service: (id, started at, restart count).
    fn container(&self, service: &str) -> (String, String, String) {
        let id = run_ok(Command::new("docker").args([
            "ps",
            "-q",
            "--no-trunc",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
            "--filter",
            "label=com.docker.compose.oneoff=False",
        ]));
        let id = id.trim();
        assert!(
            !id.is_empty() && !id.contains('\n'),
            "one running {service}: {id:?}"
        );
        let info = run_ok(Command::new("docker").args([
            "inspect",
            "-f",
            "{{.State.StartedAt}} {{.RestartCount}}",
            id,
        ]));
        let (started, restarts) = info.trim().split_once(' ').unwrap();
        (id.to_string(), started.to_string(), restarts.to_string())
    }

    fn exec(&self, service: &str, script: &str) -> String {
        let (id, _, _) = self.container(service);
        run_ok(Command::new("docker").args(["exec", &id, "sh", "-c", script]))
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        let _ = self.sandbox().args(["down", "--purge"]).output();
    }
}

fn finished(events: &[serde_json::Value]) -> &serde_json::Value {
    events
        .iter()
        .rev()
        .find(|e| e["event"] == "finished")
        .unwrap_or_else(|| panic!("no finished event: {events:#?}"))
}

fn step<'a>(events: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    events
        .iter()
        .rev()
        .find(|e| e["event"] == "step" && e["name"] == name && e["state"] != "running")
        .unwrap_or_else(|| panic!("no step {name}: {events:#?}"))
}

fn pinned(env: &str, var: &str) -> String {
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("{var}=")))
        .unwrap_or_else(|| panic!("{var} not in .env:\n{env}"))
        .to_string()
}

fn docker(args: &[&str]) -> String {
    run_ok(Command::new("docker").args(args))
}

/// The Telegram bot on Docker Hub: one service with no port and no healthcheck
/// (`ready = "running:3s"`), tags `latest` and the bare 40-hex SHA, its token in `.env`, a
/// Docker Hub name (`scn-bot/chat-bot`) read and pulled through `registry.mirrors`.
#[test]
fn dockerhub_bot_deploys_rolls_back_and_follows_latest_through_a_mirror() {
    let _one = one_at_a_time();
    let s = Scenario::up("dockerhub-bot", "bot", None);
    let repo = s.var("BOT_REPO").to_string();
    let mirror = s.var("BOT_MIRROR").to_string();
    let token = s.var("BOT_TOKEN").to_string();
    let sha = |n: u32| s.var(&format!("BOT_SHA_V{n}")).to_string();
    assert!(pinned(&s.env_file(), "BOT_IMAGE").ends_with(&sha(1)));

    // A tag-less deploy follows `latest` (b2), pinned to its bare commit SHA; the plan and the
    // health step say how a bot without a healthcheck is judged, and the deploy waited for it.
    let (code, ev, all) = s.change(&["deploy"]);
    assert_eq!(code, 0, "{all}");
    assert_eq!(finished(&ev)["status"], "succeeded", "{all}");
    let done_at = chrono::Utc::now();
    assert_eq!(
        pinned(&s.env_file(), "BOT_IMAGE"),
        format!("{repo}:{}", sha(2))
    );
    assert!(
        s.env_file()
            .contains(&format!("TELEGRAM_BOT_TOKEN={token}\n")),
        "the secret stays in .env: {}",
        s.env_file()
    );
    assert!(!all.contains(&token), "the token was printed:\n{all}");
    let plan = ev.iter().find(|e| e["event"] == "plan").expect("plan");
    assert!(
        plan["services"][0]["health"]
            .as_str()
            .is_some_and(|h| h.contains("running 3s without a restart")),
        "{plan}"
    );
    assert!(
        step(&ev, "health")["summary"]
            .as_str()
            .unwrap()
            .contains("running 3s without a restart"),
        "{all}"
    );
    let (_, started, restarts) = s.container("bot");
    let started = chrono::DateTime::parse_from_rfc3339(&started).unwrap();
    assert!(
        done_at.signed_duration_since(started) >= chrono::Duration::seconds(3),
        "healthy before running 3 s (started {started}, done {done_at})"
    );
    assert_eq!(restarts, "0");

    // A bot that dies at once (its restart policy restarts it) is rolled back at its first
    // restart, long before the 60 s health timeout.
    let t = Instant::now();
    let (code, ev, all) = s.change(&["deploy", &sha(3)]);
    assert_eq!(code, 1, "{all}");
    assert_eq!(finished(&ev)["status"], "rolled-back", "{all}");
    assert!(all.contains("restarted"), "{all}");
    assert!(t.elapsed() < Duration::from_secs(50), "{:?}", t.elapsed());
    assert_eq!(
        pinned(&s.env_file(), "BOT_IMAGE"),
        format!("{repo}:{}", sha(2))
    );
    assert_eq!(s.container("bot").2, "0");

    // Rollback to a chosen SHA.
    let (code, ev, all) = s.change(&["rollback", &sha(1)]);
    assert_eq!(code, 0, "{all}");
    assert_eq!(finished(&ev)["status"], "succeeded", "{all}");
    assert_eq!(
        pinned(&s.env_file(), "BOT_IMAGE"),
        format!("{repo}:{}", sha(1))
    );

    // CI's next build moves `latest` to b4; its image is not on this host, so `watch` pulls it
    // through the mirror and tags it under its Docker Hub name.
    docker(&[
        "tag",
        &format!("{mirror}:{}", sha(4)),
        &format!("{mirror}:latest"),
    ]);
    docker(&["push", "-q", &format!("{mirror}:latest")]);
    let _ = Command::new("docker")
        .args([
            "rmi",
            &format!("{mirror}:latest"),
            &format!("{mirror}:{}", sha(4)),
            &format!("{repo}:{}", sha(4)),
        ])
        .output();
    assert!(
        !run(Command::new("docker").args(["image", "inspect", &format!("{mirror}:{}", sha(4))]))
            .status
            .success(),
        "b4 is still local"
    );
    let (code, out, err) = s.console(&["watch", "--once", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("\"decision\":\"deployed\""), "{out}\n{err}");
    assert_eq!(
        pinned(&s.env_file(), "BOT_IMAGE"),
        format!("{repo}:{}", sha(4))
    );
    let digests = docker(&[
        "image",
        "inspect",
        "-f",
        "{{json .RepoDigests}}",
        &format!("{repo}:{}", sha(4)),
    ]);
    assert!(digests.contains(&format!("{mirror}@sha256:")), "{digests}");
    // The running digest is recognised under the mirror's name: nothing to do the next time.
    let (code, out, err) = s.console(&["watch", "--once", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("\"decision\":\"no-change\""), "{out}\n{err}");

    // The bot's state volume was kept through every move.
    let records = s.exec("bot", "cat /var/lib/chat-bot/records.log");
    for n in [1, 2, 4] {
        assert!(records.contains(&format!("commit={}", sha(n))), "{records}");
    }
}

/// The project-manager app with postgres and redis stand-ins: only the app moves, their
/// containers and volumes stay; the migration runs before the app restarts, and a failing one
/// stops the deploy; no `latest`: a tag-less deploy and `watch` follow `semver`.
#[test]
fn ghcr_app_moves_alone_migrates_first_and_follows_semver() {
    let _one = one_at_a_time();
    let s = Scenario::up("ghcr-app-postgres-redis", "notes", Some(free_port()));
    let repo = s.var("NOTES_REPO").to_string();
    let staging = s.var("NOTES_STAGING").to_string();
    let tags = |n: u32| -> Vec<String> {
        s.var(&format!("NOTES_TAGS_V{n}"))
            .split(' ')
            .map(str::to_string)
            .collect()
    };
    let sha_tag = |n: u32| tags(n)[0].clone();
    let db_before = (s.container("postgres"), s.container("redis"));
    let mut rows = 0;
    let mut write_row = |s: &Scenario| {
        rows += 1;
        s.exec(
            "postgres",
            &format!("echo row-{rows} >> /var/lib/postgresql/data/rows"),
        );
        s.exec(
            "redis",
            &format!("echo 'SET k{rows} v' >> /data/appendonly.aof"),
        );
        rows
    };
    let check = |s: &Scenario, rows: u32, what: &str| {
        let pg = s.exec("postgres", "cat /var/lib/postgresql/data/rows");
        let redis = s.exec("redis", "cat /data/appendonly.aof");
        for r in 1..=rows {
            assert!(pg.contains(&format!("row-{r}\n")), "{what}: {pg}");
            assert!(redis.contains(&format!("SET k{r} v")), "{what}: {redis}");
        }
        assert_eq!(
            (s.container("postgres"), s.container("redis")),
            db_before,
            "{what}: postgres and redis were not touched"
        );
    };
    let schema = |s: &Scenario| s.exec("postgres", "cat /var/lib/postgresql/data/schema_version");
    let app_image = |s: &Scenario| pinned(&s.env_file(), "APP_IMAGE");
    assert_eq!(schema(&s).trim(), "1");

    // Tag-less: the highest release (v1.3.0; no `latest` exists), migrated first.
    let n = write_row(&s);
    let (code, ev, all) = s.change(&["deploy"]);
    assert_eq!(code, 0, "{all}");
    assert_eq!(finished(&ev)["status"], "succeeded", "{all}");
    assert_eq!(app_image(&s), format!("{repo}:v1.3.0"));
    assert_eq!(step(&ev, "migrate")["state"], "ok", "{all}");
    assert_eq!(schema(&s).trim(), "2");
    check(&s, n, "after deploying v1.3.0");

    // A failing migration stops the deploy before the app is touched.
    let n = write_row(&s);
    let app_before = s.container("app");
    let (code, ev, all) = s.change(&["deploy", &sha_tag(4)]);
    assert_eq!(code, 1, "{all}");
    assert_eq!(finished(&ev)["status"], "failed", "{all}");
    assert_eq!(step(&ev, "recreate")["state"], "skipped", "{all}");
    assert!(all.contains("alembic: FAILED"), "{all}");
    assert_eq!(s.container("app"), app_before);
    assert_eq!(app_image(&s), format!("{repo}:v1.3.0"));
    assert_eq!(schema(&s).trim(), "2");
    check(&s, n, "after the failed migration");

    // A bad build (sha-<sha> form) never turns healthy: rolled back to v1.3.0.
    let n = write_row(&s);
    let (code, ev, all) = s.change(&["deploy", &sha_tag(3)]);
    assert_eq!(code, 1, "{all}");
    assert_eq!(finished(&ev)["status"], "rolled-back", "{all}");
    assert_eq!(app_image(&s), format!("{repo}:v1.3.0"));
    check(&s, n, "after the automatic rollback");

    // Rollback to a chosen release.
    let n = write_row(&s);
    let (code, ev, all) = s.change(&["rollback", "v1.2.0"]);
    assert_eq!(code, 0, "{all}");
    assert_eq!(finished(&ev)["status"], "succeeded", "{all}");
    assert_eq!(app_image(&s), format!("{repo}:v1.2.0"));
    check(&s, n, "after the rollback to v1.2.0");

    // v1.4.0 is released: `watch` follows semver to it (migrating to schema 3).
    for t in tags(5) {
        docker(&["tag", &format!("{staging}:{t}"), &format!("{repo}:{t}")]);
        docker(&["push", "-q", &format!("{repo}:{t}")]);
    }
    let n = write_row(&s);
    let (code, out, err) = s.console(&["watch", "--once", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("\"decision\":\"deployed\""), "{out}\n{err}");
    assert_eq!(app_image(&s), format!("{repo}:v1.4.0"));
    assert_eq!(schema(&s).trim(), "3");
    check(&s, n, "after watch deployed v1.4.0");

    // follow = "newest:sha-{sha}": a tag-less deploy names the newest commit tag by the image's
    // created date (v1.4.0's build), not the alphabetically last one.
    let config = std::fs::read_to_string(s.config()).unwrap();
    std::fs::write(
        s.config(),
        config.replace("follow = \"semver\"", "follow = \"newest:sha-{sha}\""),
    )
    .unwrap();
    let (code, out, err) = s.console(&["deploy", "--dry-run"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(&format!(
            "app follows \"newest:sha-{{sha}}\": {}",
            sha_tag(5)
        )),
        "{out}\n{err}"
    );
}
