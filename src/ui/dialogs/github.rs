//! The GitHub dialogs: a run's jobs and steps, and the workflow_dispatch form with its
//! confirmation; their state, keys and drawing. The app-level side (opening them, GitHub's
//! answers) is in `ui::github_ui`.

use crate::collect::update::{FormData, GithubEffect, RunImage};
use crate::domain::{JobView, RunView};
use crate::format::age;
use crate::keymap::{Action, Keymap, Scope};
use crate::ui::msg::Effect;
use crate::ui::text_field::{CURSOR, TextField};
use crate::ui::theme::Theme;
use crate::workflow::{self, InputKind};
use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

#[derive(Debug, Clone, Default)]
pub struct GithubUi {
    pub blocked_until: Option<DateTime<Utc>>,
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

#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Text(TextField),
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
    pub(crate) fn from_data(data: FormData) -> Self {
        let mut values = vec![FieldValue::Text(data.default_ref.as_str().into())];
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
                _ => FieldValue::Text(input.default.clone().unwrap_or_default().into()),
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
            Some(FieldValue::Text(r)) => {
                workflow::validate_ref(r.value().trim()).map_err(|e| e.to_string())?
            }
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
                (FieldValue::Text(t), _) => t.value().to_string(),
                (FieldValue::Choice(_), _) => continue,
            };
            given.push((input.name.clone(), v));
        }
        let inputs = workflow::validate_inputs(&data.spec, &given).map_err(|e| e.to_string())?;
        Ok(workflow::dispatch_body(&git_ref, &inputs))
    }
}

pub(crate) fn form_key(
    form: &mut DispatchForm,
    key: KeyEvent,
    keymap: &Keymap,
    fx: &mut Vec<Effect>,
) {
    if let FormStage::Confirm(body) = &form.stage {
        // Default answer is Cancel: only `y` sends.
        if keymap.action_in(Scope::Confirm, &key) == Some(Action::ConfirmYes) {
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
    let action = keymap.action_in(Scope::Form, &key);
    match action {
        Some(Action::FormNext) => form.focus = (focus + 1) % count,
        Some(Action::FormPrev) => form.focus = (focus + count - 1) % count,
        Some(Action::FormSubmit) => match form.body() {
            Ok(body) => {
                form.error = None;
                form.stage = FormStage::Confirm(body);
            }
            Err(e) => form.error = Some(e),
        },
        _ => {
            let n = options(form, focus);
            use Action::{FormLeft, FormRight, FormToggle};
            match (form.values.get_mut(focus), action) {
                // Typing, cursor keys, home/end, ctrl-w and ctrl-u edit the text.
                (Some(FieldValue::Text(t)), _) => {
                    t.handle(&key, 1000);
                }
                (Some(FieldValue::Bool(b)), Some(FormToggle | FormLeft | FormRight)) => *b = !*b,
                (Some(FieldValue::Choice(i)), Some(FormRight | FormToggle)) if n > 0 => {
                    *i = (*i + 1) % n
                }
                (Some(FieldValue::Choice(i)), Some(FormLeft)) if n > 0 => *i = (*i + n - 1) % n,
                _ => {}
            }
        }
    }
}

fn popup(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width.saturating_sub(4));
    let h = height.min(area.height.saturating_sub(2));
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn dur(s: Option<i64>) -> String {
    match s {
        None => "-".into(),
        Some(s) if s < 60 => format!("{s}s"),
        Some(s) => format!("{}m{:02}s", s / 60, s % 60),
    }
}

fn result_span(status: &str, conclusion: Option<&str>, theme: Theme) -> Span<'static> {
    let (glyph, style) = theme.run_result(status, conclusion);
    Span::styled(
        format!("{glyph} {:<11}", conclusion.unwrap_or(status)),
        style,
    )
}

pub fn draw_run_jobs(
    frame: &mut Frame,
    area: Rect,
    view: &RunJobsView,
    now: DateTime<Utc>,
    theme: Theme,
) {
    let r = &view.run;
    let mut lines = vec![
        Line::from(vec![
            result_span(&r.status, r.conclusion.as_deref(), theme),
            Span::raw(format!(
                " {} · {} · {} · {} ago · took {}",
                r.branch.as_deref().unwrap_or("-"),
                r.short_sha(),
                r.event,
                age(r.created_at, now),
                dur(Some(r.duration_secs()))
            )),
        ]),
        Line::styled(r.html_url.clone(), theme.accent()),
    ];
    match &view.image {
        RunImage::None => {}
        RunImage::Waiting(tag) => lines.push(Line::styled(
            format!("succeeded: waiting for image {tag} in the registry…"),
            theme.dim(),
        )),
        RunImage::Ready(tag) => lines.push(Line::styled(
            format!(
                "image {tag} is in the registry: {} deploys it (after a confirmation)",
                view.deploy_key
            ),
            theme.good(),
        )),
        RunImage::Unavailable(why) => lines.push(Line::styled(
            format!("no image to deploy: {why}"),
            theme.bad(),
        )),
    }
    lines.push(Line::raw(""));
    match (&view.jobs, &view.error) {
        (None, None) => lines.push(Line::styled("loading jobs…", theme.dim())),
        (jobs, error) => {
            if let Some(e) = error {
                lines.push(Line::styled(format!("✖ {e}"), theme.bad()));
            }
            for j in jobs.iter().flatten() {
                lines.push(Line::from(vec![
                    Span::styled(
                        format!("job {:<30} ", j.name),
                        Style::default().add_modifier(Modifier::BOLD),
                    ),
                    result_span(&j.status, j.conclusion.as_deref(), theme),
                    Span::raw(format!(" {}", dur(j.duration_secs(now)))),
                ]));
                for s in &j.steps {
                    lines.push(Line::from(vec![
                        Span::raw(format!("  {:>2}. {:<40} ", s.number, shorten(&s.name, 40))),
                        result_span(&s.status, s.conclusion.as_deref(), theme),
                        Span::raw(format!(" {}", dur(s.duration_secs(now)))),
                    ]));
                }
            }
        }
    }
    // The error itself is the dialog's first line; the title says the state it left.
    let fresh = match (view.loaded_at, &view.error) {
        (None, Some(_)) => "not loaded".into(),
        (Some(t), Some(_)) => format!("refresh failed, data {} old", age(t, now)),
        (Some(t), None) if !r.is_completed() => format!("refreshing, {} ago", age(t, now)),
        (Some(t), None) => format!("{} ago", age(t, now)),
        (None, None) => "loading".into(),
    };
    let rect = popup(area, 100, lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).scroll((view.scroll, 0)).block(
            Block::default().borders(Borders::ALL).title(format!(
                " run #{} {} · {fresh} (y copies the URL, esc closes) ",
                r.number,
                shorten(r.title.as_deref().unwrap_or(""), 30)
            )),
        ),
        rect,
    );
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
}

