//! The ticket lifecycle of design.md as pure functions: where an analysed
//! message goes ([`route`]), and what it does to a ticket ([`apply`]):
//! `(ticket, input, now) -> (ticket, effects)`.
//!
//! Must not: do I/O or read the clock. Effects are requests (a mail from a
//! template to an audience, a relay, an audit event, a timer) that the store
//! turns into rows in the same transaction as the ticket change.
//!
//! States: `new` (waiting for acceptance; the response clock runs) → `open`
//! (accepted) → `waiting` (for the customer) / `resolved` (solution proposed)
//! → `closed`. The first consultant action that reaches the customer
//! (`#accept`, a plain reply, `#needinfo`, `#waiting`, `#resolved`) is the
//! acceptance; its sender becomes the owner.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Duration, Utc};

use crate::lang::Lang;
use crate::mail::classify::Kind;
use crate::sla::Severity;

/// A ticket's state; stable codes for the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Waiting for a consultant's acceptance; the response clock runs.
    New,
    /// Accepted, being worked on.
    Open,
    /// Waiting for the customer; the silence clock runs.
    Waiting,
    /// A solution was proposed; the silence clock runs.
    Resolved,
    /// Closed.
    Closed,
}

impl State {
    /// The stable code.
    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Open => "open",
            State::Waiting => "waiting",
            State::Resolved => "resolved",
            State::Closed => "closed",
        }
    }

    /// The state with this code.
    pub fn parse(code: &str) -> Option<State> {
        [
            State::New,
            State::Open,
            State::Waiting,
            State::Resolved,
            State::Closed,
        ]
        .into_iter()
        .find(|s| s.as_str() == code)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Free and disposable mail domains (`free_mail_domains.txt`: its source
/// and licence are in its header), sorted for a binary search.
static FREE_MAIL: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    let mut v: Vec<&str> = include_str!("free_mail_domains.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    v.sort_unstable();
    v
});

/// Whether a domain is a free-mail provider's: its people are strangers
/// to each other.
pub fn is_free_mail(domain: &str) -> bool {
    FREE_MAIL
        .binary_search(&domain.to_ascii_lowercase().as_str())
        .is_ok()
}

fn domain(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

/// Who joins a ticket without being put on it (`[tickets] colleagues`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Colleagues {
    /// People at the requester's company domain (never a free-mail one).
    #[default]
    SameDomain,
    /// Nobody: only the requester and those put in To/Cc.
    None,
}

/// Whether two addresses are colleagues: the same domain, not a free-mail one.
pub fn colleagues(a: &str, b: &str) -> bool {
    let (da, db) = (domain(a), domain(b));
    !da.is_empty() && da.eq_ignore_ascii_case(db) && !is_free_mail(da)
}

/// A ticket as the lifecycle sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The N of SS-N.
    pub number: u64,
    /// Who asked.
    pub requester: String,
    /// Everyone who may join: requester, colleagues who wrote, addresses put in To/Cc.
    pub participants: BTreeSet<String>,
    /// Subject.
    pub subject: String,
    /// Severity.
    pub severity: Severity,
    /// State.
    pub state: State,
    /// The customer's language.
    pub language: Lang,
    /// When the request was received.
    pub received_at: DateTime<Utc>,
    /// Acceptance deadline.
    pub deadline_at: DateTime<Utc>,
    /// When it was accepted.
    pub accepted_at: Option<DateTime<Utc>>,
    /// The consultant whose action accepted it (or who took it over).
    pub owner: Option<String>,
    /// Report fields found so far in the customer's messages.
    pub fields_found: BTreeSet<String>,
    /// Closed as spam.
    pub spam: bool,
    /// A follow-up bounced: the customer cannot be reached.
    pub unreachable: bool,
    /// The response deadline passed while the ticket was new (escalated once).
    pub breached: bool,
    /// Follow-ups of the current silence chain sent (0, 1 or 2).
    pub followups_sent: u8,
    /// Start of the customer-silence clock (waiting/resolved).
    pub silence_since: Option<DateTime<Utc>>,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// The Message-ID (without brackets) every mail of the ticket refers
    /// to: its first message's; `None` before it has one.
    pub thread_root: Option<String>,
}

impl Ticket {
    /// The report items its severity requires that its customer messages
    /// have not given yet.
    pub fn missing_fields(&self) -> Vec<&'static str> {
        crate::mail::report::required(self.severity)
            .iter()
            .copied()
            .filter(|f| !self.fields_found.contains(*f))
            .collect()
    }

    /// The report items a missing-information reminder asks for: the
    /// required ones still missing, never the subject (it is asked for once).
    pub fn missing_to_remind(&self) -> Vec<&'static str> {
        let mut missing = self.missing_fields();
        missing.retain(|f| *f != "subject");
        missing
    }
}

/// Who a mail goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum To {
    /// The ticket's participants.
    Participants,
    /// Every consultant.
    Consultants,
    /// The owner, or every consultant when there is none.
    Owner,
    /// One consultant.
    Consultant(String),
    /// The escalation address (default: every consultant).
    Escalation,
}

