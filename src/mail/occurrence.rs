//! When did the problem happen? Reads English and Polish time expressions
//! and pins them to an instant (contract clause 2.2, design.md "Required
//! report fields").
//!
//! The field is *present* only when the text pins a clock time ("14:30",
//! "3 pm", "o 15", "około 14:30") or a relative time ("2 hours ago",
//! "godzinę temu"). A day or part of the day alone ("yesterday", "this
//! morning", "w poniedziałek rano", "20 listopada") is evidence, but the field
//! stays missing so the customer is asked for the time.
//!
//! Dates: ISO (2024-03-04), numeric day-first (4.03.2024, 04/03/2024) and, for
//! English mail, month-first with slashes when valid (03/24/2024); month names
//! in English and in every Polish case ("20 listopada", "listopad",
//! "w listopadzie"); today / yesterday / the day before (dziś, dzisiaj,
//! wczoraj, przedwczoraj); weekdays ("Monday" is the latest Monday not after
//! the anchor). Zones: an explicit UTC/GMT/CET/CEST or numeric offset, else
//! the sender's zone (the Date header's offset, else the calendar's zone).
//!
//! The anchor for relative expressions is the Date header when it lies within
//! 24 h before the received instant, else the received instant; a time after
//! the anchor is discarded. Pure.

use std::sync::LazyLock;

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};
use regex::Regex;

use crate::lang::Lang;

/// What was found about the time of occurrence.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Occurrence {
    /// A clock time or relative time was given.
    pub pinned: bool,
    /// The instant, when it could be built and is not after the anchor.
    pub instant: Option<DateTime<Utc>>,
    /// The words that said it (or the day/part-of-day words when not pinned).
    pub evidence: Option<String>,
}

/// How the sender's local time is read.
#[derive(Debug, Clone, Copy)]
pub struct Anchor {
    /// "Now" for relative expressions.
    pub at: DateTime<Utc>,
    /// The sender's offset when the zone is not written out; `None`: use
    /// `zone`.
    pub offset: Option<FixedOffset>,
}

/// Chooses the anchor: the Date header when within 24 h before receipt.
pub fn anchor(date: Option<DateTime<FixedOffset>>, received_at: DateTime<Utc>) -> Anchor {
    match date {
        Some(d)
            if d <= received_at && received_at - d.with_timezone(&Utc) <= Duration::hours(24) =>
        {
            Anchor {
                at: d.with_timezone(&Utc),
                offset: Some(*d.offset()),
            }
        }
        Some(d) => Anchor {
            at: received_at,
            offset: Some(*d.offset()),
        },
        None => Anchor {
            at: received_at,
            offset: None,
        },
    }
}

const MONTHS_EN: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
// Polish month stems that cover every case: styczeń, stycznia, styczniu, …
const MONTHS_PL: [&str; 12] = [
    "stycz",
    "lut",
    "marz|marc",
    "kwie",
    "maj|maja|maju",
    "czerw",
    "lip",
    "sierp",
    "wrze",
    "paźdz|pazdz",
    "listopad",
    "grud",
];

static CLOCK: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(concat!(
        r"(?ix)",
        // 14:30, 14:30:05, 2:30 pm; also 14.30 / 14h30 after a time word.
        r"(?P<pre>(?:^|\s)(?:o|około|okolo|ok\.|koło|kolo|godz\.?|godzinie|at|about|around|approx\.?|approximately|since|od|do|between|until|ca\.?)\s+(?:godz\.?\s+|godzinie\s+)?)?",
        r"(?P<h>2[0-3]|[01]?\d)",
        r"(?:(?P<sep>[:.h])(?P<m>[0-5]\d)(?::(?P<s>[0-5]\d))?)?",
        r"(?:[.,]\d{1,6})?",
        r"\s*(?P<ampm>a\.?\s?m\.?|p\.?\s?m\.?)?",
        r"(?P<post>\s*(?:h\b|uhr\b|o'clock\b))?",
        r"(?P<zone>(?-i:Z)\b|\s*\(?\s*(?:utc|gmt|cet|cest)\b\s*\)?|\s*[+-]\d{2}:?\d{2}\b|\s+czasu polskiego)?"
    ))
});

static RELATIVE: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(concat!(
        r"(?i)\b(?:(?P<n>\d{1,3}|an?|one|two|three|four|five|ten|half an?)\s+(?P<unit>hours?|hrs?|minutes?|mins?)\s+ago",
        r"|(?P<npl>\d{1,3}|pół|pol|jedną|dwie|trzy|cztery|pięć|kilka)?\s*(?P<unitpl>godzin[ęya]?|godz\.|minut[ęy]?|min\.?|kwadrans)\s+temu)"
    ))
});

