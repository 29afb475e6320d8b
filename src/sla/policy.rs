//! The SLA policy of contract §5: severity → response target in working hours,
//! the deadline from the received instant, the instants of reminder fractions,
//! and the explanation of how a deadline was reached.
//!
//! Must not: read the clock or do I/O. Targets are fixed working hours
//! whatever opening hours the calendar has (a "working day" of the contract is
//! 8 working hours), so a 4-day target is 32 h even with 10-hour days.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};

use super::calendar::{self, Calendar, DayKind};
use super::local;
use crate::lang::Lang;

/// Severity of a reported problem, contract §5.1–§5.5. Stored as its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Severity {
    /// §5.1 "Access to the Product is not working and no way to avoid the
    /// problem has been found; a significant number of users are affected by
    /// the system downtime." Response time: up to 16 hours.
    Critical = 1,
    /// §5.2 "Product component out of order, with a significant impact on
    /// operations." Response time: up to 24 hours.
    Major = 2,
    /// §5.3 "Product component does not work in accordance with the Product
    /// Documentation, a replacement solution can be found." Up to 4 days.
    Minor = 3,
    /// §5.4 "Questions about functionality, clarification of documentation."
    /// Up to 7 days.
    Question = 4,
    /// §5.5 "Suggestions, enquiries about new properties and product
    /// improvements." Up to 14 days.
    Suggestion = 5,
}

impl serde::Serialize for Severity {
    /// The contract's number, 1-5.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.number())
    }
}

impl Severity {
    /// All severities, 1 to 5.
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::Major,
        Severity::Minor,
        Severity::Question,
        Severity::Suggestion,
    ];

    /// The contract's number, 1–5.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// The severity with contract number `n`, if 1–5.
    pub fn from_number(n: u8) -> Option<Severity> {
        Severity::ALL.get(usize::from(n).checked_sub(1)?).copied()
    }

    /// Severity 4–5 (questions and suggestions) need only a subject and a
    /// description in the report (design.md, "Required report fields").
    pub fn is_enquiry(self) -> bool {
        self >= Severity::Question
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<u8>()
            .ok()
            .and_then(Severity::from_number)
            .ok_or_else(|| format!("severity {:?} is not one of 1, 2, 3, 4, 5", s.trim()))
    }
}

/// Response targets and reminder fractions. [`Default`] is the contract's.
#[derive(Debug, Clone, PartialEq)]
pub struct SlaPolicy {
    /// Working seconds to acceptance, indexed by severity − 1.
    target_secs: [u64; 5],
    /// Fractions of the target at which consultants are reminded, ascending,
    /// each in (0, 1).
    reminders: Vec<f64>,
}

/// Contract §5 response times in working hours: 16 h, 24 h, 4, 7 and 14
/// working days of 8 hours.
pub const CONTRACT_TARGET_HOURS: [u32; 5] = [16, 24, 32, 56, 112];
/// Default reminder fractions: half-way and at 80% of the target.
pub const DEFAULT_REMINDERS: [f64; 2] = [0.5, 0.8];

impl Default for SlaPolicy {
    fn default() -> Self {
        SlaPolicy::new(CONTRACT_TARGET_HOURS, DEFAULT_REMINDERS.to_vec())
            .expect("the contract's policy is valid")
    }
}

impl SlaPolicy {
    /// A policy from targets in working hours (severity 1..5) and reminder
    /// fractions. Targets must be positive; fractions in (0, 1).
    pub fn new(target_hours: [u32; 5], mut reminders: Vec<f64>) -> Result<Self, String> {
        if let Some(i) = target_hours.iter().position(|h| *h == 0) {
            return Err(format!(
                "the target of severity {} is 0 hours; every target must be at least 1 hour",
                i + 1
            ));
        }
        if let Some(f) = reminders.iter().find(|f| !(**f > 0.0 && **f < 1.0)) {
            return Err(format!(
                "reminder fraction {f} is not between 0 and 1 (exclusive), e.g. 0.5 for half-way"
            ));
        }
        reminders.sort_by(f64::total_cmp);
        reminders.dedup();
        Ok(SlaPolicy {
            target_secs: target_hours.map(|h| u64::from(h) * 3600),
            reminders,
        })
    }

