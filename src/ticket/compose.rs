//! Every mail supportd sends, composed from templates and the ticket: the
//! one place that decides what a mail says and whom it goes to (pure). The
//! decisions ([`super::decide`] for a message, [`super::schedule`] for a
//! due timer) call it; the store queues what it returns; the outbox only
//! sends.
//!
//! Our markers (design.md "Outbound mail"): `X-Loop: <support address>`;
//! Message-ID `<SS-N.<outbox id>.<mac>@<support domain>>` (completed by the
//! store once the row has its id); a body footer `[SS-N:<mac>]`; envelope
//! sender `support+bounce-<outbox id>@<support domain>`; subjects
//! `Re: [SS-N] <subject>`; `Auto-Submitted: auto-replied` on automatic mail
//! only, never on a consultant's relayed words. Mail to one consultant
//! carries that consultant's token in its Message-ID and in Reply-To
//! (`support+SS-N.<mac>@`), so that their reply is authenticated.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::{Ticket, To};
use crate::lang::Lang;
use crate::mail::token;
use crate::sla::{Calendar, Severity, local};
use crate::templates::{self, Templates};

/// Whom a composed mail is for: a customer (rate-limited when automatic) or
/// a consultant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Participants of a ticket.
    Customer,
    /// One consultant (or the escalation address).
    Consultant,
}

/// A finished mail, ready to be stored as an outbox row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mail {
    /// One logical mail: the same key is never queued twice.
    pub key: String,
    /// Template name.
    pub template: &'static str,
    /// Automatic (not a person's words): `Auto-Submitted`, rate-limited.
    pub automatic: bool,
    /// Who it is for.
    pub audience: Audience,
    /// Recipients.
    pub to: Vec<String>,
    /// Headers other than Message-ID (the store adds it with the row id).
    pub headers: BTreeMap<String, String>,
    /// The MAC that goes into the Message-ID.
    pub id_mac: String,
    /// Plain-text body, footer included.
    pub body: String,
    /// What of a stored message goes along.
    pub attach: Option<Attach>,
    /// A file that goes along (the monthly report's HTML page).
    #[serde(skip)]
    pub file: Option<File>,
}

/// A file attached to a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Its name.
    pub name: String,
    /// Its MIME type, e.g. `text/html; charset=utf-8`.
    pub content_type: String,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// Puts a paragraph on top of a consultant's mail saying that `n` mails
/// to them were held back by the hourly limit (nothing when `n` is 0).
pub fn note_held(mail: &mut Mail, n: u32, lang: Lang) {
    if n == 0 {
        return;
    }
    let note = match lang {
        Lang::En => format!(
            "{n} earlier {} to you {} held back by the hourly limit ([limits] consultant-mails-per-hour); \
             list {} with: supportd outbox list --held",
            if n == 1 { "mail" } else { "mails" },
            if n == 1 { "was" } else { "were" },
            if n == 1 { "it" } else { "them" },
        ),
        Lang::Pl => format!(
            "{n} {} do Ciebie {} przez limit godzinowy ([limits] consultant-mails-per-hour); \
             lista: supportd outbox list --held",
            crate::lang::pl_plural(
                n,
                "wcześniejsza wiadomość",
                "wcześniejsze wiadomości",
                "wcześniejszych wiadomości"
            ),
            crate::lang::pl_plural(
                n,
                "została wstrzymana",
                "zostały wstrzymane",
                "zostało wstrzymanych"
            ),
        ),
    };
    mail.body = format!("{note}\n\n{}", mail.body);
}

/// What of a stored message a mail carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Attach {
    /// The whole message, as `message/rfc822` (notifications to consultants).
    Original(i64),
    /// Only its attachments (a consultant's files relayed to the customer).
    AttachmentsOf(i64),
}

impl Attach {
    /// The stored message.
    pub fn message(self) -> i64 {
        match self {
            Attach::Original(id) | Attach::AttachmentsOf(id) => id,
        }
    }
}

/// What composing needs besides the ticket.
pub struct Composer<'a> {
    /// Templates.
    pub templates: &'a Templates,
    /// The support address (lower-cased).
    pub support_address: &'a str,
    /// Display name of the support address.
    pub support_name: &'a str,
    /// Ticket prefix.
    pub prefix: &'a str,
    /// Token key.
    pub key: &'a [u8],
    /// The calendar, for local deadlines.
    pub calendar: &'a Calendar,
    /// Language of consultant mail.
    pub consultant_language: Lang,
    /// Recipients of one mail at most.
    pub max_recipients: usize,
    /// Whether our mail can be sent to an address.
    pub deliverable: &'a (dyn Fn(&str) -> bool + Sync),
}

/// The contract's name of each severity, for customers (§5.1-§5.5).
pub fn severity_name(s: Severity, lang: Lang) -> &'static str {
    match (s, lang) {
        (Severity::Critical, Lang::En) => "product not working",
        (Severity::Major, Lang::En) => "component out of order",
        (Severity::Minor, Lang::En) => "component not working as documented",
        (Severity::Question, Lang::En) => "question",
        (Severity::Suggestion, Lang::En) => "suggestion",
        (Severity::Critical, Lang::Pl) => "produkt nie działa",
        (Severity::Major, Lang::Pl) => "awaria komponentu",
        (Severity::Minor, Lang::Pl) => "komponent działa niezgodnie z dokumentacją",
        (Severity::Question, Lang::Pl) => "pytanie",
        (Severity::Suggestion, Lang::Pl) => "sugestia",
    }
}

