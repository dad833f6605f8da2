//! GitHub Deployments against the GitHub stand-in (scripts/github-standin.py serving GitHub's
//! published payloads): the exact requests a deploy makes, a token that may not create
//! deployments (one warning, the deploy unaffected), an outage (statuses queued in the store,
//! shown by `history`, sent on a later flush), the recent deployments read back for the
//! dashboard, and one real deploy on the real engine with a Telegram-format notification.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/receiver.rs"]
mod receiver;

use common::*;
use elt_console::config::Config;
use elt_console::deploy::{DeployEvent, StepState};
use elt_console::gh_deployments;
use elt_console::sources::github::{GithubSource, TokenSource};
use elt_console::store::{Actor, DeployKind, DeployStatus, ImageSide, NewDeployment, Store};
use elt_console::subscribers::{Report, attach_with};
use std::time::Duration;

const REPO_PATH: &str = "/repos/arthurlee116/english-listening-trainer";

fn sha(c: char) -> String {
    c.to_string().repeat(40)
}

fn config(dir: &std::path::Path, api: &str) -> Config {
    let mut c = elt_console::config::defaults();
    c.deployment.state_dir = dir.join("state");
    c.github.api_url = api.to_string();
    c.github.environment_url = "https://elt.example.org".into();
    c
}

fn gh(c: &Config) -> GithubSource {
    GithubSource::with_token(
        &c.github,
        Some("test-token".into()),
        TokenSource::Env("GH_TOKEN"),
    )
    .unwrap()
}

fn side(c: char) -> ImageSide {
    let tag = format!("main-{}", &sha(c)[..7]);
    ImageSide {
        image: Some(format!("ghcr.io/o/app:{tag}")),
        tag: Some(elt_console::domain::Tag::parse(&tag).unwrap()),
        sha: Some(elt_console::domain::CommitSha::parse(&sha(c)).unwrap()),
        ..Default::default()
    }
}

/// A local deployment row, as the engine creates one, for `history` to list.
fn local_deployment(c: &Config) -> i64 {
    Store::open(&c.deployment.state_dir)
        .unwrap()
        .create_deployment(
            &NewDeployment {
                kind: DeployKind::Deploy,
                parent_id: None,
                services: vec!["app".into()],
                to_tag: Some("main".into()),
                strategy: "recreate".into(),
            },
            &Actor::current(),
        )
        .unwrap()
}

/// The events of a deploy #id from `from` to `to` that ends `status` (as the engine emits them:
/// tests/engine_fake.rs checks the mapping on the engine's own stream).
fn deploy_events(id: i64, from: char, to: char, status: DeployStatus) -> Vec<DeployEvent> {
    let step = |name: &'static str, state: StepState| DeployEvent::Step {
        seq: 1,
        name,
        state,
        duration_ms: Some(1),
        summary: if state == StepState::Failed {
            "unhealthy after 30s".into()
        } else {
            String::new()
        },
    };
    let mut v = vec![
        DeployEvent::Started {
            deployment_id: Some(id),
            kind: DeployKind::Deploy,
            target: "main".into(),
            actor: "op (pid 1 on host)".into(),
            runtime: "test".into(),
        },
        DeployEvent::Sides {
            from: side(from),
            to: Some(side(to)),
        },
        step("recreate", StepState::Running),
        step("recreate", StepState::Ok),
    ];
    if status != DeployStatus::Succeeded {
        v.push(step("health", StepState::Failed));
    }
    v.push(DeployEvent::Finished {
        deployment_id: Some(id),
        status,
        message: "done".into(),
        downtime_ms: None,
        duration_ms: 10,
    });
    v
}

async fn run_events(c: &Config, events: Vec<DeployEvent>) -> Report {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (mut out, s) = attach_with(c, Some(gh(c)), &|_| None, rx, Vec::new());
    for e in events {
        tx.send(e).unwrap();
    }
    drop(tx);
    while out.recv().await.is_some() {}
    s.finish().await
}

/// (method, path, body) of every GitHub request, control endpoints excluded.
fn requests(standin: &GithubStandin) -> Vec<(String, String, serde_json::Value)> {
    standin.requests()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_string(),
                r["path"].as_str().unwrap().to_string(),
                r["body"].clone(),
            )
        })
        .collect()
}

fn post(path: &str, body: serde_json::Value) -> (String, String, serde_json::Value) {
    ("POST".into(), format!("{REPO_PATH}{path}"), body)
}

