//! The hosts overview (several hosts): one row per host, so an operator sees at a glance which
//! host runs what and which is down (and since when, and why).

use crate::domain::{GpuStatus, Overall};
use crate::format::age;
mod state;
pub use state::{HostEntry, HostsView};

use crate::ui::model::App;
use crate::ui::theme::Theme;
use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};

/// The header's host part: which host the dashboard shows (and, on the overview, that it is
/// the overview).
pub fn header_label(view: &HostsView) -> String {
    if view.overview {
        format!(
            " hosts overview · {} host(s), {} down · dashboard: host {} ",
            view.hosts.len(),
            view.down(),
            view.shown_name()
        )
    } else {
        format!(" host {} ", view.shown_name())
    }
}

fn engine_cell(h: &HostEntry, now: DateTime<Utc>, theme: Theme) -> Cell<'static> {
    let down_since = h.is_down().then(|| h.down_since());
    match (down_since, &h.last) {
        (Some(Some(t)), _) => Cell::from(format!(
            "✖ DOWN since {} ({})",
            t.format("%H:%M:%S"),
            age(t, now)
        ))
        .style(theme.bad()),
        (Some(None), _) => Cell::from("✖ DOWN").style(theme.bad()),
        (None, Some(_)) => Cell::from("● up").style(theme.good()),
        (None, None) => Cell::from("… probing").style(theme.dim()),
    }
}

fn app_cell(h: &HostEntry, theme: Theme) -> Cell<'static> {
    match h.last.as_ref().map(|s| s.overall) {
        _ if h.probe_error.is_some() => Cell::from("? unknown").style(theme.dim()),
        Some(Overall::Healthy) => Cell::from("● healthy").style(theme.good()),
        Some(Overall::AppDown) => Cell::from("✖ APP DOWN").style(theme.bad()),
        Some(Overall::Degraded) => Cell::from("▲ degraded").style(theme.warn()),
        Some(Overall::Unknown) => Cell::from("? unknown").style(theme.dim()),
        None => Cell::from("-").style(theme.dim()),
    }
}

/// Why a host is down, or the first reason its app is not healthy.
fn why(h: &HostEntry) -> String {
    if let Some((e, _)) = &h.probe_error {
        return e.clone();
    }
    let Some(s) = &h.last else {
        return String::new();
    };
    if let Some(e) = &s.error {
        return e.clone();
    }
    if let Some(e) = s.report.as_ref().and_then(|r| r.containers.error()) {
        return e.to_string();
    }
    s.report
        .as_ref()
        .and_then(|r| r.reasons.first().cloned())
        .unwrap_or_default()
}

