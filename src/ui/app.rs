//! Dashboard state and the one function that changes it. `update` does no I/O and never
//! awaits: it folds a message into the state and returns the effects for the loop to carry out.

use super::deploys::{ConfirmDeploy, DeploySnapshot};
use super::logs::{LogView, StreamState};
use super::sanitize::StyledLine;
use crate::domain::{ContainerState, ContainerView, GpuStatus, HealthResult, RateLimit, RunView};
use crate::keymap::{Action, Keymap, Scope};
use crate::sources::docker::DockerUpdate;
use crate::status::RepoTags;
use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use std::collections::{HashMap, VecDeque};

/// GPU history kept for sparklines: one sample a second for five minutes.
pub const GPU_HISTORY: usize = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Panel {
    Containers,
    Gpu,
    Health,
    Runs,
    Tags,
    Logs,
}

impl Panel {
    pub const ORDER: [Panel; 6] = [
        Panel::Containers,
        Panel::Gpu,
        Panel::Health,
        Panel::Runs,
        Panel::Tags,
        Panel::Logs,
    ];
    pub fn title(self) -> &'static str {
        match self {
            Panel::Containers => "Containers",
            Panel::Gpu => "GPU",
            Panel::Health => "Health",
            Panel::Runs => "Actions runs",
            Panel::Tags => "Tags",
            Panel::Logs => "Logs",
        }
    }
    fn index(self) -> usize {
        Panel::ORDER.iter().position(|p| *p == self).unwrap_or(0)
    }
}

/// A source's data with its freshness: never loaded, loaded at a time, or failing since a
/// time while the last good data stays on screen.
#[derive(Debug, Clone)]
pub struct Fresh<T> {
    pub data: Option<T>,
    pub loaded_at: Option<DateTime<Utc>>,
    pub error: Option<(String, DateTime<Utc>)>,
}

impl<T> Default for Fresh<T> {
    fn default() -> Self {
        Self {
            data: None,
            loaded_at: None,
            error: None,
        }
    }
}

impl<T> Fresh<T> {
    pub fn set(&mut self, data: T, now: DateTime<Utc>) {
        self.data = Some(data);
        self.loaded_at = Some(now);
        self.error = None;
    }
    pub fn fail(&mut self, error: String, now: DateTime<Utc>) {
        // Keep the time the failure started, so the panel can say "failing for 5m".
        let since = match &self.error {
            Some((_, since)) => *since,
            None => now,
        };
        self.error = Some((error, since));
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    None,
    Help {
        scroll: u16,
    },
    Details {
        title: String,
        rows: Vec<(String, String)>,
    },
    Command(String),
    Search(String),
    /// Deploy or rollback, waiting for the operator's explicit yes (default Cancel).
    Confirm(ConfirmDeploy),
    History {
        scroll: u16,
    },
    /// A run's jobs and steps (github_ui).
    RunJobs(Box<super::github_ui::RunJobsView>),
    /// The workflow_dispatch form and its confirmation (github_ui).
    Dispatch(Box<super::github_ui::DispatchForm>),
}

#[derive(Debug, Clone)]
pub struct RunsData {
    pub runs: Vec<RunView>,
    pub token: String,
}

/// Everything that can happen, from the terminal, a source, or the clock.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    Tick,
    Docker(DockerUpdate),
    Health(Vec<HealthResult>),
    Gpu(GpuStatus),
    Runs(Result<(Vec<RunView>, RateLimit, String), String>),
    Tags(Result<Vec<RepoTags>, String>),
    LogLines {
        container_id: String,
        lines: Vec<(Option<String>, bool, StyledLine)>,
    },
    LogEnded {
        container_id: String,
        reason: String,
    },
    /// The followed container runs again and its stream goes on. `what` happened at `at`:
    /// "container restarted", "container started" (it had never run) or "log stream resumed"
    /// (the stream alone was cut).
    LogResumed {
        container_id: String,
        what: &'static str,
        at: DateTime<Utc>,
    },
    Saved(Result<String, String>),
    /// A fresh read of the deploy store.
    Deploys(Box<Result<DeploySnapshot, String>>),
    /// The detached deploy process was started (its log file) or could not be.
    DeployStarted(Result<String, String>),
    Github(super::github_ui::GithubMsg),
    /// GitHub's answer for a confirm dialog: the rows that replace its `commits` row.
    Commits {
        ask: Box<crate::compare::Ask>,
        rows: Vec<(String, String)>,
    },
}

