//! The headless deploy commands (`deploy`, `rollback`) and their output:
//! step by step for people (with a live pull line on a terminal), JSON lines for machines.

use super::{
    DeployEvent, DeployRequest, EXIT_REFUSED, Engine, Outcome, StepState, Target, fmt_ms, short,
    state_dir,
};
use crate::config::Config;
use crate::domain::Tag;
use crate::domain::{Actor, DeployKind};
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
pub(crate) fn out(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

pub(crate) fn err(line: &str) {
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
            | DeployEvent::Strategy { .. }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_fills_with_progress() {
        assert_eq!(progress_bar(0, 0, 4), "[    ]");
        assert_eq!(progress_bar(1, 2, 4), "[##  ]");
        assert_eq!(progress_bar(9, 2, 4), "[####]");
    }
}
