//! A Docker Swarm stack as the console shows it: services, their tasks, the nodes and the
//! generic resources (GPUs) they advertise or reserve. src/swarm/ converts bollard's types
//! into these.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One generic resource: a named one (`NVIDIA-GPU=GPU-<uuid>`, what a node advertises and a
/// task is assigned) or a count of a kind (`NVIDIA-GPU: 1`, what a service reserves).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum GenericResource {
    Named { kind: String, value: String },
    Discrete { kind: String, count: i64 },
}

impl std::fmt::Display for GenericResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GenericResource::Named { kind, value } => write!(f, "{kind}={value}"),
            GenericResource::Discrete { kind, count } => write!(f, "{kind}:{count}"),
        }
    }
}

/// A service update's state, as Swarm reports it (`UpdateStatus.State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SwarmUpdateState {
    Updating,
    Paused,
    Completed,
    RollbackStarted,
    RollbackPaused,
    RollbackCompleted,
}

impl SwarmUpdateState {
    /// Swarm moves on from here only when someone acts (a new update, a rollback).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Paused | Self::RollbackPaused | Self::RollbackCompleted
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Updating => "updating",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::RollbackStarted => "rollback_started",
            Self::RollbackPaused => "rollback_paused",
            Self::RollbackCompleted => "rollback_completed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwarmUpdateStatus {
    pub state: SwarmUpdateState,
    pub message: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwarmServiceView {
    pub id: String,
    /// The service's full name (`<stack>_<service>`).
    pub name: String,
    /// The image reference in the service's spec (a digest reference after a deploy).
    pub image: String,
    /// Wanted replicas; None for a global service or a job.
    pub replicas: Option<u64>,
    /// Tasks whose state is running.
    pub running: u64,
    pub update: Option<SwarmUpdateStatus>,
    /// Generic resources each task reserves (`NVIDIA-GPU: 1`).
    pub reserved: Vec<GenericResource>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwarmTaskView {
    pub id: String,
    /// The service's full name.
    pub service: String,
    pub slot: Option<i64>,
    pub node_id: Option<String>,
    /// The node's hostname, where the node is known.
    pub node: Option<String>,
    /// Swarm's task state (`running`, `starting`, `failed`, `shutdown`, `complete`, ...).
    pub state: String,
    pub desired_state: String,
    pub message: Option<String>,
    pub error: Option<String>,
    pub container_id: Option<String>,
    pub exit_code: Option<i64>,
    pub image: String,
    /// When the task reached its current state.
    pub since: Option<DateTime<Utc>>,
    /// The generic resources the scheduler gave it (`NVIDIA-GPU=GPU-<uuid>`).
    pub assigned: Vec<GenericResource>,
}

impl SwarmTaskView {
    pub fn is_running(&self) -> bool {
        self.state == "running"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwarmNodeView {
    pub id: String,
    pub hostname: String,
    /// `manager` or `worker`.
    pub role: String,
    /// `active`, `pause` or `drain`.
    pub availability: String,
    /// `ready`, `down`, `unknown`, `disconnected`.
    pub state: String,
    pub leader: bool,
    pub addr: Option<String>,
    pub engine_version: Option<String>,
    /// What the node advertises (`node-generic-resources` in its daemon.json).
    pub resources: Vec<GenericResource>,
}

/// A stack: its services, their tasks (newest first per service) and the swarm's nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwarmStackView {
    pub stack: String,
    pub services: Vec<SwarmServiceView>,
    pub tasks: Vec<SwarmTaskView>,
    pub nodes: Vec<SwarmNodeView>,
}
