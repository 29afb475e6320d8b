//! What kind of mail this is, in design.md's order; the first rule that
//! matches decides, and its name is reported. The rules and where they come
//! from:
//!
//! | # | kind | rule | when | source |
//! | --- | --- | --- | --- | --- |
//! | 0 | `not_mail` | `no-header-block`, `binary` | no `Name: value` first line; over 5% control bytes | RFC 5322 section 2.2 |
//! | 1 | `own_loop` | `x-loop`, `own-message-id`, `own-bounce-envelope`, `own-footer` | our `X-Loop`, Message-ID, bounce envelope, or our footer from the support address | RFC 3834 section 2 (loops) |
//! | 2 | `feedback` | `arf` | `multipart/report; report-type=feedback-report`, or a `message/feedback-report` part | RFC 5965 section 2 |
//! | 2 | `auto_reply` | `read-receipt` | `report-type=disposition-notification` | RFC 8098 |
//! | 3 | `bounce` | `dsn` | a `message/delivery-status` part, or `multipart/report` of that type | RFC 3464, RFC 6522 |
//! | 3 | `bounce` | `mailer-daemon` | From or Return-Path MAILER-DAEMON (and kin, Exchange's system mailbox) | RFC 5321 section 4.5.5, vendors |
//! | 3 | `bounce` | `postmaster-report` | from postmaster@ with a null envelope or report wording | RFC 5321 section 4.5.5 |
//! | 3 | `bounce` | `null-return-path` | `Return-Path: <>` without auto-reply headers, or with report wording | RFC 5321 section 4.5.5 |
//! | 3 | `bounce` | `report-wording` | a report subject ("Undeliverable:", "Niedostarczalne:", "Non remis :") and report wording or a returned message, whoever sent it | Exchange, anti-virus gateways |
//! | 4 | `auto_reply` | [`AUTO_RULES`] | `Auto-Submitted`, `X-Autoreply` and kin, `Precedence`, another system's `X-Loop` | RFC 3834 section 5, vendors |
//! | 4 | `auto_reply` | `ooo-subject` | out-of-office subjects in English, Polish and the usual European languages | vendors' default texts |
//! | 5 | `list` | `list-id`, `list-unsubscribe`, `precedence-bulk` | list headers | RFC 2919, RFC 2369 |
//! | 6 | `consultant_command` | `consultant` | a configured consultant's mail | |
//! | 7 | `reply` | `thread` | it threads to a ticket | RFC 5322 section 3.6.4 |
//! | 8 | `new` | `new` | anything else from an address | |
//! | 8 | `not_mail` | `no-address` | anything else, but no sender address | |
//!
//! Bounce structure wins over `Auto-Submitted` (MTAs mark their reports
//! `auto-replied`, RFC 3464 section 2.1 does not forbid it). An Exchange
//! inbox-rule forward (`X-MS-Exchange-Inbox-Rules-Loop` alone) is a person's
//! mail forwarded by a rule, not an automatic reply; a person writing from
//! postmaster@ is a person. `X-Auto-Response-Suppress` alone is not proof of
//! an automatic mail: it only sets `suppress_ack`. Pure.

use std::sync::LazyLock;

use regex::Regex;

pub use super::bounce::{BounceInfo, FeedbackInfo, Outcome};
use super::bounce::{is_daemon, local_part};
use super::parse::Parsed;
use super::token::Markers;

/// The kind of a message; stable codes for JSON and the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A new request.
    New,
    /// A reply to a ticket.
    Reply,
    /// A consultant's mail.
    ConsultantCommand,
    /// An automatic reply (out of office, autoresponder).
    AutoReply,
    /// A delivery report (failure, delay or success).
    Bounce,
    /// A spam-feedback or abuse report (RFC 5965).
    Feedback,
    /// Mailing-list or bulk mail.
    List,
    /// Our own mail looping back.
    OwnLoop,
    /// Not a mail at all: no header block, binary, or no sender address.
    NotMail,
}

impl Kind {
    /// The stable code.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::New => "new",
            Kind::Reply => "reply",
            Kind::ConsultantCommand => "consultant_command",
            Kind::AutoReply => "auto_reply",
            Kind::Bounce => "bounce",
            Kind::Feedback => "feedback",
            Kind::List => "list",
            Kind::OwnLoop => "own_loop",
            Kind::NotMail => "not_mail",
        }
    }

    /// Mail that no person wrote: never opens a ticket, never answered.
    pub fn is_automatic(self) -> bool {
        matches!(
            self,
            Kind::AutoReply | Kind::Bounce | Kind::OwnLoop | Kind::Feedback | Kind::NotMail
        )
    }
}

/// The classification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// The kind.
    pub kind: Kind,
    /// The rule that decided it.
    pub rule: &'static str,
    /// For delivery reports.
    pub bounce: Option<BounceInfo>,
    /// For feedback reports.
    pub feedback: Option<FeedbackInfo>,
}

