//! The dashboard without a terminal: `update` fed messages (state and effects asserted), and
//! frames drawn on ratatui's TestBackend at fixed sizes with a pinned clock, as insta
//! snapshots, plus the colours of cells that carry meaning.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/dashboard.rs"]
mod dashboard;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use dashboard::{settings, t0};
use elt_console::collect::Update;
use elt_console::collect::status::RepoTags;
use elt_console::domain::*;
use elt_console::sanitize::sanitize;
use elt_console::sources::docker::DockerError;
use elt_console::ui::app::{App, AppSettings, Effect, Msg, Overlay, Panel, update};
use elt_console::ui::draw::draw;
use elt_console::ui::panels::logs::StreamState;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

fn app(color: bool) -> App {
    App::new(
        AppSettings {
            color,
            ..settings()
        },
        t0(),
    )
}

const SHA2: &str = "2af620c8d8e21fec0444c3e505b830006d6e11fa";
const SHA3: &str = "08f0ab8d98c3ef79aa6fdebeb3964929ba08eb7b";

fn container(id: &str, service: &str, state: ContainerState, health: HealthState) -> ContainerView {
    ContainerView {
        id: id.repeat(64 / id.len()),
        name: format!("elt-{service}-1"),
        service: service.into(),
        oneoff: false,
        state,
        health,
        exit_code: (state == ContainerState::Exited).then_some(137),
        restarts: if service == "worker" { 3 } else { 0 },
        started_at: Some(t0() - chrono::Duration::minutes(95)),
        image: format!("ghcr.io/arthurlee116/english-listening-trainer:main-{SHA2}"),
        image_id: "sha256:".to_string() + &"c".repeat(64),
        repo_digests: vec![],
        revision: Some(SHA2.into()),
        image_created: None,
        image_version: None,
        pid: Some(4242),
    }
}

fn run(n: u64, sha: &str, conclusion: Option<&str>) -> RunView {
    RunView {
        id: 19000000000 + n,
        number: n,
        status: if conclusion.is_some() {
            "completed"
        } else {
            "in_progress"
        }
        .into(),
        conclusion: conclusion.map(str::to_string),
        branch: Some("main".into()),
        event: "push".into(),
        head_sha: sha.into(),
        title: Some(format!("Commit {n}")),
        actor: Some("arthurlee116".into()),
        created_at: t0() - chrono::Duration::hours(n as i64),
        updated_at: t0() - chrono::Duration::hours(n as i64) + chrono::Duration::minutes(7),
        run_started_at: None,
        html_url: format!(
            "https://github.com/arthurlee116/english-listening-trainer/actions/runs/{n}"
        ),
    }
}

fn tag(name: &str, sha: &str, hours: i64, running: bool) -> TagView {
    TagView {
        tag: Tag::parse(name).unwrap(),
        digest: Some(Digest::parse(&format!("sha256:{}", "d".repeat(64))).unwrap()),
        revision: Some(CommitSha::parse(sha).unwrap()),
        created: Some(t0() - chrono::Duration::hours(hours)),
        size_bytes: Some(5_100_000_000),
        ci: None,
        running,
        error: None,
        aliases: vec![],
        last_deployed: None,
    }
}

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

/// A dashboard with every panel loaded: what an operator sees on a busy day.
fn loaded_app(color: bool) -> App {
    let mut a = app(color);
    let now = t0();
    update(
        &mut a,
        Msg::Collected(Update::Docker(ContainersUpdate::Containers(vec![
            container("a1", "app", ContainerState::Running, HealthState::Healthy),
            container("b2", "tts", ContainerState::Running, HealthState::Unhealthy),
            container(
                "c3",
                "worker",
                ContainerState::Restarting,
                HealthState::None,
            ),
            container("d4", "cron", ContainerState::Exited, HealthState::None),
        ]))),
        now,
    );
    update(
        &mut a,
        Msg::Collected(Update::Health(vec![
            HealthResult {
                name: "app".into(),
                url: "http://localhost:3000/api/health".into(),
                ok: true,
                status: Some(200),
                latency_ms: 14,
                app_status: Some("ok".into()),
                version: Some("2.3.1".into()),
                error: None,
                checked_at: now,
            },
            HealthResult {
                name: "tts".into(),
                url: "http://localhost:3000/api/tts/health".into(),
                ok: false,
                status: Some(503),
                latency_ms: 230,
                app_status: Some("error".into()),
                version: None,
                error: Some("HTTP 503: model not loaded".into()),
                checked_at: now,
            },
        ])),
        now,
    );
    for i in 0..5u32 {
        update(
            &mut a,
            Msg::Collected(Update::Gpu(GpuStatus::Available {
                driver_version: Some("535.54.03".into()),
                sampled_at: now,
                devices: vec![GpuDevice {
                    index: 0,
                    name: "Tesla P40".into(),
                    uuid: None,
                    utilization_pct: Some(30 + i * 10),
                    memory_utilization_pct: Some(20),
                    memory_used_bytes: Some(21 * 1024 * 1024 * 1024),
                    memory_total_bytes: Some(24 * 1024 * 1024 * 1024),
                    temperature_c: Some(71),
                    power_mw: Some(143_000),
                    power_limit_mw: Some(250_000),
                    processes: vec![GpuProcess {
                        pid: 4242,
                        used_bytes: Some(20 * 1024 * 1024 * 1024),
                        container_id: None,
                        container: Some("app".into()),
                    }],
                }],
            })),
            now,
        );
    }
    update(
        &mut a,
        Msg::Collected(Update::Runs(Ok((
            vec![
                run(5, "7a6038dfd2585d6ce3b5bcda675da6741b43167f", None),
                run(4, SHA3, Some("failure")),
                run(3, SHA2, Some("success")),
            ],
            RateLimit {
                limit: Some(60),
                remaining: Some(51),
                used: Some(9),
                reset: Some(now + chrono::Duration::minutes(40)),
                resource: Some("core".into()),
            },
            "none (unauthenticated: 60 requests/hour)".into(),
        )))),
        now,
    );
    update(
        &mut a,
        Msg::Collected(Update::Tags(Ok(vec![RepoTags {
            service: "app".into(),
            repository: "ghcr.io/arthurlee116/english-listening-trainer".into(),
            total: 12,
            truncated: false,
            not_inspected: 0,
            error: None,
            note: None,
            tags: vec![
                tag(&format!("main-{SHA3}"), SHA3, 4, false),
                tag(&format!("main-{SHA2}"), SHA2, 30, true),
                tag("latest", SHA2, 30, true),
            ],
        }]))),
        now,
    );
    let id = "a1".repeat(32);
    let lines = (0..40)
        .map(|i| {
            let raw = if i == 37 {
                "\x1b[31mERROR\x1b[0m tts: CUDA out of memory \x1b]52;c;ZXZpbA==\x07".to_string()
            } else {
                format!("INFO request {i} GET /api/health 200")
            };
            (
                Some(format!("07:59:{:02}.000", i % 60)),
                i == 37,
                sanitize(raw.as_bytes(), 16384),
            )
        })
        .collect();
    update(
        &mut a,
        Msg::Collected(Update::LogLines {
            container_id: id,
            lines,
        }),
        now,
    );
    // The registry later failed: the panel keeps its data and says since when.
    update(
        &mut a,
        Msg::Collected(Update::Tags(Err(
            "registry ghcr.io not reachable: timed out".into(),
        ))),
        now + chrono::Duration::seconds(30),
    );
    update(&mut a, Msg::Tick, now + chrono::Duration::seconds(95));
    a
}

fn render(a: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| draw(f, a)).unwrap();
    terminal
}

#[test]
fn snapshot_full_dashboard_80x24() {
    insta::assert_snapshot!(render(&loaded_app(true), 80, 24).backend());
}

#[test]
fn snapshot_full_dashboard_200x50() {
    insta::assert_snapshot!(render(&loaded_app(true), 200, 50).backend());
}

#[test]
fn snapshot_loading_state_and_too_small() {
    insta::assert_snapshot!("loading_80x24", render(&app(true), 80, 24).backend());
    insta::assert_snapshot!("too_small", render(&app(true), 60, 20).backend());
}

#[test]
fn snapshot_overlays() {
    let mut a = loaded_app(true);
    update(&mut a, key('?'), t0());
    insta::assert_snapshot!("help_200x50", render(&a, 200, 50).backend());
    update(&mut a, code(KeyCode::Esc), t0());
    update(&mut a, code(KeyCode::Enter), t0());
    insta::assert_snapshot!("container_details_200x50", render(&a, 200, 50).backend());
}

#[test]
fn snapshot_logs_search_filter_and_errors() {
    let mut a = loaded_app(true);
    update(
        &mut a,
        Msg::Collected(Update::Docker(ContainersUpdate::Error(
            DockerError::Unreachable {
                host: "unix:///var/run/docker.sock".into(),
                reason: "connection refused".into(),
            }
            .to_string(),
        ))),
        t0() + chrono::Duration::seconds(100),
    );
    update(&mut a, key('6'), t0());
    update(&mut a, key('/'), t0());
    for c in "cuda".chars() {
        update(&mut a, key(c), t0());
    }
    update(&mut a, code(KeyCode::Enter), t0());
    update(&mut a, key('f'), t0());
    insta::assert_snapshot!("logs_filter_200x50", render(&a, 200, 50).backend());
}

