//! Drawing: a pure function of `App` and the clock. Nothing here awaits, locks or does I/O.

use super::dialogs::{confirm, github, help, history};
use super::model::{App, Overlay, Panel};
pub use super::model::{MIN_HEIGHT, MIN_WIDTH};
use super::panels::{self, deploys};
pub use super::text::{
    cause_first, distinct_fits, fill_width, fit_middle, fit_middle_at, fit_words,
};
pub use super::theme::Theme;
use crate::domain::{ContainerState, ImageRef};
use crate::keymap::{Action, Scope};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "terminal too small: {}x{}, need at least {MIN_WIDTH}x{MIN_HEIGHT}. Enlarge it, or press {} to quit; other keys do nothing here.",
            area.width,
            area.height,
            app.keymap.label(Action::Quit)
        );
        frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(10),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(frame, app, header);
    let [top, middle, bottom] = Layout::vertical([
        Constraint::Percentage(40),
        Constraint::Percentage(25),
        Constraint::Min(6),
    ])
    .areas(body);
    // Containers get the whole top-left so every service is visible even at 80x24; the GPU
    // and the health endpoints share the right.
    let [containers, top_right] =
        Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)]).areas(top);
    let health_rows = app.health.data.as_ref().map_or(1, Vec::len) as u16;
    let [gpu, health] = Layout::vertical([
        Constraint::Min(4),
        Constraint::Length(
            (health_rows + 2)
                .min(top_right.height.saturating_sub(4))
                .min(8),
        ),
    ])
    .areas(top_right);
    let [runs, tags] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(middle);
    panels::containers::draw(frame, app, containers);
    panels::health::draw(frame, app, health);
    panels::gpu::draw(frame, app, gpu);
    panels::runs::draw(frame, app, runs);
    panels::tags::draw(frame, app, tags);
    match deploys::panel_view(app) {
        // A deploy in progress (from any operator) takes the top of the logs area.
        Some(view) => {
            let height = deploys::PANEL_HEIGHT
                .min(bottom.height.saturating_sub(3).max(bottom.height * 2 / 3));
            let [deploy, logs] =
                Layout::vertical([Constraint::Length(height), Constraint::Min(3)]).areas(bottom);
            deploys::draw_panel(frame, app, view, deploy);
            panels::logs::draw(frame, app, logs);
        }
        None => panels::logs::draw(frame, app, bottom),
    }
    // Several hosts: the overview covers the shown host's panels while it is on.
    if let Some(view) = app.hosts.as_ref().filter(|v| v.overview) {
        frame.render_widget(ratatui::widgets::Clear, body);
        panels::hosts::draw(frame, app, view, body);
    }
    draw_footer(frame, app, footer);
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help { scroll } => help::draw_help(frame, app, area, *scroll),
        Overlay::Details { title, rows } => help::draw_details(frame, area, title, rows),
        Overlay::Command(input) => help::draw_input(frame, footer, ":", &input.with_cursor()),
        Overlay::Search(input) => help::draw_input(frame, footer, "/", &input.with_cursor()),
        Overlay::Confirm(c) => confirm::draw_confirm(frame, area, c, Theme { color: app.color }),
        Overlay::History { scroll } => history::draw_history(frame, app, area, *scroll),
        Overlay::RunJobs(view) => {
            github::draw_run_jobs(frame, area, view, app.now, Theme { color: app.color })
        }
        Overlay::Dispatch(form) => {
            github::draw_dispatch(frame, area, form, Theme { color: app.color })
        }
    }
}

