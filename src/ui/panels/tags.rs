//! The tags panel: the registry's tag history with CI results, what runs and what ran.

mod state;
pub use state::{rows, shown_service};

use super::{panel_block, table_state};
use crate::domain::TagView;
use crate::format::age;
use crate::keymap::Action;
use crate::ui::deploying::{previous_for, tag_of_image};
use crate::ui::model::Overlay;
use crate::ui::model::{App, Panel};
use crate::ui::text::*;
use crate::ui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let theme = Theme { color: app.color };
    let extra = app
        .tags
        .data
        .as_ref()
        .map(|repos| {
            // With a service selected, its own repository's count.
            let total: usize = repos
                .iter()
                .filter(|r| app.tag_service().is_none_or(|s| s == r.service))
                .map(|r| r.total)
                .sum();
            // One repository's failure (first: it matters most) or a partial listing is said
            // here, beside the others' tags.
            let errors = repos.iter().filter_map(|r| {
                let e = r.error.as_ref()?;
                Some(Span::styled(format!("✖ {}: {e} ", r.service), theme.bad()))
            });
            let notes = repos
                .iter()
                .filter_map(|r| Some(Span::styled(format!("{} ", r.note.as_ref()?), theme.warn())));
            // Several services: whose tags these are, and the key that switches.
            let switcher = app.tag_service().map(|s| {
                Span::styled(
                    format!(
                        "{s} ({} next service) ",
                        app.keymap.label(Action::NextService)
                    ),
                    theme.accent(),
                )
            });
            // Failures and partial listings first (they matter most), then whose tags these are.
            errors
                .chain([Span::styled(format!("{total} in registry "), theme.dim())])
                .chain(notes)
                .chain(switcher)
                .collect()
        })
        .unwrap_or_default();
    let block = panel_block(app, Panel::Tags, Some(&app.tags), extra, area.width);
    // Columns that fit the panel exactly, so the tag gets what is really left (an
    // over-constrained table is solved differently). Narrow panels (80 columns) drop the size
    // so tags stay readable; the last-deployed column only where it fits.
    let inner = area.width.saturating_sub(2);
    let narrow = inner < 56;
    let wide = area.width >= 60;
    let marks = TagMarks::new(app);
    let mut columns: Vec<(&str, u16)> = vec![(" ", 2), ("TAG", 0), ("SHA", 7)];
    if narrow {
        columns.extend([("AGE", 5), ("CI", 7)]);
    } else {
        columns.extend([("AGE", 6), ("SIZE", 6), ("CI", 8)]);
    }
    if wide {
        columns.push(("DEPLOYED", 8));
    }
    let mut widths: Vec<Constraint> = columns
        .iter()
        .map(|(_, w)| Constraint::Length(*w))
        .collect();
    let tag_w = fill_width(inner, &widths);
    widths[1] = Constraint::Length(tag_w as u16);
    let header: Vec<&str> = columns.iter().map(|(h, _)| *h).collect();
    let tag_rows = app.tag_rows();
    let names: Vec<&str> = tag_rows.iter().map(|(_, t)| t.tag.as_str()).collect();
    let names = distinct_fits(&names, tag_w);
    let rows: Vec<Row> = tag_rows
        .iter()
        .zip(names)
        .enumerate()
        .map(|(i, ((_, t), name))| {
            let ci_style = match t.ci.as_deref() {
                Some("success") => theme.good(),
                Some("failure") => theme.bad(),
                Some(_) => theme.warn(),
                None => theme.dim(),
            };
            let mut cells = vec![
                marks.cell(app, i, t),
                Cell::from(name),
                Cell::from(
                    t.revision
                        .as_ref()
                        .map_or("-".into(), |r| r.short().to_string()),
                ),
                Cell::from(t.created.map_or("-".into(), |c| age(c, app.now))),
            ];
            if !narrow {
                cells.push(Cell::from(t.size_bytes.map_or("-".into(), bytes)));
            }
            cells.push(Cell::from(t.ci.clone().unwrap_or_else(|| "-".into())).style(ci_style));
            if wide {
                cells.push(Cell::from(
                    t.last_deployed.map_or("—".into(), |d| age(d, app.now)),
                ));
            }
            Row::new(cells)
        })
        .collect();
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.dim()))
        .row_highlight_style(theme.selected())
        .block(block);
    frame.render_stateful_widget(table, area, &mut table_state(app, Panel::Tags));
}

