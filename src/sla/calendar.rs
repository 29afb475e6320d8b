//! Business-time arithmetic on UTC instants (contract §5: 09:00–17:00 Warsaw
//! time, Monday to Friday, minus Polish public holidays).
//!
//! Owns: [`Calendar`] (time zone, opening hours, working weekdays, statutory
//! holidays, ops' closed days and special hours) and the four operations every
//! deadline stands on: add working seconds, working seconds between two
//! instants, next opening, and the working intervals of a span.
//!
//! Must not: read the clock or do I/O. `now` is always an argument.
//!
//! How it stays exact and fast: the first time a year is touched, the calendar
//! builds a table of that year's local days, each with its local midnight, its
//! opening and its closing as UTC seconds, and the working seconds of the year
//! before it. Local time (and so both DST changes) is resolved once, while the
//! table is built; afterwards every operation is integer arithmetic and a
//! binary search, so whole days, weeks and years are skipped without walking.
//!
//! Invariants:
//! - the working window of a day is half-open, `[open, close)`: an instant at
//!   09:00:00 counts at once, one at 17:00:00 counts from the next opening;
//! - adding N > 0 working seconds yields the *earliest* instant at which N
//!   seconds have been worked, so a target that ends exactly at closing time
//!   ends at 17:00 that day, never at the next morning's opening;
//! - instants are whole seconds; a sub-second part is truncated;
//! - the supported range is the local years [`FIRST_YEAR`]..=[`LAST_YEAR`],
//!   the years whose holiday rules are known; outside it every operation
//!   returns [`Error::OutOfRange`] rather than a guess.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::OnceLock;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};

use super::holidays::{self, FIRST_YEAR, Holiday, LAST_YEAR};
use super::zone::Zone;

/// Seconds in a day of 24 hours; local days are 23 or 25 hours around DST.
const DAY_SECS: i64 = 86_400;

/// Errors of calendar arithmetic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The instant, or the result, lies outside the years whose holidays we know.
    #[error(
        "cannot count working time at {at}: the calendar covers local dates {FIRST_YEAR}-01-01 \
         to {LAST_YEAR}-12-31 only (the years whose Polish holiday rules are known)"
    )]
    OutOfRange {
        /// The instant that fell outside, RFC 3339 UTC.
        at: String,
    },
}

/// Result of calendar arithmetic.
pub type Result<T> = std::result::Result<T, Error>;

fn out_of_range(at: i64) -> Error {
    Error::OutOfRange {
        at: DateTime::from_timestamp(at, 0)
            .map(super::format_utc)
            .unwrap_or_else(|| format!("unix time {at}")),
    }
}

/// Opening hours of one day: a half-open local range `[open, close)`, as
/// seconds after local midnight. `close` may be 24:00 (86 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    open: u32,
    close: u32,
}

impl Hours {
    /// The contract's hours, 09:00–17:00.
    pub const CONTRACT: Hours = Hours {
        open: 9 * 3600,
        close: 17 * 3600,
    };

    /// Hours from seconds after local midnight; `open` must come before `close`.
    pub fn new(open: u32, close: u32) -> std::result::Result<Self, String> {
        if close > DAY_SECS as u32 {
            return Err("closing time is after 24:00".into());
        }
        if open >= close {
            return Err(format!(
                "opening time {} is not before closing time {}; write the opening first, \
                 e.g. \"09:00-17:00\"",
                hhmm(open),
                hhmm(close)
            ));
        }
        Ok(Hours { open, close })
    }

    /// Parses `HH:MM-HH:MM` (24-hour clock; `24:00` allowed as closing time).
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let bad = || {
            format!(
                "{text:?} is not an opening-hours range; write it as HH:MM-HH:MM, e.g. \"09:00-17:00\""
            )
        };
        let (a, b) = text.trim().split_once('-').ok_or_else(bad)?;
        let open = parse_hhmm(a.trim()).ok_or_else(bad)?;
        let close = parse_hhmm(b.trim()).ok_or_else(bad)?;
        Hours::new(open, close).map_err(|e| format!("{text:?}: {e}"))
    }

    /// Seconds after local midnight at which the day opens.
    pub fn open_secs(self) -> u32 {
        self.open
    }

    /// Seconds after local midnight at which the day closes.
    pub fn close_secs(self) -> u32 {
        self.close
    }

    /// Length of the range in seconds (ignoring any DST change inside it).
    pub fn len_secs(self) -> u32 {
        self.close - self.open
    }
}

impl fmt::Display for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", hhmm(self.open), hhmm(self.close))
    }
}

fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 3600 + m * 60)
}