impl Msg {
    /// A short name of the message's kind, for the loop's counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Msg::Key(_) => "key",
            Msg::Mouse(_) => "mouse",
            Msg::Resize(..) => "resize",
            Msg::Tick => "tick",
            Msg::Docker(_) => "docker",
            Msg::Health(_) => "health",
            Msg::Gpu(_) => "gpu",
            Msg::Runs(_) => "runs",
            Msg::Tags(_) => "tags",
            Msg::LogLines { .. } => "log_lines",
            Msg::LogEnded { .. } => "log_ended",
            Msg::LogResumed { .. } => "log_resumed",
            Msg::Saved(_) => "saved",
            Msg::Commits { .. } => "commits",
            Msg::Deploys(_) => "deploys",
            Msg::DeployStarted(_) => "deploy_started",
            Msg::Github(_) => "github",
        }
    }
}

/// What the loop must do after an update.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Quit,
    FollowLogs {
        container_id: String,
        tail: u32,
    },
    SaveLogs {
        container: String,
        text: String,
    },
    ClearAndRedraw,
    SetMouse(bool),
    RefreshRemote,
    GpuVisible(bool),
    /// Start the engine as its own detached process (confirmed by the operator).
    StartDeploy {
        kind: crate::store::DeployKind,
        tag: Option<String>,
        previous: bool,
    },
    /// The same, moving only `service` (`deploy --service`): the tags panel's selected
    /// service in a deployment of several.
    StartServiceDeploy {
        kind: crate::store::DeployKind,
        tag: Option<String>,
        previous: bool,
        service: String,
    },
    /// Record a refused or declined action in the store's audit.
    Audit {
        action: String,
        target: String,
        outcome: String,
        detail: String,
    },
    Github(super::github_ui::GithubEffect),
    /// Ask GitHub which commits the confirm dialog's move brings or undoes.
    CompareCommits(Box<crate::compare::Ask>),
}

pub struct App {
    pub keymap: Keymap,
    pub host: String,
    pub project: String,
    pub services: Vec<String>,
    pub read_only: bool,
    pub log_tail: u32,
    pub focus: Panel,
    pub selected: HashMap<Panel, usize>,
    pub containers: Fresh<Vec<ContainerView>>,
    pub health: Fresh<Vec<HealthResult>>,
    /// Per endpoint: whether it is ok and since when it has been so.
    pub health_since: HashMap<String, (bool, DateTime<Utc>)>,
    pub gpu: Fresh<GpuStatus>,
    /// Per device index: (utilisation %, VRAM used %) history.
    pub gpu_history: HashMap<u32, VecDeque<(u64, u64)>>,
    pub runs: Fresh<RunsData>,
    pub rate: RateLimit,
    pub github: super::github_ui::GithubUi,
    pub tags: Fresh<Vec<RepoTags>>,
    /// With several services' tags: whose the tags panel shows, and what `d`/`R` move
    /// (an index into the tags data, wrapped).
    pub tags_service: usize,
    pub deploys: Fresh<DeploySnapshot>,
    /// A deploy confirmed here whose process has not recorded its deployment yet.
    pub deploy_starting: Option<super::deploys::Starting>,
    pub logs: LogView,
    pub overlay: Overlay,
    pub message: Option<(String, DateTime<Utc>)>,
    pub size: (u16, u16),
    pub mouse: bool,
    /// False under NO_COLOR: meaning is then carried by glyphs and text alone.
    pub color: bool,
    pub now: DateTime<Utc>,
}

pub struct AppSettings {
    pub keymap: Keymap,
    pub host: String,
    pub project: String,
    pub services: Vec<String>,
    pub read_only: bool,
    pub mouse: bool,
    pub log_tail: u32,
    pub log_ring: usize,
    pub color: bool,
}

impl App {
    pub fn new(s: AppSettings, now: DateTime<Utc>) -> Self {
        Self {
            keymap: s.keymap,
            host: s.host,
            project: s.project,
            services: s.services,
            read_only: s.read_only,
            log_tail: s.log_tail,
            focus: Panel::Containers,
            selected: HashMap::new(),
            containers: Fresh::default(),
            health: Fresh::default(),
            health_since: HashMap::new(),
            gpu: Fresh::default(),
            gpu_history: HashMap::new(),
            runs: Fresh::default(),
            rate: RateLimit::default(),
            github: Default::default(),
            tags: Fresh::default(),
            tags_service: 0,
            deploys: Fresh::default(),
            deploy_starting: None,
            logs: LogView::new(s.log_ring),
            overlay: Overlay::None,
            message: None,
            size: (80, 24),
            mouse: s.mouse,
            color: s.color,
            now,
        }
    }

    pub fn selected(&self, panel: Panel) -> usize {
        self.selected.get(&panel).copied().unwrap_or(0)
    }

