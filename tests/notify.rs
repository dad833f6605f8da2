//! `[[notify]]` targets against a local HTTP receiver: delivered once, retried on 5xx, a 4xx
//! reported, a hanging receiver never holding up the deploy's events, and the secret (webhook
//! URL, bot token) in no report, audit line or store. Config errors name the key and the line.
//! No Docker here: the events are those a deploy emits (tests/engine_fake.rs maps the fake
//! engine's own events; tests/gh_deployments.rs runs a real deploy).

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/receiver.rs"]
mod receiver;

use elt_console::config::Config;
use elt_console::deploy::{DeployEvent, StepState};
use elt_console::notify::{NotifyFormat, NotifyOn, NotifyTarget};
use elt_console::store::{DeployKind, DeployStatus, ImageSide, Store};
use elt_console::subscribers::{Report, attach_with};
use receiver::{Receiver, Reply};
use std::time::{Duration, Instant};

const BOT_TOKEN: &str = "4242:SECRETbotTOKENabcdefghijklmnop";

fn target(format: NotifyFormat, name: &str) -> NotifyTarget {
    NotifyTarget {
        name: name.into(),
        format,
        secret_env: "HOOK_SECRET".into(),
        secret_file: String::new(),
        chat_id: if format == NotifyFormat::Telegram {
            "-1001234567890".into()
        } else {
            String::new()
        },
        api_url: "https://api.telegram.org".into(),
        events: vec![
            NotifyOn::Started,
            NotifyOn::Finished,
            NotifyOn::AutoRollback,
        ],
        timeout_ms: 2000,
        attempts: 3,
    }
}

fn config(dir: &std::path::Path, targets: Vec<NotifyTarget>) -> Config {
    let mut c = elt_console::config::defaults();
    c.deployment.state_dir = dir.join("state");
    c.github.deployments = false;
    c.notify = targets;
    c
}

fn side(tag: &str, sha: char) -> ImageSide {
    ImageSide {
        image: Some(format!("ghcr.io/o/app:{tag}")),
        tag: Some(elt_console::domain::Tag::parse(tag).unwrap()),
        sha: Some(elt_console::domain::CommitSha::parse(&sha.to_string().repeat(40)).unwrap()),
        ..Default::default()
    }
}

/// What a deploy of main-bbbbbbb that ends `status` emits, in the engine's order.
fn deploy_events(status: DeployStatus) -> Vec<DeployEvent> {
    let step = |name: &'static str, state: StepState, summary: &str| DeployEvent::Step {
        seq: 1,
        name,
        state,
        duration_ms: Some(1),
        summary: summary.into(),
    };
    vec![
        DeployEvent::Started {
            deployment_id: Some(7),
            kind: DeployKind::Deploy,
            target: "main-bbbbbbb".into(),
            actor: "op (pid 1 on host)".into(),
            runtime: "test".into(),
        },
        step("lock", StepState::Ok, "held"),
        DeployEvent::Sides {
            from: side("main-aaaaaaa", 'a'),
            to: Some(side("main-bbbbbbb", 'b')),
        },
        step("recreate", StepState::Running, ""),
        step("recreate", StepState::Ok, "recreated"),
        DeployEvent::Finished {
            deployment_id: Some(7),
            status,
            message: "done".into(),
            downtime_ms: Some(1200),
            duration_ms: 5000,
        },
    ]
}

/// Feed `events` through the subscribers as the engine would; returns when the printer's side
/// got the last one, with how long that took, and the report after `finish`.
async fn run(config: &Config, secret: &str, events: Vec<DeployEvent>) -> (Duration, Report) {
    let secret = secret.to_string();
    let env = move |v: &str| (v == "HOOK_SECRET").then(|| secret.clone());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (mut out, subscribers) = attach_with(config, None, &env, rx, Vec::new());
    let n = events.len();
    let t = Instant::now();
    for e in events {
        tx.send(e).unwrap();
    }
    drop(tx);
    let mut got = 0;
    while out.recv().await.is_some() {
        got += 1;
    }
    let forwarded = t.elapsed();
    assert_eq!(got, n, "every event reaches the printer");
    (forwarded, subscribers.finish().await)
}

