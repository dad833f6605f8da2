//! The dashboard's GitHub dialogs, kept apart from the core app: a run's jobs and steps
//! (refreshed while the run is in progress), copying a run's URL, the workflow_dispatch form
//! and its confirmation, and the rate-limit state shown in the header. Pure, like `update`.

use super::app::{App, Effect, Overlay, Panel};
use crate::domain::{CommitSha, JobView, RateLimit, RunView, Tag, TagView};
use crate::workflow::{self, DispatchSpec, InputKind};
use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Messages from the GitHub tasks.
#[derive(Debug)]
pub enum GithubMsg {
    /// A run and its jobs, for the open jobs dialog.
    RunDetails {
        run_id: u64,
        result: Result<(RunView, Vec<JobView>), String>,
    },
    /// The budget after a request, and until when requests are held back.
    Budget {
        rate: RateLimit,
        blocked_until: Option<DateTime<Utc>>,
    },
    FormLoaded(Result<FormData, String>),
    /// The environment's recent GitHub Deployments, newest first.
    Deployments {
        environment: String,
        result: Result<Vec<crate::sources::github::DeploymentView>, String>,
    },
    Dispatched(Result<RunView, String>),
    /// GitHub accepted the dispatch and named its run, but the run could not be read: the
    /// form closes (sending again would start a second run) and says where the run is.
    DispatchAccepted {
        run_id: u64,
        html_url: Option<String>,
        error: String,
    },
    /// Where the image of the open dialog's successful run stands in the registry.
    RunImage {
        run_id: u64,
        image: RunImage,
    },
}

/// The image a successful run built, as the jobs dialog offers it for deploying.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum RunImage {
    /// The run has not succeeded (yet), so there is nothing to offer.
    #[default]
    None,
    /// The run succeeded; its commit tag is not in the registry yet.
    Waiting(Tag),
    /// The commit tag resolves in the registry: the deploy key offers it.
    Ready(Tag),
    /// It will not be offered (no commit tag pattern, the registry refused, timed out).
    Unavailable(String),
}

/// What the loop must do for the GitHub dialogs.
#[derive(Debug, Clone, PartialEq)]
pub enum GithubEffect {
    /// Follow this run's jobs (None: stop).
    WatchRun(Option<u64>),
    /// Put text on the terminal's clipboard (OSC 52), written by the loop, never by draw.
    Copy(String),
    LoadForm,
    /// POST this (validated) body to the dispatches endpoint.
    Dispatch(serde_json::Value),
}

