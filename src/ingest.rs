//! Step 2 of every message: analyse it, decide where it goes, apply it to
//! its ticket and commit the result (design.md "Inbound mail", "Ticket
//! lifecycle"). The analysis and the lifecycle are pure ([`crate::mail`],
//! [`crate::ticket`]); this module wires them to the [`Store`].
//!
//! Failure policy: a message whose step 2 fails (an error, or a panic in the
//! analysis) is retried once; the second failure quarantines it with its
//! reason, and the next message goes on. Nothing is lost: the raw message
//! stays stored either way.
//!
//! Outgoing mail: the lifecycle's mail effects become outbox rows with the
//! mail I/O work; `import` queues none by design, so they are dropped here.

use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::{DateTime, Utc};

use serde_json::json;

use crate::lang::Lang;
use crate::mail::{self, Analysis, classify::Kind};
use crate::outbox::{Audience, Composer, Mail};
use crate::sla::{Calendar, Severity, SlaPolicy};
use crate::store::{self, Applied, QueuedMail, Store};
use crate::ticket::{self, Effect, Input, Route, State, Ticket, To};

/// What step 2 needs besides the store.
pub struct Settings<'a> {
    /// Message analysis settings (addresses, token key, rules).
    pub analysis: &'a mail::Settings,
    /// The working-time calendar.
    pub calendar: &'a Calendar,
    /// Response targets.
    pub policy: &'a SlaPolicy,
    /// Number of the first ticket.
    pub first_number: u64,
    /// Days in which a customer message reopens a closed ticket.
    pub reopen_days: u32,
    /// Queue outgoing mail (the daemon, `import --send`); `None`: record only.
    pub sending: Option<Sending<'a>>,
    /// Larger messages are quarantined raw and the sender is told.
    pub max_message_bytes: u64,
    /// Calendar days of customer silence before follow-up 1.
    pub silence_days: u32,
    /// Working seconds after the acknowledgement before the report's
    /// missing items are asked for again.
    pub missing_info_secs: u64,
    /// Asked between batches: stop early (the daemon is shutting down); the
    /// rest stays pending for the next start.
    pub stop: Option<&'a (dyn Fn() -> bool + Sync)>,
}

impl Settings<'_> {
    /// The language consultant mail is written in (English when none is sent).
    fn consultant_language(&self) -> Lang {
        self.sending
            .as_ref()
            .map_or(Lang::En, |x| x.composer.consultant_language)
    }
}

/// A consultant mail's tag errors, in the consultant's language.
fn tag_errors(a: &Analysis, s: &Settings<'_>) -> Vec<String> {
    let lang = s.consultant_language();
    a.errors.iter().map(|e| e.problem.message(lang)).collect()
}

/// Timer kinds (the scheduler fires them): `reminder-<n>` at the reminder
/// fractions and `breach` at the deadline while a ticket is new;
/// `followup-1` at the next opening after the customer's silence period.
pub mod timer {
    /// The response deadline.
    pub const BREACH: &str = "breach";
    /// The first follow-up of the silence chain.
    pub const FOLLOWUP_1: &str = "followup-1";
}

/// The response-clock timers of a new ticket: one per reminder fraction and
/// the breach at the deadline, those already past left out.
fn response_timers(
    t: &Ticket,
    s: &Settings<'_>,
    now: DateTime<Utc>,
) -> Vec<(String, DateTime<Utc>)> {
    let mut out: Vec<(String, DateTime<Utc>)> = s
        .policy
        .reminders()
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            s.policy
                .fraction_at(s.calendar, t.received_at, t.severity, *f)
                .ok()
                .map(|at| (format!("reminder-{}", i + 1), at))
        })
        .collect();
    out.push((timer::BREACH.to_string(), t.deadline_at));
    out.retain(|(_, at)| *at > now);
    out
}

/// What queueing outgoing mail needs.
pub struct Sending<'a> {
    /// Templates, addresses and the token key.
    pub composer: Composer<'a>,
    /// Escalation recipients (empty: every consultant).
    pub escalation: &'a [String],
    /// Automatic mails to one customer address per hour.
    pub per_recipient_per_hour: u32,
    /// Automatic mails to one customer domain per hour.
    pub per_domain_per_hour: u32,
}

