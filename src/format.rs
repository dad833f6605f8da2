//! Formatters shared by the dashboard and the headless commands, so one fact reads the same
//! everywhere (issue 11: one set of formatters).

use chrono::{DateTime, Datelike, TimeZone, Utc};

/// How long ago `since` was, in at most six characters so it fits the narrow AGE columns:
/// `8s`, `35m`, `3h05m`, `11d2h`, `120d`, `1y4m`, `6y`. A time in the future reads `0s`.
///
/// Years and months are calendar ones (1 March to 1 April is a month), so `1y4m` means what a
/// reader expects; below a year, days (with hours while the days are few).
pub fn age(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - since).num_seconds().max(0);
    match secs {
        0..60 => return format!("{secs}s"),
        60..3600 => return format!("{}m", secs / 60),
        3600..86400 => return format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => {}
    }
    let months = whole_months(since, now);
    if months >= 12 {
        return match (months / 12, months % 12) {
            (y, 0) => format!("{y}y"),
            (y, m) => format!("{y}y{m}m"),
        };
    }
    let days = secs / 86400;
    if days < 100 {
        format!("{days}d{}h", secs % 86400 / 3600)
    } else {
        format!("{days}d")
    }
}

/// Whole calendar months from `since` to `now` (0 when `now` is earlier).
fn whole_months(since: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let mut months = i64::from(now.year() - since.year()) * 12 + i64::from(now.month())
        - i64::from(since.month());
    // Not a whole month yet when `now` is earlier in its month than `since` was in its own.
    let key = |t: DateTime<Utc>| (t.day(), t.time());
    if months > 0 && key(now) < key(since) {
        months -= 1;
    }
    months.max(0)
}

/// A wall-clock time in the local zone: `06:00` when it falls on the same local day as `now`,
/// else with its date (`2026-12-05 06:00`), so a time on another day never reads as today's.
pub fn clock(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    clock_in(t, now, &chrono::Local)
}

pub fn clock_in<Tz: TimeZone>(t: DateTime<Utc>, now: DateTime<Utc>, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let (t, now) = (t.with_timezone(tz), now.with_timezone(tz));
    if t.date_naive() == now.date_naive() {
        t.format("%H:%M").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M").to_string()
    }
}

/// When GitHub's rate-limit window resets: `reset 06:00`, `reset 2026-12-05 06:00`, or
/// `reset passed` once that time is behind us (the budget shown is then an old answer's).
pub fn rate_reset(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    rate_reset_in(t, now, &chrono::Local)
}

pub fn rate_reset_in<Tz: TimeZone>(t: DateTime<Utc>, now: DateTime<Utc>, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    if t <= now {
        "reset passed".to_string()
    } else {
        format!("reset {}", clock_in(t, now, tz))
    }
}

/// A size in binary units, short: `512B`, `12.0K`, `1.9M`, `21.0G` (what the dashboard's
/// VRAM gauge and tags table show; the CLI and the deploy's pull progress print the same).
pub fn bytes(n: u64) -> String {
    bytesize::ByteSize::b(n).display().iec_short().to_string()
}