/// Colour carries meaning: unhealthy and failed things are red, healthy green; without colour
/// (NO_COLOR) the same cells carry no colour but keep their glyphs.
#[test]
fn cells_that_carry_meaning_have_their_colour() {
    let find = |t: &Terminal<TestBackend>, text: &str| -> (u16, u16) {
        let buf = t.backend().buffer();
        for y in 0..buf.area.height {
            let row: String = (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect();
            if let Some(i) = row.find(text) {
                let col = row[..i].chars().count() as u16;
                return (col, y);
            }
        }
        panic!("{text:?} not on screen");
    };
    let t = render(&loaded_app(true), 200, 50);
    let buf = t.backend().buffer();
    let (x, y) = find(&t, "✖ unhealthy");
    assert_eq!(buf[(x, y)].fg, Color::Red);
    let (x, y) = find(&t, "● healthy");
    assert_eq!(buf[(x, y)].fg, Color::Green);
    let (x, y) = find(&t, "✖ FAIL");
    assert_eq!(buf[(x, y)].fg, Color::Red);
    let (x, y) = find(&t, "✖ failure");
    assert_eq!(buf[(x, y)].fg, Color::Red);
    let (x, y) = find(&t, "exited(137)");
    assert_eq!(buf[(x, y)].fg, Color::Red);
    // The log line's own SGR red survives as a style, never as an escape sequence.
    let (x, y) = find(&t, "ERROR tts");
    assert_eq!(buf[(x, y)].fg, Color::Indexed(1));

    let plain = render(&loaded_app(false), 200, 50);
    let (x, y) = find(&plain, "✖ unhealthy");
    assert_eq!(plain.backend().buffer()[(x, y)].fg, Color::Reset);
}

#[test]
fn first_containers_pick_the_app_for_logs_and_a_replacement_is_followed() {
    let mut a = app(true);
    let (fx, _) = update(
        &mut a,
        Msg::Collected(Update::Docker(ContainersUpdate::Containers(vec![
            container("b2", "tts", ContainerState::Running, HealthState::Healthy),
            container("a1", "app", ContainerState::Running, HealthState::Healthy),
        ]))),
        t0(),
    );
    assert_eq!(
        fx,
        vec![Effect::FollowLogs {
            container_id: "a1".repeat(32),
            tail: 500
        }]
    );
    // A deploy recreated the app: same service, new id.
    let (fx, _) = update(
        &mut a,
        Msg::Collected(Update::Docker(ContainersUpdate::Containers(vec![
            container("b2", "tts", ContainerState::Running, HealthState::Healthy),
            ContainerView {
                name: "elt-app-1".into(),
                ..container("e5", "app", ContainerState::Running, HealthState::Starting)
            },
        ]))),
        t0(),
    );
    assert_eq!(
        fx,
        vec![Effect::FollowLogs {
            container_id: "e5".repeat(32),
            tail: 500
        }]
    );
    // Lines from the stream we left are ignored.
    let (_, dirty) = update(
        &mut a,
        Msg::Collected(Update::LogLines {
            container_id: "a1".repeat(32),
            lines: vec![(None, false, sanitize(b"late", 100))],
        }),
        t0(),
    );
    assert!(!dirty);
    assert_eq!(a.logs.len(), 1, "only the replacement's marker line");
}

/// Logs follow the service: while its container is gone and no replacement exists yet, the
/// view waits (it does not jump to another service); the replacement carries on in the same
/// view after a marker line; a restart reported by the stream task is marked too.
#[test]
fn logs_follow_the_service_through_removal_replacement_and_restart() {
    let mut a = app(true);
    let app_c = container("a1", "app", ContainerState::Running, HealthState::Healthy);
    let tts = container("b2", "tts", ContainerState::Running, HealthState::Healthy);
    update(
        &mut a,
        Msg::Collected(Update::Docker(ContainersUpdate::Containers(vec![
            app_c.clone(),
            tts.clone(),
        ]))),
        t0(),
    );
    update(
        &mut a,
        Msg::Collected(Update::LogLines {
            container_id: app_c.id.clone(),
            lines: vec![(None, false, sanitize(b"before the deploy", 100))],
        }),
        t0(),
    );
    // The old container was removed before compose created the new one.
    let (fx, _) = update(
        &mut a,
        Msg::Collected(Update::Docker(ContainersUpdate::Containers(vec![
            tts.clone(),
        ]))),
        t0(),
    );
    assert!(fx.is_empty(), "no jump to another service: {fx:?}");
    assert!(
        matches!(&a.logs.state, StreamState::Ended(r) if r.contains("waiting for service app")),
        "{:?}",
        a.logs.state
    );
    let new = ContainerView {
        started_at: Some(t0()),
        ..container("e5", "app", ContainerState::Running, HealthState::Starting)
    };
    let (fx, _) = update(
        &mut a,
        Msg::Collected(Update::Docker(ContainersUpdate::Containers(vec![
            tts,
            new.clone(),
        ]))),
        t0() + chrono::Duration::seconds(3),
    );
    assert_eq!(
        fx,
        vec![Effect::FollowLogs {
            container_id: new.id.clone(),
            tail: 500
        }]
    );
    let text = a.logs.export();
    assert!(
        text.starts_with(
            "before the deploy\n— container replaced at 08:00:03 UTC: now elt-app-1 (e5e5e5e5e5e5) —\n"
        ),
        "{text}"
    );
    update(
        &mut a,
        Msg::Collected(Update::LogResumed {
            container_id: new.id.clone(),
            what: "container restarted",
            at: t0() + chrono::Duration::seconds(60),
        }),
        t0() + chrono::Duration::seconds(61),
    );
    assert_eq!(a.logs.state, StreamState::Following);
    assert!(
        a.logs
            .export()
            .ends_with("— container restarted at 08:01:00 UTC —\n")
    );
}

/// `enter` on the followed container whose stream ended follows it again (no details dialog);
/// a details dialog never swallows the next key.
#[test]
fn enter_refollows_an_ended_stream_and_details_pass_keys_on() {
    let mut a = loaded_app(true);
    let id = "a1".repeat(32);
    update(
        &mut a,
        Msg::Collected(Update::LogEnded {
            container_id: id.clone(),
            reason: "log stream closed".into(),
        }),
        t0(),
    );
    let (fx, _) = update(&mut a, code(KeyCode::Enter), t0());
    assert_eq!(a.overlay, Overlay::None);
    assert_eq!(
        fx,
        vec![Effect::FollowLogs {
            container_id: id,
            tail: 500
        }]
    );
    // Another container's details, then `6`: the dialog closes and the logs get the focus.
    update(&mut a, key('j'), t0());
    update(&mut a, code(KeyCode::Enter), t0());
    assert!(matches!(a.overlay, Overlay::Details { .. }));
    update(&mut a, key('6'), t0());
    assert_eq!(a.overlay, Overlay::None);
    assert_eq!(a.focus, Panel::Logs);
}

/// `:logs NAME` takes every name the containers panel shows, one-off containers included.
#[test]
fn logs_command_accepts_services_container_names_and_oneoffs() {
    let mut a = loaded_app(true);
    let oneoff = ContainerView {
        name: "elt-sandbox_colour_1".into(),
        oneoff: true,
        ..container("f6", "colour", ContainerState::Running, HealthState::None)
    };
    let mut list = a.containers.data.clone().unwrap();
    list.push(oneoff.clone());
    update(
        &mut a,
        Msg::Collected(Update::Docker(ContainersUpdate::Containers(list))),
        t0(),
    );
    for (name, id) in [
        ("elt-sandbox_colour_1", oneoff.id.clone()),
        ("colour*", oneoff.id.clone()),
        ("colour", oneoff.id.clone()),
        ("tts", "b2".repeat(32)),
        ("elt-worker-1", "c3".repeat(32)),
    ] {
        update(&mut a, key(':'), t0());
        for c in format!("logs {name}").chars() {
            update(&mut a, key(c), t0());
        }
        let (fx, _) = update(&mut a, code(KeyCode::Enter), t0());
        assert_eq!(
            fx,
            vec![Effect::FollowLogs {
                container_id: id,
                tail: 500
            }],
            ":logs {name}"
        );
    }
}

#[test]
fn errors_keep_the_last_good_data_and_their_start_time() {
    let mut a = loaded_app(true);
    let first = t0() + chrono::Duration::seconds(30);
    assert_eq!(a.tags.error.as_ref().map(|(_, t)| *t), Some(first));
    update(
        &mut a,
        Msg::Collected(Update::Tags(Err("still down".into()))),
        t0() + chrono::Duration::seconds(90),
    );
    assert_eq!(
        a.tags.error.as_ref().map(|(e, t)| (e.as_str(), *t)),
        Some(("still down", first))
    );
    assert_eq!(a.tags.data.as_ref().unwrap()[0].tags.len(), 3);
    update(
        &mut a,
        Msg::Collected(Update::Tags(Ok(vec![]))),
        t0() + chrono::Duration::seconds(120),
    );
    assert!(a.tags.error.is_none());
}

#[test]
fn keys_drive_focus_overlays_commands_and_quit() {
    let mut a = loaded_app(true);
    assert_eq!(a.focus, Panel::Containers);
    update(&mut a, code(KeyCode::Tab), t0());
    assert_eq!(a.focus, Panel::Gpu);
    update(&mut a, code(KeyCode::BackTab), t0());
    update(&mut a, key('j'), t0());
    update(&mut a, key('j'), t0());
    assert_eq!(a.selected(Panel::Containers), 2);
    update(&mut a, key('G'), t0());
    assert_eq!(a.selected(Panel::Containers), 3);
    update(&mut a, key('?'), t0());
    assert!(matches!(a.overlay, Overlay::Help { .. }));
    update(&mut a, code(KeyCode::Esc), t0());
    assert_eq!(a.overlay, Overlay::None);
    // Command palette: follow another service's logs.
    update(&mut a, key(':'), t0());
    for c in "logs tts".chars() {
        update(&mut a, key(c), t0());
    }
    let (fx, _) = update(&mut a, code(KeyCode::Enter), t0());
    assert_eq!(
        fx,
        vec![Effect::FollowLogs {
            container_id: "b2".repeat(32),
            tail: 500
        }]
    );
    assert_eq!(a.focus, Panel::Logs);
    // Logs keys work only with the logs panel focused; `s` saves the buffer.
    update(&mut a, key('3'), t0());
    let (fx, _) = update(&mut a, key('s'), t0());
    assert!(fx.is_empty());
    let (fx, _) = update(&mut a, key('q'), t0());
    assert_eq!(fx, vec![Effect::Quit]);
}

#[test]
fn gpu_sampling_follows_whether_its_panel_can_be_shown() {
    let mut a = app(true);
    let (fx, _) = update(&mut a, Msg::Resize(70, 20), t0());
    assert_eq!(fx, vec![Effect::GpuVisible(false)]);
    let (fx, _) = update(&mut a, Msg::Resize(120, 40), t0());
    assert_eq!(fx, vec![Effect::GpuVisible(true)]);
}

#[test]
fn pause_counts_new_lines_and_resumes() {
    let mut a = loaded_app(true);
    update(&mut a, key('6'), t0());
    update(&mut a, key(' '), t0());
    assert!(a.logs.paused);
    let id = "a1".repeat(32);
    let more = (0..7)
        .map(|i| (None, false, sanitize(format!("new {i}").as_bytes(), 100)))
        .collect();
    update(
        &mut a,
        Msg::Collected(Update::LogLines {
            container_id: id,
            lines: more,
        }),
        t0(),
    );
    assert_eq!(a.logs.unseen(), 7);
    update(&mut a, key(' '), t0());
    assert_eq!(a.logs.unseen(), 0);
    let (fx, _) = update(&mut a, key('s'), t0());
    assert!(
        matches!(&fx[0], Effect::SaveLogs { container, text } if container == "elt-app-1" && text.contains("new 6"))
    );
}

// ---------------------------------------------------------------- deploys

use elt_console::store::{
    Actor, DeployKind, DeployStatus, Deployment, ImageSide, LockState, StepRecord,
};

fn deployment(
    id: i64,
    status: DeployStatus,
    from: &str,
    to: &str,
    steps: &[(&str, &str)],
) -> Deployment {
    let started = t0() - chrono::Duration::seconds(20);
    Deployment {
        id,
        kind: DeployKind::Deploy,
        parent_id: None,
        started_at: started,
        finished_at: (status != DeployStatus::Running).then_some(t0() - chrono::Duration::seconds(2)),
        actor: Actor {
            user: "ops".into(),
            ssh_client: Some("10.0.0.7".into()),
            host: "gpu-server".into(),
            pid: 4321,
        },
        services: vec!["app".into()],
        from: ImageSide {
            image: Some(format!("ghcr.io/arthurlee116/english-listening-trainer:{from}")),
            tag: elt_console::domain::Tag::parse(from).ok(),
            image_id: Some("sha256:".to_string() + &"b".repeat(64)),
            ..Default::default()
        },
        to: ImageSide {
            image: Some(format!("ghcr.io/arthurlee116/english-listening-trainer:{to}")),
            tag: elt_console::domain::Tag::parse(to).ok(),
            image_id: Some("sha256:".to_string() + &"c".repeat(64)),
            sha: elt_console::domain::CommitSha::parse(SHA2).ok(),
            ..Default::default()
        },
        strategy: "recreate".into(),
        status,
        error: (status == DeployStatus::RolledBack)
            .then(|| "the new version did not become healthy: app: container healthcheck reports unhealthy".into()),
        backup_path: None,
        downtime_ms: (status == DeployStatus::Succeeded).then_some(2400),
        progress: (status == DeployStatus::Running).then(|| "layers 3/7 · 1.2 GB of 4.7 GB".into()),
        steps: steps
            .iter()
            .enumerate()
            .map(|(i, (name, state))| StepRecord {
                seq: i as u32 + 1,
                name: (*name).into(),
                status: (*state).into(),
                started_at: started,
                finished_at: (*state != "running").then_some(started),
                duration_ms: (*state != "running").then_some(120 * (i as u64 + 1)),
                summary: Some(format!("{name} summary")),
            })
            .collect(),
    }
}

fn with_deploys(a: &mut App, running: Option<Deployment>, recent: Vec<Deployment>) {
    update(
        a,
        Msg::Collected(Update::Deploys(Box::new(Ok(DeploySnapshot {
            running,
            recent,
            lock: LockState::Free,
        })))),
        t0(),
    );
}

#[test]
fn deploy_key_asks_first_and_only_the_deploy_button_starts_it() {
    let mut a = loaded_app(true);
    with_deploys(&mut a, None, vec![]);
    let (fx, _) = update(&mut a, key('d'), t0());
    assert!(fx.is_empty());
    assert!(a.message.as_ref().unwrap().0.contains("tags panel"));
    update(&mut a, key('5'), t0());
    update(&mut a, key('d'), t0());
    let Overlay::Confirm(c) = &a.overlay else {
        panic!("expected the confirmation dialog, got {:?}", a.overlay)
    };
    assert!(!c.confirm_selected, "the default answer is Cancel");
    assert_eq!(
        c.request.tag().map(|t| t.to_string()).as_deref(),
        Some(format!("main-{SHA3}").as_str())
    );
    // Enter on the default button cancels: audited, nothing started.
    let (fx, _) = update(&mut a, code(KeyCode::Enter), t0());
    assert_eq!(a.overlay, Overlay::None);
    assert!(
        matches!(&fx[..], [Effect::Audit { outcome, .. }] if outcome == "refused"),
        "{fx:?}"
    );
    // Tab to Deploy, then Enter: the one way to start it.
    update(&mut a, key('d'), t0());
    update(&mut a, code(KeyCode::Tab), t0());
    let (fx, _) = update(&mut a, code(KeyCode::Enter), t0());
    assert_eq!(
        fx,
        vec![Effect::StartDeploy(StartRequest::from(
            DeployIntent::Deploy(Tag::parse(&format!("main-{SHA3}")).unwrap())
        ))]
    );
    // While any operator's deploy runs, a second one is not offered.
    let running = deployment(
        8,
        DeployStatus::Running,
        "main-2af620c",
        "main-08f0ab8",
        &[("lock", "ok"), ("resolve", "ok"), ("pull", "running")],
    );
    with_deploys(&mut a, Some(running), vec![]);
    update(&mut a, key('d'), t0());
    assert_eq!(a.overlay, Overlay::None);
    assert!(a.message.as_ref().unwrap().0.contains("in progress"));
}

#[test]
fn read_only_refuses_deploy_and_rollback_and_audits_them() {
    let mut a = App::new(
        AppSettings {
            read_only: true,
            ..settings()
        },
        t0(),
    );
    update(&mut a, key('5'), t0());
    update(
        &mut a,
        Msg::Collected(Update::Tags(Ok(vec![RepoTags {
            service: "app".into(),
            repository: "ghcr.io/arthurlee116/english-listening-trainer".into(),
            total: 1,
            truncated: false,
            not_inspected: 0,
            error: None,
            note: None,
            tags: vec![tag(&format!("main-{SHA3}"), SHA3, 4, false)],
        }]))),
        t0(),
    );
    for k in ['d', 'R'] {
        let (fx, _) = update(&mut a, key(k), t0());
        assert_eq!(a.overlay, Overlay::None);
        assert!(
            matches!(&fx[..], [Effect::Audit { detail, .. }] if detail.contains("read-only")),
            "{fx:?}"
        );
    }
    // And the footer does not offer them.
    update(&mut a, code(KeyCode::Esc), t0());
    let screen = render(&a, 200, 50).backend().to_string();
    assert!(!screen.contains("rollback"), "{screen}");
}

#[test]
fn rollback_offers_what_ran_before_the_running_image() {
    let mut a = loaded_app(true);
    // The running app's image id is c…c; the deploy that put it there came from main-08f0ab8.
    let last = deployment(
        7,
        DeployStatus::Succeeded,
        "main-08f0ab8",
        "main-2af620c",
        &[],
    );
    with_deploys(&mut a, None, vec![last]);
    update(&mut a, key('R'), t0());
    let Overlay::Confirm(c) = &a.overlay else {
        panic!("expected the confirmation dialog, got {:?}", a.overlay)
    };
    assert_eq!(c.kind(), DeployKind::Rollback);
    assert_eq!(c.request, DeployIntent::RollbackPrevious);
    assert!(
        c.rows
            .iter()
            .any(|(k, v)| k == "to" && v.starts_with("main-08f0ab8")),
        "{:?}",
        c.rows
    );
    insta::assert_snapshot!("rollback_confirm_200x50", render(&a, 200, 50).backend());
}

/// A side of a deployment: tag `main-<x…>` with image id `sha256:<x…>`.
fn image_side(x: char) -> ImageSide {
    ImageSide {
        image: Some(format!(
            "ghcr.io/arthurlee116/english-listening-trainer:main-{}",
            x.to_string().repeat(7)
        )),
        tag: elt_console::domain::Tag::parse(&format!("main-{}", x.to_string().repeat(7))).ok(),
        image_id: Some(format!("sha256:{}", x.to_string().repeat(64))),
        ..Default::default()
    }
}

#[test]
fn rollback_after_a_failed_down_rollback_offers_the_version_that_ran_healthy_last() {
    let mut a = loaded_app(true);
    // a -> c, c -> d, then a rollback d -> c that ended failed-down: c runs (the container's
    // image id is c…c), unhealthy. What ran healthy just before it is d, not a.
    let mut rows = Vec::new();
    for (id, kind, from, to, status) in [
        (1, DeployKind::Deploy, 'a', 'c', DeployStatus::Succeeded),
        (2, DeployKind::Deploy, 'c', 'd', DeployStatus::Succeeded),
        (3, DeployKind::Rollback, 'd', 'c', DeployStatus::FailedDown),
    ] {
        let mut d = deployment(id, status, "x", "y", &[]);
        d.kind = kind;
        d.from = image_side(from);
        d.to = image_side(to);
        rows.insert(0, d);
    }
    with_deploys(&mut a, None, rows);
    update(&mut a, key('R'), t0());
    let Overlay::Confirm(c) = &a.overlay else {
        panic!("expected the confirmation dialog, got {:?}", a.overlay)
    };
    assert!(
        c.rows
            .iter()
            .any(|(k, v)| k == "to" && v.starts_with("main-ddddddd")),
        "{:?}",
        c.rows
    );
}

#[test]
fn r_in_the_tags_panel_rolls_back_to_the_selected_tag_elsewhere_to_the_previous() {
    let mut a = loaded_app(true);
    // main-SHA3 ran before main-SHA2, which runs now.
    let last = deployment(
        7,
        DeployStatus::Succeeded,
        &format!("main-{SHA3}"),
        &format!("main-{SHA2}"),
        &[],
    );
    with_deploys(&mut a, None, vec![last]);
    // From another panel: the previous version.
    update(&mut a, key('R'), t0());
    let Overlay::Confirm(c) = &a.overlay else {
        panic!("expected the confirmation dialog, got {:?}", a.overlay)
    };
    assert_eq!(
        (
            c.kind(),
            c.request == DeployIntent::RollbackPrevious,
            c.request.tag().cloned()
        ),
        (DeployKind::Rollback, true, None)
    );
    update(&mut a, code(KeyCode::Esc), t0());
    assert_eq!(a.overlay, Overlay::None);

    // The tags panel marks the cursor, what runs and what previous would pick.
    update(&mut a, key('5'), t0());
    update(&mut a, key('j'), t0());
    insta::assert_snapshot!("tags_marks_200x50", render(&a, 200, 50).backend());
    let screen = render(&a, 200, 50).backend().to_string();
    let row = |tag: &str| {
        screen
            .lines()
            .find(|l| l.contains(tag) && l.contains("4.7G"))
            .unwrap_or_else(|| panic!("{tag} not in the tags panel: {screen}"))
            .to_string()
    };
    assert!(
        row(&format!("main-{}", &SHA3[..7])).contains(" ↶ main-"),
        "{screen}"
    );
    assert!(
        row(&format!("main-{}", &SHA2[..7])).contains("›▶ main-"),
        "{screen}"
    );

    // `d` on a tag stays a deploy (with its migration).
    update(&mut a, key('k'), t0());
    update(&mut a, key('d'), t0());
    let Overlay::Confirm(c) = &a.overlay else {
        panic!("expected the confirmation dialog, got {:?}", a.overlay)
    };
    assert_eq!(c.kind(), DeployKind::Deploy);
    update(&mut a, code(KeyCode::Esc), t0());

    // `R` there: a rollback to the selected tag; the dialog says no migration runs.
    update(&mut a, key('R'), t0());
    let Overlay::Confirm(c) = &a.overlay else {
        panic!("expected the confirmation dialog, got {:?}", a.overlay)
    };
    assert_eq!(c.kind(), DeployKind::Rollback);
    assert_ne!(c.request, DeployIntent::RollbackPrevious);
    assert_eq!(
        c.request.tag().map(|t| t.to_string()).as_deref(),
        Some(format!("main-{SHA3}").as_str())
    );
    assert!(c.title.starts_with("Roll back app to main-"), "{}", c.title);
    assert!(
        c.rows
            .iter()
            .any(|(k, v)| k == "migration" && v.contains("no migration")),
        "{:?}",
        c.rows
    );
    insta::assert_snapshot!("rollback_to_tag_200x50", render(&a, 200, 50).backend());
    update(&mut a, code(KeyCode::Tab), t0());
    let (fx, _) = update(&mut a, code(KeyCode::Enter), t0());
    assert_eq!(
        fx,
        vec![Effect::StartDeploy(StartRequest::from(
            DeployIntent::RollbackTo(Tag::parse(&format!("main-{SHA3}")).unwrap())
        ))]
    );
}

#[test]
fn snapshot_deploy_in_progress_and_history() {
    let mut a = loaded_app(true);
    let running = deployment(
        9,
        DeployStatus::Running,
        "main-2af620c",
        "main-08f0ab8",
        &[("lock", "ok"), ("resolve", "ok"), ("pull", "running")],
    );
    let earlier = deployment(
        8,
        DeployStatus::RolledBack,
        "main-2af620c",
        "main-bad0000",
        &[],
    );
    let older = deployment(
        7,
        DeployStatus::Succeeded,
        "main-08f0ab8",
        "main-2af620c",
        &[],
    );
    with_deploys(&mut a, Some(running.clone()), vec![running, earlier, older]);
    insta::assert_snapshot!("deploy_running_200x50", render(&a, 200, 50).backend());
    insta::assert_snapshot!("deploy_running_80x24", render(&a, 80, 24).backend());
    let screen = render(&a, 200, 50).backend().to_string();
    assert!(
        screen.contains("DEPLOYING main-08f0ab8 by ops@10.0.0.7 (pull)"),
        "{screen}"
    );
    assert!(screen.contains("layers 3/7"), "{screen}");
    update(&mut a, key('H'), t0());
    insta::assert_snapshot!("deploy_history_200x50", render(&a, 200, 50).backend());
    // The rolled-back one is shown in the warning colour, its step glyphs by state.
    let t = render(&a, 200, 50);
    let buf = t.backend().buffer();
    let mut found = false;
    for y in 0..buf.area.height {
        let row: String = (0..buf.area.width)
            .map(|x| buf[(x, y)].symbol().to_string())
            .collect();
        if let Some(i) = row.find("rolled-back") {
            let x = row[..i].chars().count() as u16;
            assert_eq!(buf[(x, y)].fg, Color::Yellow);
            found = true;
        }
    }
    assert!(found, "rolled-back row on screen");
}

/// Steps as the engine records a deploy whose health failed and that is being rolled back.
fn failed_health_steps(rollback: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("lock", "ok"),
        ("resolve", "ok"),
        ("pull", "ok"),
        ("compare", "ok"),
        ("backup", "skipped"),
        ("migrate", "ok"),
        ("recreate", "ok"),
        ("health", "failed"),
        ("retention", "skipped"),
        ("rollback", rollback),
    ]
}

