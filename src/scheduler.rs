//! The SLA scheduler: fires the timers that are due (design.md "Working time
//! and SLA arithmetic", contract clauses 3-5). What a step does is decided
//! by the pure [`crate::ticket::schedule`]; this module reads the due timers
//! from the indexed timers table (never a scan of the tickets), composes the
//! mails, and writes each ticket's change in one savepoint, batches of
//! tickets in one transaction.
//!
//! A pass reads and writes inside one `BEGIN IMMEDIATE` transaction per
//! batch, so a customer message applied at the same time by the ingest
//! worker is either seen whole or not at all: a follow-up never goes out
//! after the answer that cancels it was committed.
//!
//! Customer mail of the scheduler is never held back by the rate limit: a
//! step that would pass the limit is moved an hour on (to working hours)
//! and sent then.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::ingest::{Sending, over_limit_for, recipients};
use crate::lang::Lang;
use crate::outbox::{Audience, Mail};
use crate::sla::{Calendar, local};
use crate::store::{self, Change, QueuedMail, Store, TimerChange};
use crate::ticket::schedule::{self, Attempt, Outcome, Rules, Step};
use crate::ticket::{Effect, Ticket, To, template};

/// What the scheduler needs besides the store.
pub struct Settings<'a> {
    /// Templates, addresses, rate limits.
    pub sending: Sending<'a>,
    /// Consultant addresses.
    pub consultants: &'a [String],
    /// The working-time calendar.
    pub calendar: &'a Calendar,
    /// Working seconds between follow-ups and before closing.
    pub attempt_gap_secs: u64,
    /// Days in which a customer's reply reopens a closed ticket.
    pub reopen_days: u32,
    /// Asked between batches: stop early (shutdown).
    pub stop: Option<&'a (dyn Fn() -> bool + Sync)>,
}

/// Counts of one pass.
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

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SLA steps fired {} (mails {}), skipped {}, moved later {}, dropped {}",
            self.fired, self.mails, self.skipped, self.moved, self.dropped
        )
    }
}

/// Tickets handled per transaction.
const BATCH: usize = 500;

/// How far a customer mail that would pass the rate limit is moved.
const RATE_LIMIT_DELAY: Duration = Duration::hours(1);

/// Fires every timer due at `now`.
pub fn pass(store: &mut Store, s: &Settings<'_>, now: DateTime<Utc>) -> store::Result<Summary> {
    let mut summary = Summary::default();
    // Nothing due: one index lookup, no write transaction.
    if store.next_timer_due()?.is_none_or(|at| at > now) {
        return Ok(summary);
    }
    let mut seen: HashSet<u64> = HashSet::new();
    loop {
        if s.stop.is_some_and(|stop| stop()) {
            return Ok(summary);
        }
        store.begin_batch()?;
        let result = (|| {
            let due = store.tickets_with_due_timers(now, BATCH)?;
            // Every due timer is removed or moved past `now`; a ticket seen
            // again in this pass would only loop.
            let fresh: Vec<u64> = due.into_iter().filter(|n| seen.insert(*n)).collect();
            for n in &fresh {
                fire_ticket(store, s, *n, now, &mut summary)?;
            }
            Ok(!fresh.is_empty())
        })();
        match result {
            Ok(more) => {
                store.commit_batch()?;
                if !more {
                    return Ok(summary);
                }
            }
            Err(e) => {
                let _ = store.rollback_batch();
                return Err(e);
            }
        }
    }
}

/// The stamp that makes a step's mail keys unique: per deadline for the
/// response clock, per silence chain for follow-ups.
fn stamp(t: &Ticket, step: Step) -> i64 {
    match step {
        Step::Reminder(_) | Step::Breach => t.deadline_at.timestamp(),
        Step::MissingInfo => t.received_at.timestamp(),
        Step::FollowUp(_) | Step::Close | Step::FollowUpFailed => {
            t.silence_since.map_or(0, |at| at.timestamp())
        }
    }
}

/// The outbox key of a follow-up mail of a chain.
fn followup_key(t: &Ticket, n: u8, stamp: i64) -> String {
    format!("followup-{n}:t{}:{stamp}", t.number)
}

