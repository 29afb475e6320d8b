//! What one message decides, table by table: a mail as a user writes it
//! (analysed as step 2 does), what the store knew, and what a user would
//! check afterwards: the ticket's state, the audit events, who gets which
//! mail (held or not), the timers and the quarantine.

use std::collections::BTreeSet;

use super::*;
use crate::mail::thread::NoLookup;
use crate::mail::token;
use crate::sla::Severity;
use crate::templates::Templates;
use crate::ticket::compose::Composer;
use crate::ticket::limits::Limits;

const KEY: &[u8] = b"test key";
const ANNA: &str = "anna@smartstock.cloud";
const PIOTR: &str = "piotr@smartstock.cloud";

/// What the sender's rules accept, for these tables: an `@` between two
/// parts without quotes.
fn deliverable(a: &str) -> bool {
    a.split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !l.contains('"'))
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn settings() -> crate::mail::Settings {
    let mut s = crate::mail::Settings::new(
        "support@smartstock.cloud",
        "SS",
        &[ANNA.to_string(), PIOTR.to_string()],
    );
    s.token_key = Some(KEY.to_vec());
    s
}

/// Ticket SS-7 in a state, owned by Anna once accepted.
fn ticket(state: State) -> Ticket {
    Ticket {
        number: 7,
        requester: "jan@acme.example".into(),
        participants: ["jan@acme.example".to_string()].into(),
        subject: "Export fails".into(),
        severity: Severity::Minor,
        state,
        language: Lang::En,
        received_at: at("2026-11-23T09:00:00Z"),
        deadline_at: at("2026-11-26T16:00:00Z"),
        accepted_at: (state != State::New).then(|| at("2026-11-23T10:00:00Z")),
        owner: (state != State::New).then(|| ANNA.to_string()),
        fields_found: BTreeSet::new(),
        spam: false,
        unreachable: false,
        breached: false,
        followups_sent: 0,
        silence_since: None,
        closed_at: None,
        thread_root: None,
    }
}

/// A customer's report with every required item but a screenshot.
const REPORT: &str = "From: Jan Kowalski <jan@acme.example>\nTo: support@smartstock.cloud\n\
Subject: Export to CSV fails with error 500\nMessage-ID: <r1@acme.example>\n\
Date: Wed, 25 Nov 2026 10:00:00 +0100\n\n\
Since this morning the CSV export in the reports module fails. It happened today at 09:15.\n\
I restarted the browser and checked another account; same result.\n\
The error says: Internal Server Error 500.\nI expected the file to download.\n";

/// A report with nothing but a vague line.
const VAGUE: &str = "From: jan@acme.example\nTo: support@smartstock.cloud\nSubject: Problem\n\
Message-ID: <v1@acme.example>\n\nIt does not work, please help.\n";

fn reply(from: &str, body: &str) -> String {
    format!(
        "From: {from}\nTo: support@smartstock.cloud\nSubject: Re: [SS-7] Export fails\n\
Message-ID: <x-{}@acme.example>\n\n{body}\n",
        body.len()
    )
}

/// A consultant's reply carrying their token in the reply address.
fn consultant(from: &str, body: &str) -> String {
    let mac = token::consultant_mac(KEY, "SS-7", from);
    format!(
        "From: {from}\nTo: support+SS-7.{mac}@smartstock.cloud\nSubject: Re: [SS-7] Export fails\n\
Message-ID: <c-{}@smartstock.cloud>\n\n{body}\n",
        body.len()
    )
}

const NOW: &str = "2026-11-25T10:00:00Z";

fn analysis(raw: &str) -> Analysis {
    crate::mail::analyze(raw.as_bytes(), at(NOW), &settings(), &NoLookup)
}

/// What a user would check of a decision.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    state: Option<State>,
    events: Vec<Event>,
    /// (template, recipients, held)
    mails: Vec<(&'static str, Vec<String>, bool)>,
    timers: Vec<Step>,
    quarantined: bool,
}

