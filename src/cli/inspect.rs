//! `supportd inspect FILE.eml... | -`: one JSON object per message, one per
//! line, with the field names documented in the README. Exits 0 whenever it
//! printed a result; a file it cannot read is reported on stderr and makes
//! the exit status 1, the other files still print.

use std::io::{Read, Write};
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::mail::{self, Settings, thread::Lookup};

/// The received instant of a file (design.md): the topmost `Received:`
/// date, else the file's modification time, else `now`.
pub fn received_at(raw: &[u8], path: Option<&Path>, now: DateTime<Utc>) -> DateTime<Utc> {
    mail::parse::topmost_received(raw)
        .or_else(|| {
            let modified = std::fs::metadata(path?).ok()?.modified().ok()?;
            Some(DateTime::<Utc>::from(modified))
        })
        .map(|t| DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t))
        .unwrap_or(now)
}

/// Analyses each input and writes one JSON line per message. Returns how many
/// inputs could not be read.
pub fn inspect(
    inputs: &[String],
    settings: &Settings,
    lookup: &dyn Lookup,
    received: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> std::io::Result<usize> {
    let mut failed = 0;
    for input in inputs {
        let (raw, path) = if input == "-" {
            let mut buf = Vec::new();
            std::io::stdin().lock().read_to_end(&mut buf)?;
            (buf, None)
        } else {
            match std::fs::read(input) {
                Ok(b) => (b, Some(Path::new(input))),
                Err(e) => {
                    writeln!(err, "supportd: cannot read {input}: {e}")?;
                    failed += 1;
                    continue;
                }
            }
        };
        let at = received.unwrap_or_else(|| received_at(&raw, path, now));
        let analysis = mail::analyze(&raw, at, settings, lookup);
        serde_json::to_writer(&mut *out, &analysis)?;
        out.write_all(b"\n")?;
    }
    Ok(failed)
}

/// Analyse messages: one JSON object per message and line.
///
/// The object holds the kind, ticket reference, report fields found and
/// missing, occurrence time, severity suggestion, consultant commands,
/// language and the trimmed text.
///
/// The support and consultant addresses come from the config, or from
/// --support-address and --consultant. With the global --db, replies are
/// also threaded through the stored Message-IDs and consultant tokens are
/// checked with the database's key (read-only). Example:
///   supportd inspect --consultant anna@smartstock.cloud mail.eml
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// .eml files; `-` reads one message from stdin.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// The support mailbox (default: the config's, else support@smartstock.cloud).
    #[arg(long, value_name = "ADDRESS")]
    pub support_address: Option<String>,
    /// A consultant's address; repeat for several (added to the config's).
    #[arg(long = "consultant", value_name = "ADDRESS")]
    pub consultants: Vec<String>,
    /// When our server received the messages (default: the topmost
    /// Received: header, else the file's modification time, else --now).
    #[arg(long, value_name = "RFC3339", value_parser = crate::sla::parse_instant)]
    pub received: Option<DateTime<Utc>>,
}

/// Analyses the files; exit 1 when one could not be read.
pub fn run(g: &super::Global, args: &Args) -> super::Outcome {
    let cfg = crate::config::Config::locate(g.config.as_deref())?;
    let mut settings = match &cfg {
        Some(cfg) => cfg.analysis_settings(None),
        None => Settings::new("support@smartstock.cloud", "SS", &[]),
    };
    if let Some(a) = &args.support_address {
        let mut s = Settings::new(a, &settings.ticket_prefix, &settings.consultants);
        s.form_senders = std::mem::take(&mut settings.form_senders);
        settings = s;
    }
    settings.consultants.extend(
        args.consultants
            .iter()
            .map(|c| c.trim().to_ascii_lowercase()),
    );
    // With a database: stored Message-IDs thread replies and its key
    // checks consultant tokens. Read-only: inspect never writes.
    let store = match &g.db {
        Some(path) => {
            let store = crate::store::Store::open_read_only(path)?;
            if settings.token_key.is_none() {
                settings.token_key = store.stored_token_key()?;
            }
            Some(store)
        }
        None => None,
    };
    let lookup: &dyn Lookup = match &store {
        Some(s) => s,
        None => &mail::thread::NoLookup,
    };
    let failed = inspect(
        &args.files,
        &settings,
        lookup,
        args.received,
        g.now(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )?;
    Ok(super::exit(failed == 0))
}
