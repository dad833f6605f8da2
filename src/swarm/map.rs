//! bollard's swarm types → ours.

use crate::domain::{
    GenericResource, SwarmNodeView, SwarmServiceView, SwarmTaskView, SwarmUpdateState,
    SwarmUpdateStatus,
};
use bollard::models::{
    GenericResources, Node, Service, ServiceUpdateStatus, ServiceUpdateStatusStateEnum, Task,
};
use chrono::{DateTime, Utc};

/// bollard gives the engine's timestamps as text (its `chrono` feature is off).
pub(crate) fn time(t: Option<&String>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| t.timestamp() > 0)
}

pub(crate) fn resources(list: Option<&GenericResources>) -> Vec<GenericResource> {
    let mut out: Vec<GenericResource> = list
        .into_iter()
        .flatten()
        .filter_map(|r| {
            if let Some(named) = &r.named_resource_spec {
                Some(GenericResource::Named {
                    kind: named.kind.clone()?,
                    value: named.value.clone()?,
                })
            } else {
                let discrete = r.discrete_resource_spec.as_ref()?;
                Some(GenericResource::Discrete {
                    kind: discrete.kind.clone()?,
                    count: discrete.value?,
                })
            }
        })
        .collect();
    out.sort_by_key(|r| r.to_string());
    out
}

/// `DOCKER_RESOURCE_NVIDIA-GPU=GPU-a,GPU-b` → named resources (see
/// `SwarmSource::assigned_from_container`).
pub(crate) fn resources_from_env(env: &[String]) -> Vec<GenericResource> {
    let mut out: Vec<GenericResource> = env
        .iter()
        .filter_map(|line| line.strip_prefix("DOCKER_RESOURCE_")?.split_once('='))
        .flat_map(|(kind, values)| {
            values
                .split(',')
                .filter(|v| !v.is_empty())
                .map(move |value| GenericResource::Named {
                    kind: kind.to_string(),
                    value: value.to_string(),
                })
        })
        .collect();
    out.sort_by_key(|r| r.to_string());
    out
}

pub(crate) fn update_state(s: ServiceUpdateStatusStateEnum) -> Option<SwarmUpdateState> {
    use ServiceUpdateStatusStateEnum as S;
    Some(match s {
        S::EMPTY => return None,
        S::UPDATING => SwarmUpdateState::Updating,
        S::PAUSED => SwarmUpdateState::Paused,
        S::COMPLETED => SwarmUpdateState::Completed,
        S::ROLLBACK_STARTED => SwarmUpdateState::RollbackStarted,
        S::ROLLBACK_PAUSED => SwarmUpdateState::RollbackPaused,
        S::ROLLBACK_COMPLETED => SwarmUpdateState::RollbackCompleted,
    })
}

pub(crate) fn update_status(u: Option<&ServiceUpdateStatus>) -> Option<SwarmUpdateStatus> {
    let u = u?;
    Some(SwarmUpdateStatus {
        state: update_state(u.state?)?,
        message: u.message.clone().filter(|m| !m.is_empty()),
        started_at: time(u.started_at.as_ref()),
        completed_at: time(u.completed_at.as_ref()),
    })
}