    fn rows(&self, panel: Panel) -> usize {
        match panel {
            Panel::Containers => self.containers.data.as_ref().map_or(0, Vec::len),
            Panel::Health => self.health.data.as_ref().map_or(0, Vec::len),
            Panel::Runs => self.runs.data.as_ref().map_or(0, |r| r.runs.len()),
            Panel::Tags => self.tag_rows().len(),
            Panel::Gpu => match &self.gpu.data {
                Some(GpuStatus::Available { devices, .. }) => devices.len(),
                _ => 0,
            },
            Panel::Logs => 0,
        }
    }

    /// Tags of every repository, flattened in display order; with several services, only
    /// the selected service's (`tag_service`).
    pub fn tag_rows(&self) -> Vec<(&str, &crate::domain::TagView)> {
        let only = self.tag_service();
        self.tags
            .data
            .iter()
            .flatten()
            .filter(|r| only.is_none_or(|s| s == r.service))
            .flat_map(|r| r.tags.iter().map(move |t| (r.service.as_str(), t)))
            .collect()
    }

    /// The service the tags panel shows and `d`/`R` move, when there are several (a
    /// deployment of several images); None with one, where they move the whole deployment.
    pub fn tag_service(&self) -> Option<&str> {
        let repos = self.tags.data.as_ref().filter(|r| r.len() > 1)?;
        repos
            .get(self.tags_service % repos.len())
            .map(|r| r.service.as_str())
    }

    /// The container whose logs should be followed by default: the first deployed service's.
    fn default_log_container(&self) -> Option<&ContainerView> {
        let list = self.containers.data.as_ref()?;
        self.services
            .iter()
            .find_map(|s| list.iter().find(|c| !c.oneoff && &c.service == s))
            .or_else(|| list.first())
    }

    fn log_page(&self) -> i64 {
        (self.size.1 as i64 / 3).max(3)
    }

    fn say(&mut self, text: impl Into<String>) {
        self.message = Some((text.into(), self.now));
    }
}

/// Fold one message into the state. Returns the effects to run, and whether anything on
/// screen may have changed.
pub fn update(app: &mut App, msg: Msg, now: DateTime<Utc>) -> (Vec<Effect>, bool) {
    app.now = now;
    let mut fx = Vec::new();
    let tick = matches!(msg, Msg::Tick);
    let sources_changed = matches!(
        msg,
        Msg::Docker(_) | Msg::Runs(_) | Msg::Tags(_) | Msg::Deploys(_)
    );
    let dirty = match msg {
        Msg::Tick => true,
        Msg::Resize(w, h) => {
            app.size = (w, h);
            // A terminal too small for the layout shows no GPU panel: stop sampling NVML.
            fx.push(Effect::GpuVisible(
                w >= super::draw::MIN_WIDTH && h >= super::draw::MIN_HEIGHT,
            ));
            true
        }
        // Below the smallest layout nothing is on screen to act on: only quit works there.
        Msg::Key(key) if too_small(app) => {
            if app.keymap.action(&key) == Some(Action::Quit) {
                fx.push(Effect::Quit);
            }
            false
        }
        Msg::Mouse(_) if too_small(app) => false,
        Msg::Key(key) => {
            on_key(app, key, &mut fx);
            true
        }
        Msg::Mouse(m) => on_mouse(app, m),
        Msg::Docker(DockerUpdate::Containers(list)) => {
            app.containers.set(list, now);
            reselect_logs(app, &mut fx);
            clamp_selection(app, Panel::Containers);
            true
        }
        Msg::Docker(DockerUpdate::Error(e)) => {
            app.containers.fail(e.to_string(), now);
            true
        }
        Msg::Health(results) => {
            for r in &results {
                let entry = app
                    .health_since
                    .entry(r.name.clone())
                    .or_insert((r.ok, now));
                if entry.0 != r.ok {
                    *entry = (r.ok, now);
                }
            }
            app.health.set(results, now);
            true
        }
        Msg::Gpu(status) => {
            if let GpuStatus::Available { devices, .. } = &status {
                for d in devices {
                    let h = app.gpu_history.entry(d.index).or_default();
                    if h.len() == GPU_HISTORY {
                        h.pop_front();
                    }
                    let mem_pct = match (d.memory_used_bytes, d.memory_total_bytes) {
                        (Some(u), Some(t)) if t > 0 => u * 100 / t,
                        _ => 0,
                    };
                    h.push_back((d.utilization_pct.unwrap_or(0) as u64, mem_pct));
                }
            }
            app.gpu.set(status, now);
            true
        }
        Msg::Runs(Ok((runs, rate, token))) => {
            app.rate = rate;
            app.runs.set(RunsData { runs, token }, now);
            clamp_selection(app, Panel::Runs);
            true
        }
        Msg::Runs(Err(e)) => {
            app.runs.fail(e, now);
            true
        }
        Msg::Tags(Ok(repos)) => {
            app.tags.set(repos, now);
            clamp_selection(app, Panel::Tags);
            true
        }
        Msg::Tags(Err(e)) => {
            app.tags.fail(e, now);
            true
        }
        Msg::LogLines {
            container_id,
            lines,
        } => {
            if app.logs.container_id.as_deref() != Some(container_id.as_str()) {
                return (fx, false); // a late batch from a stream we already left
            }
            app.logs.state = StreamState::Following;
            for (time, stderr, line) in lines {
                app.logs.push(time, stderr, line);
            }
            true
        }
        Msg::LogEnded {
            container_id,
            reason,
        } => {
            if app.logs.container_id.as_deref() == Some(container_id.as_str()) {
                app.logs.state = StreamState::Ended(reason);
            }
            true
        }
        Msg::LogResumed {
            container_id,
            what,
            at,
        } => {
            if app.logs.container_id.as_deref() != Some(container_id.as_str()) {
                return (fx, false);
            }
            app.logs
                .mark(&format!("{what} at {}", at.format("%H:%M:%S UTC")));
            app.logs.state = StreamState::Following;
            true
        }
        Msg::Saved(Ok(path)) => {
            app.say(format!("logs saved to {path}"));
            true
        }
        Msg::Saved(Err(e)) => {
            app.say(format!("could not save logs: {e}"));
            true
        }
        Msg::Deploys(read) => match *read {
            Ok(snapshot) => {
                // Polled often while a deploy runs: a frame only when the store said something new.
                let mut changed =
                    app.deploys.data.as_ref() != Some(&snapshot) || app.deploys.error.is_some();
                if app
                    .deploy_starting
                    .as_ref()
                    .is_some_and(|s| s.ended_by(&snapshot))
                {
                    app.deploy_starting = None;
                    changed = true;
                }
                app.deploys.set(snapshot, now);
                changed
            }
            Err(e) => {
                app.deploys.fail(e, now);
                true
            }
        },
        Msg::DeployStarted(Ok(log)) => {
            if let Some(s) = app.deploy_starting.as_mut() {
                s.log = Some(log.clone());
            }
            app.say(format!(
                "deploy started in the background; its output: {log}"
            ));
            true
        }
        Msg::DeployStarted(Err(e)) => {
            app.deploy_starting = None;
            app.say(format!("could not start the deploy: {e}"));
            true
        }
        Msg::Github(m) => super::github_ui::update(app, m, now, &mut fx),
        Msg::Commits { ask, rows } => match &mut app.overlay {
            Overlay::Confirm(c) if c.compare.as_ref() == Some(&ask) => {
                replace_commit_rows(c, rows);
                true
            }
            _ => false,
        },
    };
    if sources_changed {
        correlate(app);
    }
    // A confirm dialog is open: ask which commits change hands (once, off the loop), at the
    // next tick so that opening it keeps its own effects.
    if tick
        && let Overlay::Confirm(c) = &mut app.overlay
        && !c.compare_asked
        && let Some(ask) = &c.compare
    {
        c.compare_asked = true;
        fx.push(Effect::CompareCommits(ask.clone()));
    }
    (fx, dirty)
}