static ISO_DATE: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(r"\b(?P<y>(?:19|20|21)\d\d)-(?P<mo>[01]?\d)-(?P<d>[0-3]?\d)(?:[T ]|\b)")
});
static NUM_DATE: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(
        r"\b(?P<a>[0-3]?\d)(?P<sep>[./-])(?P<b>[01]?\d)(?P<sep2>[./-])(?P<y>(?:19|20|21)\d\d|\d\d)\b",
    )
});
static NAMED_DATE: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(concat!(
        r"(?i)\b(?:(?P<d1>[0-3]?\d)(?:st|nd|rd|th|\.)?\s+(?:of\s+)?(?P<m1>[a-zżźćńółęąś]{3,})\.?(?:,?\s+(?P<y1>(?:19|20|21)\d\d))?",
        r"|(?P<m2>[a-z]{3,})\.?\s+(?P<d2>[0-3]?\d)(?:st|nd|rd|th)?(?:,?\s+(?P<y2>(?:19|20|21)\d\d))?)\b"
    ))
});
static DAY_WORD: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(concat!(
        r"(?i)\b(?P<w>(?:today|this morning|this afternoon|this evening|tonight|yesterday|the day before yesterday|",
        r"dzisiaj|dziś|dzis|wczoraj|przedwczoraj|",
        r"(?:last\s+|on\s+)?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)|",
        r"(?-i:Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)|",
        r"(?:(?:w|we|od|ostatni|ostatnią|zeszły|zeszłą|w zeszły|w zeszłą)\s+)?(?:poniedział\w*|wtor\w*|środ\w*|srod\w*|czwart\w*|piąt\w*|piat\w*|sobot\w*|niedziel\w*))\b",
        r"|(?:pon|wt|śr|sr|czw|pt|sob|niedz|nd)\.)"
    ))
});
static PART_OF_DAY: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(
        r"(?i)\b(this morning|in the morning|this afternoon|in the afternoon|this evening|in the evening|at night|tonight|at noon|at midnight|rano|przed południem|po południu|popołudniu|wieczorem|w nocy|nocą|w południe|o północy)([^\p{L}]|$)",
    )
});
static MONTH_ONLY: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(
        r"(?i)\b(in (january|february|march|april|may|june|july|august|september|october|november|december)|w (styczniu|lutym|marcu|kwietniu|maju|czerwcu|lipcu|sierpniu|wrześniu|październiku|listopadzie|grudniu))\b",
    )
});
/// Words that may follow "at N" when N is an hour ("at 8 the sync stopped").
const ENGLISH_AFTER_AT: &[&str] = &[
    "the",
    "this",
    "today",
    "yesterday",
    "in",
    "on",
    "and",
    "when",
    "we",
    "it",
    "our",
    "o",
    "sharp",
    "or",
    "tonight",
    "last",
];

/// Whether a word after a bare number makes it a count, not an hour.
fn is_unit(word: &str) -> bool {
    const UNITS: &[&str] = &[
        "dni",
        "dzień",
        "dnia",
        "godzin",
        "godziny",
        "godzinę",
        "minut",
        "minuty",
        "sekund",
        "osób",
        "osoby",
        "osobom",
        "procent",
        "proc",
        "zł",
        "pln",
        "eur",
        "sztuk",
        "szt",
        "razy",
        "raz",
        "tygodni",
        "tygodnie",
        "miesięcy",
        "miesiące",
        "lat",
        "lata",
        "pozycji",
        "pozycje",
        "zamówień",
        "zamówienia",
        "produktów",
        "produkty",
        "użytkowników",
        "użytkownicy",
        "klientów",
        "sklepów",
        "plików",
        "faktur",
        "rekordów",
        "wierszy",
        "gb",
        "mb",
        "kb",
        "tys",
        "mln",
    ];
    // "5 listopada" is a date, not an hour.
    UNITS.contains(&word) || crate::sla::local::MONTHS_GENITIVE_PL.contains(&word)
}

/// Whether a position is inside quotation marks ("…" or „…”) of its
/// paragraph: the state at a line's start, carried along the line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Quotes {
    open: bool,
    polish: i32,
}

impl Quotes {
    fn step(&mut self, ch: char) {
        match ch {
            '"' => self.open = !self.open,
            '„' => self.polish += 1,
            '”' if self.polish > 0 => self.polish -= 1,
            _ => {}
        }
    }

    fn inside(self) -> bool {
        self.open || self.polish > 0
    }
}

/// The quote state along a text, walked forward once: a blank line ends
/// every quotation.
#[derive(Default)]
struct QuoteWalk {
    q: Quotes,
    at: usize,
    prev: char,
}

impl QuoteWalk {
    /// The state at `to` (not before the last position asked for).
    fn to(&mut self, text: &str, to: usize) -> Quotes {
        for ch in text[self.at..to].chars() {
            if ch == '\n' && self.prev == '\n' {
                self.q = Quotes::default();
            } else if !(ch == '\r' || ch == '\n' && self.prev == '\n') {
                self.q.step(ch);
            }
            if ch != '\r' {
                self.prev = ch;
            }
        }
        self.at = to;
        self.q
    }
}

