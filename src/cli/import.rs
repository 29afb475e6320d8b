//! `supportd import PATH...`: .eml files, mbox files and Maildirs, read
//! without changing them, each message stored and applied (in one
//! transaction per chunk, the analysis on every core), then a summary. It
//! queues no outgoing mail unless `--send` (deadlines already past are
//! simply recorded). On a terminal a progress line shows the messages
//! stored and how much of the inputs is read, with the time left.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};

use super::{Global, Outcome, Runtime};
use crate::ingest::{self, Summary};
use crate::source::files;
use crate::store::{Incoming, Store};

/// Import .eml files, mbox files and Maildirs as if they came from the
/// mailbox: each message is stored raw, then applied to tickets. Inputs
/// are never changed; importing the same inputs again changes nothing;
/// no mail is sent. On a terminal a progress line shows how far it is;
/// ends with a summary.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files (.eml or mbox) and Maildir folders.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Queue the mails the messages call for (acknowledgements,
    /// notifications, relays), as the daemon would.
    #[arg(long)]
    pub send: bool,
}

/// Imports and prints the summary.
pub fn run(g: &Global, args: &Args) -> Outcome {
    let (cfg, db) = g.config_and_db()?;
    // The analysis's patterns compile on the spare cores while the database
    // opens and the inputs are listed (the severity rules are shared with
    // the settings the import uses, so they compile once).
    let early = cfg.clone();
    std::thread::spawn(move || crate::mail::warm_up(&early.analysis_settings(None)));
    let mut store = Store::open(&db)?;
    let rt = Runtime::load(cfg, &mut store)?;
    let settings = rt.ingest(args.send);
    let summary = import(
        &mut store,
        &settings,
        &args.paths,
        g.now(),
        progress_wanted(),
    )?;
    writeln!(std::io::stdout().lock(), "{summary}")?;
    Ok(ExitCode::SUCCESS)
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Messages read from the inputs.
    pub read: u64,
    /// Messages that were already stored.
    pub duplicates: u64,
    /// Step 2's counts.
    pub applied: Summary,
}

/// Imports the inputs into the store: each message is stored and applied
/// in one transaction per chunk, the analysis on every core.
pub fn import(
    store: &mut Store,
    settings: &ingest::Settings<'_>,
    paths: &[PathBuf],
    now: DateTime<Utc>,
    progress: bool,
) -> anyhow::Result<ImportSummary> {
    // Every input opens before anything is stored: a wrong path stops the
    // import with nothing done.
    let mut inputs = Vec::new();
    let mut total = 0;
    for path in paths {
        let input = files::open(path, progress)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        total += input.bytes;
        inputs.push((path.clone(), input.messages));
    }
    let bar = progress.then(|| progress_bar(total));
    let failed: std::sync::Mutex<Option<anyhow::Error>> = std::sync::Mutex::new(None);
    let mut messages = inputs.into_iter().flat_map(|(path, messages)| {
        let (failed, bar) = (&failed, &bar);
        messages.map_while(move |m| match m {
            Ok(m) => {
                // The bar moves as the inputs are read, a few chunks ahead
                // of the commits.
                if let Some(bar) = bar {
                    bar.inc(m.raw.len() as u64);
                }
                Some(Incoming {
                    source_key: Some(m.source_key),
                    raw: m.raw.into(),
                    received_at: m.received_at,
                })
            }
            Err(e) => {
                let mut slot = failed.lock().unwrap_or_else(|e| e.into_inner());
                slot.get_or_insert(anyhow::anyhow!("cannot read {}: {e}", path.display()));
                None
            }
        })
    });
    // One unreadable input stops the import (what came before it stays).
    let mut stopped = std::iter::from_fn(|| {
        if failed.lock().map_or(true, |f| f.is_some()) {
            return None;
        }
        messages.next()
    });
    let stored = std::cell::Cell::new(0u64);
    let tick = |n: usize| {
        stored.set(stored.get() + n as u64);
        if let Some(bar) = &bar {
            bar.set_message(stored_so_far(stored.get()));
        }
    };
    let run = ingest::pipeline(
        store,
        settings,
        now,
        ingest::Source::Incoming(&mut stopped),
        Some(&tick),
    )?;
    let mut summary = ImportSummary {
        read: run.read,
        duplicates: run.duplicates,
        applied: run.summary,
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(e) = failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    // A message that failed once is tried again, as the daemon would.
    if run.failures > 0 {
        summary
            .applied
            .add(&ingest::apply_pending(store, settings, now)?);
    }
    Ok(summary)
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::lang::en_counted as counted;
        let a = &self.applied;
        write!(
            f,
            "read {}, {} of them new: {}, {}, {} applied, {} rejected, {}, {} and {} recorded, \
             {} skipped, {} quarantined ({} not mail)",
            counted(self.read, "message", "messages"),
            self.read.saturating_sub(self.duplicates),
            counted(a.new_tickets, "new ticket", "new tickets"),
            counted(a.replies, "reply", "replies"),
            counted(a.commands_applied, "command", "commands"),
            a.commands_rejected,
            counted(a.auto_replies, "auto-reply", "auto-replies"),
            counted(a.bounces, "delivery report", "delivery reports"),
            counted(a.feedback, "feedback report", "feedback reports"),
            counted(self.duplicates, "duplicate", "duplicates"),
            a.quarantined,
            a.not_mail
        )
    }
}

/// The progress line: messages stored so far, and the inputs' bytes read
/// against their `total` (every input's size, a Maildir's files summed), so
/// that a large mbox shows how far along it is and about how long is left.
fn progress_bar(total: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} importing: {msg}, {bytes}/{total_bytes} read ({percent} %), about {eta} left",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(stored_so_far(0));
    bar
}

/// "1 stored", "12,345 stored": the messages written so far.
fn stored_so_far(n: u64) -> String {
    format!("{} stored", indicatif::HumanCount(n))
}

/// Whether progress should be drawn: only on a terminal.
pub fn progress_wanted() -> bool {
    std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_read_as_english() {
        let one = Summary {
            new_tickets: 1,
            replies: 1,
            commands_applied: 1,
            auto_replies: 1,
            bounces: 1,
            feedback: 1,
            ..Summary::default()
        };
        let two = Summary {
            new_tickets: 2,
            replies: 2,
            commands_applied: 2,
            auto_replies: 2,
            bounces: 2,
            feedback: 2,
            ..Summary::default()
        };
        let table = [
            (
                1,
                1,
                one,
                "read 1 message, 0 of them new: 1 new ticket, 1 reply, 1 command applied, 0 rejected, \
                 1 auto-reply, 1 delivery report and 1 feedback report recorded, 1 duplicate skipped, \
                 0 quarantined (0 not mail)",
            ),
            (
                2,
                2,
                two,
                "read 2 messages, 0 of them new: 2 new tickets, 2 replies, 2 commands applied, 0 rejected, \
                 2 auto-replies, 2 delivery reports and 2 feedback reports recorded, 2 duplicates skipped, \
                 0 quarantined (0 not mail)",
            ),
        ];
        for (read, duplicates, applied, text) in table {
            let s = ImportSummary {
                read,
                duplicates,
                applied,
            };
            assert_eq!(s.to_string(), text);
        }
    }
}
