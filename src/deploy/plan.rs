//! What a deploy will do: what runs now, the target resolved in the registry (or locally),
//! and the dry run.

use super::compose::Runtime;
use super::error::PlanError;
use super::seams::Clock;
use super::seams::{Host, Registry, Seams};
use super::types::*;
use super::util::*;
use super::{Engine, envfile, previous};
use crate::config::ServiceConfig;
use crate::domain::{CommitSha, ContainerState, ContainerView, ImageRepo, Tag};
use crate::domain::{DeployKind, DeployStatus, ImageSide};
use crate::sources::docker::DockerError;
use crate::sources::registry::RegistryError;
use std::collections::HashMap;

impl<S: Seams> Engine<S> {
    /// The newest non-one-off container of each service of the project.
    pub(super) async fn current_containers(
        &self,
    ) -> Result<HashMap<String, ContainerView>, DockerError> {
        let list = self.host.containers(&self.settings.project).await?;
        let mut map: HashMap<String, ContainerView> = HashMap::new();
        for c in list.into_iter().filter(|c| !c.oneoff) {
            let better = match map.get(&c.service) {
                None => true,
                Some(old) => {
                    (c.state == ContainerState::Running, c.started_at)
                        > (old.state == ContainerState::Running, old.started_at)
                }
            };
            if better {
                map.insert(c.service.clone(), c);
            }
        }
        Ok(map)
    }

    pub(super) async fn resolve_service(
        &self,
        svc: &ServiceConfig,
        target: &Target,
        running: Option<&ContainerView>,
        kind: DeployKind,
    ) -> Result<PlanService, PlanError> {
        let repo = &svc.image;
        let from = self.running_side(svc, running);
        let mut to: ImageSide;
        let pin_tag: Option<Tag>;
        match target {
            Target::Previous => {
                let prev = self.previous_side(svc, running)?;
                to = prev.clone();
                pin_tag = prev
                    .tag
                    .clone()
                    .or_else(|| prev.image.as_deref().and_then(tag_of));
                // Prefer the local copy (no registry needed); else the registry by tag.
                let local = match &prev.image_id {
                    Some(id) => self.host.local_image(id).await?,
                    None => None,
                };
                if local.is_none() {
                    let tag = pin_tag.clone().ok_or_else(|| PlanError::PreviousGone {
                        service: svc.name.clone(),
                        image: prev.image.clone().unwrap_or_else(|| "?".into()),
                    })?;
                    to = self.describe_in_registry(repo, &tag).await?;
                }
            }
            Target::Tag(tag) => {
                let local = if kind == DeployKind::Rollback {
                    self.host.local_image(&repo.with_tag(tag)).await?
                } else {
                    None
                };
                match local {
                    // A rollback to a retained image needs no registry at all.
                    Some(img) => {
                        to = side_of_local(&img, repo);
                        to.tag = Some(tag.clone());
                        to.image = Some(repo.with_tag(tag));
                    }
                    None => to = self.describe_in_registry(repo, tag).await?,
                }
                pin_tag = Some(tag.clone());
            }
            Target::Latest => {
                let latest = Tag::parse("latest")?;
                to = self.describe_in_registry(repo, &latest).await?;
                pin_tag = self.commit_tag_for(svc, &to).await;
            }
        }
        let to_ref = match (&pin_tag, &to.digest) {
            (Some(t), _) if t.as_str() != "latest" || target != &Target::Latest => repo.with_tag(t),
            (_, Some(d)) => repo.with_digest(d),
            _ => {
                return Err(PlanError::NoTarget {
                    service: svc.name.clone(),
                });
            }
        };
        envfile::check_image_ref(&to_ref)?;
        if to.tag.is_none() {
            to.tag = pin_tag.clone();
        }
        to.image = Some(to_ref.clone());
        let older = match (
            from.created.as_deref().and_then(parse_time),
            to.created.as_deref().and_then(parse_time),
        ) {
            (Some(f), Some(t)) => Some(t < f),
            _ => None,
        };
        Ok(PlanService {
            service: svc.name.clone(),
            from,
            to,
            older,
            to_ref,
            health: svc.ready.map(|_| {
                super::health::health_basis(std::slice::from_ref(svc))
                    .into_iter()
                    .map(|(_, basis)| basis)
                    .collect()
            }),
            repo: Some(repo.clone()),
            image_var: svc.image_var.clone(),
            migrate_service: svc.migrate_service.clone(),
            pin_tag,
        })
    }