fn with_seqs(mut d: Deployment) -> Deployment {
    // The helper numbers steps in list order; the engine numbers them by STEPS.
    for st in &mut d.steps {
        st.seq = elt_console::deploy::STEPS
            .iter()
            .position(|n| *n == st.name)
            .unwrap() as u32
            + 1;
    }
    d.steps.sort_by_key(|s| s.seq);
    d
}

#[test]
fn a_failed_deploy_shows_why_then_its_rollback_and_no_step_left_pending() {
    let mut a = loaded_app(true);
    let mut parent = with_seqs(deployment(
        10,
        DeployStatus::Running,
        "main-2af620c",
        "main-bad0000",
        &failed_health_steps("running"),
    ));
    parent.error = Some(
        "the new version did not become healthy: not healthy within 300 s (deploy.health_timeout_s): endpoint app: HTTP 503; rolling back automatically to main-2af620c".into(),
    );
    parent.progress = Some("waiting (3s/300s): app: container healthcheck starting".into());
    let mut child = deployment(
        11,
        DeployStatus::Running,
        "main-bad0000",
        "main-2af620c",
        &[],
    );
    child.kind = DeployKind::AutoRollback;
    child.parent_id = Some(10);
    with_deploys(
        &mut a,
        Some(child.clone()),
        vec![child.clone(), parent.clone()],
    );
    // The panel follows the deploy the operator started, not its rollback's own row.
    let screen = render(&a, 200, 50).backend().to_string();
    assert!(screen.contains("Deploy #10"), "{screen}");
    assert!(
        screen.contains("DEPLOYING main-bad0000 by ops@10.0.0.7 (rollback)"),
        "{screen}"
    );
    let lines: Vec<&str> = screen.lines().collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not on screen: {screen}"))
    };
    // Why it failed comes after the health line and before the rollback's progress.
    assert!(at("health   ") < at("↳ deploy failed: the new version did not become healthy"));
    assert!(at("↳ deploy failed") < at("waiting (3s/300s)"));
    assert!(screen.contains("deploy failed"), "{screen}");
    insta::assert_snapshot!(
        "deploy_failed_rolling_back_200x50",
        render(&a, 200, 50).backend()
    );

    // Ended: rolled back. Every step shows how it ended; none is left pending.
    parent.status = DeployStatus::RolledBack;
    parent.finished_at = Some(t0() - chrono::Duration::seconds(1));
    parent.downtime_ms = Some(312_400);
    parent.progress = None;
    parent.error = Some("the new version did not become healthy: not healthy within 300 s (deploy.health_timeout_s): endpoint app: HTTP 503; rolled back automatically to main-2af620c (healthy)".into());
    for st in &mut parent.steps {
        if st.name == "rollback" {
            st.status = "ok".into();
        }
    }
    child.status = DeployStatus::Succeeded;
    child.finished_at = parent.finished_at;
    with_deploys(&mut a, None, vec![child, parent]);
    let screen = render(&a, 200, 50).backend().to_string();
    assert!(screen.contains("Deploy #10"), "{screen}");
    assert!(
        screen.contains("rolled-back: users' outage 312.4 s"),
        "{screen}"
    );
    assert!(
        !screen.lines().any(|l| l.contains("│ · ")),
        "a step left pending: {screen}"
    );
    assert!(
        screen.contains("not run: the deploy ended"),
        "record had no row: {screen}"
    );
}

