//! `supportd outbox list [--pending|--failed|--held] [--json]` and
//! `supportd outbox retry ID...`: what the sender has done and will do, for
//! ops.

use std::io::Write;

use chrono::{DateTime, Utc};

use crate::store::{OutboxFilter, Store};

/// Lists outgoing mail, oldest first.
pub fn list(
    store: &Store,
    filter: OutboxFilter,
    prefix: &str,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let rows = store.outbox_list(filter)?;
    if json {
        serde_json::to_writer_pretty(&mut *out, &rows)?;
        writeln!(out)?;
        return Ok(());
    }
    if rows.is_empty() {
        let what = match filter {
            OutboxFilter::All => "no outgoing mail",
            OutboxFilter::Pending => "no mail waiting to be sent",
            OutboxFilter::Failed => "no failed mail",
            OutboxFilter::Held => "no mail held back",
        };
        writeln!(out, "{what}")?;
        return Ok(());
    }
    // As wide as the longest template name listed (consultant-notification).
    let tw = rows
        .iter()
        .map(|r| r.template.chars().count())
        .max()
        .unwrap_or(0)
        .max("TEMPLATE".len());
    writeln!(
        out,
        "{:>6}  {:<7}  {:>3}  {:<9}  {:<tw$}  {:<20}  TO / ERROR",
        "ID", "STATE", "TRY", "TICKET", "TEMPLATE", "WHEN"
    )?;
    for r in rows {
        let ticket = r
            .ticket
            .map(|t| format!("{prefix}-{t}"))
            .unwrap_or_default();
        let when = match r.state.as_str() {
            "sent" => r.sent_at.clone(),
            // When it goes: its next attempt; held, when its hour allows.
            "pending" | "held" => r.next_attempt_at.clone(),
            _ => None,
        }
        .unwrap_or_else(|| r.created_at.clone());
        writeln!(
            out,
            "{:>6}  {:<7}  {:>3}  {:<9}  {:<tw$}  {:<20}  {}",
            r.id,
            r.state,
            r.attempts,
            ticket,
            r.template,
            when,
            r.to.join(", ")
        )?;
        if let Some(e) = r.last_error.as_deref().filter(|_| r.state != "sent") {
            writeln!(out, "{:>6}  {e}", "")?;
        }
    }
    Ok(())
}

/// Makes failed, held or pending mails due now, with a fresh give-up
/// window. Returns false when one of the ids is not a mail that can be
/// retried (the others are still retried).
pub fn retry(
    store: &mut Store,
    ids: &[i64],
    now: DateTime<Utc>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> anyhow::Result<bool> {
    let mut ok = true;
    for id in ids {
        match store.outbox_retry(*id, now)?.as_deref() {
            None => {
                writeln!(
                    err,
                    "supportd: no outgoing mail {id}; see supportd outbox list"
                )?;
                ok = false;
            }
            Some("sent") => {
                writeln!(
                    err,
                    "supportd: mail {id} was already sent; nothing to retry"
                )?;
                ok = false;
            }
            Some(state) => writeln!(
                out,
                "mail {id}: {state} -> pending, due now (a running daemon sends it within seconds)"
            )?,
        }
    }
    Ok(ok)
}

/// Outgoing mail: list it (with retries and errors) or retry one.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Outgoing mail, oldest first: state, attempts, ticket, template, when
    /// (sent, or next attempt), recipients, and the last error.
    List {
        /// Only mail waiting to be sent or retried.
        #[arg(long, conflicts_with_all = ["failed", "held"])]
        pending: bool,
        /// Only mail refused for good, bounced, or given up on.
        #[arg(long, conflicts_with = "held")]
        failed: bool,
        /// Only automatic mail held back by the rate limits.
        #[arg(long)]
        held: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Send failed, held or pending mails again now (after fixing an
    /// address or the mail server), with a fresh give-up period: the ones
    /// named, or with --failed every failed one (bounced mail excepted).
    ///   supportd outbox retry 12 13
    ///   supportd outbox retry --failed --since 2026-12-01T08:00:00Z
    #[command(verbatim_doc_comment)]
    Retry {
        /// Mail ids from `outbox list`.
        #[arg(
            value_name = "ID",
            required_unless_present = "failed",
            conflicts_with = "failed"
        )]
        ids: Vec<i64>,
        /// Every mail that failed (refused or given up on; not bounced).
        #[arg(long)]
        failed: bool,
        /// With --failed: only mail that failed at or after this instant
        /// (RFC 3339, e.g. 2026-12-01T08:00:00Z).
        #[arg(long, requires = "failed", value_name = "WHEN")]
        since: Option<String>,
    },
}

/// Lists or retries outgoing mail.
pub fn run(g: &super::Global, cmd: &Command) -> super::Outcome {
    let (cfg, db) = g.config_and_db()?;
    match cmd {
        Command::List {
            pending,
            failed,
            held,
            json,
        } => {
            let store = Store::open_read_only(&db)?;
            let filter = match (pending, failed, held) {
                (true, _, _) => OutboxFilter::Pending,
                (_, true, _) => OutboxFilter::Failed,
                (_, _, true) => OutboxFilter::Held,
                _ => OutboxFilter::All,
            };
            list(
                &store,
                filter,
                &cfg.support.ticket_prefix,
                *json,
                &mut super::terminal::for_text(std::io::stdout().lock(), *json),
            )?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Retry { ids, failed, since } => {
            let mut store = Store::open(&db)?;
            let ids = if *failed {
                let since = match since {
                    Some(s) => Some(crate::sla::parse_instant(s).map_err(|e| {
                        anyhow::anyhow!("--since {s:?}: {e}; write it as 2026-12-01T08:00:00Z")
                    })?),
                    None => None,
                };
                let ids = store.failed_mails(since)?;
                if ids.is_empty() {
                    writeln!(std::io::stdout().lock(), "no failed mail to retry")?;
                    return Ok(std::process::ExitCode::SUCCESS);
                }
                ids
            } else {
                ids.clone()
            };
            let ok = retry(
                &mut store,
                &ids,
                g.now(),
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            )?;
            Ok(super::exit(ok))
        }
    }
}
