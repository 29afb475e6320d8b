//! Mail about the desk rather than one ticket (pure): the consultants'
//! morning digest, and the monthly SLA report by mail. The scheduler
//! decides *when* ([`digest_due`], [`months_due`]); this module decides
//! *what*.
//!
//! The digest goes to each consultant on working days at opening, only
//! when there is something: tickets not yet accepted (by deadline, with the
//! working time left, at risk and breached marked), the consultant's own
//! open tickets, tickets waiting on customers with their next follow-up,
//! and what closes today.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;

use super::State;
use super::compose::{Audience, Composer, File, Mail};
use crate::lang::Lang;
use crate::sla::{Calendar, Severity, SlaPolicy, local};

/// One open ticket as the digest needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskTicket {
    /// The N of SS-N.
    pub number: u64,
    /// Subject.
    pub subject: String,
    /// Requester.
    pub requester: String,
    /// Severity.
    pub severity: Severity,
    /// State (never closed).
    pub state: State,
    /// Owner.
    pub owner: Option<String>,
    /// Received.
    pub received_at: DateTime<Utc>,
    /// The deadline in force.
    pub deadline_at: DateTime<Utc>,
    /// The next step of the customer-silence chain: (step code, due).
    pub next_chain_step: Option<(String, DateTime<Utc>)>,
}

/// Entries shown per section (the rest is counted).
pub const SECTION_MAX: usize = 50;

/// One line of a digest section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Line {
    #[serde(rename = "ref")]
    reference: String,
    subject: String,
    requester: String,
    severity: u8,
    when: String,
    note: String,
}

/// A digest section: its lines and how many more there are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
struct Section {
    lines: Vec<Line>,
    more: usize,
}

impl Section {
    fn push(&mut self, line: Line) {
        if self.lines.len() < SECTION_MAX {
            self.lines.push(line);
        } else {
            self.more += 1;
        }
    }

    fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// Whether today's digest is due at `now`: a working day, at or after its
/// opening, and not yet sent for that day (`last_day`). Returns the day.
pub fn digest_due(cal: &Calendar, now: DateTime<Utc>, last_day: Option<&str>) -> Option<NaiveDate> {
    let today = cal.timezone().local_date(now);
    let opening = cal.next_opening(cal.timezone().day_start(today)).ok()?;
    let opens_today = cal.timezone().local_date(opening) == today;
    (opens_today && now >= opening && last_day != Some(today.to_string().as_str())).then_some(today)
}

/// The months whose report is due at `now`: each month after `last` (the
/// last one sent, `YYYY-MM`) up to the previous month, once this month's
/// first working day has opened; only the previous month when none was
/// ever sent; at most twelve.
pub fn months_due(cal: &Calendar, now: DateTime<Utc>, last: Option<&str>) -> Vec<NaiveDate> {
    let zone = cal.timezone();
    let today = zone.local_date(now);
    let first = today.with_day(1).expect("day 1 exists");
    if cal
        .next_opening(zone.day_start(first))
        .is_ok_and(|opening| now < opening)
    {
        return Vec::new();
    }
    let previous = first
        .pred_opt()
        .and_then(|d| d.with_day(1))
        .expect("a month before");
    let last = last.and_then(|l| NaiveDate::parse_from_str(&format!("{l}-01"), "%Y-%m-%d").ok());
    let mut months = Vec::new();
    let mut m = match last {
        Some(l) if l >= previous => return months,
        Some(l) => next_month(l),
        None => previous,
    };
    while m <= previous && months.len() < 12 {
        months.push(m);
        m = next_month(m);
    }
    // Only the latest twelve after a long outage.
    months
}

fn next_month(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).expect("day 1 exists")
}

/// The last day of a month.
pub fn month_end(first: NaiveDate) -> NaiveDate {
    next_month(first).pred_opt().expect("a day before")
}

/// What the digest needs besides the tickets.
pub struct DigestRules<'a> {
    /// The calendar.
    pub calendar: &'a Calendar,
    /// Response targets (the first reminder marks "at risk").
    pub policy: &'a SlaPolicy,
    /// Ticket prefix.
    pub prefix: &'a str,
}

