//! Understanding one support email: normalise, classify, thread, trim, check
//! the report, suggest a severity, tell the language, read consultant tags.
//!
//! Pure: no I/O and no clock; look-ups ("is this Message-ID ours?") come in
//! through [`thread::Lookup`], the received instant is an argument. The store
//! consumes [`Analysis`]; `supportd inspect` prints it as JSON.
//!
//! - [`parse`]: mail-parser → [`parse::Parsed`];
//! - [`classify`]: kind and the rule that decided it;
//! - [`thread`]: which ticket, by which signal;
//! - [`trim`]: quoted history, signatures, mobile footers;
//! - [`occurrence`], [`report`]: the contract's report fields;
//! - [`severity`], [`language`]: suggestions for a new ticket;
//! - [`tags`]: consultant commands;
//! - [`token`]: our outbound markers and their HMACs.

pub mod auth;
pub mod bounce;
pub mod classify;
pub mod clean;
pub mod forward;
pub mod html;
pub mod identity;
pub mod language;
pub mod mention;
pub mod occurrence;
pub mod oversize;
pub mod parse;
pub mod report;
pub mod severity;
pub mod tags;
pub mod thread;
pub mod token;
pub mod trim;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::Serialize;

use crate::lang::Lang;
use crate::sla::{Severity, Zone};
use classify::{Kind, Who};
use severity::SeverityRules;
use thread::Lookup;
use token::Markers;

/// The whole line (trimmed) that holds the first match of `re` in `text`.
pub(crate) fn line_of_first_match<'t>(text: &'t str, re: &Regex) -> Option<&'t str> {
    let m = re.find(text)?;
    let start = text[..m.start()].rfind('\n').map_or(0, |i| i + 1);
    let end = text[m.end()..]
        .find('\n')
        .map_or(text.len(), |i| m.end() + i);
    Some(text[start..end].trim())
}

/// Compiles one of our text patterns; see [`ascii_pattern`].
pub(crate) fn text_regex(pattern: &str) -> Regex {
    Regex::new(&ascii_pattern(pattern)).expect("our text patterns are valid")
}

/// Rewrites one of our patterns so that the regex crate stays on its fast
/// DFA:
/// - word boundaries `\b` become ASCII (`(?-u:\b)`): a Unicode boundary
///   stops the DFA on non-ASCII text (every Polish mail), which made the
///   report checks ten times slower. Patterns must therefore not rely on `\b`
///   right after a non-ASCII letter; the few whose alternatives end in one
///   use an explicit class instead;
/// - `\d` becomes `[0-9]`: Unicode digits of every script blow up the
///   automata, and the dates and times we read are written in ASCII digits.
pub(crate) fn ascii_pattern(pattern: &str) -> String {
    pattern.replace(r"\b", r"(?-u:\b)").replace(r"\d", "[0-9]")
}

/// What the analysis needs to know about us; build once per config.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Our markers (support address and ticket prefix).
    pub markers: Markers,
    /// The support address, lower-cased.
    pub support_address: String,
    /// The ticket prefix.
    pub ticket_prefix: String,
    /// Consultant addresses, lower-cased.
    pub consultants: Vec<String>,
    /// Contact-form senders, lower-cased.
    pub form_senders: Vec<String>,
    /// The consultant sender check.
    pub auth: ConsultantAuth,
    /// Trusted `Authentication-Results` server ids.
    pub trusted_authserv_ids: Vec<String>,
    /// The token key, when known (the database or config holds it).
    pub token_key: Option<Vec<u8>>,
    /// The calendar's zone (for occurrence times without a Date offset).
    pub zone: Zone,
    /// Language when a text tells none.
    pub default_language: Lang,
    /// Severity rules.
    pub severity_rules: SeverityRules,
}