/// The `commits` row (and the commit rows under it) become GitHub's answer.
fn replace_commit_rows(c: &mut super::deploys::ConfirmDeploy, rows: Vec<(String, String)>) {
    let Some(at) = c.rows.iter().position(|(k, _)| k == "commits") else {
        return;
    };
    let end = c.rows[at + 1..]
        .iter()
        .position(|(k, _)| !k.is_empty())
        .map_or(c.rows.len(), |n| at + 1 + n);
    c.rows.splice(at..end, rows);
}

fn too_small(app: &App) -> bool {
    app.size.0 < super::draw::MIN_WIDTH || app.size.1 < super::draw::MIN_HEIGHT
}

/// Tags learn their CI result and whether they run from the other sources' latest data.
fn correlate(app: &mut App) {
    let (Some(repos), Some(containers)) = (app.tags.data.as_mut(), app.containers.data.as_ref())
    else {
        return;
    };
    let runs = app
        .runs
        .data
        .as_ref()
        .map(|r| r.runs.as_slice())
        .unwrap_or_default();
    crate::status::correlate_tags(containers, runs, repos);
    if let Some(d) = app.deploys.data.as_ref() {
        crate::taghistory::fill_last_deployed(repos, &d.recent);
    }
}

fn clamp_selection(app: &mut App, panel: Panel) {
    let rows = app.rows(panel);
    let sel = app.selected(panel);
    if rows == 0 {
        app.selected.insert(panel, 0);
    } else if sel >= rows {
        app.selected.insert(panel, rows - 1);
    }
}

