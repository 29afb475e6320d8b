//! Trims quoted history, signatures and mobile footers from a reply, keeping
//! what the sender wrote.
//!
//! Cut points (the earliest wins, everything from it on goes):
//! - attribution lines: "On … wrote:", "W dniu … pisze:", "… napisał(a):",
//!   "Am … schrieb …:", "Le … a écrit :", "Op … schreef …:", "Den … skrev …:",
//!   "El … escribió:", "Il … ha scritto:", also when the client wrapped them
//!   over two lines;
//! - Outlook header blocks: a "From:" line in any of the common languages
//!   (From/Od/Von/Fra/Från/De/Van/Da) followed within four lines by a
//!   "Sent:"/"Date:"-like line, usually after a line of underscores;
//! - separators: "-----Original Message-----", "-----Wiadomość
//!   oryginalna-----", "-----Ursprüngliche Nachricht-----", …;
//! - the signature separator "-- " and mobile footers ("Sent from my
//!   iPhone", "Wysłane z iPhone'a", "Get Outlook for Android", …).
//!
//! Lines quoted with `>` are removed wherever they are, so an answer written
//! between quotes is kept. Pure.

use std::sync::LazyLock;

use regex::Regex;

static ATTRIBUTION: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(concat!(
        r"(?i)^\s*(",
        r"on\b.*\bwrote\s*:|",
        r"w dniu\b.*(pisze|napisał|napisała|napisał\(a\)|napisal|napisala)\s*:|",
        r".*\b(napisał|napisała|napisał\(a\)|napisal\(a\)|napisal|napisala|pisze)\s*:|",
        r"dnia\b.*(pisze|napisał|napisała|napisał\(a\))\s*:|",
        r"am\b.*\bschrieb\b.*:|",
        r"le\b.*\ba écrit\s*:|",
        r"op\b.*\bschreef\b.*:|",
        r"(den|d\.)\b.*\bskrev\b.*:|",
        r"el\b.*\bescribió\s*:|",
        r"il\b.*\bha scritto\s*:|",
        r".*<[^>\s]+@[^>\s]+>\s*(wrote|schrieb|napisał\(a\)|napisał|napisała|skrev|escribió|a écrit)\s*:",
        r")\s*$"
    ))
});

/// How a wrapped attribution line starts: its opening words, or an address
/// cut in the middle.
static ATTRIBUTION_START: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(r"(?i)^\s*(on|w dniu|dnia|am|le|op|den|el|il)\b|<[^>]*$|@\S+\s*$")
});

static SEPARATOR: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(concat!(
        r"(?i)^\s*-{2,}\s*(original message|wiadomość oryginalna|wiadomosc oryginalna|oryginalna wiadomość|",
        r"ursprüngliche nachricht|message d'origine|oorspronkelijk bericht|originalmeddelande|",
        r"opprinnelig melding|oprindelig meddelelse|messaggio originale|mensaje original|",
        r"reply message|odpowiedź|forwarded message|wiadomość przekazana)\s*-{2,}\s*$"
    ))
});

static HEADER_FROM: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(r"(?i)^\s*\*?(from|od|von|fra|från|de|van|da|lähettäjä)\s*:\*?\s*\S")
});
static HEADER_NEXT: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(concat!(
        r"(?i)^\s*\*?(sent|date|to|subject|cc|wysłane|wysłano|data|do|temat|dw|gesendet|datum|an|betreff|",
        r"sendt|til|emne|skickat|till|ämne|envoyé|envoye|à|objet|verzonden|aan|onderwerp|inviato|oggetto|enviado|asunto|para)\s*:"
    ))
});

static MOBILE: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(concat!(
        r"(?i)^\s*(sent from my \w+|sent from (my )?(iphone|ipad|android|samsung|mobile|outlook)|",
        r"sent from mail for windows|sent from yahoo mail|get outlook for (ios|android)|",
        r"wysłane z (mojego )?(iphone|ipada|ipad|smartfona|telefonu|urządzenia)|wysłane z iphone'a|wysłano z (mojego )?(iphone|telefonu|aplikacji)|",
        r"wysłane z aplikacji|von meinem (iphone|ipad|smartphone|samsung)|envoyé de mon (iphone|ipad)|verzonden vanaf mijn|",
        r"skickat från min)\b"
    ))
});

/// The result of trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trimmed {
    /// What the sender wrote.
    pub text: String,
    /// Whether quoted history was removed (quotes, attributions, headers).
    pub removed_quote: bool,
}

fn is_underscores(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 10 && t.chars().all(|c| c == '_' || c == '-' || c == '=')
}

/// Whether a line could be a mobile footer: every [`MOBILE`] alternative
/// starts, after blanks, with one of these letters in either case (`ſ` is
/// an `s` to a case-insensitive pattern). Far cheaper than the pattern, which
/// would otherwise run on every short line.
fn may_be_mobile(line: &str) -> bool {
    line.trim_start()
        .chars()
        .next()
        .is_some_and(|c| matches!(c.to_ascii_lowercase(), 's' | 'g' | 'w' | 'v' | 'e' | 'ſ'))
}

