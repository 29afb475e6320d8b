//! State × input tables for the lifecycle, and the routing rules.

use super::*;
use crate::mail::tags::Command;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn ticket(state: State) -> Ticket {
    let mut t = Ticket {
        number: 7,
        requester: "jan@acme.example".into(),
        participants: ["jan@acme.example".to_string()].into(),
        subject: "Export fails".into(),
        severity: Severity::Minor,
        state,
        language: Lang::Pl,
        received_at: at("2026-11-23T09:00:00Z"),
        deadline_at: at("2026-11-26T16:00:00Z"),
        accepted_at: None,
        owner: None,
        fields_found: BTreeSet::new(),
        spam: false,
        unreachable: false,
        breached: false,
        followups_sent: 0,
        silence_since: None,
        closed_at: None,
        thread_root: None,
    };
    if state != State::New {
        t.owner = Some("anna@smartstock.cloud".into());
        t.accepted_at = Some(at("2026-11-23T10:00:00Z"));
    }
    if state == State::Closed {
        t.closed_at = Some(at("2026-11-24T10:00:00Z"));
    }
    t
}

const CONSULTANTS: &[&str] = &["anna@smartstock.cloud", "piotr@smartstock.cloud"];

fn run(t: &mut Ticket, input: &Input<'_>) -> Vec<Effect> {
    let consultants: Vec<String> = CONSULTANTS.iter().map(|s| s.to_string()).collect();
    let deadline_for = |s: Severity| match s {
        Severity::Critical => at("2026-11-24T17:00:00Z"),
        _ => at("2026-12-01T16:00:00Z"),
    };
    apply(
        t,
        input,
        &Context {
            deadline_for: &deadline_for,
            consultants: &consultants,
            max_participants: 20,
            deliverable: &|a: &str| a.contains('@'),
        },
    )
}

fn cmd(name: &'static str, arg: Option<&str>) -> Command {
    let mail = match arg {
        Some(a) => format!("#{name} {a}\n"),
        None => format!("#{name}\n"),
    };
    let tags = crate::mail::tags::parse_tags(&mail);
    assert!(tags.errors.is_empty(), "{mail}: {:?}", tags.errors);
    tags.commands[0].clone()
}

fn has(fx: &[Effect], e: &Effect) -> bool {
    fx.contains(e)
}

fn relay(to: To) -> Effect {
    Effect::Relay { to }
}

fn mail(template: &'static str, to: To) -> Effect {
    Effect::Mail {
        template,
        to,
        automatic: true,
    }
}

#[test]
fn customer_message_in_every_state() {
    // (state, state after, relayed to, stops clocks)
    let table = [
        (State::New, State::New, To::Consultants, false),
        (State::Open, State::Open, To::Owner, false),
        (State::Waiting, State::Open, To::Owner, true),
        (State::Resolved, State::Open, To::Owner, true),
        (State::Closed, State::Open, To::Owner, false),
    ];
    for (state, after, to, stops) in table {
        let mut t = ticket(state);
        let fx = run(
            &mut t,
            &Input::Customer {
                from: "jan@acme.example",
                fields_present: &[],
                added: &[],
                may_add: true,
                at: at("2026-11-25T09:00:00Z"),
            },
        );
        assert_eq!(t.state, after, "{state}");
        assert!(has(&fx, &relay(to.clone())), "{state}: {fx:?}");
        assert_eq!(has(&fx, &Effect::StopClocks), stops, "{state}: {fx:?}");
        if state == State::Closed {
            assert!(has(&fx, &mail(template::REOPENED, To::Owner)), "{fx:?}");
            assert_eq!(
                t.owner.as_deref(),
                Some("anna@smartstock.cloud"),
                "same owner"
            );
        }
    }
}

#[test]
fn consultant_commands_in_every_state() {
    // (state, command, state after, accepted now)
    let table = [
        (State::New, "accept", State::Open, true),
        (State::New, "waiting", State::Waiting, true),
        (State::New, "needinfo", State::Waiting, true),
        (State::New, "resolved", State::Resolved, true),
        (State::New, "close", State::Closed, false),
        (State::New, "note", State::New, false),
        (State::New, "spam", State::Closed, false),
        (State::Open, "waiting", State::Waiting, false),
        (State::Open, "resolved", State::Resolved, false),
        (State::Open, "close", State::Closed, false),
        (State::Waiting, "reopen", State::Open, false),
        (State::Resolved, "close", State::Closed, false),
        (State::Closed, "reopen", State::Open, false),
    ];
    for (state, name, after, accepted) in table {
        let mut t = ticket(state);
        let fx = run(
            &mut t,
            &Input::Consultant {
                from: "anna@smartstock.cloud",
                commands: &[cmd(name, None)],
                text: "",
                added: &[],
                at: at("2026-11-25T09:00:00Z"),
            },
        );
        assert_eq!(t.state, after, "{state} #{name}");
        let acc = fx
            .iter()
            .any(|e| matches!(e, Effect::Event(Event::Accepted, _)));
        assert_eq!(acc, accepted, "{state} #{name}: {fx:?}");
        if accepted {
            assert_eq!(t.owner.as_deref(), Some("anna@smartstock.cloud"));
            assert_eq!(
                t.accepted_at,
                Some(at("2026-11-25T09:00:00Z")),
                "the mail's received instant"
            );
        }
        // Tags-only mails relay nothing; #note and #spam never reach the customer.
        assert!(
            !fx.iter().any(|e| matches!(e, Effect::Relay { .. })),
            "{state} #{name}: {fx:?}"
        );
        if matches!(name, "note" | "spam") {
            assert!(
                !fx.iter().any(|e| matches!(e, Effect::Mail { .. })),
                "{name}: {fx:?}"
            );
        }
    }
}

