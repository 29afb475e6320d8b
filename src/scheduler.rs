//! The SLA scheduler: fires the timers that are due (design.md "Working time
//! and SLA arithmetic", contract clauses 3-5), as **read → decide → write**
//! per ticket: the due timers, the ticket and what the outbox knows of its
//! follow-ups are read from the indexed tables (never a scan of the
//! tickets); [`crate::ticket::schedule::decide_due`] decides (pure); the
//! change is written in one savepoint, batches of tickets in one
//! transaction, and logged once committed.
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

use crate::store::{self, Markers, Store};
use crate::ticket::Ticket;
use crate::ticket::compose::Sending;
use crate::ticket::schedule::{self, Attempt, Due, Fired, StepLog, StepRules};

pub use schedule::Summary;

/// What the scheduler needs besides the store.
pub struct Settings<'a> {
    /// Templates, addresses, rate limits.
    pub sending: Sending<'a>,
    /// Consultant addresses.
    pub consultants: &'a [String],
    /// The working-time calendar.
    pub calendar: &'a crate::sla::Calendar,
    /// Working seconds between follow-ups and before closing.
    pub attempt_gap_secs: u64,
    /// Days in which a customer's reply reopens a closed ticket.
    pub reopen_days: u32,
    /// Asked between batches: stop early (shutdown).
    pub stop: Option<&'a (dyn Fn() -> bool + Sync)>,
    /// Mail about the desk: the digest and the monthly reports.
    pub desk: Desk<'a>,
}

/// What mail about the desk is sent.
#[derive(Clone, Copy)]
pub struct Desk<'a> {
    /// A morning digest for each consultant.
    pub digest: bool,
    /// Monthly SLA reports.
    pub reports: &'a crate::config::Reports,
    /// Response targets.
    pub policy: &'a crate::sla::SlaPolicy,
}

/// Meta key of the last day a digest went out (`YYYY-MM-DD`).
pub const DIGEST_KEY: &str = "desk:digest-day";
/// Meta key of the last month whose report went out (`YYYY-MM`).
pub const REPORT_KEY: &str = "desk:report-month";

/// Tickets handled per transaction.
const BATCH: usize = 500;

/// The hour the rate limits count.
const LIMIT_WINDOW: Duration = Duration::hours(1);

