//! The program's one exit-code table (src/exit_code.rs): the docs carry the same table, and the
//! real binary exits with the documented code when `deploy` and `dispatch` refuse.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{bin, repo_root};
use elt_console::exit_code;

#[test]
fn the_docs_carry_the_code_table() {
    let table = exit_code::markdown_table();
    for doc in ["docs/status-json.md", "docs/runbook.md"] {
        let text = std::fs::read_to_string(repo_root().join(doc)).unwrap();
        assert!(
            text.contains(&table),
            "{doc} must carry the exit-code table exactly as src/exit_code.rs has it:\n{table}"
        );
    }
}

/// Runs the binary in an empty folder (built-in defaults, its own state folder); returns the
/// exit code and stderr.
fn refused(args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(args)
        .current_dir(dir.path())
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn deploy_and_dispatch_refusals_exit_with_the_one_refused_code() {
    let refused_row = exit_code::TABLE
        .iter()
        .find(|(code, _)| *code == exit_code::REFUSED)
        .unwrap();
    assert!(refused_row.1.starts_with("refused"), "{refused_row:?}");

    let (deploy, err) = refused(&["--read-only", "deploy", "v1", "--yes"]);
    assert!(err.contains("read-only"), "{err}");
    let (dispatch, err) = refused(&["--read-only", "dispatch", "--yes"]);
    assert!(err.contains("read-only"), "{err}");
    assert_eq!((deploy, dispatch), (exit_code::REFUSED, exit_code::REFUSED));

    // Not confirmed: no --yes and no terminal.
    let (deploy, err) = refused(&["deploy", "v1"]);
    assert!(err.contains("pass --yes"), "{err}");
    assert_eq!(deploy, exit_code::REFUSED);
}