/// A cheap test for a relative time ("ago", "temu").
static RELATIVE_QUICK: LazyLock<Regex> =
    LazyLock::new(|| super::text_regex(r"(?i)\bago\b|\btemu\b"));

/// A cheap test for anything [`CLOCK`] could accept: a digit with a time
/// separator, am/pm, "h"/"Uhr"/"o'clock", or a time word before a number.
static CLOCK_QUICK: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(
        r"(?i)\d[:.h]\d\d|\d\s*(a\.?\s?m\b|p\.?\s?m\b|uhr\b|o'clock)|\b(o|około|okolo|ok\.|koło|kolo|godz\.?|godzinie|at|about|around|since|od|do|ca\.?)\s+(godz\.?\s+|godzinie\s+)?\d",
    )
});

/// Words before a number that make "14.30" or a bare "15" a clock time.
static TIME_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(
        r"(?i)(?:^|[\s(,;])(o|około|okolo|ok\.|koło|kolo|godz\.?|godzinie|at|about|around|since|od|do|ca\.?)\s+(godz\.?\s+|godzinie\s+)?$",
    )
});
/// Lines that look like log output rather than prose.
static LOG_LINE: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(
        r"(?i)^\s{2,}|\b(error|warn|warning|info|debug|trace|fatal)\b\s*[\[:]|^\s*at\s+[\w.$]+\(",
    )
});

fn month_number(word: &str) -> Option<u32> {
    let w = word.to_lowercase();
    if let Some(i) = MONTHS_EN.iter().position(|m| w.starts_with(m)) {
        // "mar" also starts Polish "marca"/"marzec": same month.
        return Some(i as u32 + 1);
    }
    MONTHS_PL
        .iter()
        .position(|stems| stems.split('|').any(|s| w.starts_with(s)))
        .map(|i| i as u32 + 1)
}

fn weekday_of(word: &str) -> Option<Weekday> {
    let w = word.to_lowercase();
    let table: [(&[&str], Weekday); 7] = [
        (&["mon", "pon"], Weekday::Mon),
        (&["tue", "wt"], Weekday::Tue),
        (&["wed", "środ", "srod", "śr.", "sr."], Weekday::Wed),
        (&["thu", "czw"], Weekday::Thu),
        (&["fri", "piąt", "piat", "pt."], Weekday::Fri),
        (&["sat", "sob"], Weekday::Sat),
        (&["sun", "niedz", "nd."], Weekday::Sun),
    ];
    table
        .iter()
        .find(|(stems, _)| {
            stems
                .iter()
                .any(|s| w.split_whitespace().any(|x| x.starts_with(s)))
        })
        .map(|(_, d)| *d)
}

/// A date found in a line, relative to the anchor's local date.
fn date_in(line: &str, today: NaiveDate, lang: Lang) -> Option<(NaiveDate, String)> {
    if let Some(c) = ISO_DATE.captures(line) {
        let d = NaiveDate::from_ymd_opt(
            c["y"].parse().ok()?,
            c["mo"].parse().ok()?,
            c["d"].parse().ok()?,
        )?;
        return Some((d, c[0].trim().to_string()));
    }
    if let Some(found) = numeric_date(line, lang) {
        return Some(found);
    }
    if let Some(found) = short_date(line, today, lang) {
        return Some(found);
    }
    if let Some(found) = named_date(line, today) {
        return Some(found);
    }
    day_word(line, today)
}

/// `25.11.2026`, `25/11/26`: day first, except `/` in English text when the
/// month comes first (when both read as dates).
fn numeric_date(line: &str, lang: Lang) -> Option<(NaiveDate, String)> {
    let c = NUM_DATE.captures(line).filter(|c| c["sep"] == c["sep2"])?;
    let (a, b): (u32, u32) = (c["a"].parse().ok()?, c["b"].parse().ok()?);
    let mut y: i32 = c["y"].parse().ok()?;
    if y < 100 {
        y += 2000;
    }
    let month_first = &c["sep"] == "/" && lang == Lang::En && a <= 12 && b <= 31;
    let d = if month_first {
        NaiveDate::from_ymd_opt(y, a, b).or_else(|| NaiveDate::from_ymd_opt(y, b, a))
    } else {
        NaiveDate::from_ymd_opt(y, b, a).or_else(|| NaiveDate::from_ymd_opt(y, a, b))
    };
    d.map(|d| (d, c[0].to_string()))
}