#[test]
fn the_deploy_panel_says_starting_from_the_confirmation_until_the_row_exists() {
    let mut a = loaded_app(true);
    let older = deployment(
        7,
        DeployStatus::Succeeded,
        "main-08f0ab8",
        "main-2af620c",
        &[],
    );
    with_deploys(&mut a, None, vec![older.clone()]);
    update(&mut a, key('5'), t0());
    update(&mut a, key('d'), t0());
    update(&mut a, code(KeyCode::Tab), t0());
    let (fx, _) = update(&mut a, code(KeyCode::Enter), t0());
    assert!(matches!(&fx[..], [Effect::StartDeploy { .. }]), "{fx:?}");
    let screen = render(&a, 200, 50).backend().to_string();
    assert!(screen.contains("Deploy starting…"), "{screen}");
    assert!(
        screen.contains(&format!("STARTING deploy main-{SHA3}")),
        "{screen}"
    );
    // A second deploy is not offered meanwhile.
    update(&mut a, key('d'), t0());
    assert_eq!(a.overlay, Overlay::None);
    // The same history read again: still starting.
    with_deploys(&mut a, None, vec![older.clone()]);
    assert!(a.deploy_starting.is_some());
    // A start that never records a row (refused by a lock, say) does not block deploys for
    // good: after a minute the dashboard stops waiting for it.
    let later = t0() + chrono::Duration::seconds(61);
    update(&mut a, Msg::Tick, later);
    let screen = render(&a, 200, 50).backend().to_string();
    assert!(!screen.contains("Deploy starting…"), "{screen}");
    update(&mut a, key('d'), later);
    assert!(matches!(a.overlay, Overlay::Confirm(_)), "{:?}", a.overlay);
    update(&mut a, code(KeyCode::Esc), later);
    // Its row appears (the lock taken, no step yet): the panel follows it.
    let mut row = deployment(
        8,
        DeployStatus::Running,
        "main-2af620c",
        "main-08f0ab8",
        &[],
    );
    row.progress = None;
    with_deploys(&mut a, Some(row.clone()), vec![row, older]);
    assert!(a.deploy_starting.is_none());
    let screen = render(&a, 200, 50).backend().to_string();
    assert!(screen.contains("Deploy #8"), "{screen}");
    assert!(
        screen.contains("(starting)"),
        "the header names no empty step: {screen}"
    );
    assert!(!screen.contains("()"), "{screen}");
}

