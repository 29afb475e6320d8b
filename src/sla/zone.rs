//! Time zones: the only place that turns UTC instants into local wall-clock
//! time and back.
//!
//! Why jiff and not chrono-tz: chrono-tz compiles the tz database into
//! transition tables that end in 2099 and ignores the POSIX rule that the
//! database gives for later years, so Warsaw would have no summer time from
//! 2100 on; our calendar covers 1990–2200. jiff applies that rule for every
//! year. Its bundled copy of the database is used (not the host's), so every
//! machine computes the same deadlines.
//!
//! Pure: conversions only, no clock reads.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};
use jiff::civil;
use jiff::tz::TimeZone;

/// A named IANA time zone.
#[derive(Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Zone({})", self.name)
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl Zone {
    /// Europe/Warsaw, the contract's zone.
    pub fn warsaw() -> Zone {
        Zone::get("Europe/Warsaw").expect("the bundled tz database has Europe/Warsaw")
    }

    /// The zone with this IANA name, e.g. `Europe/Warsaw`.
    pub fn get(name: &str) -> Result<Zone, String> {
        let name = name.trim();
        TimeZone::get(name)
            .map(|tz| Zone {
                name: tz.iana_name().unwrap_or(name).to_string(),
                tz,
            })
            .map_err(|_| format!("{name:?} is not an IANA time zone name, e.g. \"Europe/Warsaw\""))
    }

    /// The IANA name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The UTC instant (unix seconds) of a local wall-clock time. A time in
    /// the autumn overlap takes its earlier instant; a time in the spring gap
    /// is shifted forward by the gap's length, as RFC 5545 §3.3.5 prescribes
    /// for nonexistent local times.
    pub fn local_to_utc(&self, local: NaiveDateTime) -> i64 {
        let civil = civil::DateTime::new(
            local.year() as i16,
            local.month() as i8,
            local.day() as i8,
            local.hour() as i8,
            local.minute() as i8,
            local.second() as i8,
            0,
        )
        .expect("chrono and jiff agree on valid civil times in years 1..9999");
        self.tz
            .to_ambiguous_timestamp(civil)
            .compatible()
            .expect("a civil time in years 1..9999 has an instant")
            .as_second()
    }

    /// The local wall-clock time of an instant.
    pub fn to_local(&self, at: DateTime<Utc>) -> NaiveDateTime {
        let ts =
            jiff::Timestamp::from_second(at.timestamp()).expect("instants within jiff's range");
        let c = self.tz.to_datetime(ts);
        NaiveDate::from_ymd_opt(c.year().into(), c.month() as u32, c.day() as u32)
            .and_then(|d| d.and_hms_opt(c.hour() as u32, c.minute() as u32, c.second() as u32))
            .expect("jiff yields valid civil times")
    }

    /// The local date of an instant.
    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        self.to_local(at).date()
    }

    /// The instant a local date begins (its midnight).
    pub fn day_start(&self, date: NaiveDate) -> DateTime<Utc> {
        let midnight = self.local_to_utc(date.and_time(chrono::NaiveTime::MIN));
        DateTime::from_timestamp(midnight, 0).expect("a civil date in years 1..9999 has an instant")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn summer_time_continues_after_2099() {
        let w = Zone::warsaw();
        // (local wall time, UTC offset in hours) — EU rule: last Sunday of
        // March to last Sunday of October.
        let table = [
            ("2026-07-01 12:00:00", 2),
            ("2026-12-01 12:00:00", 1),
            ("2100-07-01 12:00:00", 2),
            ("2150-07-01 12:00:00", 2),
            ("2200-07-01 12:00:00", 2),
            ("2200-12-01 12:00:00", 1),
        ];
        for (local, offset) in table {
            let t = naive(local);
            assert_eq!(
                t.and_utc().timestamp() - w.local_to_utc(t),
                offset * 3600,
                "{local}"
            );
        }
    }

    #[test]
    fn gaps_shift_forward_and_overlaps_take_the_earlier() {
        let w = Zone::warsaw();
        // 29 Mar 2026 02:30 does not exist in Warsaw: it reads as 03:30 CEST.
        assert_eq!(
            w.local_to_utc(naive("2026-03-29 02:30:00")),
            naive("2026-03-29 01:30:00").and_utc().timestamp()
        );
        // 25 Oct 2026 02:30 happens twice: the first, 02:30 CEST = 00:30 UTC.
        assert_eq!(
            w.local_to_utc(naive("2026-10-25 02:30:00")),
            naive("2026-10-25 00:30:00").and_utc().timestamp()
        );
    }

    #[test]
    fn names() {
        assert!(
            Zone::get("Europe/Warszawa")
                .unwrap_err()
                .contains("Europe/Warszawa")
        );
        assert_eq!(
            Zone::get("America/New_York").unwrap().name(),
            "America/New_York"
        );
        let at = naive("2026-11-24 14:00:00").and_utc();
        assert_eq!(Zone::warsaw().to_local(at), naive("2026-11-24 15:00:00"));
    }
}
