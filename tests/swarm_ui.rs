//! The dashboard on a Swarm deployment, against the real single-node swarm that
//! scripts/testenv.sh runs (ELT_TEST_SWARM_DOCKER_HOST): the stack collector reads a stack with
//! a GPU-reserving service and a failing one and the panels show its services, tasks and the
//! node's GPUs; and the binary in tmux shows the services and follows a task's logs.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/dashboard.rs"]
mod dashboard;
#[path = "common/swarm_service.rs"]
mod swarm_service;
#[path = "common/tmux.rs"]
mod tmux;
use common::*;
use dashboard::settings;
use elt_console::collect::Update;
use elt_console::domain::{GenericResource, SwarmStackView};
use elt_console::ui::app::{App, AppSettings, Fresh, Msg, update};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use std::sync::Arc;
use std::time::Duration;
use swarm_service::{TestService, digest_ref, swarm_host};
use tmux::Tmux;

// The stack publishes no port here: no endpoints to ask (the config has no health).
fn write_config(dir: &std::path::Path, stack: &str) -> std::path::PathBuf {
    write_swarm_config(
        dir,
        stack,
        testenv().image(),
        &swarm_host(),
        testenv().get("ELT_TEST_REGISTRY"),
        r#"[github]
# Nothing listens here: the runs panel fails at once, the rest is read.
api_url = "http://127.0.0.1:9""#,
    )
}

fn swarm_app() -> App {
    let mut app = App::new(
        AppSettings {
            host: "test".into(),
            project: "elt-swui-gpu".into(),
            ..settings()
        },
        chrono::Utc::now(),
    );
    app.swarm = Some(Fresh::default());
    app
}

fn screen_text(buffer: &ratatui::buffer::Buffer) -> String {
    (0..buffer.area.height)
        .map(|y| {
            (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_collector_reads_a_gpu_stack_and_the_panels_show_its_services_tasks_and_gpus() {
    const STACK: &str = "elt-swui-gpu";
    let app_service = TestService::start(
        STACK,
        "app",
        &digest_ref(1),
        &["--generic-resource", "NVIDIA-GPU=1"],
        &[],
    );
    // A migration that fails, once: a failed task with Swarm's error.
    let _bot = TestService::start(
        STACK,
        "bot",
        &digest_ref(1),
        &[
            "--env",
            "STUB_MIGRATE_FAIL=1",
            "--restart-condition",
            "none",
        ],
        &["migrate"],
    );
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(dir.path(), STACK);
    let config = elt_console::config::load(&elt_console::config::Sources {
        files: vec![(file, true)],
        env: vec![],
    })
    .unwrap()
    .config;
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let cancel = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(elt_console::collect::swarm_stack_task(
        Arc::new(config),
        tx,
        cancel.clone(),
    ));
    // Read after read until the app runs on its GPU and the bot has failed.
    let ready = |v: &SwarmStackView| {
        v.tasks.iter().any(|t| {
            t.service == app_service.name
                && t.is_running()
                && matches!(&t.assigned[..], [GenericResource::Named { kind, .. }] if kind == "NVIDIA-GPU")
        }) && v.tasks.iter().any(|t| t.state == "failed")
    };
    let view = tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            match rx.recv().await.expect("the collector runs") {
                Update::Swarm(read) => match *read {
                    Ok(v) if ready(&v) => return v,
                    Ok(_) => {}
                    Err(e) => panic!("the stack could not be read: {e}"),
                },
                other => panic!("not a stack read: {other:?}"),
            }
        }
    })
    .await
    .expect("the app running on a GPU and the bot failed within 90 s");
    cancel.cancel();
    task.await.unwrap();
    let gpu = view
        .tasks
        .iter()
        .find_map(|t| match &t.assigned[..] {
            [GenericResource::Named { value, .. }] if t.is_running() => Some(value.clone()),
            _ => None,
        })
        .unwrap();

    let mut app = swarm_app();
    let (fx, _) = update(
        &mut app,
        Msg::Collected(Update::Swarm(Box::new(Ok(view.clone())))),
        chrono::Utc::now(),
    );
    // The logs panel follows the app's running task.
    let running = view
        .tasks
        .iter()
        .find(|t| t.service == app_service.name && t.is_running())
        .unwrap();
    assert!(
        fx.iter().any(|e| matches!(e, elt_console::ui::app::Effect::FollowLogs { container_id, .. } if *container_id == running.id)),
        "{fx:?}"
    );
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    terminal
        .draw(|f| elt_console::ui::draw::draw(f, &app))
        .unwrap();
    let buffer = terminal.backend().buffer().clone();
    let screen = screen_text(&buffer);
    assert!(screen.contains(&format!("stack {STACK}")), "{screen}");
    assert!(
        screen.contains("app              replicated 1/1"),
        "{screen}"
    );
    assert!(
        screen.contains("bot              replicated 0/1"),
        "{screen}"
    );
    assert!(screen.contains("└ app.1          ● running"), "{screen}");
    // The failed task, in red, with Swarm's error.
    let (y, line) = screen
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("✖ failed"))
        .unwrap_or_else(|| panic!("no failed task:\n{screen}"));
    assert!(line.contains("task: non-zero exit"), "{screen}");
    let x = line[..line.find("✖ failed").unwrap()].chars().count() as u16;
    assert_eq!(buffer[(x, y as u16)].fg, Color::Red);
    // The node with every GPU it advertises, and the one the app's task holds.
    let node = &view.nodes[0];
    assert!(
        screen.contains(&format!("{} manager★ active ready", node.hostname)),
        "{screen}"
    );
    let gpu_lines = screen.matches("NVIDIA-GPU GPU-").count();
    assert_eq!(
        gpu_lines,
        testenv().get("ELT_TEST_SWARM_GPUS").split(',').count(),
        "{screen}"
    );
    let held = format!("→ {}.1", app_service.name);
    let holder = screen
        .lines()
        .find(|l| l.contains(&held))
        .unwrap_or_else(|| panic!("no GPU held by the app:\n{screen}"));
    // The GPU is shortened in the middle: its ends name it.
    assert!(
        holder.contains(&gpu[..12]) && holder.contains(&gpu[gpu.len() - 6..]),
        "{gpu}: {holder}"
    );
}

