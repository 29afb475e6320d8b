//! HTML bodies as text, in time linear in their size. html2text renders
//! ordinary mail (tables, lists, links) well, but its time grows with the
//! square of the nesting depth: 65,000 nested `<ul>` in 260 KB took 17 s.
//! A cheap scan of the tags first; HTML nested deeper than any mail client
//! writes, or with more tags than a mail holds, is read by stripping its
//! tags instead. Pure.

/// The most HTML read (the text it yields is cut at the same size later).
pub const MAX_HTML_BYTES: usize = super::clean::MAX_TEXT_BYTES;

/// Deeper nesting than this is not mail a person wrote (Outlook's deepest
/// replies nest tables a few dozen levels).
const MAX_DEPTH: usize = 200;

/// More tags than this are not read by html2text.
const MAX_TAGS: usize = 20_000;

/// Elements without content: they open nothing.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

/// Block elements: where stripping puts a line break.
const BLOCK: &[&str] = &[
    "br",
    "p",
    "div",
    "li",
    "tr",
    "table",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "hr",
    "section",
    "article",
    "header",
    "footer",
];

/// One tag as the scan sees it.
struct Tag<'a> {
    name: &'a str,
    closing: bool,
    self_closing: bool,
}

/// The tags of an HTML text, with the byte range each covers.
fn tags(html: &str) -> impl Iterator<Item = (Tag<'_>, std::ops::Range<usize>)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        loop {
            let start = at + html[at..].find('<')?;
            let end = start
                + html[start..]
                    .find('>')
                    .map_or(html.len() - start, |i| i + 1);
            at = end;
            let inner = html[start + 1..end].trim_end_matches('>');
            let closing = inner.starts_with('/');
            let name = inner
                .trim_start_matches('/')
                .split(|c: char| c.is_whitespace() || c == '/' || c == '>')
                .next()
                .unwrap_or("");
            if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
                continue;
            }
            let tag = Tag {
                name,
                closing,
                self_closing: inner.ends_with('/'),
            };
            return Some((tag, start..end));
        }
    })
}

/// Whether the HTML is nested deeper, or holds more tags, than mail does.
fn pathological(html: &str) -> bool {
    let (mut depth, mut deepest, mut count) = (0usize, 0usize, 0usize);
    for (t, _) in tags(html) {
        count += 1;
        if count > MAX_TAGS {
            return true;
        }
        if t.closing {
            depth = depth.saturating_sub(1);
        } else if !t.self_closing && !VOID.iter().any(|v| t.name.eq_ignore_ascii_case(v)) {
            depth += 1;
            deepest = deepest.max(depth);
        }
    }
    deepest > MAX_DEPTH
}

/// The text of an HTML body.
pub fn to_text(html: &str) -> String {
    let html = &html[..html.floor_char_boundary(html.len().min(MAX_HTML_BYTES))];
    if pathological(html) {
        return stripped(html);
    }
    html2text::config::plain_no_decorate()
        .string_from_read(html.as_bytes(), 10_000)
        .unwrap_or_default()
}

/// The text between the tags, a line break for each block element, the
/// common entities decoded; `<style>` and `<script>` contents left out.
fn stripped(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut at = 0;
    let mut skipping: Option<&str> = None;
    for (t, range) in tags(html) {
        if skipping.is_none() {
            out.push_str(&decode(&html[at..range.start]));
        }
        at = range.end;
        match skipping {
            Some(name) if t.closing && t.name.eq_ignore_ascii_case(name) => skipping = None,
            Some(_) => {}
            None if !t.closing
                && ["style", "script"]
                    .iter()
                    .any(|s| t.name.eq_ignore_ascii_case(s)) =>
            {
                skipping = Some(if t.name.eq_ignore_ascii_case("style") {
                    "style"
                } else {
                    "script"
                });
            }
            None if BLOCK.iter().any(|b| t.name.eq_ignore_ascii_case(b))
                && !out.ends_with('\n') =>
            {
                out.push('\n');
            }
            None => {}
        }
    }
    if skipping.is_none() {
        out.push_str(&decode(&html[at..]));
    }
    out
}

/// The character references people's mail uses; others stay as written.
fn decode(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('&') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest[..rest.len().min(12)].find(';');
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => ' ',
                _ => {
                    let n = name.strip_prefix('#')?;
                    let code = match n.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => n.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_html_goes_through_html2text() {
        let t = to_text(
            "<p>Hello <b>Anna</b>,</p><ul><li>one</li><li>two</li></ul><p>Jan &amp; Ewa</p>",
        );
        assert!(
            t.contains("Hello Anna") && t.contains("one") && t.contains("Jan & Ewa"),
            "{t}"
        );
    }

    #[test]
    fn pathological_html_is_stripped_in_linear_time() {
        let deep = format!(
            "<html><body><p>Intro &lt;here&gt;</p>{}deep text{}</body></html>",
            "<ul>".repeat(65_000),
            "</ul>".repeat(65_000)
        );
        let t0 = std::time::Instant::now();
        let t = to_text(&deep);
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(1),
            "{:?}",
            t0.elapsed()
        );
        assert!(t.contains("Intro <here>"), "{t}");
        let many = format!("<table>{}</table>", "<tr><td>x</td></tr>".repeat(30_000));
        let t0 = std::time::Instant::now();
        to_text(&many);
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(1),
            "{:?}",
            t0.elapsed()
        );
    }

    #[test]
    fn stripping_keeps_lines_and_drops_styles() {
        let t = stripped(
            "<style>p{color:red}</style><div>a</div><div>b &#x41;&#66; &bogus; &amp</div><script>x()</script>c",
        );
        assert_eq!(t, "\na\nb AB &bogus; &amp\nc");
    }
}
