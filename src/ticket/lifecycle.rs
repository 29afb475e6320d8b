//! What one input does to a ticket (pure): `(ticket, input) -> effects`.
//! Customer messages, consultant commands (an exhaustive match on
//! [`Command`]) and automatic mail; the effects are requests (mails, relays,
//! audit events, clock changes) that [`super::decide`] turns into outbox
//! rows and timers.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::{Event, State, Ticket, To, template};
use crate::mail::classify::Kind;
use crate::mail::tags::Command;
use crate::sla::Severity;

/// What applying an input asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// An automatic mail from a template.
    Mail {
        /// Template name.
        template: &'static str,
        /// Audience.
        to: To,
        /// Whether it is automatic (rate-limited, `Auto-Submitted`).
        automatic: bool,
    },
    /// Something the consultant's mail tells the customer: composed with
    /// the consultant's words into one mail (`consultant-reply`).
    Tell(Tell),
    /// The message's text relayed (consultant → participants, customer → consultants).
    Relay {
        /// Audience.
        to: To,
    },
    /// An audit event.
    Event(Event, Option<String>),
    /// The silence chain starts (follow-ups are the scheduler's).
    StartSilenceClock,
    /// Timers of the response clock and silence chain stop.
    StopClocks,
}

/// What a consultant's mail tells the customer besides their words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tell {
    /// The ticket was accepted by this mail.
    Accepted,
    /// Its severity (and so its deadline) changed.
    SeverityChanged,
    /// The customer is asked for information (contract clause 4).
    NeedInfo,
}

/// An input to a ticket.
#[derive(Debug, Clone)]
pub enum Input<'a> {
    /// A customer or participant wrote.
    Customer {
        /// Sender.
        from: &'a str,
        /// Report fields present in this message.
        fields_present: &'a [&'a str],
        /// Addresses in To/Cc other than ours.
        added: &'a [String],
        /// Whether the sender may bring people onto the ticket (not when
        /// our server recorded a DMARC failure: the From is forged).
        may_add: bool,
        /// Received instant.
        at: DateTime<Utc>,
    },
    /// An authenticated consultant wrote.
    Consultant {
        /// Sender.
        from: &'a str,
        /// Valid commands (the caller rejected mails with errors).
        commands: &'a [Command],
        /// The message after the tags (relayed, or the note's text).
        text: &'a str,
        /// Addresses in To/Cc other than ours and consultants'.
        added: &'a [String],
        /// Received instant.
        at: DateTime<Utc>,
    },
    /// Non-human mail threaded to the ticket (stored as an event, never answered).
    Automatic {
        /// Its kind.
        kind: Kind,
    },
}

/// What the lifecycle needs besides the ticket.
pub struct Context<'a> {
    /// Recomputes the deadline for a severity from the received instant.
    pub deadline_for: &'a dyn Fn(Severity) -> DateTime<Utc>,
    /// Consultant addresses.
    pub consultants: &'a [String],
    /// People on one ticket besides the consultants.
    pub max_participants: usize,
    /// Whether our mail can be sent to an address (others never join).
    pub deliverable: &'a (dyn Fn(&str) -> bool + Sync),
}

fn event(what: Event, detail: Option<String>) -> Effect {
    Effect::Event(what, detail)
}

/// Accepts a `new` ticket: the acceptance instant is the consultant mail's.
fn accept(t: &mut Ticket, from: &str, at: DateTime<Utc>, fx: &mut Vec<Effect>) {
    if t.state == State::New {
        t.accepted_at = Some(at);
        t.owner = Some(from.to_string());
        t.state = State::Open;
        let on_time = at <= t.deadline_at;
        fx.push(event(
            Event::Accepted,
            Some(if on_time { "on time" } else { "late" }.into()),
        ));
        fx.push(Effect::Tell(Tell::Accepted));
    }
}

/// A new silence clock (or none): the follow-up count starts again and a
/// customer who could not be reached gets another chance.
pub(super) fn restart_silence(t: &mut Ticket, since: Option<DateTime<Utc>>) {
    t.silence_since = since;
    t.followups_sent = 0;
    t.unreachable = false;
}

/// Puts addresses on the ticket: never a consultant, never one our mail
/// cannot go to, never beyond the cap. The ones that joined.
fn add_participants(t: &mut Ticket, added: &[String], ctx: &Context<'_>) -> Vec<String> {
    let mut joined = Vec::new();
    for a in added {
        if t.participants.len() >= ctx.max_participants {
            break;
        }
        if !ctx.consultants.contains(a)
            && !a.is_empty()
            && (ctx.deliverable)(a)
            && t.participants.insert(a.clone())
        {
            joined.push(a.clone());
        }
    }
    joined
}

