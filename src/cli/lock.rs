//! `lock status` and `lock release --force`, with the repair after a dead deploy.

use crate::config::Config;
use crate::deploy::command::{EXIT_UNREACHABLE, EXIT_USAGE, err, out};
use crate::deploy::{EXIT_REFUSED, lock_stale_after, short, state_dir};
use crate::domain::{Actor, LockState};
use crate::store::Store;

pub async fn lock_status_command(config: &Config, json: bool) -> i32 {
    let store = match Store::open(&state_dir(config)) {
        Ok(s) => s,
        Err(e) => {
            err(&format!("elt-console: lock: {e}"));
            return EXIT_UNREACHABLE;
        }
    };
    let state = match store.lock_state(lock_stale_after(config)) {
        Ok(s) => s,
        Err(e) => {
            err(&format!("elt-console: lock: {e}"));
            return EXIT_UNREACHABLE;
        }
    };
    let deployment = match &state {
        LockState::Held { holder } | LockState::Stale { holder, .. } => holder
            .deployment_id
            .and_then(|id| store.deployment(id).ok().flatten()),
        LockState::Free => None,
    };
    let app = app_state(config).await.map_err(|e| e.to_string());
    if json {
        // The shape docs/status-json.md documents: `app` is a section like status's.
        let app = match &app {
            Ok(containers) => serde_json::json!({ "status": "ok", "containers": containers }),
            Err(e) => serde_json::json!({ "status": "error", "error": e }),
        };
        let v = serde_json::json!({
            "lock": state,
            "deployment": deployment,
            "app": app,
        });
        match serde_json::to_string_pretty(&v) {
            Ok(text) => out(&text),
            Err(e) => {
                err(&format!("elt-console: lock: cannot encode JSON: {e}"));
                return crate::exit_code::INTERNAL;
            }
        }
    } else {
        match &state {
            LockState::Free => out("deploy lock: free"),
            LockState::Held { .. } | LockState::Stale { .. } => out(&format!(
                "deploy lock: {}",
                crate::deploy::describe_lock_refusal(&state)
            )),
        }
        if let Some(d) = &deployment {
            let step = d
                .steps
                .iter()
                .rev()
                .find(|s| s.status != "skipped")
                .map(|s| format!("{} ({})", s.name, s.status))
                .unwrap_or_else(|| "not started".into());
            out(&format!(
                "deployment #{}: {} to {}, {} at step {step}",
                d.id,
                d.kind.as_str(),
                d.to.tag_str().unwrap_or("?"),
                d.status.as_str()
            ));
        }
        match &app {
            Ok(containers) => {
                out("the app now:");
                for c in containers {
                    out(&format!("  {}", c.line()));
                }
            }
            Err(e) => out(&format!("the app now: unknown ({e})")),
        }
    }
    match state {
        LockState::Free => crate::exit_code::OK,
        LockState::Held { .. } => crate::exit_code::LOCK_HELD,
        LockState::Stale { .. } => crate::exit_code::LOCK_STALE,
    }
}

/// A deployed service's container as `lock status` reports it (`--json`: docs/status-json.md).
#[derive(Debug, serde::Serialize)]
struct AppContainer {
    service: String,
    /// None: the service has no container (it is down).
    container: Option<String>,
    state: Option<crate::domain::ContainerState>,
    health: Option<crate::domain::HealthState>,
    image: Option<String>,
    commit: Option<String>,
}

impl AppContainer {
    fn line(&self) -> String {
        match &self.container {
            None => format!("{}: no container (down)", self.service),
            Some(name) => format!(
                "{}: {name} {:?}/{:?}, image {} (commit {})",
                self.service,
                self.state.unwrap_or(crate::domain::ContainerState::Unknown),
                self.health.unwrap_or(crate::domain::HealthState::None),
                self.image.as_deref().unwrap_or("-"),
                self.commit.as_deref().unwrap_or("-")
            )
            .to_lowercase(),
        }
    }
}