#[test]
fn plain_consultant_reply_accepts_and_relays() {
    let mut t = ticket(State::New);
    let fx = run(
        &mut t,
        &Input::Consultant {
            from: "piotr@smartstock.cloud",
            commands: &[],
            text: "Hello.",
            added: &[],
            at: at("2026-11-24T10:00:00Z"),
        },
    );
    assert_eq!(
        (t.state, t.owner.as_deref()),
        (State::Open, Some("piotr@smartstock.cloud"))
    );
    assert!(has(&fx, &relay(To::Participants)));
    // In waiting, a plain reply restarts the silence clock.
    let mut w = ticket(State::Waiting);
    let fx = run(
        &mut w,
        &Input::Consultant {
            from: "anna@smartstock.cloud",
            commands: &[],
            text: "Hello.",
            added: &[],
            at: at("2026-11-26T10:00:00Z"),
        },
    );
    assert_eq!(w.silence_since, Some(at("2026-11-26T10:00:00Z")));
    assert!(has(&fx, &Effect::StartSilenceClock) && has(&fx, &relay(To::Participants)));
}

#[test]
fn second_accept_transfers_ownership() {
    let mut t = ticket(State::Open);
    let fx = run(
        &mut t,
        &Input::Consultant {
            from: "piotr@smartstock.cloud",
            commands: &[cmd("accept", None)],
            text: "",
            added: &[],
            at: at("2026-11-25T09:00:00Z"),
        },
    );
    assert_eq!(t.owner.as_deref(), Some("piotr@smartstock.cloud"));
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Event(Event::OwnerChanged, _)))
    );
    assert_eq!(
        t.accepted_at,
        Some(at("2026-11-23T10:00:00Z")),
        "acceptance stays the first"
    );
}

#[test]
fn severity_change_recomputes_and_escalates_when_past() {
    let mut t = ticket(State::New);
    let fx = run(
        &mut t,
        &Input::Consultant {
            from: "anna@smartstock.cloud",
            commands: &[cmd("severity", Some("1"))],
            text: "",
            added: &[],
            at: at("2026-11-25T09:00:00Z"),
        },
    );
    assert_eq!(t.severity, Severity::Critical);
    assert_eq!(t.deadline_at, at("2026-11-24T17:00:00Z"));
    assert!(has(
        &fx,
        &Effect::Tell(crate::ticket::Tell::SeverityChanged)
    ));
    assert!(
        has(&fx, &mail(template::ESCALATION, To::Escalation)),
        "already past: {fx:?}"
    );
    assert_eq!(
        t.state,
        State::New,
        "a severity change is not an acceptance"
    );
}

#[test]
fn needinfo_asks_with_the_consultants_text() {
    let mut t = ticket(State::Open);
    let fx = run(
        &mut t,
        &Input::Consultant {
            from: "anna@smartstock.cloud",
            commands: &[cmd("needinfo", None)],
            text: "Hello.",
            added: &[],
            at: at("2026-11-25T09:00:00Z"),
        },
    );
    assert!(has(&fx, &Effect::Tell(crate::ticket::Tell::NeedInfo)));
    assert!(
        has(&fx, &relay(To::Participants)),
        "the text is the question: {fx:?}"
    );
    assert!(has(&fx, &Effect::StartSilenceClock));
}

#[test]
fn automatic_mail_changes_nothing() {
    for kind in [Kind::AutoReply, Kind::Bounce, Kind::OwnLoop] {
        let mut t = ticket(State::Waiting);
        t.silence_since = Some(at("2026-11-20T10:00:00Z"));
        let before = t.clone();
        let fx = run(&mut t, &Input::Automatic { kind });
        assert_eq!(t, before, "{kind:?}");
        assert_eq!(fx.len(), 1, "{kind:?}: only an event");
    }
}