#[test]
fn the_dashboard_on_a_swarm_stack_shows_its_services_and_follows_a_tasks_logs() {
    const STACK: &str = "elt-swui-tmux";
    let _app = TestService::start(STACK, "app", &digest_ref(1), &[], &[]);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), STACK);
    let binary = env!("CARGO_BIN_EXE_elt-console");
    let tmux = Tmux::start(
        "elt-ui-swarm",
        200,
        50,
        &format!(
            "env -u GH_TOKEN -u GITHUB_TOKEN XDG_CONFIG_HOME=/nonexistent XDG_STATE_HOME={} {binary} --config {}; echo EXIT=$?; sleep 60",
            dir.path().display(),
            config.display()
        ),
    );
    let screen = tmux.wait_screen(
        "the stack's service, its task and the task's logs",
        Duration::from_secs(60),
        |s| {
            s.contains(&format!("stack {STACK}"))
                && s.contains("app              replicated 1/1")
                && s.contains("└ app.1          ● running")
                && s.contains(&format!("Logs  {STACK}_app.1 following"))
                && s.contains("stub-app v1 tick n=")
        },
    );
    assert!(screen.contains("swarm nodes"), "{screen}");
    // Enter on the task: its details; the logs panel's search works on the task's lines.
    tmux.keys(&["j", "Enter"]);
    tmux.wait_screen("the task's details", Duration::from_secs(5), |s| {
        s.contains(&format!("task {STACK}_app.1")) && s.contains("desired state")
    });
    tmux.keys(&["Escape", "6", "/"]);
    tmux.literal("tick n=2 ");
    tmux.keys(&["Enter"]);
    tmux.wait_screen("a search in the task's logs", Duration::from_secs(5), |s| {
        s.contains("/tick n=2  (1 match)")
    });
    tmux.keys(&["q"]);
    tmux.wait_screen("exit", Duration::from_secs(5), |s| s.contains("EXIT=0"));
}
