//! `supportd import PATH...` and `supportd tickets list|show`.
//!
//! Import reads .eml files, mbox files and Maildirs without changing them,
//! commits each message raw (step 1, in batches), then applies them (step 2)
//! and prints a summary. It queues no outgoing mail (deadlines already past
//! are simply recorded). A progress bar shows on a terminal.
//!
//! JSON output of `tickets` (documented in the README) never depends on the
//! moment it is printed unless `--now` is given: working time left appears
//! only then.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::cli::Policy;
use crate::ingest::{self, Summary};
use crate::lang::Lang;
use crate::sla::local;
use crate::source::files;
use crate::store::{Incoming, Store};
use crate::ticket::Ticket;

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Messages read from the inputs.
    pub read: u64,
    /// Messages that were already stored.
    pub duplicates: u64,
    /// Step 2's counts.
    pub applied: Summary,
}

/// Imports the inputs into the store: each message is stored and applied
/// in one transaction per chunk, the analysis on every core.
pub fn import(
    store: &mut Store,
    settings: &ingest::Settings<'_>,
    paths: &[PathBuf],
    now: DateTime<Utc>,
    progress: bool,
) -> anyhow::Result<ImportSummary> {
    let bar = progress.then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} importing {pos} messages [{elapsed}]",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar
    });
    // Every input opens before anything is stored: a wrong path stops the
    // import with nothing done.
    let mut inputs = Vec::new();
    for path in paths {
        let messages = files::open(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        inputs.push((path.clone(), messages));
    }
    let failed: std::sync::Mutex<Option<anyhow::Error>> = std::sync::Mutex::new(None);
    let mut messages = inputs.into_iter().flat_map(|(path, messages)| {
        let failed = &failed;
        messages.map_while(move |m| match m {
            Ok(m) => Some(Incoming {
                source_key: Some(m.source_key),
                raw: m.raw,
                received_at: m.received_at,
            }),
            Err(e) => {
                let mut slot = failed.lock().unwrap_or_else(|e| e.into_inner());
                slot.get_or_insert(anyhow::anyhow!("cannot read {}: {e}", path.display()));
                None
            }
        })
    });
    // One unreadable input stops the import (what came before it stays).
    let mut stopped = std::iter::from_fn(|| {
        if failed.lock().map_or(true, |f| f.is_some()) {
            return None;
        }
        messages.next()
    });
    let tick = |n: usize| {
        if let Some(bar) = &bar {
            bar.inc(n as u64);
        }
    };
    let run = ingest::pipeline(
        store,
        settings,
        now,
        ingest::Source::Incoming(&mut stopped),
        Some(&tick),
    )?;
    let mut summary = ImportSummary {
        read: run.read,
        duplicates: run.duplicates,
        applied: run.summary,
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(e) = failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    // A message that failed once is tried again, as the daemon would.
    if run.failures > 0 {
        summary
            .applied
            .add(&ingest::apply_pending(store, settings, now)?);
    }
    Ok(summary)
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = &self.applied;
        write!(
            f,
            "imported {} messages: {} new tickets, {} replies, {} commands applied, {} rejected, \
             {} auto-replies, {} delivery reports and {} feedback reports recorded, {} duplicates skipped, \
             {} quarantined ({} not mail)",
            self.read,
            a.new_tickets,
            a.replies,
            a.commands_applied,
            a.commands_rejected,
            a.auto_replies,
            a.bounces,
            a.feedback,
            self.duplicates,
            a.quarantined,
            a.not_mail
        )
    }
}

/// Whether progress should be drawn: only on a terminal.
pub fn progress_wanted() -> bool {
    std::io::stderr().is_terminal()
}

/// A scheduled step of a ticket.
#[derive(Debug, Serialize)]
pub struct Step {
    /// The step, e.g. `reminder-1`, `followup-2`.
    pub step: String,
    /// When it is due.
    pub due: String,
}

