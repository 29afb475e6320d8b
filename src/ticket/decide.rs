//! What one analysed message does (pure): the decision between the read
//! and the write of step 2. [`decide`] takes the message's analysis and what
//! the store knew ([`Known`]) and returns everything to write in one
//! savepoint ([`Decision`]): the ticket (new or changed), audit events, the
//! mails to queue, timer changes, the bounce it records, suppressions, or
//! the quarantine.
//!
//! Must not: do I/O or read the clock (`now` is an argument).

use chrono::{DateTime, Utc};

use super::compose::{Mail, MessageMails, Sending};
use super::limits::Recent;
use super::timer::{Step, TimerChange};
use super::{Effect, Event, Input, Record, Route, State, Ticket, template};
use crate::lang::Lang;
use crate::mail::Analysis;
use crate::mail::classify::{Kind, Outcome};
use crate::sla::{Calendar, Severity, SlaPolicy};

/// The rules a decision follows (from the config).
pub struct Rules<'a> {
    /// Ticket prefix.
    pub prefix: &'a str,
    /// Consultant addresses, lower-cased.
    pub consultants: &'a [String],
    /// The working-time calendar.
    pub calendar: &'a Calendar,
    /// Response targets.
    pub policy: &'a SlaPolicy,
    /// Days in which a customer message reopens a closed ticket.
    pub reopen_days: u32,
    /// Calendar days of customer silence before follow-up 1.
    pub silence_days: u32,
    /// Working seconds after the acknowledgement before the report's
    /// missing items are asked for again.
    pub missing_info_secs: u64,
    /// The language consultant mail is written in.
    pub consultant_language: Lang,
    /// Queue outgoing mail (the daemon, `import --send`); `None`: record only.
    pub sending: Option<Sending<'a>>,
    /// Who joins a ticket without being put on it.
    pub colleagues: super::Colleagues,
    /// People on one ticket besides the consultants.
    pub max_participants: usize,
    /// Whether an address is one our mail can be sent to (the sender's own
    /// rules): others never join a ticket.
    pub deliverable: &'a (dyn Fn(&str) -> bool + Sync),
}

/// What the store knew when the message was read.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// The ticket the message names (its thread, or the ticket of the mail a
    /// delivery or feedback report names).
    pub ticket: Option<Ticket>,
    /// The number a new ticket gets.
    pub next_number: u64,
    /// Our mail a delivery or feedback report names: its outbox row and
    /// ticket.
    pub named_mail: Option<(i64, Option<u64>)>,
    /// Automatic mail of the ticket held back by the rate limit.
    pub held_on_ticket: u32,
    /// Automatic mail in the past hour to the addresses this decision may
    /// write to.
    pub recent: Recent,
    /// Per consultant: mails held back since the last one that went out.
    pub held_for: std::collections::HashMap<String, u32>,
    /// The ticket's latest internal notes ("author: text"), oldest first.
    pub notes: Vec<String>,
}

/// A delivery report's verdict on one of our mails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceMark {
    /// The outbox row.
    pub outbox: i64,
    /// The mail failed for good (a delay or a success report changes nothing).
    pub permanent: bool,
    /// The report's outcome and detail.
    pub reason: String,
    /// The recipients the report says failed.
    pub recipients: Vec<String>,
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

impl Summary {
    /// Adds another summary's counts.
    pub fn add(&mut self, o: &Summary) {
        self.new_tickets += o.new_tickets;
        self.replies += o.replies;
        self.commands_applied += o.commands_applied;
        self.commands_rejected += o.commands_rejected;
        self.auto_replies += o.auto_replies;
        self.bounces += o.bounces;
        self.feedback += o.feedback;
        self.not_mail += o.not_mail;
        self.quarantined += o.quarantined;
    }

    fn count_automatic(&mut self, kind: Kind) {
        match kind {
            Kind::Bounce => self.bounces += 1,
            Kind::Feedback => self.feedback += 1,
            _ => self.auto_replies += 1,
        }
    }
}

