//! What a due timer does to its ticket (pure): the scheduler's decisions for
//! the response clock (reminders, escalation at breach), the missing-
//! information reminder and the customer-silence chain of contract clause 3
//! (follow-up 1, follow-up 2, closed as resolved).
//!
//! Timers are rows `(ticket, step, due)`; [`fire`] turns one into effects
//! (mails, events) and the next timers, or moves it later, or drops it when
//! the ticket has moved on. [`catch_up`] picks, after downtime, which of a
//! ticket's due steps still make sense. Must not: do I/O or read the clock.

use chrono::{DateTime, Duration, Utc};

use super::compose::{Audience, Mail, Sending, StepMails};
use super::limits::Recent;
pub use super::timer::{Attempt, Step, TimerChange, followup_key, stamp};
use super::{Effect, Event, Record, State, Ticket, To, template};
use crate::sla::Calendar;

/// What a follow-up mail's outbox record says of the contact attempt: it
/// reached the customer when our server accepted it and no refusal or
/// delivery report named the requester. A report that names only other
/// recipients of the mail (a copied colleague) does not undo it; one that
/// names none of them (an alias expanded on the way) counts against the
/// requester, as does a refusal at send time.
pub fn attempt_of(
    state: &str,
    sent_at: Option<DateTime<Utc>>,
    recipients: &[String],
    bounced_to: &[String],
    error: Option<String>,
    requester: &str,
) -> Attempt {
    let failed = || Attempt::Failed(error.clone().unwrap_or_else(|| "refused".into()));
    let named = |a: &str| bounced_to.iter().any(|b| b == a);
    match (state, sent_at) {
        ("pending", _) => Attempt::Pending,
        (_, Some(_)) if named(requester) => failed(),
        ("sent", Some(at)) => Attempt::Sent(at),
        ("failed", Some(at))
            if bounced_to
                .iter()
                .any(|b| b != requester && recipients.iter().any(|r| r == b)) =>
        {
            Attempt::Sent(at)
        }
        ("sent" | "failed", _) => failed(),
        _ => Attempt::Unknown,
    }
}

/// The rules the steps follow.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// The working-time calendar.
    pub calendar: &'a Calendar,
    /// Working seconds between the follow-ups and before closing.
    pub attempt_gap_secs: u64,
}

/// How long to wait for a follow-up still in the outbox before looking again.
pub const PENDING_RECHECK: Duration = Duration::minutes(10);

/// What firing a timer decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done: apply the effects and set the next timers; this one is removed.
    Fired {
        /// Mails and events, in order. `StopClocks` removes every timer of
        /// the ticket.
        effects: Vec<Effect>,
        /// Timers to set.
        next: Vec<(Step, DateTime<Utc>)>,
    },
    /// Not yet: the timer moves to this instant.
    Later(DateTime<Utc>),
    /// Nothing to do any more (the ticket moved on): the timer is removed.
    Void,
}

/// After downtime a ticket may have several steps due: of the response
/// clock only the latest due is fired (not the 50 %, 80 % and breach mails
/// together); the others are skipped. Steps of other kinds all fire.
/// Returns (to fire, to skip), each in due order.
pub fn catch_up(due: &[(Step, DateTime<Utc>)]) -> (Vec<Step>, Vec<Step>) {
    let latest = due
        .iter()
        .filter(|(s, _)| s.is_response_clock())
        .max_by_key(|(s, at)| (*at, matches!(s, Step::Breach), *s))
        .map(|(s, _)| *s);
    let mut sorted = due.to_vec();
    sorted.sort_by_key(|(s, at)| (*at, *s));
    let (mut fire, mut skip) = (Vec::new(), Vec::new());
    for (s, _) in sorted {
        if s.is_response_clock() && Some(s) != latest {
            skip.push(s);
        } else {
            fire.push(s);
        }
    }
    (fire, skip)
}

fn event(what: Event, detail: Option<String>) -> Effect {
    Effect::Event(what, detail)
}

fn mail(template: &'static str, to: To) -> Effect {
    Effect::Mail {
        template,
        to,
        automatic: true,
    }
}

/// The instant `gap` working seconds after `from`, moved into working hours
/// (a span that ends exactly at closing time goes out at the next opening).
pub fn after_gap(rules: &Rules<'_>, from: DateTime<Utc>) -> DateTime<Utc> {
    rules
        .calendar
        .add_working_seconds(from, rules.attempt_gap_secs)
        .and_then(|at| rules.calendar.next_opening(at))
        .unwrap_or(from + Duration::days(3))
}