impl Settings {
    /// Settings for a support address, ticket prefix and consultants, with
    /// every other value at its default.
    pub fn new(support_address: &str, ticket_prefix: &str, consultants: &[String]) -> Settings {
        let support_address = support_address.trim().to_ascii_lowercase();
        Settings {
            markers: Markers::new(&support_address, ticket_prefix),
            support_address,
            ticket_prefix: ticket_prefix.to_string(),
            consultants: consultants
                .iter()
                .map(|c| c.trim().to_ascii_lowercase())
                .collect(),
            form_senders: Vec::new(),
            auth: ConsultantAuth::Token,
            trusted_authserv_ids: Vec::new(),
            token_key: None,
            zone: Zone::warsaw(),
            default_language: Lang::Pl,
            severity_rules: SeverityRules::default(),
        }
    }
}

/// The consultant sender check (design.md "Inbound mail", step 2):
/// `[consultants] auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConsultantAuth {
    /// The HMAC token our notification carried (default).
    #[default]
    Token,
    /// DKIM or DMARC pass from a trusted `Authentication-Results`.
    Dkim,
    /// Either of the two.
    Either,
}

/// A person, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    /// Address, lower-cased.
    pub address: String,
    /// Display name.
    pub name: Option<String>,
}

/// One valid command, as JSON.
pub type Command = tags::Command;

/// What a delivery report (RFC 3464) or a feedback report (RFC 5965) says
/// of our mail; flattened into the analysis's JSON.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reports {
    /// For bounces: the Message-ID of the mail that bounced.
    pub bounced_message_id: Option<String>,
    /// For bounces: our outbox row named by the bounce envelope.
    pub bounced_outbox_id: Option<u64>,
    /// For bounces: a permanent failure rather than a delay.
    pub bounce_permanent: Option<bool>,
    /// For bounces: the report's status code and diagnostic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounce_detail: Option<String>,
    /// For bounces: the recipients the report says failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bounced_recipients: Vec<String>,
    /// For delivery reports: `failed`, `delayed` or `delivered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounce_outcome: Option<classify::Outcome>,
    /// For feedback reports: the `Feedback-Type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback_type: Option<String>,
    /// For feedback reports: who reported our mail.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reported_recipients: Vec<String>,
    /// For feedback reports: the Message-ID of the reported mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_message_id: Option<String>,
}

impl Reports {
    /// What the classification found; the bounce envelope counts only with
    /// a MAC that our key made (anyone can write `support+bounce-7@`).
    fn of(class: &classify::Class, key: Option<&[u8]>) -> Reports {
        let b = class.bounce.as_ref();
        let f = class.feedback.as_ref();
        let genuine = |m: &token::Marked| {
            key.is_some_and(|k| token::mac_eq(&m.mac, &token::mail_mac(k, m.number as i64)))
        };
        Reports {
            bounced_message_id: b.and_then(|b| b.message_id.clone()),
            bounced_outbox_id: b
                .and_then(|b| b.outbox_id.as_ref())
                .filter(|m| genuine(m))
                .map(|m| m.number),
            bounce_permanent: b.map(|b| b.permanent()),
            bounce_detail: b.and_then(|b| b.detail.clone()),
            bounced_recipients: b.map(|b| b.recipients.clone()).unwrap_or_default(),
            bounce_outcome: b.map(|b| b.outcome),
            feedback_type: f.and_then(|f| f.feedback_type.clone()),
            reported_recipients: f.map(|f| f.recipients.clone()).unwrap_or_default(),
            reported_message_id: f.and_then(|f| f.message_id.clone()),
        }
    }
}

/// Whether a server we trust recorded a DMARC failure for the sender's
/// domain: the From is forged, so the mail adds nobody to a ticket and
/// gets no notice back.
pub fn sender_dmarc_fail(p: &parse::Parsed, settings: &Settings) -> bool {
    auth::dmarc_fail(
        &auth::trusted(&p.headers, &settings.trusted_authserv_ids),
        p.from.address.rsplit_once('@').map_or("", |(_, d)| d),
    )
}

