//! Delivery reports (RFC 3464) and the plain-text reports of MTAs that write
//! none, and spam-feedback reports (RFC 5965 ARF): what they say about one of
//! our mails. Pure.
//!
//! The outcome of a delivery report is read in this order:
//! 1. `Action:` of the per-recipient blocks (RFC 3464 section 2.3.3): any
//!    `failed` means the mail failed, whatever the status class (a queue that
//!    expired reports `failed` with a 4.x.x status); otherwise `delayed` is a
//!    delay, and `delivered`/`relayed`/`expanded` a success that never fails a
//!    mail;
//! 2. the status code's class (RFC 3463: 5 permanent, 4 transient, 2 success);
//! 3. the wording: "will be retried", "has been delayed" and their Polish,
//!    German and French forms are a delay, unless the report also says that
//!    the MTA gave up; anything else reported as undeliverable failed.
//!
//! Failed recipients come from the per-recipient blocks, else from
//! `X-Failed-Recipients` (Exim), else from the human-readable text above the
//! returned message, in the shapes the common MTAs and services write
//! (Postfix, Exim, qmail, Sendmail, Exchange and Office 365, Lotus Domino,
//! Gmail, Yahoo, Outlook.com, Amazon SES, Polish providers): an address alone
//! on its line (`<a@b>:`, `a@b`, `a@b... User unknown`), or named by a phrase
//! ("could not be delivered to", "RCPT TO:<a@b>", "nie został dostarczony do").

use std::sync::LazyLock;

use regex::Regex;

use super::parse::Parsed;
use super::token::Markers;

/// What a delivery report says happened to the mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The mail failed for (some of) its recipients.
    Failed,
    /// Delivery is delayed; the MTA goes on trying.
    Delayed,
    /// A success report (delivered, relayed, expanded).
    Delivered,
}

/// A delivery report's details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceInfo {
    /// The Message-ID of the mail that bounced, if it can be told.
    pub message_id: Option<String>,
    /// Our outbox row, from our bounce envelope address.
    pub outbox_id: Option<super::token::Marked>,
    /// What happened.
    pub outcome: Outcome,
    /// The report's status code and diagnostic, e.g. `5.1.1 user unknown`.
    pub detail: Option<String>,
    /// The recipients the report says failed, lower-cased; empty when it
    /// does not say.
    pub recipients: Vec<String>,
}

impl BounceInfo {
    /// A permanent failure rather than a delay or a success.
    pub fn permanent(&self) -> bool {
        self.outcome == Outcome::Failed
    }
}

/// A spam-feedback or abuse report's details (RFC 5965).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackInfo {
    /// `Feedback-Type` (`abuse`, `fraud`, `not-spam`, ...), lower-cased.
    pub feedback_type: Option<String>,
    /// The people who reported our mail: `Original-Rcpt-To` and
    /// `Removal-Recipient` of the report, else the returned mail's To.
    pub recipients: Vec<String>,
    /// The Message-ID of the reported mail.
    pub message_id: Option<String>,
}

static STATUS: LazyLock<Regex> =
    LazyLock::new(|| super::text_regex(r"(?im)^\s*status\s*:\s*(([245])\.\d{1,3}\.\d{1,3})"));
static DIAGNOSTIC: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(r"(?im)^\s*diagnostic-code\s*:\s*[a-z0-9-]*\s*;\s*([^\r\n]+)")
});
static ACTION: LazyLock<Regex> =
    LazyLock::new(|| super::text_regex(r"(?im)^\s*action\s*:\s*([a-z]+)"));
static FINAL_RECIPIENT: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(
        r"(?im)^\s*(?:final|original)-recipient\s*:\s*[a-z0-9-]*\s*;\s*<?([^\s<>]+@[^\s<>]+?)>?\s*$",
    )
});
/// A status code in the text of a report that has no DSN part, e.g.
/// `550 5.1.1` or `#5.1.1` (Exchange), `(#5.1.1)` (qmail).
static TEXT_STATUS: LazyLock<Regex> =
    LazyLock::new(|| super::text_regex(r"(?:^|[\s(#\[])([245])\.(\d{1,3})\.(\d{1,3})\b"));

