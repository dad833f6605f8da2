//! `dispatch`: trigger the workflow's `workflow_dispatch`, follow the run, and deploy its
//! image (`--deploy`) through the deploy command.

use super::common::{fail, json_line, load_config};
use super::github::render_jobs;
use crate::collect::pipeline::{self, PipelineError};
use crate::config::Config;
use crate::domain::RunView;
use crate::exit_code;
use crate::github_ops::{PreparedDispatch, prepare_dispatch};
use crate::sources::github::{GithubError, GithubSource};
use crate::workflow;
use chrono::Utc;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

pub struct DispatchArgs {
    pub git_ref: Option<String>,
    pub inputs: Vec<String>,
    pub watch: bool,
    /// Deploy the run's image once it is in the registry (implies `watch`).
    pub deploy: bool,
    pub yes: bool,
    /// JSON lines on stdout: the dispatch, the run's updates, the image, the deploy's events.
    pub json: bool,
}

fn confirm_on_tty(question: &str) -> Option<bool> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return None;
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).ok()?;
    Some(matches!(answer.trim(), "y" | "Y" | "yes"))
}

pub async fn dispatch_command(explicit: Option<&Path>, read_only: bool, args: DispatchArgs) -> i32 {
    let loaded = match load_config(explicit) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let config: &Config = &loaded.config;
    if read_only || config.ui.read_only {
        return fail(
            "dispatch refused: read-only mode (--read-only or ui.read_only)",
            exit_code::REFUSED,
        );
    }
    // Bad input is refused before anything is sent.
    let mut given = Vec::new();
    for a in &args.inputs {
        match workflow::parse_assignment(a) {
            Ok(kv) => given.push(kv),
            Err(e) => return fail(e, exit_code::USAGE),
        }
    }
    if let Some(r) = &args.git_ref
        && let Err(e) = workflow::validate_ref(r)
    {
        return fail(format!("--ref: {e}"), exit_code::USAGE);
    }
    let gh = match GithubSource::new(&config.github).await {
        Ok(g) => g,
        Err(e) => return fail(e, exit_code::UNREACHABLE),
    };
    let prepared = match prepare_dispatch(&gh, args.git_ref.as_deref(), &given).await {
        Ok((p, _)) => p,
        Err(e) => return fail(e, exit_code::USAGE),
    };
    eprintln!("elt-console: {}", prepared.describe());
    if !args.yes {
        match confirm_on_tty("Dispatch?") {
            Some(true) => {}
            Some(false) => return fail("dispatch cancelled", exit_code::REFUSED),
            None => {
                return fail(
                    "dispatch changes something: pass --yes to confirm when not on a terminal",
                    exit_code::REFUSED,
                );
            }
        }
    }
    let run = match pipeline::dispatch_and_find_run(&gh, &prepared.body, Duration::from_secs(120))
        .await
    {
        Ok(r) => r,
        Err(e) => {
            // The run exists: say so where scripts read, so nobody dispatches it again.
            // Without --watch the command did its work; only following the run cannot go on.
            if let PipelineError::RunUnreadable {
                run_id, html_url, ..
            } = &e
            {
                if args.json {
                    json_line(&dispatched(
                        &prepared,
                        serde_json::json!({ "id": run_id, "html_url": html_url }),
                    ));
                } else {
                    println!(
                        "dispatch accepted: run {run_id} ({})",
                        html_url.as_deref().unwrap_or("no html_url in the answer")
                    );
                }
                eprintln!("elt-console: {e}");
                return if args.watch {
                    exit_code::UNREACHABLE
                } else {
                    0
                };
            }
            let code = dispatch_exit(&e);
            return fail(e, code);
        }
    };
    if args.json {
        json_line(&dispatched(&prepared, serde_json::json!(run)));
    } else {
        println!("run #{} {} ({})", run.number, run.id, run.html_url);
    }
    if !args.watch {
        return 0;
    }
    let every = Duration::from_secs(
        if gh.token_source == crate::sources::github::TokenSource::None {
            30
        } else {
            10
        },
    );
    let followed = pipeline::follow_run(
        &gh,
        run.id,
        every,
        Duration::from_secs(6 * 3600),
        |r, jobs| {
            if args.json {
                json_line(&serde_json::json!({ "event": "run", "run": r, "jobs": jobs }));
                return;
            }
            println!(
                "run #{}: {}",
                r.number,
                r.conclusion.as_deref().unwrap_or(&r.status)
            );
            print!("{}", render_jobs(jobs, Utc::now()));
        },
    )
    .await;
    let run = match followed {
        Ok(r) if r.conclusion.as_deref() == Some("success") => r,
        Ok(r) => {
            return fail(
                format!(
                    "run #{} ended {}",
                    r.number,
                    r.conclusion.as_deref().unwrap_or("without a result")
                ),
                exit_code::FAILED,
            );
        }
        Err(e) => {
            let code = dispatch_exit(&e);
            return fail(e, code);
        }
    };
    // The image is pushed at the end of the run; give the registry a moment when only
    // reporting, and longer when we are to deploy it.
    let wait = Duration::from_secs(if args.deploy { 30 * 60 } else { 120 });
    let tag = match built_image(config, &run, wait, args.json).await {
        Ok(t) => t,
        Err(e) if args.deploy => return fail(e, exit_code::UNREACHABLE),
        Err(e) => {
            eprintln!("elt-console: run #{} succeeded, but {e}", run.number);
            return 0;
        }
    };
    if args.json {
        json_line(&serde_json::json!({
            "event": "image-built",
            "run": run.number,
            "tag": tag.to_string(),
            "deploy_command": deploy_command_line(explicit, &tag),
        }));
        if !args.deploy {
            return 0;
        }
    }
    if !args.deploy {
        println!(
            "run #{} built {tag}; to deploy it: {}",
            run.number,
            deploy_command_line(explicit, &tag)
        );
        return 0;
    }
    if !args.json {
        println!("run #{} built {tag}; deploying it", run.number);
    }
    crate::deploy::command::deploy_command(
        loaded.config.clone(),
        crate::deploy::command::DeployArgs {
            kind: crate::store::DeployKind::Deploy,
            tag: Some(tag.to_string()),
            previous: false,
            yes: args.yes,
            dry_run: false,
            force: false,
            json: args.json,
            read_only,
        },
    )
    .await
}