#[derive(Debug, Clone, Default)]
pub struct GithubUi {
    pub blocked_until: Option<DateTime<Utc>>,
    /// The environment's recent GitHub Deployments (None until first read, or when off).
    pub deployments: Option<super::gh_deployments_panel::DeploymentsList>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunJobsView {
    pub run: RunView,
    pub jobs: Option<Vec<JobView>>,
    pub error: Option<String>,
    pub loaded_at: Option<DateTime<Utc>>,
    pub scroll: u16,
    pub image: RunImage,
    /// The deploy key's label, for the dialog's hint (from the keymap).
    pub deploy_key: String,
}

/// What the form is built from: the ref to offer and the inputs the workflow declares.
#[derive(Debug, Clone, PartialEq)]
pub struct FormData {
    pub repository: String,
    pub workflow: String,
    pub default_ref: String,
    pub spec: DispatchSpec,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Text(String),
    Bool(bool),
    Choice(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub enum FormStage {
    Loading,
    Editing,
    /// The exact body that will be sent; only `y` sends it.
    Confirm(serde_json::Value),
    Sending,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DispatchForm {
    pub stage: FormStage,
    pub data: Option<FormData>,
    /// Field 0 is the ref; then one per declared input, in declaration order.
    pub values: Vec<FieldValue>,
    pub focus: usize,
    pub error: Option<String>,
}

impl DispatchForm {
    fn from_data(data: FormData) -> Self {
        let mut values = vec![FieldValue::Text(data.default_ref.clone())];
        for input in &data.spec.inputs {
            values.push(match &input.kind {
                InputKind::Boolean => FieldValue::Bool(input.default.as_deref() == Some("true")),
                InputKind::Choice(options) => FieldValue::Choice(
                    input
                        .default
                        .as_ref()
                        .and_then(|d| options.iter().position(|o| o == d))
                        .unwrap_or(0),
                ),
                _ => FieldValue::Text(input.default.clone().unwrap_or_default()),
            });
        }
        let error = (!data.spec.dispatchable)
            .then(|| "the workflow has no workflow_dispatch trigger".to_string());
        Self {
            stage: FormStage::Editing,
            data: Some(data),
            values,
            focus: 0,
            error,
        }
    }

    /// The body the form's values make, checked as the CLI checks its arguments.
    pub fn body(&self) -> Result<serde_json::Value, String> {
        let data = self.data.as_ref().ok_or("the form is still loading")?;
        let git_ref = match self.values.first() {
            Some(FieldValue::Text(r)) => workflow::validate_ref(r.trim())?,
            _ => return Err("no ref".into()),
        };
        let mut given = Vec::new();
        for (input, value) in data.spec.inputs.iter().zip(self.values.iter().skip(1)) {
            let v = match (value, &input.kind) {
                (FieldValue::Bool(b), _) => b.to_string(),
                (FieldValue::Choice(i), InputKind::Choice(options)) => {
                    options.get(*i).cloned().unwrap_or_default()
                }
                (FieldValue::Text(t), _) if t.is_empty() && !input.required => continue,
                (FieldValue::Text(t), _) => t.clone(),
                (FieldValue::Choice(_), _) => continue,
            };
            given.push((input.name.clone(), v));
        }
        let inputs = workflow::validate_inputs(&data.spec, &given)?;
        Ok(workflow::dispatch_body(&git_ref, &inputs))
    }
}

pub fn selected_run(app: &App) -> Option<RunView> {
    app.runs
        .data
        .as_ref()
        .and_then(|d| d.runs.get(app.selected(Panel::Runs)))
        .cloned()
}

/// Enter on a run: its jobs and steps, followed while the run is not finished.
pub fn open_run(app: &mut App, run: RunView, fx: &mut Vec<Effect>) {
    fx.push(Effect::Github(GithubEffect::WatchRun(Some(run.id))));
    app.overlay = Overlay::RunJobs(Box::new(RunJobsView {
        run,
        jobs: None,
        error: None,
        loaded_at: None,
        scroll: 0,
        image: RunImage::None,
        deploy_key: app.keymap.label(crate::keymap::Action::Deploy),
    }));
}

/// The deploy key in the jobs dialog: the confirmation dialog for the run's image, once the
/// run succeeded and its tag is in the registry.
fn deploy_run_image(app: &mut App, fx: &mut Vec<Effect>) {
    let Overlay::RunJobs(view) = &app.overlay else {
        return;
    };
    let tag = match &view.image {
        RunImage::Ready(tag) => tag.clone(),
        RunImage::Waiting(tag) => {
            let text = format!("{tag} is not in the registry yet; deploy it once it is");
            app.message = Some((text, app.now));
            return;
        }
        RunImage::Unavailable(why) => {
            let text = format!("nothing to deploy: {why}");
            app.message = Some((text, app.now));
            return;
        }
        RunImage::None => {
            let text = "nothing to deploy: the run has not succeeded".to_string();
            app.message = Some((text, app.now));
            return;
        }
    };
    let run = view.run.clone();
    // The tags panel's row has the image's dates and size; else describe it from the run.
    let known = app
        .tags
        .data
        .iter()
        .flatten()
        .flat_map(|r| r.tags.iter())
        .find(|t| t.tag == tag)
        .cloned();
    let view = known.unwrap_or_else(|| TagView {
        tag: tag.clone(),
        digest: None,
        revision: CommitSha::parse(&run.head_sha).ok(),
        created: None,
        size_bytes: None,
        ci: run.conclusion.clone(),
        running: false,
        error: None,
        aliases: Vec::new(),
        last_deployed: None,
    });
    super::app::open_deploy_confirm(app, view, fx);
    if matches!(app.overlay, Overlay::Confirm(_)) {
        // The jobs dialog is gone: stop following its run.
        fx.push(Effect::Github(GithubEffect::WatchRun(None)));
    }
}

/// The copy key: the URL of the run in the open dialog, else of the selected run.
pub fn copy_url(app: &mut App, fx: &mut Vec<Effect>) {
    let url = match &app.overlay {
        Overlay::RunJobs(v) => Some(v.run.html_url.clone()),
        _ if app.focus == Panel::Runs => selected_run(app).map(|r| r.html_url),
        _ => None,
    };
    match url {
        Some(url) => {
            app.message = Some((format!("{url} (copied with OSC 52)"), app.now));
            fx.push(Effect::Github(GithubEffect::Copy(url)));
        }
        None => {
            app.message = Some(("select a run first (4 runs panel)".into(), app.now));
        }
    }
}

pub fn open_dispatch(app: &mut App, fx: &mut Vec<Effect>) {
    if app.read_only {
        app.message = Some(("read-only: dispatch is disabled".into(), app.now));
        return;
    }
    app.overlay = Overlay::Dispatch(Box::new(DispatchForm {
        stage: FormStage::Loading,
        data: None,
        values: Vec::new(),
        focus: 0,
        error: None,
    }));
    fx.push(Effect::Github(GithubEffect::LoadForm));
}

/// Keys while a GitHub dialog is open. Returns false when the key is not the dialog's.
pub fn on_key(app: &mut App, key: KeyEvent, fx: &mut Vec<Effect>) -> bool {
    use crate::keymap::Action;
    let action = app.keymap.action(&key);
    if let Overlay::RunJobs(_) = app.overlay {
        match action {
            Some(Action::Back | Action::Open) => {
                app.overlay = Overlay::None;
                fx.push(Effect::Github(GithubEffect::WatchRun(None)));
            }
            Some(a @ (Action::Down | Action::Up)) => {
                if let Overlay::RunJobs(view) = &mut app.overlay {
                    view.scroll = if a == Action::Down {
                        view.scroll.saturating_add(1)
                    } else {
                        view.scroll.saturating_sub(1)
                    };
                }
            }
            Some(Action::CopyUrl) => copy_url(app, fx),
            Some(Action::Deploy) => deploy_run_image(app, fx),
            Some(Action::Quit) => fx.push(Effect::Quit),
            _ => {}
        }
        return true;
    }
    if let Overlay::Dispatch(form) = &mut app.overlay {
        let leaving = key.code == KeyCode::Esc
            && matches!(form.stage, FormStage::Editing | FormStage::Loading);
        if leaving {
            app.overlay = Overlay::None;
            app.message = Some(("dispatch cancelled".into(), app.now));
        } else {
            form_key(form, key, fx);
        }
        return true;
    }
    false
}

fn form_key(form: &mut DispatchForm, key: KeyEvent, fx: &mut Vec<Effect>) {
    if let FormStage::Confirm(body) = &form.stage {
        // Default answer is Cancel: only `y` sends.
        if key.code == KeyCode::Char('y') {
            fx.push(Effect::Github(GithubEffect::Dispatch(body.clone())));
            form.stage = FormStage::Sending;
        } else {
            form.stage = FormStage::Editing;
        }
        return;
    }
    if form.stage != FormStage::Editing {
        return;
    }
    let count = form.values.len().max(1);
    let options = |form: &DispatchForm, i: usize| -> usize {
        form.data
            .as_ref()
            .and_then(|d| d.spec.inputs.get(i.wrapping_sub(1)))
            .map_or(0, |input| match &input.kind {
                InputKind::Choice(o) => o.len(),
                _ => 0,
            })
    };
    let focus = form.focus;
    match key.code {
        KeyCode::Tab | KeyCode::Down => form.focus = (focus + 1) % count,
        KeyCode::BackTab | KeyCode::Up => form.focus = (focus + count - 1) % count,
        KeyCode::Enter => match form.body() {
            Ok(body) => {
                form.error = None;
                form.stage = FormStage::Confirm(body);
            }
            Err(e) => form.error = Some(e),
        },
        code => {
            let n = options(form, focus);
            match (form.values.get_mut(focus), code) {
                (Some(FieldValue::Text(t)), KeyCode::Backspace) => {
                    t.pop();
                }
                (Some(FieldValue::Text(t)), KeyCode::Char(c))
                    if !key.modifiers.contains(KeyModifiers::CONTROL) && t.len() < 1000 =>
                {
                    t.push(c)
                }
                (
                    Some(FieldValue::Bool(b)),
                    KeyCode::Char(' ') | KeyCode::Left | KeyCode::Right,
                ) => *b = !*b,
                (Some(FieldValue::Choice(i)), KeyCode::Right | KeyCode::Char(' ')) if n > 0 => {
                    *i = (*i + 1) % n
                }
                (Some(FieldValue::Choice(i)), KeyCode::Left) if n > 0 => *i = (*i + n - 1) % n,
                _ => {}
            }
        }
    }
}

pub fn update(app: &mut App, msg: GithubMsg, now: DateTime<Utc>, fx: &mut Vec<Effect>) -> bool {
    match msg {
        GithubMsg::RunDetails { run_id, result } => {
            let Overlay::RunJobs(view) = &mut app.overlay else {
                return false; // the dialog was closed meanwhile
            };
            if view.run.id != run_id {
                return false;
            }
            match result {
                Ok((run, jobs)) => {
                    view.run = run;
                    view.jobs = Some(jobs);
                    view.error = None;
                    view.loaded_at = Some(now);
                }
                Err(e) => view.error = Some(e),
            }
            true
        }
        GithubMsg::Budget {
            rate,
            blocked_until,
        } => {
            if rate.remaining.is_some() {
                app.rate = rate;
            }
            app.github.blocked_until = blocked_until;
            true
        }
        GithubMsg::FormLoaded(result) => {
            let Overlay::Dispatch(form) = &mut app.overlay else {
                return false;
            };
            match result {
                Ok(data) => **form = DispatchForm::from_data(data),
                Err(e) => {
                    form.error = Some(e);
                    form.stage = FormStage::Editing;
                }
            }
            true
        }
        GithubMsg::Dispatched(Ok(run)) => {
            app.message = Some((
                format!("dispatched: run #{} {}", run.number, run.html_url),
                now,
            ));
            fx.push(Effect::RefreshRemote);
            app.focus = Panel::Runs;
            open_run(app, run, fx);
            true
        }
        GithubMsg::RunImage { run_id, image } => {
            let Overlay::RunJobs(view) = &mut app.overlay else {
                return false;
            };
            if view.run.id != run_id {
                return false;
            }
            view.image = image;
            true
        }
        GithubMsg::DispatchAccepted {
            run_id,
            html_url,
            error,
        } => {
            if matches!(app.overlay, Overlay::Dispatch(_)) {
                app.overlay = Overlay::None;
            }
            let url = html_url.unwrap_or_else(|| "no html_url in the answer".into());
            app.message = Some((
                format!(
                    "dispatch accepted: run {run_id} {url}; the run could not be read: {error}"
                ),
                now,
            ));
            fx.push(Effect::RefreshRemote);
            app.focus = Panel::Runs;
            true
        }
        GithubMsg::Dispatched(Err(e)) => {
            match &mut app.overlay {
                Overlay::Dispatch(form) => {
                    form.stage = FormStage::Editing;
                    form.error = Some(e);
                }
                _ => app.message = Some((format!("dispatch failed: {e}"), now)),
            }
            true
        }
        GithubMsg::Deployments {
            environment,
            result,
        } => {
            super::gh_deployments_panel::update(
                &mut app.github.deployments,
                &environment,
                result,
                now,
            );
            true
        }
    }
}

/// "rate limited until HH:MM" while GitHub holds us back.
pub fn rate_limited_label(app: &App) -> Option<String> {
    app.github.blocked_until.filter(|t| *t > app.now).map(|t| {
        format!(
            "GitHub rate limited until {}",
            crate::format::clock(t, app.now)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::app::{AppSettings, Msg};
    use chrono::TimeZone;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 8, 0, 0).unwrap()
    }

    fn app() -> App {
        let loaded = crate::config::load(&crate::config::Sources::default()).unwrap();
        App::new(
            AppSettings {
                keymap: loaded.keymap,
                host: "gpu-server".into(),
                project: "elt".into(),
                services: vec!["app".into()],
                read_only: false,
                mouse: false,
                log_tail: 500,
                log_ring: 1000,
                color: false,
            },
            t0(),
        )
    }

    fn screen(a: &App) -> String {
        let mut terminal = Terminal::new(TestBackend::new(160, 40)).unwrap();
        terminal.draw(|f| crate::ui::draw::draw(f, a)).unwrap();
        terminal.backend().to_string()
    }

    fn run() -> RunView {
        RunView {
            id: 19000000105,
            number: 105,
            status: "queued".into(),
            conclusion: None,
            branch: Some("main".into()),
            event: "workflow_dispatch".into(),
            head_sha: "2af620c8d8e21fec0444c3e505b830006d6e11fa".into(),
            title: Some("Build and push".into()),
            actor: None,
            created_at: t0(),
            updated_at: t0(),
            run_started_at: None,
            html_url: "https://github.com/o/r/actions/runs/19000000105".into(),
        }
    }

    fn budget(reset: DateTime<Utc>) -> Msg {
        Msg::Github(GithubMsg::Budget {
            rate: RateLimit {
                limit: Some(60),
                remaining: Some(51),
                used: Some(9),
                reset: Some(reset),
                resource: Some("core".into()),
            },
            blocked_until: None,
        })
    }

    #[test]
    fn the_header_says_when_the_rate_limit_reset_has_passed() {
        let mut a = app();
        crate::ui::app::update(&mut a, budget(t0() - chrono::Duration::hours(2)), t0());
        let text = screen(&a);
        assert!(text.contains("GitHub 51/60 reset passed"), "{text}");
        // A reset on another (local) day carries its date.
        crate::ui::app::update(&mut a, budget(t0() + chrono::Duration::hours(30)), t0());
        let text = screen(&a);
        let date = (t0() + chrono::Duration::hours(30))
            .with_timezone(&chrono::Local)
            .format("reset %Y-%m-%d %H:%M")
            .to_string();
        assert!(text.contains(&date), "{date}: {text}");
    }

    #[test]
    fn the_tags_panel_names_one_repositorys_error_and_a_partial_listing_beside_the_others() {
        use crate::status::RepoTags;
        let repo = |service: &str, error: Option<&str>, note: Option<&str>| RepoTags {
            service: service.into(),
            repository: format!("ghcr.io/o/{service}"),
            total: 3,
            tags: Vec::new(),
            truncated: false,
            not_inspected: 0,
            error: error.map(str::to_string),
            note: note.map(str::to_string),
        };
        let mut a = app();
        let repos = vec![
            repo("app", None, Some("GitHub Packages API: page 2 not read")),
            repo("worker", Some("registry ghcr.io not reachable"), None),
        ];
        crate::ui::app::update(&mut a, Msg::Tags(Ok(repos)), t0());
        let mut terminal = Terminal::new(TestBackend::new(240, 50)).unwrap();
        terminal.draw(|f| crate::ui::draw::draw(f, &a)).unwrap();
        let text = terminal.backend().to_string();
        assert!(
            text.contains("✖ worker: registry ghcr.io not reachable"),
            "{text}"
        );
        assert!(text.contains("page 2 not read"), "{text}");
    }

    #[test]
    fn the_run_dialog_title_stops_saying_loading_after_an_error() {
        let mut a = app();
        let mut fx = Vec::new();
        open_run(&mut a, run(), &mut fx);
        assert!(screen(&a).contains("· loading"));
        let msg = GithubMsg::RunDetails {
            run_id: 19000000105,
            result: Err("run 19000000105 not found (404)".into()),
        };
        crate::ui::app::update(&mut a, Msg::Github(msg), t0());
        let text = screen(&a);
        assert!(!text.contains("· loading"), "{text}");
        assert!(text.contains("· not loaded"), "{text}");
        assert!(text.contains("not found (404)"), "{text}");
    }

    #[test]
    fn an_accepted_dispatch_whose_run_cannot_be_read_closes_the_form_and_names_the_run() {
        let mut a = app();
        a.overlay = Overlay::Dispatch(Box::new(DispatchForm {
            stage: FormStage::Sending,
            data: None,
            values: Vec::new(),
            focus: 0,
            error: None,
        }));
        let msg = GithubMsg::DispatchAccepted {
            run_id: 19000000105,
            html_url: Some("https://github.com/o/r/actions/runs/19000000105".into()),
            error: "run not found (404)".into(),
        };
        let (fx, _) = crate::ui::app::update(&mut a, Msg::Github(msg), t0());
        assert!(matches!(a.overlay, Overlay::None));
        let (text, _) = a.message.clone().unwrap();
        assert!(
            text.contains(
                "dispatch accepted: run 19000000105 https://github.com/o/r/actions/runs/19000000105"
            ),
            "{text}"
        );
        assert!(fx.contains(&Effect::RefreshRemote));
    }
}
