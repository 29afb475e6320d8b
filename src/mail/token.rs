//! Our outbound markers and their HMAC tokens (design.md "Outbound mail"):
//! - Message-ID `<SS-1042.<outbox id>.<mac>@<support domain>>`;
//! - body footer `[SS-1042:<mac>]`, which survives Message-ID rewriting;
//! - Reply-To `support+SS-1042.<mac>@<support domain>` on consultant mail,
//!   with the consultant's own MAC;
//! - envelope sender `support+bounce-<outbox id>.<mac>@<support domain>`,
//!   with the MAC of the outbox id: a delivery report changes a mail only
//!   when it names the envelope with its MAC (or quotes the mail's
//!   Message-ID, which carries one too).
//!
//! A MAC is the first [`MAC_LEN`] hex digits of HMAC-SHA256 under the token
//! key: of the ticket reference for the footer and Message-ID, of the ticket
//! reference and the consultant's address for a consultant's token. Pure: the
//! key is an argument.

use hmac::{Hmac, KeyInit, Mac};
use regex::Regex;
use sha2::Sha256;

/// Hex digits of a MAC: 48 bits, far beyond guessing by mail.
pub const MAC_LEN: usize = 12;

fn mac(key: &[u8], parts: &[&str]) -> String {
    let mut m =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            m.update(b"\x1f");
        }
        m.update(p.as_bytes());
    }
    let bytes = m.finalize().into_bytes();
    let mut out = String::with_capacity(MAC_LEN);
    for b in bytes.iter().take(MAC_LEN / 2) {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The pseudonym that replaces an erased person's address:
/// `erased-<mac>@invalid` (RFC 2606's reserved domain), keyed so that it
/// cannot be reversed by hashing guessed addresses, and the same each time.
pub fn pseudonym(key: &[u8], address: &str) -> String {
    format!(
        "erased-{}@invalid",
        mac(key, &["erasure", &address.to_ascii_lowercase()])
    )
}

/// The MAC of a ticket (footer token and Message-IDs).
pub fn ticket_mac(key: &[u8], ticket_ref: &str) -> String {
    mac(key, &[&ticket_ref.to_ascii_uppercase()])
}

/// The MAC of a (ticket, consultant) pair.
pub fn consultant_mac(key: &[u8], ticket_ref: &str, consultant: &str) -> String {
    mac(
        key,
        &[
            &ticket_ref.to_ascii_uppercase(),
            &consultant.to_ascii_lowercase(),
        ],
    )
}

/// The MAC of an outbox row: in its bounce envelope, and in the
/// Message-ID of a mail that has no ticket.
pub fn mail_mac(key: &[u8], outbox_id: i64) -> String {
    mac(key, &["mail", &outbox_id.to_string()])
}

/// Constant-time comparison of two MACs.
pub fn mac_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The footer line we put in every mail.
pub fn footer(ticket_ref: &str, mac: &str) -> String {
    format!("[{ticket_ref}:{mac}]")
}

/// Patterns of our markers for one support address and ticket prefix.
#[derive(Debug, Clone)]
pub struct Markers {
    prefix: String,
    local: String,
    domain: String,
    message_id: Regex,
    footer: Regex,
    plus: Regex,
    bounce: Regex,
    subject: Regex,
}

/// A ticket reference found in a marker, with the MAC that came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marked {
    /// Ticket number.
    pub number: u64,
    /// The MAC as written.
    pub mac: String,
}

impl Markers {
    /// Markers of `support_address` with ticket `prefix`.
    pub fn new(support_address: &str, prefix: &str) -> Markers {
        let (local, domain) = support_address
            .rsplit_once('@')
            .unwrap_or((support_address, ""));
        let (p, l, d) = (
            regex::escape(prefix),
            regex::escape(local),
            regex::escape(domain),
        );
        let re = |s: String| super::text_regex(&s);
        Markers {
            prefix: prefix.to_string(),
            local: local.to_ascii_lowercase(),
            domain: domain.to_ascii_lowercase(),
            message_id: re(format!(
                r"(?i)^{p}-0*(\d{{1,18}})\.\d{{1,18}}\.([0-9a-f]{{{MAC_LEN}}})@{d}$"
            )),
            footer: re(format!(
                r"(?i)\[{p}-0*(\d{{1,18}}):([0-9a-f]{{{MAC_LEN}}})\]"
            )),
            plus: re(format!(
                r"(?i)^{l}\+{p}-0*(\d{{1,18}})\.([0-9a-f]{{{MAC_LEN}}})@{d}$"
            )),
            bounce: re(format!(
                r"(?i)^{l}\+bounce-(\d{{1,18}})(?:\.([0-9a-f]{{{MAC_LEN}}}))?@{d}$"
            )),
            subject: re(format!(r"(?i)\[\s*{p}-0*(\d{{1,18}})\s*\]")),
        }
    }

