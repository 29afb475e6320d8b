//! `supportd run [--once]`: the daemon, or one pass of each worker.

use std::io::Write;
use std::process::ExitCode;

use super::{Failure, Global, Outcome};

/// Run the daemon: read the mailbox ([source]), apply each message to its
/// ticket, and send what the tickets call for ([transport]), until SIGTERM
/// or SIGINT. Logs go to stderr (SUPPORTD_LOG=debug for more).
///
/// On the built-in config it reads the Maildir var/inbox (write a mail into
/// var/inbox/tmp/, then move it into var/inbox/new/) and writes outgoing
/// mail as .eml files into var/outbox/; no mail server is needed.
// The help text names config sections as [section]; not doc links.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Debug, clap::Args)]
pub struct Args {
    /// One pass of each worker (fetch, apply, send), then exit; with the
    /// global --now, as if it were that instant.
    #[arg(long)]
    pub once: bool,
    /// Create a new, empty database even though an earlier one evidently
    /// existed at the configured path (its marker `<db>.id`, mail in the
    /// outbox folder, messages in the Maildir's cur/): ticket numbers start
    /// at 1 again. Without it, such a start is refused.
    #[arg(long)]
    pub new_database: bool,
}

/// Runs the daemon, or one pass with `--once`.
pub fn run(g: &Global, args: &Args) -> Outcome {
    if g.now.is_some() && !args.once {
        return Err(Failure {
            code: 2,
            error: anyhow::anyhow!(
                "--now works with `run --once` only (the daemon runs on the clock)"
            ),
        });
    }
    let (cfg, db) = g.config_and_db()?;
    let daemon = crate::app::Daemon::open(cfg, db, args.new_database)?;
    if args.once {
        let summary = daemon.once(g.now)?;
        writeln!(std::io::stdout().lock(), "{summary}")?;
    } else {
        daemon.run()?;
    }
    Ok(ExitCode::SUCCESS)
}