fn hhmm(secs: u32) -> String {
    format!("{:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

/// Why a local date is (not) a working day; used for explanations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayKind {
    /// An ordinary working weekday with the default hours.
    Working(Hours),
    /// A date with special hours from the config (they override holidays and
    /// weekends alike).
    Special(Hours),
    /// A weekday that is not a working weekday (Saturday and Sunday by default).
    Weekend(Weekday),
    /// A Polish statutory holiday.
    Holiday(Holiday),
    /// An extra closed day from the config.
    Closed,
}

impl DayKind {
    /// The opening hours of the day, if it is open at all.
    pub fn hours(&self) -> Option<Hours> {
        match self {
            DayKind::Working(h) | DayKind::Special(h) => Some(*h),
            DayKind::Weekend(_) | DayKind::Holiday(_) | DayKind::Closed => None,
        }
    }
}

/// What makes up a business calendar. [`Default`] is the contract's.
#[derive(Debug, Clone, PartialEq)]
pub struct CalendarSpec {
    /// Zone in which weekdays, holidays and opening hours are decided.
    pub timezone: Zone,
    /// Opening hours of every working weekday.
    pub hours: Hours,
    /// Working weekdays, indexed by `Weekday::num_days_from_monday`.
    pub weekdays: [bool; 7],
    /// Extra closed days (ops' additions, e.g. a day given back for a holiday
    /// on a Saturday).
    pub closed_days: BTreeSet<NaiveDate>,
    /// Dates with their own hours; they override holidays and weekends.
    pub special_hours: BTreeMap<NaiveDate, Hours>,
}

impl Default for CalendarSpec {
    fn default() -> Self {
        CalendarSpec {
            timezone: Zone::warsaw(),
            hours: Hours::CONTRACT,
            weekdays: [true, true, true, true, true, false, false],
            closed_days: BTreeSet::new(),
            special_hours: BTreeMap::new(),
        }
    }
}

impl CalendarSpec {
    /// Why `date` is or is not a working day under this spec.
    pub fn day_kind(&self, date: NaiveDate) -> DayKind {
        self.day_kind_with(date, holidays::holiday_on(date))
    }

    fn day_kind_with(&self, date: NaiveDate, holiday: Option<Holiday>) -> DayKind {
        // Order matters: special hours win over everything (a working Saturday,
        // a shortened holiday), then ops' closed days, then the statute, then
        // the weekly pattern.
        if let Some(h) = self.special_hours.get(&date) {
            DayKind::Special(*h)
        } else if self.closed_days.contains(&date) {
            DayKind::Closed
        } else if let Some(h) = holiday {
            DayKind::Holiday(h)
        } else if !self.weekdays[date.weekday().num_days_from_monday() as usize] {
            DayKind::Weekend(date.weekday())
        } else {
            DayKind::Working(self.hours)
        }
    }
}

/// One local day in a year table, all instants as UTC seconds.
#[derive(Debug, Clone, Copy)]
struct Day {
    /// Local midnight that starts the day.
    start: i64,
    /// Opening instant (equal to `close` on a closed day).
    open: i64,
    /// Closing instant.
    close: i64,
    /// Working seconds of the year before this day.
    cum: i64,
}

impl Day {
    /// Working seconds of the year up to instant `t` (which lies in this day).
    #[inline]
    fn elapsed(&self, t: i64) -> i64 {
        self.cum + (t.clamp(self.open, self.close) - self.open)
    }

    #[inline]
    fn end_cum(&self) -> i64 {
        self.cum + (self.close - self.open)
    }
}

#[derive(Debug)]
struct YearTable {
    days: Box<[Day]>,
    /// Local midnight that starts the next year.
    end: i64,
    /// Working seconds in the whole year.
    total: i64,
}

/// A business calendar with its lazily built year tables. Cheap to share by
/// reference across threads (`Send + Sync`); build it once per config.
pub struct Calendar {
    spec: CalendarSpec,
    years: Box<[OnceLock<YearTable>]>,
}

impl fmt::Debug for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Calendar")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl Clone for Calendar {
    fn clone(&self) -> Self {
        Calendar::new(self.spec.clone())
    }
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar::new(CalendarSpec::default())
    }
}

