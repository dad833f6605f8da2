//! The help overlay (from the keymap), a selection's details, and the one-line input.

use crate::ui::model::App;
use crate::ui::text::centered;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};

pub(crate) fn draw_help(frame: &mut Frame, app: &App, area: Rect, scroll: u16) {
    let rows: Vec<Row> = app
        .keymap
        .help_rows()
        .into_iter()
        .zip(crate::keymap::Action::ALL)
        // The dialogs show their own keys.
        .filter(|(_, a)| !a.scope().is_dialog())
        // The hosts' keys only where there are hosts.
        .filter(|(_, a)| app.hosts.is_some() || !a.is_hosts())
        .map(|(row, _)| row)
        .map(|(keys, name, what)| {
            Row::new(vec![Cell::from(keys), Cell::from(name), Cell::from(what)])
        })
        .collect();
    let popup = centered(area, 86, rows.len() as u16 + 4);
    let visible: Vec<Row> = rows.into_iter().skip(scroll as usize).collect();
    frame.render_widget(Clear, popup);
    let table = Table::new(
        visible,
        [
            Constraint::Length(16),
            Constraint::Length(17),
            Constraint::Min(20),
        ],
    )
    .header(
        Row::new(["KEYS", "ACTION", "WHAT IT DOES"])
            .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .block(
        Block::default()
            .borders(Borders::ALL)
            .title(" Keys (from the keymap; ? or esc closes, j/k scroll) "),
    );
    frame.render_widget(table, popup);
}

pub(crate) fn draw_details(frame: &mut Frame, area: Rect, title: &str, rows: &[(String, String)]) {
    // Tall enough for the rows as they wrap (a whole error can be long).
    let inner = centered(area, 100, 3).width.saturating_sub(2).max(1) as usize;
    let height: usize = rows
        .iter()
        .map(|(_, v)| match v.chars().count() {
            // Words wrap whole: a value too long for its line starts on the next one.
            n if 16 + n <= inner => 1,
            n => 1 + n.div_ceil(inner),
        })
        .sum();
    let popup = centered(area, 100, height as u16 + 2);
    frame.render_widget(Clear, popup);
    let lines: Vec<Line> = rows
        .iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(
                    format!("{k:>14}  "),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Span::raw(v.clone()),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" {title} (esc closes) ")),
        ),
        popup,
    );
}

/// `input` carries its cursor (`TextField::with_cursor`).
pub(crate) fn draw_input(frame: &mut Frame, area: Rect, prompt: &str, input: &str) {
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(format!("{prompt}{input}")), area);
}
