//! Every host at once (`elt-console hosts`, and `status` when `[[hosts]]` are configured): each
//! host's own status report, read concurrently, so one unreachable engine never hides the
//! others; the verdict and exit code are the worst host's.

use super::link::HostLink;
use super::{HostConfig, seen};
use crate::collect::status::{self, Overall, Section, StatusReport};
use crate::config::Config;
use crate::domain::GpuStatus;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Version of the several-hosts `--json` shape (docs/status-json.md).
pub const HOSTS_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct HostsReport {
    pub schema: u32,
    pub generated_at: DateTime<Utc>,
    pub overall: Overall,
    pub exit_code: i32,
    /// One line per host that is not healthy, naming it.
    pub reasons: Vec<String>,
    pub hosts: Vec<HostStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostStatus {
    pub name: String,
    pub endpoint: String,
    pub labels: BTreeMap<String, String>,
    /// The engine answered.
    pub reachable: bool,
    /// The last time the engine answered (this run, or an earlier one).
    pub last_up: Option<DateTime<Utc>>,
    /// Since when the engine has not answered (absent while it answers, or if never seen).
    pub down_since: Option<DateTime<Utc>>,
    /// Why the host could not be reached at all (ssh refused, bad endpoint), before any report.
    pub error: Option<String>,
    pub overall: Overall,
    pub exit_code: i32,
    /// The host's own report, in `status --json`'s single-host shape.
    pub report: Option<StatusReport>,
}

/// How bad a status exit code is: an app down is worse than an unknown state.
fn severity(code: i32) -> u8 {
    match code {
        status::EXIT_HEALTHY => 0,
        status::EXIT_SOURCE_UNREACHABLE => 1,
        status::EXIT_APP_DOWN => 2,
        _ => 3,
    }
}

/// One host's report; `base` is the config of the whole console. `shared`: GitHub's runs and
/// the registry's tags, the same for every host, read once by the caller (None: read here).
pub async fn host_status(
    base: &Config,
    host: &HostConfig,
    shared: Option<status::SharedSources>,
) -> HostStatus {
    let timeout = Duration::from_millis(base.docker.request_timeout_ms);
    let root = host.state_root(base);
    let (report, error) = match HostLink::open(host, timeout).await {
        Ok(link) => {
            let mut report = status::collect_with(&link.config(base, host), shared).await;
            let source = super::link::GpuSource::of(host, &link);
            // NVML reads the GPUs of the machine the console runs on, not a remote host's.
            if !matches!(source, super::link::GpuSource::Local) {
                let started = std::time::Instant::now();
                let mut gpu = match &source {
                    super::link::GpuSource::Ssh(ssh) => {
                        super::remote_gpu::sample(ssh, &host.gpu_command).await
                    }
                    _ => super::link::GpuSource::unknown(host),
                };
                if let Some(containers) = report.containers.data() {
                    status::name_gpu_processes(containers, &mut gpu);
                }
                report.gpu = Section::Ok {
                    elapsed_ms: started.elapsed().as_millis() as u64,
                    data: gpu,
                };
            }
            (Some(report), None)
        }
        Err(e) => (None, Some(e.to_string())),
    };
    let reachable = report
        .as_ref()
        .is_some_and(|r| r.containers.error().is_none());
    let seen = seen::record(&root, reachable, Utc::now());
    let (overall, exit_code) = match &report {
        Some(r) => (r.overall, r.exit_code),
        None => (Overall::Unknown, status::EXIT_SOURCE_UNREACHABLE),
    };
    HostStatus {
        name: host.name.clone(),
        endpoint: host.endpoint.clone(),
        labels: host.labels.clone(),
        reachable,
        last_up: seen.last_up,
        down_since: seen.down_since,
        error,
        overall,
        exit_code,
        report,
    }
}

/// Every configured host, concurrently, in the config's order.
pub async fn collect(base: &Config) -> HostsReport {
    let shared = status::read_shared(base).await;
    let statuses = futures_util::future::join_all(
        base.hosts
            .iter()
            .map(|h| host_status(base, h, Some(shared.clone()))),
    )
    .await;
    judge(statuses, Utc::now())
}

fn judge(hosts: Vec<HostStatus>, now: DateTime<Utc>) -> HostsReport {
    let worst = hosts
        .iter()
        .max_by_key(|h| severity(h.exit_code))
        .map(|h| (h.overall, h.exit_code))
        .unwrap_or((Overall::Unknown, status::EXIT_SOURCE_UNREACHABLE));
    let mut reasons = Vec::new();
    for h in &hosts {
        if !h.reachable {
            let since = h
                .down_since
                .map(|t| format!(" since {}", t.format("%Y-%m-%d %H:%M:%S UTC")))
                .unwrap_or_default();
            let why = h
                .error
                .clone()
                .or_else(|| {
                    h.report
                        .as_ref()
                        .and_then(|r| r.containers.error().map(str::to_string))
                })
                .unwrap_or_default();
            reasons.push(format!("host {}: engine unreachable{since}: {why}", h.name));
        } else if let Some(r) = &h.report {
            reasons.extend(r.reasons.iter().map(|x| format!("host {}: {x}", h.name)));
        }
    }
    HostsReport {
        schema: HOSTS_SCHEMA_VERSION,
        generated_at: now,
        overall: worst.0,
        exit_code: worst.1,
        reasons,
        hosts,
    }
}

fn overall_word(o: Overall) -> &'static str {
    match o {
        Overall::Healthy => "healthy",
        Overall::AppDown => "APP DOWN",
        Overall::Degraded => "degraded",
        Overall::Unknown => "unknown",
    }
}

