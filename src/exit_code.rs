//! The program's exit codes: one table for every command, one meaning per code. The docs
//! (docs/status-json.md and docs/runbook.md) carry this table as [`markdown_table`] prints it,
//! and tests/exit_codes.rs keeps them equal.

/// Done: healthy, deployed, nothing to do, dry run, the lock is free.
pub const OK: i32 = 0;
/// What was asked for did not succeed: the app is down or unhealthy (`status`), a deploy
/// failed and the version before it runs again, a workflow run failed.
pub const FAILED: i32 = 1;
/// A system the command needs could not be reached (Docker engine, compose, registry, GitHub,
/// the deploy store); nothing was changed.
pub const UNREACHABLE: i32 = 2;
/// A deploy or rollback failed and the app may be down (its rollback failed too).
pub const APP_MAY_BE_DOWN: i32 = 3;
/// Refused before anything changed: another deploy holds the lock or it is stale, read-only
/// mode, or not confirmed (no `--yes` off a terminal, or answered no).
pub const REFUSED: i32 = 4;
/// `lock status`: a live deploy holds the deploy lock.
pub const LOCK_HELD: i32 = 5;
/// `lock status`: the lock's holder died; `lock release --force` clears it.
pub const LOCK_STALE: i32 = 6;
/// The command line is wrong: unknown command or flag, invalid tag, ref or input.
pub const USAGE: i32 = 64;
/// A bug or an impossible state on our side (the message says where).
pub const INTERNAL: i32 = 70;
/// The config could not be read or is invalid (the message names file, line, column and key).
pub const CONFIG: i32 = 78;
/// Interrupted (SIGINT/SIGTERM) before anything changed.
pub const CANCELLED: i32 = 130;

/// Every code with the meaning the docs give it.
pub const TABLE: &[(i32, &str)] = &[
    (
        OK,
        "done: healthy, deployed (or nothing to do, or a dry run), the run succeeded, the lock is free",
    ),
    (
        FAILED,
        "failed: the app is down or unhealthy (`status`); a deploy failed and the version before it runs again (`deploy`, `rollback`, `watch`, `dispatch --deploy`); the workflow run failed (`dispatch --watch`)",
    ),
    (
        UNREACHABLE,
        "a system the command needs could not be read (Docker engine, compose, registry, GitHub, the deploy store); nothing was changed. For `status`: the app's state is unknown, or it is fine but the registry or GitHub could not be read",
    ),
    (
        APP_MAY_BE_DOWN,
        "a deploy or rollback failed and the app may be down (the automatic rollback failed too)",
    ),
    (
        REFUSED,
        "refused before anything changed: another deploy holds the lock or the lock is stale, read-only mode, or not confirmed (no `--yes` off a terminal, or answered no)",
    ),
    (
        LOCK_HELD,
        "`lock status`: a live deploy holds the deploy lock",
    ),
    (
        LOCK_STALE,
        "`lock status`: the lock's holder is gone (stale lock); `lock release --force` clears it",
    ),
    (
        USAGE,
        "usage error: unknown command or flag, an invalid tag, ref or input",
    ),
    (INTERNAL, "internal error (the message says where)"),
    (
        CONFIG,
        "config error (the message names file, line, column and key)",
    ),
    (
        CANCELLED,
        "cancelled by SIGINT/SIGTERM before anything changed",
    ),
];

/// The table as the docs carry it (Markdown, one row per code).
pub fn markdown_table() -> String {
    let mut out = String::from("| code | meaning |\n|---|---|\n");
    for (code, meaning) in TABLE {
        out.push_str(&format!("| {code} | {meaning} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_code_appears_once() {
        let mut codes: Vec<i32> = TABLE.iter().map(|(c, _)| *c).collect();
        codes.sort_unstable();
        let n = codes.len();
        codes.dedup();
        assert_eq!(codes.len(), n, "a code with two rows");
    }
}