fn store_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for e in std::fs::read_dir(dir.join("state")).unwrap() {
        all.extend(std::fs::read(e.unwrap().path()).unwrap());
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn a_webhook_gets_each_notice_once_with_the_documented_body() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(&[]);
    let secret = rx.url("/hooks/T000/B000/XXXXsecretXXXX");
    let c = config(dir.path(), vec![target(NotifyFormat::Webhook, "ops")]);
    let (_, report) = run(&c, &secret, deploy_events(DeployStatus::Succeeded)).await;
    assert!(report.lines.is_empty(), "{:?}", report.lines);
    let got = rx.wait_for(2, Duration::from_secs(10));
    assert_eq!(got.len(), 2, "started and finished, once each: {got:?}");
    let mut bodies: Vec<serde_json::Value> = got.iter().map(|r| r.json()).collect();
    bodies.sort_by_key(|b| b["event"].as_str().unwrap_or_default().to_string());
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].path, "/hooks/T000/B000/XXXXsecretXXXX");
    let finished = &bodies[0];
    assert_eq!(finished["event"], "finished");
    assert_eq!(bodies[1]["event"], "started");
    // The keys docs/status-json.md documents for the webhook body.
    for key in [
        "version",
        "event",
        "deployment_id",
        "kind",
        "target",
        "actor",
        "host",
        "project",
        "environment",
        "status",
        "message",
        "from",
        "to",
        "failed_step",
        "duration_ms",
        "downtime_ms",
        "at",
    ] {
        assert!(finished.get(key).is_some(), "no {key}: {finished:#}");
    }
    assert_eq!(finished["status"], "succeeded");
    assert_eq!(finished["to"]["sha"], "b".repeat(40));
    assert_eq!(finished["downtime_ms"], 1200);
    let store = Store::open(&dir.path().join("state")).unwrap();
    assert_eq!(store.count_audit("notify", "delivered").unwrap(), 2);
    assert!(!contains(&store_bytes(dir.path()), "XXXXsecretXXXX"));
}

#[tokio::test]
async fn a_5xx_is_retried_and_then_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(&[Reply::Status(503), Reply::Status(502)]);
    let secret = rx.url("/slack/secret-path");
    let mut t = target(NotifyFormat::Slack, "slack");
    t.events = vec![NotifyOn::Finished];
    let c = config(dir.path(), vec![t]);
    let (_, report) = run(&c, &secret, deploy_events(DeployStatus::Succeeded)).await;
    assert!(report.lines.is_empty(), "{:?}", report.lines);
    let got = rx.wait_for(3, Duration::from_secs(10));
    assert_eq!(got.len(), 3, "two 5xx, then the delivery: {got:?}");
    assert!(got.iter().all(|r| r.body == got[0].body), "the same notice");
    let body = got[2].json();
    assert!(
        body["text"].as_str().unwrap().contains("succeeded"),
        "{body}"
    );
    assert_eq!(body["blocks"][0]["type"], "section");
    assert_eq!(report.deliveries.len(), 1);
    assert_eq!(report.deliveries[0].attempts, 3);
    assert_eq!(report.deliveries[0].error, None);
}

#[tokio::test]
async fn a_4xx_is_reported_once_without_retry_and_without_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(&[Reply::Status(403)]);
    let mut t = target(NotifyFormat::Telegram, "tg");
    t.api_url = rx.url("");
    t.events = vec![NotifyOn::Started];
    let c = config(dir.path(), vec![t]);
    let (_, report) = run(&c, BOT_TOKEN, deploy_events(DeployStatus::Succeeded)).await;
    let got = rx.wait_for(1, Duration::from_secs(10));
    assert_eq!(got.len(), 1, "a 4xx is not retried");
    assert_eq!(got[0].path, format!("/bot{BOT_TOKEN}/sendMessage"));
    assert_eq!(got[0].json()["chat_id"], "-1001234567890");
    let text = report.lines.join("\n");
    assert!(
        text.contains("notify tg (telegram → 127.0.0.1): started not delivered: HTTP 403"),
        "{text}"
    );
    assert!(!text.contains("SECRETbot"), "{text}");
    let store = Store::open(&dir.path().join("state")).unwrap();
    assert_eq!(store.count_audit("notify", "failed").unwrap(), 1);
    assert!(!contains(&store_bytes(dir.path()), "SECRETbot"));
}