fn seen(d: &Decision) -> Seen {
    Seen {
        state: d.ticket.as_ref().map(|(t, _)| t.state),
        events: d.events.iter().map(|e| e.what).collect(),
        mails: d
            .mails
            .iter()
            .map(|(m, held)| (m.template, m.to.clone(), *held))
            .collect(),
        timers: d.timers.set.iter().map(|(s, _)| *s).collect(),
        quarantined: d.quarantine.is_some(),
    }
}

fn run(raw: &str, known: Known, sending: bool) -> Decision {
    let templates = Templates::embedded().unwrap();
    let cal = Calendar::contract();
    let policy = SlaPolicy::default();
    let consultants = [ANNA.to_string(), PIOTR.to_string()];
    let rules = Rules {
        prefix: "SS",
        consultants: &consultants,
        calendar: &cal,
        policy: &policy,
        colleagues: super::super::Colleagues::SameDomain,
        max_participants: 20,
        deliverable: &deliverable,
        reopen_days: 14,
        silence_days: 14,
        missing_info_secs: 2 * 8 * 3600,
        consultant_language: Lang::En,
        sending: sending.then(|| Sending {
            composer: Composer {
                templates: &templates,
                support_address: "support@smartstock.cloud",
                support_name: "Smartstock Support",
                prefix: "SS",
                key: KEY,
                calendar: &cal,
                consultant_language: Lang::En,
                max_recipients: 20,
                deliverable: &deliverable,
            },
            escalation: &[],
            limits: Limits::default(),
        }),
    };
    let a = analysis(raw);
    let m = Message {
        id: 42,
        analysis: &a,
        received_at: at(NOW),
    };
    decide(&m, known, &rules, at(NOW)).unwrap()
}

fn known(t: Option<Ticket>) -> Known {
    Known {
        ticket: t,
        next_number: 8,
        ..Known::default()
    }
}