/// Whether the silence chain is running on this ticket.
fn chain_running(t: &Ticket) -> bool {
    matches!(t.state, State::Waiting | State::Resolved)
        && !t.unreachable
        && !t.spam
        && t.silence_since.is_some()
}

/// Marks the customer unreachable: the chain stops, the owner is told, the
/// ticket keeps its state until a consultant acts.
fn unreachable(t: &mut Ticket, attempt: u8, reason: &str) -> Outcome {
    t.unreachable = true;
    Outcome::Fired {
        effects: vec![
            event(
                Event::Unreachable,
                Some(format!("follow-up {attempt} failed: {reason}")),
            ),
            mail(template::UNREACHABLE, To::Owner),
            Effect::StopClocks,
        ],
        next: Vec::new(),
    }
}

/// Fires one due step of a ticket at `now`. `attempt` is what the outbox
/// knows of the follow-up the step depends on ([`Step::depends_on`]; for
/// [`Step::FollowUpFailed`], of the latest follow-up sent).
pub fn fire(
    t: &mut Ticket,
    step: Step,
    now: DateTime<Utc>,
    attempt: &Attempt,
    rules: &Rules<'_>,
) -> Outcome {
    // Customer mail leaves in working hours only.
    let working = rules.calendar.is_working_instant(now).unwrap_or(true);
    if step.reaches_customer() && !working {
        let relevant = match step {
            Step::MissingInfo => t.state == State::New,
            _ => chain_running(t),
        };
        return match rules.calendar.next_opening(now) {
            Ok(at) if relevant => Outcome::Later(at),
            _ if relevant => Outcome::Later(now + Duration::hours(1)),
            _ => Outcome::Void,
        };
    }
    match step {
        Step::Reminder(_) | Step::Breach | Step::MissingInfo => response_clock(t, step, now),
        Step::FollowUp(_) | Step::Close if !chain_running(t) => Outcome::Void,
        Step::FollowUp(1) => {
            if t.followups_sent != 0 {
                return Outcome::Void;
            }
            t.followups_sent = 1;
            fired(
                vec![
                    event(Event::Followup, Some("1".into())),
                    mail(template::FOLLOWUP_1, To::Participants),
                ],
                vec![(Step::FollowUp(2), after_gap(rules, now))],
            )
        }
        Step::FollowUp(_) | Step::Close => later_attempt(t, step, now, attempt, rules),
        Step::FollowUpFailed => match attempt {
            Attempt::Failed(reason) if chain_running(t) && t.followups_sent > 0 => {
                unreachable(t, t.followups_sent, reason)
            }
            _ => Outcome::Void,
        },
    }
}

fn fired(effects: Vec<Effect>, next: Vec<(Step, DateTime<Utc>)>) -> Outcome {
    Outcome::Fired { effects, next }
}

/// Reminders, the breach and the missing-information reminder: only while
/// the ticket waits for acceptance.
fn response_clock(t: &mut Ticket, step: Step, now: DateTime<Utc>) -> Outcome {
    if t.state != State::New {
        return Outcome::Void;
    }
    match step {
        Step::Reminder(n) => fired(
            vec![
                event(Event::Reminder, Some(format!("reminder {n}"))),
                mail(template::REMINDER, To::Consultants),
            ],
            Vec::new(),
        ),
        Step::Breach if !t.breached => {
            t.breached = true;
            fired(
                vec![
                    event(Event::Breached, None),
                    mail(template::ESCALATION, To::Escalation),
                ],
                Vec::new(),
            )
        }
        Step::MissingInfo => {
            let missing = t.missing_to_remind();
            // A customer we kept waiting past the contract's deadline is not
            // asked for more details (the escalation is what is due).
            if t.spam || missing.is_empty() || t.breached || now >= t.deadline_at {
                return Outcome::Void;
            }
            fired(
                vec![
                    event(Event::MissingInfoReminder, Some(missing.join(", "))),
                    mail(template::MISSING_INFO, To::Participants),
                ],
                Vec::new(),
            )
        }
        _ => Outcome::Void,
    }
}

