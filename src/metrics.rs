//! Prometheus metrics: what the team lead wants at a glance (are the SLA
//! promises kept?) and what ops alert on (queue depth, failures, the last
//! poll and send). Rendered with prometheus-client (OpenMetrics text) from
//! one read of the store ([`MetricsData`]) at `now`; served by the daemon
//! on `[metrics] listen` and printed by `supportd metrics`.

use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::runtime::Policy;
use crate::sla::Severity;
use crate::store::MetricsData;

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The SLA view of the unaccepted tickets at `now`: (at risk, past the
/// deadline, working seconds the oldest has waited).
pub fn unaccepted_view(d: &MetricsData, policy: &Policy, now: DateTime<Utc>) -> (u64, u64, i64) {
    let (mut at_risk, mut breached, mut oldest) = (0, 0, 0i64);
    for (received, severity, deadline) in &d.unaccepted {
        let severity = Severity::from_number(*severity).unwrap_or(Severity::Minor);
        let risk_from = policy
            .sla
            .at_risk_from(&policy.calendar, *received, severity);
        if risk_from.is_some_and(|r| now >= r) {
            at_risk += 1;
        }
        if now > *deadline {
            breached += 1;
        }
        if let Ok(w) = policy.calendar.working_seconds(*received, now) {
            oldest = oldest.max(w);
        }
    }
    (at_risk, breached, oldest)
}

fn gauge(v: i64) -> Gauge {
    let g = Gauge::<i64>::default();
    g.set(v);
    g
}

fn counter(v: u64) -> Counter {
    let c = Counter::<u64>::default();
    c.inc_by(v);
    c
}

/// The metrics as OpenMetrics text.
pub fn render(d: &MetricsData, policy: &Policy, now: DateTime<Utc>) -> String {
    let mut r = Registry::default();
    tickets(&mut r, d, policy, now);
    messages(&mut r, d);
    outbox(&mut r, d);
    // One number each, from the store's counts.
    let gauges: [(&str, &str, i64); 5] = [
        (
            "supportd_quarantined_messages",
            "Messages in quarantine",
            d.quarantined as i64,
        ),
        (
            "supportd_unreachable_customers",
            "Customers of open tickets whose follow-up bounced",
            d.unreachable as i64,
        ),
        (
            "supportd_suppressed_recipients",
            "Addresses that get no automatic mail since they reported ours as spam or abuse (RFC 5965 feedback reports)",
            d.suppressed as i64,
        ),
        (
            "supportd_last_poll_timestamp_seconds",
            "When the mailbox was last polled successfully (0: never)",
            d.last_poll.map_or(0, |t| t.timestamp()),
        ),
        (
            "supportd_last_send_timestamp_seconds",
            "When our mail server last accepted a mail (0: never)",
            d.last_send.map_or(0, |t| t.timestamp()),
        ),
    ];
    for (name, help, v) in gauges {
        r.register(name, help, gauge(v));
    }
    faults(&mut r, d);
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &r);
    out
}

/// What the running daemon finds wrong now (one series per fault, value
/// 1), and the database errors it met, by kind.
fn faults(r: &mut Registry, d: &MetricsData) {
    let now = Family::<Labels, Gauge>::default();
    for (area, kind) in &d.faults {
        now.get_or_create(&labels(&[("area", area), ("kind", kind)]))
            .set(1);
    }
    r.register(
        "supportd_fault",
        "Something the daemon cannot do now, by area (database, transport) and kind (disk_full, read_only, locked, refusing, ...); 0 series when all is well",
        now,
    );
    let errors = Family::<Labels, Counter>::default();
    for (kind, n) in &d.store_errors {
        errors.get_or_create(&labels(&[("kind", kind)])).inc_by(*n);
    }
    r.register(
        "supportd_store_errors",
        "Database errors the daemon met since it started, by kind (disk_full, read_only, locked, corrupt, io, gone)",
        errors,
    );
}

