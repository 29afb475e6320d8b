//! `supportd metrics`: the text the daemon serves at `GET /metrics`.

use std::io::Write;
use std::process::ExitCode;

use super::{Global, Outcome, Policy};
use crate::store::Store;

/// Print the Prometheus metrics (the text of GET /metrics).
///
/// The same text the daemon serves on [metrics] listen: tickets by state
/// and severity, at risk and breached, messages by kind, the outbox,
/// quarantine, the last poll and send. For a node-exporter textfile
/// collector, from a timer every minute:
///   supportd metrics > supportd.prom.tmp && mv supportd.prom.tmp /var/lib/prometheus/node-exporter/supportd.prom
// The help text names config sections as [section]; not doc links.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {}

/// Prints the metrics.
pub fn run(g: &Global, _: &Args) -> Outcome {
    let (cfg, db) = g.config_and_db()?;
    let mut store = Store::open_read_only(&db)?;
    let data = store.metrics_data()?;
    let text = crate::metrics::render(&data, &Policy::from_config(&cfg), g.now());
    write!(std::io::stdout().lock(), "{text}")?;
    Ok(ExitCode::SUCCESS)
}
