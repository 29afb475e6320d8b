//! Whether the contract was kept: the SLA compliance report of the tickets
//! received on a range of local dates, overall, per severity, per customer
//! domain, with the list of breaches ([`compute`]); rendered as text, CSV,
//! JSON or one printable HTML page ([`render`]). Pure: the rows, the
//! calendar and `now` are arguments.
//!
//! A ticket is accepted on time when `accepted_at <= deadline`, with the
//! deadline the ticket records (after any severity change). Not accepted:
//! breached once `now` is past its deadline, else still within it. Spam
//! is no request and is left out by the caller. Working time to
//! acceptance counts the contract's working time from receipt; its p90 is
//! the nearest-rank percentile (the smallest value with at least 90% of the
//! values at or below it).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::sla::{Calendar, Severity, SlaPolicy};

pub mod render;

/// One ticket as the report needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The N of SS-N.
    pub number: u64,
    /// The requester's domain (the customer), lower-cased.
    pub customer: String,
    /// Its severity now.
    pub severity: Severity,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// The deadline in force.
    pub deadline_at: DateTime<Utc>,
    /// When it was accepted.
    pub accepted_at: Option<DateTime<Utc>>,
}

/// The four outcomes, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Tickets received.
    pub tickets: u64,
    /// Accepted by the deadline.
    pub accepted_on_time: u64,
    /// Accepted after the deadline.
    pub accepted_late: u64,
    /// Past the deadline and still not accepted.
    pub breached_unaccepted: u64,
    /// Not accepted, still within the deadline.
    pub open_within_deadline: u64,
}

impl Counts {
    /// The five counts, in the order every form of the report shows them.
    pub fn numbers(&self) -> [u64; 5] {
        [
            self.tickets,
            self.accepted_on_time,
            self.accepted_late,
            self.breached_unaccepted,
            self.open_within_deadline,
        ]
    }

    /// Accepted on time among those whose outcome is known (accepted, or
    /// past the deadline); `None` when there is none.
    pub fn on_time_share(&self) -> Option<f64> {
        let decided = self.accepted_on_time + self.accepted_late + self.breached_unaccepted;
        (decided > 0).then(|| self.accepted_on_time as f64 / decided as f64)
    }
}

/// One severity's line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeverityLine {
    /// 1-5.
    pub severity: u8,
    /// The outcomes.
    #[serde(flatten)]
    pub counts: Counts,
    /// The contract's target in working seconds.
    pub target_working_seconds: u64,
    /// Working time from receipt to acceptance, over accepted tickets.
    pub median_working_seconds_to_acceptance: Option<i64>,
    /// Its nearest-rank 90th percentile.
    pub p90_working_seconds_to_acceptance: Option<i64>,
    /// Its maximum.
    pub max_working_seconds_to_acceptance: Option<i64>,
}

/// One customer domain's line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomerLine {
    /// The domain.
    pub customer: String,
    /// The outcomes.
    #[serde(flatten)]
    pub counts: Counts,
}

/// A ticket accepted late or not accepted past its deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breach {
    /// `SS-N`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// 1-5.
    pub severity: u8,
    /// The customer domain.
    pub customer: String,
    /// The deadline, `YYYY-MM-DDTHH:MM:SSZ`.
    pub deadline: String,
    /// When it was accepted (`None`: not yet).
    pub accepted_at: Option<String>,
    /// Working time past the deadline, to the acceptance or to now.
    pub late_working_seconds: i64,
    /// The deadline in the calendar's zone, `YYYY-MM-DD HH:MM`.
    #[serde(skip)]
    pub deadline_local: String,
    /// The acceptance in the calendar's zone.
    #[serde(skip)]
    pub accepted_local: Option<String>,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// First local date, `YYYY-MM-DD`.
    pub from: String,
    /// Last local date (inclusive).
    pub to: String,
    /// The one customer it is about, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    /// The instant the open tickets were judged at.
    pub as_of: String,
    /// The calendar's zone (IANA name).
    pub zone: String,
    /// The outcomes of all its tickets.
    #[serde(flatten)]
    pub counts: Counts,
    /// Per severity, 1 to 5.
    pub by_severity: Vec<SeverityLine>,
    /// Per customer domain (empty for a one-customer report).
    pub by_customer: Vec<CustomerLine>,
    /// Late and breached tickets, by ticket number.
    pub breaches: Vec<Breach>,
}

