//! Severity suggestion (contract §5): an explicit "Severity: N" /
//! "Priorytet: N" line wins; otherwise the first matching rule (regex →
//! severity) in order; otherwise 3. Rules are configurable; the shipped
//! defaults are English and Polish. Pure.

use std::sync::{Arc, LazyLock, OnceLock};

use regex::Regex;

use crate::sla::Severity;

/// "Severity: 2", "**Priorytet** = 1": the word and its number. The line
/// must start with it (after spaces and `*`), which [`explicit`] checks:
/// a pattern that starts with the word lets the regex crate look for the
/// words' letters first instead of running its automaton over every line of
/// every message (five times faster on the benchmark corpus).
static EXPLICIT: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(
        r"(?i)(severity|priority|priorytet|ważność|waznosc|istotność|istotnosc|poziom)\**\s*[:=-]\s*\**\s*([1-5])\b",
    )
});

/// The first explicit severity line's number. A match cannot hide another
/// one: after its word a match holds only `*`, spaces, `:=-` and the digit.
fn explicit(text: &str) -> Option<Severity> {
    EXPLICIT
        .captures_iter(text)
        .find(|c| {
            let at = c.get(0).map_or(0, |m| m.start());
            let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            text[line_start..at]
                .trim_start()
                .trim_start_matches('*')
                .is_empty()
        })
        .and_then(|c| c[2].parse().ok())
        .and_then(Severity::from_number)
}

/// Where the severity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// An explicit line in the body.
    Explicit,
    /// A rule matched.
    Rule,
    /// Nothing matched: the default 3.
    Default,
}

/// How much of the body the rules read: what a problem is about is said in
/// the subject and the first paragraphs, not in pasted logs further down.
pub const RULE_SAMPLE_BYTES: usize = 4_000;

/// Ordered rules: the first match wins. All rules run in one pass over the
/// text (a `RegexSet`). The shipped rules are compiled on first use (and
/// once for all clones): commands that never suggest a severity, such as
/// `deliver`, would otherwise spend nearly all their time compiling them.
#[derive(Debug, Clone)]
pub struct SeverityRules {
    patterns: Arc<[String]>,
    set: Arc<OnceLock<regex::RegexSet>>,
    severities: Vec<Severity>,
}

/// The shipped rules, in order: outages first, then broken components,
/// suggestions, questions.
pub const DEFAULT_RULES: &[(&str, u8)] = &[
    (
        r"(?i)\b(nobody|no one|none of (us|our users)|all (of our )?users)\b.{0,40}\b(can|could|is able to|are able to|can ?not|can't|cannot|are unable to)\s+(log ?in|login|sign in|access)",
        1,
    ),
    (
        r"(?i)\b(can ?not|can't|unable to) (log ?in|access)\b.{0,40}\b(all|every|any)\b",
        1,
    ),
    (
        r"(?i)\b(system|site|service|platform|application|app|product|production) (is |went |has gone )?(completely )?(down|offline|unavailable|unreachable)\b",
        1,
    ),
    (
        r"(?i)\b(total|complete|full) (outage|downtime)\b|\boutage\b",
        1,
    ),
    (
        r"(?i)\bnikt nie (może|moze|jest w stanie) (się |sie )?(zalogować|zalogowac|zalogowa)",
        1,
    ),
    (
        r"(?i)\b(system|serwis|platforma|aplikacja) (całkowicie |w ogóle |zupełnie )?(nie działa|nie dziala|leży|lezy|jest niedostępn|jest niedostepn)",
        1,
    ),
    (
        r"(?i)\bawaria (całego |calego )?(systemu|platformy|serwisu)|\bbrak dostępu do (systemu|platformy)",
        1,
    ),
    (
        r"(?i)\b(significant|major|severe) impact\b|\b(blocked|blocking|stopped) (our |the )?(operations|work|sales|orders|shipping)\b",
        2,
    ),
    (
        r"(?i)\b(module|component|integration|export|import|sync|synchronization|connector|interface)\b.{0,40}\b(is down|is broken|out of order|stopped working)\b",
        2,
    ),
    (
        r"(?i)\b(moduł|modul|komponent|integracj|eksport|import|synchronizacj)\w*\b.{0,40}\b(przestał\w*|przestal\w*|nie działa|nie dziala)",
        2,
    ),
    (
        r"(?i)\b(paraliż|paraliz|wstrzymana praca|zablokowan\w* (praca|sprzedaż|sprzedaz|wysyłk))",
        2,
    ),
    (
        r"(?i)\b(suggestion|feature request|would be nice|it would be great|enhancement|improvement idea|propose|proposal)\b",
        5,
    ),
    (
        r"(?i)\b(propozycja|sugestia|sugeruję|sugeruje|proponuję|proponuje|byłoby (dobrze|miło|fajnie)|nowa funkcj|nowej funkcj|usprawnieni)",
        5,
    ),
    (
        // "question", but not "question mark(s)": a report of garbled text.
        r"(?i)\b(questions?(?:$|[^\s\w]|\s+(?:[^\sm]|m[^a]))|how (do|can|should) (i|we)|how to|is (it|there) (possible|a way)|documentation|clarif)",
        4,
    ),
    (
        r"(?i)\b(pytanie|jak (mogę|moge|można|mozna|mamy)|czy (jest )?(możliwe|mozliwe|można|mozna)|dokumentacj|wyjaśnieni|wyjasnieni)",
        4,
    ),
];