/// `25 November`, `Nov 25 2026`, `25 listopada`: without a year, the latest
/// such date not after today.
fn named_date(line: &str, today: NaiveDate) -> Option<(NaiveDate, String)> {
    for c in NAMED_DATE.captures_iter(line) {
        let (d, m, y) = match (c.name("d1"), c.name("m1"), c.name("d2"), c.name("m2")) {
            (Some(d), Some(m), _, _) => (d.as_str(), m.as_str(), c.name("y1")),
            (_, _, Some(d), Some(m)) => (d.as_str(), m.as_str(), c.name("y2")),
            _ => continue,
        };
        let Some(month) = month_number(m) else {
            continue;
        };
        // "mar" must be a month word, not "market": require a known form.
        if m.len() > 3 && !is_month_word(m) {
            continue;
        }
        let day: u32 = d.parse().ok()?;
        let year = match y {
            Some(y) => y.as_str().parse().ok()?,
            None => {
                let this = today.year();
                match NaiveDate::from_ymd_opt(this, month, day) {
                    Some(x) if x <= today => this,
                    _ => this - 1,
                }
            }
        };
        if let Some(date) = NaiveDate::from_ymd_opt(year, month, day) {
            return Some((date, c[0].to_string()));
        }
    }
    None
}

/// `yesterday`, `wczoraj`, `on Monday`: the latest such day up to today.
fn day_word(line: &str, today: NaiveDate) -> Option<(NaiveDate, String)> {
    let c = DAY_WORD.captures(line)?;
    let w = c["w"].to_lowercase();
    let w = w.trim();
    let date = if w.contains("day before") || w.starts_with("przedwczoraj") {
        today - Duration::days(2)
    } else if w.starts_with("yesterday") || w.starts_with("wczoraj") {
        today - Duration::days(1)
    } else if w.starts_with("today")
        || w.starts_with("this ")
        || w == "tonight"
        || w.starts_with("dzi")
    {
        today
    } else {
        let wd = weekday_of(w)?;
        let back = (today.weekday().num_days_from_monday() + 7 - wd.num_days_from_monday()) % 7;
        today - Duration::days(back.into())
    };
    Some((date, c[0].trim().to_string()))
}

static SHORT_DATE: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(concat!(
        r"(?i)(?:\b(?P<pre>dnia|w dniu|dn\.|on|od|since|from|z dnia)\s+)?",
        r"(?P<a>[0-3]?\d)(?P<sep>[./])(?P<b>[0-3]?\d)\.?",
        r"(?P<post>\s*(?:r\.|roku)?\s*,?\s*(?:o\b|około|okolo|ok\.|at\b|around\b|about\b|godz|[0-2]?\d:[0-5]\d))?"
    ))
});

/// A day and month without a year ("24.11 o 14:00", "on 11/24 at 2:30 PM"),
/// only where the words around make it a date (not "19.5%" or "1.5 GB"):
/// a date word before it or a time right after it. The year is the latest
/// that puts the date not after today.
fn short_date(line: &str, today: NaiveDate, lang: Lang) -> Option<(NaiveDate, String)> {
    for c in SHORT_DATE.captures_iter(line) {
        let start = c.name("a")?.start();
        let end = c.name("b")?.end();
        let before = &line[..start];
        let after = &line[end..];
        if before.ends_with(|ch: char| ch.is_ascii_digit() || ch == '.' || ch == '/' || ch == ',')
            || after.starts_with(|ch: char| ch.is_ascii_digit() || ch == '%' || ch == '/')
            || (after.starts_with('.') && after[1..].starts_with(|ch: char| ch.is_ascii_digit()))
            || (c.name("pre").is_none() && c.name("post").is_none())
        {
            continue;
        }
        let (a, b): (u32, u32) = (c["a"].parse().ok()?, c["b"].parse().ok()?);
        let month_first = &c["sep"] == "/" && lang == Lang::En;
        let (month, day) = if month_first && a <= 12 {
            (a, b)
        } else {
            (b, a)
        };
        let this = today.year();
        let date = match NaiveDate::from_ymd_opt(this, month, day) {
            Some(d) if d <= today => Some(d),
            _ => NaiveDate::from_ymd_opt(this - 1, month, day),
        };
        if let Some(d) = date {
            return Some((d, line[start..end].to_string()));
        }
    }
    None
}

fn is_month_word(m: &str) -> bool {
    let w = m.to_lowercase();
    const EN: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    const EN_SHORT: [&str; 13] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    ];
    EN.contains(&w.as_str())
        || EN_SHORT.contains(&w.as_str())
        || MONTHS_PL
            .iter()
            .any(|stems| stems.split('|').any(|s| w.starts_with(s)))
}

/// Explicit zone words after a clock time.
fn zone_offset(z: &str, date: NaiveDate) -> Option<FixedOffset> {
    let z = z
        .trim()
        .trim_matches(['(', ')'])
        .trim()
        .to_ascii_lowercase();
    match z.as_str() {
        "" => None,
        "utc" | "gmt" | "z" => FixedOffset::east_opt(0),
        "cet" => FixedOffset::east_opt(3600),
        "cest" => FixedOffset::east_opt(7200),
        "czasu polskiego" => {
            let w = crate::sla::Zone::warsaw();
            let noon = date.and_hms_opt(12, 0, 0)?;
            FixedOffset::east_opt((noon.and_utc().timestamp() - w.local_to_utc(noon)) as i32)
        }
        other => {
            let sign = if other.starts_with('-') { -1 } else { 1 };
            let digits: String = other.chars().filter(char::is_ascii_digit).collect();
            let (h, m) = (
                digits.get(0..2)?.parse::<i32>().ok()?,
                digits.get(2..4)?.parse::<i32>().ok()?,
            );
            FixedOffset::east_opt(sign * (h * 3600 + m * 60))
        }
    }
}