/// Logs follow the service, not one container: when the followed container is gone (a deploy
/// or `compose up` recreated it), the same service's next container carries on in the same
/// view after a marker line. With nothing followed yet, pick the app's.
fn reselect_logs(app: &mut App, fx: &mut Vec<Effect>) {
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

fn follow(app: &mut App, c: &ContainerView, fx: &mut Vec<Effect>) {
    app.logs.switch_to(c.id.clone(), c.name.clone());
    app.logs.service = c.service.clone();
    app.logs.oneoff = c.oneoff;
    fx.push(Effect::FollowLogs {
        container_id: c.id.clone(),
        tail: app.log_tail,
    });
}

fn on_mouse(app: &mut App, m: MouseEvent) -> bool {
    match m.kind {
        MouseEventKind::ScrollDown => move_selection(app, 3),
        MouseEventKind::ScrollUp => move_selection(app, -3),
        _ => return false,
    }
    true
}

fn move_selection(app: &mut App, delta: i64) {
    if app.focus == Panel::Logs {
        app.logs.scroll(delta);
        return;
    }
    let rows = app.rows(app.focus) as i64;
    if rows == 0 {
        return;
    }
    let sel = (app.selected(app.focus) as i64 + delta).clamp(0, rows - 1);
    app.selected.insert(app.focus, sel as usize);
}

fn on_key(app: &mut App, key: KeyEvent, fx: &mut Vec<Effect>) {
    // Text input (command palette, search) takes every key until Enter or Esc.
    if let Overlay::Command(input) | Overlay::Search(input) = &mut app.overlay {
        match key.code {
            KeyCode::Esc => app.overlay = Overlay::None,
            KeyCode::Backspace => {
                input.pop();
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => input.push(c),
            KeyCode::Enter => {
                let text = input.clone();
                let was_command = matches!(app.overlay, Overlay::Command(_));
                app.overlay = Overlay::None;
                if was_command {
                    run_command(app, text.trim(), fx);
                } else {
                    app.logs.set_search(&text);
                    app.focus = Panel::Logs;
                    let context = app.log_page() as u64;
                    if !text.is_empty() && !app.logs.jump(false, context / 3) {
                        app.say(format!("no match for {text:?}"));
                    }
                }
            }
            _ => {}
        }
        return;
    }
    if let Overlay::Confirm(c) = &mut app.overlay {
        let result = confirm_key(c, key);
        if result != ConfirmResult::Pending
            && let Overlay::Confirm(c) = std::mem::replace(&mut app.overlay, Overlay::None)
        {
            finish_confirm(app, result == ConfirmResult::Confirmed, c, fx);
        }
        return;
    }
    if super::github_ui::on_key(app, key, fx) {
        return;
    }
    let Some(action) = app.keymap.action(&key) else {
        return;
    };
    // Overlays take Back; Help scrolls with movement keys.
    match (&mut app.overlay, action) {
        (
            Overlay::Help { .. } | Overlay::Details { .. } | Overlay::History { .. },
            Action::Back | Action::Help | Action::Open,
        )
        | (Overlay::History { .. }, Action::History) => {
            app.overlay = Overlay::None;
            return;
        }
        (Overlay::History { scroll }, Action::Down) => {
            *scroll = scroll.saturating_add(1);
            return;
        }
        (Overlay::History { scroll }, Action::Up) => {
            *scroll = scroll.saturating_sub(1);
            return;
        }
        (Overlay::History { .. }, a) if a != Action::Quit => return,
        (Overlay::Help { scroll }, Action::Down) => {
            *scroll = scroll.saturating_add(1);
            return;
        }
        (Overlay::Help { scroll }, Action::Up) => {
            *scroll = scroll.saturating_sub(1);
            return;
        }
        (Overlay::Help { .. }, a) if a != Action::Quit => return,
        // Details only inform: any other key closes them and does what it always does.
        (Overlay::Details { .. }, _) => app.overlay = Overlay::None,
        _ => {}
    }
    if action.scope() == Scope::Logs && app.focus != Panel::Logs {
        return;
    }
    let page = app.log_page();
    match action {
        Action::Quit => fx.push(Effect::Quit),
        Action::Help => app.overlay = Overlay::Help { scroll: 0 },
        Action::Command => app.overlay = Overlay::Command(String::new()),
        Action::Redraw => fx.push(Effect::ClearAndRedraw),
        Action::ToggleMouse => {
            app.mouse = !app.mouse;
            fx.push(Effect::SetMouse(app.mouse));
            app.say(if app.mouse {
                "mouse capture on"
            } else {
                "mouse capture off"
            });
        }
        Action::FocusNext => app.focus = Panel::ORDER[(app.focus.index() + 1) % Panel::ORDER.len()],
        Action::FocusPrev => {
            app.focus =
                Panel::ORDER[(app.focus.index() + Panel::ORDER.len() - 1) % Panel::ORDER.len()]
        }
        Action::FocusContainers => app.focus = Panel::Containers,
        Action::FocusGpu => app.focus = Panel::Gpu,
        Action::FocusHealth => app.focus = Panel::Health,
        Action::FocusRuns => app.focus = Panel::Runs,
        Action::FocusTags => app.focus = Panel::Tags,
        Action::FocusLogs => app.focus = Panel::Logs,
        Action::Down => move_selection(app, 1),
        Action::Up => move_selection(app, -1),
        Action::PageDown => move_selection(app, page),
        Action::PageUp => move_selection(app, -page),
        Action::Top => {
            if app.focus == Panel::Logs {
                app.logs.to_top();
            } else {
                app.selected.insert(app.focus, 0);
            }
        }
        Action::Bottom => {
            if app.focus == Panel::Logs {
                app.logs.follow();
            } else {
                let rows = app.rows(app.focus);
                app.selected.insert(app.focus, rows.saturating_sub(1));
            }
        }
        Action::Open => open(app, fx),
        Action::Back => {
            if app.logs.search.is_some() {
                app.logs.set_search("");
                app.logs.filter = false;
            }
            app.message = None;
        }
        Action::Refresh => {
            fx.push(Effect::RefreshRemote);
            app.say("refreshing GitHub runs and registry tags");
        }
        Action::Search => app.overlay = Overlay::Search(String::new()),
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
        Action::Dispatch => super::github_ui::open_dispatch(app, fx),
        Action::CopyUrl => super::github_ui::copy_url(app, fx),
        Action::NextService => next_tag_service(app),
        Action::Pause => app.logs.toggle_pause(),
        Action::Wrap => app.logs.wrap = !app.logs.wrap,
        Action::Timestamps => app.logs.timestamps = !app.logs.timestamps,
        Action::Deploy => start_deploy_dialog(app, fx),
        Action::Rollback => start_rollback_dialog(app, fx),
        Action::History => app.overlay = Overlay::History { scroll: 0 },
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
    }
}

/// A panel's trouble in full, for its details: the title only has room for the cause.
fn error_rows(app: &App, panel: Panel) -> Vec<(String, String)> {
    fn rows<T>(f: &Fresh<T>, now: DateTime<Utc>) -> Vec<(String, String)> {
        let Some((e, since)) = &f.error else {
            return Vec::new();
        };
        let when = |t: DateTime<Utc>| {
            format!(
                "{} ({} ago)",
                t.format("%Y-%m-%d %H:%M:%S UTC"),
                crate::format::age(t, now)
            )
        };
        vec![
            ("error".into(), e.clone()),
            ("failing since".into(), when(*since)),
            (
                "data as of".into(),
                f.loaded_at.map_or("never loaded".into(), when),
            ),
        ]
    }
    match panel {
        Panel::Containers => rows(&app.containers, app.now),
        Panel::Gpu => rows(&app.gpu, app.now),
        Panel::Health => rows(&app.health, app.now),
        Panel::Runs => rows(&app.runs, app.now),
        Panel::Tags => rows(&app.tags, app.now),
        Panel::Logs => match &app.logs.state {
            StreamState::Ended(reason) => vec![
                ("container".into(), app.logs.container_name.clone()),
                ("stream ended".into(), reason.clone()),
            ],
            _ => Vec::new(),
        },
    }
}

fn open(app: &mut App, fx: &mut Vec<Effect>) {
    let sel = app.selected(app.focus);
    let trouble = error_rows(app, app.focus);
    open_selection(app, sel, fx);
    if trouble.is_empty() {
        return;
    }
    // The panel's error in full comes first, above the selection's own details.
    let title = format!("{} panel", app.focus.title());
    match &mut app.overlay {
        Overlay::Details { rows, .. } => {
            rows.splice(0..0, trouble);
        }
        Overlay::None => {
            app.overlay = Overlay::Details {
                title,
                rows: trouble,
            }
        }
        _ => {}
    }
}

fn open_selection(app: &mut App, sel: usize, fx: &mut Vec<Effect>) {
    match app.focus {
        Panel::Containers => {
            let Some(c) = app
                .containers
                .data
                .as_ref()
                .and_then(|l| l.get(sel))
                .cloned()
            else {
                return;
            };
            let followed = app.logs.container_id.as_deref() == Some(c.id.as_str());
            if followed && matches!(app.logs.state, StreamState::Ended(_)) {
                // Its stream ended: enter follows it again rather than showing details.
                follow(app, &c, fx);
                app.say(format!("following {} again", c.name));
                return;
            }
            if !followed {
                follow(app, &c, fx);
            }
            app.overlay = Overlay::Details {
                title: format!("container {}", c.name),
                rows: vec![
                    ("id".into(), c.id.clone()),
                    ("service".into(), c.service.clone()),
                    ("state".into(), format!("{:?}", c.state).to_lowercase()),
                    ("health".into(), format!("{:?}", c.health).to_lowercase()),
                    (
                        "exit code".into(),
                        c.exit_code.map_or("-".into(), |e| e.to_string()),
                    ),
                    ("restarts".into(), c.restarts.to_string()),
                    (
                        "started".into(),
                        c.started_at.map_or("-".into(), |t| t.to_rfc3339()),
                    ),
                    ("image".into(), c.image.clone()),
                    ("image id".into(), c.image_id.clone()),
                    ("digests".into(), c.repo_digests.join(", ")),
                    ("revision".into(), c.revision.clone().unwrap_or_default()),
                    (
                        "image created".into(),
                        c.image_created.clone().unwrap_or_default(),
                    ),
                ],
            };
        }
        Panel::Runs => {
            // While GitHub fails, enter says why in full rather than opening a run.
            if app.runs.error.is_some() {
                return;
            }
            if let Some(r) = super::github_ui::selected_run(app) {
                super::github_ui::open_run(app, r, fx);
            }
        }
        Panel::Tags => {
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
        Panel::Health => {
            let Some(h) = app.health.data.as_ref().and_then(|l| l.get(sel)).cloned() else {
                return;
            };
            app.overlay = Overlay::Details {
                title: format!("endpoint {}", h.name),
                rows: vec![
                    ("url".into(), h.url.clone()),
                    ("ok".into(), h.ok.to_string()),
                    (
                        "HTTP".into(),
                        h.status.map_or("-".into(), |s| s.to_string()),
                    ),
                    ("latency".into(), format!("{} ms", h.latency_ms)),
                    ("status".into(), h.app_status.clone().unwrap_or_default()),
                    ("version".into(), h.version.clone().unwrap_or_default()),
                    ("error".into(), h.error.clone().unwrap_or_default()),
                ],
            };
        }
        Panel::Gpu | Panel::Logs => {}
    }
}

fn run_command(app: &mut App, text: &str, fx: &mut Vec<Effect>) {
    let mut words = text.split_whitespace();
    match (words.next(), words.next()) {
        (None, _) => {}
        (Some("q" | "quit"), _) => fx.push(Effect::Quit),
        (Some("help"), _) => app.overlay = Overlay::Help { scroll: 0 },
        (Some("refresh"), _) => fx.push(Effect::RefreshRemote),
        (Some("logs"), Some(name)) => {
            let found = app
                .containers
                .data
                .as_deref()
                .and_then(|list| find_container(list, name))
                .cloned();
            match found {
                Some(c) => {
                    follow(app, &c, fx);
                    app.focus = Panel::Logs;
                }
                None => app.say(format!("no container or service named {name:?}")),
            }
        }
        (Some("logs"), None) => app.say("usage: :logs SERVICE|CONTAINER"),
        (Some(other), _) => app.say(format!(
            "unknown command {other:?} (try :logs NAME, :refresh, :quit)"
        )),
    }
}

/// The container `name` means, as the containers panel shows it: a container's name, a
/// service (its running container first; one-off runs show as `service*`), or an id prefix.
fn find_container<'a>(list: &'a [ContainerView], name: &str) -> Option<&'a ContainerView> {
    let by_service = |service: &str, oneoff: bool| {
        list.iter()
            .filter(|c| c.service == service && c.oneoff == oneoff)
            .max_by_key(|c| (c.state == ContainerState::Running, c.started_at))
    };
    list.iter()
        .find(|c| c.name == name)
        .or_else(|| by_service(name, false))
        .or_else(|| by_service(name.strip_suffix('*')?, true))
        .or_else(|| by_service(name, true))
        .or_else(|| {
            let prefix =
                (name.len() >= 4 && name.chars().all(|c| c.is_ascii_hexdigit())).then_some(name)?;
            let mut hits = list.iter().filter(|c| c.id.starts_with(prefix));
            let first = hits.next()?;
            hits.next().is_none().then_some(first)
        })
}

/// Where a key left the confirmation dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConfirmResult {
    Pending,
    Confirmed,
    Cancelled,
}

