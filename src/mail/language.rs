//! Polish or English, for templates, from the customer's own words: the
//! trimmed text without quoted lines, log and error lines, and text in
//! quotation marks (an error message quoted in another language says nothing
//! of the writer's). Counts function words of each language and Polish
//! letters; words both languages write ("to", "i", "do", "a", "on", "we",
//! "no", "ten") count for neither. A tie goes to the configured default.
//! Pure.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use crate::lang::Lang;

const PL_WORDS: &[&str] = &[
    "się",
    "sie",
    "nie",
    "jest",
    "są",
    "że",
    "ze",
    "na",
    "w",
    "z",
    "jak",
    "czy",
    "mamy",
    "mam",
    "który",
    "która",
    "które",
    "oraz",
    "już",
    "juz",
    "dzień",
    "dzien",
    "dobry",
    "witam",
    "pozdrawiam",
    "pozdrowienia",
    "proszę",
    "prosze",
    "prosimy",
    "błąd",
    "blad",
    "działa",
    "dziala",
    "bardzo",
    "jeszcze",
    "gdy",
    "po",
    "od",
    "dla",
    "przy",
    "tylko",
    "może",
    "moze",
    "mogę",
    "moge",
    "został",
    "zostal",
    "została",
    "zostala",
    "zostało",
    "było",
    "bylo",
    "była",
    "będzie",
    "bedzie",
    "dziękuję",
    "dziekuje",
    "dzięki",
    "dzieki",
    "ale",
    "lub",
    "albo",
    "bo",
    "jako",
    "też",
    "tez",
    "także",
    "takze",
    "tak",
    "nam",
    "nas",
    "mnie",
    "mi",
    "jego",
    "jej",
    "ich",
    "tym",
    "tego",
    "tej",
    "te",
    "co",
    "gdzie",
    "kiedy",
    "dlaczego",
    "nadal",
    "wciąż",
    "teraz",
    "dzisiaj",
    "dziś",
    "wczoraj",
    "rano",
    "godzinie",
    "około",
    "okolo",
    "przez",
    "bez",
    "pod",
    "przed",
    "aby",
    "żeby",
    "zeby",
    "jeśli",
    "jesli",
    "jeżeli",
    "jezeli",
    "więc",
    "wiec",
    "czyli",
    "nasz",
    "nasza",
    "nasze",
    "naszym",
    "państwa",
    "panstwa",
    "pan",
    "pani",
    "szanowni",
    "szanowny",
    "szanowna",
    "uprzejmie",
    "pilne",
    "pomoc",
    "pomocy",
    "prośba",
    "prosba",
    "zgłoszenie",
    "zgloszenie",
    "faktura",
    "faktury",
    "zamówienie",
    "zamówienia",
    "sprawdziłem",
    "sprawdziłam",
    "system",
    "systemie",
    "mój",
    "moja",
    "moje",
    "u",
    "o",
];
const EN_WORDS: &[&str] = &[
    "the",
    "and",
    "is",
    "are",
    "was",
    "were",
    "it",
    "its",
    "it's",
    "of",
    "not",
    "have",
    "has",
    "had",
    "please",
    "hello",
    "regards",
    "this",
    "that",
    "with",
    "for",
    "our",
    "you",
    "your",
    "can",
    "cannot",
    "can't",
    "when",
    "since",
    "error",
    "issue",
    "thanks",
    "thank",
    "would",
    "could",
    "does",
    "doesn't",
    "don't",
    "didn't",
    "there",
    "from",
    "be",
    "been",
    "in",
    "at",
    "hi",
    "dear",
    "i'm",
    "i've",
    "my",
    "me",
    "us",
    "they",
    "what",
    "which",
    "who",
    "if",
    "but",
    "or",
    "an",
    "as",
    "by",
    "so",
    "will",
    "should",
    "all",
    "any",
    "some",
    "after",
    "before",
    "again",
    "still",
    "now",
    "today",
    "yesterday",
    "morning",
    "working",
    "works",
    "work",
    "help",
    "kind",
    "best",
    "also",
    "just",
    "only",
    "about",
    "into",
    "out",
    "up",
    "get",
    "got",
    "see",
    "attached",
    "order",
    "orders",
    "invoice",
    "invoices",
    "sincerely",
    "happened",
    "happens",
    "tried",
    "checked",
    "away",
    "office",
    "until",
    "back",
    "return",
    "vacation",
    "leave",
    "message",
    "mail",
    "email",
    "reply",
    "characters",
    "shows",
    "wrong",
];

/// Both word lists in one table (a Polish entry wins when a word is on
/// both lists). A hash look-up: a binary search costs about nine string
/// comparisons per word of every message.
static WORDS: LazyLock<HashMap<&'static str, Lang>> = LazyLock::new(|| {
    EN_WORDS
        .iter()
        .map(|w| (*w, Lang::En))
        .chain(PL_WORDS.iter().map(|w| (*w, Lang::Pl)))
        .collect()
});

fn word_lang(word: &str) -> Option<Lang> {
    WORDS.get(word).copied()
}

