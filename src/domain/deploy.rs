//! A deployment as the store keeps it and the engine reports it: who acted, what kind of
//! deploy, how it ended, its two image sides, its steps, the audit and the deploy lock.

use super::{CommitSha, Digest, Tag};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who is acting: recorded with every deployment, audit row and lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub user: String,
    /// The SSH client's address, when the operator came in over SSH.
    pub ssh_client: Option<String>,
    pub host: String,
    pub pid: u32,
}

impl Actor {
    pub fn describe(&self) -> String {
        match &self.ssh_client {
            Some(addr) => format!(
                "{} from {} (pid {} on {})",
                self.user, addr, self.pid, self.host
            ),
            None => format!("{} (pid {} on {})", self.user, self.pid, self.host),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployKind {
    Deploy,
    Rollback,
    /// Started by the engine itself after a failed deploy; never rolled back in turn.
    AutoRollback,
}

impl DeployKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeployKind::Deploy => "deploy",
            DeployKind::Rollback => "rollback",
            DeployKind::AutoRollback => "auto-rollback",
        }
    }
    pub fn parse(s: &str) -> Self {
        match s {
            "rollback" => DeployKind::Rollback,
            "auto-rollback" => DeployKind::AutoRollback,
            _ => DeployKind::Deploy,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployStatus {
    Running,
    Succeeded,
    /// Nothing to do: the target already runs (and `--force` was not given).
    Skipped,
    /// Stopped before anything changed (cancelled, or a step before the recreate failed).
    Failed,
    /// The new version failed after it replaced the old one; the old one runs again.
    RolledBack,
    /// The new version failed and the old one could not be brought back: the app may be down.
    FailedDown,
    Cancelled,
    /// Its process died mid-way (found through a stale lock).
    Interrupted,
}

impl DeployStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeployStatus::Running => "running",
            DeployStatus::Succeeded => "succeeded",
            DeployStatus::Skipped => "skipped",
            DeployStatus::Failed => "failed",
            DeployStatus::RolledBack => "rolled-back",
            DeployStatus::FailedDown => "failed-down",
            DeployStatus::Cancelled => "cancelled",
            DeployStatus::Interrupted => "interrupted",
        }
    }
    pub fn parse(s: &str) -> Self {
        match s {
            "running" => DeployStatus::Running,
            "succeeded" => DeployStatus::Succeeded,
            "skipped" => DeployStatus::Skipped,
            "rolled-back" => DeployStatus::RolledBack,
            "failed-down" => DeployStatus::FailedDown,
            "cancelled" => DeployStatus::Cancelled,
            "interrupted" => DeployStatus::Interrupted,
            _ => DeployStatus::Failed,
        }
    }
}

/// One side of a deployment (what ran before, or what was deployed). Tag, digest and commit
/// are validated names; what a registry, an image label or an old store row offers that is
/// not one is left out rather than carried along as text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSide {
    /// The reference compose was given (`repo:tag`).
    pub image: Option<String>,
    #[serde(default, deserialize_with = "valid_or_none")]
    pub tag: Option<Tag>,
    #[serde(default, deserialize_with = "valid_or_none")]
    pub digest: Option<Digest>,
    /// The commit the image was built from (its revision label).
    #[serde(default, deserialize_with = "valid_or_none")]
    pub sha: Option<CommitSha>,
    /// The local image id (`sha256:` of the config), which is what a rollback needs.
    pub image_id: Option<String>,
    /// `org.opencontainers.image.created` of the image.
    #[serde(default)]
    pub created: Option<String>,
}

impl ImageSide {
    pub fn tag_str(&self) -> Option<&str> {
        self.tag.as_ref().map(Tag::as_str)
    }
    pub fn digest_str(&self) -> Option<&str> {
        self.digest.as_ref().map(Digest::as_str)
    }
    pub fn sha_str(&self) -> Option<&str> {
        self.sha.as_ref().map(CommitSha::as_str)
    }
}

