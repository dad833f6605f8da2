//! Drawing: a pure function of `App` and the clock. Nothing here awaits, locks or does I/O.

use super::app::{App, Fresh, Overlay, Panel};
use super::logs::StreamState;
use crate::domain::{ContainerState, GpuStatus, HealthState, ImageRef};
use crate::format::age;
use crate::keymap::{Action, Scope};
use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{
    Block, Borders, Cell, Clear, Paragraph, Row, Sparkline, Table, TableState, Wrap,
};

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Colours that carry meaning, dropped under NO_COLOR (glyphs still say it).
#[derive(Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    pub fn new(color: bool) -> Self {
        Self { color }
    }
    pub fn good(self) -> Style {
        self.fg(Color::Green)
    }
    pub fn bad(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    pub fn warn(self) -> Style {
        self.fg(Color::Yellow)
    }
    pub fn dim(self) -> Style {
        Style::default().add_modifier(Modifier::DIM)
    }
    pub fn accent(self) -> Style {
        self.fg(Color::Cyan)
    }
    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }
    fn focus_border(self) -> Style {
        if self.color {
            Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default().add_modifier(Modifier::BOLD)
        }
    }
    fn selected(self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }
    fn highlight(self) -> Style {
        if self.color {
            Style::default().bg(Color::Yellow).fg(Color::Black)
        } else {
            Style::default().add_modifier(Modifier::REVERSED | Modifier::UNDERLINED)
        }
    }
}

use crate::format::bytes;

/// Cut `s` to at most `max` characters at a word boundary, ending in `…` when cut.
pub fn fit_words(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let head: String = s.chars().take(max - 1).collect();
    let at_word_end = s.chars().nth(max - 1).is_some_and(char::is_whitespace);
    // Back to the last space, unless that would throw away most of the room.
    let cut = match head.rfind(' ') {
        _ if at_word_end => head.trim_end().to_string(),
        Some(i) if head[..i].chars().count() * 2 >= max => head[..i]
            .trim_end_matches(|c: char| c.is_whitespace() || "·:,;-".contains(c))
            .to_string(),
        _ => head,
    };
    format!("{cut}…")
}

