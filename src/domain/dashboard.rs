//! What the dashboard's collectors report, as plain data: the project's containers (or why
//! they could not be listed) and one read of the deploy store.

use super::ContainerView;
use crate::store::{DeployKind, DeployStatus, Deployment, LockState};
use chrono::{DateTime, Utc};

/// The compose project's containers as the Docker watcher last saw them, or why it could not
/// list them (the source's error, as text: its type stays in `sources`).
#[derive(Debug, Clone, PartialEq)]
pub enum ContainersUpdate {
    Containers(Vec<ContainerView>),
    Error(String),
}

/// One read of the store.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploySnapshot {
    pub running: Option<Deployment>,
    /// Newest first.
    pub recent: Vec<Deployment>,
    pub lock: LockState,
}

impl DeploySnapshot {
    pub fn empty() -> Self {
        Self {
            running: None,
            recent: Vec::new(),
            lock: LockState::Free,
        }
    }

    /// The latest deployment that succeeded (what the header calls "deployed").
    pub fn last_success(&self) -> Option<&Deployment> {
        self.recent
            .iter()
            .find(|d| d.status == DeployStatus::Succeeded)
    }

    /// Tags that were deployed successfully at some point, with when.
    pub fn deployed_at(&self, tag: &str) -> Option<DateTime<Utc>> {
        self.recent
            .iter()
            .filter(|d| d.status == DeployStatus::Succeeded && d.to.tag.as_deref() == Some(tag))
            .map(|d| d.finished_at.unwrap_or(d.started_at))
            .max()
    }

    /// The deploy to show in the deploy panel: one in progress, or one that ended within
    /// the last minute. An automatic rollback is shown as the deploy it undoes: that row holds
    /// the failed step, why, and the rollback's progress.
    pub fn panel_deployment(&self, now: DateTime<Utc>) -> Option<&Deployment> {
        self.running_deployment().or_else(|| {
            self.recent
                .first()
                .filter(|d| d.finished_at.is_some_and(|f| (now - f).num_seconds() < 60))
                .map(|d| self.parent_of(d).unwrap_or(d))
        })
    }

    /// The deploy in progress, as an operator started it (an automatic rollback's parent).
    pub fn running_deployment(&self) -> Option<&Deployment> {
        self.running
            .as_ref()
            .map(|d| self.parent_of(d).unwrap_or(d))
    }

    fn parent_of(&self, d: &Deployment) -> Option<&Deployment> {
        if d.kind != DeployKind::AutoRollback {
            return None;
        }
        let parent = d.parent_id?;
        self.recent.iter().find(|p| p.id == parent)
    }
}
