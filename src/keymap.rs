//! Keybindings as data: every action has embedded default keys (assets/default-config.toml,
//! `[keys]`), a user file replaces an action's keys, and a key bound to two actions or a key
//! name we cannot read is a config error — never a panic or a silent reset. Help and the
//! footer are generated from this map, so they cannot drift from what the keys do.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;
use std::fmt;

macro_rules! actions {
    ($($variant:ident => $name:literal, $help:literal, $scope:ident;)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action { $($variant,)* }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];
            pub fn name(self) -> &'static str {
                match self { $(Action::$variant => $name,)* }
            }
            pub fn help(self) -> &'static str {
                match self { $(Action::$variant => $help,)* }
            }
            /// Where the action applies: everywhere, in lists, or in the logs panel.
            pub fn scope(self) -> Scope {
                match self { $(Action::$variant => Scope::$scope,)* }
            }
            pub fn from_name(name: &str) -> Option<Action> {
                match name { $($name => Some(Action::$variant),)* _ => None }
            }
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    List,
    Logs,
    /// The deploy/rollback confirmation (and the dispatch form's last step).
    Confirm,
    /// The dispatch form while it is edited (other keys type into its fields).
    Form,
}

impl Scope {
    /// The keys of a dialog are read only while it is open, so they may reuse the
    /// dashboard's keys; within one context a key has one meaning.
    pub fn is_dialog(self) -> bool {
        self.context() != 0
    }

    fn context(self) -> u8 {
        match self {
            Scope::Global | Scope::List | Scope::Logs => 0,
            Scope::Confirm => 1,
            Scope::Form => 2,
        }
    }
}

actions! {
    Quit => "quit", "quit", Global;
    Help => "help", "show or hide this help", Global;
    Command => "command", "command palette (:logs NAME, :refresh, :quit)", Global;
    Redraw => "redraw", "redraw the screen", Global;
    ToggleMouse => "toggle_mouse", "mouse capture on/off", Global;
    FocusNext => "focus_next", "next panel", Global;
    FocusPrev => "focus_prev", "previous panel", Global;
    FocusContainers => "focus_containers", "containers panel", Global;
    FocusGpu => "focus_gpu", "GPU panel", Global;
    FocusHealth => "focus_health", "health panel", Global;
    FocusRuns => "focus_runs", "Actions runs panel", Global;
    FocusTags => "focus_tags", "tags panel", Global;
    FocusLogs => "focus_logs", "logs panel", Global;
    Down => "down", "move down", List;
    Up => "up", "move up", List;
    PageDown => "page_down", "page down", List;
    PageUp => "page_up", "page up", List;
    Top => "top", "go to the top", List;
    Bottom => "bottom", "go to the bottom (logs: follow again)", List;
    Open => "open", "details of the selection (containers: follow its logs)", List;
    Back => "back", "close a dialog, clear the search", Global;
    Refresh => "refresh", "refresh GitHub runs and registry tags now", Global;
    Search => "search", "search the logs", Logs;
    SearchNext => "search_next", "next match", Logs;
    SearchPrev => "search_prev", "previous match", Logs;
    Filter => "filter", "show only matching lines", Logs;
    Pause => "pause", "pause/resume the log view", Logs;
    Wrap => "wrap", "wrap long lines", Logs;
    Timestamps => "timestamps", "show timestamps", Logs;
    SaveLogs => "save_logs", "save the log buffer to a file", Logs;
    Deploy => "deploy", "deploy the selected tag (tags panel), after a confirmation", Global;
    Rollback => "rollback", "roll back to the selected tag (tags panel), else to the previous version, after a confirmation", Global;
    History => "history", "deploy history", Global;
    Dispatch => "dispatch", "trigger the build workflow (form with its inputs)", Global;
    CopyUrl => "copy_url", "show the selected run's URL and copy it (OSC 52)", List;
    NextService => "next_service", "tags panel: next service (d/R move it only)", List;
    Hosts => "hosts", "hosts overview on/off (enter or :host NAME shows one)", Global;
    NextHost => "next_host", "show the next host's dashboard", Global;
    PrevHost => "prev_host", "show the previous host's dashboard", Global;
    ConfirmYes => "confirm_yes", "confirmation: move to the Deploy button (the dispatch confirmation: send)", Confirm;
    ConfirmNo => "confirm_no", "confirmation: cancel, nothing changes", Confirm;
    ConfirmSwitch => "confirm_switch", "confirmation: switch between Cancel and Deploy", Confirm;
    ConfirmPress => "confirm_press", "confirmation: press the selected button (Cancel by default)", Confirm;
    FormNext => "form_next", "dispatch form: next field", Form;
    FormPrev => "form_prev", "dispatch form: previous field", Form;
    FormSubmit => "form_submit", "dispatch form: review the request before sending", Form;
    FormCancel => "form_cancel", "dispatch form: close without sending", Form;
    FormToggle => "form_toggle", "dispatch form: flip a boolean, next choice", Form;
    FormLeft => "form_left", "dispatch form: flip a boolean, previous choice", Form;
    FormRight => "form_right", "dispatch form: flip a boolean, next choice", Form;
}