fn draw_header(frame: &mut Frame, app: &App, area: Rect) {
    let theme = Theme { color: app.color };
    let mut spans = vec![
        Span::styled(
            " elt-console ",
            Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ),
        Span::raw(format!(
            " {} · {} {} ",
            app.host,
            if app.swarm.is_some() {
                "stack"
            } else {
                "project"
            },
            app.project
        )),
    ];
    // Several hosts: which one the dashboard shows, always.
    if let Some(view) = &app.hosts {
        let style = if panels::hosts::shown_is_down(view) {
            theme.bad()
        } else {
            theme.accent().add_modifier(Modifier::BOLD)
        };
        spans[1] = Span::styled(panels::hosts::header_label(view), style);
        spans.insert(2, Span::raw(format!("· project {} ", app.project)));
        // On one host's dashboard, trouble elsewhere still shows.
        if let Some(others) = panels::hosts::others_down(view, &app.keymap.label(Action::Hosts)) {
            spans.push(Span::styled(others, theme.bad()));
        }
    }
    let running = app.containers.data.as_ref().and_then(|list| {
        app.services.iter().find_map(|s| {
            list.iter()
                .find(|c| !c.oneoff && &c.service == s && c.state == ContainerState::Running)
        })
    });
    match running {
        _ if app.swarm.is_some() => spans.extend(panels::swarm::header_spans(app, theme)),
        Some(c) => {
            let tag = ImageRef::parse(&c.image)
                .ok()
                .and_then(|r| r.tag)
                .map_or_else(|| c.image.clone(), |t| t.to_string());
            let sha = c
                .revision
                .as_deref()
                .map(|r| r.get(..7).unwrap_or(r))
                .unwrap_or("-");
            spans.push(Span::raw("· running "));
            spans.push(Span::styled(fit_middle(&tag, 18), theme.accent()));
            spans.push(Span::raw(format!(" ({sha}) ")));
        }
        None if app.containers.data.is_some() => {
            spans.push(Span::styled("· app not running ", theme.bad()))
        }
        None => {}
    }
    let deploy = deploys::header_spans(app, theme);
    if app
        .deploys
        .data
        .as_ref()
        .is_some_and(|d| d.running.is_some())
    {
        // Who is deploying matters more than the rest when the header is narrow.
        let at = spans.len().min(2);
        spans.splice(at..at, deploy);
    } else {
        spans.extend(deploy);
    }
    if let Some(limited) = panels::runs::rate_limited_label(app) {
        spans.push(Span::styled(format!("· {limited} "), theme.bad()));
    } else if let (Some(rem), Some(lim)) = (app.rate.remaining, app.rate.limit) {
        let style = if rem * 10 < lim {
            theme.warn()
        } else {
            theme.dim()
        };
        let reset = app
            .rate
            .reset
            .map(|t| format!(" {}", crate::format::rate_reset(t, app.now)))
            .unwrap_or_default();
        spans.push(Span::styled(format!("· GitHub {rem}/{lim}{reset} "), style));
    }
    if app.read_only {
        spans.push(Span::styled(
            " READ-ONLY ",
            theme.warn().add_modifier(Modifier::REVERSED),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_footer(frame: &mut Frame, app: &App, area: Rect) {
    let theme = Theme { color: app.color };
    if let Some((msg, _)) = &app.message {
        frame.render_widget(
            Paragraph::new(Span::styled(format!(" {msg}"), theme.accent())),
            area,
        );
        return;
    }
    let mut wanted: Vec<Action> = vec![Action::Quit, Action::Help, Action::FocusNext];
    let overview = app.hosts.as_ref().is_some_and(|v| v.overview);
    if overview {
        wanted = vec![
            Action::Quit,
            Action::Help,
            Action::Down,
            Action::Up,
            Action::Open,
        ];
        wanted.extend([Action::Command, Action::Refresh]);
    }
    if app.hosts.is_some() {
        wanted.extend([Action::Hosts, Action::NextHost]);
    }
    if overview {
        // The overview's keys only.
    } else if app.focus == Panel::Logs {
        wanted.extend([
            Action::Search,
            Action::SearchNext,
            Action::Filter,
            Action::Pause,
            Action::Wrap,
            Action::Timestamps,
            Action::SaveLogs,
            Action::Bottom,
        ]);
    } else {
        wanted.extend([
            Action::Down,
            Action::Up,
            Action::Open,
            Action::Refresh,
            Action::Command,
        ]);
    }
    // Mutating keys are hidden in read-only mode (and refused if pressed anyway).
    if !app.read_only && !overview {
        if app.focus == Panel::Tags {
            wanted.extend(super::panels::tags::footer_keys(app));
        }
        wanted.push(Action::Rollback);
    }
    if !overview {
        wanted.push(Action::History);
    }
    let mut spans = Vec::new();
    for a in wanted {
        if a.scope() == Scope::Logs && app.focus != Panel::Logs {
            continue;
        }
        spans.push(Span::styled(
            format!(" {} ", app.keymap.label(a)),
            Style::default().add_modifier(Modifier::REVERSED),
        ));
        spans.push(Span::raw(format!(" {} ", a.name().replace('_', " "))));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
