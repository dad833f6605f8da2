//! One-off jobs on the swarm (the migrate step): a replicated-job service cloned from the app
//! service's task template (its env, secrets, mounts, networks, placement) with the target
//! image and the migrate arguments, run once, its exit code and output tail read, then removed.

use super::{STACK_LABEL, SwarmError, SwarmSource};
use bollard::models::{
    HealthConfig, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicatedJob,
    TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Label on a job's service, so a leftover (a console killed mid-job) can be recognised.
pub const JOB_LABEL: &str = "elt-console.job";

#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The job service's name (`<stack>_<service>-migrate-<n>`).
    pub name: String,
    /// The service whose task template the job copies.
    pub template_service: String,
    pub image: String,
    /// Arguments after the image's entrypoint (a stack file's `command`).
    pub args: Vec<String>,
    pub stack: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    pub task_id: Option<String>,
    /// The task's final state (`complete`, `failed`, `rejected`, ...).
    pub state: String,
    pub exit_code: Option<i64>,
    pub error: Option<String>,
    /// The last lines of its output, without the engine's timestamps.
    pub output_tail: Vec<String>,
}

impl JobOutcome {
    pub fn succeeded(&self) -> bool {
        self.state == "complete" && self.exit_code.unwrap_or(0) == 0
    }
}

const FINAL_TASK_STATES: [&str; 6] = [
    "complete", "failed", "rejected", "shutdown", "orphaned", "remove",
];
const OUTPUT_TAIL_LINES: u32 = 20;

fn strip_timestamp(line: &str) -> String {
    match line.split_once(' ') {
        Some((stamp, rest)) if chrono::DateTime::parse_from_rfc3339(stamp).is_ok() => {
            rest.to_string()
        }
        _ => line.to_string(),
    }
}

impl SwarmSource {
    /// Run `job` once and wait (every `poll`, at most `limit`) for its task to end. The job
    /// service is removed afterwards, whatever happened.
    pub async fn run_job(
        &self,
        job: &JobSpec,
        poll: Duration,
        limit: Duration,
    ) -> Result<JobOutcome, SwarmError> {
        self.run_job_until(job, poll, limit, &CancellationToken::new())
            .await
    }

    /// `run_job`, stopped when `stop` is cancelled (the operator's Ctrl-C): the job service is
    /// removed then too, and the answer is `SwarmError::Cancelled`.
    pub async fn run_job_until(
        &self,
        job: &JobSpec,
        poll: Duration,
        limit: Duration,
        stop: &CancellationToken,
    ) -> Result<JobOutcome, SwarmError> {
        let template = self
            .inspect(&job.template_service)
            .await?
            .and_then(|s| s.spec)
            .and_then(|s| s.task_template)
            .ok_or_else(|| SwarmError::NoService {
                service: job.template_service.clone(),
                host: self.host().to_string(),
            })?;
        let mut task = template;
        let container = task.container_spec.get_or_insert_default();
        container.image = Some(job.image.clone());
        container.args = Some(job.args.clone());
        // The app's healthcheck judges a server; a job that exits is done, healthy or not.
        container.health_check = Some(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        });
        // A migration needs the database, not the GPUs the running app holds.
        if let Some(resources) = task.resources.as_mut() {
            resources.reservations = None;
        }
        task.restart_policy = Some(TaskSpecRestartPolicy {
            condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
            ..Default::default()
        });
        task.force_update = None;
        let spec = ServiceSpec {
            name: Some(job.name.clone()),
            labels: Some(HashMap::from([
                (STACK_LABEL.to_string(), job.stack.clone()),
                (JOB_LABEL.to_string(), "migrate".to_string()),
            ])),
            task_template: Some(task),
            mode: Some(ServiceSpecMode {
                replicated_job: Some(ServiceSpecModeReplicatedJob {
                    max_concurrent: Some(1),
                    total_completions: Some(1),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.call(self.client().create_service(spec, None)).await?;
        let outcome = tokio::select! {
            _ = stop.cancelled() => Err(SwarmError::Cancelled {
                what: format!("the job {}", job.name),
            }),
            outcome = self.wait_for_job(&job.name, poll, limit) => outcome,
        };
        if let Err(e) = self.call(self.client().delete_service(&job.name)).await {
            tracing::warn!(job = %job.name, error = %e, "could not remove the job service");
        }
        outcome
    }

    async fn wait_for_job(
        &self,
        name: &str,
        poll: Duration,
        limit: Duration,
    ) -> Result<JobOutcome, SwarmError> {
        let deadline = Instant::now() + limit;
        let mut last_state = String::from("no task yet");
        loop {
            let tasks = self.tasks_of(name).await?;
            if let Some(task) = tasks.first() {
                last_state = task.state.clone();
                if FINAL_TASK_STATES.contains(&task.state.as_str()) {
                    let output_tail = self
                        .task_log_lines(&task.id, Some(OUTPUT_TAIL_LINES))
                        .await
                        .map(|lines| lines.iter().map(|l| strip_timestamp(l)).collect())
                        .unwrap_or_else(|e| vec![format!("(its output could not be read: {e})")]);
                    return Ok(JobOutcome {
                        task_id: Some(task.id.clone()),
                        state: task.state.clone(),
                        exit_code: task.exit_code,
                        error: task.error.clone(),
                        output_tail,
                    });
                }
            }
            if Instant::now() >= deadline {
                return Err(SwarmError::Timeout {
                    what: format!("the job {name}"),
                    secs: limit.as_secs(),
                    last: last_state,
                });
            }
            tokio::time::sleep(poll).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_lines_lose_the_engine_timestamp_only() {
        assert_eq!(
            strip_timestamp("2026-12-05T08:40:39.055570744Z migrated 3 tables"),
            "migrated 3 tables"
        );
        assert_eq!(strip_timestamp("no stamp here"), "no stamp here");
    }

    #[test]
    fn a_job_succeeds_only_complete_with_exit_zero() {
        let outcome = |state: &str, code| JobOutcome {
            task_id: None,
            state: state.into(),
            exit_code: code,
            error: None,
            output_tail: vec![],
        };
        assert!(outcome("complete", Some(0)).succeeded());
        assert!(!outcome("failed", Some(3)).succeeded());
        assert!(!outcome("complete", Some(1)).succeeded());
    }
}
