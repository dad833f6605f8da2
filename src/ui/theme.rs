//! Colours that carry meaning, and none under NO_COLOR.

use ratatui::style::{Color, Modifier, Style};

/// Colours that carry meaning, dropped under NO_COLOR (glyphs still say it).
#[derive(Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    pub fn new(color: bool) -> Self {
        Self { color }
    }
    pub fn good(self) -> Style {
        self.fg(Color::Green)
    }
    pub fn bad(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    pub fn warn(self) -> Style {
        self.fg(Color::Yellow)
    }
    pub fn dim(self) -> Style {
        Style::default().add_modifier(Modifier::DIM)
    }
    pub fn accent(self) -> Style {
        self.fg(Color::Cyan)
    }
    pub fn fg(self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }
    pub fn focus_border(self) -> Style {
        if self.color {
            Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default().add_modifier(Modifier::BOLD)
        }
    }
    pub fn selected(self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }
    /// A GitHub run's or job's state as a glyph and its style: ✔ success, ✖ failed,
    /// ○ cancelled or skipped, ◐ running, … waiting, ? anything else.
    pub fn run_result(self, status: &str, conclusion: Option<&str>) -> (&'static str, Style) {
        match (status, conclusion) {
            (_, Some("success")) => ("✔", self.good()),
            (_, Some("failure" | "timed_out" | "startup_failure")) => ("✖", self.bad()),
            (_, Some("cancelled" | "skipped")) => ("○", self.dim()),
            ("in_progress", _) => ("◐", self.warn()),
            ("queued" | "waiting" | "pending" | "requested", _) => ("…", self.warn()),
            _ => ("?", Style::default()),
        }
    }
    pub fn highlight(self) -> Style {
        if self.color {
            Style::default().bg(Color::Yellow).fg(Color::Black)
        } else {
            Style::default().add_modifier(Modifier::REVERSED | Modifier::UNDERLINED)
        }
    }
}