// ---------- GitHub dialogs (issue 5) ----------

use elt_console::ui::github_ui::{FieldValue, FormData, FormStage, GithubEffect, GithubMsg};

fn jobs_payload() -> Vec<JobView> {
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/github/actions-jobs-list.json"
    ))
    .unwrap();
    elt_console::sources::github::parse_jobs(&body).unwrap()
}

#[test]
fn enter_on_a_run_opens_its_jobs_and_esc_stops_following() {
    let mut a = loaded_app(true);
    update(&mut a, key('4'), t0());
    let (fx, _) = update(&mut a, code(KeyCode::Enter), t0());
    let newest = 19000000005;
    assert_eq!(
        fx,
        vec![Effect::Github(GithubEffect::WatchRun(Some(newest)))]
    );
    assert!(matches!(&a.overlay, Overlay::RunJobs(v) if v.jobs.is_none()));
    // A late answer for another run is ignored; this run's fills the dialog.
    let (_, dirty) = update(
        &mut a,
        Msg::Collected(Update::Github(GithubMsg::RunDetails {
            run_id: 1,
            result: Err("x".into()),
        })),
        t0(),
    );
    assert!(!dirty);
    let mut run5 = run(5, "7a6038dfd2585d6ce3b5bcda675da6741b43167f", None);
    run5.run_started_at = Some(t0() - chrono::Duration::minutes(3));
    update(
        &mut a,
        Msg::Collected(Update::Github(GithubMsg::RunDetails {
            run_id: newest,
            result: Ok((run5, jobs_payload())),
        })),
        t0(),
    );
    insta::assert_snapshot!("run_jobs_100x30", render(&a, 100, 30).backend());
    let (fx, _) = update(&mut a, key('y'), t0());
    assert_eq!(
        fx,
        vec![Effect::Github(GithubEffect::Copy(
            "https://github.com/arthurlee116/english-listening-trainer/actions/runs/5".into()
        ))]
    );
    assert!(a.message.as_ref().unwrap().0.contains("actions/runs/5"));
    let (fx, _) = update(&mut a, code(KeyCode::Esc), t0());
    assert_eq!(fx, vec![Effect::Github(GithubEffect::WatchRun(None))]);
    assert_eq!(a.overlay, Overlay::None);
    // `y` in the runs panel copies the selected run's URL without opening it.
    update(&mut a, key('j'), t0());
    let (fx, _) = update(&mut a, key('y'), t0());
    assert!(matches!(&fx[..], [Effect::Github(GithubEffect::Copy(u))] if u.ends_with("/runs/4")));
}

fn form_data() -> FormData {
    FormData {
        repository: "arthurlee116/english-listening-trainer".into(),
        workflow: "build-and-push.yml".into(),
        default_ref: "main".into(),
        spec: elt_console::workflow::parse_dispatch_spec(
            include_str!("../.github/workflows/build-and-push.yml"),
            "build-and-push.yml",
        )
        .unwrap(),
    }
}

#[test]
fn dispatch_form_offers_declared_inputs_and_sends_only_after_y() {
    let mut a = loaded_app(true);
    let (fx, _) = update(&mut a, key('D'), t0());
    assert_eq!(fx, vec![Effect::Github(GithubEffect::LoadForm)]);
    update(
        &mut a,
        Msg::Collected(Update::Github(GithubMsg::FormLoaded(Ok(form_data())))),
        t0(),
    );
    let Overlay::Dispatch(form) = &a.overlay else {
        panic!("form not open")
    };
    assert_eq!(
        form.values,
        vec![
            FieldValue::Text("main".into()),
            FieldValue::Text("main".into()),
            FieldValue::Bool(true)
        ]
    );
    insta::assert_snapshot!("dispatch_form_100x30", render(&a, 100, 30).backend());
    // Edit the branch input, turn push off.
    update(&mut a, code(KeyCode::Tab), t0());
    for _ in 0..4 {
        update(&mut a, code(KeyCode::Backspace), t0());
    }
    for c in "dev".chars() {
        update(&mut a, key(c), t0());
    }
    update(&mut a, code(KeyCode::Tab), t0());
    update(&mut a, key(' '), t0());
    let (fx, _) = update(&mut a, code(KeyCode::Enter), t0());
    assert!(fx.is_empty());
    let want = serde_json::json!({"ref": "main", "inputs": {"branch": "dev", "push": "false"}, "return_run_details": true});
    assert!(
        matches!(&a.overlay, Overlay::Dispatch(f) if f.stage == FormStage::Confirm(want.clone()))
    );
    // Anything but `y` goes back to the form; nothing is sent.
    let (fx, _) = update(&mut a, key('n'), t0());
    assert!(fx.is_empty());
    assert!(matches!(&a.overlay, Overlay::Dispatch(f) if f.stage == FormStage::Editing));
    update(&mut a, code(KeyCode::Enter), t0());
    let (fx, _) = update(&mut a, key('y'), t0());
    assert_eq!(fx, vec![Effect::Github(GithubEffect::Dispatch(want))]);
    // The new run opens in the jobs view.
    let (fx, _) = update(
        &mut a,
        Msg::Collected(Update::Github(GithubMsg::Dispatched(Ok(run(
            6, SHA2, None,
        ))))),
        t0(),
    );
    assert!(fx.contains(&Effect::Github(GithubEffect::WatchRun(Some(19000000006)))));
    assert!(matches!(&a.overlay, Overlay::RunJobs(v) if v.run.number == 6));
}

#[test]
fn dispatch_form_refuses_a_bad_ref_and_read_only_refuses_the_form() {
    let mut a = loaded_app(true);
    update(&mut a, key('D'), t0());
    update(
        &mut a,
        Msg::Collected(Update::Github(GithubMsg::FormLoaded(Ok(form_data())))),
        t0(),
    );
    for c in "..x".chars() {
        update(&mut a, key(c), t0());
    }
    let (fx, _) = update(&mut a, code(KeyCode::Enter), t0());
    assert!(fx.is_empty());
    assert!(
        matches!(&a.overlay, Overlay::Dispatch(f) if f.error.as_deref().unwrap_or("").contains("invalid ref"))
    );
    update(&mut a, code(KeyCode::Esc), t0());
    assert_eq!(a.overlay, Overlay::None);
    a.read_only = true;
    let (fx, _) = update(&mut a, key('D'), t0());
    assert!(fx.is_empty());
    assert_eq!(a.overlay, Overlay::None);
    assert!(a.message.as_ref().unwrap().0.contains("read-only"));
}