/// An error for a title, where room is short: its cause (the last `: ` part, the most
/// specific) first, then what failed (the first part), cut at a word; asides in parentheses
/// go before anything is cut. The whole text is in the panel's details (enter).
pub fn cause_first(text: &str, max: usize) -> String {
    let parts: Vec<&str> = text
        .split(": ")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let join = |cause: &str, what: Option<&str>| match what {
        Some(w) => format!("{cause} · {w}"),
        None => cause.to_string(),
    };
    let (cause, what) = match parts.as_slice() {
        [] => return String::new(),
        [one] => (*one, None),
        [what, .., cause] => (*cause, Some(*what)),
    };
    let full = join(cause, what);
    if full.chars().count() <= max {
        return full;
    }
    let plain = |s: &str| {
        let mut out = String::new();
        let mut depth = 0usize;
        for c in s.chars() {
            match c {
                '(' => depth += 1,
                ')' if depth > 0 => depth -= 1,
                _ if depth == 0 => out.push(c),
                _ => {}
            }
        }
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    fit_words(&join(&plain(cause), what.map(plain).as_deref()), max)
}

/// "4s ago", "loading…", or "✖ cause · what failed (2m)" within `room` characters (the
/// failure's age gives way first, then the error text is cut at a word); the second part is
/// "as of 5m ago" for the bottom border when an error leaves older data on screen.
fn freshness<T>(
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

/// How long ago data was loaded, as a title shows it: "just now" under 10 s, then in 10-second
/// steps, then as `age`. Sources refresh on their own schedule; a title that changed every
/// second would cost a frame a second for nothing an operator acts on.
pub fn ago(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    match (now - since).num_seconds().max(0) {
        0..10 => "just now".into(),
        s @ 10..60 => format!("{}s ago", s / 10 * 10),
        _ => format!("{} ago", age(since, now)),
    }
}

fn spans_len(spans: &[Span]) -> usize {
    spans.iter().map(|s| s.content.chars().count()).sum()
}

fn panel_block<'a, T>(
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
        if panel == Panel::Containers && f.error.is_none() && f.loaded_at.is_some() {
            // The engine's events keep this list current; its age says nothing.
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
    draw_containers(frame, app, containers);
    draw_health(frame, app, health);
    draw_gpu(frame, app, gpu);
    draw_runs(frame, app, runs);
    draw_tags(frame, app, tags);
    match super::deploys::panel_view(app) {
        // A deploy in progress (from any operator) takes the top of the logs area.
        Some(view) => {
            let height = super::deploys::PANEL_HEIGHT
                .min(bottom.height.saturating_sub(3).max(bottom.height * 2 / 3));
            let [deploy, logs] =
                Layout::vertical([Constraint::Length(height), Constraint::Min(3)]).areas(bottom);
            super::deploys::draw_panel(frame, app, view, deploy);
            draw_logs(frame, app, logs);
        }
        None => draw_logs(frame, app, bottom),
    }
    draw_footer(frame, app, footer);
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help { scroll } => draw_help(frame, app, area, *scroll),
        Overlay::Details { title, rows } => draw_details(frame, area, title, rows),
        Overlay::Command(input) => draw_input(frame, footer, ":", input),
        Overlay::Search(input) => draw_input(frame, footer, "/", input),
        Overlay::Confirm(c) => super::deploys::draw_confirm(frame, app, area, c),
        Overlay::History { scroll } => super::deploys::draw_history(frame, app, area, *scroll),
        Overlay::RunJobs(view) => super::github_draw::draw_run_jobs(
            frame,
            area,
            view,
            app.now,
            Theme { color: app.color },
        ),
        Overlay::Dispatch(form) => {
            super::github_draw::draw_dispatch(frame, area, form, Theme { color: app.color })
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
        Span::raw(format!(" {} · project {} ", app.host, app.project)),
    ];
    let running = app.containers.data.as_ref().and_then(|list| {
        app.services.iter().find_map(|s| {
            list.iter()
                .find(|c| !c.oneoff && &c.service == s && c.state == ContainerState::Running)
        })
    });
    match running {
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
    let deploy = super::deploys::header_spans(app, theme);
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
    if let Some(limited) = super::github_ui::rate_limited_label(app) {
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

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
}

fn state_cell(
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

fn table_state(app: &App, panel: Panel) -> TableState {
    let mut s = TableState::default();
    if app.focus == panel {
        s.select(Some(app.selected(panel)));
    }
    s
}

fn draw_containers(frame: &mut Frame, app: &App, area: Rect) {
    let theme = Theme { color: app.color };
    let block = panel_block(
        app,
        Panel::Containers,
        Some(&app.containers),
        vec![],
        area.width,
    );
    let list = app.containers.data.as_deref().unwrap_or_default();
    if list.is_empty() {
        let text = if app.containers.data.is_some() {
            format!("no containers in project {}", app.project)
        } else {
            String::new()
        };
        frame.render_widget(Paragraph::new(text).block(block), area);
        return;
    }
    // Rows kept from before an engine outage are what was, not what is: dimmed, and the
    // title says as of when.
    let stale = app.containers.error.is_some();
    let widths = [
        Constraint::Length(11),
        Constraint::Length(13),
        Constraint::Min(6),
        Constraint::Length(6),
        Constraint::Length(3),
    ];
    let tags: Vec<String> = list
        .iter()
        .map(|c| {
            ImageRef::parse(&c.image)
                .ok()
                .and_then(|r| r.tag)
                .map_or_else(|| c.image.clone(), |t| t.to_string())
        })
        .collect();
    let tags = distinct_fits(
        &tags.iter().map(String::as_str).collect::<Vec<_>>(),
        fill_width(area.width.saturating_sub(2), &widths),
    );
    let rows: Vec<Row> = list
        .iter()
        .zip(tags)
        .map(|(c, tag)| {
            let uptime = match (c.state, c.started_at) {
                (ContainerState::Running, Some(t)) => age(t, app.now),
                _ => "-".into(),
            };
            let follows = app.logs.container_id.as_deref() == Some(c.id.as_str());
            Row::new(vec![
                Cell::from(format!(
                    "{}{}{}",
                    if follows { "≡ " } else { "  " },
                    c.service,
                    if c.oneoff { "*" } else { "" }
                )),
                state_cell(c.state, c.health, c.exit_code, theme, stale),
                Cell::from(tag),
                Cell::from(uptime),
                Cell::from(c.restarts.to_string()).style(if c.restarts > 0 && !stale {
                    theme.warn()
                } else {
                    Style::default()
                }),
            ])
            .style(if stale { theme.dim() } else { Style::default() })
        })
        .collect();
    let table = Table::new(rows, widths)
        .header(Row::new(["  SERVICE", "STATE", "TAG", "UP", "RST"]).style(theme.dim()))
        .row_highlight_style(theme.selected())
        .block(block);
    frame.render_stateful_widget(table, area, &mut table_state(app, Panel::Containers));
}

fn draw_health(frame: &mut Frame, app: &App, area: Rect) {
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

fn draw_gpu(frame: &mut Frame, app: &App, area: Rect) {
    let theme = Theme { color: app.color };
    let block = panel_block(app, Panel::Gpu, Some(&app.gpu), vec![], area.width);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let devices = match &app.gpu.data {
        None => return,
        Some(GpuStatus::Unavailable { reason }) => {
            frame.render_widget(
                Paragraph::new(vec![
                    Line::styled("GPU unavailable", theme.warn()),
                    Line::styled(reason.clone(), theme.dim()),
                ])
                .wrap(Wrap { trim: true }),
                inner,
            );
            return;
        }
        Some(GpuStatus::Available { devices, .. }) => devices,
    };
    let mut y = inner.y;
    let bottom = inner.y + inner.height;
    for d in devices {
        if y >= bottom {
            break;
        }
        let util = d.utilization_pct.unwrap_or(0);
        let (used, total) = (
            d.memory_used_bytes.unwrap_or(0),
            d.memory_total_bytes.unwrap_or(0),
        );
        let mem_pct = (used * 100).checked_div(total).unwrap_or(0);
        let temp = d.temperature_c.map_or("-".into(), |t| format!("{t}°C"));
        let power = match (d.power_mw, d.power_limit_mw) {
            (Some(p), Some(l)) => format!("{}/{}W", p / 1000, l / 1000),
            (Some(p), None) => format!("{}W", p / 1000),
            _ => "-".into(),
        };
        let hot = d.temperature_c.is_some_and(|t| t >= 85);
        let head = Line::from(vec![
            Span::styled(
                format!("{} {} ", d.index, shorten(&d.name, 22)),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::styled(temp, if hot { theme.bad() } else { Style::default() }),
            Span::raw(format!(" {power}")),
        ]);
        frame.render_widget(Paragraph::new(head), Rect::new(inner.x, y, inner.width, 1));
        y += 1;
        let history = app.gpu_history.get(&d.index);
        let label_w = 16u16;
        for (label, value, series) in [
            (
                "util",
                format!("{util:>3}%"),
                history.map(|h| h.iter().map(|(u, _)| *u).collect::<Vec<_>>()),
            ),
            (
                "vram",
                format!("{}/{}", bytes(used), bytes(total)),
                history.map(|h| h.iter().map(|(_, m)| *m).collect::<Vec<_>>()),
            ),
        ] {
            if y >= bottom {
                break;
            }
            let pct = if label == "util" {
                util as u64
            } else {
                mem_pct
            };
            let style = if pct >= 95 {
                theme.bad()
            } else if pct >= 80 {
                theme.warn()
            } else {
                theme.good()
            };
            frame.render_widget(
                Paragraph::new(Line::from(vec![
                    Span::raw(format!("{label} ")),
                    Span::styled(value, style),
                ])),
                Rect::new(inner.x, y, label_w.min(inner.width), 1),
            );
            // A gauge of the current value, then the last minutes as a sparkline.
            let gauge_w = 10u16.min(inner.width.saturating_sub(label_w));
            let filled = (pct.min(100) as usize * gauge_w as usize).div_ceil(100);
            let bar = format!(
                "{}{}",
                "█".repeat(filled),
                "░".repeat(gauge_w as usize - filled)
            );
            frame.render_widget(
                Paragraph::new(Span::styled(bar, style)),
                Rect::new(inner.x + label_w, y, gauge_w, 1),
            );
            let spark_x = label_w + gauge_w + 1;
            let spark_area =
                Rect::new(inner.x + spark_x, y, inner.width.saturating_sub(spark_x), 1);
            let data = series.unwrap_or_default();
            let visible = &data[data.len().saturating_sub(spark_area.width as usize)..];
            frame.render_widget(
                Sparkline::default().data(visible).max(100).style(style),
                spark_area,
            );
            y += 1;
        }
        for p in &d.processes {
            if y >= bottom {
                break;
            }
            let who = p
                .container
                .clone()
                .unwrap_or_else(|| format!("pid {} (not a project container)", p.pid));
            frame.render_widget(
                Paragraph::new(format!(
                    "  {} {}",
                    p.used_bytes.map_or("?".into(), bytes),
                    who
                )),
                Rect::new(inner.x, y, inner.width, 1),
            );
            y += 1;
        }
    }
}

fn draw_runs(frame: &mut Frame, app: &App, area: Rect) {
    let area = super::gh_deployments_panel::draw_beside_runs(frame, app, area);
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
            let (glyph, style) = match (r.status.as_str(), r.conclusion.as_deref()) {
                (_, Some("success")) => ("✔", theme.good()),
                (_, Some("failure" | "timed_out" | "startup_failure")) => ("✖", theme.bad()),
                (_, Some("cancelled" | "skipped")) => ("○", theme.dim()),
                ("in_progress", _) => ("◐", theme.warn()),
                ("queued" | "waiting" | "pending" | "requested", _) => ("…", theme.warn()),
                _ => ("?", Style::default()),
            };
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

fn draw_tags(frame: &mut Frame, app: &App, area: Rect) {
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
    let marks = super::deploys::TagMarks::new(app);
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

/// The width a table's one flexible column gets: what the fixed ones and the one-cell gaps
/// between columns (ratatui's default spacing) leave of `inner`.
pub fn fill_width(inner: u16, widths: &[Constraint]) -> usize {
    let fixed: u16 = widths
        .iter()
        .map(|c| match c {
            Constraint::Length(n) => *n,
            _ => 0,
        })
        .sum();
    let gaps = widths.len().saturating_sub(1) as u16;
    inner.saturating_sub(fixed + gaps) as usize
}

/// `s` in at most `width` characters, cut in the middle with `…`: tags differ at their ends
/// (`main-<sha>`, `v1.2.3-rc4`), so both ends are kept. `head` characters come before the `…`.
pub fn fit_middle_at(s: &str, width: usize, head: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    if width < 2 {
        return s.chars().take(width).collect();
    }
    let head = head.min(width - 1);
    let tail = width - 1 - head;
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

/// `s` cut in the middle to `width`, a little more of its start kept than of its end.
pub fn fit_middle(s: &str, width: usize) -> String {
    fit_middle_at(s, width, width.saturating_sub(1).div_ceil(2))
}

/// Names fitted to `width` so that different names never look the same where the column
/// allows it: names whose middle cuts collide get the cut moved (more end, less start, or
/// the other way) until the group reads apart.
pub fn distinct_fits(names: &[&str], width: usize) -> Vec<String> {
    use std::collections::HashSet;
    let mut out: Vec<String> = names.iter().map(|n| fit_middle(n, width)).collect();
    let default = width.saturating_sub(1).div_ceil(2);
    // Splits nearest the default first.
    let mut heads: Vec<usize> = (0..width.max(1)).collect();
    heads.sort_by_key(|h| h.abs_diff(default));
    for i in 0..out.len() {
        let group: Vec<usize> = (0..out.len()).filter(|&j| out[j] == out[i]).collect();
        let distinct_names: HashSet<&str> = group.iter().map(|&j| names[j]).collect();
        if distinct_names.len() < 2 {
            continue;
        }
        let apart = |cut: &dyn Fn(&str) -> String| {
            let cuts: Vec<String> = group.iter().map(|&j| cut(names[j])).collect();
            (cuts.iter().collect::<HashSet<_>>().len() == distinct_names.len()).then_some(cuts)
        };
        let longest = group
            .iter()
            .map(|&j| names[j].chars().count())
            .max()
            .unwrap_or(0);
        // One cut anywhere; failing that (they differ deep inside), the start, then a
        // window where they differ, both cut with `…`.
        let found = heads
            .iter()
            .find_map(|&head| apart(&|n: &str| fit_middle_at(n, width, head)))
            .or_else(|| (0..longest).find_map(|at| apart(&|n: &str| fit_window(n, width, at))));
        if let Some(cuts) = found {
            for (&j, c) in group.iter().zip(cuts) {
                out[j] = c;
            }
        }
    }
    out
}

/// `s` as its start, `…`, then the characters from `at` on, `…` where more follows: for names
/// that differ only deep inside.
fn fit_window(s: &str, width: usize, at: usize) -> String {
    let n = s.chars().count();
    if n <= width || width < 5 {
        return fit_middle(s, width);
    }
    let head = (width - 2) / 3;
    let at = at.max(head + 1);
    let room = width - 1 - head;
    let window: String = s.chars().skip(at).take(room).collect();
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    if at + room < n {
        // The last character of the window gives way to the closing `…`.
        out.extend(window.chars().take(room - 1));
        out.push('…');
    } else {
        out.push_str(&window);
    }
    out
}

fn draw_logs(frame: &mut Frame, app: &App, area: Rect) {
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
fn styled_spans(
    line: &super::sanitize::StyledLine,
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

fn match_ranges(text: &str, pattern: &str) -> Vec<(usize, usize)> {
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
    if app.focus == Panel::Logs {
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
    if !app.read_only {
        if app.focus == Panel::Tags {
            wanted.push(Action::Deploy);
            if app.tag_service().is_some() {
                wanted.push(Action::NextService);
            }
        }
        wanted.push(Action::Rollback);
    }
    wanted.push(Action::History);
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

pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width.saturating_sub(4));
    let h = height.min(area.height.saturating_sub(2));
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn draw_help(frame: &mut Frame, app: &App, area: Rect, scroll: u16) {
    let rows: Vec<Row> = app
        .keymap
        .help_rows()
        .into_iter()
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

fn draw_details(frame: &mut Frame, area: Rect, title: &str, rows: &[(String, String)]) {
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

fn draw_input(frame: &mut Frame, area: Rect, prompt: &str, input: &str) {
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(format!("{prompt}{input}█")), area);
}