/// The analysis of one message. Field names are stable (documented in the
/// README under `supportd inspect`).
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    /// `new`, `reply`, `consultant_command`, `auto_reply`, `bounce`, `list`, `own_loop`.
    pub kind: Kind,
    /// The classification rule that decided the kind.
    pub rule: &'static str,
    /// The ticket it refers to, e.g. `SS-1042` (JSON only; see `ticket`).
    pub ticket_ref: Option<String>,
    /// The number of the ticket it refers to.
    #[serde(skip)]
    pub ticket: Option<u64>,
    /// How it was tied to the ticket.
    pub thread_signal: Option<thread::Signal>,
    /// What a delivery or feedback report says (empty for other mail).
    #[serde(flatten)]
    pub report: Reports,
    /// `pl` or `en`.
    pub language: Lang,
    /// Suggested severity 1–5.
    pub severity: Severity,
    /// `explicit`, `rule` or `default`.
    pub severity_source: severity::Source,
    /// When the problem happened, RFC 3339 UTC.
    pub occurrence_time: Option<String>,
    /// The report fields.
    pub fields: report::Report,
    /// Required fields that are missing.
    pub missing: Vec<&'static str>,
    /// Valid consultant commands, in order.
    pub commands: Vec<Command>,
    /// Invalid tag lines (and a consultant mail naming no ticket).
    pub errors: Vec<tags::TagError>,
    /// Consultant sender check: true, false, or null when it cannot be known.
    pub authenticated: Option<bool>,
    /// `X-Auto-Response-Suppress`: do not acknowledge.
    pub suppress_ack: bool,
    /// A trusted `Authentication-Results` shows DMARC fail.
    pub dmarc_fail: bool,
    /// Who the ticket is for: the sender, or Reply-To for contact forms.
    pub requester: Person,
    /// The Message-ID without angle brackets.
    pub message_id: Option<String>,
    /// The decoded subject.
    pub subject: String,
    /// Attachments.
    pub attachments: Vec<parse::Attachment>,
    /// Addresses in To and Cc other than ours and the consultants' (they
    /// join the ticket when the requester or a consultant put them there).
    pub copied: Vec<String>,
    /// Quoted history was removed from the text.
    pub quote_removed: bool,
    /// A consultant opened this ticket for the requester (`#open`, or a
    /// customer's message forwarded to support@): their address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_by: Option<String>,
    /// The text: trimmed of quotes, signature and (for consultants) tags.
    pub text: String,
    /// What threading read (to resolve the thread again against a store
    /// that has moved on).
    #[serde(skip)]
    pub thread_keys: thread::Keys,
}

/// Analyses one raw message received at `received_at`.
pub fn analyze(
    raw: &[u8],
    received_at: DateTime<Utc>,
    settings: &Settings,
    lookup: &dyn Lookup,
) -> Analysis {
    analyze_parsed(parse::parse(raw), received_at, settings, lookup)
}

/// A small report in English and Polish that takes the analysis down
/// most of its paths (times, dates, error messages, steps, expectations,
/// a quoted reply, an attachment).
const WARM_UP: &[u8] = b"From: Anna <anna@example.com>\r
To: support@example.com\r
Subject: Re: Export error since Monday\r
Date: Mon, 2 Mar 2026 10:00:00 +0100\r
Message-ID: <warm-up@example.com>\r
In-Reply-To: <earlier@example.com>\r
MIME-Version: 1.0\r
Content-Type: multipart/mixed; boundary=b\r
\r
--b\r
Content-Type: text/plain; charset=utf-8\r
Content-Transfer-Encoding: quoted-printable\r
\r
Hello, since yesterday at 14:30 (2026-03-01) the export shows \"Error 500: =\r
timeout\". We restarted the server and cleared the cache; it should work.\r
Dzie=C5=84 dobry, od wczoraj o godz. 9.15 eksport nie dzia=C5=82a, b=C5=82=\r
=C4=85d =E2=80=9EBrak dost=C4=99pu=E2=80=9D. Sprawdzili=C5=9Bmy logi. Oczekujemy naprawy.\r
\r
On Sun, 1 Mar 2026 at 09:00, Support <support@example.com> wrote:\r
> Thank you.\r
--\r
Anna\r
--b\r
Content-Type: image/png; name=screen.png\r
Content-Disposition: attachment; filename=screen.png\r
Content-Transfer-Encoding: base64\r
\r
iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==\r
--b--\r
";

