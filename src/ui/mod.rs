//! The full-screen dashboard: one loop, one `select!`, one message type.
//!
//! Terminal input, source updates and a slow tick become `Msg`s; `app::update` folds each into
//! the state and returns effects; a frame is drawn only when something changed, at most
//! `ui.max_fps` times a second. Sources run as tasks (see `crate::collect`) under one cancellation token.

pub mod app;
pub mod deploying;
pub mod dialogs;
pub mod draw;
pub mod github_ui;
pub mod hosts_live;
pub mod hosts_ui;
pub mod model;
pub mod msg;
pub mod panels;
pub mod text;
pub mod text_field;
pub mod theme;

use crate::collect;
use crate::config::LoadedConfig;
use app::{App, AppSettings, Effect, Msg};
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, Event, EventStream, KeyEventKind};
use crossterm::execute;
use futures_util::StreamExt;
use ratatui::buffer::Buffer;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Run the dashboard until the operator quits. The terminal is restored on every path out:
/// normal quit, error, and panic (ratatui's hook, plus mouse capture released in ours).
pub async fn run(
    loaded: LoadedConfig,
    read_only: bool,
    explicit_config: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let config = Arc::new(loaded.config);
    let settings = AppSettings {
        keymap: loaded.keymap,
        host: hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "?".into()),
        // A Swarm deployment is its stack (the header says which).
        project: match config.deployment.runtime {
            crate::config::RuntimeKind::Swarm => config.deployment.stack.clone(),
            crate::config::RuntimeKind::Compose => config.deployment.project.clone(),
        },
        services: config.service_names().map(str::to_string).collect(),
        read_only: read_only || config.ui.read_only,
        mouse: config.ui.mouse,
        log_tail: config.ui.log_tail_lines,
        log_ring: config.ui.log_ring_lines as usize,
        color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(std::io::stdout(), DisableMouseCapture);
        previous_hook(info);
    }));
    let mut terminal = ratatui::init();
    let result = event_loop(&mut terminal, config, settings, explicit_config).await;
    let _ = execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();
    result
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    config: Arc<crate::config::Config>,
    settings: AppSettings,
    explicit_config: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    let (tx, rx) = tokio::sync::mpsc::channel::<Msg>(256);
    let (updates_tx, updates) = tokio::sync::mpsc::channel::<collect::Update>(256);
    let mut app = App::new(settings, chrono::Utc::now());
    // One engine: its collectors from the start. Several hosts: the overview's probe, and
    // the first host's collectors behind it (restarted on each switch).
    let (handles, tasks, sessions) = if config.hosts.is_empty() {
        let (handles, tasks) = collect::spawn_all(config.clone(), updates_tx, &cancel);
        (Some(handles), tasks, None)
    } else {
        let view = hosts_ui::HostsView::new(&config.hosts, config.ui.log_ring_lines as usize);
        let mut sessions = hosts_live::HostSessions::new(config.clone(), cancel.clone());
        sessions.switch(view.shown_name(), view.generation, &tx);
        let probe = tokio::spawn(hosts_live::probe_task(
            config.clone(),
            tx.clone(),
            sessions.probe_poke.clone(),
            cancel.child_token(),
        ));
        app.hosts = Some(view);
        (None, vec![probe], Some(sessions))
    };
    let with_rule: Vec<_> = config
        .deployment
        .services
        .iter()
        .filter(|s| s.ready.is_some())
        .cloned()
        .collect();
    app.health_basis = crate::deploy::health_basis(&with_rule)
        .into_iter()
        .collect();
    app.strategy_rule = crate::deploy::strategy::StrategyRule::from_config(&config);
    if config.deployment.runtime == crate::config::RuntimeKind::Swarm {
        app.swarm = Some(app::Fresh::default());
    }
    if app.mouse {
        execute!(std::io::stdout(), EnableMouseCapture)?;
    }
    let mut live = Live {
        config: config.clone(),
        explicit_config,
        handles,
        sessions,
    };
    let channels = Channels { tx, rx, updates };
    let result = drive(
        terminal,
        app,
        config.ui.max_fps,
        EventStream::new(),
        channels,
        &mut live,
    )
    .await;
    // Bounded shutdown: tasks get a moment to stop, then are left to the runtime's end.
    cancel.cancel();
    let _ = tokio::time::timeout(
        Duration::from_millis(500),
        futures_util::future::join_all(tasks),
    )
    .await;
    result
}

/// The loop's message channels: `tx`/`rx` for the loop's own messages (and a test's keys),
/// `updates` from the collectors.
pub struct Channels {
    pub tx: mpsc::Sender<Msg>,
    pub rx: mpsc::Receiver<Msg>,
    pub updates: mpsc::Receiver<collect::Update>,
}

