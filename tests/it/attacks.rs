//! A stranger's worst mail, through the embedded desk (Maildir in, .eml
//! files out): forged consultant commands in each authentication mode,
//! spam through support@, forged bounces, header injection, look-alike
//! tags, floods, a poison message, forged senders, and what reaches ops'
//! files and terminals.

use serde_json::Value;
use supportd::mail::token;
use supportd::store::Store;

use crate::scheduler::{Desk, FULL_REPORT};

/// Our MX's authserv-id (what its OpenDKIM/OpenDMARC write).
const OURS: &str = "mx.smartstock.cloud";

/// A message as our MX delivers it: our Authentication-Results on top,
/// then our Received, then whatever the sender wrote.
fn from_outside(results: &[&str], sender_wrote: &str) -> String {
    let mut raw: String = results
        .iter()
        .map(|r| format!("Authentication-Results: {r}\n"))
        .collect();
    raw.push_str(
        "Received: from mail.attacker.example (mail.attacker.example [203.0.113.9]) by mx.smartstock.cloud \
         with ESMTPS; Tue, 24 Nov 2026 10:00:00 +0100\n",
    );
    raw.push_str(sender_wrote);
    raw
}

fn desk(name: &str, extra: &str) -> Desk {
    let d = Desk::with_config(
        name,
        &format!("trusted-authserv-ids = [\"{OURS}\"]\n{extra}"),
    );
    d.receive(
        "Mon, 23 Nov 2026 10:00:00 +0100",
        &format!(
            "From: Jan <jan@acme.example>\nTo: support@smartstock.cloud\nSubject: Stock report shows zero\n\
             Message-ID: <p-1@acme.example>\n\n{FULL_REPORT}\n"
        ),
    );
    d.run("2026-11-23T09:00:05Z");
    d.new_mails();
    d
}

fn key(d: &Desk) -> Vec<u8> {
    Store::open(&d.dir.0.join("var/supportd.db"))
        .unwrap()
        .token_key(None)
        .unwrap()
}

/// Anna's (alleged) `#severity 1` on SS-1, sent to `to`, with `headers`.
fn command(n: usize, to: &str, headers: &str) -> String {
    format!(
        "{headers}From: Anna <anna@smartstock.cloud>\nTo: {to}\nSubject: Re: [SS-1] Stock report shows zero\n\
         Message-ID: <forged-{n}@attacker.example>\nDate: Tue, 24 Nov 2026 10:00:00 +0100\n\n#severity 1\nDone.\n"
    )
}

