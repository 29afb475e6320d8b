//! A message's identity for deduplication (design.md "Guarantees"): the
//! Message-ID and the SHA-256 of the message without its trace headers
//! (`Received`, `Return-Path`, `Delivered-To`, `X-Original-To`), with every
//! line ending (CR, LF, CRLF) read as LF, so the same mail delivered twice,
//! by two paths or twice by one MTA, is one message. A message without a
//! Message-ID gets one derived from that hash.
//!
//! A message with no content besides trace headers (a 0-byte file, a blank
//! mbox chunk, a lone `Received:` block) is never the same as another one by
//! hash: [`Identity::dedupable`] is false, and only its source key can make
//! it a duplicate. Pure; header positions come from mail-parser.

use mail_parser::{Message, MessageParser};
use sha2::{Digest, Sha256};

use super::parse::{self, Parsed, normalize_eol};

/// Headers that differ between two deliveries of the same mail.
const TRACE_HEADERS: [&str; 4] = ["received", "return-path", "delivered-to", "x-original-to"];

/// Identity of one raw message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The Message-ID without angle brackets, or the derived one.
    pub message_id: String,
    /// SHA-256 of the message without trace headers.
    pub content_hash: [u8; 32],
    /// Whether the Message-ID was derived (the mail had none).
    pub derived: bool,
    /// Whether the hash covers any content (non-blank bytes outside trace
    /// headers); when false, the hash says nothing about sameness.
    pub dedupable: bool,
}

/// Computes the identity of a raw message; never fails.
pub fn identity(raw: &[u8]) -> Identity {
    let raw = normalize_eol(raw);
    // Only the Message-ID is read; every other header stays raw (their
    // offsets are what the hash skips).
    static IDS: std::sync::LazyLock<MessageParser> = std::sync::LazyLock::new(|| {
        MessageParser::new().header_id(mail_parser::HeaderName::MessageId)
    });
    of_message(&raw, IDS.parse_headers(&raw[..]).as_ref())
}

/// [`super::parse::parse`] of a message, and its identity from the same
/// reading of its header block (the analysis needs both; one reading is
/// cheaper).
pub fn parse_with_identity(raw: &[u8]) -> (Parsed, Identity) {
    let raw = normalize_eol(raw);
    let msg = parse::parse_message(&raw);
    let identity = of_message(&raw, msg.as_ref());
    (parse::parsed(&raw, msg.as_ref()), identity)
}

/// The identity of a message already parsed (its line ends normalised by
/// [`normalize_eol`]): its Message-ID and the places of its trace headers
/// come from `msg`, which any parser that reads the Message-ID as an id
/// gives alike (the header offsets do not depend on how values are read).
pub(crate) fn of_message(raw: &[u8], msg: Option<&Message<'_>>) -> Identity {
    let mut hasher = Sha256::new();
    let mut message_id = None;
    let mut skip: Vec<(usize, usize)> = Vec::new();
    if let Some(msg) = msg {
        message_id = msg
            .message_id()
            .map(super::parse::clean_id)
            .filter(|s| !s.is_empty());
        for h in msg.root_part().headers() {
            if TRACE_HEADERS
                .iter()
                .any(|t| h.name().eq_ignore_ascii_case(t))
            {
                skip.push((h.offset_field() as usize, h.offset_end() as usize));
            }
        }
    }
    skip.sort_unstable();
    let mut pos = 0;
    let mut content = false;
    for (start, end) in skip {
        if start >= pos && end <= raw.len() {
            content |= hash_lf(&mut hasher, &raw[pos..start]);
            pos = end;
        }
    }
    content |= hash_lf(&mut hasher, &raw[pos.min(raw.len())..]);
    let content_hash: [u8; 32] = hasher.finalize().into();
    let derived = message_id.is_none();
    let message_id = message_id.unwrap_or_else(|| {
        let hex: String = content_hash
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{hex}@derived.supportd.invalid")
    });
    Identity {
        message_id,
        content_hash,
        derived,
        dedupable: content,
    }
}