impl Calendar {
    /// A calendar for `spec`. Year tables are built on first use (about 370
    /// time-zone conversions each), so construction itself is cheap.
    pub fn new(spec: CalendarSpec) -> Self {
        let n = (LAST_YEAR - FIRST_YEAR + 1) as usize;
        Calendar {
            spec,
            years: (0..n).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The contract's calendar: 09:00–17:00 Europe/Warsaw, Monday–Friday,
    /// Polish public holidays.
    pub fn contract() -> Self {
        Calendar::default()
    }

    /// What this calendar was built from.
    pub fn spec(&self) -> &CalendarSpec {
        &self.spec
    }

    /// The calendar's time zone.
    pub fn timezone(&self) -> &Zone {
        &self.spec.timezone
    }

    /// Why `date` is or is not a working day.
    pub fn day_kind(&self, date: NaiveDate) -> DayKind {
        self.spec.day_kind(date)
    }

    /// Adds `secs` working seconds to `from`: the earliest instant at which
    /// `secs` seconds of working time have passed since `from`. Zero returns
    /// `from` itself (truncated to the second).
    pub fn add_working_seconds(&self, from: DateTime<Utc>, secs: u64) -> Result<DateTime<Utc>> {
        let t = from.timestamp();
        let secs = i64::try_from(secs).map_err(|_| out_of_range(t))?;
        self.add_secs(t, secs).map(to_utc)
    }

    /// Working seconds from `from` to `to`; negative when `to` is before `from`.
    pub fn working_seconds(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<i64> {
        let (a, b) = (from.timestamp(), to.timestamp());
        if b < a {
            return self.between(b, a).map(|s| -s);
        }
        self.between(a, b)
    }

    /// The first instant at or after `at` that lies inside working hours.
    pub fn next_opening(&self, at: DateTime<Utc>) -> Result<DateTime<Utc>> {
        // The earliest instant with one more second worked is one second past
        // the next working instant.
        self.add_secs(at.timestamp(), 1).map(|t| to_utc(t - 1))
    }

    /// Whether `at` lies inside working hours.
    pub fn is_working_instant(&self, at: DateTime<Utc>) -> Result<bool> {
        Ok(self.next_opening(at)? == to_utc(at.timestamp()))
    }

    /// The working intervals `[start, end)` that make up the span `[from, to)`,
    /// in order, one per working day touched. For explanations: it walks the
    /// days of the span, so keep spans to what a person reads.
    pub fn working_intervals(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
        let (a, b) = (from.timestamp(), to.timestamp());
        let mut out = Vec::new();
        if b <= a {
            return Ok(out);
        }
        let (mut year, mut table, mut i) = self.locate(a)?;
        self.locate(b)?;
        loop {
            let d = &table.days[i];
            if d.start >= b {
                break;
            }
            let (s, e) = (a.max(d.open), b.min(d.close));
            if s < e {
                out.push((to_utc(s), to_utc(e)));
            }
            i += 1;
            if i == table.days.len() {
                if year == LAST_YEAR {
                    break;
                }
                year += 1;
                table = self.year_table(year);
                i = 0;
            }
        }
        Ok(out)
    }

    /// `days` calendar days after `at`: the same local wall-clock time that
    /// many dates later, so a span across a DST change keeps its hour (14
    /// days from 10:00 in October is 10:00 in November, not 09:00).
    pub fn add_calendar_days(&self, at: DateTime<Utc>, days: u32) -> DateTime<Utc> {
        let tz = &self.spec.timezone;
        let local = tz.to_local(at) + chrono::Days::new(days.into());
        to_utc(tz.local_to_utc(local))
    }

    /// The local date of an instant in the calendar's zone.
    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        self.spec.timezone.local_date(at)
    }

    // ---- integer core -------------------------------------------------------

    fn add_secs(&self, t: i64, n: i64) -> Result<i64> {
        let (mut year, mut table, i) = self.locate(t)?;
        if n == 0 {
            return Ok(t);
        }
        let mut target = table.days[i].elapsed(t) + n;
        loop {
            if target <= table.total {
                // First day whose cumulative end reaches the target; it has
                // working time (a closed day's end equals the previous end).
                let j = table.days.partition_point(|d| d.end_cum() < target);
                let d = &table.days[j];
                return Ok(d.open + (target - d.cum));
            }
            target -= table.total;
            if year == LAST_YEAR {
                return Err(out_of_range(table.end));
            }
            year += 1;
            table = self.year_table(year);
        }
    }

    fn between(&self, a: i64, b: i64) -> Result<i64> {
        let (ya, ta, ia) = self.locate(a)?;
        let (yb, tb, ib) = self.locate(b)?;
        let ea = ta.days[ia].elapsed(a);
        let eb = tb.days[ib].elapsed(b);
        if ya == yb {
            return Ok(eb - ea);
        }
        let middle: i64 = (ya + 1..yb).map(|y| self.year_table(y).total).sum();
        Ok(ta.total - ea + middle + eb)
    }

    fn year_table(&self, year: i32) -> &YearTable {
        self.years[(year - FIRST_YEAR) as usize].get_or_init(|| build_year(&self.spec, year))
    }

    /// The local year, its table and the index of the local day holding `t`.
    #[inline]
    fn locate(&self, t: i64) -> Result<(i32, &YearTable, usize)> {
        // The UTC year is the local year or one off it.
        let mut year = DateTime::from_timestamp(t, 0)
            .ok_or_else(|| out_of_range(t))?
            .year()
            .clamp(FIRST_YEAR, LAST_YEAR);
        let table = loop {
            let table = self.year_table(year);
            if t < table.days[0].start {
                if year == FIRST_YEAR {
                    return Err(out_of_range(t));
                }
                year -= 1;
            } else if t >= table.end {
                if year == LAST_YEAR {
                    return Err(out_of_range(t));
                }
                year += 1;
            } else {
                break table;
            }
        };
        let days = &table.days;
        // Local days are 23–25 h long, so the guess is at most one day off.
        let mut i = ((t - days[0].start) / DAY_SECS).clamp(0, days.len() as i64 - 1) as usize;
        while days[i].start > t {
            i -= 1;
        }
        while i + 1 < days.len() && days[i + 1].start <= t {
            i += 1;
        }
        Ok((year, table, i))
    }
}

fn to_utc(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).expect("calendar instants lie within 1989..2202")
}

fn build_year(spec: &CalendarSpec, year: i32) -> YearTable {
    let tz = &spec.timezone;
    let holidays = holidays::holidays_in_year(year);
    let first = NaiveDate::from_ymd_opt(year, 1, 1).expect("supported years have 1 January");
    let next_first =
        NaiveDate::from_ymd_opt(year + 1, 1, 1).expect("supported years have a successor");
    let mut days = Vec::with_capacity(366);
    let mut cum = 0;
    let mut hol = holidays.iter().peekable();
    for date in first.iter_days().take_while(|d| *d < next_first) {
        let holiday = hol.next_if(|h| h.date == date).copied();
        let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
        let start = tz.local_to_utc(midnight);
        let (open, close) = match spec.day_kind_with(date, holiday).hours() {
            Some(h) => {
                let open = tz.local_to_utc(midnight + Duration::seconds(h.open.into()));
                let close = tz.local_to_utc(midnight + Duration::seconds(h.close.into()));
                (open, close.max(open))
            }
            None => (start, start),
        };
        days.push(Day {
            start,
            open,
            close,
            cum,
        });
        cum += close - open;
    }
    YearTable {
        days: days.into_boxed_slice(),
        end: tz.local_to_utc(next_first.and_hms_opt(0, 0, 0).expect("midnight exists")),
        total: cum,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const H: u64 = 3600;

    #[test]
    fn calendar_days_keep_the_local_hour_across_dst() {
        let cal = Calendar::contract();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // (from, days, expected): 10:00 Warsaw stays 10:00 Warsaw.
        let table = [
            ("2026-10-20T08:00:00Z", 14, "2026-11-03T09:00:00Z"),
            ("2026-03-20T09:00:00Z", 14, "2026-04-03T08:00:00Z"),
            ("2026-11-24T09:00:00Z", 14, "2026-12-08T09:00:00Z"),
            ("2026-11-24T09:00:00Z", 0, "2026-11-24T09:00:00Z"),
        ];
        for (from, days, expected) in table {
            assert_eq!(
                cal.add_calendar_days(at(from), days),
                at(expected),
                "{from} + {days}"
            );
        }
    }

    #[test]
    fn add_working_time_table() {
        let cal = Calendar::contract();
        // (received, working seconds, expected) — local Warsaw times, hand-checked.
        let table: &[(&str, u64, &str)] = &[
            // Inside a working day.
            (
                "2026-11-24T10:00:00+01:00",
                2 * H,
                "2026-11-24T12:00:00+01:00",
            ),
            // 08:59:59 counts from 09:00.
            ("2026-11-24T08:59:59+01:00", H, "2026-11-24T10:00:00+01:00"),
            // 09:00:00 counts at once.
            (
                "2026-11-24T09:00:00+01:00",
                8 * H,
                "2026-11-24T17:00:00+01:00",
            ),
            // 16:59:59 counts one second that day.
            ("2026-11-24T16:59:59+01:00", 1, "2026-11-24T17:00:00+01:00"),
            ("2026-11-24T16:59:59+01:00", 2, "2026-11-25T09:00:01+01:00"),
            // 17:00:00 counts from the next opening.
            ("2026-11-24T17:00:00+01:00", 1, "2026-11-25T09:00:01+01:00"),
            // Friday evening → Monday.
            (
                "2026-11-20T18:00:00+01:00",
                8 * H,
                "2026-11-23T17:00:00+01:00",
            ),
            // Saturday → Monday.
            (
                "2026-11-21T12:00:00+01:00",
                4 * H,
                "2026-11-23T13:00:00+01:00",
            ),
            // Friday 16:30 + 16 h → Tuesday 16:30 (sev 1 over a weekend).
            (
                "2026-11-20T16:30:00+01:00",
                16 * H,
                "2026-11-24T16:30:00+01:00",
            ),
            // 10 Nov (Tue) 15:00 + 8 h skips Independence Day (Wed 11 Nov).
            (
                "2026-11-10T15:00:00+01:00",
                8 * H,
                "2026-11-12T15:00:00+01:00",
            ),
            // Christmas 2024: 24 Dec is a working day (Tuesday).
            (
                "2024-12-23T09:00:00+01:00",
                16 * H,
                "2024-12-24T17:00:00+01:00",
            ),
            (
                "2024-12-23T09:00:00+01:00",
                16 * H + 1,
                "2024-12-27T09:00:01+01:00",
            ),
            // Christmas 2025: 24 Dec is a holiday (Wednesday).
            (
                "2025-12-23T09:00:00+01:00",
                8 * H + 1,
                "2025-12-29T09:00:01+01:00",
            ),
            // Easter 2026: Good Friday works, Easter Monday 6 Apr does not.
            (
                "2026-04-03T16:30:00+02:00",
                16 * H,
                "2026-04-08T16:30:00+02:00",
            ),
            // Corpus Christi 2026 (Thu 4 Jun).
            (
                "2026-06-03T13:00:00+02:00",
                8 * H,
                "2026-06-05T13:00:00+02:00",
            ),
            // Epiphany: 6 Jan 2010 (Wed) worked, 6 Jan 2011 (Thu) did not.
            (
                "2010-01-05T17:00:00+01:00",
                8 * H,
                "2010-01-06T17:00:00+01:00",
            ),
            (
                "2011-01-05T17:00:00+01:00",
                8 * H,
                "2011-01-07T17:00:00+01:00",
            ),
            // 12 Nov 2018 (Mon, one-off) after Independence Day on Sunday.
            (
                "2018-11-09T17:00:00+01:00",
                8 * H,
                "2018-11-13T17:00:00+01:00",
            ),
            // Spring DST weekend 2026 (29 Mar): Friday 16:00 CET + 2 h → Monday 10:00 CEST.
            (
                "2026-03-27T16:00:00+01:00",
                2 * H,
                "2026-03-30T10:00:00+02:00",
            ),
            // Autumn DST weekend 2026 (25 Oct): Friday 16:00 CEST + 2 h → Monday 10:00 CET.
            (
                "2026-10-23T16:00:00+02:00",
                2 * H,
                "2026-10-26T10:00:00+01:00",
            ),
            // Instants given during the DST night itself.
            ("2026-03-29T01:30:00Z", H, "2026-03-30T10:00:00+02:00"),
            ("2026-10-25T00:30:00Z", H, "2026-10-26T10:00:00+01:00"),
            // Year end: 31 Dec 2026 (Thu) 16:00 + 2 h → 2 Jan 2027 is Saturday → Mon 4 Jan.
            (
                "2026-12-31T16:00:00+01:00",
                2 * H,
                "2027-01-04T10:00:00+01:00",
            ),
            // Zero adds nothing, even at night.
            ("2026-11-24T03:00:00+01:00", 0, "2026-11-24T03:00:00+01:00"),
        ];
        for (from, secs, expected) in table {
            let got = cal.add_working_seconds(t(from), *secs).unwrap();
            assert_eq!(got, t(expected), "{from} + {secs}s");
        }
    }

    /// For each kind of holiday: 2 working hours from 16:00 on the working day
    /// before land at 10:00 on the working day after, and the holiday itself
    /// holds no working time.
    #[test]
    fn holiday_neighbours_table() {
        let cal = Calendar::contract();
        // (kind, holiday, working day before, working day after)
        let table = [
            ("New Year", "2025-01-01", "2024-12-31", "2025-01-02"),
            (
                "Epiphany (from 2011)",
                "2025-01-06",
                "2025-01-03",
                "2025-01-07",
            ),
            ("Easter Monday", "2025-04-21", "2025-04-18", "2025-04-22"),
            ("Labour Day", "2024-05-01", "2024-04-30", "2024-05-02"),
            ("Constitution Day", "2023-05-03", "2023-05-02", "2023-05-04"),
            ("Corpus Christi", "2025-06-19", "2025-06-18", "2025-06-20"),
            ("Assumption", "2024-08-15", "2024-08-14", "2024-08-16"),
            ("All Saints", "2024-11-01", "2024-10-31", "2024-11-04"),
            ("Independence Day", "2025-11-11", "2025-11-10", "2025-11-12"),
            (
                "one-off 12 Nov 2018",
                "2018-11-12",
                "2018-11-09",
                "2018-11-13",
            ),
            (
                "Christmas Eve (from 2025)",
                "2025-12-24",
                "2025-12-23",
                "2025-12-29",
            ),
            ("Christmas", "2023-12-25", "2023-12-22", "2023-12-27"),
            (
                "Christmas Eve in 2104",
                "2104-12-24",
                "2104-12-23",
                "2104-12-29",
            ),
        ];
        for (kind, holiday, before, after) in table {
            let from = t(&format!("{before}T16:00:00{}", offset(before)));
            let expected = t(&format!("{after}T10:00:00{}", offset(after)));
            assert_eq!(
                cal.add_working_seconds(from, 2 * H).unwrap(),
                expected,
                "{kind}"
            );
            let day = t(&format!("{holiday}T00:00:00{}", offset(holiday)));
            assert_eq!(
                cal.working_seconds(day, day + Duration::days(1)).unwrap(),
                0,
                "{kind}"
            );
        }
        // The same days before the rules took effect were working days.
        for day in ["2010-01-06", "2024-12-24", "2017-11-13"] {
            let d = t(&format!("{day}T00:00:00+01:00"));
            assert_eq!(
                cal.working_seconds(d, d + Duration::days(1)).unwrap(),
                8 * 3600,
                "{day}"
            );
        }
    }

    /// Warsaw's UTC offset on a date in these tests (summer time from the
    /// last Sunday of March to the last Sunday of October).
    fn offset(date: &str) -> &'static str {
        let d = NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
        let local = d.and_hms_opt(12, 0, 0).unwrap();
        if local.and_utc().timestamp() - Zone::warsaw().local_to_utc(local) == 7200 {
            "+02:00"
        } else {
            "+01:00"
        }
    }

    #[test]
    fn working_seconds_table() {
        let cal = Calendar::contract();
        let table: &[(&str, &str, i64)] = &[
            (
                "2026-11-24T09:00:00+01:00",
                "2026-11-24T17:00:00+01:00",
                8 * 3600,
            ),
            (
                "2026-11-24T08:00:00+01:00",
                "2026-11-24T18:00:00+01:00",
                8 * 3600,
            ),
            ("2026-11-24T16:59:59+01:00", "2026-11-24T17:00:00+01:00", 1),
            ("2026-11-24T17:00:00+01:00", "2026-11-25T09:00:00+01:00", 0),
            (
                "2026-11-20T12:00:00+01:00",
                "2026-11-23T12:00:00+01:00",
                8 * 3600,
            ),
            // Reversed spans are negative.
            (
                "2026-11-23T12:00:00+01:00",
                "2026-11-20T12:00:00+01:00",
                -8 * 3600,
            ),
            // A whole week with Independence Day: 4 working days.
            (
                "2026-11-09T00:00:00+01:00",
                "2026-11-16T00:00:00+01:00",
                4 * 8 * 3600,
            ),
            // Spring DST night does not change the working day's length.
            (
                "2026-03-29T00:00:00+01:00",
                "2026-03-31T00:00:00+02:00",
                8 * 3600,
            ),
            // Across a year end: 31 Dec 2026 (Thu) 16:00 → 4 Jan 2027 10:00 is 2 h.
            (
                "2026-12-31T16:00:00+01:00",
                "2027-01-04T10:00:00+01:00",
                2 * 3600,
            ),
            // Whole years (weekdays minus holidays on weekdays): 2025 has 251
            // working days, 2024 had 252 (24 Dec still worked), 2026 has 253.
            (
                "2025-01-01T00:00:00+01:00",
                "2026-01-01T00:00:00+01:00",
                251 * 8 * 3600,
            ),
            (
                "2024-01-01T00:00:00+01:00",
                "2025-01-01T00:00:00+01:00",
                252 * 8 * 3600,
            ),
            (
                "2026-01-01T00:00:00+01:00",
                "2027-01-01T00:00:00+01:00",
                253 * 8 * 3600,
            ),
        ];
        for (from, to, expected) in table {
            let got = cal.working_seconds(t(from), t(to)).unwrap();
            assert_eq!(got, *expected, "{from} .. {to}");
        }
    }

    #[test]
    fn next_opening_table() {
        let cal = Calendar::contract();
        let table: &[(&str, &str)] = &[
            ("2026-11-24T08:59:59+01:00", "2026-11-24T09:00:00+01:00"),
            ("2026-11-24T09:00:00+01:00", "2026-11-24T09:00:00+01:00"),
            ("2026-11-24T16:59:59+01:00", "2026-11-24T16:59:59+01:00"),
            ("2026-11-24T17:00:00+01:00", "2026-11-25T09:00:00+01:00"),
            ("2026-11-20T17:00:00+01:00", "2026-11-23T09:00:00+01:00"),
            ("2025-12-23T17:00:00+01:00", "2025-12-29T09:00:00+01:00"),
            ("2026-04-03T20:00:00+02:00", "2026-04-07T09:00:00+02:00"),
        ];
        for (at, expected) in table {
            assert_eq!(cal.next_opening(t(at)).unwrap(), t(expected), "{at}");
        }
    }

    #[test]
    fn intervals_cover_the_span() {
        let cal = Calendar::contract();
        let iv = cal
            .working_intervals(
                t("2026-11-20T16:30:00+01:00"),
                t("2026-11-24T16:30:00+01:00"),
            )
            .unwrap();
        let expected = [
            ("2026-11-20T16:30:00+01:00", "2026-11-20T17:00:00+01:00"),
            ("2026-11-23T09:00:00+01:00", "2026-11-23T17:00:00+01:00"),
            ("2026-11-24T09:00:00+01:00", "2026-11-24T16:30:00+01:00"),
        ];
        let expected: Vec<_> = expected.iter().map(|(a, b)| (t(a), t(b))).collect();
        assert_eq!(iv, expected);
    }

    #[test]
    fn config_additions_change_the_count() {
        let mut spec = CalendarSpec::default();
        // Ops close 31 Dec 2026 and shorten 23 Dec 2026; a special Saturday opens.
        spec.closed_days
            .insert(NaiveDate::from_ymd_opt(2026, 12, 31).unwrap());
        spec.special_hours.insert(
            NaiveDate::from_ymd_opt(2026, 12, 23).unwrap(),
            Hours::parse("09:00-13:00").unwrap(),
        );
        // Special hours override a holiday: 11 Nov 2026 opens 10:00-12:00.
        spec.special_hours.insert(
            NaiveDate::from_ymd_opt(2026, 11, 11).unwrap(),
            Hours::parse("10:00-12:00").unwrap(),
        );
        let cal = Calendar::new(spec);
        let table: &[(&str, &str, i64)] = &[
            (
                "2026-12-23T00:00:00+01:00",
                "2026-12-24T00:00:00+01:00",
                4 * 3600,
            ),
            ("2026-12-31T00:00:00+01:00", "2027-01-01T00:00:00+01:00", 0),
            (
                "2026-11-11T00:00:00+01:00",
                "2026-11-12T00:00:00+01:00",
                2 * 3600,
            ),
        ];
        for (from, to, expected) in table {
            assert_eq!(
                cal.working_seconds(t(from), t(to)).unwrap(),
                *expected,
                "{from}"
            );
        }
        // A target ending at a shortened day's closing time ends then.
        assert_eq!(
            cal.add_working_seconds(t("2026-12-23T09:00:00+01:00"), 4 * H)
                .unwrap(),
            t("2026-12-23T13:00:00+01:00")
        );
    }

    #[test]
    fn other_hours_and_zones() {
        // A New York calendar open 08:00-18:00, crossing the US DST change
        // (8 Mar 2026): Friday 17:00 EST + 2 h → Monday 09:00 EDT.
        let spec = CalendarSpec {
            timezone: Zone::get("America/New_York").unwrap(),
            hours: Hours::parse("08:00-18:00").unwrap(),
            ..CalendarSpec::default()
        };
        let cal = Calendar::new(spec);
        assert_eq!(
            cal.add_working_seconds(t("2026-03-06T17:00:00-05:00"), 2 * H)
                .unwrap(),
            t("2026-03-09T09:00:00-04:00")
        );
        // Round-the-clock hours across the Warsaw spring change: that Sunday
        // would have 23 h if Sunday worked; Monday has 24 h.
        let spec = CalendarSpec {
            hours: Hours::parse("00:00-24:00").unwrap(),
            weekdays: [true; 7],
            ..CalendarSpec::default()
        };
        let cal = Calendar::new(spec);
        assert_eq!(
            cal.working_seconds(
                t("2026-03-30T00:00:00+02:00"),
                t("2026-03-31T00:00:00+02:00")
            )
            .unwrap(),
            24 * 3600
        );
        // 29 Mar 2026 is Sunday and not a holiday: 23 working hours that day.
        assert_eq!(
            cal.working_seconds(
                t("2026-03-29T00:00:00+01:00"),
                t("2026-03-30T00:00:00+02:00")
            )
            .unwrap(),
            23 * 3600
        );
    }

    #[test]
    fn range_edges() {
        let cal = Calendar::contract();
        assert!(cal.next_opening(t("1990-01-01T00:00:00+01:00")).is_ok());
        assert!(cal.next_opening(t("1989-12-31T22:59:59Z")).is_err());
        assert!(
            cal.working_seconds(t("1990-01-02T00:00:00Z"), t("2200-12-30T00:00:00Z"))
                .is_ok()
        );
        let err = cal
            .add_working_seconds(t("2200-12-31T12:00:00+01:00"), 8 * H)
            .unwrap_err();
        assert!(err.to_string().contains("2200-12-31"), "{err}");
        assert!(
            cal.add_working_seconds(t("2300-01-01T00:00:00Z"), 1)
                .is_err()
        );
    }

    #[test]
    fn hours_parsing() {
        let ok = [
            ("09:00-17:00", 9 * 3600, 17 * 3600),
            ("0:00-24:00", 0, 86_400),
            (" 8:30 - 16:15 ", 30_600, 58_500),
        ];
        for (text, open, close) in ok {
            let h = Hours::parse(text).unwrap();
            assert_eq!((h.open_secs(), h.close_secs()), (open, close), "{text}");
        }
        for bad in [
            "18:00-09:00",
            "09:00-09:00",
            "9-17",
            "09:00",
            "25:00-26:00",
            "09:60-17:00",
            "24:30-24:40",
            "",
        ] {
            let err = Hours::parse(bad).unwrap_err();
            assert!(err.contains(bad) || bad.is_empty(), "{bad}: {err}");
        }
    }

    #[test]
    fn day_kinds_explain_closures() {
        let cal = Calendar::contract();
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert!(
            matches!(cal.day_kind(d("2026-11-11")), DayKind::Holiday(h) if h.name_en == "Independence Day")
        );
        assert_eq!(
            cal.day_kind(d("2026-11-21")),
            DayKind::Weekend(Weekday::Sat)
        );
        assert_eq!(
            cal.day_kind(d("2026-11-23")),
            DayKind::Working(Hours::CONTRACT)
        );
    }
}

#[cfg(test)]
mod proptests {
    //! Properties of the arithmetic, and a comparison with a naive model that
    //! walks local days with a time-zone conversion for every opening and
    //! closing (no tables, no binary search).
    use super::*;
    use proptest::prelude::*;

