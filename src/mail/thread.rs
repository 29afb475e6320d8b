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

/// A Message-ID a message refers to: one of ours (its ticket is in it), or
/// another to look up among what we stored and sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdKey {
    /// Our Message-ID form: the ticket number.
    Ours(u64),
    /// Someone else's Message-ID.
    Other(String),
}

/// Everything threading reads of a message, computed without look-ups
/// (pure and cheap to keep), so that [`resolve`] can run again later
/// against a store that has moved on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys {
    /// `[SS-N]` in the subject.
    pub subject_tag: Option<u64>,
    /// In-Reply-To ids, in order.
    pub in_reply_to: Vec<IdKey>,
    /// References ids, newest first.
    pub references: Vec<IdKey>,
    /// A `support+SS-N.<mac>@` recipient.
    pub reply_address: Option<u64>,
    /// Our footer token in the text.
    pub footer: Option<u64>,
}

impl Keys {
    /// Whether resolving these keys may ask the store.
    pub fn needs_lookup(&self) -> bool {
        self.subject_tag.is_none()
            && self
                .in_reply_to
                .iter()
                .chain(&self.references)
                .any(|k| matches!(k, IdKey::Other(_)))
    }
}

/// At most this many Message-IDs of In-Reply-To, and of References (the
/// newest), are looked up: clients keep about twenty; a message naming
/// thousands must not cost thousands of look-ups.
pub const MAX_IDS: usize = 50;

/// The threading keys of a message.
pub fn keys(p: &Parsed, markers: &Markers) -> Keys {
    let id = |id: &String| match markers.message_id(id) {
        Some(m) => IdKey::Ours(m.number),
        None => IdKey::Other(id.clone()),
    };
    let subject_tag = markers.subject_tag(&p.subject);
    let found = |k: &[IdKey]| k.iter().any(|k| matches!(k, IdKey::Ours(_)));
    let mut k = Keys {
        subject_tag,
        in_reply_to: p.in_reply_to.iter().take(MAX_IDS).map(id).collect(),
        references: p.references.iter().rev().take(MAX_IDS).map(id).collect(),
        reply_address: p
            .to
            .iter()
            .chain(&p.cc)
            .find_map(|a| markers.plus_address(&a.address))
            .map(|m| m.number),
        footer: None,
    };
    // The footer is read only when nothing before it can decide (a scan of
    // the whole text).
    if subject_tag.is_none()
        && k.reply_address.is_none()
        && !found(&k.in_reply_to)
        && !found(&k.references)
    {
        k.footer = markers.footer(&p.text).map(|m| m.number);
    }
    k
}

/// Finds the ticket of a message from its keys: subject tag, then
/// In-Reply-To, References (newest first), the reply address, then the
/// footer token.
pub fn resolve(k: &Keys, lookup: &dyn Lookup) -> Option<Thread> {
    if let Some(number) = k.subject_tag {
        return Some(Thread {
            number,
            signal: Signal::SubjectTag,
        });
    }
    let by_id = |id: &IdKey| match id {
        IdKey::Ours(n) => Some(*n),
        IdKey::Other(id) => lookup.ticket_of_message_id(id),
    };
    if let Some(number) = k.in_reply_to.iter().find_map(by_id) {
        return Some(Thread {
            number,
            signal: Signal::InReplyTo,
        });
    }
    if let Some(number) = k.references.iter().find_map(by_id) {
        return Some(Thread {
            number,
            signal: Signal::References,
        });
    }
    if let Some(number) = k.reply_address {
        return Some(Thread {
            number,
            signal: Signal::ReplyAddress,
        });
    }
    k.footer.map(|number| Thread {
        number,
        signal: Signal::FooterToken,
    })
}

/// Finds the ticket of a message ([`keys`], then [`resolve`]).
pub fn thread(p: &Parsed, markers: &Markers, lookup: &dyn Lookup) -> Option<Thread> {
    resolve(&keys(p, markers), lookup)
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
