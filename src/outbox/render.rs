//! An outbox row as RFC 5322 bytes, built with lettre's message builder
//! (never by hand): typed address headers, RFC 2047 encoding and folding of
//! the others, a text/plain UTF-8 body, and the stored message attached as
//! `message/rfc822` (or, for a consultant's relay, only its attachments).
//!
//! Rendering is deterministic: Date is the instant the mail was queued, so a
//! mail sent twice after a crash is the same mail twice (same Message-ID).

use std::time::{Duration, UNIX_EPOCH};

use lettre::Message;
use lettre::message::header::{
    self, ContentDisposition, ContentTransferEncoding, ContentType, HeaderName, HeaderValue,
};
use lettre::message::{Attachment, Body, Mailbox, Mailboxes, MultiPart, SinglePart};

use mail_parser::MimeHeaders;

use crate::store::Outgoing;
use crate::ticket::compose::Attach;

/// Why a row could not be turned into a mail (a permanent failure: the row
/// is broken, retrying cannot help).
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// An address header does not parse.
    #[error("header {name}: {value:?} is not a valid address list: {reason}")]
    Address {
        /// Header name.
        name: String,
        /// Its value.
        value: String,
        /// lettre's complaint.
        reason: String,
    },
    /// A header name is not valid.
    #[error("header name {0:?} is not valid")]
    HeaderName(String),
    /// The body was purged before the mail went out.
    #[error("the body was purged before the mail was sent")]
    Purged,
    /// lettre refused the message.
    #[error("could not build the message: {0}")]
    Build(String),
}

/// Headers we set from the row's own fields or typed, never copied raw.
const STRUCTURAL: &[&str] = &[
    "message-id",
    "date",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "from",
    "to",
    "cc",
    "reply-to",
    "subject",
];

fn mailboxes(name: &str, value: &str) -> Result<Mailboxes, RenderError> {
    value
        .parse::<Mailboxes>()
        .map_err(|e| RenderError::Address {
            name: name.into(),
            value: value.into(),
            reason: e.to_string(),
        })
}

