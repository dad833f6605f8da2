//! Drawing: a pure function of `App` and the clock. Nothing here awaits, locks or does I/O.

use super::app::{App, Fresh, Overlay, Panel};
use super::logs::StreamState;
use crate::domain::{ContainerState, GpuStatus, HealthState, ImageRef};
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

pub fn age(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - since).num_seconds().max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86400 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{}h", secs / 86400, secs % 86400 / 3600),
    }
}

fn bytes(n: u64) -> String {
    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
    const MIB: f64 = 1024.0 * 1024.0;
    let v = n as f64;
    if v >= GIB {
        format!("{:.1}G", v / GIB)
    } else if v >= MIB {
        format!("{:.1}M", v / MIB)
    } else {
        format!("{:.0}K", v / 1024.0)
    }
}

/// "· 4s ago", "· loading…", or "· ERROR (2m): … · data 5m old".
fn freshness<T>(f: &Fresh<T>, now: DateTime<Utc>, theme: Theme) -> Vec<Span<'static>> {
    match (&f.error, f.loaded_at) {
        (Some((e, since)), loaded) => {
            let mut spans = vec![Span::styled(
                format!(
                    " ✖ {} ({}) ",
                    e.chars().take(60).collect::<String>(),
                    age(*since, now)
                ),
                theme.bad(),
            )];
            if let Some(t) = loaded {
                spans.push(Span::styled(
                    format!("data {} old ", age(t, now)),
                    theme.warn(),
                ));
            }
            spans
        }
        (None, Some(t)) => vec![Span::styled(format!(" {} ago ", age(t, now)), theme.dim())],
        (None, None) => vec![Span::styled(" loading… ".to_string(), theme.dim())],
    }
}

fn panel_block<'a, T>(
    app: &App,
    panel: Panel,
    fresh: Option<&Fresh<T>>,
    extra: Vec<Span<'a>>,
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
    if let Some(f) = fresh {
        title.extend(freshness(f, app.now, theme));
    }
    title.extend(extra);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Line::from(title));
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
            "terminal too small: {}x{}, need at least {MIN_WIDTH}x{MIN_HEIGHT}",
            area.width, area.height
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
            spans.push(Span::styled(shorten(&tag, 18), theme.accent()));
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
            .map(|t| format!(" reset {}", t.with_timezone(&chrono::Local).format("%H:%M")))
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
    let block = panel_block(app, Panel::Containers, Some(&app.containers), vec![]);
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
    let rows: Vec<Row> = list
        .iter()
        .map(|c| {
            let tag = ImageRef::parse(&c.image)
                .ok()
                .and_then(|r| r.tag)
                .map_or_else(|| c.image.clone(), |t| t.to_string());
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
                state_cell(c.state, c.health, c.exit_code, theme),
                Cell::from(shorten(&tag, 22)),
                Cell::from(uptime),
                Cell::from(c.restarts.to_string()).style(if c.restarts > 0 {
                    theme.warn()
                } else {
                    Style::default()
                }),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(11),
            Constraint::Length(13),
            Constraint::Min(6),
            Constraint::Length(6),
            Constraint::Length(3),
        ],
    )
    .header(Row::new(["  SERVICE", "STATE", "TAG", "UP", "RST"]).style(theme.dim()))
    .row_highlight_style(theme.selected())
    .block(block);
    frame.render_stateful_widget(table, area, &mut table_state(app, Panel::Containers));
}

fn draw_health(frame: &mut Frame, app: &App, area: Rect) {
    let theme = Theme { color: app.color };
    let block = panel_block(app, Panel::Health, Some(&app.health), vec![]);
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
    let block = panel_block(app, Panel::Gpu, Some(&app.gpu), vec![]);
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
    let theme = Theme { color: app.color };
    let block = panel_block(app, Panel::Runs, Some(&app.runs), vec![]);
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
            let total: usize = repos.iter().map(|r| r.total).sum();
            vec![Span::styled(format!("{total} in registry "), theme.dim())]
        })
        .unwrap_or_default();
    let block = panel_block(app, Panel::Tags, Some(&app.tags), extra);
    // The last-deployed column only where it fits beside the others (not at 80 columns).
    let wide = area.width >= 60;
    let marks = super::deploys::TagMarks::new(app);
    let rows: Vec<Row> = app
        .tag_rows()
        .iter()
        .enumerate()
        .map(|(i, (_, t))| {
            let ci_style = match t.ci.as_deref() {
                Some("success") => theme.good(),
                Some("failure") => theme.bad(),
                Some(_) => theme.warn(),
                None => theme.dim(),
            };
            let mut cells = vec![
                marks.cell(app, i, t),
                Cell::from(shorten(t.tag.as_str(), 20)),
                Cell::from(
                    t.revision
                        .as_ref()
                        .map_or("-".into(), |r| r.short().to_string()),
                ),
                Cell::from(t.created.map_or("-".into(), |c| age(c, app.now))),
                Cell::from(t.size_bytes.map_or("-".into(), bytes)),
                Cell::from(t.ci.clone().unwrap_or_else(|| "-".into())).style(ci_style),
            ];
            if wide {
                cells.push(Cell::from(
                    t.last_deployed.map_or("—".into(), |d| age(d, app.now)),
                ));
            }
            Row::new(cells)
        })
        .collect();
    let mut widths = vec![
        Constraint::Length(2),
        Constraint::Min(12),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(8),
    ];
    let mut header = vec![" ", "TAG", "SHA", "AGE", "SIZE", "CI"];
    if wide {
        widths.push(Constraint::Length(8));
        header.push("DEPLOYED");
    }
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.dim()))
        .row_highlight_style(theme.selected())
        .block(block);
    frame.render_stateful_widget(table, area, &mut table_state(app, Panel::Tags));
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
            Span::styled(format!("ended: {} ", shorten(reason, 40)), theme.bad())
        }
    };
    extra.push(state);
    extra.push(Span::styled(format!("{} lines", logs.len()), theme.dim()));
    if logs.dropped > 0 {
        extra.push(Span::styled(
            format!(", {} older dropped", logs.dropped),
            theme.dim(),
        ));
    }
    extra.push(Span::raw(" "));
    if let Some(p) = &logs.search {
        extra.push(Span::styled(
            format!("/{p} ({} matches) ", logs.match_count()),
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
    let block = panel_block::<()>(app, Panel::Logs, None, extra);
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
    let popup = centered(area, 100, rows.len() as u16 + 2);
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