#[test]
fn forged_consultant_commands_are_never_applied_in_any_auth_mode() {
    let pass = "mx.smartstock.cloud; dkim=pass header.d=smartstock.cloud; dmarc=pass header.from=smartstock.cloud";
    let support = "support@smartstock.cloud";
    for mode in ["token", "dkim", "either"] {
        let d = desk(
            &format!("attack-auth-{mode}"),
            &format!("auth = \"{mode}\"\n"),
        );
        let k = key(&d);
        let piotr = token::consultant_mac(&k, "SS-1", "piotr@smartstock.cloud");
        let forgeries: Vec<(&str, String)> = vec![
            (
                "no token, no results",
                from_outside(&[], &command(1, support, "")),
            ),
            (
                "the sender wrote a passing result with our id below our trace",
                from_outside(
                    &["mx.smartstock.cloud; dkim=none; dmarc=none"],
                    &command(2, support, &format!("Authentication-Results: {pass}\n")),
                ),
            ),
            (
                "a signature of smartstock.cloud.attacker.example",
                from_outside(
                    &["mx.smartstock.cloud; dkim=pass header.d=smartstock.cloud.attacker.example"],
                    &command(3, support, ""),
                ),
            ),
            (
                "a signature of evilsmartstock.cloud",
                from_outside(
                    &["mx.smartstock.cloud; dkim=pass header.d=evilsmartstock.cloud"],
                    &command(4, support, ""),
                ),
            ),
            (
                "DMARC failed in the same trusted header",
                from_outside(
                    &[
                        "mx.smartstock.cloud; dkim=pass header.d=smartstock.cloud; dmarc=fail header.from=smartstock.cloud",
                    ],
                    &command(5, support, ""),
                ),
            ),
            (
                "DMARC failed in another trusted header",
                from_outside(
                    &[
                        "mx.smartstock.cloud; dkim=pass header.d=smartstock.cloud",
                        "mx.smartstock.cloud; dmarc=fail header.from=smartstock.cloud",
                    ],
                    &command(6, support, ""),
                ),
            ),
            (
                "a pass inside a comment",
                from_outside(
                    &[
                        "mx.smartstock.cloud; dkim=fail (bad sig; dkim=pass header.d=smartstock.cloud) header.d=smartstock.cloud",
                    ],
                    &command(7, support, ""),
                ),
            ),
            (
                "a pass inside a quoted string",
                from_outside(
                    &[
                        "mx.smartstock.cloud; dkim=neutral reason=\"x; dkim=pass header.d=smartstock.cloud\" header.d=smartstock.cloud",
                    ],
                    &command(8, support, ""),
                ),
            ),
            (
                "a pass from a server we do not trust",
                from_outside(
                    &[
                        "mx.attacker.example; dkim=pass header.d=smartstock.cloud; dmarc=pass header.from=smartstock.cloud",
                    ],
                    &command(9, support, ""),
                ),
            ),
            (
                "a made-up token",
                from_outside(
                    &[],
                    &command(10, "support+SS-1.000000000000@smartstock.cloud", ""),
                ),
            ),
            (
                "Piotr's token under Anna's name",
                from_outside(
                    &[],
                    &command(11, &format!("support+SS-1.{piotr}@smartstock.cloud"), ""),
                ),
            ),
        ];
        for (what, raw) in &forgeries {
            d.deliver_raw(raw);
            d.run("2026-11-24T09:00:05Z");
            assert_eq!(
                d.ticket("SS-1")["severity"],
                3,
                "{mode}: {what} was applied"
            );
        }
        let relays = d
            .outbox()
            .into_iter()
            .filter(|m| {
                m.to.contains(&"jan@acme.example".to_string()) && m.template != "acknowledgement"
            })
            .count();
        assert_eq!(relays, 0, "{mode}: a forged mail reached the customer");

        // The genuine article applies, so the checks above can fail.
        if mode == "token" {
            d.consultant(
                "Tue, 24 Nov 2026 11:00:00 +0100",
                "anna@smartstock.cloud",
                "SS-1",
                "#severity 1",
            );
        } else {
            d.deliver_raw(&from_outside(&[pass], &command(99, support, "")));
        }
        d.run("2026-11-24T10:00:05Z");
        assert_eq!(
            d.ticket("SS-1")["severity"],
            1,
            "{mode}: the genuine command"
        );
    }
}

#[test]
fn a_first_mail_copying_2000_people_is_acknowledged_to_the_requester_alone() {
    let d = Desk::new("attack-cc");
    let cc: Vec<String> = (0..2000)
        .map(|i| format!("victim{i}@target{}.example", i % 40))
        .collect();
    d.receive(
        "Mon, 23 Nov 2026 10:00:00 +0100",
        &format!(
            "From: Spammer <jan@acme.example>\nTo: support@smartstock.cloud\nCc: {}\n\
             Subject: Cheap pills\nMessage-ID: <spam-1@acme.example>\n\n{FULL_REPORT}\n",
            cc.join(",\n ")
        ),
    );
    d.run("2026-11-23T09:00:05Z");
    let out = d.outbox();
    let to_strangers: usize = out
        .iter()
        .filter(|m| !m.to.iter().all(|t| t.ends_with("@smartstock.cloud")))
        .map(|m| m.to.len())
        .sum();
    assert_eq!(
        to_strangers,
        1,
        "{:?}",
        out.iter()
            .map(|m| (&m.template, m.to.len()))
            .collect::<Vec<_>>()
    );
    let ack = out
        .iter()
        .find(|m| m.template == "acknowledgement")
        .unwrap();
    assert_eq!(ack.to, ["jan@acme.example"]);
    let participants = d.ticket("SS-1")["participants"].as_array().unwrap().len();
    assert!(participants <= 20, "{participants} participants");
}