/// What a ticket's outcome is at `now`, and its working time past the
/// deadline when it has one.
fn outcome(
    r: &Row,
    now: DateTime<Utc>,
    cal: &Calendar,
) -> crate::sla::calendar::Result<(Outcome, i64)> {
    Ok(match r.accepted_at {
        Some(at) if at <= r.deadline_at => (Outcome::OnTime, 0),
        Some(at) => (Outcome::Late, cal.working_seconds(r.deadline_at, at)?),
        None if now > r.deadline_at => {
            (Outcome::Breached, cal.working_seconds(r.deadline_at, now)?)
        }
        None => (Outcome::Within, 0),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    OnTime,
    Late,
    Breached,
    Within,
}

impl Counts {
    fn add(&mut self, o: Outcome) {
        self.tickets += 1;
        match o {
            Outcome::OnTime => self.accepted_on_time += 1,
            Outcome::Late => self.accepted_late += 1,
            Outcome::Breached => self.breached_unaccepted += 1,
            Outcome::Within => self.open_within_deadline += 1,
        }
    }
}

/// The median (the lower middle of an even count) and nearest-rank p90
/// and max of sorted values.
fn spread(sorted: &[i64]) -> (Option<i64>, Option<i64>, Option<i64>) {
    if sorted.is_empty() {
        return (None, None, None);
    }
    let n = sorted.len();
    let median = sorted[(n - 1) / 2];
    let p90 = sorted[(n * 9).div_ceil(10) - 1];
    (Some(median), Some(p90), sorted.last().copied())
}

/// What the report is of.
pub struct Scope<'a> {
    /// First local date.
    pub from: NaiveDate,
    /// Last local date (inclusive).
    pub to: NaiveDate,
    /// One customer domain, or all.
    pub customer: Option<&'a str>,
    /// The ticket prefix.
    pub prefix: &'a str,
    /// The instant open tickets are judged at.
    pub now: DateTime<Utc>,
}

impl Scope<'_> {
    /// The instants the scope's dates span in `zone`: from the first
    /// date's midnight to the midnight after the last (exclusive).
    pub fn range(&self, zone: &crate::sla::Zone) -> (DateTime<Utc>, DateTime<Utc>) {
        let end = self.to.succ_opt().unwrap_or(self.to);
        (zone.day_start(self.from), zone.day_start(end))
    }
}

