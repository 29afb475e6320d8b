//! Hostile inputs of about 1 MB each, one per shape that once made some
//! analyser slow (quadratic or worse) or that a stranger could use to make
//! one slow: deep HTML, many tags, quotes and clock times for the
//! occurrence parser, headers by the ten thousand, nested multiparts,
//! pathological encoded words. Shared by the `hostile` tests (each gives a
//! result) and `benches/hostile.rs` (each within a second).

/// A message from a stranger with `headers` and `body`, named `name`.
fn mail(name: &str, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: a@b.example\nTo: support@smartstock.cloud\nSubject: {name}\nMessage-ID: <{name}@b.example>\n\
         Date: Wed, 25 Nov 2026 10:00:00 +0100\nMIME-Version: 1.0\n{headers}\n\n{body}\n"
    )
    .into_bytes()
}

const TEXT: &str = "Content-Type: text/plain; charset=utf-8";
const HTML: &str = "Content-Type: text/html; charset=utf-8";

/// `unit` repeated `n` times.
fn times(unit: &str, n: usize) -> String {
    unit.repeat(n)
}

/// `(name, raw)` of every hostile input.
pub fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    let nested_multipart = {
        let mut b = String::new();
        for i in 0..5000 {
            b.push_str(&format!(
                "--b{i}\nContent-Type: multipart/mixed; boundary=\"b{}\"\n\n",
                i + 1
            ));
        }
        b.push('x');
        b
    };
    let parts: String = (0..20_000)
        .map(|i| format!("--b\nContent-Type: text/plain\n\npart {i}\n"))
        .collect::<String>()
        + "--b--";
    let ladder: String = (1..1500)
        .map(|i| format!("{} text\n", ">".repeat(i)))
        .collect();
    vec![
        // Headers.
        (
            "ar-huge",
            mail(
                "ar-huge",
                &format!(
                    "Content-Type: text/plain\nAuthentication-Results: mx.smartstock.cloud; {}",
                    times("dkim=pass header.d=x (a(b(c)))", 20_000)
                ),
                "hi",
            ),
        ),
        (
            "cc-50k",
            mail(
                "cc-50k",
                &format!(
                    "Content-Type: text/plain\nCc: {}",
                    (0..50_000)
                        .map(|i| format!("u{i}@x{i}.example"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "hello",
            ),
        ),
        (
            "received-20k",
            mail(
                "received-20k",
                &format!(
                    "Content-Type: text/plain\n{}",
                    (0..20_000)
                        .map(|i| format!(
                            "Received: from h{i} by h{i}; Wed, 25 Nov 2026 10:00:00 +0100"
                        ))
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
                "hi",
            ),
        ),
        (
            "refs-60k",
            mail(
                "refs-60k",
                &format!(
                    "Content-Type: text/plain\nReferences: {}",
                    (0..60_000)
                        .map(|i| format!("<r{i}@x.example>"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                "hello",
            ),
        ),
        (
            "subject-encoded-words",
            mail(
                "x",
                &format!(
                    "Content-Type: text/plain\nX-Subject-Too: {}\nSubject: =?utf-8?q?{}?={}",
                    times("=?utf-8?b?", 20_000),
                    "a".repeat(60),
                    times(" ?=", 30_000)
                ),
                "hi",
            ),
        ),
        // Plain text for the trimmer, tag reader and occurrence parser.
        (
            "one-line-1m",
            mail("one-line-1m", TEXT, &"a".repeat(1_000_000)),
        ),
        (
            "many-lines-1m",
            mail(
                "many-lines-1m",
                TEXT,
                &times("yesterday at 14:30 I restarted the server\n", 25_000),
            ),
        ),
        (
            "cr-only",
            mail(
                "cr-only",
                "Content-Type: text/plain",
                &times("line\r", 200_000),
            ),
        ),
        ("gt-lines", mail("gt-lines", TEXT, &times("> ", 500_000))),
        (
            "quote-levels",
            mail("quote-levels", "Content-Type: text/plain", &ladder),
        ),
        (
            "quote-clock",
            mail(
                "quote-clock",
                TEXT,
                &format!("\"\n{}", times("1:11\n", 52_000)),
            ),
        ),
        (
            "quotes-1m",
            mail("quotes-1m", TEXT, &times("\"a 1:11 \"", 100_000)),
        ),
        (
            "dates",
            mail("dates", TEXT, &times("25.11.2026 10:00 ", 50_000)),
        ),
        (
            "colons",
            mail("colons", TEXT, &times("On Mon wrote:\n", 60_000)),
        ),
        (
            "wrote-lines",
            mail(
                "wrote-lines",
                "Content-Type: text/plain",
                &times(
                    "On Mon, 1 Jan 2026 at 10:00, X <x@y.z> wrote:\n> a\n",
                    15_000,
                ),
            ),
        ),
        (
            "outlook-headers",
            mail(
                "outlook-headers",
                TEXT,
                &times("From: x\nSent: y\nTo: z\nSubject: q\n\n", 20_000),
            ),
        ),
        ("tags-1m", mail("tags-1m", TEXT, &times("#note\n", 150_000))),
        (
            "tag-lines",
            mail(
                "tag-lines",
                "Content-Type: text/plain\nX-A: 1",
                &format!("#{}\n{}", "a".repeat(500_000), times("#note\n", 10_000)),
            ),
        ),
        (
            "base64-text",
            mail(
                "base64-text",
                "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64",
                &times("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=", 25_000),
            ),
        ),
        // HTML for the converter.
        (
            "nested-ul",
            mail(
                "nested-ul",
                HTML,
                &format!(
                    "<html><body>{}x{}</body></html>",
                    times("<ul>", 65_000),
                    times("</ul>", 65_000)
                ),
            ),
        ),
        (
            "nested-div-1m",
            mail(
                "nested-div-1m",
                HTML,
                &format!("{}x", times("<div>", 200_000)),
            ),
        ),
        (
            "table-1m",
            mail(
                "table-1m",
                HTML,
                &format!("<table>{}</table>", times("<tr><td>x</td>", 80_000)),
            ),
        ),
        (
            "html-attr",
            mail(
                "html-attr",
                "Content-Type: text/html",
                &format!("<p {}>x</p>", times("a=\"b\" ", 150_000)),
            ),
        ),
        (
            "html-comment",
            mail(
                "html-comment",
                "Content-Type: text/html",
                &format!("<!{}x", "-".repeat(800_000)),
            ),
        ),
        // MIME structure.
        (
            "nested-multipart",
            mail(
                "nested-multipart",
                "Content-Type: multipart/mixed; boundary=\"b0\"",
                &nested_multipart,
            ),
        ),
        (
            "parts-20k",
            mail(
                "parts-20k",
                "Content-Type: multipart/mixed; boundary=\"b\"",
                &parts,
            ),
        ),
    ]
}
