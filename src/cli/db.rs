//! `supportd db backup PATH` and `supportd db check`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::{Global, Outcome, exit};
use crate::lang::en_counted;
use crate::store::Store;

/// The database: a consistent backup of it (safe while the daemon runs),
/// or SQLite's integrity check.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Copy the database to PATH with SQLite's online backup: a consistent
    /// snapshot while the daemon goes on working; the copy is checked
    /// before it takes the name PATH. Example, from cron or a timer:
    ///   supportd db backup /var/backups/supportd/supportd-$(date +%F).db
    #[command(verbatim_doc_comment)]
    Backup {
        /// Where to write the copy (replaced if it exists).
        #[arg(value_name = "PATH")]
        path: PathBuf,
    },
    /// Run SQLite's integrity check on the database; exit 1 with the
    /// problems found, 0 when it is sound.
    Check,
}

/// Backs up or checks the database.
pub fn run(g: &Global, cmd: &Command) -> Outcome {
    let (_, db) = g.config_and_db()?;
    let store = Store::open_read_only(&db)?;
    let mut out = std::io::stdout().lock();
    match cmd {
        Command::Backup { path } => {
            let t = std::time::Instant::now();
            let b = store.backup_to(path)?;
            writeln!(
                out,
                "{}: {}, {:.1} MB, checked, in {:.1} s",
                b.path.display(),
                en_counted(b.tickets, "ticket", "tickets"),
                b.bytes as f64 / 1e6,
                t.elapsed().as_secs_f64()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => {
            let problems = store.integrity_check()?;
            if problems.is_empty() {
                writeln!(out, "{}: ok", db.display())?;
            }
            for p in &problems {
                writeln!(out, "{}: {p}", db.display())?;
            }
            Ok(exit(problems.is_empty()))
        }
    }
}
