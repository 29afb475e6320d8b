//! Normalise one raw message with mail-parser into [`Parsed`]: the sender,
//! recipients, subject, identifiers, date, the best text body and the
//! attachments, plus the raw header values the classifier needs.
//!
//! Must not: fail or panic. Broken MIME degrades (a message mail-parser cannot
//! read at all becomes an empty [`Parsed`] whose body is the raw bytes read as
//! lossy UTF-8). Pure: no I/O, no clock.
//!
//! Charsets are mail-parser's (with its `full_encoding` feature: every charset
//! `encoding_rs` knows, including ISO-8859-2 and Windows-1250 used by Polish
//! clients); RFC 2047 encoded words are decoded by it. HTML-only mail is turned
//! into text with html2text, not with regexes.

use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset};
use mail_parser::{
    Address, HeaderName, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};

pub use super::clean::MAX_TEXT_BYTES;
/// Nested parts deeper than this are not descended into (mail-parser has its
/// own limit as well); a bomb of 10,000 nested parts is read as far as this.
pub const MAX_PARTS: usize = 2_000;

/// A mailbox: address (lower-cased) and display name.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Mailbox {
    /// The address, lower-cased; empty when the header had none.
    pub address: String,
    /// The display name, if any.
    pub name: Option<String>,
}

/// One attachment or inline non-text part.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attachment {
    /// MIME type, lower-cased, e.g. `image/png`.
    pub content_type: String,
    /// File name, if given.
    pub filename: Option<String>,
    /// Decoded size in bytes.
    pub size: usize,
    /// Whether it is shown inline (Content-Disposition: inline, or a body
    /// part referenced by Content-ID).
    pub inline: bool,
    /// Content-ID without angle brackets.
    pub content_id: Option<String>,
    /// Pixel width and height of an image, read from its header
    /// (imagesize); `None` when it is no image or its header is unreadable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixels: Option<(u32, u32)>,
}

impl Attachment {
    /// Whether this is an image.
    pub fn is_image(&self) -> bool {
        self.content_type.starts_with("image/")
    }
}

/// A normalised message.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// From.
    pub from: Mailbox,
    /// Reply-To (first).
    pub reply_to: Option<Mailbox>,
    /// To.
    pub to: Vec<Mailbox>,
    /// Cc.
    pub cc: Vec<Mailbox>,
    /// Subject, decoded; empty when absent.
    pub subject: String,
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    /// In-Reply-To ids without angle brackets.
    pub in_reply_to: Vec<String>,
    /// References ids without angle brackets.
    pub references: Vec<String>,
    /// The Date header.
    pub date: Option<DateTime<FixedOffset>>,
    /// Return-Path address (lower-cased); `Some("")` for the null path `<>`.
    pub return_path: Option<String>,
    /// Every header as (lower-cased name, raw value trimmed), in order.
    pub headers: Vec<(String, String)>,
    /// The best text body: text/plain, else HTML converted to text.
    pub text: String,
    /// Whether [`Parsed::text`] came from HTML.
    pub text_from_html: bool,
    /// The HTML body, when there is one (for `cid:` and pasted images).
    pub html: Option<String>,
    /// Attachments and inline non-text parts.
    pub attachments: Vec<Attachment>,
    /// Content type of the top part, lower-cased (`multipart/report`, …).
    pub content_type: String,
    /// `report-type` of a `multipart/report`.
    pub report_type: Option<String>,
    /// Text of `message/delivery-status` parts (DSN fields).
    pub delivery_status: String,
    /// The first message attached as `message/rfc822` outside a report
    /// (a forward as attachment).
    pub forwarded: Option<super::forward::Forwarded>,
    /// Message-IDs found in headers of returned messages (`message/rfc822`,
    /// `text/rfc822-headers`) in a report.
    pub returned_message_ids: Vec<String>,
    /// Message-IDs quoted in text parts (`Message-ID: <...>` lines of a
    /// report's text or of a returned mail attached as text), at most 20.
    pub quoted_message_ids: Vec<String>,
    /// To addresses of returned messages in a report, lower-cased.
    pub returned_to: Vec<String>,
    /// Text of `message/feedback-report` parts (RFC 5965 fields).
    pub feedback_report: String,
    /// Whether mail-parser could not read the message at all.
    pub unparseable: bool,
    /// Whether the input opens with a header block ([`has_header_block`]).
    pub header_block: bool,
    /// Whether the input is binary ([`looks_binary`]).
    pub binary: bool,
}

