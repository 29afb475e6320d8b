//! The `supportd` binary: parses the command line, finds the config, calls the
//! library and maps the result to an exit code. Nothing else lives here.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

use supportd::cli::{self, EXIT_BAD_INPUT, EXIT_CONFIG, Policy};
use supportd::config::{self, Config};
use supportd::lang::Lang;
use supportd::sla::{Severity, parse_instant};
use supportd::store::OutboxFilter;

/// Email-driven support ticketing for the Smartstock support contract.
///
/// Customers write to the support mailbox; supportd turns each mail into a
/// ticket or a reply, checks the report, and keeps the contract's response
/// times on the working-time calendar (09:00-17:00 Europe/Warsaw, Monday to
/// Friday, minus Polish public holidays).
#[derive(Debug, Parser)]
#[command(
    name = "supportd",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Args {
    /// Config file. Commands that need no mailbox run on the contract's
    /// built-in policy when there is none.
    #[arg(long, global = true, value_name = "PATH", env = "SUPPORTD_CONFIG")]
    config: Option<PathBuf>,

    /// Run as if it were this instant (RFC 3339), for replays and tests; `run`
    /// accepts it only with `--once`.
    #[arg(long, global = true, value_name = "RFC3339", value_parser = parse_instant)]
    now: Option<DateTime<Utc>>,

    /// Database file, overriding `[store] path` of the config.
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: read the mailbox ([source]), apply each message to its
    /// ticket, and send what the tickets call for ([transport]), until
    /// SIGTERM or SIGINT. Logs go to stderr (SUPPORTD_LOG=debug for more).
    ///
    /// On the built-in config it reads the Maildir var/inbox (drop .eml files
    /// into var/inbox/new/) and writes outgoing mail as .eml files into
    /// var/outbox/; no mail server is needed.
    Run {
        /// One pass of each worker (fetch, apply, send), then exit; with the
        /// global --now, as if it were that instant.
        #[arg(long)]
        once: bool,
    },
    /// Store one message from stdin (for an MTA pipe).
    ///
    /// For Postfix, Exim or procmail. Exits 0 once the message is committed to the database
    /// (input that is no mail too: step 2 quarantines it), 65 (EX_DATAERR) for empty input,
    /// 75 (EX_TEMPFAIL) when it could not be stored, so the MTA keeps it and
    /// retries. A message over [limits] max-message-mb is stored as its headers, quarantined,
    /// and its sender told. A running daemon applies it within a second or two.
    ///
    /// Postfix master.cf example:
    ///   supportd unix - n n - 4 pipe flags=Rq user=supportd argv=/usr/bin/supportd --config /etc/supportd/config.toml deliver
    #[command(verbatim_doc_comment)]
    Deliver,
    /// Outgoing mail: list it (with retries and errors) or retry one.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Working time and SLA deadlines (contract clause 5).
    #[command(subcommand)]
    Sla(SlaCommand),
    /// Validate the config file and what it names; exit 78 on any problem.
    ///
    /// One line per problem, with file:line:column for mistakes in the file.
    /// Besides the file itself it checks template overrides, that passwords
    /// and the token key can be read, that the state folders (database,
    /// Maildir, outbox) are writable or can be created, and CA files. With
    /// --online it also logs in to the IMAP and SMTP servers (no mail is
    /// sent, nothing in the mailbox changes).
    #[command(verbatim_doc_comment)]
    CheckConfig {
        /// Also log in to the IMAP and SMTP servers.
        #[arg(long)]
        online: bool,
    },
    /// Import .eml files, mbox files and Maildirs as if they came from the
    /// mailbox: each message is stored raw, then applied to tickets. Inputs
    /// are never changed; importing the same inputs again changes nothing;
    /// no mail is sent. Ends with a summary.
    Import {
        /// Files (.eml or mbox) and Maildir folders.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Queue the mails the messages call for (acknowledgements,
        /// notifications, relays), as the daemon would.
        #[arg(long)]
        send: bool,
    },
    /// List and show tickets.
    #[command(subcommand)]
    Tickets(TicketsCommand),
    /// Data-subject requests: export or erase everything stored about one
    /// email address.
    #[command(subcommand)]
    Privacy(PrivacyCommand),
    /// Retention ([retention] in the config, off by default): purge bodies
    /// that are past their time; the audit trail stays. The daemon runs it
    /// once a day.
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Print the Prometheus metrics (the text of GET /metrics).
    ///
    /// The same text the daemon serves on [metrics] listen: tickets by state
    /// and severity, at risk and breached, messages by kind, the outbox,
    /// quarantine, the last poll and send. For a node-exporter textfile
    /// collector, from a timer every minute:
    ///   supportd metrics > supportd.prom.tmp && mv supportd.prom.tmp /var/lib/prometheus/node-exporter/supportd.prom
    #[command(verbatim_doc_comment)]
    Metrics,
    /// The database: a consistent backup of it (safe while the daemon runs),
    /// or SQLite's integrity check.
    #[command(subcommand)]
    Db(DbCommand),
    /// Messages that could not be processed (twice failed, or too large):
    /// list, show, replay after a fix, or drop.
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
    /// Analyse messages: one JSON object per message and line.
    ///
    /// The object holds the kind, ticket reference, report fields found and
    /// missing, occurrence time, severity suggestion, consultant commands,
    /// language and the trimmed text.
    ///
    /// The support and consultant addresses come from the config, or from
    /// --support-address and --consultant. With the global --db, replies are
    /// also threaded through the stored Message-IDs and consultant tokens are
    /// checked with the database's key (read-only). Example:
    ///   supportd inspect --consultant anna@smartstock.cloud mail.eml
    #[command(verbatim_doc_comment)]
    Inspect {
        /// .eml files; `-` reads one message from stdin.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<String>,
        /// The support mailbox (default: the config's, else support@smartstock.cloud).
        #[arg(long, value_name = "ADDRESS")]
        support_address: Option<String>,
        /// A consultant's address; repeat for several (added to the config's).
        #[arg(long = "consultant", value_name = "ADDRESS")]
        consultants: Vec<String>,
        /// When our server received the messages (default: the topmost
        /// Received: header, else the file's modification time, else --now).
        #[arg(long, value_name = "RFC3339", value_parser = parse_instant)]
        received: Option<DateTime<Utc>>,
    },
}

