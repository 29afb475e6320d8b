//! Polish statutory public holidays, derived from rules at run time.
//!
//! Owns: the rule table (fixed dates, Easter-relative dates, one-off days), each
//! rule with the years it is in force, and the Gregorian computus.
//! Must not: read the clock or any file. Pure and allocation-light: a year's
//! holidays are computed on demand from the table below.
//!
//! Legal basis (Poland):
//! - Ustawa z dnia 18 stycznia 1951 r. o dniach wolnych od pracy (Dz.U. 1951 nr 4
//!   poz. 28, as amended), art. 1: the list of days free from work.
//! - Ustawa z dnia 6 kwietnia 1990 r. o przywróceniu Święta Narodowego Trzeciego
//!   Maja (Dz.U. 1990 nr 28 poz. 160): restored 3 May and removed 22 July from the
//!   list, so 22 July is never a holiday in the years we cover (1990 onwards).
//! - Ustawa z dnia 24 września 2010 r. (Dz.U. 2010 nr 224 poz. 1459): Epiphany
//!   (6 January) free from work from 2011.
//! - Ustawa z dnia 17 października 2018 r. o ustanowieniu dnia 12 listopada 2018 r.
//!   dniem wolnym od pracy (Dz.U. 2018 poz. 2024): the one-off day 12 Nov 2018.
//! - Ustawa z dnia 6 grudnia 2024 r. o zmianie ustawy o dniach wolnych od pracy
//!   oraz niektórych innych ustaw: Christmas Eve (24 December) free from work from
//!   2025.
//!
//! A day given back by an employer for a holiday falling on a Saturday (Kodeks
//! pracy art. 130 § 2) is the company's choice, not a statutory holiday: ops add
//! it as a closed day in the config.

use chrono::{Datelike, Duration, NaiveDate};

/// First year whose holidays this module knows (the supported range's start).
pub const FIRST_YEAR: i32 = 1990;
/// Last year whose holidays this module knows. Beyond it nothing guarantees
/// that the statute still reads as above, so we refuse rather than guess.
pub const LAST_YEAR: i32 = 2200;

/// One statutory holiday in one year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holiday {
    /// The local (Warsaw) calendar date.
    pub date: NaiveDate,
    /// English name.
    pub name_en: &'static str,
    /// Polish name, as the statute writes it.
    pub name_pl: &'static str,
}

impl Holiday {
    /// The name in the requested language.
    pub fn name(&self, lang: crate::lang::Lang) -> &'static str {
        match lang {
            crate::lang::Lang::En => self.name_en,
            crate::lang::Lang::Pl => self.name_pl,
        }
    }
}

/// When in the year a rule falls.
#[derive(Debug, Clone, Copy)]
enum When {
    /// The same month and day every year.
    Fixed { month: u32, day: u32 },
    /// A number of days after Easter Sunday (Gregorian computus).
    Easter { offset: i64 },
}

/// One line of the statute, with the years it is in force (inclusive).
#[derive(Debug, Clone, Copy)]
struct Rule {
    when: When,
    from: i32,
    until: i32,
    name_en: &'static str,
    name_pl: &'static str,
}

const ALWAYS_FROM: i32 = FIRST_YEAR;
const FOREVER: i32 = i32::MAX;

/// The statute's list (art. 1 of the 1951 act as amended), in calendar order
/// within a year. Easter-relative days sit where they usually fall; callers
/// that need order sort by date.
const RULES: &[Rule] = &[
    Rule {
        when: When::Fixed { month: 1, day: 1 },
        from: ALWAYS_FROM,
        until: FOREVER,
        name_en: "New Year's Day",
        name_pl: "Nowy Rok",
    },
    Rule {
        when: When::Fixed { month: 1, day: 6 },
        from: 2011,
        until: FOREVER,
        name_en: "Epiphany",
        name_pl: "Święto Trzech Króli",
    },
    Rule {
        when: When::Easter { offset: 0 },
        from: ALWAYS_FROM,
        until: FOREVER,
        name_en: "Easter Sunday",
        name_pl: "pierwszy dzień Wielkiej Nocy",
    },
    Rule {
        when: When::Easter { offset: 1 },
        from: ALWAYS_FROM,
        until: FOREVER,
        name_en: "Easter Monday",
        name_pl: "drugi dzień Wielkiej Nocy",
    },
    Rule {
        when: When::Fixed { month: 5, day: 1 },
        from: ALWAYS_FROM,
        until: FOREVER,
        name_en: "Labour Day",
        name_pl: "Święto Państwowe (Święto Pracy)",
    },
    Rule {
        when: When::Fixed { month: 5, day: 3 },
        from: ALWAYS_FROM,
        until: FOREVER,
        name_en: "Constitution Day",
        name_pl: "Święto Narodowe Trzeciego Maja",
    },
    Rule {
        when: When::Easter { offset: 49 },
        from: ALWAYS_FROM,
        until: FOREVER,
        name_en: "Pentecost Sunday",
        name_pl: "pierwszy dzień Zielonych Świątek",
    },
    Rule {
        when: When::Easter { offset: 60 },
        from: ALWAYS_FROM,
        until: FOREVER,
        name_en: "Corpus Christi",
        name_pl: "dzień Bożego Ciała",
    },
    Rule {
        when: When::Fixed { month: 8, day: 15 },
        from: ALWAYS_FROM,
        until: FOREVER,
        name_en: "Assumption of Mary",
        name_pl: "Wniebowzięcie Najświętszej Maryi Panny",
    },
    Rule {
        when: When::Fixed { month: 11, day: 1 },
        from: ALWAYS_FROM,
        until: FOREVER,
        name_en: "All Saints' Day",
        name_pl: "Wszystkich Świętych",
    },
    Rule {
        when: When::Fixed { month: 11, day: 11 },
        from: ALWAYS_FROM,
        until: FOREVER,
        name_en: "Independence Day",
        name_pl: "Narodowe Święto Niepodległości",
    },
    // One-off: the centenary of independence, by its own act of 17 Oct 2018.
    Rule {
        when: When::Fixed { month: 11, day: 12 },
        from: 2018,
        until: 2018,
        name_en: "Independence Centenary (one-off day off)",
        name_pl: "dzień wolny z okazji 100-lecia odzyskania niepodległości",
    },
    Rule {
        when: When::Fixed { month: 12, day: 24 },
        from: 2025,
        until: FOREVER,
        name_en: "Christmas Eve",
        name_pl: "Wigilia Bożego Narodzenia",
    },
    Rule {
        when: When::Fixed { month: 12, day: 25 },
        from: ALWAYS_FROM,
        until: FOREVER,
        name_en: "Christmas Day",
        name_pl: "pierwszy dzień Bożego Narodzenia",
    },
    Rule {
        when: When::Fixed { month: 12, day: 26 },
        from: ALWAYS_FROM,
        until: FOREVER,
        name_en: "Second Day of Christmas",
        name_pl: "drugi dzień Bożego Narodzenia",
    },
];