pub fn draw_dispatch(frame: &mut Frame, area: Rect, form: &DispatchForm, theme: Theme) {
    let mut lines = Vec::new();
    let title;
    match (&form.stage, &form.data) {
        (FormStage::Loading, _) => {
            title = " dispatch: reading the workflow… (esc cancels) ".to_string();
            lines.push(Line::styled(
                "reading the workflow file's inputs from GitHub…",
                theme.dim(),
            ));
        }
        (FormStage::Confirm(body), Some(d)) => {
            title = " dispatch: confirm ".to_string();
            lines.push(Line::raw(format!(
                "POST /repos/{}/actions/workflows/{}/dispatches",
                d.repository, d.workflow
            )));
            lines.push(Line::styled(body.to_string(), theme.accent()));
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                "y dispatches; any other key goes back to the form",
                Style::default().add_modifier(Modifier::BOLD),
            ));
        }
        (_, data) => {
            title = match data {
                Some(d) => format!(" dispatch {} in {} ", d.workflow, d.repository),
                None => " dispatch ".to_string(),
            };
            if let Some(d) = data {
                let mut row = |i: usize, label: String, value: String, hint: String| {
                    let focused = form.focus == i;
                    let style = if focused {
                        Style::default().add_modifier(Modifier::REVERSED)
                    } else {
                        Style::default()
                    };
                    lines.push(Line::from(vec![
                        Span::styled(
                            format!("{label:>14} "),
                            Style::default().add_modifier(Modifier::BOLD),
                        ),
                        // A text field draws its own cursor (`value` from `with_cursor`).
                        Span::styled(
                            if focused && !value.contains(CURSOR) {
                                format!("{value}{CURSOR}")
                            } else {
                                value
                            },
                            style,
                        ),
                        Span::styled(format!("  {hint}"), theme.dim()),
                    ]));
                };
                let text = |t: &TextField, i: usize| {
                    if form.focus == i {
                        t.with_cursor()
                    } else {
                        t.value().to_string()
                    }
                };
                let r = match form.values.first() {
                    Some(FieldValue::Text(t)) => text(t, 0),
                    _ => String::new(),
                };
                row(0, "ref".into(), r, "branch or tag".into());
                for (i, (input, value)) in d
                    .spec
                    .inputs
                    .iter()
                    .zip(form.values.iter().skip(1))
                    .enumerate()
                {
                    let (shown, hint) = match (value, &input.kind) {
                        (FieldValue::Bool(b), _) => (
                            if *b { "[x] true" } else { "[ ] false" }.to_string(),
                            "boolean, space toggles".to_string(),
                        ),
                        (FieldValue::Choice(c), InputKind::Choice(options)) => (
                            format!("< {} >", options.get(*c).cloned().unwrap_or_default()),
                            format!("one of {}", options.join(", ")),
                        ),
                        (FieldValue::Text(t), kind) => (
                            text(t, i + 1),
                            match kind {
                                InputKind::Number => "number".into(),
                                InputKind::Environment => "environment".into(),
                                _ => "string".into(),
                            },
                        ),
                        (FieldValue::Choice(_), _) => (String::new(), String::new()),
                    };
                    let hint = format!(
                        "{hint}{}{}",
                        if input.required { ", required" } else { "" },
                        if input.description.is_empty() {
                            String::new()
                        } else {
                            format!(" — {}", input.description)
                        }
                    );
                    row(i + 1, input.name.clone(), shown, hint);
                }
            }
            lines.push(Line::raw(""));
            if form.stage == FormStage::Sending {
                lines.push(Line::styled("dispatching…", theme.warn()));
            } else {
                lines.push(Line::styled(
                    "tab/↑↓ move · type to edit · enter reviews the request · esc cancels",
                    theme.dim(),
                ));
            }
        }
    }
    if let Some(e) = &form.error {
        lines.push(Line::styled(format!("✖ {e}"), theme.bad()));
    }
    let rect = popup(area, 100, lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(title)),
        rect,
    );
}
