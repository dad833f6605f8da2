//! The short fault-injection soak (issue 16): 20 cycles of the real binary against the soak's
//! own dockerd and registry (scripts/soak.sh), one injected fault per cycle, the invariants
//! checked after each. The soak starts and stops its own engine, so it does not take
//! /tmp/elt-docker.lock: it never touches the shared engine or registry.
//!
//! `ELT_SOAK_SEED` replays a run (each cycle's seed is printed); `ELT_SOAK_CYCLES` changes the
//! length. Known findings that wait for an engine fix are listed in `KNOWN` and reported by
//! the harness as KNOWN, not as violations; any other violation fails this test.

mod common;

use std::process::Command;

/// FAULT:INVARIANT pairs the soak found and that are reported for an engine fix (see the soak
/// section of docs/benchmarks.md). Remove a pair once its fix lands.
const KNOWN: &[&str] = &[
    // kill -9 between the `.env` pin and `compose up` leaves the pin ahead of the container.
    "kill9:env-pin",
    "kill9-group:env-pin",
    // An explicit rollback whose recreate fails (dockerd stopped) is not rolled back in turn,
    // and its `.env` pin is left on the target while the old container comes back.
    "dockerd-restart:env-pin",
    // A full state disk at the end: the final record and the lock release fail with only a
    // log warning; the deploy says it succeeded, the row stays running and the lock is left
    // for `lock release --force`, which then marks the row interrupted.
    "disk-full:history-lies",
    "disk-full:lock-left",
    // The recorder writes in line: a store held by another process delays the first health
    // poll, and that stall is recorded as downtime.
    "sqlite-lock:downtime",
];

struct Down;

impl Drop for Down {
    fn drop(&mut self) {
        let _ = Command::new(common::repo_root().join("scripts/soak.sh"))
            .arg("down")
            .status();
    }
}

#[test]
fn short_soak_keeps_every_invariant() {
    let root = common::repo_root();
    let soak = root.join("scripts/soak.sh");
    let up = common::run(Command::new(&soak).arg("up"));
    assert!(
        up.status.success(),
        "scripts/soak.sh up: {}{}",
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&up.stderr)
    );
    let _down = Down;
    let logs = tempfile::tempdir().unwrap();
    let cycles = std::env::var("ELT_SOAK_CYCLES").unwrap_or_else(|_| "20".into());
    let mut cmd = Command::new(&soak);
    cmd.args(["run", "--cycles", &cycles, "--round-robin", "--bin"])
        .arg(env!("CARGO_BIN_EXE_elt-console"))
        .arg("--log-dir")
        .arg(logs.path())
        .args(["--allow", &KNOWN.join(",")]);
    if let Ok(seed) = std::env::var("ELT_SOAK_SEED") {
        cmd.args(["--seed", &seed]);
    }
    let out = common::run(&mut cmd);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(
        out.status.success(),
        "the soak found violations (dumps under {}):\n{text}",
        logs.keep().display()
    );
    assert!(
        text.contains(&format!("soak: {cycles} cycles in")) && text.contains("violations: 0"),
        "the soak did not finish its cycles:\n{text}"
    );
}
