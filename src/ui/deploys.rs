//! Deploys in the dashboard: what the store says (a deploy in progress from any operator, the
//! recent history, the lock), the confirmation dialog, the live deploy panel and the history
//! view. The engine itself runs as a detached `elt-console deploy` process, so a dropped SSH
//! connection never stops it halfway; this side only reads the store.

use super::app::App;
use super::draw::{Theme, centered};
use crate::deploy::follow::Followed;
use crate::deploy::previous::{Previous, previous_version};
use crate::deploy::{STEPS, StepState, fmt_ms, short};
use crate::domain::{CommitSha, ContainerState, ContainerView, TagView};
use crate::format::age;
use crate::store::{DeployKind, DeployStatus, Deployment, ImageSide, LockState};
use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};

/// One read of the store.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploySnapshot {
    pub running: Option<Deployment>,
    /// Newest first.
    pub recent: Vec<Deployment>,
    pub lock: LockState,
}

impl DeploySnapshot {
    pub fn empty() -> Self {
        Self {
            running: None,
            recent: Vec::new(),
            lock: LockState::Free,
        }
    }

    /// The latest deployment that succeeded (what the header calls "deployed").
    pub fn last_success(&self) -> Option<&Deployment> {
        self.recent
            .iter()
            .find(|d| d.status == DeployStatus::Succeeded)
    }

    /// Tags that were deployed successfully at some point, with when.
    pub fn deployed_at(&self, tag: &str) -> Option<DateTime<Utc>> {
        self.recent
            .iter()
            .filter(|d| d.status == DeployStatus::Succeeded && d.to.tag_str() == Some(tag))
            .map(|d| d.finished_at.unwrap_or(d.started_at))
            .max()
    }

    /// The deploy to show in the deploy panel: one in progress, or one that ended within
    /// the last minute. An automatic rollback is shown as the deploy it undoes: that row holds
    /// the failed step, why, and the rollback's progress.
    pub fn panel_deployment(&self, now: DateTime<Utc>) -> Option<&Deployment> {
        self.running_deployment().or_else(|| {
            self.recent
                .first()
                .filter(|d| d.finished_at.is_some_and(|f| (now - f).num_seconds() < 60))
                .map(|d| self.parent_of(d).unwrap_or(d))
        })
    }

    /// The deploy in progress, as an operator started it (an automatic rollback's parent).
    pub fn running_deployment(&self) -> Option<&Deployment> {
        self.running
            .as_ref()
            .map(|d| self.parent_of(d).unwrap_or(d))
    }

    fn parent_of(&self, d: &Deployment) -> Option<&Deployment> {
        if d.kind != DeployKind::AutoRollback {
            return None;
        }
        let parent = d.parent_id?;
        self.recent.iter().find(|p| p.id == parent)
    }
}

/// A deploy confirmed in the dashboard whose detached process has not recorded its row yet
/// (it starts, connects and takes the lock first): the panel says "starting" meanwhile.
#[derive(Debug, Clone, PartialEq)]
pub struct Starting {
    pub kind: DeployKind,
    pub target: String,
    pub since: DateTime<Utc>,
    /// The newest deployment known at the confirmation: a newer row is this deploy's.
    pub after_id: Option<i64>,
    /// The detached process's output file, once it was started.
    pub log: Option<String>,
}

/// How long the panel waits for the detached deploy's row before it says something is wrong.
const STARTING_PATIENCE_S: i64 = 30;

impl Starting {
    pub fn new(c: &ConfirmDeploy, snapshot: Option<&DeploySnapshot>, now: DateTime<Utc>) -> Self {
        Self {
            kind: c.kind,
            target: c.target(),
            since: now,
            after_id: snapshot.and_then(|s| s.recent.first()).map(|d| d.id),
            log: None,
        }
    }

    /// Past its patience and then as long again: the process was refused (its audit says why)
    /// or died before recording anything; the dashboard stops waiting for it.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        (now - self.since).num_seconds() >= 2 * STARTING_PATIENCE_S
    }

    /// The store now holds this deploy (or another one runs): "starting" has ended.
    pub fn ended_by(&self, snapshot: &DeploySnapshot) -> bool {
        snapshot.running.is_some() || snapshot.recent.first().map(|d| d.id) > self.after_id
    }
}

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