#[test]
fn header_says_until_when_github_rate_limits() {
    let mut a = loaded_app(true);
    let until = t0() + chrono::Duration::minutes(30);
    update(
        &mut a,
        Msg::Collected(Update::Github(GithubMsg::Budget {
            rate: RateLimit::default(),
            blocked_until: Some(until),
        })),
        t0(),
    );
    let text = format!("{:?}", render(&a, 200, 50).backend());
    let hhmm = until
        .with_timezone(&chrono::Local)
        .format("%H:%M")
        .to_string();
    assert!(
        text.contains(&format!("GitHub rate limited until {hhmm}")),
        "{text}"
    );
    // Past that time the budget shows again.
    update(&mut a, Msg::Tick, until + chrono::Duration::seconds(1));
    let text = format!("{:?}", render(&a, 200, 50).backend());
    assert!(text.contains("GitHub 51/60"), "{text}");
}

#[test]
fn a_succeeded_runs_image_is_offered_for_deploy_in_its_jobs_dialog() {
    use elt_console::ui::github_ui::RunImage;
    let screen = |a: &App| render(a, 120, 40).backend().to_string();
    let open = |read_only: bool| {
        let mut a = loaded_app(true);
        a.read_only = read_only;
        update(&mut a, key('4'), t0());
        update(&mut a, code(KeyCode::Enter), t0());
        let run5 = run(5, SHA3, Some("success"));
        update(
            &mut a,
            Msg::Collected(Update::Github(GithubMsg::RunDetails {
                run_id: run5.id,
                result: Ok((run5, jobs_payload())),
            })),
            t0(),
        );
        a
    };
    let run_id = 19000000005;
    let tag = Tag::parse(&format!("main-{SHA3}")).unwrap();
    let mut a = open(false);
    // Nothing offered before the registry has the image.
    let (fx, _) = update(&mut a, key('d'), t0());
    assert!(fx.is_empty(), "{fx:?}");
    assert!(matches!(a.overlay, Overlay::RunJobs(_)));
    update(
        &mut a,
        Msg::Collected(Update::Github(GithubMsg::RunImage {
            run_id,
            image: RunImage::Waiting(tag.clone()),
        })),
        t0(),
    );
    assert!(screen(&a).contains("waiting for image main-08f0ab8d"));
    let (fx, _) = update(&mut a, key('d'), t0());
    assert!(fx.is_empty());
    assert!(
        a.message
            .as_ref()
            .unwrap()
            .0
            .contains("not in the registry yet")
    );
    // An answer for another run changes nothing.
    let (_, dirty) = update(
        &mut a,
        Msg::Collected(Update::Github(GithubMsg::RunImage {
            run_id: 1,
            image: RunImage::Ready(tag.clone()),
        })),
        t0(),
    );
    assert!(!dirty);
    update(
        &mut a,
        Msg::Collected(Update::Github(GithubMsg::RunImage {
            run_id,
            image: RunImage::Ready(tag.clone()),
        })),
        t0(),
    );
    assert!(screen(&a).contains("d deploys it"), "{}", screen(&a));
    // `d`: the deploy confirmation for exactly that tag, default Cancel.
    let (fx, _) = update(&mut a, key('d'), t0());
    assert_eq!(fx, vec![Effect::Github(GithubEffect::WatchRun(None))]);
    let Overlay::Confirm(c) = &a.overlay else {
        panic!("no confirmation: {:?}", a.overlay)
    };
    assert_eq!(
        c.request.tag().map(|t| t.to_string()).as_deref(),
        Some(tag.as_str())
    );
    assert!(!c.confirm_selected);
    update(&mut a, key('y'), t0());
    let (fx, _) = update(&mut a, code(KeyCode::Enter), t0());
    assert!(
        fx.contains(&Effect::StartDeploy(StartRequest::from(
            DeployIntent::Deploy(Tag::parse(&tag.to_string()).unwrap())
        ))),
        "{fx:?}"
    );

    // Read-only: refused and recorded, the dialog stays.
    let mut a = open(true);
    update(
        &mut a,
        Msg::Collected(Update::Github(GithubMsg::RunImage {
            run_id,
            image: RunImage::Ready(tag.clone()),
        })),
        t0(),
    );
    let (fx, _) = update(&mut a, key('d'), t0());
    assert!(
        matches!(&fx[..], [Effect::Audit { outcome, .. }] if outcome == "refused"),
        "{fx:?}"
    );
    assert!(matches!(a.overlay, Overlay::RunJobs(_)));
}

fn screen_rows(t: &Terminal<TestBackend>) -> Vec<String> {
    let buf = t.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect()
        })
        .collect()
}

/// A Docker outage: the containers title gives the cause first (not the socket path cut off
/// at its colon), the rows kept from before are marked stale (no `● healthy`, dimmed, "as of
/// 17s ago"), and enter shows the whole error.
#[test]
fn docker_outage_gives_the_cause_and_marks_rows_stale() {
    let mut a = loaded_app(true);
    let at = t0() + chrono::Duration::seconds(17);
    update(
        &mut a,
        Msg::Collected(Update::Docker(ContainersUpdate::Error(
            DockerError::Unreachable {
                host: "unix:///var/run/docker.sock".into(),
                reason: "connection refused (is dockerd running?)".into(),
            }
            .to_string(),
        ))),
        at,
    );
    for (w, h) in [(80, 24), (200, 50)] {
        let t = render(&a, w, h);
        let rows = screen_rows(&t);
        let title = rows.iter().find(|r| r.contains("1 Containers")).unwrap();
        assert!(title.contains("✖ connection refused"), "{w}: {title}");
        let all = rows.join("\n");
        let bottom = rows.iter().skip(2).find(|r| r.starts_with('└')).unwrap();
        assert!(bottom.contains("as of 17s ago"), "{w}: {all}");
        assert!(!all.contains("● healthy"), "{all}");
        let y = rows.iter().position(|r| r.contains("? healthy")).unwrap() as u16;
        let x = rows[y as usize].find("? healthy").unwrap();
        let x = rows[y as usize][..x].chars().count() as u16;
        let cell = &t.backend().buffer()[(x, y)];
        assert_eq!(cell.fg, Color::Reset, "no verdict colour on stale rows");
        assert!(cell.modifier.contains(ratatui::style::Modifier::DIM));
    }
    update(&mut a, code(KeyCode::Enter), at);
    let Overlay::Details { rows, .. } = &a.overlay else {
        panic!("{:?}", a.overlay)
    };
    assert_eq!(
        rows[0],
        (
            "error".to_string(),
            "Docker engine not reachable at unix:///var/run/docker.sock: connection refused (is dockerd running?)".to_string()
        )
    );
    // The dialog is tall enough for its rows as they wrap: none is cut off.
    let screen = render(&a, 200, 50).backend().to_string();
    assert!(screen.contains("image created"), "{screen}");
}

/// Error titles put the cause first and are cut at a word, never mid-word; the whole text is
/// in the panel's details, in every panel.
#[test]
fn error_titles_give_the_cause_first_cut_at_a_word_with_the_whole_text_in_details() {
    let mut a = loaded_app(true);
    let long = "GitHub API request failed: connection failed: Connection refused (os error 111)";
    update(&mut a, Msg::Collected(Update::Runs(Err(long.into()))), t0());
    update(
        &mut a,
        Msg::Collected(Update::Gpu(GpuStatus::Unavailable { reason: "x".into() })),
        t0(),
    );
    for (w, h) in [(80, 24), (160, 40)] {
        let rows = screen_rows(&render(&a, w, h));
        let title = rows.iter().find(|r| r.contains("4 Actions runs")).unwrap();
        assert!(title.contains("✖ Connection refused"), "{w}: {title}");
        assert!(!title.contains("connection failed: Co"), "{w}: {title}");
        // Whatever was cut ends at a whole word, marked with `…`.
        if let Some(i) = title.find('…') {
            let before = &title[..i];
            assert!(
                long.split(|c: char| !c.is_alphanumeric())
                    .any(|word| !word.is_empty() && before.ends_with(word)),
                "{w}: cut mid-word: {title}"
            );
        }
    }
    update(&mut a, key('4'), t0());
    update(&mut a, code(KeyCode::Enter), t0());
    let Overlay::Details { title, rows } = &a.overlay else {
        panic!("{:?}", a.overlay)
    };
    assert!(title.contains("Actions runs"), "{title}");
    assert_eq!(rows[0], ("error".to_string(), long.to_string()));
    // The tags panel's error too, above the selected tag's own details.
    update(&mut a, code(KeyCode::Esc), t0());
    update(&mut a, key('5'), t0());
    update(&mut a, code(KeyCode::Enter), t0());
    let Overlay::Details { rows, .. } = &a.overlay else {
        panic!("{:?}", a.overlay)
    };
    assert_eq!(rows[0].1, "registry ghcr.io not reachable: timed out");
    assert!(rows.iter().any(|(k, _)| k == "digest"));
}

/// The TAG column's cells (between the TAG and SHA headings) of the tags panel on screen.
fn tag_cells(t: &Terminal<TestBackend>) -> Vec<String> {
    let rows: Vec<Vec<String>> = {
        let buf = t.backend().buffer();
        (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect()
            })
            .collect()
    };
    let text = |r: &[String]| r.concat();
    let (hy, header) = rows
        .iter()
        .enumerate()
        .find(|(_, r)| text(r).contains(" TAG ") && text(r).contains(" SHA "))
        .expect("tags header");
    let find = |word: &str, from: usize| {
        (from..header.len())
            .find(|&x| header[x..].concat().starts_with(word))
            .unwrap()
    };
    let tx = find("TAG ", 0);
    let sx = find("SHA ", tx);
    rows[hy + 1..]
        .iter()
        .take_while(|r| r[tx - 2] == "│" || r[tx - 2] == " " || r[tx - 2] == "▶")
        .map(|r| r[tx..sx].concat().trim().to_string())
        .filter(|c| !c.is_empty() && !c.starts_with('─'))
        .collect()
}

