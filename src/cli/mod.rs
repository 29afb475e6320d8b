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

/// Everything step 2 needs, built once from the config and the database
/// (`import`, `quarantine replay`, and later the daemon).
pub struct Runtime {
    /// The config (built-in when there is no file).
    pub config: Config,
    /// The token key (configured, else the database's).
    pub key: Vec<u8>,
    /// Templates with the config's overrides.
    pub templates: crate::templates::Templates,
    /// Analysis settings.
    pub analysis: crate::mail::Settings,
}

impl Runtime {
    /// Loads templates and the token key for `config` and `store`.
    pub fn load(config: Config, store: &mut crate::store::Store) -> anyhow::Result<Runtime> {
        let configured = match &config.consultants.token_key {
            Some(source) => Some(source.load()?.expose().as_bytes().to_vec()),
            None => None,
        };
        let key = store.token_key(configured.as_deref())?;
        let templates = crate::templates::Templates::load(config.support.templates_dir.as_deref())?;
        let analysis = crate::mail::Settings::from_config(&config, Some(key.clone()));
        Ok(Runtime {
            config,
            key,
            templates,
            analysis,
        })
    }

    /// Step 2's settings; `send` queues outgoing mail.
    pub fn ingest(&self, send: bool) -> crate::ingest::Settings<'_> {
        let cfg = &self.config;
        crate::ingest::Settings {
            analysis: &self.analysis,
            calendar: &cfg.calendar,
            policy: &cfg.sla.policy,
            first_number: cfg.support.first_number,
            reopen_days: cfg.sla.reopen_days,
            sending: send.then(|| self.sending()),
            max_message_bytes: cfg.limits.max_message_bytes,
            silence_days: cfg.followup.silence_days,
            missing_info_secs: u64::from(cfg.followup.missing_info_reminder_working_days)
                * WORKING_DAY_SECS,
            stop: None,
        }
    }

    /// What queueing mail needs: templates, addresses, rate limits.
    pub fn sending(&self) -> crate::ingest::Sending<'_> {
        let cfg = &self.config;
        crate::ingest::Sending {
            composer: crate::outbox::Composer {
                templates: &self.templates,
                support_address: &cfg.support.address,
                support_name: &cfg.support.name,
                prefix: &cfg.support.ticket_prefix,
                key: &self.key,
                calendar: &cfg.calendar,
                consultant_language: cfg.consultants.language,
            },
            escalation: &cfg.consultants.escalation,
            per_recipient_per_hour: cfg.limits.auto_per_recipient_per_hour,
            per_domain_per_hour: cfg.limits.auto_per_domain_per_hour,
        }
    }

    /// The scheduler's settings.
    pub fn scheduler(&self) -> crate::scheduler::Settings<'_> {
        let cfg = &self.config;
        crate::scheduler::Settings {
            sending: self.sending(),
            consultants: &self.analysis.consultants,
            calendar: &cfg.calendar,
            attempt_gap_secs: u64::from(cfg.followup.attempt_gap_working_days) * WORKING_DAY_SECS,
            reopen_days: cfg.sla.reopen_days,
            stop: None,
        }
    }
}

/// A working day is 8 working hours (design.md), whatever the opening
/// hours configured: day counts in config are multiples of it.
pub const WORKING_DAY_SECS: u64 = 8 * 3600;

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
