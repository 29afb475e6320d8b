//! Which ticket a message belongs to, and by which signal (design.md
//! "Inbound mail", step 3): our `[SS-N]` tag anywhere in the subject, a
//! Message-ID we sent or stored in In-Reply-To or References, our footer
//! token (which survives Exchange rewriting Message-IDs), or a consultant's
//! `support+SS-N.<mac>@` reply address. Other systems' tags such as
//! `[Ticket#123]` are kept; reply prefixes are stripped for comparison only.
//!
//! Pure: stored Message-IDs are looked up through [`Lookup`].

use std::sync::LazyLock;

use regex::Regex;

use super::parse::Parsed;
use super::token::Markers;

/// Look-ups into what we stored; `inspect` without a database answers none.
pub trait Lookup {
    /// The ticket number of a stored or sent message with this Message-ID.
    fn ticket_of_message_id(&self, message_id: &str) -> Option<u64>;
}

/// A [`Lookup`] that knows nothing (no database).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoLookup;

impl Lookup for NoLookup {
    fn ticket_of_message_id(&self, _: &str) -> Option<u64> {
        None
    }
}

/// The signal that tied a message to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// `[SS-N]` in the subject.
    SubjectTag,
    /// In-Reply-To names a message of the ticket.
    InReplyTo,
    /// References names a message of the ticket.
    References,
    /// Our `[SS-N:<mac>]` footer in the body.
    FooterToken,
    /// A `support+SS-N.<mac>@` recipient.
    ReplyAddress,
}

/// A ticket found, with how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    /// Ticket number.
    pub number: u64,
    /// The signal.
    pub signal: Signal,
}

/// Finds the ticket of a message: subject tag, then In-Reply-To, References
/// (newest first), the reply address, then the footer token.
pub fn thread(p: &Parsed, markers: &Markers, lookup: &dyn Lookup) -> Option<Thread> {
    if let Some(number) = markers.subject_tag(&p.subject) {
        return Some(Thread {
            number,
            signal: Signal::SubjectTag,
        });
    }
    let by_id = |id: &str| {
        markers
            .message_id(id)
            .map(|m| m.number)
            .or_else(|| lookup.ticket_of_message_id(id))
    };
    if let Some(number) = p.in_reply_to.iter().find_map(|id| by_id(id)) {
        return Some(Thread {
            number,
            signal: Signal::InReplyTo,
        });
    }
    if let Some(number) = p.references.iter().rev().find_map(|id| by_id(id)) {
        return Some(Thread {
            number,
            signal: Signal::References,
        });
    }
    if let Some(m) =
        p.to.iter()
            .chain(&p.cc)
            .find_map(|a| markers.plus_address(&a.address))
    {
        return Some(Thread {
            number: m.number,
            signal: Signal::ReplyAddress,
        });
    }
    markers.footer(&p.text).map(|m| Thread {
        number: m.number,
        signal: Signal::FooterToken,
    })
}

static PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    // Re, Fwd and their national forms, with counters ("Re[2]:", "RE(3):").
    Regex::new(r"(?i)^\s*(re|fw|fwd|aw|wg|sv|vs|vl|odp|pd|tr|rif|r|antw|doorst|ynt|res|enc|ref)\s*(\[\d+\]|\(\d+\))?\s*:\s*")
        .expect("valid")
});

/// A subject without reply/forward prefixes, for comparisons only.
pub fn strip_reply_prefixes(subject: &str) -> &str {
    let mut s = subject.trim();
    while let Some(m) = PREFIX.find(s) {
        s = s[m.end()..].trim_start();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_tags() {
        let table = [
            ("Re: [SS-1042] Login broken", Some(1042)),
            ("[ss-001042] x", Some(1042)),
            ("Odp: Fwd: problem [SS-7]", Some(7)),
            ("[Ticket#123] Login broken", None),
            ("SS-1042 without brackets", None),
            ("[SS-] empty", None),
        ];
        for (subject, expected) in table {
            let markers = Markers::new("support@smartstock.cloud", "SS");
            assert_eq!(markers.subject_tag(subject), expected, "{subject}");
        }
    }

    #[test]
    fn reply_prefixes() {
        let table = [
            ("Re: RE: Fwd: Hello", "Hello"),
            ("Odp: ODP: PD: Błąd", "Błąd"),
            ("AW: SV: WG: x", "x"),
            ("Re[2]: y", "y"),
            ("Reply needed", "Reply needed"),
            ("[Ticket#123] kept", "[Ticket#123] kept"),
        ];
        for (subject, expected) in table {
            assert_eq!(strip_reply_prefixes(subject), expected, "{subject}");
        }
    }
}
