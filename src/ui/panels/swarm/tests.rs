//! The Swarm panels on ratatui's TestBackend with a pinned clock: a failed task with its
//! error (in red), a node with its NVIDIA-GPU resources and who holds them, and the logs
//! following a task.

use super::*;
use crate::collect::Update;
use crate::domain::SwarmUpdateStatus;
use crate::ui::app::test_support::{settings, t0};
use crate::ui::model::Msg;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;

const DIGEST: &str = "sha256:4f5e6d7c8b9a00112233445566778899aabbccddeeff00112233445566778899";
const GPU0: &str = "GPU-0a1b2c3d";
const GPU1: &str = "GPU-9f8e7d6c";

fn swarm_app() -> App {
    let mut app = App::new(settings(), t0());
    app.swarm = Some(Fresh::default());
    app
}

fn task(id: &str, slot: i64, state: &str, desired: &str, minutes: i64) -> SwarmTaskView {
    SwarmTaskView {
        id: id.repeat(25 / id.len() + 1)[..25].to_string(),
        service: "elt_app".into(),
        slot: Some(slot),
        node_id: Some("node1".into()),
        node: Some("gpu-a".into()),
        state: state.into(),
        desired_state: desired.into(),
        message: None,
        error: None,
        container_id: None,
        exit_code: None,
        image: format!("ghcr.io/acme/app:main-0a1b2c3@{DIGEST}"),
        since: Some(t0() - chrono::Duration::minutes(minutes)),
        assigned: vec![],
    }
}

fn stack() -> SwarmStackView {
    let mut running = task("r", 1, "running", "running", 3);
    running.assigned = vec![GenericResource::Named {
        kind: "NVIDIA-GPU".into(),
        value: GPU0.into(),
    }];
    let mut crashed = task("f", 1, "failed", "shutdown", 5);
    crashed.error = Some("task: non-zero exit (1)".into());
    crashed.exit_code = Some(1);
    SwarmStackView {
        stack: "elt".into(),
        services: vec![SwarmServiceView {
            id: "svc1".into(),
            name: "elt_app".into(),
            image: format!("ghcr.io/acme/app:main-0a1b2c3@{DIGEST}"),
            replicas: Some(1),
            running: 1,
            update: Some(SwarmUpdateStatus {
                state: SwarmUpdateState::RollbackCompleted,
                message: Some(
                    "update rolled back due to failure or early termination of task x".into(),
                ),
                started_at: None,
                completed_at: None,
            }),
            reserved: vec![GenericResource::Discrete {
                kind: "NVIDIA-GPU".into(),
                count: 1,
            }],
        }],
        tasks: vec![crashed, running],
        nodes: vec![SwarmNodeView {
            id: "node1".into(),
            hostname: "gpu-a".into(),
            role: "manager".into(),
            availability: "active".into(),
            state: "ready".into(),
            leader: true,
            addr: None,
            engine_version: Some("20.10.24".into()),
            resources: vec![
                GenericResource::Named {
                    kind: "NVIDIA-GPU".into(),
                    value: GPU0.into(),
                },
                GenericResource::Named {
                    kind: "NVIDIA-GPU".into(),
                    value: GPU1.into(),
                },
            ],
        }],
    }
}

fn render(app: &App) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(160, 45)).unwrap();
    terminal.draw(|f| crate::ui::draw::draw(f, app)).unwrap();
    terminal.backend().buffer().clone()
}