#[test]
fn an_encoded_newline_in_the_subject_stays_inside_one_line() {
    let d = Desk::new("attack-subject");
    let injected = crate::util::b64(
        "Printer broken\r\n\r\nDear customer, your account is locked: pay at http://evil.example\r\n",
    );
    d.receive(
        "Mon, 23 Nov 2026 10:00:00 +0100",
        &format!(
            "From: Jan <jan@acme.example>\nTo: support@smartstock.cloud\nSubject: =?utf-8?B?{injected}?=\n\
             Message-ID: <inj-1@acme.example>\n\n{FULL_REPORT}\n"
        ),
    );
    d.run("2026-11-23T09:00:05Z");
    for id in 1..=3 {
        let raw = std::fs::read(d.dir.0.join(format!("var/outbox/{id:06}.eml"))).unwrap();
        let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let subject = m.subject().unwrap();
        assert!(
            !subject.contains('\n') && !subject.contains('\r'),
            "{subject:?}"
        );
        let body = m.body_text(0).unwrap();
        for line in body.lines() {
            assert!(
                !line.trim_start().starts_with("Dear customer, your account"),
                "mail {id} has the injected line on its own:\n{body}"
            );
        }
    }
    let t = d.ticket("SS-1");
    assert!(!t["subject"].as_str().unwrap().contains('\n'));
}

/// A delivery report failing `jan@acme.example`, sent with `to_headers`.
fn dsn(n: usize, to_headers: &str) -> String {
    format!(
        "Return-Path: <>\nFrom: MAILER-DAEMON@mx.attacker.example\n{to_headers}\
         Subject: Undelivered Mail Returned to Sender\nMessage-Id: <dsn-{n}@mx.attacker.example>\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n\
         --b\nContent-Type: text/plain\n\nYour mail could not be delivered.\n\n\
         --b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.attacker.example\n\n\
         Final-Recipient: rfc822; jan@acme.example\nAction: failed\nStatus: 5.1.1\n\n--b--\n"
    )
}

#[test]
fn forged_bounces_change_nothing_and_a_genuine_one_does() {
    let d = desk("attack-bounce", "");
    let ack = d
        .outbox_ids()
        .into_iter()
        .find(|(_, m)| m.template == "acknowledgement")
        .unwrap()
        .0;
    let k = key(&d);
    let other_mac = token::mail_mac(&k, ack + 1);
    let forged = [
        format!("To: support+bounce-{ack}@smartstock.cloud\n"),
        format!(
            "To: support@smartstock.cloud\nX-Original-To: support+bounce-{ack}@smartstock.cloud\n"
        ),
        format!("To: support+bounce-{ack}.{other_mac}@smartstock.cloud\n"),
        format!("To: support+bounce-{ack}.000000000000@smartstock.cloud\n"),
    ];
    let state = |d: &Desk| {
        d.outbox_ids()
            .into_iter()
            .find(|(id, _)| *id == ack)
            .unwrap()
            .1
            .state
    };
    for (n, to) in forged.iter().enumerate() {
        d.receive("Mon, 23 Nov 2026 11:00:00 +0100", &dsn(n, to));
        d.run("2026-11-23T10:00:05Z");
        assert_eq!(state(&d), "sent", "{to}");
        assert_eq!(d.ticket("SS-1")["unreachable"], false, "{to}");
    }
    let genuine = d.envelope(ack);
    d.receive(
        "Mon, 23 Nov 2026 11:05:00 +0100",
        &dsn(9, &format!("To: {genuine}\n")),
    );
    d.run("2026-11-23T10:05:05Z");
    assert_eq!(state(&d), "failed");
}

#[test]
fn an_address_the_mail_library_refuses_never_joins_or_blocks_the_ticket() {
    let d = Desk::new("attack-bad-address");
    d.receive(
        "Mon, 23 Nov 2026 10:00:00 +0100",
        &format!(
            "From: Jan <jan@acme.example>\nTo: support@smartstock.cloud\n\
             Cc: \"x\"@evil.example, Ewa <ewa@acme.example>, <@route:bad@evil.example>, \"a b\"@evil.example\n\
             Subject: Stock report shows zero\nMessage-ID: <bad-1@acme.example>\n\n{FULL_REPORT}\n"
        ),
    );
    d.run("2026-11-23T09:00:05Z");
    let p: Vec<Value> = d.ticket("SS-1")["participants"].as_array().unwrap().clone();
    assert_eq!(p, ["ewa@acme.example", "jan@acme.example"]);
    d.consultant(
        "Mon, 23 Nov 2026 11:00:00 +0100",
        "anna@smartstock.cloud",
        "SS-1",
        "#accept\nWe are on it.",
    );
    d.run("2026-11-23T10:00:05Z");
    let relay = d
        .outbox()
        .into_iter()
        .find(|m| m.template == "consultant-reply")
        .unwrap();
    assert_eq!(relay.state, "sent");
    assert_eq!(relay.to, ["jan@acme.example", "ewa@acme.example"]);
}

