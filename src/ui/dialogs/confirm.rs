//! The deploy/rollback confirmation: what will happen, default answer Cancel; only Enter on
//! the Deploy button sends the request on (the "starting" state it then leaves in the deploy
//! panel is the panel's: panels/deploys/state.rs).

use crate::domain::DeployIntent;
use crate::keymap::{Action, Keymap};
use crate::store::DeployKind;
use crate::ui::text::centered;
use crate::ui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

/// What the confirmation dialog offers. Only `Enter` on the Deploy button sends it on.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfirmDeploy {
    /// Exactly what Deploy starts.
    pub request: DeployIntent,
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
    /// The title's key hint, from the keymap (`confirm_hint`), so a rebound key shows.
    pub hint: String,
}

/// The confirmation's key hint: how to choose, confirm and cancel with the keys bound now.
pub fn confirm_hint(keymap: &Keymap) -> String {
    format!(
        "{} choose, {} confirms the highlighted button, {} cancels",
        keymap.hint_label(Action::ConfirmSwitch),
        keymap.hint_label(Action::ConfirmPress),
        keymap.hint_label(Action::ConfirmNo),
    )
}

impl ConfirmDeploy {
    /// What Deploy starts: the intent, for the one service or the whole deployment.
    pub fn start_request(&self) -> crate::domain::StartRequest {
        crate::domain::StartRequest {
            intent: self.request.clone(),
            services: self.service.iter().cloned().collect(),
        }
    }

    pub fn target(&self) -> String {
        self.request.target()
    }

    pub fn kind(&self) -> DeployKind {
        self.request.kind()
    }

    /// The `commits` row (and the commit rows under it) become GitHub's answer.
    pub fn answer_commits(&mut self, rows: Vec<(String, String)>) {
        let Some(at) = self.rows.iter().position(|(k, _)| k == "commits") else {
            return;
        };
        let end = self.rows[at + 1..]
            .iter()
            .position(|(k, _)| !k.is_empty())
            .map_or(self.rows.len(), |n| at + 1 + n);
        self.rows.splice(at..end, rows);
    }
}

/// Where a key left the confirmation dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmResult {
    Pending,
    Confirmed,
    Cancelled,
}

pub(crate) fn confirm_key(c: &mut ConfirmDeploy, action: Option<Action>) -> ConfirmResult {
    match action {
        Some(Action::ConfirmNo) => ConfirmResult::Cancelled,
        Some(Action::ConfirmSwitch) => {
            c.confirm_selected = !c.confirm_selected;
            ConfirmResult::Pending
        }
        // `y` only moves to the button: confirming takes a second, deliberate key.
        Some(Action::ConfirmYes) => {
            c.confirm_selected = true;
            ConfirmResult::Pending
        }
        Some(Action::ConfirmPress) if c.confirm_selected => ConfirmResult::Confirmed,
        Some(Action::ConfirmPress) => ConfirmResult::Cancelled,
        _ => ConfirmResult::Pending,
    }
}

pub fn draw_confirm(frame: &mut Frame, area: Rect, c: &ConfirmDeploy, theme: Theme) {
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
    let action = match c.kind() {
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
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" {} ({}) ", c.title, c.hint)),
        ),
        popup,
    );
}
