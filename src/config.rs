//! Configuration: one TOML file, parsed in two stages.
//!
//! 1. [`RawConfig`] mirrors the file (serde, kebab-case keys, unknown keys
//!    rejected, values that need checking kept with their byte span).
//! 2. [`Config`] is what the rest of the program receives: addresses parsed,
//!    the time zone resolved, the calendar and SLA policy built, relative paths
//!    resolved against the config file's folder. Validation collects every
//!    problem, each with `file:line:column`, instead of stopping at the first.
//!
//! Secrets (IMAP/SMTP passwords, the token key) never need to live in the file:
//! a [`SecretSource`] names a file (e.g. a systemd credential) or an
//! environment variable, and is read only when the secret is needed, so
//! commands that need no mailbox never fail on an unreadable credential.
//!
//! Where the file is: `--config PATH`, else `$SUPPORTD_CONFIG`, else
//! [`DEFAULT_PATH`] if it exists; commands that need no mailbox run on the
//! built-in contract policy when there is none. Section and key names are fixed
//! by design.md; `config.example.toml` documents every key and is parsed in a
//! test.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

use crate::lang::Lang;
use crate::sla::{Calendar, CalendarSpec, Hours, SlaPolicy};

/// Where the config lives when neither `--config` nor `SUPPORTD_CONFIG` says.
pub const DEFAULT_PATH: &str = "/etc/supportd/config.toml";

/// Errors of loading a config.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read config file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or has a key or type we do not know.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column (characters).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The file parsed but some values are wrong; one [`Problem`] each.
    #[error("{}", render_problems(path, problems))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        problems: Vec<Problem>,
    },
    /// A secret's file could not be read.
    #[error("cannot read {key} from file {}", path.display())]
    SecretFile {
        /// The config key that names the file.
        key: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A secret's environment variable is not set.
    #[error("cannot read {key}: environment variable {var} is not set (or not UTF-8)")]
    SecretEnv {
        /// The config key that names the variable.
        key: String,
        /// The variable.
        var: String,
    },
}

/// One thing wrong with a config value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line, 0 when the problem has no place in the file.
    pub line: usize,
    /// 1-based column, 0 when the problem has no place in the file.
    pub column: usize,
    /// The key, e.g. `calendar.hours`.
    pub key: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

fn render_problems(path: &Path, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| {
            if p.line == 0 {
                format!("{}: {}: {}", path.display(), p.key, p.message)
            } else {
                format!(
                    "{}:{}:{}: {}: {}",
                    path.display(),
                    p.line,
                    p.column,
                    p.key,
                    p.message
                )
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

// ---- stage 1: the file's shape ----------------------------------------------

/// The config file as written. Every section is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawConfig {
    /// `[support]`: the mailbox and how tickets are named.
    #[serde(default)]
    pub support: RawSupport,
    /// `[consultants]`: who may act on tickets and how they are recognised.
    #[serde(default)]
    pub consultants: RawConsultants,
    /// `[store]`: the SQLite database.
    #[serde(default)]
    pub store: RawStore,
    /// `[source]`: where mail comes from.
    #[serde(default)]
    pub source: RawSource,
    /// `[transport]`: where mail goes.
    #[serde(default)]
    pub transport: RawTransport,
    /// `[calendar]`: working time.
    #[serde(default)]
    pub calendar: RawCalendar,
    /// `[sla]`: response targets.
    #[serde(default)]
    pub sla: RawSla,
    /// `[followup]`: customer-silence chain.
    #[serde(default)]
    pub followup: RawFollowup,
    /// `[limits]`: sizes and rates.
    #[serde(default)]
    pub limits: RawLimits,
    /// `[severity]`: rules that suggest a new ticket's severity.
    #[serde(default)]
    pub severity: RawSeverity,
    /// `[metrics]`: the Prometheus endpoint.
    #[serde(default)]
    pub metrics: RawMetrics,
    /// `[retention]`: how long bodies are kept.
    #[serde(default)]
    pub retention: RawRetention,
    /// `[tickets]`: who joins a ticket.
    #[serde(default)]
    pub tickets: RawTickets,
    /// `[reports]`: SLA reports sent by mail each month.
    #[serde(default)]
    pub reports: RawReports,
}

/// `[reports]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawReports {
    /// Who gets the previous month's report (all customers).
    pub monthly_to: Option<Vec<Spanned<String>>>,
    /// `[[reports.customer]]`: customers who get their own report.
    pub customer: Option<Vec<RawCustomerReport>>,
}

/// One `[[reports.customer]]` as written.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawCustomerReport {
    /// The customer's domain.
    pub domain: Spanned<String>,
    /// Who at the customer gets it.
    pub to: Vec<Spanned<String>>,
    /// `pl` or `en`.
    pub language: Option<Spanned<String>>,
}

/// `[tickets]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawTickets {
    /// `same-domain` or `none`.
    pub colleagues: Option<Spanned<String>>,
}

/// `[metrics]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawMetrics {
    /// Loopback address:port of the Prometheus endpoint; none: no endpoint.
    pub listen: Option<Spanned<String>>,
}

/// `[retention]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawRetention {
    /// Months after closing before a ticket's raw messages go.
    pub closed_ticket_months: Option<Spanned<i64>>,
    /// Days before the bodies of sent (or failed, held) mail go.
    pub outbox_body_days: Option<Spanned<i64>>,
    /// Days before quarantined messages go.
    pub quarantine_days: Option<Spanned<i64>>,
}

/// `[severity]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawSeverity {
    /// Ordered rules, first match wins; when given they replace the shipped ones.
    pub rules: Option<Vec<RawSeverityRule>>,
}

/// One `[[severity.rules]]` entry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawSeverityRule {
    /// A regular expression (Rust `regex` syntax) matched on subject and body.
    pub pattern: Spanned<String>,
    /// The severity it suggests, 1-5.
    pub severity: Spanned<i64>,
}

/// `[support]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawSupport {
    /// The mailbox customers write to.
    pub address: Option<Spanned<String>>,
    /// Display name on outgoing mail.
    pub name: Option<String>,
    /// Ticket reference prefix, `[A-Z]{2,8}`.
    pub ticket_prefix: Option<Spanned<String>>,
    /// Number of the first ticket.
    pub first_number: Option<Spanned<i64>>,
    /// Language for customers whose language is unknown: `pl` or `en`.
    pub default_language: Option<Spanned<String>>,
    /// Contact-form senders; their mail's requester is its Reply-To.
    pub form_senders: Option<Vec<Spanned<String>>>,
    /// Folder of template overrides, `<dir>/<lang>/<name>.txt`.
    pub templates_dir: Option<PathBuf>,
}

