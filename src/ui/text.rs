//! Fitting text into cells: cutting at words, in the middle, telling similar names apart;
//! ages as titles show them; centring a dialog. Pure functions.

use crate::format::age;
use chrono::{DateTime, Utc};
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;

pub(crate) fn bytes(n: u64) -> String {
    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
    const MIB: f64 = 1024.0 * 1024.0;
    let v = n as f64;
    if v >= GIB {
        format!("{:.1}G", v / GIB)
    } else if v >= MIB {
        format!("{:.1}M", v / MIB)
    } else {
        format!("{:.0}K", v / 1024.0)
    }
}

/// Cut `s` to at most `max` characters at a word boundary, ending in `…` when cut.
pub fn fit_words(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let head: String = s.chars().take(max - 1).collect();
    let at_word_end = s.chars().nth(max - 1).is_some_and(char::is_whitespace);
    // Back to the last space, unless that would throw away most of the room.
    let cut = match head.rfind(' ') {
        _ if at_word_end => head.trim_end().to_string(),
        Some(i) if head[..i].chars().count() * 2 >= max => head[..i]
            .trim_end_matches(|c: char| c.is_whitespace() || "·:,;-".contains(c))
            .to_string(),
        _ => head,
    };
    format!("{cut}…")
}

/// An error for a title, where room is short: its cause (the last `: ` part, the most
/// specific) first, then what failed (the first part), cut at a word; asides in parentheses
/// go before anything is cut. The whole text is in the panel's details (enter).
pub fn cause_first(text: &str, max: usize) -> String {
    let parts: Vec<&str> = text
        .split(": ")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let join = |cause: &str, what: Option<&str>| match what {
        Some(w) => format!("{cause} · {w}"),
        None => cause.to_string(),
    };
    let (cause, what) = match parts.as_slice() {
        [] => return String::new(),
        [one] => (*one, None),
        [what, .., cause] => (*cause, Some(*what)),
    };
    let full = join(cause, what);
    if full.chars().count() <= max {
        return full;
    }
    let plain = |s: &str| {
        let mut out = String::new();
        let mut depth = 0usize;
        for c in s.chars() {
            match c {
                '(' => depth += 1,
                ')' if depth > 0 => depth -= 1,
                _ if depth == 0 => out.push(c),
                _ => {}
            }
        }
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    fit_words(&join(&plain(cause), what.map(plain).as_deref()), max)
}

/// How long ago data was loaded, as a title shows it: "just now" under 10 s, then in 10-second
/// steps, then as `age`. Sources refresh on their own schedule; a title that changed every
/// second would cost a frame a second for nothing an operator acts on.
pub fn ago(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    match (now - since).num_seconds().max(0) {
        0..10 => "just now".into(),
        s @ 10..60 => format!("{}s ago", s / 10 * 10),
        _ => format!("{} ago", age(since, now)),
    }
}

pub(crate) fn spans_len(spans: &[Span]) -> usize {
    spans.iter().map(|s| s.content.chars().count()).sum()
}

pub(crate) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
}

/// The width a table's one flexible column gets: what the fixed ones and the one-cell gaps
/// between columns (ratatui's default spacing) leave of `inner`.
pub fn fill_width(inner: u16, widths: &[Constraint]) -> usize {
    let fixed: u16 = widths
        .iter()
        .map(|c| match c {
            Constraint::Length(n) => *n,
            _ => 0,
        })
        .sum();
    let gaps = widths.len().saturating_sub(1) as u16;
    inner.saturating_sub(fixed + gaps) as usize
}

/// `s` in at most `width` characters, cut in the middle with `…`: tags differ at their ends
/// (`main-<sha>`, `v1.2.3-rc4`), so both ends are kept. `head` characters come before the `…`.
pub fn fit_middle_at(s: &str, width: usize, head: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    if width < 2 {
        return s.chars().take(width).collect();
    }
    let head = head.min(width - 1);
    let tail = width - 1 - head;
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

/// `s` cut in the middle to `width`, a little more of its start kept than of its end.
pub fn fit_middle(s: &str, width: usize) -> String {
    fit_middle_at(s, width, width.saturating_sub(1).div_ceil(2))
}

/// Names fitted to `width` so that different names never look the same where the column
/// allows it: names whose middle cuts collide get the cut moved (more end, less start, or
/// the other way) until the group reads apart.
pub fn distinct_fits(names: &[&str], width: usize) -> Vec<String> {
    use std::collections::HashSet;
    let mut out: Vec<String> = names.iter().map(|n| fit_middle(n, width)).collect();
    let default = width.saturating_sub(1).div_ceil(2);
    // Splits nearest the default first.
    let mut heads: Vec<usize> = (0..width.max(1)).collect();
    heads.sort_by_key(|h| h.abs_diff(default));
    for i in 0..out.len() {
        let group: Vec<usize> = (0..out.len()).filter(|&j| out[j] == out[i]).collect();
        let distinct_names: HashSet<&str> = group.iter().map(|&j| names[j]).collect();
        if distinct_names.len() < 2 {
            continue;
        }
        let apart = |cut: &dyn Fn(&str) -> String| {
            let cuts: Vec<String> = group.iter().map(|&j| cut(names[j])).collect();
            (cuts.iter().collect::<HashSet<_>>().len() == distinct_names.len()).then_some(cuts)
        };
        let longest = group
            .iter()
            .map(|&j| names[j].chars().count())
            .max()
            .unwrap_or(0);
        // One cut anywhere; failing that (they differ deep inside), the start, then a
        // window where they differ, both cut with `…`.
        let found = heads
            .iter()
            .find_map(|&head| apart(&|n: &str| fit_middle_at(n, width, head)))
            .or_else(|| (0..longest).find_map(|at| apart(&|n: &str| fit_window(n, width, at))));
        if let Some(cuts) = found {
            for (&j, c) in group.iter().zip(cuts) {
                out[j] = c;
            }
        }
    }
    out
}

/// `s` as its start, `…`, then the characters from `at` on, `…` where more follows: for names
/// that differ only deep inside.
pub(crate) fn fit_window(s: &str, width: usize, at: usize) -> String {
    let n = s.chars().count();
    if n <= width || width < 5 {
        return fit_middle(s, width);
    }
    let head = (width - 2) / 3;
    let at = at.max(head + 1);
    let room = width - 1 - head;
    let window: String = s.chars().skip(at).take(room).collect();
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    if at + room < n {
        // The last character of the window gives way to the closing `…`.
        out.extend(window.chars().take(room - 1));
        out.push('…');
    } else {
        out.push_str(&window);
    }
    out
}

pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width.saturating_sub(4));
    let h = height.min(area.height.saturating_sub(2));
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}