impl Parsed {
    /// All values of a header (name in any case), raw and trimmed.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The date of the topmost `Received:` header (when our server took the
/// message), design.md "received" rule for files; `None` when absent.
pub fn topmost_received(raw: &[u8]) -> Option<DateTime<chrono::Utc>> {
    // Every header is skipped to find where the first `Received:` is, and
    // that one alone is parsed: parsing them all (often a dozen) and copying
    // the others was most of the reading thread's work.
    static SKIP: LazyLock<MessageParser> = LazyLock::new(|| {
        MessageParser::new()
            .ignore_header(HeaderName::Received)
            .default_header_ignore()
    });
    static RECEIVED: LazyLock<MessageParser> =
        LazyLock::new(|| MessageParser::new().header_received(HeaderName::Received));
    let raw = normalize_eol(raw);
    let msg = SKIP.parse_headers(&raw[..])?;
    let first = msg
        .root_part()
        .headers()
        .iter()
        .find(|h| h.name == HeaderName::Received)?;
    let value = raw.get(first.offset_start() as usize..first.offset_end() as usize)?;
    // Alone, as it was in the header block: ended by a blank line, or by
    // the end of the input when nothing followed it.
    let end: &[u8] = if value.ends_with(b"\n") { b"\n" } else { b"" };
    let one = [&b"Received:"[..], value, end].concat();
    let parsed = RECEIVED.parse_headers(&one)?;
    parsed
        .received()?
        .date
        .map(|d| d.to_timestamp())
        .and_then(|t| DateTime::from_timestamp(t, 0))
}

/// The bytes with every lone CR read as a line end (LF), so that mail
/// written with old Mac line endings parses like any other; CRLF and LF are
/// kept as they are (mail-parser reads both). Borrowed when nothing changes.
pub fn normalize_eol(raw: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let mut lone = memchr::memchr_iter(b'\r', raw).filter(|&i| raw.get(i + 1) != Some(&b'\n'));
    let Some(first) = lone.next() else {
        return std::borrow::Cow::Borrowed(raw);
    };
    let mut out = raw.to_vec();
    for i in std::iter::once(first).chain(lone) {
        out[i] = b'\n';
    }
    std::borrow::Cow::Owned(out)
}

/// How much of the input the "is this mail at all" checks read.
const SNIFF_BYTES: usize = 8 * 1024;

/// Whether the input opens with a header block: its first line (after an
/// optional mbox `From ` line) is `Name: value` with an RFC 5322 field name
/// (printable ASCII other than the colon, section 3.6.8).
pub fn has_header_block(raw: &[u8]) -> bool {
    let mut lines = raw.split(|b| *b == b'\n');
    let mut line = lines.next().unwrap_or_default();
    if line.starts_with(b"From ") {
        line = lines.next().unwrap_or_default();
    }
    let Some(colon) = line.iter().position(|b| *b == b':') else {
        return false;
    };
    colon > 0 && line[..colon].iter().all(|b| (33..=126).contains(b))
}

/// Whether the input is binary rather than text: more than 5% of its first
/// 8 KB are control bytes that no text mail holds (NUL and the C0 codes
/// other than tab, line ends, form feed and escape). Random bytes have about
/// 11%; a mail with a stray NUL far less.
pub fn looks_binary(raw: &[u8]) -> bool {
    let head = &raw[..raw.len().min(SNIFF_BYTES)];
    // Counted as "below 32" less the allowed codes: sums the compiler turns
    // into vector instructions (a filter with a match is read byte by byte).
    let control: usize = head
        .chunks(255)
        .map(|chunk| {
            let n = chunk.iter().fold(0u8, |n, &b| {
                let allowed = u8::from(b == b'\t')
                    + u8::from(b == b'\n')
                    + u8::from(b == b'\r')
                    + u8::from(b == 0x0c)
                    + u8::from(b == 0x1b);
                n + (u8::from(b < 32) - allowed)
            });
            usize::from(n)
        })
        .sum();
    !head.is_empty() && control * 20 > head.len()
}

/// The instant of the `Date:` header; `None` when absent or unreadable.
pub fn date_header(raw: &[u8]) -> Option<DateTime<chrono::Utc>> {
    static DATE: LazyLock<MessageParser> =
        LazyLock::new(|| MessageParser::new().with_date_headers());
    let raw = normalize_eol(raw);
    let msg = DATE.parse_headers(&raw[..])?;
    DateTime::from_timestamp(msg.date()?.to_timestamp(), 0)
}

/// mail-parser's default header parsers, except that `Received:` headers
/// (often a dozen, and read only for the received instant, by
/// [`topmost_received`]) stay raw text: parsing them was a tenth of the
/// analysis.
static PARSER: LazyLock<MessageParser> = LazyLock::new(|| {
    MessageParser::new()
        .with_mime_headers()
        .with_date_headers()
        .with_address_headers()
        .with_message_ids()
        .header_text(HeaderName::Subject)
        .header_text(HeaderName::Comments)
        .header_address(HeaderName::ListArchive)
        .header_address(HeaderName::ListHelp)
        .header_address(HeaderName::ListId)
        .header_address(HeaderName::ListOwner)
        .header_address(HeaderName::ListPost)
        .header_address(HeaderName::ListSubscribe)
        .header_address(HeaderName::ListUnsubscribe)
        .header_id(HeaderName::ReturnPath)
        .header_comma_separated(HeaderName::Keywords)
        .header_comma_separated(HeaderName::ContentLanguage)
        .header_raw(HeaderName::MimeVersion)
});

/// Parses raw bytes into a [`Parsed`]; never fails.
pub fn parse(raw: &[u8]) -> Parsed {
    let raw = normalize_eol(raw);
    parsed(&raw, PARSER.parse(&raw[..]).as_ref())
}

/// A message read by the parser [`parse`] uses (its line ends normalised
/// by [`normalize_eol`]), for callers that read more from it.
pub(crate) fn parse_message(raw: &[u8]) -> Option<Message<'_>> {
    PARSER.parse(raw)
}

