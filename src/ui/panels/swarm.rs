//! A Swarm deployment (`deployment.runtime = "swarm"`) on the dashboard: the containers panel
//! shows the stack's services with their tasks under each, the GPU panel the swarm's nodes
//! with the generic resources (GPUs) they advertise and the tasks holding them, and the logs
//! panel follows a task (the selected one, or the selected service's running one).

mod state;
use state::is_current;
pub use state::{StackRow, TASK_HISTORY, stack_rows};

use super::logs::StreamState;
use super::{panel_block, table_state};
use crate::domain::{
    GenericResource, ImageRef, SwarmNodeView, SwarmServiceView, SwarmStackView, SwarmTaskView,
    SwarmUpdateState,
};
use crate::format::age;
use crate::ui::model::{App, Effect, Fresh, Overlay, Panel};
use crate::ui::text::*;
use crate::ui::theme::Theme;
use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};

fn failed(t: &SwarmTaskView) -> bool {
    matches!(t.state.as_str(), "failed" | "rejected" | "orphaned")
}

/// `app` of `elt_app`: the stack's name is in the panel's title.
fn short_name<'a>(stack: &str, service: &'a str) -> &'a str {
    service
        .strip_prefix(stack)
        .and_then(|s| s.strip_prefix('_'))
        .unwrap_or(service)
}

/// `elt_app.1` (as `docker service ps` names a task), or the id's start for a global one.
pub fn task_name(t: &SwarmTaskView) -> String {
    match t.slot {
        Some(slot) => format!("{}.{slot}", t.service),
        None => format!("{}.{}", t.service, t.id.get(..12).unwrap_or(&t.id)),
    }
}

/// `main-0a1b2c3@4f5e6d7c8b9a`: the tag and the digest's start, what a deploy pins.
fn image_label(image: &str) -> String {
    match ImageRef::parse(image) {
        Ok(r) => {
            // A commit tag's full sha would push the update state out of sight: its ends do.
            let tag = r
                .tag
                .map_or_else(|| "latest".to_string(), |t| fit_middle(t.as_str(), 24));
            match r.digest {
                Some(d) => format!("{tag}@{}", d.short()),
                None => tag,
            }
        }
        Err(_) => image.to_string(),
    }
}

/// The header's word on the app: the first configured service's tag while its tasks run.
pub fn header_spans(app: &App, theme: Theme) -> Vec<Span<'static>> {
    let Some(view) = app.swarm.as_ref().and_then(|f| f.data.as_ref()) else {
        return Vec::new();
    };
    let first = app.services.first().and_then(|s| {
        let name = crate::swarm::SwarmSource::service_name(&view.stack, s);
        view.services.iter().find(|v| v.name == name)
    });
    // What runs, which during an update or after a rollback is not always the spec's image.
    let running = first.and_then(|s| {
        view.tasks
            .iter()
            .filter(|t| t.service == s.name && t.is_running())
            .max_by_key(|t| t.since)
    });
    match (first, running) {
        (Some(s), Some(t)) => vec![
            Span::raw("· running "),
            Span::styled(image_label(&t.image), theme.accent()),
            Span::raw(format!(
                " ({}/{}) ",
                s.running,
                s.replicas.map_or("global".into(), |r| r.to_string())
            )),
        ],
        _ => vec![Span::styled("· app not running ", theme.bad())],
    }
}

/// What the containers panel draws for a Swarm deployment.
pub fn draw_services(frame: &mut Frame, app: &App, fresh: &Fresh<SwarmStackView>, area: Rect) {
    let theme = Theme { color: app.color };
    let stack = fresh.data.as_ref().map_or("", |v| v.stack.as_str());
    let extra = vec![Span::styled(format!(" stack {stack} "), theme.dim())];
    let block = panel_block(app, Panel::Containers, Some(fresh), extra, area.width);
    let Some(view) = fresh.data.as_ref().filter(|v| !v.services.is_empty()) else {
        let text = match &fresh.data {
            Some(v) => format!("no services in stack {}", v.stack),
            None => String::new(),
        };
        frame.render_widget(Paragraph::new(text).block(block), area);
        return;
    };
    let stale = fresh.error.is_some();
    let widths = [
        Constraint::Length(18),
        Constraint::Length(15),
        Constraint::Min(10),
    ];
    let rows: Vec<Row> = stack_rows(view)
        .into_iter()
        .map(|row| match row {
            StackRow::Service(i) => service_row(view, &view.services[i], theme),
            StackRow::Task(j) => task_row(app, view, &view.tasks[j], theme),
        })
        .map(|r| if stale { r.style(theme.dim()) } else { r })
        .collect();
    let table = Table::new(rows, widths)
        .header(
            Row::new(["  SERVICE/TASK", "STATE", "IMAGE · UPDATE / NODE · AGE"]).style(theme.dim()),
        )
        .row_highlight_style(theme.selected())
        .block(block);
    frame.render_stateful_widget(table, area, &mut table_state(app, Panel::Containers));
}

