//! Who is on a ticket: the requester, colleagues who write, people the
//! customer copies, and `#remove` by a consultant. Played on the embedded
//! desk ([`Desk`]): Maildir in, .eml files out.

use crate::scheduler::{Desk, FULL_REPORT};

fn participants(d: &Desk) -> Vec<String> {
    d.ticket("SS-1")["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect()
}

/// Jan's report, acknowledged; consultant Anna answers with text.
fn opened(name: &str, requester: &str) -> Desk {
    let d = Desk::new(name);
    d.receive(
        "Mon, 23 Nov 2026 10:00:00 +0100",
        &format!(
            "From: Jan <{requester}>\nTo: support@smartstock.cloud\nSubject: Stock report shows zero\n\
             Message-ID: <p-1@customer.example>\n\n{FULL_REPORT}\n"
        ),
    );
    d.run("2026-11-23T09:00:05Z");
    d.new_mails();
    d
}

/// A customer's reply on SS-1 with `cc`.
fn reply_with_cc(d: &Desk, from: &str, cc: &str, id: &str) {
    d.receive(
        "Mon, 23 Nov 2026 11:00:00 +0100",
        &format!(
            "From: {from}\nTo: support@smartstock.cloud\nCc: {cc}\nSubject: Re: [SS-1] Stock report shows zero\n\
             Message-ID: <{id}@customer.example>\nIn-Reply-To: <p-1@customer.example>\n\n\
             Adding my colleague who runs the warehouse.\n"
        ),
    );
    d.run("2026-11-23T10:00:05Z");
}

#[test]
fn a_copied_colleague_joins_the_requester_is_told_and_a_consultant_can_remove_them() {
    let d = opened("part-join", "jan@acme.example");
    reply_with_cc(&d, "jan@acme.example", "Ewa <ewa@acme.example>", "r-1");
    assert_eq!(participants(&d), ["ewa@acme.example", "jan@acme.example"]);
    let told = d.new_mails();
    let notice = told
        .iter()
        .find(|m| m.template == "participant-added")
        .expect("the requester hears who joined");
    assert_eq!(notice.to, ["jan@acme.example"]);
    assert!(notice.text.contains("ewa@acme.example"), "{}", notice.text);
    assert!(d.events("SS-1").contains(&"participant_added".to_string()));

    // The consultant's answer reaches both, the requester first.
    d.consultant(
        "Mon, 23 Nov 2026 12:00:00 +0100",
        "anna@smartstock.cloud",
        "SS-1",
        "#accept\nWe are on it.",
    );
    d.run("2026-11-23T11:00:05Z");
    let relay = d
        .new_mails()
        .into_iter()
        .find(|m| m.template == "consultant-reply");
    assert_eq!(relay.unwrap().to, ["jan@acme.example", "ewa@acme.example"]);

    // `#remove` takes Ewa off: the next answer goes to Jan alone, and she
    // stays off after a restart of the daemon (the store forgot her).
    d.consultant(
        "Mon, 23 Nov 2026 13:00:00 +0100",
        "anna@smartstock.cloud",
        "SS-1",
        "#remove ewa@acme.example\nThe fix is deployed; please check the report.",
    );
    d.run("2026-11-23T12:00:05Z");
    let relay = d
        .new_mails()
        .into_iter()
        .find(|m| m.template == "consultant-reply");
    assert_eq!(relay.unwrap().to, ["jan@acme.example"]);
    assert_eq!(participants(&d), ["jan@acme.example"]);
    let removed = &d.ticket("SS-1")["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["what"] == "participant_removed")
        .cloned()
        .unwrap();
    assert_eq!(removed["detail"], "ewa@acme.example");
}

#[test]
fn the_requester_cannot_be_removed_and_a_bad_address_is_reported_to_the_consultant() {
    let d = opened("part-remove-requester", "jan@acme.example");
    d.consultant(
        "Mon, 23 Nov 2026 12:00:00 +0100",
        "anna@smartstock.cloud",
        "SS-1",
        "#remove jan@acme.example\nAnswer text.",
    );
    d.run("2026-11-23T11:00:05Z");
    assert_eq!(participants(&d), ["jan@acme.example"]);
    assert!(
        !d.events("SS-1")
            .contains(&"participant_removed".to_string())
    );
    let relay = d
        .new_mails()
        .into_iter()
        .find(|m| m.template == "consultant-reply");
    assert_eq!(relay.unwrap().to, ["jan@acme.example"]);

    d.consultant(
        "Mon, 23 Nov 2026 13:00:00 +0100",
        "anna@smartstock.cloud",
        "SS-1",
        "#remove not-an-address\nAnswer text.",
    );
    d.run("2026-11-23T12:00:05Z");
    let mails = d.new_mails();
    assert_eq!(mails.len(), 1, "nothing reaches the customer");
    assert_eq!(mails[0].template, "command-error");
    assert_eq!(mails[0].to, ["anna@smartstock.cloud"]);
    assert!(
        mails[0]
            .text
            .contains("#remove not-an-address — #remove needs one address"),
        "{}",
        mails[0].text
    );
}

#[test]
fn people_at_a_free_mail_domain_are_not_colleagues() {
    // Two gmail users are strangers: the second writing on SS-1 opens a
    // linked ticket of their own instead of reading Jan's.
    let d = opened("part-free-mail", "jan.kowalski@gmail.com");
    d.receive(
        "Mon, 23 Nov 2026 11:00:00 +0100",
        "From: Eve <eve.stranger@gmail.com>\nTo: support@smartstock.cloud\n\
         Subject: Re: [SS-1] Stock report shows zero\nMessage-ID: <e-1@gmail.com>\n\n\
         Please send me the report too.\n",
    );
    d.run("2026-11-23T10:00:05Z");
    assert_eq!(participants(&d), ["jan.kowalski@gmail.com"]);
    assert!(d.ticket("SS-2")["requester"] == "eve.stranger@gmail.com");
}

#[test]
fn a_reply_copying_many_people_adds_at_most_the_participant_cap() {
    let d = opened("part-cap", "jan@acme.example");
    let cc: Vec<String> = (0..200).map(|i| format!("p{i}@acme.example")).collect();
    reply_with_cc(&d, "jan@acme.example", &cc.join(", "), "r-many");
    // [limits] max-participants defaults to 20, the requester included.
    assert_eq!(participants(&d).len(), 20);
    d.consultant(
        "Mon, 23 Nov 2026 12:00:00 +0100",
        "anna@smartstock.cloud",
        "SS-1",
        "#accept\nWe are on it.",
    );
    d.run("2026-11-23T11:00:05Z");
    let relay = d
        .new_mails()
        .into_iter()
        .filter(|m| m.template == "consultant-reply")
        .collect::<Vec<_>>();
    assert_eq!(relay.len(), 1, "one mail, not one per participant");
    assert_eq!(relay[0].to.len(), 20);
    assert_eq!(relay[0].to[0], "jan@acme.example");
}

#[test]
fn with_colleagues_none_a_coworker_writing_opens_a_ticket_of_their_own() {
    // Same domain, but the desk asked that only people put on a ticket join.
    let d = Desk::with_config("part-none", "[tickets]\ncolleagues = \"none\"\n");
    d.receive(
        "Mon, 23 Nov 2026 10:00:00 +0100",
        &format!(
            "From: Jan <jan@acme.example>\nTo: support@smartstock.cloud\nSubject: Stock report shows zero\n\
             Message-ID: <p-1@customer.example>\n\n{FULL_REPORT}\n"
        ),
    );
    d.run("2026-11-23T09:00:05Z");
    d.receive(
        "Mon, 23 Nov 2026 11:00:00 +0100",
        "From: Ewa <ewa@acme.example>\nTo: support@smartstock.cloud\n\
         Subject: Re: [SS-1] Stock report shows zero\nMessage-ID: <e-1@acme.example>\n\nSame here.\n",
    );
    d.run("2026-11-23T10:00:05Z");
    assert_eq!(participants(&d), ["jan@acme.example"]);
    assert_eq!(d.ticket("SS-2")["requester"], "ewa@acme.example");
    // Under the default, she would have joined SS-1.
    let d = opened("part-same-domain", "jan@acme.example");
    d.receive(
        "Mon, 23 Nov 2026 11:00:00 +0100",
        "From: Ewa <ewa@acme.example>\nTo: support@smartstock.cloud\n\
         Subject: Re: [SS-1] Stock report shows zero\nMessage-ID: <e-1@acme.example>\n\nSame here.\n",
    );
    d.run("2026-11-23T10:00:05Z");
    assert_eq!(participants(&d), ["ewa@acme.example", "jan@acme.example"]);
}
