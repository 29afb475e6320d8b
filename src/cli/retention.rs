//! `supportd retention run [--dry-run]`: the `[retention]` rules now.

use std::io::Write;
use std::process::ExitCode;

use super::{Global, Outcome};
use crate::lang::en_counted;
use crate::store::Store;

/// Retention ([retention] in the config, off by default): purge bodies
/// that are past their time; the audit trail stays. The daemon runs it
/// once a day.
// The help text names config sections as [section]; not doc links.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Apply the rules now: raw messages of tickets closed more than
    /// closed-ticket-months ago, bodies of mail older than outbox-body-days,
    /// quarantined messages older than quarantine-days.
    Run {
        /// Only report what would go.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Applies (or, with `--dry-run`, counts) what the rules purge.
pub fn run(g: &Global, cmd: &Command) -> Outcome {
    let Command::Run { dry_run } = cmd;
    let (cfg, db) = g.config_and_db()?;
    let mut out = std::io::stdout().lock();
    if !cfg.retention.any() {
        writeln!(
            out,
            "retention is off: the config has no [retention] rules, so nothing goes"
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut store = Store::open(&db)?;
    let r = store.retention(&cfg.retention, g.now(), *dry_run)?;
    let verb = if *dry_run { "would purge" } else { "purged" };
    writeln!(out, "{}", report(&r, &cfg.retention, verb))?;
    Ok(ExitCode::SUCCESS)
}

/// One line per retention rule: what went (or would go).
pub fn report(
    r: &crate::store::RetentionReport,
    rules: &crate::config::Retention,
    verb: &str,
) -> String {
    let mut lines = Vec::new();
    if let Some(m) = rules.closed_ticket_months {
        lines.push(format!(
            "{verb} {} ({:.1} MB) of {} closed more than {} ago",
            en_counted(r.raw_messages, "raw message", "raw messages"),
            r.raw_bytes as f64 / 1e6,
            en_counted(r.tickets, "ticket", "tickets"),
            en_counted(u64::from(m), "month", "months")
        ));
    }
    if let Some(d) = rules.outbox_body_days {
        lines.push(format!(
            "{verb} {} older than {}",
            en_counted(r.outbox_bodies, "body of mail", "bodies of mail"),
            en_counted(u64::from(d), "day", "days")
        ));
    }
    if let Some(d) = rules.quarantine_days {
        lines.push(format!(
            "{verb} {} older than {}",
            en_counted(r.quarantined, "quarantined message", "quarantined messages"),
            en_counted(u64::from(d), "day", "days")
        ));
    }
    lines.join("\n")
}