/// Wording of a report that some mail was not delivered (EN, PL, DE, FR, and
/// the fixed phrases of qmail, Sendmail, Exim, Exchange, Domino, Gmail).
pub static UNDELIVERED: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(concat!(
        r"(?i)(could ?n[o']t be delivered|was ?n[o']t delivered|was not delivered|not be delivered|",
        r"could not deliver|unable to deliver|undeliverable|undelivered|delivery (has )?failed|",
        r"failed permanently|permanent (fatal )?error|address(\(es\)|es)? failed|",
        r"wasn't able to deliver|delivery to the following recipients? failed|",
        r"delivery (status notification|failure)|returned mail|message not delivered|",
        r"following recipients? (could not|cannot) be reached|rejected your message|did not reach|",
        r"nie (może|mogła|mogło|można|udało się) (zostać )?dostarcz|nie (został|została|zostało|zostały) dostarczon|",
        r"nie dostarczono|niedostarcz|błąd dostarcz|",
        r"nicht zugestellt|nicht zustellbar|unzustellbar|zustellung (ist )?fehlgeschlagen|",
        r"n'a pas pu être (remis|distribué|délivré)|non remis|non distribuable|échec de (la )?(remise|distribution)|impossible de remettre)"
    ))
});

/// Wording of a delay warning.
static DELAY: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(concat!(
        r"(?i)(delivery (has been |is )?delayed|delayed mail|has been delayed|not yet been delivered|",
        r"will (continue to )?(be )?retr(y|ied)|still (be )?trying|will keep trying|",
        r"warning: message .* delayed|delivery status notification \(delay\)|",
        r"opóźni|będzie ponawia|ponowi próbę|nadal próbuje|verzögert|wird (weiterhin|erneut) versucht|retardé|sera retenté)"
    ))
});

/// Wording that a report is final even though it speaks of retrying.
static GAVE_UP: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(
        r"(?i)(gave up|giving up|given up|i've given up|no longer|too long in queue|expired|will not be retried|permanent)",
    )
});

/// Where the returned mail starts in a plain-text report: recipients named
/// below it are the original's, not the failed ones.
static RETURNED_START: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(concat!(
        r"(?im)^\s*-{2,}[^\n]{0,40}(copy of|original message|header of the original|undelivered message|returned message|",
        r"wiadomość oryginalna|oryginalna wiadomość|ursprüngliche nachricht|message d'origine|message original)|",
        r"^\s*(this is a copy of|below this line is a copy|original message (headers|follows)|original message:|",
        r"oryginalne nagłówki|en-têtes du message d'origine|ursprüngliche nachrichtenkopfzeilen)|",
        r"^(return-path|received|message-id)\s*:"
    ))
});

/// An address alone at the start of a line: `<a@b>:`, `a@b`, `  a@b... User
/// unknown`, `a@b (reason)`, `SMTP:a@b`, `rfc822; a@b`.
static LINE_ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(
        r#"(?im)^[ \t>]*(?:smtp:|rfc822;\s*)?['"<]?([a-z0-9!#$%&*+/=?^_`{|}~.-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+)['">]?(?:\s*$|\s*[:;,]|\.\.\.|\s+\(|\s+-|\s+on\b)"#,
    )
});

/// An address named by a phrase of a report.
static PHRASE_ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(concat!(
        r"(?i)(?:(?:failed|failure|error) for|delivered to|deliver(?:ed)? (?:your message |the message |it )?to|delivery to|message to|",
        r"rcpt to:|recipient:|recipients:|addressee:|(?:unknown|invalid|no such) (?:user|recipient|address|mailbox):?|",
        r"(?:user|recipient|mailbox) unknown:|destinataire\s*:|empfänger\s*:|odbiorca\s*:|adresat\s*:|",
        r"dostarczon[aey] do|dostarczyć do|do adresata|do odbiorcy|zugestellt werden an|remis à)\s*",
        r"<?([a-z0-9!#$%&'*+/=?^_`{|}~.-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+)>?"
    ))
});

static ANY_ID: LazyLock<Regex> =
    LazyLock::new(|| super::text_regex(r"(?im)^\s*>?\s*message-id\s*:\s*<([^>\s]+)>"));

/// Per-recipient blocks of a DSN: (names, action, status class).
fn dsn_blocks(status: &str) -> Vec<(Vec<String>, Option<String>, Option<char>)> {
    let status = status.replace("\r\n", "\n");
    let mut out = Vec::new();
    for block in status.split("\n\n") {
        let names: Vec<String> = FINAL_RECIPIENT
            .captures_iter(block)
            .map(|c| c[1].to_lowercase())
            .collect();
        let action = ACTION.captures(block).map(|c| c[1].to_ascii_lowercase());
        let class = STATUS.captures(block).and_then(|c| c[2].chars().next());
        if !names.is_empty() || action.is_some() {
            out.push((names, action, class));
        }
    }
    out
}

