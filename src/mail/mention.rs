//! Finding one person in text and in raw mail, for data-subject requests:
//! their exact address (never a longer address that contains it:
//! `an@acme.example` is not in `jan@acme.example`) and the whole names they
//! used (a name is a run of words, never part of a longer word), compared
//! case-insensitively, in the decoded text of a message (base64,
//! quoted-printable, RFC 2047 words), not only in its bytes.

use std::borrow::Cow;
use std::sync::LazyLock;

use mail_parser::{Address, HeaderValue, MessageParser, PartType};
use regex::Regex;

/// Parts of attached messages looked into, at most (a mail inside a mail
/// inside a mail...).
const MAX_DEPTH: usize = 8;

/// One person: an address and the names they used.
#[derive(Debug, Clone)]
pub struct Person {
    address: String,
    address_re: Regex,
    names: Vec<String>,
    name_res: Vec<Regex>,
}

fn literal(s: &str) -> Regex {
    Regex::new(&format!("(?i){}", regex::escape(s))).expect("an escaped literal is a regex")
}

/// Characters that may stand before the `@` of an address (RFC 5322 atext
/// and the dot), so one of them before a match means a longer address.
fn local_char(c: char) -> bool {
    c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c)
}

/// Characters that continue a domain name.
fn domain_char(c: char) -> bool {
    c.is_alphanumeric() || c == '-'
}

impl Person {
    /// `address` (any case) and the `names` they used; names shorter than
    /// three characters are ignored (they would match ordinary words).
    pub fn new(address: &str, names: &[String]) -> Person {
        let address = address.trim().to_lowercase();
        let names: Vec<String> = names
            .iter()
            .map(|n| n.trim().to_string())
            .filter(|n| n.chars().count() >= 3)
            .collect();
        Person {
            address_re: literal(&address),
            name_res: names.iter().map(|n| literal(n)).collect(),
            names,
            address,
        }
    }

    /// The names looked for.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The address, lower-case.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Where the exact address stands in `text`.
    fn address_spans(&self, text: &str) -> Vec<(usize, usize)> {
        spans(&self.address_re, text, |before, rest| {
            let mut after = rest.chars();
            let ok_after = match after.next() {
                None => true,
                // `an@acme.example.org` is another address; a full stop
                // ending a sentence is not.
                Some('.') => after.next().is_none_or(|c| !domain_char(c)),
                Some(c) => !domain_char(c),
            };
            before.is_none_or(|c| !local_char(c)) && ok_after
        })
    }

    /// Where one of the names stands in `text` as whole words.
    fn name_spans(&self, text: &str) -> Vec<(usize, usize)> {
        let mut all = Vec::new();
        for re in &self.name_res {
            all.extend(spans(re, text, |before, rest| {
                before.is_none_or(|c| !c.is_alphanumeric())
                    && rest.chars().next().is_none_or(|c| !c.is_alphanumeric())
            }));
        }
        all.sort_unstable();
        all
    }

    /// Whether `text` names the person by address.
    pub fn address_in(&self, text: &str) -> bool {
        !self.address_spans(text).is_empty()
    }

    /// Whether `text` names the person by address or by one of their names.
    pub fn in_text(&self, text: &str) -> bool {
        self.address_in(text) || !self.name_spans(text).is_empty()
    }

    /// `text` with the address replaced by `pseudonym` and, with
    /// `names`, each whole name by `(erased)`.
    pub fn replace<'t>(&self, text: &'t str, pseudonym: &str, names: bool) -> Cow<'t, str> {
        let mut edits: Vec<(usize, usize, &str)> = self
            .address_spans(text)
            .into_iter()
            .map(|(a, b)| (a, b, pseudonym))
            .collect();
        if names {
            edits.extend(
                self.name_spans(text)
                    .into_iter()
                    .map(|(a, b)| (a, b, "(erased)")),
            );
        }
        if edits.is_empty() {
            return Cow::Borrowed(text);
        }
        edits.sort_unstable_by_key(|e| (e.0, std::cmp::Reverse(e.1)));
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (a, b, with) in edits {
            // Overlaps (a name inside the address): the first, longest wins.
            if a < at {
                continue;
            }
            out.push_str(&text[at..a]);
            out.push_str(with);
            at = b;
        }
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }

    /// Whether a raw message names the person by address, in its bytes or
    /// in any decoded header, text part or attached message.
    pub fn in_raw(&self, raw: &[u8]) -> bool {
        if self.address_in(&String::from_utf8_lossy(raw)) {
            return true;
        }
        match PARSER.parse(raw) {
            Some(m) => self.in_message(&m, 0),
            None => false,
        }
    }

    fn in_message(&self, m: &mail_parser::Message<'_>, depth: usize) -> bool {
        m.parts.iter().any(|part| {
            part.headers.iter().any(|h| self.in_header(&h.value))
                || match &part.body {
                    PartType::Text(t) | PartType::Html(t) => self.address_in(t),
                    PartType::Message(inner) if depth < MAX_DEPTH => {
                        self.in_message(inner, depth + 1)
                    }
                    _ => false,
                }
        })
    }

    fn in_header(&self, v: &HeaderValue<'_>) -> bool {
        match v {
            HeaderValue::Text(t) => self.address_in(t),
            HeaderValue::TextList(l) => l.iter().any(|t| self.address_in(t)),
            HeaderValue::Address(a) => {
                let addrs: Vec<&mail_parser::Addr<'_>> = match a {
                    Address::List(l) => l.iter().collect(),
                    Address::Group(g) => g.iter().flat_map(|g| g.addresses.iter()).collect(),
                };
                addrs.iter().any(|x| {
                    x.address.as_deref().is_some_and(|s| self.address_in(s))
                        || x.name.as_deref().is_some_and(|s| self.address_in(s))
                })
            }
            _ => false,
        }
    }
}