/// Where the effects that leave the loop go: the collectors, the terminal's side channels
/// (mouse, clipboard), the store, a detached deploy. The dashboard's is `Live`; a headless
/// test records them and watches the frames.
pub trait Outside {
    fn effect(&mut self, effect: Effect, tx: &mpsc::Sender<Msg>) -> anyhow::Result<()>;
    /// A frame was written to the terminal.
    fn frame(&mut self, _shown: &Buffer) {}
}

struct Live {
    config: Arc<crate::config::Config>,
    explicit_config: Option<std::path::PathBuf>,
    /// The one engine's collectors (None with several hosts: `sessions` has the shown one's).
    handles: Option<collect::Handles>,
    sessions: Option<hosts_live::HostSessions>,
}

impl Live {
    /// The shown engine's collectors (None while a host is being reached).
    fn handles(&mut self) -> Option<&collect::Handles> {
        match &mut self.sessions {
            Some(s) => s.handles(),
            None => self.handles.as_ref(),
        }
    }

    /// The config of what the dashboard shows: the one engine's, or the shown host's (its
    /// store, state dir and lock), with the host's name for a deploy's `--hosts`.
    fn shown(&self) -> (Arc<crate::config::Config>, Option<String>) {
        match self.sessions.as_ref().and_then(|s| s.shown.as_ref()) {
            Some((host, config)) => (config.clone(), Some(host.name.clone())),
            None => (self.config.clone(), None),
        }
    }
}

impl Outside for Live {
    fn effect(&mut self, effect: Effect, tx: &mpsc::Sender<Msg>) -> anyhow::Result<()> {
        match effect {
            // The loop itself carries these out.
            Effect::Quit | Effect::ClearAndRedraw => {}
            Effect::SwitchHost { name, generation } => {
                if let Some(s) = &mut self.sessions {
                    s.switch(&name, generation, tx);
                }
            }
            Effect::ProbeHosts => {
                if let Some(s) = &self.sessions {
                    s.probe_poke.notify_waiters();
                }
            }
            Effect::FollowLogs { container_id, tail } => {
                if let Some(handles) = self.handles() {
                    let _ = handles.follow.send(Some((container_id, tail)));
                }
            }
            Effect::SaveLogs { container, text } => {
                tokio::spawn(save_logs(container, text, tx.clone()));
            }
            Effect::SetMouse(on) => {
                if on {
                    execute!(std::io::stdout(), EnableMouseCapture)?;
                } else {
                    execute!(std::io::stdout(), DisableMouseCapture)?;
                }
            }
            Effect::RefreshRemote => {
                if let Some(handles) = self.handles() {
                    handles.refresh.notify_waiters();
                }
            }
            Effect::GpuVisible(v) => {
                if let Some(handles) = self.handles() {
                    let _ = handles.gpu_visible.send(v);
                }
            }
            Effect::StartDeploy(request) => {
                // With several hosts it goes to the shown host: its engine, store and lock.
                let (config, host) = self.shown();
                let started = start_detached_deploy(
                    &config,
                    self.explicit_config.as_deref(),
                    &request,
                    host.as_deref(),
                );
                if let Some(handles) = self.handles() {
                    handles.deploys_poke.notify_one();
                }
                let _ = tx.try_send(Msg::DeployStarted(started));
            }
            Effect::CompareCommits(ask) => {
                let github = self.config.github.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let answer = crate::compare::for_ask(&github, &ask).await;
                    let rows = crate::compare::dialog_rows(&answer, chrono::Utc::now(), 8);
                    let _ = tx.send(Msg::Commits { ask, rows }).await;
                });
            }
            Effect::Audit {
                action,
                target,
                outcome,
                detail,
            } => {
                let dir = crate::deploy::state_dir(&self.shown().0);
                tokio::task::spawn_blocking(move || {
                    if let Ok(store) = crate::store::Store::open(&dir) {
                        let _ = store.audit(
                            &crate::store::Actor::current(),
                            &action,
                            Some(&target),
                            &outcome,
                            Some(&detail),
                        );
                    }
                });
            }
            Effect::Github(github_ui::GithubEffect::Copy(text)) => {
                // OSC 52: the terminal (and tmux with set-clipboard) puts it on the
                // clipboard; terminals without support ignore it.
                use base64::Engine;
                let b64 = base64::engine::general_purpose::STANDARD.encode(text);
                execute!(
                    std::io::stdout(),
                    crossterm::style::Print(format!("\x1b]52;c;{b64}\x07"))
                )?;
            }
            Effect::Github(e) => {
                if let Some(handles) = self.handles() {
                    let _ = handles.github.try_send(e);
                }
            }
        }
        Ok(())
    }
}