/// Compiles the analysis's patterns and fills their caches by analysing
/// a small built-in message: run on a spare thread while the inputs are
/// listed, so that the first messages do not wait for it.
pub fn warm_up(settings: &Settings) {
    let at = DateTime::from_timestamp(1_772_442_000, 0).unwrap_or_default();
    std::thread::scope(|s| {
        // The report's and the occurrence's patterns, about half of the
        // compiling, on a second core: the analysis below reaches them last.
        s.spawn(|| {
            let p = parse::parse(WARM_UP);
            let anchor = occurrence::anchor(p.date, at);
            let found = occurrence::find(&p.text, &anchor, &settings.zone, Lang::En);
            let _ = report::check(&p, &p.text, &found);
        });
        let _ = analyze(WARM_UP, at, settings, &thread::NoLookup);
    });
}

/// [`analyze`] for a message already parsed with [`parse::parse`] (so the
/// parsing, the costly and look-up-free part, can run on other threads).
pub fn analyze_parsed(
    p: parse::Parsed,
    received_at: DateTime<Utc>,
    settings: &Settings,
    lookup: &dyn Lookup,
) -> Analysis {
    let keys = thread::keys(&p, &settings.markers);
    let thread = thread::resolve(&keys, lookup);
    analyze_threaded(p, keys, thread, received_at, settings)
}

/// [`analyze_parsed`] with the thread already resolved from its keys
/// (the ingest pipeline resolves it against its own view of the store).
pub fn analyze_threaded(
    p: parse::Parsed,
    keys: thread::Keys,
    thread: Option<thread::Thread>,
    received_at: DateTime<Utc>,
    settings: &Settings,
) -> Analysis {
    let who = Who {
        markers: &settings.markers,
        support_address: &settings.support_address,
        consultants: &settings.consultants,
    };
    let mut class = classify::classify(&p, &who, thread.is_some());
    let ticket_ref = thread
        .as_ref()
        .map(|t| format!("{}-{}", settings.ticket_prefix, t.number));

    let own = own_words(&p, class.kind, settings);
    let quote_removed = own.quote_removed;
    let opening = opening(&p, class.kind, thread.is_none(), &own.text, settings);
    if opening.is_some() {
        class.kind = Kind::New;
    }
    let w = words(
        &p,
        class.kind,
        ticket_ref.is_none(),
        own,
        opening.as_ref(),
        settings,
    );
    let (text, language, subject) = (w.text, w.language, w.subject);
    let (severity, severity_source) = settings.severity_rules.suggest(&subject, &text);
    let (occurrence, fields, missing) = report_fields(
        &p,
        class.kind,
        &text,
        language,
        severity,
        received_at,
        settings,
    );
    // A consultant's sender check is against the ticket the mail names.
    let authenticated = ticket_ref
        .as_deref()
        .filter(|_| class.kind == Kind::ConsultantCommand)
        .and_then(|r| authenticate(&p, settings, r));
    let requester = requester(&p, opening.as_ref(), settings);
    Analysis {
        kind: class.kind,
        rule: class.rule,
        ticket_ref,
        ticket: thread.as_ref().map(|t| t.number),
        thread_signal: thread.map(|t| t.signal),
        report: Reports::of(&class, settings.token_key.as_deref()),
        language,
        severity,
        severity_source,
        occurrence_time: occurrence.instant.map(crate::sla::format_utc),
        fields,
        missing,
        commands: w.commands,
        errors: w.errors,
        authenticated,
        suppress_ack: classify::suppress_ack(&p),
        dmarc_fail: sender_dmarc_fail(&p, settings),
        requester,
        message_id: p.message_id.clone(),
        subject,
        attachments: p.attachments.clone(),
        // An opened ticket is the customer's alone: the consultant's own
        // copies do not join it.
        copied: if opening.is_some() {
            Vec::new()
        } else {
            copied(&p, settings)
        },
        quote_removed,
        opened_by: opening.map(|_| p.from.address.clone()),
        text,
        thread_keys: keys,
    }
}