/// The failed recipients of a delivery report: each per-recipient block
/// (RFC 3464 section 2.3) with its Final-Recipient and Action.
pub fn failed_recipients(status: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (names, action, class) in dsn_blocks(status) {
        let failed = match action.as_deref() {
            Some("failed") => true,
            Some(_) => false,
            None => class == Some('5'),
        };
        if failed {
            push_unique(&mut out, names);
        }
    }
    out
}

fn push_unique(out: &mut Vec<String>, names: impl IntoIterator<Item = String>) {
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
}

/// The outcome by the report's structure, status codes and wording.
fn outcome(p: &Parsed) -> Outcome {
    let blocks = dsn_blocks(&p.delivery_status);
    let actions: Vec<&str> = blocks.iter().filter_map(|b| b.1.as_deref()).collect();
    if actions.contains(&"failed") {
        return Outcome::Failed;
    }
    if actions.contains(&"delayed") {
        return Outcome::Delayed;
    }
    if !actions.is_empty()
        && actions
            .iter()
            .all(|a| matches!(*a, "delivered" | "relayed" | "expanded"))
    {
        return Outcome::Delivered;
    }
    let classes: Vec<char> = blocks.iter().filter_map(|b| b.2).collect();
    if classes.contains(&'5') {
        return Outcome::Failed;
    }
    if classes.contains(&'4') {
        return Outcome::Delayed;
    }
    if !classes.is_empty() && classes.iter().all(|c| *c == '2') {
        return Outcome::Delivered;
    }
    // No DSN fields: the text's codes and wording.
    let head = returned_cut(&p.text);
    let words = format!("{}\n{head}", p.subject);
    let delay = DELAY.is_match(&words) && !GAVE_UP.is_match(&words);
    let text_class = TEXT_STATUS
        .captures_iter(head)
        .filter_map(|c| c[1].chars().next())
        .collect::<Vec<_>>();
    if text_class.contains(&'5') {
        Outcome::Failed
    } else if delay || (text_class.contains(&'4') && !GAVE_UP.is_match(&words)) {
        Outcome::Delayed
    } else {
        Outcome::Failed
    }
}

/// The text above the returned mail.
fn returned_cut(text: &str) -> &str {
    // Look for the returned part only after the report's first line, so a
    // report that starts with a header-like line keeps its head.
    let skip = text.find('\n').map_or(text.len(), |i| i + 1);
    match RETURNED_START.find(&text[skip..]) {
        Some(m) => &text[..skip + m.start()],
        None => text,
    }
}

/// Failed recipients named in a plain-text report, other than ours, the
/// reporting daemon's and the excluded ones.
pub fn text_recipients(text: &str, exclude: &dyn Fn(&str) -> bool) -> Vec<String> {
    let head = returned_cut(text);
    let head = &head[..head.floor_char_boundary(head.len().min(32 * 1024))];
    let mut out = Vec::new();
    let keep = |a: &str| {
        let a = a.trim_end_matches('.').to_lowercase();
        (!exclude(&a) && !is_daemon(&a)).then_some(a)
    };
    push_unique(
        &mut out,
        LINE_ADDRESS
            .captures_iter(head)
            .filter_map(|c| keep(&c[1]))
            .take(50),
    );
    push_unique(
        &mut out,
        PHRASE_ADDRESS
            .captures_iter(head)
            .filter_map(|c| keep(&c[1]))
            .take(50),
    );
    out
}

/// Reads a delivery report.
pub fn bounce_info(p: &Parsed, markers: &Markers) -> BounceInfo {
    let status_code = STATUS
        .captures(&p.delivery_status)
        .map(|c| c[1].to_string());
    let diagnostic = DIAGNOSTIC
        .captures(&p.delivery_status)
        .map(|c| c[1].trim().chars().take(300).collect::<String>());
    let detail = match (status_code, diagnostic) {
        (Some(s), Some(d)) => Some(format!("{s} {d}")),
        (s, d) => s.or(d).or_else(|| text_detail(&p.text)),
    };
    let outcome = outcome(p);
    let message_id = bounced_id(p, markers);
    let outbox_id =
        p.to.iter()
            .chain(&p.cc)
            .find_map(|a| markers.bounce_address(&a.address))
            .or_else(|| {
                p.header_values("x-original-to")
                    .chain(p.header_values("delivered-to"))
                    .find_map(|a| markers.bounce_address(a))
            });
    let mut recipients = failed_recipients(&p.delivery_status);
    if recipients.is_empty() {
        recipients = p
            .header_values("x-failed-recipients")
            .flat_map(|v| v.split(','))
            .map(|a| a.trim().trim_matches(['<', '>']).to_lowercase())
            .filter(|a| a.contains('@'))
            .collect();
    }
    if recipients.is_empty() && outcome == Outcome::Failed {
        let from = p.from.address.as_str();
        let exclude = |a: &str| a == from || markers.is_support_address(a);
        recipients = text_recipients(&p.text, &exclude);
    }
    BounceInfo {
        message_id,
        outbox_id,
        outcome,
        detail,
        recipients,
    }
}