    /// 1990-01-02 .. 2199-06-01, away from the range edges.
    fn instant() -> impl Strategy<Value = i64> {
        631_238_400i64..7_246_000_000i64
    }

    fn contract() -> &'static Calendar {
        static CAL: OnceLock<Calendar> = OnceLock::new();
        CAL.get_or_init(Calendar::contract)
    }

    fn utc(t: i64) -> DateTime<Utc> {
        to_utc(t)
    }

    /// A random calendar whose opening and closing avoid the hours in which
    /// these zones change clocks (00:00–04:00), so local times are unique.
    fn spec() -> impl Strategy<Value = CalendarSpec> {
        let zones = prop::sample::select(vec![
            "Europe/Warsaw",
            "America/New_York",
            "Australia/Sydney",
            "Asia/Kolkata",
            "UTC",
        ]);
        (
            zones,
            5u32..12,
            1u32..10,
            prop::array::uniform7(any::<bool>()),
            prop::collection::vec(0i64..400, 0..6),
        )
            .prop_map(|(zone, open_h, len_h, mut weekdays, closed)| {
                if !weekdays.iter().any(|b| *b) {
                    weekdays[0] = true;
                }
                let base = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
                CalendarSpec {
                    timezone: Zone::get(zone).unwrap(),
                    hours: Hours::new(open_h * 3600, (open_h + len_h).min(23) * 3600).unwrap(),
                    weekdays,
                    closed_days: closed.iter().map(|d| base + Duration::days(*d)).collect(),
                    special_hours: BTreeMap::new(),
                }
            })
    }