fn sender_offset(anchor: &Anchor, zone: &crate::sla::Zone, date: NaiveDate) -> FixedOffset {
    anchor.offset.unwrap_or_else(|| {
        let noon = date.and_hms_opt(12, 0, 0).expect("noon exists");
        FixedOffset::east_opt((noon.and_utc().timestamp() - zone.local_to_utc(noon)) as i32)
            .expect("valid offset")
    })
}

fn words_to_number(n: &str) -> Option<i64> {
    Some(match n.to_lowercase().as_str() {
        "a" | "an" | "one" | "jedną" => 1,
        "two" | "dwie" => 2,
        "three" | "trzy" => 3,
        "four" | "cztery" => 4,
        "five" | "pięć" => 5,
        "ten" => 10,
        "kilka" => 3,
        other => other.parse().ok()?,
    })
}

/// A clock-time candidate in a line.
struct ClockHit {
    time: NaiveTime,
    zone: String,
    start: usize,
    end: usize,
}

/// The first few words of a text, lower-cased (what follows a time is read
/// only that far, however long its line).
fn lower_start(text: &str) -> String {
    text[..text.floor_char_boundary(text.len().min(40))].to_lowercase()
}

/// Words after a time that put it in the afternoon or evening.
const EVENING: &[&str] = &[
    "wieczorem",
    "po południu",
    "popołudniu",
    "w nocy",
    "in the evening",
    "in the afternoon",
    "at night",
];

/// Whether a match of [`CLOCK`] reads as a time of day: `14:30` always;
/// `14.30` / `14h30` after a time word or with am/pm; a bare hour only
/// after a time word and without a unit after it ("o 15", "at 8", "15 Uhr";
/// not "o 2 dni", "at 3 stores").
fn is_clock_time(c: &regex::Captures<'_>, before: &str, after: &str, ampm: bool) -> bool {
    let sep = c.name("sep").map(|m| m.as_str());
    // The words right before the time (the pattern is anchored at the end:
    // only the last few words can match, so only they are read).
    let near = &before[before.floor_char_boundary(before.len().saturating_sub(40))..];
    let has_pre = c.name("pre").is_some() || TIME_WORDS.is_match(near);
    match (sep, ampm) {
        (Some(":"), _) => true,
        (Some("." | "h"), _) => has_pre || ampm,
        (None, true) => true,
        (None, false) => {
            let pre = c.name("pre").map(|m| m.as_str().trim().to_lowercase());
            let next = lower_start(after.trim_start())
                .split(|ch: char| !ch.is_alphabetic())
                .next()
                .unwrap_or("")
                .to_string();
            let english_ok = pre.as_deref() == Some("at")
                && (next.is_empty() || ENGLISH_AFTER_AT.contains(&next.as_str()));
            let polish_pre = pre.as_deref().is_some_and(|p| {
                p == "o"
                    || p.starts_with("ok")
                    || p.starts_with("ko")
                    || p.starts_with("godz")
                    || p == "od"
                    || p == "do"
            });
            c.name("post").is_some() || english_ok || (polish_pre && !is_unit(&next))
        }
        _ => false,
    }
}

fn clock_hits(line: &str) -> Vec<ClockHit> {
    let mut out = Vec::new();
    for c in CLOCK.captures_iter(line) {
        let whole = c.get(0).expect("match");
        let h_m = c.name("h").expect("hour");
        // Not inside a longer number, date or version ("5.8.8", "2024-03-04").
        let before = &line[..h_m.start()];
        let after = &line[whole.end()..];
        if before.ends_with(|ch: char| {
            ch.is_ascii_digit() || ch == '.' || ch == '-' || ch == '/' || ch == ':' || ch == ','
        }) || after.starts_with(|ch: char| ch.is_ascii_digit() || ch == '%' || ch == '/')
            || (after.starts_with(['.', '-'])
                && after[1..].starts_with(|ch: char| ch.is_ascii_digit()))
        {
            continue;
        }
        let h: u32 = h_m.as_str().parse().unwrap_or(99);
        let ampm = c
            .name("ampm")
            .map(|m| m.as_str().to_ascii_lowercase().replace(['.', ' '], ""));
        let accepted = is_clock_time(&c, before, after, ampm.is_some());
        if !accepted {
            continue;
        }
        let m: u32 = c.name("m").map_or(0, |m| m.as_str().parse().unwrap_or(0));
        let s: u32 = c.name("s").map_or(0, |m| m.as_str().parse().unwrap_or(0));
        let next_words = lower_start(after.trim_start());
        let evening = EVENING.iter().any(|w| next_words.starts_with(w));
        let h = match ampm.as_deref() {
            Some("pm") if h < 12 => h + 12,
            Some("am") if h == 12 => 0,
            Some(_) if h > 12 => continue,
            None if evening && (1..12).contains(&h) => h + 12,
            _ => h,
        };
        if let Some(time) = NaiveTime::from_hms_opt(h, m, s) {
            out.push(ClockHit {
                time,
                zone: c
                    .name("zone")
                    .map_or(String::new(), |z| z.as_str().to_string()),
                start: c.name("pre").map_or(h_m.start(), |p| p.start()),
                end: whole.end(),
            });
        }
    }
    out
}