/// Counts of what step 2 did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// New tickets opened.
    pub new_tickets: u64,
    /// Customer messages added to tickets.
    pub replies: u64,
    /// Consultant mails whose commands were applied.
    pub commands_applied: u64,
    /// Consultant mails rejected (bad tags, failed sender check, no ticket).
    pub commands_rejected: u64,
    /// Auto-replies recorded.
    pub auto_replies: u64,
    /// Bounces recorded.
    pub bounces: u64,
    /// Feedback (spam and abuse) reports recorded.
    pub feedback: u64,
    /// Inputs that were not mail (quarantined).
    pub not_mail: u64,
    /// Messages quarantined.
    pub quarantined: u64,
}

/// How many pending messages are applied per transaction.
const BATCH: usize = 500;

/// Applies every message step 1 stored and step 2 has not applied yet.
pub fn apply_pending(
    store: &mut Store,
    s: &Settings<'_>,
    now: DateTime<Utc>,
) -> store::Result<Summary> {
    let mut summary = Summary::default();
    loop {
        if s.stop.is_some_and(|stop| stop()) {
            return Ok(summary);
        }
        let pending = store.pending_messages(BATCH)?;
        if pending.is_empty() {
            return Ok(summary);
        }
        // One transaction per batch (one fsync), a savepoint per message:
        // a failing message rolls back only its own writes. A crash loses
        // nothing: step 1 committed the raw messages, step 2 runs again.
        store.begin_batch()?;
        let mut ids = pending.into_iter().peekable();
        while ids.peek().is_some() {
            // Load a chunk bounded in bytes, parse it on all cores, then
            // apply it in order (threading needs the tickets made before).
            let mut chunk: Vec<(i64, Option<Vec<u8>>)> = Vec::new();
            let mut bytes = 0usize;
            while let Some(id) = ids.next_if(|_| bytes < PARSE_CHUNK_BYTES) {
                let raw = store.raw_message(id)?;
                bytes += raw.as_ref().map_or(0, Vec::len);
                chunk.push((id, raw));
            }
            let parsed = parse_all(&chunk, s.max_message_bytes);
            for ((id, raw), pre) in chunk.iter().zip(parsed) {
                let span = tracing::info_span!("message", id = *id, ticket = tracing::field::Empty);
                let _entered = span.enter();
                if let Err(reason) =
                    apply_one(store, s, *id, raw.as_deref(), pre, now, &mut summary)?
                {
                    tracing::warn!(%reason, "message failed");
                    if store.fail_message(*id, &reason, now)? {
                        tracing::warn!("message quarantined after a second failure");
                        summary.quarantined += 1;
                    }
                }
            }
        }
        store.commit_batch()?;
    }
}

/// Raw bytes parsed ahead at a time: enough to keep both cores busy, little
/// enough to bound memory whatever the messages' sizes.
const PARSE_CHUNK_BYTES: usize = 16 * 1024 * 1024;

/// A message parsed ahead: `None` when there is nothing to parse (gone, or
/// over the size limit), `Err` when parsing panicked.
type PreParsed = Option<Result<mail::parse::Parsed, String>>;

fn panic_text(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

fn parse_one(raw: &Option<Vec<u8>>, max: u64) -> PreParsed {
    let raw = raw
        .as_deref()
        .filter(|r| crate::source::original_size(r) <= max)?;
    Some(
        catch_unwind(AssertUnwindSafe(|| {
            fault_injection(raw);
            mail::parse::parse(raw)
        }))
        .map_err(|p| format!("the analysis failed: {}", panic_text(p))),
    )
}

/// Parses a chunk on two threads when the machine has two cores.
fn parse_all(chunk: &[(i64, Option<Vec<u8>>)], max: u64) -> Vec<PreParsed> {
    let parallel =
        std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 && chunk.len() > 1;
    if !parallel {
        return chunk.iter().map(|(_, raw)| parse_one(raw, max)).collect();
    }
    let (a, b) = chunk.split_at(chunk.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| {
            a.iter()
                .map(|(_, raw)| parse_one(raw, max))
                .collect::<Vec<_>>()
        });
        let second: Vec<PreParsed> = b.iter().map(|(_, raw)| parse_one(raw, max)).collect();
        // parse_one catches panics, so the thread itself cannot fail; if it
        // did, parse its half here.
        let mut first = other
            .join()
            .unwrap_or_else(|_| a.iter().map(|(_, raw)| parse_one(raw, max)).collect());
        first.extend(second);
        first
    })
}

