//! Documentation that must not drift from the code.

use elt_console::config::{self, Sources};
use elt_console::keymap::{Action, Scope};

/// docs/operator-guide.md's key table lists every action with its default keys and help text,
/// exactly as the keymap has them.
#[test]
fn operator_guide_key_table_matches_the_keymap() {
    let guide = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/operator-guide.md"
    ))
    .unwrap();
    let keymap = config::load(&Sources::default()).unwrap().keymap;
    let rows: Vec<&str> = guide.lines().filter(|l| l.starts_with("| `")).collect();
    assert_eq!(rows.len(), Action::ALL.len(), "one row per action");
    for action in Action::ALL {
        let scope = match action.scope() {
            Scope::Global => "global",
            Scope::List => "list",
            Scope::Logs => "logs",
        };
        let want = format!(
            "| `{}` | {} | {} | {} |",
            keymap.label(*action),
            action.name(),
            action.help(),
            scope
        );
        assert!(
            rows.contains(&want.as_str()),
            "missing or different in docs/operator-guide.md: {want}"
        );
    }
}
