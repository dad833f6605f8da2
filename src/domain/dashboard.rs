//! What the dashboard's collectors report, as plain data: the project's containers (or why
//! they could not be listed) and one read of the deploy store.

use super::{ContainerView, Tag};
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
            .filter(|d| d.status == DeployStatus::Succeeded && d.to.tag_str() == Some(tag))
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

/// A deploy the operator asked the dashboard for, typed from the tag they selected to the
/// command that runs it: the confirmation carries it, the loop turns it into the detached
/// `deploy`/`rollback` command's arguments; no text is parsed back into a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployIntent {
    /// Deploy this tag (with its migration).
    Deploy(Tag),
    /// Roll back to this tag (no migration).
    RollbackTo(Tag),
    /// Roll back to the previous version (the engine decides which, as `rollback --previous`).
    RollbackPrevious,
}

impl DeployIntent {
    pub fn kind(&self) -> DeployKind {
        match self {
            DeployIntent::Deploy(_) => DeployKind::Deploy,
            DeployIntent::RollbackTo(_) | DeployIntent::RollbackPrevious => DeployKind::Rollback,
        }
    }

    pub fn tag(&self) -> Option<&Tag> {
        match self {
            DeployIntent::Deploy(t) | DeployIntent::RollbackTo(t) => Some(t),
            DeployIntent::RollbackPrevious => None,
        }
    }

    /// What it goes to, as the dashboard says it.
    pub fn target(&self) -> String {
        self.tag()
            .map_or_else(|| "the previous version".into(), Tag::to_string)
    }

    /// The command's arguments after the program (and its `--config`): `deploy TAG`,
    /// `rollback TAG`, `rollback --previous`. The tag is a validated `Tag`.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![self.kind().as_str().to_string()];
        match self.tag() {
            Some(t) => args.push(t.to_string()),
            None => args.push("--previous".into()),
        }
        args
    }
}

/// What the dashboard's confirmation starts: the intent, and the services it moves (`deploy
/// --service NAME` for each; none: every service of the deployment). The loop checks each
/// name against the config before it reaches the child's argv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartRequest {
    pub intent: DeployIntent,
    pub services: Vec<String>,
}

impl From<DeployIntent> for StartRequest {
    /// The whole deployment.
    fn from(intent: DeployIntent) -> Self {
        Self {
            intent,
            services: Vec::new(),
        }
    }
}

impl StartRequest {
    /// The intent's arguments, then `--service NAME` for each service.
    pub fn args(&self) -> Vec<String> {
        let mut args = self.intent.args();
        for s in &self.services {
            args.extend(["--service".to_string(), s.clone()]);
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_becomes_the_commands_arguments_without_parsing() {
        let tag = Tag::parse("main-0123abc").unwrap();
        assert_eq!(
            DeployIntent::Deploy(tag.clone()).args(),
            ["deploy", "main-0123abc"]
        );
        assert_eq!(
            DeployIntent::RollbackTo(tag.clone()).args(),
            ["rollback", "main-0123abc"]
        );
        assert_eq!(
            DeployIntent::RollbackPrevious.args(),
            ["rollback", "--previous"]
        );
        assert_eq!(
            DeployIntent::RollbackPrevious.target(),
            "the previous version"
        );
        assert_eq!(
            DeployIntent::RollbackTo(tag.clone()).kind(),
            DeployKind::Rollback
        );
        assert_eq!(
            StartRequest::from(DeployIntent::RollbackPrevious).args(),
            ["rollback", "--previous"]
        );
        let api = StartRequest {
            intent: DeployIntent::Deploy(tag),
            services: vec!["api".into()],
        };
        assert_eq!(api.args(), ["deploy", "main-0123abc", "--service", "api"]);
    }
}
