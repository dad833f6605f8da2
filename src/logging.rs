//! The console's own logs go to a file under the XDG state dir, never to the terminal, so they
//! cannot corrupt the dashboard or a `--json` stream.

use std::path::PathBuf;
use tracing_appender::non_blocking::WorkerGuard;

pub fn log_dir() -> Option<PathBuf> {
    match std::env::var_os("XDG_STATE_HOME") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => dirs::home_dir().map(|h| h.join(".local").join("state")),
    }
    .map(|d| d.join("elt-console"))
}

/// Start file logging. Filter from `ELT_CONSOLE_LOG` (e.g. `debug`), default `info`.
/// Returns the guard that flushes on drop, or None when no log dir could be made (logging is
/// then off; that is not a reason to refuse to run).
pub fn init() -> Option<WorkerGuard> {
    let dir = log_dir()?;
    std::fs::create_dir_all(&dir).ok()?;
    let appender = tracing_appender::rolling::daily(&dir, "elt-console.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_env("ELT_CONSOLE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .ok()?;
    Some(guard)
}