fn required_set(severity: Severity) -> BTreeSet<String> {
    crate::mail::report::required(severity)
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Applies one input to a ticket; returns the effects, in order.
pub fn apply(t: &mut Ticket, input: &Input<'_>, ctx: &Context<'_>) -> Vec<Effect> {
    let mut fx = Vec::new();
    match *input {
        // Out-of-office replies, bounces, our own loops: recorded, never
        // answered, never a change of state or of the silence clock.
        Input::Automatic { kind } => {
            fx.push(event(Event::AutomaticMail, Some(kind.as_str().into())));
        }
        // A #spam ticket swallows whatever comes: stored silently.
        Input::Customer { .. } if t.spam => {
            fx.push(event(Event::StoredSilently, None));
        }
        Input::Customer {
            from,
            fields_present,
            added,
            may_add,
            at: _,
        } => {
            if may_add {
                joins(t, from, added, ctx, &mut fx);
            }
            customer(t, from, fields_present, &mut fx);
        }
        Input::Consultant {
            from,
            commands,
            text,
            added,
            at,
        } => {
            let joined = add_participants(t, added, ctx);
            if !joined.is_empty() {
                fx.push(event(Event::ParticipantAdded, Some(joined.join(", "))));
            }
            for c in commands {
                command(t, c, from, text, at, ctx, &mut fx);
            }
            plain_reply(t, commands, !text.trim().is_empty(), from, at, &mut fx);
        }
    }
    fx
}

/// A customer's mail brings its sender (a colleague) and whom they copied
/// onto the ticket.
fn joins(t: &mut Ticket, from: &str, added: &[String], ctx: &Context<'_>, fx: &mut Vec<Effect>) {
    let mut joined = Vec::new();
    if !t.participants.contains(from) && t.participants.len() < ctx.max_participants {
        t.participants.insert(from.to_string());
        joined.push(from.to_string());
    }
    joined.extend(add_participants(t, added, ctx));
    if !joined.is_empty() {
        // The requester hears of anyone who joins their ticket by a
        // customer's mail: a stranger passing for a colleague is noticed.
        fx.push(event(Event::ParticipantAdded, Some(joined.join(", "))));
        fx.push(Effect::Mail {
            template: template::PARTICIPANT_ADDED,
            to: To::Participants,
            automatic: true,
        });
    }
}

/// A customer or participant wrote.
fn customer(t: &mut Ticket, from: &str, fields_present: &[&str], fx: &mut Vec<Effect>) {
    let missing_before = !t.fields_found.is_superset(&required_set(t.severity));
    t.fields_found
        .extend(fields_present.iter().map(|f| f.to_string()));
    let complete_now = t.fields_found.is_superset(&required_set(t.severity));
    fx.push(event(Event::CustomerMessage, None));
    match t.state {
        // Before acceptance every consultant hears of it.
        State::New => fx.push(Effect::Relay {
            to: To::Consultants,
        }),
        // Accepted: the owner.
        State::Open => fx.push(Effect::Relay { to: To::Owner }),
        // The customer answered: back to work, the silence chain stops.
        State::Waiting | State::Resolved => {
            t.state = State::Open;
            restart_silence(t, None);
            fx.push(Effect::StopClocks);
            fx.push(event(Event::CustomerAnswered, None));
            fx.push(Effect::Relay { to: To::Owner });
        }
        // Routed here only within the reopen window: reopens, same owner.
        State::Closed => {
            t.state = State::Open;
            t.closed_at = None;
            fx.push(event(Event::Reopened, Some(from.to_string())));
            fx.push(Effect::Mail {
                template: template::REOPENED,
                to: To::Owner,
                automatic: true,
            });
            fx.push(Effect::Relay { to: To::Owner });
        }
    }
    if missing_before && complete_now {
        fx.push(event(Event::ReportCompleted, None));
    }
}

/// One consultant command.
fn command(
    t: &mut Ticket,
    c: &Command,
    from: &str,
    text: &str,
    at: DateTime<Utc>,
    ctx: &Context<'_>,
    fx: &mut Vec<Effect>,
) {
    match c {
        // Ownership: the first acceptance, or a transfer.
        Command::Accept => {
            if t.state == State::New {
                accept(t, from, at, fx);
                fx.push(Effect::StopClocks);
            } else if t.owner.as_deref() != Some(from) {
                fx.push(event(Event::OwnerChanged, Some(from.to_string())));
                t.owner = Some(from.to_string());
            }
        }
        Command::Severity(sev) => severity(t, *sev, at, ctx, fx),
        // Waiting for the customer; needinfo also asks (clause 4).
        Command::Waiting | Command::NeedInfo | Command::Resolved => {
            await_customer(t, *c == Command::Resolved, from, at, fx);
            if *c == Command::NeedInfo {
                fx.push(Effect::Tell(Tell::NeedInfo));
            }
        }
        // Closed with the customer's agreement.
        Command::Close => {
            t.state = State::Closed;
            t.closed_at = Some(at);
            restart_silence(t, None);
            fx.push(event(Event::Closed, None));
            fx.push(Effect::StopClocks);
        }
        // Back to work.
        Command::Reopen => {
            t.state = State::Open;
            t.closed_at = None;
            restart_silence(t, None);
            fx.push(event(Event::Reopened, Some(from.to_string())));
            fx.push(Effect::StopClocks);
        }
        // Internal only; never leaves: the text on the tag's line and the
        // mail's message.
        Command::Note(line) => {
            let note = [line.as_deref().unwrap_or(""), text.trim()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("\n");
            fx.push(event(Event::Note, (!note.is_empty()).then_some(note)));
        }
        // A participant taken off the ticket (never the requester).
        Command::Remove(address) => {
            if *address != t.requester && t.participants.remove(address) {
                fx.push(event(Event::ParticipantRemoved, Some(address.clone())));
            }
        }
        // Opens a ticket only in a mail that names none (the analysis
        // refuses it in a reply about a ticket).
        Command::Open(..) => {}
        // Closed silently, nothing sent.
        Command::Spam => {
            t.state = State::Closed;
            t.spam = true;
            t.closed_at = Some(at);
            fx.push(event(Event::Spam, None));
            fx.push(Effect::StopClocks);
        }
    }
}

/// The ball is in the customer's court: waiting for them (`#waiting`,
/// `#needinfo`) or resolved; the response clocks stop and the silence
/// clock starts (clause 4).
fn await_customer(
    t: &mut Ticket,
    resolved: bool,
    from: &str,
    at: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    accept(t, from, at, fx);
    let (state, what) = if resolved {
        (State::Resolved, Event::Resolved)
    } else {
        (State::Waiting, Event::Waiting)
    };
    t.state = state;
    restart_silence(t, Some(at));
    fx.push(event(what, None));
    fx.push(Effect::StopClocks);
    fx.push(Effect::StartSilenceClock);
}

/// A new target from receipt; the customer is told; a deadline already past
/// on an unaccepted ticket escalates.
fn severity(
    t: &mut Ticket,
    sev: Severity,
    at: DateTime<Utc>,
    ctx: &Context<'_>,
    fx: &mut Vec<Effect>,
) {
    if sev == t.severity {
        return;
    }
    t.severity = sev;
    t.deadline_at = (ctx.deadline_for)(sev);
    fx.push(event(Event::SeverityChanged, Some(sev.to_string())));
    fx.push(Effect::Tell(Tell::SeverityChanged));
    // A deadline still ahead is a new clock; one already past escalates
    // once (not again for a breach already escalated).
    let past = t.deadline_at < at;
    if !past {
        t.breached = false;
    }
    if t.state == State::New && past && !t.breached {
        t.breached = true;
        fx.push(event(Event::Breached, None));
        fx.push(Effect::Mail {
            template: template::ESCALATION,
            to: To::Escalation,
            automatic: true,
        });
    }
}

/// The consultant's words: a plain reply accepts a new ticket and restarts
/// the silence clock in waiting/resolved; the text goes to the participants
/// (with `#needinfo` it is the question asked).
fn plain_reply(
    t: &mut Ticket,
    commands: &[Command],
    has_text: bool,
    from: &str,
    at: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    let note = commands.iter().any(|c| matches!(c, Command::Note(_)));
    let spam = commands.contains(&Command::Spam);
    if !has_text || note || spam {
        return;
    }
    let state_tag = commands.iter().any(|c| c.changes_state());
    if !state_tag {
        if t.state == State::New {
            accept(t, from, at, fx);
            fx.push(Effect::StopClocks);
        } else if matches!(t.state, State::Waiting | State::Resolved) {
            restart_silence(t, Some(at));
            fx.push(Effect::StartSilenceClock);
        }
    }
    fx.push(Effect::Relay {
        to: To::Participants,
    });
}
