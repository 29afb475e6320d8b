//! Local time as people write it in mails: "Tue 24 Nov 2026, 15:00 Warsaw
//! time", "wt., 24 listopada 2026 r., godz. 15:00 czasu warszawskiego". Used
//! by the CLI's explanations and by templates, to the minute (seconds are
//! cut off, never rounded up: a deadline shown is never later than the
//! real one). Pure: the zone and language are arguments.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::zone::Zone;
use crate::lang::Lang;

const WEEKDAYS_EN: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
// Polish abbreviations as the Polish CLDR locale writes them.
const WEEKDAYS_PL: [&str; 7] = ["pon.", "wt.", "śr.", "czw.", "pt.", "sob.", "niedz."];
const MONTHS_EN: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// Polish month names in the genitive, as a date is written ("24
/// listopada").
pub const MONTHS_GENITIVE_PL: [&str; 12] = [
    "stycznia",
    "lutego",
    "marca",
    "kwietnia",
    "maja",
    "czerwca",
    "lipca",
    "sierpnia",
    "września",
    "października",
    "listopada",
    "grudnia",
];

/// A local date: "Tue 24 Nov 2026" / "wt., 24 listopada 2026 r.".
pub fn render_date(date: NaiveDate, lang: Lang) -> String {
    let wd = date.weekday().num_days_from_monday() as usize;
    let m = date.month0() as usize;
    match lang {
        Lang::En => format!(
            "{} {} {} {}",
            WEEKDAYS_EN[wd],
            date.day(),
            MONTHS_EN[m],
            date.year()
        ),
        Lang::Pl => format!(
            "{}, {} {} {} r.",
            WEEKDAYS_PL[wd],
            date.day(),
            MONTHS_GENITIVE_PL[m],
            date.year()
        ),
    }
}

/// An instant in the calendar's zone, to the minute, labelled with the
/// zone: "Tue 24 Nov 2026, 15:00 Warsaw time" / "wt., 24 listopada 2026 r.,
/// godz. 15:00 czasu warszawskiego".
pub fn render_local(at: DateTime<Utc>, tz: &Zone, lang: Lang) -> String {
    let local = tz.to_local(at);
    let time = local.format("%H:%M");
    let date = render_date(local.date(), lang);
    match lang {
        Lang::En => format!("{date}, {time} {}", zone_label(tz, lang)),
        Lang::Pl => format!("{date}, godz. {time} {}", zone_label(tz, lang)),
    }
}

/// How the zone is named after a time: "Warsaw time", "czasu warszawskiego";
/// other zones by their IANA city ("New York time", "czasu: America/New_York").
pub fn zone_label(tz: &Zone, lang: Lang) -> String {
    match (tz.name(), lang) {
        ("Europe/Warsaw", Lang::En) => "Warsaw time".into(),
        ("Europe/Warsaw", Lang::Pl) => "czasu warszawskiego".into(),
        (name, Lang::En) => {
            let city = name.rsplit('/').next().unwrap_or(name);
            format!("{} time", city.replace('_', " "))
        }
        (name, Lang::Pl) => format!("czasu: {name}"),
    }
}

/// A working-time span to the minute (seconds cut off): "16 h 00 min" /
/// "16 godz. 00 min".
pub fn render_duration(secs: u64, lang: Lang) -> String {
    let (h, m) = (secs / 3600, secs % 3600 / 60);
    let hours = match lang {
        Lang::En => "h",
        Lang::Pl => "godz.",
    };
    format!("{h} {hours} {m:02} min")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_people_write() {
        let at = DateTime::parse_from_rfc3339("2026-11-24T14:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let w = &Zone::warsaw();
        let table = [
            (Lang::En, "Tue 24 Nov 2026, 15:00 Warsaw time"),
            (
                Lang::Pl,
                "wt., 24 listopada 2026 r., godz. 15:00 czasu warszawskiego",
            ),
        ];
        for (lang, expected) in table {
            assert_eq!(render_local(at, w, lang), expected);
        }
        let ny = render_local(at, &Zone::get("America/New_York").unwrap(), Lang::En);
        assert_eq!(ny, "Tue 24 Nov 2026, 09:00 New York time");
        // Summer time shows the summer offset's wall clock; seconds are
        // cut off, never rounded up.
        let summer = DateTime::parse_from_rfc3339("2026-07-01T07:30:59Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            render_local(summer, w, Lang::En),
            "Wed 1 Jul 2026, 09:30 Warsaw time"
        );
    }

    #[test]
    fn durations() {
        let table = [
            (0, "0 h 00 min"),
            (1800, "0 h 30 min"),
            (112 * 3600, "112 h 00 min"),
            (119, "0 h 01 min"),
        ];
        for (secs, expected) in table {
            assert_eq!(render_duration(secs, Lang::En), expected);
        }
        assert_eq!(render_duration(5400, Lang::Pl), "1 godz. 30 min");
    }
}