/// Everything one message changes, written in one savepoint.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The message's kind (`None`: too large to be read).
    pub kind: Option<Kind>,
    /// The ticket after the change, and whether it is new; `None`: the
    /// message is stored alone.
    pub ticket: Option<(Ticket, bool)>,
    /// Audit events, in order.
    pub events: Vec<Record>,
    /// Mails to queue, each with whether the rate limit holds it back.
    pub mails: Vec<(Mail, bool)>,
    /// The ticket's timers.
    pub timers: TimerChange,
    /// A delivery report's verdict on one of our mails.
    pub bounce: Option<BounceMark>,
    /// Addresses that get no more automatic mail, with the reason.
    pub suppress: Vec<(String, String)>,
    /// Quarantined with this reason instead of being applied.
    pub quarantine: Option<String>,
    /// What this message adds to the counts.
    pub summary: Summary,
    /// The consultant's mail was rejected (bad tags, sender check, no ticket).
    pub rejected: bool,
}

impl Decision {
    fn new(kind: Option<Kind>) -> Decision {
        Decision {
            kind,
            ticket: None,
            events: Vec::new(),
            mails: Vec::new(),
            timers: TimerChange::default(),
            bounce: None,
            suppress: Vec::new(),
            quarantine: None,
            summary: Summary::default(),
            rejected: false,
        }
    }

    /// Whether an event of this kind is among the decision's.
    pub fn has(&self, what: Event) -> bool {
        self.events.iter().any(|e| e.what == what)
    }
}

/// One message at step 2.
pub struct Message<'a> {
    /// Its row in the store.
    pub id: i64,
    /// Its analysis.
    pub analysis: &'a Analysis,
    /// When our server received it.
    pub received_at: DateTime<Utc>,
}

/// What a message is for the lifecycle, and what the decision learnt
/// while applying it.
struct Applied {
    /// A ticket was opened (linked to the given closed one, if any).
    opened: Option<Option<u64>>,
    /// Opened without acknowledgement.
    quiet: bool,
    /// Effects of the lifecycle other than events.
    effects: Vec<Effect>,
    /// Errors to tell the consultant.
    errors: Vec<String>,
}

/// Decides what one analysed message does. `Err` is this message's
/// failure (a mail that cannot be composed): recorded, retried once.
pub fn decide(
    m: &Message<'_>,
    known: Known,
    r: &Rules<'_>,
    now: DateTime<Utc>,
) -> Result<Decision, String> {
    let a = m.analysis;
    let mut d = Decision::new(Some(a.kind));
    if a.kind == Kind::NotMail {
        d.quarantine = Some(format!("not a mail ({}): no ticket, nothing sent", a.rule));
        d.summary.not_mail += 1;
        d.summary.quarantined += 1;
        return Ok(d);
    }
    record_bounce(a, &known, &mut d);
    let route = super::route(
        a.kind,
        &a.requester.address,
        known.ticket.as_ref(),
        &super::Membership {
            consultants: r.consultants,
            colleagues: r.colleagues,
            reopen_days: r.reopen_days,
        },
        m.received_at,
    );
    let actor = actor(a);
    let applied = match (route, known.ticket.clone()) {
        (Route::NewTicket { linked, quiet }, _) => {
            open(m, &known, linked, quiet, &actor, r, now, &mut d)
        }
        (Route::Ticket(_), Some(t)) => existing(m, t, &actor, r, now, &mut d),
        // Stored alone: unthreaded automatic mail, a consultant mail naming
        // no ticket, or a ticket that no longer exists.
        (Route::Alone | Route::Ticket(_), _) => alone(a, &actor, r, &mut d),
    };
    if let Some(x) = &r.sending {
        queue_mails(m, &known, &applied, x, r, now, &mut d)?;
    }
    d.suppress = feedback_suppressions(a);
    if let Some((_, reason)) = d.suppress.first() {
        d.events
            .push(Record::ours(Event::FeedbackReport, Some(reason.clone())));
    }
    Ok(d)
}

/// Who to tell that their message was too large.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// Their address.
    pub address: String,
    /// The message's subject.
    pub subject: String,
    /// The language to write in.
    pub language: Lang,
}