/// Fires every timer due at `now`.
pub fn pass(store: &mut Store, s: &Settings<'_>, now: DateTime<Utc>) -> store::Result<Summary> {
    let mut summary = Summary::default();
    summary.mails += desk(store, s, now)?;
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
        let mut logs = Vec::new();
        let result = batch(store, s, now, &mut seen, &mut summary, &mut logs);
        match result.and_then(|more| store.commit_batch().map(|()| more)) {
            Ok(more) => {
                for (reference, log) in &logs {
                    emit(reference, log);
                }
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

/// Mail about the desk due at `now`: today's digest (working days, from
/// opening, once a day) and the reports of months not yet sent (from the
/// first working day's opening, each month once, caught up after
/// downtime). Each is remembered in `meta` in the transaction that queues
/// it; the outbox key makes a repeat impossible. Returns the mails queued.
fn desk(store: &mut Store, s: &Settings<'_>, now: DateTime<Utc>) -> store::Result<u64> {
    use crate::ticket::desk;
    let c = &s.sending.composer;
    let markers = Markers {
        support_address: c.support_address,
        prefix: c.prefix,
        key: c.key,
    };
    let mut queued = 0;
    let day = if s.desk.digest && !s.consultants.is_empty() {
        desk::digest_due(s.calendar, now, store.meta(DIGEST_KEY)?.as_deref())
    } else {
        None
    };
    let last_month = store.meta(REPORT_KEY)?;
    let reports = &s.desk.reports;
    let months = if reports.monthly_to.is_empty() && reports.customers.is_empty() {
        Vec::new()
    } else {
        desk::months_due(s.calendar, now, last_month.as_deref())
    };
    if day.is_none() && months.is_empty() {
        return Ok(0);
    }
    let mut mails = Vec::new();
    if let Some(day) = day {
        let tickets = store.desk_tickets()?;
        let rules = desk::DigestRules {
            calendar: s.calendar,
            policy: s.desk.policy,
            prefix: c.prefix,
        };
        for consultant in s.consultants {
            match desk::digest(c, consultant, &tickets, &rules, day, now) {
                Ok(Some(m)) => mails.push(m),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "cannot compose the digest"),
            }
        }
    }
    for month in &months {
        mails.extend(report_mails(store, s, *month, now)?);
    }
    store.begin_batch()?;
    let written = (|| {
        for m in &mails {
            let q = store::QueuedMail {
                mail: m,
                ticket: None,
                markers,
                held: false,
            };
            if store.queue_mail(&q, now)?.is_some() {
                queued += 1;
            }
        }
        if let Some(day) = day {
            store.set_meta(DIGEST_KEY, &day.to_string())?;
        }
        if let Some(last) = months.last() {
            store.set_meta(REPORT_KEY, &last.format("%Y-%m").to_string())?;
        }
        store.commit_batch()
    })();
    if let Err(e) = written {
        let _ = store.rollback_batch();
        return Err(e);
    }
    if let Some(day) = day {
        tracing::info!(%day, mails = mails.iter().filter(|m| m.template == crate::ticket::template::DIGEST).count(), "morning digest queued");
    }
    for m in &months {
        tracing::info!(month = %m.format("%Y-%m"), "monthly SLA reports queued");
    }
    Ok(queued)
}

/// The report mails of one month: all customers to `monthly-to`, each
/// configured customer its own.
fn report_mails(
    store: &Store,
    s: &Settings<'_>,
    month: chrono::NaiveDate,
    now: DateTime<Utc>,
) -> store::Result<Vec<crate::ticket::compose::Mail>> {
    use crate::ticket::compose::Audience;
    use crate::ticket::desk;
    let c = &s.sending.composer;
    let reports = &s.desk.reports;
    let mut out = Vec::new();
    let build = |customer: Option<&str>| -> store::Result<Option<crate::report::Report>> {
        let scope = crate::report::Scope {
            from: month,
            to: desk::month_end(month),
            customer,
            prefix: c.prefix,
            now,
        };
        let (start, end) = scope.range(s.calendar.timezone());
        let rows = store.report_rows(start, end, customer)?;
        Ok(
            crate::report::compute(&rows, &scope, s.calendar, s.desk.policy)
                .inspect_err(|e| tracing::error!(error = %e, "cannot compute the SLA report"))
                .ok(),
        )
    };
    let key = |who: &str| format!("report:{}:{who}", month.format("%Y-%m"));
    if !reports.monthly_to.is_empty()
        && let Some(r) = build(None)?
    {
        match desk::report_mail(
            c,
            &reports.monthly_to,
            key("all"),
            Audience::Consultant,
            &r,
            month,
            c.consultant_language,
        ) {
            Ok(m) => out.push(m),
            Err(e) => tracing::error!(error = %e, "cannot compose the SLA report"),
        }
    }
    for cr in &reports.customers {
        let Some(r) = build(Some(&cr.domain))? else {
            continue;
        };
        match desk::report_mail(
            c,
            &cr.to,
            key(&cr.domain),
            Audience::Customer,
            &r,
            month,
            cr.language,
        ) {
            Ok(m) => out.push(m),
            Err(e) => tracing::error!(error = %e, "cannot compose the SLA report"),
        }
    }
    Ok(out)
}

/// One batch of tickets with due timers; whether there were any.
fn batch(
    store: &mut Store,
    s: &Settings<'_>,
    now: DateTime<Utc>,
    seen: &mut HashSet<u64>,
    summary: &mut Summary,
    logs: &mut Vec<(String, StepLog)>,
) -> store::Result<bool> {
    let due = store.tickets_with_due_timers(now, BATCH)?;
    // Every due timer is removed or moved past `now`; a ticket seen again
    // in this pass would only loop.
    let fresh: Vec<u64> = due.into_iter().filter(|n| seen.insert(*n)).collect();
    for n in &fresh {
        let Some(due) = read(store, *n, now)? else {
            store.delete_timers(*n)?;
            continue;
        };
        let rules = StepRules {
            rules: schedule::Rules {
                calendar: s.calendar,
                attempt_gap_secs: s.attempt_gap_secs,
            },
            sending: &s.sending,
            consultants: s.consultants,
            reopen_days: s.reopen_days,
        };
        let fired = schedule::decide_due(due, &rules, now);
        write(store, s, &fired, now)?;
        summary.add(&fired.summary);
        let reference = format!("{}-{}", s.sending.composer.prefix, fired.ticket.number);
        logs.extend(fired.log.into_iter().map(|l| (reference.clone(), l)));
    }
    Ok(!fresh.is_empty())
}

/// What deciding a ticket's due timers needs (`None`: no such ticket).
fn read(store: &Store, number: u64, now: DateTime<Utc>) -> store::Result<Option<Due>> {
    let Some(ticket) = store.ticket(number)? else {
        return Ok(None);
    };
    let (steps, unknown) = store.due_timers(number, now)?;
    let followups = [attempt(store, &ticket, 1)?, attempt(store, &ticket, 2)?];
    let recent = store.recent_automatic(&ticket.participants, now - LIMIT_WINDOW)?;
    Ok(Some(Due {
        ticket,
        steps,
        unknown,
        followups,
        recent,
    }))
}

/// What the outbox knows of follow-up `n` of the ticket's current chain.
fn attempt(store: &Store, t: &Ticket, n: u8) -> store::Result<Attempt> {
    let stamp = schedule::stamp(t, schedule::Step::FollowUp(n));
    Ok(
        match store.mail_outcome(&schedule::followup_key(t, n, stamp))? {
            None => Attempt::Unknown,
            Some(m) => schedule::attempt_of(
                &m.state,
                m.sent_at,
                &m.recipients,
                &m.bounced_to,
                m.error,
                &t.requester,
            ),
        },
    )
}

/// Writes a ticket's fired steps in one savepoint.
fn write(store: &mut Store, s: &Settings<'_>, f: &Fired, now: DateTime<Utc>) -> store::Result<()> {
    let markers = Markers {
        support_address: s.sending.composer.support_address,
        prefix: s.sending.composer.prefix,
        key: s.sending.composer.key,
    };
    store.commit_fired(f, markers, now)
}

/// The log line of a committed step.
fn emit(reference: &str, log: &StepLog) {
    match log {
        StepLog::Breach => {
            tracing::warn!(ticket = %reference, "SLA breach: not accepted by the deadline; escalated")
        }
        StepLog::Unreachable => {
            tracing::warn!(ticket = %reference, "customer unreachable: a follow-up failed; the owner is told")
        }
        StepLog::Fired(step, mails) => {
            tracing::info!(ticket = %reference, step = %step.code(), mails, "SLA step")
        }
        StepLog::ComposeFailed(step, error) => {
            tracing::error!(ticket = %reference, step = %step.code(), %error, "cannot compose a scheduled mail")
        }
    }
}
