//! `supportd quarantine list|show|replay [--dry-run]|drop`: messages step 2
//! could not process (it failed twice, or the message is over the size
//! limit). Nothing is lost: a quarantined message keeps its raw bytes until
//! it is dropped.

use std::io::Write;

use chrono::{DateTime, Utc};

use crate::ingest;
use crate::lang::en_counted;
use crate::mail::{self, thread::Lookup};
use crate::store::{QuarantineRow, Store};

/// Lists the quarantine.
pub fn list(store: &Store, json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let rows = store.quarantined()?;
    if json {
        serde_json::to_writer_pretty(&mut *out, &rows)?;
        writeln!(out)?;
        return Ok(());
    }
    if rows.is_empty() {
        writeln!(out, "the quarantine is empty")?;
    }
    for r in rows {
        writeln!(
            out,
            "{:>6}  {}  {:>9} B  {}  <{}>",
            r.message, r.received_at, r.size, r.reason, r.message_id
        )?;
    }
    Ok(())
}

/// A quarantined message's entry and raw bytes, or an error naming why not.
fn entry(store: &Store, id: i64) -> anyhow::Result<(QuarantineRow, Vec<u8>)> {
    let row = store.quarantined_message(id)?.ok_or_else(|| {
        anyhow::anyhow!("message {id} is not in the quarantine; see supportd quarantine list")
    })?;
    let raw = store
        .raw_message(id)?
        .ok_or_else(|| anyhow::anyhow!("message {id} has no raw bytes left"))?;
    Ok((row, raw))
}

/// Shows a quarantined message's reason and header block.
pub fn show(store: &Store, id: i64, out: &mut impl Write) -> anyhow::Result<()> {
    let (row, raw) = entry(store, id)?;
    writeln!(
        out,
        "message {id}: {}\nreceived {}, {} bytes, since {}\n",
        row.reason, row.received_at, row.size, row.at
    )?;
    let text = String::from_utf8_lossy(&raw);
    for line in text.lines().take_while(|l| !l.trim().is_empty()).take(200) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// Replays a quarantined message; with `dry_run`, only tells what would happen.
pub fn replay(
    store: &mut Store,
    settings: &ingest::Settings<'_>,
    id: i64,
    dry_run: bool,
    now: DateTime<Utc>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let (_, raw) = entry(store, id)?;
    if dry_run {
        if raw.len() as u64 > settings.max_message_bytes {
            writeln!(
                out,
                "message {id} would stay quarantined: it is over the size limit"
            )?;
            return Ok(());
        }
        let received = store.message_received_at(id)?.unwrap_or(now);
        let lookup: &dyn Lookup = store;
        let a = mail::analyze(&raw, received, settings.analysis, lookup);
        writeln!(
            out,
            "message {id} would be applied as {} ({}){}; nothing was changed",
            a.kind.as_str(),
            a.rule,
            a.ticket_ref.map(|r| format!(" to {r}")).unwrap_or_default()
        )?;
        return Ok(());
    }
    store.release(id)?;
    let summary = ingest::apply_pending(store, settings, now)?;
    if store.quarantined_message(id)?.is_some() {
        writeln!(
            out,
            "message {id} failed again and is back in the quarantine"
        )?;
    } else {
        writeln!(
            out,
            "message {id} applied: {}, {}, {} applied",
            en_counted(summary.new_tickets, "new ticket", "new tickets"),
            en_counted(summary.replies, "reply", "replies"),
            en_counted(summary.commands_applied, "command", "commands")
        )?;
    }
    Ok(())
}

/// Drops a quarantined message's raw bytes.
pub fn drop(store: &mut Store, id: i64, out: &mut impl Write) -> anyhow::Result<()> {
    if !store.drop_quarantined(id)? {
        anyhow::bail!("message {id} is not in the quarantine; see supportd quarantine list");
    }
    writeln!(
        out,
        "message {id} dropped: its raw bytes are deleted, its row stays in the audit trail"
    )?;
    Ok(())
}

/// Messages that could not be processed (twice failed, or too large):
/// list, show, replay after a fix, or drop.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Quarantined messages with their reasons.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One message's reason and headers.
    Show {
        /// The message id from `quarantine list`.
        id: i64,
    },
    /// Process a quarantined message again (after a fix or a raised limit).
    Replay {
        /// The message id from `quarantine list`.
        id: i64,
        /// Only say what would happen; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Queue the mails it calls for, as the daemon would.
        #[arg(long)]
        send: bool,
    },
    /// Delete a quarantined message's raw bytes; its row stays for the audit trail.
    Drop {
        /// The message id from `quarantine list`.
        id: i64,
    },
}

/// Runs a `quarantine` command.
pub fn run(g: &super::Global, cmd: &Command) -> super::Outcome {
    let (cfg, db) = g.config_and_db()?;
    let mut store = Store::open(&db)?;
    let json = matches!(cmd, Command::List { json: true });
    let mut out = super::terminal::for_text(std::io::stdout().lock(), json);
    match cmd {
        Command::List { json } => list(&store, *json, &mut out)?,
        Command::Show { id } => show(&store, *id, &mut out)?,
        Command::Replay { id, dry_run, send } => {
            let rt = super::Runtime::load(cfg, &mut store)?;
            replay(
                &mut store,
                &rt.ingest(*send),
                *id,
                *dry_run,
                g.now(),
                &mut out,
            )?
        }
        Command::Drop { id } => drop(&mut store, *id, &mut out)?,
    }
    Ok(std::process::ExitCode::SUCCESS)
}
