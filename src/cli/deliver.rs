//! `supportd deliver`: step 1 for one message from stdin, for an MTA pipe.

use std::io::{self, Read, Write};
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::DateTime;

use super::Global;
use crate::store::{Incoming, Store};

/// Store one message from stdin (for an MTA pipe).
///
/// For Postfix, Exim or procmail. Exits 0 once the message is committed to the database
/// (input that is no mail too: step 2 quarantines it), 65 (EX_DATAERR) for empty input,
/// 75 (EX_TEMPFAIL) when it could not be stored, so the MTA keeps it and
/// retries. A message over [limits] max-message-mb is stored as its headers, quarantined,
/// and its sender told. A running daemon applies it within a second or two.
///
/// Postfix master.cf example:
///   supportd unix - n n - 4 pipe flags=Rq user=supportd argv=/usr/bin/supportd --config /etc/supportd/config.toml deliver
// The help text names config sections as [section]; not doc links.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {}

/// `EX_TEMPFAIL` of sysexits(3): an MTA keeps the message and retries.
const EXIT_TEMPFAIL: u8 = 75;
/// `EX_DATAERR` of sysexits(3): the input is wrong; the MTA bounces it.
const EXIT_DATAERR: u8 = 65;

/// Why `deliver` refused its input for good (exit 65, `EX_DATAERR`): the MTA
/// bounces it instead of retrying for days.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct DataError(String);

/// Stores the message on stdin; the exit status an MTA understands.
pub fn run(g: &Global, _: &Args) -> ExitCode {
    match deliver(g) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr(), "supportd deliver: {e:#}");
            if e.downcast_ref::<DataError>().is_some() {
                ExitCode::from(EXIT_DATAERR)
            } else {
                ExitCode::from(EXIT_TEMPFAIL)
            }
        }
    }
}

/// Step 1 for one message from stdin. Input that is no mail is stored too
/// (step 2 quarantines it, exit 0); empty input is refused (exit 65); every
/// other failure is temporary for the MTA (exit 75): the message stays in
/// its queue. A message over `[limits] max-message-mb` is stored as its
/// header block with the size marker, as the IMAP source does, so step 2
/// quarantines it and tells the sender.
fn deliver(g: &Global) -> anyhow::Result<()> {
    let (cfg, db) = g.config_and_db()?;
    let max = cfg.limits.max_message_bytes;
    let mut raw = Vec::new();
    let mut stdin = io::stdin().lock();
    (&mut stdin)
        .take(max.saturating_add(1))
        .read_to_end(&mut raw)
        .context("cannot read the message from stdin")?;
    if raw.len() as u64 > max {
        let rest =
            io::copy(&mut stdin, &mut io::sink()).context("cannot read the message from stdin")?;
        raw = crate::mail::oversize::truncated(&raw, raw.len() as u64 + rest);
    }
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(DataError(
            "stdin held no message (it was empty or blank); nothing stored".into(),
        )
        .into());
    }
    let now = g.now();
    let received_at = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
    // No message goes into an empty database standing in for a deleted
    // one: the MTA keeps it (exit 75) until the database is back.
    if let Some(why) = crate::app::fresh::earlier_state(&cfg, &db) {
        anyhow::bail!(why);
    }
    let mut store = Store::open(&db)?;
    crate::app::fresh::mark(&db);
    store.store_raw(
        &[Incoming {
            source_key: None,
            raw: raw.into(),
            received_at,
        }],
        now,
    )?;
    Ok(())
}
