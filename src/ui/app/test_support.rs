//! What the dashboard's unit tests share: a pinned clock and an App of one service.
use super::*;
use chrono::TimeZone;

pub(super) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 8, 0, 0).unwrap()
}

/// The dashboard of deployment `elt` (one service, `app`) with these keys, at `t0`.
pub(super) fn app_with(keymap: crate::keymap::Keymap) -> App {
    App::new(
        AppSettings {
            keymap,
            host: "gpu-server".into(),
            project: "elt".into(),
            services: vec!["app".into()],
            read_only: false,
            mouse: false,
            log_tail: 500,
            log_ring: 1000,
            color: false,
        },
        t0(),
    )
}
