//! `supportd run` against real Dovecot and Postfix (see `mailserver`):
//! every result is read back over IMAP from the recipient's mailbox.

use std::time::Duration;

use crate::mailserver::{
    CONSULTANTS, CUSTOMERS, Daemon, MailServer, Options, SUPPORT, header, request, supportd,
};
use crate::util::TempDir;

const WAIT: Duration = Duration::from_secs(30);

fn subject_has(m: &mail_parser::Message<'_>, part: &str) -> bool {
    m.subject().is_some_and(|s| s.contains(part))
}

/// The whole first conversation: a request by SMTP becomes a ticket, the
/// customer gets the acknowledgement and the consultants the notification;
/// a consultant's `#accept` with text reaches the customer without the tag.
fn conversation(opts: Options, source_tls: &str, transport: &str) {
    let ms = MailServer::start_with(opts);
    let dir = TempDir::new(&format!("mailio-{source_tls}-{transport}"));
    dir.write("config.toml", &ms.supportd_config(source_tls, transport));
    let mut daemon = Daemon::start(&dir.0);

    let customer = CUSTOMERS[0];
    ms.send(
        customer,
        &[SUPPORT],
        &request(
            customer,
            "Scanner shows wrong bin numbers",
            "req-1@acme.test",
            "Hello,\nsince this morning the warehouse scanner shows wrong bin numbers.\n\
             Error message: BIN-404 not found.\nIt started at 08:15 today.\nRegards, Customer\n",
        ),
    );

    let ack = ms.wait_for(customer, "INBOX", WAIT, "acknowledgement", |m| {
        subject_has(m, "[SS-1]")
    });
    let ack = mail_parser::MessageParser::default().parse(&ack).unwrap();
    assert_eq!(
        ack.subject(),
        Some("Re: [SS-1] Scanner shows wrong bin numbers")
    );
    assert_eq!(
        header(&ack, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert_eq!(header(&ack, "X-Loop").as_deref(), Some(SUPPORT));
    assert_eq!(ack.in_reply_to().as_text(), Some("req-1@acme.test"));
    let id = ack.message_id().unwrap();
    assert!(
        id.starts_with("SS-1.") && id.ends_with("@smartstock.test"),
        "our Message-ID: {id}"
    );
    // The envelope sender names the mail, so a bounce would too.
    let return_path = header(&ack, "Return-Path").unwrap();
    assert!(
        return_path.starts_with("<support+bounce-") && return_path.ends_with("@smartstock.test>"),
        "{return_path}"
    );

    let mut notification = None;
    for consultant in CONSULTANTS {
        let raw = ms.wait_for(consultant, "INBOX", WAIT, "notification", |m| {
            subject_has(m, "[SS-1]")
        });
        if consultant == CONSULTANTS[0] {
            notification = Some(raw);
        }
    }

    // The server copy of the request left the INBOX for the processed folder.
    assert!(ms.wait_count(SUPPORT, "Processed", 1, WAIT) >= 1);
    let (code, out, err) = supportd(&dir.0, &["tickets", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"ref\": \"SS-1\""), "{out}");

    // The consultant answers from their mail client: Reply-To and threading.
    let reply_to = answer(
        &ms,
        &notification.unwrap(),
        "accept-1",
        "#accept\r\nPlease restart the scanner service; we are preparing a fix.\r\n\r\n\
         > quoted notification text\r\n",
    );
    let relayed = ms.wait_for(customer, "INBOX", WAIT, "consultant's answer", |m| {
        m.body_text(0)
            .is_some_and(|b| b.contains("Please restart the scanner service"))
    });
    let relayed = mail_parser::MessageParser::default()
        .parse(&relayed)
        .unwrap();
    let text = relayed.body_text(0).unwrap();
    assert!(!text.contains("#accept"), "the tag is not relayed: {text}");
    assert!(!text.contains("quoted notification"), "{text}");
    assert!(subject_has(&relayed, "[SS-1]"));

    let (_, out, _) = supportd(&dir.0, &["tickets", "show", "SS-1", "--json"]);
    assert!(out.contains("\"state\": \"open\""), "{out}");

    daemon.stop();

    // The log of the whole run says what happened, and nothing secret: no
    // password, no consultant token, no message text.
    let log = daemon.log();
    let token = reply_to
        .split_once('.')
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(mac, _)| mac.to_string())
        .unwrap();
    for secret in [
        crate::mailserver::PASSWORD,
        token.as_str(),
        "Please restart the scanner service",
        "BIN-404",
        "wrong bin numbers.",
    ] {
        assert!(!log.contains(secret), "the log shows {secret:?}:\n{log}");
    }
    for line in [
        "ticket opened",
        "command applied",
        "mail sent",
        "ticket=SS-1",
    ] {
        assert!(log.contains(line), "the log lacks {line:?}:\n{log}");
    }
}

/// Consultant one answers a notification from their mail client, to its
/// Reply-To and in its thread; returns the Reply-To address.
fn answer(ms: &MailServer, notification: &[u8], id: &str, body: &str) -> String {
    let n = mail_parser::MessageParser::default()
        .parse(notification)
        .unwrap();
    let reply_to = n
        .reply_to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .expect("Reply-To on the notification")
        .to_string();
    let reply = format!(
        "From: Consultant One <{c}>\r\nTo: {reply_to}\r\nSubject: Re: {subject}\r\n\
         Message-ID: <{id}@smartstock.test>\r\nIn-Reply-To: <{nid}>\r\nReferences: <{nid}>\r\n\
         Date: Mon, 23 Nov 2026 11:00:00 +0100\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}",
        c = CONSULTANTS[0],
        subject = n.subject().unwrap(),
        nid = n.message_id().unwrap(),
    );
    ms.send(CONSULTANTS[0], &[&reply_to], reply.as_bytes());
    reply_to
}

#[test]
fn imaps_with_idle_and_plain_smtp() {
    conversation(Options::default(), "implicit", "plain");
}

#[test]
fn starttls_polling_and_submission_with_auth() {
    conversation(Options { no_idle: true }, "starttls", "submission");
}

#[test]
fn plain_imap_and_smtps_with_auth() {
    conversation(Options::default(), "none", "smtps");
}

/// A config whose retries come after 1 s (at most 2 s), for tests that
/// take a server away and bring it back.
fn quick_retry_config(ms: &MailServer, source_tls: &str, transport: &str) -> String {
    ms.supportd_config(source_tls, transport).replace(
        "[transport]\n",
        "[transport]\nretry-initial-secs = 1\nretry-max-secs = 2\n",
    )
}

fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn dovecot_and_postfix_restarts_lose_nothing() {
    let ms = MailServer::start();
    let dir = TempDir::new("mailio-restarts");
    dir.write("config.toml", &quick_retry_config(&ms, "implicit", "plain"));
    let mut daemon = Daemon::start(&dir.0);
    let customer = CUSTOMERS[0];
    wait_until(WAIT, "the daemon's IMAP connection", || {
        daemon.log().contains("IMAP connected")
    });

    // IMAP goes away: Postfix queues the request until Dovecot is back,
    // then the daemon reconnects on its own and answers.
    ms.stop_dovecot();
    ms.send(
        customer,
        &[SUPPORT],
        &request(
            customer,
            "Printer offline",
            "r-1@acme.test",
            "The label printer is offline.\n",
        ),
    );
    ms.start_dovecot().unwrap();
    ms.wait_for(
        customer,
        "INBOX",
        WAIT,
        "acknowledgement after Dovecot's restart",
        |m| subject_has(m, "[SS-1] Printer offline"),
    );
    assert!(
        daemon.log().contains("IMAP source failed"),
        "{}",
        daemon.log()
    );

    // SMTP goes away: a message arriving by pipe is answered once Postfix
    // is back; meanwhile the mail waits, with the reason, in the outbox.
    ms.stop_postfix();
    let (code, _, err) = crate::mailserver::supportd_stdin(
        &dir.0,
        &["deliver"],
        &request(
            customer,
            "Scanner offline",
            "r-2@acme.test",
            "The scanner is offline too.\n",
        ),
    );
    assert_eq!(code, 0, "{err}");
    wait_until(WAIT, "a deferred acknowledgement", || {
        let (_, out, _) = supportd(&dir.0, &["outbox", "list", "--pending", "--json"]);
        out.contains("\"last_error\": \"") && out.contains("acknowledgement")
    });
    ms.start_postfix().unwrap();
    ms.wait_for(
        customer,
        "INBOX",
        WAIT,
        "acknowledgement after Postfix's restart",
        |m| subject_has(m, "[SS-2] Scanner offline"),
    );
    // The consultants' notifications deferred with it go out on their own
    // retries (each with its back-off), not necessarily with the first.
    wait_until(WAIT, "every deferred mail sent", || {
        let (_, out, _) = supportd(&dir.0, &["outbox", "list", "--pending"]);
        out.contains("no mail waiting")
    });
    daemon.stop();
}

#[test]
fn a_bounce_marks_its_mail_failed() {
    let ms = MailServer::start();
    let dir = TempDir::new("mailio-bounce");
    dir.write("config.toml", &ms.supportd_config("implicit", "plain"));
    let mut daemon = Daemon::start(&dir.0);
    // A customer at a domain this mail system does not deliver to: Postfix
    // accepts the acknowledgement, then returns a delivery report to the
    // envelope sender support+bounce-<id>@, which names the mail.
    let stranger = "someone@elsewhere.test";
    ms.send(
        stranger,
        &[SUPPORT],
        &request(
            stranger,
            "Cannot log in",
            "r-9@elsewhere.test",
            "Login fails with error 401.\n",
        ),
    );
    wait_until(WAIT, "the acknowledgement failed by the bounce", || {
        let (_, out, _) = supportd(&dir.0, &["outbox", "list", "--failed", "--json"]);
        out.contains("acknowledgement") && out.contains(stranger)
    });
    let (_, out, _) = supportd(&dir.0, &["outbox", "list", "--failed"]);
    assert!(out.contains("5.1.2"), "the report's status is shown: {out}");
    let (_, out, _) = supportd(&dir.0, &["tickets", "show", "SS-1"]);
    assert!(out.contains("(acknowledgement, failed)"), "{out}");
    daemon.stop();
}

#[test]
fn deliver_exit_codes() {
    let dir = TempDir::new("deliver-codes");
    dir.write("config.toml", "[store]\npath = \"var/supportd.db\"\n");
    let msg = request(
        CUSTOMERS[0],
        "Piped",
        "p-1@acme.test",
        "Through the MTA pipe.\n",
    );
    let (code, _, err) = crate::mailserver::supportd_stdin(&dir.0, &["deliver"], &msg);
    assert_eq!(code, 0, "{err}");
    // The same message again (an MTA retry): stored once.
    let (code, _, _) = crate::mailserver::supportd_stdin(&dir.0, &["deliver"], &msg);
    assert_eq!(code, 0);
    let (code, out, _) = supportd(&dir.0, &["run", "--once"]);
    assert_eq!(code, 0);
    assert!(out.contains("new tickets 1,"), "{out}");
    // A database the pipe's user cannot write: EX_TEMPFAIL, so the MTA
    // keeps the message and retries.
    use std::os::unix::process::CommandExt;
    let out = std::process::Command::new(crate::util::bin())
        .args(["--config", "config.toml", "deliver"])
        .current_dir(&dir.0)
        .uid(65534)
        .gid(65534)
        .stdin(std::fs::File::open(dir.write("m.eml", &String::from_utf8_lossy(&msg))).unwrap())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("supportd deliver:"));
    // Empty input is no message: EX_DATAERR, so the MTA bounces it instead
    // of retrying for days; the error says why.
    for empty in [&b""[..], b"\n\n  \n"] {
        let (code, _, err) = crate::mailserver::supportd_stdin(&dir.0, &["deliver"], empty);
        assert_eq!(code, 65, "{err}");
        assert!(err.contains("stdin held no message"), "{err}");
    }
    // Input that is no mail is stored (exit 0: nothing for the MTA to
    // retry) and quarantined by step 2: no ticket, nothing sent.
    for junk in [
        &b"not a mail\n"[..],
        &[0u8, 159, 146, 150, 7, 1, 2, 3, 0, 0][..],
    ] {
        let (code, _, err) = crate::mailserver::supportd_stdin(&dir.0, &["deliver"], junk);
        assert_eq!(code, 0, "{err}");
    }
    let (code, out, _) = supportd(&dir.0, &["run", "--once"]);
    assert_eq!(code, 0);
    assert!(out.contains("new tickets 0,"), "{out}");
    let (_, out, _) = supportd(&dir.0, &["quarantine", "list"]);
    assert_eq!(out.matches("not a mail").count(), 2, "{out}");
}