/// Reads the occurrence time from a text.
pub fn find(text: &str, anchor: &Anchor, zone: &crate::sla::Zone, lang: Lang) -> Occurrence {
    let today_offset = sender_offset(anchor, zone, anchor.at.naive_utc().date());
    let today = anchor.at.with_timezone(&today_offset).date_naive();
    let mut pinned_without_instant: Option<String> = None;
    let mut try_line = |c: Candidate<'_>| {
        if let Some(found) = relative(c.line, anchor) {
            return Some(found);
        }
        match clock_time(c.line, c.quotes, today, anchor, zone, lang)? {
            Ok(found) => Some(found),
            Err(evidence) => {
                pinned_without_instant.get_or_insert(evidence);
                None
            }
        }
    };
    // Prose lines first, then log-like lines: the log lines wait while the
    // prose is read, and the text after the first time found is not read.
    let mut logs = Vec::new();
    for c in Candidates::new(text) {
        if c.is_log {
            logs.push(c);
        } else if let Some(found) = try_line(c) {
            return found;
        }
    }
    if let Some(found) = logs.into_iter().find_map(try_line) {
        return found;
    }
    match pinned_without_instant {
        Some(evidence) => Occurrence {
            pinned: true,
            instant: None,
            evidence: Some(evidence),
        },
        // No time: a day or part of the day is still worth showing.
        None => Occurrence {
            pinned: false,
            instant: None,
            evidence: day_only(text, today, lang),
        },
    }
}

/// A line where a time could be, outside quoted history.
#[derive(Clone, Copy)]
struct Candidate<'t> {
    line: &'t str,
    /// Whether it looks like a log line.
    is_log: bool,
    /// The quote state where it starts.
    quotes: Quotes,
}

/// The lines where a time could be, in order, found as they are asked for
/// by the cheap patterns (each scans the text once, however many lines are
/// asked for).
struct Candidates<'t> {
    text: &'t str,
    clock: std::iter::Peekable<regex::Matches<'static, 't>>,
    relative: std::iter::Peekable<regex::Matches<'static, 't>>,
    /// The previous hit, and the start of its line.
    from: usize,
    line: usize,
    /// The start of the last line given out (each line is given once).
    last: Option<usize>,
    quotes: QuoteWalk,
}

impl<'t> Candidates<'t> {
    fn new(text: &'t str) -> Self {
        Candidates {
            text,
            clock: CLOCK_QUICK.find_iter(text).peekable(),
            relative: RELATIVE_QUICK.find_iter(text).peekable(),
            from: 0,
            line: 0,
            last: None,
            quotes: QuoteWalk::default(),
        }
    }

    /// The next hit of either pattern, by position.
    fn hit(&mut self) -> Option<usize> {
        let c = self.clock.peek().map(|m| m.start());
        let r = self.relative.peek().map(|m| m.start());
        match (c, r) {
            (Some(c), Some(r)) if r < c => self.relative.next(),
            (Some(_), _) => self.clock.next(),
            (None, _) => self.relative.next(),
        }
        .map(|m| m.start())
    }
}

impl<'t> Iterator for Candidates<'t> {
    type Item = Candidate<'t>;

    fn next(&mut self) -> Option<Candidate<'t>> {
        let text = self.text;
        loop {
            let h = self.hit()?;
            // The start of the hit's line, looking back only to the previous
            // hit: one pass however long the line.
            if let Some(i) = text[self.from..h].rfind('\n') {
                self.line = self.from + i + 1;
            }
            self.from = h;
            if self.last == Some(self.line) {
                continue;
            }
            self.last = Some(self.line);
            let quotes = self.quotes.to(text, self.line);
            let line = text[self.line..]
                .split('\n')
                .next()
                .unwrap_or("")
                .trim_end_matches('\r');
            if line.trim_start().starts_with('>') {
                continue;
            }
            return Some(Candidate {
                line,
                is_log: LOG_LINE.is_match(line),
                quotes,
            });
        }
    }
}