pub(crate) fn service_image(service: &Service) -> String {
    service
        .spec
        .as_ref()
        .and_then(|s| s.task_template.as_ref())
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

pub(crate) fn service_view(service: &Service, running: u64) -> SwarmServiceView {
    let spec = service.spec.as_ref();
    SwarmServiceView {
        id: service.id.clone().unwrap_or_default(),
        name: spec.and_then(|s| s.name.clone()).unwrap_or_default(),
        image: service_image(service),
        replicas: spec
            .and_then(|s| s.mode.as_ref())
            .and_then(|m| m.replicated.as_ref())
            .and_then(|r| r.replicas)
            .map(|r| r.max(0) as u64),
        running,
        update: update_status(service.update_status.as_ref()),
        reserved: resources(
            spec.and_then(|s| s.task_template.as_ref())
                .and_then(|t| t.resources.as_ref())
                .and_then(|r| r.reservations.as_ref())
                .and_then(|r| r.generic_resources.as_ref()),
        ),
    }
}

pub(crate) fn task_view(task: &Task, service: &str) -> SwarmTaskView {
    let status = task.status.as_ref();
    let container = status.and_then(|s| s.container_status.as_ref());
    SwarmTaskView {
        id: task.id.clone().unwrap_or_default(),
        service: service.to_string(),
        slot: task.slot,
        node_id: task.node_id.clone().filter(|n| !n.is_empty()),
        node: None,
        state: status
            .and_then(|s| s.state)
            .map(|s| s.to_string())
            .unwrap_or_else(|| "unknown".into()),
        desired_state: task
            .desired_state
            .map(|s| s.to_string())
            .unwrap_or_else(|| "unknown".into()),
        message: status
            .and_then(|s| s.message.clone())
            .filter(|m| !m.is_empty()),
        error: status.and_then(|s| s.err.clone()).filter(|m| !m.is_empty()),
        container_id: container
            .and_then(|c| c.container_id.clone())
            .filter(|c| !c.is_empty()),
        exit_code: container.and_then(|c| c.exit_code),
        image: task
            .spec
            .as_ref()
            .and_then(|s| s.container_spec.as_ref())
            .and_then(|c| c.image.clone())
            .unwrap_or_default(),
        since: time(status.and_then(|s| s.timestamp.as_ref())),
        assigned: resources(task.assigned_generic_resources.as_ref()),
    }
}

pub(crate) fn node_view(node: &Node) -> SwarmNodeView {
    let spec = node.spec.as_ref();
    let description = node.description.as_ref();
    let status = node.status.as_ref();
    SwarmNodeView {
        id: node.id.clone().unwrap_or_default(),
        hostname: description
            .and_then(|d| d.hostname.clone())
            .unwrap_or_default(),
        role: spec
            .and_then(|s| s.role)
            .map(|r| r.to_string())
            .unwrap_or_default(),
        availability: spec
            .and_then(|s| s.availability)
            .map(|a| a.to_string())
            .unwrap_or_default(),
        state: status
            .and_then(|s| s.state)
            .map(|s| s.to_string())
            .unwrap_or_else(|| "unknown".into()),
        leader: node
            .manager_status
            .as_ref()
            .and_then(|m| m.leader)
            .unwrap_or(false),
        addr: status
            .and_then(|s| s.addr.clone())
            .filter(|a| !a.is_empty()),
        engine_version: description
            .and_then(|d| d.engine.as_ref())
            .and_then(|e| e.engine_version.clone()),
        resources: resources(
            description
                .and_then(|d| d.resources.as_ref())
                .and_then(|r| r.generic_resources.as_ref()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{
        GenericResourcesInner, GenericResourcesInnerDiscreteResourceSpec,
        GenericResourcesInnerNamedResourceSpec,
    };

    #[test]
    fn generic_resources_map_named_and_discrete_sorted() {
        let list = vec![
            GenericResourcesInner {
                named_resource_spec: Some(GenericResourcesInnerNamedResourceSpec {
                    kind: Some("NVIDIA-GPU".into()),
                    value: Some("GPU-b".into()),
                }),
                discrete_resource_spec: None,
            },
            GenericResourcesInner {
                named_resource_spec: None,
                discrete_resource_spec: Some(GenericResourcesInnerDiscreteResourceSpec {
                    kind: Some("NVIDIA-GPU".into()),
                    value: Some(1),
                }),
            },
            GenericResourcesInner::default(),
        ];
        let mapped = resources(Some(&list));
        assert_eq!(
            mapped.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["NVIDIA-GPU:1", "NVIDIA-GPU=GPU-b"]
        );
    }

    #[test]
    fn assigned_resources_read_from_the_container_env() {
        let env = vec![
            "PATH=/bin".to_string(),
            "DOCKER_RESOURCE_NVIDIA-GPU=GPU-2,GPU-1".to_string(),
        ];
        assert_eq!(
            resources_from_env(&env)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["NVIDIA-GPU=GPU-1", "NVIDIA-GPU=GPU-2"]
        );
        assert!(resources_from_env(&["A=b".to_string()]).is_empty());
    }

    #[test]
    fn engine_times_parse_and_zero_is_none() {
        assert!(time(Some(&"2026-12-05T08:40:39.055570744Z".to_string())).is_some());
        assert!(time(Some(&"0001-01-01T00:00:00Z".to_string())).is_none());
        assert!(time(Some(&"garbage".to_string())).is_none());
    }
}
