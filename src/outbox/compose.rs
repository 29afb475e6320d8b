//! Composing outgoing mails from templates and the ticket (pure).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use crate::lang::Lang;
use crate::mail::token;
use crate::sla::{Calendar, Severity, local};
use crate::templates::{self, Templates};
use crate::ticket::Ticket;

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
    /// A stored message to attach (the original, as message/rfc822).
    pub attach_message: Option<i64>,
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
    fn domain(&self) -> &str {
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
            "subject": t.subject,
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
        headers.insert(
            "To".into(),
            t.participants
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        );
        if let Some(id) = in_reply_to {
            headers.insert("In-Reply-To".into(), format!("<{id}>"));
            headers.insert("References".into(), format!("<{id}>"));
        }
        Ok(Mail {
            key,
            template,
            automatic,
            audience: Audience::Customer,
            to: t.participants.iter().cloned().collect(),
            headers,
            body: format!(
                "{}\n{}\n",
                r.body.trim_end(),
                token::footer(&self.reference(t), &mac)
            ),
            id_mac: mac,
            attach_message: None,
        })
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
        let local = self
            .support_address
            .rsplit_once('@')
            .map_or(self.support_address, |(l, _)| l);
        headers.insert(
            "Reply-To".into(),
            format!("{local}+{reference}.{mac}@{}", self.domain()),
        );
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
            attach_message,
        })
    }

    /// A mail about a consultant's own mail that names no usable ticket.
    pub fn command_error(
        &self,
        consultant: &str,
        key: String,
        subject: &str,
        errors: &[String],
    ) -> templates::Result<Mail> {
        let ctx = json!({
            "subject": subject,
            "errors": errors,
            "valid_tags": crate::mail::tags::valid_tags(),
            "prefix": self.prefix,
        });
        let r = self.templates.render(
            crate::ticket::template::COMMAND_ERROR,
            self.consultant_language,
            &ctx,
        )?;
        let mut headers = self.base_headers(&r.subject, true);
        headers.insert("To".into(), consultant.to_string());
        Ok(Mail {
            key,
            template: crate::ticket::template::COMMAND_ERROR,
            automatic: true,
            audience: Audience::Consultant,
            to: vec![consultant.to_string()],
            headers,
            body: r.body,
            id_mac: String::new(),
            attach_message: None,
        })
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
        let mut headers = self.base_headers(&r.subject, true);
        headers.insert("To".into(), to.to_string());
        Ok(Mail {
            key,
            template,
            automatic: true,
            audience: Audience::Customer,
            to: vec![to.to_string()],
            headers,
            id_mac: String::new(),
            body: r.body,
            attach_message: None,
        })
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
        };
        let t = ticket();
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
        assert_eq!(ack.to, ["ewa@acme.example", "jan@acme.example"]);
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
                "relay:9".into(),
                "consultant-relay",
                false,
                json!({"text": "Fixed.", "consultant_name": "Anna"}),
                &[],
                None,
            )
            .unwrap();
        assert!(
            !relay.headers.contains_key("Auto-Submitted"),
            "a person's words are not automatic"
        );

        let n = c
            .to_consultant(&t, "anna@smartstock.cloud", "notify:7:anna".into(), "consultant-notification",
                json!({"event_line": "Nowe zgłoszenie.", "working_time_left": "8 godz. 00 min", "held": 0, "text": "x"}), &[], Some(1))
            .unwrap();
        let mac = token::consultant_mac(b"k", "SS-7", "anna@smartstock.cloud");
        assert_eq!(
            n.headers["Reply-To"],
            format!("support+SS-7.{mac}@smartstock.cloud")
        );
        assert_eq!(n.id_mac, mac);
        assert_eq!(n.attach_message, Some(1));
        assert!(
            n.body.starts_with("Nowe zgłoszenie."),
            "consultant language: {}",
            n.body
        );
    }
}