    /// The response target of `severity`, in working seconds.
    pub fn target_secs(&self, severity: Severity) -> u64 {
        self.target_secs[usize::from(severity.number() - 1)]
    }

    /// The reminder fractions, ascending.
    pub fn reminders(&self) -> &[f64] {
        &self.reminders
    }

    /// The acceptance deadline of a request received at `received_at`.
    /// Acceptance at exactly this instant is on time.
    pub fn deadline(
        &self,
        calendar: &Calendar,
        received_at: DateTime<Utc>,
        severity: Severity,
    ) -> calendar::Result<DateTime<Utc>> {
        calendar.add_working_seconds(received_at, self.target_secs(severity))
    }

    /// When an unaccepted request becomes at risk: the first reminder
    /// fraction of its target (none when no reminders are configured).
    pub fn at_risk_from(
        &self,
        calendar: &Calendar,
        received_at: DateTime<Utc>,
        severity: Severity,
    ) -> Option<DateTime<Utc>> {
        let first = *self.reminders().first()?;
        self.fraction_at(calendar, received_at, severity, first)
            .ok()
    }

    /// The instant at which `fraction` of the target has elapsed (for
    /// reminders), rounded to the nearest working second.
    pub fn fraction_at(
        &self,
        calendar: &Calendar,
        received_at: DateTime<Utc>,
        severity: Severity,
        fraction: f64,
    ) -> calendar::Result<DateTime<Utc>> {
        let secs = (self.target_secs(severity) as f64 * fraction.clamp(0.0, 1.0)).round() as u64;
        calendar.add_working_seconds(received_at, secs)
    }

    /// Whether an acceptance at `accepted_at` meets `deadline`.
    pub fn on_time(accepted_at: DateTime<Utc>, deadline: DateTime<Utc>) -> bool {
        accepted_at <= deadline
    }

    /// How the deadline of a request is reached: the working intervals counted
    /// and the closed days skipped on the way.
    pub fn explain(
        &self,
        calendar: &Calendar,
        received_at: DateTime<Utc>,
        severity: Severity,
    ) -> calendar::Result<Explanation> {
        let received_at =
            DateTime::from_timestamp(received_at.timestamp(), 0).unwrap_or(received_at);
        let deadline = self.deadline(calendar, received_at, severity)?;
        let intervals = calendar.working_intervals(received_at, deadline)?;
        let first = calendar.local_date(received_at);
        let last = calendar.local_date(deadline);
        let closed = first
            .iter_days()
            .take_while(|d| *d <= last)
            .filter_map(|d| match calendar.day_kind(d) {
                DayKind::Working(_) | DayKind::Special(_) => None,
                kind => Some((d, kind)),
            })
            .collect();
        Ok(Explanation {
            received_at,
            severity,
            target_secs: self.target_secs(severity),
            deadline,
            intervals,
            closed,
        })
    }
}

/// The reasoning behind one deadline, ready to print.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// When the request was received (whole seconds).
    pub received_at: DateTime<Utc>,
    /// Its severity.
    pub severity: Severity,
    /// The target in working seconds.
    pub target_secs: u64,
    /// The resulting deadline.
    pub deadline: DateTime<Utc>,
    /// The working intervals counted, in order.
    pub intervals: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// Local dates between receipt and deadline that are closed, with why.
    pub closed: Vec<(NaiveDate, DayKind)>,
}

