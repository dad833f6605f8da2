//! Several hosts in the dashboard, rendered on ratatui's TestBackend: the overview (a down
//! host with its reason and since when, in red), the `:host NAME` command line (switching,
//! an unknown name, Tab completion), the keys that switch, and the single-host dashboard
//! left as it was.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/dashboard.rs"]
mod dashboard;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use dashboard::{settings, t0};
use elt_console::collect::Update;
use elt_console::config::HostConfig;
use elt_console::domain::*;
use elt_console::hosts::overview::HostStatus;
use elt_console::ui::app::{App, Effect, Msg, update};
use elt_console::ui::draw::draw;
use elt_console::ui::hosts_ui::HostsView;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use std::collections::BTreeMap;

const SHA: &str = "2af620c8d8e21fec0444c3e505b830006d6e11fa";

fn host(name: &str, endpoint: &str, labels: &str) -> HostConfig {
    toml::from_str(&format!(
        "name = \"{name}\"\nendpoint = \"{endpoint}\"\nlabels = {{ {labels} }}\n"
    ))
    .unwrap()
}

fn app(with_hosts: bool) -> App {
    let mut a = App::new(settings(), t0());
    if with_hosts {
        a.hosts = Some(HostsView::new(
            &[
                host("main", "unix:///var/run/docker.sock", "role = \"canary\""),
                host("second", "unix:///run/elt-engine2/docker.sock", ""),
                host("dead", "unix:///tmp/elt-no-such.sock", ""),
            ],
            1000,
        ));
    }
    update(&mut a, Msg::Resize(200, 40), t0());
    a
}

fn report(tag: &str) -> StatusReport {
    let health = HealthResult {
        name: "app".into(),
        url: "http://127.0.0.1:3000/api/health".into(),
        ok: true,
        status: Some(200),
        latency_ms: 3,
        app_status: None,
        version: None,
        error: None,
        checked_at: t0(),
    };
    StatusReport {
        schema: 1,
        generated_at: t0(),
        project: "elt".into(),
        overall: Overall::Healthy,
        exit_code: 0,
        reasons: vec![],
        services: vec![RunningService {
            service: "app".into(),
            container: Some("elt-app-1".into()),
            image: Some(format!("registry/app:{tag}")),
            tag: Some(Tag::parse(tag).unwrap()),
            revision: Some(SHA.into()),
            up: true,
        }],
        containers: Section::Ok {
            elapsed_ms: 1,
            data: vec![],
        },
        health: Section::Ok {
            elapsed_ms: 1,
            data: vec![health],
        },
        gpu: Section::Ok {
            elapsed_ms: 0,
            data: GpuStatus::Unavailable {
                reason: "no NVML".into(),
            },
        },
        tags: Section::Error {
            elapsed_ms: 0,
            error: "not read".into(),
        },
        runs: Section::Error {
            elapsed_ms: 0,
            error: "not read".into(),
        },
        swarm: None,
    }
}

fn status(name: &str, report: Option<StatusReport>, error: Option<&str>) -> HostStatus {
    let reachable = report.is_some();
    HostStatus {
        name: name.into(),
        endpoint: "unix:///x".into(),
        labels: BTreeMap::new(),
        reachable,
        last_up: None,
        down_since: (!reachable).then(|| t0() - chrono::Duration::minutes(3)),
        error: error.map(str::to_string),
        overall: if reachable {
            Overall::Healthy
        } else {
            Overall::Unknown
        },
        exit_code: if reachable { 0 } else { 3 },
        report,
    }
}

/// The three hosts as the probe reports them: two up, one whose engine is gone.
fn probed(a: &mut App) {
    for s in [
        status("main", Some(report("t1")), None),
        status("second", Some(report("t2")), None),
        status(
            "dead",
            None,
            Some("host dead: connection refused (unix:///tmp/elt-no-such.sock)"),
        ),
    ] {
        update(a, Msg::HostProbed(Box::new(s)), t0());
    }
}

