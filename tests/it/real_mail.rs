//! Mail in the shapes real servers write it, through the binary: no message
//! lost as a false duplicate (CR-only line endings, content-free inputs), no
//! ticket from input that is no mail, delivery reports that fail, delay or
//! succeed, spam-feedback reports that stop automatic mail to the person who
//! complained, Maildir++ subfolders and mbox `From ` lines without a date.
//! Also a property test: any bytes imported never open a ticket without a
//! requester, and distinct inputs are never merged.

use proptest::prelude::*;
use serde_json::Value;

use crate::scheduler::Desk;
use crate::util::{TempDir, run};

fn supportd(dir: &TempDir, args: &[&str]) -> crate::util::Run {
    let db = dir.0.join("s.db");
    let mut all = vec!["--db", db.to_str().unwrap()];
    all.extend_from_slice(args);
    run(&all, "")
}

fn tickets(dir: &TempDir) -> Vec<Value> {
    let r = supportd(dir, &["tickets", "list", "--state", "all", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str::<Value>(&r.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn maildir(dir: &TempDir, name: &str) -> std::path::PathBuf {
    let md = dir.0.join(name);
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(md.join(sub)).unwrap();
    }
    md
}

#[test]
fn cr_only_and_content_free_inputs_are_never_taken_for_duplicates() {
    let dir = TempDir::new("real-cr-only");
    let md = maildir(&dir, "Maildir");
    // 80 distinct reports with old Mac line endings, each behind the same
    // trace headers: once, the whole text read as one Received header and
    // all 80 hashed alike.
    for i in 0..80 {
        let raw = format!(
            "Received: from mx.example by mx.smartstock.cloud; Mon, 23 Nov 2026 10:00:00 +0100\r\
             Return-Path: <c{i}@acme.example>\rFrom: Customer {i} <c{i}@acme.example>\rTo: support@smartstock.cloud\r\
             Subject: Export {i} fails\rDate: Mon, 23 Nov 2026 10:00:00 +0100\r\r\
             The export number {i} fails since this morning for all users.\r"
        );
        std::fs::write(md.join(format!("new/17000000{i:02}.M1P1.mx")), raw).unwrap();
    }
    // Content-free inputs: nothing but trace headers, or nothing at all.
    for i in 0..5 {
        std::fs::write(md.join(format!("new/17000001{i:02}.M1P1.mx")), "").unwrap();
        std::fs::write(
            md.join(format!("new/17000002{i:02}.M1P1.mx")),
            "Received: from mx.example by mx.smartstock.cloud; Mon, 23 Nov 2026 10:00:00 +0100\n",
        )
        .unwrap();
    }
    let r = supportd(&dir, &["import", md.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("read 90 messages, 90 of them new: 80 new tickets")
            && r.stdout.contains("0 duplicates skipped")
            && r.stdout.contains("10 quarantined (10 not mail)"),
        "{}",
        r.stdout
    );
    let all = tickets(&dir);
    assert_eq!(all.len(), 80);
    assert!(
        all.iter()
            .all(|t| t["requester"].as_str().unwrap().ends_with("@acme.example"))
    );
    // The same files again are duplicates by their source key, all of them.
    let again = supportd(&dir, &["import", md.to_str().unwrap()]);
    assert!(
        again.stdout.contains("90 duplicates skipped"),
        "{}",
        again.stdout
    );
    assert_eq!(tickets(&dir).len(), 80);
}

#[test]
fn maildirpp_subfolders_and_dateless_mbox_lines_are_read() {
    let dir = TempDir::new("real-maildirpp");
    let md = maildir(&dir, "Maildir");
    let mail = |n: u32, date: &str| {
        format!(
            "From: Ewa <ewa{n}@acme.example>\nTo: support@smartstock.cloud\nSubject: Stock levels wrong {n}\n\
             Date: {date}\nMessage-ID: <pp{n}@acme.example>\n\nThe stock levels in hall {n} show zero since the import.\n"
        )
    };
    std::fs::write(
        md.join("cur/1700000001.M1P1.mx:2,S"),
        mail(1, "Mon, 23 Nov 2026 10:00:00 +0100"),
    )
    .unwrap();
    for folder in [".Support", ".INBOX.Archive", ".Trash"] {
        let sub = maildir(&dir, &format!("Maildir/{folder}"));
        let n = folder.len() as u32;
        std::fs::write(
            sub.join(format!("cur/17000000{n:02}.M1P1.mx:2,S")),
            mail(n, "Mon, 23 Nov 2026 10:00:00 +0100"),
        )
        .unwrap();
    }
    let r = supportd(&dir, &["import", md.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The inbox and two subfolders; the trash is left out.
    assert!(
        r.stdout
            .contains("read 3 messages, 3 of them new: 3 new tickets"),
        "{}",
        r.stdout
    );
    // An mbox whose `From ` line has no date: received is the Date header,
    // not 1970.
    let mbox = dir.write(
        "box.mbox",
        &format!(
            "From ewa@acme.example\n{}",
            mail(9, "Tue, 24 Nov 2026 08:30:00 +0100")
        ),
    );
    let r = supportd(&dir, &["import", mbox.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let received: Vec<String> = tickets(&dir)
        .iter()
        .map(|t| t["received_at"].as_str().unwrap().to_string())
        .collect();
    assert!(
        received
            .iter()
            .any(|r| r.starts_with("2026-11-24T07:30:00")),
        "{received:?}"
    );
    assert!(
        !received.iter().any(|r| r.starts_with("1970")),
        "{received:?}"
    );
}

/// A delivery report for outbox row `id`, with one per-recipient block.
fn dsn(d: &Desk, id: i64, recipient: &str, action: &str, status: &str) -> String {
    let envelope = d.envelope(id);
    format!(
        "Return-Path: <>\nFrom: MAILER-DAEMON@mx.acme.example\nTo: {envelope}\n\
         Subject: Delivery report\nMessage-Id: <dsn-{id}-{action}@mx.acme.example>\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n\
         --b\nContent-Type: text/plain\n\nA delivery report.\n\n--b\nContent-Type: message/delivery-status\n\n\
         Reporting-MTA: dns; mx.acme.example\n\nFinal-Recipient: rfc822; {recipient}\nAction: {action}\nStatus: {status}\n\n--b--\n"
    )
}

fn ack_of(d: &Desk, to: &str) -> (i64, String) {
    d.outbox_ids()
        .into_iter()
        .find(|(_, m)| m.template == "acknowledgement" && m.to == [to])
        .map(|(id, m)| (id, m.state))
        .expect("an acknowledgement")
}

#[test]
fn success_reports_never_fail_a_mail_and_an_expired_queue_does() {
    let d = Desk::new("real-dsn-actions");
    for (n, who) in ["jan@acme.example", "ewa@acme.example"].iter().enumerate() {
        d.customer(
            "Mon, 23 Nov 2026 10:00:00 +0100",
            who,
            &format!("Export {n} fails"),
            "The export fails since this morning for all users.",
        );
    }
    d.run("2026-11-23T09:00:05Z");
    let (jan, state) = ack_of(&d, "jan@acme.example");
    assert_eq!(state, "sent");
    let (ewa, _) = ack_of(&d, "ewa@acme.example");
    // Success reports: delivered, relayed, expanded.
    for action in ["delivered", "relayed", "expanded"] {
        d.receive(
            "Mon, 23 Nov 2026 10:01:00 +0100",
            &dsn(&d, jan, "jan@acme.example", action, "2.0.0"),
        );
    }
    // A queue that expired: Action failed with a 4.x.x status.
    d.receive(
        "Mon, 23 Nov 2026 10:01:00 +0100",
        &dsn(&d, ewa, "ewa@acme.example", "failed", "4.4.7"),
    );
    d.run("2026-11-23T09:01:05Z");
    assert_eq!(ack_of(&d, "jan@acme.example").1, "sent");
    assert_eq!(ack_of(&d, "ewa@acme.example").1, "failed");
    let events = d.events("SS-1");
    assert_eq!(
        events.iter().filter(|e| *e == "mail_delivered").count(),
        3,
        "{events:?}"
    );
    assert!(!events.iter().any(|e| e == "mail_bounced"), "{events:?}");
    assert_eq!(tickets_count(&d), 2, "no report opened a ticket");
}

fn tickets_count(d: &Desk) -> usize {
    let r = d.supportd(&["tickets", "list", "--state", "all", "--json"]);
    serde_json::from_str::<Value>(&r.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn a_spam_feedback_report_stops_automatic_mail_to_the_person_who_sent_it() {
    let d = Desk::new("real-feedback");
    d.customer(
        "Mon, 23 Nov 2026 10:00:00 +0100",
        "Marta <marta@acme.example>",
        "Invoices missing",
        "The invoices of November are missing in the panel since this morning.",
    );
    d.run("2026-11-23T09:00:05Z");
    let ack = d
        .outbox_ids()
        .into_iter()
        .find(|(_, m)| m.template == "acknowledgement")
        .unwrap()
        .0;
    let r = d.supportd(&["outbox", "list", "--json"]);
    let rows: Value = serde_json::from_str(&r.stdout).unwrap();
    let ack_id = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == ack)
        .unwrap()["message_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Her mailbox provider's feedback loop reports our acknowledgement.
    d.receive(
        "Mon, 23 Nov 2026 11:00:00 +0100",
        &format!(
            "From: Feedback Loop <fbl@mailbox.example>\nTo: support@smartstock.cloud\nSubject: Abuse report\n\
             Message-ID: <fbl-1@mailbox.example>\nMIME-Version: 1.0\n\
             Content-Type: multipart/report; report-type=feedback-report; boundary=\"f\"\n\n\
             --f\nContent-Type: text/plain\n\nThis is an email abuse report.\n\n\
             --f\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: FBL/1.0\nVersion: 1\n\
             Original-Rcpt-To: <marta@acme.example>\n\n\
             --f\nContent-Type: message/rfc822\n\nFrom: support@smartstock.cloud\nTo: marta@acme.example\n\
             Subject: [SS-1] We received your request\nMessage-ID: <{ack_id}>\n\nThank you.\n\n--f--\n"
        ),
    );
    d.run("2026-11-23T10:00:05Z");
    assert_eq!(tickets_count(&d), 1, "the report opened no ticket");
    assert!(
        d.events("SS-1").iter().any(|e| e == "feedback_report"),
        "{:?}",
        d.events("SS-1")
    );
    let metrics = d.supportd(&["metrics"]).stdout;
    assert!(
        metrics.contains("supportd_suppressed_recipients 1"),
        "{metrics}"
    );
    // Her next report gets a ticket, but no acknowledgement goes to her:
    // the mail is failed with the reason, and consultants still hear of it.
    d.customer(
        "Mon, 23 Nov 2026 12:00:00 +0100",
        "Marta <marta@acme.example>",
        "Orders missing",
        "The orders of November are missing in the panel since this morning.",
    );
    d.run("2026-11-23T11:00:05Z");
    let failed = d.supportd(&["outbox", "list", "--failed"]).stdout;
    assert!(
        failed.contains("reported our mail as spam or abuse"),
        "{failed}"
    );
    let acks: Vec<_> = d
        .outbox()
        .into_iter()
        .filter(|m| m.template == "acknowledgement")
        .map(|m| m.state)
        .collect();
    assert_eq!(acks, ["sent", "failed"]);
    assert!(
        d.outbox()
            .iter()
            .any(|m| m.ticket == Some(2) && m.to == ["anna@smartstock.cloud"])
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the bytes, import never opens a ticket without a requester
    /// address, and distinct inputs are never merged as duplicates: every
    /// input is either its own message or, when byte-identical to another
    /// one, that one's duplicate.
    #[test]
    fn any_bytes_never_open_a_ticket_without_a_requester_nor_merge(
        inputs in proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..300),
                "[ -~\r\n]{0,200}".prop_map(|s| s.into_bytes()),
                ("[a-z]{1,8}", "[ -~\r\n]{0,120}").prop_map(|(who, body)| format!(
                    "Received: from x by y; Mon, 23 Nov 2026 10:00:00 +0100\rFrom: {who}@acme.example\rSubject: s\r\r{body}"
                ).into_bytes()),
                ("[a-z]{0,6}", "[ -~\n]{0,120}").prop_map(|(who, body)| format!(
                    "From: {who}\nTo: support@smartstock.cloud\n\n{body}"
                ).into_bytes()),
            ],
            1..8,
        )
    ) {
        let dir = TempDir::new("real-prop");
        let mut files = Vec::new();
        for (i, raw) in inputs.iter().enumerate() {
            let path = dir.0.join(format!("{i}.eml"));
            std::fs::write(&path, raw).unwrap();
            files.push(path);
        }
        let mut args = vec!["import"];
        args.extend(files.iter().map(|f| f.to_str().unwrap()));
        let r = supportd(&dir, &args);
        prop_assert_eq!(r.code, 0, "{}", r.stderr);
        for t in tickets(&dir) {
            let requester = t["requester"].as_str().unwrap_or("");
            prop_assert!(requester.contains('@'), "ticket without a requester: {}", t);
        }
        // Distinct inputs are never merged: a skipped duplicate must have
        // the same bytes (line endings aside) as an input before it.
        let same = |a: &[u8]| -> Vec<u8> {
            supportd::mail::parse::normalize_eol(a).iter().copied().filter(|b| *b != b'\r').collect()
        };
        let identical = (0..inputs.len())
            .filter(|&i| (0..i).any(|j| same(&inputs[i]) == same(&inputs[j])))
            .count();
        let skipped: usize = r
            .stdout
            .split(", ")
            .find_map(|part| part.strip_suffix(" duplicates skipped"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no duplicate count in {}", r.stdout));
        prop_assert!(skipped <= identical, "{} skipped, {} identical: {}", skipped, identical, r.stdout);
    }
}
