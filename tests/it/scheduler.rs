//! The SLA scheduler by time travel: mail enters through the Maildir source,
//! `supportd --now T run --once` plays each instant, and the mails are read
//! back from the dir transport (`outbox list --json` and the .eml files),
//! with the instants they were written at. Calendar edges are real ones:
//! Easter 2026, Christmas 2025, weekends.
//!
//! Warsaw is UTC+1 in winter and UTC+2 in summer; instants below are UTC
//! with the local time in comments.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;
use supportd::mail::token;
use supportd::store::Store;

use crate::util::{Run, TempDir, run};

/// A support desk on the embedded modes: Maildir in, .eml files out.
pub struct Desk {
    pub dir: TempDir,
    next_file: Cell<u32>,
    seen: RefCell<BTreeSet<i64>>,
}

/// One outgoing mail as `outbox list --json` shows it, with its file.
#[derive(Debug, Clone)]
pub struct Out {
    pub template: String,
    pub to: Vec<String>,
    pub ticket: Option<u64>,
    pub created_at: String,
    pub state: String,
    pub text: String,
}

/// The mail among `mails` addressed to `address` alone.
pub fn sent_to_only<'a>(mails: &'a [Out], address: &str) -> Option<&'a Out> {
    mails.iter().find(|m| m.to == [address])
}

/// The mails among `mails` with `address` among their recipients.
pub fn sent_to<'a>(mails: &'a [Out], address: &str) -> Vec<&'a Out> {
    mails
        .iter()
        .filter(|m| m.to.iter().any(|t| t == address))
        .collect()
}

impl Desk {
    pub fn new(name: &str) -> Desk {
        Desk::with_config(name, "")
    }

    /// A desk whose config has `extra` appended.
    pub fn with_config(name: &str, extra: &str) -> Desk {
        let dir = TempDir::new(name);
        // The morning digest has tests of its own; elsewhere it would add a
        // mail at each working day's first run.
        let digest = if extra.contains("digest") {
            ""
        } else {
            "digest = false\n"
        };
        dir.write(
            "config.toml",
            &format!(
                r#"[support]
address = "support@smartstock.cloud"
name = "Smartstock Support"
default-language = "en"

[consultants]
addresses = ["anna@smartstock.cloud", "piotr@smartstock.cloud"]
language = "en"
{digest}{extra}
[store]
path = "var/supportd.db"

[source]
kind = "maildir"
maildir = "var/inbox"

[transport]
kind = "dir"
dir = "var/outbox"
"#
            ),
        );
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(dir.0.join("var/inbox").join(sub)).unwrap();
        }
        Desk {
            dir,
            next_file: Cell::new(0),
            seen: RefCell::new(BTreeSet::new()),
        }
    }

    /// The envelope sender of outgoing mail `id` (with its MAC): where
    /// a delivery report about it is sent.
    pub fn envelope(&self, id: i64) -> String {
        crate::util::envelope(&self.db(), id)
    }

    fn db(&self) -> PathBuf {
        self.dir.0.join("var/supportd.db")
    }

    /// `supportd --config … ARGS`.
    pub fn supportd(&self, args: &[&str]) -> Run {
        let cfg = self.dir.0.join("config.toml");
        let mut all = vec!["--config", cfg.to_str().unwrap()];
        all.extend_from_slice(args);
        run(&all, "")
    }

    /// A message arriving in the mailbox, received (by our server) at
    /// `received` (RFC 2822, local offset).
    pub fn receive(&self, received: &str, raw_rest: &str) {
        self.deliver_raw(&format!(
            "Received: from mx.example by mx.smartstock.cloud; {received}\n{raw_rest}"
        ));
    }

    /// A message exactly as given: the test writes every header, our
    /// server's trace and Authentication-Results included.
    pub fn deliver_raw(&self, raw: &str) {
        let n = self.next_file.get() + 1;
        self.next_file.set(n);
        // As a mail delivery agent does: written in tmp/, renamed into new/;
        // written a while ago, so the source sees it settled (it leaves a
        // file written in the last 2 s for its next pass).
        let tmp = self.dir.0.join(format!("var/inbox/tmp/{n}.test"));
        std::fs::write(&tmp, raw).unwrap();
        let written = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
        std::fs::File::options()
            .write(true)
            .open(&tmp)
            .and_then(|f| f.set_modified(written))
            .unwrap();
        std::fs::rename(&tmp, self.dir.0.join(format!("var/inbox/new/{n}.test"))).unwrap();
    }

    /// A customer's plain-text mail.
    pub fn customer(&self, received: &str, from: &str, subject: &str, body: &str) {
        let id = self.next_file.get() + 1;
        self.receive(
            received,
            &format!(
                "From: {from}\nTo: support@smartstock.cloud\nSubject: {subject}\nDate: {received}\n\
                 Message-ID: <c{id}@customer.example>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"
            ),
        );
    }

    /// A customer's report with a screenshot attached.
    pub fn report(&self, received: &str, from: &str, subject: &str, body: &str) {
        let id = self.next_file.get() + 1;
        self.receive(
            received,
            &with_screenshot(from, subject, &format!("r{id}@customer.example"), body),
        );
    }

    /// A consultant's reply to the notification of ticket `reference`
    /// (carrying the consultant's token, as replying does).
    pub fn consultant(&self, received: &str, from: &str, reference: &str, body: &str) {
        let key = Store::open(&self.db()).unwrap().token_key(None).unwrap();
        let mac = token::consultant_mac(&key, reference, from);
        let id = self.next_file.get() + 1;
        self.receive(
            received,
            &format!(
                "From: {from}\nTo: support+{reference}.{mac}@smartstock.cloud\nSubject: Re: [{reference}] ticket\n\
                 Date: {received}\nMessage-ID: <k{id}@smartstock.cloud>\n\n{body}\n"
            ),
        );
    }

    /// `run --once` at `now`; returns its summary line.
    pub fn run(&self, now: &str) -> String {
        let r = self.supportd(&["--now", now, "run", "--once"]);
        assert_eq!(r.code, 0, "run at {now}: {}", r.stderr);
        r.stdout
    }

    /// Every outgoing mail with its outbox id, oldest first.
    fn outbox_rows(&self) -> Vec<(i64, Out)> {
        let r = self.supportd(&["outbox", "list", "--json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let rows: Value = serde_json::from_str(&r.stdout).unwrap();
        rows.as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let id = m["id"].as_i64().unwrap();
                let file = self.dir.0.join(format!("var/outbox/{id:06}.eml"));
                let raw = std::fs::read(&file).unwrap_or_default();
                let text = mail_parser::MessageParser::default()
                    .parse(&raw)
                    .and_then(|p| p.body_text(0).map(|t| t.into_owned()))
                    .unwrap_or_default();
                let out = Out {
                    template: m["template"].as_str().unwrap().to_string(),
                    to: m["to"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t.as_str().unwrap().to_string())
                        .collect(),
                    ticket: m["ticket"].as_u64(),
                    created_at: m["created_at"].as_str().unwrap().to_string(),
                    state: m["state"].as_str().unwrap().to_string(),
                    text,
                };
                (id, out)
            })
            .collect()
    }

    /// Every outgoing mail with its outbox id, oldest first.
    pub fn outbox_ids(&self) -> Vec<(i64, Out)> {
        self.outbox_rows()
    }

    /// Every outgoing mail, oldest first.
    pub fn outbox(&self) -> Vec<Out> {
        self.outbox_rows().into_iter().map(|(_, m)| m).collect()
    }

    /// The mails queued since the last call.
    pub fn new_mails(&self) -> Vec<Out> {
        let mut seen = self.seen.borrow_mut();
        self.outbox_rows()
            .into_iter()
            .filter(|(id, _)| seen.insert(*id))
            .map(|(_, m)| m)
            .collect()
    }

    /// The templates (and recipients) of the mails queued since the last
    /// call, as `template>recipient` strings.
    pub fn new_summary(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .new_mails()
            .iter()
            .map(|m| format!("{}>{}", m.template, m.to.join(",")))
            .collect();
        v.sort();
        v
    }

    /// `tickets show REF --json`.
    pub fn ticket(&self, reference: &str) -> Value {
        let r = self.supportd(&["tickets", "show", reference, "--json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        serde_json::from_str(&r.stdout).unwrap()
    }

    /// A ticket's scheduled steps as `step@due`.
    pub fn steps(&self, reference: &str) -> Vec<String> {
        self.ticket(reference)["next_steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{}@{}",
                    s["step"].as_str().unwrap(),
                    s["due"].as_str().unwrap()
                )
            })
            .collect()
    }

    /// The codes of a ticket's events, in order.
    pub fn events(&self, reference: &str) -> Vec<String> {
        self.ticket(reference)["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["what"].as_str().unwrap().to_string())
            .collect()
    }
}