fn render(a: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| draw(f, a)).unwrap();
    terminal
}

fn screen(t: &Terminal<TestBackend>) -> String {
    let b = t.backend().buffer();
    (0..b.area.height)
        .map(|y| {
            (0..b.area.width)
                .map(|x| b[(x, y)].symbol())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn line_with<'a>(screen: &'a str, what: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no line with {what:?} in\n{screen}"))
}

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

/// Type `:TEXT` and press Enter; the effects of the whole exchange.
fn command(a: &mut App, text: &str) -> Vec<Effect> {
    let mut fx = Vec::new();
    for m in std::iter::once(key(':')).chain(text.chars().map(key)) {
        fx.extend(update(a, m, t0()).0);
    }
    fx.extend(update(a, code(KeyCode::Enter), t0()).0);
    fx
}

#[test]
fn the_overview_shows_every_host_and_the_dead_one_down_with_its_reason_in_red() {
    let mut a = app(true);
    probed(&mut a);
    let t = render(&a, 200, 40);
    let s = screen(&t);
    assert!(
        s.contains("hosts overview · 3 host(s), 1 down · dashboard: host main"),
        "{s}"
    );
    let main = line_with(&s, "│▶ main ");
    assert!(main.contains("▶") && main.contains("canary"), "{main}");
    assert!(
        main.contains("● up") && main.contains("● healthy"),
        "{main}"
    );
    assert!(main.contains("t1") && main.contains(&SHA[..7]), "{main}");
    assert!(main.contains("1/1 ok"), "{main}");
    let second = line_with(&s, "│  second ");
    assert!(second.contains("● up") && second.contains("t2"), "{second}");
    let dead = line_with(&s, "│  dead ");
    assert!(dead.contains("✖ DOWN since 07:57:00 (3m"), "{dead}");
    assert!(dead.contains("connection refused"), "{dead}");
    // Red carries the meaning: the DOWN cell is red, the up ones green.
    let b = t.backend().buffer();
    let y = s.lines().position(|l| l.contains("│  dead ")).unwrap() as u16;
    let x = dead.chars().position(|c| c == '✖').unwrap() as u16;
    assert_eq!(b[(x, y)].fg, Color::Red, "{dead}");
    let y = s.lines().position(|l| l.contains("│▶ main ")).unwrap() as u16;
    let x = main.chars().position(|c| c == '●').unwrap() as u16;
    assert_eq!(b[(x, y)].fg, Color::Green, "{main}");
    insta::assert_snapshot!("hosts_overview_200x40", t.backend());
}

#[test]
fn a_probe_that_does_not_end_in_time_marks_the_host_down_since_then() {
    let mut a = app(true);
    probed(&mut a);
    let later = t0() + chrono::Duration::seconds(90);
    update(
        &mut a,
        Msg::HostProbeFailed {
            name: "second".into(),
            error: "no answer within 13 s (probe timeout)".into(),
        },
        later,
    );
    update(&mut a, Msg::Tick, later + chrono::Duration::seconds(30));
    let s = screen(&render(&a, 200, 40));
    let second = line_with(&s, "│  second ");
    assert!(second.contains("✖ DOWN since 08:01:30 (30s)"), "{second}");
    assert!(second.contains("no answer within 13 s"), "{second}");
    assert!(s.contains("2 down"), "{s}");
}

#[test]
fn host_name_switches_the_whole_dashboard_and_an_unknown_name_says_so() {
    let mut a = app(true);
    probed(&mut a);
    // The first host's collectors report (generation 1, the one the loop starts).
    let c = |id: &str| ContainerView {
        id: id.repeat(64 / id.len()),
        name: format!("elt-{id}-1"),
        service: "app".into(),
        oneoff: false,
        state: ContainerState::Running,
        health: HealthState::Healthy,
        exit_code: None,
        restarts: 0,
        started_at: Some(t0()),
        image: "registry/app:t1".into(),
        image_id: "sha256:".to_string() + &"c".repeat(64),
        repo_digests: vec![],
        revision: Some(SHA.into()),
        image_created: None,
        image_version: None,
        pid: None,
    };
    let docker = |generation: u64, id: &str| Msg::HostUpdate {
        generation,
        update: Update::Docker(ContainersUpdate::Containers(vec![c(id)])),
    };
    update(&mut a, docker(1, "aa"), t0());
    assert_eq!(a.containers.data.as_ref().unwrap()[0].name, "elt-aa-1");

    let fx = command(&mut a, "host nope");
    assert!(fx.is_empty(), "{fx:?}");
    let s = screen(&render(&a, 200, 40));
    assert!(
        s.contains("unknown host \"nope\" (hosts: main, second, dead)"),
        "{s}"
    );

    let fx = command(&mut a, "host second");
    assert_eq!(
        fx,
        [Effect::SwitchHost {
            name: "second".into(),
            generation: 2
        }]
    );
    // What the first host reported is gone; its late updates are dropped.
    assert!(a.containers.data.is_none());
    update(&mut a, docker(1, "aa"), t0());
    assert!(a.containers.data.is_none());
    update(&mut a, docker(2, "bb"), t0());
    update(&mut a, code(KeyCode::Esc), t0());
    let s = screen(&render(&a, 200, 40));
    let header = s.lines().next().unwrap();
    assert!(header.contains("host second · project elt"), "{header}");
    assert!(
        header.contains("· 1 other host DOWN (o: overview)"),
        "{header}"
    );
    assert!(s.contains("elt-bb-1"), "{s}");
    assert!(!s.contains("elt-aa-1"), "{s}");
    assert!(!s.contains("hosts overview"), "{s}");

    // The key cycles on (and wraps); `:hosts` goes back to the overview.
    let fx = update(&mut a, key(']'), t0()).0;
    assert_eq!(
        fx,
        [Effect::SwitchHost {
            name: "dead".into(),
            generation: 3
        }]
    );
    let fx = update(&mut a, key('['), t0()).0;
    assert_eq!(
        fx,
        [Effect::SwitchHost {
            name: "second".into(),
            generation: 4
        }]
    );
    let fx = command(&mut a, "hosts");
    assert_eq!(fx, [Effect::ProbeHosts]);
    let s = screen(&render(&a, 200, 40));
    assert!(s.contains("dashboard: host second"), "{s}");
    // Enter on the overview's selection shows that host; `o` toggles back and forth.
    update(&mut a, code(KeyCode::Up), t0());
    let fx = update(&mut a, code(KeyCode::Enter), t0()).0;
    assert_eq!(
        fx,
        [Effect::SwitchHost {
            name: "main".into(),
            generation: 5
        }]
    );
    update(&mut a, key('o'), t0());
    assert!(a.hosts.as_ref().unwrap().overview);
    update(&mut a, key('o'), t0());
    assert!(!a.hosts.as_ref().unwrap().overview);
}

#[test]
fn tab_completes_a_host_name_and_esc_cancels_the_command_line() {
    let mut a = app(true);
    for m in [key(':'), key('h'), key('o'), key('s'), key('t'), key(' ')] {
        update(&mut a, m, t0());
    }
    update(&mut a, key('s'), t0());
    update(&mut a, code(KeyCode::Tab), t0());
    let s = screen(&render(&a, 200, 40));
    assert!(s.lines().last().unwrap().contains(":host second"), "{s}");
    let fx = update(&mut a, code(KeyCode::Esc), t0()).0;
    assert!(fx.is_empty());
    assert!(!screen(&render(&a, 200, 40)).contains(":host second"));
    // Several names fit: the status line lists them, the line keeps what they share.
    for m in [key(':'), key('h'), key('o'), key('s'), key('t'), key(' ')] {
        update(&mut a, m, t0());
    }
    update(&mut a, code(KeyCode::Tab), t0());
    assert_eq!(
        a.message.as_ref().map(|(m, _)| m.as_str()),
        Some("hosts: main, second, dead")
    );
    let s = screen(&render(&a, 200, 40));
    assert!(s.lines().last().unwrap().starts_with(":host █"), "{s}");
}

#[test]
fn without_hosts_the_commands_say_so_and_help_lists_no_host_keys() {
    let mut a = app(false);
    let fx = command(&mut a, "host second");
    assert!(fx.is_empty(), "{fx:?}");
    let s = screen(&render(&a, 200, 50));
    assert!(s.contains("no [[hosts]] are configured"), "{s}");
    assert!(
        s.lines()
            .next()
            .unwrap()
            .contains("gpu-server · project elt")
    );
    update(&mut a, key('?'), t0());
    assert!(!screen(&render(&a, 200, 50)).contains("next_host"));

    let mut a = app(true);
    update(&mut a, key('?'), t0());
    let s = screen(&render(&a, 200, 50));
    assert!(s.contains("next_host"), "{s}");
}

#[test]
fn a_deploy_confirmed_on_a_host_s_dashboard_names_that_host() {
    let mut a = app(true);
    command(&mut a, "host second");
    let repo = RepoTags {
        service: "app".into(),
        repository: "registry/app".into(),
        total: 1,
        tags: vec![TagView::named(Tag::parse("t1").unwrap())],
        truncated: false,
        not_inspected: 0,
        error: None,
        note: None,
    };
    let generation = a.hosts.as_ref().unwrap().generation;
    update(
        &mut a,
        Msg::HostUpdate {
            generation,
            update: Update::Tags(Ok(vec![repo])),
        },
        t0(),
    );
    update(&mut a, key('5'), t0());
    update(&mut a, key('d'), t0());
    let s = screen(&render(&a, 200, 40));
    assert!(s.contains("Deploy t1 to app on host second?"), "{s}");
    assert!(
        s.contains(
            "host  second (unix:///run/elt-engine2/docker.sock): its engine, store and lock"
        ),
        "{s}"
    );
}

#[test]
fn a_host_never_seen_up_is_down_since_the_dashboard_first_saw_it_so() {
    let mut a = app(true);
    let mut never = status("dead", None, Some("socket not found"));
    never.down_since = None;
    update(&mut a, Msg::HostProbed(Box::new(never.clone())), t0());
    let later = t0() + chrono::Duration::seconds(20);
    update(&mut a, Msg::HostProbed(Box::new(never)), later);
    let s = screen(&render(&a, 200, 40));
    let dead = line_with(&s, "│  dead ");
    assert!(dead.contains("✖ DOWN since 08:00:00 (20s)"), "{dead}");
    // It answers again: up, and no "since" is left over.
    update(
        &mut a,
        Msg::HostProbed(Box::new(status("dead", Some(report("t1")), None))),
        later,
    );
    let s = screen(&render(&a, 200, 40));
    assert!(line_with(&s, "│  dead ").contains("● up"), "{s}");
    assert_eq!(a.hosts.as_ref().unwrap().hosts[2].down_since(), None);
}

#[test]
fn the_wheel_moves_the_overview_s_selection_not_the_panels_behind_it() {
    use crossterm::event::{MouseEvent, MouseEventKind};
    let mut a = app(true);
    let wheel = |kind| {
        Msg::Mouse(MouseEvent {
            kind,
            column: 10,
            row: 5,
            modifiers: KeyModifiers::NONE,
        })
    };
    update(&mut a, wheel(MouseEventKind::ScrollDown), t0());
    assert_eq!(
        a.hosts.as_ref().unwrap().selected,
        2,
        "clamped at the last host"
    );
    update(&mut a, wheel(MouseEventKind::ScrollUp), t0());
    assert_eq!(a.hosts.as_ref().unwrap().selected, 0);
}