/// The writer's own words: the text without quoted history (replies and
/// consultant mail) or only without the signature (new requests: a
/// forwarded error mail is part of the report), and its language.
struct OwnWords {
    text: String,
    quote_removed: bool,
    language: Lang,
}

fn own_words(p: &parse::Parsed, kind: Kind, settings: &Settings) -> OwnWords {
    match kind {
        Kind::New | Kind::List => {
            let text = trim::trim_signature(&p.text);
            // The language of the writer's own words: the request keeps
            // forwarded and quoted text for the report, but not for telling
            // the language.
            let language = language::detect(
                &p.subject,
                &trim::trim(&text).text,
                settings.default_language,
            );
            OwnWords {
                text,
                quote_removed: false,
                language,
            }
        }
        _ => {
            let t = trim::trim(&p.text);
            OwnWords {
                language: language::detect(&p.subject, &t.text, settings.default_language),
                text: t.text,
                quote_removed: t.removed_quote,
            }
        }
    }
}

/// When the problem happened, the report's fields and the required ones
/// missing (none for automatic mail and consultants).
fn report_fields(
    p: &parse::Parsed,
    kind: Kind,
    text: &str,
    language: Lang,
    severity: crate::sla::Severity,
    received_at: DateTime<Utc>,
    settings: &Settings,
) -> (occurrence::Occurrence, report::Report, Vec<&'static str>) {
    let occurrence = if kind.is_automatic() {
        occurrence::Occurrence::default()
    } else {
        let anchor = occurrence::anchor(p.date, received_at);
        occurrence::find(text, &anchor, &settings.zone, language)
    };
    let fields = report::check(p, text, &occurrence);
    let missing = matches!(kind, Kind::New | Kind::Reply | Kind::List)
        .then(|| fields.missing(severity))
        .unwrap_or_default();
    (occurrence, fields, missing)
}

/// Who the ticket is for: the customer a consultant opens it for, the
/// Reply-To of a contact form, else the sender.
fn requester(
    p: &parse::Parsed,
    opening: Option<&forward::Forwarded>,
    settings: &Settings,
) -> Person {
    let m = match opening {
        Some(o) => parse::Mailbox {
            address: o.address.clone(),
            name: o.name.clone(),
        },
        None if settings.form_senders.contains(&p.from.address) => {
            p.reply_to.clone().unwrap_or_else(|| p.from.clone())
        }
        None => p.from.clone(),
    };
    Person {
        address: m.address,
        name: m.name,
    }
}

/// What a message says: a consultant's commands and the text after them,
/// or the report a consultant opens a ticket with; its language and the
/// subject the ticket takes.
struct Words {
    commands: Vec<Command>,
    errors: Vec<tags::TagError>,
    text: String,
    language: Lang,
    subject: String,
}

fn words(
    p: &parse::Parsed,
    kind: Kind,
    no_ticket: bool,
    own: OwnWords,
    opening: Option<&forward::Forwarded>,
    settings: &Settings,
) -> Words {
    match opening {
        // A consultant opens a ticket for a customer: the report is the
        // customer's text (or the consultant's, for a phone call).
        Some(o) => Words {
            commands: Vec::new(),
            errors: Vec::new(),
            text: o.text.clone(),
            language: language::detect(&o.subject, &o.text, settings.default_language),
            subject: if o.subject.is_empty() {
                p.subject.clone()
            } else {
                o.subject.clone()
            },
        },
        None => {
            let (commands, errors, text) = consultant_tags(p, kind, no_ticket, own.text, settings);
            Words {
                commands,
                errors,
                text,
                language: own.language,
                subject: p.subject.clone(),
            }
        }
    }
}