/// `deliver` applies `[limits] max-message-mb` itself: a larger message is
/// read to the end (the MTA sees success), stored as its headers only,
/// quarantined with the reason, and its sender told.
#[test]
fn deliver_stores_an_oversize_message_as_its_headers() {
    let dir = TempDir::new("deliver-oversize");
    dir.write(
        "config.toml",
        "[store]\npath = \"var/supportd.db\"\n[limits]\nmax-message-mb = 1\n",
    );
    let mut msg = request(
        CUSTOMERS[0],
        "Whole database dump attached",
        "big-1@acme.test",
        "",
    );
    msg.extend(std::iter::repeat_n(b'x', 3 * 1024 * 1024));
    msg.extend_from_slice(b"\nTAIL-MARKER\n");
    let (code, _, err) = crate::mailserver::supportd_stdin(&dir.0, &["deliver"], &msg);
    assert_eq!(code, 0, "{err}");
    let db = std::fs::metadata(dir.0.join("var/supportd.db"))
        .unwrap()
        .len()
        + std::fs::metadata(dir.0.join("var/supportd.db-wal")).map_or(0, |m| m.len());
    assert!(db < 1024 * 1024, "the body was stored: database {db} bytes");
    let (code, out, _) = supportd(&dir.0, &["run", "--once"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("new tickets 0,") && out.contains("quarantined 1"),
        "{out}"
    );
    let (_, list, _) = supportd(&dir.0, &["quarantine", "list"]);
    assert!(list.contains("limit of 1 MB"), "{list}");
    let id = list.split_whitespace().next().unwrap();
    let (_, show, _) = supportd(&dir.0, &["quarantine", "show", id]);
    assert!(
        show.contains("Subject: Whole database dump attached"),
        "{show}"
    );
    assert!(!show.contains("TAIL-MARKER"), "the body was kept");
    let sent: Vec<String> = std::fs::read_dir(dir.0.join("var/outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].contains(&format!("To: {}", CUSTOMERS[0])),
        "{}",
        sent[0]
    );
}

/// HTML that html5ever reads its own way (text directly inside a table:
/// "foster parenting") is ordinary mail; the journal gets no warning for it
/// unless SUPPORTD_LOG asks for html5ever's own lines.
#[test]
fn ordinary_html_mail_leaves_no_parser_warnings_in_the_log() {
    let dir = TempDir::new("html-noise");
    dir.write("config.toml", "[store]\npath = \"var/supportd.db\"\n");
    let html = format!(
        "From: {}\nTo: support@smartstock.cloud\nSubject: Table in HTML\nMessage-ID: <html-1@acme.test>\n\
         Date: Wed, 25 Nov 2026 10:00:00 +0100\nContent-Type: text/html; charset=utf-8\n\n\
         <table>The export fails since Monday morning<tr><td>error 500</td></tr></table>\n",
        CUSTOMERS[0]
    );
    for (n, (log, noisy)) in [("info", false), ("info,html5ever=warn", true)]
        .into_iter()
        .enumerate()
    {
        let mail = html.replace("html-1@", &format!("html-{n}@"));
        let (code, _, err) =
            crate::mailserver::supportd_stdin(&dir.0, &["deliver"], mail.as_bytes());
        assert_eq!(code, 0, "{err}");
        let (code, _, err) =
            crate::mailserver::supportd_env(&dir.0, &["run", "--once"], &[("SUPPORTD_LOG", log)]);
        assert_eq!(code, 0, "{err}");
        assert!(err.contains("ticket opened"), "{err}");
        assert_eq!(
            err.contains("foster parenting"),
            noisy,
            "SUPPORTD_LOG={log}: {err}"
        );
    }
}

/// Counts of one kind of our mail in a mailbox: (distinct Message-IDs,
/// copies beyond the first of any of them).
fn distinct_and_duplicates(
    raws: &[Vec<u8>],
    pick: impl Fn(&mail_parser::Message<'_>) -> bool,
) -> (usize, usize) {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for raw in raws {
        let m = mail_parser::MessageParser::default().parse(raw).unwrap();
        if pick(&m) {
            *seen
                .entry(m.message_id().unwrap_or_default().to_string())
                .or_default() += 1;
        }
    }
    let dups = seen.values().map(|n| n - 1).sum();
    (seen.len(), dups)
}

#[test]
fn kill_9_at_twenty_random_instants_loses_nothing() {
    const MESSAGES: usize = 1000;
    const KILLS: usize = 20;
    let ms = MailServer::start();
    let dir = TempDir::new("mailio-kill9");
    let cfg = quick_retry_config(&ms, "implicit", "plain")
        + "\n[limits]\nauto-per-recipient-per-hour = 100000\nauto-per-domain-per-hour = 100000\n\
           consultant-mails-per-hour = 100000\n";
    dir.write("config.toml", &cfg);

    // The customers' mail arrives while the daemon is killed and restarted.
    let sender = {
        let smtp = ms.ports.smtp;
        std::thread::spawn(move || {
            use lettre::Transport;
            let t = lettre::SmtpTransport::builder_dangerous("127.0.0.1")
                .port(smtp)
                .build();
            for i in 0..MESSAGES {
                let customer = CUSTOMERS[i % 2];
                let raw = request(
                    customer,
                    &format!("Problem number {i}"),
                    &format!("k9-{i}@acme.test"),
                    &format!("Request {i}: the report export fails with error E{i}.\n"),
                );
                let env = lettre::address::Envelope::new(
                    Some(customer.parse().unwrap()),
                    vec![SUPPORT.parse().unwrap()],
                )
                .unwrap();
                t.send_raw(&env, &raw).expect("SMTP send");
            }
        })
    };
    let mut random = crate::util::Seeded::new("kill -9");
    let mut daemon = Daemon::start(&dir.0);
    for _ in 0..KILLS {
        // A random instant in the next 50-550 ms.
        let pause = 50 + random.below(500);
        std::thread::sleep(Duration::from_millis(pause));
        daemon.kill9();
        daemon = Daemon::start(&dir.0);
    }
    sender.join().unwrap();

    let db = dir.0.join("var/supportd.db");
    let counts = || {
        let c = rusqlite::Connection::open(&db).unwrap();
        let q = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
        (
            q("SELECT COUNT(*) FROM messages WHERE direction = 'in'"),
            q("SELECT COUNT(DISTINCT message_id) FROM messages WHERE direction = 'in'"),
            q("SELECT COUNT(*) FROM tickets"),
            q("SELECT COUNT(*) FROM messages WHERE state = 'stored'"),
            q("SELECT COUNT(*) FROM outbox WHERE state = 'pending'"),
            q("SELECT COUNT(*) FROM outbox WHERE state = 'sent'"),
        )
    };
    wait_until(
        Duration::from_secs(120),
        "every message stored and answered",
        || {
            let (_, _, tickets, stored, pending, _) = counts();
            tickets as usize >= MESSAGES && stored == 0 && pending == 0
        },
    );
    assert_eq!(
        ms.wait_count(SUPPORT, "INBOX", 0, WAIT),
        0,
        "the server copies were all moved"
    );
    let (messages, distinct, tickets, _, _, sent) = counts();
    let seed = random.seed;
    assert_eq!(
        messages as usize, MESSAGES,
        "every message stored once (seed {seed})"
    );
    assert_eq!(distinct as usize, MESSAGES);
    assert_eq!(tickets as usize, MESSAGES, "every ticket exists once");
    assert_eq!(
        sent as usize,
        3 * MESSAGES,
        "an acknowledgement and two notifications each"
    );
    assert_eq!(ms.count(SUPPORT, "Processed"), MESSAGES);

    // What reached the mailboxes: every mail at least once; duplicates
    // (the same Message-ID twice) at most one per kill.
    let total_expected = [MESSAGES / 2, MESSAGES / 2, MESSAGES, MESSAGES];
    let mut duplicates = 0;
    for (user, expected) in CUSTOMERS
        .iter()
        .chain(CONSULTANTS.iter())
        .zip(total_expected)
    {
        ms.wait_count(user, "INBOX", expected, WAIT);
        let raws = ms.messages(user, "INBOX");
        let (distinct, dups) = distinct_and_duplicates(&raws, |m| {
            m.subject().is_some_and(|s| s.contains("Problem number"))
        });
        assert_eq!(distinct, expected, "{user}: one mail per ticket");
        duplicates += dups;
    }
    eprintln!(
        "kill -9 x{KILLS}: {messages} messages stored once, {tickets} tickets, {sent} mails sent, {duplicates} duplicate deliveries"
    );
    assert!(
        duplicates <= KILLS,
        "{duplicates} duplicates after {KILLS} kills"
    );
    daemon.stop();
}

fn ticket_count(dir: &std::path::Path) -> usize {
    let (code, out, err) = supportd(dir, &["tickets", "list", "--state", "all", "--json"]);
    assert_eq!(code, 0, "{err}");
    out.matches("\"ref\":").count()
}

/// A backlog is applied in arrival (UID) order, also across UID 9 -> 10;
/// and after Dovecot renumbers the folder (a new UIDVALIDITY), the same
/// messages put back are recognised, not ticketed again.
#[test]
fn backlog_order_and_uidvalidity_change() {
    let ms = MailServer::start();
    let dir = TempDir::new("mailio-uidvalidity");
    dir.write("config.toml", &ms.supportd_config("implicit", "plain"));
    let customer = CUSTOMERS[0];
    for i in 1..=8 {
        let subject = format!("Filler {i}");
        ms.send(
            customer,
            &[SUPPORT],
            &request(customer, &subject, &format!("f{i}@acme.test"), "x\n"),
        );
    }
    ms.send(
        customer,
        &[SUPPORT],
        &request(
            customer,
            "Invoice totals wrong",
            "inv@acme.test",
            "Totals differ.\n",
        ),
    );
    let reply = format!(
        "From: Customer <{customer}>\r\nTo: {SUPPORT}\r\nSubject: Re: Invoice totals wrong\r\n\
         Message-ID: <inv-2@acme.test>\r\nIn-Reply-To: <inv@acme.test>\r\nReferences: <inv@acme.test>\r\n\
         Date: Mon, 23 Nov 2026 10:05:00 +0100\r\n\r\nAlso the VAT line is missing.\r\n"
    );
    ms.send(customer, &[SUPPORT], reply.as_bytes());
    assert_eq!(ms.wait_count(SUPPORT, "INBOX", 10, WAIT), 10);

    let (code, out, err) = supportd(&dir.0, &["run", "--once"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("fetched 10;"), "{out}");
    assert_eq!(
        ticket_count(&dir.0),
        9,
        "the reply (UID 10) joined the request (UID 9): {out}"
    );
    let (_, show, _) = supportd(&dir.0, &["tickets", "show", "SS-9", "--json"]);
    assert!(show.contains("inv-2@acme.test"), "{show}");
    assert_eq!(ms.count(SUPPORT, "INBOX"), 0);
    assert_eq!(ms.count(SUPPORT, "Processed"), 10);

    // Put the processed mail back into the INBOX and make Dovecot forget the
    // INBOX's UIDs: it gives the folder a new UIDVALIDITY.
    ms.stop_dovecot();
    let maildir = ms.dir.join("mail/smartstock.test/support/Maildir");
    for f in std::fs::read_dir(maildir.join(".Processed/cur")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, maildir.join("cur").join(f.file_name().unwrap())).unwrap();
    }
    for f in std::fs::read_dir(&maildir).unwrap() {
        let f = f.unwrap().path();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("dovecot-uidlist") || name.starts_with("dovecot.index") {
            std::fs::remove_file(&f).unwrap();
        }
    }
    std::process::Command::new("chown")
        .args(["-R", "mail:mail"])
        .arg(&maildir)
        .status()
        .unwrap();
    ms.start_dovecot().unwrap();
    assert_eq!(ms.count(SUPPORT, "INBOX"), 10);

    let (code, out, err) =
        crate::mailserver::supportd_env(&dir.0, &["run", "--once"], &[("SUPPORTD_LOG", "warn")]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("UIDVALIDITY changed"), "{err}");
    assert!(
        out.starts_with("fetched 10;") && out.contains("new tickets 0,"),
        "{out}"
    );
    assert_eq!(ticket_count(&dir.0), 9, "nothing ticketed twice");
    assert_eq!(ms.count(SUPPORT, "INBOX"), 0, "moved again");
}

/// The README's first command: config.example.toml alone in an empty folder
/// runs on the embedded default, Maildir in and .eml files out.
#[test]
fn example_config_runs_with_no_mail_server() {
    let dir = TempDir::new("mailio-example");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"),
        dir.0.join("config.toml"),
    )
    .unwrap();
    let (code, out, err) = supportd(&dir.0, &["run", "--once"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("fetched 0;"), "{out}");
    for sub in [
        "var/inbox/new",
        "var/inbox/cur",
        "var/inbox/tmp",
        "var/outbox",
    ] {
        assert!(dir.0.join(sub).is_dir(), "{sub} created");
    }

    // The daemon: a mail dropped into new/ is answered into var/outbox/.
    let mut daemon = Daemon::start(&dir.0);
    std::fs::write(
        dir.0.join("var/inbox/new/1700000000.M1.test"),
        request(
            "jan@acme.example",
            "Export fails",
            "ex-1@acme.example",
            "The export fails with E42.\n",
        ),
    )
    .unwrap();
    let outbox = dir.0.join("var/outbox");
    let acknowledgement = || {
        std::fs::read_dir(&outbox).unwrap().flatten().find_map(|e| {
            let text = std::fs::read_to_string(e.path()).ok()?;
            (text.contains("Subject: Re: [SS-1] Export fails")
                && text.contains("To: jan@acme.example"))
            .then_some(text)
        })
    };
    wait_until(WAIT, "the acknowledgement file", || {
        acknowledgement().is_some()
    });
    let ack = acknowledgement().unwrap();
    assert!(ack.contains("Auto-Submitted: auto-replied"), "{ack}");
    assert!(
        dir.0.join("var/inbox/cur/1700000000.M1.test:2,S").exists(),
        "moved to cur/"
    );
    daemon.stop();
    // `outbox list` keeps its columns with the longest template name.
    let (_, table, _) = supportd(&dir.0, &["outbox", "list"]);
    assert!(table.contains("consultant-notification"), "{table}");
    let when = table.lines().next().and_then(|h| h.find("WHEN")).unwrap();
    for row in table.lines().skip(1) {
        assert!(
            row.get(when - 2..when) == Some("  ") && row[when..].starts_with("20"),
            "WHEN not in its column:\n{table}"
        );
    }
}

/// A refusal at RCPT (an unknown user in a local domain) fails the mail at
/// once with the server's words; `outbox retry` tries it again.
#[test]
fn a_5xx_answer_fails_the_mail_and_retry_tries_again() {
    let ms = MailServer::start();
    let dir = TempDir::new("mailio-5xx");
    dir.write("config.toml", &ms.supportd_config("implicit", "plain"));
    let ghost = "nobody@acme.test";
    ms.send(
        ghost,
        &[SUPPORT],
        &request(ghost, "Where is my parcel", "g-1@acme.test", "Lost.\n"),
    );
    assert_eq!(ms.wait_count(SUPPORT, "INBOX", 1, WAIT), 1);
    let (code, out, err) = supportd(&dir.0, &["run", "--once"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("failed 1"), "{out}");
    let (_, failed, _) = supportd(&dir.0, &["outbox", "list", "--failed", "--json"]);
    assert!(failed.contains(ghost) && failed.contains("550"), "{failed}");
    assert!(failed.contains("\"attempts\": 1"), "{failed}");
    let id = failed
        .split("\"id\": ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap()
        .to_string();
    let (code, out, _) = supportd(&dir.0, &["outbox", "retry", &id]);
    assert_eq!(code, 0);
    assert!(out.contains("failed -> pending"), "{out}");
    let (_, out, _) = supportd(&dir.0, &["run", "--once"]);
    assert!(out.contains("failed 1"), "{out}");
    let (_, failed, _) = supportd(&dir.0, &["outbox", "list", "--failed", "--json"]);
    assert!(failed.contains("\"attempts\": 2"), "{failed}");
    // An id that names no mail is an error.
    let (code, _, err) = supportd(&dir.0, &["outbox", "retry", "99999"]);
    assert_eq!(code, 1, "{err}");
}

/// A message over `max-message-mb` is not downloaded whole (its size is
/// read first); its header is stored, it is quarantined, and its sender is
/// told.
#[test]
fn an_oversized_message_is_quarantined_and_its_sender_told() {
    let ms = MailServer::start();
    let dir = TempDir::new("mailio-oversize");
    dir.write(
        "config.toml",
        &(ms.supportd_config("implicit", "plain") + "\n[limits]\nmax-message-mb = 1\n"),
    );
    let customer = CUSTOMERS[1];
    let big = "A".repeat(76) + "\n";
    let body = big.repeat(2 * 1024 * 1024 / 77);
    ms.send(
        customer,
        &[SUPPORT],
        &request(customer, "Huge log attached", "big-1@acme.test", &body),
    );
    assert_eq!(ms.wait_count(SUPPORT, "INBOX", 1, WAIT), 1);
    let (code, out, err) = supportd(&dir.0, &["run", "--once"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("quarantined 1"), "{out}");
    let (_, list, _) = supportd(&dir.0, &["quarantine", "list", "--json"]);
    assert!(
        list.contains("larger than the limit of 1 MB (3 MB)"),
        "{list}"
    );
    let db = dir.0.join("var/supportd.db");
    let stored: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT MAX(raw_size) FROM messages", [], |r| r.get(0))
        .unwrap();
    assert!(
        stored < 10_000,
        "only the header was downloaded: {stored} bytes"
    );
    ms.wait_for(customer, "INBOX", WAIT, "the too-large notice", |m| {
        m.subject().is_some_and(|s| s.contains("Huge log attached"))
    });
    assert_eq!(ms.count(SUPPORT, "Processed"), 1);
}

/// One recipient refused at RCPT (an unknown user in a local domain) while
/// the other exists: the mail still reaches the other, and the refusal is
/// recorded with it.
#[test]
fn one_refused_recipient_does_not_stop_the_others() {
    let ms = MailServer::start();
    let dir = TempDir::new("mailio-partial");
    dir.write("config.toml", &ms.supportd_config("implicit", "plain"));
    let customer = CUSTOMERS[0];
    let ghost = "nobody@acme.test";
    let raw = format!(
        "From: {customer}\r\nTo: {SUPPORT}\r\nCc: {ghost}\r\nSubject: Labels print blank\r\n\
         Message-ID: <pr-1@acme.test>\r\n\r\nSince 08:15 the labels print blank; we restarted the printer.\r\n"
    );
    ms.send(customer, &[SUPPORT], raw.as_bytes());
    assert_eq!(ms.wait_count(SUPPORT, "INBOX", 1, WAIT), 1);
    let (code, _, err) = supportd(&dir.0, &["run", "--once"]);
    assert_eq!(code, 0, "{err}");
    ms.wait_for(customer, "INBOX", WAIT, "the acknowledgement", |m| {
        subject_has(m, "[SS-1]")
    });
    // The acknowledgement went to the requester alone; the consultant's
    // answer goes to everyone on the ticket, the refused Cc among them.
    let notification = ms.wait_for(CONSULTANTS[0], "INBOX", WAIT, "notification", |m| {
        subject_has(m, "[SS-1]")
    });
    answer(
        &ms,
        &notification,
        "pr-answer",
        "Please print a test page from the driver dialog.\r\n",
    );
    assert_eq!(ms.wait_count(SUPPORT, "INBOX", 1, WAIT), 1);
    let (code, out, err) = supportd(&dir.0, &["run", "--once"]);
    assert_eq!(code, 0, "{err}");
    ms.wait_for(customer, "INBOX", WAIT, "the consultant's answer", |m| {
        m.body_text(0)
            .is_some_and(|b| b.contains("print a test page"))
    });
    let (_, show, _) = supportd(&dir.0, &["tickets", "show", "SS-1", "--json"]);
    let t: serde_json::Value = serde_json::from_str(&show).unwrap();
    let relay = t["outgoing"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["template"] == "consultant-reply")
        .unwrap();
    assert_eq!(relay["to"], serde_json::json!([customer, ghost]), "{relay}");
    assert_eq!(relay["state"], "sent", "{out}\n{relay}");
    assert!(
        relay["last_error"]
            .as_str()
            .is_some_and(|e| e.contains(ghost) && e.contains("550")),
        "{relay}"
    );
    assert!(
        t["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["what"] == "mail-partly-refused"),
        "{t}"
    );
}

/// `SUPPORTD_LOG=trace` (what one tries when debugging a login) shows the
/// protocol crates' debug but never the passwords: not as written, not as
/// the base64 of AUTHENTICATE PLAIN.
#[test]
fn trace_logging_never_shows_the_passwords() {
    let ms = MailServer::start();
    let dir = TempDir::new("mailio-trace");
    dir.write("config.toml", &ms.supportd_config("implicit", "smtps"));
    let customer = CUSTOMERS[0];
    ms.send(
        customer,
        &[SUPPORT],
        &request(
            customer,
            "Trace me",
            "trace-1@acme.test",
            "The scanner is offline since 08:00.",
        ),
    );
    assert_eq!(ms.wait_count(SUPPORT, "INBOX", 1, WAIT), 1);
    let (code, _, log) =
        crate::mailserver::supportd_env(&dir.0, &["run", "--once"], &[("SUPPORTD_LOG", "trace")]);
    assert_eq!(code, 0, "{log}");
    ms.wait_for(customer, "INBOX", WAIT, "the acknowledgement", |m| {
        subject_has(m, "[SS-1]")
    });
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "trace logging was on: {log}"
    );
    let password = crate::mailserver::PASSWORD;
    for secret in [
        password.to_string(),
        crate::util::b64(&format!("\0{SUPPORT}\0{password}")),
        crate::util::b64(password),
    ] {
        assert!(!log.contains(&secret), "{secret} in the log");
    }
}
