//! The headless GitHub commands: `runs`, `dispatch` and `tags`.

use crate::cli::{EXIT_INTERNAL, EXIT_USAGE, load_config};
use crate::config::Config;
use crate::domain::{JobView, RunView};
use crate::format::age;
use crate::pipeline::{self, PipelineError};
use crate::sources::docker::DockerSource;
use crate::sources::github::{GithubError, GithubSource};
use crate::status::EXIT_SOURCE_UNREACHABLE;
use crate::workflow;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt::Write;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use crate::exit_code::{FAILED as EXIT_RUN_FAILED, REFUSED as EXIT_REFUSED};

fn fail(e: impl std::fmt::Display, code: i32) -> i32 {
    eprintln!("elt-console: {e}");
    code
}

fn print_json<T: Serialize>(value: &T) -> i32 {
    match serde_json::to_string_pretty(value) {
        Ok(text) => {
            println!("{text}");
            0
        }
        Err(e) => fail(format!("cannot encode JSON: {e}"), EXIT_INTERNAL),
    }
}

fn secs(s: Option<i64>) -> String {
    match s {
        None => "-".into(),
        Some(s) if s < 60 => format!("{s}s"),
        Some(s) => format!("{}m{:02}s", s / 60, s % 60),
    }
}

/// Columns sized to their widest cell.
fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut line = |cells: &[String]| {
        let mut s = String::from(" ");
        for (i, c) in cells.iter().enumerate() {
            let _ = write!(s, " {c:<w$}", w = widths[i]);
        }
        let _ = writeln!(out, "{}", s.trim_end());
    };
    line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for row in rows {
        line(row);
    }
}

#[derive(Serialize)]
struct RunsReport {
    repository: String,
    workflow: String,
    token: String,
    rate_limit: crate::domain::RateLimit,
    runs: Vec<RunView>,
}

pub async fn runs_command(explicit: Option<&Path>, json: bool) -> i32 {
    let loaded = match load_config(explicit) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let gh = match GithubSource::new(&loaded.config.github).await {
        Ok(g) => g,
        Err(e) => return fail(e, EXIT_SOURCE_UNREACHABLE),
    };
    let page = match gh.runs().await {
        Ok(p) => p,
        Err(e) => return fail(e, EXIT_SOURCE_UNREACHABLE),
    };
    let report = RunsReport {
        repository: gh.repo().to_string(),
        workflow: gh.workflow().to_string(),
        token: gh.token_source.to_string(),
        rate_limit: page.rate,
        runs: page.runs,
    };
    if json {
        return print_json(&report);
    }
    print!("{}", render_runs(&report.runs, Utc::now()));
    if let (Some(rem), Some(lim)) = (report.rate_limit.remaining, report.rate_limit.limit) {
        println!(
            "  ({} in {}; GitHub budget {rem}/{lim}; token: {})",
            report.workflow, report.repository, report.token
        );
    }
    0
}

pub fn render_runs(runs: &[RunView], now: DateTime<Utc>) -> String {
    let mut out = String::new();
    if runs.is_empty() {
        out.push_str("  no runs\n");
        return out;
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                format!("#{}", r.number),
                r.id.to_string(),
                r.conclusion.clone().unwrap_or_else(|| r.status.clone()),
                r.branch.clone().unwrap_or_default(),
                r.short_sha().to_string(),
                r.event.clone(),
                secs(Some(r.duration_secs())),
                format!("{} ago", age(r.created_at, now)),
                r.title
                    .clone()
                    .unwrap_or_default()
                    .chars()
                    .take(50)
                    .collect(),
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            "RUN", "ID", "RESULT", "BRANCH", "SHA", "EVENT", "TOOK", "AGE", "TITLE",
        ],
        &rows,
    );
    out
}

/// Jobs and steps of a run, one line each, for `dispatch --watch`.
pub fn render_jobs(jobs: &[JobView], now: DateTime<Utc>) -> String {
    let mut out = String::new();
    for j in jobs {
        let _ = writeln!(
            out,
            "  job {}: {} ({})",
            j.name,
            j.conclusion.as_deref().unwrap_or(&j.status),
            secs(j.duration_secs(now))
        );
        for s in &j.steps {
            let _ = writeln!(
                out,
                "    {:>2}. {:<40} {:<11} {}",
                s.number,
                s.name,
                s.conclusion.as_deref().unwrap_or(&s.status),
                secs(s.duration_secs(now))
            );
        }
    }
    out
}

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

/// A dispatch checked and ready: what will be sent, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedDispatch {
    pub workflow: String,
    pub repository: String,
    pub git_ref: String,
    pub body: serde_json::Value,
}

impl PreparedDispatch {
    pub fn describe(&self) -> String {
        format!(
            "dispatch workflow {} in {} at ref {} with body {}",
            self.workflow, self.repository, self.git_ref, self.body
        )
    }
}