/// The last `n` non-empty lines of a command's output, each cut to a sane width, without control characters.
pub fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            l.chars()
                .filter(|c| !c.is_control() || *c == '\t')
                .take(300)
                .collect::<String>()
        })
        .filter(|l| !l.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A step's or a deploy's duration: `850 ms` below a second, else seconds with one decimal
/// (`12.3 s`), as the deploy panel, history and the CLI print them.
pub fn duration_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// "1 version", "2 versions": a count with its noun, singular for one.
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// A sanitised log line for a colour terminal: its text with the styles it kept written back
/// as SGR only (nothing else the sanitiser dropped can come back), reset at the end.
pub fn ansi_line(line: &crate::sanitize::StyledLine) -> String {
    let mut out = String::with_capacity(line.text.len() + 16 * line.styles.len());
    let mut at = 0usize;
    let mut styled = false;
    for (offset, style) in &line.styles {
        let offset = (*offset as usize).min(line.text.len());
        // Offsets come from the sanitiser and fall on char boundaries; `get` keeps a bad one
        // from panicking by skipping it.
        let Some(chunk) = line.text.get(at..offset) else {
            continue;
        };
        out.push_str(chunk);
        at = offset;
        out.push_str(&sgr(*style));
        styled = true;
    }
    out.push_str(line.text.get(at..).unwrap_or_default());
    if styled {
        out.push_str("\x1b[0m");
    }
    out
}

/// The SGR sequence that sets exactly `style` (from a reset).
fn sgr(style: ratatui::style::Style) -> String {
    use ratatui::style::{Color, Modifier};
    let mut codes = vec!["0".to_string()];
    let mods = style.add_modifier;
    for (m, code) in [
        (Modifier::BOLD, "1"),
        (Modifier::DIM, "2"),
        (Modifier::ITALIC, "3"),
        (Modifier::UNDERLINED, "4"),
        (Modifier::REVERSED, "7"),
    ] {
        if mods.contains(m) {
            codes.push(code.into());
        }
    }
    for (color, base) in [(style.fg, 38), (style.bg, 48)] {
        match color {
            Some(Color::Indexed(i)) if i < 8 => codes.push((base - 8 + u16::from(i)).to_string()),
            Some(Color::Indexed(i)) if i < 16 => {
                codes.push((base + 52 + u16::from(i) - 8).to_string());
            }
            Some(Color::Indexed(i)) => codes.push(format!("{base};5;{i}")),
            Some(Color::Rgb(r, g, b)) => codes.push(format!("{base};2;{r};{g};{b}")),
            _ => {}
        }
    }
    format!("\x1b[{}m", codes.join(";"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn one_size_format_for_every_size() {
        // The same 1.9 GiB read 1.9M-style in the dashboard, "1.9 GiB" in the CLI and
        // "2.04 GB"-ish in the engine before; now one form.
        assert_eq!(bytes(2_040_109_465), "1.9G");
        assert_eq!(bytes(24 * 1024 * 1024 * 1024), "24.0G");
        assert_eq!(bytes(5_100_000_000), "4.7G");
        assert_eq!(bytes(1536 * 1024), "1.5M");
        assert_eq!(bytes(12 * 1024), "12.0K");
        assert_eq!(bytes(512), "512B");
        assert_eq!(bytes(0), "0B");
    }

    #[test]
    fn durations_in_ms_and_s() {
        assert_eq!(duration_ms(850), "850 ms");
        assert_eq!(duration_ms(12_345), "12.3 s");
    }

    fn t(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).single().unwrap()
    }

    fn ago(secs: i64) -> String {
        let now = t(2026, 12, 4, 12, 0, 0);
        age(now - chrono::Duration::seconds(secs), now)
    }

    #[test]
    fn seconds_minutes_hours_at_their_boundaries() {
        assert_eq!(ago(-5), "0s");
        assert_eq!(ago(0), "0s");
        assert_eq!(ago(8), "8s");
        assert_eq!(ago(59), "59s");
        assert_eq!(ago(60), "1m");
        assert_eq!(ago(35 * 60), "35m");
        assert_eq!(ago(3599), "59m");
        assert_eq!(ago(3600), "1h00m");
        assert_eq!(ago(86399), "23h59m");
    }

    #[test]
    fn days_with_hours_then_days_alone() {
        assert_eq!(ago(86400), "1d0h");
        assert_eq!(ago(11 * 86400 + 2 * 3600), "11d2h");
        assert_eq!(ago(99 * 86400 + 23 * 3600), "99d23h");
        assert_eq!(ago(100 * 86400), "100d");
        assert_eq!(ago(364 * 86400), "364d");
    }

    #[test]
    fn years_and_months_are_calendar_ones() {
        // A year to the second is 1y; one second less is still days.
        assert_eq!(
            age(t(2025, 12, 4, 12, 0, 0), t(2026, 12, 4, 12, 0, 0)),
            "1y"
        );
        assert_eq!(
            age(t(2025, 12, 4, 12, 0, 1), t(2026, 12, 4, 12, 0, 0)),
            "364d"
        );
        // The case: 505 days is a year and four months, not `505d` cut to `505d2`.
        assert_eq!(ago(505 * 86400), "1y4m");
        assert_eq!(ago(2386 * 86400 + 2 * 3600), "6y6m");
        assert_eq!(age(t(2020, 12, 4, 0, 0, 0), t(2026, 12, 4, 12, 0, 0)), "6y");
        assert_eq!(
            age(t(2016, 1, 31, 0, 0, 0), t(2026, 12, 30, 0, 0, 0)),
            "10y10m"
        );
    }

    #[test]
    fn every_age_fits_six_characters() {
        for secs in (0..40 * 365 * 86400).step_by(3607 * 7) {
            let a = ago(secs);
            assert!(a.chars().count() <= 6, "{secs}s -> {a}");
        }
    }

    #[test]
    fn a_reset_time_says_passed_or_its_date_when_not_today() {
        let now = t(2026, 12, 4, 12, 0, 0);
        assert_eq!(rate_reset_in(now, now, &Utc), "reset passed");
        assert_eq!(
            rate_reset_in(t(2026, 12, 4, 6, 0, 0), now, &Utc),
            "reset passed"
        );
        assert_eq!(
            rate_reset_in(t(2026, 12, 4, 12, 0, 1), now, &Utc),
            "reset 12:00"
        );
        assert_eq!(
            rate_reset_in(t(2026, 12, 4, 23, 59, 0), now, &Utc),
            "reset 23:59"
        );
        assert_eq!(
            rate_reset_in(t(2026, 12, 5, 6, 0, 0), now, &Utc),
            "reset 2026-12-05 06:00"
        );
        // "Today" is the local day: 23:30 UTC is already tomorrow at UTC+1.
        let plus_one = chrono::FixedOffset::east_opt(3600).unwrap();
        assert_eq!(
            clock_in(t(2026, 12, 4, 23, 30, 0), now, &plus_one),
            "2026-12-05 00:30"
        );
        assert_eq!(clock_in(t(2026, 12, 4, 22, 30, 0), now, &plus_one), "23:30");
    }

    #[test]
    fn counts_take_the_plural_only_when_not_one() {
        assert_eq!(count(0, "version", "versions"), "0 versions");
        assert_eq!(count(1, "version", "versions"), "1 version");
        assert_eq!(count(2, "version", "versions"), "2 versions");
    }

    #[test]
    fn a_styled_line_gets_its_sgr_back_and_nothing_else() {
        use crate::sanitize::{MAX_LINE_BYTES, sanitize};
        let line = sanitize(
            b"\x1b[1;31merr\x1b[0m ok \x1b[92;48;5;200mx\x1b]0;t\x07",
            MAX_LINE_BYTES,
        );
        assert_eq!(
            ansi_line(&line),
            "\x1b[0;1;31merr\x1b[0m ok \x1b[0;92;48;5;200mx\x1b[0m"
        );
        let plain = sanitize(b"plain", MAX_LINE_BYTES);
        assert_eq!(ansi_line(&plain), "plain");
    }
}
