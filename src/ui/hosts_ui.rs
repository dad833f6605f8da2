//! Several hosts in the dashboard (`[[hosts]]`): the overview's state (each host's last
//! probe, fresh or failing since when), which host the full dashboard shows, the `:host NAME`
//! command and the keys that switch. Pure: the probes and the per-host collectors run in
//! `hosts_live`, and report back through `Msg::HostProbed`/`Msg::HostUpdate`.

use super::model::{App, Fresh, Overlay, Panel};
use super::msg::{Effect, Msg};
use super::panels::gpu::GpuHistory;
pub use super::panels::hosts::{HostEntry, HostsView};
use super::panels::logs::LogView;
use crate::keymap::Action;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// What `:host …` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostCommand {
    /// `:host NAME`: that host's full dashboard.
    Show(String),
    /// `:hosts` (or `:host` alone): the overview.
    Overview,
}

/// `:host NAME` / `:hosts` from the command line's words; None for any other command.
pub fn parse_host_command(text: &str) -> Option<Result<HostCommand, String>> {
    let mut words = text.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("hosts"), None, _) | (Some("host"), None, _) => Some(Ok(HostCommand::Overview)),
        (Some("host"), Some(name), None) => Some(Ok(HostCommand::Show(name.to_string()))),
        (Some("host" | "hosts"), Some(_), Some(_)) | (Some("hosts"), Some(_), None) => {
            Some(Err("usage: :host NAME (or :hosts for the overview)".into()))
        }
        _ => None,
    }
}

/// Run `:host …`; false when `text` is not a host command (the caller handles it).
pub fn run_command(app: &mut App, text: &str, fx: &mut Vec<Effect>) -> bool {
    let Some(parsed) = parse_host_command(text) else {
        return false;
    };
    let Some(view) = app.hosts.as_mut() else {
        app.say("no [[hosts]] are configured: this dashboard shows the one engine of [docker] (see docs/scaling.md)");
        return true;
    };
    match parsed {
        Err(usage) => app.say(usage),
        Ok(HostCommand::Overview) => {
            view.overview = true;
            view.selected = view.shown;
            fx.push(Effect::ProbeHosts);
        }
        Ok(HostCommand::Show(name)) => match view.hosts.iter().position(|h| h.name == name) {
            Some(i) => switch_to(app, i, fx),
            None => {
                let names = view.names();
                app.say(format!("unknown host {name:?} (hosts: {names})"));
            }
        },
    }
    true
}

/// Tab in the command line: complete `host PREFIX` to the one host name it starts, or to
/// the longest prefix several share (and list them).
pub fn complete(app: &mut App, input: &str) -> Option<String> {
    let view = app.hosts.as_ref()?;
    let prefix = input.strip_prefix("host ")?.trim_start();
    let matching: Vec<&str> = view
        .hosts
        .iter()
        .map(|h| h.name.as_str())
        .filter(|n| n.starts_with(prefix))
        .collect();
    let common =
        matching
            .iter()
            .skip(1)
            .fold(matching.first().map(|s| s.to_string())?, |acc, n| {
                acc.chars()
                    .zip(n.chars())
                    .take_while(|(a, b)| a == b)
                    .map(|(a, _)| a)
                    .collect()
            });
    if matching.len() > 1 {
        let list = matching.join(", ");
        app.say(format!("hosts: {list}"));
    }
    Some(format!("host {common}"))
}

/// Show host `index`'s full dashboard: what the last host's collectors reported is dropped
/// (its containers, GPU, health, logs, deploys), and the loop starts this host's.
pub fn switch_to(app: &mut App, index: usize, fx: &mut Vec<Effect>) {
    let Some(view) = app.hosts.as_mut() else {
        return;
    };
    let Some(host) = view.hosts.get(index) else {
        return;
    };
    let name = host.name.clone();
    view.overview = false;
    view.selected = index;
    if view.shown == index {
        app.say(format!("showing host {name}"));
        return;
    }
    view.shown = index;
    view.generation += 1;
    let generation = view.generation;
    let ring = view.log_ring;
    app.containers = Fresh::default();
    app.health = Fresh::default();
    app.health_since = HashMap::new();
    app.gpu = Fresh::default();
    app.gpu_history = GpuHistory::default();
    app.deploys = Fresh::default();
    app.deploy_starting = None;
    app.logs = LogView::new(ring);
    app.selected.clear();
    app.focus = Panel::Containers;
    app.overlay = Overlay::None;
    fx.push(Effect::SwitchHost {
        name: name.clone(),
        generation,
    });
    app.say(format!("showing host {name}"));
}