/// Tickets by state and severity; those waiting for acceptance at risk,
/// breached, and the oldest one's wait; breaches ever.
fn tickets(r: &mut Registry, d: &MetricsData, policy: &Policy, now: DateTime<Utc>) {
    let tickets = Family::<Labels, Gauge>::default();
    for (state, severity, n) in &d.tickets {
        tickets
            .get_or_create(&labels(&[
                ("state", state),
                ("severity", &severity.to_string()),
            ]))
            .set(*n as i64);
    }
    r.register("supportd_tickets", "Tickets by state and severity", tickets);
    let (at_risk, breached, oldest) = unaccepted_view(d, policy, now);
    r.register(
        "supportd_tickets_at_risk",
        "Tickets not accepted yet and past their first reminder",
        gauge(at_risk as i64),
    );
    r.register(
        "supportd_tickets_breached",
        "Tickets not accepted yet and past their response deadline",
        gauge(breached as i64),
    );
    r.register(
        "supportd_oldest_unaccepted_working_seconds",
        "Working time the oldest ticket not accepted yet has waited",
        gauge(oldest),
    );
    r.register(
        "supportd_breaches",
        "Tickets whose response deadline passed before acceptance",
        counter(d.breaches),
    );
    let accepted = Family::<Labels, Counter>::default();
    for (severity, on_time, n) in &d.accepted {
        accepted
            .get_or_create(&labels(&[
                ("severity", &severity.to_string()),
                ("on_time", if *on_time { "true" } else { "false" }),
            ]))
            .inc_by(*n);
    }
    r.register(
        "supportd_accepted",
        "Tickets accepted, by severity and whether by the deadline in force",
        accepted,
    );
}

/// Messages by kind, auto-replies by rule.
fn messages(r: &mut Registry, d: &MetricsData) {
    let messages = Family::<Labels, Counter>::default();
    for (kind, n) in &d.messages {
        messages
            .get_or_create(&labels(&[("kind", kind)]))
            .inc_by(*n);
    }
    r.register("supportd_messages", "Messages ingested, by kind", messages);
    let rules = Family::<Labels, Counter>::default();
    for (rule, n) in &d.auto_reply_rules {
        rules.get_or_create(&labels(&[("rule", rule)])).inc_by(*n);
    }
    r.register(
        "supportd_auto_replies",
        "Auto-replies recognised, by detection rule",
        rules,
    );
}

/// Outgoing mail by state, held mail, retries.
fn outbox(r: &mut Registry, d: &MetricsData) {
    let outbox = Family::<Labels, Gauge>::default();
    let mut held = 0;
    for (state, n) in &d.outbox {
        outbox
            .get_or_create(&labels(&[("state", state)]))
            .set(*n as i64);
        if state == "held" {
            held = *n;
        }
    }
    r.register(
        "supportd_outbox_mails",
        "Outgoing mail by state: pending is the queue depth, failed the failures",
        outbox,
    );
    r.register(
        "supportd_mails_held",
        "Automatic mails held back by the rate limit",
        gauge(held as i64),
    );
    r.register(
        "supportd_outbox_retries",
        "Send attempts beyond the first",
        counter(d.retries),
    );
}

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn at_risk_breached_and_oldest_follow_the_calendar() {
        let policy = Policy::contract();
        // Severity 1 received Monday 23 Nov 2026 10:00 Warsaw: reminder at
        // 8 h (Tuesday 10:00), deadline 16 h (Wednesday 10:00).
        let d = MetricsData {
            unaccepted: vec![(at("2026-11-23T09:00:00Z"), 1, at("2026-11-25T09:00:00Z"))],
            ..Default::default()
        };
        // (now, at risk, breached, oldest working seconds)
        let table = [
            ("2026-11-23T15:00:00Z", 0, 0, 6 * 3600),
            ("2026-11-24T09:00:00Z", 1, 0, 8 * 3600),
            ("2026-11-25T09:00:01Z", 1, 1, 16 * 3600 + 1),
            // Saturday: Monday 7 h and four days of 8 h; none on Saturday.
            ("2026-11-28T12:00:00Z", 1, 1, 39 * 3600),
        ];
        for (now, risk, late, oldest) in table {
            assert_eq!(
                unaccepted_view(&d, &policy, at(now)),
                (risk, late, oldest),
                "{now}"
            );
        }
    }

    #[test]
    fn the_text_names_every_metric() {
        let d = MetricsData {
            tickets: vec![("new".into(), 2, 3)],
            messages: vec![("new".into(), 5), ("auto_reply".into(), 1)],
            auto_reply_rules: vec![("ooo-subject".into(), 1)],
            outbox: vec![("pending".into(), 4), ("held".into(), 1)],
            retries: 2,
            accepted: vec![(1, true, 7), (1, false, 2)],
            ..Default::default()
        };
        let text = render(&d, &Policy::contract(), at("2026-11-24T09:00:00Z"));
        for line in [
            "supportd_tickets{state=\"new\",severity=\"2\"} 3",
            "supportd_messages_total{kind=\"new\"} 5",
            "supportd_auto_replies_total{rule=\"ooo-subject\"} 1",
            "supportd_outbox_mails{state=\"pending\"} 4",
            "supportd_mails_held 1",
            "supportd_outbox_retries_total 2",
            "supportd_accepted_total{severity=\"1\",on_time=\"true\"} 7",
            "supportd_accepted_total{severity=\"1\",on_time=\"false\"} 2",
            "# EOF",
        ] {
            assert!(text.contains(line), "{line} not in:\n{text}");
        }
    }
}
