//! The health panel: each HTTP endpoint's verdict, latency and error.

use super::{panel_block, table_state};
use crate::format::age;
use crate::ui::model::Overlay;
use crate::ui::model::{App, Panel};
use crate::ui::theme::Theme;
use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Cell, Row, Table};

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let theme = Theme { color: app.color };
    let block = panel_block(app, Panel::Health, Some(&app.health), vec![], area.width);
    let list = app.health.data.as_deref().unwrap_or_default();
    let rows: Vec<Row> = list
        .iter()
        .map(|h| {
            let since = app
                .health_since
                .get(&h.name)
                .map(|(_, t)| format!("for {}", age(*t, app.now)))
                .unwrap_or_default();
            let (state, style) = if h.ok {
                ("● ok", theme.good())
            } else {
                ("✖ FAIL", theme.bad())
            };
            let detail = match (&h.error, &h.version) {
                (Some(e), _) => e.clone(),
                (None, Some(v)) => format!("version {v}"),
                _ => String::new(),
            };
            Row::new(vec![
                Cell::from(h.name.clone()),
                Cell::from(state).style(style),
                Cell::from(h.status.map_or("-".into(), |s| s.to_string())),
                Cell::from(format!("{}ms", h.latency_ms)),
                Cell::from(since),
                Cell::from(detail),
            ])
        })
        .collect();
    // Columns that fit the panel exactly: an over-constrained layout is solved differently
    // from run to run, so narrow panels get narrower fixed columns rather than a conflict.
    let inner = area.width.saturating_sub(2);
    let widths: [u16; 5] = if inner >= 49 {
        [8, 7, 4, 7, 8]
    } else {
        [4, 4, 3, 5, 6]
    };
    let fixed: u16 = widths.iter().sum::<u16>() + widths.len() as u16;
    let mut constraints: Vec<Constraint> = widths.iter().map(|w| Constraint::Length(*w)).collect();
    constraints.push(Constraint::Length(inner.saturating_sub(fixed)));
    let table = Table::new(rows, constraints)
        .row_highlight_style(theme.selected())
        .block(block);
    frame.render_stateful_widget(table, area, &mut table_state(app, Panel::Health));
}

/// Enter on an endpoint: its details.
pub fn open(app: &mut App, sel: usize) {
    let Some(h) = app.health.data.as_ref().and_then(|l| l.get(sel)).cloned() else {
        return;
    };
    app.overlay = Overlay::Details {
        title: format!("endpoint {}", h.name),
        rows: vec![
            ("url".into(), h.url.clone()),
            ("ok".into(), h.ok.to_string()),
            (
                "HTTP".into(),
                h.status.map_or("-".into(), |s| s.to_string()),
            ),
            ("latency".into(), format!("{} ms", h.latency_ms)),
            ("status".into(), h.app_status.clone().unwrap_or_default()),
            ("version".into(), h.version.clone().unwrap_or_default()),
            ("error".into(), h.error.clone().unwrap_or_default()),
        ],
    };
}

/// A round of endpoint results: each endpoint's verdict keeps the time it last changed.
pub fn on_results(app: &mut App, results: Vec<crate::domain::HealthResult>, now: DateTime<Utc>) {
    for r in &results {
        let entry = app
            .health_since
            .entry(r.name.clone())
            .or_insert((r.ok, now));
        if entry.0 != r.ok {
            *entry = (r.ok, now);
        }
    }
    app.health.set(results, now);
}