/// Follow-up 2 and the closing: each interval counts from the actual send
/// of the previous attempt, which counts only if our server accepted it and
/// no bounce named it before now.
fn later_attempt(
    t: &mut Ticket,
    step: Step,
    now: DateTime<Utc>,
    attempt: &Attempt,
    rules: &Rules<'_>,
) -> Outcome {
    let previous = step.depends_on().unwrap_or(1);
    if t.followups_sent != previous {
        return Outcome::Void;
    }
    match attempt {
        Attempt::Failed(reason) => return unreachable(t, previous, reason),
        Attempt::Pending => return Outcome::Later(now + PENDING_RECHECK),
        Attempt::Sent(at) => {
            let due = after_gap(rules, *at);
            if due > now {
                return Outcome::Later(due);
            }
        }
        Attempt::Unknown => {}
    }
    if step == Step::Close {
        t.state = State::Closed;
        t.closed_at = Some(now);
        super::lifecycle::restart_silence(t, None);
        return fired(
            vec![
                event(
                    Event::Closed,
                    Some("resolved: no answer to two follow-ups".into()),
                ),
                mail(template::CLOSURE, To::Participants),
                mail(template::CLOSURE_NOTICE, To::Owner),
                Effect::StopClocks,
            ],
            Vec::new(),
        );
    }
    t.followups_sent = 2;
    fired(
        vec![
            event(Event::Followup, Some("2".into())),
            mail(template::FOLLOWUP_2, To::Participants),
        ],
        vec![(Step::Close, after_gap(rules, now))],
    )
}

/// How far a customer mail that would pass the rate limit is moved.
pub const RATE_LIMIT_DELAY: Duration = Duration::hours(1);

/// What the store knew of a ticket with due timers.
#[derive(Debug, Clone)]
pub struct Due {
    /// The ticket.
    pub ticket: Ticket,
    /// Its timers due now, earliest first.
    pub steps: Vec<(Step, DateTime<Utc>)>,
    /// Due timers of kinds this version does not know (their codes).
    pub unknown: Vec<String>,
    /// What the outbox knows of follow-up 1 and 2 of the current chain.
    pub followups: [Attempt; 2],
    /// Automatic mail in the past hour to the ticket's participants.
    pub recent: Recent,
}

/// What the steps need besides the ticket.
pub struct StepRules<'a> {
    /// Calendar and follow-up gap.
    pub rules: Rules<'a>,
    /// Templates, addresses and the rate limits.
    pub sending: &'a Sending<'a>,
    /// Consultant addresses.
    pub consultants: &'a [String],
    /// Days in which a customer's reply reopens a closed ticket.
    pub reopen_days: u32,
}

/// Counts of a scheduler pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Steps fired (mails queued, events recorded).
    pub fired: u64,
    /// Mails queued.
    pub mails: u64,
    /// Response-clock steps skipped in a catch-up (a later one fired).
    pub skipped: u64,
    /// Steps moved later (working hours, a follow-up still in the outbox,
    /// the rate limit).
    pub moved: u64,
    /// Timers dropped because the ticket moved on.
    pub dropped: u64,
}

impl Summary {
    /// Adds another summary's counts.
    pub fn add(&mut self, o: &Summary) {
        self.fired += o.fired;
        self.mails += o.mails;
        self.skipped += o.skipped;
        self.moved += o.moved;
        self.dropped += o.dropped;
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SLA steps fired {} (mails {}), skipped {}, moved later {}, dropped {}",
            self.fired, self.mails, self.skipped, self.moved, self.dropped
        )
    }
}

/// A line for the log once the change is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepLog {
    /// The deadline passed unaccepted: escalated.
    Breach,
    /// A follow-up failed: the owner is told.
    Unreachable,
    /// Another step fired with this many mails.
    Fired(Step, usize),
    /// A step's mail could not be composed; it waits.
    ComposeFailed(Step, String),
}

/// Everything firing a ticket's due timers changes, written in one
/// savepoint.
#[derive(Debug, Clone)]
pub struct Fired {
    /// The ticket after the steps.
    pub ticket: Ticket,
    /// Audit events.
    pub events: Vec<Record>,
    /// Mails to queue.
    pub mails: Vec<Mail>,
    /// Timer changes.
    pub timers: TimerChange,
    /// What it adds to the pass's counts.
    pub summary: Summary,
    /// Lines to log after the commit.
    pub log: Vec<StepLog>,
}

/// Fires a ticket's due timers at `now` (pure): catch-up first, then each
/// step in due order; a step whose customer mail would pass the rate limit
/// is moved an hour on (never dropped).
pub fn decide_due(due: Due, r: &StepRules<'_>, now: DateTime<Utc>) -> Fired {
    let mut f = Fired {
        ticket: due.ticket,
        events: Vec::new(),
        mails: Vec::new(),
        timers: TimerChange {
            remove_unknown: due.unknown,
            ..TimerChange::default()
        },
        summary: Summary::default(),
        log: Vec::new(),
    };
    let (fire_now, skip) = catch_up(&due.steps);
    if !skip.is_empty() {
        f.summary.skipped += skip.len() as u64;
        f.events.push(Record::ours(
            Event::CatchUp,
            Some(format!(
                "skipped {}",
                skip.iter().map(|s| s.code()).collect::<Vec<_>>().join(", ")
            )),
        ));
        f.timers.remove.extend(skip);
    }
    let mut recent = due.recent;
    for step in fire_now {
        fire_one(&mut f, step, &due.followups, &mut recent, r, now);
    }
    f
}

