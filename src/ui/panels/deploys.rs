//! The deploy panel: a deploy in progress from any operator (its steps as the store records
//! them), one being started from here, or one that ended within the last minute; and the
//! header's deploy summary.

mod state;
pub use state::{STARTING_PATIENCE_S, Starting};

use crate::deploy::follow::Followed;
use crate::deploy::{STEPS, StepState, fmt_ms};
use crate::domain::DeploySnapshot;
use crate::format::age;
use crate::store::{DeployStatus, Deployment, LockState};
use crate::ui::deploying::tag_of_image;
use crate::ui::model::App;
use crate::ui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

/// What the deploy panel shows.
pub enum PanelView<'a> {
    Starting(&'a Starting),
    Deployment(&'a Deployment),
}

/// The deploy panel's content, if any: a running deploy, else one being started from this
/// dashboard, else one that ended within the last minute.
pub fn panel_view(app: &App) -> Option<PanelView<'_>> {
    let snapshot = app.deploys.data.as_ref();
    if let Some(d) = snapshot.and_then(DeploySnapshot::running_deployment) {
        return Some(PanelView::Deployment(d));
    }
    if let Some(s) = app.deploy_starting.as_ref().filter(|s| !s.expired(app.now)) {
        return Some(PanelView::Starting(s));
    }
    snapshot
        .and_then(|s| s.panel_deployment(app.now))
        .map(PanelView::Deployment)
}

/// Header text for deploys: who deploys now, or what was deployed when and by whom.
pub fn header_spans(app: &App, theme: Theme) -> Vec<Span<'static>> {
    let Some(s) = app.deploys.data.as_ref() else {
        return vec![];
    };
    if let Some(d) = s.running_deployment() {
        let step = d
            .steps
            .iter()
            .rev()
            .find(|st| st.status != "skipped")
            .map_or_else(|| "starting".to_string(), |st| st.name.clone());
        return vec![Span::styled(
            format!(
                "· DEPLOYING {} by {} ({step}) ",
                d.to.tag_str().unwrap_or("?"),
                who(d)
            ),
            theme.warn().add_modifier(Modifier::BOLD),
        )];
    }
    if let Some(st) = app.deploy_starting.as_ref().filter(|s| !s.expired(app.now)) {
        return vec![Span::styled(
            format!("· STARTING {} {}… ", st.kind.as_str(), st.target),
            theme.warn().add_modifier(Modifier::BOLD),
        )];
    }
    if let LockState::Stale { .. } = s.lock {
        return vec![Span::styled("· deploy lock STALE ", theme.bad())];
    }
    match s.last_success() {
        Some(d) => vec![Span::styled(
            format!(
                "· deployed {} ago by {} ",
                age(d.finished_at.unwrap_or(d.started_at), app.now),
                who(d)
            ),
            theme.dim(),
        )],
        None => vec![Span::styled("· deployed: no history yet ", theme.dim())],
    }
}

/// `main-<40 hex>` is unreadable in a title: keep the prefix and a short SHA.
pub(crate) fn short_tag(tag: &str) -> String {
    if tag.chars().count() <= 20 {
        tag.to_string()
    } else {
        format!("{}…", tag.chars().take(19).collect::<String>())
    }
}

/// A deployment's side by tag; "unknown" when the deploy ended before it could tell.
pub(crate) fn side_label(s: &crate::store::ImageSide) -> String {
    s.tag_str()
        .map(str::to_string)
        .or_else(|| s.image.as_deref().map(tag_of_image))
        .unwrap_or_else(|| "unknown".into())
}

pub(crate) fn who(d: &Deployment) -> String {
    match &d.actor.ssh_client {
        Some(a) => format!("{}@{a}", d.actor.user),
        None => d.actor.user.clone(),
    }
}

pub(crate) fn status_style(theme: Theme, status: DeployStatus) -> Style {
    match status {
        DeployStatus::Succeeded => theme.good(),
        DeployStatus::Running | DeployStatus::Skipped => theme.accent(),
        DeployStatus::RolledBack | DeployStatus::Cancelled => theme.warn(),
        _ => theme.bad(),
    }
}

/// Height the deploy panel wants (steps, progress and borders). The `switch` step has a row
/// only in a start-first deploy, which has one line less of progress room.
pub const PANEL_HEIGHT: u16 = STEPS.len() as u16 + 2;

/// Whether a step has a row: `switch` only where the deploy is start-first (a stop-first one
/// says its strategy in the title instead).
fn shown(name: &str, strategy: Option<&str>) -> bool {
    name != "switch" || strategy == Some("start-first")
}

pub fn draw_panel(frame: &mut Frame, app: &App, view: PanelView<'_>, area: Rect) {
    match view {
        PanelView::Starting(s) => draw_starting_panel(frame, app, s, area),
        PanelView::Deployment(d) => draw_deploy_panel(frame, app, d, area),
    }
}

