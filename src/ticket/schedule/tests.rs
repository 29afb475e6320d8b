//! Tables of due steps against ticket states, on the contract calendar
//! (Warsaw is UTC+1 in these winter weeks: working hours 08:00-16:00 UTC).

use std::collections::BTreeSet;

use super::*;
use crate::lang::Lang;
use crate::sla::Severity;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

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
        deadline_at: at("2026-11-26T09:00:00Z"),
        accepted_at: (state != State::New).then(|| at("2026-11-23T10:00:00Z")),
        owner: (state != State::New).then(|| "anna@smartstock.cloud".to_string()),
        fields_found: BTreeSet::new(),
        spam: false,
        unreachable: false,
        breached: false,
        followups_sent: 0,
        silence_since: matches!(state, State::Waiting | State::Resolved)
            .then(|| at("2026-11-24T09:00:00Z")),
        closed_at: None,
        thread_root: None,
    }
}

fn rules(cal: &Calendar) -> Rules<'_> {
    Rules {
        calendar: cal,
        attempt_gap_secs: 3 * 8 * 3600,
    }
}

fn mails(o: &Outcome) -> Vec<(&'static str, To)> {
    match o {
        Outcome::Fired { effects, .. } => effects
            .iter()
            .filter_map(|e| match e {
                Effect::Mail { template, to, .. } => Some((*template, to.clone())),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn next(o: &Outcome) -> Vec<(Step, DateTime<Utc>)> {
    match o {
        Outcome::Fired { next, .. } => next.clone(),
        _ => Vec::new(),
    }
}

#[test]
fn codes_round_trip() {
    for s in [
        Step::Reminder(1),
        Step::Reminder(3),
        Step::Breach,
        Step::MissingInfo,
        Step::FollowUp(1),
        Step::FollowUp(2),
        Step::Close,
        Step::FollowUpFailed,
    ] {
        assert_eq!(Step::parse(&s.code()), Some(s));
    }
    for bad in ["reminder-0", "followup-3", "reminder-x", "", "escalate"] {
        assert_eq!(Step::parse(bad), None, "{bad}");
    }
}

#[test]
fn response_clock_steps_fire_only_while_new() {
    let cal = Calendar::contract();
    let now = at("2026-11-24T12:00:00Z");
    // (step, state, breached before, mails, breached after)
    type Row<'a> = (Step, State, bool, &'a [(&'a str, To)], bool);
    let table: &[Row<'_>] = &[
        (
            Step::Reminder(1),
            State::New,
            false,
            &[(template::REMINDER, To::Consultants)],
            false,
        ),
        (Step::Reminder(2), State::Open, false, &[], false),
        (
            Step::Breach,
            State::New,
            false,
            &[(template::ESCALATION, To::Escalation)],
            true,
        ),
        // Once per breach.
        (Step::Breach, State::New, true, &[], true),
        (Step::Breach, State::Waiting, false, &[], false),
    ];
    for (step, state, breached, expected, after) in table {
        let mut t = ticket(*state);
        t.breached = *breached;
        let o = fire(&mut t, *step, now, &Attempt::Unknown, &rules(&cal));
        assert_eq!(mails(&o), expected.to_vec(), "{step:?} {state}");
        if expected.is_empty() {
            assert_eq!(o, Outcome::Void, "{step:?} {state}");
        }
        assert_eq!(t.breached, *after, "{step:?} {state}");
    }
}

#[test]
fn missing_information_reminder() {
    let cal = Calendar::contract();
    let day = at("2026-11-25T09:00:00Z");
    let all_but_subject: BTreeSet<String> = [
        "occurrence_time",
        "diagnosis_steps",
        "description",
        "screenshots",
    ]
    .map(String::from)
    .into();
    // (state, fields found, now, outcome is a mail / later / void)
    let table: Vec<(State, BTreeSet<String>, DateTime<Utc>, &str)> = vec![
        (State::New, BTreeSet::new(), day, "mail"),
        // Only the subject missing: never reminded.
        (State::New, all_but_subject.clone(), day, "void"),
        // A consultant acted (accepted): no reminder.
        (State::Open, BTreeSet::new(), day, "void"),
        // Saturday night: waits for Monday's opening.
        (
            State::New,
            BTreeSet::new(),
            at("2026-11-28T22:00:00Z"),
            "later 2026-11-30T08:00:00Z",
        ),
    ];
    for (state, found, now, expected) in table {
        let mut t = ticket(state);
        t.fields_found = found;
        let o = fire(
            &mut t,
            Step::MissingInfo,
            now,
            &Attempt::Unknown,
            &rules(&cal),
        );
        let got = match &o {
            Outcome::Fired { effects, .. } => {
                assert_eq!(
                    mails(&o),
                    [(template::MISSING_INFO, To::Participants)],
                    "{effects:?}"
                );
                assert!(
                    effects.iter().any(|e| matches!(e, Effect::Event(Event::MissingInfoReminder, Some(d)) if !d.contains("subject"))),
                    "{effects:?}"
                );
                "mail".to_string()
            }
            Outcome::Later(at) => format!("later {}", crate::sla::format_utc(*at)),
            Outcome::Void => "void".to_string(),
        };
        assert_eq!(got, expected, "{state} at {now}");
    }
}

#[test]
fn the_silence_chain() {
    let cal = Calendar::contract();
    let r = rules(&cal);
    // Follow-up 1 on Tuesday 8 Dec 10:00 Warsaw: follow-up 2 is due three
    // working days later, Friday 11 Dec 10:00.
    let mut t = ticket(State::Waiting);
    let o = fire(
        &mut t,
        Step::FollowUp(1),
        at("2026-12-08T09:00:00Z"),
        &Attempt::Unknown,
        &r,
    );
    assert_eq!(mails(&o), [(template::FOLLOWUP_1, To::Participants)]);
    assert_eq!(next(&o), [(Step::FollowUp(2), at("2026-12-11T09:00:00Z"))]);
    assert_eq!(t.followups_sent, 1);

    // (step, follow-ups sent before, what the outbox knows, now, expected)
    let fri = at("2026-12-11T09:00:00Z");
    let table: Vec<(Step, u8, Attempt, DateTime<Utc>, &str)> = vec![
        // Follow-up 1 went out a minute late: follow-up 2 waits for it.
        (
            Step::FollowUp(2),
            1,
            Attempt::Sent(at("2026-12-08T09:01:00Z")),
            fri,
            "later 2026-12-11T09:01:00Z",
        ),
        (
            Step::FollowUp(2),
            1,
            Attempt::Sent(at("2026-12-08T09:00:00Z")),
            fri,
            "followup-2 next close 2026-12-16T09:00:00Z",
        ),
        // Still in the outbox (our server down): look again later.
        (
            Step::FollowUp(2),
            1,
            Attempt::Pending,
            fri,
            "later 2026-12-11T09:10:00Z",
        ),
        // Bounced: unreachable, the owner told, no further step.
        (
            Step::FollowUp(2),
            1,
            Attempt::Failed("550 5.1.1 unknown user".into()),
            fri,
            "customer-unreachable",
        ),
        (
            Step::Close,
            2,
            Attempt::Sent(at("2026-12-11T09:00:00Z")),
            at("2026-12-16T09:00:00Z"),
            "closure closure-notice closed",
        ),
        (
            Step::Close,
            2,
            Attempt::Failed("bounced".into()),
            at("2026-12-16T09:00:00Z"),
            "customer-unreachable",
        ),
        (
            Step::FollowUpFailed,
            1,
            Attempt::Failed("bounced".into()),
            fri,
            "customer-unreachable",
        ),
        (Step::FollowUpFailed, 1, Attempt::Sent(fri), fri, "void"),
        // A step out of order (a stale timer) does nothing.
        (Step::FollowUp(1), 1, Attempt::Unknown, fri, "void"),
        (Step::Close, 1, Attempt::Unknown, fri, "void"),
        // Sunday: the mail waits for Monday's opening.
        (
            Step::FollowUp(2),
            1,
            Attempt::Sent(at("2026-12-08T09:00:00Z")),
            at("2026-12-13T10:00:00Z"),
            "later 2026-12-14T08:00:00Z",
        ),
    ];
    for (step, sent, attempt, now, expected) in table {
        let mut t = ticket(State::Waiting);
        t.followups_sent = sent;
        let o = fire(&mut t, step, now, &attempt, &r);
        let got = match &o {
            Outcome::Fired { .. } => {
                let mut words: Vec<String> =
                    mails(&o).into_iter().map(|(m, _)| m.to_string()).collect();
                if let Some((s, at)) = next(&o).first() {
                    words.push(format!("next {} {}", s.code(), crate::sla::format_utc(*at)));
                }
                if t.state == State::Closed {
                    words.push("closed".into());
                }
                words.join(" ")
            }
            Outcome::Later(at) => format!("later {}", crate::sla::format_utc(*at)),
            Outcome::Void => "void".into(),
        };
        assert_eq!(
            got, expected,
            "{step:?} after {sent} with {attempt:?} at {now}"
        );
        if expected == "customer-unreachable" {
            assert!(t.unreachable);
            assert_eq!(
                t.state,
                State::Waiting,
                "stays waiting until a consultant acts"
            );
        }
    }
}

#[test]
fn the_chain_stops_when_the_ticket_moves_on() {
    let cal = Calendar::contract();
    let now = at("2026-12-08T09:00:00Z");
    for (state, unreachable) in [
        (State::Open, false),
        (State::Closed, false),
        (State::Waiting, true),
    ] {
        let mut t = ticket(state);
        t.unreachable = unreachable;
        if state != State::Waiting {
            t.silence_since = None;
        }
        let o = fire(
            &mut t,
            Step::FollowUp(1),
            now,
            &Attempt::Unknown,
            &rules(&cal),
        );
        assert_eq!(o, Outcome::Void, "{state} unreachable={unreachable}");
    }
    // Resolved runs the same chain.
    let mut t = ticket(State::Resolved);
    let o = fire(
        &mut t,
        Step::FollowUp(1),
        now,
        &Attempt::Unknown,
        &rules(&cal),
    );
    assert_eq!(mails(&o), [(template::FOLLOWUP_1, To::Participants)]);
}

#[test]
fn gaps_skip_holidays() {
    // Follow-up 1 on Wednesday 23 Dec 2026 10:00 Warsaw: 24-27 Dec are
    // closed (Christmas Eve from 2025, Christmas, weekend), so three working
    // days end on Wednesday 30 Dec 10:00.
    let cal = Calendar::contract();
    assert_eq!(
        after_gap(&rules(&cal), at("2026-12-23T09:00:00Z")),
        at("2026-12-30T09:00:00Z")
    );
    // A gap ending exactly at closing time goes out at the next opening.
    assert_eq!(
        after_gap(&rules(&cal), at("2026-11-23T08:00:00Z")),
        at("2026-11-26T08:00:00Z")
    );
}

#[test]
fn catch_up_fires_only_the_latest_response_step() {
    let t = |h: u32| at(&format!("2026-11-2{h}T10:00:00Z"));
    // (due, fired, skipped)
    type Due = Vec<(Step, DateTime<Utc>)>;
    let table: Vec<(Due, Vec<Step>, Vec<Step>)> = vec![
        (
            vec![
                (Step::Reminder(1), t(3)),
                (Step::Reminder(2), t(4)),
                (Step::Breach, t(5)),
            ],
            vec![Step::Breach],
            vec![Step::Reminder(1), Step::Reminder(2)],
        ),
        (
            vec![(Step::Reminder(2), t(4)), (Step::Reminder(1), t(3))],
            vec![Step::Reminder(2)],
            vec![Step::Reminder(1)],
        ),
        (
            vec![(Step::Reminder(1), t(3)), (Step::MissingInfo, t(4))],
            vec![Step::Reminder(1), Step::MissingInfo],
            vec![],
        ),
        (
            vec![(Step::FollowUp(1), t(3))],
            vec![Step::FollowUp(1)],
            vec![],
        ),
    ];
    for (due, fired, skipped) in table {
        assert_eq!(catch_up(&due), (fired, skipped), "{due:?}");
    }
}

#[test]
fn a_contact_attempt_counts_when_the_requester_was_reached() {
    let sent = Some(at("2026-12-08T09:00:00Z"));
    let both = [
        "jan@acme.example".to_string(),
        "ewa@acme.example".to_string(),
    ];
    let jan = "jan@acme.example";
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    // (state, sent at, bounced to, expected)
    type Row<'a> = (&'a str, Option<DateTime<Utc>>, Vec<String>, &'a str);
    let table: Vec<Row<'_>> = vec![
        ("pending", None, s(&[]), "pending"),
        ("sent", sent, s(&[]), "sent"),
        // Our server refused one recipient: the others got it.
        ("sent", sent, s(&["ewa@acme.example"]), "sent"),
        ("sent", sent, s(&["jan@acme.example"]), "failed"),
        // A delivery report for the colleague only.
        ("failed", sent, s(&["ewa@acme.example"]), "sent"),
        ("failed", sent, s(&["jan@acme.example"]), "failed"),
        // A report naming an address we never sent to (an alias).
        (
            "failed",
            sent,
            s(&["j.kowalski@internal.example"]),
            "failed",
        ),
        // A report naming nobody, or a refusal before sending.
        ("failed", sent, s(&[]), "failed"),
        ("failed", None, s(&[]), "failed"),
        ("held", None, s(&[]), "unknown"),
    ];
    for (state, sent_at, bounced, expected) in table {
        let got = match attempt_of(state, sent_at, &both, &bounced, Some("550".into()), jan) {
            Attempt::Pending => "pending",
            Attempt::Sent(_) => "sent",
            Attempt::Failed(_) => "failed",
            Attempt::Unknown => "unknown",
        };
        assert_eq!(got, expected, "{state} {bounced:?}");
    }
}