/// Read the workflow's declared inputs at `git_ref` (default: the default branch) and check
/// the given inputs against them.
pub async fn prepare_dispatch(
    gh: &GithubSource,
    git_ref: Option<&str>,
    given: &[(String, String)],
) -> Result<(PreparedDispatch, workflow::DispatchSpec), String> {
    let git_ref = match git_ref {
        Some(r) => workflow::validate_ref(r)?,
        None => gh.default_branch().await.map_err(|e| e.to_string())?,
    };
    let path = gh.workflow_path().await.map_err(|e| e.to_string())?;
    let text = gh
        .file(&path, &git_ref)
        .await
        .map_err(|e| format!("reading {path} at {git_ref}: {e}"))?;
    let spec = workflow::parse_dispatch_spec(&text, &format!("{path} at {git_ref}"))?;
    let inputs = workflow::validate_inputs(&spec, given)?;
    Ok((
        PreparedDispatch {
            workflow: gh.workflow().to_string(),
            repository: gh.repo().to_string(),
            body: workflow::dispatch_body(&git_ref, &inputs),
            git_ref,
        },
        spec,
    ))
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
            EXIT_REFUSED,
        );
    }
    // Bad input is refused before anything is sent.
    let mut given = Vec::new();
    for a in &args.inputs {
        match workflow::parse_assignment(a) {
            Ok(kv) => given.push(kv),
            Err(e) => return fail(e, EXIT_USAGE),
        }
    }
    if let Some(r) = &args.git_ref
        && let Err(e) = workflow::validate_ref(r)
    {
        return fail(format!("--ref: {e}"), EXIT_USAGE);
    }
    let gh = match GithubSource::new(&config.github).await {
        Ok(g) => g,
        Err(e) => return fail(e, EXIT_SOURCE_UNREACHABLE),
    };
    let prepared = match prepare_dispatch(&gh, args.git_ref.as_deref(), &given).await {
        Ok((p, _)) => p,
        Err(e) => return fail(e, EXIT_USAGE),
    };
    eprintln!("elt-console: {}", prepared.describe());
    if !args.yes {
        match confirm_on_tty("Dispatch?") {
            Some(true) => {}
            Some(false) => return fail("dispatch cancelled", EXIT_REFUSED),
            None => {
                return fail(
                    "dispatch changes something: pass --yes to confirm when not on a terminal",
                    EXIT_REFUSED,
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
                    json_line(&serde_json::json!({
                        "event": "dispatched",
                        "workflow": prepared.workflow,
                        "repository": prepared.repository,
                        "ref": prepared.git_ref,
                        "run": { "id": run_id, "html_url": html_url },
                    }));
                } else {
                    println!(
                        "dispatch accepted: run {run_id} ({})",
                        html_url.as_deref().unwrap_or("no html_url in the answer")
                    );
                }
                eprintln!("elt-console: {e}");
                return if args.watch {
                    EXIT_SOURCE_UNREACHABLE
                } else {
                    0
                };
            }
            let code = dispatch_exit(&e);
            return fail(e, code);
        }
    };
    if args.json {
        json_line(&serde_json::json!({
            "event": "dispatched",
            "workflow": prepared.workflow,
            "repository": prepared.repository,
            "ref": prepared.git_ref,
            "run": run,
        }));
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
                EXIT_RUN_FAILED,
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
        Err(e) if args.deploy => return fail(e, EXIT_SOURCE_UNREACHABLE),
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

/// One JSON line on stdout (`dispatch --json`: one object per event, as deploy's events).
fn json_line(v: &serde_json::Value) {
    println!("{v}");
}

fn dispatch_exit(e: &PipelineError) -> i32 {
    match e {
        PipelineError::Github(GithubError::Validation(_)) => EXIT_USAGE,
        _ => EXIT_SOURCE_UNREACHABLE,
    }
}

pub async fn tags_command(explicit: Option<&Path>, json: bool) -> i32 {
    let loaded = match load_config(explicit) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let config = &loaded.config;
    // Running state and CI results are extras: the tags are still worth showing without them.
    let containers = async {
        let d = DockerSource::connect(&config.docker.host, config.docker.request_timeout_ms)
            .await
            .ok()?;
        d.project_containers(&config.deployment.project).await.ok()
    };
    let gh = GithubSource::new(&config.github).await.ok();
    let runs = async {
        match &gh {
            Some(gh) => gh.runs().await.ok().map(|p| p.runs),
            None => None,
        }
    };
    let (containers, runs) = tokio::join!(containers, runs);
    let report = match crate::taghistory::collect(
        config,
        &containers.unwrap_or_default(),
        &runs.unwrap_or_default(),
        gh.as_ref(),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return fail(e, EXIT_SOURCE_UNREACHABLE),
    };
    let mut report = report;
    // The deploy history is read only where it exists: `tags` never creates a store.
    let dir = crate::deploy::state_dir(config);
    if dir.join(crate::store::STORE_FILE).exists()
        && let Ok(deployments) = crate::store::Store::open(&dir).and_then(|s| s.deployments(500))
    {
        crate::taghistory::fill_last_deployed(&mut report.repositories, &deployments);
    }
    if json {
        return print_json(&report);
    }
    print!("{}", render_tags(&report, Utc::now()));
    0
}

pub fn render_tags(report: &crate::taghistory::TagsReport, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    for repo in &report.repositories {
        let _ = writeln!(
            out,
            "{} ({}, service {})",
            repo.repository,
            crate::format::count(repo.total, "tag", "tags"),
            repo.service
        );
        if let Some(e) = &repo.error {
            let _ = writeln!(out, "  error: {e}");
            continue;
        }
        let rows: Vec<Vec<String>> = repo
            .tags
            .iter()
            .map(|t| {
                vec![
                    format!("{}{}", if t.running { "* " } else { "  " }, t.tag),
                    t.revision
                        .as_ref()
                        .map_or("-".into(), |r| r.short().to_string()),
                    t.created.map_or("-".into(), |c| {
                        format!("{} ({} ago)", c.format("%Y-%m-%d %H:%M"), age(c, now))
                    }),
                    t.size_bytes.map_or("-".into(), crate::cli::bytes),
                    t.ci.clone().unwrap_or_else(|| "-".into()),
                    t.last_deployed
                        .map_or("—".into(), |d| format!("{} ago", age(d, now))),
                    t.error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        table(
            &mut out,
            &["  TAG", "SHA", "CREATED", "SIZE", "CI", "DEPLOYED", ""],
            &rows,
        );
    }
    for n in &report.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    let _ = writeln!(out, "  (* = running now)");
    out
}