/// The [`Parsed`] of a message read by [`parse_message`].
pub(crate) fn parsed(raw: &[u8], msg: Option<&Message<'_>>) -> Parsed {
    let mut p = match msg {
        Some(msg) => from_message(msg),
        None => Parsed {
            text: truncate(String::from_utf8_lossy(raw).into_owned()),
            unparseable: true,
            ..Parsed::default()
        },
    };
    p.header_block = has_header_block(raw);
    p.binary = looks_binary(raw);
    p
}

fn from_message(msg: &Message<'_>) -> Parsed {
    let mut p = Parsed {
        from: msg.from().and_then(first_mailbox).unwrap_or_default(),
        reply_to: msg.reply_to().and_then(first_mailbox),
        to: msg.to().map(mailboxes).unwrap_or_default(),
        cc: msg.cc().map(mailboxes).unwrap_or_default(),
        subject: super::clean::one_line(
            msg.subject().unwrap_or(""),
            super::clean::MAX_SUBJECT_CHARS,
        ),
        message_id: msg.message_id().map(clean_id).filter(|s| !s.is_empty()),
        in_reply_to: ids(msg.in_reply_to()),
        references: ids(msg.references()),
        date: msg.date().and_then(|d| {
            let secs = (i32::from(d.tz_hour) * 3600 + i32::from(d.tz_minute) * 60)
                * if d.tz_before_gmt { -1 } else { 1 };
            let offset = FixedOffset::east_opt(secs)?;
            DateTime::from_timestamp(d.to_timestamp(), 0).map(|t| t.with_timezone(&offset))
        }),
        headers: msg
            .headers_raw()
            .map(|(n, v)| (n.to_ascii_lowercase(), unfold(v)))
            .collect(),
        ..Parsed::default()
    };
    p.return_path = p.header("return-path").map(|v| {
        v.trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim()
            .to_ascii_lowercase()
    });
    let root = msg.root_part();
    if let Some(ct) = root.content_type() {
        p.content_type = content_type_name(ct.ctype(), ct.subtype());
        if p.content_type == "multipart/report" {
            p.report_type = ct.attribute("report-type").map(|s| s.to_ascii_lowercase());
        }
    } else {
        p.content_type = "text/plain".into();
    }

    body(msg, &mut p);
    parts(msg, &mut p);
    p
}

