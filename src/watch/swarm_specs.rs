//! What runs of a Swarm stack, as watch compares it with what `latest` names: the image each
//! configured service's spec names (Swarm runs that once its update has ended, or rolled back).

use crate::config::Config;
use crate::domain::{ContainerState, ContainerView, HealthState, ImageRef};
use crate::sources::docker::DockerSource;
use crate::swarm::SwarmSource;

/// Each configured service of the stack that exists, as one running instance of the image its
/// spec names.
pub(super) async fn running(
    config: &Config,
    docker: &DockerSource,
) -> Result<Vec<ContainerView>, String> {
    let swarm = SwarmSource::from_docker(docker.clone());
    let mut found = Vec::new();
    for svc in &config.deployment.services {
        let name = SwarmSource::service_name(&config.deployment.stack, &svc.name);
        if let Some(view) = swarm.service(&name).await.map_err(|e| e.to_string())? {
            found.push(spec_as_container(&svc.name, &view.image));
        }
    }
    Ok(found)
}

/// A Swarm service's spec as watch compares it: a running instance of `service` whose image is
/// known by the spec's digest reference (`repo:tag@sha256:…` after a deploy).
fn spec_as_container(service: &str, image: &str) -> ContainerView {
    let repo_digests = ImageRef::parse(image)
        .ok()
        .and_then(|r| Some(format!("{}@{}", r.repo.docker_name(), r.digest?)))
        .into_iter()
        .collect();
    ContainerView {
        id: String::new(),
        name: service.to_string(),
        service: service.to_string(),
        oneoff: false,
        state: ContainerState::Running,
        health: HealthState::None,
        exit_code: None,
        restarts: 0,
        started_at: None,
        image: image.to_string(),
        image_id: String::new(),
        repo_digests,
        revision: None,
        image_created: None,
        image_version: None,
        pid: None,
    }
}