/// How each report field is asked for, in each language.
pub fn field_prompt(field: &str, lang: Lang) -> (&'static str, &'static str) {
    match (field, lang) {
        ("subject", Lang::En) => ("subject", "a subject line that names the problem"),
        ("occurrence_time", Lang::En) => (
            "time of occurrence",
            "when exactly did it happen (date and time)?",
        ),
        ("diagnosis_steps", Lang::En) => {
            ("diagnosis steps", "what have you already checked or tried?")
        }
        ("description", Lang::En) => (
            "description",
            "what happens, where and in which circumstances?",
        ),
        ("screenshots", Lang::En) => (
            "screenshots",
            "please attach a screenshot showing the problem",
        ),
        ("messages", Lang::En) => ("messages", "the exact text of any error message"),
        ("expectations", Lang::En) => ("expectations", "what did you expect to happen?"),
        ("subject", Lang::Pl) => ("temat", "temat, który nazywa problem"),
        ("occurrence_time", Lang::Pl) => (
            "czas wystąpienia",
            "kiedy dokładnie wystąpił problem (data i godzina)?",
        ),
        ("diagnosis_steps", Lang::Pl) => (
            "kroki diagnostyczne",
            "co już Państwo sprawdzili lub próbowali?",
        ),
        ("description", Lang::Pl) => ("opis", "co się dzieje, gdzie i w jakich okolicznościach?"),
        ("screenshots", Lang::Pl) => ("zrzuty ekranu", "prosimy o zrzut ekranu pokazujący problem"),
        ("messages", Lang::Pl) => ("komunikaty", "dokładna treść komunikatu o błędzie"),
        ("expectations", Lang::Pl) => ("oczekiwania", "czego Państwo oczekiwali?"),
        (_, _) => ("", ""),
    }
}

