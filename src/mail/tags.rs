//! Consultant `#tags` (design.md "Consultant tags"): the lines before the
//! first non-blank line that does not start with `#` are commands, one per
//! line, `#name [argument]`, names case-insensitive; everything after is the
//! message. Tags in quoted text are never read (the caller trims first).
//!
//! An unknown tag, a bad argument or two state-changing tags in one mail is
//! an error; the caller applies nothing from a mail with errors. Pure.

use crate::sla::Severity;

/// A valid consultant command (design.md "Consultant tags"). The lifecycle
/// matches on it exhaustively; its name and argument are strings only in
/// JSON (`{"name": "severity", "arg": "2"}`) and in mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `#accept`: confirms acceptance; the sender becomes the owner.
    Accept,
    /// `#severity N`: a new severity, the deadline recomputed from receipt.
    Severity(Severity),
    /// `#waiting`: waiting for the customer.
    Waiting,
    /// `#needinfo`: asks the customer to supplement the report (clause 4).
    NeedInfo,
    /// `#resolved`: a solution is proposed.
    Resolved,
    /// `#close`: closed with the customer's agreement.
    Close,
    /// `#reopen`: back to work.
    Reopen,
    /// `#note [text]`: internal, never sent to the customer; the text on
    /// the tag's line begins the note, the mail's message continues it.
    Note(Option<String>),
    /// `#spam`: closed silently.
    Spam,
    /// `#remove ADDRESS`: takes a participant off the ticket.
    Remove(String),
    /// `#open ADDRESS [Name]`: in a new mail to support@, opens a ticket
    /// for that customer (a phone call) with the mail's text as the report.
    Open(String, Option<String>),
}

impl Command {
    /// The tag's name without `#`.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Accept => "accept",
            Command::Severity(_) => "severity",
            Command::Waiting => "waiting",
            Command::NeedInfo => "needinfo",
            Command::Resolved => "resolved",
            Command::Close => "close",
            Command::Reopen => "reopen",
            Command::Note(_) => "note",
            Command::Spam => "spam",
            Command::Remove(_) => "remove",
            Command::Open(..) => "open",
        }
    }

    /// The argument as written, e.g. `2` for `#severity 2`.
    pub fn arg(&self) -> Option<String> {
        match self {
            Command::Severity(s) => Some(s.number().to_string()),
            Command::Note(text) => text.clone(),
            Command::Remove(a) => Some(a.clone()),
            Command::Open(a, None) => Some(a.clone()),
            Command::Open(a, Some(n)) => Some(format!("{a} {n}")),
            _ => None,
        }
    }

    /// Whether it changes the ticket's state (two in one mail is an error).
    pub fn changes_state(&self) -> bool {
        !matches!(
            self,
            Command::Severity(_) | Command::Note(_) | Command::Remove(_) | Command::Open(..)
        )
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.arg() {
            Some(a) => write!(f, "#{} {a}", self.name()),
            None => write!(f, "#{}", self.name()),
        }
    }
}

impl serde::Serialize for Command {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Command", 2)?;
        st.serialize_field("name", self.name())?;
        st.serialize_field("arg", &self.arg())?;
        st.end()
    }
}

/// Why a tag line is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// No such tag.
    Unknown(String),
    /// A tag that takes no argument was given one.
    UnexpectedArgument(&'static str),
    /// `#severity` without a severity 1-5.
    BadSeverity,
    /// `#remove` without one address.
    BadAddress,
    /// Two tags that change the state in one mail.
    TwoStateChanges(&'static str, &'static str),
    /// A consultant mail that names no ticket.
    NoTicket(String),
    /// `#open` in a reply about a ticket.
    OpenInReply,
}

impl Problem {
    /// The explanation in a language; English is also the JSON `message`.
    pub fn message(&self, lang: crate::lang::Lang) -> String {
        use crate::lang::Lang::{En, Pl};
        match (self, lang) {
            (Problem::Unknown(n), En) => format!("unknown tag #{n}; valid tags: {}", valid_tags()),
            (Problem::Unknown(n), Pl) => format!(
                "nieznane polecenie #{n}; poprawne polecenia: {}",
                valid_tags()
            ),
            (Problem::UnexpectedArgument(t), En) => format!("#{t} takes no argument"),
            (Problem::UnexpectedArgument(t), Pl) => format!("#{t} nie przyjmuje argumentu"),
            (Problem::BadSeverity, En) => {
                "#severity needs one severity from 1 to 5, e.g. #severity 2".into()
            }
            (Problem::BadSeverity, Pl) => {
                "#severity wymaga jednego priorytetu od 1 do 5, np. #severity 2".into()
            }
            (Problem::BadAddress, En) => {
                "#remove needs one address, e.g. #remove jan@acme.example".into()
            }
            (Problem::BadAddress, Pl) => {
                "#remove wymaga jednego adresu, np. #remove jan@acme.example".into()
            }
            (Problem::TwoStateChanges(a, b), En) => {
                format!("#{a} and #{b} both change the ticket's state; send one per mail")
            }
            (Problem::TwoStateChanges(a, b), Pl) => {
                format!("#{a} i #{b} zmieniają stan zgłoszenia; wyślij jedno z nich w wiadomości")
            }
            (Problem::NoTicket(prefix), En) => {
                format!(
                    "this mail names no ticket; reply to a ticket mail or put [{prefix}-N] in the subject"
                )
            }
            (Problem::NoTicket(prefix), Pl) => {
                format!(
                    "ta wiadomość nie wskazuje zgłoszenia; odpowiedz na wiadomość zgłoszenia albo wpisz [{prefix}-N] w temacie"
                )
            }
            (Problem::OpenInReply, En) => {
                "#open opens a new ticket: write a new mail to the support address, not a reply about a ticket".into()
            }
            (Problem::OpenInReply, Pl) => {
                "#open otwiera nowe zgłoszenie: napisz nową wiadomość na adres pomocy, a nie odpowiedź w sprawie zgłoszenia".into()
            }
        }
    }
}