/// The best body: the first text/plain of mail-parser's body list, else the
/// first HTML converted, else a text part mail-parser did not take for a
/// body (`Content-Type: text` with no subtype, `text/enriched` and the
/// like).
fn body(msg: &Message<'_>, p: &mut Parsed) {
    let text_part = msg
        .text_body
        .iter()
        .filter_map(|id| msg.parts.get(*id as usize))
        .find(|part| {
            matches!(part.body, PartType::Text(_)) && !part.is_content_type("text", "html")
        });
    let html_part = msg
        .html_body
        .iter()
        .filter_map(|id| msg.parts.get(*id as usize))
        .find(|part| matches!(part.body, PartType::Html(_)));
    if let Some(PartType::Html(html)) = html_part.map(|part| &part.body) {
        p.html = Some(truncate(html.to_string()));
    }
    let other_text = || {
        msg.parts
            .iter()
            .take(MAX_PARTS)
            .find_map(|part| match &part.body {
                PartType::Text(t)
                    if part.attachment_name().is_none()
                        && !is_attachment(part)
                        && part.content_type().is_none_or(|ct| {
                            ct.ctype().eq_ignore_ascii_case("text")
                                && !ct
                                    .subtype()
                                    .is_some_and(|s| s.eq_ignore_ascii_case("rfc822-headers"))
                        }) =>
                {
                    Some(t)
                }
                _ => None,
            })
    };
    match (text_part.map(|part| &part.body), &p.html) {
        (Some(PartType::Text(t)), _) => p.text = truncate(t.to_string()),
        (_, Some(html)) => {
            p.text = html_to_text(html);
            p.text_from_html = true;
        }
        _ => {
            if let Some(t) = other_text() {
                p.text = truncate(t.to_string());
            }
        }
    }
}

/// What the parts say: reports' machine-readable sections, returned
/// messages, Message-IDs quoted in text, and the attachments.
fn parts(msg: &Message<'_>, p: &mut Parsed) {
    for part in msg.parts.iter().take(MAX_PARTS) {
        let ctype = part
            .content_type()
            .map(|ct| content_type_name(ct.ctype(), ct.subtype()))
            .unwrap_or_else(|| "text/plain".into());
        if let Some(section) = ReportSection::of(&ctype)
            && let Some(t) = report_text(&part.body, section.max())
        {
            section.read(p, &t);
            continue;
        }
        match &part.body {
            PartType::Multipart(_) => {}
            PartType::Message(inner) => {
                if p.forwarded.is_none() && p.content_type != "multipart/report" {
                    p.forwarded = forwarded(inner);
                }
                if let Some(id) = inner.message_id() {
                    p.returned_message_ids.push(clean_id(id));
                }
                if let Some(to) = inner.to() {
                    p.returned_to
                        .extend(mailboxes(to).into_iter().map(|m| m.address));
                }
                p.attachments
                    .push(attachment(part, ctype, inner.raw_message().len()));
            }
            // Text and HTML parts are the body unless they are named files.
            PartType::Text(t) | PartType::Html(t)
                if part.attachment_name().is_none() && !is_attachment(part) =>
            {
                quote_ids(&mut p.quoted_message_ids, t);
            }
            PartType::Text(t) => {
                quote_ids(&mut p.quoted_message_ids, t);
                p.attachments.push(attachment(part, ctype, part.len()));
            }
            _ => p.attachments.push(attachment(part, ctype, part.len())),
        }
    }
}

/// A message attached as `message/rfc822`: its sender, subject and text.
fn forwarded(inner: &Message<'_>) -> Option<super::forward::Forwarded> {
    let from = inner.from().and_then(first_mailbox)?;
    if from.address.is_empty() {
        return None;
    }
    Some(super::forward::Forwarded {
        address: from.address,
        name: from.name,
        subject: super::clean::one_line(
            inner.subject().unwrap_or(""),
            super::clean::MAX_SUBJECT_CHARS,
        ),
        text: truncate(
            inner
                .body_text(0)
                .map(|t| t.into_owned())
                .unwrap_or_default(),
        ),
    })
}

/// The machine-readable parts of reports, by content type.
#[derive(Clone, Copy)]
enum ReportSection {
    /// `message/delivery-status` (RFC 3464), `message/global-delivery-status` (RFC 6533).
    DeliveryStatus,
    /// `message/feedback-report` (RFC 5965); the first 16 KB.
    Feedback,
    /// The returned mail's header block: `text/rfc822-headers` (RFC 6522),
    /// or the non-standard `message/rfc822-headers`; the first 64 KB.
    ReturnedHeaders,
}

