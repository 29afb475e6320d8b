//! What the commands and the daemon run on, built once from the config and
//! the database: the working-time [`Policy`], and the [`Runtime`] (token
//! key, templates, analysis settings) from which step 2's, the
//! scheduler's and the sender's settings are borrowed.

use std::sync::Arc;

use crate::config::Config;
use crate::sla::{Calendar, SlaPolicy};
use crate::ticket::compose::{Composer, Sending};
use crate::ticket::limits::Limits;

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
        let key = store.token_key(config.configured_token_key()?.as_deref())?;
        let templates = crate::templates::Templates::load(config.support.templates_dir.as_deref())?;
        let analysis = config.analysis_settings(Some(key.clone()));
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
            rules: crate::ticket::decide::Rules {
                prefix: &cfg.support.ticket_prefix,
                consultants: &self.analysis.consultants,
                calendar: &cfg.calendar,
                policy: &cfg.sla.policy,
                reopen_days: cfg.sla.reopen_days,
                silence_days: cfg.followup.silence_days,
                missing_info_secs: u64::from(cfg.followup.missing_info_reminder_working_days)
                    * WORKING_DAY_SECS,
                consultant_language: cfg.consultants.language,
                sending: send.then(|| self.sending()),
                colleagues: cfg.colleagues,
                max_participants: cfg.limits.max_participants,
                deliverable: &deliverable,
            },
            first_number: cfg.support.first_number,
            max_message_bytes: cfg.limits.max_message_bytes,
            analysis_budget: cfg.limits.analysis_budget,
            stop: None,
        }
    }

    /// What queueing mail needs: templates, addresses, rate limits.
    pub fn sending(&self) -> Sending<'_> {
        let cfg = &self.config;
        Sending {
            composer: Composer {
                templates: &self.templates,
                support_address: &cfg.support.address,
                support_name: &cfg.support.name,
                prefix: &cfg.support.ticket_prefix,
                key: &self.key,
                calendar: &cfg.calendar,
                consultant_language: cfg.consultants.language,
                max_recipients: cfg.limits.max_recipients,
                deliverable: &deliverable,
            },
            escalation: &cfg.consultants.escalation,
            limits: self.limits(),
        }
    }

    /// Our own addresses (consultants, escalation, the support address): a
    /// server that refuses them is at fault, not the mail.
    pub fn internal_addresses(&self) -> Vec<String> {
        let c = &self.config.consultants;
        c.addresses
            .iter()
            .chain(&c.escalation)
            .chain(std::iter::once(&self.config.support.address))
            .map(|a| a.to_lowercase())
            .collect()
    }

    /// The hourly limits of automatic mail.
    pub fn limits(&self) -> Limits {
        let l = &self.config.limits;
        Limits {
            per_recipient_per_hour: l.auto_per_recipient_per_hour,
            per_domain_per_hour: l.auto_per_domain_per_hour,
            consultant_per_hour: l.consultant_mails_per_hour,
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
            desk: crate::scheduler::Desk {
                digest: cfg.consultants.digest,
                reports: &cfg.reports,
                policy: &cfg.sla.policy,
            },
        }
    }
}

/// Whether our mail can be sent to an address: the rules of the mail
/// library that builds and sends it (lettre), so that an address it would
/// refuse (`"x"@evil.example`) never joins a ticket or a mail's recipients.
pub fn deliverable(address: &str) -> bool {
    address.parse::<lettre::Address>().is_ok()
}

/// A working day is 8 working hours (design.md), whatever the opening
/// hours configured: day counts in config are multiples of it.
pub const WORKING_DAY_SECS: u64 = 8 * 3600;