/// `[consultants]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawConsultants {
    /// Consultant addresses.
    pub addresses: Option<Vec<Spanned<String>>>,
    /// Sender check: `token`, `dkim` or `either`.
    pub auth: Option<Spanned<String>>,
    /// `Authentication-Results` server ids we trust.
    pub trusted_authserv_ids: Option<Vec<String>>,
    /// Escalation recipients; empty means all consultants.
    pub escalation: Option<Vec<Spanned<String>>>,
    /// Language of consultant mail.
    pub language: Option<Spanned<String>>,
    /// The HMAC key for consultant tokens, inline (prefer a file or variable).
    pub token_key: Option<String>,
    /// File holding the token key.
    pub token_key_file: Option<PathBuf>,
    /// Environment variable holding the token key.
    pub token_key_env: Option<String>,
    /// A morning digest for each consultant (default true).
    pub digest: Option<bool>,
}

/// `[store]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawStore {
    /// Database file.
    pub path: Option<PathBuf>,
}

/// `[source]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawSource {
    /// `maildir` or `imap`.
    pub kind: Option<Spanned<String>>,
    /// Maildir folder (kind = maildir).
    pub maildir: Option<PathBuf>,
    /// IMAP server host.
    pub host: Option<Spanned<String>>,
    /// IMAP server port.
    pub port: Option<Spanned<i64>>,
    /// `implicit`, `starttls` or `none`.
    pub tls: Option<Spanned<String>>,
    /// Login name.
    pub user: Option<String>,
    /// Password, inline (prefer a file or variable).
    pub password: Option<String>,
    /// File holding the password.
    pub password_file: Option<PathBuf>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// CA certificate file to trust instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// Folder to read.
    pub folder: Option<String>,
    /// Folder to move processed mail to.
    pub processed_folder: Option<String>,
    /// Poll interval when the server has no IDLE.
    pub poll_secs: Option<Spanned<i64>>,
    /// Use IDLE when the server offers it.
    pub idle: Option<bool>,
    /// Seconds any one IMAP command may take.
    pub timeout_secs: Option<Spanned<i64>>,
    /// Messages fetched per IMAP round trip.
    pub fetch_batch: Option<Spanned<i64>>,
}

/// `[transport]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawTransport {
    /// `dir` or `smtp`.
    pub kind: Option<Spanned<String>>,
    /// Folder for .eml files (kind = dir).
    pub dir: Option<PathBuf>,
    /// SMTP server host.
    pub host: Option<Spanned<String>>,
    /// SMTP server port.
    pub port: Option<Spanned<i64>>,
    /// `implicit`, `starttls` or `none`.
    pub tls: Option<Spanned<String>>,
    /// AUTH user; no AUTH when absent.
    pub user: Option<String>,
    /// Password, inline (prefer a file or variable).
    pub password: Option<String>,
    /// File holding the password.
    pub password_file: Option<PathBuf>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// CA certificate file to trust instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// Mails sent at once (SMTP connections).
    pub concurrency: Option<Spanned<i64>>,
    /// Days a temporarily refused mail is retried before it fails.
    pub give_up_days: Option<Spanned<i64>>,
    /// Seconds any one SMTP exchange may take.
    pub timeout_secs: Option<Spanned<i64>>,
    /// Seconds before the first retry of a temporarily refused mail.
    pub retry_initial_secs: Option<Spanned<i64>>,
    /// Longest wait between retries, seconds.
    pub retry_max_secs: Option<Spanned<i64>>,
}

/// `[calendar]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawCalendar {
    /// IANA zone name.
    pub timezone: Option<Spanned<String>>,
    /// `HH:MM-HH:MM`.
    pub hours: Option<Spanned<String>>,
    /// Working weekdays: `mon` … `sun`.
    pub weekdays: Option<Spanned<Vec<Spanned<String>>>>,
    /// Extra closed dates, `YYYY-MM-DD` (quoted or TOML dates).
    pub closed_days: Option<Vec<Spanned<toml::Value>>>,
    /// Dates with their own hours.
    pub special_hours: Option<BTreeMap<String, Spanned<String>>>,
}

/// `[sla]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawSla {
    /// Severity 1..5 targets in working hours.
    pub target_hours: Option<Spanned<Vec<i64>>>,
    /// Reminder fractions.
    pub reminders: Option<Spanned<Vec<f64>>>,
    /// Days after closing in which a customer message reopens a ticket.
    pub reopen_days: Option<Spanned<i64>>,
}

/// `[followup]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawFollowup {
    /// Calendar days of customer silence before follow-up 1.
    pub silence_days: Option<Spanned<i64>>,
    /// Working days between follow-ups, and before closing.
    pub attempt_gap_working_days: Option<Spanned<i64>>,
    /// Working days before the missing-information reminder.
    pub missing_info_reminder_working_days: Option<Spanned<i64>>,
}

/// `[limits]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawLimits {
    /// Largest accepted message, MB.
    pub max_message_mb: Option<Spanned<i64>>,
    /// Automatic mails per recipient per hour.
    pub auto_per_recipient_per_hour: Option<Spanned<i64>>,
    /// Automatic mails per recipient domain per hour.
    pub auto_per_domain_per_hour: Option<Spanned<i64>>,
    /// Seconds one message's analysis may take.
    pub analysis_budget_secs: Option<Spanned<i64>>,
    /// People on one ticket besides the consultants.
    pub max_participants: Option<Spanned<i64>>,
    /// Recipients of one mail.
    pub max_recipients: Option<Spanned<i64>>,
    /// Mails to one consultant per hour caused by incoming mail.
    pub consultant_mails_per_hour: Option<Spanned<i64>>,
}

// ---- stage 2: validated ------------------------------------------------------

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from; `None` for the built-in default.
    pub path: Option<PathBuf>,
    /// `[support]`.
    pub support: Support,
    /// `[consultants]`.
    pub consultants: Consultants,
    /// `[store]`.
    pub store: Store,
    /// `[source]`.
    pub source: Source,
    /// `[transport]`.
    pub transport: Transport,
    /// `[transport]`: how the outbox sends, whatever the transport.
    pub sending: Sending,
    /// `[source]`: timeouts and batches of the IMAP source.
    pub source_limits: SourceLimits,
    /// `[calendar]`, built.
    pub calendar: std::sync::Arc<Calendar>,
    /// `[sla]`.
    pub sla: Sla,
    /// `[followup]`.
    pub followup: Followup,
    /// `[limits]`.
    pub limits: Limits,
    /// `[severity]`: the suggestion rules.
    pub severity_rules: crate::mail::severity::SeverityRules,
    /// `[metrics] listen`: where the Prometheus endpoint listens, if at all.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `[retention]`.
    pub retention: Retention,
    /// Who joins a ticket without being put on it (`[tickets] colleagues`).
    pub colleagues: crate::ticket::Colleagues,
    /// `[reports]`.
    pub reports: Reports,
}

/// How long what is kept; `None`: forever (the default for each).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Months after closing before a ticket's raw messages are purged.
    pub closed_ticket_months: Option<u32>,
    /// Days before the bodies of sent, failed or held mail are purged.
    pub outbox_body_days: Option<u32>,
    /// Days before quarantined messages are dropped.
    pub quarantine_days: Option<u32>,
}

