//! `history`: past deployments, newest first, as a table or JSON.

use crate::config::Config;
use crate::deploy::command::{EXIT_UNREACHABLE, err, out};
use crate::deploy::{fmt_ms, state_dir};
use crate::domain::Deployment;
use crate::store::Store;

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
        "HOW".into(),
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
            d.strategy_label().to_string(),
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
    let widths: Vec<usize> = (0..9)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Actor, DeployKind};

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
}