/// `S`: the tags panel shows the next service's tags; `d`/`R` then move that service only.
pub fn next_service(app: &mut App) {
    let count = app.tags.data.as_ref().map_or(0, Vec::len);
    if count < 2 {
        app.say("one service's tags: nothing to switch to");
        return;
    }
    app.tags_service = (app.tags_service % count + 1) % count;
    app.selected.insert(Panel::Tags, 0);
    app.focus = Panel::Tags;
    let service = app.tag_service().unwrap_or("?").to_string();
    app.say(format!(
        "tags of {service}: d and R move {service} only, the other services keep running"
    ));
}

/// The footer's keys while the tags panel is focused (and deploys are allowed).
pub fn footer_keys(app: &App) -> Vec<Action> {
    let mut keys = vec![Action::Deploy];
    if app.tag_service().is_some() {
        keys.push(Action::NextService);
    }
    keys
}

/// The tags panel's first column: the cursor (`›`), what runs now (`▶`) and what "previous"
/// would pick (`↶`, the same rule as `R` elsewhere and `rollback --previous`).
pub struct TagMarks {
    previous_tag: Option<String>,
    previous_digest: Option<String>,
}

impl TagMarks {
    pub fn new(app: &App) -> Self {
        let prev = app
            .deploys
            .data
            .as_ref()
            .and_then(|s| previous_for(app, s))
            .map(|p| p.side.clone());
        Self {
            previous_tag: prev.as_ref().and_then(|p| {
                p.tag_str()
                    .map(str::to_string)
                    .or_else(|| p.image.as_deref().map(tag_of_image))
            }),
            previous_digest: prev.and_then(|p| p.digest.map(String::from)),
        }
    }

    fn is_previous(&self, t: &TagView) -> bool {
        self.previous_tag.as_deref() == Some(t.tag.as_str())
            || (self.previous_digest.is_some()
                && self.previous_digest == t.digest.as_ref().map(|d| d.to_string()))
    }

    pub fn cell(&self, app: &App, row: usize, t: &TagView) -> Cell<'static> {
        let theme = Theme::new(app.color);
        let cursor = if app.selected(Panel::Tags) == row {
            "›"
        } else {
            " "
        };
        let (mark, style) = if t.running {
            ("▶", theme.good())
        } else if self.is_previous(t) {
            ("↶", theme.warn())
        } else {
            (" ", theme.dim())
        };
        Cell::from(Line::from(vec![
            Span::styled(cursor, theme.accent()),
            Span::styled(mark, style),
        ]))
    }
}

/// Enter on a tag: its details.
pub fn open(app: &mut App, sel: usize) {
    let Some((service, t)) = app
        .tag_rows()
        .get(sel)
        .map(|(s, t)| (s.to_string(), (*t).clone()))
    else {
        return;
    };
    app.overlay = Overlay::Details {
        title: format!("tag {}", t.tag),
        rows: vec![
            ("service".into(), service),
            (
                "digest".into(),
                t.digest.as_ref().map_or("-".into(), |d| d.to_string()),
            ),
            (
                "commit".into(),
                t.revision.as_ref().map_or("-".into(), |r| r.to_string()),
            ),
            (
                "created".into(),
                t.created.map_or("-".into(), |c| c.to_rfc3339()),
            ),
            (
                "size".into(),
                t.size_bytes.map_or("-".into(), |s| format!("{s} bytes")),
            ),
            ("CI".into(), t.ci.clone().unwrap_or_else(|| "-".into())),
            (
                "running".into(),
                if t.running { "yes" } else { "no" }.into(),
            ),
            (
                "other tags".into(),
                t.aliases
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            (
                "last deployed".into(),
                t.last_deployed.map_or("—".into(), |d| d.to_rfc3339()),
            ),
            ("error".into(), t.error.clone().unwrap_or_default()),
        ],
    };
}