/// Applies one message. The outer error is the store's (fatal); the inner
/// one is this message's failure (recorded, retried once).
fn apply_one(
    store: &mut Store,
    s: &Settings<'_>,
    id: i64,
    raw: Option<&[u8]>,
    pre: PreParsed,
    now: DateTime<Utc>,
    summary: &mut Summary,
) -> store::Result<Result<(), String>> {
    let Some(raw) = raw else {
        return Ok(Err("the raw message is gone".into()));
    };
    wedge_injection(raw);
    let received_at = store.message_received_at(id)?.unwrap_or(now);
    if crate::source::original_size(raw) > s.max_message_bytes {
        too_large(store, s, id, raw, now)?;
        summary.quarantined += 1;
        return Ok(Ok(()));
    }
    let parsed = match pre {
        Some(Ok(p)) => p,
        Some(Err(reason)) => return Ok(Err(reason)),
        None => return Ok(Err("the message could not be parsed".into())),
    };
    let analysis = {
        let lookup: &Store = store;
        catch_unwind(AssertUnwindSafe(|| {
            mail::analyze_parsed(parsed, received_at, s.analysis, lookup)
        }))
    };
    let a = match analysis {
        Ok(a) => a,
        Err(panic) => return Ok(Err(format!("the analysis failed: {}", panic_text(panic)))),
    };
    if a.kind == Kind::NotMail {
        let reason = format!("not a mail ({}): no ticket, nothing sent", a.rule);
        tracing::warn!(rule = a.rule, "input is not a mail; quarantined");
        store.quarantine(id, &reason, now)?;
        summary.not_mail += 1;
        summary.quarantined += 1;
        return Ok(Ok(()));
    }
    // A bounce that names one of our mails fails it (a delay only notes it,
    // a success report never fails it).
    let mut bounce_event = None;
    let mut bounce_ticket = None;
    if a.kind == Kind::Bounce {
        use mail::classify::Outcome;
        let outcome = a.bounce_outcome.unwrap_or(Outcome::Failed);
        let permanent = outcome == Outcome::Failed;
        let (event, what) = match outcome {
            Outcome::Failed => ("mail_bounced", "bounced: permanent failure"),
            Outcome::Delayed => ("mail_bounced", "bounced: delayed"),
            Outcome::Delivered => ("mail_delivered", "delivery report: delivered"),
        };
        let reason = match &a.bounce_detail {
            Some(d) => format!("{what}: {d}"),
            None => what.to_string(),
        };
        if let Some((row, ticket)) = store.mark_bounced(
            a.bounced_outbox_id,
            a.bounced_message_id.as_deref(),
            permanent,
            &reason,
            &a.bounced_recipients,
            now,
        )? {
            bounce_event = Some((
                "supportd".to_string(),
                event,
                Some(format!("outbox {row}: {reason}")),
            ));
            bounce_ticket = ticket;
        }
    }
    // A feedback report belongs to the ticket of the mail it reports.
    if a.kind == Kind::Feedback {
        bounce_ticket = store
            .find_mail(None, a.reported_message_id.as_deref())?
            .and_then(|(_, t)| t);
    }
    let existing = match a
        .ticket_ref
        .as_deref()
        .and_then(|r| r.rsplit('-').next())
        .and_then(|n| n.parse().ok())
        .or(bounce_ticket)
    {
        Some(n) => store.ticket(n)?,
        None => None,
    };
    let from = a.requester.address.clone();
    let route = ticket::route(
        a.kind,
        &from,
        existing.as_ref(),
        &s.analysis.consultants,
        s.reopen_days,
        received_at,
    );
    let fields = present_fields(&a);
    let json = stored_analysis(&a, &fields);
    let mut events: Vec<(String, &'static str, Option<String>)> =
        bounce_event.into_iter().collect();
    let actor = if from.is_empty() {
        "unknown".to_string()
    } else {
        from.clone()
    };
    let mut ticket_out: Option<(Ticket, bool)> = None;
    let mut effects: Vec<Effect> = Vec::new();
    let mut opened: Option<Option<u64>> = None; // Some(linked) when a ticket opened
    let mut quiet_open = false;
    let mut errors: Vec<String> = Vec::new();
    let mut timers = store::TimerChange::default();
    match (route, existing) {
        (Route::NewTicket { linked, quiet }, _) => {
            let mut t = new_ticket(
                store.next_ticket_number(s.first_number)?,
                &a,
                &fields,
                received_at,
                s,
            );
            events.push((
                actor.clone(),
                "opened",
                linked.map(|l| format!("linked to {}-{l}", s.analysis.ticket_prefix)),
            ));
            if quiet {
                events.push(("supportd".into(), "no_acknowledgement", Some(a.rule.into())));
            }
            // Imported history: a deadline already past is recorded as
            // breached, without an escalation.
            if t.deadline_at < now {
                t.breached = true;
                events.push((
                    "supportd".into(),
                    "breached",
                    Some("the deadline had passed when the message was applied".into()),
                ));
            }
            timers.set = response_timers(&t, s, now);
            opened = Some(linked);
            quiet_open = quiet;
            summary.new_tickets += 1;
            ticket_out = Some((t, true));
        }
        (Route::Ticket(_), Some(mut t)) => {
            let consultants: Vec<String> = s.analysis.consultants.clone();
            let (received, current) = (t.received_at, t.deadline_at);
            let deadline_for = |sev: Severity| {
                s.policy
                    .deadline(s.calendar, received, sev)
                    .unwrap_or(current)
            };
            let ctx = ticket::Context {
                deadline_for: &deadline_for,
                consultants: &consultants,
            };
            let input = match a.kind {
                Kind::ConsultantCommand if !a.errors.is_empty() => {
                    errors = tag_errors(&a, s);
                    summary.commands_rejected += 1;
                    events.push((
                        actor.clone(),
                        "command_rejected",
                        Some(
                            a.errors
                                .iter()
                                .map(|e| e.message.clone())
                                .collect::<Vec<_>>()
                                .join("; "),
                        ),
                    ));
                    None
                }
                Kind::ConsultantCommand if a.authenticated != Some(true) => {
                    errors = vec![match s.consultant_language() {
                        Lang::En => "the sender check failed: reply to the notification supportd sent you, so that your token goes with the reply".into(),
                        Lang::Pl => "weryfikacja nadawcy nie powiodła się: odpowiadaj na powiadomienie od supportd, aby Twój token był w odpowiedzi".into(),
                    }];
                    summary.commands_rejected += 1;
                    events.push((actor.clone(), "sender_check_failed", None));
                    None
                }
                Kind::ConsultantCommand => {
                    summary.commands_applied += 1;
                    Some(Input::Consultant {
                        from: &from,
                        commands: &a.commands,
                        has_text: !a.text.trim().is_empty(),
                        added: &a.copied,
                        at: received_at,
                    })
                }
                Kind::AutoReply | Kind::Bounce | Kind::OwnLoop | Kind::Feedback | Kind::NotMail => {
                    count_automatic(summary, a.kind);
                    Some(Input::Automatic { kind: a.kind })
                }
                Kind::Reply | Kind::New | Kind::List => {
                    summary.replies += 1;
                    // Only the requester's copies join the ticket.
                    let added: &[String] = if from == t.requester { &a.copied } else { &[] };
                    Some(Input::Customer {
                        from: &from,
                        fields_present: &fields,
                        added,
                        at: received_at,
                    })
                }
            };
            if let Some(input) = input {
                for e in ticket::apply(&mut t, &input, &ctx) {
                    match e {
                        Effect::Event { what, detail } => {
                            events.push((actor.clone(), what, detail))
                        }
                        other => effects.push(other),
                    }
                }
            }
            // The clocks: acceptance or an answer stops them; waiting starts
            // the silence chain; a new severity moves the response clock.
            if effects.contains(&Effect::StopClocks) {
                timers.clear = true;
            }
            if effects.contains(&Effect::StartSilenceClock) {
                timers.clear = true;
                if let Some(since) = t.silence_since {
                    let after = s.calendar.add_calendar_days(since, s.silence_days);
                    if let Ok(at) = s.calendar.next_opening(after) {
                        timers.set.push((timer::FOLLOWUP_1.to_string(), at));
                    }
                }
            }
            if t.state == State::New
                && events
                    .iter()
                    .any(|(_, what, _)| *what == "severity_changed")
            {
                timers.clear_response = true;
                timers.set.extend(response_timers(&t, s, now));
            }
            ticket_out = Some((t, false));
        }
        // Stored alone: unthreaded automatic mail, a consultant mail naming
        // no ticket, or a ticket that no longer exists.
        (Route::Alone | Route::Ticket(_), _) => {
            match a.kind {
                Kind::Bounce | Kind::AutoReply | Kind::OwnLoop | Kind::Feedback => {
                    count_automatic(summary, a.kind)
                }
                Kind::ConsultantCommand => {
                    summary.commands_rejected += 1;
                    errors = tag_errors(&a, s);
                }
                _ => {}
            }
            events.push((actor.clone(), "stored_alone", Some(a.kind.as_str().into())));
        }
    }
    let mut composed: Vec<(Mail, bool)> = Vec::new();
    if let Some(sending) = &s.sending {
        let t = ticket_out.as_ref().map(|(t, _)| t);
        // Consultants hear of mail to this customer held back by the rate
        // limit: earlier ones, and the acknowledgement about to be held
        // (decided here once, before the notification is written).
        let ack_held = match (t, opened) {
            (Some(t), Some(_)) if !quiet_open && !a.suppress_ack && !a.dmarc_fail => {
                over_limit_for(store, sending, &t.participants, now)?
            }
            _ => false,
        };
        let held = match (t, opened) {
            (Some(t), None) => store.held_mails(t.number)?,
            _ => u32::from(ack_held),
        };
        let plan = Plan {
            a: &a,
            message: id,
            received_at,
            opened,
            quiet: quiet_open,
            effects: &effects,
            errors: &errors,
            held,
            completed: events.iter().any(|(_, w, _)| *w == "report_completed"),
        };
        let mails = match compose_mails(sending, s, t, &plan) {
            Ok(m) => m,
            Err(e) => return Ok(Err(format!("cannot compose a mail: {e}"))),
        };
        for m in mails {
            let held = if m.template == ticket::template::ACK {
                ack_held
            } else {
                m.audience == Audience::Customer
                    && m.automatic
                    && over_limit_for(store, sending, &m.to, now)?
            };
            if held {
                events.push((
                    "supportd".into(),
                    "held_by_rate_limit",
                    Some(m.to.join(", ")),
                ));
            }
            composed.push((m, held));
        }
        // The report's missing items are asked for once more, some working
        // days after an acknowledgement that went out (the scheduler checks
        // again then).
        if let Some((t, true)) = &ticket_out
            && composed
                .iter()
                .any(|(m, held)| m.template == ticket::template::ACK && !held)
            && !ticket::schedule::missing_to_remind(t).is_empty()
            && let Ok(at) = s
                .calendar
                .add_working_seconds(now, s.missing_info_secs)
                .and_then(|at| s.calendar.next_opening(at))
        {
            timers
                .set
                .push((ticket::schedule::Step::MissingInfo.code(), at));
        }
    }
    let ticket_number = ticket_out.as_ref().map(|(t, _)| t.number);
    let mails = composed
        .iter()
        .map(|(m, held)| QueuedMail {
            mail: m,
            ticket: if m.template == ticket::template::COMMAND_ERROR && ticket_number.is_none() {
                None
            } else {
                ticket_number
            },
            support_address: &s.analysis.support_address,
            prefix: &s.analysis.ticket_prefix,
            held: *held,
        })
        .collect();
    let suppress = feedback_suppressions(&a);
    if let Some((_, reason)) = suppress.first() {
        events.push(("supportd".into(), "feedback_report", Some(reason.clone())));
    }
    let applied = Applied {
        message: id,
        kind: a.kind.as_str(),
        analysis: &json,
        ticket: ticket_out.as_ref().map(|(t, new)| (t, *new)),
        events,
        at: received_at,
        mails,
        timers,
        suppress,
    };
    store.commit_applied(&applied, now)?;
    LogLine {
        prefix: &s.analysis.ticket_prefix,
        ticket: applied.ticket,
        kind: a.kind,
        from: &from,
        commands: &a.commands,
        errors: !errors.is_empty(),
        events: &applied.events,
    }
    .emit();
    Ok(Ok(()))
}

/// The log line of an applied message: one info line per ticket opened and
/// per command applied; never a body, a token or a password.
struct LogLine<'a> {
    prefix: &'a str,
    ticket: Option<(&'a Ticket, bool)>,
    kind: Kind,
    from: &'a str,
    commands: &'a [mail::tags::Command],
    errors: bool,
    events: &'a [(String, &'static str, Option<String>)],
}