fn text(buffer: &Buffer) -> String {
    let area = buffer.area;
    (0..area.height)
        .map(|y| {
            (0..area.width)
                .map(|x| buffer[(x, y)].symbol())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where `needle` starts on screen (column, row).
fn find(buffer: &Buffer, needle: &str) -> (u16, u16) {
    let screen = text(buffer);
    for (y, line) in screen.lines().enumerate() {
        if let Some(at) = line.find(needle) {
            return (line[..at].chars().count() as u16, y as u16);
        }
    }
    panic!("{needle:?} not on screen:\n{screen}")
}

fn loaded() -> (App, Vec<Effect>) {
    let mut app = swarm_app();
    let (fx, changed) = crate::ui::app::update(
        &mut app,
        Msg::Collected(Update::Swarm(Box::new(Ok(stack())))),
        t0(),
    );
    assert!(changed);
    (app, fx)
}

#[test]
fn services_and_their_tasks_show_with_a_failed_task_in_red_and_its_error() {
    let (app, _) = loaded();
    let buffer = render(&app);
    let screen = text(&buffer);
    assert!(screen.contains("stack elt"), "{screen}");
    // Read on a beat, not kept live by events: the title says when.
    assert!(
        screen.contains("1 Containers  just now  stack elt"),
        "{screen}"
    );
    assert!(
        screen.contains("gpu-server · stack elt · running main-0a1b2c3@4f5e6d7c8b9a (1/1)"),
        "{screen}"
    );
    assert!(screen.contains("replicated 1/1"), "{screen}");
    // The tag and the digest's start, and Swarm's update state with its message.
    assert!(screen.contains("main-0a1b2c3@4f5e6d7c8b9a"), "{screen}");
    assert!(screen.contains("rolled back: update rolled"), "{screen}");
    assert!(screen.contains("● running"), "{screen}");
    // The failed task: state, desired state, node, age, exit code and error, in red.
    let (x, y) = find(&buffer, "✖ failed");
    assert_eq!(buffer[(x, y)].fg, Color::Red, "{screen}");
    let (ex, ey) = find(
        &buffer,
        "task: non-zero exit (1) · exit 1 · want shutdown · gpu-a",
    );
    assert_eq!(ey, y);
    assert_eq!(buffer[(ex, ey)].fg, Color::Red);
    // The running task comes first under its service (the current before the past).
    let (_, running_y) = find(&buffer, "● running");
    assert!(running_y < y);
    // No compose-project text: the stack replaced it.
    assert!(!screen.contains("no containers in project"), "{screen}");
    // A commit tag's full sha is shortened in the middle: the update state stays in sight.
    let mut app = app;
    if let Some(view) = app.swarm.as_mut().and_then(|f| f.data.as_mut()) {
        view.services[0].image =
            format!("ghcr.io/acme/app:main-2af620c8d8e21fec0444c3e505b830006d6e11fa@{DIGEST}");
    }
    let screen = text(&render(&app));
    assert!(
        screen.contains("main-2af620c…0006d6e11fa@4f5e6d7c8b9a · rolled back: upd"),
        "{screen}"
    );
}

#[test]
fn a_node_shows_its_nvidia_gpus_and_the_task_holding_each() {
    let (app, _) = loaded();
    let buffer = render(&app);
    let screen = text(&buffer);
    assert!(screen.contains("swarm nodes"), "{screen}");
    assert!(
        screen.contains("gpu-a manager★ active ready engine 20.10.24"),
        "{screen}"
    );
    assert!(
        screen.contains(&format!("NVIDIA-GPU {GPU0} → elt_app.1")),
        "{screen}"
    );
    assert!(
        screen.contains(&format!("NVIDIA-GPU {GPU1} free")),
        "{screen}"
    );
    let (x, y) = find(&buffer, "ready engine");
    assert_eq!(buffer[(x, y)].fg, Color::Green);
    // Without the assignment (a task on another node), what it reserves is said instead.
    let mut app = app;
    if let Some(view) = app.swarm.as_mut().and_then(|f| f.data.as_mut()) {
        for t in &mut view.tasks {
            t.assigned.clear();
        }
    }
    let screen = text(&render(&app));
    assert!(
        screen.contains("elt_app.1 reserves NVIDIA-GPU:1"),
        "{screen}"
    );
    // Its GPUs are not said to be free: one of the two is its.
    assert!(
        screen.contains(&format!("NVIDIA-GPU {GPU0} free, or elt_app.1's")),
        "{screen}"
    );
    // With one GPU on the node, the task's reservation is that GPU.
    if let Some(view) = app.swarm.as_mut().and_then(|f| f.data.as_mut()) {
        view.nodes[0].resources.pop();
    }
    let screen = text(&render(&app));
    assert!(
        screen.contains(&format!("NVIDIA-GPU {GPU0} → elt_app.1 (reserved)")),
        "{screen}"
    );
}

#[test]
fn the_logs_follow_the_services_running_task_and_enter_on_a_task_follows_it() {
    let (mut app, fx) = loaded();
    let running = stack().tasks[1].id.clone();
    assert_eq!(
        fx,
        vec![Effect::FollowLogs {
            container_id: running.clone(),
            tail: 500
        }]
    );
    assert_eq!(app.logs.container_name, "elt_app.1");
    // Rows: the service, its running task, then the failed one.
    assert_eq!(app.rows(Panel::Containers), 3);
    app.selected.insert(Panel::Containers, 2);
    let mut fx = Vec::new();
    open(&mut app, 2, &mut fx);
    let failed = stack().tasks[0].id.clone();
    assert_eq!(
        fx,
        vec![Effect::FollowLogs {
            container_id: failed.clone(),
            tail: 500
        }]
    );
    let Overlay::Details { title, rows } = &app.overlay else {
        panic!("{:?}", app.overlay)
    };
    assert_eq!(title, "task elt_app.1");
    assert!(rows.contains(&("error".into(), "task: non-zero exit (1)".into())));
    // The chosen failed task stays followed on the next read (not left for the running
    // one), and the panel says it ended and why.
    app.overlay = Overlay::None;
    let (fx, _) = crate::ui::app::update(
        &mut app,
        Msg::Collected(Update::Swarm(Box::new(Ok(stack())))),
        t0(),
    );
    assert_eq!(fx, vec![]);
    assert_eq!(app.logs.container_id.as_deref(), Some(failed.as_str()));
    assert_eq!(
        app.logs.state,
        StreamState::Ended("task failed: task: non-zero exit (1)".into())
    );
    // The task's lines reach the panel under its id.
    let line = crate::collect::parse_engine_line(b"2026-11-22T07:59:00.000000000Z boom", true);
    crate::ui::app::update(
        &mut app,
        Msg::Collected(Update::LogLines {
            container_id: failed,
            lines: vec![line],
        }),
        t0(),
    );
    let screen = text(&render(&app));
    assert!(screen.contains("boom"), "{screen}");
}

#[test]
fn a_replaced_task_is_followed_on_with_a_marker() {
    let (mut app, _) = loaded();
    app.selected.insert(Panel::Containers, 2);
    let mut next = stack();
    next.tasks[1].state = "shutdown".into();
    next.tasks[1].desired_state = "shutdown".into();
    next.tasks.push(task("n", 1, "running", "running", 0));
    let new_id = next.tasks[2].id.clone();
    let (fx, _) = crate::ui::app::update(
        &mut app,
        Msg::Collected(Update::Swarm(Box::new(Ok(next)))),
        t0(),
    );
    assert_eq!(
        fx,
        vec![Effect::FollowLogs {
            container_id: new_id.clone(),
            tail: 500
        }]
    );
    assert_eq!(app.logs.container_id.as_deref(), Some(new_id.as_str()));
    let screen = text(&render(&app));
    assert!(screen.contains("task replaced at 08:00:00 UTC"), "{screen}");
    // The selection stayed on the failed task, though a row came before it.
    assert_eq!(app.selected(Panel::Containers), 3);
    // A failed read keeps the last stack on screen and says why.
    crate::ui::app::update(
        &mut app,
        Msg::Collected(Update::Swarm(Box::new(Err("manager unreachable".into())))),
        t0(),
    );
    let screen = text(&render(&app));
    assert!(screen.contains("manager unreachable"), "{screen}");
    assert!(screen.contains("replicated 1/1"), "{screen}");
}

#[test]
fn the_logs_command_names_a_service_or_a_task_of_the_stack() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let (mut app, _) = loaded();
    let command = |app: &mut App, text: &str| {
        let mut effects = Vec::new();
        for code in std::iter::once(KeyCode::Char(':'))
            .chain(text.chars().map(KeyCode::Char))
            .chain(std::iter::once(KeyCode::Enter))
        {
            let key = Msg::Key(KeyEvent::new(code, KeyModifiers::NONE));
            effects.extend(crate::ui::app::update(app, key, t0()).0);
        }
        effects
    };
    let failed = stack().tasks[0].id.clone();
    let fx = command(&mut app, &format!("logs {}", &failed[..6]));
    assert_eq!(
        fx,
        vec![Effect::FollowLogs {
            container_id: failed,
            tail: 500
        }]
    );
    assert_eq!(app.focus, Panel::Logs);
    let running = stack().tasks[1].id.clone();
    let fx = command(&mut app, "logs app");
    assert_eq!(
        fx,
        vec![Effect::FollowLogs {
            container_id: running,
            tail: 500
        }]
    );
    assert!(command(&mut app, "logs nope").is_empty());
    let said = app.message.as_ref().map(|(m, _)| m.as_str());
    assert_eq!(said, Some("no service or task named \"nope\" in the stack"));
}