/// What the outbox knows of the follow-up a step depends on.
fn attempt(store: &Store, t: &Ticket, step: Step, stamp: i64) -> store::Result<Attempt> {
    let n = match step {
        Step::FollowUpFailed => t.followups_sent,
        _ => match step.depends_on() {
            Some(n) => n,
            None => return Ok(Attempt::Unknown),
        },
    };
    Ok(match store.mail_outcome(&followup_key(t, n, stamp))? {
        None => Attempt::Unknown,
        Some(m) => schedule::attempt_of(
            &m.state,
            m.sent_at,
            &m.recipients,
            &m.bounced_to,
            m.error,
            &t.requester,
        ),
    })
}

fn fire_ticket(
    store: &mut Store,
    s: &Settings<'_>,
    number: u64,
    now: DateTime<Utc>,
    summary: &mut Summary,
) -> store::Result<()> {
    let due = store.due_timers(number, now)?;
    let Some(mut t) = store.ticket(number)? else {
        store.delete_timers(number)?;
        return Ok(());
    };
    let mut timers = TimerChange::default();
    let mut steps = Vec::new();
    for (code, at) in due {
        match Step::parse(&code) {
            Some(step) => steps.push((step, at)),
            // A kind this version does not know: dropped, not looped on.
            None => timers.remove.push(code),
        }
    }
    let (fire, skip) = schedule::catch_up(&steps);
    let mut events: Vec<(String, &'static str, Option<String>)> = Vec::new();
    if !skip.is_empty() {
        summary.skipped += skip.len() as u64;
        events.push((
            "supportd".into(),
            "catch_up",
            Some(format!(
                "skipped {}",
                skip.iter().map(|s| s.code()).collect::<Vec<_>>().join(", ")
            )),
        ));
        timers.remove.extend(skip.iter().map(|s| s.code()));
    }
    let rules = Rules {
        calendar: s.calendar,
        attempt_gap_secs: s.attempt_gap_secs,
    };
    let mut mails: Vec<Mail> = Vec::new();
    for step in fire {
        let before = t.clone();
        let stamp = stamp(&t, step);
        let attempt = attempt(store, &t, step, stamp)?;
        match schedule::fire(&mut t, step, now, &attempt, &rules) {
            Outcome::Void => {
                summary.dropped += 1;
                timers.remove.push(step.code());
            }
            Outcome::Later(at) => {
                summary.moved += 1;
                timers.set.push((step.code(), at));
            }
            Outcome::Fired { effects, next } => {
                let composed = match compose(
                    s,
                    &before,
                    &t,
                    (step, stamp, &attempt),
                    &effects,
                    &next,
                    now,
                ) {
                    Ok(m) => m,
                    // Templates are checked when loaded; should one still
                    // fail, the step waits (and says why) instead of
                    // stopping the other tickets.
                    Err(e) => {
                        tracing::error!(ticket = t.number, step = %step.code(), error = %e, "cannot compose a scheduled mail");
                        t = before;
                        summary.moved += 1;
                        events.push((
                            "supportd".into(),
                            "step_failed",
                            Some(format!("{}: {e}", step.code())),
                        ));
                        timers.set.push((step.code(), now + RATE_LIMIT_DELAY));
                        continue;
                    }
                };
                let mut limited = false;
                for m in &composed {
                    if m.audience == Audience::Customer
                        && m.automatic
                        && over_limit_for(store, &s.sending, &m.to, now)?
                    {
                        limited = true;
                    }
                }
                if limited {
                    // Nothing happens now; the step is tried again later.
                    t = before;
                    summary.moved += 1;
                    let later = s
                        .calendar
                        .next_opening(now + RATE_LIMIT_DELAY)
                        .unwrap_or(now + RATE_LIMIT_DELAY);
                    events.push((
                        "supportd".into(),
                        "rate_limited",
                        Some(format!(
                            "{} moved to {}",
                            step.code(),
                            crate::sla::format_utc(later)
                        )),
                    ));
                    timers.set.push((step.code(), later));
                    continue;
                }
                summary.fired += 1;
                summary.mails += composed.len() as u64;
                let reference = format!("{}-{}", s.sending.composer.prefix, t.number);
                match step {
                    Step::Breach => {
                        tracing::warn!(ticket = %reference, "SLA breach: not accepted by the deadline; escalated")
                    }
                    _ if t.unreachable && !before.unreachable => {
                        tracing::warn!(ticket = %reference, "customer unreachable: a follow-up failed; the owner is told")
                    }
                    _ => {
                        tracing::info!(ticket = %reference, step = %step.code(), mails = composed.len(), "SLA step")
                    }
                }
                mails.extend(composed);
                timers.remove.push(step.code());
                for e in &effects {
                    match e {
                        Effect::Event { what, detail } => {
                            events.push(("supportd".into(), what, detail.clone()))
                        }
                        Effect::StopClocks => {
                            timers.clear = true;
                            timers.set.clear();
                        }
                        _ => {}
                    }
                }
                timers
                    .set
                    .extend(next.iter().map(|(step, at)| (step.code(), *at)));
            }
        }
    }
    let queued: Vec<QueuedMail<'_>> = mails
        .iter()
        .map(|m| QueuedMail {
            mail: m,
            ticket: Some(t.number),
            support_address: s.sending.composer.support_address,
            prefix: s.sending.composer.prefix,
            held: false,
        })
        .collect();
    store.commit_change(
        &Change {
            ticket: Some((&t, false)),
            events: &events,
            at: now,
            message: None,
            mails: &queued,
            timers: &timers,
        },
        now,
    )
}

/// The mails of a fired step. `before` is the ticket as the step found it
/// (the silence clock's start survives closing there).
fn compose(
    s: &Settings<'_>,
    before: &Ticket,
    t: &Ticket,
    (step, stamp, attempt): (Step, i64, &Attempt),
    effects: &[Effect],
    next: &[(Step, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> crate::templates::Result<Vec<Mail>> {
    let c = &s.sending.composer;
    let tz = s.calendar.timezone();
    let vars = |lang: Lang| {
        let when = |at: DateTime<Utc>| local::render_local(at, tz, lang);
        let next_at = |want: Step| {
            next.iter()
                .find(|(s, _)| *s == want)
                .map(|(_, at)| when(*at))
                .unwrap_or_default()
        };
        let left = s
            .calendar
            .working_seconds(now, t.deadline_at)
            .map(|secs| local::render_duration(secs.max(0) as u64, lang))
            .unwrap_or_default();
        // Why the customer could not be reached (customer-unreachable).
        let reason = match attempt {
            Attempt::Failed(r) => r.as_str(),
            _ => "",
        };
        json!({
            "working_time_left": left,
            "since": before.silence_since.map(when).unwrap_or_default(),
            "next_step": next_at(Step::FollowUp(2)),
            "close_on": next_at(Step::Close),
            "reopen_days": s.reopen_days,
            // The window ticket::route applies (whole days of 24 h).
            "reopen_until": when(now + Duration::days(s.reopen_days.into())),
            "attempt": before.followups_sent,
            "reason": reason,
        })
    };
    // Templates read the state the ticket had when the step fired (a
    // closure is about a ticket that was waiting or resolved).
    let view = if step == Step::Close { before } else { t };
    let missing = match step {
        Step::MissingInfo => schedule::missing_to_remind(t),
        _ => t.missing_fields(),
    };
    let consultant_vars = vars(c.consultant_language);
    let mut out = Vec::new();
    for e in effects {
        let Effect::Mail {
            template,
            to,
            automatic,
        } = e
        else {
            continue;
        };
        // A follow-up's key is what the next step looks it up by.
        let key = match *template {
            template::FOLLOWUP_1 => followup_key(t, 1, stamp),
            template::FOLLOWUP_2 => followup_key(t, 2, stamp),
            // Several steps send the same template (reminder 1 and 2).
            _ => format!("{template}:{}:t{}:{stamp}", step.code(), t.number),
        };
        if *to == To::Participants {
            out.push(c.to_customer(
                view,
                key,
                template,
                *automatic,
                vars(view.language),
                &missing,
                None,
            )?);
            continue;
        }
        for addr in recipients(to, t, s.consultants, s.sending.escalation) {
            out.push(c.to_consultant(
                view,
                &addr,
                format!("{key}:{addr}"),
                template,
                consultant_vars.clone(),
                &missing,
                None,
            )?);
        }
    }
    // Not an answer to a message (RFC 3834 section 5): generated by a timer.
    for m in &mut out {
        if m.automatic {
            m.headers
                .insert("Auto-Submitted".into(), "auto-generated".into());
        }
    }
    Ok(out)
}