/// A mobile footer ("Sent from my iPhone").
fn is_mobile(line: &str) -> bool {
    may_be_mobile(line) && MOBILE.is_match(line)
}

/// A separator ("-----Original Message-----"): every form starts with
/// dashes, tested before the pattern.
fn is_separator(line: &str) -> bool {
    line.trim_start().starts_with("--") && SEPARATOR.is_match(line)
}

/// An attribution line ("On … wrote:"): every form ends with a colon,
/// tested before the pattern.
fn is_attribution(line: &str) -> bool {
    line.trim_end().ends_with(':') && ATTRIBUTION.is_match(line)
}

/// The index of the first line of quoted history, signature or footer.
fn cut_line(lines: &[&str]) -> Option<(usize, bool)> {
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_end();
        if t == "--" || t == "-- " || line.trim_end_matches(['\r']) == "-- " {
            return Some((i, false));
        }
        // Cheap tests first: every pattern below needs a short line, a
        // leading dash or a colon.
        if t.len() < 80 && is_mobile(t) {
            return Some((i, false));
        }
        if is_separator(t) {
            return Some((i, true));
        }
        if is_attribution(t) {
            return Some((i, true));
        }
        // An attribution wrapped over two (or three) lines.
        if t.len() < 300
            && lines
                .iter()
                .skip(i + 1)
                .take(2)
                .any(|l| l.trim_end().ends_with(':'))
            && ATTRIBUTION_START.is_match(t)
        {
            for n in 1..=2 {
                if i + n < lines.len() && lines[i + 1..=i + n].iter().all(|l| !l.trim().is_empty())
                {
                    let joined = lines[i..=i + n]
                        .iter()
                        .map(|l| l.trim())
                        .collect::<Vec<_>>()
                        .join(" ");
                    if is_attribution(&joined) {
                        return Some((i, true));
                    }
                }
            }
        }
        if t.contains(':') && HEADER_FROM.is_match(t) {
            let next = lines
                .iter()
                .skip(i + 1)
                .take(4)
                .filter(|l| HEADER_NEXT.is_match(l))
                .count();
            if next >= 2 {
                let start = if i > 0 && is_underscores(lines[i - 1]) {
                    i - 1
                } else {
                    i
                };
                return Some((start, true));
            }
        }
        if is_underscores(t) && lines.get(i + 1).is_some_and(|l| HEADER_FROM.is_match(l)) {
            continue;
        }
    }
    None
}

