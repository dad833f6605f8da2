//! The CLI half of the floor plan (tests/floor_plan.rs has the whole graph).
//! The floor plan the code keeps (issue 11), checked on the source text: the headless commands
//! live in src/cli/ and nothing else imports them; the sources report typed errors; the CLI's
//! files stay small.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn nothing_outside_cli_imports_it() {
    let cli = src().join("cli");
    let mut offenders = Vec::new();
    for file in rust_files(&src()) {
        if file.starts_with(&cli) || file == src().join("main.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.contains("crate::cli::") || line.contains("crate::cli;") {
                offenders.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

#[test]
fn sources_report_typed_errors_not_strings() {
    let mut offenders = Vec::new();
    for file in rust_files(&src().join("sources")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if code.contains("Result<") && code.contains(", String>") && !code.contains("HashMap") {
                offenders.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

#[test]
fn the_cli_files_stay_small() {
    for file in rust_files(&src().join("cli")) {
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        assert!(lines <= 600, "{} has {lines} lines", file.display());
    }
}