/// What the classifier needs to know about us.
pub struct Who<'a> {
    /// Our markers.
    pub markers: &'a Markers,
    /// The support address, lower-cased.
    pub support_address: &'a str,
    /// Consultant addresses, lower-cased.
    pub consultants: &'a [String],
}

/// What a header's value must be for a rule of [`AUTO_RULES`].
#[derive(Debug, Clone, Copy)]
pub enum Value {
    /// Present, whatever its value.
    Any,
    /// Present and not `no` (RFC 3834's `Auto-Submitted: no`).
    NotNo,
    /// One of these, case-insensitive.
    OneOf(&'static [&'static str]),
}

/// One header rule for automatic replies.
#[derive(Debug, Clone, Copy)]
pub struct HeaderRule {
    /// The header, lower-case.
    pub header: &'static str,
    /// What its value must be.
    pub value: Value,
    /// The rule's name in the analysis.
    pub rule: &'static str,
    /// Where the rule comes from.
    pub source: &'static str,
}

/// The header rules for automatic replies, in order.
pub const AUTO_RULES: &[HeaderRule] = &[
    HeaderRule {
        header: "auto-submitted",
        value: Value::NotNo,
        rule: "auto-submitted",
        source: "RFC 3834 section 5",
    },
    HeaderRule {
        header: "x-autoreply",
        value: Value::Any,
        rule: "x-autoreply",
        source: "Sieve vacation responders (Courier, Cyrus), web-mail autoresponders",
    },
    HeaderRule {
        header: "x-autorespond",
        value: Value::Any,
        rule: "x-autoreply",
        source: "cPanel and Exim autoresponders",
    },
    HeaderRule {
        header: "x-autoresponder",
        value: Value::Any,
        rule: "x-autoreply",
        source: "hosted autoresponders",
    },
    HeaderRule {
        header: "x-auto-reply",
        value: Value::Any,
        rule: "x-autoreply",
        source: "hosted autoresponders",
    },
    HeaderRule {
        header: "x-autoreply-from",
        value: Value::Any,
        rule: "x-autoreply",
        source: "Postfix/Dovecot vacation scripts",
    },
    HeaderRule {
        header: "x-mail-autoreply",
        value: Value::Any,
        rule: "x-autoreply",
        source: "hosted autoresponders",
    },
    HeaderRule {
        header: "x-autogenerated",
        value: Value::OneOf(&["reply"]),
        rule: "x-autoreply",
        source: "Exchange/Outlook web autoresponders",
    },
    HeaderRule {
        header: "precedence",
        value: Value::OneOf(&["junk", "auto_reply", "auto-reply"]),
        rule: "precedence",
        source: "RFC 3834 section 3.1.8 (historic Precedence use), BSD vacation(1)",
    },
];

fn header_rule(p: &Parsed) -> Option<&'static str> {
    AUTO_RULES.iter().find_map(|r| {
        let v = p.header(r.header)?.trim().to_ascii_lowercase();
        let hit = match r.value {
            Value::Any => true,
            Value::NotNo => !v.is_empty() && !v.starts_with("no"),
            Value::OneOf(values) => values.contains(&v.as_str()),
        };
        hit.then_some(r.rule)
    })
}

static OOO_SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(concat!(
        r"(?i)^\s*(",
        r"automatic reply|auto(matic)?[ -]?reply|autoreply|auto[ -]?response|out of (the )?office|",
        r"automatyczna odpowiedź|automatyczna odpowiedz|odpowiedź automatyczna|poza biurem|nieobecność|jestem na urlopie|",
        r"abwesenheitsnotiz|automatische antwort|abwesend|",
        r"réponse automatique|reponse automatique|absence du bureau|",
        r"automatisch antwoord|afwezig|",
        r"autosvar|automatisk svar|frånvaro|fravær|",
        r"risposta automatica|respuesta automática|fuera de la oficina|",
        r"on vacation|on leave|vacation reply|away from (the )?office",
        r")([^\p{L}]|$)"
    ))
});

/// Subjects of delivery reports, at the start of the subject (a person's
/// "Fwd: Undeliverable: ..." is a person's mail).
static BOUNCE_SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(concat!(
        r"(?i)^\s*(undeliver|undelivered|delivery status notification|delivery (has )?failed|delivery failure|",
        r"mail delivery (failed|failure|subsystem|system)|returned mail|failure notice|non[- ]?delivery|",
        r"message not delivered|mail system error|delivery notification|warning: could not send|",
        r"delayed mail|delivery delayed|",
        r"niedostarcz|nie można dostarczyć|nie mozna dostarczyc|nie dostarczono|wiadomość niedostarczona|",
        r"unzustellbar|nicht zustellbar|non remis|non distribuable|échec de (la )?remise|",
        r"onbestelbaar|non recapitabile|no se puede entregar)"
    ))
});