/// What the outbox knows of the follow-up a step depends on.
fn attempt_for(t: &Ticket, step: Step, followups: &[Attempt; 2]) -> Attempt {
    let n = match step {
        Step::FollowUpFailed => t.followups_sent,
        _ => step.depends_on().unwrap_or(0),
    };
    match n {
        1 | 2 => followups[usize::from(n) - 1].clone(),
        _ => Attempt::Unknown,
    }
}

/// Fires one step of the ticket in `f`.
fn fire_one(
    f: &mut Fired,
    step: Step,
    followups: &[Attempt; 2],
    recent: &mut Recent,
    r: &StepRules<'_>,
    now: DateTime<Utc>,
) {
    let before = f.ticket.clone();
    let stamp = stamp(&f.ticket, step);
    let attempt = attempt_for(&f.ticket, step, followups);
    let (effects, next) = match fire(&mut f.ticket, step, now, &attempt, &r.rules) {
        Outcome::Void => {
            f.summary.dropped += 1;
            f.timers.remove.push(step);
            return;
        }
        Outcome::Later(at) => {
            f.summary.moved += 1;
            f.timers.set.push((step, at));
            return;
        }
        Outcome::Fired { effects, next } => (effects, next),
    };
    let plan = StepMails {
        before: &before,
        after: &f.ticket,
        step,
        stamp,
        attempt: &attempt,
        effects: &effects,
        next: &next,
        reopen_days: r.reopen_days,
        now,
    };
    let composed = match super::compose::step_mails(r.sending, r.consultants, &plan) {
        Ok(m) => m,
        // Templates are checked when loaded; should one still fail, the
        // step waits (and says why) instead of stopping the other tickets.
        Err(e) => {
            f.log.push(StepLog::ComposeFailed(step, e.to_string()));
            let detail = format!("{}: {e}", step.code());
            return postpone(
                f,
                before,
                step,
                now + RATE_LIMIT_DELAY,
                Event::StepFailed,
                detail,
            );
        }
    };
    let limited = composed.iter().any(|m| {
        m.audience == Audience::Customer && m.automatic && recent.over(&r.sending.limits, &m.to)
    });
    if limited {
        // Nothing happens now; the step is tried again later.
        let later = r
            .rules
            .calendar
            .next_opening(now + RATE_LIMIT_DELAY)
            .unwrap_or(now + RATE_LIMIT_DELAY);
        let detail = format!("{} moved to {}", step.code(), crate::sla::format_utc(later));
        return postpone(f, before, step, later, Event::RateLimited, detail);
    }
    for m in composed
        .iter()
        .filter(|m| m.audience == Audience::Customer && m.automatic)
    {
        recent.count(&m.to);
    }
    record_fired(f, before.unreachable, step, composed, &effects, next);
}

/// A step that went out: its mails, events and next timers join the
/// ticket's decision, and the pass counts it.
fn record_fired(
    f: &mut Fired,
    was_unreachable: bool,
    step: Step,
    composed: Vec<Mail>,
    effects: &[Effect],
    next: Vec<(Step, DateTime<Utc>)>,
) {
    f.summary.fired += 1;
    f.summary.mails += composed.len() as u64;
    f.log.push(match step {
        Step::Breach => StepLog::Breach,
        _ if f.ticket.unreachable && !was_unreachable => StepLog::Unreachable,
        _ => StepLog::Fired(step, composed.len()),
    });
    f.mails.extend(composed);
    f.timers.remove.push(step);
    for e in effects {
        match e {
            Effect::Event(what, detail) => f.events.push(Record::ours(*what, detail.clone())),
            Effect::StopClocks => {
                f.timers.clear = true;
                f.timers.set.clear();
            }
            _ => {}
        }
    }
    f.timers.set.extend(next);
}

/// A step that could not go out now: the ticket stays as it was, the step
/// waits until `at`, and the audit trail says why.
fn postpone(
    f: &mut Fired,
    before: Ticket,
    step: Step,
    at: DateTime<Utc>,
    what: Event,
    detail: String,
) {
    f.ticket = before;
    f.summary.moved += 1;
    f.events.push(Record::ours(what, Some(detail)));
    f.timers.set.push((step, at));
}

#[cfg(test)]
mod tests;