fn status(state: &str, description: &str) -> serde_json::Value {
    serde_json::json!({
        "state": state,
        "description": description,
        "auto_inactive": false,
        "environment_url": "https://elt.example.org",
    })
}

fn create(c: char, description: &str) -> serde_json::Value {
    serde_json::json!({
        "ref": sha(c),
        "task": "deploy",
        "auto_merge": false,
        "required_contexts": [],
        "environment": "production",
        "description": description,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_deploy_is_a_deployment_with_its_statuses_and_a_success_retires_the_one_before() {
    let standin = GithubStandin::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), &standin.url());
    let r = run_events(&c, deploy_events(7, 'a', 'b', DeployStatus::Succeeded)).await;
    assert!(r.lines.is_empty(), "{:?}", r.lines);
    let r = run_events(&c, deploy_events(8, 'b', 'c', DeployStatus::Succeeded)).await;
    assert!(r.lines.is_empty(), "{:?}", r.lines);
    assert_eq!(
        requests(&standin),
        vec![
            post("/deployments", create('b', "deploy main-bbbbbbb by op")),
            post(
                "/deployments/1/statuses",
                status("in_progress", "recreate of main-bbbbbbb")
            ),
            post(
                "/deployments/1/statuses",
                status("success", "main-bbbbbbb is live")
            ),
            post("/deployments", create('c', "deploy main-ccccccc by op")),
            post(
                "/deployments/2/statuses",
                status("in_progress", "recreate of main-ccccccc")
            ),
            post(
                "/deployments/2/statuses",
                status("success", "main-ccccccc is live")
            ),
            post(
                "/deployments/1/statuses",
                status("inactive", "replaced by main-ccccccc")
            ),
        ]
    );

    // What the dashboard reads back: newest first, each with its latest status; a second read
    // is answered 304 for every request (no budget spent).
    let source = gh(&c);
    let list = source.recent_deployments("production", 5).await.unwrap();
    let got: Vec<(String, Option<String>)> = list
        .iter()
        .map(|d| (d.sha.clone(), d.state.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (sha('c'), Some("success".into())),
            (sha('b'), Some("inactive".into()))
        ]
    );
    let before = requests(&standin).len();
    source.recent_deployments("production", 5).await.unwrap();
    let all = standin.requests()["requests"].as_array().unwrap().clone();
    let again = &all[before..];
    assert_eq!(again.len(), 3);
    assert!(
        again.iter().all(|r| r["status"] == 304),
        "conditional: {again:?}"
    );
    assert_eq!(again[0]["query"]["environment"], "production");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_deploy_posts_failure_naming_the_step() {
    let standin = GithubStandin::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), &standin.url());
    run_events(&c, deploy_events(3, 'a', 'b', DeployStatus::Failed)).await;
    let reqs = requests(&standin);
    assert_eq!(
        reqs.last().unwrap(),
        &post(
            "/deployments/1/statuses",
            status("failure", "health failed: unhealthy after 30s")
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_deployments_write_gets_one_warning() {
    let standin = GithubStandin::start(&[]);
    standin.control(
        "POST",
        "/_standin/fail",
        &format!(r#"{{"status":404,"path_prefix":"{REPO_PATH}/deployments","method":"POST"}}"#),
    );
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), &standin.url());
    let id = local_deployment(&c);
    let r = run_events(&c, deploy_events(id, 'a', 'b', DeployStatus::Succeeded)).await;
    assert_eq!(r.lines.len(), 1, "{:?}", r.lines);
    assert!(
        r.lines[0].contains("the token needs `deployments: write`"),
        "{:?}",
        r.lines
    );
    // One create was tried; no status was sent for a deployment that does not exist.
    assert_eq!(requests(&standin).len(), 1);
    let store = Store::open(&c.deployment.state_dir).unwrap();
    let left = store.gh_undelivered(id).unwrap();
    assert!(left.iter().all(|u| u.outcome == "dropped"), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_queues_the_statuses_history_shows_them_and_a_later_flush_sends_them_in_order() {
    let standin = GithubStandin::start(&[]);
    standin.control(
        "POST",
        "/_standin/fail",
        &format!(r#"{{"status":503,"path_prefix":"{REPO_PATH}/deployments"}}"#),
    );
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), &standin.url());
    let id = local_deployment(&c);
    let started = std::time::Instant::now();
    let r = run_events(&c, deploy_events(id, 'a', 'b', DeployStatus::Succeeded)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        r.lines.is_empty(),
        "an outage is not a warning: {:?}",
        r.lines
    );
    let store = Store::open(&c.deployment.state_dir).unwrap();
    let left = store.gh_undelivered(id).unwrap();
    let states: Vec<(&str, &str)> = left
        .iter()
        .map(|u| (u.status.as_str(), u.outcome.as_str()))
        .collect();
    assert_eq!(
        states,
        vec![("in_progress", "queued"), ("success", "queued")]
    );
    assert!(
        left[0].error.as_deref().unwrap_or_default().contains("503"),
        "{left:?}"
    );

    // `history`, text and JSON, says what GitHub has not got.
    let cfg = write_file(
        dir.path(),
        "c.toml",
        &format!(
            "[deployment]\nstate_dir = \"{}\"\n",
            c.deployment.state_dir.display()
        ),
    );
    let text = run_ok(bin().arg("--config").arg(&cfg).arg("history"));
    assert!(
        text.contains(&format!(
            "#{id}: GitHub status in_progress (deployment {id}) not delivered: queued"
        )),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&run_ok(
        bin().arg("--config").arg(&cfg).args(["history", "--json"]),
    ))
    .unwrap();
    assert_eq!(json[0]["github_undelivered"][1]["status"], "success");
    assert_eq!(json[0]["github_undelivered"][1]["outcome"], "queued");

    // GitHub is back. `watch`'s tick sends only what its backoff allows: nothing yet (the
    // last attempt was just now), so not one request.
    standin.control("POST", "/_standin/fail", r#"{"clear":true}"#);
    standin.control("POST", "/_standin/reset", "{}");
    let mut ticking = c.clone();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "test-token\n").unwrap();
    std::fs::set_permissions(
        &token_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    ticking.github.token_file = token_file.display().to_string();
    assert_eq!(
        gh_deployments::flush_pending(&ticking).await,
        Vec::<String>::new()
    );
    assert_eq!(requests(&standin), vec![], "backoff holds the retry");
    // The end of the next deploy sends all of it (due or not), in order.
    let flushed = gh_deployments::flush(&std::sync::Mutex::new(store), &gh(&c), true)
        .await
        .unwrap();
    assert_eq!(flushed.sent, 3, "{flushed:?}");
    assert_eq!(
        requests(&standin),
        vec![
            post("/deployments", create('b', "deploy main-bbbbbbb by op")),
            post(
                "/deployments/1/statuses",
                status("in_progress", "recreate of main-bbbbbbb")
            ),
            post(
                "/deployments/1/statuses",
                status("success", "main-bbbbbbb is live")
            ),
        ]
    );
    let store = Store::open(&c.deployment.state_dir).unwrap();
    assert_eq!(store.gh_undelivered(id).unwrap(), vec![]);
}

/// The real engine, compose project and registry; GitHub is the stand-in and the Telegram Bot
/// API a local receiver. The bot token appears in no output, log or store.
#[test]
fn a_real_deploy_is_recorded_on_github_and_announced_without_leaking_the_token() {
    let env = testenv();
    let stack = Stack::up(
        "elt-test-ghdeploy",
        1,
        &[1, 2, 3],
        "/nonexistent/libnvml.so",
    );
    let tg = receiver::Receiver::start(&[]);
    // A second target that never answers: the deploy must not wait for it.
    let hang = receiver::Receiver::start(&[receiver::Reply::Hang, receiver::Reply::Hang]);
    let text = std::fs::read_to_string(&stack.config).unwrap();
    let text = text.replacen(
        "[github]\n",
        "[github]\nenvironment = \"staging\"\nenvironment_url = \"https://elt.example.org\"\n",
        1,
    ) + &format!(
        "\n[[notify]]\nname = \"ops\"\nformat = \"telegram\"\nsecret_env = \"ELT_TEST_TG_TOKEN\"\nchat_id = \"-100777\"\napi_url = \"{}\"\n\n[[notify]]\nname = \"slow\"\nformat = \"webhook\"\nsecret_env = \"ELT_TEST_HOOK\"\ntimeout_ms = 60000\n",
        tg.url("")
    );
    std::fs::write(&stack.config, text).unwrap();
    let token = "777:TOPSECRETtelegramTOKENvalue";
    let hook = hang.url("/hook/TOPSECREThookPATH");
    let state = tempfile::tempdir().unwrap();
    let mut child = bin()
        .arg("--config")
        .arg(&stack.config)
        .args(["deploy", "--yes", "--json", env.tag(2)])
        .env("GH_TOKEN", "test-token")
        .env("ELT_TEST_TG_TOKEN", token)
        .env("ELT_TEST_HOOK", &hook)
        .env("XDG_STATE_HOME", state.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Each stdout line with when it came; the process's end after the `finished` line is what
    // a hanging receiver could stretch.
    let mut lines = Vec::new();
    let mut finished_at = None;
    for line in std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap())) {
        let line = line.unwrap();
        if line.contains("\"event\":\"finished\"") {
            finished_at = Some(std::time::Instant::now());
        }
        lines.push(line);
    }
    let mut err_text = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err_text).unwrap();
    let status = child.wait().unwrap();
    let tail = finished_at.expect("a finished event").elapsed();
    eprintln!("hanging receiver: the process ended {tail:?} after the deploy's finished event");
    let stdout = lines.join("\n");
    let stderr = err_text;
    assert!(status.success(), "{stdout}\n{stderr}");
    assert!(
        tail < Duration::from_millis(4500),
        "the exit waited {tail:?} for a hanging receiver"
    );
    assert!(
        stderr.contains("still waiting for their receiver at exit"),
        "{stderr}"
    );
    assert_eq!(hang.wait_for(2, Duration::from_secs(10)).len(), 2);

    let deployments = stack.github.control("GET", "/_standin/deployments", "");
    let d = &deployments[0];
    assert_eq!(d["sha"], env.sha(2), "{deployments:#}");
    assert_eq!(d["environment"], "staging");
    let states: Vec<&str> = d["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, vec!["in_progress", "success"], "{d:#}");
    assert_eq!(
        d["statuses"][1]["environment_url"],
        "https://elt.example.org"
    );

    let got = tg.wait_for(2, Duration::from_secs(10));
    assert!(
        got.iter()
            .all(|r| r.path == format!("/bot{token}/sendMessage")),
        "{got:?}"
    );
    let texts: Vec<String> = got
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(texts.iter().any(|t| t.contains("succeeded")), "{texts:?}");
    assert!(got.iter().all(|r| r.json()["chat_id"] == "-100777"));

    // The token is nowhere but in the requests to the receiver.
    let mut haystack = format!("{stdout}{stderr}").into_bytes();
    for root in [state.path(), &stack.project.dir.path().join("state")] {
        for f in walk(root) {
            haystack.extend(std::fs::read(f).unwrap_or_default());
        }
    }
    let secret = "TOPSECRETtelegram";
    assert!(
        !haystack
            .windows(secret.len())
            .any(|w| w == secret.as_bytes()),
        "the bot token leaked"
    );
}

fn walk(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The dashboard's list of the environment's GitHub deployments, at a pinned clock; the state's
/// colour is checked on its cell (the snapshot holds text only).
#[test]
fn the_deployments_list_draws_state_commit_age_and_who() {
    use chrono::TimeZone;
    use elt_console::sources::github::DeploymentView;
    use elt_console::ui::panels::gh_deployments::{DeploymentsList, draw};
    use ratatui::{Terminal, backend::TestBackend, style::Color};
    let now = chrono::Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).unwrap();
    let item = |id: u64, c: char, state: &str, mins: i64, who: &str, what: &str| DeploymentView {
        id,
        sha: sha(c),
        environment: "production".into(),
        description: Some(what.into()),
        creator: Some(who.into()),
        created_at: now - chrono::Duration::minutes(mins + 1),
        state: Some(state.into()),
        state_at: Some(now - chrono::Duration::minutes(mins)),
    };
    let list = DeploymentsList {
        environment: "production".into(),
        items: vec![
            item(
                3,
                'c',
                "success",
                2,
                "ci-bot",
                "deploy main-ccccccc by deploy",
            ),
            item(
                2,
                'b',
                "failure",
                90,
                "alice",
                "deploy main-bbbbbbb by alice",
            ),
            item(
                1,
                'a',
                "inactive",
                60 * 26,
                "alice",
                "deploy main-aaaaaaa by alice",
            ),
        ],
        loaded_at: Some(now - chrono::Duration::seconds(30)),
        error: None,
    };
    let mut t = Terminal::new(TestBackend::new(80, 6)).unwrap();
    t.draw(|f| draw(f, f.area(), &list, now, true)).unwrap();
    let buf = t.backend().buffer().clone();
    let text: Vec<String> = (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect();
    insta::assert_snapshot!("deployments_list_80x6", text.join("\n"));
    assert_eq!(buf[(1, 2)].fg, Color::Green, "success is green");
    assert_eq!(buf[(1, 3)].fg, Color::Red, "failure is red");
}