impl ReportSection {
    fn of(ctype: &str) -> Option<Self> {
        Some(match ctype {
            "message/delivery-status" | "message/global-delivery-status" => Self::DeliveryStatus,
            "message/feedback-report" => Self::Feedback,
            "text/rfc822-headers" | "message/rfc822-headers" => Self::ReturnedHeaders,
            _ => return None,
        })
    }

    /// How much of the part is read, in bytes.
    fn max(self) -> usize {
        match self {
            Self::DeliveryStatus => usize::MAX,
            Self::Feedback => 16 * 1024,
            Self::ReturnedHeaders => 64 * 1024,
        }
    }

    fn read(self, p: &mut Parsed, t: &str) {
        match self {
            Self::DeliveryStatus => {
                p.delivery_status.push_str(t);
                p.delivery_status.push('\n');
            }
            Self::Feedback => {
                p.feedback_report.push_str(t);
                p.feedback_report.push('\n');
            }
            Self::ReturnedHeaders => {
                p.returned_message_ids.extend(message_ids_in_headers(t));
                p.returned_to.extend(to_in_headers(t));
            }
        }
    }
}

/// The first `max` bytes of a part's content as text, whether mail-parser
/// decoded it as text or handed it over as bytes (it does so for most
/// `message/*` types).
fn report_text<'a>(body: &'a PartType<'_>, max: usize) -> Option<std::borrow::Cow<'a, str>> {
    match body {
        PartType::Text(t) | PartType::Html(t) => Some(std::borrow::Cow::Borrowed(
            &t[..t.floor_char_boundary(t.len().min(max))],
        )),
        PartType::Binary(b) | PartType::InlineBinary(b) => {
            Some(String::from_utf8_lossy(&b[..b.len().min(max)]))
        }
        _ => None,
    }
}

fn attachment(part: &MessagePart<'_>, content_type: String, size: usize) -> Attachment {
    let content_id = part.content_id().map(clean_id).filter(|s| !s.is_empty());
    let disposition_inline = part
        .content_disposition()
        .is_some_and(|cd| cd.ctype().eq_ignore_ascii_case("inline"));
    Attachment {
        filename: part
            .attachment_name()
            .map(|s| super::clean::one_line(s, super::clean::MAX_NAME_CHARS))
            .filter(|s| !s.is_empty()),
        size,
        inline: disposition_inline || (content_id.is_some() && !is_attachment(part)),
        pixels: content_type
            .starts_with("image/")
            .then(|| imagesize::blob_size(part.contents()).ok())
            .flatten()
            .and_then(|d| Some((u32::try_from(d.width).ok()?, u32::try_from(d.height).ok()?))),
        content_id,
        content_type,
    }
}

/// Content-Disposition: attachment.
fn is_attachment(part: &MessagePart<'_>) -> bool {
    part.content_disposition()
        .is_some_and(|cd| cd.ctype().eq_ignore_ascii_case("attachment"))
}

fn content_type_name(ctype: &str, subtype: Option<&str>) -> String {
    match subtype {
        Some(s) => format!("{}/{}", ctype.to_ascii_lowercase(), s.to_ascii_lowercase()),
        None => ctype.to_ascii_lowercase(),
    }
}

fn first_mailbox(a: &Address<'_>) -> Option<Mailbox> {
    a.iter()
        .find(|x| x.address.is_some())
        .or_else(|| a.first())
        .map(mailbox)
}

fn mailboxes(a: &Address<'_>) -> Vec<Mailbox> {
    a.iter()
        .map(mailbox)
        .filter(|m| !m.address.is_empty())
        .collect()
}

fn mailbox(a: &mail_parser::Addr<'_>) -> Mailbox {
    Mailbox {
        address: a
            .address
            .as_deref()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
        name: a
            .name
            .as_deref()
            .map(|n| {
                super::clean::one_line(n.trim().trim_matches('"'), super::clean::MAX_NAME_CHARS)
            })
            .filter(|n| !n.is_empty()),
    }
}

fn ids(v: &HeaderValue<'_>) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => vec![clean_id(t)],
        HeaderValue::TextList(l) => l.iter().map(|t| clean_id(t)).collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect()
}

