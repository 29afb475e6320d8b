//! What kind of mail this is, in design.md's order; the first rule that
//! matches decides, and its name is reported:
//!
//! 1. `own_loop`: our own mail came back: `X-Loop` names the support address
//!    (`x-loop`), the Message-ID has our form (`own-message-id`), the
//!    Return-Path is our bounce envelope (`own-bounce-envelope`), or the
//!    support address itself sent a mail carrying our footer (`own-footer`).
//! 2. `bounce`: a `multipart/report` delivery notification (`dsn`), a sender
//!    or Return-Path of MAILER-DAEMON/postmaster (`mailer-daemon`), or a null
//!    Return-Path on a mail that is not an auto-reply (`null-return-path`).
//! 3. `auto_reply`: `Auto-Submitted` other than `no` (RFC 3834,
//!    `auto-submitted`); `X-Autoreply`/`X-Autorespond` and their kin
//!    (`x-autoreply`); `Precedence: junk | auto_reply` (`precedence`);
//!    Exchange's `X-MS-Exchange-Inbox-Rules-Loop` or out-of-office subjects in
//!    English, Polish and the usual European languages (`ooo-subject`).
//! 4. `list`: `List-Id` (`list-id`), `List-Unsubscribe` (`list-unsubscribe`),
//!    `Precedence: bulk | list` (`precedence-bulk`).
//! 5. `consultant_command`: a configured consultant's mail (`consultant`);
//!    whether it refers to a ticket and passes the sender check is reported
//!    apart, never changing the kind.
//! 6. `reply`: it threads to a ticket (`thread`).
//! 7. `new` (`new`), requester from Reply-To for contact-form senders.
//!
//! `X-Auto-Response-Suppress` alone is not proof of an automatic mail: it
//! only sets `suppress_ack`. Pure.

use std::sync::LazyLock;

use regex::Regex;

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
    /// A delivery failure report.
    Bounce,
    /// Mailing-list or bulk mail.
    List,
    /// Our own mail looping back.
    OwnLoop,
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
            Kind::List => "list",
            Kind::OwnLoop => "own_loop",
        }
    }

    /// Mail that no person wrote: never opens a ticket, never answered.
    pub fn is_automatic(self) -> bool {
        matches!(self, Kind::AutoReply | Kind::Bounce | Kind::OwnLoop)
    }
}

/// A bounce's details.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BounceInfo {
    /// The Message-ID of the mail that bounced, if it can be told.
    pub message_id: Option<String>,
    /// Our outbox row, from our bounce envelope address.
    pub outbox_id: Option<u64>,
    /// Permanent failure (5.x.x, `Action: failed`) rather than a delay.
    pub permanent: bool,
    /// The report's status code and diagnostic, e.g. `5.1.1 user unknown`.
    pub detail: Option<String>,
    /// The recipients the report says failed (`Final-Recipient` of the
    /// failed ones), lower-cased; empty when it does not say.
    pub recipients: Vec<String>,
}

/// The classification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// The kind.
    pub kind: Kind,
    /// The rule that decided it.
    pub rule: &'static str,
    /// For bounces.
    pub bounce: Option<BounceInfo>,
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

static BOUNCE_SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(concat!(
        r"(?i)(undeliver|undelivered mail|delivery status notification|delivery (has )?failed|",
        r"mail delivery (failed|failure|subsystem)|returned mail|failure notice|non[- ]?delivery|",
        r"niedostarcz|nie można dostarczyć|nie mozna dostarczyc|nie dostarczono|",
        r"unzustellbar|non remis|onbestelbaar|delivery (status )?notification \(failure\))"
    ))
});

static DELAY: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(
        r"(?i)(delivery (has been )?delayed|delayed mail|still trying|will (continue to )?retry|warning: message .* delayed|opóźni)",
    )
});

static STATUS: LazyLock<Regex> =
    LazyLock::new(|| super::text_regex(r"(?im)^\s*status\s*:\s*(([245])\.\d{1,3}\.\d{1,3})"));
static DIAGNOSTIC: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(r"(?im)^\s*diagnostic-code\s*:\s*[a-z0-9-]*\s*;\s*([^\r\n]+)")
});
static ACTION: LazyLock<Regex> =
    LazyLock::new(|| super::text_regex(r"(?im)^\s*action\s*:\s*([a-z]+)"));
static FINAL_RECIPIENT: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(
        r"(?im)^\s*(?:final|original)-recipient\s*:\s*[a-z0-9-]*\s*;\s*<?([^\s<>]+@[^\s<>]+)>?",
    )
});