impl Retention {
    /// Whether any rule is on.
    pub fn any(&self) -> bool {
        self.closed_ticket_months.is_some()
            || self.outbox_body_days.is_some()
            || self.quarantine_days.is_some()
    }
}

/// The support mailbox and ticket naming.
#[derive(Debug, Clone)]
pub struct Support {
    /// The address customers write to (lower-cased).
    pub address: String,
    /// Display name on outgoing mail.
    pub name: String,
    /// Ticket reference prefix.
    pub ticket_prefix: String,
    /// Number of the first ticket.
    pub first_number: u64,
    /// Language when a customer's is unknown.
    pub default_language: Lang,
    /// Contact-form senders (lower-cased).
    pub form_senders: Vec<String>,
    /// Folder of template overrides; `None` or a missing folder means none.
    pub templates_dir: Option<PathBuf>,
}

impl Support {
    /// The domain of the support address (for Message-IDs and bounces).
    pub fn domain(&self) -> &str {
        self.address.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

pub use crate::mail::ConsultantAuth;

/// Consultants and how they are recognised.
#[derive(Debug, Clone)]
pub struct Consultants {
    /// Consultant addresses (lower-cased).
    pub addresses: Vec<String>,
    /// Sender check.
    pub auth: ConsultantAuth,
    /// Trusted `Authentication-Results` server ids.
    pub trusted_authserv_ids: Vec<String>,
    /// Escalation recipients (empty: all consultants).
    pub escalation: Vec<String>,
    /// Language of consultant mail.
    pub language: Lang,
    /// Where the token key comes from; `None`: generated into the database.
    pub token_key: Option<SecretSource>,
    /// A morning digest for each consultant, on working days at opening.
    pub digest: bool,
}

/// SLA reports sent by mail: the previous month's, on the first working
/// day of each month at opening.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reports {
    /// Who gets the report of all customers.
    pub monthly_to: Vec<String>,
    /// Customers who get their own.
    pub customers: Vec<CustomerReport>,
}

/// One customer's own monthly report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerReport {
    /// The customer's domain (lower-cased).
    pub domain: String,
    /// Its recipients.
    pub to: Vec<String>,
    /// Its language.
    pub language: Lang,
}

/// The database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    /// SQLite file, absolute or relative to the working directory.
    pub path: PathBuf,
}

/// TLS mode of a mail connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS.
    Starttls,
    /// No TLS at all: only when the config says so.
    None,
}

/// Connection details shared by IMAP and SMTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS mode.
    pub tls: Tls,
    /// Login; SMTP without it sends no AUTH.
    pub user: Option<String>,
    /// Password source.
    pub password: Option<SecretSource>,
    /// CA file to trust instead of the system roots.
    pub ca_file: Option<PathBuf>,
}

/// Where mail comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A local Maildir (the embedded default).
    Maildir {
        /// The Maildir folder.
        path: PathBuf,
    },
    /// An IMAP mailbox.
    Imap {
        /// The server.
        server: Server,
        /// Folder to read.
        folder: String,
        /// Folder processed mail is moved to.
        processed_folder: String,
        /// Poll interval when IDLE is not used, seconds.
        poll_secs: u64,
        /// Use IDLE when offered.
        idle: bool,
    },
}

/// Where mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// .eml files in a folder (the embedded default).
    Dir {
        /// The folder.
        path: PathBuf,
    },
    /// An SMTP server.
    Smtp {
        /// The server.
        server: Server,
    },
}

/// How the outbox worker sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sending {
    /// Mails in flight at once.
    pub concurrency: usize,
    /// A mail refused temporarily for this long fails for good.
    pub give_up_after: std::time::Duration,
    /// Limit of one SMTP exchange.
    pub timeout: std::time::Duration,
    /// First retry delay; it doubles up to `retry_max`.
    pub retry_initial: std::time::Duration,
    /// Longest retry delay.
    pub retry_max: std::time::Duration,
}

impl Default for Sending {
    fn default() -> Self {
        Sending {
            concurrency: 1,
            give_up_after: std::time::Duration::from_secs(5 * 86_400),
            timeout: std::time::Duration::from_secs(60),
            retry_initial: std::time::Duration::from_secs(60),
            retry_max: std::time::Duration::from_secs(30 * 60),
        }
    }
}

/// Timeouts and batch sizes of the IMAP source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLimits {
    /// Limit of one IMAP command (IDLE excepted).
    pub timeout: std::time::Duration,
    /// Messages fetched per round trip.
    pub fetch_batch: usize,
}

impl Default for SourceLimits {
    fn default() -> Self {
        SourceLimits {
            timeout: std::time::Duration::from_secs(60),
            fetch_batch: 200,
        }
    }
}

/// SLA settings.
#[derive(Debug, Clone)]
pub struct Sla {
    /// Targets and reminder fractions.
    pub policy: SlaPolicy,
    /// Calendar days in which a customer message reopens a closed ticket.
    pub reopen_days: u32,
}

/// Customer-silence chain.
#[derive(Debug, Clone)]
pub struct Followup {
    /// Calendar days of silence before follow-up 1.
    pub silence_days: u32,
    /// Working days between attempts.
    pub attempt_gap_working_days: u32,
    /// Working days before the missing-information reminder.
    pub missing_info_reminder_working_days: u32,
}

/// Sizes and rates.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest accepted message in bytes.
    pub max_message_bytes: u64,
    /// Automatic mails per recipient per hour.
    pub auto_per_recipient_per_hour: u32,
    /// Automatic mails per recipient domain per hour.
    pub auto_per_domain_per_hour: u32,
    /// What one message's analysis may take; a message that takes longer is
    /// quarantined with the reason.
    pub analysis_budget: std::time::Duration,
    /// People on one ticket besides the consultants (requester included).
    pub max_participants: usize,
    /// Recipients of one mail.
    pub max_recipients: usize,
    /// Automatic mails to one consultant per hour caused by incoming mail
    /// (notifications, relays, command errors); further ones are held and
    /// the next one that goes out says how many.
    pub consultant_mails_per_hour: u32,
}

/// A secret string. Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where a secret comes from; read with [`SecretSource::load`] when needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Written in the config file.
    Inline(Secret),
    /// A file (e.g. a systemd credential); trailing newlines are dropped.
    File {
        /// Config key, for messages.
        key: String,
        /// The file, resolved.
        path: PathBuf,
    },
    /// An environment variable.
    Env {
        /// Config key, for messages.
        key: String,
        /// The variable.
        var: String,
    },
}

impl SecretSource {
    /// Reads the secret.
    pub fn load(&self) -> Result<Secret, Error> {
        match self {
            SecretSource::Inline(s) => Ok(s.clone()),
            SecretSource::File { key, path } => std::fs::read_to_string(path)
                .map(|s| Secret(s.trim_end_matches(['\r', '\n']).to_string()))
                .map_err(|source| Error::SecretFile {
                    key: key.clone(),
                    path: path.clone(),
                    source,
                }),
            SecretSource::Env { key, var } => {
                std::env::var(var)
                    .map(Secret)
                    .map_err(|_| Error::SecretEnv {
                        key: key.clone(),
                        var: var.clone(),
                    })
            }
        }
    }
}

