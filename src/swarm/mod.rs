//! Docker Swarm as a deployment's runtime: a stack's services, tasks and nodes read through the
//! Docker API (bollard), service updates followed to their end, Swarm's own rollback, and
//! one-off jobs (migrations). Everything bollard says is converted to domain types here.
//!
//! A stack's services carry the label `com.docker.stack.namespace=<stack>` and are named
//! `<stack>_<service>`, as `docker stack deploy` names them.

mod job;
mod map;
mod update;

pub use job::{JobOutcome, JobSpec};
pub use update::{
    FailureAction, UpdateEnd, UpdateOrder, UpdateProgress, UpdateSettings, UpdateStarted,
};

use crate::domain::{
    GenericResource, SwarmNodeView, SwarmServiceView, SwarmStackView, SwarmTaskView,
};
use crate::sources::docker::{DockerError, DockerSource};
use bollard::query_parameters::{
    ListNodesOptions, ListServicesOptionsBuilder, ListTasksOptionsBuilder,
};
use futures_util::StreamExt;
use std::collections::HashMap;
use thiserror::Error;

pub const STACK_LABEL: &str = "com.docker.stack.namespace";

#[derive(Debug, Error, Clone)]
pub enum SwarmError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(
        "the Docker engine at {host} is not a swarm manager (docker swarm init, or point at a manager)"
    )]
    NotManager { host: String },
    #[error("service {service} not found on the swarm at {host}")]
    NoService { service: String, host: String },
    #[error("service {service}: {what}")]
    Spec { service: String, what: String },
    /// The operator stopped it (Ctrl-C) before it ended; what it started was removed.
    #[error("{what} was cancelled by the operator")]
    Cancelled { what: String },
    #[error("{what} did not finish within {secs} s (last state: {last})")]
    Timeout {
        what: String,
        secs: u64,
        last: String,
    },
}

/// A swarm manager's API, on the same connection type (and timeout) as the compose views.
#[derive(Clone)]
pub struct SwarmSource {
    docker: DockerSource,
}

impl SwarmSource {
    /// Connect to `host` (`unix://` or `tcp://`; empty: DOCKER_HOST or the local socket).
    pub async fn connect(host: &str, timeout_ms: u64) -> Result<Self, SwarmError> {
        Ok(Self {
            docker: DockerSource::connect(host, timeout_ms).await?,
        })
    }

    /// Connect as `[docker]` says (its host, TLS or ssh settings, timeout): the manager.
    pub async fn connect_config(c: &crate::config::DockerConfig) -> Result<Self, SwarmError> {
        Ok(Self {
            docker: DockerSource::connect_config(c).await?,
        })
    }

    pub fn from_docker(docker: DockerSource) -> Self {
        Self { docker }
    }

    pub fn host(&self) -> &str {
        self.docker.host()
    }

    /// A stack service's full name: `<stack>_<service>`.
    pub fn service_name(stack: &str, service: &str) -> String {
        format!("{stack}_{service}")
    }

    /// Bollard's error for "this node is not a swarm manager" becomes one the operator can
    /// act on.
    fn swarm_error(&self, e: DockerError) -> SwarmError {
        match &e {
            DockerError::Api(msg)
                if msg.contains("not a swarm manager") || msg.contains("HTTP 503") =>
            {
                SwarmError::NotManager {
                    host: self.host().to_string(),
                }
            }
            _ => SwarmError::Docker(e),
        }
    }

