//! Polish or English, for templates: counts Polish letters and common words
//! of each language. Pure.

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::lang::Lang;

const PL_WORDS: &[&str] = &[
    "się",
    "nie",
    "jest",
    "że",
    "na",
    "do",
    "w",
    "z",
    "i",
    "to",
    "jak",
    "czy",
    "mamy",
    "który",
    "która",
    "oraz",
    "już",
    "dzień",
    "dobry",
    "witam",
    "pozdrawiam",
    "proszę",
    "prosimy",
    "problem",
    "błąd",
    "działa",
    "bardzo",
    "jeszcze",
    "gdy",
    "po",
    "od",
    "dla",
    "przy",
    "tylko",
    "może",
    "mogę",
    "został",
    "została",
    "było",
    "będzie",
    "dziękuję",
];
const EN_WORDS: &[&str] = &[
    "the", "and", "is", "to", "we", "it", "of", "not", "have", "please", "hello", "regards",
    "this", "that", "with", "for", "are", "was", "our", "you", "can", "when", "since", "error",
    "issue", "thanks", "thank", "would", "could", "does", "doesn't", "there", "from", "be", "in",
    "on", "at", "hi", "dear",
];

static PL: LazyLock<HashSet<&'static str>> = LazyLock::new(|| PL_WORDS.iter().copied().collect());
static EN: LazyLock<HashSet<&'static str>> = LazyLock::new(|| EN_WORDS.iter().copied().collect());

/// How much text is read: enough words to tell two languages apart.
const SAMPLE_BYTES: usize = 1_500;

/// The language of a text; `default` when nothing tells.
pub fn detect(subject: &str, text: &str, default: Lang) -> Lang {
    let sample = &text[..text.floor_char_boundary(text.len().min(SAMPLE_BYTES))];
    let lower = format!("{subject}\n{sample}").to_lowercase();
    let mut pl = 0usize;
    let mut en = 0usize;
    for word in lower.split(|c: char| !c.is_alphanumeric() && c != '\'') {
        // Function words are short; long words only count for their letters.
        if word.is_empty() {
            continue;
        }
        if !word.is_ascii() && word.chars().any(|c| "ąćęłńóśźż".contains(c)) {
            pl += 2;
        }
        if word.len() > 12 {
            continue;
        }
        if PL.contains(word) {
            pl += 1;
        } else if EN.contains(word) {
            en += 1;
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
            ("", "", Lang::En),
        ];
        for (s, t, expected) in table {
            assert_eq!(detect(s, t, Lang::En), expected, "{t}");
        }
        assert_eq!(detect("", "", Lang::Pl), Lang::Pl);
    }
}
