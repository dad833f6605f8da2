//! What the dashboard's unit tests share: a pinned clock and the settings of one deployment.
//! It imports only the model, so a test in a module that `ui::app` itself uses (such as
//! `ui::deploying`) can build its App here without an import cycle.
use crate::ui::model::{App, AppSettings};
use chrono::{DateTime, TimeZone, Utc};

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 8, 0, 0).unwrap()
}

/// Deployment `elt` (one service, `app`) on host `gpu-server`, in colour, with the default
/// keys; a test changes what it needs with `..settings()`.
pub(crate) fn settings() -> AppSettings {
    let loaded = crate::config::load(&crate::config::Sources::default()).unwrap();
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

/// The dashboard of deployment `elt` (one service, `app`) with these keys, at `t0`.
pub(crate) fn app_with(keymap: crate::keymap::Keymap) -> App {
    App::new(
        AppSettings {
            keymap,
            color: false,
            ..settings()
        },
        t0(),
    )
}
