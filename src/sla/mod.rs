//! Working time and SLA deadlines (contract §5), exact to the second.
//!
//! Pure: no I/O, no clock reads; `now` is always an argument.
//! - [`holidays`]: Polish statutory holidays derived from rules, 1990–2200;
//! - [`calendar`]: the business calendar and its working-time arithmetic;
//! - [`policy`]: severities, response targets, deadlines and explanations;
//! - [`local`]: local times written as people write them;
//! - [`zone`]: time-zone conversions (the only place that does them).
//!
//! The instant formats shared by the CLI live here too: input instants are RFC
//! 3339 with any offset, output instants are `YYYY-MM-DDTHH:MM:SSZ`.
//!
//! ```
//! use supportd::sla::{format_utc, parse_instant, Calendar, Severity, SlaPolicy};
//!
//! let calendar = Calendar::contract();
//! // Friday 16:30 before Easter 2026; Easter Monday is a holiday.
//! let received = parse_instant("2026-04-03T16:30:00+02:00").unwrap();
//! let due = SlaPolicy::default().deadline(&calendar, received, Severity::Critical).unwrap();
//! assert_eq!(format_utc(due), "2026-04-08T14:30:00Z"); // Wednesday 16:30 Warsaw time
//!
//! // Working seconds between two instants, negative when reversed.
//! let a = parse_instant("2026-11-24T17:00:00+01:00").unwrap();
//! let b = parse_instant("2026-11-25T10:00:00+01:00").unwrap();
//! assert_eq!(calendar.working_seconds(a, b).unwrap(), 3600);
//! assert_eq!(calendar.working_seconds(b, a).unwrap(), -3600);
//! ```

pub mod calendar;
pub mod holidays;
pub mod local;
pub mod policy;
pub mod zone;

pub use calendar::{Calendar, CalendarSpec, DayKind, Hours};
pub use policy::{Explanation, Severity, SlaPolicy};
pub use zone::Zone;

use chrono::{DateTime, Utc};

/// Parses an RFC 3339 instant with any offset (`Z`, `+01:00`, …) and truncates
/// it to whole seconds, the resolution every stored instant has.
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|t| {
            DateTime::from_timestamp(t.timestamp(), 0).expect("a parsed RFC 3339 instant is representable")
        })
        .map_err(|e| {
            format!("{text:?} is not an RFC 3339 instant ({e}); write e.g. 2026-11-24T15:00:00+01:00 or 2026-11-24T14:00:00Z")
        })
}

/// Formats an instant as `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC, whole seconds).
pub fn format_utc(at: DateTime<Utc>) -> String {
    let mut s = String::with_capacity(20);
    write_utc(&mut s, at);
    s
}

/// Appends `YYYY-MM-DDTHH:MM:SSZ` to `out` without going through a format
/// string (the batch commands print a million of these).
pub fn write_utc(out: &mut String, at: DateTime<Utc>) {
    use chrono::{Datelike, Timelike};
    let (y, mo, d) = (at.year(), at.month(), at.day());
    let (h, mi, s) = (at.hour(), at.minute(), at.second());
    if !(0..=9999).contains(&y) {
        out.push_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        return;
    }
    let digits = |out: &mut String, v: u32, n: usize| {
        let mut buf = [b'0'; 4];
        let mut v = v;
        for i in (0..n).rev() {
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        out.push_str(std::str::from_utf8(&buf[..n]).expect("ASCII digits"));
    };
    digits(out, y as u32, 4);
    out.push('-');
    digits(out, mo, 2);
    out.push('-');
    digits(out, d, 2);
    out.push('T');
    digits(out, h, 2);
    out.push(':');
    digits(out, mi, 2);
    out.push(':');
    digits(out, s, 2);
    out.push('Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_trip() {
        let table = [
            ("2026-11-24T15:00:00+01:00", "2026-11-24T14:00:00Z"),
            ("2026-11-24T14:00:00Z", "2026-11-24T14:00:00Z"),
            ("2026-11-24t14:00:00z", "2026-11-24T14:00:00Z"),
            ("2026-11-24 14:00:00-05:30", "2026-11-24T19:30:00Z"),
            ("2026-11-24T14:00:00.999Z", "2026-11-24T14:00:00Z"),
            ("1990-01-01T00:00:00+14:00", "1989-12-31T10:00:00Z"),
        ];
        for (input, expected) in table {
            assert_eq!(
                format_utc(parse_instant(input).unwrap()),
                expected,
                "{input}"
            );
        }
        for bad in [
            "",
            "2026-11-24",
            "2026-11-24T25:00:00Z",
            "tomorrow",
            "2026-11-24T14:00:00",
        ] {
            let err = parse_instant(bad).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }
}
