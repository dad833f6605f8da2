//! The environment's recent GitHub Deployments, drawn under the runs panel, so an operator sees
//! what CI and other operators deployed beside the local history. Data comes from the GitHub
//! collector (`GithubMsg::Deployments`, at most `collect::github::DEPLOYMENTS_SHOWN`) into
//! `App::gh_deployments`; drawing is pure.

mod state;
pub use state::{DeploymentsList, update};

use crate::format::age;
use crate::ui::model::App;
use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Table};

fn style(color: bool, c: Color) -> Style {
    if color {
        Style::default().fg(c)
    } else {
        Style::default()
    }
}

/// The state's glyph and style: meaning carried by the glyph too (NO_COLOR).
fn mark(state: Option<&str>, color: bool) -> (&'static str, Style) {
    match state {
        Some("success") => ("✔", style(color, Color::Green)),
        Some("failure" | "error") => ("✖", style(color, Color::Red).add_modifier(Modifier::BOLD)),
        Some("in_progress" | "queued" | "pending") => ("◐", style(color, Color::Yellow)),
        Some("inactive") => ("○", Style::default().add_modifier(Modifier::DIM)),
        _ => ("?", Style::default()),
    }
}

/// Draw the list into `area` (its own bordered block).
pub fn draw(
    frame: &mut Frame,
    area: Rect,
    list: &DeploymentsList,
    now: DateTime<Utc>,
    color: bool,
) {
    let dim = Style::default().add_modifier(Modifier::DIM);
    let mut title = vec![Span::raw(format!(
        " GitHub deployments: {} ",
        list.environment
    ))];
    match (&list.error, list.loaded_at) {
        (Some(e), _) => title.push(Span::styled(format!("✖ {e} "), style(color, Color::Red))),
        (None, Some(at)) => title.push(Span::styled(format!("{} ago ", age(at, now)), dim)),
        (None, None) => title.push(Span::styled("loading… ", dim)),
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(dim)
        .title(Line::from(title));
    let rows: Vec<Row> = list
        .items
        .iter()
        .map(|d| {
            let (glyph, s) = mark(d.state.as_deref(), color);
            Row::new(vec![
                Cell::from(format!("{glyph} {}", d.state.as_deref().unwrap_or("none"))).style(s),
                Cell::from(d.sha.chars().take(7).collect::<String>()),
                Cell::from(age(d.state_at.unwrap_or(d.created_at), now)),
                Cell::from(d.creator.clone().unwrap_or_default()),
                Cell::from(d.description.clone().unwrap_or_default()),
            ])
        })
        .collect();
    let empty = rows.is_empty();
    let table = Table::new(
        rows,
        [
            Constraint::Length(13),
            Constraint::Length(7),
            Constraint::Length(6),
            Constraint::Length(12),
            Constraint::Min(8),
        ],
    )
    .header(Row::new(["STATE", "SHA", "AGE", "BY", "DESCRIPTION"]).style(dim))
    .block(block);
    frame.render_widget(table, area);
    if empty && list.error.is_none() && list.loaded_at.is_some() && area.height > 3 {
        frame.render_widget(
            Line::styled("  none in this environment yet", dim),
            Rect::new(area.x + 1, area.y + 2, area.width.saturating_sub(2), 1),
        );
    }
}

/// When the runs panel has room, draw the deployments in its lower part and return what is
/// left for the runs; else return `area` untouched.
pub fn draw_beside_runs(frame: &mut Frame, app: &App, area: Rect) -> Rect {
    let Some(list) = &app.gh_deployments else {
        return area;
    };
    let wanted = (list.items.len().max(1) as u16) + 3;
    if area.height < wanted + 6 {
        return area;
    }
    let [runs, deployments] =
        Layout::vertical([Constraint::Min(6), Constraint::Length(wanted)]).areas(area);
    draw(frame, deployments, list, app.now, app.color);
    runs
}
