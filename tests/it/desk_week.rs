//! A scripted week at the desk on the embedded modes (Maildir in, .eml
//! files out), read as the people read it in a threading client: a
//! Polish customer's report, a colleague who joins, a consultant's forward
//! and a phone call opened with `#open`, a note, acceptance with a severity
//! change and text, `#needinfo`, the customer's answer, `#resolved`, the
//! customer's thanks, `#close`, and a reopen. What each mailbox holds: one
//! thread per ticket (by `References`/`In-Reply-To`, as a client threads),
//! at most one customer mail per consultant mail, no note text in any
//! customer mail, every original inline, and what `tickets show` prints.
//! The same day again over real Dovecot and Postfix (IMAP in, SMTP out,
//! the mailboxes read back over IMAP).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use mail_parser::MimeHeaders;

use crate::scheduler::{Desk, sent_to, sent_to_only};

/// One mail in a mailbox, as a threading client reads it.
#[derive(Debug)]
struct Seen {
    id: String,
    parents: Vec<String>,
    to: Vec<String>,
    subject: String,
    text: String,
    rfc822_inline: Option<bool>,
}

fn outbox_mails(d: &Desk) -> Vec<Seen> {
    let dir = d.dir.0.join("var/outbox");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| seen(&std::fs::read(f).unwrap()))
        .collect()
}

/// A mail as a threading client reads it.
fn seen(raw: &[u8]) -> Seen {
    let m = mail_parser::MessageParser::default().parse(raw).unwrap();
    let list = |v: &mail_parser::HeaderValue<'_>| -> Vec<String> {
        v.as_text_list()
            .map(|l| l.iter().map(|s| s.to_string()).collect())
            .or_else(|| v.as_text().map(|s| vec![s.to_string()]))
            .unwrap_or_default()
    };
    let mut parents = list(m.references());
    parents.extend(list(m.in_reply_to()));
    let original = m
        .parts
        .iter()
        .find(|p| matches!(p.body, mail_parser::PartType::Message(_)));
    Seen {
        id: m.message_id().unwrap().to_string(),
        parents,
        to: m
            .to()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.address().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        subject: m.subject().unwrap_or("").to_string(),
        text: m.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
        rfc822_inline: original.map(|p| {
            p.content_disposition()
                .is_some_and(|c| c.ctype() == "inline")
        }),
    }
}

/// Threads as a client builds them from Message-ID, In-Reply-To and
/// References (connected components), with the person's own sent mail.
fn threads(mails: &[&Seen], sent: &[(&str, &[&str])]) -> Vec<BTreeSet<String>> {
    let mut parent: HashMap<String, String> = HashMap::new();
    fn find(p: &mut HashMap<String, String>, x: &str) -> String {
        let up = p.get(x).cloned().unwrap_or_else(|| x.to_string());
        if up == x {
            return up;
        }
        let root = find(p, &up);
        p.insert(x.to_string(), root.clone());
        root
    }
    let mut union = |a: &str, b: &str| {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            parent.insert(ra, rb);
        }
    };
    for m in mails {
        union(&m.id, &m.id);
        for p in &m.parents {
            union(&m.id, p);
        }
    }
    for (id, refs) in sent {
        union(id, id);
        for r in *refs {
            union(id, r);
        }
    }
    let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in mails {
        let root = find(&mut parent, &m.id);
        groups.entry(root).or_default().insert(m.id.clone());
    }
    groups.into_values().collect()
}

/// Mails grouped by the ticket their subject names.
fn by_ticket<'a>(mails: impl Iterator<Item = &'a Seen>) -> BTreeMap<String, Vec<&'a Seen>> {
    let mut out: BTreeMap<String, Vec<&Seen>> = BTreeMap::new();
    for m in mails {
        out.entry(reference_in(&m.subject)).or_default().push(m);
    }
    out
}

fn reference_in(subject: &str) -> String {
    let start = subject.find("[SS-").expect("a ticket tag");
    let end = subject[start..].find(']').unwrap() + start;
    subject[start + 1..end].to_string()
}

const JAN: &str = "jan@acme.example";
const EWA: &str = "ewa@acme.example";
const ANNA: &str = "anna@smartstock.cloud";

/// The customer mails a step queued (mails to anyone but consultants).
fn customer_mails(d: &Desk) -> usize {
    d.new_mails()
        .iter()
        .filter(|m| !m.to.iter().any(|t| t.ends_with("@smartstock.cloud")))
        .count()
}