impl Explanation {
    /// The explanation as lines of text in `lang`, local times in the
    /// calendar's zone and labelled with it.
    pub fn render(&self, calendar: &Calendar, lang: Lang) -> String {
        use std::fmt::Write as _;
        let tz = calendar.timezone();
        let mut out = String::new();
        let (received, deadline, severity, target, counted, closed_word, total_word) = match lang {
            Lang::En => (
                "received",
                "deadline",
                "severity",
                "target",
                "working time counted",
                "closed",
                "total",
            ),
            Lang::Pl => (
                "przyjęto",
                "termin",
                "priorytet",
                "czas reakcji",
                "policzony czas pracy",
                "nieczynne",
                "razem",
            ),
        };
        let _ = writeln!(
            out,
            "{received}: {}",
            local::render_local(self.received_at, tz, lang)
        );
        let _ = writeln!(
            out,
            "{severity}: {}, {target}: {}",
            self.severity,
            local::render_duration(self.target_secs, lang)
        );
        let _ = writeln!(
            out,
            "{deadline}: {}",
            local::render_local(self.deadline, tz, lang)
        );
        let _ = writeln!(out, "{counted} ({}):", local::zone_label(tz, lang));
        let mut sum = 0u64;
        let mut closed = self.closed.iter().peekable();
        for (start, end) in &self.intervals {
            let day = tz.local_date(*start);
            while let Some((date, kind)) = closed.next_if(|(d, _)| *d < day) {
                let _ = writeln!(
                    out,
                    "  {}  {closed_word}: {}",
                    local::render_date(*date, lang),
                    describe(kind, lang)
                );
            }
            let secs = (*end - *start).num_seconds() as u64;
            sum += secs;
            let _ = writeln!(
                out,
                "  {}  {}–{}  {}  ({total_word} {})",
                local::render_date(day, lang),
                tz.to_local(*start).format("%H:%M:%S"),
                tz.to_local(*end).format("%H:%M:%S"),
                local::render_duration(secs, lang),
                local::render_duration(sum, lang),
            );
        }
        for (date, kind) in closed {
            let _ = writeln!(
                out,
                "  {}  {closed_word}: {}",
                local::render_date(*date, lang),
                describe(kind, lang)
            );
        }
        out
    }
}