impl Composer<'_> {
    /// The support address's domain.
    pub fn domain(&self) -> &str {
        self.support_address.rsplit_once('@').map_or("", |(_, d)| d)
    }

    fn reference(&self, t: &Ticket) -> String {
        format!("{}-{}", self.prefix, t.number)
    }

    fn sender_header(&self) -> String {
        format!("{} <{}>", self.support_name, self.support_address)
    }

    /// Variables every template may use.
    fn context(&self, t: &Ticket, lang: Lang, missing: &[&str]) -> serde_json::Value {
        let tz = self.calendar.timezone();
        json!({
            "ref": self.reference(t),
            "subject": without_our_tags(&t.subject, self.prefix),
            "state_name": state_name(t.state, lang),
            "owner": t.owner.clone().unwrap_or_default(),
            "severity": t.severity.number(),
            "severity_name": severity_name(t.severity, lang),
            "deadline": local::render_local(t.deadline_at, tz, lang),
            "received": local::render_local(t.received_at, tz, lang),
            "state": t.state.as_str(),
            "requester": t.requester,
            "support_name": self.support_name,
            "prefix": self.prefix,
            "missing": missing.iter().map(|f| {
                let (label, prompt) = field_prompt(f, lang);
                json!({"field": f, "label": label, "prompt": prompt})
            }).collect::<Vec<_>>(),
        })
    }

    /// A mail to the ticket's participants (customers).
    #[allow(clippy::too_many_arguments)]
    pub fn to_customer(
        &self,
        t: &Ticket,
        key: String,
        template: &'static str,
        automatic: bool,
        extra: serde_json::Value,
        missing: &[&str],
        in_reply_to: Option<&str>,
    ) -> templates::Result<Mail> {
        let lang = t.language;
        let mut ctx = self.context(t, lang, missing);
        merge(&mut ctx, extra);
        let r = self.templates.render(template, lang, &ctx)?;
        let mac = token::ticket_mac(self.key, &self.reference(t));
        let mut headers = self.base_headers(&r.subject, automatic);
        let to = self.customer_recipients(t, automatic);
        headers.insert("To".into(), to.join(", "));
        self.thread_headers(t, in_reply_to, &mut headers);
        Ok(Mail {
            key,
            template,
            automatic,
            audience: Audience::Customer,
            to,
            headers,
            body: format!(
                "{}\n{}\n",
                r.body.trim_end(),
                token::footer(&self.reference(t), &mac)
            ),
            id_mac: mac,
            attach: None,
            file: None,
        })
    }

    /// Who a mail to the ticket's customers goes to: automatic mail to the
    /// requester alone (support@ never mails strangers on its own); a
    /// person's words (a consultant's relay, a request for information) to
    /// the participants, at most `max_recipients`. Only addresses our mail
    /// can be sent to; none: the mail is not sent.
    fn customer_recipients(&self, t: &Ticket, automatic: bool) -> Vec<String> {
        let mut to: Vec<String> = if automatic {
            vec![t.requester.clone()]
        } else {
            // The requester first, then the others in order.
            std::iter::once(&t.requester)
                .chain(t.participants.iter().filter(|p| **p != t.requester))
                .cloned()
                .collect()
        };
        to.retain(|a| (self.deliverable)(a));
        to.truncate(self.max_recipients);
        to
    }

    /// A mail to one consultant, carrying that consultant's token.
    #[allow(clippy::too_many_arguments)]
    pub fn to_consultant(
        &self,
        t: &Ticket,
        consultant: &str,
        key: String,
        template: &'static str,
        extra: serde_json::Value,
        missing: &[&str],
        attach_message: Option<i64>,
    ) -> templates::Result<Mail> {
        let lang = self.consultant_language;
        let mut ctx = self.context(t, lang, missing);
        merge(&mut ctx, extra);
        let r = self.templates.render(template, lang, &ctx)?;
        let reference = self.reference(t);
        let mac = token::consultant_mac(self.key, &reference, consultant);
        let mut headers = self.base_headers(&r.subject, true);
        headers.insert("To".into(), consultant.to_string());
        headers.insert("Reply-To".into(), self.token_address(&reference, &mac));
        self.thread_headers(t, None, &mut headers);
        let footer_mac = token::ticket_mac(self.key, &reference);
        Ok(Mail {
            key,
            template,
            automatic: true,
            audience: Audience::Consultant,
            to: vec![consultant.to_string()],
            headers,
            body: format!(
                "{}\n{}\n",
                r.body.trim_end(),
                token::footer(&reference, &footer_mac)
            ),
            id_mac: mac,
            attach: attach_message.map(Attach::Original),
            file: None,
        })
    }

    /// A mail about a consultant's own mail whose tags could not be
    /// applied: the errors and what they wrote, quoted. On a ticket it
    /// carries their token and sits in the ticket's thread, so that a
    /// corrected reply to it is applied.
    pub fn command_error(
        &self,
        consultant: &str,
        key: String,
        failed: &FailedMail<'_>,
        t: Option<&Ticket>,
    ) -> templates::Result<Mail> {
        let ctx = json!({
            "subject": crate::mail::thread::strip_reply_prefixes(
                &crate::mail::clean::one_line(failed.subject, 200)
            ),
            "errors": failed.errors,
            "valid_tags": crate::mail::tags::valid_tags(),
            "prefix": self.prefix,
            "quoted": quote(failed.text, 40),
        });
        let r = self.templates.render(
            super::template::COMMAND_ERROR,
            self.consultant_language,
            &ctx,
        )?;
        let mut headers = self.base_headers(&r.subject, true);
        headers.insert("To".into(), consultant.to_string());
        let mut id_mac = String::new();
        if let Some(t) = t {
            let reference = self.reference(t);
            id_mac = token::consultant_mac(self.key, &reference, consultant);
            headers.insert("Reply-To".into(), self.token_address(&reference, &id_mac));
            self.thread_headers(t, failed.message_id, &mut headers);
        } else if let Some(id) = failed.message_id.and_then(safe_id) {
            headers.insert("In-Reply-To".into(), format!("<{id}>"));
            headers.insert("References".into(), format!("<{id}>"));
        }
        Ok(Mail {
            key,
            template: super::template::COMMAND_ERROR,
            automatic: true,
            audience: Audience::Consultant,
            to: vec![consultant.to_string()],
            headers,
            body: r.body,
            id_mac,
            attach: None,
            file: None,
        })
    }

    /// `In-Reply-To` and `References` that chain a mail into its ticket's
    /// thread (RFC 5322 section 3.6.4): every mail of a ticket refers to
    /// the ticket's first message, and answers `parent` when it is about
    /// one message. A ticket with no usable first Message-ID gets one of
    /// ours, the same for all its mails.
    pub fn thread_headers(
        &self,
        t: &Ticket,
        parent: Option<&str>,
        headers: &mut BTreeMap<String, String>,
    ) {
        let root = t
            .thread_root
            .as_deref()
            .and_then(safe_id)
            .map(str::to_string)
            .unwrap_or_else(|| {
                let reference = self.reference(t);
                let mac = token::ticket_mac(self.key, &reference);
                format!("{reference}.thread.{mac}@{}", self.domain())
            });
        let parent = parent.and_then(safe_id).unwrap_or(&root);
        headers.insert("In-Reply-To".into(), format!("<{parent}>"));
        let references = if parent == root {
            format!("<{root}>")
        } else {
            format!("<{root}> <{parent}>")
        };
        headers.insert("References".into(), references);
    }

    /// Chains a composed mail to the message it is about.
    pub fn answer(&self, t: &Ticket, mail: &mut Mail, parent: Option<&str>) {
        self.thread_headers(t, parent, &mut mail.headers);
    }

    /// A consultant's reply address for a ticket: `support+SS-N.<mac>@`.
    fn token_address(&self, reference: &str, mac: &str) -> String {
        let local = self
            .support_address
            .rsplit_once('@')
            .map_or(self.support_address, |(l, _)| l);
        format!("{local}+{reference}.{mac}@{}", self.domain())
    }

    /// A rendered mail about no ticket (the digest, a report), to `to`.
    pub fn ticketless(
        &self,
        to: &str,
        key: String,
        template: &'static str,
        r: &templates::Rendered,
        audience: Audience,
    ) -> Mail {
        let mut headers = self.base_headers(&r.subject, true);
        headers.insert("To".into(), to.to_string());
        Mail {
            key,
            template,
            automatic: true,
            audience,
            to: vec![to.to_string()],
            headers,
            id_mac: String::new(),
            body: r.body.clone(),
            attach: None,
            file: None,
        }
    }

    /// An automatic mail to a sender who has no ticket (a message too large).
    pub fn to_sender(
        &self,
        to: &str,
        lang: Lang,
        key: String,
        template: &'static str,
        ctx: serde_json::Value,
    ) -> templates::Result<Mail> {
        let mut ctx = ctx;
        merge(&mut ctx, json!({"support_name": self.support_name}));
        let r = self.templates.render(template, lang, &ctx)?;
        Ok(self.ticketless(to, key, template, &r, Audience::Customer))
    }

    fn base_headers(&self, subject: &str, automatic: bool) -> BTreeMap<String, String> {
        let mut h = BTreeMap::new();
        h.insert("From".into(), self.sender_header());
        h.insert("Subject".into(), subject.to_string());
        h.insert("X-Loop".into(), self.support_address.to_string());
        if automatic {
            h.insert("Auto-Submitted".into(), "auto-replied".into());
        }
        h
    }
}

