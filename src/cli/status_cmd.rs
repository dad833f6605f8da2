//! `status`: one snapshot of everything, as tables or the documented JSON.

use super::common::{TagListing, bytes, run_title, short_sha, table, tag_table};
use crate::collect::status::{self, Section, StatusReport};
use crate::config::{self, Sources};
use crate::domain::{ContainerState, GpuStatus, HealthState};
use crate::exit_code;
use crate::format::age;
use chrono::{DateTime, Utc};
use std::fmt::Write;

pub async fn status_command(explicit: Option<&std::path::Path>, json: bool) -> i32 {
    let loaded = match config::load(&Sources::standard(explicit)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("elt-console: config error: {e}");
            // Scripts parse stdout: they get an answer in the documented shape, not nothing.
            if json {
                println!("{}", config_error_json(&e.to_string(), Utc::now()));
            }
            return exit_code::CONFIG;
        }
    };
    // With [[hosts]], every host's report (docs/status-json.md, "Several hosts"); without,
    // the single-host shape as before.
    if !loaded.config.hosts.is_empty() {
        let report = crate::hosts::overview::collect(&loaded.config).await;
        return super::hosts_cmd::print_report(&report, json);
    }
    let report = status::collect(&loaded.config).await;
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("elt-console: cannot encode status: {e}");
                return exit_code::INTERNAL;
            }
        }
    } else {
        print!("{}", render_status(&report, Utc::now()));
    }
    report.exit_code
}

fn section_head<T>(out: &mut String, title: &str, section: &Section<T>, extra: &str) {
    let _ = writeln!(out, "\n{title}{extra}  ({} ms)", section.elapsed_ms());
    if let Some(e) = section.error() {
        let _ = writeln!(out, "  error: {e}");
    }
}