#[test]
fn a_week_at_the_desk_reads_as_one_conversation_per_ticket() {
    let d = Desk::new("desk-week");
    // Monday: Jan reports in Polish.
    d.receive(
        "Mon, 23 Nov 2026 10:00:00 +0100",
        &format!(
            "From: Jan Kowalski <{JAN}>\nTo: support@smartstock.cloud\nSubject: Eksport faktur nie działa\n\
             Message-ID: <jan-1@acme.example>\nDate: Mon, 23 Nov 2026 10:00:00 +0100\n\
             Content-Type: text/plain; charset=utf-8\n\n\
             Dzień dobry,\nod dzisiaj rana eksport faktur kończy się błędem \"HTTP 503\".\nPozdrawiam, Jan\n"
        ),
    );
    d.run("2026-11-23T09:00:30Z");
    assert_eq!(customer_mails(&d), 1, "the acknowledgement");
    // His colleague Ewa adds a detail: she joins, Jan is told.
    d.receive(
        "Mon, 23 Nov 2026 10:30:00 +0100",
        &format!(
            "From: Ewa Lis <{EWA}>\nTo: support@smartstock.cloud\nSubject: Re: [SS-1] Eksport faktur nie działa\n\
             Message-ID: <ewa-1@acme.example>\nIn-Reply-To: <jan-1@acme.example>\nReferences: <jan-1@acme.example>\n\
             Date: Mon, 23 Nov 2026 10:30:00 +0100\nContent-Type: text/plain; charset=utf-8\n\n\
             U mnie to samo od 8:15, zrzut ekranu w załączeniu wkrótce.\n"
        ),
    );
    d.run("2026-11-23T09:30:30Z");
    assert_eq!(customer_mails(&d), 1, "the participant-added notice to Jan");

    // Anna forwards a customer's mail from her own mailbox, and opens a
    // ticket for a phone call.
    d.receive(
        "Mon, 23 Nov 2026 11:00:00 +0100",
        &format!(
            "From: Anna Nowak <{ANNA}>\nTo: support@smartstock.cloud\nSubject: Fwd: Scanner offline\n\
             Message-ID: <anna-fwd@smartstock.cloud>\nDate: Mon, 23 Nov 2026 11:00:00 +0100\n\n\
             Please take this one.\n\n-------- Forwarded Message --------\nSubject: \tScanner offline\n\
             Date: \tMon, 23 Nov 2026 10:40:00 +0100\nFrom: \tPiotr Zieliński <piotr@beta.example>\n\
             To: \tanna@smartstock.cloud\n\nSince 10:00 the scanner in warehouse 3 is offline.\n"
        ),
    );
    d.receive(
        "Mon, 23 Nov 2026 11:05:00 +0100",
        &format!(
            "From: Anna Nowak <{ANNA}>\nTo: support@smartstock.cloud\nSubject: Label printer prints blank labels\n\
             Message-ID: <anna-open@smartstock.cloud>\nDate: Mon, 23 Nov 2026 11:05:00 +0100\n\n\
             #open zofia@gamma.example Zofia Wrona\nZofia called at 11:00: the label printer prints blank labels.\n"
        ),
    );
    d.run("2026-11-23T10:05:30Z");
    let opened = d.new_mails();
    let acks: Vec<_> = opened
        .iter()
        .filter(|m| m.template == "acknowledgement")
        .collect();
    assert_eq!(
        acks.iter().map(|m| m.to[0].as_str()).collect::<Vec<_>>(),
        ["piotr@beta.example", "zofia@gamma.example"]
    );
    for r in ["SS-2", "SS-3"] {
        assert_eq!(d.ticket(r)["owner"], ANNA, "{r} is Anna's");
    }

    // A note: nothing reaches the customer.
    d.consultant(
        "Mon, 23 Nov 2026 12:00:00 +0100",
        ANNA,
        "SS-1",
        "#note The reporting replica is down since 08:00",
    );
    d.run("2026-11-23T11:00:30Z");
    assert_eq!(customer_mails(&d), 0, "a note stays inside");

    // Acceptance, a severity change and words: one customer mail.
    d.consultant(
        "Mon, 23 Nov 2026 13:00:00 +0100",
        ANNA,
        "SS-1",
        "#accept\n#severity 1\nDzień dobry,\nsprawdzamy serwer eksportu.\n\nAnna Nowak",
    );
    d.run("2026-11-23T12:00:30Z");
    let m = d.new_mails();
    let to_customer = sent_to(&m, JAN);
    assert_eq!(to_customer.len(), 1, "{m:?}");
    let text = &to_customer[0].text;
    assert!(
        text.contains("Zgłoszenie SS-1 zostało przyjęte do realizacji. Zajmuje się nim"),
        "{text}"
    );
    assert!(
        text.contains("Priorytet zgłoszenia SS-1 to teraz 1"),
        "{text}"
    );
    assert!(text.contains("sprawdzamy serwer eksportu"), "{text}");
    assert_eq!(
        text.matches("Anna Nowak").count(),
        1,
        "her own signature, once: {text}"
    );
    assert!(
        !text.contains("Smartstock Support"),
        "signed once, by Anna: {text}"
    );

    // #needinfo with her question: one mail; Jan answers.
    d.consultant(
        "Tue, 24 Nov 2026 09:30:00 +0100",
        ANNA,
        "SS-1",
        "#needinfo\nKtórego magazynu dotyczy eksport?",
    );
    d.run("2026-11-24T08:30:30Z");
    assert_eq!(customer_mails(&d), 1);
    d.receive(
        "Tue, 24 Nov 2026 10:00:00 +0100",
        &format!(
            "From: Jan Kowalski <{JAN}>\nTo: support@smartstock.cloud\nSubject: Re: [SS-1] Eksport faktur nie działa\n\
             Message-ID: <jan-2@acme.example>\nIn-Reply-To: <jan-1@acme.example>\nDate: Tue, 24 Nov 2026 10:00:00 +0100\n\
             Content-Type: text/plain; charset=utf-8\n\nMagazyn w Gdańsku.\n"
        ),
    );
    d.run("2026-11-24T09:00:30Z");
    let n = d.new_mails();
    let notice = sent_to_only(&n, ANNA).expect("Anna hears of it");
    assert!(notice.text.contains("Magazyn w Gdańsku"), "{}", notice.text);
    assert!(
        notice
            .text
            .contains("The reporting replica is down since 08:00"),
        "the note goes with the next notification: {}",
        notice.text
    );
    assert!(
        !notice.text.contains("Missing:"),
        "the report's items matter only before acceptance: {}",
        notice.text
    );
    assert!(
        !notice.text.contains("working time left"),
        "accepted: no clock: {}",
        notice.text
    );

    // #resolved: the customer is asked to confirm; his thanks tells Anna
    // plainly; #close tells the customer.
    d.consultant(
        "Wed, 25 Nov 2026 10:00:00 +0100",
        ANNA,
        "SS-1",
        "#resolved\nNaprawiliśmy replikę, proszę sprawdzić eksport.",
    );
    d.run("2026-11-25T09:00:30Z");
    let r = d.new_mails();
    let resolved = r.iter().find(|m| m.to.contains(&JAN.to_string())).unwrap();
    assert!(
        resolved.text.contains("Prosimy o potwierdzenie"),
        "{}",
        resolved.text
    );
    assert!(
        resolved.text.contains("zamknięte jako rozwiązane"),
        "{}",
        resolved.text
    );
    d.receive(
        "Wed, 25 Nov 2026 11:00:00 +0100",
        &format!(
            "From: Jan Kowalski <{JAN}>\nTo: support@smartstock.cloud\nSubject: Re: [SS-1] Eksport faktur nie działa\n\
             Message-ID: <jan-3@acme.example>\nIn-Reply-To: <jan-1@acme.example>\nDate: Wed, 25 Nov 2026 11:00:00 +0100\n\
             Content-Type: text/plain; charset=utf-8\n\nDziękuję, działa!\n"
        ),
    );
    d.run("2026-11-25T10:00:30Z");
    let t = d.new_mails();
    let told = sent_to_only(&t, ANNA).unwrap();
    assert!(
        told.text
            .contains("The customer answered your proposed solution: reply #close"),
        "{}",
        told.text
    );
    d.consultant("Wed, 25 Nov 2026 11:30:00 +0100", ANNA, "SS-1", "#close");
    d.run("2026-11-25T10:30:30Z");
    let c = d.new_mails();
    let closed = sent_to(&c, JAN);
    assert_eq!(closed.len(), 1);
    assert!(
        closed[0].text.contains("Zgłoszenie SS-1 zostało zamknięte"),
        "{}",
        closed[0].text
    );
    // Friday: the problem is back; the ticket reopens, Anna is told.
    d.receive(
        "Fri, 27 Nov 2026 09:00:00 +0100",
        &format!(
            "From: Jan Kowalski <{JAN}>\nTo: support@smartstock.cloud\nSubject: Re: [SS-1] Eksport faktur nie działa\n\
             Message-ID: <jan-4@acme.example>\nIn-Reply-To: <jan-1@acme.example>\nDate: Fri, 27 Nov 2026 09:00:00 +0100\n\
             Content-Type: text/plain; charset=utf-8\n\nZnowu błąd 503.\n"
        ),
    );
    d.run("2026-11-27T08:00:30Z");
    assert_eq!(d.ticket("SS-1")["state"], "open");

    // Jan's mailbox, with what he sent: one thread per ticket.
    let all = outbox_mails(&d);
    let jans: Vec<&Seen> = all
        .iter()
        .filter(|m| m.to.contains(&JAN.to_string()))
        .collect();
    let sent: Vec<(&str, &[&str])> = vec![
        ("jan-1@acme.example", &[]),
        ("jan-2@acme.example", &["jan-1@acme.example"]),
        ("jan-3@acme.example", &["jan-1@acme.example"]),
        ("jan-4@acme.example", &["jan-1@acme.example"]),
    ];
    let jan_threads = threads(&jans, &sent);
    assert_eq!(
        jan_threads.len(),
        1,
        "Jan sees one conversation: {jan_threads:?}"
    );
    assert_eq!(
        jans.len(),
        6,
        "ack, participant notice, reply, needinfo, resolved, closure"
    );
    for m in &jans {
        assert_eq!(reference_in(&m.subject), "SS-1");
        assert_eq!(m.subject, "Re: [SS-1] Eksport faktur nie działa");
        assert!(
            !m.text.contains("replica is down"),
            "no note text: {}",
            m.text
        );
    }
    // Anna's mailbox: her mails of each ticket are one thread each.
    let annas: Vec<&Seen> = all.iter().filter(|m| m.to == [ANNA]).collect();
    for (r, mails) in &by_ticket(annas.iter().copied()) {
        assert_eq!(threads(mails, &[]).len(), 1, "{r}: one thread for Anna");
    }
    // Every original reaches consultants inline.
    let originals: Vec<_> = annas.iter().filter_map(|m| m.rfc822_inline).collect();
    assert!(!originals.is_empty());
    assert!(originals.iter().all(|inline| *inline), "{originals:?}");

    // What tickets show prints.
    let show = d.supportd(&["tickets", "show", "SS-1"]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    for expected in [
        "owner        anna@smartstock.cloud",
        "participants ewa@acme.example",
        "note by anna@smartstock.cloud",
        "The reporting replica is down since 08:00",
        "Magazyn w Gdańsku.",
        "Naprawiliśmy replikę",
        "conversation (times: Warsaw time)",
    ] {
        assert!(
            show.stdout.contains(expected),
            "{expected:?} in:\n{}",
            show.stdout
        );
    }
    let mine = d.supportd(&["tickets", "list", "--owner", ANNA, "--json"]);
    let refs: Vec<String> = serde_json::from_str::<serde_json::Value>(&mine.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["ref"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(refs, ["SS-1", "SS-2", "SS-3"]);
    let found = d.supportd(&["tickets", "list", "--search", "gdańsku", "--json"]);
    assert!(
        found.stdout.contains("\"SS-1\"") && !found.stdout.contains("\"SS-2\""),
        "{}",
        found.stdout
    );
}

/// The same desk over real Dovecot and Postfix: customers and consultants
/// write from their mailboxes, supportd reads over IMAP and sends over SMTP,
/// and what each mailbox holds is read back over IMAP as a client reads it.
#[test]
fn a_day_at_the_desk_over_real_mail_servers() {
    use crate::mailserver::{CONSULTANTS, CUSTOMERS, MailServer, SUPPORT, supportd};
    use std::time::{Duration, Instant};
    const WAIT: Duration = Duration::from_secs(30);
    let (jan, ewa, anna) = (CUSTOMERS[0], CUSTOMERS[1], CONSULTANTS[0]);
    let ms = MailServer::start();
    let dir = crate::util::TempDir::new("desk-real");
    dir.write("config.toml", &ms.supportd_config("implicit", "plain"));
    let once = || {
        let (code, out, err) = supportd(&dir.0, &["run", "--once"]);
        assert_eq!(code, 0, "{err}");
        out
    };
    let show = |r: &str| -> serde_json::Value {
        let (_, out, _) = supportd(&dir.0, &["tickets", "show", r, "--json"]);
        serde_json::from_str(&out).unwrap_or_default()
    };
    // Runs passes until `check` holds (mail travels through Postfix first).
    let until = |what: &str, check: &dyn Fn() -> bool| {
        let deadline = Instant::now() + WAIT;
        loop {
            once();
            if check() {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let mail = |from: &str, to: &str, subject: &str, id: &str, extra: &str, body: &str| {
        format!(
            "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n{extra}\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\r\n",
            body.replace('\n', "\r\n")
        )
        .into_bytes()
    };
    let events = |r: &str| show(r)["events"].as_array().map_or(0, Vec::len);

    // Jan reports in Polish; Ewa, his colleague, adds to it.
    ms.send(
        jan,
        &[SUPPORT],
        &mail(
            jan,
            SUPPORT,
            "Eksport faktur nie działa",
            "jan-1@acme.test",
            "",
            "Dzień dobry,\nod rana eksport faktur kończy się błędem \"HTTP 503\".\nPozdrawiam, Jan",
        ),
    );
    until("SS-1 opens", &|| show("SS-1")["ref"] == "SS-1");
    ms.send(
        ewa,
        &[SUPPORT],
        &mail(
            ewa,
            SUPPORT,
            "Re: [SS-1] Eksport faktur nie działa",
            "ewa-1@acme.test",
            "In-Reply-To: <jan-1@acme.test>\r\nReferences: <jan-1@acme.test>\r\n",
            "U mnie to samo od 8:15.",
        ),
    );
    until("Ewa joins", &|| {
        show("SS-1")["participants"]
            .as_array()
            .is_some_and(|p| p.len() == 2)
    });

    // Anna forwards Ewa's other problem from her own mailbox, and opens one
    // for Ewa's phone call.
    ms.send(anna, &[SUPPORT], &mail(anna, SUPPORT, "Fwd: Scanner offline", "anna-fwd@smartstock.test", "",
        &format!("Please take this one.\n\n---------- Forwarded message ---------\nFrom: Ewa <{ewa}>\n\
                  Date: Mon, 23 Nov 2026 at 10:40\nSubject: Scanner offline\nTo: Anna <{anna}>\n\n\
                  Since 10:00 the scanner in warehouse 3 is offline.")));
    until("SS-2 opens for Ewa", &|| show("SS-2")["requester"] == ewa);
    ms.send(
        anna,
        &[SUPPORT],
        &mail(
            anna,
            SUPPORT,
            "Label printer prints blank labels",
            "anna-open@smartstock.test",
            "",
            &format!("#open {ewa} Ewa\nEwa called: the label printer prints blank labels."),
        ),
    );
    until("SS-3 opens for Ewa", &|| show("SS-3")["requester"] == ewa);
    assert_eq!(show("SS-2")["owner"], anna);

    // Anna works SS-1 by replying to her notification (its Reply-To).
    let key = supportd::store::Store::open(&dir.0.join("var/supportd.db"))
        .unwrap()
        .token_key(None)
        .unwrap();
    let mac = supportd::mail::token::consultant_mac(&key, "SS-1", anna);
    let token = format!("support+SS-1.{mac}@smartstock.test");
    let mut n = 0;
    let mut reply = |body: &str| {
        n += 1;
        let before = events("SS-1");
        ms.send(
            anna,
            &[&token],
            &mail(
                anna,
                &token,
                "Re: [SS-1] Eksport faktur nie działa",
                &format!("anna-{n}@smartstock.test"),
                "",
                body,
            ),
        );
        until("the reply is applied", &|| events("SS-1") > before);
    };
    reply("#note The reporting replica is down since 08:00");
    reply("#accept\n#severity 2\nDzień dobry,\nsprawdzamy serwer eksportu.\n\nAnna");
    reply("#needinfo\nKtórego magazynu dotyczy eksport?");
    let answer = |id: &str, body: &str| {
        let before = events("SS-1");
        ms.send(
            jan,
            &[SUPPORT],
            &mail(
                jan,
                SUPPORT,
                "Re: [SS-1] Eksport faktur nie działa",
                id,
                "In-Reply-To: <jan-1@acme.test>\r\nReferences: <jan-1@acme.test>\r\n",
                body,
            ),
        );
        until("the answer is applied", &|| events("SS-1") > before);
    };
    answer("jan-2@acme.test", "Magazyn w Gdańsku.");
    reply("#resolved\nNaprawiliśmy replikę, proszę sprawdzić eksport.");
    answer("jan-3@acme.test", "Dziękuję, działa!");
    reply("#close");
    assert_eq!(show("SS-1")["state"], "closed");
    // Friday the problem is back: his reply reopens SS-1, still Anna's.
    answer("jan-4@acme.test", "Znowu błąd 503.");
    assert_eq!(
        (
            show("SS-1")["state"].as_str(),
            show("SS-1")["owner"].as_str()
        ),
        (Some("open"), Some(anna))
    );

    // Jan: ack, participant notice, Anna's reply, her question, the
    // proposed solution, the closure; Ewa: Anna's words to both, and the
    // acknowledgements of her two tickets.
    assert_eq!(ms.wait_count(jan, "INBOX", 6, WAIT), 6);
    assert_eq!(ms.wait_count(ewa, "INBOX", 5, WAIT), 5);
    let jans: Vec<Seen> = ms.messages(jan, "INBOX").iter().map(|r| seen(r)).collect();
    let refs: Vec<&Seen> = jans.iter().collect();
    let sent: Vec<(&str, &[&str])> = vec![
        ("jan-1@acme.test", &[]),
        ("jan-2@acme.test", &["jan-1@acme.test"]),
        ("jan-3@acme.test", &["jan-1@acme.test"]),
        ("jan-4@acme.test", &["jan-1@acme.test"]),
    ];
    assert_eq!(threads(&refs, &sent).len(), 1, "one conversation for Jan");
    for m in &jans {
        assert_eq!(m.subject, "Re: [SS-1] Eksport faktur nie działa");
        assert!(
            !m.text.contains("replica is down"),
            "no note text: {}",
            m.text
        );
    }
    let texts: String = jans.iter().map(|m| m.text.as_str()).collect();
    assert!(texts.contains("Zajmuje się nim"), "{texts}");
    assert!(
        texts.contains("Zgłoszenie SS-1 zostało zamknięte"),
        "{texts}"
    );
    // Ewa: a thread per ticket.
    let ewas: Vec<Seen> = ms.messages(ewa, "INBOX").iter().map(|r| seen(r)).collect();
    let per_ticket = by_ticket(ewas.iter());
    assert_eq!(
        per_ticket.keys().cloned().collect::<Vec<_>>(),
        ["SS-1", "SS-2", "SS-3"]
    );
    let all: Vec<&Seen> = ewas.iter().collect();
    assert_eq!(threads(&all, &[]).len(), 3, "Ewa sees three conversations");
    // Her forwarded report was in English: so is its acknowledgement.
    assert!(
        per_ticket["SS-2"]
            .iter()
            .any(|m| m.text.contains("thank you for your report")),
        "{:?}",
        per_ticket["SS-2"]
    );
    // Anna's notifications carry the originals inline, in one thread per
    // ticket; the note reached her with Jan's answer.
    let annas: Vec<Seen> = ms.messages(anna, "INBOX").iter().map(|r| seen(r)).collect();
    let originals: Vec<bool> = annas.iter().filter_map(|m| m.rfc822_inline).collect();
    assert!(
        !originals.is_empty() && originals.iter().all(|i| *i),
        "{originals:?}"
    );
    assert!(
        annas
            .iter()
            .any(|m| m.text.contains("The reporting replica is down since 08:00"))
    );
    for (r, mails) in &by_ticket(annas.iter()) {
        assert_eq!(threads(mails, &[]).len(), 1, "{r}: one thread for Anna");
    }
    assert!(
        annas
            .iter()
            .any(|m| m.text.contains("wrote again after SS-1 was closed")),
        "Anna hears of the reopen"
    );
    // What `tickets show` prints of the day.
    let (code, out, err) = supportd(&dir.0, &["tickets", "show", "SS-1"]);
    assert_eq!(code, 0, "{err}");
    for expected in [
        "owner        consultant1@smartstock.test",
        "participants customer2@acme.test",
        "note by consultant1@smartstock.test",
        "Magazyn w Gdańsku.",
        "Znowu błąd 503.",
        "conversation (times: Warsaw time)",
    ] {
        assert!(out.contains(expected), "{expected:?} in:\n{out}");
    }
}