/// Lines that are logs, stack traces or error dumps, not the writer's words.
static LOG_LINE: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(concat!(
        r"(?im)^[ \t]*(at[ \t]+[\w.$]+\(|\[?\d{4}-\d{2}-\d{2}[ t]\d|\[?\d{1,2}:\d{2}:\d{2}|",
        r"(error|warn|warning|info|debug|fatal|trace|exception|caused by|traceback)[ \t]*[:\]]|",
        r"[\w.]+(exception|error)\b)|[\w]+\.[\w]+\.[\w]+\(|exception:"
    ))
});

/// Text in quotation marks ("...", „...”, “...”), up to 200 characters.
static QUOTED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#""[^"\n]{1,200}"|„[^”"\n]{1,200}[”"]|“[^”\n]{1,200}”"#).unwrap());

/// How much text is read: enough words to tell two languages apart.
const SAMPLE_BYTES: usize = 1_200;

/// A lead in points that decides at once: further words would not change
/// the answer, and this runs on every message.
const DECIDED_LEAD: usize = 12;

/// The writer's own words: no quoted lines, log lines or quoted strings.
/// The log-line pattern runs once over the sample (multi-line), not once
/// per line: this is on the path of every message.
fn own_words(text: &str) -> String {
    let sample = &text[..text.floor_char_boundary(text.len().min(SAMPLE_BYTES))];
    let mut log_at = LOG_LINE.find_iter(sample).map(|m| m.start()).peekable();
    let mut kept = String::with_capacity(sample.len());
    let mut start = 0;
    for line in sample.split_inclusive('\n') {
        let end = start + line.len();
        let mut is_log = false;
        while let Some(&at) = log_at.peek() {
            if at >= end {
                break;
            }
            is_log = true;
            log_at.next();
        }
        if !is_log && !line.trim_start().starts_with('>') {
            kept.push_str(line);
        }
        start = end;
    }
    QUOTED.replace_all(&kept, " ").into_owned()
}

/// The language of a text; `default` when nothing tells.
pub fn detect(subject: &str, text: &str, default: Lang) -> Lang {
    let own = own_words(text);
    let mut pl = 0usize;
    let mut en = 0usize;
    let mut lower = String::new();
    let words = subject
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .chain(own.split(|c: char| !c.is_alphanumeric() && c != '\''));
    for word in words {
        let word = word.trim_matches('\'');
        if word.is_empty() {
            continue;
        }
        // A Polish letter counts in a word of three letters or more (not a
        // list of letters such as "(ą, ę, ś)" in an English report).
        if !word.is_ascii()
            && word.chars().nth(2).is_some()
            && word.chars().any(|c| "ąćęłńóśźżĄĆĘŁŃÓŚŹŻ".contains(c))
        {
            pl += 2;
        }
        if word.len() > 14 {
            continue;
        }
        lower.clear();
        if word.is_ascii() {
            lower.push_str(word);
            lower.make_ascii_lowercase();
        } else {
            lower.extend(word.chars().flat_map(char::to_lowercase));
        }
        match word_lang(&lower) {
            Some(Lang::Pl) => pl += 1,
            Some(Lang::En) => en += 1,
            None => {}
        }
        if pl.abs_diff(en) >= DECIDED_LEAD {
            break;
        }
    }
    match pl.cmp(&en) {
        std::cmp::Ordering::Greater => Lang::Pl,
        std::cmp::Ordering::Less => Lang::En,
        std::cmp::Ordering::Equal => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects() {
        let table = [
            (
                "Błąd logowania",
                "Dzień dobry, od rana nie możemy się zalogować.",
                Lang::Pl,
            ),
            (
                "Login error",
                "Hello, since this morning we cannot log in to the system.",
                Lang::En,
            ),
            (
                "Blad logowania",
                "Dzien dobry, od rana nie mozemy sie zalogowac do systemu. Prosze o pomoc.",
                Lang::Pl,
            ),
            // "I" and "to" are no Polish words.
            (
                "Export",
                "I went to the export page and it did nothing.",
                Lang::En,
            ),
            (
                "Import fails",
                "Our import shows Polish characters (ą, ę, ś, ż, ź) as question marks since Monday.",
                Lang::En,
            ),
            (
                "Out of office",
                "I am away until 30 November and will reply on my return.",
                Lang::En,
            ),
            // A Polish customer quoting an English error, and a log.
            (
                "Błąd importu",
                "Przy imporcie system zgłasza \"Invalid column format in the price list\".\n\
                 2026-11-25 10:00:01 ERROR the import of the file has failed\n\
                 Sprawdziłam plik dwa razy.",
                Lang::Pl,
            ),
            // An English customer quoting a Polish error.
            (
                "Import error",
                "The import says „Nieprawidłowy format kolumny cena” for every file we upload.",
                Lang::En,
            ),
            // Quoted history in the other language does not count.
            (
                "Re: [SS-1] Faktury",
                "Thanks, it works now.\n> Dzień dobry, proszę sprawdzić, czy faktury już działają.",
                Lang::En,
            ),
            ("", "", Lang::En),
        ];
        for (s, t, expected) in table {
            assert_eq!(detect(s, t, Lang::En), expected, "{t}");
        }
        assert_eq!(detect("", "", Lang::Pl), Lang::Pl);
        // A tie goes to the default, both ways.
        assert_eq!(detect("", "to i do", Lang::Pl), Lang::Pl);
        assert_eq!(detect("", "to i do", Lang::En), Lang::En);
    }
}