/// Default SMTP/IMAP poll interval, seconds (design.md: 60).
pub const DEFAULT_POLL_SECS: u64 = 60;

impl Default for Config {
    /// The built-in configuration: the contract's policy, Maildir in and
    /// files out under `var/` of the working directory.
    fn default() -> Self {
        Config::from_raw(RawConfig::default(), "", Path::new("."), None)
            .expect("the built-in configuration is valid")
    }
}

impl Config {
    /// The token key from `[consultants] token-key*`, if configured (else
    /// the store's is used).
    pub fn configured_token_key(&self) -> anyhow::Result<Option<Vec<u8>>> {
        match &self.consultants.token_key {
            Some(source) => Ok(Some(source.load()?.expose().as_bytes().to_vec())),
            None => Ok(None),
        }
    }

    /// What the message analysis needs to know of this config (the token
    /// key comes from the store or a credential).
    pub fn analysis_settings(&self, token_key: Option<Vec<u8>>) -> crate::mail::Settings {
        let mut s = crate::mail::Settings::new(
            &self.support.address,
            &self.support.ticket_prefix,
            &self.consultants.addresses,
        );
        s.form_senders = self.support.form_senders.clone();
        s.auth = self.consultants.auth;
        s.trusted_authserv_ids = self.consultants.trusted_authserv_ids.clone();
        s.token_key = token_key;
        s.zone = self.calendar.timezone().clone();
        s.default_language = self.support.default_language;
        s.severity_rules = self.severity_rules.clone();
        s
    }