impl LogLine<'_> {
    fn emit(&self) {
        let reference = self
            .ticket
            .map(|(t, _)| format!("{}-{}", self.prefix, t.number));
        if let Some(r) = &reference {
            tracing::Span::current().record("ticket", tracing::field::display(r));
        }
        let names = || {
            self.commands
                .iter()
                .map(|c| match &c.arg {
                    Some(a) => format!("#{} {a}", c.name),
                    None => format!("#{}", c.name),
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        match (self.ticket, self.kind) {
            (Some((t, true)), _) => tracing::info!(
                severity = t.severity.number(),
                requester = %t.requester,
                kind = self.kind.as_str(),
                "ticket opened"
            ),
            (Some(_), Kind::ConsultantCommand)
                if !self.errors
                    && self
                        .events
                        .iter()
                        .all(|(_, w, _)| *w != "sender_check_failed") =>
            {
                tracing::info!(consultant = %self.from, commands = %names(), "command applied")
            }
            (_, Kind::ConsultantCommand) => {
                tracing::warn!(consultant = %self.from, "command rejected; the consultant is told why")
            }
            (Some(_), kind) => {
                tracing::debug!(kind = kind.as_str(), from = %self.from, "message added")
            }
            (None, kind) => tracing::debug!(kind = kind.as_str(), "message stored alone"),
        }
        if self.events.iter().any(|(_, w, _)| *w == "breached") {
            match self.ticket {
                Some((_, true)) => tracing::info!(
                    "the response deadline had passed when the message was applied (history); no escalation"
                ),
                _ => {
                    tracing::warn!("SLA breach: the new severity's deadline has passed; escalated")
                }
            }
        }
    }
}

fn count_automatic(summary: &mut Summary, kind: Kind) {
    match kind {
        Kind::Bounce => summary.bounces += 1,
        Kind::Feedback => summary.feedback += 1,
        _ => summary.auto_replies += 1,
    }
}

/// A feedback report's reported recipients get no more automatic mail: the
/// addresses and the reason, logged for ops.
fn feedback_suppressions(a: &Analysis) -> Vec<(String, String)> {
    if a.kind != Kind::Feedback {
        return Vec::new();
    }
    let what = a.feedback_type.as_deref().unwrap_or("unspecified");
    let reason = format!("feedback report ({what}) from {}", a.requester.address);
    if a.reported_recipients.is_empty() {
        tracing::warn!(
            feedback_type = what,
            "feedback report names no recipient; nothing suppressed"
        );
    }
    a.reported_recipients
        .iter()
        .map(|r| {
            tracing::warn!(recipient = %r, feedback_type = what, "feedback report: no more automatic mail to this recipient");
            (r.clone(), reason.clone())
        })
        .collect()
}

/// Quarantines a message over the size limit, raw, and tells its sender.
fn too_large(
    store: &mut Store,
    s: &Settings<'_>,
    id: i64,
    raw: &[u8],
    now: DateTime<Utc>,
) -> store::Result<()> {
    let mb = |b: u64| b.div_ceil(1024 * 1024);
    let (size_mb, limit_mb) = (
        mb(crate::source::original_size(raw)),
        s.max_message_bytes / (1024 * 1024),
    );
    store.quarantine(
        id,
        &format!("larger than the limit of {limit_mb} MB ({size_mb} MB)"),
        now,
    )?;
    let Some(x) = &s.sending else { return Ok(()) };
    let p = mail::parse::parse(raw);
    // Never answer automatic mail or our own, and only a real address.
    let who = mail::classify::Who {
        markers: &s.analysis.markers,
        support_address: &s.analysis.support_address,
        consultants: &s.analysis.consultants,
    };
    let kind = mail::classify::classify(&p, &who, false).kind;
    if kind.is_automatic() || !p.from.address.contains('@') {
        return Ok(());
    }
    let lang = mail::language::detect(&p.subject, &p.text, s.analysis.default_language);
    let Ok(m) = x.composer.to_sender(
        &p.from.address,
        lang,
        format!("too-large:m{id}"),
        ticket::template::TOO_LARGE,
        json!({"subject": p.subject, "size_mb": size_mb, "limit_mb": limit_mb}),
    ) else {
        return Ok(());
    };
    let held = over_limit_for(store, x, &m.to, now)?;
    store.queue_mail(
        &QueuedMail {
            mail: &m,
            ticket: None,
            support_address: &s.analysis.support_address,
            prefix: &s.analysis.ticket_prefix,
            held,
        },
        now,
    )?;
    Ok(())
}

/// What happened to one message, for composing its mails.
struct Plan<'a> {
    a: &'a Analysis,
    message: i64,
    received_at: DateTime<Utc>,
    /// A ticket was opened (linked to the given closed one, if any).
    opened: Option<Option<u64>>,
    /// It was opened without acknowledgement (list mail).
    quiet: bool,
    effects: &'a [Effect],
    /// Errors to tell the consultant.
    errors: &'a [String],
    /// Automatic mails to this customer held back by the rate limit.
    held: u32,
    /// This message completed the report.
    completed: bool,
}

/// Whether an automatic mail to these customers would pass the hourly
/// limits (design.md: 5 per recipient, 50 per domain, configurable),
/// counted over the hour before it is queued: the limit protects inboxes
/// from a burst.
pub(crate) fn over_limit_for<'a>(
    store: &Store,
    x: &Sending<'_>,
    to: impl IntoIterator<Item = &'a String>,
    at: DateTime<Utc>,
) -> store::Result<bool> {
    let since = at - chrono::Duration::hours(1);
    for addr in to {
        let (recipient, domain) = store.automatic_mail_since(addr, since)?;
        if recipient >= x.per_recipient_per_hour || domain >= x.per_domain_per_hour {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The mails one message causes.
fn compose_mails(
    x: &Sending<'_>,
    s: &Settings<'_>,
    t: Option<&Ticket>,
    p: &Plan<'_>,
) -> crate::templates::Result<Vec<Mail>> {
    let c = &x.composer;
    let a = p.a;
    let mut out = Vec::new();
    let sender = a.requester.address.as_str();
    let sender_name = a
        .requester
        .name
        .clone()
        .unwrap_or_else(|| sender.to_string());
    let clang = c.consultant_language;
    if !p.errors.is_empty() {
        let to = if s.analysis.consultants.iter().any(|c| c == sender) {
            sender
        } else {
            return Ok(out);
        };
        out.push(c.command_error(to, format!("error:m{}", p.message), &a.subject, p.errors)?);
    }
    let Some(t) = t else { return Ok(out) };
    let missing = t.missing_fields();
    let left = s
        .calendar
        .working_seconds(p.received_at, t.deadline_at)
        .map(|secs| crate::sla::local::render_duration(secs.max(0) as u64, clang))
        .unwrap_or_default();
    let consultants = |to: &To| recipients(to, t, &s.analysis.consultants, x.escalation);
    let notify = |to: &str, event_line: &str, template: &'static str| {
        c.to_consultant(
            t,
            to,
            format!("{template}:m{}:{to}", p.message),
            template,
            json!({
                "event_line": event_line,
                "working_time_left": left,
                "held": p.held,
                "text": a.text,
                "linked_ref": "",
            }),
            &missing,
            Some(p.message),
        )
    };
    if let Some(linked) = p.opened {
        if !p.quiet && !a.suppress_ack && !a.dmarc_fail {
            out.push(c.to_customer(
                t,
                format!("ack:{}", t.number),
                ticket::template::ACK,
                true,
                json!({}),
                &missing,
                a.message_id.as_deref(),
            )?);
        }
        for to in &s.analysis.consultants {
            match linked {
                Some(l) => out.push(c.to_consultant(
                    t,
                    to,
                    format!("linked:m{}:{to}", p.message),
                    ticket::template::LINKED,
                    json!({"linked_ref": format!("{}-{l}", c.prefix), "text": a.text}),
                    &missing,
                    Some(p.message),
                )?),
                None => out.push(notify(
                    to,
                    event_line(clang, true),
                    ticket::template::NOTIFY,
                )?),
            }
        }
    }
    for e in p.effects {
        match e {
            Effect::Relay {
                to: To::Participants,
            } => {
                let mut m = c.to_customer(
                    t,
                    format!("relay:m{}", p.message),
                    "consultant-relay",
                    false,
                    json!({"text": a.text, "consultant_name": sender_name}),
                    &[],
                    None,
                )?;
                // The consultant's attachments go along (not their whole mail).
                m.attach_message = Some(p.message);
                m.headers
                    .insert(crate::outbox::ATTACH_HEADER.into(), "attachments".into());
                out.push(m);
            }
            Effect::Relay { to } => {
                // A message that completes the report says so in its
                // notification (one mail, not two).
                let template = if p.completed {
                    ticket::template::REPORT_COMPLETED
                } else {
                    ticket::template::NOTIFY
                };
                for addr in consultants(to) {
                    out.push(notify(&addr, event_line(clang, false), template)?);
                }
            }
            Effect::Mail {
                template,
                to: To::Participants,
                automatic,
            } => out.push(c.to_customer(
                t,
                format!("{template}:m{}", p.message),
                template,
                *automatic,
                json!({"text": a.text, "consultant_name": sender_name}),
                &missing,
                None,
            )?),
            Effect::Mail { template, to, .. } => {
                for addr in consultants(to) {
                    out.push(c.to_consultant(
                        t,
                        &addr,
                        format!("{template}:m{}:{addr}", p.message),
                        template,
                        json!({"text": a.text}),
                        &missing,
                        None,
                    )?);
                }
            }
            Effect::Event { .. } | Effect::StartSilenceClock | Effect::StopClocks => {}
        }
    }
    Ok(out)
}

/// The consultants an audience names (participants are the ticket's).
pub(crate) fn recipients(
    to: &To,
    t: &Ticket,
    consultants: &[String],
    escalation: &[String],
) -> Vec<String> {
    match to {
        To::Consultant(addr) => vec![addr.clone()],
        To::Owner => t
            .owner
            .clone()
            .map_or_else(|| consultants.to_vec(), |o| vec![o]),
        To::Escalation if !escalation.is_empty() => escalation.to_vec(),
        _ => consultants.to_vec(),
    }
}

fn event_line(lang: Lang, new: bool) -> &'static str {
    match (lang, new) {
        (Lang::En, true) => "New request.",
        (Lang::En, false) => "The customer wrote.",
        (Lang::Pl, true) => "Nowe zgłoszenie.",
        (Lang::Pl, false) => "Klient napisał.",
    }
}

/// The analysis as stored with the message: the decision and what it rests
/// on, without the text, the evidence and the attachment list, which are
/// recomputed from the raw message when needed (storing them would keep
/// every body twice).
fn stored_analysis(a: &Analysis, present: &[&str]) -> String {
    json!({
        "kind": a.kind,
        "rule": a.rule,
        "ticket_ref": a.ticket_ref,
        "thread_signal": a.thread_signal,
        "bounced_message_id": a.bounced_message_id,
        "bounced_outbox_id": a.bounced_outbox_id,
        "bounce_permanent": a.bounce_permanent,
        "bounced_recipients": a.bounced_recipients,
        "language": a.language,
        "severity": a.severity,
        "severity_source": a.severity_source,
        "occurrence_time": a.occurrence_time,
        "present": present,
        "missing": a.missing,
        "commands": a.commands,
        "errors": a.errors,
        "authenticated": a.authenticated,
        "suppress_ack": a.suppress_ack,
        "dmarc_fail": a.dmarc_fail,
        "requester": a.requester,
        "subject": a.subject,
        "copied": a.copied,
    })
    .to_string()
}

fn present_fields(a: &Analysis) -> Vec<&'static str> {
    mail::report::FIELDS
        .iter()
        .copied()
        .filter(|f| a.fields.get(f).is_some_and(|x| x.present))
        .collect()
}