/// A message over the size limit: quarantined raw, never applied; its
/// sender (a person, never an automatic mail) is told.
pub fn too_large(
    message: i64,
    size: u64,
    limit: u64,
    sender: Option<&Sender>,
    recent: &Recent,
    r: &Rules<'_>,
) -> Decision {
    const MB: u64 = 1024 * 1024;
    let (size_mb, limit_mb) = (size.div_ceil(MB), limit / MB);
    let mut d = Decision::new(None);
    d.quarantine = Some(format!(
        "larger than the limit of {limit_mb} MB ({size_mb} MB)"
    ));
    d.summary.quarantined += 1;
    let (Some(x), Some(sender)) = (&r.sending, sender) else {
        return d;
    };
    // A template that cannot render leaves the sender untold; templates
    // are checked when they are loaded.
    if let Ok(mail) = x.composer.to_sender(
        &sender.address,
        sender.language,
        format!("too-large:m{message}"),
        template::TOO_LARGE,
        serde_json::json!({"subject": sender.subject, "size_mb": size_mb, "limit_mb": limit_mb}),
    ) {
        let held = recent.over(&x.limits, &mail.to);
        d.mails.push((mail, held));
    }
    d
}

/// A message whose analysis ran over its budget: quarantined at once with
/// the reason (analysing it again would only take as long).
pub fn over_budget(budget: std::time::Duration) -> Decision {
    let mut d = Decision::new(None);
    d.quarantine = Some(format!(
        "its analysis ran over the budget of {} s ([limits] analysis-budget-secs); nothing applied",
        budget.as_secs()
    ));
    d.summary.quarantined += 1;
    d
}

/// Who the audit trail names as the message's actor.
fn actor(a: &Analysis) -> String {
    if a.requester.address.is_empty() {
        "unknown".to_string()
    } else {
        a.requester.address.clone()
    }
}

/// A delivery report that names one of our mails fails it (a delay only
/// notes it, a success report never fails it).
fn record_bounce(a: &Analysis, known: &Known, d: &mut Decision) {
    if a.kind != Kind::Bounce {
        return;
    }
    let Some((outbox, _)) = known.named_mail else {
        return;
    };
    let outcome = a.report.bounce_outcome.unwrap_or(Outcome::Failed);
    let (what, text) = match outcome {
        Outcome::Failed => (Event::MailBounced, "bounced: permanent failure"),
        Outcome::Delayed => (Event::MailBounced, "bounced: delayed"),
        Outcome::Delivered => (Event::MailDelivered, "delivery report: delivered"),
    };
    let reason = match &a.report.bounce_detail {
        Some(detail) => format!("{text}: {detail}"),
        None => text.to_string(),
    };
    d.events.push(Record::ours(
        what,
        Some(format!("outbox {outbox}: {reason}")),
    ));
    d.bounce = Some(BounceMark {
        outbox,
        permanent: outcome == Outcome::Failed,
        reason,
        recipients: a.report.bounced_recipients.clone(),
    });
}

/// A new ticket from this message.
#[allow(clippy::too_many_arguments)]
fn open(
    m: &Message<'_>,
    known: &Known,
    linked: Option<u64>,
    quiet: bool,
    actor: &str,
    r: &Rules<'_>,
    now: DateTime<Utc>,
    d: &mut Decision,
) -> Applied {
    let mut t = new_ticket(known.next_number, m.analysis, m.received_at, r);
    let detail = match (&m.analysis.opened_by, linked) {
        (Some(by), _) => Some(format!(
            "opened by {by} for {}",
            m.analysis.requester.address
        )),
        (None, Some(l)) => Some(format!("linked to {}-{l}", r.prefix)),
        (None, None) => None,
    };
    d.events.push(Record::new(actor, Event::Opened, detail));
    if quiet {
        d.events.push(Record::ours(
            Event::NoAcknowledgement,
            Some(m.analysis.rule.into()),
        ));
    }
    // Imported history: a deadline already past is recorded as breached,
    // without an escalation.
    if t.deadline_at < now {
        t.breached = true;
        d.events.push(Record::ours(
            Event::Breached,
            Some("the deadline had passed when the message was applied".into()),
        ));
    }
    d.timers.set = response_timers(&t, r, now);
    d.summary.new_tickets += 1;
    d.ticket = Some((t, true));
    Applied {
        opened: Some(linked),
        quiet,
        effects: Vec::new(),
        errors: Vec::new(),
    }
}

