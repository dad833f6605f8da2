//! The logs panel's state: the selected container's logs, a bounded ring of sanitised lines and the view over it
//! (follow or anchored, search, filter, wrap, timestamps). Pure data; no I/O.

use crate::sanitize::StyledLine;
use std::collections::VecDeque;

#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub seq: u64,
    /// `HH:MM:SS.mmm` from the engine's timestamp, when it sent one.
    pub time: Option<String>,
    pub stderr: bool,
    pub line: StyledLine,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StreamState {
    Idle,
    Connecting,
    Following,
    Ended(String),
}

#[derive(Debug, Clone)]
pub struct LogView {
    pub container_id: Option<String>,
    pub container_name: String,
    /// The compose service followed (empty when unknown): a replacement container of the same
    /// service carries on in the same view.
    pub service: String,
    /// Whether the followed container is a one-off (`compose run`), which has no replacement.
    pub oneoff: bool,
    pub state: StreamState,
    lines: VecDeque<LogLine>,
    cap: usize,
    next_seq: u64,
    pub dropped: u64,
    /// Seq of the bottom visible line; None follows the newest line.
    pub anchor: Option<u64>,
    pub paused: bool,
    pub wrap: bool,
    pub timestamps: bool,
    /// Lowercase pattern when smart-case says case-insensitive.
    pub search: Option<String>,
    pub filter: bool,
    pub current_match: Option<u64>,
}

impl LogView {
    pub fn new(cap: usize) -> Self {
        Self {
            container_id: None,
            container_name: String::new(),
            service: String::new(),
            oneoff: false,
            state: StreamState::Idle,
            lines: VecDeque::with_capacity(cap.min(4096)),
            cap,
            next_seq: 0,
            dropped: 0,
            anchor: None,
            paused: false,
            wrap: false,
            timestamps: false,
            search: None,
            filter: false,
            current_match: None,
        }
    }

    /// Start over for another container (the ring belongs to one stream).
    pub fn switch_to(&mut self, id: String, name: String) {
        self.container_id = Some(id);
        self.container_name = name;
        self.state = StreamState::Connecting;
        self.lines.clear();
        self.dropped = 0;
        self.anchor = None;
        self.paused = false;
        self.current_match = None;
    }

    /// Carry on with the service's next container in the same view (its lines kept).
    pub fn continue_with(&mut self, id: String, name: String) {
        self.container_id = Some(id);
        self.container_name = name;
        self.state = StreamState::Connecting;
    }

    /// A line of our own in the log (a restart, a replacement), set apart from the
    /// container's lines by its dashes and dim italics.
    pub fn mark(&mut self, text: &str) {
        let style = ratatui::style::Style::default()
            .add_modifier(ratatui::style::Modifier::DIM | ratatui::style::Modifier::ITALIC);
        self.push(
            None,
            false,
            StyledLine {
                text: format!("— {text} —"),
                styles: vec![(0, style)],
                cut_bytes: 0,
            },
        );
    }

