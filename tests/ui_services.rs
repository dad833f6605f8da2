//! The dashboard's service switcher for a deployment of several images (an API and a worker
//! behind a proxy): the tags panel shows one service's tags at a time, the keymap's
//! `next_service` key switches, and `d`/`R` move the selected service only.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/dashboard.rs"]
mod dashboard;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use dashboard::{settings, t0};
use elt_console::collect::Update;
use elt_console::collect::status::RepoTags;
use elt_console::domain::*;
use elt_console::keymap::Action;
use elt_console::store::DeployKind;
use elt_console::ui::app::{App, AppSettings, Effect, Msg, Overlay, Panel, update};
use elt_console::ui::draw::draw;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const SHA1: &str = "158bb7a8a1cf3dcb57e64678dd2b9bccbbdc04eb";
const SHA2: &str = "c1634aab7ff97ca216297fe8164142135a90859f";

fn tag(name: &str, sha: &str, hours: i64, running: bool) -> TagView {
    TagView {
        tag: Tag::parse(name).unwrap(),
        digest: Some(Digest::parse(&format!("sha256:{}", "d".repeat(64))).unwrap()),
        revision: Some(CommitSha::parse(sha).unwrap()),
        created: Some(t0() - chrono::Duration::hours(hours)),
        size_bytes: Some(12_000_000),
        ci: Some("success".into()),
        running,
        error: None,
        aliases: vec![],
        last_deployed: None,
    }
}

fn repo(service: &str, tags: Vec<TagView>) -> RepoTags {
    RepoTags {
        service: service.into(),
        repository: format!("ghcr.io/acme/shop-{service}"),
        total: tags.len(),
        truncated: false,
        not_inspected: 0,
        error: None,
        note: None,
        tags,
    }
}

/// The shop: worker and api, each with its own repository's tags.
fn shop() -> App {
    let mut a = App::new(
        AppSettings {
            host: "web-1".into(),
            project: "shop".into(),
            services: vec!["worker".into(), "api".into()],
            ..settings()
        },
        t0(),
    );
    update(
        &mut a,
        Msg::Collected(Update::Tags(Ok(vec![
            repo(
                "worker",
                vec![
                    tag(&format!("main-{SHA2}"), SHA2, 2, false),
                    tag(&format!("main-{SHA1}"), SHA1, 30, true),
                ],
            ),
            repo(
                "api",
                vec![
                    tag(&format!("main-{SHA2}"), SHA2, 3, true),
                    tag(&format!("main-{SHA1}"), SHA1, 31, false),
                    tag("v1.4.0", SHA1, 31, false),
                ],
            ),
        ]))),
        t0(),
    );
    update(&mut a, key('5'), t0());
    assert_eq!(a.focus, Panel::Tags);
    a
}

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn render(a: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| draw(f, a)).unwrap();
    terminal
}

/// The next-service key, from the keymap (not hard-coded here).
fn next_service_key(a: &App) -> Msg {
    let label = a.keymap.label(Action::NextService);
    assert_eq!(label.chars().count(), 1, "{label}");
    key(label.chars().next().unwrap())
}

fn confirm(a: &mut App) -> Vec<Effect> {
    update(a, code(KeyCode::Tab), t0());
    update(a, code(KeyCode::Enter), t0()).0
}

#[test]
fn the_switcher_shows_one_service_and_d_moves_only_it() {
    let mut a = shop();
    // The first service's tags only.
    assert_eq!(a.tag_service(), Some("worker"));
    let rows: Vec<&str> = a.tag_rows().iter().map(|(s, _)| *s).collect();
    assert_eq!(rows, ["worker", "worker"]);
    // `d` on the worker's newest tag: a deploy of the worker alone.
    update(&mut a, key('d'), t0());
    let Overlay::Confirm(c) = &a.overlay else {
        panic!("expected the confirmation, got {:?}", a.overlay)
    };
    assert_eq!(c.service.as_deref(), Some("worker"));
    assert!(c.title.contains("worker"), "{}", c.title);
    assert_eq!(
        confirm(&mut a),
        vec![Effect::StartDeploy(StartRequest {
            intent: DeployIntent::Deploy(Tag::parse(&format!("main-{SHA2}")).unwrap()),
            services: vec!["worker".into()],
        })]
    );

    // (That deploy is done; a starting one would hold back the next.)
    a.deploy_starting = None;
    // Switch: the API's tags, selection back at the top; `R` rolls back the API only.
    let next = next_service_key(&a);
    update(&mut a, next, t0());
    assert_eq!(a.tag_service(), Some("api"));
    assert_eq!(a.selected(Panel::Tags), 0);
    assert_eq!(a.tag_rows().len(), 3);
    assert!(a.tag_rows().iter().all(|(s, _)| *s == "api"));
    update(&mut a, key('j'), t0());
    update(&mut a, key('R'), t0());
    let Overlay::Confirm(c) = &a.overlay else {
        panic!("expected the confirmation, got {:?}", a.overlay)
    };
    assert_eq!(c.kind(), DeployKind::Rollback);
    assert_eq!(c.title, format!("Roll back api to main-{SHA1}?"));
    assert_eq!(
        confirm(&mut a),
        vec![Effect::StartDeploy(StartRequest {
            intent: DeployIntent::RollbackTo(Tag::parse(&format!("main-{SHA1}")).unwrap()),
            services: vec!["api".into()],
        })]
    );
    // And round again to the worker.
    let next = next_service_key(&a);
    update(&mut a, next, t0());
    assert_eq!(a.tag_service(), Some("worker"));
}

