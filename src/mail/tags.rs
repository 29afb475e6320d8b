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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// `#note`: internal, never sent to the customer.
    Note,
    /// `#spam`: closed silently.
    Spam,
}

impl Command {
    /// The tag's name without `#`.
    pub fn name(self) -> &'static str {
        match self {
            Command::Accept => "accept",
            Command::Severity(_) => "severity",
            Command::Waiting => "waiting",
            Command::NeedInfo => "needinfo",
            Command::Resolved => "resolved",
            Command::Close => "close",
            Command::Reopen => "reopen",
            Command::Note => "note",
            Command::Spam => "spam",
        }
    }

    /// The argument as written, e.g. `2` for `#severity 2`.
    pub fn arg(self) -> Option<String> {
        match self {
            Command::Severity(s) => Some(s.number().to_string()),
            _ => None,
        }
    }

    /// Whether it changes the ticket's state (two in one mail is an error).
    pub fn changes_state(self) -> bool {
        !matches!(self, Command::Severity(_) | Command::Note)
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
    /// Two tags that change the state in one mail.
    TwoStateChanges(&'static str, &'static str),
    /// A consultant mail that names no ticket.
    NoTicket(String),
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

/// Tags and their argument rule.
const TAGS: &[(&str, Arg)] = &[
    ("accept", Arg::None(Command::Accept)),
    ("severity", Arg::Severity),
    ("waiting", Arg::None(Command::Waiting)),
    ("needinfo", Arg::None(Command::NeedInfo)),
    ("resolved", Arg::None(Command::Resolved)),
    ("close", Arg::None(Command::Close)),
    ("reopen", Arg::None(Command::Reopen)),
    ("note", Arg::None(Command::Note)),
    ("spam", Arg::None(Command::Spam)),
];

/// What a tag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arg {
    /// Nothing: the tag is this command.
    None(Command),
    /// A severity 1-5.
    Severity,
}

/// The valid tags, for error replies.
pub fn valid_tags() -> String {
    TAGS.iter()
        .map(|(n, a)| {
            if *a == Arg::Severity {
                format!("#{n} 1-5")
            } else {
                format!("#{n}")
            }
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

/// Reads the tag lines at the top of a (trimmed) consultant mail.
pub fn parse_tags(text: &str) -> Tags {
    let mut tags = Tags::default();
    let mut body_start = 0;
    let mut state_tag: Option<&str> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            body_start = i + 1;
            continue;
        }
        let Some(rest) = t.strip_prefix('#') else {
            break;
        };
        body_start = i + 1;
        let mut words = rest.split_whitespace();
        let name = words.next().unwrap_or("").to_ascii_lowercase();
        let args: Vec<&str> = words.collect();
        let error = |problem: Problem| TagError::new(i + 1, t, problem);
        let Some((tag, rule)) = TAGS.iter().find(|(n, _)| *n == name) else {
            tags.errors.push(error(Problem::Unknown(name)));
            continue;
        };
        let command = match (rule, args.as_slice()) {
            (Arg::None(c), []) => *c,
            (Arg::None(_), _) => {
                tags.errors.push(error(Problem::UnexpectedArgument(tag)));
                continue;
            }
            (Arg::Severity, [n]) => match n.parse::<u8>().ok().and_then(Severity::from_number) {
                Some(s) if n.len() == 1 => Command::Severity(s),
                _ => {
                    tags.errors.push(error(Problem::BadSeverity));
                    continue;
                }
            },
            (Arg::Severity, _) => {
                tags.errors.push(error(Problem::BadSeverity));
                continue;
            }
        };
        if command.changes_state() {
            if let Some(first) = state_tag {
                tags.errors
                    .push(error(Problem::TwoStateChanges(tag, first)));
                continue;
            }
            state_tag = Some(tag);
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