/// A Message-ID without angle brackets and surrounding space.
pub fn clean_id(s: &str) -> String {
    s.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string()
}

fn unfold(v: &str) -> String {
    let v = v.trim();
    // Most values are one line already: nothing to fold or collapse.
    if !v.bytes().any(|b| matches!(b, b'\r' | b'\n' | b'\t')) && !v.contains("  ") {
        return v.to_string();
    }
    let mut out = String::with_capacity(v.len());
    let mut last_space = false;
    for c in v.chars() {
        if c == '\r' || c == '\n' {
            continue;
        }
        let space = c == ' ' || c == '\t';
        if space && last_space {
            continue;
        }
        out.push(if space { ' ' } else { c });
        last_space = space;
    }
    out
}

/// How many quoted Message-IDs are kept, and how much of a part is read for
/// them.
const MAX_QUOTED_IDS: usize = 20;
const QUOTED_SCAN_BYTES: usize = 64 * 1024;

fn quote_ids(out: &mut Vec<String>, text: &str) {
    if out.len() >= MAX_QUOTED_IDS {
        return;
    }
    let text = &text[..text.floor_char_boundary(text.len().min(QUOTED_SCAN_BYTES))];
    for id in message_ids_in_headers(text) {
        if out.len() < MAX_QUOTED_IDS && !out.contains(&id) {
            out.push(id);
        }
    }
}

/// `To:` addresses of a header block given as text.
fn to_in_headers(text: &str) -> Vec<String> {
    MessageParser::new()
        .parse_headers(text.as_bytes())
        .and_then(|m| m.to().map(mailboxes))
        .unwrap_or_default()
        .into_iter()
        .map(|m| m.address)
        .collect()
}

/// Where "Message-ID:" is written in any case: searched for first, since
/// nearly every text has none and reading it line by line costs more.
static MESSAGE_ID_FIELD: LazyLock<regex::bytes::Regex> =
    LazyLock::new(|| regex::bytes::Regex::new(r"(?i-u)message-id:").expect("a valid pattern"));

fn message_ids_in_headers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    if !MESSAGE_ID_FIELD.is_match(text.as_bytes()) {
        return out;
    }
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let line = line.trim_start_matches([' ', '\t', '>']);
        // Compare bytes: a header block may hold any text, and byte 11 is a
        // character boundary only once the ASCII name has matched.
        if line.len() >= 11 && line.as_bytes()[..11].eq_ignore_ascii_case(b"message-id:") {
            let mut v = line[11..].to_string();
            while let Some(next) = lines.next_if(|l| l.starts_with([' ', '\t'])) {
                v.push_str(next);
            }
            let id = clean_id(&v);
            if !id.is_empty() {
                out.push(id);
            }
        }
    }
    out
}