#[test]
fn look_alike_note_tags_stay_internal() {
    let d = desk("attack-note", "");
    for (i, tag) in [
        "\u{feff}#note",
        "\u{200b}#note",
        "\u{ff03}note",
        "#\u{200d}note",
    ]
    .iter()
    .enumerate()
    {
        d.consultant(
            &format!("Mon, 23 Nov 2026 11:0{i}:00 +0100"),
            "anna@smartstock.cloud",
            "SS-1",
            &format!("{tag} internal secret {i}: the customer is difficult"),
        );
    }
    d.run("2026-11-23T10:10:05Z");
    let leaked: Vec<String> = d
        .outbox()
        .into_iter()
        .filter(|m| m.text.contains("internal secret"))
        .map(|m| m.template)
        .collect();
    assert!(leaked.is_empty(), "notes went out as {leaked:?}");
    let notes = d.events("SS-1").iter().filter(|e| *e == "note").count();
    assert_eq!(notes, 4);
}

#[test]
fn forged_consultant_mail_floods_are_throttled_then_summed_up() {
    let d = desk("attack-flood", "");
    // 35 forged mails under Anna's name: each earns her an error mail.
    for n in 0..35 {
        d.deliver_raw(&from_outside(
            &[],
            &command(n, "support@smartstock.cloud", ""),
        ));
    }
    d.run("2026-11-23T10:30:05Z");
    let errors: Vec<_> = d
        .new_mails()
        .into_iter()
        .filter(|m| m.to == ["anna@smartstock.cloud"])
        .collect();
    let sent = errors.iter().filter(|m| m.state != "held").count();
    assert_eq!((sent, errors.len()), (30, 35), "30 go out, 5 are held");
    // Over an hour later the next one goes out and owns up to the 5.
    d.deliver_raw(&from_outside(
        &[],
        &command(99, "support@smartstock.cloud", ""),
    ));
    d.run("2026-11-23T11:31:05Z");
    let next = d
        .new_mails()
        .into_iter()
        .find(|m| m.to == ["anna@smartstock.cloud"])
        .unwrap();
    assert_ne!(next.state, "held");
    assert!(
        next.text
            .starts_with("5 earlier mails to you were held back"),
        "{}",
        next.text
    );
}

#[test]
fn a_message_over_the_analysis_budget_is_quarantined_and_the_others_go_on() {
    // A budget a normal message meets even on a loaded test machine (a
    // debug build beside the mail-server tests); the slow one takes 60 s.
    let d = Desk::with_config("attack-budget", "[limits]\nanalysis-budget-secs = 4\n");
    for (i, slow) in [false, true, false, false].iter().enumerate() {
        let fault = if *slow {
            "X-Supportd-Test-Slow: analysis\n"
        } else {
            ""
        };
        d.receive(
            "Mon, 23 Nov 2026 10:00:00 +0100",
            &format!(
                "From: C{i} <c{i}@shop{i}.example>\nTo: support@smartstock.cloud\n{fault}Subject: Problem {i}\n\
                 Message-ID: <budget-{i}@example>\n\n{FULL_REPORT}\n"
            ),
        );
    }
    let summary = d.run("2026-11-23T09:00:05Z");
    assert!(summary.contains("new tickets 3"), "{summary}");
    assert!(summary.contains("quarantined 1"), "{summary}");
    let q = d.supportd(&["quarantine", "list"]);
    assert!(
        q.stdout.contains("ran over the budget of 4 s"),
        "{}",
        q.stdout
    );
}

/// A 2 MB mail from `from` with our MX's verdict `results`.
fn huge(from: &str, results: &[&str], n: usize) -> String {
    from_outside(
        results,
        &format!(
            "From: {from}\nTo: support@smartstock.cloud\nSubject: Log file\nMessage-ID: <huge-{n}@example>\n\n{}\n",
            "log line of a very chatty application\n".repeat(55_000)
        ),
    )
}

#[test]
fn a_forged_sender_of_a_too_large_mail_is_not_told() {
    let d = Desk::with_config(
        "attack-too-large",
        &format!("trusted-authserv-ids = [\"{OURS}\"]\n[limits]\nmax-message-mb = 1\n"),
    );
    d.deliver_raw(&huge(
        "victim@acme.example",
        &["mx.smartstock.cloud; spf=fail smtp.mailfrom=acme.example; dmarc=fail header.from=acme.example"],
        1,
    ));
    d.run("2026-11-23T09:00:05Z");
    assert!(d.new_mails().is_empty(), "the impersonated sender was told");
    // The same mail from its real sender is answered.
    d.deliver_raw(&huge(
        "jan@acme.example",
        &["mx.smartstock.cloud; spf=pass smtp.mailfrom=acme.example; dmarc=pass header.from=acme.example"],
        2,
    ));
    d.run("2026-11-23T09:01:05Z");
    let told = d.new_mails();
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].template, "message-too-large");
    assert_eq!(told[0].to, ["jan@acme.example"]);
}