/// A ticket a consultant's mail that names none opens for a customer:
/// `#open ADDRESS [Name]` on its first line (the text after it is the
/// report), or a customer's message forwarded in it (attached, or inline
/// as the common clients forward). Never from a mail our server marked
/// DMARC fail.
fn opening(
    p: &parse::Parsed,
    kind: Kind,
    no_ticket: bool,
    own_text: &str,
    settings: &Settings,
) -> Option<forward::Forwarded> {
    if kind != Kind::ConsultantCommand || !no_ticket || sender_dmarc_fail(p, settings) {
        return None;
    }
    let tags = tags::parse_tags(own_text);
    let consultant = |a: &str| settings.consultants.iter().any(|c| c == a);
    let found = match tags.commands.first() {
        Some(Command::Open(address, name))
            if tags.errors.is_empty() && tags.commands.len() == 1 =>
        {
            Some(forward::Forwarded {
                address: address.clone(),
                name: name.clone(),
                subject: thread::strip_reply_prefixes(&p.subject).to_string(),
                text: tags.text,
            })
        }
        Some(_) => None,
        None if tags.errors.is_empty() => p
            .forwarded
            .clone()
            .or_else(|| forward::inline(&p.text))
            .map(|mut f| {
                if f.subject.is_empty() {
                    f.subject = thread::strip_reply_prefixes(&p.subject).to_string();
                }
                f
            }),
        None => None,
    };
    // Never a ticket for ourselves or a colleague.
    found.filter(|f| {
        f.address != settings.support_address && !consultant(&f.address) && f.address.contains('@')
    })
}

/// A consultant mail's tags (and the text after them); a consultant mail
/// that names no ticket is an error and applies nothing.
fn consultant_tags(
    p: &parse::Parsed,
    kind: Kind,
    no_ticket: bool,
    text: String,
    settings: &Settings,
) -> (Vec<Command>, Vec<tags::TagError>, String) {
    if kind != Kind::ConsultantCommand {
        return (Vec::new(), Vec::new(), text);
    }
    let mut t = tags::parse_tags(&text);
    if !no_ticket && t.commands.iter().any(|c| matches!(c, Command::Open(..))) {
        t.errors.push(tags::TagError::new(
            0,
            &p.subject,
            tags::Problem::OpenInReply,
        ));
        t.commands.clear();
    }
    if no_ticket {
        t.errors.push(tags::TagError::new(
            0,
            &p.subject,
            tags::Problem::NoTicket(settings.ticket_prefix.clone()),
        ));
        t.commands.clear();
    }
    (t.commands, t.errors, t.text)
}

/// At most this many copied addresses are read of one message: more than
/// any ticket takes as participants (`[limits] max-participants`).
pub const MAX_COPIED: usize = 100;

/// Addresses in To and Cc other than ours and the consultants', once each,
/// in order, at most [`MAX_COPIED`].
fn copied(p: &parse::Parsed, settings: &Settings) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    p.to.iter()
        .chain(&p.cc)
        .map(|m| &m.address)
        .filter(|a| {
            a.contains('@')
                && !settings.markers.is_support_address(a)
                && !settings.consultants.contains(a)
                && seen.insert(a.as_str())
        })
        .take(MAX_COPIED)
        .cloned()
        .collect()
}

