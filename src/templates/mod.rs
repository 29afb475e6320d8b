//! The mails people read, in English and Polish: templates embedded in the
//! binary (`src/templates/<lang>/<name>.txt`), each overridable by ops with a
//! file `<templates-dir>/<lang>/<name>.txt`. The first line of every template
//! is `Subject: …`; the rest is the plain-text body.
//!
//! Rendering uses minijinja with strict undefined values. Everything that can
//! be wrong with a template is found when the templates are loaded (at
//! start-up and reload), never when a mail is due: a file that is no template
//! of ours, a missing `Subject:` line, a syntax error, or a variable the
//! template is not given. Pure apart from reading the override folder.

use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior, Value};
use serde::Serialize;

use crate::lang::Lang;

/// One template: its name and the variables it is given.
struct Spec {
    name: &'static str,
    vars: &'static [&'static str],
    en: &'static str,
    pl: &'static str,
}

macro_rules! spec {
    ($name:literal, [$($var:literal),* $(,)?]) => {
        spec!($name, &[$($var),*])
    };
    ($name:literal, $vars:expr) => {
        Spec {
            name: $name,
            vars: $vars,
            en: include_str!(concat!("en/", $name, ".txt")),
            pl: include_str!(concat!("pl/", $name, ".txt")),
        }
    };
}

/// What a notification of a customer message is given (the plain one and
/// the one that says the report is complete).
const NOTIFICATION_VARS: &[&str] = &[
    "ref",
    "subject",
    "event_line",
    "requester",
    "severity",
    "severity_name",
    "state",
    "state_name",
    "owner",
    "deadline",
    "working_time_left",
    "missing",
    "held",
    "notes",
    "text",
];

const SPECS: &[Spec] = &[
    spec!(
        "acknowledgement",
        [
            "ref",
            "subject",
            "severity",
            "severity_name",
            "deadline",
            "missing",
            "support_name"
        ]
    ),
    spec!("consultant-notification", NOTIFICATION_VARS),
    // Everything one consultant mail tells the customer, in one mail: the
    // acceptance, a new severity, the consultant's words, a request for
    // information, and a change of state.
    spec!(
        "consultant-reply",
        [
            "ref",
            "subject",
            "text",
            "consultant_name",
            "support_name",
            "accepted",
            "severity_changed",
            "severity",
            "severity_name",
            "state",
            "deadline",
            "change",
            "needinfo",
            "missing",
            "next_contact",
            "reopen_until",
            "sign"
        ]
    ),
    spec!("reopened", ["ref", "subject", "requester", "text"]),
    spec!(
        "linked-new-ticket",
        [
            "ref",
            "subject",
            "requester",
            "linked_ref",
            "linked_why",
            "text"
        ]
    ),
    spec!(
        "command-error",
        ["subject", "errors", "valid_tags", "prefix", "quoted"]
    ),
    spec!(
        "message-too-large",
        ["subject", "size_mb", "limit_mb", "support_name"]
    ),
    spec!(
        "escalation",
        [
            "ref",
            "subject",
            "severity",
            "severity_name",
            "requester",
            "received",
            "deadline"
        ]
    ),
    spec!(
        "reminder",
        [
            "ref",
            "subject",
            "severity",
            "severity_name",
            "requester",
            "deadline",
            "working_time_left",
            "missing"
        ]
    ),
    spec!(
        "missing-info-reminder",
        ["ref", "subject", "missing", "support_name"]
    ),
    spec!("report-completed", NOTIFICATION_VARS),
    spec!(
        "followup-1",
        [
            "ref",
            "subject",
            "state",
            "since",
            "next_step",
            "support_name"
        ]
    ),
    spec!(
        "followup-2",
        [
            "ref",
            "subject",
            "state",
            "since",
            "close_on",
            "reopen_days",
            "support_name"
        ]
    ),
    spec!(
        "closure",
        ["ref", "subject", "since", "reopen_until", "support_name"]
    ),
    spec!(
        "closure-notice",
        ["ref", "subject", "requester", "since", "reopen_until"]
    ),
    spec!(
        "participant-added",
        ["ref", "subject", "added", "support_name"]
    ),
    spec!(
        "digest",
        [
            "day",
            "unaccepted",
            "at_risk",
            "breached",
            "mine",
            "waiting",
            "closing",
            "support_name"
        ]
    ),
    spec!(
        "sla-report",
        ["month", "customer", "report", "support_name"]
    ),
    spec!(
        "customer-unreachable",
        [
            "ref",
            "subject",
            "requester",
            "state_name",
            "attempt",
            "reason"
        ]
    ),
];