/// Each deployed service's containers: the true state, from the engine.
async fn app_state(
    config: &Config,
) -> Result<Vec<AppContainer>, crate::sources::docker::DockerError> {
    let docker = crate::sources::docker::DockerSource::connect_config(&config.docker).await?;
    let list = docker
        .project_containers(&config.deployment.project)
        .await?;
    let mut rows = Vec::new();
    for name in config.service_names() {
        let found: Vec<_> = list
            .iter()
            .filter(|c| c.service == name && !c.oneoff)
            .collect();
        if found.is_empty() {
            rows.push(AppContainer {
                service: name.to_string(),
                container: None,
                state: None,
                health: None,
                image: None,
                commit: None,
            });
        }
        for c in found {
            rows.push(AppContainer {
                service: name.to_string(),
                container: Some(c.name.clone()),
                state: Some(c.state),
                health: Some(c.health),
                image: Some(c.image.clone()),
                commit: c.revision.as_deref().map(|r| short(r).to_string()),
            });
        }
    }
    Ok(rows)
}

pub async fn lock_release_command(config: &Config, force: bool, read_only: bool) -> i32 {
    let actor = Actor::current();
    let mut store = match Store::open(&state_dir(config)) {
        Ok(s) => s,
        Err(e) => {
            err(&format!("elt-console: lock: {e}"));
            return EXIT_UNREACHABLE;
        }
    };
    if read_only || config.ui.read_only {
        let _ = store.audit(
            &actor,
            "lock-release",
            None,
            "refused",
            Some("read-only mode"),
        );
        err("elt-console: lock release refused: read-only mode");
        return EXIT_REFUSED;
    }
    if !force {
        let _ = store.audit(
            &actor,
            "lock-release",
            None,
            "refused",
            Some("without --force"),
        );
        err(
            "elt-console: lock release needs --force (check `elt-console lock status` first: releasing a live deploy's lock lets a second deploy run beside it)",
        );
        return EXIT_USAGE;
    }
    let state = store.lock_state(lock_stale_after(config)).ok();
    match store.force_release() {
        Ok(None) => {
            let _ = store.audit(&actor, "lock-release", None, "succeeded", Some("was free"));
            out("deploy lock: was already free");
            0
        }
        Ok(Some(holder)) => {
            let live = matches!(state, Some(LockState::Held { .. }));
            let detail = format!(
                "released the lock of {} ({}){}",
                holder.actor.describe(),
                holder.action,
                holder
                    .deployment_id
                    .map(|d| format!("; deployment #{d} marked interrupted"))
                    .unwrap_or_default()
            );
            let _ = store.audit(&actor, "lock-release", None, "succeeded", Some(&detail));
            out(&format!("deploy lock: {detail}"));
            if live {
                out("warning: its process was still alive and heartbeating");
            } else if let Some(id) = holder.deployment_id {
                // Its process is gone mid-deploy: the pins and containers may be half-way.
                end_overlap(config, &store, &actor, id).await;
                repair_after(config, &store, &actor).await;
            }
            0
        }
        Err(e) => {
            err(&format!("elt-console: lock: {e}"));
            EXIT_UNREACHABLE
        }
    }
}

/// A start-first deploy killed with two containers running: keep the one it had made current.
async fn end_overlap(config: &Config, store: &Store, actor: &Actor, id: i64) {
    let Ok(Some(dead)) = store.deployment(id) else {
        return;
    };
    match crate::deploy::repair::end_a_start_first_overlap(config, &dead).await {
        Ok(None) => {}
        Ok(Some(said)) => {
            out(&format!("repair: {said}"));
            let _ = store.audit(actor, "end-overlap", None, "done", Some(&said));
        }
        Err(e) => err(&format!(
            "warning: the interrupted start-first deploy's two containers were left as they are: {e}; see docs/zero-downtime.md"
        )),
    }
}

/// The repair after a dead deploy (repair.rs), said line by line and audited.
async fn repair_after(config: &Config, store: &Store, actor: &Actor) {
    match crate::deploy::repair::after_a_dead_deploy(config, |l| out(&format!("deploy lock: {l}")))
        .await
    {
        Ok(repair) => {
            let lines = repair.describe();
            for line in &lines {
                out(&format!("repair: {line}"));
            }
            if !repair.repinned.is_empty() || !repair.removed.is_empty() {
                let _ = store.audit(actor, "repin", None, "done", Some(&lines.join("; ")));
            }
        }
        Err(e) => {
            err(&format!(
                "warning: the interrupted deploy's pins and containers were not checked: {e}; compare `elt-console status` with the env file"
            ));
        }
    }
}