/// The lifecycle input of a message to an existing ticket; `None` with the
/// errors to tell when a consultant's mail is rejected.
fn input<'a>(
    a: &'a Analysis,
    fields: &'a [&'a str],
    t: &Ticket,
    at: DateTime<Utc>,
    r: &Rules<'_>,
    d: &mut Decision,
) -> Result<Input<'a>, Vec<String>> {
    let from = a.requester.address.as_str();
    match a.kind {
        Kind::ConsultantCommand if !a.errors.is_empty() => {
            d.events.push(Record::new(
                actor(a),
                Event::CommandRejected,
                Some(
                    a.errors
                        .iter()
                        .map(|e| e.message.clone())
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            ));
            Err(tag_errors(a, r))
        }
        Kind::ConsultantCommand if a.authenticated != Some(true) => {
            d.events
                .push(Record::new(actor(a), Event::SenderCheckFailed, None));
            Err(vec![sender_check_failed(r.consultant_language)])
        }
        Kind::ConsultantCommand => Ok(Input::Consultant {
            from,
            commands: &a.commands,
            text: &a.text,
            added: &a.copied,
            at,
        }),
        Kind::AutoReply | Kind::Bounce | Kind::OwnLoop | Kind::Feedback | Kind::NotMail => {
            Ok(Input::Automatic { kind: a.kind })
        }
        Kind::Reply | Kind::New | Kind::List => Ok(Input::Customer {
            from,
            fields_present: fields,
            // Only the requester's copies join the ticket.
            added: if from == t.requester { &a.copied } else { &[] },
            may_add: !a.dmarc_fail,
            at,
        }),
    }
}

/// The explanation of a failed sender check, in the consultant's language.
fn sender_check_failed(lang: Lang) -> String {
    match lang {
        Lang::En => "the sender check failed: reply to the notification supportd sent you, so that your token goes with the reply".into(),
        Lang::Pl => "weryfikacja nadawcy nie powiodła się: odpowiadaj na powiadomienie od supportd, aby Twój token był w odpowiedzi".into(),
    }
}

/// A consultant mail's tag errors, in the consultant's language.
fn tag_errors(a: &Analysis, r: &Rules<'_>) -> Vec<String> {
    a.errors
        .iter()
        .map(|e| {
            let message = e.problem.message(r.consultant_language);
            if e.line == 0 {
                message
            } else {
                // The line as written, so the consultant sees which one.
                format!("{} — {message}", crate::mail::clean::one_line(&e.text, 80))
            }
        })
        .collect()
}

/// A message applied to the ticket it names.
fn existing(
    m: &Message<'_>,
    mut t: Ticket,
    actor: &str,
    r: &Rules<'_>,
    now: DateTime<Utc>,
    d: &mut Decision,
) -> Applied {
    let a = m.analysis;
    let fields = crate::mail::present_fields(a);
    let (received, current) = (t.received_at, t.deadline_at);
    let deadline_for = |sev: Severity| {
        r.policy
            .deadline(r.calendar, received, sev)
            .unwrap_or(current)
    };
    let ctx = super::Context {
        deadline_for: &deadline_for,
        consultants: r.consultants,
        max_participants: r.max_participants,
        deliverable: r.deliverable,
    };
    let mut effects = Vec::new();
    let mut errors = Vec::new();
    match input(a, &fields, &t, m.received_at, r, d) {
        Ok(input) => {
            match a.kind {
                Kind::ConsultantCommand => d.summary.commands_applied += 1,
                Kind::Reply | Kind::New | Kind::List => d.summary.replies += 1,
                kind => d.summary.count_automatic(kind),
            }
            for e in super::apply(&mut t, &input, &ctx) {
                match e {
                    Effect::Event(what, detail) => d.events.push(Record::new(actor, what, detail)),
                    other => effects.push(other),
                }
            }
        }
        Err(e) => {
            d.summary.commands_rejected += 1;
            d.rejected = true;
            errors = e;
        }
    }
    clocks(&t, &effects, r, now, d);
    d.ticket = Some((t, false));
    Applied {
        opened: None,
        quiet: false,
        effects,
        errors,
    }
}

/// The clocks: acceptance or an answer stops them; waiting starts the
/// silence chain; a new severity moves the response clock.
fn clocks(t: &Ticket, effects: &[Effect], r: &Rules<'_>, now: DateTime<Utc>, d: &mut Decision) {
    if effects.contains(&Effect::StopClocks) {
        d.timers.clear = true;
    }
    if effects.contains(&Effect::StartSilenceClock) {
        d.timers.clear = true;
        if let Some(since) = t.silence_since {
            let after = r.calendar.add_calendar_days(since, r.silence_days);
            if let Ok(at) = r.calendar.next_opening(after) {
                d.timers.set.push((Step::FollowUp(1), at));
            }
        }
    }
    if t.state == State::New && d.has(Event::SeverityChanged) {
        d.timers.clear_response = true;
        d.timers.set.extend(response_timers(t, r, now));
    }
}