/// A relative time in a line: "2 hours ago", "godzinę temu".
fn relative(line: &str, anchor: &Anchor) -> Option<Occurrence> {
    let c = RELATIVE.captures(line)?;
    let (n, unit) = match (c.name("n"), c.name("unit"), c.name("npl"), c.name("unitpl")) {
        (n, Some(u), _, _) | (_, _, n, Some(u)) => {
            (n.map_or("1", |m| m.as_str()), u.as_str().to_lowercase())
        }
        _ => return None,
    };
    let hours = unit.starts_with('h') || unit.starts_with("godz");
    let minutes = if n.to_lowercase().starts_with("half") || n.starts_with("pół") || n == "pol" {
        if hours { 30 } else { 0 }
    } else if unit.starts_with("kwadrans") {
        15
    } else {
        let k = words_to_number(n).unwrap_or(1);
        if hours { k * 60 } else { k }
    };
    (minutes > 0).then(|| Occurrence {
        pinned: true,
        instant: Some(anchor.at - Duration::minutes(minutes)),
        evidence: Some(c[0].trim().to_string()),
    })
}

/// A clock time in a line (with the date the line names, else today):
/// `Ok` with the instant when it is not in the future, `Err` with the
/// evidence when it is (pinned, but no instant); `None` without one.
fn clock_time(
    line: &str,
    quotes: Quotes,
    today: NaiveDate,
    anchor: &Anchor,
    zone: &crate::sla::Zone,
    lang: Lang,
) -> Option<Result<Occurrence, String>> {
    // A time inside quotation marks belongs to a quoted error text
    // ("Token expired at 01:26:13Z"), not to when it happened. The line is
    // read once, however many times it names.
    let (mut q, mut at) = (quotes, 0);
    let hit = clock_hits(line).into_iter().find(|h| {
        for ch in line[at..h.start.max(at)].chars() {
            q.step(ch);
        }
        at = at.max(h.start);
        !q.inside()
    })?;
    let date = date_in(line, today, lang);
    let d = date.as_ref().map_or(today, |(d, _)| *d);
    let offset = zone_offset(&hit.zone, d).unwrap_or_else(|| sender_offset(anchor, zone, d));
    let evidence = match &date {
        Some((_, words)) if !line[hit.start..hit.end].contains(words.as_str()) => {
            format!("{} {}", words, line[hit.start..hit.end].trim())
        }
        _ => line[hit.start..hit.end].trim().to_string(),
    };
    let instant = offset
        .from_local_datetime(&d.and_time(hit.time))
        .single()
        .map(|t| t.with_timezone(&Utc));
    Some(match instant {
        Some(t) if t <= anchor.at => Ok(Occurrence {
            pinned: true,
            instant: Some(t),
            evidence: Some(evidence),
        }),
        _ => Err(evidence),
    })
}

