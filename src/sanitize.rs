//! Make a container's log line safe to put on the operator's terminal.
//!
//! A log line is untrusted input: it may carry escape sequences that move the cursor, clear the
//! screen, retitle the window or write the clipboard (OSC 52). Nothing here is passed through:
//! colour (SGR) is parsed into a style, every other sequence is dropped, and C0/C1 controls and
//! bidi overrides are shown visibly. Invalid UTF-8 is decoded lossily, and long lines are cut.

use ratatui::style::{Color, Modifier, Style};

pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// A sanitised line: plain text plus style changes at byte offsets into it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StyledLine {
    pub text: String,
    /// (byte offset, style from here on), ascending. Empty means all default.
    pub styles: Vec<(u32, Style)>,
    /// Bytes the original line had beyond the cap, if it was cut.
    pub cut_bytes: usize,
}

/// Style of control characters shown in caret notation, so they read as markers, not text.
pub fn control_style() -> Style {
    Style::default().add_modifier(Modifier::REVERSED)
}

pub fn sanitize(raw: &[u8], max_bytes: usize) -> StyledLine {
    let (input, cut_bytes) = if raw.len() > max_bytes {
        (&raw[..max_bytes], raw.len() - max_bytes)
    } else {
        (raw, 0)
    };
    let decoded = String::from_utf8_lossy(input);
    let mut out = Builder::default();
    let mut chars = decoded.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                Some('[') => csi(&mut chars, &mut out),
                Some(']') => skip_string(&mut chars, true),
                Some('P' | 'X' | '^' | '_') => skip_string(&mut chars, false),
                // Two-character escapes (ESC c resets the terminal, ESC 7/8 save/restore the
                // cursor...): all dropped.
                Some(_) | None => {}
            },
            '\u{9b}' => csi(&mut chars, &mut out),
            '\u{9d}' => skip_string(&mut chars, true),
            '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars, false),
            '\t' => {
                let col = out.text.chars().count();
                out.push_plain(&" ".repeat(8 - col % 8));
            }
            // A carriage return would let a line overwrite itself on screen; CRLF endings and
            // progress-bar redraws lose nothing by dropping it.
            '\r' => {}
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let shown = if c == '\u{7f}' {
                    '?'
                } else {
                    char::from(b'@' + c as u8)
                };
                out.push_marked(&format!("^{shown}"));
            }
            c if ('\u{80}'..='\u{9f}').contains(&c) => {
                out.push_marked(&format!("<{:02X}>", c as u32))
            }
            // Bidi overrides and isolates can make text read differently from what it is.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                out.push_marked(&format!("<U+{:04X}>", c as u32))
            }
            c => out.push_char(c),
        }
    }
    if cut_bytes > 0 {
        out.push_marked(&format!(" … [line cut: {cut_bytes} more bytes]"));
    }
    StyledLine {
        text: out.text,
        styles: out.styles,
        cut_bytes,
    }
}

#[derive(Default)]
struct Builder {
    text: String,
    styles: Vec<(u32, Style)>,
    current: Style,
}

impl Builder {
    fn set_style(&mut self, style: Style) {
        self.current = style;
        let at = self.text.len() as u32;
        match self.styles.last_mut() {
            Some((pos, s)) if *pos == at => *s = style,
            _ => self.styles.push((at, style)),
        }
    }
    fn push_char(&mut self, c: char) {
        self.text.push(c);
    }
    fn push_plain(&mut self, s: &str) {
        self.text.push_str(s);
    }
    fn push_marked(&mut self, s: &str) {
        let before = self.current;
        self.set_style(before.patch(control_style()));
        self.text.push_str(s);
        self.set_style(before);
    }
}

/// Read a CSI sequence's parameters and final byte. Only SGR (`m`) has an effect.
fn csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, out: &mut Builder) {
    let mut params = String::new();
    let mut intermediates = false;
    for c in chars.by_ref() {
        match c {
            '0'..='?' => params.push(c),
            ' '..='/' => intermediates = true,
            '@'..='~' => {
                if c == 'm'
                    && !intermediates
                    && params
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b == b';' || b == b':')
                {
                    let style = apply_sgr(out.current, &params);
                    out.set_style(style);
                }
                return;
            }
            // Anything else aborts the sequence; the character itself is dropped too.
            _ => return,
        }
    }
}

/// Skip an OSC/DCS/SOS/PM/APC string up to its terminator (ST, or BEL for OSC).
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, bel_ends: bool) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' if bel_ends => return,
            '\u{9c}' => return,
            '\u{1b}' if chars.peek() == Some(&'\\') => {
                chars.next();
                return;
            }
            _ => {}
        }
    }
}

