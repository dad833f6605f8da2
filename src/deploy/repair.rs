//! Putting the host back in order after a deploy that could not finish its own work: killed
//! (`kill -9`, a crash, a reboot) or failed in a way that nothing rolls back.
//!
//! Found by the soak (issue 16):
//! - the recreate pins the `.env` before compose runs; killed in between, the pin names the
//!   target while the old container runs, and an operator's next plain `docker compose up -d`
//!   would switch versions (`kill9:env-pin`);
//! - a rollback whose recreate fails is not rolled back in turn, and when dockerd brings the
//!   old container back the pin still names the target (`dockerd-restart:env-pin`);
//! - compose renames the old container to `<id12>_<name>` while it recreates; killed in
//!   between, that stopped copy stays beside the new one (`kill9-group:orphans`).
//!
//! The rule: the pin follows what runs. A service with exactly one running container gets
//! that container's image as its pin; with none (the app is down) or several, its pin is left
//! as it is and the report says so, since there is no single truth to follow.

use super::seams::{Clock, Host};
use crate::config::ServiceConfig;
use crate::domain::{ContainerState, ContainerView};
use crate::sources::docker::DockerError;
use std::path::Path;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum RepairError {
    #[error("reading the project's containers: {0}")]
    Docker(#[from] DockerError),
    #[error("{0}")]
    EnvFile(#[from] super::envfile::EnvFileError),
}

/// One pin set back to what runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repin {
    pub var: String,
    pub was: Option<String>,
    pub now: String,
}

/// What a repair did, to be said (and audited).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Repair {
    pub repinned: Vec<Repin>,
    /// Names of the stopped leftovers of an interrupted recreate that were removed.
    pub removed: Vec<String>,
    /// Leftovers that could not be removed, and why.
    pub not_removed: Vec<String>,
    /// Services whose pin was left alone, and why.
    pub left: Vec<String>,
}

impl Repair {
    /// One line per change (and per leftover that could not be removed), for the deploy's
    /// message and the audit.
    pub fn changes(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .repinned
            .iter()
            .map(|r| {
                format!(
                    "{} set back to {} (the image its container runs; it said {})",
                    r.var,
                    r.now,
                    r.was.as_deref().unwrap_or("nothing")
                )
            })
            .collect();
        lines.extend(
            self.removed
                .iter()
                .map(|n| format!("removed {n}, a stopped leftover of an interrupted recreate")),
        );
        lines.extend(self.not_removed.iter().cloned());
        lines
    }

    /// The changes and the pins left alone with why: what `lock release --force` prints.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = self.changes();
        lines.extend(self.left.iter().cloned());
        lines
    }
}

/// The copy compose keeps of the old container while it recreates it: renamed to
/// `<first 12 of its id>_<name>` (compose 1.x and v2 alike) and stopped. A running one is
/// never taken for a leftover.
pub fn is_recreate_leftover(c: &ContainerView) -> bool {
    let name = c.name.trim_start_matches('/');
    !c.oneoff
        && c.state != ContainerState::Running
        && c.state != ContainerState::Restarting
        && c.id.len() >= 12
        && c.id.is_char_boundary(12)
        && name.len() > 13
        && name.starts_with(&c.id[..12])
        && name.as_bytes().get(12) == Some(&b'_')
}

/// Remove the leftovers, then set each service's pin to the image of its one running
/// container.
pub async fn pins_follow_what_runs<H: Host>(
    host: &H,
    project: &str,
    env_file: &Path,
    services: &[ServiceConfig],
) -> Result<Repair, RepairError> {
    let containers = host.containers(project).await?;
    repair_from(host, &containers, env_file, services).await
}

/// The repair itself, from the project's containers as just listed.
async fn repair_from<H: Host>(
    host: &H,
    containers: &[ContainerView],
    env_file: &Path,
    services: &[ServiceConfig],
) -> Result<Repair, RepairError> {
    let mut repair = Repair::default();
    for c in containers.iter().filter(|c| is_recreate_leftover(c)) {
        match host.remove_container(&c.id).await {
            Ok(()) => repair
                .removed
                .push(c.name.trim_start_matches('/').to_string()),
            Err(e) => repair.not_removed.push(format!(
                "could not remove {}, a stopped leftover of an interrupted recreate: {e}",
                c.name.trim_start_matches('/')
            )),
        }
    }
    let mut pins = Vec::new();
    for svc in services {
        let running: Vec<&ContainerView> = containers
            .iter()
            .filter(|c| c.service == svc.name && !c.oneoff && c.state == ContainerState::Running)
            .collect();
        let was = super::envfile::read_var(env_file, &svc.image_var);
        match running.as_slice() {
            [one] => {
                if was.as_deref() != Some(one.image.as_str()) {
                    super::envfile::check_image_ref(&one.image)?;
                    pins.push((svc.image_var.clone(), one.image.clone()));
                    repair.repinned.push(Repin {
                        var: svc.image_var.clone(),
                        was,
                        now: one.image.clone(),
                    });
                }
            }
            [] => repair.left.push(format!(
                "{} left as it is: no container of {} runs",
                svc.image_var, svc.name
            )),
            many => repair.left.push(format!(
                "{} left as it is: {} containers of {} run",
                svc.image_var,
                many.len(),
                svc.name
            )),
        }
    }
    if !pins.is_empty() {
        super::envfile::pin(env_file, &pins)?;
    }
    Ok(repair)
}