fn to(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[test]
fn messages_table() {
    use Event::*;
    let row =
        |state, events: &[Event], mails: &[(&'static str, &[&str], bool)], timers: &[Step]| Seen {
            state,
            events: events.to_vec(),
            mails: mails.iter().map(|(t, r, h)| (*t, to(r), *h)).collect(),
            timers: timers.to_vec(),
            quarantined: false,
        };
    let jan = &["jan@acme.example"][..];
    let table: Vec<(&str, String, Known, Seen)> = vec![
        (
            "a report opens a ticket: acknowledgement, a notification per consultant, the response clock, \
             and (no screenshot) the missing-information reminder",
            REPORT.into(),
            known(None),
            row(
                Some(State::New),
                &[Opened],
                &[
                    (template::ACK, jan, false),
                    (template::NOTIFY, &[ANNA], false),
                    (template::NOTIFY, &[PIOTR], false),
                ],
                &[
                    Step::Reminder(1),
                    Step::Reminder(2),
                    Step::Breach,
                    Step::MissingInfo,
                ],
            ),
        ),
        (
            "a vague report is acknowledged and its missing items asked for again later",
            VAGUE.into(),
            known(None),
            row(
                Some(State::New),
                &[Opened],
                &[
                    (template::ACK, jan, false),
                    (template::NOTIFY, &[ANNA], false),
                    (template::NOTIFY, &[PIOTR], false),
                ],
                &[
                    Step::Reminder(1),
                    Step::Reminder(2),
                    Step::Breach,
                    Step::MissingInfo,
                ],
            ),
        ),
        (
            "list mail opens a ticket without an acknowledgement",
            format!("List-Id: <news.acme.example>\n{VAGUE}"),
            known(None),
            row(
                Some(State::New),
                &[Opened, NoAcknowledgement],
                &[
                    (template::NOTIFY, &[ANNA], false),
                    (template::NOTIFY, &[PIOTR], false),
                ],
                &[Step::Reminder(1), Step::Reminder(2), Step::Breach],
            ),
        ),
        (
            "the requester's answer to an open ticket goes to its owner",
            reply("jan@acme.example", "It still fails today."),
            known(Some(ticket(State::Open))),
            row(
                Some(State::Open),
                &[CustomerMessage],
                &[(template::NOTIFY, &[ANNA], false)],
                &[],
            ),
        ),
        (
            "a stranger's mail naming the ticket opens a ticket of its own, linked",
            reply("eve@evil.example", "Let me in."),
            known(Some(ticket(State::Open))),
            row(
                Some(State::New),
                &[Opened],
                &[
                    (template::ACK, &["eve@evil.example"], false),
                    (template::LINKED, &[ANNA], false),
                    (template::LINKED, &[PIOTR], false),
                ],
                &[
                    Step::Reminder(1),
                    Step::Reminder(2),
                    Step::Breach,
                    Step::MissingInfo,
                ],
            ),
        ),
        (
            "#accept by a consultant with the token: accepted, the customer told, the clocks stop",
            consultant(ANNA, "#accept"),
            known(Some(ticket(State::New))),
            row(
                Some(State::Open),
                &[Accepted],
                &[(template::REPLY, jan, false)],
                &[],
            ),
        ),
        (
            "a bad tag applies nothing and tells the consultant",
            consultant(ANNA, "#frobnicate\nHello"),
            known(Some(ticket(State::New))),
            row(
                Some(State::New),
                &[CommandRejected],
                &[(template::COMMAND_ERROR, &[ANNA], false)],
                &[],
            ),
        ),
        (
            "a consultant's mail without the token applies nothing",
            reply(ANNA, "#accept"),
            known(Some(ticket(State::New))),
            row(
                Some(State::New),
                &[SenderCheckFailed],
                &[(template::COMMAND_ERROR, &[ANNA], false)],
                &[],
            ),
        ),
        (
            "an out-of-office reply threaded to the ticket is recorded, never answered",
            format!(
                "Auto-Submitted: auto-replied\n{}",
                reply("jan@acme.example", "I am away.")
            ),
            known(Some(ticket(State::Waiting))),
            row(Some(State::Waiting), &[AutomaticMail], &[], &[]),
        ),
        (
            "a consultant mail naming no ticket is stored alone and answered with the error",
            format!(
                "From: {ANNA}\nTo: support@smartstock.cloud\nSubject: hello\nMessage-ID: <n@x>\n\n#accept\n"
            ),
            known(None),
            row(
                None,
                &[StoredAlone],
                &[(template::COMMAND_ERROR, &[ANNA], false)],
                &[],
            ),
        ),
    ];
    for (what, raw, known, want) in table {
        let d = run(&raw, known, true);
        assert_eq!(seen(&d), want, "{what}");
    }
}

#[test]
fn import_records_without_mail() {
    let d = run(REPORT, known(None), false);
    let (t, new) = d.ticket.as_ref().unwrap();
    assert!(*new);
    assert_eq!(t.number, 8);
    assert!(d.mails.is_empty());
    assert_eq!(d.summary.new_tickets, 1);
}

#[test]
fn the_rate_limit_holds_the_acknowledgement_and_says_so() {
    let mut k = known(None);
    k.recent.by_address.insert("jan@acme.example".into(), 5);
    let d = run(VAGUE, k, true);
    let s = seen(&d);
    assert_eq!(s.mails[0], (template::ACK, to(&["jan@acme.example"]), true));
    assert!(s.events.contains(&Event::HeldByRateLimit), "{s:?}");
    // No reminder of missing items after an acknowledgement that never left.
    assert!(!s.timers.contains(&Step::MissingInfo), "{s:?}");
}

#[test]
fn a_consultant_at_the_hourly_limit_gets_nothing_more_then_a_summary() {
    // Anna had her 30 mails this hour: the notification of a new ticket is
    // held for her, Piotr still gets his.
    let mut k = known(None);
    k.recent.by_address.insert(ANNA.into(), 30);
    let d = run(VAGUE, k, true);
    let held: Vec<(String, bool)> = d
        .mails
        .iter()
        .filter(|(m, _)| m.template == template::NOTIFY)
        .map(|(m, held)| (m.to[0].clone(), *held))
        .collect();
    assert_eq!(held, [(ANNA.to_string(), true), (PIOTR.to_string(), false)]);
    assert!(seen(&d).events.contains(&Event::HeldByRateLimit));
    // An hour later: the first mail through says how many were held.
    let mut k = known(None);
    k.held_for.insert(ANNA.into(), 12);
    let d = run(VAGUE, k, true);
    let anna = d
        .mails
        .iter()
        .find(|(m, _)| m.to == [ANNA])
        .map(|(m, _)| m.body.clone())
        .unwrap();
    assert!(
        anna.starts_with("12 earlier mails to you were held back by the hourly limit"),
        "{anna}"
    );
    let piotr = d.mails.iter().find(|(m, _)| m.to == [PIOTR]).unwrap();
    assert!(!piotr.0.body.contains("held back"));
}

#[test]
fn a_bounce_naming_our_mail_fails_it_in_the_same_decision() {
    let raw = "From: MAILER-DAEMON@mx.acme.example\nTo: support+bounce-3@smartstock.cloud\n\
Subject: Undelivered Mail Returned to Sender\nMessage-ID: <b1@mx>\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n\
--b\nContent-Type: text/plain\n\nThe mail could not be delivered.\n\
--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.acme.example\n\n\
Final-Recipient: rfc822; jan@acme.example\nAction: failed\nStatus: 5.1.1\n\n--b--\n";
    let mut k = known(Some(ticket(State::Waiting)));
    k.named_mail = Some((3, Some(7)));
    let d = run(raw, k, true);
    let b = d.bounce.as_ref().expect("the bounce is recorded");
    assert_eq!((b.outbox, b.permanent), (3, true));
    assert_eq!(b.recipients, ["jan@acme.example"]);
    assert_eq!(seen(&d).events, [Event::MailBounced, Event::AutomaticMail]);
    assert!(d.mails.is_empty());
}

#[test]
fn not_mail_and_oversize_are_quarantined() {
    let d = run("\u{0}\u{1}\u{2}binary junk\u{0}", known(None), true);
    assert!(d.quarantine.is_some() && d.ticket.is_none() && d.mails.is_empty());
    assert_eq!(d.summary.not_mail, 1);

    let templates = Templates::embedded().unwrap();
    let cal = Calendar::contract();
    let policy = SlaPolicy::default();
    let rules = Rules {
        prefix: "SS",
        consultants: &[],
        calendar: &cal,
        policy: &policy,
        colleagues: super::super::Colleagues::SameDomain,
        max_participants: 20,
        deliverable: &deliverable,
        reopen_days: 14,
        silence_days: 14,
        missing_info_secs: 0,
        consultant_language: Lang::En,
        sending: Some(Sending {
            composer: Composer {
                templates: &templates,
                support_address: "support@smartstock.cloud",
                support_name: "Smartstock Support",
                prefix: "SS",
                key: KEY,
                calendar: &cal,
                consultant_language: Lang::En,
                max_recipients: 20,
                deliverable: &deliverable,
            },
            escalation: &[],
            limits: Limits::default(),
        }),
    };
    let sender = Sender {
        address: "jan@acme.example".into(),
        subject: "Huge log".into(),
        language: Lang::En,
    };
    let d = too_large(
        9,
        30 << 20,
        25 << 20,
        Some(&sender),
        &Recent::default(),
        &rules,
    );
    assert_eq!(
        d.quarantine.as_deref(),
        Some("larger than the limit of 25 MB (30 MB)")
    );
    assert_eq!(d.mails.len(), 1);
    assert_eq!(d.mails[0].0.to, ["jan@acme.example"]);
    let none = too_large(9, 30 << 20, 25 << 20, None, &Recent::default(), &rules);
    assert!(none.mails.is_empty(), "automatic mail is never answered");
}