/// A stored name that no longer passes validation (rows written before the names were
/// checked) reads as absent instead of failing the whole row.
fn valid_or_none<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<String>,
{
    let text: Option<String> = Option::deserialize(d)?;
    Ok(text.and_then(|s| T::try_from(s).ok()))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub seq: u32,
    pub name: String,
    /// running | ok | failed | skipped
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<u64>,
    pub summary: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub id: i64,
    pub kind: DeployKind,
    /// For an auto-rollback: the deployment it undid.
    pub parent_id: Option<i64>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub actor: Actor,
    pub services: Vec<String>,
    pub from: ImageSide,
    pub to: ImageSide,
    pub strategy: String,
    pub status: DeployStatus,
    pub error: Option<String>,
    pub backup_path: Option<String>,
    /// Old container stopped → new one healthy.
    pub downtime_ms: Option<u64>,
    /// The latest progress line (pull progress), for a console following from elsewhere.
    pub progress: Option<String>,
    pub steps: Vec<StepRecord>,
}

impl Deployment {
    /// How it replaced the old version (`start-first`, `stop-first`); `-` where it never got
    /// that far, or for a deployment recorded before strategies were.
    pub fn strategy_label(&self) -> &str {
        match self.strategy.as_str() {
            s @ ("start-first" | "stop-first") => s,
            _ => "-",
        }
    }

    pub fn duration_ms(&self) -> Option<u64> {
        self.finished_at
            .map(|f| (f - self.started_at).num_milliseconds().max(0) as u64)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub action: String,
    pub target: Option<String>,
    /// attempted | refused | succeeded | failed | ...
    pub outcome: String,
    pub detail: Option<String>,
}

/// The deploy lock's holder as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockHolder {
    pub actor: Actor,
    /// The holder's process start time (from /proc), so a reused pid is not taken for it.
    pub pid_start: Option<u64>,
    pub action: String,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    pub deployment_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum LockState {
    Free,
    Held {
        holder: LockHolder,
    },
    /// The holder's process is gone, or its heartbeat stopped.
    Stale {
        holder: LockHolder,
        reason: String,
    },
}

/// What a deployment row starts with.
#[derive(Debug, Clone)]
pub struct NewDeployment {
    pub kind: DeployKind,
    pub parent_id: Option<i64>,
    pub services: Vec<String>,
    pub to_tag: Option<String>,
    pub strategy: String,
}

impl Default for Actor {
    fn default() -> Self {
        Self {
            user: "unknown".into(),
            ssh_client: None,
            host: "unknown-host".into(),
            pid: 0,
        }
    }
}

impl Default for LockHolder {
    fn default() -> Self {
        Self {
            actor: Actor::default(),
            pid_start: None,
            action: "unknown".into(),
            started_at: DateTime::<Utc>::MIN_UTC,
            heartbeat_at: DateTime::<Utc>::MIN_UTC,
            deployment_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_side_with_names_that_fail_validation_keeps_the_rest() {
        // As an older console wrote it: a revision label that is no commit, a tag with a space.
        let side: ImageSide = serde_json::from_str(
            r#"{"image":"app:v1","tag":"v 1","digest":"sha256:abc","sha":"main","image_id":"sha256:1"}"#,
        )
        .unwrap();
        assert_eq!(side.image.as_deref(), Some("app:v1"));
        assert_eq!(side.image_id.as_deref(), Some("sha256:1"));
        assert_eq!((side.tag, side.digest, side.sha), (None, None, None));
        let d = format!("sha256:{}", "a".repeat(64));
        let side: ImageSide = serde_json::from_str(&format!(
            r#"{{"tag":"main-abc1234","digest":"{d}","sha":"ABC1234"}}"#
        ))
        .unwrap();
        assert_eq!(side.tag_str(), Some("main-abc1234"));
        assert_eq!(side.digest_str(), Some(d.as_str()));
        assert_eq!(side.sha_str(), Some("abc1234"));
        // Written back as the same plain strings.
        let text = serde_json::to_string(&side).unwrap();
        assert!(text.contains(r#""tag":"main-abc1234""#), "{text}");
    }
}