fn service_row<'a>(view: &SwarmStackView, s: &SwarmServiceView, theme: Theme) -> Row<'a> {
    let (replicas, style) = match s.replicas {
        Some(want) => (
            format!("replicated {}/{want}", s.running),
            if s.running >= want && want > 0 {
                theme.good()
            } else if s.running == 0 && want > 0 {
                theme.bad()
            } else {
                theme.warn()
            },
        ),
        None => (format!("global {}", s.running), theme.good()),
    };
    let mut info = vec![Span::raw(image_label(&s.image))];
    if let Some(u) = &s.update {
        let (text, style) = match u.state {
            SwarmUpdateState::Updating => ("updating", theme.warn()),
            SwarmUpdateState::Completed => ("update completed", theme.dim()),
            SwarmUpdateState::Paused => ("update paused", theme.bad()),
            SwarmUpdateState::RollbackStarted => ("rolling back", theme.warn()),
            SwarmUpdateState::RollbackPaused => ("rollback paused", theme.bad()),
            SwarmUpdateState::RollbackCompleted => ("rolled back", theme.bad()),
        };
        let message = u
            .message
            .as_deref()
            .filter(|_| u.state != SwarmUpdateState::Completed)
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        info.push(Span::styled(format!(" · {text}{message}"), style));
    }
    Row::new(vec![
        Cell::from(format!("  {}", short_name(&view.stack, &s.name)))
            .style(Style::default().add_modifier(Modifier::BOLD)),
        Cell::from(replicas).style(style),
        Cell::from(Line::from(info)),
    ])
}

fn task_row<'a>(app: &App, view: &SwarmStackView, t: &SwarmTaskView, theme: Theme) -> Row<'a> {
    let followed = app.logs.container_id.as_deref() == Some(t.id.as_str());
    let (glyph, style) = match t.state.as_str() {
        "running" => ("●", theme.good()),
        _ if failed(t) => ("✖", theme.bad()),
        "complete" | "shutdown" | "remove" => ("○", theme.dim()),
        _ => ("◐", theme.warn()),
    };
    let slot = match t.slot {
        Some(slot) => format!(".{slot}"),
        None => t.id.get(..8).unwrap_or(&t.id).to_string(),
    };
    // Why it failed first: the rest of the row gives way to it on a narrow panel.
    let mut info: Vec<String> = Vec::new();
    if let Some(why) = t
        .error
        .as_deref()
        .or(t.message.as_deref().filter(|_| failed(t)))
    {
        info.push(why.to_string());
    }
    if let Some(code) = t.exit_code.filter(|c| *c != 0) {
        info.push(format!("exit {code}"));
    }
    if t.desired_state != t.state {
        info.push(format!("want {}", t.desired_state));
    }
    info.push(t.node.clone().unwrap_or_else(|| "no node".into()));
    if let Some(since) = t.since {
        info.push(age(since, app.now));
    }
    let name = format!(
        "{}└ {}{slot}",
        if followed { "≡ " } else { "  " },
        short_name(&view.stack, &t.service)
    );
    let row = Row::new(vec![
        Cell::from(name),
        Cell::from(format!("{glyph} {}", t.state)).style(style),
        Cell::from(info.join(" · ")),
    ]);
    // A failed or rejected task is red all along, its error included.
    if failed(t) {
        row.style(theme.bad())
    } else {
        row
    }
}