/// Tag names use the column's real width and are cut in the middle, so different tags never
/// look the same: two full-SHA tags at 80 columns, two tags sharing their first 20 characters
/// (and more) at 160.
#[test]
fn tags_are_cut_in_the_middle_to_the_column_and_never_look_the_same() {
    const A: &str = "f657a23c1b9e4d7a8f0b2c3d4e5f60718293a4b5";
    const B: &str = "f657a23e9d8c7b6a5f4e3d2c1b0a99887766554d";
    let mut a = loaded_app(true);
    let names = [
        format!("main-{A}"),
        format!("main-{B}"),
        "nightly-2026-11-22-amd64-cuda12.4-cudnn9-runtime".to_string(),
        "nightly-2026-11-22-amd64-cuda11.8-cudnn9-runtime".to_string(),
    ];
    update(
        &mut a,
        Msg::Collected(Update::Tags(Ok(vec![RepoTags {
            service: "app".into(),
            repository: "ghcr.io/arthurlee116/english-listening-trainer".into(),
            total: 4,
            truncated: false,
            not_inspected: 0,
            error: None,
            note: None,
            tags: vec![
                tag(&names[0], A, 2, true),
                tag(&names[1], B, 3, false),
                tag(&names[2], SHA2, 4, false),
                tag(&names[3], SHA3, 5, false),
            ],
        }]))),
        t0(),
    );
    update(&mut a, key('5'), t0());
    let t = render(&a, 80, 24);
    let first = tag_cells(&t);
    assert_eq!(first.len(), 2, "{first:?}");
    assert_ne!(first[0], first[1]);
    insta::assert_snapshot!("tags_full_sha_80x24", t.backend());
    update(&mut a, key('G'), t0());
    let t = render(&a, 80, 24);
    let last = tag_cells(&t);
    assert_eq!(last.len(), 2, "{last:?}");
    assert_ne!(last[0], last[1]);
    let t = render(&a, 160, 40);
    let all = tag_cells(&t);
    assert_eq!(all.len(), 4, "{all:?}");
    for (i, x) in all.iter().enumerate() {
        for y in &all[i + 1..] {
            assert_ne!(x, y);
        }
        // Cut only in the middle: both ends of the real name are kept.
        let (head, tail) = x.split_once('…').unwrap_or((x, ""));
        assert!(
            names
                .iter()
                .any(|n| n.starts_with(head) && n.ends_with(tail)),
            "{x}"
        );
    }
    // Wider than 20 characters wherever the column allows it.
    assert!(all.iter().all(|c| c.chars().count() > 20), "{all:?}");
    insta::assert_snapshot!("tags_shared_prefix_160x40", t.backend());
}

/// Below 80x24 only the "too small" screen is shown, so keys must not act behind it (`5`, `d`
/// used to open an invisible deploy confirmation); quit still works, and so does resizing.
#[test]
fn a_too_small_terminal_takes_only_quit_and_resize() {
    let mut a = loaded_app(true);
    update(&mut a, Msg::Resize(70, 20), t0());
    for m in [key('5'), key('d'), code(KeyCode::Enter), key('R'), key(':')] {
        let (fx, _) = update(&mut a, m, t0());
        assert!(fx.is_empty(), "{fx:?}");
    }
    assert_eq!(a.overlay, Overlay::None);
    assert_eq!(a.focus, Panel::Containers);
    insta::assert_snapshot!("too_small_with_data", render(&a, 70, 20).backend());
    let (fx, _) = update(&mut a, key('q'), t0());
    assert_eq!(fx, vec![Effect::Quit]);
    // Back to a usable size: keys act again.
    update(&mut a, Msg::Resize(80, 24), t0());
    update(&mut a, key('5'), t0());
    assert_eq!(a.focus, Panel::Tags);
}

/// The header names the deploy's step in parentheses only once one is known (a deploy just
/// started has none: it read "DEPLOYING main-… by root ()").
#[test]
fn header_shows_the_deploy_step_only_when_known() {
    let mut a = loaded_app(true);
    let starting = deployment(
        9,
        DeployStatus::Running,
        "main-2af620c",
        "main-08f0ab8",
        &[],
    );
    with_deploys(&mut a, Some(starting.clone()), vec![starting]);
    let header = screen_rows(&render(&a, 200, 50)).remove(0);
    assert!(
        header.contains("DEPLOYING main-08f0ab8 by ops@10.0.0.7 (starting) · "),
        "{header}"
    );
    assert!(!header.contains("()"), "{header}");
    let later = deployment(
        9,
        DeployStatus::Running,
        "main-2af620c",
        "main-08f0ab8",
        &[("lock", "ok"), ("resolve", "running")],
    );
    with_deploys(&mut a, Some(later.clone()), vec![later]);
    let header = screen_rows(&render(&a, 200, 50)).remove(0);
    assert!(header.contains("by ops@10.0.0.7 (resolve) · "), "{header}");
}

/// An idle dashboard costs no terminal output: ages in titles change at the resolution shown
/// ("just now", then 10-second steps), and a frame that reads the same as the one on screen is
/// not written at all.
#[test]
fn an_unchanged_frame_is_not_written_and_titles_tick_at_the_resolution_shown() {
    let mut a = loaded_app(true);
    let base = t0() + chrono::Duration::minutes(10);
    let health = a.health.data.clone().unwrap();
    update(&mut a, Msg::Collected(Update::Health(health)), base);
    let mut terminal = Terminal::new(TestBackend::new(160, 40)).unwrap();
    let mut shown = None;
    update(&mut a, Msg::Tick, base + chrono::Duration::seconds(1));
    assert!(elt_console::ui::render(&mut terminal, &a, &mut shown).unwrap());
    for s in 2..10 {
        update(&mut a, Msg::Tick, base + chrono::Duration::seconds(s));
        assert!(
            !elt_console::ui::render(&mut terminal, &a, &mut shown).unwrap(),
            "tick {s}s after the health check wrote a frame"
        );
    }
    // What changes on screen is written.
    update(
        &mut a,
        Msg::Collected(Update::LogLines {
            container_id: "a1".repeat(32),
            lines: vec![(None, false, sanitize(b"a new line", 100))],
        }),
        base + chrono::Duration::seconds(9),
    );
    assert!(elt_console::ui::render(&mut terminal, &a, &mut shown).unwrap());
    assert!(
        terminal.backend().to_string().contains("a new line"),
        "{}",
        terminal.backend()
    );
    let title = screen_rows(&render(&a, 160, 40))
        .into_iter()
        .find(|r| r.contains("3 Health"))
        .unwrap();
    assert!(title.contains("3 Health  just now"), "{title}");
}

/// Each panel is a component that draws alone: one snapshot per panel at a fixed size (the
/// full-screen snapshots above show them together).
#[test]
fn snapshot_each_panel_alone() {
    use elt_console::ui::dialogs::confirm::draw_confirm;
    use elt_console::ui::panels;
    use elt_console::ui::theme::Theme;
    use ratatui::Frame;
    use ratatui::layout::Rect;
    let mut a = loaded_app(true);
    let running = deployment(
        9,
        DeployStatus::Running,
        "main-2af620c",
        "main-08f0ab8",
        &[("lock", "ok"), ("resolve", "ok"), ("pull", "running")],
    );
    with_deploys(&mut a, Some(running), vec![]);
    let alone = |name: &str, w: u16, h: u16, a: &App, f: &dyn Fn(&mut Frame, &App, Rect)| {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|frame| {
            let area = frame.area();
            f(frame, a, area)
        })
        .unwrap();
        insta::assert_snapshot!(format!("panel_{name}"), t.backend());
    };
    alone("containers", 100, 8, &a, &|f, a, r| {
        panels::containers::draw(f, a, r)
    });
    alone("health", 70, 5, &a, &|f, a, r| {
        panels::health::draw(f, a, r)
    });
    alone("gpu", 70, 10, &a, &|f, a, r| panels::gpu::draw(f, a, r));
    alone("runs", 90, 8, &a, &|f, a, r| panels::runs::draw(f, a, r));
    alone("tags", 90, 8, &a, &|f, a, r| panels::tags::draw(f, a, r));
    alone("logs", 100, 10, &a, &|f, a, r| panels::logs::draw(f, a, r));
    alone("deploy", 100, 14, &a, &|f, a, r| {
        let view = panels::deploys::panel_view(a).expect("a deploy runs");
        panels::deploys::draw_panel(f, a, view, r)
    });
    // The confirmation, drawn from its own state.
    let mut b = loaded_app(true);
    update(&mut b, key('5'), t0());
    update(&mut b, key('d'), t0());
    let Overlay::Confirm(c) = b.overlay.clone() else {
        panic!("expected the confirmation, got {:?}", b.overlay)
    };
    alone("confirm", 110, 22, &b, &|f, _, r| {
        draw_confirm(f, r, &c, Theme::new(true))
    });
}

