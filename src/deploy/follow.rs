//! Following a deployment through its events, live or from the store. The engine's events are
//! the one shape of a deploy's progress: the recorder writes them into the store, `replay`
//! reads a stored deployment back as the same events, and `Followed` folds either into what a
//! console shows. The dashboard follows a detached deploy this way (it reads the store, so it
//! survives its own exit and the deploy's), without a second format.

use super::types::{DeployEvent, STEPS, StepState};
use crate::domain::{DeployStatus, Deployment, ImageSide};

/// One step as its events tell it.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowedStep {
    pub seq: u32,
    pub name: &'static str,
    pub state: StepState,
    /// None while it runs.
    pub duration_ms: Option<u64>,
    pub summary: String,
}

/// A deployment folded from its events.
#[derive(Debug, Clone, PartialEq)]
pub struct Followed {
    pub deployment_id: Option<i64>,
    /// In the order of `seq`.
    pub steps: Vec<FollowedStep>,
    /// The latest progress line, while it runs.
    pub progress: Option<String>,
    pub from: ImageSide,
    pub to: ImageSide,
    pub backup_path: Option<String>,
    pub error: Option<String>,
    /// `Running` until its `Finished` event.
    pub status: DeployStatus,
    pub downtime_ms: Option<u64>,
    pub duration_ms: Option<u64>,
    /// `start-first` or `stop-first`, once the engine chose.
    pub strategy: Option<String>,
}

impl Default for Followed {
    fn default() -> Self {
        Self {
            deployment_id: None,
            steps: Vec::new(),
            progress: None,
            from: ImageSide::default(),
            to: ImageSide::default(),
            backup_path: None,
            error: None,
            status: DeployStatus::Running,
            downtime_ms: None,
            duration_ms: None,
            strategy: None,
        }
    }
}

impl Followed {
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a DeployEvent>) -> Self {
        let mut f = Self::default();
        for e in events {
            f.apply(e);
        }
        f
    }

    /// A stored deployment, through the same events the engine emitted for it.
    pub fn from_store(d: &Deployment) -> Self {
        Self::from_events(&replay(d))
    }

    pub fn step(&self, seq: u32) -> Option<&FollowedStep> {
        self.steps.iter().find(|s| s.seq == seq)
    }

    /// Fold one event in, as the recorder writes it into the store.
    pub fn apply(&mut self, event: &DeployEvent) {
        match event {
            DeployEvent::Started { deployment_id, .. } => {
                self.deployment_id = *deployment_id;
                self.status = DeployStatus::Running;
            }
            DeployEvent::Step {
                seq,
                name,
                state,
                duration_ms,
                summary,
            } => {
                let step = FollowedStep {
                    seq: *seq,
                    name,
                    state: *state,
                    duration_ms: duration_ms.filter(|_| *state != StepState::Running),
                    summary: summary.clone(),
                };
                match self.steps.iter_mut().find(|s| s.seq == *seq) {
                    Some(s) => *s = step,
                    None => {
                        let at = self.steps.partition_point(|s| s.seq < *seq);
                        self.steps.insert(at, step);
                    }
                }
            }
            DeployEvent::Progress { message, .. } => self.progress = Some(message.clone()),
            DeployEvent::Sides { from, to } => {
                self.from = from.clone();
                if let Some(to) = to {
                    self.to = to.clone();
                }
            }
            DeployEvent::Backup { path } => self.backup_path = Some(path.clone()),
            DeployEvent::Error { message } => self.error = Some(message.clone()),
            DeployEvent::Finished {
                status,
                message,
                downtime_ms,
                duration_ms,
                ..
            } => {
                self.status = *status;
                self.downtime_ms = *downtime_ms;
                self.duration_ms = Some(*duration_ms);
                self.progress = None;
                self.error = final_error(*status, message)
                    .filter(|m| !m.is_empty())
                    .map(str::to_string);
            }
            DeployEvent::Strategy { strategy, .. } => self.strategy = Some(strategy.clone()),
            DeployEvent::Plan { .. } | DeployEvent::Audit { .. } | DeployEvent::AutoRollback(_) => {
            }
        }
    }
}

/// A stored deployment as the events that wrote it (in the order a console needs them):
/// started, its sides, each step as it stands, the progress line, the backup, the error and,
/// once it ended, how.
pub fn replay(d: &Deployment) -> Vec<DeployEvent> {
    let mut events = vec![
        DeployEvent::Started {
            deployment_id: Some(d.id),
            kind: d.kind,
            target: d.to.tag_str().unwrap_or_default().to_string(),
            actor: d.actor.describe(),
            runtime: d.strategy.clone(),
        },
        DeployEvent::Sides {
            from: d.from.clone(),
            to: Some(d.to.clone()),
        },
    ];
    if matches!(d.strategy.as_str(), "start-first" | "stop-first") {
        events.push(DeployEvent::Strategy {
            strategy: d.strategy.clone(),
            why: String::new(),
        });
    }
    let mut running = None;
    for s in &d.steps {
        // Step names are the engine's own; a row that names another step is not ours to show.
        let Some(name) = STEPS.iter().find(|n| **n == s.name) else {
            continue;
        };
        let state = StepState::parse(&s.status).unwrap_or(StepState::Failed);
        if state == StepState::Running {
            running = Some(s.seq);
        }
        events.push(DeployEvent::Step {
            seq: s.seq,
            name,
            state,
            duration_ms: s.duration_ms.filter(|_| state != StepState::Running),
            summary: s.summary.clone().unwrap_or_default(),
        });
    }
    if let Some(message) = &d.progress {
        events.push(DeployEvent::Progress {
            seq: running.unwrap_or(0),
            message: message.clone(),
            current: 0,
            total: 0,
        });
    }
    if let Some(path) = &d.backup_path {
        events.push(DeployEvent::Backup { path: path.clone() });
    }
    if let Some(message) = &d.error {
        events.push(DeployEvent::Error {
            message: message.clone(),
        });
    }
    if d.finished_at.is_some() {
        events.push(DeployEvent::Finished {
            deployment_id: Some(d.id),
            status: d.status,
            message: d.error.clone().unwrap_or_default(),
            downtime_ms: d.downtime_ms,
            duration_ms: d.duration_ms().unwrap_or(0),
        });
    }
    events
}

/// A deployment's final error: none when it succeeded or had nothing to do.
pub(crate) fn final_error(status: DeployStatus, message: &str) -> Option<&str> {
    (status != DeployStatus::Succeeded && status != DeployStatus::Skipped).then_some(message)
}