/// What the GPU panel draws for a Swarm deployment: every node, what it advertises and which
/// task holds each of its GPUs (or reserves one, where the assignment cannot be read).
pub fn draw_nodes(frame: &mut Frame, app: &App, fresh: &Fresh<SwarmStackView>, area: Rect) {
    let theme = Theme { color: app.color };
    let extra = vec![Span::styled(" swarm nodes ", theme.dim())];
    let block = panel_block(app, Panel::Gpu, Some(fresh), extra, area.width);
    let Some(view) = fresh.data.as_ref() else {
        frame.render_widget(block, area);
        return;
    };
    let lines: Vec<Line> = view
        .nodes
        .iter()
        .flat_map(|n| node_lines(view, n, theme))
        .collect();
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn node_lines<'a>(view: &SwarmStackView, n: &SwarmNodeView, theme: Theme) -> Vec<Line<'a>> {
    let ok = |good: bool| if good { theme.good() } else { theme.bad() };
    let mut lines = vec![Line::from(vec![
        Span::styled(
            n.hostname.clone(),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(" {}{} ", n.role, if n.leader { "★" } else { "" })),
        Span::styled(n.availability.clone(), ok(n.availability == "active")),
        Span::raw(" "),
        Span::styled(n.state.clone(), ok(n.state == "ready")),
        Span::styled(
            n.engine_version
                .as_deref()
                .map(|v| format!(" engine {v}"))
                .unwrap_or_default(),
            theme.dim(),
        ),
    ])];
    // The stack's tasks on this node that Swarm still wants running.
    let here: Vec<&SwarmTaskView> = view
        .tasks
        .iter()
        .filter(|t| t.node_id.as_deref() == Some(n.id.as_str()) && is_current(t))
        .collect();
    if n.resources.is_empty() {
        lines.push(Line::styled(
            "  no generic resources (no GPUs)",
            theme.dim(),
        ));
    }
    // Tasks here whose GPUs cannot be named (their container is on another node than the
    // manager this console reads): what their services reserve, by kind.
    let unnamed: Vec<(&SwarmTaskView, &[GenericResource])> = here
        .iter()
        .filter(|t| t.assigned.is_empty())
        .filter_map(|t| {
            let s = view.services.iter().find(|s| s.name == t.service)?;
            (!s.reserved.is_empty()).then_some((*t, s.reserved.as_slice()))
        })
        .collect();
    for r in &n.resources {
        match r {
            GenericResource::Named { kind, value } => {
                let holders: Vec<String> = here
                    .iter()
                    .filter(|t| t.assigned.contains(r))
                    .map(|t| task_name(t))
                    .collect();
                let (who, style) = if !holders.is_empty() {
                    (format!("→ {}", holders.join(", ")), theme.accent())
                } else if let Some((names, reserved)) = unnamed_holders(&unnamed, kind) {
                    // Not known to be free: which of them holds which cannot be told.
                    let unheld = n
                        .resources
                        .iter()
                        .filter(
                            |g| matches!(g, GenericResource::Named { kind: k, .. } if k == kind),
                        )
                        .filter(|g| !here.iter().any(|t| t.assigned.contains(g)))
                        .count() as i64;
                    if reserved >= unheld {
                        (format!("→ {names} (reserved)"), theme.accent())
                    } else {
                        (format!("free, or {names}'s"), theme.warn())
                    }
                } else {
                    ("free".to_string(), theme.dim())
                };
                lines.push(Line::from(vec![
                    Span::raw(format!("  {kind} {} ", fit_middle(value, 24))),
                    Span::styled(who, style),
                ]));
            }
            GenericResource::Discrete { kind, count } => {
                lines.push(Line::raw(format!("  {kind}: {count}")))
            }
        }
    }
    for (t, reserved) in &unnamed {
        let reserved: Vec<String> = reserved.iter().map(ToString::to_string).collect();
        lines.push(Line::styled(
            format!("  {} reserves {}", task_name(t), reserved.join(", ")),
            theme.warn(),
        ));
    }
    lines
}

/// The tasks on a node that reserve `kind` without their GPU being named, and how many they
/// reserve together; None when none does. A GPU of that kind no known task holds may be theirs.
fn unnamed_holders(
    unnamed: &[(&SwarmTaskView, &[GenericResource])],
    kind: &str,
) -> Option<(String, i64)> {
    let mut total = 0;
    let mut names = Vec::new();
    for (t, reserved) in unnamed {
        let count: i64 = reserved
            .iter()
            .filter_map(|r| match r {
                GenericResource::Discrete { kind: k, count } if k == kind => Some(*count),
                _ => None,
            })
            .sum();
        if count > 0 {
            total += count;
            names.push(task_name(t));
        }
    }
    (!names.is_empty()).then(|| (names.join(", "), total))
}

/// A fresh read of the stack (or its failure): kept with its freshness, the selection kept in
/// range, and the logs panel on a task of the right service.
pub fn on_stack(
    app: &mut App,
    read: Result<SwarmStackView, String>,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    // The selection stays on its service or task while rows come and go around it.
    let selected = selected_id(app);
    let Some(fresh) = app.swarm.as_mut() else {
        return;
    };
    match read {
        Ok(view) => fresh.set(view, now),
        Err(e) => {
            fresh.fail(e, now);
            return;
        }
    }
    reselect_task(app, fx);
    let Some(view) = app.swarm.as_ref().and_then(|f| f.data.as_ref()) else {
        return;
    };
    let rows = stack_rows(view);
    let sel = selected
        .and_then(|id| rows.iter().position(|r| row_id(view, *r) == id))
        .unwrap_or_else(|| app.selected(Panel::Containers));
    app.selected
        .insert(Panel::Containers, sel.min(rows.len().saturating_sub(1)));
}

/// What a row stands for across reads: the service's or the task's id.
fn row_id(view: &SwarmStackView, row: StackRow) -> &str {
    match row {
        StackRow::Service(i) => &view.services[i].id,
        StackRow::Task(j) => &view.tasks[j].id,
    }
}

fn selected_id(app: &App) -> Option<String> {
    let view = app.swarm.as_ref()?.data.as_ref()?;
    let row = *stack_rows(view).get(app.selected(Panel::Containers))?;
    Some(row_id(view, row).to_string())
}

/// The task whose logs a service's are: its running one (the newest), else its newest.
fn service_task<'a>(view: &'a SwarmStackView, service: &str) -> Option<&'a SwarmTaskView> {
    view.tasks
        .iter()
        .filter(|t| t.service == service)
        .max_by_key(|t| (t.is_running(), t.since))
}

