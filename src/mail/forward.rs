//! A customer's message forwarded inside a consultant's mail: attached as
//! `message/rfc822` (read by [`super::parse`]), or inline as the common
//! clients write it in English and Polish:
//!
//! - Gmail: `---------- Forwarded message ---------` /
//!   `---------- Przekazana wiadomość ---------`, then `From:`/`Od:`,
//!   `Date:`/`Data:`, `Subject:`/`Temat:`, `To:`/`Do:`;
//! - Outlook: `-----Original Message-----` / `-----Wiadomość oryginalna-----`,
//!   or a line of underscores, then `From:`/`Od:`, `Sent:`/`Wysłano:`/
//!   `Wysłane:`, `To:`/`Do:`, `Subject:`/`Temat:`;
//! - Thunderbird: `-------- Forwarded Message --------` /
//!   `-------- Przekazana wiadomość --------`, then `Subject:`/`Temat:`,
//!   `Date:`/`Data:`, `From:`/`Nadawca:`, `To:`/`Adresat:`;
//! - Apple Mail: `Begin forwarded message:` /
//!   `Początek przekazanej wiadomości:`, then the same fields.
//!
//! The header block is what identifies a forward: a marker line followed,
//! within a few lines, by fields that name at least the sender. Pure.

/// A forwarded message: who wrote it, its subject and its text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Forwarded {
    /// The sender's address, lower-cased.
    pub address: String,
    /// The sender's display name.
    pub name: Option<String>,
    /// The subject ("" when the block gave none).
    pub subject: String,
    /// The forwarded text.
    pub text: String,
}

/// Marker lines, compared lower-cased with dashes, underscores and spaces
/// around them trimmed.
const MARKERS: &[&str] = &[
    "forwarded message",
    "original message",
    "begin forwarded message:",
    "przekazana wiadomość",
    "wiadomość oryginalna",
    "oryginalna wiadomość",
    "początek przekazanej wiadomości:",
    "wiadomość przekazana dalej",
];

/// Field names of the block, by what they give.
const FROM: &[&str] = &["from", "od", "nadawca"];
const SUBJECT: &[&str] = &["subject", "temat"];
const OTHER: &[&str] = &[
    "date",
    "data",
    "sent",
    "wysłano",
    "wysłane",
    "to",
    "do",
    "adresat",
    "cc",
    "dw",
    "kopia",
    "reply-to",
    "odpowiedź do",
];

/// How far below the marker the block may start (blank lines of Apple
/// Mail, quote markers).
const BLOCK_WITHIN: usize = 3;

fn unquoted(line: &str) -> &str {
    line.trim_start_matches(['>', ' ']).trim_end()
}

fn is_marker(line: &str) -> bool {
    let l = unquoted(line)
        .trim_matches(|c: char| c == '-' || c == '_' || c == ' ' || c == '*')
        .to_lowercase();
    if l.is_empty() {
        // A line of underscores (Outlook's separator) marks it too.
        let t = unquoted(line);
        return t.len() >= 10 && t.chars().all(|c| c == '_');
    }
    MARKERS.contains(&l.as_str())
}

/// A `Name: value` field line (name lower-cased, value trimmed).
fn field(line: &str) -> Option<(String, &str)> {
    let l = unquoted(line).trim_start_matches('*');
    let (name, value) = l.split_once(':')?;
    let name = name.trim().trim_end_matches('*').trim().to_lowercase();
    let known = FROM.contains(&name.as_str())
        || SUBJECT.contains(&name.as_str())
        || OTHER.contains(&name.as_str());
    known.then(|| (name, value.trim().trim_start_matches('*').trim()))
}

/// The address and name of a `From:` value: `Name <a@b>`, `a@b`,
/// `Name [mailto:a@b]` (Outlook), `"Name" <a@b>`.
pub fn sender(value: &str) -> Option<(String, Option<String>)> {
    let value = value.trim();
    let (address, name) = if let Some(open) = value.rfind('<') {
        let close = value[open..].find('>')? + open;
        (&value[open + 1..close], &value[..open])
    } else if let Some(open) = value.find("[mailto:") {
        let close = value[open..].find(']')? + open;
        (&value[open + 8..close], &value[..open])
    } else {
        (value, "")
    };
    let address = address.trim().to_ascii_lowercase();
    let ok = address.split_once('@').is_some_and(|(l, d)| {
        !l.is_empty() && d.contains('.') && !address.contains(char::is_whitespace)
    });
    if !ok {
        return None;
    }
    let name = name.trim().trim_matches('"').trim();
    Some((address, (!name.is_empty()).then(|| name.to_string())))
}

