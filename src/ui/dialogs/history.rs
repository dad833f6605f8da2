//! The deploy history overlay.

use crate::deploy::fmt_ms;
use crate::format::age;
use crate::ui::model::App;
use crate::ui::panels::deploys::{short_tag, side_label, status_style, who};
use crate::ui::text::centered;
use crate::ui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders, Cell, Clear, Row, Table};

pub fn draw_history(frame: &mut Frame, app: &App, area: Rect, scroll: u16) {
    let theme = Theme::new(app.color);
    let list = app
        .deploys
        .data
        .as_ref()
        .map(|s| s.recent.as_slice())
        .unwrap_or_default();
    let popup = centered(area, area.width.saturating_sub(4), list.len() as u16 + 4);
    frame.render_widget(Clear, popup);
    let side = side_label;
    let rows: Vec<Row> = list
        .iter()
        .skip(scroll as usize)
        .map(|d| {
            Row::new(vec![
                Cell::from(d.id.to_string()),
                Cell::from(age(d.started_at, app.now)),
                Cell::from(d.kind.as_str()),
                Cell::from(d.strategy_label()),
                Cell::from(who(d)),
                Cell::from(format!(
                    "{} -> {}",
                    short_tag(&side(&d.from)),
                    short_tag(&side(&d.to))
                )),
                Cell::from(d.status.as_str()).style(status_style(theme, d.status)),
                Cell::from(d.downtime_ms.map(fmt_ms).unwrap_or_else(|| "-".into())),
                Cell::from(d.duration_ms().map(fmt_ms).unwrap_or_else(|| "-".into())),
                Cell::from(d.error.clone().unwrap_or_default()),
            ])
        })
        .collect();
    let empty = rows.is_empty();
    let table = Table::new(
        rows,
        [
            Constraint::Length(4),
            Constraint::Length(6),
            Constraint::Length(13),
            Constraint::Length(11),
            Constraint::Length(14),
            Constraint::Length(43),
            Constraint::Length(11),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new([
            "#",
            "AGE",
            "KIND",
            "HOW",
            "BY",
            "FROM -> TO",
            "RESULT",
            "DOWN",
            "TOOK",
            "WHY",
        ])
        .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .block(Block::default().borders(Borders::ALL).title(if empty {
        " Deploy history: none recorded yet (esc closes) "
    } else {
        " Deploy history, newest first (j/k scroll, esc closes) "
    }));
    frame.render_widget(table, popup);
}
