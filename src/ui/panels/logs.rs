//! The logs panel: the followed container's lines (follow, pause, search, filter, wrap);
//! which container it follows when the selection or the project changes.

mod state;
pub use state::{LogLine, LogView, StreamState};

use super::panel_block;
use crate::domain::{ContainerState, ContainerView};
use crate::keymap::Action;
use crate::ui::model::Overlay;
use crate::ui::model::{App, Effect, Panel};
use crate::ui::text::*;
use crate::ui::text_field::TextField;
use crate::ui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Paragraph, Wrap};

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let theme = Theme { color: app.color };
    let logs = &app.logs;
    let mut extra = vec![Span::raw(format!(
        " {} ",
        if logs.container_name.is_empty() {
            "-"
        } else {
            &logs.container_name
        }
    ))];
    let state = match &logs.state {
        StreamState::Idle => Span::styled("no container ", theme.dim()),
        StreamState::Connecting => Span::styled("connecting… ", theme.dim()),
        StreamState::Following if logs.paused => Span::styled(
            format!("PAUSED (+{} new) ", logs.unseen()),
            theme.warn().add_modifier(Modifier::BOLD),
        ),
        StreamState::Following if logs.anchor.is_some() => Span::styled(
            format!("scrolled (+{} below) ", logs.unseen()),
            theme.warn(),
        ),
        StreamState::Following => Span::styled("following ", theme.good()),
        StreamState::Ended(reason) => {
            // What is left of the title after the name and the line count.
            let room = (area.width as usize)
                .saturating_sub(34 + logs.container_name.chars().count())
                .max(16);
            Span::styled(
                format!("ended: {} ", cause_first(reason, room)),
                theme.bad(),
            )
        }
    };
    extra.push(state);
    extra.push(Span::styled(
        crate::format::count(logs.len(), "line", "lines"),
        theme.dim(),
    ));
    if logs.dropped > 0 {
        extra.push(Span::styled(
            format!(", {} older dropped", logs.dropped),
            theme.dim(),
        ));
    }
    extra.push(Span::raw(" "));
    if let Some(p) = &logs.search {
        extra.push(Span::styled(
            format!(
                "/{p} ({}) ",
                crate::format::count(logs.match_count(), "match", "matches")
            ),
            theme.accent(),
        ));
        if logs.filter {
            extra.push(Span::styled(
                "FILTER ",
                theme.accent().add_modifier(Modifier::BOLD),
            ));
        }
    }
    if logs.wrap {
        extra.push(Span::styled("wrap ", theme.dim()));
    }
    let block = panel_block::<()>(app, Panel::Logs, None, extra, area.width);
    let inner = block.inner(area);
    let window = logs.window(inner.height as usize);
    let lines: Vec<Line> = window
        .iter()
        .map(|l| {
            let mut spans = Vec::new();
            if logs.timestamps {
                spans.push(Span::styled(
                    format!("{} ", l.time.as_deref().unwrap_or("            ")),
                    theme.dim(),
                ));
            }
            if l.stderr {
                spans.push(Span::styled("! ", theme.warn()));
            }
            spans.extend(styled_spans(
                &l.line,
                logs.search.as_deref(),
                logs.current_match == Some(l.seq),
                theme,
            ));
            Line::from(spans)
        })
        .collect();
    let mut para = Paragraph::new(Text::from(lines)).block(block);
    if logs.wrap {
        para = para.wrap(Wrap { trim: false });
    }
    frame.render_widget(para, area);
}

/// The line's own styles, with search matches overlaid.
pub(crate) fn styled_spans(
    line: &crate::sanitize::StyledLine,
    search: Option<&str>,
    current: bool,
    theme: Theme,
) -> Vec<Span<'static>> {
    let text = &line.text;
    let mut cuts: Vec<(usize, Style)> = line
        .styles
        .iter()
        .map(|(at, s)| (*at as usize, *s))
        .collect();
    if cuts.first().is_none_or(|(at, _)| *at != 0) {
        cuts.insert(0, (0, Style::default()));
    }
    let matches = search.map(|p| match_ranges(text, p)).unwrap_or_default();
    let mut bounds: Vec<usize> = cuts.iter().map(|(a, _)| *a).collect();
    for (s, e) in &matches {
        bounds.push(*s);
        bounds.push(*e);
    }
    bounds.push(text.len());
    bounds.sort_unstable();
    bounds.dedup();
    let mut spans = Vec::new();
    for w in bounds.windows(2) {
        let (start, end) = (w[0], w[1]);
        if start >= end || !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            continue;
        }
        let base = cuts
            .iter()
            .rev()
            .find(|(at, _)| *at <= start)
            .map_or(Style::default(), |(_, s)| *s);
        let in_match = matches.iter().any(|(s, e)| start >= *s && end <= *e);
        let style = if in_match {
            let h = base.patch(theme.highlight());
            if current {
                h.add_modifier(Modifier::BOLD)
            } else {
                h
            }
        } else {
            base
        };
        spans.push(Span::styled(text[start..end].to_string(), style));
    }
    spans
}

