//! `history` with `[[hosts]]`: each host's own store read, the deployments merged newest
//! first, each row naming its host.

use super::HostConfig;
use crate::config::Config;
use crate::domain::Deployment;
use crate::store::Store;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct HostDeployment {
    pub host: String,
    #[serde(flatten)]
    pub deployment: Deployment,
}

/// Up to `limit` deployments over `hosts`, newest first; a host whose store cannot be read
/// is named in the second value (its store is never created just to be read).
pub fn merged(
    config: &Config,
    hosts: &[HostConfig],
    limit: u32,
) -> (Vec<HostDeployment>, Vec<String>) {
    let mut all = Vec::new();
    let mut problems = Vec::new();
    for h in hosts {
        let dir = crate::deploy::state_dir(&super::host_config(config, h, ""));
        if !dir.join(crate::store::STORE_FILE).exists() {
            continue;
        }
        match Store::open(&dir).and_then(|s| s.deployments(limit)) {
            Ok(list) => all.extend(list.into_iter().map(|d| HostDeployment {
                host: h.name.clone(),
                deployment: d,
            })),
            Err(e) => problems.push(format!("host {}: {e}", h.name)),
        }
    }
    all.sort_by_key(|d| std::cmp::Reverse(d.deployment.started_at));
    all.truncate(limit as usize);
    (all, problems)
}

/// The merged list as a table.
pub fn render(list: &[HostDeployment]) -> String {
    let side = |s: &crate::domain::ImageSide| {
        s.tag
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| s.image.clone())
            .unwrap_or_else(|| "unknown".into())
    };
    let mut rows = vec![
        [
            "HOST",
            "#",
            "STARTED (UTC)",
            "KIND",
            "FROM -> TO",
            "RESULT",
            "TOOK",
        ]
        .map(String::from),
    ];
    for d in list {
        let x = &d.deployment;
        rows.push([
            d.host.clone(),
            x.id.to_string(),
            x.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            x.kind.as_str().to_string(),
            format!("{} -> {}", side(&x.from), side(&x.to)),
            x.status.as_str().to_string(),
            x.duration_ms()
                .map(crate::format::duration_ms)
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            r.iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}
