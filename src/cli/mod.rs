//! Command implementations behind `src/main.rs`. Each takes its inputs and
//! writes to generic readers and writers, so tests drive them without a
//! process; `main` maps their results to exit codes.
//!
//! Exit codes (also in the README): 0 the result was printed; 1 bad input (a
//! bad value, or a batch with at least one bad line); 2 usage error (clap);
//! 78 (`EX_CONFIG`) the config file is missing or invalid.

pub mod check;
pub mod db;
pub mod deliver;
pub mod import;
pub mod inspect;
pub mod metrics;
pub mod outbox;
pub mod privacy;
pub mod quarantine;
pub mod report;
pub mod retention;
pub mod run;
pub mod sla;
pub mod terminal;
pub mod tickets;

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};

use crate::config::{self, Config};
pub use crate::runtime::{Policy, Runtime};

/// The options every command takes (design.md "Fixed names").
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Config file. Commands that need no mailbox run on the contract's
    /// built-in policy when there is none.
    #[arg(long, global = true, value_name = "PATH", env = "SUPPORTD_CONFIG")]
    pub config: Option<PathBuf>,

    /// Run as if it were this instant (RFC 3339), for replays and tests; `run`
    /// accepts it only with `--once`.
    #[arg(long, global = true, value_name = "RFC3339", value_parser = crate::sla::parse_instant)]
    pub now: Option<DateTime<Utc>>,

    /// Database file, overriding `[store] path` of the config.
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

impl Global {
    /// The config (built-in when there is no file) and the database path
    /// (`--db`, else the config's).
    pub fn config_and_db(&self) -> Result<(Config, PathBuf), config::Error> {
        let cfg = Config::locate(self.config.as_deref())?.unwrap_or_default();
        let db = self.db.clone().unwrap_or_else(|| cfg.store.path.clone());
        Ok((cfg, db))
    }

    /// The working-time rules: the config's, else the contract's.
    pub fn policy(&self) -> Result<Policy, config::Error> {
        Ok(match Config::locate(self.config.as_deref())? {
            Some(cfg) => Policy::from_config(&cfg),
            None => Policy::contract(),
        })
    }

    /// `--now`, else the clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }
}

/// A failure with the exit status it maps to.
#[derive(Debug)]
pub struct Failure {
    /// The exit status.
    pub code: u8,
    /// What went wrong.
    pub error: anyhow::Error,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        let error = e.into();
        let code = if error.downcast_ref::<config::Error>().is_some() {
            EXIT_CONFIG
        } else {
            EXIT_BAD_INPUT
        };
        Failure { code, error }
    }
}

/// What a command returns: its exit status, or why it failed.
pub type Outcome = Result<ExitCode, Failure>;

/// Exit status 0 when `ok`, else [`EXIT_BAD_INPUT`].
pub fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_BAD_INPUT)
    }
}

/// Exit status for a bad config, `EX_CONFIG` of sysexits(3): systemd units
/// can list it in `RestartPreventExitStatus=` since retrying will not help.
pub const EXIT_CONFIG: u8 = 78;
/// Exit status for bad input.
pub const EXIT_BAD_INPUT: u8 = 1;