/// The overview as a table: one row per host.
pub fn render(r: &HostsReport, now: DateTime<Utc>) -> String {
    use std::fmt::Write;
    let mut rows: Vec<Vec<String>> = vec![
        [
            "HOST", "ENDPOINT", "ENGINE", "APP", "TAG", "COMMIT", "GPU", "HEALTH",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    ];
    for h in &r.hosts {
        let engine = if h.reachable {
            "up".to_string()
        } else {
            match h.down_since {
                Some(t) => format!("DOWN {} ago", crate::format::age(t, now)),
                None => "DOWN".to_string(),
            }
        };
        let app = overall_word(h.overall);
        let first = h.report.as_ref().and_then(|r| r.services.first());
        let tag = first
            .and_then(|s| s.tag.as_ref().map(ToString::to_string))
            .unwrap_or_else(|| "-".into());
        let commit = first
            .and_then(|s| s.revision.as_deref())
            .map(|s| s.chars().take(7).collect())
            .unwrap_or_else(|| "-".into());
        let gpu = match h.report.as_ref().and_then(|r| r.gpu.data()) {
            Some(GpuStatus::Available { devices, .. }) => devices
                .iter()
                .map(|d| {
                    // What the project's own containers hold, beside the card's totals.
                    let in_containers: u64 = d
                        .processes
                        .iter()
                        .filter(|p| p.container.is_some())
                        .filter_map(|p| p.used_bytes)
                        .sum();
                    format!(
                        "{}%{}{}",
                        d.utilization_pct.map_or("?".into(), |u| u.to_string()),
                        match (d.memory_used_bytes, d.memory_total_bytes) {
                            (Some(u), Some(t)) if t > 0 => format!(" {}% mem", u * 100 / t),
                            _ => String::new(),
                        },
                        if in_containers > 0 {
                            format!(" (app {} MiB)", in_containers / (1024 * 1024))
                        } else {
                            String::new()
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
            _ => "-".into(),
        };
        let health = match h.report.as_ref().and_then(|r| r.health.data()) {
            Some(list) if list.is_empty() => "-".to_string(),
            Some(list) => format!("{}/{} ok", list.iter().filter(|x| x.ok).count(), list.len()),
            None => "-".into(),
        };
        rows.push(vec![
            h.name.clone(),
            h.endpoint.clone(),
            engine,
            app.into(),
            tag,
            commit,
            gpu,
            health,
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    let _ = writeln!(
        out,
        "overall: {} (exit {})",
        overall_word(r.overall),
        r.exit_code
    );
    for reason in &r.reasons {
        let _ = writeln!(out, "  - {reason}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, code: i32, overall: Overall) -> HostStatus {
        HostStatus {
            name: name.into(),
            endpoint: "unix:///x".into(),
            labels: BTreeMap::new(),
            reachable: code != status::EXIT_SOURCE_UNREACHABLE,
            last_up: None,
            down_since: None,
            error: None,
            overall,
            exit_code: code,
            report: None,
        }
    }

    #[test]
    fn the_worst_host_decides_the_exit_code() {
        let r = judge(
            vec![
                host("a", status::EXIT_HEALTHY, Overall::Healthy),
                host("b", status::EXIT_SOURCE_UNREACHABLE, Overall::Unknown),
            ],
            Utc::now(),
        );
        assert_eq!(r.exit_code, status::EXIT_SOURCE_UNREACHABLE);
        assert!(
            r.reasons[0].starts_with("host b: engine unreachable"),
            "{:?}",
            r.reasons
        );
        let r = judge(
            vec![
                host("a", status::EXIT_APP_DOWN, Overall::AppDown),
                host("b", status::EXIT_SOURCE_UNREACHABLE, Overall::Unknown),
            ],
            Utc::now(),
        );
        assert_eq!(
            (r.exit_code, r.overall),
            (status::EXIT_APP_DOWN, Overall::AppDown)
        );
    }
}
