//! The GitHub dialogs through the whole update and draw.
use super::test_support::{app_with, t0};
use super::*;
use crate::domain::{RateLimit, RunView};
use crate::ui::github_ui::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn app() -> App {
    let loaded = crate::config::load(&crate::config::Sources::default()).unwrap();
    app_with(loaded.keymap)
}

fn screen(a: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(160, 40)).unwrap();
    terminal.draw(|f| crate::ui::draw::draw(f, a)).unwrap();
    terminal.backend().to_string()
}

fn run() -> RunView {
    RunView {
        id: 19000000105,
        number: 105,
        status: "queued".into(),
        conclusion: None,
        branch: Some("main".into()),
        event: "workflow_dispatch".into(),
        head_sha: "2af620c8d8e21fec0444c3e505b830006d6e11fa".into(),
        title: Some("Build and push".into()),
        actor: None,
        created_at: t0(),
        updated_at: t0(),
        run_started_at: None,
        html_url: "https://github.com/o/r/actions/runs/19000000105".into(),
    }
}

fn budget(reset: DateTime<Utc>) -> Msg {
    Msg::Collected(Update::Github(GithubMsg::Budget {
        rate: RateLimit {
            limit: Some(60),
            remaining: Some(51),
            used: Some(9),
            reset: Some(reset),
            resource: Some("core".into()),
        },
        blocked_until: None,
    }))
}

#[test]
fn the_header_says_when_the_rate_limit_reset_has_passed() {
    let mut a = app();
    crate::ui::app::update(&mut a, budget(t0() - chrono::Duration::hours(2)), t0());
    let text = screen(&a);
    assert!(text.contains("GitHub 51/60 reset passed"), "{text}");
    // A reset on another (local) day carries its date.
    crate::ui::app::update(&mut a, budget(t0() + chrono::Duration::hours(30)), t0());
    let text = screen(&a);
    let date = (t0() + chrono::Duration::hours(30))
        .with_timezone(&chrono::Local)
        .format("reset %Y-%m-%d %H:%M")
        .to_string();
    assert!(text.contains(&date), "{date}: {text}");
}

#[test]
fn the_tags_panel_names_one_repositorys_error_and_a_partial_listing_beside_the_others() {
    use crate::collect::status::RepoTags;
    let repo = |service: &str, error: Option<&str>, note: Option<&str>| RepoTags {
        service: service.into(),
        repository: format!("ghcr.io/o/{service}"),
        total: 3,
        tags: Vec::new(),
        truncated: false,
        not_inspected: 0,
        error: error.map(str::to_string),
        note: note.map(str::to_string),
    };
    let mut a = app();
    let repos = vec![
        repo("app", None, Some("GitHub Packages API: page 2 not read")),
        repo("worker", Some("registry ghcr.io not reachable"), None),
    ];
    crate::ui::app::update(&mut a, Msg::Collected(Update::Tags(Ok(repos))), t0());
    let mut terminal = Terminal::new(TestBackend::new(240, 50)).unwrap();
    terminal.draw(|f| crate::ui::draw::draw(f, &a)).unwrap();
    let text = terminal.backend().to_string();
    assert!(
        text.contains("✖ worker: registry ghcr.io not reachable"),
        "{text}"
    );
    assert!(text.contains("page 2 not read"), "{text}");
}

#[test]
fn the_run_dialog_title_stops_saying_loading_after_an_error() {
    let mut a = app();
    let mut fx = Vec::new();
    open_run(&mut a, run(), &mut fx);
    assert!(screen(&a).contains("· loading"));
    let msg = GithubMsg::RunDetails {
        run_id: 19000000105,
        result: Err("run 19000000105 not found (404)".into()),
    };
    crate::ui::app::update(&mut a, Msg::Collected(Update::Github(msg)), t0());
    let text = screen(&a);
    assert!(!text.contains("· loading"), "{text}");
    assert!(text.contains("· not loaded"), "{text}");
    assert!(text.contains("not found (404)"), "{text}");
}

#[test]
fn an_accepted_dispatch_whose_run_cannot_be_read_closes_the_form_and_names_the_run() {
    let mut a = app();
    a.overlay = Overlay::Dispatch(Box::new(DispatchForm {
        stage: FormStage::Sending,
        data: None,
        values: Vec::new(),
        focus: 0,
        error: None,
    }));
    let msg = GithubMsg::DispatchAccepted {
        run_id: 19000000105,
        html_url: Some("https://github.com/o/r/actions/runs/19000000105".into()),
        error: "run not found (404)".into(),
    };
    let (fx, _) = crate::ui::app::update(&mut a, Msg::Collected(Update::Github(msg)), t0());
    assert!(matches!(a.overlay, Overlay::None));
    let (text, _) = a.message.clone().unwrap();
    assert!(
        text.contains(
            "dispatch accepted: run 19000000105 https://github.com/o/r/actions/runs/19000000105"
        ),
        "{text}"
    );
    assert!(fx.contains(&Effect::RefreshRemote));
}