/// From the confirmation until the detached process has recorded its deployment.
pub(crate) fn draw_starting_panel(frame: &mut Frame, app: &App, s: &Starting, area: Rect) {
    let theme = Theme::new(app.color);
    let waited = (app.now - s.since).num_seconds().max(0);
    let title = Line::from(vec![
        Span::styled(" Deploy ", Style::default().add_modifier(Modifier::BOLD)),
        Span::styled("starting… ", theme.accent()),
        Span::raw(format!("{} {} ", s.kind.as_str(), s.target)),
    ]);
    let mut lines = vec![Line::from(Span::raw(format!(
        " elt-console {} {} started at {}; waiting for it to take the deploy lock",
        s.kind.as_str(),
        s.target,
        s.since.format("%H:%M:%S UTC")
    )))];
    if waited >= STARTING_PATIENCE_S {
        lines.push(Line::from(Span::styled(
            format!(
                " no deployment recorded after {waited} s: it may have been refused or failed; see `elt-console lock status` and its output"
            ),
            theme.bad(),
        )));
    }
    if let Some(log) = &s.log {
        lines.push(Line::from(Span::styled(
            format!(" output: {log}"),
            theme.dim(),
        )));
    }
    for name in STEPS.iter().filter(|n| shown(n, None)) {
        lines.push(Line::from(vec![
            Span::styled(" · ", theme.dim()),
            Span::raw(format!("{name:<10}")),
        ]));
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}

/// The live steps of the deploy in progress (or the one that just ended).
pub fn draw_deploy_panel(frame: &mut Frame, app: &App, d: &Deployment, area: Rect) {
    let theme = Theme::new(app.color);
    // The deploy's progress through the engine's own events, replayed from the store.
    let live = Followed::from_store(d);
    let took = match d.finished_at {
        Some(f) => (f - d.started_at).num_milliseconds(),
        None => (app.now - d.started_at).num_milliseconds(),
    }
    .max(0) as u64;
    let title = Line::from(vec![
        Span::styled(
            format!(" Deploy #{} ", d.id),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            format!("{} ", live.status.as_str()),
            status_style(theme, live.status),
        ),
        Span::raw(format!(
            "{} {} -> {}{} · by {} · {} ",
            d.kind.as_str(),
            short_tag(&side_label(&live.from)),
            short_tag(&side_label(&live.to)),
            live.strategy
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default(),
            who(d),
            fmt_ms(took)
        )),
        Span::styled(
            format!("{} ", live.status.as_str()),
            status_style(theme, live.status),
        ),
    ]);
    let ended = d.finished_at.is_some();
    // When a failed step is followed by the automatic rollback, how the deploy ended and why
    // goes right under that step, before the rollback's own line.
    let failed_then_rollback = live
        .steps
        .iter()
        .find(|s| s.state == StepState::Failed)
        .filter(|f| {
            live.steps
                .iter()
                .any(|s| s.name == "rollback" && s.seq > f.seq && s.state != StepState::Skipped)
        });
    let mut error_shown = false;
    let mut lines: Vec<Line> = Vec::new();
    for (i, name) in STEPS.iter().enumerate() {
        if !shown(name, live.strategy.as_deref()) {
            continue;
        }
        let rec = live.step(i as u32 + 1);
        let (glyph, style) = match rec.map(|r| r.state) {
            Some(StepState::Ok) => ("✔", theme.good()),
            Some(StepState::Failed) => ("✖", theme.bad()),
            Some(StepState::Running) => ("●", theme.accent()),
            Some(StepState::Warning) => ("!", theme.warn()),
            Some(StepState::Skipped) => ("–", theme.dim()),
            // A deploy that ended (its process died, say) never runs its missing steps.
            None if ended => ("–", theme.dim()),
            None => ("·", theme.dim()),
        };
        let mut spans = vec![
            Span::styled(format!(" {glyph} "), style),
            Span::raw(format!("{name:<10}")),
            Span::styled(
                format!(
                    "{:>8}  ",
                    rec.and_then(|r| r.duration_ms)
                        .filter(|_| rec.is_some_and(|r| r.state != StepState::Skipped))
                        .map(fmt_ms)
                        .unwrap_or_default()
                ),
                theme.dim(),
            ),
        ];
        let running_here = rec.is_some_and(|r| r.state == StepState::Running);
        let text = match rec {
            Some(_) if running_here => live.progress.clone().unwrap_or_default(),
            Some(r) => r.summary.clone(),
            None if ended => "not run: the deploy ended".to_string(),
            None => String::new(),
        };
        spans.push(Span::raw(text));
        lines.push(Line::from(spans));
        if let (Some(f), Some(e)) = (failed_then_rollback, &live.error)
            && f.seq as usize == i + 1
        {
            lines.push(Line::from(Span::styled(
                format!("   ↳ deploy failed: {e}"),
                theme.bad(),
            )));
            error_shown = true;
        }
    }
    match (&live.error, live.downtime_ms) {
        (Some(e), _) if !error_shown => {
            lines.push(Line::from(Span::styled(format!(" {e}"), theme.bad())));
        }
        (_, Some(ms)) => lines.push(Line::from(Span::styled(
            if live.status == DeployStatus::Succeeded {
                format!(" downtime {}", fmt_ms(ms))
            } else {
                format!(" {}: users' outage {}", live.status.as_str(), fmt_ms(ms))
            },
            if live.status == DeployStatus::Succeeded {
                theme.good()
            } else {
                theme.warn()
            },
        ))),
        _ => {}
    }
    // On a short panel keep the step in progress in view.
    let inner = area.height.saturating_sub(2) as usize;
    let current = live
        .steps
        .iter()
        .filter(|s| s.state != StepState::Skipped)
        .map(|s| s.seq as usize)
        .max()
        .unwrap_or(1);
    // Once it ended, its last lines (the outcome) matter most.
    let current = if ended { lines.len() } else { current };
    let skip = current
        .saturating_sub(inner.max(1))
        .min(lines.len().saturating_sub(inner));
    let shown: Vec<Line> = lines.into_iter().skip(skip).collect();
    // One line per step, cut at the edge: the step list must stay readable at a glance.
    frame.render_widget(
        Paragraph::new(shown).block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}