impl Default for SeverityRules {
    /// The shipped rules (valid: a test compiles them), compiled on first use.
    fn default() -> Self {
        SeverityRules {
            // Our own patterns get ASCII word boundaries (see `ascii_pattern`).
            patterns: DEFAULT_RULES
                .iter()
                .map(|(r, _)| super::ascii_pattern(r))
                .collect(),
            set: Arc::default(),
            severities: DEFAULT_RULES
                .iter()
                .map(|(_, s)| Severity::from_number(*s).expect("shipped severities are 1-5"))
                .collect(),
        }
    }
}

impl SeverityRules {
    /// Rules from (regex, severity) pairs, compiled now; an invalid one is an
    /// error naming it.
    pub fn new(rules: impl IntoIterator<Item = (String, u8)>) -> Result<Self, String> {
        let mut patterns = Vec::new();
        let mut severities = Vec::new();
        for (re, sev) in rules {
            let severity = Severity::from_number(sev)
                .ok_or_else(|| format!("severity {sev} of rule {re:?} is not 1-5"))?;
            patterns.push(re);
            severities.push(severity);
        }
        let set = regex::RegexSet::new(&patterns).map_err(|e| {
            // Name the rule at fault when one alone is invalid.
            match patterns
                .iter()
                .find_map(|re| Regex::new(re).err().map(|e| (re, e)))
            {
                Some((re, e)) => format!("rule {re:?} is not a valid regex: {e}"),
                None => format!("the severity rules do not compile together: {e}"),
            }
        })?;
        Ok(SeverityRules {
            patterns: patterns.into(),
            set: Arc::new(OnceLock::from(set)),
            severities,
        })
    }

    fn set(&self) -> &regex::RegexSet {
        self.set.get_or_init(|| {
            regex::RegexSet::new(self.patterns.iter()).expect("validated or shipped rules")
        })
    }

    /// The suggested severity of a request.
    pub fn suggest(&self, subject: &str, text: &str) -> (Severity, Source) {
        if let Some(s) = explicit(text) {
            return (s, Source::Explicit);
        }
        let sample = &text[..text.floor_char_boundary(text.len().min(RULE_SAMPLE_BYTES))];
        let set = self.set();
        let first = |t: &str| set.matches(t).iter().next();
        match [first(subject), first(sample)].into_iter().flatten().min() {
            Some(i) => (self.severities[i], Source::Rule),
            None => (Severity::Minor, Source::Default),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_rules_compile() {
        let shipped = SeverityRules::default();
        let checked = SeverityRules::new(
            shipped
                .patterns
                .iter()
                .cloned()
                .zip(shipped.severities.iter().map(|s| s.number())),
        );
        assert!(checked.is_ok(), "{:?}", checked.err());
    }

    #[test]
    fn suggestions() {
        let rules = SeverityRules::default();
        let table = [
            ("Nobody can log in", "", 1),
            ("System down", "", 1),
            ("", "Od rana nikt nie może się zalogować.", 1),
            ("Pytanie o raport", "Jak mogę wyeksportować dane?", 4),
            ("Question", "How do I export data?", 4),
            ("A question about exports", "", 4),
            ("Question: exports?", "", 4),
            ("Import shows question marks instead of letters", "", 3),
            ("", "Polish letters show as question marks.", 3),
            ("Feature request: dark mode", "", 5),
            ("Propozycja", "Byłoby dobrze dodać filtr.", 5),
            (
                "Export shows wrong totals",
                "The totals differ from the documentation.",
                4,
            ),
            ("Export shows wrong totals", "The totals differ.", 3),
            ("System down", "Severity: 2\nnot that bad", 2),
            ("x", "Priorytet: 5", 5),
            ("x", "Hello\n  **Severity** : 2\n", 2),
            ("x", "We set priority: 1 in the form.\nPoziom = 5", 5),
            ("x", "* priority: 1\n\tWażność - 2", 2),
            ("x", "Severity: 9\nIstotność: 4", 4),
        ];
        for (subject, text, expected) in table {
            assert_eq!(
                rules.suggest(subject, text).0.number(),
                expected,
                "{subject} / {text}"
            );
        }
    }
}
