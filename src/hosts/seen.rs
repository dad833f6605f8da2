//! When each host's engine was last seen answering, and since when it has not: kept in the
//! host's state folder, so that a `status` run after an outage can say "down since 08:12"
//! rather than only "down now".

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The last time the engine answered.
    pub last_up: Option<DateTime<Utc>>,
    /// The first check that failed after it was last seen up (none while it answers, and
    /// none for an engine never seen up).
    pub down_since: Option<DateTime<Utc>>,
}

impl Seen {
    /// The state after a check at `now`.
    pub fn after_check(&self, reachable: bool, now: DateTime<Utc>) -> Seen {
        if reachable {
            Seen {
                last_up: Some(now),
                down_since: None,
            }
        } else {
            Seen {
                last_up: self.last_up,
                down_since: self.down_since.or(self.last_up.map(|_| now)),
            }
        }
    }
}

fn file(state_root: &Path) -> PathBuf {
    state_root.join("engine-seen.json")
}

pub fn load(state_root: &Path) -> Seen {
    std::fs::read_to_string(file(state_root))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Record a check; a failure to write only loses the "since" (reported, never fatal).
pub fn record(state_root: &Path, reachable: bool, now: DateTime<Utc>) -> Seen {
    let next = load(state_root).after_check(reachable, now);
    let written = std::fs::create_dir_all(state_root).and_then(|()| {
        let text = serde_json::to_string(&next).map_err(std::io::Error::other)?;
        crate::atomic_file::replace(&file(state_root), &text)
    });
    if let Err(e) = written {
        tracing::warn!(
            "cannot record the engine's state in {}: {e}",
            state_root.display()
        );
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_since_is_the_first_failure_after_the_engine_was_seen_up() {
        let t = |s: i64| DateTime::<Utc>::from_timestamp(1_800_000_000 + s, 0).unwrap();
        let never = Seen::default().after_check(false, t(0));
        assert_eq!(never.down_since, None, "never seen up: no since");
        let up = never.after_check(true, t(10));
        let down = up.after_check(false, t(20)).after_check(false, t(30));
        assert_eq!(down.down_since, Some(t(20)));
        assert_eq!(down.last_up, Some(t(10)));
        assert_eq!(down.after_check(true, t(40)).down_since, None);
    }

    #[test]
    fn the_state_survives_between_runs() {
        let dir = tempfile::tempdir().unwrap();
        let t = |s: i64| DateTime::<Utc>::from_timestamp(1_800_000_000 + s, 0).unwrap();
        record(dir.path(), true, t(0));
        record(dir.path(), false, t(5));
        assert_eq!(load(dir.path()).down_since, Some(t(5)));
    }
}