/// What the confirmation dialog offers. Only `Enter` on the Deploy button sends it on.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfirmDeploy {
    pub kind: DeployKind,
    pub tag: Option<String>,
    pub previous: bool,
    pub title: String,
    pub rows: Vec<(String, String)>,
    pub warning: Option<String>,
    /// False (Cancel) until the operator moves to the Deploy button.
    pub confirm_selected: bool,
    /// Only this service moves (`--service`); None: every service of the deployment.
    pub service: Option<String>,
    /// "What am I deploying?": the commits GitHub is asked for (compare.rs); their rows replace
    /// the `commits` row when the answer comes.
    pub compare: Option<Box<crate::compare::Ask>>,
    pub compare_asked: bool,
}

/// The running side and the `commits` row that waits for GitHub's answer.
fn compare_ask(
    kind: DeployKind,
    service: &str,
    running: Option<&ContainerView>,
    target: ImageSide,
    older: Option<bool>,
) -> (Option<Box<crate::compare::Ask>>, (String, String)) {
    let Some(c) = running else {
        return (
            None,
            ("commits".into(), "nothing runs to compare with".into()),
        );
    };
    let ask = crate::compare::Ask {
        kind,
        service: service.to_string(),
        running: ImageSide {
            image: Some(c.image.clone()),
            sha: c.revision.as_deref().and_then(|r| CommitSha::parse(r).ok()),
            created: c.image_created.clone(),
            ..ImageSide::default()
        },
        target,
        older,
    };
    (
        Some(Box::new(ask)),
        ("commits".into(), "asking GitHub…".into()),
    )
}

impl ConfirmDeploy {
    pub fn target(&self) -> String {
        self.tag
            .clone()
            .unwrap_or_else(|| "the previous version".into())
    }
}

fn running_app(app: &App) -> Option<&ContainerView> {
    let list = app.containers.data.as_ref()?;
    // With several services, the one selected in the tags panel (what `d`/`R` move).
    let only = app.tag_service();
    app.services
        .iter()
        .filter(|s| only.is_none_or(|o| o == s.as_str()))
        .find_map(|s| {
            list.iter()
                .find(|c| !c.oneoff && &c.service == s && c.state == ContainerState::Running)
        })
}

fn when(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    t.map_or("-".into(), |t| {
        format!("{} ({} ago)", t.format("%Y-%m-%d %H:%M UTC"), age(t, now))
    })
}

fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn tag_of_image(image: &str) -> String {
    crate::domain::ImageRef::parse(image)
        .ok()
        .and_then(|r| r.tag)
        .map_or_else(|| image.to_string(), |t| t.to_string())
}

/// `only`: the one service that moves (`--service`), else every configured one.
fn steps_line(app: &App, rollback: bool, only: Option<&str>) -> String {
    format!(
        "pull · backup{} · recreate {} · wait healthy{}",
        if rollback { "" } else { " · migrate" },
        only.map_or_else(|| app.services.join(", "), str::to_string),
        if rollback {
            " (a rollback is not rolled back in turn)"
        } else {
            " · roll back automatically if it fails"
        }
    )
}

/// The dialog for deploying the selected tag.
pub fn confirm_tag(app: &App, service: &str, t: &TagView) -> ConfirmDeploy {
    let now = app.now;
    let from = running_app(app);
    let from_created = from.and_then(|c| parse_time(c.image_created.as_deref()));
    let mut rows = vec![(
        "from".to_string(),
        match from {
            Some(c) => format!(
                "{}  {}  built {}",
                tag_of_image(&c.image),
                c.revision.as_deref().map(short).unwrap_or("-"),
                when(from_created, now)
            ),
            None => "nothing running".into(),
        },
    )];
    rows.push((
        "to".into(),
        format!(
            "{}  {}  built {}",
            t.tag,
            t.revision.as_ref().map_or("-", |r| r.short()),
            when(t.created, now)
        ),
    ));
    let older = match (from_created, t.created) {
        (Some(f), Some(to)) => Some(to < f),
        _ => None,
    };
    let (compare, commits_row) = compare_ask(
        DeployKind::Deploy,
        service,
        from,
        ImageSide {
            tag: Some(t.tag.clone()),
            sha: t.revision.clone(),
            created: t.created.map(|c| c.to_rfc3339()),
            ..ImageSide::default()
        },
        older,
    );
    rows.push(commits_row);
    rows.push((
        "CI".into(),
        t.ci.clone()
            .unwrap_or_else(|| "unknown (no run for this commit)".into()),
    ));
    rows.push(("service".into(), service.to_string()));
    // The tags panel's selected service moves alone; a tag offered for the whole deployment
    // (a run's image, `service` naming them all) moves every service.
    let only = app.tag_service().filter(|s| *s == service);
    rows.push(("steps".into(), steps_line(app, false, only)));
    let mut warnings = Vec::new();
    if let (Some(f), Some(to)) = (from_created, t.created)
        && to < f
    {
        warnings.push("the target is OLDER than what runs now".to_string());
    }
    if t.running {
        warnings.push("this tag already runs: the deploy will stop at the compare step".into());
    }
    if t.ci.as_deref().is_some_and(|c| c != "success") {
        warnings.push(format!(
            "its CI result is {}",
            t.ci.as_deref().unwrap_or("?")
        ));
    }
    ConfirmDeploy {
        kind: DeployKind::Deploy,
        tag: Some(t.tag.to_string()),
        previous: false,
        title: format!("Deploy {} to {}?", t.tag, service),
        rows,
        warning: (!warnings.is_empty()).then(|| warnings.join("; ")),
        confirm_selected: false,
        service: only.map(str::to_string),
        compare,
        compare_asked: false,
    }
}