fn is_postmaster(address: &str) -> bool {
    local_part(address).eq_ignore_ascii_case("postmaster")
}

/// Whether the report's own words say a mail was not delivered (its subject
/// or the text above any returned mail).
fn report_wording(p: &Parsed) -> bool {
    let head = &p.text[..p.text.floor_char_boundary(p.text.len().min(4096))];
    super::bounce::UNDELIVERED.is_match(&p.subject) || super::bounce::UNDELIVERED.is_match(head)
}

/// Which auto-reply rule a mail matches, if any.
fn auto_reply_rule(p: &Parsed) -> Option<&'static str> {
    if let Some(rule) = header_rule(p) {
        return Some(rule);
    }
    // Another system's loop marker (procmail's convention, helpdesks):
    // automatic, unless it is a list's (lists are rule 5).
    if p.header("x-loop").is_some() && p.header("list-id").is_none() {
        return Some("x-loop");
    }
    if OOO_SUBJECT.is_match(super::thread::strip_reply_prefixes(&p.subject))
        || OOO_SUBJECT.is_match(&p.subject)
    {
        return Some("ooo-subject");
    }
    None
}

/// Which bounce rule a mail matches, if any.
fn bounce_rule(p: &Parsed, auto: bool, markers: &Markers) -> Option<&'static str> {
    let dsn = !p.delivery_status.is_empty()
        || (p.content_type == "multipart/report"
            && p.report_type
                .as_deref()
                .is_none_or(|t| t.contains("delivery-status")));
    let null_envelope = p.return_path.as_deref() == Some("");
    if dsn {
        Some("dsn")
    } else if is_daemon(&p.from.address) || p.return_path.as_deref().is_some_and(is_daemon) {
        Some("mailer-daemon")
    } else if is_postmaster(&p.from.address) && (null_envelope || report_wording(p)) {
        Some("postmaster-report")
    } else if null_envelope && is_address(&p.from.address) && (!auto || report_wording(p)) {
        Some("null-return-path")
    } else if BOUNCE_SUBJECT.is_match(&p.subject)
        && (report_wording(p)
            || !p.returned_message_ids.is_empty()
            || p.quoted_message_ids
                .iter()
                .any(|id| markers.message_id(id).is_some()))
    {
        Some("report-wording")
    } else {
        None
    }
}