/// A message that touches no ticket.
fn alone(a: &Analysis, actor: &str, r: &Rules<'_>, d: &mut Decision) -> Applied {
    let mut errors = Vec::new();
    match a.kind {
        Kind::Bounce | Kind::AutoReply | Kind::OwnLoop | Kind::Feedback => {
            d.summary.count_automatic(a.kind)
        }
        Kind::ConsultantCommand => {
            d.summary.commands_rejected += 1;
            d.rejected = true;
            errors = tag_errors(a, r);
        }
        _ => {}
    }
    d.events.push(Record::new(
        actor,
        Event::StoredAlone,
        Some(a.kind.as_str().into()),
    ));
    Applied {
        opened: None,
        quiet: false,
        effects: Vec::new(),
        errors,
    }
}

/// The mails the message causes, each checked against the rate limit, and
/// the missing-information reminder after an acknowledgement that went out.
fn queue_mails(
    m: &Message<'_>,
    known: &Known,
    applied: &Applied,
    x: &Sending<'_>,
    r: &Rules<'_>,
    now: DateTime<Utc>,
    d: &mut Decision,
) -> Result<(), String> {
    let a = m.analysis;
    let t = d.ticket.as_ref().map(|(t, _)| t);
    // Consultants hear of mail to this customer held back by the rate
    // limit: earlier ones, and the acknowledgement about to be held
    // (decided here once, before the notification is written).
    let ack_held = match (t, applied.opened) {
        (Some(t), Some(_)) if !applied.quiet && !a.suppress_ack && !a.dmarc_fail => {
            let to: Vec<String> = t.participants.iter().cloned().collect();
            known.recent.over(&x.limits, &to)
        }
        _ => false,
    };
    let held = match (t, applied.opened) {
        (Some(_), None) => known.held_on_ticket,
        _ => u32::from(ack_held),
    };
    let joined: Vec<String> = match (t, &known.ticket) {
        (Some(after), Some(before)) if applied.opened.is_none() => after
            .participants
            .difference(&before.participants)
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    // A note this message adds is news for the consultants it notifies.
    let mut notes = known.notes.clone();
    notes.extend(
        d.events
            .iter()
            .filter(|e| e.what == Event::Note)
            .filter_map(|e| Some(format!("{}: {}", e.actor, e.detail.as_deref()?))),
    );
    let plan = MessageMails {
        a,
        message: m.id,
        received_at: m.received_at,
        opened: applied.opened,
        linked_closed: known
            .ticket
            .as_ref()
            .is_some_and(|t| t.state == State::Closed),
        quiet: applied.quiet,
        state_before: match applied.opened {
            Some(_) => None,
            None => known.ticket.as_ref().map(|t| t.state),
        },
        effects: &applied.effects,
        errors: &applied.errors,
        held,
        completed: d.has(Event::ReportCompleted),
        joined: &joined,
        notes: &notes,
        next_contact: d
            .timers
            .set
            .iter()
            .find(|(s, _)| *s == Step::FollowUp(1))
            .map(|(_, at)| *at),
        reopen_until: m.received_at + chrono::Duration::days(r.reopen_days.into()),
    };
    let mails = super::compose::message_mails(x, r.consultants, t, &plan)
        .map_err(|e| format!("cannot compose a mail: {e}"))?;
    hold_or_count(mails, known, ack_held, x, r, d);
    missing_info_timer(r, now, d);
    Ok(())
}

/// Each mail checked against the rate limits (held or counted), and the
/// first consultant mail through after a hold owns up to what was held.
fn hold_or_count(
    mails: Vec<Mail>,
    known: &Known,
    ack_held: bool,
    x: &Sending<'_>,
    r: &Rules<'_>,
    d: &mut Decision,
) {
    let mut recent = known.recent.clone();
    for mut mail in mails {
        let to_consultant = mail.audience == super::compose::Audience::Consultant;
        let automatic = mail.audience == super::compose::Audience::Customer && mail.automatic;
        let held = if mail.template == template::ACK {
            ack_held
        } else if to_consultant {
            // A flood of (forged) mail cannot bury a consultant's inbox.
            mail.automatic && mail.to.iter().any(|c| recent.over_consultant(&x.limits, c))
        } else {
            automatic && recent.over(&x.limits, &mail.to)
        };
        if held {
            d.events.push(Record::ours(
                Event::HeldByRateLimit,
                Some(mail.to.join(", ")),
            ));
        } else if automatic || to_consultant && mail.automatic {
            recent.count(&mail.to);
        }
        if to_consultant && !held {
            let n: u32 = mail.to.iter().filter_map(|c| known.held_for.get(c)).sum();
            super::compose::note_held(&mut mail, n, r.consultant_language);
        }
        d.mails.push((mail, held));
    }
}

/// The report's missing items are asked for once more, some working days
/// after an acknowledgement that went out (the scheduler checks again then).
fn missing_info_timer(r: &Rules<'_>, now: DateTime<Utc>, d: &mut Decision) {
    let Some((t, true)) = &d.ticket else { return };
    let acknowledged = d
        .mails
        .iter()
        .any(|(m, held)| m.template == template::ACK && !held);
    if !acknowledged || t.missing_to_remind().is_empty() {
        return;
    }
    if let Ok(at) = r
        .calendar
        .add_working_seconds(now, r.missing_info_secs)
        .and_then(|at| r.calendar.next_opening(at))
    {
        d.timers.set.push((Step::MissingInfo, at));
    }
}

/// A feedback report's reported recipients get no more automatic mail: the
/// addresses and the reason.
fn feedback_suppressions(a: &Analysis) -> Vec<(String, String)> {
    if a.kind != Kind::Feedback {
        return Vec::new();
    }
    let what = a.report.feedback_type.as_deref().unwrap_or("unspecified");
    let reason = format!("feedback report ({what}) from {}", a.requester.address);
    a.report
        .reported_recipients
        .iter()
        .map(|r| (r.clone(), reason.clone()))
        .collect()
}

/// The response-clock timers of a new ticket: one per reminder fraction
/// and the breach at the deadline, those already past left out.
pub fn response_timers(
    t: &Ticket,
    r: &Rules<'_>,
    now: DateTime<Utc>,
) -> Vec<(Step, DateTime<Utc>)> {
    let mut out: Vec<(Step, DateTime<Utc>)> = r
        .policy
        .reminders()
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            r.policy
                .fraction_at(r.calendar, t.received_at, t.severity, *f)
                .ok()
                .map(|at| (Step::Reminder(i as u8 + 1), at))
        })
        .collect();
    out.push((Step::Breach, t.deadline_at));
    out.retain(|(_, at)| *at > now);
    out
}