    /// Reads and validates the file at `path`; relative paths in it are
    /// resolved against its folder.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Config::from_toml(&text, path, base)
    }

    /// Validates config text; `path` labels messages, `base` resolves
    /// relative paths.
    ///
    /// ```
    /// use std::path::Path;
    /// use supportd::config::Config;
    ///
    /// let err = Config::from_toml("[calendar]\nhours = \"18:00-09:00\"\n", Path::new("c.toml"), Path::new("."))
    ///     .unwrap_err();
    /// assert!(err.to_string().starts_with("c.toml:2:9: calendar.hours: "));
    /// ```
    pub fn from_toml(text: &str, path: &Path, base: &Path) -> Result<Config, Error> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            Error::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        Config::from_raw(raw, text, base, Some(path))
    }

    /// Finds the config the CLI should use: `explicit` (from `--config` or
    /// `SUPPORTD_CONFIG`) must exist; otherwise [`DEFAULT_PATH`] is used if it
    /// exists, and `Ok(None)` means "no config: use the built-in policy".
    pub fn locate(explicit: Option<&Path>) -> Result<Option<Config>, Error> {
        match explicit {
            Some(p) => Config::load(p).map(Some),
            None if Path::new(DEFAULT_PATH).exists() => {
                Config::load(Path::new(DEFAULT_PATH)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn from_raw(
        mut raw: RawConfig,
        text: &str,
        base: &Path,
        path: Option<&Path>,
    ) -> Result<Config, Error> {
        let mut v = Validator {
            text,
            base,
            problems: Vec::new(),
        };
        let support = v.support(raw.support);
        let consultants = v.consultants(raw.consultants);
        let store = Store {
            path: v.path(raw.store.path.as_deref(), "var/supportd.db"),
        };
        let sending = v.sending(&mut raw.transport);
        let source_limits = v.source_limits(&mut raw.source);
        let source = v.source(raw.source);
        let transport = v.transport(raw.transport);
        let calendar = v.calendar(raw.calendar);
        let sla = v.sla(raw.sla);
        let followup = v.followup(raw.followup);
        let limits = v.limits(raw.limits);
        let severity_rules = v.severity_rules(raw.severity);
        let metrics_listen = raw.metrics.listen.and_then(|l| v.metrics_listen(l));
        let retention = v.retention(raw.retention);
        let colleagues = v.colleagues(raw.tickets.colleagues);
        let reports = v.reports(raw.reports);
        if !v.problems.is_empty() {
            return Err(Error::Invalid {
                path: path.map_or_else(|| PathBuf::from("<built-in>"), Path::to_path_buf),
                problems: v.problems,
            });
        }
        Ok(Config {
            reports,
            colleagues,
            metrics_listen,
            retention,
            path: path.map(Path::to_path_buf),
            support,
            consultants,
            store,
            source,
            transport,
            sending,
            source_limits,
            calendar: std::sync::Arc::new(calendar),
            sla,
            followup,
            limits,
            severity_rules,
        })
    }
}

/// Collects problems while turning raw values into validated ones.
struct Validator<'a> {
    text: &'a str,
    base: &'a Path,
    problems: Vec<Problem>,
}

impl Validator<'_> {
    /// `[transport]`'s sending knobs; unset keys take the defaults of
    /// [`Sending`].
    fn sending(&mut self, t: &mut RawTransport) -> Sending {
        let d = Sending::default();
        Sending {
            concurrency: self.count(
                t.concurrency.take(),
                "transport.concurrency",
                d.concurrency as u32,
                1,
            ) as usize,
            give_up_after: self.duration(
                t.give_up_days.take(),
                "transport.give-up-days",
                d.give_up_after,
                86_400,
            ),
            timeout: self.duration(
                t.timeout_secs.take(),
                "transport.timeout-secs",
                d.timeout,
                1,
            ),
            retry_initial: self.duration(
                t.retry_initial_secs.take(),
                "transport.retry-initial-secs",
                d.retry_initial,
                1,
            ),
            retry_max: self.duration(
                t.retry_max_secs.take(),
                "transport.retry-max-secs",
                d.retry_max,
                1,
            ),
        }
    }

    /// `[source]`'s limits; unset keys take the defaults of
    /// [`SourceLimits`].
    fn source_limits(&mut self, s: &mut RawSource) -> SourceLimits {
        let d = SourceLimits::default();
        SourceLimits {
            timeout: self.duration(s.timeout_secs.take(), "source.timeout-secs", d.timeout, 1),
            fetch_batch: self.count(
                s.fetch_batch.take(),
                "source.fetch-batch",
                d.fetch_batch as u32,
                1,
            ) as usize,
        }
    }

    /// `[followup]`.
    fn followup(&mut self, f: RawFollowup) -> Followup {
        Followup {
            silence_days: self.count(f.silence_days, "followup.silence-days", 14, 1),
            attempt_gap_working_days: self.count(
                f.attempt_gap_working_days,
                "followup.attempt-gap-working-days",
                3,
                1,
            ),
            missing_info_reminder_working_days: self.count(
                f.missing_info_reminder_working_days,
                "followup.missing-info-reminder-working-days",
                2,
                1,
            ),
        }
    }

    /// `[limits]`.
    fn limits(&mut self, l: RawLimits) -> Limits {
        Limits {
            max_message_bytes: u64::from(self.count(
                l.max_message_mb,
                "limits.max-message-mb",
                25,
                1,
            )) * 1024
                * 1024,
            auto_per_recipient_per_hour: self.count(
                l.auto_per_recipient_per_hour,
                "limits.auto-per-recipient-per-hour",
                5,
                1,
            ),
            auto_per_domain_per_hour: self.count(
                l.auto_per_domain_per_hour,
                "limits.auto-per-domain-per-hour",
                50,
                1,
            ),
            analysis_budget: self.duration(
                l.analysis_budget_secs,
                "limits.analysis-budget-secs",
                std::time::Duration::from_secs(10),
                1,
            ),
            max_participants: self.count(l.max_participants, "limits.max-participants", 20, 1)
                as usize,
            max_recipients: self.count(l.max_recipients, "limits.max-recipients", 20, 1) as usize,
            consultant_mails_per_hour: self.count(
                l.consultant_mails_per_hour,
                "limits.consultant-mails-per-hour",
                30,
                1,
            ),
        }
    }

    /// `[metrics] listen`: loopback addresses only.
    fn metrics_listen(&mut self, l: Spanned<String>) -> Option<std::net::SocketAddr> {
        let span = l.span();
        match l.get_ref().parse::<std::net::SocketAddr>() {
            Ok(a) if a.ip().is_loopback() => Some(a),
            Ok(a) => {
                self.problem(
                    Some(span),
                    "metrics.listen",
                    format!(
                        "{a} is not a loopback address; the endpoint has no authentication, so it listens on 127.0.0.1 or [::1] only (put a reverse proxy in front to publish it)"
                    ),
                );
                None
            }
            Err(_) => {
                self.problem(
                    Some(span),
                    "metrics.listen",
                    format!(
                        "{:?} is not an address:port; write it as \"127.0.0.1:9187\"",
                        l.get_ref()
                    ),
                );
                None
            }
        }
    }

    /// `[tickets] colleagues`.
    fn colleagues(&mut self, value: Option<Spanned<String>>) -> crate::ticket::Colleagues {
        use crate::ticket::Colleagues;
        let Some(v) = value else {
            return Colleagues::SameDomain;
        };
        match v.get_ref().as_str() {
            "same-domain" => Colleagues::SameDomain,
            "none" => Colleagues::None,
            other => {
                self.problem(
                    Some(v.span()),
                    "tickets.colleagues",
                    format!("{other:?} is not \"same-domain\" or \"none\""),
                );
                Colleagues::SameDomain
            }
        }
    }

    /// `[retention]`: each rule off unless set.
    fn retention(&mut self, r: RawRetention) -> Retention {
        let mut optional =
            |value: Option<Spanned<i64>>, key: &str| value.map(|n| self.count(Some(n), key, 1, 1));
        Retention {
            closed_ticket_months: optional(
                r.closed_ticket_months,
                "retention.closed-ticket-months",
            ),
            outbox_body_days: optional(r.outbox_body_days, "retention.outbox-body-days"),
            quarantine_days: optional(r.quarantine_days, "retention.quarantine-days"),
        }
    }

    fn problem(&mut self, span: Option<Range<usize>>, key: &str, message: impl Into<String>) {
        let (line, column) = span.map_or((0, 0), |s| line_col(self.text, s.start));
        self.problems.push(Problem {
            line,
            column,
            key: key.to_string(),
            message: message.into(),
        });
    }

    fn path(&self, p: Option<&Path>, default: &str) -> PathBuf {
        let p = p.unwrap_or(Path::new(default));
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    fn address(&mut self, value: &Spanned<String>, key: &str) -> String {
        let text = value.get_ref().trim();
        match lettre::Address::from_str(text) {
            Ok(a) => a.to_string().to_ascii_lowercase(),
            Err(e) => {
                self.problem(
                    Some(value.span()),
                    key,
                    format!("{text:?} is not an email address ({e}); write it as name@example.com"),
                );
                String::new()
            }
        }
    }

    fn addresses(&mut self, values: Option<Vec<Spanned<String>>>, key: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for value in values.unwrap_or_default() {
            let a = self.address(&value, key);
            if !a.is_empty() && !out.contains(&a) {
                out.push(a);
            }
        }
        out
    }

    fn lang(&mut self, value: Option<Spanned<String>>, key: &str) -> Lang {
        match value {
            None => Lang::Pl,
            Some(v) => v.get_ref().parse().unwrap_or_else(|e: String| {
                self.problem(Some(v.span()), key, e);
                Lang::Pl
            }),
        }
    }

    /// A non-negative integer with a default and a minimum.
    /// A whole number of `unit` seconds, at least one unit.
    fn duration(
        &mut self,
        value: Option<Spanned<i64>>,
        key: &str,
        default: std::time::Duration,
        unit: u64,
    ) -> std::time::Duration {
        let units = self.count(value, key, (default.as_secs() / unit) as u32, 1);
        std::time::Duration::from_secs(u64::from(units) * unit)
    }

    fn count(&mut self, value: Option<Spanned<i64>>, key: &str, default: u32, min: u32) -> u32 {
        let Some(v) = value else { return default };
        match u32::try_from(*v.get_ref()) {
            Ok(n) if n >= min => n,
            _ => {
                self.problem(
                    Some(v.span()),
                    key,
                    format!(
                        "{} is out of range; use a whole number from {min} to {}",
                        v.get_ref(),
                        u32::MAX
                    ),
                );
                default
            }
        }
    }

    fn secret(
        &mut self,
        inline: Option<String>,
        file: Option<PathBuf>,
        env: Option<String>,
        key: &str,
    ) -> Option<SecretSource> {
        let given = [inline.is_some(), file.is_some(), env.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if given > 1 {
            self.problem(
                None,
                key,
                format!("give only one of {key}, {key}-file and {key}-env"),
            );
        }
        if let Some(path) = file {
            Some(SecretSource::File {
                key: format!("{key}-file"),
                path: self.path(Some(&path), ""),
            })
        } else if let Some(var) = env {
            Some(SecretSource::Env {
                key: format!("{key}-env"),
                var,
            })
        } else {
            inline.map(|s| SecretSource::Inline(Secret(s)))
        }
    }

    fn support(&mut self, raw: RawSupport) -> Support {
        let address = match &raw.address {
            Some(a) => self.address(a, "support.address"),
            None => "support@smartstock.cloud".into(),
        };
        let ticket_prefix = match raw.ticket_prefix {
            None => "SS".to_string(),
            Some(p) => {
                let s = p.get_ref().trim();
                if (2..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase()) {
                    s.to_string()
                } else {
                    self.problem(
                        Some(p.span()),
                        "support.ticket-prefix",
                        format!("{s:?} must be 2 to 8 capital letters A-Z, e.g. \"SS\""),
                    );
                    "SS".to_string()
                }
            }
        };
        let first_number = match raw.first_number {
            None => 1,
            Some(n) if *n.get_ref() >= 1 => *n.get_ref() as u64,
            Some(n) => {
                self.problem(
                    Some(n.span()),
                    "support.first-number",
                    format!("{} must be 1 or more", n.get_ref()),
                );
                1
            }
        };
        Support {
            address,
            name: raw.name.unwrap_or_else(|| "Smartstock Support".into()),
            ticket_prefix,
            first_number,
            default_language: self.lang(raw.default_language, "support.default-language"),
            form_senders: self.addresses(raw.form_senders, "support.form-senders"),
            templates_dir: Some(self.path(raw.templates_dir.as_deref(), "templates")),
        }
    }

    fn reports(&mut self, raw: RawReports) -> Reports {
        let monthly_to = self.addresses(raw.monthly_to, "reports.monthly-to");
        let customers = raw
            .customer
            .unwrap_or_default()
            .into_iter()
            .map(|c| {
                let domain = c
                    .domain
                    .get_ref()
                    .trim()
                    .trim_start_matches('@')
                    .to_ascii_lowercase();
                if domain.is_empty() || !domain.contains('.') {
                    self.problem(
                        Some(c.domain.span()),
                        "reports.customer.domain",
                        format!(
                            "{:?} is not a domain, e.g. \"acme.example\"",
                            c.domain.get_ref()
                        ),
                    );
                }
                let to = self.addresses(Some(c.to), "reports.customer.to");
                if to.is_empty() {
                    self.problem(
                        None,
                        "reports.customer.to",
                        format!("the report for {domain} goes to nobody; list its recipients"),
                    );
                }
                CustomerReport {
                    domain,
                    to,
                    language: self.lang(c.language, "reports.customer.language"),
                }
            })
            .collect();
        Reports {
            monthly_to,
            customers,
        }
    }

    fn consultants(&mut self, raw: RawConsultants) -> Consultants {
        let auth = match raw.auth {
            None => ConsultantAuth::Token,
            Some(a) => match a.get_ref().trim() {
                "token" => ConsultantAuth::Token,
                "dkim" => ConsultantAuth::Dkim,
                "either" => ConsultantAuth::Either,
                other => {
                    self.problem(
                        Some(a.span()),
                        "consultants.auth",
                        format!("{other:?} is not one of \"token\", \"dkim\", \"either\""),
                    );
                    ConsultantAuth::Token
                }
            },
        };
        let addresses = self.addresses(raw.addresses, "consultants.addresses");
        let escalation = self.addresses(raw.escalation, "consultants.escalation");
        if matches!(auth, ConsultantAuth::Dkim)
            && raw.trusted_authserv_ids.as_ref().is_none_or(Vec::is_empty)
        {
            self.problem(
                None,
                "consultants.trusted-authserv-ids",
                "auth = \"dkim\" needs the ids of the servers whose Authentication-Results we trust",
            );
        }
        Consultants {
            addresses,
            auth,
            trusted_authserv_ids: raw.trusted_authserv_ids.unwrap_or_default(),
            escalation,
            language: self.lang(raw.language, "consultants.language"),
            token_key: self.secret(
                raw.token_key,
                raw.token_key_file,
                raw.token_key_env,
                "consultants.token-key",
            ),
            digest: raw.digest.unwrap_or(true),
        }
    }

    fn tls(&mut self, value: Option<Spanned<String>>, key: &str) -> Tls {
        match value {
            None => Tls::Implicit,
            Some(v) => match v.get_ref().trim() {
                "implicit" => Tls::Implicit,
                "starttls" => Tls::Starttls,
                "none" => Tls::None,
                other => {
                    self.problem(
                        Some(v.span()),
                        key,
                        format!("{other:?} is not one of \"implicit\", \"starttls\", \"none\""),
                    );
                    Tls::Implicit
                }
            },
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn server(
        &mut self,
        section: &str,
        host: Option<Spanned<String>>,
        port: Option<Spanned<i64>>,
        tls: Option<Spanned<String>>,
        user: Option<String>,
        password: Option<SecretSource>,
        ca_file: Option<PathBuf>,
        default_ports: (u16, u16),
    ) -> Server {
        let tls = self.tls(tls, &format!("{section}.tls"));
        let host = match host {
            Some(h) if !h.get_ref().trim().is_empty() => h.get_ref().trim().to_string(),
            _ => {
                self.problem(
                    None,
                    &format!("{section}.host"),
                    "is required for this kind; e.g. host = \"mail.example.com\"",
                );
                String::new()
            }
        };
        let port = match port {
            None => match tls {
                Tls::Implicit => default_ports.0,
                Tls::Starttls | Tls::None => default_ports.1,
            },
            Some(p) => u16::try_from(*p.get_ref())
                .ok()
                .filter(|p| *p > 0)
                .unwrap_or_else(|| {
                    self.problem(
                        Some(p.span()),
                        &format!("{section}.port"),
                        format!("{} is not a port (1-65535)", p.get_ref()),
                    );
                    0
                }),
        };
        Server {
            host,
            port,
            tls,
            user,
            password,
            ca_file: ca_file.map(|p| self.path(Some(&p), "")),
        }
    }

    fn source(&mut self, raw: RawSource) -> Source {
        let kind = raw.kind.as_ref().map_or("maildir", |k| k.get_ref().trim());
        match kind {
            "maildir" => Source::Maildir {
                path: self.path(raw.maildir.as_deref(), "var/inbox"),
            },
            "imap" => {
                let password = self.secret(
                    raw.password,
                    raw.password_file,
                    raw.password_env,
                    "source.password",
                );
                if raw.user.is_none() || password.is_none() {
                    self.problem(
                        None,
                        "source.user",
                        "IMAP needs user and one of password, password-file or password-env",
                    );
                }
                let poll_secs = self.count(
                    raw.poll_secs,
                    "source.poll-secs",
                    DEFAULT_POLL_SECS as u32,
                    1,
                );
                Source::Imap {
                    server: self.server(
                        "source",
                        raw.host,
                        raw.port,
                        raw.tls,
                        raw.user,
                        password,
                        raw.ca_file,
                        (993, 143),
                    ),
                    folder: raw.folder.unwrap_or_else(|| "INBOX".into()),
                    processed_folder: raw.processed_folder.unwrap_or_else(|| "Processed".into()),
                    poll_secs: u64::from(poll_secs),
                    idle: raw.idle.unwrap_or(true),
                }
            }
            other => {
                let span = raw.kind.as_ref().map(Spanned::span);
                self.problem(
                    span,
                    "source.kind",
                    format!("{other:?} is not one of \"maildir\", \"imap\""),
                );
                Source::Maildir {
                    path: self.path(None, "var/inbox"),
                }
            }
        }
    }

    fn transport(&mut self, raw: RawTransport) -> Transport {
        let kind = raw.kind.as_ref().map_or("dir", |k| k.get_ref().trim());
        match kind {
            "dir" => Transport::Dir {
                path: self.path(raw.dir.as_deref(), "var/outbox"),
            },
            "smtp" => {
                let password = self.secret(
                    raw.password,
                    raw.password_file,
                    raw.password_env,
                    "transport.password",
                );
                if raw.user.is_some() != password.is_some() {
                    self.problem(
                        None,
                        "transport.user",
                        "SMTP AUTH needs both user and one of password, password-file or password-env (or neither)",
                    );
                }
                Transport::Smtp {
                    server: self.server(
                        "transport",
                        raw.host,
                        raw.port,
                        raw.tls,
                        raw.user,
                        password,
                        raw.ca_file,
                        (465, 587),
                    ),
                }
            }
            other => {
                let span = raw.kind.as_ref().map(Spanned::span);
                self.problem(
                    span,
                    "transport.kind",
                    format!("{other:?} is not one of \"dir\", \"smtp\""),
                );
                Transport::Dir {
                    path: self.path(None, "var/outbox"),
                }
            }
        }
    }

    fn calendar(&mut self, raw: RawCalendar) -> Calendar {
        let mut spec = CalendarSpec::default();
        if let Some(tz) = raw.timezone {
            match crate::sla::Zone::get(tz.get_ref()) {
                Ok(z) => spec.timezone = z,
                Err(e) => self.problem(Some(tz.span()), "calendar.timezone", e),
            }
        }
        if let Some(h) = raw.hours {
            match Hours::parse(h.get_ref()) {
                Ok(h) => spec.hours = h,
                Err(e) => self.problem(Some(h.span()), "calendar.hours", e),
            }
        }
        if let Some(days) = raw.weekdays {
            let mut set = [false; 7];
            for d in days.get_ref() {
                match parse_weekday(d.get_ref()) {
                    Some(i) => set[i] = true,
                    None => self.problem(
                        Some(d.span()),
                        "calendar.weekdays",
                        format!(
                            "{:?} is not a weekday; use mon, tue, wed, thu, fri, sat, sun",
                            d.get_ref()
                        ),
                    ),
                }
            }
            if set.iter().any(|b| *b) {
                spec.weekdays = set;
            } else if days.get_ref().is_empty() {
                self.problem(Some(days.span()), "calendar.weekdays", "no working weekday is listed; e.g. [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]");
            }
        }
        let mut closed = BTreeSet::new();
        for v in raw.closed_days.unwrap_or_default() {
            let text = match v.get_ref() {
                toml::Value::String(s) => s.clone(),
                toml::Value::Datetime(d) => d.to_string(),
                other => other.to_string(),
            };
            match parse_date(&text) {
                Ok(d) => {
                    closed.insert(d);
                }
                Err(e) => self.problem(Some(v.span()), "calendar.closed-days", e),
            }
        }
        let mut special = BTreeMap::new();
        for (date, hours) in raw.special_hours.unwrap_or_default() {
            let key = format!("calendar.special-hours.\"{date}\"");
            match (parse_date(&date), Hours::parse(hours.get_ref())) {
                (Ok(d), Ok(h)) => {
                    if closed.contains(&d) {
                        self.problem(
                            Some(hours.span()),
                            &key,
                            format!("{date} is also listed in closed-days; keep one of the two"),
                        );
                    }
                    special.insert(d, h);
                }
                (Err(e), _) | (_, Err(e)) => self.problem(Some(hours.span()), &key, e),
            }
        }
        for d in closed.iter().chain(special.keys()) {
            if !(crate::sla::holidays::FIRST_YEAR..=crate::sla::holidays::LAST_YEAR)
                .contains(&chrono::Datelike::year(d))
            {
                self.problem(
                    None,
                    "calendar",
                    format!("{d} is outside the supported years 1990-2200"),
                );
            }
        }
        spec.closed_days = closed;
        spec.special_hours = special;
        Calendar::new(spec)
    }

    fn severity_rules(&mut self, raw: RawSeverity) -> crate::mail::severity::SeverityRules {
        use crate::mail::severity::SeverityRules;
        let Some(rules) = raw.rules else {
            return SeverityRules::default();
        };
        let mut ok = Vec::new();
        for rule in rules {
            let sev = *rule.severity.get_ref();
            let mut good = true;
            if let Err(e) = regex::Regex::new(rule.pattern.get_ref()) {
                self.problem(
                    Some(rule.pattern.span()),
                    "severity.rules.pattern",
                    format!("not a valid regular expression: {e}"),
                );
                good = false;
            }
            if !(1..=5).contains(&sev) {
                self.problem(
                    Some(rule.severity.span()),
                    "severity.rules.severity",
                    format!("{sev} is not a severity from 1 to 5"),
                );
                good = false;
            }
            if good {
                ok.push((rule.pattern.into_inner(), sev as u8));
            }
        }
        SeverityRules::new(ok).unwrap_or_else(|e| {
            self.problem(None, "severity.rules", e);
            SeverityRules::default()
        })
    }

    fn sla(&mut self, raw: RawSla) -> Sla {
        let mut targets = crate::sla::policy::CONTRACT_TARGET_HOURS;
        if let Some(t) = &raw.target_hours {
            let values = t.get_ref();
            let ok = values.len() == 5 && values.iter().all(|h| (1..=100_000).contains(h));
            if ok {
                for (slot, h) in targets.iter_mut().zip(values) {
                    *slot = *h as u32;
                }
            } else {
                self.problem(
                    Some(t.span()),
                    "sla.target-hours",
                    format!("{values:?} must be five whole numbers of working hours (severity 1 to 5), each at least 1, e.g. [16, 24, 32, 56, 112]"),
                );
            }
        }
        let reminders = raw.reminders.as_ref().map_or_else(
            || crate::sla::policy::DEFAULT_REMINDERS.to_vec(),
            |r| r.get_ref().clone(),
        );
        let policy = match SlaPolicy::new(targets, reminders) {
            Ok(p) => p,
            Err(e) => {
                self.problem(
                    raw.reminders.as_ref().map(Spanned::span),
                    "sla.reminders",
                    e,
                );
                SlaPolicy::default()
            }
        };
        Sla {
            policy,
            reopen_days: self.count(raw.reopen_days, "sla.reopen-days", 14, 0),
        }
    }
}

/// `mon` … `sun`, or full English names, case-insensitive.
fn parse_weekday(s: &str) -> Option<usize> {
    chrono::Weekday::from_str(s.trim())
        .ok()
        .map(|w| w.num_days_from_monday() as usize)
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is not a date; write it as YYYY-MM-DD, e.g. \"2026-12-31\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, Error> {
        Config::from_toml(
            text,
            Path::new("/etc/supportd/config.toml"),
            Path::new("/etc/supportd"),
        )
    }

    #[test]
    fn example_config_is_valid_and_matches_the_defaults() {
        let text = include_str!("../config.example.toml");
        let cfg = parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.support.address, "support@smartstock.cloud");
        assert_eq!(cfg.store.path, Path::new("/etc/supportd/var/supportd.db"));
        assert!(matches!(cfg.source, Source::Maildir { .. }));
        assert!(matches!(cfg.transport, Transport::Dir { .. }));
        assert_eq!(cfg.sla.policy, SlaPolicy::default());
        assert_eq!(cfg.calendar.spec().hours, Hours::CONTRACT);
    }

    #[test]
    fn empty_file_is_the_contract() {
        let cfg = parse("").unwrap();
        assert_eq!(cfg.calendar.spec(), &CalendarSpec::default());
        assert_eq!(cfg.support.ticket_prefix, "SS");
        assert_eq!(cfg.followup.silence_days, 14);
        assert_eq!(cfg.limits.max_message_bytes, 25 * 1024 * 1024);
    }

    #[test]
    fn calendar_section_is_applied() {
        let cfg = parse(
            r#"
[calendar]
timezone = "Europe/Berlin"
hours = "08:00-16:00"
weekdays = ["mon", "tue", "wed", "thu"]
closed-days = ["2026-12-31", 2026-12-30]
special-hours = { "2026-12-23" = "09:00-13:00" }
"#,
        )
        .unwrap();
        let spec = cfg.calendar.spec();
        assert_eq!(spec.timezone.name(), "Europe/Berlin");
        assert_eq!(spec.hours.to_string(), "08:00-16:00");
        assert_eq!(spec.weekdays, [true, true, true, true, false, false, false]);
        assert_eq!(spec.closed_days.len(), 2);
        assert_eq!(spec.special_hours.len(), 1);
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let cfg =
            parse("[store]\npath = \"db/s.db\"\n[source]\nmaildir = \"/srv/mail\"\n").unwrap();
        assert_eq!(cfg.store.path, Path::new("/etc/supportd/db/s.db"));
        let Source::Maildir { path } = cfg.source else {
            panic!()
        };
        assert_eq!(path, Path::new("/srv/mail"));
    }

    /// Each broken config names the key and the line and column of the value.
    #[test]
    fn problems_point_at_the_value() {
        let table: &[(&str, &str, &str)] = &[
            (
                "[calendar]\nhours = \"18:00-09:00\"\n",
                "2:9: calendar.hours",
                "not before closing",
            ),
            (
                "[calendar]\ntimezone = \"Europe/Warszawa\"\n",
                "2:12: calendar.timezone",
                "IANA",
            ),
            (
                "[calendar]\nweekdays = [\"mon\", \"funday\"]\n",
                "2:20: calendar.weekdays",
                "funday",
            ),
            (
                "[calendar]\nclosed-days = [\"2026-13-01\"]\n",
                "2:16: calendar.closed-days",
                "YYYY-MM-DD",
            ),
            (
                "[sla]\ntarget-hours = [16, 24]\n",
                "2:16: sla.target-hours",
                "five",
            ),
            (
                "[sla]\nreminders = [1.5]\n",
                "2:13: sla.reminders",
                "between 0 and 1",
            ),
            (
                "[support]\naddress = \"not an address\"\n",
                "2:11: support.address",
                "not an email address",
            ),
            (
                "[support]\nticket-prefix = \"ss\"\n",
                "2:17: support.ticket-prefix",
                "capital",
            ),
            ("[source]\nkind = \"pop3\"\n", "2:8: source.kind", "maildir"),
            (
                "[limits]\nmax-message-mb = -1\n",
                "2:18: limits.max-message-mb",
                "out of range",
            ),
        ];
        for (text, location, words) in table {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(location), "{text:?}: {err}");
            assert!(err.contains(words), "{text:?}: {err}");
        }
    }

    #[test]
    fn severity_rules_replace_the_defaults() {
        let cfg =
            parse("[[severity.rules]]\npattern = \"(?i)kasa fiskalna\"\nseverity = 1\n").unwrap();
        assert_eq!(
            cfg.severity_rules
                .suggest("Kasa fiskalna nie drukuje", "")
                .0
                .number(),
            1
        );
        // The shipped rules are gone: a question is no longer severity 4.
        assert_eq!(
            cfg.severity_rules
                .suggest("Question", "How do I export?")
                .0
                .number(),
            3
        );
        let err = parse("[[severity.rules]]\npattern = \"(unclosed\"\nseverity = 7\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("2:11: severity.rules.pattern")
                && err.contains("3:12: severity.rules.severity"),
            "{err}"
        );
    }

    #[test]
    fn syntax_and_unknown_keys_have_line_and_column() {
        let err = parse("[calendar]\nhours = \"09:00-17:00\n").unwrap_err();
        assert!(matches!(err, Error::Syntax { line: 2, .. }), "{err}");
        let err = parse("[calendar]\n\nhour = \"09:00-17:00\"\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("/etc/supportd/config.toml:3:1: "),
            "{text}"
        );
        assert!(text.contains("unknown field `hour`"), "{text}");
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let err =
            parse("[calendar]\nhours = \"x\"\ntimezone = \"Mars/Base\"\n[sla]\nreopen-days = -3\n")
                .unwrap_err();
        let Error::Invalid { problems, .. } = err else {
            panic!("{err}")
        };
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    #[test]
    fn secrets_come_from_files_and_environment_and_never_print() {
        let dir = std::env::temp_dir().join(format!("supportd-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("imap.pw"), "hunter2\n").unwrap();
        let text = "[source]\nkind = \"imap\"\nhost = \"127.0.0.1\"\nuser = \"support\"\npassword-file = \"imap.pw\"\n";
        let cfg = Config::from_toml(text, &dir.join("c.toml"), &dir).unwrap();
        let Source::Imap { server, .. } = &cfg.source else {
            panic!()
        };
        assert_eq!(server.port, 993);
        let secret = server.password.as_ref().unwrap().load().unwrap();
        assert_eq!(secret.expose(), "hunter2");
        assert!(!format!("{cfg:?}").contains("hunter2"));
        assert!(!format!("{secret:?}").contains("hunter2"));

        let missing = SecretSource::Env {
            key: "source.password-env".into(),
            var: "SUPPORTD_TEST_SURELY_UNSET_VARIABLE".into(),
        };
        assert!(
            missing
                .load()
                .unwrap_err()
                .to_string()
                .contains("SUPPORTD_TEST_SURELY_UNSET_VARIABLE")
        );
        let inline =
            "[source]\nkind = \"imap\"\nhost = \"h\"\nuser = \"u\"\npassword = \"topsecret\"\n";
        let cfg = parse(inline).unwrap();
        assert!(!format!("{cfg:?}").contains("topsecret"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn imap_needs_credentials_and_host() {
        let err = parse("[source]\nkind = \"imap\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("source.user") && err.contains("source.host"),
            "{err}"
        );
        let err = parse("[transport]\nkind = \"smtp\"\nhost = \"h\"\nuser = \"u\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("transport.user"), "{err}");
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\nżółw = 1", 3), (2, 1));
        assert_eq!(line_col("ab\nżółw = 1", 3 + "żółw".len()), (2, 5));
        assert_eq!(line_col("", 0), (1, 1));
    }
}