/// Our own mail come back, by which rule.
fn own_loop_rule(p: &Parsed, who: &Who<'_>) -> Option<&'static str> {
    let m = who.markers;
    if p.header_values("x-loop")
        .any(|v| v.to_ascii_lowercase().contains(who.support_address))
    {
        return Some("x-loop");
    }
    if p.message_id
        .as_deref()
        .is_some_and(|id| m.message_id(id).is_some())
    {
        return Some("own-message-id");
    }
    if p.return_path
        .as_deref()
        .is_some_and(|rp| m.bounce_address(rp).is_some())
    {
        return Some("own-bounce-envelope");
    }
    if m.is_support_address(&p.from.address) && m.footer(&p.text).is_some() {
        return Some("own-footer");
    }
    None
}

/// Classifies a message. `threads` says whether it threads to a ticket.
pub fn classify(p: &Parsed, who: &Who<'_>, threads: bool) -> Class {
    let class = |kind, rule| Class {
        kind,
        rule,
        bounce: None,
        feedback: None,
    };
    let m = who.markers;
    // 0. Not mail at all.
    if p.binary {
        return class(Kind::NotMail, "binary");
    }
    if !p.header_block {
        return class(Kind::NotMail, "no-header-block");
    }
    // 1. Our own mail.
    if let Some(rule) = own_loop_rule(p, who) {
        return class(Kind::OwnLoop, rule);
    }
    // 2. Reports that are not about delivery.
    if p.report_type.as_deref() == Some("feedback-report") || !p.feedback_report.is_empty() {
        return Class {
            feedback: Some(super::bounce::feedback_info(p, m)),
            ..class(Kind::Feedback, "arf")
        };
    }
    if p.content_type == "multipart/report"
        && p.report_type.as_deref() == Some("disposition-notification")
    {
        return class(Kind::AutoReply, "read-receipt");
    }
    // 3. Delivery reports: their structure wins over auto-reply headers.
    let auto = auto_reply_rule(p);
    if let Some(rule) = bounce_rule(p, auto.is_some(), m) {
        return Class {
            bounce: Some(super::bounce::bounce_info(p, m)),
            ..class(Kind::Bounce, rule)
        };
    }
    // 4. Auto-replies.
    if let Some(rule) = auto {
        return class(Kind::AutoReply, rule);
    }
    // 5. Lists and bulk mail.
    if p.header("list-id").is_some() {
        return class(Kind::List, "list-id");
    }
    if p.header("list-unsubscribe").is_some() {
        return class(Kind::List, "list-unsubscribe");
    }
    if p.header("precedence").is_some_and(|v| {
        let v = v.trim().to_ascii_lowercase();
        v == "bulk" || v == "list"
    }) {
        return class(Kind::List, "precedence-bulk");
    }
    // 6. Consultants.
    if who.consultants.contains(&p.from.address) {
        return class(Kind::ConsultantCommand, "consultant");
    }
    // 7–8: a person's mail needs a person's address.
    if !is_address(&p.from.address) {
        return class(Kind::NotMail, "no-address");
    }
    if threads {
        class(Kind::Reply, "thread")
    } else {
        class(Kind::New, "new")
    }
}

/// An address we could write to: `local@domain` with a dot-less or dotted
/// domain, no spaces.
fn is_address(a: &str) -> bool {
    a.rsplit_once('@').is_some_and(|(l, d)| {
        !l.is_empty() && !d.is_empty() && !a.contains(|c: char| c.is_whitespace() || c.is_control())
    })
}

/// `X-Auto-Response-Suppress` asks us not to acknowledge (it does not make a
/// mail automatic). Any value other than `None` counts.
pub fn suppress_ack(p: &Parsed) -> bool {
    p.header("x-auto-response-suppress")
        .is_some_and(|v| !v.trim().eq_ignore_ascii_case("none"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::parse::parse;

    #[test]
    fn rules_decide_in_order() {
        let markers = Markers::new("support@smartstock.cloud", "SS");
        let consultants = ["anna@smartstock.cloud".to_string()];
        let who = Who {
            markers: &markers,
            support_address: "support@smartstock.cloud",
            consultants: &consultants,
        };
        let person = "From: Ewa <ewa@firma.example>\nTo: support@smartstock.cloud\n";
        let table: &[(String, Kind, &str)] = &[
            (String::new(), Kind::NotMail, "no-header-block"),
            ("not a mail\n".into(), Kind::NotMail, "no-header-block"),
            ("From: root\n\ncron output\n".into(), Kind::NotMail, "no-address"),
            (format!("{person}X-Loop: yes\nSubject: Re: x\n\nreceived\n"), Kind::AutoReply, "x-loop"),
            (format!("{person}X-Loop: yes\nList-Id: <l.example>\nSubject: news\n\nx\n"), Kind::List, "list-id"),
            (format!("{person}X-Loop: support@smartstock.cloud\n\nx\n"), Kind::OwnLoop, "x-loop"),
            (
                format!("{person}X-MS-Exchange-Inbox-Rules-Loop: ewa@firma.example\nSubject: FW: Stock wrong\n\nplease help\n"),
                Kind::New,
                "new",
            ),
            (
                "From: Adam <postmaster@firma.example>\nSubject: Question about invoices\n\nHow do I change the VAT number?\n".into(),
                Kind::New,
                "new",
            ),
            (
                "Return-Path: <>\nFrom: postmaster@firma.example\nSubject: Undeliverable Mail\n\nUnknown user: a@b.example\n".into(),
                Kind::Bounce,
                "postmaster-report",
            ),
            (
                "From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@firma.example>\nSubject: Undeliverable: x\n\nDelivery has failed\n".into(),
                Kind::Bounce,
                "mailer-daemon",
            ),
            (
                format!("Return-Path: <>\n{person}Auto-Submitted: auto-replied\nSubject: Out of office\n\nI am away.\n"),
                Kind::AutoReply,
                "auto-submitted",
            ),
            (
                format!("Return-Path: <>\n{person}Auto-Submitted: auto-replied\nSubject: Mail returned\n\nYour message could not be delivered.\n"),
                Kind::Bounce,
                "null-return-path",
            ),
            (
                format!("{person}Subject: Fwd: Undeliverable: Invoice\n\nOur invoices bounce, see below.\n"),
                Kind::New,
                "new",
            ),
            (
                format!("{person}Subject: Undeliverable: [SS-4] Invoice\n\nYour message could not be delivered to x@y.example\n"),
                Kind::Bounce,
                "report-wording",
            ),
            (
                format!("{person}Content-Type: multipart/report; report-type=feedback-report; boundary=b\n\n--b\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n--b--\n"),
                Kind::Feedback,
                "arf",
            ),
        ];
        for (raw, kind, rule) in table {
            let c = classify(&parse(raw.as_bytes()), &who, false);
            assert_eq!((c.kind, c.rule), (*kind, *rule), "{raw}");
        }
        let binary: Vec<u8> = (0..4096u32).map(|i| (i * 131 % 256) as u8).collect();
        assert_eq!(classify(&parse(&binary), &who, false).rule, "binary");
    }
}