/// Easter Sunday of a Gregorian year: the "anonymous Gregorian algorithm"
/// (Meeus, *Astronomical Algorithms*, ch. 8; Butcher 1876), valid for every
/// Gregorian year.
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32)
        .expect("the computus yields a date in March or April")
}

/// The statutory holidays of `year`, sorted by date. Empty outside
/// [`FIRST_YEAR`]..=[`LAST_YEAR`]: callers check the range first.
pub fn holidays_in_year(year: i32) -> Vec<Holiday> {
    if !(FIRST_YEAR..=LAST_YEAR).contains(&year) {
        return Vec::new();
    }
    let easter = easter_sunday(year);
    let mut days: Vec<Holiday> = RULES
        .iter()
        .filter(|rule| (rule.from..=rule.until).contains(&year))
        .map(|rule| Holiday {
            date: match rule.when {
                When::Fixed { month, day } => NaiveDate::from_ymd_opt(year, month, day)
                    .expect("fixed holiday rules name real dates"),
                When::Easter { offset } => easter + Duration::days(offset),
            },
            name_en: rule.name_en,
            name_pl: rule.name_pl,
        })
        .collect();
    days.sort_by_key(|h| h.date);
    days
}

/// The holiday on `date`, if any.
pub fn holiday_on(date: NaiveDate) -> Option<Holiday> {
    holidays_in_year(date.year())
        .into_iter()
        .find(|h| h.date == date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn easter_matches_published_dates() {
        // Published Easter Sundays (Western churches), including the
        // latest possible date (25 April: 1943, 2038) and early ones.
        let table = [
            (1990, "1990-04-15"),
            (1995, "1995-04-16"),
            (2000, "2000-04-23"),
            (2008, "2008-03-23"),
            (2011, "2011-04-24"),
            (2016, "2016-03-27"),
            (2019, "2019-04-21"),
            (2024, "2024-03-31"),
            (2025, "2025-04-20"),
            (2026, "2026-04-05"),
            (2027, "2027-03-28"),
            (2038, "2038-04-25"),
            (2049, "2049-04-18"),
            (2100, "2100-03-28"),
            (1943, "1943-04-25"),
            (2285, "2285-03-22"),
        ];
        for (year, expected) in table {
            assert_eq!(easter_sunday(year), d(expected), "Easter {year}");
        }
    }

    #[test]
    fn movable_feasts_follow_easter() {
        let h = holidays_in_year(2026);
        let find = |name: &str| h.iter().find(|x| x.name_en == name).unwrap().date;
        assert_eq!(find("Easter Sunday"), d("2026-04-05"));
        assert_eq!(find("Easter Monday"), d("2026-04-06"));
        assert_eq!(find("Pentecost Sunday"), d("2026-05-24"));
        assert_eq!(find("Corpus Christi"), d("2026-06-04"));
    }

    #[test]
    fn law_changes_take_effect_in_their_year() {
        // (date, is a holiday)
        let table = [
            ("2010-01-06", false), // Epiphany before the 2010 act
            ("2011-01-06", true),  // first Epiphany off
            ("2017-11-12", false),
            ("2018-11-12", true), // the one-off centenary day
            ("2019-11-12", false),
            ("2024-12-24", false), // last working Christmas Eve
            ("2025-12-24", true),  // first Christmas Eve off
            ("2199-12-24", true),
            ("1990-07-22", false), // removed by the act of 6 April 1990
            ("1990-05-03", true),  // restored by the same act
        ];
        for (date, expected) in table {
            assert_eq!(holiday_on(d(date)).is_some(), expected, "{date}");
        }
    }

    #[test]
    fn counts_per_year() {
        // 12 fixed-or-movable before 2011, 13 from 2011, 14 in 2018, 14 from 2025
        // (Easter Sunday and Pentecost included: they are on the statute's list).
        let table = [(2010, 12), (2011, 13), (2018, 14), (2024, 13), (2025, 14)];
        for (year, n) in table {
            assert_eq!(holidays_in_year(year).len(), n, "{year}");
        }
    }

    #[test]
    fn out_of_range_years_have_no_rules() {
        assert!(holidays_in_year(1989).is_empty());
        assert!(holidays_in_year(2201).is_empty());
        assert!(!holidays_in_year(2200).is_empty());
    }

    #[test]
    fn sorted_by_date() {
        for year in FIRST_YEAR..=LAST_YEAR {
            let h = holidays_in_year(year);
            assert!(h.windows(2).all(|w| w[0].date < w[1].date), "{year}");
        }
    }
}
