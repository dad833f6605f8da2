//! `status` for a Swarm deployment: the stack read through the manager, and the configured
//! services' state taken from it (a service is up when as many tasks run as it wants).

use crate::config::Config;
use crate::domain::{
    ContainerView, ImageRef, RunningService, Section, SwarmStackView, SwarmTaskView,
};
use crate::swarm::{SwarmError, SwarmSource};

pub(super) async fn read_stack(config: &Config) -> Result<SwarmStackView, SwarmError> {
    let swarm = SwarmSource::connect_config(&config.docker).await?;
    swarm.stack(&config.deployment.stack).await
}

/// The configured services as the stack runs them, and the containers section: empty when
/// the stack was read, its error when not (so the report says the app's state is unknown).
pub(super) fn services_and_containers(
    config: &Config,
    stack: &Section<SwarmStackView>,
) -> (Vec<RunningService>, Section<Vec<ContainerView>>) {
    let containers = match stack {
        Section::Ok { elapsed_ms, .. } => Section::Ok {
            elapsed_ms: *elapsed_ms,
            data: Vec::new(),
        },
        Section::Error { elapsed_ms, error } => Section::Error {
            elapsed_ms: *elapsed_ms,
            error: format!("swarm: {error}"),
        },
    };
    let Some(view) = stack.data() else {
        return (Vec::new(), containers);
    };
    let services = config
        .deployment
        .services
        .iter()
        .map(|s| running_service(&config.deployment.stack, &s.name, view))
        .collect();
    (services, containers)
}

fn running_service(stack: &str, service: &str, view: &SwarmStackView) -> RunningService {
    let name = SwarmSource::service_name(stack, service);
    let found = view.services.iter().find(|s| s.name == name);
    let task: Option<&SwarmTaskView> = view
        .tasks
        .iter()
        .find(|t| t.service == name && t.is_running());
    let image = found.map(|s| s.image.clone());
    RunningService {
        service: service.to_string(),
        // The service's full name: where a compose service names its container.
        container: found.map(|s| s.name.clone()),
        tag: image
            .as_deref()
            .and_then(|i| ImageRef::parse(i).ok())
            .and_then(|r| r.tag),
        image,
        revision: None,
        up: found.is_some_and(|s| s.running >= s.replicas.unwrap_or(1).max(1)) && task.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SwarmServiceView;

    fn view(running: u64, task_state: &str) -> SwarmStackView {
        SwarmStackView {
            stack: "elt".into(),
            services: vec![SwarmServiceView {
                id: "s1".into(),
                name: "elt_app".into(),
                image: "ghcr.io/acme/app:main-0a1b2c3@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
                replicas: Some(1),
                running,
                update: None,
                reserved: vec![],
            }],
            tasks: vec![SwarmTaskView {
                id: "t1".into(),
                service: "elt_app".into(),
                slot: Some(1),
                node_id: None,
                node: None,
                state: task_state.into(),
                desired_state: "running".into(),
                message: None,
                error: None,
                container_id: None,
                exit_code: None,
                image: String::new(),
                since: None,
                assigned: vec![],
            }],
            nodes: vec![],
        }
    }

    #[test]
    fn a_stack_service_is_up_when_its_tasks_run_and_names_its_tag() {
        let up = running_service("elt", "app", &view(1, "running"));
        assert!(up.up);
        assert_eq!(up.container.as_deref(), Some("elt_app"));
        assert_eq!(
            up.tag.map(|t| t.to_string()).as_deref(),
            Some("main-0a1b2c3")
        );
        assert!(!running_service("elt", "app", &view(0, "failed")).up);
        let missing = running_service("elt", "bot", &view(1, "running"));
        assert!(!missing.up && missing.container.is_none());
    }
}