/// The run's commit tag (`main-<sha>` for ELT), once it resolves in every deployed
/// service's repository.
async fn built_image(
    config: &Config,
    run: &RunView,
    wait: Duration,
    json: bool,
) -> Result<crate::domain::Tag, PipelineError> {
    let first = &config.deployment.services[0];
    let tag = pipeline::image_tag_for(first, run)?;
    let registry = crate::sources::registry::RegistrySource::new(&config.registry);
    let deadline = tokio::time::Instant::now() + wait;
    for svc in &config.deployment.services {
        let note = format!("waiting for {} in the registry", svc.image.with_tag(&tag));
        // With --json, stdout carries only JSON lines.
        if json {
            eprintln!("elt-console: {note}");
        } else {
            println!("{note}");
        }
        pipeline::wait_for_image(&registry, &svc.image, &tag, deadline).await?;
    }
    Ok(tag)
}

/// The exact command that deploys `tag` with the same config.
fn deploy_command_line(explicit: Option<&Path>, tag: &crate::domain::Tag) -> String {
    let quote = |s: &str| {
        if !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@".contains(&b))
        {
            s.to_string()
        } else {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
    };
    match explicit {
        Some(p) => format!(
            "elt-console --config {} deploy {tag}",
            quote(&p.display().to_string())
        ),
        None => format!("elt-console deploy {tag}"),
    }
}

/// The `dispatched` event of `dispatch --json` (docs/status-json.md).
fn dispatched(prepared: &PreparedDispatch, run: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "event": "dispatched",
        "workflow": prepared.workflow,
        "repository": prepared.repository,
        "ref": prepared.git_ref,
        "run": run,
    })
}

fn dispatch_exit(e: &PipelineError) -> i32 {
    match e {
        PipelineError::Github(GithubError::Validation(_)) => exit_code::USAGE,
        _ => exit_code::UNREACHABLE,
    }
}