pub fn render_status(r: &StatusReport, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "elt-console status: project {} at {}",
        r.project,
        r.generated_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let overall = match r.overall {
        status::Overall::Healthy => "healthy",
        status::Overall::AppDown => "APP DOWN",
        status::Overall::Degraded => "degraded (a source could not be read)",
        status::Overall::Unknown => "unknown (Docker engine not readable)",
    };
    let _ = writeln!(out, "overall: {overall} (exit {})", r.exit_code);
    for reason in &r.reasons {
        let _ = writeln!(out, "  - {reason}");
    }
    for s in &r.services {
        let _ = writeln!(
            out,
            "running: {} = {} (rev {})",
            s.service,
            s.image.as_deref().unwrap_or("-"),
            s.revision.as_deref().map(short_sha).unwrap_or("-")
        );
    }

    if let Some(stack) = &r.swarm {
        render_swarm(&mut out, stack, now);
    } else {
        render_containers(&mut out, r, now);
    }

    section_head(&mut out, "HEALTH", &r.health, "");
    if let Some(list) = r.health.data() {
        if list.is_empty() {
            let _ = writeln!(out, "  no endpoints configured");
        }
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|h| {
                vec![
                    h.name.clone(),
                    h.status.map_or("-".into(), |s| s.to_string()),
                    format!("{} ms", h.latency_ms),
                    if h.ok { "ok".into() } else { "FAIL".into() },
                    match (&h.error, &h.version) {
                        (Some(e), _) => e.clone(),
                        (None, Some(v)) => format!("version {v}"),
                        (None, None) => String::new(),
                    },
                    h.url.clone(),
                ]
            })
            .collect();
        if !rows.is_empty() {
            table(
                &mut out,
                &["NAME", "HTTP", "LATENCY", "RESULT", "DETAIL", "URL"],
                &rows,
                2,
            );
        }
    }

    section_head(&mut out, "GPU", &r.gpu, "");
    match r.gpu.data() {
        Some(GpuStatus::Unavailable { reason }) => {
            let _ = writeln!(out, "  unavailable: {reason}");
        }
        Some(GpuStatus::Available {
            devices,
            driver_version,
            ..
        }) => {
            if let Some(v) = driver_version {
                let _ = writeln!(out, "  driver {v}");
            }
            let rows: Vec<Vec<String>> = devices
                .iter()
                .map(|d| {
                    vec![
                        d.index.to_string(),
                        d.name.clone(),
                        d.utilization_pct.map_or("-".into(), |u| format!("{u}%")),
                        match (d.memory_used_bytes, d.memory_total_bytes) {
                            (Some(u), Some(t)) => format!("{} / {}", bytes(u), bytes(t)),
                            _ => "-".into(),
                        },
                        d.temperature_c.map_or("-".into(), |t| format!("{t}°C")),
                        match (d.power_mw, d.power_limit_mw) {
                            (Some(p), Some(l)) => format!("{} / {} W", p / 1000, l / 1000),
                            (Some(p), None) => format!("{} W", p / 1000),
                            _ => "-".into(),
                        },
                    ]
                })
                .collect();
            table(
                &mut out,
                &["GPU", "NAME", "UTIL", "VRAM", "TEMP", "POWER"],
                &rows,
                2,
            );
            for d in devices {
                for p in &d.processes {
                    let _ = writeln!(
                        out,
                        "  gpu {} pid {} {} {}",
                        d.index,
                        p.pid,
                        p.used_bytes.map_or("-".into(), bytes),
                        p.container
                            .as_deref()
                            .unwrap_or("(not in a project container)")
                    );
                }
            }
        }
        None => {}
    }

    section_head(&mut out, "TAGS", &r.tags, "");
    if let Some(repos) = r.tags.data() {
        for repo in repos {
            let _ = writeln!(
                out,
                "  {} ({} of {} described{})",
                repo.repository,
                repo.tags.len(),
                crate::format::count(repo.total, "tag", "tags"),
                if repo.truncated {
                    ", more not shown"
                } else {
                    ""
                }
            );
            for line in [&repo.error, &repo.note].into_iter().flatten() {
                let _ = writeln!(out, "  {line}");
            }
            tag_table(&mut out, &repo.tags, now, TagListing::Status);
        }
        let _ = writeln!(out, "  (* = running now)");
    }

    let runs_extra = r
        .runs
        .data()
        .map(|s| {
            let rate = match (s.rate_limit.remaining, s.rate_limit.limit) {
                (Some(rem), Some(lim)) => format!(
                    "; budget {rem}/{lim}{}",
                    s.rate_limit
                        .reset
                        .map(|t| format!(", {}", crate::format::rate_reset(t, now)))
                        .unwrap_or_default()
                ),
                _ => String::new(),
            };
            let via = s
                .proxy
                .as_ref()
                .map(|p| format!("; via proxy {p}"))
                .unwrap_or_default();
            format!(
                "  {} in {} (token: {}{rate}{via})",
                s.workflow, s.repository, s.token
            )
        })
        .unwrap_or_default();
    section_head(&mut out, "RUNS", &r.runs, &runs_extra);
    if let Some(s) = r.runs.data() {
        let rows: Vec<Vec<String>> = s
            .runs
            .iter()
            .map(|run| {
                vec![
                    format!("#{}", run.number),
                    run.conclusion.clone().unwrap_or_else(|| run.status.clone()),
                    run.branch.clone().unwrap_or_default(),
                    run.short_sha().to_string(),
                    run.event.clone(),
                    format!("{}s", run.duration_secs()),
                    format!("{} ago", age(run.created_at, now)),
                    run_title(run),
                ]
            })
            .collect();
        if rows.is_empty() {
            let _ = writeln!(out, "  no runs");
        } else {
            table(
                &mut out,
                &[
                    "RUN", "RESULT", "BRANCH", "SHA", "EVENT", "TOOK", "AGE", "TITLE",
                ],
                &rows,
                2,
            );
        }
    }
    out
}

fn render_containers(out: &mut String, r: &StatusReport, now: DateTime<Utc>) {
    section_head(out, "CONTAINERS", &r.containers, "");
    if let Some(list) = r.containers.data() {
        if list.is_empty() {
            let _ = writeln!(out, "  no containers in project {}", r.project);
        } else {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|c| {
                    let state = match (c.state, c.exit_code) {
                        (ContainerState::Exited, Some(code)) => format!("exited({code})"),
                        (s, _) => serde_json::to_value(s)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default(),
                    };
                    let health = match c.health {
                        HealthState::Healthy => "healthy",
                        HealthState::Unhealthy => "UNHEALTHY",
                        HealthState::Starting => "starting",
                        HealthState::None => "-",
                    };
                    let tag = crate::domain::ImageRef::parse(&c.image)
                        .ok()
                        .and_then(|i| i.tag.map(|t| t.to_string()))
                        .unwrap_or_else(|| c.image.clone());
                    let uptime = match (c.state, c.started_at) {
                        (ContainerState::Running, Some(t)) => age(t, now),
                        _ => "-".into(),
                    };
                    vec![
                        format!("{}{}", c.service, if c.oneoff { " (run)" } else { "" }),
                        c.name.clone(),
                        state,
                        health.into(),
                        tag,
                        c.revision.as_deref().map(short_sha).unwrap_or("-").into(),
                        uptime,
                        c.restarts.to_string(),
                    ]
                })
                .collect();
            table(
                out,
                &[
                    "SERVICE", "NAME", "STATE", "HEALTH", "TAG", "REV", "UP", "RESTARTS",
                ],
                &rows,
                2,
            );
        }
    }
}

