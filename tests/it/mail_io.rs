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
    let notification = notification.unwrap();
    let n = mail_parser::MessageParser::default()
        .parse(&notification)
        .unwrap();
    let reply_to = n
        .reply_to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .expect("Reply-To on the notification")
        .to_string();
    let reply = format!(
        "From: Consultant One <{c}>\r\nTo: {reply_to}\r\nSubject: Re: {subject}\r\n\
         Message-ID: <accept-1@smartstock.test>\r\nIn-Reply-To: <{nid}>\r\nReferences: <{nid}>\r\n\
         Date: Mon, 23 Nov 2026 11:00:00 +0100\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         #accept\r\nPlease restart the scanner service; we are preparing a fix.\r\n\r\n\
         > quoted notification text\r\n",
        c = CONSULTANTS[0],
        subject = n.subject().unwrap(),
        nid = n.message_id().unwrap(),
    );
    ms.send(CONSULTANTS[0], &[&reply_to], reply.as_bytes());
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

    let status = daemon.terminate(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "SIGTERM: exit 0 within 10 s; got {status:?}\n{}",
        daemon.log()
    );
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