/// What queueing outgoing mail needs: templates and markers, whom
/// escalations go to, and the rate limits of automatic mail.
pub struct Sending<'a> {
    /// Templates, addresses and the token key.
    pub composer: Composer<'a>,
    /// Escalation recipients (empty: every consultant).
    pub escalation: &'a [String],
    /// Hourly limits of automatic mail to customers.
    pub limits: super::limits::Limits,
}

/// The consultants an audience names (participants are the ticket's).
pub fn recipients(
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

/// The first line of a notification about a customer's message.
fn event_line(lang: Lang, new: bool, before: Option<super::State>) -> &'static str {
    use super::State;
    match (lang, new, before) {
        (Lang::En, true, _) => "New request.",
        (Lang::En, false, Some(State::Resolved)) => {
            "The customer answered your proposed solution: reply #close if it is solved, or answer them."
        }
        (Lang::En, false, Some(State::Waiting)) => "The customer answered.",
        (Lang::En, false, _) => "The customer wrote.",
        (Lang::Pl, true, _) => "Nowe zgłoszenie.",
        (Lang::Pl, false, Some(State::Resolved)) => {
            "Klient odpowiedział na zaproponowane rozwiązanie: odpisz #close, jeśli problem jest rozwiązany, albo odpowiedz klientowi."
        }
        (Lang::Pl, false, Some(State::Waiting)) => "Klient odpowiedział.",
        (Lang::Pl, false, _) => "Klient napisał.",
    }
}

/// Why a new ticket was linked to an earlier one, for consultants.
fn linked_why(lang: Lang, closed: bool) -> &'static str {
    match (lang, closed) {
        (Lang::En, true) => "which is closed",
        (Lang::En, false) => "whose participants do not include this sender",
        (Lang::Pl, true) => "które jest zamknięte",
        (Lang::Pl, false) => "do którego ten nadawca nie należy",
    }
}

/// What happened to one message, for composing its mails.
pub struct MessageMails<'a> {
    /// Its analysis.
    pub a: &'a crate::mail::Analysis,
    /// Its row in the store.
    pub message: i64,
    /// When our server received it.
    pub received_at: chrono::DateTime<chrono::Utc>,
    /// A ticket was opened (linked to the given earlier one, if any).
    pub opened: Option<Option<u64>>,
    /// The earlier ticket a new one is linked to is closed (else the
    /// sender is not one of its people).
    pub linked_closed: bool,
    /// It was opened without acknowledgement (list mail).
    pub quiet: bool,
    /// The ticket's state before the message (`None`: a new ticket).
    pub state_before: Option<super::State>,
    /// What the lifecycle asked for.
    pub effects: &'a [super::Effect],
    /// Errors to tell the consultant.
    pub errors: &'a [String],
    /// Automatic mails to this customer held back by the rate limit.
    pub held: u32,
    /// This message completed the report.
    pub completed: bool,
    /// Who joined the ticket by this message.
    pub joined: &'a [String],
    /// The ticket's internal notes, newest last, for consultants.
    pub notes: &'a [String],
    /// When the customer is written to next if they stay silent.
    pub next_contact: Option<chrono::DateTime<chrono::Utc>>,
    /// Until when a reply reopens the ticket once it is closed.
    pub reopen_until: chrono::DateTime<chrono::Utc>,
}

/// The mails one message causes: an error reply to a consultant, the
/// acknowledgement and notifications of a new ticket, the one mail a
/// consultant's mail sends the customer, and the lifecycle's other mails.
pub fn message_mails(
    x: &Sending<'_>,
    consultants: &[String],
    t: Option<&Ticket>,
    p: &MessageMails<'_>,
) -> templates::Result<Vec<Mail>> {
    let c = &x.composer;
    let a = p.a;
    let mut out = Vec::new();
    if !p.errors.is_empty() {
        if !consultants.contains(&a.requester.address) {
            return Ok(out);
        }
        out.push(error_mail(c, t, p)?);
    }
    let Some(t) = t else { return Ok(out) };
    let missing = t.missing_fields();
    let clang = c.consultant_language;
    let left = c
        .calendar
        .working_seconds(p.received_at, t.deadline_at)
        .map(|secs| local::render_duration(secs.max(0) as u64, clang))
        .unwrap_or_default();
    // Each note on one line of the notification.
    let notes: Vec<String> = p
        .notes
        .iter()
        .map(|n| {
            let lines: Vec<&str> = n.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            crate::mail::clean::one_line(&lines.join(" / "), 300)
        })
        .collect();
    let notify = |to: &str, event_line: &str, template: &'static str| {
        let mut m = c.to_consultant(
            t,
            to,
            format!("{template}:m{}:{to}", p.message),
            template,
            json!({
                "event_line": event_line,
                "working_time_left": left,
                "held": held_line(p.held, clang),
                "notes": notes,
                "text": a.text,
                "linked_ref": "",
            }),
            &missing,
            Some(p.message),
        )?;
        c.answer(t, &mut m, a.message_id.as_deref());
        Ok(m)
    };
    if let Some(linked) = p.opened {
        out.extend(opening_mails(
            c,
            consultants,
            t,
            p,
            linked,
            &missing,
            &notify,
        )?);
    }
    if a.kind == crate::mail::classify::Kind::ConsultantCommand {
        out.extend(consultant_reply(x, t, p)?);
    }
    for e in p.effects {
        out.extend(effect_mails(x, consultants, t, p, e, &missing, &notify)?);
    }
    out.retain(|m| !m.to.is_empty());
    Ok(out)
}

