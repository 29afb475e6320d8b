//! `supportd tickets list|show`.
//!
//! JSON output of `tickets` (documented in the README) never depends on the
//! moment it is printed unless `--now` is given: working time left appears
//! only then.

use std::io::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::cli::Policy;
use crate::lang::Lang;
use crate::sla::local;
use crate::store::Store;
use crate::ticket::Ticket;

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

/// Everything `tickets show` prints of a ticket.
struct Shown {
    ticket: Ticket,
    messages: Vec<crate::store::MessageRow>,
    events: Vec<crate::store::EventRow>,
    outbox: Vec<crate::store::OutboxRow>,
    next_steps: Vec<Step>,
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
    let Some(ticket) = store.ticket(number)? else {
        return Ok(false);
    };
    let shown = Shown {
        ticket,
        messages: store.ticket_messages(number)?,
        events: store.events(number)?,
        outbox: store.ticket_outbox(number)?,
        next_steps: store
            .timers(number)?
            .into_iter()
            .map(|(step, at)| Step {
                step,
                due: crate::sla::format_utc(at),
            })
            .collect(),
    };
    if json {
        show_json(&shown, prefix, policy, now, out)?;
    } else {
        show_text(&shown, prefix, policy, out)?;
    }
    Ok(true)
}

fn show_json(
    s: &Shown,
    prefix: &str,
    policy: &Policy,
    now: Option<DateTime<Utc>>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
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
        ticket: to_json(&s.ticket, prefix, policy, now),
        next_steps: &s.next_steps,
        messages: &s.messages,
        events: &s.events,
        outgoing: &s.outbox,
    };
    serde_json::to_writer_pretty(&mut *out, &show)?;
    writeln!(out)?;
    Ok(())
}

fn show_text(s: &Shown, prefix: &str, policy: &Policy, out: &mut impl Write) -> anyhow::Result<()> {
    let (t, calendar) = (&s.ticket, &*policy.calendar);
    let (messages, events, outbox, next_steps) = (&s.messages, &s.events, &s.outbox, &s.next_steps);
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
    for s in next_steps {
        writeln!(out, "next     {} at {}", s.step, s.due)?;
    }
    timeline(messages, events, outbox, out)
}

/// One timeline: messages in, mails out and events, by time (all instants
/// are written YYYY-MM-DDTHH:MM:SSZ, so they sort as text).
fn timeline(
    messages: &[crate::store::MessageRow],
    events: &[crate::store::EventRow],
    outbox: &[crate::store::OutboxRow],
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut timeline: Vec<(String, u8, String)> = Vec::new();
    for m in messages {
        let line = format!(
            "in   {:<18} {}  <{}>",
            m.kind.as_deref().unwrap_or("-"),
            m.from.as_deref().unwrap_or("-"),
            m.message_id
        );
        timeline.push((m.received_at.clone(), 0, line));
    }
    for e in events {
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
    for m in outbox {
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
    Ok(())
}

/// List and show tickets.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Every ticket that is not closed (or those in --state), with deadlines
    /// in local time; with --now, the working time left.
    List {
        /// new, open, waiting, resolved, closed, or all.
        #[arg(long, value_name = "STATE")]
        state: Option<String>,
        /// Print a JSON array (field names in the README).
        #[arg(long)]
        json: bool,
    },
    /// One ticket with its messages and events.
    Show {
        /// The reference, e.g. SS-7.
        #[arg(value_name = "REF")]
        reference: String,
        /// Print JSON (field names in the README).
        #[arg(long)]
        json: bool,
    },
}

/// Lists or shows tickets (read-only).
pub fn run(g: &super::Global, cmd: &Command) -> super::Outcome {
    let (cfg, db) = g.config_and_db()?;
    let store = Store::open_read_only(&db)?;
    let prefix = &cfg.support.ticket_prefix;
    let policy = Policy::from_config(&cfg);
    let json = match cmd {
        Command::List { json, .. } | Command::Show { json, .. } => *json,
    };
    let mut out = super::terminal::for_text(std::io::stdout().lock(), json);
    match cmd {
        Command::List { state, json } => {
            if let Some(s) = state
                .as_deref()
                .filter(|s| *s != "all" && crate::ticket::State::parse(s).is_none())
            {
                return Err(anyhow::anyhow!(
                    "--state {s:?} is not one of new, open, waiting, resolved, closed, all"
                )
                .into());
            }
            // The table shows working time left as of now; JSON depends on
            // the moment only when --now says which.
            let now = if *json { g.now } else { Some(g.now()) };
            list(
                &store,
                state.as_deref(),
                *json,
                prefix,
                &policy,
                now,
                &mut out,
            )?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Show { reference, json } => {
            if show(&store, reference, *json, prefix, &policy, g.now, &mut out)? {
                Ok(std::process::ExitCode::SUCCESS)
            } else {
                Err(anyhow::anyhow!("no ticket {reference} in {}", db.display()).into())
            }
        }
    }
}