/// A ticket as `tickets list --json` and `show --json` print it.
#[derive(Debug, Serialize)]
pub struct TicketJson {
    /// Reference, e.g. `SS-7`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// State code.
    pub state: &'static str,
    /// Severity 1-5.
    pub severity: u8,
    /// Requester address.
    pub requester: String,
    /// Subject.
    pub subject: String,
    /// Received, `YYYY-MM-DDTHH:MM:SSZ`.
    pub received_at: String,
    /// Acceptance deadline.
    pub deadline: String,
    /// Accepted at.
    pub accepted_at: Option<String>,
    /// Owner.
    pub owner: Option<String>,
    /// Participants.
    pub participants: Vec<String>,
    /// Report fields found.
    pub fields_found: Vec<String>,
    /// Required fields still missing.
    pub missing: Vec<&'static str>,
    /// Working seconds left to the deadline; only with `--now`, while new.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_seconds_left: Option<i64>,
    /// The deadline passed while the ticket was new (escalated once).
    pub breached: bool,
    /// A follow-up bounced: the customer cannot be reached.
    pub unreachable: bool,
    /// Follow-ups of the current silence chain sent.
    pub followups_sent: u8,
    /// While new: when the ticket becomes at risk (the first reminder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_risk_from: Option<String>,
    /// Only with `--now`: new and past the first reminder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_risk: Option<bool>,
}

/// When a new ticket becomes at risk: the first reminder fraction of its
/// target (none when no reminders are configured).
pub fn at_risk_from(t: &Ticket, policy: &Policy) -> Option<DateTime<Utc>> {
    let first = *policy.sla.reminders().first()?;
    (t.state == crate::ticket::State::New)
        .then(|| {
            policy
                .sla
                .fraction_at(&policy.calendar, t.received_at, t.severity, first)
                .ok()
        })
        .flatten()
}

fn to_json(t: &Ticket, prefix: &str, policy: &Policy, now: Option<DateTime<Utc>>) -> TicketJson {
    let fmt = crate::sla::format_utc;
    let calendar = &*policy.calendar;
    let risk = at_risk_from(t, policy);
    TicketJson {
        reference: format!("{prefix}-{}", t.number),
        state: t.state.as_str(),
        severity: t.severity.number(),
        requester: t.requester.clone(),
        subject: t.subject.clone(),
        received_at: fmt(t.received_at),
        deadline: fmt(t.deadline_at),
        accepted_at: t.accepted_at.map(fmt),
        owner: t.owner.clone(),
        participants: t.participants.iter().cloned().collect(),
        fields_found: t.fields_found.iter().cloned().collect(),
        missing: t.missing_fields(),
        working_seconds_left: now
            .filter(|_| t.state == crate::ticket::State::New)
            .and_then(|n| calendar.working_seconds(n, t.deadline_at).ok()),
        breached: t.breached,
        unreachable: t.unreachable,
        followups_sent: t.followups_sent,
        at_risk_from: risk.map(fmt),
        at_risk: now.map(|n| risk.is_some_and(|r| n >= r)),
    }
}

/// `tickets list`: a table, or one JSON array.
pub fn list(
    store: &Store,
    state: Option<&str>,
    json: bool,
    prefix: &str,
    policy: &Policy,
    now: Option<DateTime<Utc>>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let calendar = &*policy.calendar;
    let mut rows = Vec::new();
    for n in store.ticket_numbers(state)? {
        if let Some(t) = store.ticket(n)? {
            rows.push(t);
        }
    }
    if json {
        let items: Vec<TicketJson> = rows
            .iter()
            .map(|t| to_json(t, prefix, policy, now))
            .collect();
        serde_json::to_writer_pretty(&mut *out, &items)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<10} {:<9} {:>3}  {:<32} {:<40} DEADLINE",
        "REF", "STATE", "SEV", "REQUESTER", "SUBJECT"
    )?;
    for t in &rows {
        let deadline = local::render_local(t.deadline_at, calendar.timezone(), Lang::En);
        let left = now
            .filter(|_| t.state == crate::ticket::State::New)
            .and_then(|n| calendar.working_seconds(n, t.deadline_at).ok())
            .map(|s| {
                let risk = now.is_some_and(|n| at_risk_from(t, policy).is_some_and(|r| n >= r));
                if s >= 0 && risk {
                    format!(
                        " ({} left, at risk)",
                        local::render_duration(s as u64, Lang::En)
                    )
                } else if s >= 0 {
                    format!(" ({} left)", local::render_duration(s as u64, Lang::En))
                } else {
                    format!(
                        " (overdue by {})",
                        local::render_duration(s.unsigned_abs(), Lang::En)
                    )
                }
            })
            .unwrap_or_default();
        let subject: String = t.subject.chars().take(40).collect();
        writeln!(
            out,
            "{:<10} {:<9} {:>3}  {:<32} {:<40} {deadline}{left}",
            format!("{prefix}-{}", t.number),
            t.state.as_str(),
            t.severity.number(),
            t.requester,
            subject
        )?;
    }
    Ok(())
}