/// Template names, as files are named (`templates/<lang>/<name>.txt`).
pub mod template {
    /// Acknowledgement of a new request.
    pub const ACK: &str = "acknowledgement";
    /// New ticket or customer message, to consultants.
    pub const NOTIFY: &str = "consultant-notification";
    /// What one consultant mail tells the customer: acceptance, severity,
    /// their words, a request for information, a change of state.
    pub const REPLY: &str = "consultant-reply";
    /// Ticket reopened by the customer, to the owner.
    pub const REOPENED: &str = "reopened";
    /// A new ticket linked to a closed one, to consultants.
    pub const LINKED: &str = "linked-new-ticket";
    /// A consultant's command failed.
    pub const COMMAND_ERROR: &str = "command-error";
    /// The response deadline passed.
    pub const ESCALATION: &str = "escalation";
    /// A message over the size limit, to its sender.
    pub const TOO_LARGE: &str = "message-too-large";
    /// A reminder before the response deadline, to consultants.
    pub const REMINDER: &str = "reminder";
    /// Reminder of the report's missing items, to the customer.
    pub const MISSING_INFO: &str = "missing-info-reminder";
    /// The customer completed the report, to consultants (replaces the
    /// notification of that customer message).
    pub const REPORT_COMPLETED: &str = "report-completed";
    /// First contact attempt after the customer's silence (clause 3).
    pub const FOLLOWUP_1: &str = "followup-1";
    /// Second contact attempt.
    pub const FOLLOWUP_2: &str = "followup-2";
    /// Closed as resolved after two unanswered attempts, to the customer.
    pub const CLOSURE: &str = "closure";
    /// The same closure, to the owner.
    pub const CLOSURE_NOTICE: &str = "closure-notice";
    /// A follow-up bounced: the customer cannot be reached, to the owner.
    pub const UNREACHABLE: &str = "customer-unreachable";
    /// Someone joined the ticket, to the requester.
    pub const PARTICIPANT_ADDED: &str = "participant-added";
    /// The morning digest, to each consultant.
    pub const DIGEST: &str = "digest";
    /// The monthly SLA report.
    pub const SLA_REPORT: &str = "sla-report";
}

/// Where an analysed message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A new ticket (with an acknowledgement unless `quiet`), linked to a
    /// closed one when `linked` is set.
    NewTicket {
        /// The closed ticket it follows, shown to consultants only.
        linked: Option<u64>,
        /// No acknowledgement (list and bulk mail).
        quiet: bool,
    },
    /// Applied to this ticket.
    Ticket(u64),
    /// Stored alone, touching no ticket (unthreaded automatic mail, a
    /// consultant mail that names no ticket).
    Alone,
}

/// What routing needs besides the message and its ticket.
#[derive(Debug, Clone, Copy)]
pub struct Membership<'a> {
    /// Consultant addresses.
    pub consultants: &'a [String],
    /// Who joins without being put on the ticket.
    pub colleagues: Colleagues,
    /// Days in which a customer message reopens a closed ticket.
    pub reopen_days: u32,
}

/// Decides where a message goes. `existing` is the ticket it threads to.
pub fn route(
    kind: Kind,
    from: &str,
    existing: Option<&Ticket>,
    m: &Membership<'_>,
    received_at: DateTime<Utc>,
) -> Route {
    let (consultants, reopen_days) = (m.consultants, m.reopen_days);
    match (kind, existing) {
        // Non-human mail never opens a ticket.
        (Kind::AutoReply | Kind::Bounce | Kind::OwnLoop | Kind::Feedback, Some(t)) => {
            Route::Ticket(t.number)
        }
        (Kind::AutoReply | Kind::Bounce | Kind::OwnLoop | Kind::Feedback, None) => Route::Alone,
        // Not mail at all: stored in quarantine, never on a ticket.
        (Kind::NotMail, _) => Route::Alone,
        // Consultants act on the ticket they name.
        (Kind::ConsultantCommand, Some(t)) => Route::Ticket(t.number),
        (Kind::ConsultantCommand, None) => Route::Alone,
        // List mail opens a ticket, quietly.
        (Kind::List, _) => Route::NewTicket {
            linked: None,
            quiet: true,
        },
        (Kind::New, _) | (Kind::Reply, None) => Route::NewTicket {
            linked: None,
            quiet: false,
        },
        (Kind::Reply, Some(t)) => {
            let member = t.participants.contains(from)
                || consultants.iter().any(|c| c == from)
                || m.colleagues == Colleagues::SameDomain && colleagues(from, &t.requester);
            if !member {
                // A stranger opens a ticket of their own, linked for consultants.
                return Route::NewTicket {
                    linked: Some(t.number),
                    quiet: false,
                };
            }
            match (t.state, t.closed_at) {
                (State::Closed, Some(closed))
                    if !t.spam && received_at - closed > Duration::days(reopen_days.into()) =>
                {
                    Route::NewTicket {
                        linked: Some(t.number),
                        quiet: false,
                    }
                }
                _ => Route::Ticket(t.number),
            }
        }
    }
}

pub mod compose;
pub mod decide;
pub mod desk;
pub mod event;
pub mod lifecycle;
pub mod limits;
pub mod schedule;
pub mod timer;

pub use event::{Event, Record};
pub use lifecycle::{Context, Effect, Input, Tell, apply};

#[cfg(test)]
mod tests;
