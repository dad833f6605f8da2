//! Dashboard state and the one function that changes it. `update` does no I/O and never
//! awaits: it folds a message into the state and returns the effects for the loop to carry out.

use super::dialogs::confirm::{ConfirmResult, confirm_key};
pub use super::model::{App, AppSettings, Fresh, Overlay, Panel};
use super::model::{MIN_HEIGHT, MIN_WIDTH};
pub use super::msg::{Effect, Msg};
use super::panels::containers::find_container;
pub use super::panels::gpu::GPU_HISTORY;
use super::panels::logs::StreamState;
use super::panels::logs::{follow, reselect_logs};
pub use super::panels::runs::RunsData;
use super::text_field::TextField;
use super::{deploying, github_ui, hosts_ui};

/// The longest search or command the dashboard takes.
const MAX_INPUT: usize = 1000;
use crate::collect::Update;
use crate::domain::ContainersUpdate;
use crate::keymap::{Action, Scope};
use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, MouseEvent, MouseEventKind};

/// Fold one message into the state. Returns the effects to run, and whether anything on
/// screen may have changed.
pub fn update(app: &mut App, msg: Msg, now: DateTime<Utc>) -> (Vec<Effect>, bool) {
    app.now = now;
    // Several hosts: the overview's probes, and the shown host's collectors' updates.
    let msg = match hosts_ui::update(app, msg, now) {
        hosts_ui::Folded::Done(changed) => return (Vec::new(), changed),
        hosts_ui::Folded::Pass(msg) => msg,
    };
    let mut fx = Vec::new();
    let tick = matches!(msg, Msg::Tick);
    let sources_changed = matches!(
        msg,
        Msg::Collected(Update::Docker(_))
            | Msg::Collected(Update::Runs(_))
            | Msg::Collected(Update::Tags(_))
            | Msg::Collected(Update::Deploys(_))
    );
    let dirty = match msg {
        Msg::Tick => true,
        Msg::Resize(w, h) => {
            app.size = (w, h);
            // A terminal too small for the layout shows no GPU panel: stop sampling NVML.
            fx.push(Effect::GpuVisible(w >= MIN_WIDTH && h >= MIN_HEIGHT));
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
        Msg::Collected(Update::Docker(ContainersUpdate::Containers(list))) => {
            app.containers.set(list, now);
            reselect_logs(app, &mut fx);
            clamp_selection(app, Panel::Containers);
            true
        }
        Msg::Collected(Update::Docker(ContainersUpdate::Error(e))) => {
            app.containers.fail(e, now);
            true
        }
        Msg::Collected(Update::Health(results)) => {
            super::panels::health::on_results(app, results, now);
            true
        }
        Msg::Collected(Update::Gpu(status)) => {
            super::panels::gpu::on_sample(app, status, now);
            true
        }
        Msg::Collected(Update::Runs(Ok((runs, rate, token)))) => {
            app.rate = rate;
            app.runs.set(RunsData { runs, token }, now);
            clamp_selection(app, Panel::Runs);
            true
        }
        Msg::Collected(Update::Runs(Err(e))) => {
            app.runs.fail(e, now);
            true
        }
        Msg::Collected(Update::Tags(Ok(repos))) => {
            app.tags.set(repos, now);
            clamp_selection(app, Panel::Tags);
            true
        }
        Msg::Collected(Update::Tags(Err(e))) => {
            app.tags.fail(e, now);
            true
        }
        Msg::Collected(Update::LogLines {
            container_id,
            lines,
        }) => {
            if app.logs.container_id.as_deref() != Some(container_id.as_str()) {
                return (fx, false); // a late batch from a stream we already left
            }
            app.logs.state = StreamState::Following;
            for (time, stderr, line) in lines {
                app.logs.push(time, stderr, line);
            }
            true
        }
        Msg::Collected(Update::LogEnded {
            container_id,
            reason,
        }) => {
            if app.logs.container_id.as_deref() == Some(container_id.as_str()) {
                app.logs.state = StreamState::Ended(reason);
            }
            true
        }
        Msg::Collected(Update::LogResumed {
            container_id,
            what,
            at,
        }) => {
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
        Msg::Collected(Update::Deploys(read)) => match *read {
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
        Msg::Collected(Update::Github(m)) => github_ui::update(app, m, now, &mut fx),
        Msg::Collected(Update::Swarm(read)) => {
            super::panels::swarm::on_stack(app, *read, now, &mut fx);
            true
        }
        // Folded by hosts_ui::update above.
        Msg::HostProbed(_) | Msg::HostProbeFailed { .. } | Msg::HostUpdate { .. } => false,
        Msg::Commits { ask, rows } => match &mut app.overlay {
            Overlay::Confirm(c) if c.compare.as_ref() == Some(&ask) => {
                c.answer_commits(rows);
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

fn too_small(app: &App) -> bool {
    app.size.0 < MIN_WIDTH || app.size.1 < MIN_HEIGHT
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
    crate::collect::status::correlate_tags(containers, runs, repos);
    if let Some(d) = app.deploys.data.as_ref() {
        crate::collect::taghistory::fill_last_deployed(repos, &d.recent);
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

fn on_mouse(app: &mut App, m: MouseEvent) -> bool {
    match m.kind {
        MouseEventKind::ScrollDown => move_selection(app, 3),
        MouseEventKind::ScrollUp => move_selection(app, -3),
        _ => return false,
    }
    true
}

fn move_selection(app: &mut App, delta: i64) {
    if hosts_ui::move_overview_selection(app, delta) {
        return;
    }
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
    let is_command = matches!(app.overlay, Overlay::Command(_));
    if let Overlay::Command(input) | Overlay::Search(input) = &mut app.overlay {
        match key.code {
            KeyCode::Esc => app.overlay = Overlay::None,
            // Tab completes a host name after `:host `.
            KeyCode::Tab if is_command => {
                let text = input.value().to_string();
                if let Some(done) = hosts_ui::complete(app, &text) {
                    app.overlay = Overlay::Command(TextField::from(done.as_str()));
                }
            }
            KeyCode::Enter => {
                let text = input.value().to_string();
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
            // Typing, cursor keys, home/end, ctrl-w and ctrl-u edit the text.
            _ => {
                input.handle(&key, MAX_INPUT);
            }
        }
        return;
    }
    if let Overlay::Confirm(c) = &mut app.overlay {
        let result = confirm_key(c, app.keymap.action_in(Scope::Confirm, &key));
        if result != ConfirmResult::Pending
            && let Overlay::Confirm(c) = std::mem::replace(&mut app.overlay, Overlay::None)
        {
            deploying::finish_confirm(app, result == ConfirmResult::Confirmed, c, fx);
        }
        return;
    }
    if github_ui::on_key(app, key, fx) {
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
    // The hosts' keys, and the hosts overview's while it is on.
    if hosts_ui::on_action(app, action, fx) {
        return;
    }
    if action.scope() == Scope::Logs {
        // The logs panel's own keys, only while it has the focus.
        if app.focus == Panel::Logs {
            super::panels::logs::on_action(app, action, fx);
        }
        return;
    }
    let page = app.log_page();
    match action {
        Action::Quit => fx.push(Effect::Quit),
        Action::Help => app.overlay = Overlay::Help { scroll: 0 },
        Action::Command => app.overlay = Overlay::Command(TextField::default()),
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
        // The logs panel moves its own view (top, or follow again).
        Action::Top | Action::Bottom if app.focus == Panel::Logs => {
            super::panels::logs::on_action(app, action, fx)
        }
        Action::Top => {
            app.selected.insert(app.focus, 0);
        }
        Action::Bottom => {
            let rows = app.rows(app.focus);
            app.selected.insert(app.focus, rows.saturating_sub(1));
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
        Action::Dispatch => github_ui::open_dispatch(app, fx),
        Action::CopyUrl => github_ui::copy_url(app, fx),
        Action::NextService => super::panels::tags::next_service(app),
        Action::Deploy => {
            deploying::start_deploy_dialog(app, fx);
            hosts_ui::name_host_in_confirm(app);
        }
        Action::Rollback => {
            deploying::start_rollback_dialog(app, fx);
            hosts_ui::name_host_in_confirm(app);
        }
        Action::History => app.overlay = Overlay::History { scroll: 0 },
        // The logs panel's (above).
        Action::Search
        | Action::SearchNext
        | Action::SearchPrev
        | Action::Filter
        | Action::Pause
        | Action::Wrap
        | Action::Timestamps
        | Action::SaveLogs => {}
        // The dialogs' keys: read only while a dialog is open (`Keymap::action_in`).
        Action::ConfirmYes
        | Action::ConfirmNo
        | Action::ConfirmSwitch
        | Action::ConfirmPress
        | Action::FormNext
        | Action::FormPrev
        | Action::FormSubmit
        | Action::FormCancel
        | Action::FormToggle
        | Action::FormLeft
        | Action::FormRight => {}
        // hosts_ui's (above).
        Action::Hosts | Action::NextHost | Action::PrevHost => {}
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
        Panel::Containers => match &app.swarm {
            Some(stack) => rows(stack, app.now),
            None => rows(&app.containers, app.now),
        },
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
        Panel::Containers if app.swarm.is_some() => super::panels::swarm::open(app, sel, fx),
        Panel::Containers => super::panels::containers::open(app, sel, fx),
        Panel::Runs => {
            // While GitHub fails, enter says why in full rather than opening a run.
            if app.runs.error.is_some() {
                return;
            }
            if let Some(r) = super::panels::runs::selected_run(app) {
                github_ui::open_run(app, r, fx);
            }
        }
        Panel::Tags => super::panels::tags::open(app, sel),
        Panel::Health => super::panels::health::open(app, sel),
        Panel::Gpu | Panel::Logs => {}
    }
}

fn run_command(app: &mut App, text: &str, fx: &mut Vec<Effect>) {
    if hosts_ui::run_command(app, text, fx) {
        return;
    }
    let mut words = text.split_whitespace();
    match (words.next(), words.next()) {
        (None, _) => {}
        (Some("q" | "quit"), _) => fx.push(Effect::Quit),
        (Some("help"), _) => app.overlay = Overlay::Help { scroll: 0 },
        (Some("refresh"), _) => fx.push(Effect::RefreshRemote),
        (Some("logs"), Some(name)) if app.swarm.is_some() => {
            if super::panels::swarm::follow_named(app, name, fx) {
                app.focus = Panel::Logs;
            } else {
                app.say(format!("no service or task named {name:?} in the stack"));
            }
        }
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

#[cfg(test)]
mod confirm_tests;
#[cfg(test)]
mod github_tests;
#[cfg(test)]
pub(crate) mod test_support;
