//! `supportd report sla`: whether the contract's response times were kept
//! over a range of dates, overall, per severity and per customer, with the
//! breaches; as text, JSON, CSV or one printable HTML page.

use std::io::Write;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};

use crate::lang::Lang;
use crate::report::{self, Report, Scope};
use crate::store::Store;

/// Reports.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// The SLA compliance report of the tickets received on local dates
    /// FROM..TO (inclusive): received, accepted on time, accepted late, past
    /// the deadline and not accepted, still within it; working time to
    /// acceptance (median, p90, max) against the target, per severity and
    /// per customer domain; the list of breaches. Open tickets are judged
    /// as of now (or --now).
    Sla(SlaArgs),
}

/// Output forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For a terminal.
    Text,
    /// The fields the README lists.
    Json,
    /// For a spreadsheet: summary rows, a blank line, the breaches.
    Csv,
    /// One self-contained, printable page with charts.
    Html,
}

/// `report sla` arguments.
#[derive(Debug, clap::Args)]
pub struct SlaArgs {
    /// First local date, YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    pub from: NaiveDate,
    /// Last local date (inclusive), YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    pub to: NaiveDate,
    /// Only the tickets of requesters at this domain.
    #[arg(long, value_name = "DOMAIN")]
    pub customer: Option<String>,
    /// Output form.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
    /// Language of the text and HTML forms (default: the config's
    /// `[support] default-language`).
    #[arg(long, value_name = "pl|en")]
    pub lang: Option<Lang>,
}

/// The report of a store over local dates `from..=to`, judged at `now`.
pub fn build(
    store: &Store,
    policy: &crate::runtime::Policy,
    prefix: &str,
    from: NaiveDate,
    to: NaiveDate,
    customer: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<Report> {
    anyhow::ensure!(
        from <= to,
        "--from {from} is after --to {to}; give the first date, then the last"
    );
    anyhow::ensure!(to.succ_opt().is_some(), "--to is the last date there is");
    let customer = customer.map(|c| c.trim().trim_start_matches('@').to_ascii_lowercase());
    let scope = Scope {
        from,
        to,
        customer: customer.as_deref(),
        prefix,
        now,
    };
    let (start, end) = scope.range(policy.calendar.timezone());
    let rows = store.report_rows(start, end, scope.customer)?;
    Ok(report::compute(
        &rows,
        &scope,
        &policy.calendar,
        &policy.sla,
    )?)
}

/// Writes the report in a form (JSON streamed: a report of 100,000
/// customers is never one string in memory).
pub fn write(r: &Report, format: Format, lang: Lang, out: &mut impl Write) -> anyhow::Result<()> {
    match format {
        Format::Text => out.write_all(report::render::text(r, lang).as_bytes())?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, r)?;
            out.write_all(b"\n")?;
        }
        Format::Csv => out.write_all(report::render::csv(r).as_bytes())?,
        Format::Html => out.write_all(report::render::html(r, lang).as_bytes())?,
    }
    out.flush()?;
    Ok(())
}

/// Runs `report …` (read-only).
pub fn run(g: &super::Global, cmd: &Command) -> super::Outcome {
    let Command::Sla(a) = cmd;
    let (cfg, db) = g.config_and_db()?;
    let store = Store::open_read_only(&db)?;
    let policy = crate::runtime::Policy::from_config(&cfg);
    let r = build(
        &store,
        &policy,
        &cfg.support.ticket_prefix,
        a.from,
        a.to,
        a.customer.as_deref(),
        g.now(),
    )?;
    let lang = a.lang.unwrap_or(cfg.support.default_language);
    match &a.out {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot write the report to {}", path.display()))?;
            write(&r, a.format, lang, &mut std::io::BufWriter::new(file))
                .with_context(|| format!("cannot write the report to {}", path.display()))?;
        }
        None => {
            let stdout = std::io::BufWriter::new(std::io::stdout().lock());
            let mut out = super::terminal::for_text(stdout, a.format != Format::Text);
            write(&r, a.format, lang, &mut out)?;
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