    fn naive_window(spec: &CalendarSpec, date: NaiveDate) -> Option<(i64, i64)> {
        let h = spec.day_kind(date).hours()?;
        let at = |secs: u32| {
            let naive = date.and_hms_opt(0, 0, 0).unwrap() + Duration::seconds(secs.into());
            spec.timezone.local_to_utc(naive)
        };
        Some((at(h.open_secs()), at(h.close_secs())))
    }

    fn naive_add(spec: &CalendarSpec, t: i64, n: i64) -> i64 {
        if n == 0 {
            return t;
        }
        let mut left = n;
        let mut date = spec.timezone.local_date(utc(t));
        loop {
            if let Some((open, close)) = naive_window(spec, date) {
                let start = t.max(open);
                if start < close {
                    if left <= close - start {
                        return start + left;
                    }
                    left -= close - start;
                }
            }
            date = date.succ_opt().unwrap();
        }
    }

    fn naive_between(spec: &CalendarSpec, a: i64, b: i64) -> i64 {
        let mut date = spec.timezone.local_date(utc(a));
        let last = spec.timezone.local_date(utc(b));
        let mut sum = 0;
        while date <= last {
            if let Some((open, close)) = naive_window(spec, date) {
                sum += (b.min(close) - a.max(open)).max(0);
            }
            date = date.succ_opt().unwrap();
        }
        sum
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn add_then_measure_round_trips(t in instant(), n in 0u64..4_000_000) {
            let cal = contract();
            let end = cal.add_working_seconds(utc(t), n).unwrap();
            prop_assert_eq!(cal.working_seconds(utc(t), end).unwrap(), n as i64);
        }

        #[test]
        fn deadlines_never_decrease(t in instant(), dt in 0i64..400_000, sev in 1u8..=5) {
            let cal = contract();
            let p = crate::sla::SlaPolicy::default();
            let sev = crate::sla::Severity::from_number(sev).unwrap();
            let a = p.deadline(cal, utc(t), sev).unwrap();
            let b = p.deadline(cal, utc(t + dt), sev).unwrap();
            prop_assert!(a <= b, "{} then {}", a, b);
        }

        #[test]
        fn deadline_is_in_hours_or_at_closing(t in instant(), sev in 1u8..=5) {
            let cal = contract();
            let p = crate::sla::SlaPolicy::default();
            let d = p.deadline(cal, utc(t), crate::sla::Severity::from_number(sev).unwrap()).unwrap();
            let inside = cal.is_working_instant(d).unwrap();
            let at_closing = !inside && cal.is_working_instant(d - Duration::seconds(1)).unwrap();
            prop_assert!(inside || at_closing, "{}", d);
            // Warsaw wall clock: within [09:00, 17:00].
            let local = Zone::warsaw().to_local(d).time();
            prop_assert!(local >= chrono::NaiveTime::from_hms_opt(9, 0, 1).unwrap());
            prop_assert!(local <= chrono::NaiveTime::from_hms_opt(17, 0, 0).unwrap());
        }

        #[test]
        fn next_opening_is_working_and_nothing_is_skipped(t in instant()) {
            let cal = contract();
            let o = cal.next_opening(utc(t)).unwrap();
            prop_assert!(o >= utc(t));
            prop_assert!(cal.is_working_instant(o).unwrap());
            prop_assert_eq!(cal.working_seconds(utc(t), o).unwrap(), 0);
        }

        #[test]
        fn intervals_sum_to_the_working_time(t in instant(), n in 0u64..1_000_000) {
            let cal = contract();
            let end = cal.add_working_seconds(utc(t), n).unwrap();
            let sum: i64 = cal.working_intervals(utc(t), end).unwrap().iter().map(|(a, b)| (*b - *a).num_seconds()).sum();
            prop_assert_eq!(sum, n as i64);
        }

        #[test]
        fn agrees_with_the_naive_model(spec in spec(), t in 1_700_000_000i64..1_800_000_000, n in 0i64..2_000_000, span in 0i64..5_000_000) {
            let cal = Calendar::new(spec.clone());
            prop_assert_eq!(cal.add_secs(t, n).unwrap(), naive_add(&spec, t, n));
            prop_assert_eq!(cal.between(t, t + span).unwrap(), naive_between(&spec, t, t + span));
        }
    }
}
