//! Command implementations behind `src/main.rs`. Each takes its inputs and
//! writes to generic readers and writers, so tests drive them without a
//! process; `main` maps their results to exit codes.
//!
//! Exit codes (also in the README): 0 the result was printed; 1 bad input (a
//! bad value, or a batch with at least one bad line); 2 usage error (clap);
//! 78 (`EX_CONFIG`) the config file is missing or invalid.

pub mod inspect;
pub mod sla;
pub mod tickets;

use std::sync::Arc;

use crate::config::Config;
use crate::sla::{Calendar, SlaPolicy};

/// Exit status for a bad config, `EX_CONFIG` of sysexits(3): systemd units
/// can list it in `RestartPreventExitStatus=` since retrying will not help.
pub const EXIT_CONFIG: u8 = 78;
/// Exit status for bad input.
pub const EXIT_BAD_INPUT: u8 = 1;

/// The working-time rules a command runs on: the config's, or the contract's
/// built-in policy when there is no config file.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The business calendar.
    pub calendar: Arc<Calendar>,
    /// Response targets.
    pub sla: SlaPolicy,
    /// Whether these came from a config file (then `sla holidays` also lists
    /// its closed days).
    pub from_config: bool,
}

impl Policy {
    /// The contract's built-in policy.
    pub fn contract() -> Self {
        Policy {
            calendar: Arc::new(Calendar::contract()),
            sla: SlaPolicy::default(),
            from_config: false,
        }
    }

    /// The policy of a loaded config.
    pub fn from_config(cfg: &Config) -> Self {
        Policy {
            calendar: cfg.calendar.clone(),
            sla: cfg.sla.policy.clone(),
            from_config: true,
        }
    }
}
