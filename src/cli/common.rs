//! What the headless commands share: the config, failing with a message and an exit code,
//! printing JSON, and the text tables.

use crate::config::{self, LoadedConfig, Sources};
use crate::domain::TagView;
use crate::exit_code;
use crate::format::age;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt::Write;

pub fn load_config(explicit: Option<&std::path::Path>) -> Result<LoadedConfig, i32> {
    config::load(&Sources::standard(explicit)).map_err(|e| {
        eprintln!("elt-console: config error: {e}");
        exit_code::CONFIG
    })
}

/// Say what went wrong on stderr; return the exit code to leave with.
pub fn fail(e: impl std::fmt::Display, code: i32) -> i32 {
    eprintln!("elt-console: {e}");
    code
}

/// One pretty JSON document on stdout.
pub fn print_json<T: Serialize>(value: &T) -> i32 {
    match serde_json::to_string_pretty(value) {
        Ok(text) => print_generated(|out| {
            out.extend_from_slice(text.as_bytes());
            out.push(b'\n');
            Ok(())
        }),
        Err(e) => fail(format!("cannot encode JSON: {e}"), exit_code::INTERNAL),
    }
}

/// One JSON line on stdout (`dispatch --json`: one object per event, as deploy's events).
pub fn json_line(v: &serde_json::Value) {
    println!("{v}");
}

/// Generate into memory, then write once: a failed write (closed pipe, full disk) becomes an
/// error message and exit code instead of a panic inside the generator.
pub fn print_generated(generate: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> i32 {
    use std::io::Write;
    let mut buf = Vec::new();
    let written = generate(&mut buf).and_then(|()| {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&buf)?;
        stdout.flush()
    });
    match written {
        Ok(()) => exit_code::OK,
        Err(e) => fail(format!("cannot write output: {e}"), exit_code::INTERNAL),
    }
}

/// The CLI's sizes (`tags`, `status`) read as the dashboard's.
pub use crate::format::bytes;

pub fn short_sha(s: &str) -> &str {
    s.get(..7).unwrap_or(s)
}

/// Seconds as `42s` or `3m05s`; `-` when unknown.
pub fn secs(s: Option<i64>) -> String {
    match s {
        None => "-".into(),
        Some(s) if s < 60 => format!("{s}s"),
        Some(s) => format!("{}m{:02}s", s / 60, s % 60),
    }
}

/// A run's title as the tables show it: its first 50 characters.
pub fn run_title(run: &crate::domain::RunView) -> String {
    run.title
        .as_deref()
        .unwrap_or_default()
        .chars()
        .take(50)
        .collect()
}

/// Rows as left-aligned columns sized to their widest cell, indented by two spaces, with
/// `gap` spaces between columns.
pub fn table(out: &mut String, header: &[&str], rows: &[Vec<String>], gap: usize) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut line = |cells: &[String]| {
        let mut s = String::from("  ");
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str(&" ".repeat(gap));
            }
            let _ = write!(s, "{c:<w$}", w = widths[i]);
        }
        let _ = writeln!(out, "{}", s.trim_end());
    };
    line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for row in rows {
        line(row);
    }
}

/// Which listing of tags a table is for: `status` (digest last) or `tags` (creation date and
/// when each was last deployed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagListing {
    Status,
    Tags,
}

/// A repository's tags as a table; `*` marks the one running now.
pub fn tag_table(out: &mut String, tags: &[TagView], now: DateTime<Utc>, listing: TagListing) {
    let rows: Vec<Vec<String>> = tags
        .iter()
        .map(|t| {
            let mut row = vec![
                format!("{}{}", if t.running { "* " } else { "  " }, t.tag),
                t.revision
                    .as_ref()
                    .map_or("-".into(), |s| s.short().to_string()),
                t.created.map_or("-".into(), |c| match listing {
                    TagListing::Status => format!("{} ago", age(c, now)),
                    TagListing::Tags => {
                        format!("{} ({} ago)", c.format("%Y-%m-%d %H:%M"), age(c, now))
                    }
                }),
                t.size_bytes.map_or("-".into(), bytes),
                t.ci.clone().unwrap_or_else(|| "-".into()),
            ];
            match listing {
                TagListing::Status => row.push(t.digest.as_ref().map_or_else(
                    || t.error.clone().unwrap_or_default(),
                    |d| d.short().to_string(),
                )),
                TagListing::Tags => {
                    row.push(
                        t.last_deployed
                            .map_or("—".into(), |d| format!("{} ago", age(d, now))),
                    );
                    row.push(t.error.clone().unwrap_or_default());
                }
            }
            row
        })
        .collect();
    let (header, gap): (&[&str], usize) = match listing {
        TagListing::Status => (&["  TAG", "SHA", "CREATED", "SIZE", "CI", "DIGEST"], 2),
        TagListing::Tags => (
            &["  TAG", "SHA", "CREATED", "SIZE", "CI", "DEPLOYED", ""],
            1,
        ),
    };
    table(out, header, &rows, gap);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_all_but_the_last_column_with_the_gap_between() {
        let mut out = String::new();
        let rows = vec![vec!["a".to_string(), "long cell".into(), "z".into()]];
        table(&mut out, &["H1", "H2", "H3"], &rows, 2);
        assert_eq!(out, "  H1  H2         H3\n  a   long cell  z\n");
        let mut out = String::new();
        table(&mut out, &["H1", "H2", "H3"], &rows, 1);
        assert_eq!(out, "  H1 H2        H3\n  a  long cell z\n");
    }
}
