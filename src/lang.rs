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