fn confirm_key(c: &mut ConfirmDeploy, key: KeyEvent) -> ConfirmResult {
    match key.code {
        KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('n') => ConfirmResult::Cancelled,
        KeyCode::Tab
        | KeyCode::BackTab
        | KeyCode::Left
        | KeyCode::Right
        | KeyCode::Char('h')
        | KeyCode::Char('l') => {
            c.confirm_selected = !c.confirm_selected;
            ConfirmResult::Pending
        }
        // `y` only moves to the button: confirming takes a second, deliberate key.
        KeyCode::Char('y') => {
            c.confirm_selected = true;
            ConfirmResult::Pending
        }
        KeyCode::Enter if c.confirm_selected => ConfirmResult::Confirmed,
        KeyCode::Enter => ConfirmResult::Cancelled,
        _ => ConfirmResult::Pending,
    }
}

fn finish_confirm(app: &mut App, confirmed: bool, c: ConfirmDeploy, fx: &mut Vec<Effect>) {
    if confirmed {
        fx.push(match &c.service {
            Some(service) => Effect::StartServiceDeploy {
                kind: c.kind,
                tag: c.tag.clone(),
                previous: c.previous,
                service: service.clone(),
            },
            None => Effect::StartDeploy {
                kind: c.kind,
                tag: c.tag.clone(),
                previous: c.previous,
            },
        });
        app.deploy_starting = Some(super::deploys::Starting::new(
            &c,
            app.deploys.data.as_ref(),
            app.now,
        ));
        app.say(format!("{} {}: starting…", c.kind.as_str(), c.target()));
    } else {
        fx.push(Effect::Audit {
            action: c.kind.as_str().into(),
            target: c.target(),
            outcome: "refused".into(),
            detail: "not confirmed by the operator (dashboard)".into(),
        });
        app.say(format!(
            "{} {}: cancelled, nothing changed",
            c.kind.as_str(),
            c.target()
        ));
    }
}

