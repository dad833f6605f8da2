//! Any bytes a container prints must come out of the sanitiser without a single control
//! character, with style offsets on char boundaries, and within the length cap plus marker.
#![no_main]

use elt_console::ui::sanitize::sanitize;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cap = 256;
    let line = sanitize(data, cap);
    for c in line.text.chars() {
        let code = c as u32;
        assert!(!(code < 0x20 || (0x7f..=0x9f).contains(&code)), "control U+{code:04X} survived");
    }
    let mut last = 0;
    for (at, _) in &line.styles {
        let at = *at as usize;
        assert!(at >= last && at <= line.text.len() && line.text.is_char_boundary(at));
        last = at;
    }
    // Each input byte becomes at most a few visible characters ("<9B>" for a C1 control,
    // "<U+202E>" for a 3-byte bidi control), plus tab expansion and the cut marker.
    assert!(line.text.len() <= cap * 8 + 64);
});
