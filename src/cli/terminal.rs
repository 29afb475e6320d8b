//! Output for a terminal. Subjects, addresses, header lines and servers'
//! error texts come from strangers: a control character in them (ESC
//! starts a terminal escape sequence that can rewrite the screen or the
//! window title) or a bidirectional override (which reorders what is shown)
//! is printed as a visible escape, `\x1b` or `\u{202e}`, never raw. JSON
//! output is left alone: serde_json escapes control characters itself.

use std::io::{self, Write};

/// A writer that escapes what a terminal would act on (see the module
/// docs); `raw` passes everything through (JSON).
pub struct Escaped<W: Write> {
    inner: W,
    raw: bool,
    /// Bytes of a character split across two writes.
    pending: Vec<u8>,
}

/// `out` for text output (escaped), or as it is for JSON.
pub fn for_text<W: Write>(out: W, json: bool) -> Escaped<W> {
    Escaped {
        inner: out,
        raw: json,
        pending: Vec::new(),
    }
}

/// Whether a terminal acts on `c` rather than showing it: C0 and C1
/// controls but the line feed and tab, DEL, and the bidirectional
/// embeddings, overrides and isolates (Unicode TR #9).
fn acted_on(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with what a terminal acts on made visible.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(acted_on) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !acted_on(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    std::borrow::Cow::Owned(out)
}

impl<W: Write> Escaped<W> {
    /// Writes the complete characters of `pending`, keeping a split one.
    fn drain(&mut self, at_end: bool) -> io::Result<()> {
        let mut start = 0;
        loop {
            match std::str::from_utf8(&self.pending[start..]) {
                Ok(s) => {
                    self.inner.write_all(escape(s).as_bytes())?;
                    start = self.pending.len();
                    break;
                }
                Err(e) => {
                    let good = start + e.valid_up_to();
                    let s = std::str::from_utf8(&self.pending[start..good]).expect("valid prefix");
                    self.inner.write_all(escape(s).as_bytes())?;
                    match e.error_len() {
                        // Not UTF-8: shown as its bytes.
                        Some(n) => {
                            for b in &self.pending[good..good + n] {
                                write!(self.inner, "\\x{b:02x}")?;
                            }
                            start = good + n;
                        }
                        // A character cut by the end of this write.
                        None if !at_end => {
                            start = good;
                            break;
                        }
                        None => {
                            for b in &self.pending[good..] {
                                write!(self.inner, "\\x{b:02x}")?;
                            }
                            start = self.pending.len();
                            break;
                        }
                    }
                }
            }
        }
        self.pending.drain(..start);
        Ok(())
    }
}

impl<W: Write> Write for Escaped<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.raw {
            return self.inner.write(buf);
        }
        self.pending.extend_from_slice(buf);
        self.drain(false)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.raw {
            self.drain(true)?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for Escaped<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_terminal_acts_on_is_shown_escaped() {
        let table = [
            ("plain subject", "plain subject"),
            ("Zażółć gęślą jaźń", "Zażółć gęślą jaźń"),
            ("a\x1b]0;pwned\x07b", "a\\x1b]0;pwned\\x07b"),
            ("\x1b[2J\x1b[Hclear", "\\x1b[2J\\x1b[Hclear"),
            ("line\nnext\tcol", "line\nnext\tcol"),
            ("bad\rreturn", "bad\\x0dreturn"),
            ("c1\u{9b}31m", "c1\\u{9b}31m"),
            ("invoice\u{202e}fdp.exe", "invoice\\u{202e}fdp.exe"),
        ];
        for (text, want) in table {
            assert_eq!(escape(text), want, "{text:?}");
        }
    }

    #[test]
    fn characters_split_across_writes_and_bad_bytes() {
        let mut buf = Vec::new();
        {
            let mut w = for_text(&mut buf, false);
            let bytes = "ż\u{1b}é".as_bytes();
            for b in bytes {
                w.write_all(&[*b]).unwrap();
            }
            w.write_all(b"\xff!").unwrap();
            w.write_all(&[0xc5]).unwrap();
        }
        assert_eq!(String::from_utf8(buf).unwrap(), "ż\\x1bé\\xff!\\xc5");
        let mut raw = Vec::new();
        for_text(&mut raw, true).write_all(b"\x1b").unwrap();
        assert_eq!(raw, b"\x1b");
    }
}