    async fn call<T>(
        &self,
        fut: impl Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<T, SwarmError> {
        self.docker
            .timed(fut)
            .await
            .map_err(|e| self.swarm_error(e))
    }

    fn client(&self) -> &bollard::Docker {
        self.docker.client()
    }

    /// The stack's services, their tasks (newest first within a service) and every node.
    pub async fn stack(&self, stack: &str) -> Result<SwarmStackView, SwarmError> {
        let filters = HashMap::from([("label", vec![format!("{STACK_LABEL}={stack}")])]);
        let options = ListServicesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let services = self
            .call(self.client().list_services(Some(options)))
            .await?;
        let nodes = self.nodes().await?;
        let hostnames: HashMap<&str, &str> = nodes
            .iter()
            .map(|n| (n.id.as_str(), n.hostname.as_str()))
            .collect();
        let mut service_views = Vec::with_capacity(services.len());
        let mut task_views = Vec::new();
        for service in &services {
            let Some(name) = service.spec.as_ref().and_then(|s| s.name.clone()) else {
                continue;
            };
            let mut tasks = self.tasks_of(&name).await?;
            for task in &mut tasks {
                task.node = task
                    .node_id
                    .as_deref()
                    .and_then(|id| hostnames.get(id))
                    .map(|h| h.to_string());
                if task.assigned.is_empty() && task.is_running() {
                    task.assigned = self.assigned_from_container(task).await;
                }
            }
            let running = tasks.iter().filter(|t| t.is_running()).count() as u64;
            service_views.push(map::service_view(service, running));
            task_views.extend(tasks);
        }
        service_views.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(SwarmStackView {
            stack: stack.to_string(),
            services: service_views,
            tasks: task_views,
            nodes,
        })
    }

    /// The generic resources a running task was given, from its container's environment
    /// (`DOCKER_RESOURCE_<KIND>=<id>,...`, which Swarm sets for NVIDIA's runtime): engines up
    /// to at least 20.10 send a task's assignment as `GenericResources`, a field the API's
    /// schema (and so bollard) names `AssignedGenericResources`. Only containers on the node
    /// this console talks to can be read; elsewhere the list stays empty.
    async fn assigned_from_container(&self, task: &SwarmTaskView) -> Vec<GenericResource> {
        let Some(container) = task.container_id.as_deref() else {
            return Vec::new();
        };
        let Ok(inspect) = self
            .docker
            .timed(self.client().inspect_container(container, None))
            .await
        else {
            return Vec::new();
        };
        let env = inspect.config.and_then(|c| c.env).unwrap_or_default();
        map::resources_from_env(&env)
    }

    /// One service's view; None when the swarm has no such service.
    pub async fn service(&self, name: &str) -> Result<Option<SwarmServiceView>, SwarmError> {
        let Some(service) = self.inspect(name).await? else {
            return Ok(None);
        };
        let running = self
            .tasks_of(name)
            .await?
            .iter()
            .filter(|t| t.is_running())
            .count() as u64;
        Ok(Some(map::service_view(&service, running)))
    }

    pub(crate) async fn inspect(
        &self,
        name: &str,
    ) -> Result<Option<bollard::models::Service>, SwarmError> {
        match self.call(self.client().inspect_service(name, None)).await {
            Ok(s) => Ok(Some(s)),
            Err(SwarmError::Docker(DockerError::Api(msg)))
                if msg.contains("HTTP 404") || msg.contains("not found") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// A service's tasks, newest first (by slot, then by the time of their last state).
    pub async fn tasks_of(&self, service: &str) -> Result<Vec<SwarmTaskView>, SwarmError> {
        let filters = HashMap::from([("service", vec![service.to_string()])]);
        let options = ListTasksOptionsBuilder::default().filters(&filters).build();
        let tasks = self.call(self.client().list_tasks(Some(options))).await?;
        let mut views: Vec<SwarmTaskView> =
            tasks.iter().map(|t| map::task_view(t, service)).collect();
        views.sort_by(|a, b| a.slot.cmp(&b.slot).then(b.since.cmp(&a.since)));
        Ok(views)
    }

    /// Every node of the swarm with what it advertises, sorted by hostname.
    pub async fn nodes(&self) -> Result<Vec<SwarmNodeView>, SwarmError> {
        let nodes = self
            .call(self.client().list_nodes(None::<ListNodesOptions>))
            .await?;
        let mut views: Vec<SwarmNodeView> = nodes.iter().map(map::node_view).collect();
        views.sort_by(|a, b| a.hostname.cmp(&b.hostname));
        Ok(views)
    }

    /// A task's logs with the engine's timestamps: the last `tail` lines (None: all) from
    /// `since` (Unix seconds) on, following or up to now. Items are (from stderr, bytes), as
    /// for a container's logs.
    pub fn task_logs(
        &self,
        task_id: &str,
        follow: bool,
        tail: Option<u32>,
        since: Option<i64>,
    ) -> impl futures_util::Stream<Item = Result<(bool, bytes::Bytes), SwarmError>> + use<> {
        let options = crate::sources::docker::log_options(follow, tail, since);
        let host = self.host().to_string();
        self.client()
            .task_logs(task_id, Some(options))
            .map(move |item| match item {
                Ok(bollard::container::LogOutput::StdErr { message }) => Ok((true, message)),
                Ok(
                    bollard::container::LogOutput::StdOut { message }
                    | bollard::container::LogOutput::Console { message }
                    | bollard::container::LogOutput::StdIn { message },
                ) => Ok((false, message)),
                Err(e @ bollard::errors::Error::DockerResponseServerError { .. }) => Err(
                    SwarmError::Docker(DockerError::Api(crate::sources::docker::describe(&e))),
                ),
                Err(e) => Err(SwarmError::Docker(DockerError::Unreachable {
                    host: host.clone(),
                    reason: crate::sources::docker::describe(&e),
                })),
            })
    }

    /// A task's whole log up to now as text lines (timestamps kept), for reports and tests.
    pub async fn task_log_lines(
        &self,
        task_id: &str,
        tail: Option<u32>,
    ) -> Result<Vec<String>, SwarmError> {
        let mut stream = Box::pin(self.task_logs(task_id, false, tail, None));
        let mut text = Vec::new();
        while let Some(item) = stream.next().await {
            let (_, bytes) = item?;
            text.extend_from_slice(&bytes);
        }
        Ok(String::from_utf8_lossy(&text)
            .lines()
            .map(str::to_string)
            .collect())
    }
}