/// A deploy or rollback confirmation opened on a host's dashboard says which host it goes to
/// (its engine, store and lock), in its title and first row.
pub fn name_host_in_confirm(app: &mut App) {
    let Some(view) = &app.hosts else {
        return;
    };
    let Overlay::Confirm(c) = &mut app.overlay else {
        return;
    };
    let Some(host) = view.hosts.get(view.shown) else {
        return;
    };
    if let Some(question) = c.title.strip_suffix('?') {
        c.title = format!("{question} on host {}?", host.name);
    }
    c.rows.insert(
        0,
        (
            "host".into(),
            format!(
                "{} ({}): its engine, store and lock",
                host.name, host.endpoint
            ),
        ),
    );
}

/// The mouse wheel on the overview moves its selection; false when the overview is not on.
pub fn move_overview_selection(app: &mut App, delta: i64) -> bool {
    let Some(view) = app.hosts.as_mut().filter(|v| v.overview) else {
        return false;
    };
    let last = view.hosts.len().saturating_sub(1) as i64;
    view.selected = (view.selected as i64 + delta).clamp(0, last) as usize;
    true
}

/// The hosts' keys, and the overview's own (it takes the keys while it is on). True when the
/// key was taken here.
pub fn on_action(app: &mut App, action: Action, fx: &mut Vec<Effect>) -> bool {
    let Some(view) = app.hosts.as_mut() else {
        if action.is_hosts() {
            app.say("no [[hosts]] are configured (see docs/scaling.md)");
            return true;
        }
        return false;
    };
    let count = view.hosts.len();
    match action {
        Action::Hosts => {
            view.overview = !view.overview;
            view.selected = view.shown;
            if view.overview {
                fx.push(Effect::ProbeHosts);
            }
            true
        }
        Action::NextHost | Action::PrevHost if count > 0 => {
            let step = if action == Action::NextHost {
                1
            } else {
                count - 1
            };
            let next = (view.shown + step) % count;
            switch_to(app, next, fx);
            true
        }
        _ if !view.overview => false,
        // The overview takes the keys while it is on; quit, help and the command line work.
        Action::Quit | Action::Help | Action::Command | Action::Redraw | Action::ToggleMouse => {
            false
        }
        Action::Down => {
            view.selected = (view.selected + 1).min(count.saturating_sub(1));
            true
        }
        Action::Up => {
            view.selected = view.selected.saturating_sub(1);
            true
        }
        Action::Top => {
            view.selected = 0;
            true
        }
        Action::Bottom => {
            view.selected = count.saturating_sub(1);
            true
        }
        Action::Open => {
            let i = view.selected;
            switch_to(app, i, fx);
            true
        }
        Action::Back => {
            view.overview = false;
            true
        }
        Action::Refresh => {
            fx.push(Effect::ProbeHosts);
            app.say("probing every host now");
            true
        }
        _ => true,
    }
}

/// What `update` did with a message.
// Passed straight back by value, as `Msg` itself is (see its note): boxing would only add an
// allocation per collector update.
#[allow(clippy::large_enum_variant)]
pub enum Folded {
    /// It was one of several hosts' (whether the screen changed).
    Done(bool),
    /// Not one of theirs, or the shown host's collectors' update unwrapped: the caller folds it.
    Pass(Msg),
}

/// Fold a message of several hosts (whether the screen changed); any other message is
/// handed back for the caller to fold.
pub fn update(app: &mut App, msg: Msg, now: DateTime<Utc>) -> Folded {
    match msg {
        Msg::HostProbed(status) => {
            let Some(entry) = app
                .hosts
                .as_mut()
                .and_then(|v| v.hosts.iter_mut().find(|h| h.name == status.name))
            else {
                return Folded::Done(false);
            };
            entry.set(*status, now);
            Folded::Done(true)
        }
        Msg::HostProbeFailed { name, error } => {
            let Some(entry) = app
                .hosts
                .as_mut()
                .and_then(|v| v.hosts.iter_mut().find(|h| h.name == name))
            else {
                return Folded::Done(false);
            };
            entry.fail(error, now);
            Folded::Done(true)
        }
        Msg::HostUpdate { generation, update } => {
            if app.hosts.as_ref().map(|v| v.generation) == Some(generation) {
                Folded::Pass(Msg::Collected(update))
            } else {
                Folded::Done(false) // from a host already left
            }
        }
        other => Folded::Pass(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_commands_parse_and_others_pass_through() {
        assert_eq!(
            parse_host_command("host gpu2"),
            Some(Ok(HostCommand::Show("gpu2".into())))
        );
        assert_eq!(
            parse_host_command("  host   gpu2 "),
            Some(Ok(HostCommand::Show("gpu2".into())))
        );
        assert_eq!(parse_host_command("hosts"), Some(Ok(HostCommand::Overview)));
        assert_eq!(parse_host_command("host"), Some(Ok(HostCommand::Overview)));
        assert!(matches!(parse_host_command("host a b"), Some(Err(_))));
        assert!(matches!(parse_host_command("hosts a"), Some(Err(_))));
        assert_eq!(parse_host_command("logs app"), None);
        assert_eq!(parse_host_command("hostname"), None);
    }
}