/// Refuse a mutating action in read-only mode, recording the attempt.
fn refuse_read_only(app: &mut App, action: &str, target: String, fx: &mut Vec<Effect>) -> bool {
    if !app.read_only {
        return false;
    }
    fx.push(Effect::Audit {
        action: action.into(),
        target,
        outcome: "refused".into(),
        detail: "read-only mode (dashboard)".into(),
    });
    app.say(format!("read-only: {action} refused"));
    true
}

fn deploy_in_progress(app: &mut App) -> bool {
    if let Some(s) = app.deploy_starting.as_ref().filter(|s| !s.expired(app.now)) {
        let text = format!("a {} to {} is starting", s.kind.as_str(), s.target);
        app.say(text);
        return true;
    }
    let Some(d) = app.deploys.data.as_ref().and_then(|s| s.running.as_ref()) else {
        return false;
    };
    let text = format!(
        "a {} to {} by {} is in progress (deployment #{})",
        d.kind.as_str(),
        d.to.tag_str().unwrap_or("?"),
        d.actor.user,
        d.id
    );
    app.say(text);
    true
}

/// `S`: the tags panel shows the next service's tags; `d`/`R` then move that service only.
fn next_tag_service(app: &mut App) {
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

fn start_deploy_dialog(app: &mut App, fx: &mut Vec<Effect>) {
    if app.focus != Panel::Tags {
        app.say("select a tag in the tags panel first, then deploy it");
        return;
    }
    let sel = app.selected(Panel::Tags);
    let Some((service, tag)) = app
        .tag_rows()
        .get(sel)
        .map(|(s, t)| (s.to_string(), (*t).clone()))
    else {
        app.say("no tag selected");
        return;
    };
    if refuse_read_only(app, "deploy", tag.tag.to_string(), fx) || deploy_in_progress(app) {
        return;
    }
    app.overlay = Overlay::Confirm(super::deploys::confirm_tag(app, &service, &tag));
}

/// The deploy confirmation for a tag offered elsewhere (a finished run's image in the jobs
/// dialog), under the same rules as the tags panel's.
pub(super) fn open_deploy_confirm(
    app: &mut App,
    tag: crate::domain::TagView,
    fx: &mut Vec<Effect>,
) {
    if refuse_read_only(app, "deploy", tag.tag.to_string(), fx) || deploy_in_progress(app) {
        return;
    }
    let service = app.services.join(", ");
    // A run's image goes to the whole deployment, whichever service the tags panel shows.
    app.overlay = Overlay::Confirm(super::deploys::confirm_tag(app, &service, &tag));
}

/// `R`: in the tags panel a rollback to the selected tag, elsewhere to the previous version.
fn start_rollback_dialog(app: &mut App, fx: &mut Vec<Effect>) {
    if app.focus == Panel::Tags {
        let sel = app.selected(Panel::Tags);
        if let Some((service, tag)) = app
            .tag_rows()
            .get(sel)
            .map(|(s, t)| (s.to_string(), (*t).clone()))
        {
            if refuse_read_only(app, "rollback", tag.tag.to_string(), fx) || deploy_in_progress(app)
            {
                return;
            }
            app.overlay =
                Overlay::Confirm(super::deploys::confirm_rollback_to(app, &service, &tag));
            return;
        }
    }
    if refuse_read_only(app, "rollback", "previous".into(), fx) || deploy_in_progress(app) {
        return;
    }
    match super::deploys::confirm_rollback(app) {
        Ok(c) => app.overlay = Overlay::Confirm(c),
        Err(e) => app.say(e),
    }
}