#[tokio::test]
async fn a_hanging_receiver_delays_neither_the_events_nor_the_exit_beyond_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(&[Reply::Hang, Reply::Hang, Reply::Hang]);
    let secret = rx.url("/hang/secret");
    let mut t = target(NotifyFormat::Webhook, "slow");
    // One attempt may take 60 s; the exit waits at most 3 s for it.
    t.timeout_ms = 60_000;
    t.attempts = 1;
    let c = config(dir.path(), vec![t]);
    let t0 = Instant::now();
    let (forwarded, report) = run(&c, &secret, deploy_events(DeployStatus::Succeeded)).await;
    let total = t0.elapsed();
    rx.wait_for(2, Duration::from_secs(10));
    eprintln!(
        "hanging receiver: events forwarded in {forwarded:?}, finish returned after {total:?}"
    );
    assert!(
        forwarded < Duration::from_millis(500),
        "the events waited for the receiver: {forwarded:?}"
    );
    assert!(
        total < Duration::from_secs(5),
        "the exit waited past its bound: {total:?}"
    );
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.contains("still waiting for their receiver")),
        "{:?}",
        report.lines
    );
}

#[tokio::test]
async fn a_missing_secret_skips_the_target_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), vec![target(NotifyFormat::Slack, "")]);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (mut out, s) = attach_with(&c, None, &|_| None, rx, Vec::new());
    for e in deploy_events(DeployStatus::Failed) {
        tx.send(e).unwrap();
    }
    drop(tx);
    while out.recv().await.is_some() {}
    let report = s.finish().await;
    assert_eq!(
        report.lines,
        vec![
            "notify: notify[0]: environment variable HOOK_SECRET is not set; this target is skipped"
        ]
    );
}

#[test]
fn config_errors_name_the_key_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let load = |text: &str| {
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        elt_console::config::load(&elt_console::config::Sources {
            files: vec![(path, true)],
            env: vec![],
        })
        .map(|l| l.config)
    };
    let e = load("[[notify]]\nformat = \"telegram\"\nsecret_env = \"TG\"\nchat_id = \"12ab\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("c.toml:4:1: key `notify[0].chat_id`"), "{e}");
    let e = load("[[notify]]\nformat = \"slack\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("notify[0].secret_env"), "{e}");
    let e = load("[[notify]]\nformat = \"smoke-signal\"\nsecret_env = \"X\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("notify[0].format") && e.contains("unknown variant"),
        "{e}"
    );
    let e = load("[github]\nenvironment_url = \"not a url\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("github.environment_url"), "{e}");
    let ok = load(
        "[[notify]]\nformat = \"telegram\"\nsecret_file = \"/etc/elt/tg\"\nchat_id = \"@ops_channel\"\nevents = [\"finished\"]\n",
    )
    .unwrap();
    assert_eq!(ok.notify[0].events, vec![NotifyOn::Finished]);
}

#[test]
fn a_secret_file_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hook");
    std::fs::write(&path, "http://127.0.0.1:9/secret-in-file\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut t = target(NotifyFormat::Webhook, "");
    t.secret_env.clear();
    t.secret_file = path.display().to_string();
    let e = elt_console::notify::Receiver::resolve(0, &t, &|_| None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("readable by group or others") && !e.contains("secret-in-file"),
        "{e}"
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = elt_console::notify::Receiver::resolve(0, &t, &|_| None).unwrap();
    assert_eq!(r.shown, "notify[0] (webhook → 127.0.0.1)");
}

/// `config check` reads each target's secret and says what it would send to, or why not,
/// without printing the secret.
#[test]
fn config_check_checks_the_secrets_without_showing_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[[notify]]\nname = \"ops\"\nformat = \"slack\"\nsecret_env = \"ELT_TEST_HOOK\"\n",
    )
    .unwrap();
    let check = |secret: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_elt-console"))
            .args(["config", "check"])
            .arg(&cfg)
            .env("XDG_CONFIG_HOME", "/nonexistent-elt-test-config")
            .env("ELT_TEST_HOOK", secret)
            .output()
            .unwrap()
    };
    let good = check("https://hooks.example.org/services/T0/B0/goodSECRET");
    let out = String::from_utf8_lossy(&good.stdout);
    assert!(good.status.success(), "{out}");
    assert!(
        out.contains("notify ops (slack → hooks.example.org): ok"),
        "{out}"
    );
    assert!(!out.contains("goodSECRET"));
    let bad = check("hooks.example.org/badSECRET");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(78), "{err}");
    assert!(
        err.contains("ops: the webhook URL in environment variable ELT_TEST_HOOK: not a URL"),
        "{err}"
    );
    assert!(!err.contains("badSECRET"), "{err}");
}