#[derive(Debug, Subcommand)]
enum OutboxCommand {
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
    /// address or the mail server), with a fresh give-up period.
    Retry {
        /// Mail ids from `outbox list`.
        #[arg(required = true, value_name = "ID")]
        ids: Vec<i64>,
    },
}

#[derive(Debug, Subcommand)]
enum QuarantineCommand {
    /// Quarantined messages with their reasons.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One message's reason and headers.
    Show {
        /// The message id from `quarantine list`.
        id: i64,
    },
    /// Process a quarantined message again (after a fix or a raised limit).
    Replay {
        /// The message id from `quarantine list`.
        id: i64,
        /// Only say what would happen; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Queue the mails it calls for, as the daemon would.
        #[arg(long)]
        send: bool,
    },
    /// Delete a quarantined message's raw bytes; its row stays for the audit trail.
    Drop {
        /// The message id from `quarantine list`.
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
enum PrivacyCommand {
    /// Write everything stored about EMAIL into a folder: export.json (its
    /// tickets with messages, events and mail; other events and mail naming
    /// it) and the raw messages as messages/ID.eml.
    Export {
        /// The person's address.
        email: String,
        /// The folder to write (created; default supportd-export-EMAIL).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Erase EMAIL: delete the raw messages, mail bodies and quarantine
    /// entries about the person, replace their address and name everywhere
    /// else by a pseudonym (tickets and the audit trail keep their shape),
    /// then VACUUM. Backups taken before are not changed: erase there too,
    /// or let them expire.
    Erase {
        /// The person's address.
        email: String,
        /// Only report what would be erased.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum RetentionCommand {
    /// Apply the rules now: raw messages of tickets closed more than
    /// closed-ticket-months ago, bodies of mail older than outbox-body-days,
    /// quarantined messages older than quarantine-days.
    Run {
        /// Only report what would go.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum DbCommand {
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

#[derive(Debug, Subcommand)]
enum TicketsCommand {
    /// Every ticket that is not closed (or those in --state), with deadlines
    /// in local time; with --now, the working time left.
    List {
        /// new, open, waiting, resolved, closed, or all.
        #[arg(long, value_name = "STATE")]
        state: Option<String>,
        /// Print a JSON array (field names in the README).
        #[arg(long)]
        json: bool,
    },
    /// One ticket with its messages and events.
    Show {
        /// The reference, e.g. SS-7.
        #[arg(value_name = "REF")]
        reference: String,
        /// Print JSON (field names in the README).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum SlaCommand {
    /// Print the acceptance deadline of a request, RFC 3339 UTC.
    ///
    /// The response time counts only working time from the received instant:
    /// severity 1: 16 h, 2: 24 h, 3: 4 days, 4: 7 days, 5: 14 days (working
    /// days of 8 h). Example:
    ///   supportd sla deadline --severity 1 --received 2026-11-20T16:30:00+01:00 --explain
    #[command(verbatim_doc_comment)]
    Deadline {
        /// Severity 1 (product down) to 5 (suggestion).
        #[arg(long, value_name = "1-5", required_unless_present = "batch")]
        severity: Option<Severity>,
        /// When our mail server received the request (RFC 3339, any offset).
        #[arg(long, value_name = "RFC3339", value_parser = parse_instant, required_unless_present = "batch")]
        received: Option<DateTime<Utc>>,
        /// Also print the local deadline and each working interval counted.
        #[arg(long, conflicts_with = "batch")]
        explain: bool,
        /// Language of the explanation: en or pl.
        #[arg(long, value_name = "LANG", default_value = "en")]
        lang: Lang,
        /// Read `received,severity` lines on stdin; print one deadline per line
        /// (an empty line for a bad one, with its message on stderr).
        #[arg(long, conflicts_with_all = ["severity", "received"])]
        batch: bool,
    },
    /// Print the working seconds between two instants (negative when --to is
    /// before --from).
    WorkingTime {
        /// Start of the span (RFC 3339).
        #[arg(long, value_name = "RFC3339", value_parser = parse_instant, required_unless_present = "batch")]
        from: Option<DateTime<Utc>>,
        /// End of the span (RFC 3339).
        #[arg(long, value_name = "RFC3339", value_parser = parse_instant, required_unless_present = "batch")]
        to: Option<DateTime<Utc>>,
        /// Read `from,to` lines on stdin; print one count per line.
        #[arg(long, conflicts_with_all = ["from", "to"])]
        batch: bool,
    },
    /// Print the Polish public holidays of a year as `YYYY-MM-DD<TAB>name`;
    /// with a config, also its closed days and special hours, marked so.
    Holidays {
        /// The year, 1990-2200.
        #[arg(long)]
        year: i32,
        /// Language of the names: en or pl.
        #[arg(long, value_name = "LANG", default_value = "en")]
        lang: Lang,
    },
}

/// A failure with the exit status it maps to.
struct Failure {
    code: u8,
    error: anyhow::Error,
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

/// Logs to stderr, filtered by `SUPPORTD_LOG` (e.g. `debug`,
/// `supportd=debug,info`); under systemd (JOURNAL_STREAM set) without
/// timestamps, which the journal adds itself.
fn init_logging(default: &str) {
    // html5ever (inside html2text) warns through `log` about HTML it reads
    // its own way ("foster parenting not implemented"): ordinary mail, not
    // news for the journal. Quiet unless SUPPORTD_LOG names it.
    let wanted = std::env::var("SUPPORTD_LOG").unwrap_or_else(|_| default.to_string());
    let directives = if wanted.contains("html5ever") {
        wanted
    } else {
        format!("{wanted},html5ever=error")
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_target(false);
    let colour = io::IsTerminal::is_terminal(&io::stderr());
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().with_ansi(false).init();
    } else {
        builder.with_ansi(colour).init();
    }
}

/// `EX_TEMPFAIL` of sysexits(3): an MTA keeps the message and retries.
const EXIT_TEMPFAIL: u8 = 75;
/// `EX_DATAERR` of sysexits(3): the input is wrong; the MTA bounces it.
const EXIT_DATAERR: u8 = 65;

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(match args.command {
        Command::Run { .. } => "info",
        _ => "warn",
    });
    if matches!(args.command, Command::Deliver) {
        return match deliver(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                let _ = writeln!(io::stderr(), "supportd deliver: {e:#}");
                if e.downcast_ref::<DataError>().is_some() {
                    ExitCode::from(EXIT_DATAERR)
                } else {
                    ExitCode::from(EXIT_TEMPFAIL)
                }
            }
        };
    }
    match run(args) {
        Ok(code) => code,
        // A reader that stopped reading (`supportd tickets list | head`) is
        // not an error worth a message.
        Err(Failure { error, .. })
            if error.chain().any(|e| {
                e.downcast_ref::<io::Error>()
                    .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(Failure { code, error }) => {
            let _ = writeln!(io::stderr(), "supportd: {error:#}");
            ExitCode::from(code)
        }
    }
}

/// Why `deliver` refused its input for good (exit 65, `EX_DATAERR`): the MTA
/// bounces it instead of retrying for days.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct DataError(String);

/// `supportd deliver`: step 1 for one message from stdin. Input that is no
/// mail is stored too (step 2 quarantines it, exit 0); empty input is
/// refused (exit 65); every other failure is temporary for the MTA (exit
/// 75): the message stays in its queue. A message over `[limits]
/// max-message-mb` is stored as its header block with the size marker, as
/// the IMAP source does, so step 2 quarantines it and tells the sender.
fn deliver(args: &Args) -> anyhow::Result<()> {
    use std::io::Read;
    let (cfg, db) = config_and_db(args)?;
    let max = cfg.limits.max_message_bytes;
    let mut raw = Vec::new();
    let mut stdin = io::stdin().lock();
    (&mut stdin)
        .take(max.saturating_add(1))
        .read_to_end(&mut raw)
        .context("cannot read the message from stdin")?;
    if raw.len() as u64 > max {
        let rest =
            io::copy(&mut stdin, &mut io::sink()).context("cannot read the message from stdin")?;
        raw = supportd::source::truncated(&raw, raw.len() as u64 + rest);
    }
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(DataError(
            "stdin held no message (it was empty or blank); nothing stored".into(),
        )
        .into());
    }
    let now = args.now.unwrap_or_else(Utc::now);
    let received_at = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
    let mut store = supportd::store::Store::open(&db)?;
    store.store_raw(
        &[supportd::store::Incoming {
            source_key: None,
            raw,
            received_at,
        }],
        now,
    )?;
    Ok(())
}

/// The config (built-in when there is no file) and the database path
/// (`--db`, else the config's).
fn config_and_db(args: &Args) -> Result<(Config, PathBuf), config::Error> {
    let cfg = Config::locate(args.config.as_deref())?.unwrap_or_default();
    let db = args.db.clone().unwrap_or_else(|| cfg.store.path.clone());
    Ok((cfg, db))
}

fn policy(args: &Args) -> Result<Policy, Failure> {
    Ok(match Config::locate(args.config.as_deref())? {
        Some(cfg) => Policy::from_config(&cfg),
        None => Policy::contract(),
    })
}

fn run(args: Args) -> Result<ExitCode, Failure> {
    let stdout = io::stdout();
    match &args.command {
        Command::Sla(cmd) => {
            let policy = policy(&args)?;
            match cmd {
                SlaCommand::Deadline { batch: true, .. } => {
                    let outcome = cli::sla::deadline_batch(
                        &policy,
                        io::stdin().lock(),
                        stdout.lock(),
                        io::stderr().lock(),
                    )?;
                    Ok(batch_exit(outcome))
                }
                SlaCommand::Deadline {
                    severity: Some(severity),
                    received: Some(received),
                    explain,
                    lang,
                    ..
                } => {
                    cli::sla::deadline(
                        &policy,
                        *severity,
                        *received,
                        explain.then_some(*lang),
                        &mut stdout.lock(),
                    )?;
                    Ok(ExitCode::SUCCESS)
                }
                SlaCommand::WorkingTime { batch: true, .. } => {
                    let outcome = cli::sla::working_time_batch(
                        &policy,
                        io::stdin().lock(),
                        stdout.lock(),
                        io::stderr().lock(),
                    )?;
                    Ok(batch_exit(outcome))
                }
                SlaCommand::WorkingTime {
                    from: Some(from),
                    to: Some(to),
                    ..
                } => {
                    cli::sla::working_time(&policy, *from, *to, &mut stdout.lock())?;
                    Ok(ExitCode::SUCCESS)
                }
                SlaCommand::Holidays { year, lang } => {
                    cli::sla::holidays(&policy, *year, *lang, &mut stdout.lock())?;
                    Ok(ExitCode::SUCCESS)
                }
                // clap's required_unless_present rules make these unreachable.
                SlaCommand::Deadline { .. } | SlaCommand::WorkingTime { .. } => {
                    Err(anyhow::anyhow!("missing arguments; see supportd sla --help").into())
                }
            }
        }
        Command::Inspect {
            files,
            support_address,
            consultants,
            received,
        } => {
            let cfg = Config::locate(args.config.as_deref())?;
            let mut settings = match &cfg {
                Some(cfg) => cfg.analysis_settings(None),
                None => supportd::mail::Settings::new("support@smartstock.cloud", "SS", &[]),
            };
            if let Some(a) = support_address {
                let mut s = supportd::mail::Settings::new(
                    a,
                    &settings.ticket_prefix,
                    &settings.consultants,
                );
                s.form_senders = std::mem::take(&mut settings.form_senders);
                settings = s;
            }
            settings
                .consultants
                .extend(consultants.iter().map(|c| c.trim().to_ascii_lowercase()));
            let now = args.now.unwrap_or_else(Utc::now);
            // With a database: stored Message-IDs thread replies and its key
            // checks consultant tokens. Read-only: inspect never writes.
            let store = match &args.db {
                Some(path) => {
                    let store = supportd::store::Store::open_read_only(path)?;
                    if settings.token_key.is_none() {
                        settings.token_key = store.stored_token_key()?;
                    }
                    Some(store)
                }
                None => None,
            };
            let lookup: &dyn supportd::mail::thread::Lookup = match &store {
                Some(s) => s,
                None => &supportd::mail::thread::NoLookup,
            };
            let failed = cli::inspect::inspect(
                files,
                &settings,
                lookup,
                *received,
                now,
                &mut stdout.lock(),
                &mut io::stderr().lock(),
            )?;
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_BAD_INPUT)
            })
        }
        Command::Import { paths, send } => {
            let (cfg, db) = config_and_db(&args)?;
            let mut store = supportd::store::Store::open(&db)?;
            let rt = cli::Runtime::load(cfg, &mut store)?;
            let now = args.now.unwrap_or_else(Utc::now);
            let summary = cli::tickets::import(
                &mut store,
                &rt.ingest(*send),
                paths,
                now,
                cli::tickets::progress_wanted(),
            )?;
            writeln!(stdout.lock(), "{summary}")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Quarantine(cmd) => {
            let (cfg, db) = config_and_db(&args)?;
            let mut store = supportd::store::Store::open(&db)?;
            let now = args.now.unwrap_or_else(Utc::now);
            let mut out = stdout.lock();
            match cmd {
                QuarantineCommand::List { json } => cli::quarantine::list(&store, *json, &mut out)?,
                QuarantineCommand::Show { id } => cli::quarantine::show(&store, *id, &mut out)?,
                QuarantineCommand::Replay { id, dry_run, send } => {
                    let rt = cli::Runtime::load(cfg, &mut store)?;
                    cli::quarantine::replay(
                        &mut store,
                        &rt.ingest(*send),
                        *id,
                        *dry_run,
                        now,
                        &mut out,
                    )?
                }
                QuarantineCommand::Drop { id } => cli::quarantine::drop(&mut store, *id, &mut out)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Tickets(cmd) => {
            let (cfg, db) = config_and_db(&args)?;
            let store = supportd::store::Store::open_read_only(&db)?;
            let prefix = &cfg.support.ticket_prefix;
            match cmd {
                TicketsCommand::List { state, json } => {
                    if let Some(s) = state
                        .as_deref()
                        .filter(|s| *s != "all" && supportd::ticket::State::parse(s).is_none())
                    {
                        return Err(anyhow::anyhow!(
                            "--state {s:?} is not one of new, open, waiting, resolved, closed, all"
                        )
                        .into());
                    }
                    // The table shows working time left as of now; JSON depends on
                    // the moment only when --now says which.
                    let now = if *json {
                        args.now
                    } else {
                        Some(args.now.unwrap_or_else(Utc::now))
                    };
                    cli::tickets::list(
                        &store,
                        state.as_deref(),
                        *json,
                        prefix,
                        &cli::Policy::from_config(&cfg),
                        now,
                        &mut stdout.lock(),
                    )?;
                    Ok(ExitCode::SUCCESS)
                }
                TicketsCommand::Show { reference, json } => {
                    if cli::tickets::show(
                        &store,
                        reference,
                        *json,
                        prefix,
                        &cli::Policy::from_config(&cfg),
                        args.now,
                        &mut stdout.lock(),
                    )? {
                        Ok(ExitCode::SUCCESS)
                    } else {
                        Err(anyhow::anyhow!("no ticket {reference} in {}", db.display()).into())
                    }
                }
            }
        }
        Command::Run { once } => {
            if args.now.is_some() && !once {
                return Err(Failure {
                    code: 2,
                    error: anyhow::anyhow!(
                        "--now works with `run --once` only (the daemon runs on the clock)"
                    ),
                });
            }
            let (cfg, db) = config_and_db(&args)?;
            let daemon = supportd::app::Daemon::open(cfg, db)?;
            if *once {
                let summary = daemon.once(args.now)?;
                writeln!(stdout.lock(), "{summary}")?;
            } else {
                daemon.run()?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Deliver => unreachable!("handled in main"),
        Command::Privacy(cmd) => {
            let (cfg, db) = config_and_db(&args)?;
            let now = args.now.unwrap_or_else(Utc::now);
            let mut out = stdout.lock();
            match cmd {
                PrivacyCommand::Export { email, out: dir } => {
                    let email = email.trim().to_lowercase();
                    let dir = dir
                        .clone()
                        .unwrap_or_else(|| PathBuf::from(format!("supportd-export-{email}")));
                    let store = supportd::store::Store::open_read_only(&db)?;
                    let (t, m, o) = cli::privacy::export(
                        &store,
                        &email,
                        &dir,
                        &cfg.support.ticket_prefix,
                        &Policy::from_config(&cfg),
                        now,
                    )?;
                    writeln!(
                        out,
                        "{}: {t} tickets, {m} messages, {o} outgoing mails about {email}",
                        dir.display()
                    )?;
                }
                PrivacyCommand::Erase { email, dry_run } => {
                    let email = email.trim().to_lowercase();
                    let mut store = supportd::store::Store::open(&db)?;
                    let s = store.data_subject(&email)?;
                    if *dry_run {
                        writeln!(
                            out,
                            "would erase {email}: {} tickets, {} messages (raw deleted), {} outgoing mails (bodies deleted), {} events; names: {}",
                            s.tickets.len(),
                            s.messages.len(),
                            s.outbox.len(),
                            s.events.len(),
                            if s.names.is_empty() {
                                "-".to_string()
                            } else {
                                s.names.join(", ")
                            }
                        )?;
                        return Ok(ExitCode::SUCCESS);
                    }
                    let key = store.token_key(None)?;
                    let pseudonym = supportd::mail::token::pseudonym(&key, &email);
                    let (e, checkpointed) = store.erase_subject(&email, &pseudonym, &s)?;
                    writeln!(
                        out,
                        "erased {email} as {pseudonym}: {} raw messages and {} mail bodies deleted, {} quarantine entries dropped, {} values replaced; database vacuumed",
                        e.raw_messages, e.outbox_bodies, e.quarantined, e.pseudonymised
                    )?;
                    if !checkpointed {
                        writeln!(
                            out,
                            "note: another process had the database open, so its write-ahead log may still hold old pages; run the erasure again with the daemon stopped"
                        )?;
                    }
                    writeln!(
                        out,
                        "backups taken before now still hold the data: erase there too, or let them expire"
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Retention(RetentionCommand::Run { dry_run }) => {
            let (cfg, db) = config_and_db(&args)?;
            let mut out = stdout.lock();
            if !cfg.retention.any() {
                writeln!(
                    out,
                    "retention is off: the config has no [retention] rules, so nothing goes"
                )?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut store = supportd::store::Store::open(&db)?;
            let now = args.now.unwrap_or_else(Utc::now);
            let r = store.retention(&cfg.retention, now, *dry_run)?;
            let verb = if *dry_run { "would purge" } else { "purged" };
            writeln!(out, "{}", cli::retention_report(&r, &cfg.retention, verb))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Metrics => {
            let (cfg, db) = config_and_db(&args)?;
            let mut store = supportd::store::Store::open_read_only(&db)?;
            let data = store.metrics_data()?;
            let text = supportd::metrics::render(
                &data,
                &Policy::from_config(&cfg),
                args.now.unwrap_or_else(Utc::now),
            );
            write!(stdout.lock(), "{text}")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Db(cmd) => {
            let (_, db) = config_and_db(&args)?;
            if !db.is_file() {
                return Err(anyhow::anyhow!(
                    "no database at {}; give its path with --db or the config's [store] path",
                    db.display()
                )
                .into());
            }
            let store = supportd::store::Store::open_read_only(&db)?;
            match cmd {
                DbCommand::Backup { path } => {
                    let t = std::time::Instant::now();
                    let b = store.backup_to(path)?;
                    writeln!(
                        stdout.lock(),
                        "{}: {} tickets, {:.1} MB, checked, in {:.1} s",
                        b.path.display(),
                        b.tickets,
                        b.bytes as f64 / 1e6,
                        t.elapsed().as_secs_f64()
                    )?;
                    Ok(ExitCode::SUCCESS)
                }
                DbCommand::Check => {
                    let problems = store.integrity_check()?;
                    if problems.is_empty() {
                        writeln!(stdout.lock(), "{}: ok", db.display())?;
                        Ok(ExitCode::SUCCESS)
                    } else {
                        let mut out = stdout.lock();
                        for p in &problems {
                            writeln!(out, "{}: {p}", db.display())?;
                        }
                        Ok(ExitCode::from(EXIT_BAD_INPUT))
                    }
                }
            }
        }
        Command::Outbox(cmd) => {
            let (cfg, db) = config_and_db(&args)?;
            match cmd {
                OutboxCommand::List {
                    pending,
                    failed,
                    held,
                    json,
                } => {
                    let store = supportd::store::Store::open_read_only(&db)?;
                    let filter = match (pending, failed, held) {
                        (true, _, _) => OutboxFilter::Pending,
                        (_, true, _) => OutboxFilter::Failed,
                        (_, _, true) => OutboxFilter::Held,
                        _ => OutboxFilter::All,
                    };
                    cli::outbox::list(
                        &store,
                        filter,
                        &cfg.support.ticket_prefix,
                        *json,
                        &mut stdout.lock(),
                    )?;
                    Ok(ExitCode::SUCCESS)
                }
                OutboxCommand::Retry { ids } => {
                    let mut store = supportd::store::Store::open(&db)?;
                    let now = args.now.unwrap_or_else(Utc::now);
                    let ok = cli::outbox::retry(
                        &mut store,
                        ids,
                        now,
                        &mut stdout.lock(),
                        &mut io::stderr().lock(),
                    )?;
                    Ok(if ok {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(EXIT_BAD_INPUT)
                    })
                }
            }
        }
        Command::CheckConfig { online } => {
            let path = args
                .config
                .clone()
                .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
            let mut cfg = Config::load(&path)
                .with_context(|| format!("check-config: {} is not usable", path.display()))
                .map_err(|error| Failure {
                    code: EXIT_CONFIG,
                    error,
                })?;
            if let Some(db) = &args.db {
                cfg.store.path = db.clone();
            }
            let shown = cfg.path.clone().unwrap_or(path);
            let report = cli::check::check(&cfg, *online);
            let mut err = io::stderr().lock();
            for p in &report.problems {
                writeln!(err, "{}: {p}", shown.display())?;
            }
            let mut out = stdout.lock();
            for line in &report.ok {
                writeln!(out, "{line}")?;
            }
            if report.problems.is_empty() {
                writeln!(out, "{}: ok", shown.display())?;
                Ok(ExitCode::SUCCESS)
            } else {
                Ok(ExitCode::from(EXIT_CONFIG))
            }
        }
    }
}

fn batch_exit(outcome: cli::sla::BatchOutcome) -> ExitCode {
    if outcome.bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_BAD_INPUT)
    }
}
