//! Command implementations behind `src/main.rs`. Each takes its inputs and
//! writes to generic readers and writers, so tests drive them without a
//! process; `main` maps their results to exit codes.
//!
//! Exit codes (also in the README): 0 the result was printed; 1 bad input (a
//! bad value, or a batch with at least one bad line); 2 usage error (clap);
//! 78 (`EX_CONFIG`) the config file is missing or invalid.

pub mod check;
pub mod inspect;
pub mod outbox;
pub mod privacy;
pub mod quarantine;
pub mod sla;
pub mod tickets;

pub use crate::runtime::{Policy, Runtime};

/// Exit status for a bad config, `EX_CONFIG` of sysexits(3): systemd units
/// can list it in `RestartPreventExitStatus=` since retrying will not help.
pub const EXIT_CONFIG: u8 = 78;
/// Exit status for bad input.
pub const EXIT_BAD_INPUT: u8 = 1;

/// One line per retention rule: what went (or would go).
pub fn retention_report(
    r: &crate::store::RetentionReport,
    rules: &crate::config::Retention,
    verb: &str,
) -> String {
    let mut lines = Vec::new();
    if let Some(m) = rules.closed_ticket_months {
        lines.push(format!(
            "{verb} {} raw messages ({:.1} MB) of {} tickets closed more than {m} months ago",
            r.raw_messages,
            r.raw_bytes as f64 / 1e6,
            r.tickets
        ));
    }
    if let Some(d) = rules.outbox_body_days {
        lines.push(format!(
            "{verb} {} bodies of mail older than {d} days",
            r.outbox_bodies
        ));
    }
    if let Some(d) = rules.quarantine_days {
        lines.push(format!(
            "{verb} {} quarantined messages older than {d} days",
            r.quarantined
        ));
    }
    lines.join("\n")
}