#[test]
fn a_tag_offered_for_the_whole_deployment_moves_every_service() {
    // The jobs dialog offers a finished run's image for every service (`service` names them
    // all): no `--service`, whichever service the tags panel shows.
    let a = shop();
    let t = tag(&format!("main-{SHA2}"), SHA2, 1, false);
    let c = elt_console::ui::deploying::confirm_tag(&a, "worker, api", &t);
    assert_eq!(c.service, None);
    let steps = &c.rows.iter().find(|(k, _)| k == "steps").unwrap().1;
    assert!(steps.contains("recreate worker, api"), "{steps}");
    // From the tags panel: the selected service alone.
    let c = elt_console::ui::deploying::confirm_tag(&a, "worker", &t);
    assert_eq!(c.service.as_deref(), Some("worker"));
    let steps = &c.rows.iter().find(|(k, _)| k == "steps").unwrap().1;
    assert!(steps.contains("recreate worker ·"), "{steps}");
}

#[test]
fn one_service_keeps_the_whole_deployment_and_says_there_is_nothing_to_switch() {
    let mut a = shop();
    update(
        &mut a,
        Msg::Collected(Update::Tags(Ok(vec![repo(
            "api",
            vec![tag(&format!("main-{SHA2}"), SHA2, 3, true)],
        )]))),
        t0(),
    );
    assert_eq!(a.tag_service(), None);
    let next = next_service_key(&a);
    update(&mut a, next, t0());
    assert!(
        a.message.as_ref().unwrap().0.contains("nothing to switch"),
        "{:?}",
        a.message
    );
    update(&mut a, key('d'), t0());
    let fx = confirm(&mut a);
    assert!(
        matches!(&fx[..], [Effect::StartDeploy(r)] if r.services.is_empty()),
        "one service: the plain deploy of the deployment: {fx:?}"
    );
}

#[test]
fn snapshot_tags_panel_with_the_service_switcher() {
    let mut a = shop();
    insta::assert_snapshot!("services_worker_120x30", render(&a, 120, 30).backend());
    let next = next_service_key(&a);
    update(&mut a, next, t0());
    a.message = None;
    insta::assert_snapshot!("services_api_120x30", render(&a, 120, 30).backend());
}

/// A service with a `ready` rule (no healthcheck of its own, a bot) has its health basis in
/// the confirmation, as the CLI's plan states it; the others keep the plain rows.
#[test]
fn the_confirmation_states_how_a_ready_rule_judges_health() {
    let mut a = shop();
    a.health_basis.insert(
        "worker".into(),
        "its healthcheck, or running 30s without a restart if the image has none (ready = \"running:30s\")".into(),
    );
    let t = tag(&format!("main-{SHA2}"), SHA2, 2, false);
    let worker = elt_console::ui::deploying::confirm_tag(&a, "worker", &t);
    let health: Vec<_> = worker.rows.iter().filter(|(k, _)| k == "health").collect();
    assert_eq!(health.len(), 1, "{:?}", worker.rows);
    assert!(
        health[0].1.contains("running 30s without a restart"),
        "{health:?}"
    );
    let api = elt_console::ui::deploying::confirm_tag(&a, "api", &t);
    assert!(
        !api.rows.iter().any(|(k, _)| k == "health"),
        "{:?}",
        api.rows
    );
}
