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
use crate::mail::clean::one_line;
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
    (t.state == crate::ticket::State::New)
        .then(|| {
            policy
                .sla
                .at_risk_from(&policy.calendar, t.received_at, t.severity)
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

/// Which tickets `tickets list` prints.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Filter {
    /// new, open, waiting, resolved, closed, or all (default: all but closed).
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// Only tickets this consultant owns ("none": not yet owned).
    #[arg(long, value_name = "ADDRESS")]
    pub owner: Option<String>,
    /// Only tickets of this requester.
    #[arg(long, value_name = "ADDRESS")]
    pub requester: Option<String>,
    /// Only tickets of requesters at this domain (a customer).
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// Only tickets of this severity (1-5).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=5))]
    pub severity: Option<u8>,
    /// Only tickets whose subject, requester or messages contain this text
    /// (case-insensitive).
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
}

impl Filter {
    fn keeps(&self, t: &Ticket, found: Option<&std::collections::HashSet<u64>>) -> bool {
        let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
        let owner = match self.owner.as_deref() {
            None => true,
            Some("none") => t.owner.is_none(),
            Some(o) => t.owner.as_deref().is_some_and(|x| same(x, o)),
        };
        let domain = self.domain.as_deref().is_none_or(|d| {
            same(
                crate::ticket::limits::domain_of(&t.requester),
                d.trim_start_matches('@'),
            )
        });
        owner
            && domain
            && self
                .requester
                .as_deref()
                .is_none_or(|r| same(&t.requester, r))
            && self.severity.is_none_or(|s| t.severity.number() == s)
            && self.search.as_deref().is_none_or(|q| {
                let q = q.to_lowercase();
                t.subject.to_lowercase().contains(&q)
                    || t.requester.to_lowercase().contains(&q)
                    || found.is_some_and(|f| f.contains(&t.number))
            })
    }
}

/// `tickets list`: a table, or one JSON array.
pub fn list(
    store: &Store,
    filter: &Filter,
    json: bool,
    prefix: &str,
    policy: &Policy,
    now: Option<DateTime<Utc>>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let calendar = &*policy.calendar;
    let found = match filter.search.as_deref() {
        Some(q) => Some(store.tickets_mentioning(q)?),
        None => None,
    };
    let mut rows = Vec::new();
    for n in store.ticket_numbers(filter.state.as_deref())? {
        if let Some(t) = store.ticket(n)?
            && filter.keeps(&t, found.as_ref())
        {
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
    // Columns fit the terminal: the subject takes what the others leave;
    // narrow terminals get narrower address columns.
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(160)
        .max(80);
    let (owner_w, requester_w) = if width >= 140 { (24, 28) } else { (16, 22) };
    // REF STATE SEV, the addresses, the deadline (16) and LEFT (8).
    let fixed = 10 + 9 + 3 + 2 + owner_w + requester_w + 2 + 16 + 2 + 8;
    let subject_width = width.saturating_sub(fixed).max(10);
    writeln!(
        out,
        "{:<10}{:<9}{:>3}  {:<owner_w$}{:<requester_w$}{:<subject_width$}  {:<16}  {:>8}",
        "REF", "STATE", "SEV", "OWNER", "REQUESTER", "SUBJECT", "DEADLINE", "LEFT"
    )?;
    for t in &rows {
        // Local time, compact, so the table fits the terminal.
        let deadline = calendar
            .timezone()
            .to_local(t.deadline_at)
            .format("%Y-%m-%d %H:%M")
            .to_string();
        let line = format!(
            "{:<10}{:<9}{:>3}  {:<owner_w$}{:<requester_w$}{:<subject_width$}  {deadline:<16}  {:>8}",
            format!("{prefix}-{}", t.number),
            t.state.as_str(),
            t.severity.number(),
            one_line(t.owner.as_deref().unwrap_or("-"), owner_w - 1),
            one_line(&t.requester, requester_w - 1),
            one_line(&t.subject, subject_width),
            time_left(t, policy, now),
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Working time left to the deadline of a new ticket, as the LEFT column
/// shows it: `16h00`, `1h00 !` when at risk, `-4h00` when overdue; empty
/// for accepted tickets or without a clock.
fn time_left(t: &Ticket, policy: &Policy, now: Option<DateTime<Utc>>) -> String {
    let Some(n) = now.filter(|_| t.state == crate::ticket::State::New) else {
        return String::new();
    };
    let Ok(s) = policy.calendar.working_seconds(n, t.deadline_at) else {
        return String::new();
    };
    let hm = |secs: u64| format!("{}h{:02}", secs / 3600, secs % 3600 / 60);
    let risk = at_risk_from(t, policy).is_some_and(|r| n >= r);
    match (s >= 0, risk) {
        (true, true) => format!("{} !", hm(s as u64)),
        (true, false) => hm(s as u64),
        (false, _) => format!("-{}", hm(s.unsigned_abs())),
    }
}

/// Everything `tickets show` prints of a ticket.
struct Shown {
    ticket: Ticket,
    messages: Vec<crate::store::MessageRow>,
    events: Vec<crate::store::EventRow>,
    outbox: Vec<crate::store::OutboxRow>,
    bodies: std::collections::HashMap<i64, Option<String>>,
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
    let mut messages = store.ticket_messages(number)?;
    for m in &mut messages {
        // Each message's own words, read again from its raw bytes.
        m.text = store.raw_message(m.id)?.map(|raw| {
            let p = crate::mail::parse::parse(&raw);
            crate::mail::trim::trim(&p.text).text
        });
    }
    let shown = Shown {
        ticket,
        messages,
        events: store.events(number)?,
        outbox: store.ticket_outbox(number)?,
        bodies: store.ticket_outbox_bodies(number)?,
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
    let tz = calendar.timezone();
    let when = |at: DateTime<Utc>| local::render_local(at, tz, Lang::En);
    writeln!(out, "{prefix}-{}  {}", t.number, t.subject)?;
    writeln!(
        out,
        "state        {}",
        crate::ticket::compose::state_name(t.state, Lang::En)
    )?;
    writeln!(
        out,
        "severity     {} ({})",
        t.severity.number(),
        crate::ticket::compose::severity_name(t.severity, Lang::En)
    )?;
    writeln!(out, "requester    {}", t.requester)?;
    let others: Vec<&str> = t
        .participants
        .iter()
        .filter(|p| **p != t.requester)
        .map(String::as_str)
        .collect();
    if !others.is_empty() {
        writeln!(out, "participants {}", others.join(", "))?;
    }
    writeln!(
        out,
        "owner        {}",
        t.owner.as_deref().unwrap_or("none yet")
    )?;
    writeln!(out, "received     {}", when(t.received_at))?;
    writeln!(out, "deadline     {}", when(t.deadline_at))?;
    if let Some(at) = t.accepted_at {
        let late = if at > t.deadline_at { " (late)" } else { "" };
        writeln!(out, "accepted     {}{late}", when(at))?;
    }
    let missing = t.missing_fields();
    if !missing.is_empty() && t.state == crate::ticket::State::New {
        writeln!(out, "missing      {}", missing.join(", "))?;
    }
    if t.breached {
        writeln!(out, "breached     the deadline passed before acceptance")?;
    }
    if t.unreachable {
        writeln!(
            out,
            "unreachable  a follow-up bounced; the follow-ups stopped"
        )?;
    }
    for step in &s.next_steps {
        let due = DateTime::parse_from_rfc3339(&step.due)
            .map(|d| when(d.with_timezone(&Utc)))
            .unwrap_or_else(|_| step.due.clone());
        writeln!(out, "next         {} at {due}", step.step)?;
    }
    writeln!(
        out,
        "\nconversation (times: {}):",
        local::zone_label(tz, Lang::En)
    )?;
    conversation(s, tz, out)
}

/// One conversation: messages in with their own words, notes, events and
/// mails out with their text, by time, in the calendar's zone.
fn conversation(s: &Shown, tz: &crate::sla::Zone, out: &mut impl Write) -> anyhow::Result<()> {
    // (instant as written YYYY-MM-DDTHH:MM:SSZ, order, heading, text)
    let mut items: Vec<(String, u8, String, Option<String>)> = Vec::new();
    for m in &s.messages {
        let kind = m.kind.as_deref().unwrap_or("-");
        let heading = format!("from {}  ({kind})", m.from.as_deref().unwrap_or("-"));
        // A note's text is shown with its event.
        let text = m.text.clone().filter(|_| {
            !s.events
                .iter()
                .any(|e| e.what == "note" && e.message == Some(m.id))
        });
        items.push((m.received_at.clone(), 0, heading, text));
    }
    for e in &s.events {
        let (heading, text) = if e.what == "note" {
            (
                format!("note by {}  (consultants only)", e.actor),
                e.detail.clone(),
            )
        } else {
            let detail = e
                .detail
                .as_ref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            (format!("{} by {}{detail}", e.what, e.actor), None)
        };
        items.push((e.at.clone(), 1, heading, text));
    }
    for m in &s.outbox {
        let heading = format!("to {}  ({}, {})", m.to.join(", "), m.template, m.state);
        let text = s.bodies.get(&m.id).cloned().flatten();
        items.push((m.created_at.clone(), 2, heading, text));
    }
    items.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    for (at, _, heading, text) in items {
        let local = DateTime::parse_from_rfc3339(&at)
            .map(|d| {
                tz.to_local(d.with_timezone(&Utc))
                    .format("%Y-%m-%d %H:%M")
                    .to_string()
            })
            .unwrap_or(at);
        writeln!(out, "\n{local}  {heading}")?;
        if let Some(text) = text.filter(|t| !t.trim().is_empty()) {
            for line in text.trim_end().lines().take(60) {
                writeln!(out, "    {line}")?;
            }
            if text.trim_end().lines().count() > 60 {
                writeln!(out, "    [...]")?;
            }
        }
    }
    Ok(())
}

/// List and show tickets.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Every ticket that is not closed (or those in --state), with deadlines
    /// in local time; with --now, the working time left.
    List {
        /// Which tickets.
        #[command(flatten)]
        filter: Filter,
        /// Print a JSON array (field names in the README).
        #[arg(long)]
        json: bool,
    },
    /// One ticket: who is on it, its clock, and the conversation (each
    /// message's own words, notes, events and the mails sent, in local time).
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
        Command::List { filter, json } => {
            if let Some(s) = filter
                .state
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
            list(&store, filter, *json, prefix, &policy, now, &mut out)?;
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