    /// The ticket prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether `address` is the support address or one of its plus forms.
    pub fn is_support_address(&self, address: &str) -> bool {
        let a = address.to_ascii_lowercase();
        let Some((local, domain)) = a.rsplit_once('@') else {
            return false;
        };
        domain == self.domain
            && (local == self.local || local.starts_with(&format!("{}+", self.local)))
    }

    /// The ticket number of a `[PREFIX-N]` tag anywhere in a subject
    /// (case-insensitive, leading zeros allowed).
    pub fn subject_tag(&self, subject: &str) -> Option<u64> {
        self.subject.captures(subject)?[1].parse().ok()
    }

    /// Our Message-ID form (without angle brackets).
    pub fn message_id(&self, id: &str) -> Option<Marked> {
        marked(&self.message_id.captures(id.trim())?)
    }

    /// The last footer token in a text (the newest mail's, in a quoted thread).
    pub fn footer(&self, text: &str) -> Option<Marked> {
        marked(&self.footer.captures_iter(text).last()?)
    }

    /// A consultant's reply address `support+SS-N.<mac>@domain`.
    pub fn plus_address(&self, address: &str) -> Option<Marked> {
        marked(&self.plus.captures(address.trim())?)
    }

    /// Our bounce envelope `support+bounce-<outbox id>.<mac>@domain`: the
    /// outbox id, and the MAC as written (empty in the form without one).
    pub fn bounce_address(&self, address: &str) -> Option<Marked> {
        let c = self.bounce.captures(address.trim())?;
        Some(Marked {
            number: c[1].parse().ok()?,
            mac: c
                .get(2)
                .map_or(String::new(), |m| m.as_str().to_ascii_lowercase()),
        })
    }

    /// A Message-ID we would write for `ticket_ref` and outbox row `id`.
    pub fn make_message_id(&self, ticket_ref: &str, outbox_id: u64, mac: &str) -> String {
        format!("{ticket_ref}.{outbox_id}.{mac}@{}", self.domain)
    }
}

/// A marker's ticket number (group 1) and MAC (group 2).
fn marked(c: &regex::Captures<'_>) -> Option<Marked> {
    Some(Marked {
        number: c[1].parse().ok()?,
        mac: c[2].to_ascii_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip() {
        let m = Markers::new("support@smartstock.cloud", "SS");
        let key = b"test key";
        let mac = ticket_mac(key, "SS-1042");
        assert_eq!(mac.len(), MAC_LEN);
        let id = m.make_message_id("SS-1042", 7, &mac);
        assert_eq!(
            m.message_id(&id),
            Some(Marked {
                number: 1042,
                mac: mac.clone()
            })
        );
        assert_eq!(
            m.footer(&format!("text\n{}\n", footer("SS-1042", &mac)))
                .unwrap()
                .number,
            1042
        );
        assert_eq!(m.footer("[ss-001042:ABCDEF012345]").unwrap().number, 1042);
        let cmac = consultant_mac(key, "SS-1042", "Anna@Smartstock.cloud");
        assert_eq!(
            cmac,
            consultant_mac(key, "ss-1042", "anna@smartstock.cloud")
        );
        assert_ne!(cmac, consultant_mac(key, "SS-1042", "eve@smartstock.cloud"));
        assert!(
            m.plus_address(&format!("support+SS-1042.{cmac}@smartstock.cloud"))
                .is_some()
        );
        assert_eq!(
            m.bounce_address("SUPPORT+bounce-77@smartstock.cloud")
                .map(|b| b.number),
            Some(77)
        );
        assert!(m.is_support_address("support+bounce-77@smartstock.cloud"));
        assert!(!m.is_support_address("support@other.example"));
        assert!(m.message_id("SS-1042.7.abc@smartstock.cloud").is_none());
        assert!(mac_eq(&mac, &mac) && !mac_eq(&mac, "000000000000"));
    }
}
