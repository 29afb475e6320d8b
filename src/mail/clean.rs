//! Text a stranger controls, made safe to put on one line: subjects,
//! display names and file names reach templates' first lines, mail headers
//! and terminals. Line breaks, other control characters and Unicode line
//! and paragraph separators become spaces, runs of white space one space,
//! and the text is clipped. Pure.

/// Bodies longer than this are cut before text analysis: the report checks
/// and trimming read what a person reads, not megabytes of pasted logs.
pub const MAX_TEXT_BYTES: usize = 256 * 1024;

/// Subjects longer than this many characters are clipped (RFC 5322 §2.1.1
/// keeps lines under 78 characters; a subject is folded, but no person
/// writes one of 250).
pub const MAX_SUBJECT_CHARS: usize = 250;

/// Display names and file names longer than this are clipped.
pub const MAX_NAME_CHARS: usize = 120;

/// `s` on one line, at most `max` characters (an ellipsis ends a clipped
/// one).
pub fn one_line(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4));
    let (mut count, mut space, mut clipped) = (0, false, false);
    for c in s.chars() {
        let blank = c.is_whitespace() || c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
        if blank {
            space = !out.is_empty();
            continue;
        }
        let needed = if space { 2 } else { 1 };
        if count + needed > max {
            clipped = true;
            break;
        }
        if space {
            out.push(' ');
            count += 1;
            space = false;
        }
        out.push(c);
        count += 1;
    }
    if clipped {
        if count >= max {
            out.pop();
        }
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_table() {
        let table = [
            ("Export fails", 50, "Export fails"),
            ("  Export\r\n\tfails  ", 50, "Export fails"),
            ("Hi\r\nBcc: x@evil.example", 50, "Hi Bcc: x@evil.example"),
            ("a\u{0}b\u{1b}[31mc", 50, "a b [31mc"),
            ("line\u{2028}sep\u{85}next", 50, "line sep next"),
            ("abcdefghij", 5, "abcd…"),
            ("abcde", 5, "abcde"),
            ("", 5, ""),
            ("a    b", 3, "a b"),
            ("ab cd", 3, "ab…"),
        ];
        for (input, max, want) in table {
            assert_eq!(one_line(input, max), want, "{input:?}");
        }
        let long = "x".repeat(10_000);
        assert_eq!(
            one_line(&long, MAX_SUBJECT_CHARS).chars().count(),
            MAX_SUBJECT_CHARS
        );
    }
}