/// The first message forwarded inline in `text`, if any.
pub fn inline(text: &str) -> Option<Forwarded> {
    let lines: Vec<&str> = text.lines().collect();
    let marker = lines.iter().position(|l| is_marker(l))?;
    // The field block: consecutive field lines (continuations of a long
    // value are indented), starting within a few lines of the marker.
    let start = (marker + 1..lines.len().min(marker + 1 + BLOCK_WITHIN))
        .find(|i| field(lines[*i]).is_some())?;
    let mut f = Forwarded::default();
    let mut end = start;
    while end < lines.len() {
        match field(lines[end]) {
            Some((name, value)) => {
                if FROM.contains(&name.as_str()) && f.address.is_empty() {
                    if let Some((a, n)) = sender(value) {
                        f.address = a;
                        f.name = n;
                    }
                } else if SUBJECT.contains(&name.as_str()) && f.subject.is_empty() {
                    f.subject = value.to_string();
                }
            }
            None if lines[end].starts_with([' ', '\t']) && !lines[end].trim().is_empty() => {}
            None => break,
        }
        end += 1;
    }
    if f.address.is_empty() {
        return None;
    }
    let quoted = lines[marker].trim_start().starts_with('>');
    let body: Vec<&str> = lines[end..]
        .iter()
        .map(|l| if quoted { unquoted(l) } else { l.trim_end() })
        .collect();
    f.text = body.join("\n").trim().to_string();
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each client's forward, as it writes it in plain text.
    #[test]
    fn the_common_clients_forwards() {
        let table = [
            (
                "gmail en",
                "FYI, see below.\n\n---------- Forwarded message ---------\nFrom: Jan Kowalski <Jan@Acme.example>\n\
                 Date: Mon, 23 Nov 2026 at 10:00\nSubject: Scanner offline\nTo: Anna <anna@smartstock.cloud>\n\n\
                 Since 08:00 the scanner is offline.\n",
            ),
            (
                "gmail pl",
                "---------- Przekazana wiadomość ---------\nOd: Jan Kowalski <jan@acme.example>\nDate: pon., 23 lis 2026 o 10:00\n\
                 Subject: Scanner offline\nTo: <anna@smartstock.cloud>\n\nSince 08:00 the scanner is offline.\n",
            ),
            (
                "outlook en",
                "Please take this one.\n\n-----Original Message-----\nFrom: Jan Kowalski [mailto:jan@acme.example]\n\
                 Sent: Monday, November 23, 2026 10:00 AM\nTo: Anna Nowak\nSubject: Scanner offline\n\n\
                 Since 08:00 the scanner is offline.\n",
            ),
            (
                "outlook new, pl",
                "________________________________\nOd: Jan Kowalski <jan@acme.example>\nWysłane: poniedziałek, 23 listopada 2026 10:00\n\
                 Do: Anna Nowak <anna@smartstock.cloud>\nTemat: Scanner offline\n\nSince 08:00 the scanner is offline.\n",
            ),
            (
                "thunderbird en",
                "-------- Forwarded Message --------\nSubject: \tScanner offline\nDate: \tMon, 23 Nov 2026 10:00:00 +0100\n\
                 From: \tJan Kowalski <jan@acme.example>\nTo: \tanna@smartstock.cloud\n\nSince 08:00 the scanner is offline.\n",
            ),
            (
                "thunderbird pl",
                "-------- Przekazana wiadomość --------\nTemat: \tScanner offline\nData: \tMon, 23 Nov 2026 10:00:00 +0100\n\
                 Nadawca: \tJan Kowalski <jan@acme.example>\nAdresat: \tanna@smartstock.cloud\n\nSince 08:00 the scanner is offline.\n",
            ),
            (
                "apple mail en",
                "Begin forwarded message:\n\nFrom: Jan Kowalski <jan@acme.example>\nSubject: Scanner offline\n\
                 Date: 23 November 2026 at 10:00:00 CET\nTo: anna@smartstock.cloud\n\nSince 08:00 the scanner is offline.\n",
            ),
            (
                "apple mail pl, quoted",
                "> Początek przekazanej wiadomości:\n>\n> Od: Jan Kowalski <jan@acme.example>\n> Temat: Scanner offline\n\
                 > Data: 23 listopada 2026 o 10:00:00 CET\n> Do: anna@smartstock.cloud\n>\n> Since 08:00 the scanner is offline.\n",
            ),
        ];
        for (client, text) in table {
            let f = inline(text).unwrap_or_else(|| panic!("{client}: no forward found"));
            assert_eq!(f.address, "jan@acme.example", "{client}");
            assert_eq!(f.name.as_deref(), Some("Jan Kowalski"), "{client}");
            assert_eq!(f.subject, "Scanner offline", "{client}");
            assert_eq!(f.text, "Since 08:00 the scanner is offline.", "{client}");
        }
    }

    #[test]
    fn text_that_is_no_forward() {
        for text in [
            "Hello,\nthe report shows zero.\nFrom: our warehouse team\n",
            "---------- Forwarded message ---------\n\nno fields here\n",
            "-----Original Message-----\nFrom: nobody\nSubject: x\n\ntext\n",
            "",
        ] {
            assert_eq!(inline(text), None, "{text:?}");
        }
    }
}