/// What `R` and `rollback --previous` go back to (the same function as the engine's).
pub fn previous_for<'a>(app: &App, snapshot: &'a DeploySnapshot) -> Option<Previous<'a>> {
    let running = running_app(app);
    let service = running
        .map(|c| c.service.as_str())
        .or(app.tag_service())
        .or(app.services.first().map(String::as_str))?;
    previous_version(
        &snapshot.recent,
        service,
        running.map(|c| c.image_id.as_str()),
    )
}

/// The dialog for rolling back to the tag selected in the tags panel: a rollback, so no
/// migration runs (`d` deploys the same tag with its migration).
pub fn confirm_rollback_to(app: &App, service: &str, t: &TagView) -> ConfirmDeploy {
    let mut c = confirm_tag(app, service, t);
    let from_created = running_app(app).and_then(|r| parse_time(r.image_created.as_deref()));
    c.kind = DeployKind::Rollback;
    if let Some(ask) = &mut c.compare {
        ask.kind = DeployKind::Rollback;
    }
    c.title = format!("Roll back {service} to {}?", t.tag);
    for (k, v) in &mut c.rows {
        if k == "steps" {
            *v = steps_line(app, true, c.service.as_deref());
        }
    }
    c.rows.push((
        "migration".into(),
        "none: a rollback runs no migration (d deploys this tag with its migration)".into(),
    ));
    let mut warnings: Vec<String> = c
        .warning
        .take()
        .map(|w| {
            w.split("; ")
                .filter(|p| !p.starts_with("the target is OLDER"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if let (Some(f), Some(to)) = (from_created, t.created)
        && to > f
    {
        warnings.insert(
            0,
            "the target is NEWER than what runs now: its migrations have not run".to_string(),
        );
    }
    c.warning = (!warnings.is_empty()).then(|| warnings.join("; "));
    c
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
        let cursor = if app.selected(super::app::Panel::Tags) == row {
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

/// The dialog for rolling back to what ran before the current version.
pub fn confirm_rollback(app: &App) -> Result<ConfirmDeploy, String> {
    let now = app.now;
    let snapshot = app
        .deploys
        .data
        .as_ref()
        .ok_or("deploy history not loaded yet")?;
    let running = running_app(app);
    let prev = previous_for(app, snapshot)
        .ok_or("no previous version recorded to roll back to (use `elt-console rollback TAG`)")?;
    let target = prev.side;
    let prev = prev.deployment;
    let mut rows = vec![(
        "from".to_string(),
        match running {
            Some(c) => format!(
                "{}  {}",
                tag_of_image(&c.image),
                c.revision.as_deref().map(short).unwrap_or("-")
            ),
            None => "nothing running".into(),
        },
    )];
    rows.push((
        "to".into(),
        format!(
            "{}  {}  built {}",
            target
                .tag_str()
                .map(str::to_string)
                .or_else(|| target.image.as_deref().map(tag_of_image))
                .unwrap_or_else(|| "?".into()),
            target.sha_str().map(short).unwrap_or("-"),
            when(parse_time(target.created.as_deref()), now)
        ),
    ));
    let (compare, commits_row) = compare_ask(
        DeployKind::Rollback,
        running
            .map(|c| c.service.as_str())
            .or(app.services.first().map(String::as_str))
            .unwrap_or_default(),
        running,
        target.clone(),
        None,
    );
    rows.push(commits_row);
    // Either the version a deployment replaced, or the one it deployed.
    let replaced = std::ptr::eq(target, &prev.from);
    rows.push((
        if replaced { "ran until" } else { "deployed by" }.into(),
        format!(
            "deployment #{} by {} ({})",
            prev.id,
            prev.actor.user,
            when(
                if replaced {
                    Some(prev.started_at)
                } else {
                    prev.finished_at
                },
                now
            )
        ),
    ));
    rows.push((
        "why".into(),
        "the last version that ran healthy before what runs now; a rollback runs no migration"
            .into(),
    ));
    rows.push(("steps".into(), steps_line(app, true, app.tag_service())));
    Ok(ConfirmDeploy {
        kind: DeployKind::Rollback,
        tag: None,
        previous: true,
        title: match app.tag_service() {
            Some(s) => format!("Roll back {s} to the previous version?"),
            None => "Roll back to the previous version?".into(),
        },
        rows,
        warning: None,
        confirm_selected: false,
        service: app.tag_service().map(str::to_string),
        compare,
        compare_asked: false,
    })
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
fn short_tag(tag: &str) -> String {
    if tag.chars().count() <= 20 {
        tag.to_string()
    } else {
        format!("{}…", tag.chars().take(19).collect::<String>())
    }
}

/// A deployment's side by tag; "unknown" when the deploy ended before it could tell.
fn side_label(s: &crate::store::ImageSide) -> String {
    s.tag_str()
        .map(str::to_string)
        .or_else(|| s.image.as_deref().map(tag_of_image))
        .unwrap_or_else(|| "unknown".into())
}

fn who(d: &Deployment) -> String {
    match &d.actor.ssh_client {
        Some(a) => format!("{}@{a}", d.actor.user),
        None => d.actor.user.clone(),
    }
}

fn status_style(theme: Theme, status: DeployStatus) -> Style {
    match status {
        DeployStatus::Succeeded => theme.good(),
        DeployStatus::Running | DeployStatus::Skipped => theme.accent(),
        DeployStatus::RolledBack | DeployStatus::Cancelled => theme.warn(),
        _ => theme.bad(),
    }
}

/// Height the deploy panel wants (steps, progress and borders).
pub const PANEL_HEIGHT: u16 = STEPS.len() as u16 + 3;

pub fn draw_panel(frame: &mut Frame, app: &App, view: PanelView<'_>, area: Rect) {
    match view {
        PanelView::Starting(s) => draw_starting_panel(frame, app, s, area),
        PanelView::Deployment(d) => draw_deploy_panel(frame, app, d, area),
    }
}

/// From the confirmation until the detached process has recorded its deployment.
fn draw_starting_panel(frame: &mut Frame, app: &App, s: &Starting, area: Rect) {
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
    for name in STEPS {
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
            "{} {} -> {} · by {} · {} ",
            d.kind.as_str(),
            short_tag(&side_label(&live.from)),
            short_tag(&side_label(&live.to)),
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

pub fn draw_confirm(frame: &mut Frame, app: &App, area: Rect, c: &ConfirmDeploy) {
    let theme = Theme::new(app.color);
    // Rows wrap on narrow terminals: size the dialog for the wrapped text so the buttons
    // always show.
    let inner = (100u16.min(area.width.saturating_sub(4)))
        .saturating_sub(2)
        .max(20) as usize;
    let wrapped = |text_len: usize| text_len.div_ceil(inner).max(1) as u16;
    let body: u16 = c
        .rows
        .iter()
        .map(|(_, v)| wrapped(12 + v.chars().count()))
        .sum::<u16>()
        + c.warning
            .as_ref()
            .map_or(0, |w| wrapped(12 + w.chars().count()));
    let popup = centered(area, 100, body + 4);
    frame.render_widget(Clear, popup);
    let mut lines: Vec<Line> = c
        .rows
        .iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(
                    format!("{k:>10}  "),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Span::raw(v.clone()),
            ])
        })
        .collect();
    if let Some(w) = &c.warning {
        lines.push(Line::from(Span::styled(
            format!("   warning  {w}"),
            theme.warn(),
        )));
    }
    lines.push(Line::raw(""));
    let button = |label: &str, on: bool| {
        if on {
            Span::styled(
                format!("[ {label} ]"),
                Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            )
        } else {
            Span::raw(format!("[ {label} ]"))
        }
    };
    let action = match c.kind {
        DeployKind::Rollback => "Roll back",
        _ => "Deploy",
    };
    lines.push(Line::from(vec![
        Span::raw("            "),
        button("Cancel", !c.confirm_selected),
        Span::raw("   "),
        button(action, c.confirm_selected),
    ]));
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default().borders(Borders::ALL).title(format!(
                " {} (tab/←/→ choose, enter confirms the highlighted button, esc cancels) ",
                c.title
            )),
        ),
        popup,
    );
}

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
