//! The analysis as stored with each applied message (`messages.analysis`,
//! JSON): the decision and what it rests on, without the text, the evidence
//! and the attachment list, which are recomputed from the raw message when
//! needed (storing them would keep every body twice). The JSON paths the
//! store's queries read are the constants below, next to the struct that
//! writes them.

use serde::Serialize;

use crate::lang::Lang;
use crate::mail::{Analysis, Person, classify::Kind};
use crate::sla::Severity;

/// `json_extract` path of the classification rule.
pub const RULE: &str = "$.rule";
/// `json_extract` path of the requester's address.
pub const REQUESTER_ADDRESS: &str = "$.requester.address";
/// `json_extract` path of the requester's display name.
pub const REQUESTER_NAME: &str = "$.requester.name";
/// `json_extract` path of the decoded subject.
pub const SUBJECT: &str = "$.subject";

/// What is stored of an analysis.
#[derive(Debug, Serialize)]
pub struct StoredAnalysis<'a> {
    kind: Kind,
    rule: &'static str,
    ticket_ref: Option<&'a str>,
    thread_signal: Option<crate::mail::thread::Signal>,
    bounced_message_id: Option<&'a str>,
    bounced_outbox_id: Option<u64>,
    bounce_permanent: Option<bool>,
    bounced_recipients: &'a [String],
    language: Lang,
    severity: Severity,
    severity_source: crate::mail::severity::Source,
    occurrence_time: Option<&'a str>,
    present: Vec<&'static str>,
    missing: &'a [&'static str],
    commands: &'a [crate::mail::tags::Command],
    errors: &'a [crate::mail::tags::TagError],
    authenticated: Option<bool>,
    suppress_ack: bool,
    dmarc_fail: bool,
    requester: &'a Person,
    subject: &'a str,
    copied: &'a [String],
}

impl<'a> StoredAnalysis<'a> {
    /// What is stored of `a`.
    pub fn of(a: &'a Analysis) -> StoredAnalysis<'a> {
        StoredAnalysis {
            kind: a.kind,
            rule: a.rule,
            ticket_ref: a.ticket_ref.as_deref(),
            thread_signal: a.thread_signal,
            bounced_message_id: a.report.bounced_message_id.as_deref(),
            bounced_outbox_id: a.report.bounced_outbox_id,
            bounce_permanent: a.report.bounce_permanent,
            bounced_recipients: &a.report.bounced_recipients,
            language: a.language,
            severity: a.severity,
            severity_source: a.severity_source,
            occurrence_time: a.occurrence_time.as_deref(),
            present: crate::mail::present_fields(a),
            missing: &a.missing,
            commands: &a.commands,
            errors: &a.errors,
            authenticated: a.authenticated,
            suppress_ack: a.suppress_ack,
            dmarc_fail: a.dmarc_fail,
            requester: &a.requester,
            subject: &a.subject,
            copied: &a.copied,
        }
    }

    /// The JSON stored in `messages.analysis`.
    pub fn to_json(&self) -> String {
        // Sized for the usual 600-700 bytes at once: grown from serde_json's
        // 128 bytes, the buffer was copied three times per message.
        let mut out = Vec::with_capacity(1024);
        // Every field serialises infallibly (strings, numbers, enums), and
        // serde_json writes UTF-8.
        match serde_json::to_writer(&mut out, self) {
            Ok(()) => String::from_utf8(out).unwrap_or_else(|_| "{}".into()),
            Err(_) => "{}".into(),
        }
    }
}