/// The report of `rows` (the caller selects those received on the scope's
/// dates, for its customer).
pub fn compute(
    rows: &[Row],
    scope: &Scope<'_>,
    cal: &Calendar,
    policy: &SlaPolicy,
) -> crate::sla::calendar::Result<Report> {
    let mut counts = Counts::default();
    let mut sev_counts = [Counts::default(); 5];
    let mut to_accept: [Vec<i64>; 5] = Default::default();
    let mut customers: std::collections::BTreeMap<&str, Counts> = Default::default();
    let mut breaches = Vec::new();
    let local = |at: DateTime<Utc>| {
        cal.timezone()
            .to_local(at)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    };
    for r in rows {
        let (o, late) = outcome(r, scope.now, cal)?;
        let i = usize::from(r.severity.number() - 1);
        counts.add(o);
        sev_counts[i].add(o);
        customers.entry(&r.customer).or_default().add(o);
        if let Some(at) = r.accepted_at {
            to_accept[i].push(cal.working_seconds(r.received_at, at)?);
        }
        if matches!(o, Outcome::Late | Outcome::Breached) {
            breaches.push(Breach {
                reference: format!("{}-{}", scope.prefix, r.number),
                severity: r.severity.number(),
                customer: r.customer.clone(),
                deadline: crate::sla::format_utc(r.deadline_at),
                accepted_at: r.accepted_at.map(crate::sla::format_utc),
                late_working_seconds: late,
                deadline_local: local(r.deadline_at),
                accepted_local: r.accepted_at.map(local),
            });
        }
    }
    breaches.sort_by_key(|b| {
        b.reference
            .rsplit_once('-')
            .and_then(|(_, n)| n.parse::<u64>().ok())
    });
    let by_severity = (0..5)
        .map(|i| {
            let severity = Severity::from_number(i as u8 + 1).expect("1-5");
            to_accept[i].sort_unstable();
            let (median, p90, max) = spread(&to_accept[i]);
            SeverityLine {
                severity: severity.number(),
                counts: sev_counts[i],
                target_working_seconds: policy.target_secs(severity),
                median_working_seconds_to_acceptance: median,
                p90_working_seconds_to_acceptance: p90,
                max_working_seconds_to_acceptance: max,
            }
        })
        .collect();
    let by_customer = if scope.customer.is_some() {
        Vec::new()
    } else {
        customers
            .into_iter()
            .map(|(c, counts)| CustomerLine {
                customer: c.to_string(),
                counts,
            })
            .collect()
    };
    Ok(Report {
        from: scope.from.to_string(),
        to: scope.to.to_string(),
        customer: scope.customer.map(str::to_string),
        as_of: crate::sla::format_utc(scope.now),
        zone: cal.timezone().name().to_string(),
        counts,
        by_severity,
        by_customer,
        breaches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn row(
        n: u64,
        customer: &str,
        sev: u8,
        received: &str,
        deadline: &str,
        accepted: Option<&str>,
    ) -> Row {
        Row {
            number: n,
            customer: customer.into(),
            severity: Severity::from_number(sev).unwrap(),
            received_at: t(received),
            deadline_at: t(deadline),
            accepted_at: accepted.map(t),
        }
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        type Spread = (Option<i64>, Option<i64>, Option<i64>);
        let table: [(&[i64], Spread); 4] = [
            (&[], (None, None, None)),
            (&[5], (Some(5), Some(5), Some(5))),
            (&[1, 2], (Some(1), Some(2), Some(2))),
            (
                &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
                (Some(5), Some(9), Some(10)),
            ),
        ];
        for (values, expected) in table {
            assert_eq!(spread(values), expected, "{values:?}");
        }
    }

    /// Four tickets, one per outcome; figures by hand in the comments
    /// (Warsaw is UTC+1 in November; working hours 09:00-17:00).
    #[test]
    fn each_outcome_counted_with_its_working_time() {
        let cal = Calendar::contract();
        let rows = [
            // Mon 23 Nov 10:00, sev 1 (16 h): deadline Wed 25 10:00;
            // accepted Mon 11:00: 1 h = 3600 s, on time.
            row(
                1,
                "acme.example",
                1,
                "2026-11-23T09:00:00Z",
                "2026-11-25T09:00:00Z",
                Some("2026-11-23T10:00:00Z"),
            ),
            // Same deadline, accepted Wed 12:30: late by 2 h 30 = 9000 s;
            // to acceptance 16 h + 2.5 h = 66600 s.
            row(
                2,
                "acme.example",
                1,
                "2026-11-23T09:00:00Z",
                "2026-11-25T09:00:00Z",
                Some("2026-11-25T11:30:00Z"),
            ),
            // Not accepted; deadline Wed 10:00, now Thu 10:00: 8 h late.
            row(
                3,
                "beta.example",
                1,
                "2026-11-23T09:00:00Z",
                "2026-11-25T09:00:00Z",
                None,
            ),
            // Not accepted; deadline next week: within.
            row(
                4,
                "beta.example",
                5,
                "2026-11-23T09:00:00Z",
                "2026-12-11T09:00:00Z",
                None,
            ),
        ];
        let scope = Scope {
            from: "2026-11-01".parse().unwrap(),
            to: "2026-11-30".parse().unwrap(),
            customer: None,
            prefix: "SS",
            now: t("2026-11-26T09:00:00Z"),
        };
        let r = compute(&rows, &scope, &cal, &SlaPolicy::default()).unwrap();
        assert_eq!(
            (
                r.counts.tickets,
                r.counts.accepted_on_time,
                r.counts.accepted_late,
                r.counts.breached_unaccepted,
                r.counts.open_within_deadline
            ),
            (4, 1, 1, 1, 1)
        );
        let s1 = &r.by_severity[0];
        assert_eq!(s1.counts.tickets, 3);
        assert_eq!(s1.median_working_seconds_to_acceptance, Some(3600));
        assert_eq!(s1.p90_working_seconds_to_acceptance, Some(66600));
        assert_eq!(s1.target_working_seconds, 16 * 3600);
        assert_eq!(
            r.breaches
                .iter()
                .map(|b| (b.reference.as_str(), b.late_working_seconds))
                .collect::<Vec<_>>(),
            [("SS-2", 9000), ("SS-3", 8 * 3600)]
        );
        assert_eq!(r.by_customer.len(), 2);
        assert_eq!(r.by_customer[1].counts.breached_unaccepted, 1);
        // On time among those decided: 1 of 3.
        assert!((r.counts.on_time_share().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    }
}