/// The first line of a plain-text report that carries a status code.
fn text_detail(text: &str) -> Option<String> {
    super::line_of_first_match(returned_cut(text), &TEXT_STATUS)
        .map(|line| line.chars().take(300).collect())
}

/// The bounced mail: one of ours named in the returned headers, the quoted
/// text or the report's own In-Reply-To/References; else the first returned
/// Message-ID, else the first quoted one.
fn bounced_id(p: &Parsed, markers: &Markers) -> Option<String> {
    let quoted: Vec<String> = p
        .quoted_message_ids
        .iter()
        .cloned()
        .chain(
            ANY_ID
                .captures_iter(&p.text)
                .take(20)
                .map(|c| c[1].to_string()),
        )
        .collect();
    let threaded = p.in_reply_to.iter().chain(&p.references);
    let ours = |id: &&String| markers.message_id(id).is_some();
    p.returned_message_ids
        .iter()
        .find(ours)
        .or_else(|| quoted.iter().find(ours))
        .or_else(|| threaded.clone().find(ours))
        .or_else(|| p.returned_message_ids.first())
        .or_else(|| quoted.first())
        .cloned()
}

static FEEDBACK_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(
        r"(?im)^\s*(original-rcpt-to|removal-recipient|feedback-type)\s*:\s*<?([^\s<>]+)>?",
    )
});

/// Reads a feedback report.
pub fn feedback_info(p: &Parsed, markers: &Markers) -> FeedbackInfo {
    let mut feedback_type = None;
    let mut recipients = Vec::new();
    for c in FEEDBACK_FIELD.captures_iter(&p.feedback_report).take(50) {
        let value = c[2].to_lowercase();
        if c[1].eq_ignore_ascii_case("feedback-type") {
            feedback_type.get_or_insert(value);
        } else if value.contains('@') {
            push_unique(&mut recipients, [value]);
        }
    }
    if recipients.is_empty() {
        push_unique(
            &mut recipients,
            p.returned_to
                .iter()
                .filter(|a| !markers.is_support_address(a))
                .cloned(),
        );
    }
    FeedbackInfo {
        feedback_type,
        recipients,
        message_id: bounced_id(p, markers),
    }
}

pub(crate) fn local_part(address: &str) -> &str {
    address.rsplit_once('@').map_or(address, |(l, _)| l)
}