/// The digest of `consultant` on `day` at `now`; `None` when there is
/// nothing for them.
pub fn digest(
    c: &Composer<'_>,
    consultant: &str,
    tickets: &[DeskTicket],
    r: &DigestRules<'_>,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> crate::templates::Result<Option<Mail>> {
    let lang = c.consultant_language;
    let s = sections(consultant, tickets, r, day, now, lang);
    if [&s.unaccepted, &s.mine, &s.waiting, &s.closing]
        .iter()
        .all(|s| s.is_empty())
    {
        return Ok(None);
    }
    let ctx = json!({
        "day": local::render_date(day, lang),
        "unaccepted": s.unaccepted,
        "at_risk": s.at_risk,
        "breached": s.breached,
        "mine": s.mine,
        "waiting": s.waiting,
        "closing": s.closing,
        "support_name": c.support_name,
    });
    let rendered = c.templates.render(super::template::DIGEST, lang, &ctx)?;
    let mut m = c.ticketless(
        consultant,
        format!("digest:{day}:{consultant}"),
        super::template::DIGEST,
        &rendered,
        Audience::Consultant,
    );
    // One thread per day.
    let thread = format!("<digest.{day}@{}>", c.domain());
    m.headers.insert("References".into(), thread.clone());
    m.headers.insert("In-Reply-To".into(), thread);
    m.headers
        .insert("Auto-Submitted".into(), "auto-generated".into());
    Ok(Some(m))
}

/// The digest's sections for one consultant.
#[derive(Default)]
struct Sections {
    unaccepted: Section,
    mine: Section,
    waiting: Section,
    closing: Section,
    at_risk: usize,
    breached: usize,
}

fn sections(
    consultant: &str,
    tickets: &[DeskTicket],
    r: &DigestRules<'_>,
    day: NaiveDate,
    now: DateTime<Utc>,
    lang: Lang,
) -> Sections {
    let tz = r.calendar.timezone();
    let when = |at| local::render_local(at, tz, lang);
    let left = |at| {
        r.calendar
            .working_seconds(now, at)
            .map(|s| local::render_duration(s.unsigned_abs(), lang))
            .unwrap_or_default()
    };
    let line = |t: &DeskTicket, at: DateTime<Utc>, note: String| Line {
        reference: format!("{}-{}", r.prefix, t.number),
        subject: crate::mail::clean::one_line(&t.subject, 70),
        requester: t.requester.clone(),
        severity: t.severity.number(),
        when: when(at),
        note,
    };
    let mut s = Sections::default();
    let mut by_deadline: Vec<&DeskTicket> =
        tickets.iter().filter(|t| t.state == State::New).collect();
    by_deadline.sort_by_key(|t| (t.deadline_at, t.number));
    for t in by_deadline {
        let first = r.policy.at_risk_from(r.calendar, t.received_at, t.severity);
        let note = if now > t.deadline_at {
            s.breached += 1;
            words(lang).breached.replace("{}", &left(t.deadline_at))
        } else if first.is_some_and(|f| now >= f) {
            s.at_risk += 1;
            words(lang).at_risk.replace("{}", &left(t.deadline_at))
        } else {
            words(lang).left.replace("{}", &left(t.deadline_at))
        };
        s.unaccepted.push(line(t, t.deadline_at, note));
    }
    for t in tickets {
        if t.owner.as_deref() == Some(consultant) && t.state == State::Open {
            s.mine.push(line(t, t.received_at, String::new()));
        }
        if matches!(t.state, State::Waiting | State::Resolved)
            && let Some((step, at)) = &t.next_chain_step
        {
            let l = line(t, *at, step_name(step, lang).to_string());
            if step == "close" && tz.local_date(*at) == day {
                s.closing.push(l.clone());
            }
            s.waiting.push(l);
        }
    }
    s
}

struct Words {
    left: &'static str,
    at_risk: &'static str,
    breached: &'static str,
}

fn words(lang: Lang) -> Words {
    match lang {
        Lang::En => Words {
            left: "{} left",
            at_risk: "AT RISK, {} left",
            breached: "BREACHED {} ago",
        },
        Lang::Pl => Words {
            left: "zostało {}",
            at_risk: "ZAGROŻONE, zostało {}",
            breached: "PO TERMINIE od {}",
        },
    }
}