/// The failed recipients of a delivery report: each per-recipient block
/// (RFC 3464 section 2.3) with its Final-Recipient and Action.
fn failed_recipients(status: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for block in status.split("\n\n").flat_map(|b| b.split("\r\n\r\n")) {
        // Final-Recipient, and Original-Recipient when the report gives the
        // address we sent to before an alias was expanded.
        let names: Vec<String> = FINAL_RECIPIENT
            .captures_iter(block)
            .map(|c| c[1].to_lowercase())
            .collect();
        if names.is_empty() {
            continue;
        }
        let action = ACTION.captures(block).map(|c| c[1].to_ascii_lowercase());
        let failed_status = STATUS.captures(block).is_some_and(|c| &c[2] == "5");
        if action.as_deref() == Some("failed") || (action.is_none() && failed_status) {
            for n in names {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
    }
    out
}
static ANY_ID: LazyLock<Regex> =
    LazyLock::new(|| super::text_regex(r"(?im)^\s*>?\s*message-id\s*:\s*<([^>\s]+)>"));

fn local_part(address: &str) -> &str {
    address.rsplit_once('@').map_or(address, |(l, _)| l)
}

fn is_daemon(address: &str) -> bool {
    let l = local_part(address).to_ascii_lowercase();
    l == "mailer-daemon" || l == "postmaster" || l == "mail-daemon" || l == "mailerdaemon"
}

/// Which auto-reply rule a mail matches, if any.
fn auto_reply_rule(p: &Parsed) -> Option<&'static str> {
    if let Some(v) = p.header("auto-submitted") {
        let v = v.trim().to_ascii_lowercase();
        if !v.is_empty() && !v.starts_with("no") {
            return Some("auto-submitted");
        }
    }
    const AUTO_HEADERS: [&str; 6] = [
        "x-autoreply",
        "x-autorespond",
        "x-autoresponder",
        "x-auto-reply",
        "x-autoreply-from",
        "x-mail-autoreply",
    ];
    if AUTO_HEADERS.iter().any(|h| p.header(h).is_some()) {
        return Some("x-autoreply");
    }
    if p.header("x-autogenerated")
        .is_some_and(|v| v.eq_ignore_ascii_case("reply"))
    {
        return Some("x-autoreply");
    }
    if let Some(v) = p.header("precedence") {
        let v = v.trim().to_ascii_lowercase();
        if v == "junk" || v == "auto_reply" || v == "auto-reply" {
            return Some("precedence");
        }
    }
    if p.header("x-ms-exchange-inbox-rules-loop").is_some()
        || p.header("x-ms-exchange-generated-message-source").is_some()
    {
        return Some("exchange-rules");
    }
    if OOO_SUBJECT.is_match(super::thread::strip_reply_prefixes(&p.subject))
        || OOO_SUBJECT.is_match(&p.subject)
    {
        return Some("ooo-subject");
    }
    None
}

fn bounce_info(p: &Parsed, markers: &Markers) -> BounceInfo {
    let status_code = STATUS
        .captures(&p.delivery_status)
        .map(|c| c[1].to_string());
    let status = STATUS
        .captures(&p.delivery_status)
        .map(|c| c[2].to_string());
    let diagnostic = DIAGNOSTIC
        .captures(&p.delivery_status)
        .map(|c| c[1].trim().chars().take(300).collect::<String>());
    let detail = match (status_code, diagnostic) {
        (Some(s), Some(d)) => Some(format!("{s} {d}")),
        (s, d) => s.or(d),
    };
    let action = ACTION
        .captures(&p.delivery_status)
        .map(|c| c[1].to_ascii_lowercase());
    let permanent = match (status.as_deref(), action.as_deref()) {
        (_, Some("delayed" | "relayed" | "delivered" | "expanded")) => false,
        (Some("4"), _) => false,
        (Some("5"), _) | (_, Some("failed")) => true,
        _ => !DELAY.is_match(&p.subject) && !DELAY.is_match(&p.text),
    };
    // The bounced mail: one of ours named in the returned headers, else the
    // first returned Message-ID, else a Message-ID quoted in the text.
    let ours = p
        .returned_message_ids
        .iter()
        .find(|id| markers.message_id(id).is_some())
        .cloned();
    let quoted = || {
        let all: Vec<String> = ANY_ID
            .captures_iter(&p.text)
            .map(|c| c[1].to_string())
            .collect();
        let ours = all.iter().position(|id| markers.message_id(id).is_some());
        all.into_iter().nth(ours.unwrap_or(0))
    };
    let outbox_id =
        p.to.iter()
            .chain(&p.cc)
            .find_map(|a| markers.bounce_address(&a.address))
            .or_else(|| {
                p.header_values("x-original-to")
                    .chain(p.header_values("delivered-to"))
                    .find_map(|a| markers.bounce_address(a))
            });
    BounceInfo {
        message_id: ours
            .or_else(|| p.returned_message_ids.first().cloned())
            .or_else(quoted),
        outbox_id,
        permanent,
        detail,
        recipients: failed_recipients(&p.delivery_status),
    }
}

/// Classifies a message. `threads` says whether it threads to a ticket.
pub fn classify(p: &Parsed, who: &Who<'_>, threads: bool) -> Class {
    let class = |kind, rule| Class {
        kind,
        rule,
        bounce: None,
    };
    let m = who.markers;
    // 1. Our own mail.
    if p.header_values("x-loop")
        .any(|v| v.to_ascii_lowercase().contains(who.support_address))
    {
        return class(Kind::OwnLoop, "x-loop");
    }
    if p.message_id
        .as_deref()
        .is_some_and(|id| m.message_id(id).is_some())
    {
        return class(Kind::OwnLoop, "own-message-id");
    }
    if p.return_path
        .as_deref()
        .is_some_and(|rp| m.bounce_address(rp).is_some())
    {
        return class(Kind::OwnLoop, "own-bounce-envelope");
    }
    if m.is_support_address(&p.from.address) && m.footer(&p.text).is_some() {
        return class(Kind::OwnLoop, "own-footer");
    }
    // 2. Bounces. A read receipt is a report too, but a client wrote it.
    if p.content_type == "multipart/report"
        && p.report_type.as_deref() == Some("disposition-notification")
    {
        return class(Kind::AutoReply, "read-receipt");
    }
    let auto = auto_reply_rule(p);
    let dsn = p.content_type == "multipart/report"
        && (p
            .report_type
            .as_deref()
            .is_none_or(|t| t.contains("delivery-status"))
            || !p.delivery_status.is_empty());
    let bounce_rule = if dsn {
        Some("dsn")
    } else if is_daemon(&p.from.address) || p.return_path.as_deref().is_some_and(is_daemon) {
        Some("mailer-daemon")
    } else if p.return_path.as_deref() == Some("") && auto.is_none() {
        Some("null-return-path")
    } else if auto.is_none()
        && BOUNCE_SUBJECT.is_match(&p.subject)
        && !p.returned_message_ids.is_empty()
    {
        Some("bounce-subject")
    } else {
        None
    };
    if let Some(rule) = bounce_rule {
        return Class {
            kind: Kind::Bounce,
            rule,
            bounce: Some(bounce_info(p, m)),
        };
    }
    // 3. Auto-replies.
    if let Some(rule) = auto {
        return class(Kind::AutoReply, rule);
    }
    // 4. Lists and bulk mail.
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
    // 5. Consultants.
    if who.consultants.contains(&p.from.address) {
        return class(Kind::ConsultantCommand, "consultant");
    }
    // 6–7.
    if threads {
        class(Kind::Reply, "thread")
    } else {
        class(Kind::New, "new")
    }
}

/// `X-Auto-Response-Suppress` asks us not to acknowledge (it does not make a
/// mail automatic). Any value other than `None` counts.
pub fn suppress_ack(p: &Parsed) -> bool {
    p.header("x-auto-response-suppress")
        .is_some_and(|v| !v.trim().eq_ignore_ascii_case("none"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn failed_recipients_come_from_the_per_recipient_blocks() {
        let table: &[(&str, &[&str])] = &[
            (
                "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; Ewa@Acme.example\nAction: failed\nStatus: 5.1.1\n\n\
                 Final-Recipient: rfc822; jan@acme.example\nAction: delivered\nStatus: 2.0.0\n",
                &["ewa@acme.example"],
            ),
            (
                "Reporting-MTA: dns; mx\r\n\r\nFinal-Recipient: rfc822;<jan@acme.example>\r\nStatus: 5.2.2\r\n",
                &["jan@acme.example"],
            ),
            (
                "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; jan@acme.example\nAction: delayed\nStatus: 4.4.1\n",
                &[],
            ),
            (
                "Reporting-MTA: dns; mx\n\nOriginal-Recipient: rfc822;jan@acme.example\n\
                 Final-Recipient: rfc822; j.kowalski@internal.acme.example\nAction: failed\nStatus: 5.1.1\n",
                &["jan@acme.example", "j.kowalski@internal.acme.example"],
            ),
            ("", &[]),
        ];
        for (status, expected) in table {
            assert_eq!(super::failed_recipients(status), *expected, "{status}");
        }
    }
}