/// Logs follow the service: with nothing followed yet, the first configured service's task;
/// when the followed task stopped and its service runs another (a deploy, a restart after a
/// crash), that one carries on in the same view after a marker line.
fn reselect_task(app: &mut App, fx: &mut Vec<Effect>) {
    let Some(view) = app.swarm.as_ref().and_then(|f| f.data.as_ref()) else {
        return;
    };
    let Some(current) = app.logs.container_id.clone() else {
        let first = app
            .services
            .iter()
            .map(|s| crate::swarm::SwarmSource::service_name(&view.stack, s))
            .find_map(|name| service_task(view, &name))
            .or_else(|| view.tasks.iter().find(|t| t.is_running()))
            .cloned();
        if let Some(t) = first {
            follow_task(app, &t, fx);
        }
        return;
    };
    let followed = view.tasks.iter().find(|t| t.id == current);
    if followed.is_some_and(|t| t.is_running() || is_current(t)) {
        return;
    }
    // It stopped: the stream has nothing more to say, whatever the engine keeps open.
    if let Some(t) = followed
        && !matches!(app.logs.state, StreamState::Ended(_))
    {
        let why = t
            .error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        app.logs.state = StreamState::Ended(format!("task {}{why}", t.state));
    }
    // A stopped task the operator chose is kept; one followed while it ran is followed on.
    let next = service_task(view, &app.logs.service)
        .filter(|t| !app.logs.oneoff && t.id != current && t.is_running())
        .cloned();
    if let Some(t) = next {
        app.logs.mark(&format!(
            "task replaced at {}: now {} ({})",
            app.now.format("%H:%M:%S UTC"),
            task_name(&t),
            t.id.get(..12).unwrap_or(&t.id)
        ));
        app.logs.continue_with(t.id.clone(), task_name(&t));
        fx.push(Effect::FollowLogs {
            container_id: t.id.clone(),
            tail: app.log_tail,
        });
    }
}

fn follow_task(app: &mut App, t: &SwarmTaskView, fx: &mut Vec<Effect>) {
    app.logs.switch_to(t.id.clone(), task_name(t));
    app.logs.service = t.service.clone();
    // A task chosen after it stopped (a failed one, to read why) is not left for its
    // service's running one.
    app.logs.oneoff = !(t.is_running() || is_current(t));
    fx.push(Effect::FollowLogs {
        container_id: t.id.clone(),
        tail: app.log_tail,
    });
}

