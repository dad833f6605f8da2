//! The dashboard's panels, one component each: its keys, what Enter opens, and its drawing,
//! over its part of `App`. Here: the frame every panel shares (title, freshness, focus).

pub mod containers;
pub mod deploys;
pub mod gh_deployments;
pub mod gpu;
pub mod health;
pub mod hosts;
pub mod logs;
pub mod runs;
pub mod swarm;
pub mod tags;

use super::model::{App, Fresh, Panel};
use super::text::{ago, cause_first, spans_len};
use super::theme::Theme;
use crate::domain::{ContainerState, HealthState};
use crate::format::age;
use chrono::{DateTime, Utc};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, TableState};

/// "4s ago", "loading…", or "✖ cause · what failed (2m)" within `room` characters (the
/// failure's age gives way first, then the error text is cut at a word); the second part is
/// "as of 5m ago" for the bottom border when an error leaves older data on screen.
pub(crate) fn freshness<T>(
    f: &Fresh<T>,
    now: DateTime<Utc>,
    theme: Theme,
    room: usize,
) -> (Vec<Span<'static>>, Option<Span<'static>>) {
    match (&f.error, f.loaded_at) {
        (Some((e, since)), loaded) => {
            let stale =
                loaded.map(|t| Span::styled(format!(" as of {} ago ", age(t, now)), theme.warn()));
            let cause = cause_first(e, usize::MAX);
            let mut failing = format!(" ({}) ", age(*since, now));
            if 3 + cause.chars().count() + failing.chars().count() > room {
                // Short of room: no age, and the border follows the `…` directly.
                failing.clear();
            }
            let text = cause_first(e, room.saturating_sub(3 + failing.chars().count()).max(10));
            let line = format!(" ✖ {text}{failing}");
            (vec![Span::styled(line, theme.bad())], stale)
        }
        (None, Some(t)) => (
            vec![Span::styled(format!(" {} ", ago(t, now)), theme.dim())],
            None,
        ),
        (None, None) => (
            vec![Span::styled(" loading… ".to_string(), theme.dim())],
            None,
        ),
    }
}

pub(crate) fn panel_block<'a, T>(
    app: &App,
    panel: Panel,
    fresh: Option<&Fresh<T>>,
    extra: Vec<Span<'a>>,
    width: u16,
) -> Block<'a> {
    let theme = Theme { color: app.color };
    let number = Panel::ORDER
        .iter()
        .position(|p| *p == panel)
        .map_or(0, |i| i + 1);
    let mut title = vec![Span::styled(
        format!(" {number} {} ", panel.title()),
        Style::default().add_modifier(Modifier::BOLD),
    )];
    let mut extra = extra;
    let mut bottom = None;
    if let Some(f) = fresh {
        // Two corners of the border stay visible.
        let room = (width as usize).saturating_sub(2 + spans_len(&title));
        // An error's cause matters more than the panel's extras: they give way first.
        let natural = spans_len(&freshness(f, app.now, theme, usize::MAX).0);
        if f.error.is_some() && natural + spans_len(&extra) > room {
            extra.clear();
        }
        let (mut spans, stale) =
            freshness(f, app.now, theme, room.saturating_sub(spans_len(&extra)));
        if panel == Panel::Containers
            && app.swarm.is_none()
            && f.error.is_none()
            && f.loaded_at.is_some()
        {
            // The engine's events keep this list current; its age says nothing (a stack is
            // read on a beat instead, and says how long ago).
            spans = vec![Span::styled(" live ", theme.dim())];
        }
        title.extend(spans);
        bottom = stale;
    }
    title.extend(extra);
    let mut block = Block::default()
        .borders(Borders::ALL)
        .title(Line::from(title));
    if let Some(stale) = bottom {
        block = block.title_bottom(Line::from(stale));
    }
    if app.focus == panel {
        block.border_style(theme.focus_border())
    } else {
        block
    }
}

pub(crate) fn state_cell(
    state: ContainerState,
    health: HealthState,
    exit: Option<i64>,
    theme: Theme,
    stale: bool,
) -> Cell<'static> {
    let (glyph, text, style) = match (state, health) {
        (ContainerState::Running, HealthState::Unhealthy) => {
            ("✖", "unhealthy".to_string(), theme.bad())
        }
        (ContainerState::Running, HealthState::Starting) => {
            ("◐", "starting".to_string(), theme.warn())
        }
        (ContainerState::Running, HealthState::Healthy) => {
            ("●", "healthy".to_string(), theme.good())
        }
        (ContainerState::Running, HealthState::None) => ("●", "running".to_string(), theme.good()),
        (ContainerState::Restarting, _) => ("↻", "restarting".to_string(), theme.bad()),
        (ContainerState::Paused, _) => ("‖", "paused".to_string(), theme.warn()),
        (ContainerState::Exited, _) => (
            "✖",
            format!("exited({})", exit.map_or("?".into(), |c| c.to_string())),
            if exit == Some(0) {
                theme.dim()
            } else {
                theme.bad()
            },
        ),
        (ContainerState::Dead, _) => ("✖", "dead".to_string(), theme.bad()),
        (ContainerState::Created, _) => ("○", "created".to_string(), theme.dim()),
        (ContainerState::Removing, _) => ("○", "removing".to_string(), theme.dim()),
        (ContainerState::Unknown, _) => ("?", "unknown".to_string(), theme.warn()),
    };
    if stale {
        // Last known, not now: no verdict glyph or colour until the engine answers again.
        return Cell::from(format!("? {text}")).style(theme.dim());
    }
    Cell::from(format!("{glyph} {text}")).style(style)
}

pub(crate) fn table_state(app: &App, panel: Panel) -> TableState {
    let mut s = TableState::default();
    if app.focus == panel {
        s.select(Some(app.selected(panel)));
    }
    s
}