/// The one loop, on any backend: terminal events from `events`, the loop's and the
/// collectors' messages from `channels`, a 1 s tick; `update` folds each, effects go to
/// `outside` (Quit and redraws stay here), and a frame is drawn only when something changed,
/// at most `max_fps` a second. Returns when the operator quits or the terminal's events end.
pub async fn drive<B, E>(
    terminal: &mut ratatui::Terminal<B>,
    mut app: App,
    max_fps: u32,
    mut events: E,
    channels: Channels,
    outside: &mut dyn Outside,
) -> anyhow::Result<()>
where
    B: ratatui::backend::Backend,
    B::Error: std::error::Error + Send + Sync + 'static,
    E: futures_util::Stream<Item = std::io::Result<Event>> + Unpin,
{
    let Channels {
        tx,
        mut rx,
        mut updates,
    } = channels;
    let frame_gap = Duration::from_millis(1000 / u64::from(max_fps.max(1)));
    let size = terminal.size()?;
    // On the same beat as the periodic reads (collect::on_the_beat): one wakeup serves both.
    let mut tick =
        tokio::time::interval_at(collect::on_the_beat(Duration::ZERO), Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut dirty = true;
    let mut last_frame = Instant::now() - frame_gap;
    let mut quit = false;
    let mut first = Some(Msg::Resize(size.width, size.height));
    let mut shown: Option<Buffer> = None;
    let mut stats = LoopStats::new();

    while !quit {
        if dirty && last_frame.elapsed() >= frame_gap {
            stats.frame(render(terminal, &app, &mut shown)?, &shown, outside);
            last_frame = Instant::now();
            dirty = false;
            // A frame just showed the ages as of now: the tick is only for when nothing else
            // draws for a second (a followed log that writes every second keeps it silent).
            tick.reset_at(collect::on_the_beat(Duration::from_secs(1)));
        }
        let next_frame = tokio::time::Instant::from_std(last_frame + frame_gap);
        let msg = if let Some(m) = first.take() {
            Some(m)
        } else {
            tokio::select! {
            // Biased: the operator's keys go before queued source updates.
            biased;
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => Some(Msg::Key(k)),
                Some(Ok(Event::Mouse(m))) => Some(Msg::Mouse(m)),
                Some(Ok(Event::Resize(w, h))) => Some(Msg::Resize(w, h)),
                Some(Ok(_)) => None,
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            Some(m) = rx.recv() => Some(m),
            Some(u) = updates.recv() => Some(Msg::from(u)),
            _ = tick.tick() => Some(Msg::Tick),
            _ = tokio::time::sleep_until(next_frame), if dirty => None,
            }
        };
        stats.wakeups += 1;
        let Some(msg) = msg else { continue };
        // The operator's own input is answered at once; the frame cap is for source updates.
        let urgent = matches!(msg, Msg::Key(_) | Msg::Resize(..));
        let mut pending = vec![msg];
        // Fold whatever else is already queued before drawing: under a log flood this turns
        // many batches into one frame. A key is answered alone, without waiting for them.
        while !urgent && pending.len() < 64 {
            match rx.try_recv().or_else(|_| updates.try_recv().map(Msg::from)) {
                Ok(m) => pending.push(m),
                Err(_) => break,
            }
        }
        for m in pending {
            *stats.msgs.entry(m.kind()).or_default() += 1;
            let (effects, changed) = app::update(&mut app, m, chrono::Utc::now());
            dirty |= changed;
            for e in effects {
                match e {
                    Effect::Quit => quit = true,
                    Effect::ClearAndRedraw => {
                        terminal.clear()?;
                        shown = None;
                        dirty = true;
                    }
                    e => outside.effect(e, &tx)?,
                }
            }
        }
        if urgent && dirty && !quit {
            stats.frame(render(terminal, &app, &mut shown)?, &shown, outside);
            last_frame = Instant::now();
            dirty = false;
            tick.reset_at(collect::on_the_beat(Duration::from_secs(1)));
        }
    }
    tracing::info!("{}", stats.summary());
    Ok(())
}

/// Render the dashboard and write it to the terminal only if it differs from what is on
/// screen: a tick whose ages read the same as before costs no terminal output (ratatui would
/// otherwise still send its cursor and colour resets, and the terminal would redo its work).
/// Whether anything was written.
pub fn render<B: ratatui::backend::Backend>(
    terminal: &mut ratatui::Terminal<B>,
    app: &App,
    shown: &mut Option<Buffer>,
) -> Result<bool, B::Error> {
    terminal.autoresize()?;
    let mut frame = terminal.get_frame();
    draw::draw(&mut frame, app);
    if shown.as_ref() == Some(&*terminal.current_buffer_mut()) {
        // The next frame is drawn on a clean buffer, as after a swap.
        terminal.current_buffer_mut().reset();
        return Ok(false);
    }
    let done = terminal.apply_buffer()?;
    *shown = Some(done.buffer.clone());
    Ok(true)
}

/// What the loop did, logged at quit: where an idle dashboard's wakeups and frames go.
struct LoopStats {
    since: Instant,
    wakeups: u64,
    frames_built: u64,
    frames_changed: u64,
    msgs: std::collections::BTreeMap<&'static str, u64>,
}

impl LoopStats {
    fn new() -> Self {
        Self {
            since: Instant::now(),
            wakeups: 0,
            frames_built: 0,
            frames_changed: 0,
            msgs: Default::default(),
        }
    }
    fn frame(&mut self, changed: bool, shown: &Option<Buffer>, outside: &mut dyn Outside) {
        self.frames_built += 1;
        self.frames_changed += u64::from(changed);
        if let (true, Some(b)) = (changed, shown) {
            outside.frame(b);
        }
    }
    fn summary(&self) -> String {
        let msgs: Vec<String> = self.msgs.iter().map(|(k, n)| format!("{k} {n}")).collect();
        format!(
            "dashboard loop over {:.0} s: {} wakeups, {} frames drawn, {} of them changed (written); messages: {}",
            self.since.elapsed().as_secs_f64(),
            self.wakeups,
            self.frames_built,
            self.frames_changed,
            msgs.join(", ")
        )
    }
}

/// Start `elt-console deploy|rollback ... --yes --json` in its own session with its output in
/// a file under the state dir (deploy_detach's start, as `deploy --detach` does), so that the
/// deploy outlives this dashboard and the SSH connection it runs in. The dashboard follows it
/// through the store.
fn start_detached_deploy(
    config: &crate::config::Config,
    explicit_config: Option<&std::path::Path>,
    request: &crate::domain::StartRequest,
    host: Option<&str>,
) -> Result<String, String> {
    // Only a configured service's name reaches the child's argv.
    if let Some(s) = request
        .services
        .iter()
        .find(|s| !config.deployment.services.iter().any(|c| &c.name == *s))
    {
        return Err(format!(
            "cannot start the deploy: {} is not a configured service",
            s.escape_debug()
        ));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find our own binary: {e}"))?;
    let mut cmd = std::process::Command::new(exe);
    if let Some(path) = explicit_config {
        cmd.arg("--config").arg(crate::deploy::absolute(path));
    }
    // The tag is a validated `Tag` from the selection and the services are configured ones:
    // nothing odd reaches the child's argv.
    cmd.args(request.args()).args(["--yes", "--json"]);
    // A configured host's name (checked against `[[hosts]]` when it was shown): the deploy
    // rolls on that host alone, with its engine, store and lock.
    if let Some(host) = host {
        cmd.args(["--hosts", host]);
    }
    let (mut child, log_path) =
        crate::deploy_detach::start_in_own_session(config, cmd, request.intent.kind().as_str())
            .map_err(|e| e.to_string())?;
    // Reap it when it ends, so no zombie is left while the dashboard runs.
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(log_path.display().to_string())
}

/// Write the log buffer under the XDG state dir and report where (or why not).
async fn save_logs(container: String, text: String, tx: tokio::sync::mpsc::Sender<Msg>) {
    let result = async {
        let dir = crate::logging::log_dir()
            .ok_or("no home or XDG_STATE_HOME to save under")?
            .join("saved-logs");
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        // Container names are [a-zA-Z0-9_.-] by Docker's rules; keep only those anyway.
        let safe: String = container
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!(
            "{safe}-{}.log",
            chrono::Local::now().format("%Y%m%d-%H%M%S")
        ));
        tokio::fs::write(&path, text)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok::<String, String>(path.display().to_string())
    }
    .await;
    let _ = tx.send(Msg::Saved(result)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DeployIntent, StartRequest};

    #[test]
    fn a_service_not_in_the_config_is_refused_before_anything_starts() {
        let loaded = crate::config::load(&crate::config::Sources::default()).unwrap();
        let request = StartRequest {
            intent: DeployIntent::RollbackPrevious,
            services: vec!["api --force".into()],
        };
        let e = start_detached_deploy(&loaded.config, None, &request, None).unwrap_err();
        assert!(e.contains("not a configured service"), "{e}");
    }
}