/// HTML to plain text with html2text; quoted blocks come out with `> `.
pub fn html_to_text(html: &str) -> String {
    super::html::to_text(html)
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_TEXT_BYTES {
        s.truncate(s.floor_char_boundary(MAX_TEXT_BYTES));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_is_more_than_five_percent_control_bytes() {
        // 100 bytes with n control bytes (NUL, BEL, DEL-free C0 codes).
        let with = |n: usize, code: u8| {
            let mut v = vec![b'a'; 100];
            v[..n].fill(code);
            v
        };
        let table: &[(&str, Vec<u8>, bool)] = &[
            (
                "plain text",
                b"Subject: hi\r\n\r\nHello\tthere\x0c\x1b[0m\n".to_vec(),
                false,
            ),
            ("five per cent NUL", with(5, 0), false),
            ("six per cent NUL", with(6, 0), true),
            ("six per cent BEL", with(6, 7), true),
            (
                "tabs, line ends, form feeds, escapes",
                with(60, b'\t'),
                false,
            ),
            ("empty", Vec::new(), false),
            // Only the first 8 KB count: control bytes after them do not.
            (
                "late control bytes",
                [vec![b'a'; SNIFF_BYTES], vec![0; 4000]].concat(),
                false,
            ),
            // Over 255 bytes, so the counting spans several chunks.
            (
                "every byte value",
                (0..=255u8).cycle().take(3000).collect(),
                true,
            ),
        ];
        for (name, raw, want) in table {
            assert_eq!(looks_binary(raw), *want, "{name}");
        }
    }

    #[test]
    fn polish_charsets_and_encoded_words() {
        // "Zażółć gęślą jaźń" in ISO-8859-2 quoted-printable, subject in an
        // RFC 2047 Windows-1250 word.
        let raw = b"From: =?windows-1250?Q?Pawe=B3_Kowalski?= <Pawel@Example.PL>\r\n\
To: support@smartstock.cloud\r\n\
Subject: =?windows-1250?Q?B=B3=B9d_logowania?=\r\n\
Message-ID: <abc@example.pl>\r\n\
Content-Type: text/plain; charset=iso-8859-2\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\n\
Za=BF=F3=B3=E6 g=EA=B6l=B1 ja=BC=F1\r\n";
        let p = parse(raw);
        assert_eq!(p.from.address, "pawel@example.pl");
        assert_eq!(p.from.name.as_deref(), Some("Paweł Kowalski"));
        assert_eq!(p.subject, "Błąd logowania");
        assert_eq!(p.text.trim(), "Zażółć gęślą jaźń");
        assert_eq!(p.message_id.as_deref(), Some("abc@example.pl"));
    }

    #[test]
    fn html_only_becomes_text() {
        let raw = b"From: a@b.c\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello <b>there</b></p><blockquote>old</blockquote>";
        let p = parse(raw);
        assert!(p.text_from_html);
        assert!(p.text.contains("Hello there"), "{:?}", p.text);
        assert!(p.text.contains("> old"), "{:?}", p.text);
    }

    /// Found by `cargo fuzz run analyze`: a returned-headers part whose line
    /// has a multi-byte character across byte 11.
    #[test]
    fn returned_headers_with_multibyte_text() {
        assert!(
            message_ids_in_headers("Body\u{fffd}\u{fffd}\u{fffd}x\nMessage-ID: <a@b>\n").len() == 1
        );
        assert!(message_ids_in_headers("abcdefghij\u{fffd}xyz").is_empty());
        // The field name in any case, quoted or indented.
        for text in [
            "MESSAGE-ID: <a@b>",
            "> message-id: <a@b>",
            "\tMessage-Id: <a@b>",
            // Folded: the value on the next line, as long headers are
            // written.
            "Message-ID:\n <a@b>",
        ] {
            assert_eq!(message_ids_in_headers(text), ["a@b"], "{text:?}");
        }
        assert!(message_ids_in_headers("Message ID: <a@b>").is_empty());
    }

    #[test]
    fn topmost_received_is_when_our_server_took_it() {
        // (header block, expected instant): the topmost Received: is our
        // server's; the ones below it are earlier hops (a sender's server
        // that held the mail for hours).
        let ours = "Received: from mx.example.net (mx.example.net [192.0.2.1])\n by mx.helpdesk.example with ESMTPS id 1;\n Tue, 5 Mar 2024 10:05:00 +0100\n";
        let theirs =
            "Received: from [10.0.0.2] by mx.example.net; Tue, 5 Mar 2024 07:00:00 +0100\n";
        let table = [
            (
                format!("{ours}{theirs}Subject: x\n\nbody\n"),
                Some("2024-03-05T09:05:00Z"),
            ),
            (
                format!("Return-Path: <a@b>\n{ours}{theirs}\nbody\n"),
                Some("2024-03-05T09:05:00Z"),
            ),
            (
                format!("{ours}{theirs}").replace('\n', "\r\n"),
                Some("2024-03-05T09:05:00Z"),
            ),
            (
                format!("{ours}{theirs}").replace('\n', "\r"),
                Some("2024-03-05T09:05:00Z"),
            ),
            // Headers only, the last one cut short: the first is whole.
            (
                format!("{ours}Received: from [10."),
                Some("2024-03-05T09:05:00Z"),
            ),
            // Ours without a date: none (the caller falls back), not theirs.
            (
                format!("Received: from mx by mx.helpdesk.example\n{theirs}\nbody\n"),
                None,
            ),
            ("Subject: no trace\n\nbody\n".to_string(), None),
        ];
        for (raw, expected) in table {
            let got = topmost_received(raw.as_bytes());
            assert_eq!(got, expected.map(|e| e.parse().unwrap()), "{raw:?}");
        }
    }

    #[test]
    fn garbage_never_fails() {
        for raw in [
            &b""[..],
            b"\0\0\0",
            b"no headers at all",
            b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n",
        ] {
            let _ = parse(raw);
        }
    }
}