pub(crate) fn match_ranges(text: &str, pattern: &str) -> Vec<(usize, usize)> {
    if pattern.is_empty() {
        return Vec::new();
    }
    let exact = pattern.chars().any(char::is_uppercase);
    let hay = if exact {
        text.to_string()
    } else {
        text.to_lowercase()
    };
    // Lowercasing can change byte lengths outside ASCII; only trust offsets when it did not.
    if hay.len() != text.len() {
        return Vec::new();
    }
    hay.match_indices(pattern)
        .map(|(i, m)| (i, i + m.len()))
        .collect()
}

/// Logs follow the service, not one container: when the followed container is gone (a deploy
/// or `compose up` recreated it), the same service's next container carries on in the same
/// view after a marker line. With nothing followed yet, pick the app's.
pub(crate) fn reselect_logs(app: &mut App, fx: &mut Vec<Effect>) {
    let Some(list) = app.containers.data.as_ref() else {
        return;
    };
    let Some(current) = app.logs.container_id.clone() else {
        if let Some(c) = app.default_log_container().cloned() {
            follow(app, &c, fx);
        }
        return;
    };
    if list.iter().any(|c| c.id == current) {
        return;
    }
    let next = (!app.logs.oneoff && !app.logs.service.is_empty())
        .then(|| {
            list.iter()
                .filter(|c| !c.oneoff && c.service == app.logs.service)
                // A running one first, then the newest.
                .max_by_key(|c| (c.state == ContainerState::Running, c.started_at))
        })
        .flatten()
        .cloned();
    match next {
        Some(c) => {
            app.logs.mark(&format!(
                "container replaced at {}: now {} ({})",
                app.now.format("%H:%M:%S UTC"),
                c.name,
                c.id.get(..12).unwrap_or(&c.id)
            ));
            app.logs.continue_with(c.id.clone(), c.name.clone());
            fx.push(Effect::FollowLogs {
                container_id: c.id.clone(),
                tail: app.log_tail,
            });
        }
        None => {
            let reason = if app.logs.oneoff || app.logs.service.is_empty() {
                "container removed".to_string()
            } else {
                format!(
                    "container removed; waiting for service {}'s next container",
                    app.logs.service
                )
            };
            app.logs.state = StreamState::Ended(reason);
        }
    }
}

pub(crate) fn follow(app: &mut App, c: &ContainerView, fx: &mut Vec<Effect>) {
    app.logs.switch_to(c.id.clone(), c.name.clone());
    app.logs.service = c.service.clone();
    app.logs.oneoff = c.oneoff;
    fx.push(Effect::FollowLogs {
        container_id: c.id.clone(),
        tail: app.log_tail,
    });
}

/// The logs panel's keys (search, filter, pause, wrap, timestamps, save; top and bottom of
/// its view).
pub fn on_action(app: &mut App, action: Action, fx: &mut Vec<Effect>) {
    let page = app.log_page();
    match action {
        Action::Search => app.overlay = Overlay::Search(TextField::default()),
        Action::SearchNext | Action::SearchPrev => {
            if app.logs.search.is_none() {
                app.say("no search: press / first");
            } else if !app.logs.jump(action == Action::SearchNext, page as u64 / 3) {
                app.say("no more matches");
            }
        }
        Action::Filter => {
            if app.logs.search.is_none() {
                app.say("filter shows lines matching the search: press / first");
            } else {
                app.logs.filter = !app.logs.filter;
            }
        }
        Action::Top => app.logs.to_top(),
        Action::Bottom => app.logs.follow(),
        Action::Pause => app.logs.toggle_pause(),
        Action::Wrap => app.logs.wrap = !app.logs.wrap,
        Action::Timestamps => app.logs.timestamps = !app.logs.timestamps,
        Action::SaveLogs => {
            if app.logs.is_empty() {
                app.say("nothing to save");
            } else {
                fx.push(Effect::SaveLogs {
                    container: app.logs.container_name.clone(),
                    text: app.logs.export(),
                });
            }
        }
        _ => {}
    }
}