/// An invalid tag line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TagError {
    /// 1-based line in the trimmed text (0: the mail as a whole).
    pub line: usize,
    /// The line as written.
    pub text: String,
    /// What is wrong, in English (stable for JSON consumers).
    pub message: String,
    /// What is wrong, for messages in the consultant's language.
    #[serde(skip)]
    pub problem: Problem,
}

impl TagError {
    /// A tag error at a line.
    pub fn new(line: usize, text: &str, problem: Problem) -> TagError {
        TagError {
            line,
            text: text.to_string(),
            message: problem.message(crate::lang::Lang::En),
            problem,
        }
    }
}

/// Tags and what they take.
const TAGS: &[(&str, Arg)] = &[
    ("accept", Arg::None),
    ("severity", Arg::Severity),
    ("waiting", Arg::None),
    ("needinfo", Arg::None),
    ("resolved", Arg::None),
    ("close", Arg::None),
    ("reopen", Arg::None),
    ("note", Arg::Text),
    ("spam", Arg::None),
    ("remove", Arg::Address),
    ("open", Arg::Customer),
];

/// What a tag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arg {
    /// Nothing.
    None,
    /// A severity 1-5.
    Severity,
    /// Free text (the rest of the line), or nothing.
    Text,
    /// One address.
    Address,
    /// An address and, optionally, the person's name.
    Customer,
}

