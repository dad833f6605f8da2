//! The deploy panel's own state besides the store's snapshot: a deploy confirmed here that
//! has not recorded its row yet.

use crate::domain::DeploySnapshot;
use crate::store::DeployKind;
use chrono::{DateTime, Utc};

/// A deploy confirmed in the dashboard whose detached process has not recorded its row yet
/// (it starts, connects and takes the lock first): the panel says "starting" meanwhile.
#[derive(Debug, Clone, PartialEq)]
pub struct Starting {
    pub kind: DeployKind,
    pub target: String,
    pub since: DateTime<Utc>,
    /// The newest deployment known at the confirmation: a newer row is this deploy's.
    pub after_id: Option<i64>,
    /// The detached process's output file, once it was started.
    pub log: Option<String>,
}

/// How long the panel waits for the detached deploy's row before it says something is wrong.
pub const STARTING_PATIENCE_S: i64 = 30;

impl Starting {
    pub fn new(
        kind: DeployKind,
        target: String,
        snapshot: Option<&DeploySnapshot>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            kind,
            target,
            since: now,
            after_id: snapshot.and_then(|s| s.recent.first()).map(|d| d.id),
            log: None,
        }
    }

    /// Past its patience and then as long again: the process was refused (its audit says why)
    /// or died before recording anything; the dashboard stops waiting for it.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        (now - self.since).num_seconds() >= 2 * STARTING_PATIENCE_S
    }

    /// The store now holds this deploy (or another one runs): "starting" has ended.
    pub fn ended_by(&self, snapshot: &DeploySnapshot) -> bool {
        snapshot.running.is_some() || snapshot.recent.first().map(|d| d.id) > self.after_id
    }
}