impl Action {
    /// The keys of several hosts (`[[hosts]]`): help and the footer list them only when
    /// hosts are configured.
    pub fn is_hosts(self) -> bool {
        matches!(self, Action::Hosts | Action::NextHost | Action::PrevHost)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A key name we cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key {0:?}")]
pub struct UnknownKey(String);

/// One key with its modifiers, normalised so `G` and `shift-g` are the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    code: KeyCodeOrd,
    ctrl: bool,
    alt: bool,
}

/// KeyCode is not Ord; we only need the codes we can parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum KeyCodeOrd {
    Char(char),
    F(u8),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Delete,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
}

impl Key {
    pub fn parse(text: &str) -> Result<Key, UnknownKey> {
        let mut rest = text;
        let (mut ctrl, mut alt) = (false, false);
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-").filter(|r| !r.is_empty()) {
                ctrl = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-").filter(|r| !r.is_empty()) {
                alt = true;
                rest = r;
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) if !c.is_control() => KeyCodeOrd::Char(c),
            _ => match rest {
                "enter" => KeyCodeOrd::Enter,
                "esc" => KeyCodeOrd::Esc,
                "tab" => KeyCodeOrd::Tab,
                "shift-tab" | "backtab" => KeyCodeOrd::BackTab,
                "space" => KeyCodeOrd::Char(' '),
                "backspace" => KeyCodeOrd::Backspace,
                "delete" => KeyCodeOrd::Delete,
                "up" => KeyCodeOrd::Up,
                "down" => KeyCodeOrd::Down,
                "left" => KeyCodeOrd::Left,
                "right" => KeyCodeOrd::Right,
                "pageup" => KeyCodeOrd::PageUp,
                "pagedown" => KeyCodeOrd::PageDown,
                "home" => KeyCodeOrd::Home,
                "end" => KeyCodeOrd::End,
                f if f.starts_with('f') => match f[1..].parse::<u8>() {
                    Ok(n @ 1..=12) => KeyCodeOrd::F(n),
                    _ => return Err(UnknownKey(text.to_string())),
                },
                _ => return Err(UnknownKey(text.to_string())),
            },
        };
        // ctrl-<letter> is case-blind in terminals.
        let code = match code {
            KeyCodeOrd::Char(c) if ctrl => KeyCodeOrd::Char(c.to_ascii_lowercase()),
            other => other,
        };
        Ok(Key { code, ctrl, alt })
    }

    pub fn from_event(e: &KeyEvent) -> Option<Key> {
        let code = match e.code {
            KeyCode::Char(c) => KeyCodeOrd::Char(if e.modifiers.contains(KeyModifiers::CONTROL) {
                c.to_ascii_lowercase()
            } else {
                c
            }),
            KeyCode::F(n) => KeyCodeOrd::F(n),
            KeyCode::Enter => KeyCodeOrd::Enter,
            KeyCode::Esc => KeyCodeOrd::Esc,
            KeyCode::Tab => KeyCodeOrd::Tab,
            KeyCode::BackTab => KeyCodeOrd::BackTab,
            KeyCode::Backspace => KeyCodeOrd::Backspace,
            KeyCode::Delete => KeyCodeOrd::Delete,
            KeyCode::Up => KeyCodeOrd::Up,
            KeyCode::Down => KeyCodeOrd::Down,
            KeyCode::Left => KeyCodeOrd::Left,
            KeyCode::Right => KeyCodeOrd::Right,
            KeyCode::PageUp => KeyCodeOrd::PageUp,
            KeyCode::PageDown => KeyCodeOrd::PageDown,
            KeyCode::Home => KeyCodeOrd::Home,
            KeyCode::End => KeyCodeOrd::End,
            _ => return None,
        };
        Some(Key {
            code,
            ctrl: e.modifiers.contains(KeyModifiers::CONTROL),
            alt: e.modifiers.contains(KeyModifiers::ALT),
        })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        if self.alt {
            f.write_str("alt-")?;
        }
        match self.code {
            KeyCodeOrd::Char(' ') => f.write_str("space"),
            KeyCodeOrd::Char(c) => write!(f, "{c}"),
            KeyCodeOrd::F(n) => write!(f, "f{n}"),
            KeyCodeOrd::Enter => f.write_str("enter"),
            KeyCodeOrd::Esc => f.write_str("esc"),
            KeyCodeOrd::Tab => f.write_str("tab"),
            KeyCodeOrd::BackTab => f.write_str("shift-tab"),
            KeyCodeOrd::Backspace => f.write_str("backspace"),
            KeyCodeOrd::Delete => f.write_str("delete"),
            KeyCodeOrd::Up => f.write_str("up"),
            KeyCodeOrd::Down => f.write_str("down"),
            KeyCodeOrd::Left => f.write_str("left"),
            KeyCodeOrd::Right => f.write_str("right"),
            KeyCodeOrd::PageUp => f.write_str("pageup"),
            KeyCodeOrd::PageDown => f.write_str("pagedown"),
            KeyCodeOrd::Home => f.write_str("home"),
            KeyCodeOrd::End => f.write_str("end"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Keymap {
    /// (context, key): the dashboard's keys, the confirmation's, the form's.
    by_key: BTreeMap<(u8, Key), Action>,
    by_action: BTreeMap<Action, Vec<Key>>,
}

/// A keymap problem, naming the action whose entry is at fault (for the config's origin map).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeymapError {
    pub action: String,
    pub message: String,
}

impl Keymap {
    /// Build from the merged `[keys]` table. Every action must be present (the embedded
    /// defaults guarantee it); unknown action names are refused.
    pub fn from_table(table: &BTreeMap<String, Vec<String>>) -> Result<Keymap, KeymapError> {
        let mut by_key: BTreeMap<(u8, Key), Action> = BTreeMap::new();
        let mut by_action: BTreeMap<Action, Vec<Key>> = BTreeMap::new();
        for (name, keys) in table {
            let action = Action::from_name(name).ok_or_else(|| KeymapError {
                action: name.clone(),
                message: "unknown action".into(),
            })?;
            for text in keys {
                let key = Key::parse(text).map_err(|e| KeymapError {
                    action: name.clone(),
                    message: e.to_string(),
                })?;
                if let Some(other) = by_key.insert((action.scope().context(), key), action)
                    && other != action
                {
                    return Err(KeymapError {
                        action: name.clone(),
                        message: format!("key {key} is also bound to {other}"),
                    });
                }
                by_action.entry(action).or_default().push(key);
            }
        }
        Ok(Keymap { by_key, by_action })
    }

    /// The dashboard's action for a key (no dialog open).
    pub fn action(&self, event: &KeyEvent) -> Option<Action> {
        self.action_in(Scope::Global, event)
    }

    /// The action a key means where `scope`'s keys are read (a dialog's, or the dashboard's).
    pub fn action_in(&self, scope: Scope, event: &KeyEvent) -> Option<Action> {
        Key::from_event(event).and_then(|k| self.by_key.get(&(scope.context(), k)).copied())
    }

    pub fn keys(&self, action: Action) -> &[Key] {
        self.by_action
            .get(&action)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// "j/down" style label of an action's keys.
    pub fn label(&self, action: Action) -> String {
        let keys: Vec<String> = self.keys(action).iter().map(Key::to_string).collect();
        if keys.is_empty() {
            "(unbound)".into()
        } else {
            keys.join("/")
        }
    }

    /// The keys a one-line dialog hint names: the named keys (arrows as ←/→/↑/↓), leaving
    /// out letter aliases and shift-tab beside tab, which the help overlay lists; an action
    /// bound to letters only shows them.
    pub fn hint_label(&self, action: Action) -> String {
        let keys = self.keys(action);
        let named =
            |k: &&Key| k.ctrl || k.alt || !matches!(k.code, KeyCodeOrd::Char(c) if c != ' ');
        let has_named = keys.iter().any(|k| named(&k));
        let has_tab = keys.iter().any(|k| k.code == KeyCodeOrd::Tab);
        let shown: Vec<String> = keys
            .iter()
            .filter(|k| !has_named || named(k))
            .filter(|k| !(has_tab && k.code == KeyCodeOrd::BackTab))
            .map(|k| match (k.ctrl || k.alt, k.code) {
                (false, KeyCodeOrd::Left) => "←".to_string(),
                (false, KeyCodeOrd::Right) => "→".to_string(),
                (false, KeyCodeOrd::Up) => "↑".to_string(),
                (false, KeyCodeOrd::Down) => "↓".to_string(),
                _ => k.to_string(),
            })
            .collect();
        if shown.is_empty() {
            "(unbound)".into()
        } else {
            shown.join("/")
        }
    }

    /// Rows of the help overlay, in declaration order: (keys, action, what it does).
    pub fn help_rows(&self) -> Vec<(String, &'static str, &'static str)> {
        Action::ALL
            .iter()
            .map(|a| (self.label(*a), a.name(), a.help()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(a, ks)| (a.to_string(), ks.iter().map(|k| k.to_string()).collect()))
            .collect()
    }

    #[test]
    fn keys_parse_and_print_back() {
        for k in [
            "q",
            "G",
            "?",
            "ctrl-l",
            "shift-tab",
            "space",
            "pagedown",
            "f5",
            "alt-x",
            "enter",
        ] {
            assert_eq!(Key::parse(k).unwrap().to_string(), k);
        }
        assert_eq!(Key::parse("ctrl-L").unwrap(), Key::parse("ctrl-l").unwrap());
        for bad in ["", "ctrl-", "foo", "f13", "\u{7}"] {
            assert!(Key::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn events_map_to_actions() {
        let km = Keymap::from_table(&table(&[
            ("quit", &["q"]),
            ("bottom", &["G"]),
            ("redraw", &["ctrl-l"]),
        ]))
        .unwrap();
        let ev = |code, m| KeyEvent::new(code, m);
        assert_eq!(
            km.action(&ev(KeyCode::Char('q'), KeyModifiers::NONE)),
            Some(Action::Quit)
        );
        assert_eq!(
            km.action(&ev(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Bottom)
        );
        assert_eq!(
            km.action(&ev(KeyCode::Char('l'), KeyModifiers::CONTROL)),
            Some(Action::Redraw)
        );
        assert_eq!(km.action(&ev(KeyCode::Char('l'), KeyModifiers::NONE)), None);
    }

    #[test]
    fn clashes_and_bad_names_are_errors() {
        let err = Keymap::from_table(&table(&[("quit", &["q"]), ("refresh", &["q"])])).unwrap_err();
        assert_eq!(err.action, "refresh");
        assert!(
            err.message.contains("key q is also bound to quit"),
            "{err:?}"
        );
        let err = Keymap::from_table(&table(&[("launch", &["x"])])).unwrap_err();
        assert_eq!(err.message, "unknown action");
        let err = Keymap::from_table(&table(&[("quit", &["ctrl-"])])).unwrap_err();
        assert!(err.message.contains("unknown key"));
    }

    #[test]
    fn dialog_keys_reuse_the_dashboards_but_not_each_other() {
        let map = Keymap::from_table(&table(&[
            ("quit", &["q"]),
            ("confirm_no", &["q", "esc"]),
            ("form_cancel", &["esc"]),
        ]))
        .unwrap();
        let q = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(map.action(&q), Some(Action::Quit));
        assert_eq!(map.action_in(Scope::Confirm, &q), Some(Action::ConfirmNo));
        assert_eq!(
            map.action_in(Scope::Form, &q),
            None,
            "q types into a form field"
        );
        let err = Keymap::from_table(&table(&[("confirm_no", &["n"]), ("confirm_yes", &["n"])]))
            .unwrap_err();
        assert!(err.message.contains("also bound to confirm_no"), "{err:?}");
    }

    #[test]
    fn every_action_has_a_help_row() {
        let km = Keymap::from_table(&table(&[("quit", &["q"])])).unwrap();
        let rows = km.help_rows();
        assert_eq!(rows.len(), Action::ALL.len());
        assert_eq!(rows[0], ("q".to_string(), "quit", "quit"));
    }
}