/// A Swarm deployment's stack: its services, their tasks and the nodes, with the generic
/// resources (GPUs) services reserve, tasks were given and nodes advertise.
fn render_swarm(
    out: &mut String,
    stack: &Section<crate::domain::SwarmStackView>,
    now: DateTime<Utc>,
) {
    section_head(out, "SWARM", stack, "");
    let Some(view) = stack.data() else { return };
    let list = |r: &[crate::domain::GenericResource]| {
        if r.is_empty() {
            "-".to_string()
        } else {
            r.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        }
    };
    if view.services.is_empty() {
        let _ = writeln!(out, "  no services in stack {}", view.stack);
    } else {
        let rows: Vec<Vec<String>> = view
            .services
            .iter()
            .map(|s| {
                let tag = crate::domain::ImageRef::parse(&s.image)
                    .ok()
                    .and_then(|i| i.tag.map(|t| t.to_string()))
                    .unwrap_or_else(|| s.image.clone());
                let update = s
                    .update
                    .as_ref()
                    .map_or("-".to_string(), |u| match &u.message {
                        Some(m) => format!("{}: {m}", u.state.as_str()),
                        None => u.state.as_str().to_string(),
                    });
                vec![
                    s.name.clone(),
                    format!(
                        "{}/{}",
                        s.running,
                        s.replicas.map_or("-".to_string(), |r| r.to_string())
                    ),
                    tag,
                    list(&s.reserved),
                    update,
                ]
            })
            .collect();
        table(
            out,
            &["SERVICE", "RUNNING", "TAG", "RESERVES", "LAST UPDATE"],
            &rows,
            2,
        );
    }
    let tasks: Vec<Vec<String>> = view
        .tasks
        .iter()
        .filter(|t| t.desired_state == "running" || t.is_running() || t.error.is_some())
        .map(|t| {
            vec![
                format!(
                    "{}.{}",
                    t.service,
                    t.slot.map_or("-".to_string(), |s| s.to_string())
                ),
                t.state.clone(),
                t.node.clone().unwrap_or_else(|| "-".into()),
                t.since.map_or("-".to_string(), |since| age(since, now)),
                list(&t.assigned),
                t.error.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    if !tasks.is_empty() {
        let _ = writeln!(out);
        table(
            out,
            &["TASK", "STATE", "NODE", "SINCE", "GIVEN", "ERROR"],
            &tasks,
            2,
        );
    }
    let nodes: Vec<Vec<String>> = view
        .nodes
        .iter()
        .map(|n| {
            vec![
                format!("{}{}", n.hostname, if n.leader { " (leader)" } else { "" }),
                n.role.clone(),
                n.state.clone(),
                n.availability.clone(),
                list(&n.resources),
            ]
        })
        .collect();
    if !nodes.is_empty() {
        let _ = writeln!(out);
        table(
            out,
            &["NODE", "ROLE", "STATE", "AVAILABILITY", "GENERIC RESOURCES"],
            &nodes,
            2,
        );
    }
}

/// The `--json` answer when the config cannot be loaded: the documented shape, not nothing.
pub fn config_error_json(message: &str, now: DateTime<Utc>) -> String {
    let schema = status::SCHEMA_VERSION;
    let report = crate::domain::ConfigErrorReport {
        schema,
        generated_at: now,
        overall: status::Overall::Unknown,
        exit_code: crate::exit_code::CONFIG,
        reasons: vec![format!("config error: {message}")],
        error: crate::domain::ReportError {
            kind: "config",
            message: message.to_string(),
        },
    };
    serde_json::to_string_pretty(&report).unwrap_or_else(|e| {
        format!(r#"{{"schema":{schema},"exit_code":78,"error":{{"kind":"config","message":"unprintable: {e}"}}}}"#)
    })
}