#[test]
fn a_forged_requester_copying_an_attacker_adds_nobody() {
    let d = desk("attack-hijack", "");
    let reply = |n: usize| {
        format!(
            "From: Jan <jan@acme.example>\nTo: support@smartstock.cloud\nCc: attacker@evil.example\n\
             Subject: Re: [SS-1] Stock report shows zero\nMessage-ID: <hijack-{n}@evil.example>\n\
             In-Reply-To: <p-1@acme.example>\n\nPlease keep my colleague informed.\n"
        )
    };
    d.deliver_raw(&from_outside(
        &["mx.smartstock.cloud; spf=fail smtp.mailfrom=acme.example; dmarc=fail header.from=acme.example"],
        &reply(1),
    ));
    d.run("2026-11-23T10:00:05Z");
    let p = d.ticket("SS-1")["participants"].clone();
    assert_eq!(p, serde_json::json!(["jan@acme.example"]));
    // Jan himself (DMARC passes) can add a colleague, and is told.
    d.deliver_raw(&from_outside(
        &["mx.smartstock.cloud; dmarc=pass header.from=acme.example"],
        &reply(2),
    ));
    d.run("2026-11-23T10:05:05Z");
    let p = d.ticket("SS-1")["participants"].clone();
    assert_eq!(
        p,
        serde_json::json!(["attacker@evil.example", "jan@acme.example"])
    );
    let told = d
        .new_mails()
        .into_iter()
        .find(|m| m.template == "participant-added")
        .unwrap();
    assert_eq!(told.to, ["jan@acme.example"]);
}

#[test]
fn files_are_private_and_terminals_see_no_escapes() {
    let d = Desk::with_config("attack-files", "[limits]\nmax-message-mb = 1\n");
    d.deliver_raw(
        "Received: from mx.example by mx.smartstock.cloud; Mon, 23 Nov 2026 10:00:00 +0100\n\
         From: Jan <jan@acme.example>\nTo: support@smartstock.cloud\n\
         Subject: Hello \x1b]0;owned\x07 \x1b[2J world\nMessage-ID: <esc-1@acme.example>\n\nThe printer is offline.\n",
    );
    d.deliver_raw(&format!(
        "Received: from mx.example by mx.smartstock.cloud; Mon, 23 Nov 2026 10:00:00 +0100\n\
         From: Jan <jan@acme.example>\nX-Evil: \x1b[31mred\x1b[0m\nSubject: big\nMessage-ID: <esc-2@acme.example>\n\n{}\n",
        "x".repeat(1_200_000)
    ));
    d.run("2026-11-23T09:00:05Z");
    let list = d.supportd(&["tickets", "list"]);
    let show = d.supportd(&["tickets", "show", "SS-1"]);
    let quarantined = d.supportd(&["quarantine", "list", "--json"]);
    let q: Value = serde_json::from_str(&quarantined.stdout).unwrap();
    let id = q[0]["message"].as_i64().unwrap().to_string();
    let qshow = d.supportd(&["quarantine", "show", &id]);
    for (what, out) in [
        ("tickets list", &list),
        ("tickets show", &show),
        ("quarantine show", &qshow),
    ] {
        assert_eq!(out.code, 0, "{what}: {}", out.stderr);
        assert!(
            !out.stdout.contains('\x1b'),
            "{what} printed a raw ESC:\n{}",
            out.stdout
        );
    }
    assert!(
        qshow.stdout.contains("X-Evil: \\x1b[31mred"),
        "{}",
        qshow.stdout
    );

    use std::os::unix::fs::PermissionsExt;
    let var = d.dir.0.join("var");
    let mut files = vec![var.join("supportd.db")];
    for f in std::fs::read_dir(var.join("outbox")).unwrap() {
        files.push(f.unwrap().path());
    }
    for extra in ["supportd.db-wal", "supportd.db-shm", "supportd.db.lock"] {
        if var.join(extra).exists() {
            files.push(var.join(extra));
        }
    }
    for f in files {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
    }
}