/// A day or part of the day the text names, when it names no time.
fn day_only(text: &str, today: NaiveDate, lang: Lang) -> Option<String> {
    for line in text.lines().filter(|l| !l.trim_start().starts_with('>')) {
        if let Some((_, words)) = date_in(line, today, lang) {
            let part = PART_OF_DAY
                .find(line)
                .map(|m| m.as_str().trim().to_string());
            return Some(match part {
                Some(p) if !words.contains(&p) => format!("{words} {p}"),
                _ => words,
            });
        } else if let Some(m) = PART_OF_DAY.find(line).or_else(|| MONTH_ONLY.find(line)) {
            return Some(m.as_str().trim().to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sla::Zone;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Anchor: Wednesday 2026-11-25 10:00 +01:00 (Date header), received a
    /// minute later.
    fn run(text: &str, lang: Lang) -> Occurrence {
        let date = DateTime::parse_from_rfc3339("2026-11-25T10:00:00+01:00").unwrap();
        let a = anchor(Some(date), t("2026-11-25T09:01:00Z"));
        find(text, &a, &Zone::warsaw(), lang)
    }

    #[test]
    fn occurrence_table() {
        // (text, pinned, instant)
        let table: &[(&str, bool, Option<&str>)] = &[
            (
                "It failed yesterday at 14:30.",
                true,
                Some("2026-11-24T14:30:00+01:00"),
            ),
            (
                "Błąd pojawił się wczoraj o 14:30.",
                true,
                Some("2026-11-24T14:30:00+01:00"),
            ),
            ("wczoraj około 15", true, Some("2026-11-24T15:00:00+01:00")),
            (
                "Dzisiaj o 9.15 system przestał działać",
                true,
                Some("2026-11-25T09:15:00+01:00"),
            ),
            (
                "It started 2 hours ago",
                true,
                Some("2026-11-25T08:00:00+01:00"),
            ),
            (
                "Problem zaczął się godzinę temu",
                true,
                Some("2026-11-25T09:00:00+01:00"),
            ),
            (
                "pół godziny temu przestało działać",
                true,
                Some("2026-11-25T09:30:00+01:00"),
            ),
            (
                "On Monday at 3 pm the export failed",
                true,
                Some("2026-11-23T15:00:00+01:00"),
            ),
            (
                "last failures: Sat 13:00, Sat 15:31",
                true,
                Some("2026-11-21T13:00:00+01:00"),
            ),
            // Short dates, bare hours with words after them.
            (
                "Problem wystąpił 24.11 o 14:00.",
                true,
                Some("2026-11-24T14:00:00+01:00"),
            ),
            (
                "we noticed it on 11/24 at 2:30 PM",
                true,
                Some("2026-11-24T14:30:00+01:00"),
            ),
            (
                "Od 8 rano nie działa logowanie.",
                true,
                Some("2026-11-25T08:00:00+01:00"),
            ),
            (
                "Wczoraj o 21 wieczorem system padł.",
                true,
                Some("2026-11-24T21:00:00+01:00"),
            ),
            (
                "Wczoraj o 9 wieczorem system padł.",
                true,
                Some("2026-11-24T21:00:00+01:00"),
            ),
            (
                "dzisiaj o 8 przestało działać",
                true,
                Some("2026-11-25T08:00:00+01:00"),
            ),
            (
                "This morning at 8 the sync stopped",
                true,
                Some("2026-11-25T08:00:00+01:00"),
            ),
            (
                "Cena wzrosła o 5 procent, 1.5 GB wolne, 19.5% błędów",
                false,
                None,
            ),
            ("Wydłużyło się o 2 dni, at 3 stores", false, None),
            // Times inside quoted error text are not occurrence times.
            (
                "The log says \"Token expired\nat 01:26:13Z\". First noticed at 07:40.",
                true,
                Some("2026-11-25T07:40:00+01:00"),
            ),
            (
                "Komunikat „sesja wygasła o 03:10” pojawił się dziś o 9:05.",
                true,
                Some("2026-11-25T09:05:00+01:00"),
            ),
            // Hours 20-23 (an alternation once took the "2" of "23" alone).
            (
                "First noticed on Monday 2026-11-23 at about 23:32 (UTC).",
                true,
                Some("2026-11-23T23:32:00Z"),
            ),
            (
                "wczoraj o 20:15 i potem o 21:00",
                true,
                Some("2026-11-24T20:15:00+01:00"),
            ),
            (
                "awaria w pt. o 13:10",
                true,
                Some("2026-11-20T13:10:00+01:00"),
            ),
            (
                "W poniedziałek o 8:05 rano",
                true,
                Some("2026-11-23T08:05:00+01:00"),
            ),
            (
                "First noticed on Sunday 2024-03-03 at about 01:09 (UTC).",
                true,
                Some("2024-03-03T01:09:00Z"),
            ),
            (
                "Stało się 20 listopada o 11:00",
                true,
                Some("2026-11-20T11:00:00+01:00"),
            ),
            (
                "Happened on 03/11/2026 at 16:45",
                true,
                Some("2026-03-11T16:45:00+01:00"),
            ),
            (
                "Wystąpiło 3.11.2026 o godz. 16:45",
                true,
                Some("2026-11-03T16:45:00+01:00"),
            ),
            (
                "November 20, 2026 at 11:00 AM",
                true,
                Some("2026-11-20T11:00:00+01:00"),
            ),
            // A time after the anchor with no date is discarded.
            ("at 16:00 it broke", true, None),
            // Day or part of the day alone: evidence, not pinned.
            ("It broke yesterday.", false, None),
            ("Od rana nie działa, dziś rano", false, None),
            ("w listopadzie zauważyliśmy", false, None),
            // Numbers that are not times.
            (
                "Connector version: 5.8.8, 19.5% free, order 629903",
                false,
                None,
            ),
            ("We have 15 users", false, None),
        ];
        for (text, pinned, instant) in table {
            let o = run(text, if text.is_ascii() { Lang::En } else { Lang::Pl });
            assert_eq!(o.pinned, *pinned, "{text}: {o:?}");
            assert_eq!(o.instant, instant.map(t), "{text}: {o:?}");
        }
    }

    #[test]
    fn day_only_keeps_evidence() {
        let o = run("It broke yesterday.", Lang::En);
        assert_eq!(o.evidence.as_deref(), Some("yesterday"));
        let o = run("dziś rano przestało działać", Lang::Pl);
        assert!(o.evidence.unwrap().contains("rano"));
    }

    #[test]
    fn anchor_falls_back_to_receipt() {
        let received = t("2026-11-25T09:00:00Z");
        let stale = DateTime::parse_from_rfc3339("2026-11-20T10:00:00+02:00").unwrap();
        let a = anchor(Some(stale), received);
        assert_eq!(a.at, received);
        assert_eq!(a.offset.unwrap().local_minus_utc(), 7200);
        let future = DateTime::parse_from_rfc3339("2026-11-26T10:00:00+01:00").unwrap();
        assert_eq!(anchor(Some(future), received).at, received);
    }
}