/// Trims quoted history from a reply.
pub fn trim(text: &str) -> Trimmed {
    let lines: Vec<&str> = text.lines().collect();
    let (end, mut removed_quote) = match cut_line(&lines) {
        Some((i, quote)) => (i, quote),
        None => (lines.len(), false),
    };
    // A cut at the signature can take quoted history below it too.
    removed_quote |= lines[end..].iter().any(|l| {
        let t = l.trim_end();
        t.trim_start().starts_with('>') || is_attribution(t) || is_separator(t)
    });
    let mut kept: Vec<&str> = Vec::with_capacity(end);
    for line in &lines[..end] {
        if line.trim_start().starts_with('>') {
            removed_quote = true;
        } else {
            kept.push(line.trim_end());
        }
    }
    // Drop trailing blank lines and collapse runs of blank lines.
    while kept.last().is_some_and(|l| l.trim().is_empty()) {
        kept.pop();
    }
    let mut out = String::with_capacity(text.len().min(end * 80));
    let mut blank = 0;
    for line in kept.iter().skip_while(|l| l.trim().is_empty()) {
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    Trimmed {
        text: out,
        removed_quote,
    }
}

/// Only the signature and mobile footer go (for new requests, whose quoted
/// parts may be the report itself, e.g. a forwarded error mail).
pub fn trim_signature(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .iter()
        .position(|l| l.trim_end() == "--" || *l == "-- " || is_mobile(l))
        .unwrap_or(lines.len());
    let mut out = lines[..end].join("\n");
    let trimmed_len = out.trim_end().len();
    out.truncate(trimmed_len);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_table() {
        // (reply, what must stay, what must go)
        let table: &[(&str, &str, &str)] = &[
            (
                "Thanks, works now.\n\nOn Mon, 4 Mar 2024 at 07:41, Ben <ben@x.example> wrote:\n> old text\n",
                "works now",
                "old text",
            ),
            (
                "Thanks.\n\nOn Mon, 4 Mar 2024 at 07:41, Ben Rossi <\nben@x.example> wrote:\n\nold text\n",
                "Thanks",
                "old text",
            ),
            (
                "Dziękuję.\n\nW dniu 4.03.2024 o 07:41, Jan Kowalski pisze:\n> stare\n",
                "Dziękuję",
                "stare",
            ),
            (
                "Ok.\n\nJan Kowalski <jan@x.pl> napisał(a):\nstare\n",
                "Ok.",
                "stare",
            ),
            (
                "Działa.\n\nDnia 4 marca 2024 14:30 Jan Kowalski <jan@x.pl> napisał(a):\nstare\n",
                "Działa",
                "stare",
            ),
            (
                "Fixed.\n\n________________________________\nFrom: Support <s@x>\nSent: Monday, March 4, 2024 8:00 AM\nTo: Ben\nSubject: RE: x\n\nold\n",
                "Fixed",
                "old",
            ),
            (
                "Tak.\n\nOd: Support <s@x>\nWysłane: poniedziałek, 4 marca 2024 08:00\nDo: Jan\nTemat: RE: x\n\nstare\n",
                "Tak.",
                "stare",
            ),
            (
                "Ja.\n\nVon: Support <s@x>\nGesendet: Montag, 4. März 2024 08:00\nAn: Jan\nBetreff: x\n\nalt\n",
                "Ja.",
                "alt",
            ),
            (
                "Ja.\n\nFrån: Support <s@x>\nSkickat: den 4 mars 2024 08:00\nTill: Jan\nÄmne: x\n\ngammal\n",
                "Ja.",
                "gammal",
            ),
            (
                "Oui.\n\nDe : Support <s@x>\nEnvoyé : lundi 4 mars 2024 08:00\nÀ : Jan\nObjet : x\n\nvieux\n",
                "Oui.",
                "vieux",
            ),
            (
                "Ja.\n\nVan: Support <s@x>\nVerzonden: maandag 4 maart 2024 08:00\nAan: Jan\nOnderwerp: x\n\noud\n",
                "Ja.",
                "oud",
            ),
            (
                "Ja.\n\nFra: Support <s@x>\nSendt: 4. mars 2024 08:00\nTil: Jan\nEmne: x\n\ngammel\n",
                "Ja.",
                "gammel",
            ),
            (
                "Yes.\n\n-----Original Message-----\nFrom: s@x\nold\n",
                "Yes.",
                "old",
            ),
            (
                "Tak.\n\n-----Wiadomość oryginalna-----\nOd: s@x\nstare\n",
                "Tak.",
                "stare",
            ),
            (
                "Answer one\n> question one\nAnswer two\n> question two\n",
                "Answer two",
                "question",
            ),
            ("Reply\n\n-- \nBen Rossi\nPhone 123\n", "Reply", "Phone"),
            (
                "Reply\n-- \nBen\n\nOn Mon, 4 Mar 2024 08:16, Ben <b@x.example> wrote:\n> old\n",
                "Reply",
                "old",
            ),
            ("Reply\n\nSent from my iPhone\n", "Reply", "iPhone"),
            ("Odpowiedź\n\nWysłane z iPhone'a\n", "Odpowiedź", "iPhone"),
            ("Reply\n\nGet Outlook for Android\n", "Reply", "Outlook"),
        ];
        for (text, keep, gone) in table {
            let t = trim(text);
            assert!(t.text.contains(keep), "{text:?} -> {:?}", t.text);
            assert!(!t.text.contains(gone), "{text:?} -> {:?}", t.text);
        }
    }

    #[test]
    fn quote_below_the_signature_counts_as_removed() {
        assert!(trim("Reply\n-- \nBen\n\n> old\n").removed_quote);
        assert!(!trim("Reply\n-- \nBen\n").removed_quote);
    }

    #[test]
    fn mobile_footers_pass_the_cheap_test() {
        // (line, a mobile footer): the cheap test must let every footer
        // through, whatever its case or blanks.
        let table = [
            ("Sent from my iPhone", true),
            ("  sent from Outlook", true),
            ("\u{a0}SENT FROM MY SAMSUNG", true),
            ("\u{17f}ent from my iPhone", true),
            ("Get Outlook for Android", true),
            ("Wysłane z iPhone'a", true),
            ("wysłano z aplikacji", true),
            ("Von meinem iPhone gesendet", true),
            ("Envoyé de mon iPad", true),
            ("Verzonden vanaf mijn iPhone", true),
            ("Skickat från min iPhone", true),
            ("Thanks, sent from my iPhone", false),
            ("Regards", false),
            ("", false),
        ];
        for (line, footer) in table {
            assert_eq!(MOBILE.is_match(line), footer, "{line:?}");
            if footer {
                assert!(may_be_mobile(line), "{line:?}");
            }
        }
        assert!(!may_be_mobile("Regards"));
        assert!(!may_be_mobile("2024-03-04 ERROR sent"));
    }

    #[test]
    fn keeps_plain_text_whole() {
        let text = "From: the logs we see an error.\nOn the other hand it works.\n";
        assert_eq!(trim(text).text, text);
        assert!(!trim(text).removed_quote);
    }
}
