//! The audit trail's vocabulary: every change to a ticket is an [`Event`],
//! stored by its stable name in the `events` table (`what`), with an
//! optional free-text detail. Names never change once released: tools and
//! old databases read them. Pure.

use std::fmt;

/// What happened to a ticket. The stable name is [`Event::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// A message opened the ticket (detail: the closed ticket it follows).
    Opened,
    /// Opened without an acknowledgement (list or bulk mail; detail: the rule).
    NoAcknowledgement,
    /// The response deadline passed while the ticket was new.
    Breached,
    /// A consultant accepted it (detail: `on time` or `late`).
    Accepted,
    /// Another consultant took it over (detail: the new owner).
    OwnerChanged,
    /// The severity changed (detail: the new severity).
    SeverityChanged,
    /// Waiting for the customer.
    Waiting,
    /// A solution was proposed.
    Resolved,
    /// Closed (detail: why, when not by a consultant).
    Closed,
    /// Back to work (detail: who reopened it).
    Reopened,
    /// An internal note.
    Note,
    /// Closed as spam.
    Spam,
    /// A customer or participant wrote.
    CustomerMessage,
    /// The customer answered while we waited: the silence chain stopped.
    CustomerAnswered,
    /// A customer message completed the report.
    ReportCompleted,
    /// Mail to a `#spam` ticket, kept without a word.
    StoredSilently,
    /// Non-human mail threaded to the ticket (detail: its kind).
    AutomaticMail,
    /// A message that belongs to no ticket (detail: its kind).
    StoredAlone,
    /// A consultant mail with bad tags (detail: the errors).
    CommandRejected,
    /// A consultant mail that failed the sender check.
    SenderCheckFailed,
    /// An automatic mail held back by the rate limit (detail: recipients).
    HeldByRateLimit,
    /// A feedback report named our mail (detail: type and reporter).
    FeedbackReport,
    /// A delivery report said our mail failed or is delayed.
    MailBounced,
    /// A delivery report said our mail was delivered.
    MailDelivered,
    /// A reminder before the deadline (detail: which).
    Reminder,
    /// The customer was asked again for the report's missing items.
    MissingInfoReminder,
    /// A follow-up of the silence chain (detail: 1 or 2).
    Followup,
    /// A follow-up failed: the customer cannot be reached.
    Unreachable,
    /// After downtime, response-clock steps were skipped (detail: which).
    CatchUp,
    /// A scheduled step could not be composed (detail: why).
    StepFailed,
    /// A scheduled customer mail was moved by the rate limit.
    RateLimited,
    /// Our server refused a mail for good, or the outbox gave up.
    MailFailed,
    /// Our server refused some recipients of a mail.
    MailPartlyRefused,
    /// Retention purged the ticket's raw messages.
    Retention,
    /// People joined the ticket (detail: their addresses).
    ParticipantAdded,
    /// A consultant took a participant off the ticket (detail: the address).
    ParticipantRemoved,
}

/// Every event with its stable name.
const NAMES: &[(Event, &str)] = &[
    (Event::Opened, "opened"),
    (Event::NoAcknowledgement, "no_acknowledgement"),
    (Event::Breached, "breached"),
    (Event::Accepted, "accepted"),
    (Event::OwnerChanged, "owner_changed"),
    (Event::SeverityChanged, "severity_changed"),
    (Event::Waiting, "waiting"),
    (Event::Resolved, "resolved"),
    (Event::Closed, "closed"),
    (Event::Reopened, "reopened"),
    (Event::Note, "note"),
    (Event::Spam, "spam"),
    (Event::CustomerMessage, "customer_message"),
    (Event::CustomerAnswered, "customer_answered"),
    (Event::ReportCompleted, "report_completed"),
    (Event::StoredSilently, "stored_silently"),
    (Event::AutomaticMail, "automatic_mail"),
    (Event::StoredAlone, "stored_alone"),
    (Event::CommandRejected, "command_rejected"),
    (Event::SenderCheckFailed, "sender_check_failed"),
    (Event::HeldByRateLimit, "held_by_rate_limit"),
    (Event::FeedbackReport, "feedback_report"),
    (Event::MailBounced, "mail_bounced"),
    (Event::MailDelivered, "mail_delivered"),
    (Event::Reminder, "reminder"),
    (Event::MissingInfoReminder, "missing_info_reminder"),
    (Event::Followup, "followup"),
    (Event::Unreachable, "unreachable"),
    (Event::CatchUp, "catch_up"),
    (Event::StepFailed, "step_failed"),
    (Event::RateLimited, "rate_limited"),
    (Event::MailFailed, "mail-failed"),
    (Event::MailPartlyRefused, "mail-partly-refused"),
    (Event::Retention, "retention"),
    (Event::ParticipantAdded, "participant_added"),
    (Event::ParticipantRemoved, "participant_removed"),
];

impl Event {
    /// The stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        NAMES
            .iter()
            .find(|(e, _)| *e == self)
            .map_or("unknown", |(_, n)| n)
    }

    /// The event with this stored name.
    pub fn parse(name: &str) -> Option<Event> {
        NAMES.iter().find(|(_, n)| *n == name).map(|(e, _)| *e)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who caused an event: an address, or supportd itself.
pub const SUPPORTD: &str = "supportd";

/// An event as the audit trail records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// An address, or [`SUPPORTD`].
    pub actor: String,
    /// What happened.
    pub what: Event,
    /// Details, e.g. the new severity.
    pub detail: Option<String>,
}

impl Record {
    /// An event caused by `actor`.
    pub fn new(actor: impl Into<String>, what: Event, detail: Option<String>) -> Record {
        Record {
            actor: actor.into(),
            what,
            detail,
        }
    }

    /// An event supportd caused itself.
    pub fn ours(what: Event, detail: Option<String>) -> Record {
        Record::new(SUPPORTD, what, detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for (e, name) in NAMES {
            assert!(seen.insert(*name), "{name} twice");
            assert_eq!(e.as_str(), *name);
            assert_eq!(Event::parse(name), Some(*e));
        }
        assert_eq!(Event::parse("no-such-event"), None);
    }
}