    pub fn push(&mut self, time: Option<String>, stderr: bool, line: StyledLine) {
        if self.lines.len() == self.cap {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines.push_back(LogLine {
            seq: self.next_seq,
            time,
            stderr,
            line,
        });
        self.next_seq += 1;
        // An anchor that scrolled out of the ring sticks to the oldest line kept.
        if let (Some(a), Some(first)) = (self.anchor, self.first_seq())
            && a < first
        {
            self.anchor = Some(first);
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
    fn first_seq(&self) -> Option<u64> {
        self.lines.front().map(|l| l.seq)
    }
    fn last_seq(&self) -> Option<u64> {
        self.lines.back().map(|l| l.seq)
    }
    fn get(&self, seq: u64) -> Option<&LogLine> {
        let first = self.first_seq()?;
        self.lines.get(seq.checked_sub(first)? as usize)
    }

    pub fn matches(&self, line: &LogLine) -> bool {
        match &self.search {
            None => false,
            Some(p) => contains_smart_case(&line.line.text, p),
        }
    }

    fn visible(&self, line: &LogLine) -> bool {
        !self.filter || self.search.is_none() || self.matches(line)
    }

    /// Lines received after the bottom of an anchored view (counted, not lost, while paused).
    pub fn unseen(&self) -> u64 {
        match (self.anchor, self.last_seq()) {
            (Some(a), Some(last)) => last.saturating_sub(a),
            _ => 0,
        }
    }

    /// The lines to show in `height` rows, oldest first (before wrapping).
    pub fn window(&self, height: usize) -> Vec<&LogLine> {
        let bottom = self.anchor.or(self.last_seq());
        let Some(bottom) = bottom else {
            return Vec::new();
        };
        let mut out: Vec<&LogLine> = self
            .lines
            .iter()
            .rev()
            .skip_while(|l| l.seq > bottom)
            .filter(|l| self.visible(l))
            .take(height)
            .collect();
        out.reverse();
        out
    }

    /// Move the view `delta` visible lines (negative: up, into history).
    pub fn scroll(&mut self, delta: i64) {
        let Some(last) = self.last_seq() else { return };
        let current = self.anchor.unwrap_or(last);
        let visible: Vec<u64> = self
            .lines
            .iter()
            .filter(|l| self.visible(l))
            .map(|l| l.seq)
            .collect();
        if visible.is_empty() {
            return;
        }
        let pos = visible.partition_point(|s| *s <= current).saturating_sub(1) as i64;
        let target = (pos + delta).clamp(0, visible.len() as i64 - 1) as usize;
        let seq = visible[target];
        // Scrolling back to the newest line resumes following unless paused.
        self.anchor = if seq == last && !self.paused {
            None
        } else {
            Some(seq)
        };
    }

    pub fn to_top(&mut self) {
        let first = self.lines.iter().find(|l| self.visible(l)).map(|l| l.seq);
        self.anchor = first;
    }

    pub fn follow(&mut self) {
        self.paused = false;
        self.anchor = None;
    }

    pub fn toggle_pause(&mut self) {
        self.paused = !self.paused;
        if self.paused {
            self.anchor = self.anchor.or(self.last_seq());
        } else {
            self.anchor = None;
        }
    }

    /// Smart case: a pattern with an uppercase letter is matched exactly.
    pub fn set_search(&mut self, pattern: &str) {
        self.search = (!pattern.is_empty()).then(|| pattern.to_string());
        self.current_match = None;
    }

    pub fn match_count(&self) -> usize {
        if self.search.is_none() {
            return 0;
        }
        self.lines.iter().filter(|l| self.matches(l)).count()
    }

    /// Jump to the next (or previous) matching line, keeping `context` lines below it.
    pub fn jump(&mut self, forward: bool, context: u64) -> bool {
        let Some(last) = self.last_seq() else {
            return false;
        };
        let from = self.current_match.unwrap_or(if forward {
            self.anchor.map_or(0, |a| a.saturating_sub(context))
        } else {
            self.anchor.unwrap_or(last) + 1
        });
        let hit = if forward {
            self.lines.iter().find(|l| l.seq > from && self.matches(l))
        } else {
            self.lines
                .iter()
                .rev()
                .find(|l| l.seq < from && self.matches(l))
        }
        .map(|l| l.seq);
        match hit {
            Some(seq) => {
                self.current_match = Some(seq);
                self.anchor = Some((seq + context).min(last));
                true
            }
            None => false,
        }
    }

    /// The whole buffer as text, for saving.
    pub fn export(&self) -> String {
        let mut out = String::new();
        for l in &self.lines {
            if let Some(t) = &l.time {
                out.push_str(t);
                out.push(' ');
            }
            out.push_str(&l.line.text);
            out.push('\n');
        }
        out
    }

    pub fn line(&self, seq: u64) -> Option<&LogLine> {
        self.get(seq)
    }
}

pub fn contains_smart_case(text: &str, pattern: &str) -> bool {
    if pattern.chars().any(char::is_uppercase) {
        text.contains(pattern)
    } else {
        text.to_lowercase().contains(pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sanitize::sanitize;

    fn view_with(n: usize, cap: usize) -> LogView {
        let mut v = LogView::new(cap);
        v.switch_to("id".into(), "app".into());
        for i in 0..n {
            v.push(
                None,
                false,
                sanitize(
                    format!("line {i}{}", if i % 10 == 0 { " ERROR" } else { "" }).as_bytes(),
                    100,
                ),
            );
        }
        v
    }

    #[test]
    fn the_ring_is_bounded_and_counts_what_it_dropped() {
        let v = view_with(150, 100);
        assert_eq!(v.len(), 100);
        assert_eq!(v.dropped, 50);
        assert_eq!(
            v.window(3)
                .iter()
                .map(|l| l.line.text.as_str())
                .collect::<Vec<_>>(),
            ["line 147", "line 148", "line 149"]
        );
    }

    #[test]
    fn pause_holds_the_view_and_counts_new_lines() {
        let mut v = view_with(20, 100);
        v.toggle_pause();
        for i in 0..5 {
            v.push(None, false, sanitize(format!("new {i}").as_bytes(), 100));
        }
        assert_eq!(v.unseen(), 5);
        assert_eq!(v.window(1)[0].line.text, "line 19");
        v.toggle_pause();
        assert_eq!(v.unseen(), 0);
        assert_eq!(v.window(1)[0].line.text, "new 4");
    }

    #[test]
    fn search_jumps_between_matches_and_filter_hides_the_rest() {
        let mut v = view_with(50, 100);
        v.set_search("error");
        assert_eq!(v.match_count(), 5);
        assert!(v.jump(false, 2));
        assert_eq!(v.current_match, Some(40));
        assert_eq!(v.anchor, Some(42), "two lines of context below the match");
        assert!(v.jump(false, 2));
        assert_eq!(v.current_match, Some(30));
        assert!(v.jump(true, 2));
        assert_eq!(v.current_match, Some(40));
        v.filter = true;
        v.follow();
        let shown: Vec<_> = v.window(10).iter().map(|l| l.seq).collect();
        assert_eq!(shown, [0, 10, 20, 30, 40]);
        // Smart case: an uppercase pattern is exact.
        v.set_search("Error");
        assert_eq!(v.match_count(), 0);
    }

    #[test]
    fn scrolling_up_anchors_and_scrolling_back_down_follows() {
        let mut v = view_with(30, 100);
        v.scroll(-5);
        assert_eq!(v.anchor, Some(24));
        v.push(None, false, sanitize(b"more", 100));
        assert_eq!(v.window(1)[0].seq, 24, "anchored view does not move");
        v.scroll(100);
        assert_eq!(v.anchor, None);
        v.to_top();
        assert_eq!(v.anchor, Some(0));
    }
}