/// Errors of loading or rendering templates.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An override file or folder could not be read.
    #[error("cannot read template override {}", path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An override file names no template of ours.
    #[error("{} is not a template supportd sends; the templates are: {known}", path.display())]
    Unknown {
        /// The file.
        path: PathBuf,
        /// The known names.
        known: String,
    },
    /// A template is wrong.
    #[error("template {name} ({lang}) from {origin}: {message}")]
    Invalid {
        /// Template name.
        name: &'static str,
        /// Language.
        lang: Lang,
        /// `embedded` or the override file.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// Rendering failed (a variable was not given).
    #[error("cannot render template {name} ({lang})")]
    Render {
        /// Template name.
        name: String,
        /// Language.
        lang: Lang,
        /// Why.
        #[source]
        source: minijinja::Error,
    },
}

/// Result of templates.
pub type Result<T> = std::result::Result<T, Error>;

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject line's text.
    pub subject: String,
    /// The body, ending with a newline.
    pub body: String,
}

/// The loaded templates.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

fn key(name: &str, lang: Lang) -> String {
    format!("{}/{name}", lang.as_str())
}

impl Templates {
    /// The embedded templates only.
    pub fn embedded() -> Result<Templates> {
        Templates::load(None)
    }

    /// The embedded templates with the overrides found in `dir`
    /// (`<dir>/<lang>/<name>.txt`); a missing folder means no overrides.
    pub fn load(dir: Option<&Path>) -> Result<Templates> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let known = || SPECS.iter().map(|s| s.name).collect::<Vec<_>>().join(", ");
        for lang in [Lang::En, Lang::Pl] {
            let folder = dir.map(|d| d.join(lang.as_str()));
            if let Some(folder) = folder.as_ref().filter(|f| f.is_dir()) {
                for entry in std::fs::read_dir(folder).map_err(|source| Error::Read {
                    path: folder.clone(),
                    source,
                })? {
                    let path = entry
                        .map_err(|source| Error::Read {
                            path: folder.clone(),
                            source,
                        })?
                        .path();
                    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
                    if path.extension().is_some_and(|e| e == "txt")
                        && !SPECS.iter().any(|s| s.name == stem)
                    {
                        return Err(Error::Unknown {
                            path,
                            known: known(),
                        });
                    }
                }
            }
            for spec in SPECS {
                let file = folder
                    .as_ref()
                    .map(|f| f.join(format!("{}.txt", spec.name)))
                    .filter(|p| p.is_file());
                let (source, origin) = match &file {
                    Some(path) => (
                        std::fs::read_to_string(path).map_err(|source| Error::Read {
                            path: path.clone(),
                            source,
                        })?,
                        path.display().to_string(),
                    ),
                    None => (
                        match lang {
                            Lang::En => spec.en,
                            Lang::Pl => spec.pl,
                        }
                        .to_string(),
                        "embedded".to_string(),
                    ),
                };
                let invalid = |message: String| Error::Invalid {
                    name: spec.name,
                    lang,
                    origin: origin.clone(),
                    message,
                };
                if !source.starts_with("Subject:") {
                    return Err(invalid("the first line must be \"Subject: …\"".into()));
                }
                env.add_template_owned(key(spec.name, lang), source)
                    .map_err(|e| invalid(e.to_string()))?;
                let template = env
                    .get_template(&key(spec.name, lang))
                    .map_err(|e| invalid(e.to_string()))?;
                let mut unknown: Vec<String> = template
                    .undeclared_variables(false)
                    .into_iter()
                    .filter(|v| !spec.vars.contains(&v.as_str()))
                    .collect();
                if !unknown.is_empty() {
                    unknown.sort();
                    return Err(invalid(format!(
                        "unknown variable(s) {}; this template is given {}",
                        unknown.join(", "),
                        spec.vars.join(", ")
                    )));
                }
            }
        }
        Ok(Templates { env })
    }

    /// The template names.
    pub fn names() -> impl Iterator<Item = &'static str> {
        SPECS.iter().map(|s| s.name)
    }

    /// The variables a template is given.
    pub fn variables(name: &str) -> Option<&'static [&'static str]> {
        SPECS.iter().find(|s| s.name == name).map(|s| s.vars)
    }

    /// Renders a template with a serialisable context.
    pub fn render(&self, name: &str, lang: Lang, ctx: impl Serialize) -> Result<Rendered> {
        let render_err = |source| Error::Render {
            name: name.to_string(),
            lang,
            source,
        };
        let template = self
            .env
            .get_template(&key(name, lang))
            .map_err(render_err)?;
        let text = template
            .render(Value::from(minijinja::value::Serde(&ctx)))
            .map_err(render_err)?;
        let first = text.split_once('\n').map_or(text.as_str(), |(f, _)| f);
        let subject = first.trim_start_matches("Subject:").trim().to_string();
        // Blocks a template leaves out leave no runs of blank lines.
        let mut body = String::with_capacity(text.len());
        let mut blank = 0;
        for line in text.split_once('\n').map_or("", |(_, b)| b).lines() {
            let line = line.trim_end();
            blank = if line.is_empty() { blank + 1 } else { 0 };
            if blank < 2 && !(line.is_empty() && body.is_empty()) {
                body.push_str(line);
                body.push('\n');
            }
        }
        let mut body = body.trim_end().to_string();
        body.push('\n');
        Ok(Rendered { subject, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(lang: Lang) -> serde_json::Value {
        let pl = lang == Lang::Pl;
        let mut v = json!({
            "ref": "SS-1042",
            "subject": if pl { "Eksport faktur nie działa" } else { "Invoice export fails" },
            "severity": 2,
            "severity_name": if pl { "awaria komponentu" } else { "component out of order" },
            "deadline": if pl { "śr., 25 listopada 2026 r., godz. 17:00 czasu warszawskiego" } else { "Wed 25 Nov 2026, 17:00 Warsaw time" },
            "missing": [
                {"label": if pl { "czas wystąpienia" } else { "time of occurrence" },
                 "prompt": if pl { "kiedy dokładnie wystąpił problem (data i godzina)?" } else { "when exactly did it happen (date and time)?" }},
                {"label": if pl { "zrzuty ekranu" } else { "screenshots" },
                 "prompt": if pl { "prosimy o zrzut ekranu z komunikatem" } else { "please attach a screenshot of the message" }},
            ],
            "support_name": "Smartstock Support",
            "event_line": if pl { "Nowe zgłoszenie." } else { "New request." },
            "requester": "Jan Kowalski <jan@acme.example>",
            "state": "new",
            "state_name": if pl { "nowe" } else { "new" },
            "owner": "anna@smartstock.cloud",
            "notes": ["anna@smartstock.cloud: the export job times out on the reporting replica"],
            "accepted": true,
            "severity_changed": true,
            "change": "resolved",
            "needinfo": false,
            "next_contact": if pl { "pt., 11 grudnia 2026 r., godz. 11:20 czasu warszawskiego" } else { "Fri 11 Dec 2026, 11:20 Warsaw time" },
            "sign": true,
            "linked_why": if pl { "które jest zamknięte" } else { "which is closed" },
            "quoted": "> #acept\n> Looking into it.",

            "working_time_left": if pl { "15 godz. 30 min" } else { "15 h 30 min" },
            "held": "",
            "text": if pl { "Od rana eksport kończy się błędem 503." } else { "Since this morning the export fails with error 503." },
            "consultant_name": "Anna Nowak",
            "linked_ref": "SS-1001",
            "errors": ["line 1: unknown tag #acept"],
            "valid_tags": "#accept, #severity 1-5, #waiting, #needinfo, #resolved, #close, #reopen, #note, #spam",
            "prefix": "SS",
            "size_mb": 31,
            "limit_mb": 25,
            "received": if pl { "pon., 23 listopada 2026 r., godz. 10:00 czasu warszawskiego" } else { "Mon 23 Nov 2026, 10:00 Warsaw time" },
            "since": if pl { "wt., 24 listopada 2026 r., godz. 11:20 czasu warszawskiego" } else { "Tue 24 Nov 2026, 11:20 Warsaw time" },
            "next_step": if pl { "pt., 11 grudnia 2026 r., godz. 11:20 czasu warszawskiego" } else { "Fri 11 Dec 2026, 11:20 Warsaw time" },
            "close_on": if pl { "śr., 16 grudnia 2026 r., godz. 11:20 czasu warszawskiego" } else { "Wed 16 Dec 2026, 11:20 Warsaw time" },
            "reopen_until": if pl { "śr., 30 grudnia 2026 r., godz. 11:20 czasu warszawskiego" } else { "Wed 30 Dec 2026, 11:20 Warsaw time" },
            "reopen_days": 14,
            "added": ["ewa@acme.example"],
            "attempt": 1,
            "reason": "bounced: permanent failure: 5.1.1 (host mx.acme.example said: 550 5.1.1 <jan@acme.example>: Recipient address rejected: User unknown)",
        });
        // The desk's mails (digest, reports), apart: one json! of all of
        // it is past the macro's recursion limit.
        let desk = json!({
            "day": if pl { "pon., 7 grudnia 2026 r." } else { "Mon 7 Dec 2026" },
            "unaccepted": {"lines": [{"ref": "SS-1042", "subject": if pl { "Eksport faktur nie działa" } else { "Invoice export fails" },
                "requester": "jan@acme.example", "severity": 2, "when": if pl { "śr., 9 grudnia 2026 r., godz. 10:00 czasu warszawskiego" } else { "Wed 9 Dec 2026, 10:00 Warsaw time" },
                "note": if pl { "ZAGROŻONE, zostało 3 godz. 00 min" } else { "AT RISK, 3 h 00 min left" }}], "more": 0},
            "at_risk": 1,
            "breached": 0,
            "mine": {"lines": [{"ref": "SS-1001", "subject": "Scanner", "requester": "ewa@beta.example", "severity": 3, "when": "", "note": ""}], "more": 0},
            "waiting": {"lines": [], "more": 0},
            "closing": {"lines": [], "more": 0},
            "month": "2026-11",
            "customer": "acme.example",
            "report": "sev  n  on time\n1    2  1",
        });
        if let (Some(a), serde_json::Value::Object(b)) = (v.as_object_mut(), desk) {
            a.extend(b);
        }
        v
    }

    /// Every template in both languages against its golden file under
    /// `src/templates/golden/<lang>/<name>.txt`; `UPDATE_GOLDEN=1` rewrites them.
    #[test]
    fn every_template_matches_its_golden_file() {
        let t = Templates::embedded().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/templates/golden");
        let mut mismatches = Vec::new();
        // The follow-ups read differently for a proposed solution.
        let variants = Templates::names()
            .map(|n| (n, n.to_string(), "new"))
            .chain(["followup-1", "followup-2"].map(|n| (n, format!("{n}.resolved"), "resolved")))
            .collect::<Vec<_>>();
        for lang in [Lang::En, Lang::Pl] {
            for (name, file, state) in &variants {
                let mut ctx = sample(lang);
                ctx["state"] = (*state).into();
                let r = t.render(name, lang, ctx).unwrap();
                let text = format!("Subject: {}\n\n{}", r.subject, r.body);
                let path = root.join(lang.as_str()).join(format!("{file}.txt"));
                if std::env::var_os("UPDATE_GOLDEN").is_some() {
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    std::fs::write(&path, &text).unwrap();
                } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                    mismatches.push(format!("{}:\n{text}", path.display()));
                }
            }
        }
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n---\n"));
    }

    #[test]
    fn overrides_are_checked_when_loaded() {
        let dir = std::env::temp_dir().join(format!("supportd-templates-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("pl")).unwrap();
        // A missing folder means no overrides.
        assert!(Templates::load(Some(&dir.join("nonexistent"))).is_ok());
        let write =
            |name: &str, text: &str| std::fs::write(dir.join("pl").join(name), text).unwrap();

        write(
            "closure.txt",
            "Subject: Przyjęte {{ ref }}\nZgłoszenie {{ ref }} przyjęte.\n",
        );
        let t = Templates::load(Some(&dir)).unwrap();
        let r = t.render("closure", Lang::Pl, sample(Lang::Pl)).unwrap();
        assert_eq!(r.subject, "Przyjęte SS-1042");
        assert_eq!(r.body, "Zgłoszenie SS-1042 przyjęte.\n");

        write("closure.txt", "Subject: x\n{{ ticket_number }}\n");
        let err = Templates::load(Some(&dir)).unwrap_err().to_string();
        assert!(
            err.contains("unknown variable(s) ticket_number") && err.contains("closure.txt"),
            "{err}"
        );

        write("closure.txt", "no subject line\n");
        assert!(
            Templates::load(Some(&dir))
                .unwrap_err()
                .to_string()
                .contains("Subject")
        );

        write("closure.txt", "Subject: x\n{% if %}\n");
        assert!(Templates::load(Some(&dir)).is_err());

        std::fs::remove_file(dir.join("pl/closure.txt")).unwrap();
        write("acknowlegement.txt", "Subject: typo\n");
        let err = Templates::load(Some(&dir)).unwrap_err().to_string();
        assert!(
            err.contains("acknowlegement.txt") && err.contains("acknowledgement"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_variable_fails_the_render() {
        let t = Templates::embedded().unwrap();
        let err = t
            .render("closure", Lang::En, json!({"ref": "SS-1"}))
            .unwrap_err();
        assert!(matches!(err, Error::Render { .. }), "{err}");
    }
}
