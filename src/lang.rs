//! The two languages supportd writes in (contract customers are Polish; the
//! contract itself is in English). Pure: just the code and its parsing.

use std::fmt;
use std::str::FromStr;

/// A language we render dates and mails in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    /// Polish: the default for customers of a Polish company.
    #[default]
    Pl,
    /// English.
    En,
}

impl Lang {
    /// The stable code used in config, JSON and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Pl => "pl",
            Lang::En => "en",
        }
    }
}

impl serde::Serialize for Lang {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Lang {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pl" => Ok(Lang::Pl),
            "en" => Ok(Lang::En),
            other => Err(format!(
                "unknown language {other:?} (expected \"pl\" or \"en\")"
            )),
        }
    }
}

/// The Polish form of a noun phrase for `n`: `one` (1), `few` (2–4, 22–24,
/// ... but not 12–14) or `many` (0, 5–21, 25–31, ...), as Polish grammar
/// counts (e.g. 1 wiadomość, 3 wiadomości, 5 wiadomości; 1 zgłoszenie,
/// 2 zgłoszenia, 5 zgłoszeń).
pub fn pl_plural<'a>(n: u32, one: &'a str, few: &'a str, many: &'a str) -> &'a str {
    match (n, n % 10, n % 100) {
        (1, _, _) => one,
        (_, 2..=4, r) if !(12..=14).contains(&r) => few,
        _ => many,
    }
}

/// `n` and the English noun for it: `1 reply`, `0 replies`, `2 replies`.
pub fn en_counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    #[test]
    fn polish_plurals() {
        let table = [
            (1, "one"),
            (2, "few"),
            (4, "few"),
            (5, "many"),
            (11, "many"),
            (12, "many"),
            (14, "many"),
            (21, "many"),
            (22, "few"),
            (104, "few"),
            (112, "many"),
            (0, "many"),
        ];
        for (n, want) in table {
            assert_eq!(super::pl_plural(n, "one", "few", "many"), want, "{n}");
        }
    }
}
