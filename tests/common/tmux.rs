//! The binary in a real terminal: a detached tmux session that tests type into and read
//! back, killed when dropped. Included with `#[path = "common/tmux.rs"] mod tmux;` beside
//! `mod common;`.
#![allow(dead_code)]

use crate::common::{run_ok, wait_for};
use std::process::Command;
use std::time::Duration;

pub struct Tmux {
    session: String,
}

impl Tmux {
    /// `command` should end with a sleep, so the pane (and what the program left on the
    /// normal screen) outlives the program; the session is killed on drop.
    pub fn start(session: &str, width: u16, height: u16, command: &str) -> Self {
        // A session left by an interrupted earlier run would take the name.
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", session])
            .output();
        run_ok(Command::new("tmux").args([
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            command,
        ]));
        Self {
            session: session.to_string(),
        }
    }

    pub fn screen(&self) -> String {
        run_ok(Command::new("tmux").args(["capture-pane", "-p", "-t", &self.session]))
    }

    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            run_ok(Command::new("tmux").args(["send-keys", "-t", &self.session, k]));
            // Separate keys so ESC followed by a key is not read as Alt+key.
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    pub fn literal(&self, text: &str) {
        run_ok(Command::new("tmux").args(["send-keys", "-t", &self.session, "-l", text]));
    }

    /// Waits until the screen satisfies `pred`, and returns that screen.
    pub fn wait_screen(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        wait_for(what, timeout, || {
            let s = self.screen();
            pred(&s).then_some(s)
        })
    }

    /// A tmux format (`#{alternate_on}`) evaluated for this session's pane.
    pub fn display(&self, format: &str) -> String {
        run_ok(Command::new("tmux").args(["display-message", "-p", "-t", &self.session, format]))
            .trim()
            .to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .output();
    }
}
