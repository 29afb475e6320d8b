//! Any text through consultant tag parsing and trimming.
#![no_main]

use libfuzzer_sys::fuzz_target;
use supportd::mail::{tags, trim};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let t = tags::parse_tags(text);
        assert!(t.commands.len() + t.errors.len() <= text.lines().count());
        let _ = trim::trim(text);
    }
});