fn new_ticket(
    number: u64,
    a: &Analysis,
    present: &[&str],
    received_at: DateTime<Utc>,
    s: &Settings<'_>,
) -> Ticket {
    let severity = mail::severity_of(a);
    let deadline_at = s
        .policy
        .deadline(s.calendar, received_at, severity)
        .unwrap_or(received_at);
    let requester = a.requester.address.clone();
    Ticket {
        number,
        requester: requester.clone(),
        // The requester and whoever they copied on the request.
        participants: std::iter::once(requester)
            .chain(a.copied.iter().cloned())
            .filter(|r| !r.is_empty())
            .collect(),
        subject: mail::thread::strip_reply_prefixes(&a.subject).to_string(),
        severity,
        state: State::New,
        language: a.language.parse().unwrap_or_default(),
        received_at,
        deadline_at,
        accepted_at: None,
        owner: None,
        fields_found: present.iter().map(|f| f.to_string()).collect(),
        spam: false,
        unreachable: false,
        breached: false,
        followups_sent: 0,
        silence_since: None,
        closed_at: None,
    }
}

/// Debug builds only: whether a message carries a test fault header.
/// Release builds have no such hooks.
fn injected(raw: &[u8], trigger: &[u8]) -> bool {
    cfg!(debug_assertions) && raw.windows(trigger.len()).any(|w| w == trigger)
}

/// `X-Supportd-Test-Wedge: ingest` stops the ingest worker for good (a
/// deadlock, as far as anyone can tell), so tests can prove that the
/// systemd watchdog pings stop.
fn wedge_injection(raw: &[u8]) {
    if injected(raw, b"X-Supportd-Test-Wedge: ingest") {
        tracing::error!("test fault injection: the ingest worker wedges");
        loop {
            std::thread::park();
        }
    }
}

/// `X-Supportd-Test-Panic: analysis` panics the analysis, so tests can
/// prove that a failing message is quarantined and the next one goes on.
fn fault_injection(raw: &[u8]) {
    if injected(raw, b"X-Supportd-Test-Panic: analysis") {
        panic!("test fault injection");
    }
}
