//! The headless deploy commands (`deploy`, `rollback`, `history`, `lock`) and their output:
//! step by step for people (with a live pull line on a terminal), JSON lines for machines.

use super::{
    DeployEvent, DeployRequest, EXIT_REFUSED, Engine, Outcome, StepState, Target, fmt_ms,
    lock_stale_after, short, state_dir,
};
use crate::config::Config;
use crate::domain::Tag;
use crate::domain::{Actor, DeployKind, Deployment, LockState};
use crate::store::Store;
use std::io::{IsTerminal, Write};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use crate::exit_code::{UNREACHABLE as EXIT_UNREACHABLE, USAGE as EXIT_USAGE};

pub struct DeployArgs {
    pub kind: DeployKind,
    pub tag: Option<String>,
    pub previous: bool,
    pub yes: bool,
    pub dry_run: bool,
    pub force: bool,
    pub json: bool,
    pub read_only: bool,
}

/// Writes never fail the deploy: the operator's terminal may be gone (SSH dropped) while the
/// engine must finish.
fn out(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

fn err(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn audit_refusal(config: &Config, action: &str, target: &str, why: &str) {
    if let Ok(store) = Store::open(&state_dir(config)) {
        let _ = store.audit(
            &Actor::current(),
            action,
            Some(target),
            "refused",
            Some(why),
        );
    }
}

pub async fn deploy_command(config: Config, args: DeployArgs) -> i32 {
    let action = args.kind.as_str();
    let target = match (&args.tag, args.previous, args.kind) {
        (Some(_), true, _) => {
            err("elt-console: give a TAG or --previous, not both");
            return EXIT_USAGE;
        }
        (Some(t), false, _) => match Tag::parse(t) {
            Ok(tag) => Target::Tag(tag),
            Err(e) => {
                // Refused before it reaches a shell, an env file or a URL.
                let why = format!("{e}");
                audit_refusal(&config, action, &t.escape_debug().to_string(), &why);
                err(&format!("elt-console: {action}: {why}"));
                return EXIT_USAGE;
            }
        },
        (None, true, _) => Target::Previous,
        (None, false, DeployKind::Rollback) => {
            err("elt-console: rollback needs a TAG or --previous");
            return EXIT_USAGE;
        }
        (None, false, _) => Target::Latest,
    };
    // A tag-less deploy follows each service's `follow` rule, as `watch` does: a deployment
    // that publishes no `latest` (only vX.Y.Z or sha-<sha>) still has a "newest" to deploy.
    let target = if target == Target::Latest {
        match crate::collect::taghistory::follow_target(&config).await {
            Ok((target, why)) => {
                if let (Some(why), false) = (why, args.json) {
                    out(&format!("{action}: {why}"));
                }
                target
            }
            Err(why) => {
                audit_refusal(&config, action, "latest", &why.to_string());
                err(&format!("elt-console: {action}: {why}"));
                return super::EXIT_DEPLOY_FAILED;
            }
        }
    } else {
        target
    };
    let target_text = target.to_string();
    if (args.read_only || config.ui.read_only) && !args.dry_run {
        let why = "read-only mode (--read-only or ui.read_only) refuses every change";
        audit_refusal(&config, action, &target_text, why);
        err(&format!("elt-console: {action} refused: {why}"));
        return EXIT_REFUSED;
    }

    let interrupt = CancellationToken::new();
    let stop_signals = watch_signals(interrupt.clone(), args.json);

    if !args.yes && !args.dry_run {
        if !std::io::stdin().is_terminal() {
            let why = "not on a terminal: pass --yes to confirm";
            audit_refusal(&config, action, &target_text, why);
            err(&format!(
                "elt-console: {action} refused: {why} (or --dry-run to see the plan)"
            ));
            return EXIT_REFUSED;
        }
        // Show exactly what will happen, then ask (default: no).
        let plan = run_engine(&config, &args, &target, true, interrupt.clone()).await;
        match plan {
            Err(code) => return code,
            Ok(o) if o.status != crate::domain::DeployStatus::Skipped => return o.exit_code(),
            Ok(_) => {}
        }
        if !confirm(&format!("{action} {target_text}? [y/N] ")) {
            audit_refusal(
                &config,
                action,
                &target_text,
                "not confirmed by the operator",
            );
            out("cancelled: nothing was changed");
            return EXIT_REFUSED;
        }
    }
    let result = run_engine(&config, &args, &target, args.dry_run, interrupt).await;
    stop_signals.cancel();
    match result {
        Ok(o) => o.exit_code(),
        Err(code) => code,
    }
}

async fn run_engine(
    config: &Config,
    args: &DeployArgs,
    target: &Target,
    dry_run: bool,
    interrupt: CancellationToken,
) -> Result<Outcome, i32> {
    let (tx, rx) = mpsc::unbounded_channel();
    let engine = match Engine::connect(config.clone(), tx, interrupt).await {
        Ok(e) => e,
        Err(e) => {
            audit_refusal(
                config,
                args.kind.as_str(),
                &target.to_string(),
                &e.to_string(),
            );
            err(&format!("elt-console: {}: {e}", args.kind.as_str()));
            return Err(EXIT_UNREACHABLE);
        }
    };
    // GitHub Deployments and notifications read the events on their way to the printer.
    let (rx, subscribers) = if dry_run {
        (rx, None)
    } else {
        let (rx, s) = crate::subscribers::attach(config, rx).await;
        (rx, Some(s))
    };
    // A plan shown for confirmation (or a dry run) says which commits change hands.
    let commits = dry_run.then(|| config.github.clone());
    let printer = tokio::spawn(print_events(
        rx,
        args.json,
        args.kind,
        target.to_string(),
        commits,
    ));
    let outcome = engine
        .run(DeployRequest {
            kind: args.kind,
            target: target.clone(),
            force: args.force,
            dry_run,
        })
        .await;
    let _ = printer.await;
    if let Some(s) = subscribers {
        for line in s.finish().await.lines {
            err(&format!("elt-console: {line}"));
        }
    }
    Ok(outcome)
}

fn confirm(prompt: &str) -> bool {
    let mut o = std::io::stderr().lock();
    let _ = write!(o, "{prompt}");
    let _ = o.flush();
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// SIGHUP (the SSH session went away) is ignored: the deploy goes on. SIGINT/SIGTERM cancel
/// it before the recreate step; after that the engine finishes or rolls back.
fn watch_signals(interrupt: CancellationToken, quiet: bool) -> CancellationToken {
    crate::sys::on_stop_signals(interrupt, move |signal| {
        if !quiet && signal == crate::sys::StopSignal::Interrupt {
            err(
                "interrupt: cancelling if nothing has changed yet; once the app is being recreated the deploy finishes or rolls back",
            );
        }
    })
}

async fn print_events(
    mut rx: mpsc::UnboundedReceiver<DeployEvent>,
    json: bool,
    kind: DeployKind,
    target: String,
    commits: Option<crate::config::GithubConfig>,
) {
    let tty = std::io::stdout().is_terminal();
    let mut live = false;
    let clear_live = |live: &mut bool| {
        if *live {
            let mut o = std::io::stdout().lock();
            let _ = write!(o, "\r\x1b[2K");
            let _ = o.flush();
            *live = false;
        }
    };
    while let Some(ev) = rx.recv().await {
        let plan = match (&ev, &commits) {
            (DeployEvent::Plan { services }, Some(github)) => {
                crate::compare::for_plan(github, kind, services).await
            }
            _ => Vec::new(),
        };
        if json {
            if let Ok(line) = serde_json::to_string(&ev) {
                out(&line);
            }
            for s in &plan {
                out(&crate::compare::json_event(s).to_string());
            }
            continue;
        }

        match ev {
            DeployEvent::Started {
                deployment_id,
                actor,
                runtime,
                ..
            } => out(&format!(
                "{}, via {runtime}",
                started_line(kind, &target, deployment_id.unwrap_or(0), &actor)
            )),
            DeployEvent::Plan { services } => {
                for s in services {
                    let from = s.from.image.as_deref().unwrap_or("nothing running");
                    let sha = |side: &crate::domain::ImageSide| {
                        side.sha_str().map(short).unwrap_or("-").to_string()
                    };
                    out(&format!(
                        "     plan  {}: {from} ({}) -> {} ({}){}",
                        s.service,
                        sha(&s.from),
                        s.to_ref,
                        sha(&s.to),
                        match s.older {
                            Some(true) => ", OLDER than what runs",
                            _ => "",
                        }
                    ));
                    if let Some(health) = &s.health {
                        out(&format!("     health {}: {health}", s.service));
                    }
                }
                for line in crate::compare::render_text(&plan, chrono::Utc::now()) {
                    out(&line);
                }
            }
            DeployEvent::Step {
                seq,
                name,
                state,
                duration_ms,
                summary,
            } => {
                if state == StepState::Running {
                    continue;
                }
                clear_live(&mut live);
                out(&step_line(seq, name, state, duration_ms, &summary));
            }
            DeployEvent::Progress {
                message,
                current,
                total,
                ..
            } => {
                if tty {
                    let bar = progress_bar(current, total, 20);
                    let mut o = std::io::stdout().lock();
                    let _ = write!(o, "\r\x1b[2K     {bar} {message}");
                    let _ = o.flush();
                    live = true;
                }
            }
            // Recorded in the store (history shows them); the steps' summaries say the same.
            DeployEvent::Sides { .. }
            | DeployEvent::Backup { .. }
            | DeployEvent::Error { .. }
            | DeployEvent::AutoRollback(_)
            | DeployEvent::Audit { .. } => {}
            DeployEvent::Finished {
                status, message, ..
            } => {
                clear_live(&mut live);
                out(&format!("{}: {message}", status.as_str()));
            }
        }
    }
    clear_live(&mut live);
}

/// A finished step as the deploy command (and `watch`, under its `deploying` line) prints it.
pub fn step_line(
    seq: u32,
    name: &str,
    state: StepState,
    duration_ms: Option<u64>,
    summary: &str,
) -> String {
    let mark = match state {
        StepState::Ok => "ok",
        StepState::Warning => "WARN",
        StepState::Failed => "FAILED",
        StepState::Skipped => "skip",
        StepState::Running => "",
    };
    format!(
        "  {seq:>2} {name:<9} {mark:<6} {:>8}  {summary}",
        duration_ms
            .filter(|_| state != StepState::Skipped)
            .map(fmt_ms)
            .unwrap_or_default()
    )
}

/// The deploy's first line.
pub(crate) fn started_line(kind: DeployKind, target: &str, id: i64, actor: &str) -> String {
    format!("{} {target}: deployment #{id} by {actor}", kind.as_str())
}

fn progress_bar(current: u64, total: u64, width: usize) -> String {
    if total == 0 {
        return format!("[{}]", " ".repeat(width));
    }
    let filled = ((current.min(total) as f64 / total as f64) * width as f64).round() as usize;
    format!("[{}{}]", "#".repeat(filled), " ".repeat(width - filled))
}

pub fn history_command(config: &Config, json: bool, limit: u32) -> i32 {
    let store = match Store::open(&state_dir(config)) {
        Ok(s) => s,
        Err(e) => {
            err(&format!("elt-console: history: {e}"));
            return EXIT_UNREACHABLE;
        }
    };
    let list = match store.deployments(limit) {
        Ok(l) => l,
        Err(e) => {
            err(&format!("elt-console: history: {e}"));
            return EXIT_UNREACHABLE;
        }
    };
    if json {
        // Each deployment gains `github_undelivered`: the GitHub statuses not delivered (yet).
        let list: Vec<serde_json::Value> = list
            .iter()
            .map(|d| {
                let mut v = serde_json::to_value(d).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert(
                        "github_undelivered".into(),
                        serde_json::to_value(store.gh_undelivered(d.id).unwrap_or_default())
                            .unwrap_or_default(),
                    );
                }
                v
            })
            .collect();
        match serde_json::to_string_pretty(&list) {
            Ok(t) => out(&t),
            Err(e) => {
                err(&format!("elt-console: history: {e}"));
                return crate::exit_code::INTERNAL;
            }
        }
        return 0;
    }
    if list.is_empty() {
        out(&format!(
            "no deployments recorded in {}",
            store.path().display()
        ));
        return 0;
    }
    out(&render_history(&list));
    for d in &list {
        for line in crate::gh_deployments::undelivered_lines(&store, d.id) {
            out(&format!("  #{}: {line}", d.id));
        }
    }
    0
}

pub fn render_history(list: &[Deployment]) -> String {
    let mut rows = vec![[
        "#".to_string(),
        "STARTED (UTC)".into(),
        "KIND".into(),
        "BY".into(),
        "FROM -> TO".into(),
        "RESULT".into(),
        "DOWNTIME".into(),
        "TOOK".into(),
    ]];
    // Full tags are in `history --json`; a table row keeps them to a readable width.
    // A side with nothing recorded: the deploy ended before it could tell what ran.
    let side = |s: &crate::domain::ImageSide| {
        let t = s
            .tag
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| s.image.clone())
            .unwrap_or_else(|| "unknown".into());
        if t.chars().count() > 24 {
            format!("{}…", t.chars().take(23).collect::<String>())
        } else {
            t
        }
    };
    // A deployment of several images deploys them one by one too (`--service`): then each
    // row says which services it moved (the sides are its first service's).
    let per_service = list
        .iter()
        .any(|d| d.services.len() > 1 || d.services != list[0].services);
    for d in list {
        let moved = if per_service {
            format!("{}: ", d.services.join(", "))
        } else {
            String::new()
        };
        rows.push([
            d.id.to_string(),
            d.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            d.kind.as_str().to_string(),
            match &d.actor.ssh_client {
                Some(a) => format!("{}@{a}", d.actor.user),
                None => d.actor.user.clone(),
            },
            format!("{moved}{} -> {}", side(&d.from), side(&d.to)),
            d.status.as_str().to_string(),
            d.downtime_ms.map(fmt_ms).unwrap_or_else(|| "-".into()),
            d.duration_ms().map(fmt_ms).unwrap_or_else(|| "-".into()),
        ]);
    }
    let widths: Vec<usize> = (0..8)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for (n, r) in rows.iter().enumerate() {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
        }
        text.push_str(line.trim_end());
        if n + 1 < rows.len() {
            text.push('\n');
        }
    }
    for d in list.iter().filter(|d| d.error.is_some()).take(5) {
        text.push_str(&format!(
            "\n  #{}: {}",
            d.id,
            d.error.as_deref().unwrap_or_default()
        ));
    }
    text
}

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
                super::describe_lock_refusal(&state)
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
    let docker = crate::sources::docker::DockerSource::connect(
        &config.docker.host,
        config.docker.request_timeout_ms,
    )
    .await?;
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
            } else if holder.deployment_id.is_some() {
                // Its process is gone mid-deploy: the pins and containers may be half-way.
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

/// The repair after a dead deploy (repair.rs), said line by line and audited.
async fn repair_after(config: &Config, store: &Store, actor: &Actor) {
    match super::repair::after_a_dead_deploy(config, |l| out(&format!("deploy lock: {l}"))).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_names_the_services_when_they_moved_apart() {
        let row = |id: i64, services: &[&str], from: &str, to: &str| Deployment {
            id,
            kind: DeployKind::Deploy,
            parent_id: None,
            started_at: chrono::Utc::now(),
            finished_at: None,
            actor: Actor {
                user: "ops".into(),
                ssh_client: None,
                host: "h".into(),
                pid: 1,
            },
            services: services.iter().map(|s| s.to_string()).collect(),
            from: crate::store::ImageSide {
                tag: crate::domain::Tag::parse(from).ok(),
                ..Default::default()
            },
            to: crate::store::ImageSide {
                tag: crate::domain::Tag::parse(to).ok(),
                ..Default::default()
            },
            strategy: "recreate".into(),
            status: crate::store::DeployStatus::Succeeded,
            error: None,
            backup_path: None,
            downtime_ms: None,
            progress: None,
            steps: Vec::new(),
        };
        // One service throughout (ELT): the table as it always was.
        let one = render_history(&[row(2, &["app"], "v1", "v2"), row(1, &["app"], "v0", "v1")]);
        assert!(one.contains("v1 -> v2") && !one.contains("app:"), "{one}");
        // Per-service deploys: each row names what it moved.
        let text = render_history(&[
            row(3, &["worker"], "r1", "r2"),
            row(2, &["worker", "api"], "r0", "r1"),
        ]);
        assert!(text.contains("worker: r1 -> r2"), "{text}");
        assert!(text.contains("worker, api: r0 -> r1"), "{text}");
    }

    #[test]
    fn bar_fills_with_progress() {
        assert_eq!(progress_bar(0, 0, 4), "[    ]");
        assert_eq!(progress_bar(1, 2, 4), "[##  ]");
        assert_eq!(progress_bar(9, 2, 4), "[####]");
    }
}