/// Feeds bytes with every CRLF read as LF; says whether any of them was
/// other than white space.
fn hash_lf(hasher: &mut Sha256, bytes: &[u8]) -> bool {
    // The lines go to the hasher through a buffer: one update per line
    // costs more than the hashing of a short line.
    let mut buf = [0u8; 8192];
    let mut len = 0;
    let mut feed = |part: &[u8]| {
        if len + part.len() > buf.len() {
            hasher.update(&buf[..len]);
            len = 0;
        }
        if part.len() > buf.len() {
            hasher.update(part);
        } else {
            buf[len..len + part.len()].copy_from_slice(part);
            len += part.len();
        }
    };
    let mut start = 0;
    for i in memchr::memmem::find_iter(bytes, b"\r\n") {
        feed(&bytes[start..i]);
        start = i + 1;
    }
    feed(&bytes[start..]);
    hasher.update(&buf[..len]);
    bytes.iter().any(|b| !b.is_ascii_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIL: &str = "From: a@b.example\nTo: support@smartstock.cloud\nSubject: x\nMessage-ID: <m1@b.example>\n\nbody\n";

    #[test]
    fn trace_headers_and_line_endings_do_not_change_identity() {
        let base = identity(MAIL.as_bytes());
        assert_eq!(base.message_id, "m1@b.example");
        let traced = format!(
            "Return-Path: <a@b.example>\nDelivered-To: support@smartstock.cloud\nReceived: from x\n\tby y; Mon, 1 Jan 2026 00:00:00 +0000\nX-Original-To: support@smartstock.cloud\n{MAIL}"
        );
        assert_eq!(identity(traced.as_bytes()), base);
        assert_eq!(identity(MAIL.replace('\n', "\r\n").as_bytes()), base);
        // A changed body is another message.
        assert_ne!(
            identity(MAIL.replace("body", "body!").as_bytes()).content_hash,
            base.content_hash
        );
    }

    #[test]
    fn missing_message_id_is_derived_from_the_hash() {
        let a = identity(b"From: a@b.example\n\nno id\n");
        assert!(a.derived && a.message_id.ends_with("@derived.supportd.invalid"));
        assert_eq!(
            a,
            identity(
                b"Received: from x; Mon, 1 Jan 2026 00:00:00 +0000\nFrom: a@b.example\n\nno id\n"
            )
        );
        assert_ne!(
            a.message_id,
            identity(b"From: a@b.example\n\nother\n").message_id
        );
    }

    #[test]
    fn every_line_ending_gives_the_same_identity_and_distinct_mail_stays_distinct() {
        let lf = identity(MAIL.as_bytes());
        let cr = identity(MAIL.replace('\n', "\r").as_bytes());
        assert_eq!(cr, lf);
        // Two CR-only messages that differ only in their body were one
        // message when the whole CR-only text read as one Received header.
        let traced = |body: &str| {
            format!(
                "Received: from x by y; Mon, 1 Jan 2026 00:00:00 +0000\r{}",
                MAIL.replace("body", body).replace('\n', "\r")
            )
        };
        let (a, b) = (
            identity(traced("one").as_bytes()),
            identity(traced("two").as_bytes()),
        );
        assert!(a.dedupable && b.dedupable);
        assert_ne!(a.content_hash, b.content_hash);
    }

    #[test]
    fn content_free_messages_are_never_the_same_by_hash() {
        let table: &[&[u8]] = &[
            b"",
            b"\r\n\r\n",
            b"Received: from x by y; Mon, 1 Jan 2026 00:00:00 +0000\r\n",
            b"Return-Path: <>\nDelivered-To: support@smartstock.cloud\n\n",
        ];
        for raw in table {
            assert!(!identity(raw).dedupable, "{raw:?}");
        }
        assert!(identity(b"x").dedupable);
        assert!(identity(MAIL.as_bytes()).dedupable);
    }

    /// The analysis takes a message's identity from its full parse; it must
    /// be the identity the header-only reading gives (deduplication compares
    /// it with stored ones).
    #[test]
    fn identity_from_the_parse_is_the_identity() {
        let table: [&[u8]; 12] = [
            b"",
            b"\0\0\0",
            b"no headers at all",
            b"Received: from a by b; Tue, 5 Mar 2024 10:05:00 +0100\n\n",
            b"Return-Path: <a@b>\nReceived: from a\n by b;\n Tue, 5 Mar 2024 10:05:00 +0100\nDelivered-To: s@x\nX-Original-To: s@x\nMessage-ID: <m1@x>\nSubject: Hi\n\nbody\n",
            b"Return-Path: <>\r\nMessage-ID:\r\n <folded@x>\r\nFrom: a@b\r\n\r\nbody\r\n",
            b"Message-ID: (comment) <m2@x> trailing\rReceived: lone CR line ends\r\rbody",
            b"Message-ID: <>\nFrom: a@b\n\nno usable id\n",
            b"Message-ID: <a@x>\nMessage-ID: <b@x>\n\ntwo ids\n",
            b"From: a@b\nContent-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\nReceived: inside a part\n\nhi\n--x--\n",
            b"RECEIVED: upper case\nreturn-path: <q@r>\nSubject: =?utf-8?q?za=C5=BC=C3=B3=C5=82=C4=87?=\n\nbody",
            b"Received: never ended",
        ];
        for raw in table {
            assert_eq!(
                parse_with_identity(raw).1,
                identity(raw),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }
}
