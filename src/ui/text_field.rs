//! A one-line text field (search, command palette, the dispatch form's text inputs) over
//! tui-input's `Input`: cursor movement (left/right, ctrl-left/right by word), home/end
//! (ctrl-a/ctrl-e), delete a word (ctrl-w) or the line (ctrl-u), with readline's keys.

use crossterm::event::{Event, KeyEvent};
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;

/// The cursor as drawn: a block at the insertion point.
pub const CURSOR: char = '█';

#[derive(Debug, Clone, Default)]
pub struct TextField(Input);

impl TextField {
    pub fn new(value: impl Into<String>) -> Self {
        Self(Input::new(value.into()))
    }

    pub fn value(&self) -> &str {
        self.0.value()
    }

    /// The cursor's position in characters from the start.
    pub fn cursor(&self) -> usize {
        self.0.cursor()
    }

    pub fn is_empty(&self) -> bool {
        self.value().is_empty()
    }

    /// Edit with this key; false when it is no editing key (Enter, Esc, Tab, ...), so the
    /// caller can act on it. At most `max` characters are kept.
    pub fn handle(&mut self, key: &KeyEvent, max: usize) -> bool {
        let Some(request) = to_input_request(&Event::Key(*key)) else {
            return false;
        };
        if matches!(request, tui_input::InputRequest::InsertChar(_))
            && self.value().chars().count() >= max
        {
            return true;
        }
        self.0.handle(request);
        true
    }

    /// The text with the cursor drawn where it is (`abc█` when it is at the end).
    pub fn with_cursor(&self) -> String {
        let mut out: String = self.value().chars().take(self.cursor()).collect();
        out.push(CURSOR);
        out.extend(self.value().chars().skip(self.cursor()));
        out
    }
}

impl PartialEq for TextField {
    fn eq(&self, other: &Self) -> bool {
        self.value() == other.value() && self.cursor() == other.cursor()
    }
}

impl From<&str> for TextField {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for TextField {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyModifiers};

    fn press(f: &mut TextField, code: KeyCode, modifiers: KeyModifiers) -> bool {
        f.handle(&KeyEvent::new(code, modifiers), 100)
    }

    #[test]
    fn cursor_moves_words_delete_and_home_end_work() {
        let mut f = TextField::new("error in model load");
        assert_eq!(f.with_cursor(), "error in model load█");
        press(&mut f, KeyCode::Char('w'), KeyModifiers::CONTROL);
        assert_eq!(f.value(), "error in model ");
        press(&mut f, KeyCode::Home, KeyModifiers::NONE);
        assert_eq!(f.cursor(), 0);
        press(&mut f, KeyCode::Char('!'), KeyModifiers::NONE);
        press(&mut f, KeyCode::Right, KeyModifiers::CONTROL);
        assert_eq!(
            f.with_cursor(),
            "!error █in model ",
            "to the next word's start"
        );
        press(&mut f, KeyCode::End, KeyModifiers::NONE);
        press(&mut f, KeyCode::Backspace, KeyModifiers::NONE);
        assert_eq!(f.value(), "!error in model");
        assert!(
            !press(&mut f, KeyCode::Enter, KeyModifiers::NONE),
            "Enter is the caller's"
        );
        let mut short = TextField::new("ab");
        short.handle(&KeyEvent::new(KeyCode::Char('c'), KeyModifiers::NONE), 2);
        assert_eq!(short.value(), "ab", "capped");
    }
}