/// Decodes every header (RFC 2047 words in unknown headers too).
static PARSER: LazyLock<MessageParser> = LazyLock::new(|| {
    MessageParser::new()
        .with_mime_headers()
        .with_address_headers()
        .header_text(mail_parser::HeaderName::Subject)
        .default_header_text()
});

/// Matches of `re` in `text` that `bounded` accepts, given the character
/// before and the text after; a rejected match is retried one character
/// further on, so a valid match overlapping a rejected one is still found.
fn spans(
    re: &Regex,
    text: &str,
    bounded: impl Fn(Option<char>, &str) -> bool,
) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(m) = re.find_at(text, from) {
        let before = text[..m.start()].chars().next_back();
        if bounded(before, &text[m.end()..]) {
            out.push((m.start(), m.end()));
            from = m.end();
        } else {
            from = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
        }
        if from >= text.len() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_addresses_and_whole_names() {
        let p = Person::new("An@Acme.example", &["Error".into(), "Anna Nowak".into()]);
        // (text, names the address, names the person at all)
        let table = [
            ("an@acme.example", true, true),
            ("Write to AN@ACME.EXAMPLE.", true, true),
            ("<an@acme.example>", true, true),
            ("jan@acme.example", false, false),
            ("an@acme.example.org", false, false),
            ("an@acme.examples", false, false),
            ("joan.an@acme.example", false, false),
            ("an@acme.example-mail.pl", false, false),
            ("mailto:an@acme.example?subject=x", true, true),
            ("Errors happen", false, false),
            ("An Error happened", false, true),
            ("anna nowak wrote", false, true),
            ("Joanna Nowakowska", false, false),
        ];
        for (text, address, any) in table {
            assert_eq!(p.address_in(text), address, "{text}");
            assert_eq!(p.in_text(text), any, "{text}");
        }
    }

    #[test]
    fn replacement_keeps_other_people() {
        let p = Person::new("an@acme.example", &["Anna Nowak".into()]);
        let table = [
            (
                "jan@acme.example, an@acme.example",
                true,
                "jan@acme.example, X",
            ),
            ("\"Anna Nowak\" <AN@acme.example>", true, "\"(erased)\" <X>"),
            (
                "\"Anna Nowak\" <an@acme.example>",
                false,
                "\"Anna Nowak\" <X>",
            ),
            ("Joanna Nowak-Kowalska", true, "Joanna Nowak-Kowalska"),
            ("Zażółć an@acme.example.", true, "Zażółć X."),
        ];
        for (text, names, want) in table {
            assert_eq!(p.replace(text, "X", names), want, "{text}");
        }
    }

    #[test]
    fn encoded_mail_is_searched_decoded() {
        let p = Person::new("an@acme.example", &[]);
        let table: [(&str, bool); 5] = [
            // base64 body: "Please copy an@acme.example."
            (
                "From: x@y.example\nContent-Transfer-Encoding: base64\n\nUGxlYXNlIGNvcHkgYW5AYWNtZS5leGFtcGxlLg==\n",
                true,
            ),
            // quoted-printable with a soft line break inside the address
            (
                "From: x@y.example\nContent-Transfer-Encoding: quoted-printable\n\nPlease copy an@acme.=\nexample today\n",
                true,
            ),
            // RFC 2047 in an unknown header
            (
                "From: x@y.example\nX-Contact: =?utf-8?B?YW5AYWNtZS5leGFtcGxl?=\n\nbody\n",
                true,
            ),
            // base64 body naming only jan@
            (
                "From: x@y.example\nContent-Transfer-Encoding: base64\n\namFuQGFjbWUuZXhhbXBsZQ==\n",
                false,
            ),
            ("From: jan@acme.example\n\nnothing\n", false),
        ];
        for (raw, want) in table {
            assert_eq!(p.in_raw(raw.as_bytes()), want, "{raw}");
        }
    }
}