    /// What runs now for `svc`: its container's image, else what the env file pins.
    pub(super) fn running_side(
        &self,
        svc: &ServiceConfig,
        running: Option<&ContainerView>,
    ) -> ImageSide {
        match running {
            Some(c) => ImageSide {
                image: Some(c.image.clone()),
                tag: tag_of(&c.image),
                digest: digest_for(&c.repo_digests, &svc.image),
                sha: c.revision.as_deref().and_then(|r| CommitSha::parse(r).ok()),
                image_id: Some(c.image_id.clone()),
                created: c.image_created.clone(),
            },
            None => ImageSide {
                image: envfile::read_var(&self.settings.env_file.clone(), &svc.image_var),
                ..Default::default()
            },
        }
    }

    /// The last version that ran healthy before what runs now (`previous::previous_version`).
    pub(super) fn previous_side(
        &self,
        svc: &ServiceConfig,
        running: Option<&ContainerView>,
    ) -> Result<ImageSide, PlanError> {
        let list = self.store.deployments(500)?;
        previous::previous_version(&list, &svc.name, running.map(|c| c.image_id.as_str()))
            .map(|p| p.side.clone())
            .ok_or_else(|| PlanError::NoPrevious {
                service: svc.name.clone(),
                store: self.store.path().to_path_buf(),
            })
    }