#[test]
fn spam_tickets_swallow_customer_mail() {
    let mut t = ticket(State::Closed);
    t.spam = true;
    let fx = run(
        &mut t,
        &Input::Customer {
            from: "jan@acme.example",
            fields_present: &[],
            added: &[],
            may_add: true,
            at: at("2026-11-25T09:00:00Z"),
        },
    );
    assert_eq!(t.state, State::Closed);
    assert_eq!(fx, vec![Effect::Event(Event::StoredSilently, None)]);
}

#[test]
fn fields_accumulate_and_completion_is_noticed() {
    let mut t = ticket(State::New);
    run(
        &mut t,
        &Input::Customer {
            from: "jan@acme.example",
            fields_present: &["subject", "description"],
            added: &[],
            may_add: true,
            at: at("2026-11-23T09:00:00Z"),
        },
    );
    let fx = run(
        &mut t,
        &Input::Customer {
            from: "jan@acme.example",
            fields_present: &["occurrence_time", "diagnosis_steps", "screenshots"],
            added: &[],
            may_add: true,
            at: at("2026-11-24T09:00:00Z"),
        },
    );
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Event(Event::ReportCompleted, _))),
        "{fx:?}"
    );
}

#[test]
fn routing_table() {
    let consultants: Vec<String> = CONSULTANTS.iter().map(|s| s.to_string()).collect();
    let open = ticket(State::Open);
    let closed = ticket(State::Closed); // closed 2026-11-24 10:00
    let mut gmail = ticket(State::Open);
    gmail.requester = "jan@gmail.com".into();
    gmail.participants = ["jan@gmail.com".to_string()].into();
    let soon = at("2026-11-30T10:00:00Z");
    let late = at("2026-12-20T10:00:00Z");
    type Row<'a> = (Kind, &'a str, Option<&'a Ticket>, DateTime<Utc>, Route);
    let table: Vec<Row<'_>> = vec![
        (
            Kind::New,
            "x@y.example",
            None,
            soon,
            Route::NewTicket {
                linked: None,
                quiet: false,
            },
        ),
        (
            Kind::List,
            "news@v.example",
            None,
            soon,
            Route::NewTicket {
                linked: None,
                quiet: true,
            },
        ),
        (
            Kind::AutoReply,
            "jan@acme.example",
            Some(&open),
            soon,
            Route::Ticket(7),
        ),
        (
            Kind::AutoReply,
            "jan@acme.example",
            None,
            soon,
            Route::Alone,
        ),
        (Kind::Bounce, "mailer-daemon@x", None, soon, Route::Alone),
        (
            Kind::ConsultantCommand,
            "anna@smartstock.cloud",
            Some(&open),
            soon,
            Route::Ticket(7),
        ),
        (
            Kind::ConsultantCommand,
            "anna@smartstock.cloud",
            None,
            soon,
            Route::Alone,
        ),
        (
            Kind::Reply,
            "jan@acme.example",
            Some(&open),
            soon,
            Route::Ticket(7),
        ),
        // A colleague (same company domain) joins.
        (
            Kind::Reply,
            "ewa@acme.example",
            Some(&open),
            soon,
            Route::Ticket(7),
        ),
        // A stranger opens a linked ticket of their own.
        (
            Kind::Reply,
            "eve@other.example",
            Some(&open),
            soon,
            Route::NewTicket {
                linked: Some(7),
                quiet: false,
            },
        ),
        // A gmail.com neighbour is not a colleague.
        (
            Kind::Reply,
            "eve@gmail.com",
            Some(&gmail),
            soon,
            Route::NewTicket {
                linked: Some(7),
                quiet: false,
            },
        ),
        // Closed: within 14 days reopens, after it opens a new linked ticket.
        (
            Kind::Reply,
            "jan@acme.example",
            Some(&closed),
            soon,
            Route::Ticket(7),
        ),
        (
            Kind::Reply,
            "jan@acme.example",
            Some(&closed),
            late,
            Route::NewTicket {
                linked: Some(7),
                quiet: false,
            },
        ),
    ];
    for (kind, from, t, when, expected) in table {
        assert_eq!(
            route(
                kind,
                from,
                t,
                &Membership {
                    consultants: &consultants,
                    colleagues: Colleagues::SameDomain,
                    reopen_days: 14,
                },
                when
            ),
            expected,
            "{kind:?} from {from}"
        );
    }
}

#[test]
fn states_round_trip() {
    for s in [
        State::New,
        State::Open,
        State::Waiting,
        State::Resolved,
        State::Closed,
    ] {
        assert_eq!(State::parse(s.as_str()), Some(s));
    }
    assert!(colleagues("a@acme.example", "b@ACME.example"));
    assert!(!colleagues("a@wp.pl", "b@wp.pl"));
}
