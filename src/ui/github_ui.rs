//! The dashboard's GitHub dialogs, kept apart from the core app: a run's jobs and steps
//! (refreshed while the run is in progress), copying a run's URL, the workflow_dispatch form
//! and its confirmation, and the rate-limit state shown in the header. Pure, like `update`.

use super::dialogs::github::form_key;
pub use super::dialogs::github::{DispatchForm, FieldValue, FormStage, GithubUi, RunJobsView};
use super::model::{App, Effect, Overlay, Panel};
use super::panels::runs::selected_run;
pub use crate::collect::update::{FormData, GithubEffect, GithubMsg, RunImage};
use crate::domain::{CommitSha, RunView, TagView};
use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;

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
    super::deploying::open_deploy_confirm(app, view, fx);
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
    use crate::keymap::{Action, Scope};
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
        let leaving = app.keymap.action_in(Scope::Form, &key) == Some(Action::FormCancel)
            && matches!(form.stage, FormStage::Editing | FormStage::Loading);
        if leaving {
            app.overlay = Overlay::None;
            app.message = Some(("dispatch cancelled".into(), app.now));
        } else {
            form_key(form, key, &app.keymap, fx);
        }
        return true;
    }
    false
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
            super::panels::gh_deployments::update(
                &mut app.gh_deployments,
                &environment,
                result,
                now,
            );
            true
        }
    }
}
