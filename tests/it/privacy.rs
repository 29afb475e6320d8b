//! What ops and the privacy officer use: Prometheus metrics (over HTTP from
//! the daemon, and `supportd metrics`), retention, and data-subject export
//! and erasure.

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::scheduler::Desk;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET a path over HTTP/1.1; (status line, body).
fn http_get(port: u16, path: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

fn dsn(d: &Desk, bounced_outbox: i64, recipient: &str, status: &str) -> String {
    let envelope = d.envelope(bounced_outbox);
    format!(
        "Return-Path: <>\nFrom: MAILER-DAEMON@mx.smartstock.cloud (Mail Delivery System)\n\
         To: {envelope}\nSubject: Undelivered Mail Returned to Sender\n\
         Message-Id: <dsn-{bounced_outbox}@mx.smartstock.cloud>\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nUser unknown.\n\n\
         --b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; {recipient}\nAction: failed\nStatus: {status}\n\n\
         --b--\n"
    )
}

const REPORT: &str = "Since 08:15 today the stock report shows zero. Error \"STOCK-0\".\n\
    We restarted the application. We expect real stock levels.";

#[test]
fn every_metric_is_served_over_http_and_parses_as_prometheus_text() {
    let port = free_port();
    let d = Desk::with_config(
        "priv-metrics",
        &format!(
            "[metrics]\nlisten = \"127.0.0.1:{port}\"\n[limits]\nauto-per-recipient-per-hour = 1\nmax-message-mb = 1\n\
             consultant-mails-per-hour = 1\n"
        ),
    );
    // Monday 2 Nov 2026: a severity-1 request nobody accepts (at risk,
    // breached, escalated), the same customer again within the hour (its
    // acknowledgement waits for the next hour), and a request that will
    // wait; the consultants' notifications beyond one an hour are held for
    // good (the next one says how many).
    d.customer(
        "Mon, 02 Nov 2026 10:00:00 +0100",
        "jan@acme.example",
        "System down",
        &format!("Severity: 1\n{REPORT}"),
    );
    d.customer(
        "Mon, 02 Nov 2026 10:10:00 +0100",
        "jan@acme.example",
        "Second problem",
        REPORT,
    );
    d.customer(
        "Mon, 02 Nov 2026 10:20:00 +0100",
        "ewa@shop.example",
        "Invoices",
        REPORT,
    );
    // An out-of-office reply, and a message over the 1 MB limit.
    d.receive(
        "Mon, 02 Nov 2026 10:30:00 +0100",
        "From: ola@other.example\nSubject: Out of office\nAuto-Submitted: auto-replied\n\nAway.\n",
    );
    d.receive(
        "Mon, 02 Nov 2026 10:31:00 +0100",
        &format!(
            "From: big@other.example\nSubject: Huge log\n\n{}\n",
            "x".repeat(1_200_000)
        ),
    );
    d.run("2026-11-02T09:40:05Z");
    d.consultant(
        "Mon, 02 Nov 2026 11:00:00 +0100",
        "anna@smartstock.cloud",
        "SS-3",
        "#waiting\nWhich printer?",
    );
    d.run("2026-11-02T10:00:05Z");
    // The breach of SS-1 on Wednesday; follow-up 1 of SS-3 two weeks on;
    // Postfix's report that it bounced.
    d.run("2026-11-04T09:00:00Z");
    d.run("2026-11-16T10:00:00Z");
    let followup = d
        .outbox()
        .iter()
        .position(|m| m.template == "followup-1")
        .expect("follow-up 1 sent") as i64
        + 1;
    d.receive(
        "Mon, 16 Nov 2026 11:05:00 +0100",
        &dsn(&d, followup, "ewa@shop.example", "5.1.1"),
    );
    d.run("2026-11-16T10:05:05Z");
    // The next mails cannot be written (a folder sits where each file's
    // temporary copy goes): they stay pending and are retried.
    let next = d.outbox().len() + 1;
    for id in next..next + 4 {
        std::fs::create_dir_all(d.dir.0.join(format!("var/outbox/.{id:06}.eml.tmp"))).unwrap();
    }
    d.customer(
        "Mon, 16 Nov 2026 12:00:00 +0100",
        "zofia@corp.example",
        "Another one",
        REPORT,
    );
    d.run("2026-11-16T11:00:05Z");
    d.run("2026-11-16T11:10:00Z");

    let mut daemon = crate::mailserver::Daemon::start(&d.dir.0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let (status, body) = http_get(port, "/metrics");
            assert!(status.contains("200"), "{status}");
            if body.contains("supportd_last_poll_timestamp_seconds ")
                && !body.contains("supportd_last_poll_timestamp_seconds 0\n")
            {
                break body;
            }
        }
        assert!(Instant::now() < deadline, "no metrics: {}", daemon.log());
        std::thread::sleep(Duration::from_millis(100));
    };
    let (status, _) = http_get(port, "/other");
    assert!(status.contains("404"), "{status}");
    daemon.terminate(Duration::from_secs(10));

    let lines: Vec<String> = body.lines().map(String::from).collect();
    let scrape = prometheus_parse::Scrape::parse(lines.into_iter().map(Ok)).unwrap();
    let value = |name: &str| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    for name in [
        "supportd_tickets",
        "supportd_tickets_at_risk",
        "supportd_tickets_breached",
        "supportd_oldest_unaccepted_working_seconds",
        "supportd_breaches_total",
        "supportd_messages_total",
        "supportd_auto_replies_total",
        "supportd_mails_held",
        "supportd_outbox_mails",
        "supportd_outbox_retries_total",
        "supportd_quarantined_messages",
        "supportd_unreachable_customers",
        "supportd_last_poll_timestamp_seconds",
        "supportd_last_send_timestamp_seconds",
    ] {
        assert!(value(name) > 0.0, "{name} is zero:\n{body}");
    }
    let by = |name: &str, label: &str, v: &str| {
        scrape
            .samples
            .iter()
            .any(|s| s.metric == name && s.labels.get(label) == Some(v))
    };
    assert!(by("supportd_outbox_mails", "state", "pending"), "{body}");
    assert!(by("supportd_outbox_mails", "state", "failed"), "{body}");
    assert!(by("supportd_messages_total", "kind", "bounce"), "{body}");
    assert!(
        by("supportd_auto_replies_total", "rule", "auto-submitted"),
        "{body}"
    );
    assert!(by("supportd_tickets", "severity", "1"), "{body}");

    // The same text without HTTP.
    let r = d.supportd(&["metrics"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("supportd_unreachable_customers 1")
            && r.stdout.contains("supportd_mails_held 5"),
        "{}",
        r.stdout
    );
}

fn export_json(d: &Desk, email: &str, now: &str) -> (Value, std::path::PathBuf) {
    let n = std::fs::read_dir(&d.dir.0).unwrap().count();
    let dir = d.dir.0.join(format!("export-{n}-{email}"));
    let r = d.supportd(&[
        "--now",
        now,
        "privacy",
        "export",
        email,
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("export.json")).unwrap()).unwrap();
    (v, dir)
}

/// SS-1 from old@acme.example, received and closed (with the consultant's
/// `close` mail, not applied yet) on 4 March 2024.
fn ticket_closed_in_march_2024(d: &Desk, close: &str) {
    d.customer(
        "Mon, 04 Mar 2024 10:00:00 +0100",
        "old@acme.example",
        "Old problem",
        REPORT,
    );
    d.run("2024-03-04T09:00:05Z");
    d.consultant(
        "Mon, 04 Mar 2024 12:00:00 +0100",
        "anna@smartstock.cloud",
        "SS-1",
        close,
    );
}

#[test]
fn retention_purges_bodies_by_age_and_keeps_the_audit_trail() {
    let d = Desk::with_config(
        "priv-retention",
        "[limits]\nmax-message-mb = 1\n[retention]\nclosed-ticket-months = 12\noutbox-body-days = 90\nquarantine-days = 30\n",
    );
    // SS-1: 2024, closed then. SS-2: closed a month ago. SS-3: open.
    ticket_closed_in_march_2024(&d, "#close\nFixed.");
    d.receive(
        "Mon, 04 Mar 2024 13:00:00 +0100",
        &format!(
            "From: big@other.example\nSubject: Huge\n\n{}\n",
            "x".repeat(1_200_000)
        ),
    );
    d.run("2024-03-04T12:00:05Z");
    d.customer(
        "Mon, 12 Oct 2026 10:00:00 +0200",
        "mid@acme.example",
        "Recent problem",
        REPORT,
    );
    d.run("2026-10-12T08:00:05Z");
    d.consultant(
        "Mon, 19 Oct 2026 12:00:00 +0200",
        "anna@smartstock.cloud",
        "SS-2",
        "#close",
    );
    d.customer(
        "Mon, 23 Nov 2026 10:00:00 +0100",
        "new@acme.example",
        "Open problem",
        REPORT,
    );
    d.run("2026-11-23T09:00:05Z");

    let now = "2026-11-24T09:00:00Z";
    let dry = d.supportd(&["--now", now, "retention", "run", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    // SS-1's request and the consultant's #close; its 5 mails from 2024
    // (acknowledgement, 2 notifications, relay... as sent); the 2024
    // oversized message.
    assert!(
        dry.stdout.contains("would purge 2 raw messages")
            && dry
                .stdout
                .contains("of 1 ticket closed more than 12 months ago"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout
            .contains("would purge 1 quarantined message older"),
        "{}",
        dry.stdout
    );
    let old_mails = d
        .outbox()
        .iter()
        .filter(|m| m.created_at.starts_with("2024"))
        .count();
    assert!(old_mails >= 3);
    assert!(
        dry.stdout.contains(&format!(
            "would purge {old_mails} bodies of mail older than 90 days"
        )),
        "{}",
        dry.stdout
    );
    let (before, _) = export_json(&d, "old@acme.example", now);

    let run = d.supportd(&["--now", now, "retention", "run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, dry.stdout.replace("would purge", "purged"));
    // Nothing left to purge.
    let again = d.supportd(&["--now", now, "retention", "run", "--dry-run"]);
    assert!(
        again.stdout.contains("would purge 0 raw messages"),
        "{}",
        again.stdout
    );

    // The ticket, its messages' records and its events stay; the bodies go.
    let (after, dir) = export_json(&d, "old@acme.example", now);
    let t = &after["tickets"][0];
    assert_eq!(t["state"], "closed");
    assert_eq!(
        t["messages"].as_array().unwrap().len(),
        before["tickets"][0]["messages"].as_array().unwrap().len()
    );
    assert!(
        t["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["what"] == "retention"),
        "{t}"
    );
    assert_eq!(std::fs::read_dir(dir.join("messages")).unwrap().count(), 0);
    assert!(
        after["outgoing"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["body"].is_null()),
        "{after}"
    );
    // The recent and open tickets keep theirs.
    let (recent, dir) = export_json(&d, "mid@acme.example", now);
    assert!(std::fs::read_dir(dir.join("messages")).unwrap().count() >= 1);
    assert!(
        recent["outgoing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| !m["body"].is_null())
    );
    let r = d.supportd(&["quarantine", "list"]);
    assert!(!r.stdout.contains("big@other.example"), "{}", r.stdout);
}

#[test]
fn privacy_export_finds_a_person_everywhere_and_erase_leaves_no_trace() {
    let d = Desk::new("priv-erase");
    let who = "ola.sekretna@acme.example";
    let name = "Ola Sekretna";
    // 1. Her own request.
    d.customer(
        "Mon, 23 Nov 2026 10:00:00 +0100",
        &format!("{name} <{who}>"),
        "Label printer prints blank pages",
        REPORT,
    );
    // 2. A colleague's request with her in Cc.
    d.receive(
        "Mon, 23 Nov 2026 10:05:00 +0100",
        &format!(
            "From: Jan <jan@acme.example>\nTo: support@smartstock.cloud\nCc: {name} <{who}>\n\
             Subject: Scanner offline\nMessage-ID: <cc-1@acme.example>\n\n{REPORT}\n"
        ),
    );
    // 3. An attachment named after her, on a third person's request.
    d.receive(
        "Mon, 23 Nov 2026 10:10:00 +0100",
        &format!(
            "From: Ewa <ewa@shop.example>\nTo: support@smartstock.cloud\nSubject: Export broken\n\
             Message-ID: <att-1@shop.example>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n\
             --b\nContent-Type: text/plain\n\n{REPORT}\n--b\nContent-Type: text/plain; name=\"{who} - notes.txt\"\n\
             Content-Disposition: attachment; filename=\"{who} - notes.txt\"\n\nnotes\n--b--\n"
        ),
    );
    d.run("2026-11-23T09:10:05Z");
    // 4. Her reply on SS-1, 5. the consultant's answer to her (outbox).
    d.receive(
        "Mon, 23 Nov 2026 11:00:00 +0100",
        &format!(
            "From: {name} <{who}>\nTo: support@smartstock.cloud\nSubject: Re: [SS-1] Label printer prints blank pages\n\
             Message-ID: <r-1@acme.example>\n\nIt happened again at 10:50.\n"
        ),
    );
    d.consultant(
        "Mon, 23 Nov 2026 12:00:00 +0100",
        "anna@smartstock.cloud",
        "SS-1",
        "Dear Ola, please restart the printer.",
    );
    d.run("2026-11-23T11:00:05Z");

    let (export, dir) = export_json(&d, who, "2026-11-23T12:00:00Z");
    let tickets: Vec<&str> = export["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["ref"].as_str().unwrap())
        .collect();
    assert_eq!(
        tickets,
        ["SS-1", "SS-2"],
        "her request and the one she is copied on"
    );
    let emls: String = std::fs::read_dir(dir.join("messages"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    for planted in [
        "Label printer prints blank pages",
        "Cc: Ola Sekretna",
        "It happened again at 10:50",
        &format!("filename=\"{who} - notes.txt\""),
    ] {
        assert!(emls.contains(planted), "{planted} not exported");
    }
    assert!(
        export["outgoing"].as_array().unwrap().iter().any(|m| {
            m["recipients"].to_string().contains(who)
                && m["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("please restart the printer"))
        }),
        "{}",
        export["outgoing"]
    );

    let tickets_before = d
        .supportd(&["tickets", "list", "--state", "all", "--json"])
        .stdout;
    let n_before = serde_json::from_str::<Value>(&tickets_before)
        .unwrap()
        .as_array()
        .unwrap()
        .len();
    let dry = d.supportd(&["privacy", "erase", who, "--dry-run"]);
    assert!(
        dry.stdout.contains("would erase") && dry.stdout.contains(name),
        "{}",
        dry.stdout
    );
    let r = d.supportd(&["privacy", "erase", who]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("backups taken before now still hold the data"),
        "{}",
        r.stdout
    );

    // Not a byte of her left in the database or its write-ahead log.
    let db = d.dir.0.join("var/supportd.db");
    for file in [
        db.clone(),
        Path::new(&format!("{}-wal", db.display())).to_path_buf(),
    ] {
        let bytes = std::fs::read(&file)
            .unwrap_or_default()
            .to_ascii_lowercase();
        for needle in [who, "ola sekretna", "sekretna"] {
            let hits = bytes
                .windows(needle.len())
                .filter(|w| *w == needle.as_bytes())
                .count();
            assert_eq!(hits, 0, "{needle} in {}", file.display());
        }
    }
    // The tickets and the audit trail keep their shape.
    let after = d
        .supportd(&["tickets", "list", "--state", "all", "--json"])
        .stdout;
    let list: Value = serde_json::from_str(&after).unwrap();
    assert_eq!(list.as_array().unwrap().len(), n_before);
    assert!(
        list[0]["requester"]
            .as_str()
            .unwrap()
            .starts_with("erased-"),
        "{after}"
    );
    let show = d.ticket("SS-1");
    assert!(!show["events"].as_array().unwrap().is_empty());
    // Erasing again finds nothing more.
    let again = d.supportd(&["privacy", "erase", who, "--dry-run"]);
    assert!(
        again.stdout.contains("0 tickets, 0 messages"),
        "{}",
        again.stdout
    );
}

#[test]
fn the_daemon_runs_retention_by_itself() {
    let d = Desk::with_config("priv-daily", "[retention]\nclosed-ticket-months = 12\n");
    ticket_closed_in_march_2024(&d, "#close");
    d.run("2024-03-04T11:00:05Z");
    let mut daemon = crate::mailserver::Daemon::start(&d.dir.0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !daemon.log().contains("retention run") {
        assert!(Instant::now() < deadline, "{}", daemon.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(daemon.log().contains("raw_messages=2"), "{}", daemon.log());
    daemon.terminate(Duration::from_secs(10));
    let (after, dir) = export_json(&d, "old@acme.example", "2026-11-24T09:00:00Z");
    assert_eq!(std::fs::read_dir(dir.join("messages")).unwrap().count(), 0);
    assert!(
        after["tickets"][0]["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["what"] == "retention")
    );
    // Not again within the day.
    let mut daemon = crate::mailserver::Daemon::start(&d.dir.0);
    while !daemon.log().contains("it ran within the last day") {
        assert!(Instant::now() < deadline, "{}", daemon.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    daemon.terminate(Duration::from_secs(10));
    assert_eq!(
        daemon.log().matches("retention run").count(),
        1,
        "{}",
        daemon.log()
    );
}

/// Files in a Maildir subfolder.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|l| {
            l.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn erasure_is_exact_reaches_encoded_text_and_every_copy() {
    let d = Desk::new("priv-exact");
    let who = "an@acme.example";
    // 1. Her request, as "Error" (a real display name someone used).
    d.customer(
        "Mon, 23 Nov 2026 10:00:00 +0100",
        &format!("Error <{who}>"),
        "Printer offline",
        REPORT,
    );
    // 2. Jan, whose address contains hers, with "Error" in his subject.
    d.customer(
        "Mon, 23 Nov 2026 10:01:00 +0100",
        "Jan <jan@acme.example>",
        "Error in the export",
        REPORT,
    );
    // 3. Ewa names her only in a base64 body; 4. Piotr only in an RFC 2047
    // encoded header of his own.
    d.receive(
        "Mon, 23 Nov 2026 10:02:00 +0100",
        &format!(
            "From: Ewa <ewa@shop.example>\nTo: support@smartstock.cloud\nSubject: Export broken\n\
             Message-ID: <b64@shop.example>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\
             Content-Transfer-Encoding: base64\n\n{}\n",
            crate::util::b64(&format!("{REPORT}\nPlease also tell {who} when fixed."))
        ),
    );
    d.receive(
        "Mon, 23 Nov 2026 10:03:00 +0100",
        &format!(
            "From: Piotr <piotr@shop.example>\nTo: support@smartstock.cloud\nSubject: Scanner\n\
             X-Also-Notify: =?utf-8?B?{}?=\nMessage-ID: <rfc2047@shop.example>\n\n{REPORT}\n",
            crate::util::b64(who)
        ),
    );
    d.run("2026-11-23T09:05:05Z");
    // The consultant's internal note and answer on her ticket.
    d.consultant(
        "Mon, 23 Nov 2026 11:00:00 +0100",
        "anna@smartstock.cloud",
        "SS-1",
        "#note she is the difficult one",
    );
    d.consultant(
        "Mon, 23 Nov 2026 11:01:00 +0100",
        "anna@smartstock.cloud",
        "SS-1",
        "Please restart the printer.",
    );
    d.run("2026-11-23T10:00:05Z");

    // Export: her data, not the desk's internals.
    let key = supportd::store::Store::open(&d.dir.0.join("var/supportd.db"))
        .unwrap()
        .token_key(None)
        .unwrap();
    let anna_token = supportd::mail::token::consultant_mac(&key, "SS-1", "anna@smartstock.cloud");
    let (export, dir) = export_json(&d, who, "2026-11-23T12:00:00Z");
    let mut everything = export.to_string();
    for f in listing(&dir.join("messages")) {
        everything.push_str(&std::fs::read_to_string(dir.join("messages").join(f)).unwrap());
    }
    assert!(
        everything.contains("Please restart the printer"),
        "the answer to her is hers"
    );
    for internal in ["she is the difficult one", anna_token.as_str()] {
        assert!(!everything.contains(internal), "{internal} exported");
    }
    let exported: Vec<&str> = export["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["ref"].as_str().unwrap())
        .collect();
    assert_eq!(exported, ["SS-1"]);
    assert_eq!(
        export["message_files"].as_array().unwrap().len(),
        3,
        "her request and the two encoded mentions: {}",
        export["message_files"]
    );
    let mode = std::fs::metadata(dir.join("export.json")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );

    let cur = d.dir.0.join("var/inbox/cur");
    let outbox = d.dir.0.join("var/outbox");
    let (cur_before, outbox_before) = (listing(&cur), listing(&outbox));
    let r = d.supportd(&["privacy", "erase", who]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // Jan keeps his address, his name and his subject.
    let jan = d.ticket("SS-2");
    assert_eq!(jan["requester"], "jan@acme.example");
    assert_eq!(jan["subject"], "Error in the export");
    assert!(
        d.ticket("SS-1")["requester"]
            .as_str()
            .unwrap()
            .starts_with("erased-")
    );
    // The Maildir copies of her ticket's mail (hers, the consultant's two)
    // and of the two naming her are gone, and the mails to her; Jan's stay.
    let cur_after = listing(&cur);
    assert_eq!(cur_after, ["2.test:2,S"], "{cur_before:?}");
    let outbox_after = listing(&outbox);
    assert!(outbox_after.len() < outbox_before.len());
    let left: String = outbox_after
        .iter()
        .chain(&cur_after)
        .map(|f| {
            let p = if outbox.join(f).exists() {
                outbox.join(f)
            } else {
                cur.join(f)
            };
            std::fs::read_to_string(p).unwrap()
        })
        .collect();
    let her = supportd::mail::mention::Person::new(who, &[]);
    assert!(!her.address_in(&left), "a file still names her");
    assert!(
        left.contains("jan@acme.example"),
        "Jan's mail was erased too"
    );
    assert!(r.stdout.contains("mail files deleted"), "{}", r.stdout);
}
