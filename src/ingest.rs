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

use crate::mail::{self, Analysis, classify::Kind};
use crate::sla::{Calendar, Severity, SlaPolicy};
use crate::store::{self, Applied, Store};
use crate::ticket::{self, Effect, Input, Route, State, Ticket};

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
    /// Messages quarantined.
    pub quarantined: u64,
}

/// How many pending messages are applied per transaction.
const BATCH: usize = 200;

/// Applies every message step 1 stored and step 2 has not applied yet.
pub fn apply_pending(
    store: &mut Store,
    s: &Settings<'_>,
    now: DateTime<Utc>,
) -> store::Result<Summary> {
    let mut summary = Summary::default();
    loop {
        let pending = store.pending_messages(BATCH)?;
        if pending.is_empty() {
            return Ok(summary);
        }
        // One transaction per batch (one fsync), a savepoint per message:
        // a failing message rolls back only its own writes. A crash loses
        // nothing: step 1 committed the raw messages, step 2 runs again.
        store.begin_batch()?;
        for id in pending {
            if let Err(reason) = apply_one(store, s, id, now, &mut summary)?
                && store.fail_message(id, &reason, now)?
            {
                summary.quarantined += 1;
            }
        }
        store.commit_batch()?;
    }
}

/// Applies one message. The outer error is the store's (fatal); the inner
/// one is this message's failure (recorded, retried once).
fn apply_one(
    store: &mut Store,
    s: &Settings<'_>,
    id: i64,
    now: DateTime<Utc>,
    summary: &mut Summary,
) -> store::Result<Result<(), String>> {
    let Some(raw) = store.raw_message(id)? else {
        return Ok(Err("the raw message is gone".into()));
    };
    let received_at = store.message_received_at(id)?.unwrap_or(now);
    let analysis = {
        let lookup: &Store = store;
        catch_unwind(AssertUnwindSafe(|| {
            fault_injection(&raw);
            mail::analyze(&raw, received_at, s.analysis, lookup)
        }))
    };
    let a = match analysis {
        Ok(a) => a,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            return Ok(Err(format!("the analysis failed: {what}")));
        }
    };
    let existing = match a
        .ticket_ref
        .as_deref()
        .and_then(|r| r.rsplit('-').next())
        .and_then(|n| n.parse().ok())
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
    // The text is not stored: it is recomputed from the raw message at will,
    // and storing it would keep every body twice.
    let json = {
        let mut v = serde_json::to_value(&a).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.remove("text");
        }
        v.to_string()
    };
    let mut events: Vec<(String, &'static str, Option<String>)> = Vec::new();
    let actor = if from.is_empty() {
        "unknown".to_string()
    } else {
        from.clone()
    };
    let mut ticket_out: Option<(Ticket, bool)> = None;
    match (route, existing) {
        (Route::NewTicket { linked, quiet }, _) => {
            let t = new_ticket(
                store.next_ticket_number(s.first_number)?,
                &a,
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
            let fields: Vec<&str> = present_fields(&a);
            let input = match a.kind {
                Kind::ConsultantCommand if !a.errors.is_empty() => {
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
                        added: &[],
                        at: received_at,
                    })
                }
                Kind::AutoReply | Kind::Bounce | Kind::OwnLoop => {
                    if a.kind == Kind::Bounce {
                        summary.bounces += 1;
                    } else {
                        summary.auto_replies += 1;
                    }
                    Some(Input::Automatic { kind: a.kind })
                }
                Kind::Reply | Kind::New | Kind::List => {
                    summary.replies += 1;
                    Some(Input::Customer {
                        from: &from,
                        fields_present: &fields,
                        added: &[],
                        at: received_at,
                    })
                }
            };
            if let Some(input) = input {
                for e in ticket::apply(&mut t, &input, &ctx) {
                    if let Effect::Event { what, detail } = e {
                        events.push((actor.clone(), what, detail));
                    }
                }
            }
            ticket_out = Some((t, false));
        }
        // Stored alone: unthreaded automatic mail, a consultant mail naming
        // no ticket, or a ticket that no longer exists.
        (Route::Alone | Route::Ticket(_), _) => {
            match a.kind {
                Kind::Bounce => summary.bounces += 1,
                Kind::AutoReply | Kind::OwnLoop => summary.auto_replies += 1,
                Kind::ConsultantCommand => summary.commands_rejected += 1,
                _ => {}
            }
            events.push((actor.clone(), "stored_alone", Some(a.kind.as_str().into())));
        }
    }
    store.commit_applied(
        &Applied {
            message: id,
            kind: a.kind.as_str(),
            analysis: &json,
            ticket: ticket_out.as_ref().map(|(t, new)| (t, *new)),
            events,
            at: received_at,
        },
        now,
    )?;
    Ok(Ok(()))
}

fn present_fields(a: &Analysis) -> Vec<&'static str> {
    mail::report::FIELDS
        .iter()
        .copied()
        .filter(|f| a.fields.get(f).is_some_and(|x| x.present))
        .collect()
}

fn new_ticket(number: u64, a: &Analysis, received_at: DateTime<Utc>, s: &Settings<'_>) -> Ticket {
    let severity = mail::severity_of(a);
    let deadline_at = s
        .policy
        .deadline(s.calendar, received_at, severity)
        .unwrap_or(received_at);
    let requester = a.requester.address.clone();
    Ticket {
        number,
        requester: requester.clone(),
        participants: [requester].into_iter().filter(|r| !r.is_empty()).collect(),
        subject: mail::thread::strip_reply_prefixes(&a.subject).to_string(),
        severity,
        state: State::New,
        language: a.language.parse().unwrap_or_default(),
        received_at,
        deadline_at,
        accepted_at: None,
        owner: None,
        fields_found: present_fields(a).into_iter().map(String::from).collect(),
        spam: false,
        unreachable: false,
        silence_since: None,
        closed_at: None,
    }
}

/// Debug builds only: a message carrying `X-Supportd-Test-Panic: analysis`
/// panics the analysis, so tests can prove that a failing message is
/// quarantined and the next one goes on. Release builds have no such hook.
fn fault_injection(raw: &[u8]) {
    const TRIGGER: &[u8] = b"X-Supportd-Test-Panic: analysis";
    if cfg!(debug_assertions) && raw.windows(TRIGGER.len()).any(|w| w == TRIGGER) {
        panic!("test fault injection");
    }
}
