//! The `supportd` binary: parses the command line, sets up logging and
//! calls the command's `cli::<command>::run`, which returns the exit code.
//! Nothing else lives here.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use supportd::cli::{self, Failure, Global};

/// jemalloc instead of the C library's allocator. In `import` the analysis
/// threads allocate what the writer thread frees, chunk after chunk; with
/// glibc's allocator, malloc and free were about 8 % of the import's CPU
/// time in a profile. Measured on the 10,000-message import, builds run
/// alternately: CPU time 3.27 -> 3.00 s (median of 12 pairs), peak memory
/// 71 -> 76 MB.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    #[command(flatten)]
    global: Global,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Run(cli::run::Args),
    Deliver(cli::deliver::Args),
    #[command(subcommand)]
    Outbox(cli::outbox::Command),
    #[command(subcommand)]
    Sla(cli::sla::Command),
    CheckConfig(cli::check::Args),
    Import(cli::import::Args),
    #[command(subcommand)]
    Tickets(cli::tickets::Command),
    #[command(subcommand)]
    Privacy(cli::privacy::Command),
    #[command(subcommand)]
    Retention(cli::retention::Command),
    Metrics(cli::metrics::Args),
    #[command(subcommand)]
    Db(cli::db::Command),
    #[command(subcommand)]
    Quarantine(cli::quarantine::Command),
    /// Reports: whether the contract's response times were kept.
    #[command(subcommand)]
    Report(cli::report::Command),
    Inspect(cli::inspect::Args),
}

/// Logs to stderr, filtered by `SUPPORTD_LOG` (e.g. `debug`,
/// `supportd=debug,info`); under systemd (JOURNAL_STREAM set) without
/// timestamps, which the journal adds itself.
/// Crates that log the protocol they speak at trace level, login
/// included (async-imap writes the LOGIN command, password and all): never
/// below debug, whatever `SUPPORTD_LOG` asks.
const PROTOCOL_TRACERS: [&str; 2] = ["async_imap", "imap_proto"];

fn init_logging(default: &str) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
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
    let no_secrets = tracing_subscriber::filter::filter_fn(|m| {
        *m.level() != tracing::Level::TRACE
            || !PROTOCOL_TRACERS.iter().any(|t| m.target().starts_with(t))
    });
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(io::stderr)
        .with_target(false);
    let layer = if std::env::var_os("JOURNAL_STREAM").is_some() {
        layer.without_time().with_ansi(false).boxed()
    } else {
        layer
            .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
            .boxed()
    };
    tracing_subscriber::registry()
        .with(layer.with_filter(filter).with_filter(no_secrets))
        .init();
}

fn main() -> ExitCode {
    let Args { global: g, command } = Args::parse();
    init_logging(match command {
        Command::Run(_) => "info",
        _ => "warn",
    });
    let outcome = match &command {
        Command::Run(a) => cli::run::run(&g, a),
        Command::Deliver(a) => return cli::deliver::run(&g, a),
        Command::Outbox(c) => cli::outbox::run(&g, c),
        Command::Sla(c) => cli::sla::run(&g, c),
        Command::CheckConfig(a) => cli::check::run(&g, a),
        Command::Import(a) => cli::import::run(&g, a),
        Command::Tickets(c) => cli::tickets::run(&g, c),
        Command::Privacy(c) => cli::privacy::run(&g, c),
        Command::Retention(c) => cli::retention::run(&g, c),
        Command::Metrics(a) => cli::metrics::run(&g, a),
        Command::Db(c) => cli::db::run(&g, c),
        Command::Quarantine(c) => cli::quarantine::run(&g, c),
        Command::Report(c) => cli::report::run(&g, c),
        Command::Inspect(a) => cli::inspect::run(&g, a),
    };
    match outcome {
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
