//! The deploy confirmation through update and draw: its key hint comes from the keymap.
use super::test_support::{app_with, t0};
use super::*;
use crate::domain::{RepoTags, Tag, TagView};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// The dashboard with one tag in the tags panel, keys from the defaults with `rebind` applied.
fn app_with_keys(rebind: &[(&str, &[&str])]) -> App {
    let loaded = crate::config::load(&crate::config::Sources::default()).unwrap();
    let mut keys = loaded.config.keys.clone();
    for (action, bound) in rebind {
        keys.insert(
            action.to_string(),
            bound.iter().map(|k| k.to_string()).collect(),
        );
    }
    let mut a = app_with(crate::keymap::Keymap::from_table(&keys).unwrap());
    let tag = TagView {
        created: Some(t0()),
        ..TagView::named(Tag::parse("main-2af620c").unwrap())
    };
    let repo = RepoTags {
        service: "app".into(),
        repository: "ghcr.io/o/app".into(),
        total: 1,
        tags: vec![tag],
        truncated: false,
        not_inspected: 0,
        error: None,
        note: None,
    };
    update(&mut a, Msg::Collected(Update::Tags(Ok(vec![repo]))), t0());
    a
}

fn press(a: &mut App, c: char) {
    let key = KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    update(a, Msg::Key(key), t0());
}

/// The confirmation's title line, as drawn.
fn confirm_title(a: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(200, 40)).unwrap();
    terminal.draw(|f| crate::ui::draw::draw(f, a)).unwrap();
    let text = terminal.backend().to_string();
    text.lines()
        .find(|l| l.contains("Deploy main-2af620c to app?"))
        .unwrap_or_else(|| panic!("no confirmation on screen:\n{text}"))
        .to_string()
}

#[test]
fn the_confirmation_hint_names_the_keys_bound_now() {
    let mut a = app_with_keys(&[]);
    press(&mut a, '5');
    press(&mut a, 'd');
    assert!(matches!(a.overlay, Overlay::Confirm(_)), "{:?}", a.overlay);
    let title = confirm_title(&a);
    assert!(
        title.contains("(tab/←/→ choose, enter confirms the highlighted button, esc cancels)"),
        "{title}"
    );

    let mut a = app_with_keys(&[
        ("confirm_press", &["space"]),
        ("confirm_no", &["x"]),
        ("confirm_switch", &["ctrl-n", "h", "l"]),
    ]);
    press(&mut a, '5');
    press(&mut a, 'd');
    let title = confirm_title(&a);
    assert!(
        title.contains("(ctrl-n choose, space confirms the highlighted button, x cancels)"),
        "{title}"
    );
}