fn describe(kind: &DayKind, lang: Lang) -> String {
    match (kind, lang) {
        (DayKind::Holiday(h), _) => h.name(lang).to_string(),
        (DayKind::Weekend(_), Lang::En) => "weekend".into(),
        (DayKind::Weekend(_), Lang::Pl) => "weekend".into(),
        (DayKind::Closed, Lang::En) => "closed day (config)".into(),
        (DayKind::Closed, Lang::Pl) => "dzień wolny (konfiguracja)".into(),
        (DayKind::Working(h) | DayKind::Special(h), _) => h.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn deadlines_by_severity() {
        let cal = Calendar::contract();
        let p = SlaPolicy::default();
        // (received, severity, deadline) — hand-checked against a calendar.
        let table: &[(&str, u8, &str)] = &[
            // Friday 16:30 before Easter 2026 (Good Friday 3 Apr works, Easter
            // Monday 6 Apr does not): 0.5 h Fri, 8 h Tue 7 Apr, 7.5 h Wed.
            ("2026-04-03T16:30:00+02:00", 1, "2026-04-08T16:30:00+02:00"),
            // Monday 09:00, severity 2 → Wednesday 17:00.
            ("2026-11-23T09:00:00+01:00", 2, "2026-11-25T17:00:00+01:00"),
            // Monday 09:00, severity 3 (4 days) → Thursday 17:00.
            ("2026-11-23T09:00:00+01:00", 3, "2026-11-26T17:00:00+01:00"),
            // Monday 09:00, severity 4 (7 days) → next Tuesday 17:00.
            ("2026-11-23T09:00:00+01:00", 4, "2026-12-01T17:00:00+01:00"),
            // Severity 5 across Christmas and New Year 2025/26: received Mon
            // 22 Dec 2025 09:00; working days: 22, 23, 29, 30, 31 Dec, 2, 5, 7,
            // 8, 9, 12, 13, 14, 15 Jan (1 Jan and 6 Jan are holidays) → 14th
            // working day is Thu 15 Jan 2026, ending at 17:00.
            ("2025-12-22T09:00:00+01:00", 5, "2026-01-15T17:00:00+01:00"),
            // The same in 2024/25, when 24 Dec was still a working day:
            // 23, 24, 27, 30, 31 Dec, 2, 3, 7, 8, 9, 10, 13, 14, 15 Jan → Wed 15 Jan.
            ("2024-12-23T09:00:00+01:00", 5, "2025-01-15T17:00:00+01:00"),
            // Received on Saturday: counts from Monday 09:00.
            ("2026-11-21T11:00:00+01:00", 1, "2026-11-24T17:00:00+01:00"),
        ];
        for (received, sev, expected) in table {
            let sev = Severity::from_number(*sev).unwrap();
            assert_eq!(
                p.deadline(&cal, t(received), sev).unwrap(),
                t(expected),
                "{received} sev {sev}"
            );
        }
    }

    #[test]
    fn reminder_instants() {
        let cal = Calendar::contract();
        let p = SlaPolicy::default();
        let r = t("2026-11-23T09:00:00+01:00");
        // 50% of 16 h = 8 h → Monday 17:00; 80% = 12.8 h → Tuesday 13:48.
        assert_eq!(
            p.fraction_at(&cal, r, Severity::Critical, 0.5).unwrap(),
            t("2026-11-23T17:00:00+01:00")
        );
        assert_eq!(
            p.fraction_at(&cal, r, Severity::Critical, 0.8).unwrap(),
            t("2026-11-24T13:48:00+01:00")
        );
    }

    #[test]
    fn severity_parsing() {
        for (text, ok) in [
            ("1", true),
            ("5", true),
            (" 3 ", true),
            ("0", false),
            ("6", false),
            ("x", false),
            ("", false),
        ] {
            assert_eq!(text.parse::<Severity>().is_ok(), ok, "{text:?}");
        }
        assert!(Severity::Question.is_enquiry() && !Severity::Minor.is_enquiry());
    }

    #[test]
    fn policy_validation() {
        assert!(SlaPolicy::new([16, 24, 0, 56, 112], vec![0.5]).is_err());
        assert!(SlaPolicy::new([16, 24, 32, 56, 112], vec![1.0]).is_err());
        assert!(SlaPolicy::new([16, 24, 32, 56, 112], vec![f64::NAN]).is_err());
        let p = SlaPolicy::new([1, 2, 3, 4, 5], vec![0.8, 0.5, 0.5]).unwrap();
        assert_eq!(p.reminders(), &[0.5, 0.8]);
        assert_eq!(p.target_secs(Severity::Suggestion), 5 * 3600);
    }

    #[test]
    fn explanation_lists_intervals_and_closures() {
        let cal = Calendar::contract();
        let p = SlaPolicy::default();
        let e = p
            .explain(&cal, t("2026-11-10T15:00:00+01:00"), Severity::Critical)
            .unwrap();
        assert_eq!(e.deadline, t("2026-11-13T15:00:00+01:00"));
        assert_eq!(e.intervals.len(), 3); // Tue 10 (2 h), Thu 12 (8 h), Fri 13 (6 h)
        assert_eq!(e.closed.len(), 1);
        let text = e.render(&cal, Lang::En);
        assert!(
            text.contains("Wed 11 Nov 2026  closed: Independence Day"),
            "{text}"
        );
        assert!(
            text.contains("Fri 13 Nov 2026  09:00:00–15:00:00  6 h 00 min  (total 16 h 00 min)"),
            "{text}"
        );
        let pl = e.render(&cal, Lang::Pl);
        assert!(
            pl.contains("śr., 11 listopada 2026 r.  nieczynne: Narodowe Święto Niepodległości"),
            "{pl}"
        );
    }
}