fn apply_sgr(mut style: Style, params: &str) -> Style {
    let nums: Vec<u16> = params
        .split([';', ':'])
        .map(|p| p.parse().unwrap_or(0))
        .collect();
    let mut i = 0;
    while i < nums.len() {
        let n = nums[i];
        match n {
            0 => style = Style::default(),
            1 => style = style.add_modifier(Modifier::BOLD),
            2 => style = style.add_modifier(Modifier::DIM),
            3 => style = style.add_modifier(Modifier::ITALIC),
            4 => style = style.add_modifier(Modifier::UNDERLINED),
            7 => style = style.add_modifier(Modifier::REVERSED),
            22 => style = style.remove_modifier(Modifier::BOLD | Modifier::DIM),
            23 => style = style.remove_modifier(Modifier::ITALIC),
            24 => style = style.remove_modifier(Modifier::UNDERLINED),
            27 => style = style.remove_modifier(Modifier::REVERSED),
            30..=37 => style = style.fg(Color::Indexed((n - 30) as u8)),
            39 => style.fg = None,
            40..=47 => style = style.bg(Color::Indexed((n - 40) as u8)),
            49 => style.bg = None,
            90..=97 => style = style.fg(Color::Indexed((n - 90 + 8) as u8)),
            100..=107 => style = style.bg(Color::Indexed((n - 100 + 8) as u8)),
            38 | 48 => {
                let color = match nums.get(i + 1) {
                    Some(5) => {
                        let c = nums.get(i + 2).map(|v| Color::Indexed((*v).min(255) as u8));
                        i += 2;
                        c
                    }
                    Some(2) => {
                        let rgb = (nums.get(i + 2), nums.get(i + 3), nums.get(i + 4));
                        i += 4;
                        match rgb {
                            (Some(r), Some(g), Some(b)) => Some(Color::Rgb(
                                (*r).min(255) as u8,
                                (*g).min(255) as u8,
                                (*b).min(255) as u8,
                            )),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                if let Some(c) = color {
                    style = if n == 38 { style.fg(c) } else { style.bg(c) };
                }
            }
            _ => {}
        }
        i += 1;
    }
    style
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(raw: &[u8]) -> String {
        sanitize(raw, MAX_LINE_BYTES).text
    }

    /// Nothing that a terminal would act on may survive.
    fn assert_inert(s: &str) {
        for c in s.chars() {
            let code = c as u32;
            assert!(
                !(code < 0x20 || (0x7f..=0x9f).contains(&code)),
                "control U+{code:04X} survived in {s:?}"
            );
        }
    }

    #[test]
    fn hostile_sequences_are_removed() {
        let cases: &[(&[u8], &str)] = &[
            (b"ok\x1b[2J\x1b[Hgone", "okgone"),
            (b"a\x1b]52;c;ZWNobyBwd25lZA==\x07b", "ab"),
            (b"a\x1b]0;evil title\x1b\\b", "ab"),
            (b"a\x1bP+q544e\x1b\\b", "ab"),
            (b"a\x1b[10;10Hb\x1b[6nc", "abc"),
            (b"a\x1bcb\x1b7c", "abc"),
            ("a\u{9b}31mb\u{9d}0;t\u{7}c".as_bytes(), "abc"),
            (b"unterminated \x1b]52;c;AAAA", "unterminated "),
            (b"bell\x07 nul\x00 bs\x08", "bell^G nul^@ bs^H"),
            ("next\u{85}line".as_bytes(), "next<85>line"),
            ("rtl \u{202e}gnp.exe".as_bytes(), "rtl <U+202E>gnp.exe"),
            (b"crlf\r", "crlf"),
            (b"tab\there", "tab     here"),
        ];
        for (raw, want) in cases {
            let got = text(raw);
            assert_eq!(&got, want, "for {raw:?}");
            assert_inert(&got);
        }
    }

    #[test]
    fn sgr_colour_is_parsed_not_passed_through() {
        let line = sanitize(
            b"\x1b[1;31merror\x1b[0m done \x1b[38;2;1;2;3mrgb",
            MAX_LINE_BYTES,
        );
        assert_eq!(line.text, "error done rgb");
        assert_eq!(
            line.styles[0],
            (
                0,
                Style::default()
                    .fg(Color::Indexed(1))
                    .add_modifier(Modifier::BOLD)
            )
        );
        assert_eq!(line.styles[1], (5, Style::default()));
        assert_eq!(
            line.styles[2],
            (11, Style::default().fg(Color::Rgb(1, 2, 3)))
        );
    }

    #[test]
    fn invalid_utf8_is_shown_lossily() {
        let got = text(b"bad \xff\xfe bytes \xc3");
        assert_eq!(got, "bad \u{fffd}\u{fffd} bytes \u{fffd}");
    }

    #[test]
    fn megabyte_lines_are_cut_with_a_marker() {
        let raw = vec![b'x'; 1024 * 1024];
        let line = sanitize(&raw, MAX_LINE_BYTES);
        assert_eq!(line.cut_bytes, 1024 * 1024 - MAX_LINE_BYTES);
        assert!(line.text.starts_with(&"x".repeat(MAX_LINE_BYTES)));
        assert!(line.text.ends_with(&format!(
            "[line cut: {} more bytes]",
            1024 * 1024 - MAX_LINE_BYTES
        )));
        assert!(line.text.len() < MAX_LINE_BYTES + 64);
    }

    #[test]
    fn random_bytes_never_leave_controls() {
        // A deterministic xorshift stream: many short lines rich in ESC, C1 and UTF-8 lead bytes.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let alphabet: &[u8] = b"\x1b[]P\\\x07;0123m?Hm\xc2\x9b\x9d\x9c\xe2\x80\xae\x00\x08\x7fab";
        for _ in 0..20_000 {
            let len = (state % 40) as usize;
            let mut raw = Vec::with_capacity(len);
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                raw.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            let line = sanitize(&raw, 32);
            assert_inert(&line.text);
            assert!(line.styles.windows(2).all(|w| w[0].0 <= w[1].0));
            assert!(
                line.styles
                    .iter()
                    .all(|(at, _)| (*at as usize) <= line.text.len()
                        && line.text.is_char_boundary(*at as usize))
            );
        }
    }
}
