//! The runs panel: the build workflow's recent runs; Enter opens a run's jobs.

mod state;
pub use state::RunsData;

use super::{panel_block, table_state};
use crate::domain::RunView;
use crate::format::age;
use crate::ui::model::{App, Panel};
use crate::ui::text::*;
use crate::ui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Cell, Row, Table};

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    // The environment's GitHub Deployments take the lower part when there is room.
    let area = super::gh_deployments::draw_beside_runs(frame, app, area);
    let theme = Theme { color: app.color };
    let block = panel_block(app, Panel::Runs, Some(&app.runs), vec![], area.width);
    let runs = app
        .runs
        .data
        .as_ref()
        .map(|d| d.runs.as_slice())
        .unwrap_or_default();
    let rows: Vec<Row> = runs
        .iter()
        .map(|r| {
            let (glyph, style) = theme.run_result(&r.status, r.conclusion.as_deref());
            let result = r.conclusion.clone().unwrap_or_else(|| r.status.clone());
            Row::new(vec![
                Cell::from(format!("#{}", r.number)),
                Cell::from(format!("{glyph} {result}")).style(style),
                Cell::from(shorten(r.branch.as_deref().unwrap_or(""), 10)),
                Cell::from(r.short_sha().to_string()),
                Cell::from(format!("{}s", r.duration_secs())),
                Cell::from(age(r.created_at, app.now)),
                Cell::from(r.title.clone().unwrap_or_default()),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(5),
            Constraint::Length(11),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Min(8),
        ],
    )
    .header(Row::new(["RUN", "RESULT", "BRANCH", "SHA", "TOOK", "AGE", "TITLE"]).style(theme.dim()))
    .row_highlight_style(theme.selected())
    .block(block);
    frame.render_stateful_widget(table, area, &mut table_state(app, Panel::Runs));
}

pub fn selected_run(app: &App) -> Option<RunView> {
    app.runs
        .data
        .as_ref()
        .and_then(|d| d.runs.get(app.selected(Panel::Runs)))
        .cloned()
}

/// "rate limited until HH:MM" while GitHub holds us back.
pub fn rate_limited_label(app: &App) -> Option<String> {
    app.github.blocked_until.filter(|t| *t > app.now).map(|t| {
        format!(
            "GitHub rate limited until {}",
            crate::format::clock(t, app.now)
        )
    })
}