/// The valid tags, for error replies.
pub fn valid_tags() -> String {
    TAGS.iter()
        .map(|(n, a)| match a {
            Arg::Severity => format!("#{n} 1-5"),
            Arg::Address => format!("#{n} ADDRESS"),
            Arg::Customer => format!("#{n} ADDRESS [Name]"),
            Arg::None | Arg::Text => format!("#{n}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parsed tags of one mail.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tags {
    /// Valid commands, in order.
    pub commands: Vec<Command>,
    /// Invalid tag lines.
    pub errors: Vec<TagError>,
    /// The message after the tag lines.
    pub text: String,
}

/// Format characters (Unicode category Cf: soft hyphen, zero-width space
/// and joiners, direction marks and embeddings, word joiner, invisible
/// operators, byte order mark, interlinear annotation): invisible, so a
/// line that starts with one still starts with what the reader sees.
fn is_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// A line as a reader sees it: format characters dropped, compatibility
/// forms folded (NFKC: the fullwidth `＃` is `#`), trimmed.
fn seen(line: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    line.chars()
        .filter(|c| !is_format(*c))
        .nfkc()
        .collect::<String>()
        .trim()
        .to_string()
}

/// One tag line (after its `#`) as a command, or the problem with it.
fn command(rest: &str) -> Result<Command, Problem> {
    let (name, arg) = match rest.split_once(char::is_whitespace) {
        Some((n, a)) => (n, a.trim()),
        None => (rest, ""),
    };
    let name = name.to_ascii_lowercase();
    let Some((tag, rule)) = TAGS.iter().find(|(n, _)| *n == name) else {
        return Err(Problem::Unknown(name));
    };
    let words: Vec<&str> = arg.split_whitespace().collect();
    Ok(match (rule, words.as_slice()) {
        (Arg::None, []) => match *tag {
            "accept" => Command::Accept,
            "waiting" => Command::Waiting,
            "needinfo" => Command::NeedInfo,
            "resolved" => Command::Resolved,
            "close" => Command::Close,
            "reopen" => Command::Reopen,
            _ => Command::Spam,
        },
        (Arg::None, _) => return Err(Problem::UnexpectedArgument(tag)),
        (Arg::Severity, [n]) => match n.parse::<u8>().ok().and_then(Severity::from_number) {
            Some(s) if n.len() == 1 => Command::Severity(s),
            _ => return Err(Problem::BadSeverity),
        },
        (Arg::Severity, _) => return Err(Problem::BadSeverity),
        (Arg::Text, []) => Command::Note(None),
        (Arg::Text, _) => Command::Note(Some(arg.to_string())),
        (Arg::Address, [a]) if a.contains('@') => {
            Command::Remove(a.trim_matches(['<', '>']).to_ascii_lowercase())
        }
        (Arg::Address | Arg::Customer, [a, ..]) if a.contains('@') && *tag == "open" => {
            let name = words[1..].join(" ");
            Command::Open(
                a.trim_matches(['<', '>', ',']).to_ascii_lowercase(),
                (!name.is_empty()).then(|| name.trim_matches('"').to_string()),
            )
        }
        (Arg::Address | Arg::Customer, _) => return Err(Problem::BadAddress),
    })
}

/// Reads the tag lines at the top of a (trimmed) consultant mail.
pub fn parse_tags(text: &str) -> Tags {
    let mut tags = Tags::default();
    let mut body_start = 0;
    let mut state_tag: Option<&'static str> = None;
    for (i, line) in text.lines().enumerate() {
        let t = seen(line);
        if t.is_empty() {
            body_start = i + 1;
            continue;
        }
        let Some(rest) = t.strip_prefix('#') else {
            break;
        };
        body_start = i + 1;
        let error = |problem: Problem| TagError::new(i + 1, &t, problem);
        let command = match command(rest) {
            Ok(c) => c,
            Err(p) => {
                tags.errors.push(error(p));
                continue;
            }
        };
        if command.changes_state() {
            if let Some(first) = state_tag {
                tags.errors
                    .push(error(Problem::TwoStateChanges(command.name(), first)));
                continue;
            }
            state_tag = Some(command.name());
        }
        tags.commands.push(command);
    }
    tags.text = text
        .lines()
        .skip(body_start)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string();
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(t: &Tags) -> Vec<(&str, Option<String>)> {
        t.commands.iter().map(|c| (c.name(), c.arg())).collect()
    }

    #[test]
    fn tags_table() {
        // (mail, commands, error count, message)
        type Row<'a> = (&'a str, &'a [(&'a str, Option<&'a str>)], usize, &'a str);
        let table: &[Row<'_>] = &[
            (
                "#accept\nWe are on it.",
                &[("accept", None)],
                0,
                "We are on it.",
            ),
            (
                "#ACCEPT\n#Severity 2\n\nHello",
                &[("accept", None), ("severity", Some("2"))],
                0,
                "Hello",
            ),
            (
                "\n\n#note\ninternal only",
                &[("note", None)],
                0,
                "internal only",
            ),
            ("#severity 6\ntext", &[], 1, "text"),
            ("#severity\ntext", &[], 1, "text"),
            ("#accept now\ntext", &[], 1, "text"),
            ("#frobnicate\ntext", &[], 1, "text"),
            ("#waiting\n#resolved\ntext", &[("waiting", None)], 1, "text"),
            (
                "Plain reply\n#accept later in the text",
                &[],
                0,
                "Plain reply\n#accept later in the text",
            ),
            ("#spam", &[("spam", None)], 0, ""),
            (
                "#note Root cause: the cache\nmore",
                &[("note", Some("Root cause: the cache"))],
                0,
                "more",
            ),
            ("\u{feff}#note\nsecret", &[("note", None)], 0, "secret"),
            ("\u{200b}#note\nsecret", &[("note", None)], 0, "secret"),
            ("＃note\nsecret", &[("note", None)], 0, "secret"),
            ("\u{202e}#NOTE\nsecret", &[("note", None)], 0, "secret"),
            (
                "#remove <Eve@Evil.example>\nbye",
                &[("remove", Some("eve@evil.example"))],
                0,
                "bye",
            ),
            ("#remove\nbye", &[], 1, "bye"),
        ];
        for (mail, commands, errors, text) in table {
            let t = parse_tags(mail);
            let want: Vec<(&str, Option<String>)> = commands
                .iter()
                .map(|(n, a)| (*n, a.map(str::to_string)))
                .collect();
            assert_eq!(names(&t), want, "{mail:?}");
            assert_eq!(t.errors.len(), *errors, "{mail:?}: {:?}", t.errors);
            assert_eq!(t.text, *text, "{mail:?}");
        }
    }

    #[test]
    fn errors_read_in_polish_too() {
        let t = parse_tags("#bogus\n#severity 9\n");
        let pl: Vec<String> = t
            .errors
            .iter()
            .map(|e| e.problem.message(crate::lang::Lang::Pl))
            .collect();
        assert!(pl[0].starts_with("nieznane polecenie #bogus"), "{pl:?}");
        assert!(pl[1].contains("od 1 do 5"), "{pl:?}");
        assert!(t.errors[0].message.starts_with("unknown tag #bogus"));
    }

    #[test]
    fn errors_name_the_line_and_the_valid_tags() {
        let t = parse_tags("#accept\n#bogus\nx");
        assert_eq!(t.errors[0].line, 2);
        assert!(
            t.errors[0].message.contains("#needinfo"),
            "{}",
            t.errors[0].message
        );
    }
}