fn strs(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// A message with a text part and a PNG screenshot.
fn with_screenshot(from: &str, subject: &str, id: &str, body: &str) -> String {
    format!(
        "From: {from}\nTo: support@smartstock.cloud\nSubject: {subject}\nMessage-ID: <{id}>\n\
         MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n\
         --b\nContent-Type: text/plain; charset=utf-8\n\n{body}\n\
         --b\nContent-Type: image/png; name=\"screen.png\"\nContent-Disposition: attachment; filename=\"screen.png\"\n\
         Content-Transfer-Encoding: base64\n\n\
         iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==\n--b--\n"
    )
}

pub const FULL_REPORT: &str = "Since 08:15 today the stock report shows zero for every warehouse.\n\
    Error message: \"STOCK-0 no data\".\n\
    We restarted the application and checked the network connection.\n\
    The report is used by our buyers every morning in the Gdansk warehouse.\n\
    We expect the report to show the real stock levels.";

#[test]
fn severity_1_before_easter_monday_reminds_then_escalates_once() {
    let d = Desk::with_config("sched-easter", "escalation = [\"head@smartstock.cloud\"]\n");
    // Friday 3 April 2026, 16:30 Warsaw (summer time): 30 working minutes
    // that day; Easter Monday (6 April) is a holiday; 16 working hours end
    // on Wednesday 8 April 16:30.
    d.report(
        "Fri, 03 Apr 2026 16:30:00 +0200",
        "Jan <jan@acme.example>",
        "Nobody can log in",
        &format!("Severity: 1\n{FULL_REPORT}"),
    );
    d.run("2026-04-03T14:30:05Z");
    assert_eq!(
        d.new_summary(),
        strs(&[
            "acknowledgement>jan@acme.example",
            "consultant-notification>anna@smartstock.cloud",
            "consultant-notification>piotr@smartstock.cloud",
        ])
    );
    let t = d.ticket("SS-1");
    assert_eq!(t["deadline"], "2026-04-08T14:30:00Z");
    assert_eq!(
        d.steps("SS-1")[..3],
        [
            // 8 h: Friday's 30 minutes and Tuesday until 16:30.
            "reminder-1@2026-04-07T14:30:00Z",
            // 12.8 h: Wednesday 13:18.
            "reminder-2@2026-04-08T11:18:00Z",
            "breach@2026-04-08T14:30:00Z",
        ]
    );

    // Easter Monday and a second before the first reminder: nothing.
    d.run("2026-04-06T10:00:00Z");
    d.run("2026-04-07T14:29:59Z");
    assert_eq!(d.new_summary(), Vec::<String>::new());
    let at_risk = |now: &str| {
        let r = d.supportd(&["--now", now, "tickets", "list", "--json"]);
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        v[0]["at_risk"].as_bool().unwrap()
    };
    assert!(!at_risk("2026-04-07T14:29:59Z"));

    d.run("2026-04-07T14:30:00Z");
    let reminders = d.new_mails();
    assert_eq!(reminders.len(), 2, "{reminders:?}");
    for m in &reminders {
        assert_eq!(m.template, "reminder");
        assert_eq!(m.created_at, "2026-04-07T14:30:00Z");
        assert_eq!(m.state, "sent");
        assert!(
            m.text
                .contains("Wed 8 Apr 2026, 16:30 Warsaw time (8 h 00 min of working time left)"),
            "{}",
            m.text
        );
        assert!(m.text.contains("#accept"), "{}", m.text);
    }
    assert!(at_risk("2026-04-07T14:30:00Z"));

    d.run("2026-04-08T11:18:00Z");
    assert_eq!(
        d.new_summary(),
        strs(&[
            "reminder>anna@smartstock.cloud",
            "reminder>piotr@smartstock.cloud"
        ])
    );
    // The breach goes to the escalation address, once.
    d.run("2026-04-08T14:30:00Z");
    let escalation = d.new_mails();
    assert_eq!(escalation.len(), 1, "{escalation:?}");
    assert_eq!(escalation[0].template, "escalation");
    assert_eq!(escalation[0].to, ["head@smartstock.cloud"]);
    assert!(
        escalation[0]
            .text
            .contains("was not accepted by its deadline, Wed 8 Apr 2026, 16:30 Warsaw time"),
        "{}",
        escalation[0].text
    );
    d.run("2026-04-08T14:30:30Z");
    assert_eq!(d.new_summary(), Vec::<String>::new());
    let t = d.ticket("SS-1");
    assert_eq!(t["breached"], true);
    let events = d.events("SS-1");
    assert_eq!(
        events.iter().filter(|e| *e == "reminder").count(),
        2,
        "{events:?}"
    );
    assert_eq!(
        events.iter().filter(|e| *e == "breached").count(),
        1,
        "{events:?}"
    );
    // A late acceptance is recorded as late; nothing more is scheduled.
    d.consultant(
        "Wed, 08 Apr 2026 16:40:00 +0200",
        "anna@smartstock.cloud",
        "SS-1",
        "#accept",
    );
    d.run("2026-04-08T14:40:05Z");
    let t = d.ticket("SS-1");
    let accepted = t["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["what"] == "accepted")
        .unwrap()
        .clone();
    assert_eq!(accepted["detail"], "late");
    assert_eq!(d.steps("SS-1"), Vec::<String>::new());
}

#[test]
fn severity_5_before_christmas_2025_counts_only_working_days() {
    let d = Desk::new("sched-christmas");
    // Tuesday 23 Dec 2025, 10:00 Warsaw. Closed: 24 (Christmas Eve, a
    // holiday from 2025), 25, 26 Dec, 1 Jan, 6 Jan and the weekends.
    // 112 working hours: 7 on the 23rd, then 29, 30, 31 Dec, 2, 5, 7, 8, 9,
    // 12, 13, 14, 15, 16 Jan (8 each = 104), 1 h on Monday 19 Jan.
    d.customer(
        "Tue, 23 Dec 2025 10:00:00 +0100",
        "Ewa <ewa@shop.example>",
        "Suggestion: export the stock report to PDF",
        "Severity: 5\nIt would help our buyers if the stock report could be exported to PDF as well as Excel.",
    );
    d.run("2025-12-23T09:00:05Z");
    assert_eq!(d.ticket("SS-1")["deadline"], "2026-01-19T09:00:00Z");
    assert_eq!(
        d.steps("SS-1"),
        [
            // 56 h: Thursday 8 Jan 10:00; 89.6 h: Wednesday 14 Jan 11:36.
            "reminder-1@2026-01-08T09:00:00Z",
            "reminder-2@2026-01-14T10:36:00Z",
            "breach@2026-01-19T09:00:00Z",
        ]
    );
    d.new_mails();
    for now in [
        "2025-12-24T09:00:00Z",
        "2025-12-31T16:00:00Z",
        "2026-01-06T10:00:00Z",
        "2026-01-08T08:59:59Z",
    ] {
        d.run(now);
        assert_eq!(d.new_summary(), Vec::<String>::new(), "at {now}");
    }
    for (now, template) in [
        ("2026-01-08T09:00:00Z", "reminder"),
        ("2026-01-14T10:36:00Z", "reminder"),
        ("2026-01-19T09:00:00Z", "escalation"),
    ] {
        d.run(now);
        let mails = d.new_mails();
        assert_eq!(mails.len(), 2, "at {now}: {mails:?}");
        assert!(
            mails
                .iter()
                .all(|m| m.template == template && m.created_at == now),
            "at {now}: {mails:?}"
        );
    }
}

/// Ticket SS-1 in `waiting` since Tuesday 24 Nov 2026 10:00 Warsaw (the
/// consultant's `#waiting`); follow-up 1 is due 14 days later, Tuesday
/// 8 Dec 10:00.
fn waiting_ticket(name: &str) -> Desk {
    let d = Desk::new(name);
    d.customer(
        "Mon, 23 Nov 2026 10:00:00 +0100",
        "Jan <jan@acme.example>",
        "Stock report shows zero",
        FULL_REPORT,
    );
    d.run("2026-11-23T09:00:05Z");
    d.consultant(
        "Tue, 24 Nov 2026 10:00:00 +0100",
        "anna@smartstock.cloud",
        "SS-1",
        "#waiting\nPlease send us the scanner's log file.",
    );
    d.run("2026-11-24T09:00:05Z");
    assert_eq!(d.steps("SS-1"), ["followup-1@2026-12-08T09:00:00Z"]);
    d.new_mails();
    d
}

#[test]
fn a_silent_customer_gets_two_follow_ups_then_the_ticket_closes() {
    let d = waiting_ticket("sched-chain");
    d.run("2026-12-08T08:59:59Z");
    assert_eq!(d.new_summary(), Vec::<String>::new());
    d.run("2026-12-08T09:00:00Z");
    let f1 = d.new_mails();
    assert_eq!(f1.len(), 1, "{f1:?}");
    assert_eq!(
        (
            f1[0].template.as_str(),
            f1[0].to.as_slice(),
            f1[0].created_at.as_str(),
            f1[0].state.as_str()
        ),
        (
            "followup-1",
            &["jan@acme.example".to_string()][..],
            "2026-12-08T09:00:00Z",
            "sent"
        )
    );
    assert!(
        f1[0]
            .text
            .contains("on Tue 24 Nov 2026, 10:00 Warsaw time we asked you")
            && f1[0]
                .text
                .contains("we will write once more on Fri 11 Dec 2026, 10:00 Warsaw time"),
        "{}",
        f1[0].text
    );
    // Three working days after follow-up 1 was sent.
    assert_eq!(d.steps("SS-1"), ["followup-2@2026-12-11T09:00:00Z"]);
    d.run("2026-12-11T08:59:59Z");
    assert_eq!(d.new_summary(), Vec::<String>::new());
    d.run("2026-12-11T09:00:00Z");
    let f2 = d.new_mails();
    assert_eq!(f2.len(), 1, "{f2:?}");
    assert_eq!(f2[0].template, "followup-2");
    assert!(
        f2[0]
            .text
            .contains("If we do not hear from you by Wed 16 Dec 2026, 10:00 Warsaw time, we will close SS-1 as resolved"),
        "{}",
        f2[0].text
    );
    assert_eq!(d.steps("SS-1"), ["close@2026-12-16T09:00:00Z"]);
    d.run("2026-12-16T09:00:00Z");
    assert_eq!(
        d.new_summary(),
        strs(&[
            "closure-notice>anna@smartstock.cloud",
            "closure>jan@acme.example"
        ])
    );
    let t = d.ticket("SS-1");
    assert_eq!(t["state"], "closed");
    assert_eq!(t["followups_sent"], 0);
    let closed = t["events"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|e| e["what"] == "closed")
        .unwrap()
        .clone();
    assert_eq!(closed["detail"], "resolved: no answer to two follow-ups");
    assert_eq!(closed["at"], "2026-12-16T09:00:00Z");
    let closure = d
        .outbox()
        .into_iter()
        .find(|m| m.template == "closure")
        .unwrap();
    assert!(
        closure
            .text
            .contains("reply to this message by Wed 30 Dec 2026, 10:00 Warsaw time"),
        "{}",
        closure.text
    );
    // Within the reopen window an answer reopens it for the same owner.
    d.customer(
        "Fri, 18 Dec 2026 11:00:00 +0100",
        "Jan <jan@acme.example>",
        "Re: [SS-1] Stock report shows zero",
        "Sorry, I was on holiday. It still shows zero.",
    );
    d.run("2026-12-18T10:00:05Z");
    assert_eq!(d.ticket("SS-1")["state"], "open");
    assert_eq!(
        d.new_summary(),
        strs(&[
            "consultant-notification>anna@smartstock.cloud",
            "reopened>anna@smartstock.cloud"
        ])
    );
}

#[test]
fn a_customer_answer_after_follow_up_1_stops_the_chain() {
    let d = waiting_ticket("sched-answer");
    d.run("2026-12-08T09:00:00Z");
    d.new_mails();
    d.customer(
        "Wed, 09 Dec 2026 10:00:00 +0100",
        "Jan <jan@acme.example>",
        "Re: [SS-1] Stock report shows zero",
        "Here is the log: STOCK-0 at 08:15.",
    );
    d.run("2026-12-09T09:00:05Z");
    // The owner hears of it; the ticket is back at work, nothing scheduled.
    assert_eq!(
        d.new_summary(),
        strs(&["consultant-notification>anna@smartstock.cloud"])
    );
    assert_eq!(d.ticket("SS-1")["state"], "open");
    assert_eq!(d.steps("SS-1"), Vec::<String>::new());
    for now in [
        "2026-12-11T09:00:00Z",
        "2026-12-16T09:00:00Z",
        "2027-01-04T09:00:00Z",
    ] {
        d.run(now);
        assert_eq!(d.new_summary(), Vec::<String>::new(), "at {now}");
    }
}

#[test]
fn an_out_of_office_reply_neither_answers_nor_resets_the_chain() {
    let d = waiting_ticket("sched-ooo");
    d.run("2026-12-08T09:00:00Z");
    d.new_mails();
    d.receive(
        "Tue, 08 Dec 2026 10:00:03 +0100",
        "From: Jan <jan@acme.example>\nTo: support@smartstock.cloud\n\
         Subject: Automatic reply: Re: [SS-1] Stock report shows zero\nAuto-Submitted: auto-replied\n\
         Message-ID: <ooo-1@acme.example>\n\nI am out of the office until 4 January.\n",
    );
    d.run("2026-12-08T09:00:10Z");
    assert_eq!(d.new_summary(), Vec::<String>::new());
    let t = d.ticket("SS-1");
    assert_eq!(t["state"], "waiting");
    assert!(d.events("SS-1").contains(&"automatic_mail".to_string()));
    assert_eq!(d.steps("SS-1"), ["followup-2@2026-12-11T09:00:00Z"]);
    d.run("2026-12-11T09:00:00Z");
    assert_eq!(d.new_summary(), strs(&["followup-2>jan@acme.example"]));
    d.run("2026-12-16T09:00:00Z");
    assert_eq!(d.ticket("SS-1")["state"], "closed");
}

#[test]
fn missing_information_is_asked_for_once_and_completion_is_told() {
    let d = Desk::new("sched-missing");
    // Monday 23 Nov 2026, 10:00 Warsaw: no time, no steps, no screenshot.
    d.customer(
        "Mon, 23 Nov 2026 10:00:00 +0100",
        "Jan <jan@acme.example>",
        "Stock report shows zero",
        "The stock report shows zero for every warehouse in Gdansk, which our buyers use each morning to plan orders.",
    );
    // A second request that lacks only a subject that names the problem:
    // a missing subject is never reminded.
    d.report(
        "Mon, 23 Nov 2026 10:05:00 +0100",
        "Ola <ola@other.example>",
        "help",
        FULL_REPORT,
    );
    d.run("2026-11-23T09:00:00Z");
    d.new_mails();
    // Two working days after the acknowledgement: Wednesday 10:00.
    assert_eq!(
        d.steps("SS-1")
            .into_iter()
            .filter(|s| s.starts_with("missing-info"))
            .collect::<Vec<_>>(),
        ["missing-info@2026-11-25T09:00:00Z"]
    );
    assert!(
        !d.steps("SS-2")
            .iter()
            .any(|s| s.starts_with("missing-info")),
        "{:?}",
        d.steps("SS-2")
    );
    d.run("2026-11-25T08:59:59Z");
    assert_eq!(d.new_summary(), Vec::<String>::new());
    d.run("2026-11-25T09:00:00Z");
    // (Half of severity 3's 32 hours has passed too: the consultants get
    // their reminder at the same instant.)
    let m: Vec<Out> = d
        .new_mails()
        .into_iter()
        .filter(|m| m.template != "reminder")
        .collect();
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0].template, "missing-info-reminder");
    assert_eq!(m[0].to, ["jan@acme.example"]);
    assert!(
        m[0].text.contains("- time of occurrence:") && m[0].text.contains("- screenshots:"),
        "{}",
        m[0].text
    );
    assert!(!m[0].text.contains("- subject"), "{}", m[0].text);
    // Once only.
    d.run("2026-11-26T09:00:00Z");
    assert_eq!(
        d.new_summary()
            .into_iter()
            .filter(|s| s.starts_with("missing"))
            .count(),
        0
    );

    // The customer completes the report: the consultants are told in the
    // notification of that message (before acceptance: all of them).
    d.receive(
        "Thu, 26 Nov 2026 11:00:00 +0100",
        &with_screenshot(
            "Jan <jan@acme.example>",
            "Re: [SS-1] Stock report shows zero",
            "c-complete@acme.example",
            "It happened today at 08:15. We restarted the application and checked the network. Screenshot attached.",
        ),
    );
    d.run("2026-11-26T10:00:05Z");
    assert_eq!(
        d.new_summary(),
        strs(&[
            "report-completed>anna@smartstock.cloud",
            "report-completed>piotr@smartstock.cloud"
        ])
    );
    assert_eq!(
        d.ticket("SS-1")["missing"],
        serde_json::json!([]),
        "{}",
        d.ticket("SS-1")
    );

    // #needinfo asks at once, with the consultant's words.
    d.consultant(
        "Thu, 26 Nov 2026 12:00:00 +0100",
        "piotr@smartstock.cloud",
        "SS-1",
        "#needinfo\nWhich of the three Gdansk warehouses do you mean?",
    );
    d.run("2026-11-26T11:00:05Z");
    let m: Vec<Out> = d
        .new_mails()
        .into_iter()
        .filter(|m| m.ticket == Some(1))
        .collect();
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0].template, "consultant-reply");
    assert!(
        m[0].text.contains("Please reply to this message"),
        "{}",
        m[0].text
    );
    assert!(
        m[0].text.contains("Which of the three Gdansk warehouses"),
        "{}",
        m[0].text
    );
    assert_eq!(d.ticket("SS-1")["state"], "waiting");
}