/// MAILER-DAEMON and its kin, and Exchange's system mailbox
/// (`MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@`).
pub(crate) fn is_daemon(address: &str) -> bool {
    let l = local_part(address).to_ascii_lowercase();
    matches!(
        l.as_str(),
        "mailer-daemon" | "mail-daemon" | "mailerdaemon" | "mailer_daemon" | "mdaemon"
    ) || l
        .strip_prefix("microsoftexchange")
        .is_some_and(|rest| rest.len() >= 16 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
            // A queue that expired: failed, whatever the class.
            (
                "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; ola@slow.example\nAction: failed\nStatus: 4.4.7\n",
                &["ola@slow.example"],
            ),
            ("", &[]),
        ];
        for (status, expected) in table {
            assert_eq!(failed_recipients(status), *expected, "{status}");
        }
    }

    fn report(subject: &str, text: &str, status: &str) -> Parsed {
        Parsed {
            subject: subject.into(),
            text: text.into(),
            delivery_status: status.into(),
            ..Parsed::default()
        }
    }

    #[test]
    fn the_outcome_reads_action_first_then_the_code_then_the_words() {
        use Outcome::*;
        let dsn = |action: &str, status: &str| {
            format!(
                "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; a@b.example\nAction: {action}\nStatus: {status}\n"
            )
        };
        let table: &[(&str, &str, String, Outcome)] = &[
            ("Undeliverable", "", dsn("failed", "5.1.1"), Failed),
            ("Undeliverable", "", dsn("failed", "4.4.7"), Failed),
            ("Delayed Mail", "", dsn("delayed", "4.4.1"), Delayed),
            ("Delivered", "", dsn("delivered", "2.0.0"), Delivered),
            ("Relayed", "", dsn("relayed", "2.0.0"), Delivered),
            ("Expanded", "", dsn("expanded", "2.0.0"), Delivered),
            (
                "Report",
                "",
                "Final-Recipient: rfc822; a@b.example\nStatus: 5.0.0\n".into(),
                Failed,
            ),
            (
                "Report",
                "",
                "Final-Recipient: rfc822; a@b.example\nStatus: 4.0.0\n".into(),
                Delayed,
            ),
            // Plain text only.
            (
                "Warning: message delayed",
                "Your message has been delayed and will be retried for 4 more days.",
                String::new(),
                Delayed,
            ),
            (
                "failure notice",
                "I'm afraid I wasn't able to deliver your message. This is a permanent error; I've given up.",
                String::new(),
                Failed,
            ),
            (
                "Mail delivery failed",
                "550 5.1.1 User unknown",
                String::new(),
                Failed,
            ),
            (
                "Undelivered Mail",
                "delivery temporarily suspended: connection timed out. I gave up.",
                String::new(),
                Failed,
            ),
            (
                "Niedostarczona wiadomość",
                "Wiadomość nie została dostarczona. Serwer będzie ponawiał próby.",
                String::new(),
                Delayed,
            ),
            (
                "Returned mail",
                "The message could not be delivered.",
                String::new(),
                Failed,
            ),
        ];
        for (subject, text, status, expected) in table {
            assert_eq!(
                outcome(&report(subject, text, status)),
                *expected,
                "{subject} / {text} / {status}"
            );
        }
    }

    #[test]
    fn plain_text_reports_name_their_failed_recipients() {
        let none = |a: &str| a.starts_with("support");
        let table: &[(&str, &[&str])] = &[
            // Postfix text part.
            (
                "<nobody@nowhere.example>: host mx.nowhere.example said: 550 5.1.1 User unknown",
                &["nobody@nowhere.example"],
            ),
            // Exim.
            (
                "The following address(es) failed:\n\n  olga@gone.example\n    SMTP error from remote mail server after RCPT TO:<olga@gone.example>:",
                &["olga@gone.example"],
            ),
            // qmail.
            (
                "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n<jan@old.example>:\nSorry, no mailbox here by that name. (#5.1.1)\n",
                &["jan@old.example"],
            ),
            // Sendmail.
            (
                "----- The following addresses had permanent fatal errors -----\n<ewa@x.example>\n    (reason: 550 5.1.1 User unknown)\n",
                &["ewa@x.example"],
            ),
            ("ewa@x.example... User unknown\n", &["ewa@x.example"]),
            // Gmail.
            (
                "Address not found\n\nYour message wasn't delivered to kasia@firma.example because the address couldn't be found.",
                &["kasia@firma.example"],
            ),
            // Exchange / Office 365.
            (
                "Your message to piotr@contoso.example couldn't be delivered.\npiotr wasn't found at contoso.example.",
                &["piotr@contoso.example"],
            ),
            // Polish provider.
            (
                "Wiadomość nie została dostarczona do adam@onet.example.\nSerwer odpowiedział: 550 Skrzynka nie istnieje",
                &["adam@onet.example"],
            ),
            // The returned mail below the report names nobody.
            (
                "Delivery failed for anna@a.example\n\n------ This is a copy of the message, including all the headers. ------\nTo: other@b.example\n",
                &["anna@a.example"],
            ),
            // IMail, Exchange 2003, GMX shapes.
            (
                "Unknown user: adam@firma.example\n\nOriginal message follows.\n\nTo: adam@firma.example\n",
                &["adam@firma.example"],
            ),
            (
                "did not reach the following recipient(s):\n\nola@firma.example on Thu, 26 Nov 2026 10:00:00 +0100\n    The recipient name is not recognized\n",
                &["ola@firma.example"],
            ),
            (
                "The following address\nfailed:\n\n\"jan@firma.example\":\nSMTP error from remote server after RCPT command:\n",
                &["jan@firma.example"],
            ),
            (
                "Delivery failed.\n\n--- The header of the original message is following. ---\n\nTo: x@y.example\n",
                &[],
            ),
            // Our own address is never a failed recipient.
            (
                "Your message to support@smartstock.cloud could not be delivered",
                &[],
            ),
        ];
        for (text, expected) in table {
            assert_eq!(text_recipients(text, &none), *expected, "{text}");
        }
    }
}