fn step_name(code: &str, lang: Lang) -> &'static str {
    match (code, lang) {
        ("followup-1", Lang::En) => "first follow-up",
        ("followup-2", Lang::En) => "second follow-up",
        ("close", Lang::En) => "closes as resolved",
        ("followup-1", Lang::Pl) => "pierwsze przypomnienie",
        ("followup-2", Lang::Pl) => "drugie przypomnienie",
        ("close", Lang::Pl) => "zamknięcie jako rozwiązane",
        (_, Lang::En) => "next step",
        (_, Lang::Pl) => "następny krok",
    }
}

/// A monthly SLA report mail: the text report as the body and the HTML
/// page attached.
#[allow(clippy::too_many_arguments)]
pub fn report_mail(
    c: &Composer<'_>,
    to: &[String],
    key: String,
    audience: Audience,
    report: &crate::report::Report,
    month: NaiveDate,
    lang: Lang,
) -> crate::templates::Result<Mail> {
    let ctx = json!({
        "month": month.format("%Y-%m").to_string(),
        "customer": report.customer.clone().unwrap_or_default(),
        "report": crate::report::render::text(report, lang),
        "support_name": c.support_name,
    });
    let rendered = c
        .templates
        .render(super::template::SLA_REPORT, lang, &ctx)?;
    let mut m = c.ticketless(
        &to.join(", "),
        key,
        super::template::SLA_REPORT,
        &rendered,
        audience,
    );
    m.to = to.to_vec();
    m.headers
        .insert("Auto-Submitted".into(), "auto-generated".into());
    let name = match &report.customer {
        Some(d) => format!("sla-{}-{d}.html", month.format("%Y-%m")),
        None => format!("sla-{}.html", month.format("%Y-%m")),
    };
    m.file = Some(File {
        name,
        content_type: "text/html; charset=utf-8".into(),
        data: crate::report::render::html(report, lang).into_bytes(),
    });
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_digest_is_due_once_a_working_day_from_opening() {
        let cal = Calendar::contract();
        let table = [
            // Monday 7 Dec 2026, 08:59 Warsaw: before opening.
            ("2026-12-07T07:59:00Z", None, None),
            ("2026-12-07T08:00:00Z", None, Some("2026-12-07")),
            ("2026-12-07T15:00:00Z", Some("2026-12-07"), None),
            (
                "2026-12-07T15:00:00Z",
                Some("2026-12-04"),
                Some("2026-12-07"),
            ),
            // Saturday and Christmas Day: no digest.
            ("2026-12-12T10:00:00Z", None, None),
            ("2026-12-25T10:00:00Z", None, None),
        ];
        for (now, last, expected) in table {
            assert_eq!(
                digest_due(&cal, t(now), last).map(|d| d.to_string()),
                expected.map(str::to_string),
                "{now} after {last:?}"
            );
        }
    }

    #[test]
    fn each_month_once_from_the_first_working_day() {
        let cal = Calendar::contract();
        let months = |now: &str, last: Option<&str>| {
            months_due(&cal, t(now), last)
                .iter()
                .map(|d| d.format("%Y-%m").to_string())
                .collect::<Vec<_>>()
        };
        // 1 Jan 2027 is a holiday, then a weekend: the first working day is
        // Monday 4 January.
        assert!(months("2027-01-02T10:00:00Z", Some("2026-11")).is_empty());
        assert_eq!(months("2027-01-04T08:00:00Z", Some("2026-11")), ["2026-12"]);
        assert!(months("2027-01-04T09:00:00Z", Some("2026-12")).is_empty());
        // A two-month outage: both missed months, each once.
        assert_eq!(
            months("2027-03-02T10:00:00Z", Some("2026-12")),
            ["2027-01", "2027-02"]
        );
        // Never sent: only the previous month.
        assert_eq!(months("2027-03-02T10:00:00Z", None), ["2027-02"]);
        assert_eq!(
            month_end("2027-02-01".parse().unwrap()).to_string(),
            "2027-02-28"
        );
    }
}