/// The mail's bytes. `attached` is the raw stored message the row names in
/// `attach` (if it still exists).
pub fn render(m: &Outgoing, attached: Option<&[u8]>) -> Result<Vec<u8>, RenderError> {
    let body = m.body.as_deref().ok_or(RenderError::Purged)?;
    let header = |name: &str| {
        m.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let mut b = Message::builder()
        .message_id(Some(format!("<{}>", m.message_id)))
        .date(UNIX_EPOCH + Duration::from_secs(m.created_at.timestamp().max(0) as u64))
        .subject(header("Subject").unwrap_or_default());
    // Each address header is set once with all its mailboxes: adding them
    // one at a time makes lettre copy the header each time (quadratic in
    // the recipients).
    for name in ["From", "To", "Cc", "Reply-To"] {
        let Some(value) = header(name) else { continue };
        let list = mailboxes(name, value)?;
        b = match name {
            "From" => match list.into_iter().next() {
                Some(mb) => b.from(mb),
                None => b,
            },
            "To" => b.mailbox(header::To::from(list)),
            "Cc" => b.mailbox(header::Cc::from(list)),
            _ => b.mailbox(header::ReplyTo::from(list)),
        };
    }
    for (k, v) in &m.headers {
        let lower = k.to_ascii_lowercase();
        if STRUCTURAL.contains(&lower.as_str()) {
            continue;
        }
        let name = HeaderName::new_from_ascii(k.clone())
            .map_err(|_| RenderError::HeaderName(k.clone()))?;
        b = b.raw_header(HeaderValue::new(name, v.clone()));
    }
    // The envelope is given to the transport separately; this one only
    // satisfies the builder (it needs a sender and a recipient).
    let from: Mailbox = m
        .envelope_from
        .parse()
        .map_err(|e: lettre::address::AddressError| RenderError::Address {
            name: "envelope".into(),
            value: m.envelope_from.clone(),
            reason: e.to_string(),
        })?;
    let env_to = m
        .recipients
        .iter()
        .filter_map(|r| r.parse::<lettre::Address>().ok())
        .collect::<Vec<_>>();
    let envelope = lettre::address::Envelope::new(Some(from.email), env_to)
        .map_err(|e| RenderError::Build(e.to_string()))?;
    b = b.envelope(envelope);

    let text = SinglePart::plain(body.to_string());
    let mut parts: Vec<SinglePart> = match (m.attach, attached) {
        (Some(Attach::AttachmentsOf(_)), Some(raw)) => attachments_of(raw),
        (Some(Attach::Original(_)), Some(raw)) => vec![original(raw)],
        _ => Vec::new(),
    };
    if let Some(f) = &m.file {
        let ctype = ContentType::parse(&f.content_type).unwrap_or_else(|_| {
            ContentType::parse("application/octet-stream").expect("valid content type")
        });
        parts.push(Attachment::new(f.name.clone()).body(f.data.clone(), ctype));
    }
    let message = if parts.is_empty() {
        b.singlepart(text)
    } else {
        let mut mixed = MultiPart::mixed().singlepart(text);
        for part in parts {
            mixed = mixed.singlepart(part);
        }
        b.multipart(mixed)
    }
    .map_err(|e| RenderError::Build(e.to_string()))?;
    Ok(message.formatted())
}

/// The longest line RFC 5322 (section 2.1.1) allows, without its CRLF.
const MAX_LINE: usize = 998;

/// The original message as `message/rfc822`, shown inline by mail clients.
/// RFC 2046 section 5.2.1 allows only 7bit, 8bit or binary there, and 8bit
/// means lines of at most 998 octets in CRLF: the message goes as stored
/// (line ends made CRLF) when it fits, else re-encoded part by part (the
/// same headers, text and attachments, with encodings that fit). Only a
/// message that cannot even be parsed goes as a base64 `.eml` file.
fn original(raw: &[u8]) -> SinglePart {
    let fitting = if fits_8bit(raw) {
        Some(crlf(raw))
    } else {
        reencoded(raw).map(|m| crlf(&m)).filter(|m| fits_8bit(m))
    };
    match fitting {
        Some(inner) => {
            let cte = if inner.is_ascii() {
                ContentTransferEncoding::SevenBit
            } else {
                ContentTransferEncoding::EightBit
            };
            SinglePart::builder()
                .header(ContentType::parse("message/rfc822").expect("valid content type"))
                .header(ContentDisposition::inline_with_name("original.eml"))
                .body(Body::dangerous_pre_encoded(inner, cte))
        }
        None => Attachment::new("original.eml".into()).body(
            raw.to_vec(),
            ContentType::parse("application/octet-stream").expect("valid content type"),
        ),
    }
}

/// Whether a message can travel as an 8bit body: no NUL, no line over
/// [`MAX_LINE`] octets.
fn fits_8bit(raw: &[u8]) -> bool {
    !raw.contains(&0)
        && raw
            .split(|b| *b == b'\n')
            .all(|l| l.strip_suffix(b"\r").unwrap_or(l).len() <= MAX_LINE)
}

/// Line ends as CRLF (a bare LF or CR becomes CRLF).
fn crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40);
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'\r' if raw.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// A message rebuilt with its header lines as they were (but the MIME
/// ones) and a body lettre builds from what mail-parser reads of it: text
/// and HTML bodies and attachments, each in an encoding that fits.
fn reencoded(raw: &[u8]) -> Option<Vec<u8>> {
    let msg = mail_parser::MessageParser::default().parse(raw)?;
    let text = msg.body_text(0).map(|t| t.into_owned());
    let html = msg.body_html(0).map(|h| h.into_owned());
    let mut parts = MultiPart::mixed().build();
    parts = match (text, html) {
        (Some(t), Some(h)) => parts.multipart(MultiPart::alternative_plain_html(t, h)),
        (Some(t), None) => parts.singlepart(SinglePart::plain(t)),
        (None, Some(h)) => parts.singlepart(SinglePart::html(h)),
        (None, None) => parts.singlepart(SinglePart::plain(String::new())),
    };
    for part in attachments_of(raw) {
        parts = parts.singlepart(part);
    }
    let end = msg.root_part().raw_body_offset() as usize;
    let mut out = Vec::with_capacity(raw.len());
    let mut mime = false;
    for line in raw[..end.min(raw.len())].split_inclusive(|b| *b == b'\n') {
        let folded = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !folded {
            let lower = line.to_ascii_lowercase();
            mime = lower.starts_with(b"content-") || lower.starts_with(b"mime-version");
        }
        if !mime && !line.iter().all(|b| b.is_ascii_whitespace()) {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"MIME-Version: 1.0\r\n");
    out.extend_from_slice(&parts.formatted());
    Some(out)
}

/// The attachments of a stored message, decoded and re-attached with
/// their names and types (a consultant's files relayed to the customer).
fn attachments_of(raw: &[u8]) -> Vec<SinglePart> {
    let Some(msg) = mail_parser::MessageParser::default().parse(raw) else {
        return Vec::new();
    };
    msg.attachments()
        .map(|a| {
            let name = a.attachment_name().unwrap_or("attachment").to_string();
            let ctype = a
                .content_type()
                .map(|c| match c.subtype() {
                    Some(sub) => format!("{}/{}", c.ctype(), sub),
                    None => c.ctype().to_string(),
                })
                .and_then(|s| ContentType::parse(&s).ok())
                .unwrap_or_else(|| {
                    ContentType::parse("application/octet-stream").expect("valid content type")
                });
            Attachment::new(name).body(a.contents().to_vec(), ctype)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn outgoing() -> Outgoing {
        let at = "2026-11-23T09:00:00Z".parse().unwrap();
        let headers: BTreeMap<String, String> = [
            ("From", "Smartstock Support <support@smartstock.test>"),
            ("To", "jan@acme.test, Ewa Zając <ewa@acme.test>"),
            ("Subject", "Re: [SS-7] Zażółć gęślą jaźń"),
            ("X-Loop", "support@smartstock.test"),
            ("Auto-Submitted", "auto-replied"),
            ("In-Reply-To", "<abc@acme.test>"),
            ("References", "<abc@acme.test>"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Outgoing {
            id: 42,
            ticket: Some(7),
            template: "acknowledgement".into(),
            envelope_from: "support+bounce-42@smartstock.test".into(),
            recipients: vec!["jan@acme.test".into(), "ewa@acme.test".into()],
            message_id: "SS-7.42.abcdef@smartstock.test".into(),
            headers,
            body: Some("Dzień dobry,\nprzyjęliśmy zgłoszenie.\n[SS-7:abcdef]\n".into()),
            attach: None,
            file: None,
            attempts: 0,
            created_at: at,
            retry_from: at,
        }
    }

    #[test]
    fn a_file_goes_along_with_its_name_and_type() {
        let mut o = outgoing();
        o.file = Some(crate::ticket::compose::File {
            name: "sla-2026-11.html".into(),
            content_type: "text/html; charset=utf-8".into(),
            data: "<!DOCTYPE html><h1>Raport</h1>".as_bytes().to_vec(),
        });
        let bytes = render(&o, None).unwrap();
        let m = parse(&bytes);
        assert!(m.body_text(0).unwrap().contains("przyjęliśmy"));
        let a = m.attachment(0).expect("the file");
        assert_eq!(a.attachment_name(), Some("sla-2026-11.html"));
        assert_eq!(a.contents(), "<!DOCTYPE html><h1>Raport</h1>".as_bytes());
    }

    fn parse(bytes: &[u8]) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default().parse(bytes).unwrap()
    }

    #[test]
    fn headers_and_body_survive_a_round_trip() {
        let bytes = render(&outgoing(), None).unwrap();
        let m = parse(&bytes);
        assert_eq!(m.subject(), Some("Re: [SS-7] Zażółć gęślą jaźń"));
        assert_eq!(m.message_id(), Some("SS-7.42.abcdef@smartstock.test"));
        assert_eq!(m.in_reply_to().as_text(), Some("abc@acme.test"));
        assert_eq!(
            m.header_raw("Auto-Submitted").map(str::trim),
            Some("auto-replied")
        );
        assert_eq!(
            m.header_raw("X-Loop").map(str::trim),
            Some("support@smartstock.test")
        );
        let to: Vec<_> = m
            .to()
            .unwrap()
            .iter()
            .map(|a| a.address().unwrap().to_string())
            .collect();
        assert_eq!(to, ["jan@acme.test", "ewa@acme.test"]);
        assert_eq!(
            m.body_text(0).unwrap().trim_end(),
            "Dzień dobry,\r\nprzyjęliśmy zgłoszenie.\r\n[SS-7:abcdef]"
        );
        assert_eq!(m.date().unwrap().to_rfc3339(), "2026-11-23T09:00:00Z");
        // Deterministic: a resend after a crash is byte for byte the same mail.
        assert_eq!(bytes, render(&outgoing(), None).unwrap());
    }

    #[test]
    fn internal_header_is_never_sent() {
        let mut o = outgoing();
        o.attach = Some(Attach::AttachmentsOf(1));
        let bytes = render(&o, Some(b"From: a@b.test\r\n\r\nx\r\n")).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes)
                .to_ascii_lowercase()
                .contains("x-supportd")
        );
    }

    #[test]
    fn original_attached_as_message_rfc822() {
        let original_mail = b"From: jan@acme.test\r\nSubject: help\r\nMessage-ID: <abc@acme.test>\r\n\r\nIt broke.\r\n";
        let mut o = outgoing();
        o.attach = Some(Attach::Original(1));
        let bytes = render(&o, Some(original_mail)).unwrap();
        let m = parse(&bytes);
        let att = m.attachment(0).expect("one attachment");
        let inner = att.message().expect("message/rfc822");
        assert_eq!(inner.subject(), Some("help"));
        assert_eq!(inner.body_text(0).unwrap().trim_end(), "It broke.");
    }

    /// Real mail as clients and MTAs shape it: long Received lines, bare
    /// LF, 8-bit text, lines over 998 octets (HTML without line breaks),
    /// a screenshot. Each is attached as message/rfc822 a client opens
    /// inline, with its text, headers and attachment readable.
    #[test]
    fn every_original_goes_inline_as_message_rfc822() {
        let long_received = format!(
            "Received: from mx.acme.test (mx.acme.test [192.0.2.1]) by mx.smartstock.test (Postfix) with ESMTPS id 4F1; {}\r\n",
            "x".repeat(120)
        );
        let html_line = format!("<p>{}</p>", "Błąd eksportu ".repeat(120));
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("long header", format!("{long_received}From: jan@acme.test\r\nSubject: help\r\n\r\nIt broke.\r\n").into_bytes()),
            ("bare LF, 8-bit", "From: jan@acme.test\nSubject: help\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nZażółć: it broke.\n".as_bytes().to_vec()),
            ("overlong line", format!(
                "Received: a\r\nReceived: b\r\nFrom: jan@acme.test\r\nSubject: help\r\nMIME-Version: 1.0\r\n\
                 Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
                 Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{html_line}\r\n\
                 --b1\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"shot.png\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b1--\r\n"
            ).into_bytes()),
        ];
        for (what, raw) in cases {
            let mut o = outgoing();
            o.attach = Some(Attach::Original(1));
            let bytes = render(&o, Some(&raw)).unwrap();
            assert!(fits_8bit(&bytes), "{what}: the mail itself fits SMTP");
            let m = parse(&bytes);
            let att = m.attachment(0).expect("one attachment");
            let ctype = att.content_type().unwrap();
            assert_eq!(
                (ctype.ctype(), ctype.subtype()),
                ("message", Some("rfc822")),
                "{what}"
            );
            let inner = att.message().expect("message/rfc822");
            assert_eq!(inner.subject(), Some("help"), "{what}");
            let text = inner.body_text(0).unwrap_or_default().to_string();
            assert!(
                text.contains("broke") || text.contains("Błąd eksportu"),
                "{what}: {text}"
            );
            if what == "overlong line" {
                assert_eq!(inner.header_values("Received").count(), 2, "{what}");
                assert_eq!(
                    inner.attachment(0).and_then(|a| a.attachment_name()),
                    Some("shot.png")
                );
            }
        }
    }

    #[test]
    fn relay_carries_only_the_attachments() {
        let consultant_mail = b"From: anna@smartstock.test\r\nSubject: Re: [SS-7] x\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n#accept\r\nSee the log.\r\n\
--b\r\nContent-Type: text/plain; name=\"log.txt\"\r\nContent-Disposition: attachment; filename=\"log.txt\"\r\n\r\nline 1\r\n--b--\r\n";
        let mut o = outgoing();
        o.attach = Some(Attach::AttachmentsOf(1));
        let bytes = render(&o, Some(consultant_mail)).unwrap();
        let m = parse(&bytes);
        assert_eq!(m.attachment_count(), 1);
        let att = m.attachment(0).unwrap();
        assert_eq!(att.attachment_name(), Some("log.txt"));
        assert_eq!(att.contents(), b"line 1");
        assert!(!String::from_utf8_lossy(&bytes).contains("#accept"));
    }

    #[test]
    fn twenty_thousand_recipients_are_all_in_the_header() {
        let mut o = outgoing();
        let to: Vec<String> = (0..20_000).map(|i| format!("r{i}@acme.test")).collect();
        o.headers.insert("To".into(), to.join(", "));
        o.recipients = to;
        // 20,000 recipients took minutes when each was added on its own;
        // `cargo bench --bench hostile` times it now.
        let bytes = render(&o, None).unwrap();
        let m = parse(&bytes);
        assert_eq!(m.to().unwrap().iter().count(), 20_000);
    }

    #[test]
    fn broken_rows_are_permanent_errors() {
        let mut o = outgoing();
        o.headers.insert("To".into(), "not an address".into());
        assert!(matches!(render(&o, None), Err(RenderError::Address { .. })));
        let mut o = outgoing();
        o.body = None;
        assert!(matches!(render(&o, None), Err(RenderError::Purged)));
    }
}