/// `:logs NAME` on a stack: a service (`app` or `elt_app`: its running task), a task
/// (`elt_app.1`) or a task id's unique prefix. Whether one was found.
pub fn follow_named(app: &mut App, name: &str, fx: &mut Vec<Effect>) -> bool {
    let Some(view) = app.swarm.as_ref().and_then(|f| f.data.as_ref()) else {
        return false;
    };
    let full = crate::swarm::SwarmSource::service_name(&view.stack, name);
    let by_name = |n: &str| {
        view.tasks
            .iter()
            .filter(|t| task_name(t) == n)
            .max_by_key(|t| (t.is_running(), t.since))
    };
    let by_prefix = || {
        let mut hits = view.tasks.iter().filter(|t| t.id.starts_with(name));
        let first = hits.next()?;
        (name.len() >= 4 && hits.next().is_none()).then_some(first)
    };
    let found = service_task(view, &full)
        .or_else(|| service_task(view, name))
        .or_else(|| by_name(name))
        .or_else(by_prefix)
        .cloned();
    match found {
        Some(t) => {
            follow_task(app, &t, fx);
            true
        }
        None => false,
    }
}

/// Enter on a service: follow its running task's logs and show the service; on a task:
/// follow its logs and show it in full (a task whose stream ended is followed again).
pub fn open(app: &mut App, sel: usize, fx: &mut Vec<Effect>) {
    let Some(view) = app.swarm.as_ref().and_then(|f| f.data.clone()) else {
        return;
    };
    let Some(row) = stack_rows(&view).get(sel).copied() else {
        return;
    };
    let (task, details) = match row {
        StackRow::Service(i) => {
            let s = &view.services[i];
            (service_task(&view, &s.name), service_details(s))
        }
        StackRow::Task(j) => (Some(&view.tasks[j]), task_details(&view.tasks[j])),
    };
    if let Some(t) = task {
        let followed = app.logs.container_id.as_deref() == Some(t.id.as_str());
        if !followed || matches!(app.logs.state, StreamState::Ended(_)) {
            follow_task(app, t, fx);
        }
    }
    app.overlay = details;
}

fn service_details(s: &SwarmServiceView) -> Overlay {
    let time = |t: Option<DateTime<Utc>>| t.map_or("-".into(), |t| t.to_rfc3339());
    let mut rows = vec![
        ("id".into(), s.id.clone()),
        ("image".into(), s.image.clone()),
        (
            "replicas".into(),
            s.replicas.map_or_else(
                || format!("global, {} running", s.running),
                |want| format!("{} running of {want}", s.running),
            ),
        ),
        (
            "reserves".into(),
            s.reserved
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ];
    if let Some(u) = &s.update {
        rows.push(("update".into(), u.state.as_str().to_string()));
        rows.push((
            "update message".into(),
            u.message.clone().unwrap_or_default(),
        ));
        rows.push(("update started".into(), time(u.started_at)));
        rows.push(("update completed".into(), time(u.completed_at)));
    }
    Overlay::Details {
        title: format!("service {}", s.name),
        rows,
    }
}

fn task_details(t: &SwarmTaskView) -> Overlay {
    let or_dash = |v: Option<&str>| v.unwrap_or("-").to_string();
    Overlay::Details {
        title: format!("task {}", task_name(t)),
        rows: vec![
            ("id".into(), t.id.clone()),
            ("state".into(), t.state.clone()),
            ("desired state".into(), t.desired_state.clone()),
            ("node".into(), or_dash(t.node.as_deref())),
            ("error".into(), or_dash(t.error.as_deref())),
            ("message".into(), or_dash(t.message.as_deref())),
            (
                "exit code".into(),
                t.exit_code.map_or("-".into(), |c| c.to_string()),
            ),
            (
                "since".into(),
                t.since.map_or("-".into(), |s| s.to_rfc3339()),
            ),
            ("container".into(), or_dash(t.container_id.as_deref())),
            ("image".into(), t.image.clone()),
            (
                "GPUs".into(),
                t.assigned
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ],
    }
}

#[cfg(test)]
mod tests;