/// The consultant sender check (design.md "Inbound mail", step 2).
fn authenticate(p: &parse::Parsed, settings: &Settings, ticket_ref: &str) -> Option<bool> {
    let token = settings.token_key.as_deref().map(|key| {
        let expected = token::consultant_mac(key, ticket_ref, &p.from.address);
        let number: Option<u64> = ticket_ref.rsplit('-').next().and_then(|n| n.parse().ok());
        let by_address =
            p.to.iter()
                .chain(&p.cc)
                .filter_map(|a| settings.markers.plus_address(&a.address))
                .chain(
                    p.header_values("delivered-to")
                        .filter_map(|a| settings.markers.plus_address(a)),
                );
        let by_id = p
            .in_reply_to
            .iter()
            .chain(&p.references)
            .filter_map(|id| settings.markers.message_id(id));
        by_address
            .chain(by_id)
            .any(|m| Some(m.number) == number && token::mac_eq(&m.mac, &expected))
    });
    // DKIM or DMARC pass for exactly the consultant's domain, from our
    // server, and no failure for it there.
    let dkim = || {
        let domain = p.from.address.rsplit_once('@').map_or("", |(_, d)| d);
        let results = auth::trusted(&p.headers, &settings.trusted_authserv_ids);
        auth::verdict(&results, domain) == Some(true)
    };
    match settings.auth {
        ConsultantAuth::Token => token,
        ConsultantAuth::Dkim => Some(dkim()),
        ConsultantAuth::Either => match (token, dkim()) {
            (_, true) | (Some(true), _) => Some(true),
            (None, false) => None,
            (Some(false), false) => Some(false),
        },
    }
}

/// The report fields the message gives, in the order of
/// [`report::FIELDS`].
pub fn present_fields(a: &Analysis) -> Vec<&'static str> {
    report::FIELDS
        .iter()
        .copied()
        .filter(|f| a.fields.get(f).is_some_and(|x| x.present))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consultant_mail(auth_results: &str) -> String {
        format!(
            "From: Anna <anna@smartstock.cloud>\nTo: support@smartstock.cloud\nSubject: Re: [SS-7] Export\n{auth_results}\
             Message-ID: <x@smartstock.cloud>\n\n#accept\n"
        )
    }

    fn verdict(auth: ConsultantAuth, key: Option<&[u8]>, header: &str) -> (Option<bool>, bool) {
        let mut s = Settings::new(
            "support@smartstock.cloud",
            "SS",
            &["anna@smartstock.cloud".to_string()],
        );
        s.auth = auth;
        s.token_key = key.map(<[u8]>::to_vec);
        s.trusted_authserv_ids = vec!["mx.smartstock.cloud".into()];
        let a = analyze(
            consultant_mail(header).as_bytes(),
            "2026-11-25T10:00:00Z".parse().unwrap(),
            &s,
            &thread::NoLookup,
        );
        assert_eq!(a.kind, Kind::ConsultantCommand);
        (a.authenticated, a.dmarc_fail)
    }

    /// The DKIM/DMARC sender check with genuine and forged results.
    #[test]
    fn dkim_check_table() {
        use ConsultantAuth::{Dkim, Either, Token};
        let genuine = "Authentication-Results: mx.smartstock.cloud; dkim=pass header.d=smartstock.cloud; spf=pass\n";
        let dmarc = "Authentication-Results: mx.smartstock.cloud; dmarc=pass header.from=smartstock.cloud\n";
        let untrusted =
            "Authentication-Results: evil.example; dkim=pass header.d=smartstock.cloud\n";
        let other_domain =
            "Authentication-Results: mx.smartstock.cloud; dkim=pass header.d=evil.example\n";
        let failed = "Authentication-Results: mx.smartstock.cloud; dkim=fail header.d=smartstock.cloud; dmarc=fail header.from=smartstock.cloud\n";
        type Row<'a> = (
            ConsultantAuth,
            Option<&'a [u8]>,
            &'a str,
            Option<bool>,
            bool,
        );
        let table: &[Row<'_>] = &[
            (Dkim, None, genuine, Some(true), false),
            (Dkim, None, dmarc, Some(true), false),
            (Dkim, None, untrusted, Some(false), false),
            (Dkim, None, other_domain, Some(false), false),
            (Dkim, None, failed, Some(false), true),
            (Dkim, None, "", Some(false), false),
            (Either, None, genuine, Some(true), false),
            (Either, None, "", None, false),
            (Either, Some(b"k"), "", Some(false), false),
            (Token, None, genuine, None, false),
        ];
        for (auth, key, header, authenticated, dmarc_fail) in table {
            assert_eq!(
                verdict(*auth, *key, header),
                (*authenticated, *dmarc_fail),
                "{auth:?} {header:?}"
            );
        }
    }
}
