//! `deploy <tag> --hosts …` and `rollback … --hosts …`: the release rolled host by host in
//! rolling order (canaries first), each host through the full engine with its own lock, store,
//! backup, migrate, health and automatic rollback (the same `deploy_command` a single host
//! runs, with the host's config). The roll stops at the first host that does not succeed, and
//! ends by saying which host runs what.

use super::HostConfig;
use super::link::HostLink;
use crate::config::Config;
use crate::deploy::command::{DeployArgs, deploy_command, out};
use crate::sources::docker::DockerSource;
use serde::Serialize;
use std::time::Duration;

/// What one host ended with.
#[derive(Debug, Clone, Serialize)]
pub struct HostOutcome {
    pub host: String,
    /// `done`, how the host's deploy ended as its store records it (`rolled-back`,
    /// `failed`, `failed-down`, `cancelled`…), `not reached` (an earlier host stopped the
    /// roll) or `unreachable`.
    pub result: String,
    pub exit_code: Option<i32>,
    /// `service=image` for each deployed service, as the engine reports it after the roll.
    pub running: Vec<String>,
}

/// What each host runs now, or why it cannot be told.
async fn running_on(base: &Config, host: &HostConfig) -> Vec<String> {
    let timeout = Duration::from_millis(base.docker.request_timeout_ms);
    let link = match HostLink::open(host, timeout).await {
        Ok(l) => l,
        Err(e) => return vec![format!("unknown: {e}")],
    };
    let config = link.config(base, host);
    let docker = match DockerSource::connect_config(&config.docker).await {
        Ok(d) => d,
        Err(e) => return vec![format!("unknown: {e}")],
    };
    let containers = match docker.project_containers(&config.deployment.project).await {
        Ok(c) => c,
        Err(e) => return vec![format!("unknown: {e}")],
    };
    config
        .deployment
        .services
        .iter()
        .map(|s| {
            let image = containers
                .iter()
                .filter(|c| !c.oneoff && c.service == s.name && c.is_up())
                .map(|c| c.image.clone())
                .next()
                .unwrap_or_else(|| "not running".into());
            format!("{}={image}", s.name)
        })
        .collect()
}

/// Roll `args` across `hosts` (already in rolling order). Returns the exit code of the first
/// host that did not succeed, else 0.
pub async fn roll(base: &Config, hosts: &[HostConfig], args: DeployArgs) -> i32 {
    let action = args.kind.as_str();
    let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    if !args.json {
        out(&format!(
            "{action} across {} host(s), in this order: {}",
            hosts.len(),
            names.join(", ")
        ));
    }
    let mut outcomes: Vec<HostOutcome> = Vec::new();
    let mut exit = 0;
    for (i, host) in hosts.iter().enumerate() {
        if exit != 0 {
            outcomes.push(HostOutcome {
                host: host.name.clone(),
                result: "not reached".into(),
                exit_code: None,
                running: Vec::new(),
            });
            continue;
        }
        if !args.json {
            out(&format!(
                "\n== host {} ({}/{}, {}) ==",
                host.name,
                i + 1,
                hosts.len(),
                host.endpoint
            ));
        }
        let timeout = Duration::from_millis(base.docker.request_timeout_ms);
        let link = match HostLink::open(host, timeout).await {
            Ok(l) => l,
            Err(e) => {
                crate::deploy::command::err(&format!("elt-console: {action}: {e}"));
                exit = crate::exit_code::UNREACHABLE;
                outcomes.push(HostOutcome {
                    host: host.name.clone(),
                    result: "unreachable".into(),
                    exit_code: Some(exit),
                    running: Vec::new(),
                });
                continue;
            }
        };
        let config = link.config(base, host);
        let state_dir = crate::deploy::state_dir(&config);
        let code = deploy_command(
            config,
            DeployArgs {
                kind: args.kind,
                tag: args.tag.clone(),
                previous: args.previous,
                yes: args.yes,
                dry_run: args.dry_run,
                force: args.force,
                json: args.json,
                read_only: args.read_only,
            },
        )
        .await;
        drop(link);
        // What the host's own store says this deploy ended with (`rolled-back`, `failed`,
        // …): its newest row that is not an automatic rollback's own record.
        let recorded = crate::store::Store::open(&state_dir)
            .and_then(|s| s.deployments(5))
            .ok()
            .and_then(|l| l.into_iter().find(|d| d.parent_id.is_none()))
            .map(|d| d.status.as_str().to_string());
        let result = match (code, recorded) {
            (0, _) => "done".to_string(),
            (_, Some(status)) if status != "running" => status,
            _ => "failed".to_string(),
        };
        outcomes.push(HostOutcome {
            host: host.name.clone(),
            result,
            exit_code: Some(code),
            running: Vec::new(),
        });
        exit = code;
    }
    for (o, host) in outcomes.iter_mut().zip(hosts) {
        o.running = running_on(base, host).await;
    }
    if args.json {
        let summary = serde_json::json!({
            "event": "rolled",
            "action": action,
            "exit_code": exit,
            "hosts": outcomes,
        });
        out(&summary.to_string());
    } else {
        out(&format!(
            "\n{action} across hosts: {}",
            if exit == 0 {
                "done on every host".to_string()
            } else {
                format!("stopped (exit {exit})")
            }
        ));
        for o in &outcomes {
            let code = o
                .exit_code
                .filter(|c| *c != 0)
                .map(|c| format!(" (exit {c})"))
                .unwrap_or_default();
            out(&format!(
                "  {:<16} {:<12} runs {}",
                o.host,
                format!("{}{code}", o.result),
                o.running.join(", ")
            ));
        }
    }
    exit
}