/// A new ticket for an analysed message.
fn new_ticket(number: u64, a: &Analysis, received_at: DateTime<Utc>, r: &Rules<'_>) -> Ticket {
    let severity = a.severity;
    let deadline_at = r
        .policy
        .deadline(r.calendar, received_at, severity)
        .unwrap_or(received_at);
    let requester = a.requester.address.clone();
    Ticket {
        number,
        requester: requester.clone(),
        // The requester and whoever they copied on the request (none when
        // our server recorded a DMARC failure: the From is forged), only
        // addresses our mail can go to, at most the cap.
        participants: std::iter::once(requester)
            .chain(a.copied.iter().filter(|_| !a.dmarc_fail).cloned())
            .filter(|p| !p.is_empty() && (r.deliverable)(p) && !r.consultants.contains(p))
            .take(r.max_participants)
            .collect(),
        // Without reply prefixes and without our tags of earlier tickets
        // (a stranger's reply to SS-2 opens SS-3, never "[SS-3] [SS-2]").
        subject: super::compose::without_our_tags(&a.subject, r.prefix),
        severity,
        state: State::New,
        language: a.language,
        received_at,
        deadline_at,
        accepted_at: None,
        // A consultant who opened it for the customer owns it.
        owner: a.opened_by.clone(),
        fields_found: crate::mail::present_fields(a)
            .iter()
            .map(|f| f.to_string())
            .collect(),
        spam: false,
        unreachable: false,
        breached: false,
        followups_sent: 0,
        silence_since: None,
        closed_at: None,
        thread_root: a.message_id.clone(),
    }
}

#[cfg(test)]
mod tests;