#[test]
fn after_a_three_day_outage_only_the_latest_step_is_sent() {
    let d = Desk::new("sched-outage");
    // SS-1: waiting since Tuesday 10 Nov 10:00, so follow-up 1 is due
    // Tuesday 24 Nov 10:00.
    d.customer(
        "Mon, 09 Nov 2026 10:00:00 +0100",
        "Jan <jan@acme.example>",
        "Stock report shows zero",
        FULL_REPORT,
    );
    d.run("2026-11-09T09:00:05Z");
    d.consultant(
        "Tue, 10 Nov 2026 10:00:00 +0100",
        "anna@smartstock.cloud",
        "SS-1",
        "#waiting\nPlease send the log.",
    );
    // SS-2: severity 2, received Monday 23 Nov 10:00: reminders Tuesday
    // 14:00 and Wednesday 13:12, deadline Thursday 26 Nov 10:00.
    d.report(
        "Mon, 23 Nov 2026 10:00:00 +0100",
        "Ewa <ewa@shop.example>",
        "Invoices cannot be printed",
        &format!("Severity: 2\n{FULL_REPORT}"),
    );
    d.run("2026-11-23T09:00:05Z");
    assert_eq!(
        d.steps("SS-2")[..3],
        [
            "reminder-1@2026-11-24T13:00:00Z",
            "reminder-2@2026-11-25T12:12:00Z",
            "breach@2026-11-26T09:00:00Z",
        ]
    );
    d.new_mails();
    // Down from Monday morning; back on Thursday 26 Nov at 22:00 Warsaw.
    d.run("2026-11-26T21:00:00Z");
    // SS-2: the escalation only, not the two reminders with it.
    assert_eq!(
        d.new_summary(),
        strs(&[
            "escalation>anna@smartstock.cloud",
            "escalation>piotr@smartstock.cloud"
        ])
    );
    let skipped = d.ticket("SS-2")["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["what"] == "catch_up")
        .map(|e| e["detail"].clone());
    assert_eq!(skipped, Some(Value::from("skipped reminder-1, reminder-2")));
    // SS-1: follow-up 1 is customer mail: not at night, at Friday's opening.
    assert_eq!(d.steps("SS-1"), ["followup-1@2026-11-27T08:00:00Z"]);
    d.run("2026-11-27T08:00:00Z");
    assert_eq!(d.new_summary(), strs(&["followup-1>jan@acme.example"]));
    // Follow-up 2 counts from the actual send: Friday 9:00 + 3 working
    // days ends Tuesday 17:00, so Wednesday's opening.
    assert_eq!(d.steps("SS-1"), ["followup-2@2026-12-02T08:00:00Z"]);
}

#[test]
fn a_customer_who_auto_replies_without_headers_stays_within_the_rate_limit() {
    let d = Desk::new("sched-autoreply");
    let customer = "bob@shop.example";
    d.customer(
        "Mon, 23 Nov 2026 10:00:00 +0100",
        customer,
        "Stock report shows zero",
        FULL_REPORT,
    );
    // Bob's mailbox answers every mail at once with a new subject and no
    // header saying it is automatic, so each answer opens a new ticket.
    let mut sent_to_bob: Vec<String> = Vec::new();
    let minute = |m: u32| format!("2026-11-23T{:02}:{:02}:00Z", 9 + m / 60, m % 60);
    for round in 0..40u32 {
        let now = minute(round);
        d.run(&now);
        for m in d.new_mails() {
            if m.to.iter().any(|t| t == customer) && m.state == "sent" {
                sent_to_bob.push(m.created_at.clone());
                let local = format!(
                    "Mon, 23 Nov 2026 {:02}:{:02}:30 +0100",
                    10 + round / 60,
                    round % 60
                );
                d.customer(
                    &local,
                    customer,
                    "Your message",
                    "Thank you, your message has been received and will be answered soon.",
                );
            }
        }
    }
    assert!(
        sent_to_bob.len() <= 5,
        "at most 5 automatic mails an hour to one address: {sent_to_bob:?}"
    );
    // The loop ended: the held acknowledgement produced no answer.
    let tickets = d.supportd(&["tickets", "list", "--json"]);
    let n = serde_json::from_str::<Value>(&tickets.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .len();
    assert_eq!(n, sent_to_bob.len() + 1, "{}", tickets.stdout);
    let held: Vec<Out> = d
        .outbox()
        .into_iter()
        .filter(|m| m.state == "held")
        .collect();
    assert_eq!(held.len(), 1, "{held:?}");
    // The consultants were told in that ticket's notification.
    let notes: Vec<Out> = d
        .outbox()
        .into_iter()
        .filter(|m| m.ticket == held[0].ticket && m.template == "consultant-notification")
        .collect();
    assert!(!notes.is_empty());
    assert!(
        notes.iter().all(|m| m
            .text
            .contains("Held back:  1 automatic mail to this customer (hourly limit)")),
        "{}",
        notes[0].text
    );
}

/// End to end on a real Dovecot and Postfix: the scheduler's mails arrive
/// in the consultants' and the customer's mailboxes, and a follow-up that
/// Postfix bounces (a real delivery report, back through IMAP) makes the
/// customer unreachable. Instants are played with `--now`, relative to when
/// the messages really arrived.
#[test]
fn end_to_end_reminders_follow_ups_closure_and_a_bounced_follow_up() {
    use crate::mailserver::{CONSULTANTS, CUSTOMERS, MailServer, SUPPORT, request, supportd};
    use std::time::{Duration, Instant};
    const WAIT: Duration = Duration::from_secs(30);

    let ms = MailServer::start();
    let dir = TempDir::new("sched-e2e");
    dir.write("config.toml", &ms.supportd_config("implicit", "plain"));
    let once = |now: Option<&str>| {
        let mut args = vec![];
        if let Some(n) = now {
            args.extend(["--now", n]);
        }
        args.extend(["run", "--once"]);
        let (code, out, err) = supportd(&dir.0, &args);
        assert_eq!(code, 0, "{err}");
        out
    };
    let show = |n: u64| -> Value {
        let (_, out, _) = supportd(&dir.0, &["tickets", "show", &format!("SS-{n}"), "--json"]);
        serde_json::from_str(&out).unwrap()
    };
    let due = |n: u64, step: &str| -> String {
        show(n)["next_steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == step)
            .unwrap_or_else(|| panic!("SS-{n} has no {step}: {}", show(n)))["due"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let until = |what: &str, mut check: Box<dyn FnMut() -> bool + '_>| {
        let deadline = Instant::now() + WAIT;
        while !check() {
            assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    // Every mail of a ticket has the ticket's subject (one thread); what
    // it is about is its first line.
    let about = |reference: &'static str, first: &'static str| {
        move |m: &mail_parser::Message<'_>| {
            m.subject().is_some_and(|s| s.contains(reference))
                && m.body_text(0).is_some_and(|b| b.contains(first))
        }
    };

    // Three requests: a deliverable customer who will stay silent, a
    // customer at a domain Postfix cannot deliver to, and an outage
    // (severity 1) nobody accepts.
    let stranger = "someone@elsewhere.test";
    let report = "Since 08:15 today the scanner shows wrong bin numbers.\nError: BIN-404.\n\
                  We restarted the scanner and checked the network.\nWe expect the right bins.\n";
    for (from, subject, id) in [
        (
            CUSTOMERS[0],
            "Scanner shows wrong bin numbers",
            "e1@acme.test",
        ),
        (stranger, "Labels print blank", "e2@elsewhere.test"),
        (CUSTOMERS[1], "Warehouse system down", "e3@acme.test"),
    ] {
        let body = if id == "e3@acme.test" {
            format!("Severity: 1\n{report}")
        } else {
            report.to_string()
        };
        ms.send(from, &[SUPPORT], &request(from, subject, id, &body));
        // One at a time: tickets are numbered in arrival order.
        until(
            "the request is ticketed",
            Box::new(|| {
                once(None);
                let (_, out, _) = supportd(&dir.0, &["tickets", "list", "--json"]);
                out.contains(&format!("\"requester\": \"{from}\""))
            }),
        );
    }

    // The consultant puts SS-1 and SS-2 in waiting, from the mail client.
    let key = Store::open(&dir.0.join("var/supportd.db"))
        .unwrap()
        .token_key(None)
        .unwrap();
    for n in [1, 2] {
        let reference = format!("SS-{n}");
        let mac = token::consultant_mac(&key, &reference, CONSULTANTS[0]);
        let to = format!("support+{reference}.{mac}@smartstock.test");
        let reply = format!(
            "From: {c}\r\nTo: {to}\r\nSubject: Re: [{reference}] ticket\r\nMessage-ID: <w{n}@smartstock.test>\r\n\r\n\
             #waiting\r\nPlease send us the scanner's log file.\r\n",
            c = CONSULTANTS[0]
        );
        ms.send(CONSULTANTS[0], &[&to], reply.as_bytes());
    }
    until(
        "both tickets wait",
        Box::new(|| {
            once(None);
            show(1)["state"] == "waiting" && show(2)["state"] == "waiting"
        }),
    );

    // SS-3: the first reminder, then the escalation, in both consultants'
    // mailboxes.
    once(Some(&due(3, "reminder-1")));
    for c in CONSULTANTS {
        ms.wait_for(
            c,
            "INBOX",
            WAIT,
            "reminder",
            about("[SS-3]", "is still waiting for a consultant to accept it"),
        );
    }
    once(Some(&due(3, "breach")));
    for c in CONSULTANTS {
        ms.wait_for(
            c,
            "INBOX",
            WAIT,
            "escalation",
            about("[SS-3]", "was not accepted by its deadline"),
        );
    }
    assert_eq!(show(3)["breached"], true);

    // Follow-up 1 of both waiting tickets.
    let f1 = due(1, "followup-1").max(due(2, "followup-1"));
    once(Some(&f1));
    let raw = ms.wait_for(CUSTOMERS[0], "INBOX", WAIT, "follow-up 1", |m| {
        m.body_text(0)
            .is_some_and(|b| b.contains("we will write once more on"))
    });
    let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        crate::mailserver::header(&m, "Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    // Postfix bounces SS-2's follow-up; the delivery report comes back
    // through the mailbox and the next pass makes the customer unreachable.
    let after = |at: &str, secs: i64| {
        let t: chrono::DateTime<chrono::Utc> = at.parse().unwrap();
        supportd::sla::format_utc(t + chrono::Duration::seconds(secs))
    };
    let a_minute_later = after(&f1, 60);
    until(
        "the bounced follow-up makes SS-2 unreachable",
        Box::new(|| {
            once(Some(&a_minute_later));
            show(2)["unreachable"] == true
        }),
    );
    let t2 = show(2);
    assert_eq!(t2["state"], "waiting", "{t2}");
    assert_eq!(t2["next_steps"], serde_json::json!([]), "{t2}");
    let raw = ms.wait_for(
        CONSULTANTS[0],
        "INBOX",
        WAIT,
        "customer unreachable",
        about("[SS-2]", "could not be delivered"),
    );
    let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let text = m.body_text(0).unwrap();
    assert!(
        text.contains("Follow-up 1 of SS-2 to someone@elsewhere.test could not be delivered")
            && text.contains("5.1.2"),
        "{text}"
    );

    // SS-1 goes on: follow-up 2, then closed as resolved.
    once(Some(&due(1, "followup-2")));
    ms.wait_for(CUSTOMERS[0], "INBOX", WAIT, "follow-up 2", |m| {
        m.body_text(0)
            .is_some_and(|b| b.contains("second and last attempt"))
    });
    once(Some(&due(1, "close")));
    ms.wait_for(CUSTOMERS[0], "INBOX", WAIT, "closure", |m| {
        m.body_text(0)
            .is_some_and(|b| b.contains("so we have closed SS-1 as resolved"))
    });
    ms.wait_for(
        CONSULTANTS[0],
        "INBOX",
        WAIT,
        "closure notice",
        about("[SS-1]", "is closed as resolved"),
    );
    assert_eq!(show(1)["state"], "closed");
}

/// `supportd run` (the real clock): a reminder leaves within 5 s of its
/// instant. The calendar is open around the clock today and tomorrow, so
/// a 1-hour target with a reminder at 0.3 % of it falls due 10.8 s after
/// the request arrives.
#[test]
fn the_daemon_sends_due_mail_within_5_seconds_of_its_instant() {
    use std::time::{Duration, Instant};
    let now = chrono::Utc::now();
    let cal = supportd::sla::Calendar::contract();
    let (d0, d1) = (
        cal.local_date(now),
        cal.local_date(now + chrono::Duration::days(1)),
    );
    let d = Desk::with_config(
        "sched-daemon",
        &format!(
            "[calendar]\nhours = \"00:00-24:00\"\nweekdays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\n\
             special-hours = {{ \"{d0}\" = \"00:00-24:00\", \"{d1}\" = \"00:00-24:00\" }}\n\
             [sla]\ntarget-hours = [1, 1, 1, 1, 1]\nreminders = [0.003]\n"
        ),
    );
    let mut daemon = crate::mailserver::Daemon::start(&d.dir.0);
    d.report(
        &chrono::Utc::now().to_rfc2822(),
        "Jan <jan@acme.example>",
        "Stock report shows zero",
        FULL_REPORT,
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let due: chrono::DateTime<chrono::Utc> = loop {
        let r = d.supportd(&["tickets", "show", "SS-1", "--json"]);
        if r.code == 0 {
            let v: Value = serde_json::from_str(&r.stdout).unwrap();
            if let Some(s) = v["next_steps"]
                .as_array()
                .and_then(|a| a.iter().find(|s| s["step"] == "reminder-1"))
            {
                break s["due"].as_str().unwrap().parse().unwrap();
            }
        }
        assert!(Instant::now() < deadline, "no ticket: {}", daemon.log());
        std::thread::sleep(Duration::from_millis(100));
    };
    let sent_at: chrono::DateTime<chrono::Utc> = loop {
        let r = d.supportd(&["outbox", "list", "--json"]);
        let v: Value = serde_json::from_str(&r.stdout).unwrap_or_default();
        if let Some(m) = v.as_array().and_then(|a| {
            a.iter()
                .find(|m| m["template"] == "reminder" && m["state"] == "sent")
        }) {
            break m["sent_at"].as_str().unwrap().parse().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "no reminder sent: {}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let late = (sent_at - due).num_seconds();
    assert!(
        (0..=5).contains(&late),
        "due {due}, sent {sent_at}: {late} s"
    );
    daemon.stop();
}

#[test]
fn a_severity_change_recomputes_from_receipt_and_escalates_a_past_deadline_once() {
    let d = Desk::new("sched-severity");
    // Severity 3, received Monday 23 Nov 2026 10:00 Warsaw.
    d.report(
        "Mon, 23 Nov 2026 10:00:00 +0100",
        "Jan <jan@acme.example>",
        "Stock report shows zero",
        FULL_REPORT,
    );
    // The same without a screenshot: its missing-information reminder
    // survives a severity change.
    d.customer(
        "Mon, 23 Nov 2026 10:00:00 +0100",
        "Ewa <ewa@shop.example>",
        "Invoices cannot be printed",
        FULL_REPORT,
    );
    d.run("2026-11-23T09:00:05Z");
    d.consultant(
        "Mon, 23 Nov 2026 12:00:00 +0100",
        "anna@smartstock.cloud",
        "SS-2",
        "#severity 2",
    );
    d.run("2026-11-23T11:00:05Z");
    assert!(
        d.steps("SS-2")
            .iter()
            .any(|s| s.starts_with("missing-info@")),
        "{:?}",
        d.steps("SS-2")
    );
    d.new_mails();

    // Wednesday 11:00: severity 1 would have been due Wednesday 10:00
    // (16 h from receipt): past, so one escalation at once.
    d.consultant(
        "Wed, 25 Nov 2026 11:00:00 +0100",
        "anna@smartstock.cloud",
        "SS-1",
        "#severity 1",
    );
    d.run("2026-11-25T10:00:05Z");
    let mine: Vec<String> = d
        .new_mails()
        .into_iter()
        .filter(|m| m.ticket == Some(1))
        .map(|m| format!("{}>{}", m.template, m.to.join(",")))
        .collect();
    assert_eq!(
        mine.iter().cloned().collect::<BTreeSet<_>>(),
        strs(&[
            "escalation>anna@smartstock.cloud",
            "escalation>piotr@smartstock.cloud",
            "consultant-reply>jan@acme.example",
        ])
        .into_iter()
        .collect()
    );
    let t = d.ticket("SS-1");
    assert_eq!(
        (t["deadline"].as_str(), t["breached"].as_bool()),
        (Some("2026-11-25T09:00:00Z"), Some(true))
    );
    assert_eq!(d.steps("SS-1"), Vec::<String>::new());

    // Severity 2 an hour later: 24 h from receipt is Thursday 10:00, still
    // ahead: a new clock (the reminder at 12 h has passed and is left out).
    d.consultant(
        "Wed, 25 Nov 2026 12:00:00 +0100",
        "anna@smartstock.cloud",
        "SS-1",
        "#severity 2",
    );
    d.run("2026-11-25T11:00:05Z");
    let t = d.ticket("SS-1");
    assert_eq!(
        (t["deadline"].as_str(), t["breached"].as_bool()),
        (Some("2026-11-26T09:00:00Z"), Some(false))
    );
    assert_eq!(
        d.steps("SS-1"),
        [
            "reminder-2@2026-11-25T12:12:00Z",
            "breach@2026-11-26T09:00:00Z"
        ]
    );
    let told = d
        .new_mails()
        .into_iter()
        .find(|m| m.ticket == Some(1) && m.template == "consultant-reply")
        .expect("the customer is told");
    assert!(
        told.text.contains("by Thu 26 Nov 2026, 10:00 Warsaw time"),
        "{}",
        told.text
    );
    d.run("2026-11-26T09:00:00Z");
    assert!(
        d.new_summary()
            .contains(&"escalation>anna@smartstock.cloud".to_string()),
        "the new deadline escalates again when it passes"
    );
}

/// A delivery report for the mail of `template` on a ticket with two
/// participants.
fn bounce_of(d: &Desk, template: &str, received: &str, failed: &str) {
    let id = d
        .outbox_ids()
        .into_iter()
        .find(|(_, m)| m.template == template)
        .expect("the bounced mail")
        .0;
    let envelope = d.envelope(id);
    d.receive(
        received,
        &format!(
            "Return-Path: <>\nFrom: MAILER-DAEMON@mx.acme.example\nTo: {envelope}\n\
             Subject: Undelivered Mail Returned to Sender\nMessage-Id: <dsn-{id}-{failed}>\nMIME-Version: 1.0\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n\
             --b\nContent-Type: text/plain\n\nOne recipient failed.\n\n--b\nContent-Type: message/delivery-status\n\n\
             Reporting-MTA: dns; mx.acme.example\n\nFinal-Recipient: rfc822; {failed}\nAction: failed\nStatus: 5.1.1\n\n--b--\n"
        ),
    );
}

#[test]
fn a_bounce_for_a_copied_colleague_leaves_the_customer_reachable() {
    // Follow-ups go to the requester alone; the consultant's answer went to
    // both, and the colleague's copy of it bounces.
    for (template, failed, unreachable) in [
        ("consultant-reply", "ewa@acme.example", false),
        ("followup-1", "jan@acme.example", true),
    ] {
        let d = Desk::new(&format!("sched-partial-{unreachable}"));
        d.receive(
            "Mon, 23 Nov 2026 10:00:00 +0100",
            &format!(
                "From: Jan <jan@acme.example>\nTo: support@smartstock.cloud\nCc: Ewa <ewa@acme.example>\n\
                 Subject: Stock report shows zero\nMessage-ID: <p-1@acme.example>\n\n{FULL_REPORT}\n"
            ),
        );
        d.run("2026-11-23T09:00:05Z");
        d.consultant(
            "Tue, 24 Nov 2026 10:00:00 +0100",
            "anna@smartstock.cloud",
            "SS-1",
            "#waiting\nPlease send the log.",
        );
        d.run("2026-11-24T09:00:05Z");
        d.run("2026-12-08T09:00:00Z");
        let relay = d
            .outbox()
            .into_iter()
            .find(|m| m.template == "consultant-reply");
        assert_eq!(relay.unwrap().to, ["jan@acme.example", "ewa@acme.example"]);
        let followup = d.outbox().into_iter().find(|m| m.template == "followup-1");
        assert_eq!(followup.unwrap().to, ["jan@acme.example"]);
        bounce_of(&d, template, "Tue, 08 Dec 2026 10:05:00 +0100", failed);
        d.run("2026-12-08T09:05:05Z");
        let t = d.ticket("SS-1");
        assert_eq!(t["unreachable"], unreachable, "{failed}: {t}");
        assert_eq!(t["state"], "waiting");
        if unreachable {
            assert_eq!(d.steps("SS-1"), Vec::<String>::new());
            assert!(
                d.outbox()
                    .iter()
                    .any(|m| m.template == "customer-unreachable"
                        && m.to == ["anna@smartstock.cloud"])
            );
        } else {
            assert_eq!(d.steps("SS-1"), ["followup-2@2026-12-11T09:00:00Z"]);
            d.run("2026-12-11T09:00:00Z");
            assert!(d.outbox().iter().any(|m| m.template == "followup-2"));
        }
    }
}
