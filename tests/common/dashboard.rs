//! The dashboard on ratatui's TestBackend: a pinned clock and the settings of one deployment.
//! Included with `#[path = "common/dashboard.rs"] mod dashboard;` (it needs no test
//! environment, unlike `mod common`).
#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use elt_console::config::{self, Sources};
use elt_console::ui::app::AppSettings;

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 8, 0, 0).unwrap()
}

/// Deployment `elt` (one service, `app`) on host `gpu-server`, in colour, with the default
/// keys; a test changes what it needs with `..settings()`.
pub fn settings() -> AppSettings {
    let loaded = config::load(&Sources::default()).unwrap();
    AppSettings {
        keymap: loaded.keymap,
        host: "gpu-server".into(),
        project: "elt".into(),
        services: vec!["app".into()],
        read_only: false,
        mouse: false,
        log_tail: 500,
        log_ring: 1000,
        color: true,
    }
}
