//! The dashboard's hosts probe against a real engine and one that hangs: an engine socket that
//! accepts connections and never answers. The real engine's row is refreshed on its own beat
//! while the hung host's probe is still waiting, and the hung host ends DOWN with the reason.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use elt_console::ui::app::Msg;
use elt_console::ui::hosts_live::{PROBE_INTERVAL, probe_task};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_engine_holds_back_no_other_host_and_ends_down_with_its_reason() {
    let env = testenv();
    let dir = tempfile::tempdir().unwrap();
    // Accepts, reads nothing, answers nothing: a wedged engine.
    let hung = dir.path().join("hung.sock");
    let listener = tokio::net::UnixListener::bind(&hung).unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    // The engine's request timeout outlasts a probe interval: the hung probe is still
    // waiting when the real engine's second probe comes.
    let request_timeout = PROBE_INTERVAL + Duration::from_secs(4);
    let config = write_file(
        dir.path(),
        "config.toml",
        &format!(
            r#"[deployment]
project = "elt-probe-none"
state_dir = "{state}"

[docker]
request_timeout_ms = {timeout}

[github]
api_url = "http://127.0.0.1:9"

[registry]
request_timeout_ms = 1000

[gpu]
nvml_library = "/nonexistent/libnvidia-ml.so.1"

[[hosts]]
name = "main"
endpoint = "{main}"

[[hosts]]
name = "hung"
endpoint = "unix://{hung}"
"#,
            state = dir.path().join("state").display(),
            timeout = request_timeout.as_millis(),
            main = env.get("ELT_TEST_DOCKER_HOST"),
            hung = hung.display(),
        ),
    );
    let loaded = elt_console::config::load(&elt_console::config::Sources {
        files: vec![(config, true)],
        env: vec![],
    })
    .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(probe_task(
        Arc::new(loaded.config),
        tx,
        Arc::new(Notify::new()),
        cancel.clone(),
    ));

    let started = Instant::now();
    let mut main_probes = 0;
    let hung_answer = loop {
        let msg = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .expect("a probe's answer within 60 s")
            .expect("the probe task runs");
        match msg {
            Msg::HostProbed(s) if s.name == "main" => {
                assert!(s.reachable, "{s:?}");
                main_probes += 1;
            }
            Msg::HostProbed(s) if s.name == "hung" => break *s,
            Msg::HostProbeFailed { name, error } => panic!("{name}: {error}"),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(
        main_probes >= 2,
        "the real engine was probed again while the hung one waited ({main_probes} probes in {:?})",
        started.elapsed()
    );
    assert!(!hung_answer.reachable, "{hung_answer:?}");
    let why = hung_answer
        .report
        .as_ref()
        .and_then(|r| r.containers.error().map(str::to_string))
        .or(hung_answer.error.clone())
        .unwrap_or_default();
    assert!(why.contains("hung.sock"), "{why}");
    cancel.cancel();
    task.await.unwrap();
    held.abort();
}
