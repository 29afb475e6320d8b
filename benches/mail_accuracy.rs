//! Accuracy of the message analysis on a corpus we did not tune to: mail made
//! by the benchmark generator (`gen_mails.py`, seeded), checked against its
//! manifest and against facts the generator writes into each mail.
//!
//! Usage (a corpus folder with `manifest.json` and `Maildir/new`):
//!   python3 ../shared/bench/gen_mails.py -n 2000 --seed 7 --tag-format '' --out /tmp/corpus
//!   SUPPORTD_CORPUS=/tmp/corpus cargo bench --bench mail_accuracy
//!
//! What is measured, and the truth it is measured against:
//! - kind (`new` / `reply`): the manifest; replies thread by In-Reply-To /
//!   References only, through an in-memory look-up of the Message-IDs seen
//!   so far (what the store does);
//! - language: every generated mail is English;
//! - occurrence instant within 60 s: the "First noticed on … at about HH:MM
//!   (UTC)" line every generated request carries;
//! - report-field presence: subject, occurrence time, diagnosis steps and
//!   description are in every generated request; screenshots exactly when
//!   the manifest lists an attachment;
//! - trimming: a reply's own first line is kept and none of the quoted
//!   original (`> ` lines, the "On … wrote:" line) is left.
//! - panics: any panic aborts the run.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;
use supportd::mail::{self, Settings, classify::Kind, thread::Lookup};

struct Seen(Mutex<HashMap<String, u64>>);

impl Lookup for Seen {
    fn ticket_of_message_id(&self, id: &str) -> Option<u64> {
        self.0.lock().unwrap().get(id).copied()
    }
}

#[derive(Default)]
struct Score {
    right: usize,
    total: usize,
}

impl Score {
    fn add(&mut self, ok: bool) {
        self.total += 1;
        self.right += usize::from(ok);
    }

    fn line(&self, name: &str, target: f64) -> String {
        let pct = 100.0 * self.right as f64 / self.total.max(1) as f64;
        format!(
            "{name:<32} {:>6}/{:<6} {pct:6.2}%  (target {target}%){}",
            self.right,
            self.total,
            if pct >= target { "" } else { "  BELOW" }
        )
    }
}

fn first_noticed(raw: &str) -> Option<DateTime<Utc>> {
    let line = raw.lines().find(|l| l.starts_with("First noticed on "))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    // First noticed on <Weekday> <YYYY-MM-DD> at about <HH:MM> (UTC).
    let text = format!("{} {}", words.get(4)?, words.get(7)?);
    NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M")
        .ok()
        .map(|t| t.and_utc())
}

fn main() {
    let Some(dir) = std::env::var_os("SUPPORTD_CORPUS").map(PathBuf::from) else {
        eprintln!(
            "set SUPPORTD_CORPUS to a folder made by gen_mails.py (see the file's doc comment)"
        );
        return;
    };
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let settings = Settings::new("support@helpdesk.example.net", "SS", &[]);
    let seen = Seen(Mutex::new(HashMap::new()));
    let mut next_ticket = 1u64;
    let (mut kind, mut language, mut occurrence, mut fields, mut trim) = (
        Score::default(),
        Score::default(),
        Score::default(),
        Score::default(),
        Score::default(),
    );
    let started = std::time::Instant::now();
    let messages = manifest["messages"].as_array().unwrap();
    for m in messages {
        let raw = std::fs::read(
            dir.join("Maildir/new")
                .join(m["maildir_name"].as_str().unwrap()),
        )
        .unwrap();
        let received = mail::parse::topmost_received(&raw).unwrap();
        let a = mail::analyze(&raw, received, &settings, &seen);
        let truth = m["kind"].as_str().unwrap();
        kind.add(a.kind.as_str() == truth);
        language.add(a.language == supportd::lang::Lang::En);
        // What the store would do: remember the message under its ticket.
        let ticket = match (a.kind, &a.ticket_ref) {
            (Kind::Reply, Some(r)) => r.rsplit('-').next().unwrap().parse().unwrap(),
            _ => {
                next_ticket += 1;
                next_ticket - 1
            }
        };
        if let Some(id) = &a.message_id {
            seen.0.lock().unwrap().insert(id.clone(), ticket);
        }
        let text = String::from_utf8_lossy(&raw);
        if truth == "new" {
            if let Some(t) = first_noticed(&text) {
                let got = a
                    .occurrence_time
                    .as_deref()
                    .and_then(|s| s.parse::<DateTime<Utc>>().ok());
                occurrence.add(got.is_some_and(|g| (g - t).num_seconds().abs() <= 60));
            }
            let f = &a.fields;
            for present in [
                f.subject.present,
                f.occurrence_time.present,
                f.diagnosis_steps.present,
                f.description.present,
            ] {
                fields.add(present);
            }
            fields.add(f.screenshots.present == m.get("attachment").is_some_and(|x| !x.is_null()));
        } else {
            let first = mail::parse::parse(&raw)
                .text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_string();
            let kept = a.text.contains(&first);
            let clean = !a.text.lines().any(|l| {
                l.starts_with('>') || (l.starts_with("On ") && l.trim_end().ends_with("wrote:"))
            });
            trim.add(kept && clean && a.quote_removed);
        }
    }
    let elapsed = started.elapsed();
    println!(
        "corpus: {} ({} messages, analysed in {:.2?})",
        dir.display(),
        messages.len(),
        elapsed
    );
    println!("{}", kind.line("kind", 97.0));
    println!("{}", fields.line("report-field presence", 95.0));
    println!(
        "{}",
        occurrence.line("occurrence instant within 60 s", 90.0)
    );
    println!("{}", trim.line("quote trimmed, reply kept", 90.0));
    println!("{}", language.line("language", 97.0));
    println!("panics: 0");
}
