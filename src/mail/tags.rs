//! Consultant `#tags` (design.md "Consultant tags"): the lines before the
//! first non-blank line that does not start with `#` are commands, one per
//! line, `#name [argument]`, names case-insensitive; everything after is the
//! message. Tags in quoted text are never read (the caller trims first).
//!
//! An unknown tag, a bad argument or two state-changing tags in one mail is
//! an error; the caller applies nothing from a mail with errors. Pure.

/// A valid command.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Command {
    /// Lower-case name without `#`, e.g. `accept`.
    pub name: &'static str,
    /// The argument, e.g. `2` for `#severity 2`.
    pub arg: Option<String>,
}

/// An invalid tag line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TagError {
    /// 1-based line in the trimmed text.
    pub line: usize,
    /// The line as written.
    pub text: String,
    /// What is wrong.
    pub message: String,
}

/// Tags, their argument rule, and whether they change the ticket's state.
const TAGS: &[(&str, Arg, bool)] = &[
    ("accept", Arg::None, true),
    ("severity", Arg::Severity, false),
    ("waiting", Arg::None, true),
    ("needinfo", Arg::None, true),
    ("resolved", Arg::None, true),
    ("close", Arg::None, true),
    ("reopen", Arg::None, true),
    ("note", Arg::None, false),
    ("spam", Arg::None, true),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arg {
    None,
    Severity,
}

/// The valid tags, for error replies.
pub fn valid_tags() -> String {
    TAGS.iter()
        .map(|(n, a, _)| {
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
        let error = |message: String| TagError {
            line: i + 1,
            text: t.to_string(),
            message,
        };
        let Some((tag, rule, changes_state)) = TAGS.iter().find(|(n, _, _)| *n == name) else {
            tags.errors.push(error(format!(
                "unknown tag #{name}; valid tags: {}",
                valid_tags()
            )));
            continue;
        };
        let arg = match (rule, args.as_slice()) {
            (Arg::None, []) => None,
            (Arg::None, _) => {
                tags.errors.push(error(format!("#{tag} takes no argument")));
                continue;
            }
            (Arg::Severity, [n]) if matches!(*n, "1" | "2" | "3" | "4" | "5") => {
                Some(n.to_string())
            }
            (Arg::Severity, _) => {
                tags.errors.push(error(format!(
                    "#{tag} needs one severity from 1 to 5, e.g. #severity 2"
                )));
                continue;
            }
        };
        if *changes_state {
            if let Some(first) = state_tag {
                tags.errors.push(error(format!(
                    "#{tag} and #{first} both change the ticket's state; send one per mail"
                )));
                continue;
            }
            state_tag = Some(tag);
        }
        tags.commands.push(Command { name: tag, arg });
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

    fn names(t: &Tags) -> Vec<(&str, Option<&str>)> {
        t.commands
            .iter()
            .map(|c| (c.name, c.arg.as_deref()))
            .collect()
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
            assert_eq!(names(&t), *commands, "{mail:?}");
            assert_eq!(t.errors.len(), *errors, "{mail:?}: {:?}", t.errors);
            assert_eq!(t.text, *text, "{mail:?}");
        }
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