/// The reply to a consultant mail whose tags could not be applied.
fn error_mail(
    c: &Composer<'_>,
    t: Option<&Ticket>,
    p: &MessageMails<'_>,
) -> templates::Result<Mail> {
    let a = p.a;
    // What they wrote: the tag lines in error, then the rest.
    let mut written: Vec<&str> = a
        .errors
        .iter()
        .filter(|e| e.line > 0)
        .map(|e| e.text.as_str())
        .collect();
    written.push(&a.text);
    let text = written.join("\n");
    let failed = FailedMail {
        subject: &a.subject,
        text: &text,
        message_id: a.message_id.as_deref(),
        errors: p.errors,
    };
    c.command_error(
        &a.requester.address,
        format!("error:m{}", p.message),
        &failed,
        t,
    )
}

/// The mails of a new ticket: the acknowledgement, and each consultant's
/// notification (or the linked-ticket notice).
#[allow(clippy::too_many_arguments)]
fn opening_mails(
    c: &Composer<'_>,
    consultants: &[String],
    t: &Ticket,
    p: &MessageMails<'_>,
    linked: Option<u64>,
    missing: &[&'static str],
    notify: &dyn Fn(&str, &str, &'static str) -> templates::Result<Mail>,
) -> templates::Result<Vec<Mail>> {
    let a = p.a;
    let clang = c.consultant_language;
    let parent = a.message_id.as_deref();
    let mut out = Vec::new();
    if !p.quiet && !a.suppress_ack && !a.dmarc_fail {
        out.push(c.to_customer(
            t,
            format!("ack:{}", t.number),
            super::template::ACK,
            true,
            json!({}),
            missing,
            parent,
        )?);
    }
    let line = match (&a.opened_by, clang) {
        (Some(by), Lang::En) => format!("New request, opened by {by} for the customer."),
        (Some(by), Lang::Pl) => format!("Nowe zgłoszenie otwarte przez {by} w imieniu klienta."),
        (None, _) => event_line(clang, true, None).to_string(),
    };
    for to in consultants {
        let Some(l) = linked else {
            out.push(notify(to, &line, super::template::NOTIFY)?);
            continue;
        };
        let mut m = c.to_consultant(
            t,
            to,
            format!("linked:m{}:{to}", p.message),
            super::template::LINKED,
            json!({
                "linked_ref": format!("{}-{l}", c.prefix),
                "linked_why": linked_why(clang, p.linked_closed),
                "text": a.text,
            }),
            missing,
            Some(p.message),
        )?;
        c.answer(t, &mut m, parent);
        out.push(m);
    }
    Ok(out)
}

/// The one mail a consultant's mail sends the customer: acceptance, a new
/// severity with its deadline, their words, a request for information and
/// a change of state, together. Nothing when it tells them nothing.
fn consultant_reply(
    x: &Sending<'_>,
    t: &Ticket,
    p: &MessageMails<'_>,
) -> templates::Result<Option<Mail>> {
    use super::{Effect, State, Tell};
    let c = &x.composer;
    let a = p.a;
    let tell = |what: Tell| p.effects.contains(&Effect::Tell(what));
    let relay = p.effects.contains(&Effect::Relay {
        to: To::Participants,
    });
    let (accepted, severity, needinfo) = (
        tell(Tell::Accepted),
        tell(Tell::SeverityChanged),
        tell(Tell::NeedInfo),
    );
    let change = match (p.state_before, t.state) {
        (Some(before), after) if before == after => "",
        (_, State::Waiting) => "waiting",
        (_, State::Resolved) => "resolved",
        (_, State::Closed) if !t.spam => "closed",
        (Some(State::Closed), State::Open) => "reopened",
        _ => "",
    };
    let words = relay || needinfo;
    if !(words || accepted || severity || matches!(change, "resolved" | "closed" | "reopened")) {
        return Ok(None);
    }
    let name = a
        .requester
        .name
        .clone()
        .unwrap_or_else(|| a.requester.address.clone());
    let text = if words { a.text.trim_end() } else { "" };
    let tz = c.calendar.timezone();
    let when = |at| local::render_local(at, tz, t.language);
    let missing = if needinfo {
        t.missing_to_remind()
    } else {
        Vec::new()
    };
    let mut m = c.to_customer(
        t,
        format!("reply:m{}", p.message),
        super::template::REPLY,
        // A person's words go to the participants; news alone is automatic.
        !words,
        json!({
            "text": text,
            "consultant_name": name,
            "accepted": accepted,
            "severity_changed": severity,
            "change": change,
            "needinfo": needinfo,
            "next_contact": p.next_contact.map(when).unwrap_or_default(),
            "reopen_until": when(p.reopen_until),
            "sign": text.is_empty() || !signed_by(text, &name),
        }),
        &missing,
        None,
    )?;
    if relay {
        // The consultant's attachments go along (not their whole mail).
        m.attach = Some(Attach::AttachmentsOf(p.message));
    }
    Ok(Some(m))
}

/// The mails of one lifecycle effect of a message (a consultant's news for
/// the customer is [`consultant_reply`]'s).
fn effect_mails(
    x: &Sending<'_>,
    consultants: &[String],
    t: &Ticket,
    p: &MessageMails<'_>,
    e: &super::Effect,
    missing: &[&'static str],
    notify: &dyn Fn(&str, &str, &'static str) -> templates::Result<Mail>,
) -> templates::Result<Vec<Mail>> {
    use super::Effect;
    let c = &x.composer;
    let a = p.a;
    let to_consultants = |to: &To| recipients(to, t, consultants, x.escalation);
    let mut out = Vec::new();
    match e {
        Effect::Relay {
            to: To::Participants,
        }
        | Effect::Tell(_) => {}
        Effect::Relay { to } => {
            // A message that completes the report says so in its
            // notification (one mail, not two).
            let template = if p.completed {
                super::template::REPORT_COMPLETED
            } else {
                super::template::NOTIFY
            };
            for addr in to_consultants(to) {
                out.push(notify(
                    &addr,
                    event_line(c.consultant_language, false, p.state_before),
                    template,
                )?);
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
            json!({"added": p.joined}),
            missing,
            a.message_id.as_deref(),
        )?),
        Effect::Mail { template, to, .. } => {
            for addr in to_consultants(to) {
                let mut m = c.to_consultant(
                    t,
                    &addr,
                    format!("{template}:m{}:{addr}", p.message),
                    template,
                    json!({"text": a.text}),
                    missing,
                    None,
                )?;
                c.answer(t, &mut m, a.message_id.as_deref());
                out.push(m);
            }
        }
        Effect::Event(..) | Effect::StartSilenceClock | Effect::StopClocks => {}
    }
    Ok(out)
}

/// What a fired timer step is, for composing its mails.
pub struct StepMails<'a> {
    /// The ticket as the step found it (the silence clock's start survives
    /// closing there).
    pub before: &'a Ticket,
    /// The ticket after the step.
    pub after: &'a Ticket,
    /// The step.
    pub step: super::timer::Step,
    /// What makes the step's mail keys unique ([`super::timer::stamp`]).
    pub stamp: i64,
    /// What the outbox knew of the follow-up the step depends on.
    pub attempt: &'a super::timer::Attempt,
    /// What the step asked for.
    pub effects: &'a [super::Effect],
    /// The timers it set.
    pub next: &'a [(super::timer::Step, chrono::DateTime<chrono::Utc>)],
    /// Days in which a customer's reply reopens a closed ticket.
    pub reopen_days: u32,
    /// When it fired.
    pub now: chrono::DateTime<chrono::Utc>,
}

/// The mails of a fired step: generated by a timer, so automatic ones say
/// `Auto-Submitted: auto-generated` (RFC 3834 section 5).
pub fn step_mails(
    x: &Sending<'_>,
    consultants: &[String],
    p: &StepMails<'_>,
) -> templates::Result<Vec<Mail>> {
    use super::timer::{self, Step};
    let c = &x.composer;
    let t = p.after;
    let consultant_vars = step_vars(c, p, c.consultant_language);
    // Templates read the state the ticket had when the step fired (a
    // closure is about a ticket that was waiting or resolved).
    let view = if p.step == Step::Close { p.before } else { t };
    let missing = match p.step {
        Step::MissingInfo => t.missing_to_remind(),
        _ => t.missing_fields(),
    };
    let mut out = Vec::new();
    for e in p.effects {
        let super::Effect::Mail {
            template,
            to,
            automatic,
        } = e
        else {
            continue;
        };
        // A follow-up's key is what the next step looks it up by.
        let key = match *template {
            super::template::FOLLOWUP_1 => timer::followup_key(t, 1, p.stamp),
            super::template::FOLLOWUP_2 => timer::followup_key(t, 2, p.stamp),
            // Several steps send the same template (reminder 1 and 2).
            _ => format!("{template}:{}:t{}:{}", p.step.code(), t.number, p.stamp),
        };
        if *to == To::Participants {
            out.push(c.to_customer(
                view,
                key,
                template,
                *automatic,
                step_vars(c, p, view.language),
                &missing,
                None,
            )?);
            continue;
        }
        for addr in recipients(to, t, consultants, x.escalation) {
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
    for m in &mut out {
        if m.automatic {
            m.headers
                .insert("Auto-Submitted".into(), "auto-generated".into());
        }
    }
    out.retain(|m| !m.to.is_empty());
    Ok(out)
}

/// The variables of a step's templates, in a language.
fn step_vars(c: &Composer<'_>, p: &StepMails<'_>, lang: Lang) -> serde_json::Value {
    use super::timer::{Attempt, Step};
    let tz = c.calendar.timezone();
    let when = |at: chrono::DateTime<chrono::Utc>| local::render_local(at, tz, lang);
    let next_at = |want: Step| {
        p.next
            .iter()
            .find(|(s, _)| *s == want)
            .map(|(_, at)| when(*at))
            .unwrap_or_default()
    };
    let left = c
        .calendar
        .working_seconds(p.now, p.after.deadline_at)
        .map(|secs| local::render_duration(secs.max(0) as u64, lang))
        .unwrap_or_default();
    // Why the customer could not be reached (customer-unreachable).
    let reason = match p.attempt {
        Attempt::Failed(r) => r.as_str(),
        _ => "",
    };
    json!({
        "working_time_left": left,
        "since": p.before.silence_since.map(when).unwrap_or_default(),
        "next_step": next_at(Step::FollowUp(2)),
        "close_on": next_at(Step::Close),
        "reopen_days": p.reopen_days,
        // The window ticket::route applies (whole days of 24 h).
        "reopen_until": when(p.now + chrono::Duration::days(p.reopen_days.into())),
        "attempt": p.before.followups_sent,
        "reason": reason,
    })
}

/// A consultant mail that could not be applied, as its error mail quotes it.
pub struct FailedMail<'a> {
    /// Its subject.
    pub subject: &'a str,
    /// Its text (tags included), quoted back.
    pub text: &'a str,
    /// Its Message-ID, answered.
    pub message_id: Option<&'a str>,
    /// What was wrong, one line each.
    pub errors: &'a [String],
}

/// A Message-ID fit for our headers: printable ASCII without spaces or
/// angle brackets, of a sane length (a sender's id is stored as received).
fn safe_id(id: &str) -> Option<&str> {
    let ok = !id.is_empty()
        && id.len() <= 250
        && id.contains('@')
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>');
    ok.then_some(id)
}

/// Text quoted as mail clients quote (`> `), at most `lines` lines.
fn quote(text: &str, lines: usize) -> String {
    let mut out: Vec<String> = text
        .trim_end()
        .lines()
        .take(lines)
        .map(|l| {
            let l = crate::mail::clean::one_line(l, 200);
            if l.is_empty() {
                ">".to_string()
            } else {
                format!("> {l}")
            }
        })
        .collect();
    if text.trim_end().lines().count() > lines {
        out.push("> ...".into());
    }
    out.join("\n")
}

/// A ticket's subject without the ticket tags (ours, e.g. `[SS-2]`) and
/// reply prefixes it carries, so that `Re: [SS-3] …` is never followed
/// by an older `[SS-2]`.
pub fn without_our_tags(subject: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(subject.len());
    let mut rest = subject;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let tag = after
            .find(']')
            .map(|close| &after[..close])
            .filter(|inner| {
                let inner = inner.trim();
                inner.len() > prefix.len() + 1
                    && inner.is_char_boundary(prefix.len())
                    && inner[..prefix.len()].eq_ignore_ascii_case(prefix)
                    && inner[prefix.len()..].starts_with('-')
                    && inner[prefix.len() + 1..]
                        .bytes()
                        .all(|b| b.is_ascii_digit())
            });
        match tag {
            Some(inner) => rest = &after[inner.len() + 1..],
            None => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    let mut cleaned = out.split_whitespace().collect::<Vec<_>>().join(" ");
    // A tag between reply prefixes ("Re: [SS-2] Re: x") leaves more.
    loop {
        let stripped = crate::mail::thread::strip_reply_prefixes(&cleaned).to_string();
        if stripped == cleaned {
            break;
        }
        cleaned = stripped;
    }
    cleaned
}

/// A ticket state as a mail in a language names it.
pub fn state_name(s: super::State, lang: Lang) -> &'static str {
    use super::State;
    match (s, lang) {
        (State::New, Lang::En) => "new (waiting for acceptance)",
        (State::Open, Lang::En) => "open",
        (State::Waiting, Lang::En) => "waiting for the customer",
        (State::Resolved, Lang::En) => "resolved (waiting for confirmation)",
        (State::Closed, Lang::En) => "closed",
        (State::New, Lang::Pl) => "nowe (czeka na przyjęcie)",
        (State::Open, Lang::Pl) => "w realizacji",
        (State::Waiting, Lang::Pl) => "czeka na klienta",
        (State::Resolved, Lang::Pl) => "rozwiązane (czeka na potwierdzenie)",
        (State::Closed, Lang::Pl) => "zamknięte",
    }
}

/// How many automatic mails to a customer were held back, as a line of a
/// consultant's mail ("" for none).
fn held_line(n: u32, lang: Lang) -> String {
    match (n, lang) {
        (0, _) => String::new(),
        (1, Lang::En) => "1 automatic mail to this customer (hourly limit)".into(),
        (n, Lang::En) => format!("{n} automatic mails to this customer (hourly limit)"),
        (n, Lang::Pl) => format!(
            "{n} {} do tego klienta (limit godzinowy)",
            crate::lang::pl_plural(
                n,
                "automatyczna wiadomość",
                "automatyczne wiadomości",
                "automatycznych wiadomości"
            )
        ),
    }
}

/// Whether a consultant's text ends with their own signature (their name
/// in its last lines), so that a relay does not sign it twice.
fn signed_by(text: &str, name: &str) -> bool {
    // An address without a display name: its local part ("anna.nowak@").
    let name = match name.split_once('@') {
        Some((local, _)) => local.replace(['.', '_', '-'], " "),
        None => name.to_string(),
    };
    let name = name.trim().to_lowercase();
    let first = name.split_whitespace().next().unwrap_or("");
    if first.len() < 2 {
        return false;
    }
    let lines: Vec<&str> = text
        .trim_end()
        .lines()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .take(4)
        .collect();
    lines.iter().any(|l| {
        let l = l.to_lowercase();
        l.contains(&name) || l.trim().trim_start_matches("-- ").starts_with(first)
    })
}

fn merge(into: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(a), serde_json::Value::Object(b)) = (into.as_object_mut(), extra) {
        a.extend(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sla::Calendar;
    use crate::ticket::State;

    fn ticket() -> Ticket {
        let at = "2026-11-23T09:00:00Z".parse().unwrap();
        Ticket {
            number: 7,
            requester: "jan@acme.example".into(),
            participants: [
                "jan@acme.example".to_string(),
                "ewa@acme.example".to_string(),
            ]
            .into(),
            subject: "Export fails".into(),
            severity: Severity::Major,
            state: State::New,
            language: Lang::En,
            received_at: at,
            deadline_at: "2026-11-25T16:00:00Z".parse().unwrap(),
            accepted_at: None,
            owner: None,
            fields_found: Default::default(),
            spam: false,
            unreachable: false,
            breached: false,
            followups_sent: 0,
            silence_since: None,
            closed_at: None,
            thread_root: None,
        }
    }

    #[test]
    fn markers_on_customer_and_consultant_mail() {
        let templates = Templates::embedded().unwrap();
        let cal = Calendar::contract();
        let c = Composer {
            templates: &templates,
            support_address: "support@smartstock.cloud",
            support_name: "Smartstock Support",
            prefix: "SS",
            key: b"k",
            calendar: &cal,
            consultant_language: Lang::Pl,
            max_recipients: 20,
            deliverable: &|a: &str| a.contains('@'),
        };
        let mut t = ticket();
        t.thread_root = Some("m1@acme.example".into());
        let ack = c
            .to_customer(
                &t,
                "ack:7".into(),
                "acknowledgement",
                true,
                json!({}),
                &["screenshots"],
                Some("m1@acme.example"),
            )
            .unwrap();
        assert_eq!(ack.headers["Subject"], "Re: [SS-7] Export fails");
        assert_eq!(ack.headers["X-Loop"], "support@smartstock.cloud");
        assert_eq!(ack.headers["Auto-Submitted"], "auto-replied");
        assert_eq!(ack.headers["In-Reply-To"], "<m1@acme.example>");
        assert_eq!(ack.headers["References"], "<m1@acme.example>");
        // Automatic mail goes to the requester alone (issue 16: support@ is
        // no amplifier for whoever a first mail copies).
        assert_eq!(ack.to, ["jan@acme.example"]);
        assert!(
            ack.body.contains("Wed 25 Nov 2026, 17:00 Warsaw time"),
            "{}",
            ack.body
        );
        assert!(
            ack.body
                .contains("- screenshots: please attach a screenshot"),
            "{}",
            ack.body
        );
        let footer = token::footer("SS-7", &token::ticket_mac(b"k", "SS-7"));
        assert!(ack.body.trim_end().ends_with(&footer), "{}", ack.body);

        let relay = c
            .to_customer(
                &t,
                "reply:9".into(),
                "consultant-reply",
                false,
                json!({"text": "Fixed.", "consultant_name": "Anna", "accepted": false,
                    "severity_changed": false, "change": "", "needinfo": false,
                    "next_contact": "", "reopen_until": "", "sign": true}),
                &[],
                None,
            )
            .unwrap();
        // Every mail of the ticket is in its thread.
        assert_eq!(relay.headers["References"], "<m1@acme.example>");
        assert_eq!(relay.body.matches("Smartstock Support").count(), 1);
        assert!(
            !relay.headers.contains_key("Auto-Submitted"),
            "a person's words are not automatic"
        );
        // A person's words go to every participant, the requester first.
        assert_eq!(relay.to, ["jan@acme.example", "ewa@acme.example"]);

        let n = c
            .to_consultant(&t, "anna@smartstock.cloud", "notify:7:anna".into(), "consultant-notification",
                json!({"event_line": "Nowe zgłoszenie.", "working_time_left": "8 godz. 00 min", "held": "", "notes": [], "text": "x"}), &[], Some(1))
            .unwrap();
        assert_eq!(n.headers["References"], "<m1@acme.example>");
        let mac = token::consultant_mac(b"k", "SS-7", "anna@smartstock.cloud");
        assert_eq!(
            n.headers["Reply-To"],
            format!("support+SS-7.{mac}@smartstock.cloud")
        );
        assert_eq!(n.id_mac, mac);
        assert_eq!(n.attach, Some(Attach::Original(1)));
        assert!(
            n.body.starts_with("Nowe zgłoszenie."),
            "consultant language: {}",
            n.body
        );
    }

    #[test]
    fn subjects_lose_our_older_tags() {
        let table = [
            ("Export fails", "Export fails"),
            ("Re: [SS-2] Export fails", "Export fails"),
            ("[SS-2] Re: [ss-17] Export fails", "Export fails"),
            ("Export [SS-2] fails", "Export fails"),
            ("[Ticket#5] Export fails", "[Ticket#5] Export fails"),
            ("[SS-] keep [SS-x]", "[SS-] keep [SS-x]"),
            ("Zażółć [SS-9]", "Zażółć"),
            ("[", "["),
        ];
        for (subject, expected) in table {
            assert_eq!(without_our_tags(subject, "SS"), expected, "{subject}");
        }
    }

    #[test]
    fn a_signed_text_is_not_signed_again() {
        let table = [
            ("Fixed.\n\nAnna Nowak", "Anna Nowak", true),
            (
                "Fixed.\n\nBest regards,\nAnna\nSmartstock",
                "Anna Nowak",
                true,
            ),
            ("Fixed.\n-- \nAnna N.", "Anna Nowak", true),
            (
                "Fixed, Anna is on it... no.\n\nThanks",
                "Piotr Zieliński",
                false,
            ),
            ("Fixed.", "Anna Nowak", false),
            ("Fixed.", "", false),
            ("Fixed.\n\nAnna Nowak", "anna.nowak@smartstock.cloud", true),
        ];
        for (text, name, expected) in table {
            assert_eq!(signed_by(text, name), expected, "{text:?} by {name}");
        }
    }

    #[test]
    fn thread_ids_from_strangers_are_used_only_when_safe() {
        for (id, ok) in [
            ("m1@acme.example", true),
            ("a b@acme.example", false),
            ("x>\r\nBcc: evil@x", false),
            ("no-at-sign", false),
            ("", false),
        ] {
            assert_eq!(safe_id(id).is_some(), ok, "{id:?}");
        }
    }
}
