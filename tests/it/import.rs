//! `supportd import` and `supportd tickets`, driven with mail files as a user
//! would: tickets, threads, participants, states, events; re-imports change
//! nothing; a failing message is quarantined and the next one goes on.

use std::path::Path;

use serde_json::Value;
use supportd::mail::token;
use supportd::store::Store;

use crate::util::{TempDir, run};

fn mail(from: &str, subject: &str, id: &str, extra: &str, date: &str, body: &str) -> String {
    format!(
        "Received: from mx by mx.smartstock.cloud; {date}\nFrom: {from}\nTo: support@smartstock.cloud\nSubject: {subject}\n\
         Message-ID: <{id}>\nDate: {date}\n{extra}MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"
    )
}

fn import(dir: &TempDir, files: &[&Path]) -> crate::util::Run {
    import_with(dir, &[], files)
}

/// `supportd --config DIR/config.toml --db DIR/s.db ARGS`.
fn supportd(dir: &TempDir, args: &[&str]) -> crate::util::Run {
    let db = dir.0.join("s.db");
    let cfg = dir.0.join("config.toml");
    let mut all = vec![
        "--config",
        cfg.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    run(&all, "")
}

/// `supportd … import FLAGS FILES`.
fn import_with(dir: &TempDir, flags: &[&str], files: &[&Path]) -> crate::util::Run {
    let mut args = vec!["import"];
    args.extend_from_slice(flags);
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    supportd(dir, &args)
}

/// `supportd … tickets ARGS --json`, parsed.
fn tickets(dir: &TempDir, args: &[&str]) -> Value {
    let mut all = vec!["tickets"];
    all.extend_from_slice(args);
    all.push("--json");
    let r = supportd(dir, &all);
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

fn setup(name: &str) -> TempDir {
    let dir = TempDir::new(name);
    dir.write(
        "config.toml",
        "[consultants]\naddresses = [\"anna@smartstock.cloud\"]\n",
    );
    dir
}

#[test]
fn threads_participants_and_reimport() {
    let dir = setup("import-threads");
    let d = "Mon, 23 Nov 2026 10:00:00 +0100";
    let first = dir.write(
        "1.eml",
        &mail("Jan <jan@acme.example>", "Export to Excel fails", "m1@acme.example", "", d,
              "Since yesterday at 14:30 the export fails with \"Error 500\". We restarted the browser."),
    );
    // A colleague (same company) replies by headers only: joins the ticket.
    let colleague = dir.write(
        "2.eml",
        &mail(
            "Ewa <ewa@acme.example>",
            "Re: Export to Excel fails",
            "m2@acme.example",
            "In-Reply-To: <m1@acme.example>\n",
            "Mon, 23 Nov 2026 11:00:00 +0100",
            "Same here.",
        ),
    );
    // A stranger replying to the thread opens a new ticket, linked.
    let stranger = dir.write(
        "3.eml",
        &mail(
            "Eve <eve@other.example>",
            "Re: Export to Excel fails",
            "m3@other.example",
            "In-Reply-To: <m1@acme.example>\n",
            "Mon, 23 Nov 2026 12:00:00 +0100",
            "Me too, different company.",
        ),
    );
    // The same first mail delivered again with other trace headers.
    let again = dir.write(
        "4.eml",
        &format!("Received: from other-mx; Mon, 23 Nov 2026 10:00:05 +0100\nDelivered-To: support@smartstock.cloud\n{}",
                 std::fs::read_to_string(&first).unwrap()),
    );
    let r = import(&dir, &[&first, &colleague, &stranger, &again]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("read 4 messages, 3 of them new: 2 new tickets, 1 reply"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("1 duplicate skipped"), "{}", r.stdout);

    let list = tickets(&dir, &["list"]);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["ref"], "SS-1");
    assert_eq!(
        list[0]["participants"],
        serde_json::json!(["ewa@acme.example", "jan@acme.example"])
    );
    assert_eq!(list[1]["requester"], "eve@other.example");

    let show = tickets(&dir, &["show", "SS-1"]);
    let ids: Vec<&str> = show["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["m1@acme.example", "m2@acme.example"]);
    let linked = tickets(&dir, &["show", "SS-2"]);
    assert_eq!(linked["events"][0]["detail"], "linked to SS-1");

    // Importing the same inputs again changes nothing.
    let again = import(&dir, &[&first, &colleague, &stranger]);
    assert!(
        again
            .stdout
            .contains("read 3 messages, 0 of them new: 0 new tickets, 0 replies"),
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains("3 duplicates skipped"),
        "{}",
        again.stdout
    );
    assert_eq!(tickets(&dir, &["list"]).as_array().unwrap().len(), 2);
}

#[test]
fn consultant_commands_close_and_reopen_within_the_window() {
    let dir = setup("import-commands");
    let open = dir.write(
        "1.eml",
        &mail(
            "Jan <jan@acme.example>",
            "Invoices missing in report",
            "c1@acme.example",
            "",
            "Mon, 23 Nov 2026 10:00:00 +0100",
            "The monthly report lacks all invoices from November, for all users.",
        ),
    );
    assert_eq!(import(&dir, &[&open]).code, 0);
    let key = Store::open(&dir.0.join("s.db"))
        .unwrap()
        .token_key(None)
        .unwrap();
    let mac = token::consultant_mac(&key, "SS-1", "anna@smartstock.cloud");
    let consultant = |name: &str, tags: &str, date: &str| {
        dir.write(
            name,
            &format!(
                "Received: from mx; {date}\nFrom: Anna <anna@smartstock.cloud>\nTo: support+SS-1.{mac}@smartstock.cloud\n\
                 Subject: Re: [SS-1] Invoices missing in report\nMessage-ID: <{name}@smartstock.cloud>\nDate: {date}\n\n{tags}\n"
            ),
        )
    };
    let forged = dir.write(
        "forged.eml",
        "Received: from mx; Mon, 23 Nov 2026 10:30:00 +0100\nFrom: anna@smartstock.cloud\nTo: support+SS-1.000000000000@smartstock.cloud\n\
         Subject: Re: [SS-1] x\nMessage-ID: <forged@x>\nDate: Mon, 23 Nov 2026 10:30:00 +0100\n\n#close\n",
    );
    let accept = consultant(
        "accept",
        "#accept\nWe are on it.",
        "Mon, 23 Nov 2026 11:00:00 +0100",
    );
    let r = import(&dir, &[&forged, &accept]);
    assert!(
        r.stdout.contains("1 command applied, 1 rejected"),
        "{}",
        r.stdout
    );
    let t = tickets(&dir, &["show", "SS-1"]);
    assert_eq!(
        (t["state"].as_str(), t["owner"].as_str()),
        (Some("open"), Some("anna@smartstock.cloud"))
    );
    assert_eq!(
        t["accepted_at"], "2026-11-23T10:00:00Z",
        "the consultant mail's received instant"
    );

    let close = consultant("close", "#close", "Tue, 24 Nov 2026 09:00:00 +0100");
    import(&dir, &[&close]);
    assert_eq!(tickets(&dir, &["show", "SS-1"])["state"], "closed");
    assert_eq!(
        tickets(&dir, &["list"]).as_array().unwrap().len(),
        0,
        "closed tickets are not listed by default"
    );
    assert_eq!(
        tickets(&dir, &["list", "--state", "all"])
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Within 14 days the customer reopens it; later a new, linked ticket opens.
    let reply = |name: &str, date: &str| {
        dir.write(
            name,
            &mail(
                "Jan <jan@acme.example>",
                "Re: [SS-1] Invoices missing in report",
                &format!("{name}@acme.example"),
                "",
                date,
                "It is back again.",
            ),
        )
    };
    import(&dir, &[&reply("r1", "Mon, 30 Nov 2026 09:00:00 +0100")]);
    let t = tickets(&dir, &["show", "SS-1"]);
    assert_eq!(
        (t["state"].as_str(), t["owner"].as_str()),
        (Some("open"), Some("anna@smartstock.cloud"))
    );
    import(
        &dir,
        &[&consultant(
            "close2",
            "#close",
            "Mon, 30 Nov 2026 10:00:00 +0100",
        )],
    );
    import(&dir, &[&reply("r2", "Mon, 28 Dec 2026 09:00:00 +0100")]);
    assert_eq!(tickets(&dir, &["show", "SS-1"])["state"], "closed");
    let new = tickets(&dir, &["show", "SS-2"]);
    assert_eq!(new["events"][0]["detail"], "linked to SS-1");
}

#[test]
fn a_failing_message_is_quarantined_and_the_next_goes_on() {
    let dir = setup("import-quarantine");
    let bad = dir.write(
        "bad.eml",
        &mail(
            "a@b.example",
            "Boom",
            "bad@b.example",
            "X-Supportd-Test-Panic: analysis\n",
            "Mon, 23 Nov 2026 10:00:00 +0100",
            "x",
        ),
    );
    let good = dir.write(
        "good.eml",
        &mail(
            "c@d.example",
            "Label printer stopped",
            "good@d.example",
            "",
            "Mon, 23 Nov 2026 10:01:00 +0100",
            "It stopped.",
        ),
    );
    let r = import(&dir, &[&bad, &good]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("1 new ticket,") && r.stdout.contains("1 quarantined"),
        "{}",
        r.stdout
    );
}

#[test]
fn test_fault_headers_do_nothing_in_production() {
    // A stranger's mail carrying the test headers must not panic or wedge
    // a daemon started without SUPPORTD_TEST_FAULTS=1.
    let dir = setup("import-no-faults");
    let bad = dir.write(
        "bad.eml",
        &mail(
            "a@b.example",
            "Boom",
            "bad@b.example",
            "X-Supportd-Test-Panic: analysis\nX-Supportd-Test-Wedge: ingest\n",
            "Mon, 23 Nov 2026 10:00:00 +0100",
            "x",
        ),
    );
    let db = dir.0.join("s.db");
    let cfg = dir.0.join("config.toml");
    let r = crate::util::run_env(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "import",
            bad.to_str().unwrap(),
        ],
        "",
        &[("SUPPORTD_TEST_FAULTS", Path::new("0"))],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("1 new ticket,") && r.stdout.contains("0 quarantined"),
        "{}",
        r.stdout
    );
}

#[test]
fn fixtures_import_by_kind_and_nothing_changes_twice() {
    let dir = setup("import-fixtures");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/eml");
    let mut files = Vec::new();
    for group in [
        "customer",
        "reply",
        "autoreply",
        "bounce",
        "feedback",
        "list",
        "loop",
        "malformed",
        "notmail",
    ] {
        for e in std::fs::read_dir(root.join(group)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "eml") {
                files.push(p);
            }
        }
    }
    files.sort();
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let first = import(&dir, &refs);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let n = files.len();
    assert!(
        first
            .stdout
            .starts_with(&format!("read {n} messages, {n} of them new: ")),
        "{}",
        first.stdout
    );
    // Each kind is counted as the fixtures' expectations say: reports and
    // automatic mail recorded, not-mail quarantined.
    let kinds: Vec<String> = files
        .iter()
        .map(|f| {
            let v: Value =
                serde_json::from_slice(&std::fs::read(f.with_extension("json")).unwrap()).unwrap();
            v["kind"].as_str().unwrap().to_string()
        })
        .collect();
    let count = |k: &[&str]| kinds.iter().filter(|x| k.contains(&x.as_str())).count();
    for expected in [
        format!("{} auto-replies", count(&["auto_reply", "own_loop"])),
        format!("{} delivery reports", count(&["bounce"])),
        format!("{} feedback reports", count(&["feedback"])),
        format!(
            "{} quarantined ({} not mail)",
            count(&["not_mail"]),
            count(&["not_mail"])
        ),
    ] {
        assert!(
            first.stdout.contains(&expected),
            "{expected}: {}",
            first.stdout
        );
    }
    let before = tickets(&dir, &["list", "--state", "all"]);
    let second = import(&dir, &refs);
    assert!(
        second.stdout.contains(&format!("{n} duplicates skipped")),
        "{}",
        second.stdout
    );
    assert_eq!(tickets(&dir, &["list", "--state", "all"]), before);
    // Non-human mail never opened a ticket: every ticket's requester is an
    // address that wrote a request, never a daemon or a feedback loop.
    for t in before.as_array().unwrap() {
        let r = t["requester"].as_str().unwrap();
        assert!(r.contains('@'), "{t}");
        for daemon in [
            "mailer-daemon",
            "postmaster@contoso",
            "fbl",
            "feedback@",
            "abuse@",
            "antivirus@",
        ] {
            assert!(!r.to_lowercase().contains(daemon), "{t}");
        }
    }
}

#[test]
fn send_queues_acknowledgements_notifications_and_relays() {
    let dir = TempDir::new("import-send");
    dir.write(
        "config.toml",
        "[consultants]\naddresses = [\"anna@smartstock.cloud\", \"piotr@smartstock.cloud\"]\nlanguage = \"en\"\n",
    );
    let db = dir.0.join("s.db");
    let send = |files: &[&Path]| {
        let r = import_with(&dir, &["--send"], files);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r
    };
    let d = "Mon, 23 Nov 2026 10:00:00 +0100";
    let request = dir.write(
        "1.eml",
        &mail(
            "Jan <jan@acme.example>",
            "Export fails",
            "s1@acme.example",
            "",
            d,
            "The export fails since yesterday.",
        ),
    );
    let list = dir.write(
        "2.eml",
        &mail(
            "news@vendor.example",
            "Product news",
            "s2@vendor.example",
            "List-Id: <news.vendor.example>\n",
            d,
            "News.",
        ),
    );
    let suppress = dir.write(
        "3.eml",
        &mail(
            "zoe@corp.example",
            "Map is blank",
            "s3@corp.example",
            "X-Auto-Response-Suppress: All\n",
            d,
            "Blank.",
        ),
    );
    send(&[&request, &list, &suppress]);

    let out = |n: &str| {
        tickets(&dir, &["show", n])["outgoing"]
            .as_array()
            .unwrap()
            .clone()
    };
    let first = out("SS-1");
    let templates: Vec<&str> = first
        .iter()
        .map(|m| m["template"].as_str().unwrap())
        .collect();
    assert_eq!(
        templates,
        [
            "acknowledgement",
            "consultant-notification",
            "consultant-notification"
        ]
    );
    assert_eq!(first[0]["to"], serde_json::json!(["jan@acme.example"]));
    let id = first[0]["message_id"].as_str().unwrap();
    assert!(
        id.starts_with("SS-1.") && id.ends_with("@smartstock.cloud"),
        "{id}"
    );
    // List mail and X-Auto-Response-Suppress: no acknowledgement, consultants still told.
    for n in ["SS-2", "SS-3"] {
        let t: Vec<String> = out(n)
            .iter()
            .map(|m| m["template"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            t,
            ["consultant-notification", "consultant-notification"],
            "{n}"
        );
    }

    // Anna accepts with text: the customer gets the acceptance and her words.
    let key = Store::open(&db).unwrap().token_key(None).unwrap();
    let mac = token::consultant_mac(&key, "SS-1", "anna@smartstock.cloud");
    let accept = dir.write(
        "4.eml",
        &format!(
            "Received: from mx; Mon, 23 Nov 2026 11:00:00 +0100\nFrom: Anna <anna@smartstock.cloud>\nTo: support+SS-1.{mac}@smartstock.cloud\n\
             Subject: Re: [SS-1] Export fails\nMessage-ID: <a1@smartstock.cloud>\nDate: Mon, 23 Nov 2026 11:00:00 +0100\n\n#accept\nWe found the cause.\n"
        ),
    );
    let bogus = dir.write(
        "5.eml",
        &format!(
            "Received: from mx; Mon, 23 Nov 2026 11:05:00 +0100\nFrom: Anna <anna@smartstock.cloud>\nTo: support+SS-1.{mac}@smartstock.cloud\n\
             Subject: Re: [SS-1] Export fails\nMessage-ID: <a2@smartstock.cloud>\nDate: Mon, 23 Nov 2026 11:05:00 +0100\n\n#acept\n"
        ),
    );
    send(&[&accept, &bogus]);
    let all = out("SS-1");
    let relay = all
        .iter()
        .find(|m| m["template"] == "consultant-reply")
        .expect("relay");
    assert_eq!(
        (relay["automatic"].as_bool(), &relay["to"]),
        (Some(false), &serde_json::json!(["jan@acme.example"]))
    );
    // One consultant mail, one customer mail: the acceptance is in it.
    assert_eq!(
        all.iter()
            .filter(|m| m["template"] == "consultant-reply")
            .count(),
        1
    );
    let show = supportd(&dir, &["tickets", "show", "SS-1"]);
    assert!(
        show.stdout.contains("has accepted your report")
            && show.stdout.contains("We found the cause."),
        "{}",
        show.stdout
    );
    let error = all
        .iter()
        .find(|m| m["template"] == "command-error")
        .expect("command error");
    assert_eq!(error["to"], serde_json::json!(["anna@smartstock.cloud"]));

    // Rate limit: six requests from one customer in an hour, five acknowledged.
    let many: Vec<std::path::PathBuf> = (0..6)
        .map(|i| {
            dir.write(
                &format!("r{i}.eml"),
                &mail(
                    "bob@shop.example",
                    &format!("Problem number {i}"),
                    &format!("r{i}@shop.example"),
                    "",
                    "Mon, 23 Nov 2026 12:00:00 +0100",
                    "It broke.",
                ),
            )
        })
        .collect();
    send(&many.iter().map(|p| p.as_path()).collect::<Vec<_>>());
    let held: Vec<String> = (4..=9)
        .map(|n| {
            out(&format!("SS-{n}"))[0]["state"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        held,
        [
            "pending", "pending", "pending", "pending", "pending", "held"
        ]
    );
}

fn dsn(to_envelope: &str, bounced_id: &str, status: &str) -> String {
    format!(
        "Return-Path: <>\nReceived: from mx; Mon, 23 Nov 2026 10:10:00 +0100\nFrom: MAILER-DAEMON@mx.smartstock.cloud (Mail Delivery System)\n\
         To: {to_envelope}\nSubject: Undelivered Mail Returned to Sender\nDate: Mon, 23 Nov 2026 10:10:00 +0100\n\
         Message-Id: <dsn-{status}@mx.smartstock.cloud>\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nUser unknown.\n\n\
         --b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; jan@acme.example\nAction: failed\nStatus: {status}\n\n\
         --b\nContent-Type: text/rfc822-headers\n\nMessage-ID: <{bounced_id}>\nFrom: support@smartstock.cloud\n\n--b--\n"
    )
}

/// Imports (and sends the acknowledgement of) Jan's request SS-1: the
/// acknowledgement's outbox id and Message-ID.
fn acknowledged_request(dir: &TempDir) -> (i64, String) {
    let request = dir.write(
        "1.eml",
        &mail(
            "Jan <jan@acme.example>",
            "Export fails",
            "b1@acme.example",
            "",
            "Mon, 23 Nov 2026 10:00:00 +0100",
            "It fails.",
        ),
    );
    assert_eq!(import_with(dir, &["--send"], &[&request]).code, 0);
    let ack = tickets(dir, &["show", "SS-1"])["outgoing"][0].clone();
    (
        ack["id"].as_i64().unwrap(),
        ack["message_id"].as_str().unwrap().to_string(),
    )
}

#[test]
fn a_bounce_fails_only_the_mail_it_names() {
    let dir = setup("import-bounce");
    let send = |files: &[&Path]| assert_eq!(import_with(&dir, &["--send"], files).code, 0);
    let (id, message_id) = acknowledged_request(&dir);
    // Someone else's bounce (not our envelope, not our Message-ID): nothing fails.
    let foreign = dir.write(
        "2.eml",
        &dsn(
            "support@smartstock.cloud",
            "other@elsewhere.example",
            "5.1.1",
        ),
    );
    send(&[&foreign]);
    assert_eq!(
        tickets(&dir, &["show", "SS-1"])["outgoing"][0]["state"],
        "pending"
    );
    // A delay names our mail but fails nothing; the permanent failure does.
    let delayed = dir.write(
        "3.eml",
        &dsn(
            &format!("support+bounce-{id}@smartstock.cloud"),
            &message_id,
            "4.4.1",
        )
        .replace("Action: failed", "Action: delayed"),
    );
    send(&[&delayed]);
    assert_eq!(
        tickets(&dir, &["show", "SS-1"])["outgoing"][0]["state"],
        "pending"
    );
    let failed = dir.write(
        "4.eml",
        &dsn(
            &format!("support+bounce-{id}@smartstock.cloud"),
            &message_id,
            "5.1.1",
        ),
    );
    send(&[&failed]);
    let show = tickets(&dir, &["show", "SS-1"]);
    assert_eq!(show["outgoing"][0]["state"], "failed");
    assert!(
        show["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["what"] == "mail_bounced"),
        "{show}"
    );
}

/// A bounce whose returned header block folds the Message-ID onto the next
/// line, as long header fields are written, still names our mail.
#[test]
fn a_bounce_with_a_folded_message_id_names_our_mail() {
    let dir = setup("import-bounce-folded");
    let send = |files: &[&Path]| assert_eq!(import_with(&dir, &["--send"], files).code, 0);
    let (id, message_id) = acknowledged_request(&dir);
    let folded = dsn(
        &format!("support+bounce-{id}@smartstock.cloud"),
        &message_id,
        "5.1.1",
    )
    .replace("Message-ID: <", "Message-ID:\n <");
    assert!(folded.contains(&format!("Message-ID:\n <{message_id}>")));
    send(&[&dir.write("2.eml", &folded)]);
    let show = tickets(&dir, &["show", "SS-1"]);
    assert_eq!(show["outgoing"][0]["state"], "failed", "{show}");
}

#[test]
fn quarantine_oversize_replay_and_drop() {
    let dir = TempDir::new("import-quarantine-cli");
    dir.write(
        "config.toml",
        "[consultants]\naddresses = [\"anna@smartstock.cloud\"]\n[limits]\nmax-message-mb = 1\n",
    );
    let db = dir.0.join("s.db");
    let cfg = dir.0.join("config.toml");
    let cli = |args: &[&str]| {
        let mut all = vec![
            "--config",
            cfg.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        run(&all, "")
    };
    let big = dir.write(
        "big.eml",
        &mail(
            "Jan <jan@acme.example>",
            "Huge log attached",
            "big@acme.example",
            "",
            "Mon, 23 Nov 2026 10:00:00 +0100",
            &"x".repeat(1_500_000),
        ),
    );
    let panics = dir.write(
        "bad.eml",
        &mail(
            "a@b.example",
            "Boom",
            "bad@b.example",
            "X-Supportd-Test-Panic: analysis\n",
            "Mon, 23 Nov 2026 10:01:00 +0100",
            "x",
        ),
    );
    let r = cli(&[
        "import",
        "--send",
        big.to_str().unwrap(),
        panics.to_str().unwrap(),
    ]);
    assert!(
        r.stdout.contains("0 new tickets") && r.stdout.contains("2 quarantined"),
        "{}",
        r.stdout
    );
    // The sender of the large message is told; no ticket was opened.
    let outbox = Store::open_read_only(&db).unwrap().all_outbox().unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(
        (outbox[0].template.as_str(), outbox[0].to.clone()),
        ("message-too-large", vec!["jan@acme.example".to_string()])
    );

    let list: Value = serde_json::from_str(&cli(&["quarantine", "list", "--json"]).stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let big_id = list[0]["message"].as_i64().unwrap().to_string();
    let bad_id = list[1]["message"].as_i64().unwrap().to_string();
    assert!(
        list[0]["reason"]
            .as_str()
            .unwrap()
            .contains("limit of 1 MB"),
        "{list:?}"
    );
    let show = cli(&["quarantine", "show", &big_id]);
    assert!(
        show.stdout.contains("Subject: Huge log attached"),
        "{}",
        show.stdout
    );

    // Dry run changes nothing; after raising the limit, replay applies it.
    let dry = cli(&["quarantine", "replay", "--dry-run", &big_id]);
    assert!(
        dry.stdout.contains("would stay quarantined"),
        "{}",
        dry.stdout
    );
    dir.write(
        "config.toml",
        "[consultants]\naddresses = [\"anna@smartstock.cloud\"]\n[limits]\nmax-message-mb = 5\n",
    );
    let dry = cli(&["quarantine", "replay", "--dry-run", &big_id]);
    assert!(
        dry.stdout.contains("would be applied as new"),
        "{}",
        dry.stdout
    );
    assert_eq!(
        tickets(&dir, &["list"]).as_array().unwrap().len(),
        0,
        "a dry run changes nothing"
    );
    let replay = cli(&["quarantine", "replay", &big_id]);
    assert!(
        replay.stdout.contains("applied: 1 new ticket,"),
        "{} {}",
        replay.stdout,
        replay.stderr
    );
    assert_eq!(tickets(&dir, &["list"]).as_array().unwrap().len(), 1);

    // The panicking message fails again on replay; then it is dropped.
    let again = cli(&["quarantine", "replay", &bad_id]);
    assert!(
        again.stdout.contains("back in the quarantine"),
        "{}",
        again.stdout
    );
    assert_eq!(cli(&["quarantine", "drop", &bad_id]).code, 0);
    assert!(
        cli(&["quarantine", "list"])
            .stdout
            .contains("the quarantine is empty")
    );
    assert_ne!(
        cli(&["quarantine", "drop", &bad_id]).code,
        0,
        "not in the quarantine any more"
    );
}

#[test]
fn imported_history_past_its_deadline_is_recorded_breached() {
    let dir = setup("import-breached");
    let old = dir.write(
        "old.eml",
        &mail(
            "Jan <jan@acme.example>",
            "Old problem",
            "old@acme.example",
            "",
            "Mon, 05 Jan 2026 10:00:00 +0100",
            "It broke.",
        ),
    );
    let r = import(&dir, &[&old]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let show = tickets(&dir, &["show", "SS-1"]);
    let events: Vec<&str> = show["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["opened", "breached"]);
    assert!(
        show["outgoing"].as_array().unwrap().is_empty(),
        "silently: no escalation"
    );
}

#[test]
fn copied_addresses_join_and_others_do_not() {
    let dir = setup("import-copied");
    let d = "Mon, 23 Nov 2026 10:00:00 +0100";
    let first = dir.write(
        "1.eml",
        &mail(
            "Jan <jan@acme.example>",
            "Stock sync stopped",
            "k1@acme.example",
            "Cc: Boss <ceo@holding.example>\n",
            d,
            "Sync stopped.",
        ),
    );
    let boss = dir.write(
        "2.eml",
        &mail(
            "ceo@holding.example",
            "Re: Stock sync stopped",
            "k2@holding.example",
            "In-Reply-To: <k1@acme.example>\n",
            "Mon, 23 Nov 2026 11:00:00 +0100",
            "Please hurry.",
        ),
    );
    let outsider = dir.write(
        "3.eml",
        &mail(
            "cfo@holding.example",
            "Re: Stock sync stopped",
            "k3@holding.example",
            "In-Reply-To: <k1@acme.example>\n",
            "Mon, 23 Nov 2026 12:00:00 +0100",
            "Me too.",
        ),
    );
    let r = import(&dir, &[&first, &boss, &outsider]);
    assert!(r.stdout.contains("2 new tickets, 1 reply"), "{}", r.stdout);
    let t = tickets(&dir, &["show", "SS-1"]);
    assert_eq!(
        t["participants"],
        serde_json::json!(["ceo@holding.example", "jan@acme.example"])
    );
}

#[test]
fn step_two_writes_the_timers() {
    let dir = setup("import-timers");
    let db = dir.0.join("s.db");
    let at_now = |now: &str, files: &[&Path]| {
        let r = import_with(&dir, &["--now", now], files);
        assert_eq!(r.code, 0, "{}", r.stderr);
    };
    let timers = || -> Vec<(String, String)> {
        Store::open_read_only(&db)
            .unwrap()
            .timers(1)
            .unwrap()
            .into_iter()
            .map(|(k, at)| (k, supportd::sla::format_utc(at)))
            .collect()
    };
    // Severity 1 (an outage), received Monday 23 Nov 2026 10:00 Warsaw time:
    // 16 working hours -> reminders at 8 h and 12.8 h, breach at 16 h.
    let request = dir.write(
        "1.eml",
        &mail(
            "Jan <jan@acme.example>",
            "System down",
            "t1@acme.example",
            "",
            "Mon, 23 Nov 2026 10:00:00 +0100",
            "Nobody can log in.",
        ),
    );
    at_now("2026-11-23T09:00:00Z", &[&request]);
    assert_eq!(
        timers(),
        [
            ("reminder-1".to_string(), "2026-11-24T09:00:00Z".to_string()),
            ("reminder-2".to_string(), "2026-11-24T13:48:00Z".to_string()),
            ("breach".to_string(), "2026-11-25T09:00:00Z".to_string()),
        ]
    );
    // #waiting on Tuesday 10:00: acceptance stops the response clock; the
    // silence chain starts: 14 calendar days later is Tuesday 8 Dec 10:00.
    let key = Store::open(&db).unwrap().token_key(None).unwrap();
    let mac = token::consultant_mac(&key, "SS-1", "anna@smartstock.cloud");
    let waiting = dir.write(
        "2.eml",
        &format!(
            "Received: from mx; Tue, 24 Nov 2026 10:00:00 +0100\nFrom: anna@smartstock.cloud\nTo: support+SS-1.{mac}@smartstock.cloud\n\
             Subject: Re: [SS-1] System down\nMessage-ID: <w1@smartstock.cloud>\nDate: Tue, 24 Nov 2026 10:00:00 +0100\n\n#waiting\nPlease try again.\n"
        ),
    );
    at_now("2026-11-24T09:00:00Z", &[&waiting]);
    assert_eq!(
        timers(),
        [("followup-1".to_string(), "2026-12-08T09:00:00Z".to_string())]
    );
    // The customer answers: the chain stops.
    let answer = dir.write(
        "3.eml",
        &mail(
            "Jan <jan@acme.example>",
            "Re: [SS-1] System down",
            "t3@acme.example",
            "",
            "Wed, 25 Nov 2026 10:00:00 +0100",
            "Works now.",
        ),
    );
    at_now("2026-11-25T09:00:00Z", &[&answer]);
    assert!(timers().is_empty());
}

/// On a terminal, `import` of an mbox says how many messages it stored and
/// how much of the file it has read, against the file's size. Run on a
/// pseudo-terminal (`script`), as a person at a shell sees it.
#[test]
fn a_terminal_sees_how_far_an_import_is() {
    let dir = setup("import-progress");
    let mut mbox = String::new();
    for i in 0..3000 {
        mbox.push_str("From jan@acme.example Mon Nov 23 10:00:00 2026\n");
        mbox.push_str(&mail(
            "Jan <jan@acme.example>",
            &format!("Export {i} fails"),
            &format!("progress-{i}@acme.example"),
            "",
            "Mon, 23 Nov 2026 10:00:00 +0100",
            "The export stopped at 10:00 with \"HTTP 503\". We restarted it.",
        ));
        mbox.push('\n');
    }
    let path = dir.write("archive.mbox", &mbox);
    let size = std::fs::metadata(&path).unwrap().len();
    let command = format!(
        "{} --config {} --db {} import {}",
        crate::util::bin(),
        dir.0.join("config.toml").display(),
        dir.0.join("s.db").display(),
        path.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("SUPPORTD_CONFIG")
        .output()
        .expect("util-linux script (scripts/dev-setup installs it)");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    let total = indicatif::HumanBytes(size).to_string();
    let frames: Vec<&str> = shown
        .split(['\r', '\n'])
        .filter(|l| l.contains("importing:"))
        .collect();
    assert!(!frames.is_empty(), "no progress line in {shown:?}");
    for frame in &frames {
        assert!(
            frame.contains(" stored, ") && frame.contains(&format!("/{total} read (")),
            "{frame:?} does not show the stored count and the bytes read of {total}"
        );
    }
    // The summary follows.
    assert!(
        shown.contains("read 3000 messages, 3000 of them new"),
        "{shown}"
    );
}