/// The same, once the engine answers and none of the services' containers is still coming
/// back (restarting or just created, as after a dockerd restart), polled up to `limit`.
pub async fn pins_follow_what_runs_settled<H: Host, C: Clock>(
    host: &H,
    clock: &C,
    project: &str,
    env_file: &Path,
    services: &[ServiceConfig],
    limit: Duration,
) -> Result<Repair, RepairError> {
    let deadline = clock.now() + limit;
    loop {
        match host.containers(project).await {
            Ok(list) => {
                let settled = !list.iter().any(|c| {
                    !c.oneoff
                        && services.iter().any(|s| s.name == c.service)
                        && matches!(
                            c.state,
                            ContainerState::Restarting | ContainerState::Created
                        )
                });
                if settled || clock.now() >= deadline {
                    return repair_from(host, &list, env_file, services).await;
                }
            }
            Err(e) if clock.now() >= deadline => return Err(e.into()),
            Err(_) => {}
        }
        clock.sleep(Duration::from_millis(500)).await;
    }
}

impl<S: super::seams::Seams> super::Engine<S> {
    /// After a failure that nothing rolls back (a failed rollback, a failed automatic
    /// rollback): wait for the engine to settle, make the pins follow what runs, and say what
    /// changed. Returns the sentence for the deploy's message (empty when nothing changed).
    pub(super) async fn pins_follow_what_runs(&self) -> String {
        let repaired = pins_follow_what_runs_settled(
            &self.host,
            &self.clock,
            &self.settings.project,
            &self.settings.env_file,
            &self.settings.services,
            self.settings.repair_wait,
        )
        .await;
        let said = match repaired {
            Ok(r) if r.repinned.is_empty() && r.removed.is_empty() => return String::new(),
            Ok(r) => r.changes().join("; "),
            Err(e) => format!(
                "the {} pins could not be checked against what runs: {e}",
                self.settings.env_file.display()
            ),
        };
        self.emit(super::types::DeployEvent::Audit {
            action: "repin".into(),
            target: None,
            outcome: "done".into(),
            detail: Some(said.clone()),
        });
        format!("; {said}")
    }
}

/// After `lock release --force` freed the lock of a deploy whose process is gone: wait for the
/// compose it may have left running (up to the recreate's own limit), then repair. `say`
/// hears what it waits for.
pub async fn after_a_dead_deploy(
    config: &crate::config::Config,
    say: impl Fn(&str),
) -> Result<Repair, RepairError> {
    let settings = super::settings::DeploySettings::from_config(config);
    let deadline = std::time::Instant::now() + settings.recreate_timeout();
    let mut told = false;
    loop {
        let pids = super::compose::running_for_project(&settings.project);
        if pids.is_empty() {
            break;
        }
        if std::time::Instant::now() >= deadline {
            say(&format!(
                "compose (pid {}) still runs for {} after {} s; repairing anyway",
                join_pids(&pids),
                settings.project,
                settings.recreate_timeout().as_secs()
            ));
            break;
        }
        if !told {
            say(&format!(
                "waiting for compose (pid {}), left running by the interrupted deploy, to finish",
                join_pids(&pids)
            ));
            told = true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let host = crate::sources::docker::DockerSource::connect_config(&config.docker).await?;
    pins_follow_what_runs_settled(
        &host,
        &super::seams::SystemClock,
        &settings.project,
        &settings.env_file,
        &settings.services,
        settings.repair_wait,
    )
    .await
}

fn join_pids(pids: &[u32]) -> String {
    pids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A start-first deploy killed during its overlap left two containers of the proxied service
/// (and maybe a proxy half-way). Keep the one the deploy had made current: the new one once its
/// `switch` step had finished, else the old one; send the proxy to it and stop and remove the
/// other. Returns what it did, in words; None when there was no overlap to end.
pub async fn end_a_start_first_overlap(
    config: &crate::config::Config,
    dead: &crate::domain::Deployment,
) -> Result<Option<String>, RepairError> {
    use crate::switch::TrafficSwitch;
    if dead.strategy != "start-first" {
        return Ok(None);
    }
    let Ok(Some(switch)) = crate::switch::ProxySwitch::from_config(&config.proxy) else {
        return Ok(None);
    };
    let host = crate::sources::docker::DockerSource::connect_config(&config.docker).await?;
    let service = &config.proxy.service;
    let mut running: Vec<ContainerView> = host
        .project_containers(&config.deployment.project)
        .await?
        .into_iter()
        .filter(|c| c.service == *service && !c.oneoff && c.state == ContainerState::Running)
        .collect();
    if running.len() < 2 {
        return Ok(None);
    }
    running.sort_by_key(|c| c.started_at);
    let switched = dead
        .steps
        .iter()
        .any(|s| s.name == "switch" && s.status == "ok");
    let keep = if switched { running.len() - 1 } else { 0 };
    let kept = running[keep].clone();
    let mut said = vec![format!(
        "kept {} ({}): the interrupted start-first deploy had {}switched to it",
        kept.name,
        kept.image,
        if switched { "" } else { "not " }
    )];
    match host.container_addr(&kept.id, config.proxy.port).await {
        Ok(Some(addr)) if !switch.routes_by_labels() => match switch.switch_to(&[addr]).await {
            Ok(()) => said.push(format!("{} sends to it ({addr})", switch.describe())),
            Err(e) => said.push(format!("pointing the proxy at it failed: {e}")),
        },
        Ok(_) => {}
        Err(e) => said.push(format!(
            "its address is unknown ({e}); the proxy was not touched"
        )),
    }
    for (_, other) in running.iter().enumerate().filter(|(i, _)| *i != keep) {
        match host
            .stop_and_remove(&other.id, Duration::from_secs(10))
            .await
        {
            Ok(()) => said.push(format!("stopped and removed {}", other.name)),
            Err(e) => said.push(format!("could not remove {}: {e}", other.name)),
        }
    }
    Ok(Some(said.join("; ")))
}