/// `tickets show SS-N`: the ticket with its messages and events.
pub fn show(
    store: &Store,
    reference: &str,
    json: bool,
    prefix: &str,
    policy: &Policy,
    now: Option<DateTime<Utc>>,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    let calendar = &*policy.calendar;
    let number = reference
        .trim()
        .to_ascii_uppercase()
        .strip_prefix(&format!("{prefix}-"))
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{reference:?} is not a ticket reference; write it as {prefix}-N, e.g. {prefix}-7"
            )
        })?;
    let Some(t) = store.ticket(number)? else {
        return Ok(false);
    };
    let messages = store.ticket_messages(number)?;
    let events = store.events(number)?;
    let outbox = store.ticket_outbox(number)?;
    let next_steps: Vec<Step> = store
        .timers(number)?
        .into_iter()
        .map(|(step, at)| Step {
            step,
            due: crate::sla::format_utc(at),
        })
        .collect();
    if json {
        #[derive(Serialize)]
        struct Show<'a> {
            #[serde(flatten)]
            ticket: TicketJson,
            messages: &'a [crate::store::MessageRow],
            events: &'a [crate::store::EventRow],
            outgoing: &'a [crate::store::OutboxRow],
            /// The scheduler's timers: what happens next, and when.
            next_steps: &'a [Step],
        }
        let show = Show {
            ticket: to_json(&t, prefix, policy, now),
            next_steps: &next_steps,
            messages: &messages,
            events: &events,
            outgoing: &outbox,
        };
        serde_json::to_writer_pretty(&mut *out, &show)?;
        writeln!(out)?;
        return Ok(true);
    }
    let tz = calendar.timezone();
    writeln!(out, "{prefix}-{}  {}", t.number, t.subject)?;
    writeln!(
        out,
        "state {}, severity {}, requester {}",
        t.state, t.severity, t.requester
    )?;
    writeln!(
        out,
        "received {}",
        local::render_local(t.received_at, tz, Lang::En)
    )?;
    writeln!(
        out,
        "deadline {}",
        local::render_local(t.deadline_at, tz, Lang::En)
    )?;
    if let (Some(at), Some(owner)) = (t.accepted_at, &t.owner) {
        writeln!(
            out,
            "accepted {} by {owner}",
            local::render_local(at, tz, Lang::En)
        )?;
    }
    if t.breached {
        writeln!(out, "breached: the deadline passed before acceptance")?;
    }
    if t.unreachable {
        writeln!(
            out,
            "unreachable: a follow-up bounced; the follow-ups stopped"
        )?;
    }
    for s in &next_steps {
        writeln!(out, "next     {} at {}", s.step, s.due)?;
    }
    // One timeline: messages in, mails out and events, by time (all
    // instants are written YYYY-MM-DDTHH:MM:SSZ, so they sort as text).
    let mut timeline: Vec<(String, u8, String)> = Vec::new();
    for m in &messages {
        let line = format!(
            "in   {:<18} {}  <{}>",
            m.kind.as_deref().unwrap_or("-"),
            m.from.as_deref().unwrap_or("-"),
            m.message_id
        );
        timeline.push((m.received_at.clone(), 0, line));
    }
    for e in &events {
        let detail = e
            .detail
            .as_ref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        timeline.push((
            e.at.clone(),
            1,
            format!("     {:<18} {}{detail}", e.what, e.actor),
        ));
    }
    for m in &outbox {
        let line = format!(
            "out  {:<18} {} [{}]  <{}>",
            m.template,
            m.to.join(", "),
            m.state,
            m.message_id
        );
        timeline.push((m.created_at.clone(), 2, line));
    }
    timeline.sort();
    writeln!(out, "\ntimeline:")?;
    for (at, _, line) in timeline {
        writeln!(out, "  {at}  {line}")?;
    }
    Ok(true)
}