    pub(super) async fn describe_in_registry(
        &self,
        repo: &ImageRepo,
        tag: &Tag,
    ) -> Result<ImageSide, PlanError> {
        let mut pauses = crate::retry::doubling(
            self.settings.registry_retry_delay,
            std::time::Duration::MAX,
            Some(self.settings.registry_attempts.saturating_sub(1) as usize),
        );
        loop {
            match self.registry.describe(repo, tag).await {
                Ok(d) => {
                    return Ok(ImageSide {
                        image: Some(repo.with_tag(tag)),
                        tag: Some(tag.clone()),
                        sha: d.revision(),
                        digest: Some(d.digest),
                        image_id: None,
                        created: d
                            .labels
                            .get("org.opencontainers.image.created")
                            .cloned()
                            .or(d.created.map(|c| c.to_rfc3339())),
                    });
                }
                Err(RegistryError::NotFound { .. }) => {
                    return Err(PlanError::NoSuchTag {
                        tag: tag.to_string(),
                        repo: repo.to_string(),
                    });
                }
                Err(e) if e.is_transient() => {
                    let Some(delay) = pauses.next() else {
                        return Err(e.into());
                    };
                    tracing::info!("registry: {e}; retrying in {delay:?}");
                    tokio::select! {
                        _ = self.interrupt.cancelled() => return Err(e.into()),
                        _ = self.clock.sleep(delay) => {}
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The commit tag (`main-<sha>`) that points at the same digest as `latest`, so the env
    /// file pins a name that will not move.
    pub(super) async fn commit_tag_for(
        &self,
        svc: &ServiceConfig,
        latest: &ImageSide,
    ) -> Option<Tag> {
        let sha = latest.sha.clone()?;
        let short_sha = CommitSha::parse(sha.short()).ok()?;
        for pattern in &svc.commit_tags {
            for s in [&sha, &short_sha] {
                let tag = pattern.tag_for(s);
                if let Ok(d) = self.registry.resolve(&svc.image, &tag).await
                    && Some(&d) == latest.digest.as_ref()
                {
                    return Some(tag);
                }
            }
        }
        None
    }

    pub(super) async fn dry_run(&mut self, req: &DeployRequest) -> Outcome {
        // As in `execute`: an orchestrator (Swarm) plans its own update.
        if let Some(orchestrator) = self.runtime.orchestrator() {
            return self.swarm_dry_run(req, orchestrator).await;
        }
        let current = match self.current_containers().await {
            Ok(c) => c,
            Err(e) => return self.finish(DeployStatus::Failed, format!("dry run: {e}"), None),
        };
        let mut plans = Vec::new();
        for svc in self.settings.services.clone() {
            match self
                .resolve_service(&svc, &req.target, current.get(&svc.name), req.kind)
                .await
            {
                Ok(p) => plans.push(p),
                Err(e) => return self.finish(DeployStatus::Failed, format!("dry run: {e}"), None),
            }
        }
        self.emit(DeployEvent::Plan {
            services: plans.clone(),
        });
        let mut lines = Vec::new();
        let same = plans.iter().all(|p| {
            current.get(&p.service).is_some_and(|c| {
                c.state == ContainerState::Running
                    && (p.to.digest.is_some()
                        && p.to.digest
                            == digest_for(
                                &c.repo_digests,
                                p.repo.as_ref().unwrap_or(&self.settings.services[0].image),
                            )
                        || p.to.image_id.as_deref() == Some(c.image_id.as_str()))
            })
        });
        if same && !req.force {
            lines.push(
                "the target already runs: a deploy would stop at the compare step".to_string(),
            );
        } else {
            let backup = self.settings.backup_command.as_str();
            lines.push(if backup.is_empty() {
                "backup: none configured".into()
            } else {
                format!("backup: run `{backup}`")
            });
            for p in plans.iter().filter(|_| req.kind != DeployKind::Rollback) {
                if let Some(m) = &p.migrate_service {
                    lines.push(format!("migrate: `compose run --rm {m}` with {}", p.to_ref));
                }
            }
            let chosen = self.choose_strategy(&plans, &current).await;
            lines.push(chosen.why.clone());
            if chosen.strategy == super::strategy::Strategy::StartFirst {
                lines.push(format!(
                    "start a new {} beside the old one with {} via {}; once it is healthy (asked directly) switch the proxy to it; the old one drains {} s and is removed after the {} s watch; pin {}",
                    plans[0].service,
                    plans[0].to_ref,
                    self.runtime.describe(),
                    self.settings.drain.as_secs(),
                    self.settings.drain.max(self.settings.monitor).as_secs(),
                    self.settings.env_file.display()
                ));
            } else {
                lines.push(format!(
                    "recreate {} with {} via {}, pinned in {}",
                    plans
                        .iter()
                        .map(|p| p.service.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    super::machine::images_of(&plans, |p| Some(p.to_ref.as_str())),
                    self.runtime.describe(),
                    self.settings.env_file.display()
                ));
                lines.push(format!(
                    "wait up to {} s for health, then {}",
                    self.settings.health_timeout.as_secs(),
                    if req.kind == DeployKind::Deploy {
                        "roll back automatically on failure"
                    } else {
                        "report (a rollback is not rolled back)"
                    }
                ));
            }
        }
        self.finish(
            DeployStatus::Skipped,
            format!("dry run, nothing changed: {}", lines.join("; ")),
            None,
        )
    }
}

/// A per-service deploy (`deploy --service gateway`): the deployment narrowed to the named
/// services, in their configured order, so the engine resolves, pins, recreates, checks and
/// records only those; every other service keeps running untouched. No names: all of them.
/// A name that is not a configured service is refused, naming the ones there are.
pub fn select_services(
    config: &mut crate::config::Config,
    names: &[String],
) -> Result<(), super::error::UnknownService> {
    if names.is_empty() {
        return Ok(());
    }
    let known: Vec<&str> = config
        .deployment
        .services
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    if let Some(bad) = names.iter().find(|n| !known.contains(&n.as_str())) {
        return Err(super::error::UnknownService {
            name: bad.escape_debug().to_string(),
            configured: known.join(", "),
        });
    }
    config
        .deployment
        .services
        .retain(|s| names.contains(&s.name));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::select_services;

    fn config() -> crate::config::Config {
        let mut c = crate::config::load(&crate::config::Sources::default())
            .unwrap()
            .config;
        let app = c.deployment.services[0].clone();
        c.deployment.services = ["gateway", "api", "worker"]
            .iter()
            .map(|n| {
                let mut s = app.clone();
                s.name = n.to_string();
                s
            })
            .collect();
        c
    }

    fn names(c: &crate::config::Config) -> Vec<&str> {
        c.deployment
            .services
            .iter()
            .map(|s| s.name.as_str())
            .collect()
    }

    #[test]
    fn a_per_service_deploy_keeps_only_the_named_services_in_configured_order() {
        let mut c = config();
        select_services(&mut c, &[]).unwrap();
        assert_eq!(names(&c), ["gateway", "api", "worker"]);
        select_services(&mut c, &["worker".into(), "gateway".into()]).unwrap();
        assert_eq!(names(&c), ["gateway", "worker"]);
    }

    #[test]
    fn an_unknown_service_is_refused_with_the_known_ones() {
        let mut c = config();
        let err = select_services(&mut c, &["gatewya\n".into()]).unwrap_err();
        assert!(err.to_string().contains("gatewya\\n"), "{err}");
        assert!(
            err.to_string().contains("configured: gateway, api, worker"),
            "{err}"
        );
        assert_eq!(c.deployment.services.len(), 3);
    }
}
