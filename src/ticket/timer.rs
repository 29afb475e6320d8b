//! The timers of a ticket (pure): [`Step`], the one type a timer's kind
//! goes through (its code is what the `timers` table stores), what a
//! decision changes of them ([`TimerChange`]), what the outbox knows of a
//! follow-up ([`Attempt`]), and the keys that tie a step to its mails.

use chrono::{DateTime, Utc};

use super::Ticket;

/// A timer's step; the code is what the timers table stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// The n-th reminder fraction of the response target (1-based).
    Reminder(u8),
    /// The response deadline.
    Breach,
    /// The report still lacks required items some working days after the
    /// acknowledgement.
    MissingInfo,
    /// Follow-up 1 or 2 of the silence chain.
    FollowUp(u8),
    /// Closing as resolved after two unanswered follow-ups.
    Close,
    /// A follow-up failed (a bounce, or a refusal by our server).
    FollowUpFailed,
}

impl Step {
    /// The code in the timers table.
    pub fn code(self) -> String {
        match self {
            Step::Reminder(n) => format!("reminder-{n}"),
            Step::Breach => "breach".into(),
            Step::MissingInfo => "missing-info".into(),
            Step::FollowUp(n) => format!("followup-{n}"),
            Step::Close => "close".into(),
            Step::FollowUpFailed => "followup-failed".into(),
        }
    }

    /// The step with this code.
    pub fn parse(code: &str) -> Option<Step> {
        let number = |prefix: &str| code.strip_prefix(prefix).and_then(|n| n.parse().ok());
        match code {
            "breach" => Some(Step::Breach),
            "missing-info" => Some(Step::MissingInfo),
            "close" => Some(Step::Close),
            "followup-failed" => Some(Step::FollowUpFailed),
            _ => number("reminder-")
                .filter(|n| *n >= 1)
                .map(Step::Reminder)
                .or_else(|| {
                    number("followup-")
                        .filter(|n| matches!(n, 1 | 2))
                        .map(Step::FollowUp)
                }),
        }
    }

    /// A step of the response clock (reminders and the breach).
    pub fn is_response_clock(self) -> bool {
        matches!(self, Step::Reminder(_) | Step::Breach)
    }

    /// A step whose mail goes to the customer: it leaves only in working
    /// hours (never at night or on a holiday).
    pub fn reaches_customer(self) -> bool {
        matches!(self, Step::MissingInfo | Step::FollowUp(_) | Step::Close)
    }

    /// The follow-up whose outcome this step needs: follow-up 2 needs the
    /// first, closing needs the second.
    pub fn depends_on(self) -> Option<u8> {
        match self {
            Step::FollowUp(2) => Some(1),
            Step::Close => Some(2),
            _ => None,
        }
    }
}

/// What the outbox knows of a follow-up mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// No such mail (nothing to wait for).
    Unknown,
    /// Queued, not yet accepted by our server (or being retried).
    Pending,
    /// Accepted by our server at this instant, and no bounce named it.
    Sent(DateTime<Utc>),
    /// Refused, or a bounce named it: why.
    Failed(String),
}

/// How a decision changes a ticket's timers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimerChange {
    /// Remove every timer of the ticket first.
    pub clear: bool,
    /// Remove the response clock's timers (reminders, breach) first.
    pub clear_response: bool,
    /// Remove these timers first.
    pub remove: Vec<Step>,
    /// Remove timers of kinds this version does not know (by their code).
    pub remove_unknown: Vec<String>,
    /// Set (or move) these timers.
    pub set: Vec<(Step, DateTime<Utc>)>,
}

/// The stamp that makes a step's mail keys unique: per deadline for the
/// response clock, per silence chain for follow-ups.
pub fn stamp(t: &Ticket, step: Step) -> i64 {
    match step {
        Step::Reminder(_) | Step::Breach => t.deadline_at.timestamp(),
        Step::MissingInfo => t.received_at.timestamp(),
        Step::FollowUp(_) | Step::Close | Step::FollowUpFailed => {
            t.silence_since.map_or(0, |at| at.timestamp())
        }
    }
}

/// The outbox key of follow-up `n` of the ticket's current silence chain.
pub fn followup_key(t: &Ticket, n: u8, stamp: i64) -> String {
    format!("followup-{n}:t{}:{stamp}", t.number)
}
