//! `supportd privacy export|erase EMAIL`: data-subject requests.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::Policy;
use crate::store::Store;

/// Writes everything stored about `address` into the folder `out`:
/// `export.json` (tickets with their messages, events and mail; other
/// events and mail naming them) and the raw messages as `messages/ID.eml`.
/// Returns (tickets, messages, mails) exported.
pub fn export(
    store: &Store,
    address: &str,
    out: &Path,
    prefix: &str,
    policy: &Policy,
    now: DateTime<Utc>,
) -> anyhow::Result<(usize, usize, usize)> {
    let s = store.data_subject(address)?;
    std::fs::create_dir_all(out.join("messages"))
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
    let mut tickets = Vec::new();
    for n in &s.tickets {
        let mut buf = Vec::new();
        super::tickets::show(
            store,
            &format!("{prefix}-{n}"),
            true,
            prefix,
            policy,
            None,
            &mut buf,
        )?;
        tickets.push(serde_json::from_slice::<serde_json::Value>(&buf)?);
    }
    let mut files = 0;
    for m in &s.messages {
        if let Some(raw) = store.raw_message(*m)? {
            std::fs::write(out.join("messages").join(format!("{m}.eml")), raw)?;
            files += 1;
        }
    }
    let mails = store.export_mails(&s.outbox)?;
    let events = store.export_events(&s.events)?;
    let doc = json!({
        "address": address,
        "exported_at": crate::sla::format_utc(now),
        "names": s.names,
        "tickets": tickets,
        "message_files": s.messages.iter().map(|m| format!("messages/{m}.eml")).collect::<Vec<_>>(),
        "outgoing": mails,
        "events": events,
    });
    let mut f = std::fs::File::create(out.join("export.json"))?;
    serde_json::to_writer_pretty(&mut f, &doc)?;
    writeln!(f)?;
    Ok((s.tickets.len(), files, mails.len()))
}

/// Data-subject requests: export or erase everything stored about one
/// email address.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write everything stored about EMAIL into a folder: export.json (its
    /// tickets with messages, events and mail; other events and mail naming
    /// it) and the raw messages as messages/ID.eml.
    Export {
        /// The person's address.
        email: String,
        /// The folder to write (created; default supportd-export-EMAIL).
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
    },
    /// Erase EMAIL: delete the raw messages, mail bodies and quarantine
    /// entries about the person, replace their address and name everywhere
    /// else by a pseudonym (tickets and the audit trail keep their shape),
    /// then VACUUM. Backups taken before are not changed: erase there too,
    /// or let them expire.
    Erase {
        /// The person's address.
        email: String,
        /// Only report what would be erased.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs a `privacy` command.
pub fn run(g: &super::Global, cmd: &Command) -> super::Outcome {
    let (cfg, db) = g.config_and_db()?;
    let mut out = std::io::stdout().lock();
    match cmd {
        Command::Export { email, out: dir } => {
            let email = email.trim().to_lowercase();
            let dir = dir
                .clone()
                .unwrap_or_else(|| std::path::PathBuf::from(format!("supportd-export-{email}")));
            let store = Store::open_read_only(&db)?;
            let policy = Policy::from_config(&cfg);
            let (t, m, o) = export(
                &store,
                &email,
                &dir,
                &cfg.support.ticket_prefix,
                &policy,
                g.now(),
            )?;
            writeln!(
                out,
                "{}: {t} tickets, {m} messages, {o} outgoing mails about {email}",
                dir.display()
            )?;
        }
        Command::Erase { email, dry_run } => {
            let email = email.trim().to_lowercase();
            let mut store = Store::open(&db)?;
            erase(&mut store, &email, *dry_run, &mut out)?;
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Erases a person (or, with `dry_run`, says what would go).
fn erase(
    store: &mut Store,
    email: &str,
    dry_run: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let s = store.data_subject(email)?;
    if dry_run {
        writeln!(
            out,
            "would erase {email}: {} tickets, {} messages (raw deleted), {} outgoing mails (bodies deleted), {} events; names: {}",
            s.tickets.len(),
            s.messages.len(),
            s.outbox.len(),
            s.events.len(),
            if s.names.is_empty() {
                "-".to_string()
            } else {
                s.names.join(", ")
            }
        )?;
        return Ok(());
    }
    let key = store.token_key(None)?;
    let pseudonym = crate::mail::token::pseudonym(&key, email);
    let (e, checkpointed) = store.erase_subject(email, &pseudonym, &s)?;
    writeln!(
        out,
        "erased {email} as {pseudonym}: {} raw messages and {} mail bodies deleted, {} quarantine entries dropped, {} values replaced; database vacuumed",
        e.raw_messages, e.outbox_bodies, e.quarantined, e.pseudonymised
    )?;
    if !checkpointed {
        writeln!(
            out,
            "note: another process had the database open, so its write-ahead log may still hold old pages; run the erasure again with the daemon stopped"
        )?;
    }
    writeln!(
        out,
        "backups taken before now still hold the data: erase there too, or let them expire"
    )?;
    Ok(())
}