fn gpu_text(h: &HostEntry) -> String {
    let report = h.last.as_ref().and_then(|s| s.report.as_ref());
    match report.and_then(|r| r.gpu.data()) {
        Some(GpuStatus::Available { devices, .. }) => devices
            .iter()
            .map(|d| {
                let util = d.utilization_pct.map_or("?".into(), |u| u.to_string());
                match (d.memory_used_bytes, d.memory_total_bytes) {
                    (Some(u), Some(t)) if t > 0 => format!("{util}% {}%mem", u * 100 / t),
                    _ => format!("{util}%"),
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
        Some(GpuStatus::Unavailable { .. }) => "n/a".into(),
        _ => "-".into(),
    }
}

fn health_cell(h: &HostEntry, theme: Theme) -> Cell<'static> {
    let report = h.last.as_ref().and_then(|s| s.report.as_ref());
    match report.and_then(|r| r.health.data()) {
        Some(list) if list.is_empty() => Cell::from("-"),
        Some(list) => {
            let ok = list.iter().filter(|x| x.ok).count();
            let style = if ok == list.len() {
                theme.good()
            } else {
                theme.bad()
            };
            Cell::from(format!("{ok}/{} ok", list.len())).style(style)
        }
        None => Cell::from("-"),
    }
}

fn row(h: &HostEntry, shown: bool, now: DateTime<Utc>, theme: Theme) -> Row<'static> {
    let first = h
        .last
        .as_ref()
        .and_then(|s| s.report.as_ref())
        .and_then(|r| r.services.first());
    let tag = first
        .and_then(|s| s.tag.as_ref().map(ToString::to_string))
        .unwrap_or_else(|| "-".into());
    let commit: String = first
        .and_then(|s| s.revision.as_deref())
        .map(|s| s.chars().take(7).collect())
        .unwrap_or_else(|| "-".into());
    let labels: Vec<String> = h.labels.values().cloned().collect();
    let checked = h
        .checked_at
        .map_or("-".into(), |t| format!("{} ago", age(t, now)));
    Row::new(vec![
        Cell::from(if shown { "▶" } else { " " }),
        Cell::from(h.name.clone()).style(Style::default().add_modifier(Modifier::BOLD)),
        Cell::from(labels.join(",")),
        engine_cell(h, now, theme),
        app_cell(h, theme),
        Cell::from(tag),
        Cell::from(commit),
        Cell::from(gpu_text(h)),
        health_cell(h, theme),
        Cell::from(checked).style(theme.dim()),
        // The cause first: the column is cut at the screen's edge.
        Cell::from(crate::ui::text::cause_first(&why(h), usize::MAX)),
    ])
}

/// The overview over the whole body of the dashboard.
pub fn draw(frame: &mut Frame, app: &App, view: &HostsView, area: Rect) {
    let theme = Theme { color: app.color };
    let down = view.down();
    let title = Line::from(vec![
        Span::raw(" Hosts "),
        Span::styled(format!(" {} up ", view.hosts.len() - down), theme.good()),
        Span::styled(
            format!(" {down} DOWN "),
            if down > 0 { theme.bad() } else { theme.dim() },
        ),
    ]);
    let hint = format!(
        " {} shows the selected host · {} next host · :host NAME · {} back to host {} ",
        app.keymap.label(crate::keymap::Action::Open),
        app.keymap.label(crate::keymap::Action::NextHost),
        app.keymap.label(crate::keymap::Action::Hosts),
        view.shown_name()
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.focus_border())
        .title(title)
        .title_bottom(Line::from(Span::styled(hint, theme.dim())));
    let header = Row::new([
        "", "HOST", "LABELS", "ENGINE", "APP", "TAG", "COMMIT", "GPU", "HEALTH", "CHECKED", "WHY",
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    let rows: Vec<Row> = view
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| row(h, i == view.shown, app.now, theme))
        .collect();
    let widths = [
        Constraint::Length(1),
        Constraint::Length(12),
        Constraint::Length(8),
        Constraint::Length(30),
        Constraint::Length(10),
        Constraint::Length(14),
        Constraint::Length(7),
        Constraint::Length(12),
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Min(10),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .row_highlight_style(theme.selected())
        .block(block);
    let mut state = TableState::default().with_selected(Some(view.selected));
    frame.render_stateful_widget(table, area, &mut state);
}

/// On a host's dashboard: "· 2 other hosts DOWN (o: overview)" when hosts other than the
/// shown one do not answer; `key` is the overview's key.
pub fn others_down(view: &HostsView, key: &str) -> Option<String> {
    if view.overview {
        return None;
    }
    let down = view
        .hosts
        .iter()
        .enumerate()
        .filter(|(i, h)| *i != view.shown && h.is_down())
        .count();
    match down {
        0 => None,
        1 => Some(format!("· 1 other host DOWN ({key}: overview) ")),
        n => Some(format!("· {n} other hosts DOWN ({key}: overview) ")),
    }
}

/// Whether the engine of the shown host is known to be down (the header says so).
pub fn shown_is_down(view: &HostsView) -> bool {
    view.hosts.get(view.shown).is_some_and(HostEntry::is_down)
}
