//! `runs` and `tags`: the workflow's recent runs and the registry's tag history; and the
//! run's jobs as `dispatch --watch` prints them.

use super::common::{TagListing, fail, load_config, print_json, run_title, secs, table, tag_table};
use crate::domain::{JobView, RunView};
use crate::exit_code;
use crate::format::age;
use crate::sources::docker::DockerSource;
use crate::sources::github::GithubSource;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt::Write;
use std::path::Path;

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
        Err(e) => return fail(e, exit_code::UNREACHABLE),
    };
    let page = match gh.runs().await {
        Ok(p) => p,
        Err(e) => return fail(e, exit_code::UNREACHABLE),
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
                run_title(r),
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            "RUN", "ID", "RESULT", "BRANCH", "SHA", "EVENT", "TOOK", "AGE", "TITLE",
        ],
        &rows,
        1,
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

pub async fn tags_command(explicit: Option<&Path>, json: bool) -> i32 {
    let loaded = match load_config(explicit) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let config = &loaded.config;
    // Running state and CI results are extras: the tags are still worth showing without them.
    let containers = async {
        let d = DockerSource::connect_config(&config.docker).await.ok()?;
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
    let report = match crate::collect::taghistory::collect(
        config,
        &containers.unwrap_or_default(),
        &runs.unwrap_or_default(),
        gh.as_ref(),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return fail(e, exit_code::UNREACHABLE),
    };
    let mut report = report;
    // The deploy history is read only where it exists: `tags` never creates a store.
    let dir = crate::deploy::state_dir(config);
    if dir.join(crate::store::STORE_FILE).exists()
        && let Ok(deployments) = crate::store::Store::open(&dir).and_then(|s| s.deployments(500))
    {
        crate::collect::taghistory::fill_last_deployed(&mut report.repositories, &deployments);
    }
    if json {
        return print_json(&report);
    }
    print!("{}", render_tags(&report, Utc::now()));
    0
}

pub fn render_tags(report: &crate::collect::taghistory::TagsReport, now: DateTime<Utc>) -> String {
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
        tag_table(&mut out, &repo.tags, now, TagListing::Tags);
    }
    for n in &report.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    let _ = writeln!(out, "  (* = running now)");
    out
}