/// The whole loop without a terminal: messages go in through its channels (keys on the loop's
/// own channel, log lines on the collectors'), frames come out of a TestBackend, effects are
/// recorded instead of reaching Docker, the store or a deploy process.
#[tokio::test]
async fn the_loop_runs_headless_through_its_message_channels() {
    use elt_console::collect::Update;
    use elt_console::ui::{Channels, Outside, drive};
    use ratatui::buffer::Buffer;
    use std::time::{Duration, Instant};
    use tokio::sync::mpsc;

    struct Recorder {
        frames: mpsc::UnboundedSender<String>,
        effects: Vec<Effect>,
    }
    impl Outside for Recorder {
        fn effect(&mut self, effect: Effect, _tx: &mpsc::Sender<Msg>) -> anyhow::Result<()> {
            self.effects.push(effect);
            Ok(())
        }
        fn frame(&mut self, shown: &Buffer) {
            let w = shown.area.width as usize;
            let text: Vec<String> = shown
                .content
                .chunks(w)
                .map(|row| row.iter().map(|c| c.symbol()).collect())
                .collect();
            let _ = self.frames.send(text.join("\n"));
        }
    }
    let (frames_tx, mut frames) = mpsc::unbounded_channel();
    let mut recorder = Recorder {
        frames: frames_tx,
        effects: Vec::new(),
    };
    let (tx, rx) = mpsc::channel(256);
    let (updates_tx, updates) = mpsc::channel(256);
    let mut terminal = Terminal::new(TestBackend::new(160, 44)).unwrap();
    let channels = Channels {
        tx: tx.clone(),
        rx,
        updates,
    };
    let looped = drive(
        &mut terminal,
        loaded_app(false),
        60,
        futures_util::stream::pending(),
        channels,
        &mut recorder,
    );
    // Waits for a frame that passes `want`, up to a deadline.
    async fn frame_where(
        frames: &mut mpsc::UnboundedReceiver<String>,
        what: &str,
        want: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, frames.recv()).await {
                Ok(Some(f)) if want(&f) => return f,
                Ok(Some(_)) => continue,
                _ => panic!("no frame with {what} within 10 s"),
            }
        }
    }
    let script = async {
        let send = |m: Msg| {
            let tx = tx.clone();
            async move { tx.send(m).await.unwrap() }
        };
        frame_where(&mut frames, "the dashboard", |f| f.contains("1 Containers")).await;
        // Open the logs: focus them; a collector's batch for the followed container shows.
        send(key('6')).await;
        updates_tx
            .send(Update::LogLines {
                container_id: "a1".repeat(32),
                lines: vec![(None, false, sanitize(b"headless loop line", 1000))],
            })
            .await
            .unwrap();
        frame_where(&mut frames, "the new log line", |f| {
            f.contains("headless loop line")
        })
        .await;
        // Move the selection in the tags panel: the cursor goes to the second tag.
        send(key('5')).await;
        send(key('j')).await;
        frame_where(&mut frames, "the cursor on the second tag", |f| {
            f.lines()
                .any(|l| l.contains("› ▶ main-2af620c") || l.contains("›▶ main-2af620c"))
        })
        .await;
        // The confirmation opens (Cancel first) and Esc closes it without starting anything.
        send(key('d')).await;
        let dialog = frame_where(&mut frames, "the confirmation", |f| {
            f.contains("[ Cancel ]")
        })
        .await;
        assert!(dialog.contains("main-2af620c"), "{dialog}");
        send(code(KeyCode::Esc)).await;
        frame_where(&mut frames, "the dashboard again", |f| {
            !f.contains("[ Cancel ]") && f.contains("cancelled, nothing changed")
        })
        .await;
        send(key('q')).await;
    };
    let (result, ()) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(looped, script)
    })
    .await
    .expect("the loop quits within 30 s");
    result.unwrap();
    assert!(
        recorder
            .effects
            .iter()
            .any(|e| matches!(e, Effect::Audit { outcome, .. } if outcome == "refused")),
        "the cancelled confirmation is audited: {:?}",
        recorder.effects
    );
    assert!(
        !recorder
            .effects
            .iter()
            .any(|e| matches!(e, Effect::StartDeploy(_))),
        "nothing was deployed"
    );
}

/// The search field edits like a shell's line: ctrl-w deletes a word, home/end and the arrows
/// move the cursor, typing inserts at it; the footer draws the cursor where it is.
#[test]
fn the_search_field_has_a_cursor_and_word_delete() {
    let mut a = loaded_app(false);
    update(&mut a, key('6'), t0());
    update(&mut a, key('/'), t0());
    for c in "cuda oom".chars() {
        update(&mut a, key(c), t0());
    }
    let ctrl = |c: char| Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
    update(&mut a, ctrl('w'), t0());
    update(&mut a, code(KeyCode::Home), t0());
    update(&mut a, key('x'), t0());
    let Overlay::Search(field) = &a.overlay else {
        panic!("expected the search field, got {:?}", a.overlay)
    };
    assert_eq!((field.value(), field.cursor()), ("xcuda ", 1));
    let screen = render(&a, 100, 30).backend().to_string();
    assert!(screen.contains("/x█cuda "), "{screen}");
    update(&mut a, code(KeyCode::End), t0());
    update(&mut a, code(KeyCode::Enter), t0());
    assert_eq!(a.logs.search.as_deref(), Some("xcuda "));
}

#[test]
fn the_confirm_dialog_asks_github_once_and_shows_the_commits_that_change_hands() {
    let mut a = loaded_app(true);
    with_deploys(&mut a, None, vec![]);
    update(&mut a, key('5'), t0());
    update(&mut a, key('d'), t0());
    let rows = |a: &App| match &a.overlay {
        Overlay::Confirm(c) => c.rows.clone(),
        other => panic!("expected the confirmation dialog, got {other:?}"),
    };
    assert!(
        rows(&a)
            .iter()
            .any(|(k, v)| k == "commits" && v == "asking GitHub…"),
        "{:?}",
        rows(&a)
    );
    // The next tick asks, off the loop: what runs (v2) against the selected tag (v3).
    let (fx, _) = update(&mut a, Msg::Tick, t0());
    let ask = fx
        .iter()
        .find_map(|e| match e {
            Effect::CompareCommits(ask) => Some(ask.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no compare asked: {fx:?}"));
    assert_eq!(ask.running.sha_str(), Some(SHA2));
    assert_eq!(ask.target.sha_str(), Some(SHA3));
    assert_eq!(ask.kind, DeployKind::Deploy);
    let (fx, _) = update(&mut a, Msg::Tick, t0());
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::CompareCommits(_))),
        "asked once: {fx:?}"
    );
    // The answer replaces the waiting row; an answer for another dialog changes nothing.
    let mut other = ask.clone();
    other.target.sha = elt_console::domain::CommitSha::parse("1111111").ok();
    let (_, dirty) = update(
        &mut a,
        Msg::Commits {
            ask: other,
            rows: vec![("commits".into(), "stale".into())],
        },
        t0(),
    );
    assert!(!dirty);
    update(
        &mut a,
        Msg::Commits {
            ask,
            rows: vec![
                (
                    "commits".into(),
                    "deploys 1 commit; running 2af620c …".into(),
                ),
                (String::new(), "08f0ab8 Stub commit 3 (08f0ab8)".into()),
            ],
        },
        t0(),
    );
    let r = rows(&a);
    let at = r.iter().position(|(k, _)| k == "commits").unwrap();
    assert_eq!(r[at].1, "deploys 1 commit; running 2af620c …");
    assert_eq!(
        r[at + 1],
        (String::new(), "08f0ab8 Stub commit 3 (08f0ab8)".into())
    );
    assert_eq!(r[at + 2].0, "CI", "{r:?}");
    assert!(!r.iter().any(|(_, v)| v == "asking GitHub…"));
}

/// GitHub's answer about the environment's Deployments (the collector's message) is folded
/// into the dashboard and drawn in the runs panel's lower part; an error keeps the list.
#[test]
fn github_deployments_arrive_as_a_message_and_show_under_the_runs() {
    use elt_console::sources::github::DeploymentView;
    use elt_console::ui::github_ui::GithubMsg;
    use elt_console::ui::panels;
    let mut a = loaded_app(false);
    let d = DeploymentView {
        id: 1,
        sha: SHA3.into(),
        environment: "production".into(),
        description: Some("deploy main-08f0ab8".into()),
        creator: Some("ci-bot".into()),
        created_at: t0(),
        state: Some("success".into()),
        state_at: Some(t0()),
    };
    let runs_alone = |a: &App| {
        let mut t = Terminal::new(TestBackend::new(100, 14)).unwrap();
        t.draw(|f| {
            let area = f.area();
            panels::runs::draw(f, a, area)
        })
        .unwrap();
        t.backend().to_string()
    };
    assert!(!runs_alone(&a).contains("GitHub deployments"));
    let (_, dirty) = update(
        &mut a,
        Msg::Collected(Update::Github(GithubMsg::Deployments {
            environment: "production".into(),
            result: Ok(vec![d.clone()]),
        })),
        t0(),
    );
    assert!(dirty);
    let screen = runs_alone(&a);
    assert!(
        screen.contains("GitHub deployments: production"),
        "{screen}"
    );
    assert!(screen.contains("✔ success"), "{screen}");
    assert!(screen.contains("ci-bot"), "{screen}");
    assert!(screen.contains("#5"), "the runs stay above: {screen}");
    update(
        &mut a,
        Msg::Collected(Update::Github(GithubMsg::Deployments {
            environment: "production".into(),
            result: Err("GitHub server error".into()),
        })),
        t0(),
    );
    let list = a.gh_deployments.as_ref().unwrap();
    assert_eq!(list.items, vec![d]);
    assert!(runs_alone(&a).contains("GitHub server error"));
}
