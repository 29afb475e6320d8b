//! What the Prometheus metrics are made of: counts read by index (see
//! migration 3), never by scanning messages or mail.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{Result, Store, from_ts, query, ts};

/// The store's side of the metrics, as of one read transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsData {
    /// (state, severity, tickets).
    pub tickets: Vec<(String, u8, u64)>,
    /// Tickets waiting for acceptance: (received, severity 1-5, deadline).
    pub unaccepted: Vec<(DateTime<Utc>, u8, DateTime<Utc>)>,
    /// Tickets whose deadline passed before acceptance, ever.
    pub breaches: u64,
    /// Accepted tickets: (severity, accepted by the deadline, tickets).
    pub accepted: Vec<(u8, bool, u64)>,
    /// (kind, messages) of every stored message.
    pub messages: Vec<(String, u64)>,
    /// (detection rule, auto-replies).
    pub auto_reply_rules: Vec<(String, u64)>,
    /// (state, outgoing mails).
    pub outbox: Vec<(String, u64)>,
    /// Send attempts beyond the first, over all mail.
    pub retries: u64,
    /// Quarantined messages.
    pub quarantined: u64,
    /// Customers (requesters of open tickets) who could not be reached.
    pub unreachable: u64,
    /// Addresses that get no automatic mail since a feedback report.
    pub suppressed: u64,
    /// When our server last accepted a mail.
    pub last_send: Option<DateTime<Utc>>,
    /// When the daemon last polled the mailbox successfully.
    pub last_poll: Option<DateTime<Utc>>,
    /// What the running daemon finds wrong now: (area, kind), e.g.
    /// (`database`, `disk_full`), (`transport`, `refusing`).
    pub faults: Vec<(String, String)>,
    /// Database errors the running daemon met, by kind.
    pub store_errors: Vec<(String, u64)>,
}

/// Meta key of the last successful mailbox poll (written by the daemon at
/// most once a minute).
pub const LAST_POLL_KEY: &str = "health:last-poll";

/// Accepted tickets by severity and whether by the deadline in force.
fn accepted(tx: &rusqlite::Transaction<'_>) -> Result<Vec<(u8, bool, u64)>> {
    let mut st = tx
        .prepare_cached(
            "SELECT severity, accepted_at <= deadline_at, COUNT(*) FROM tickets \
             WHERE accepted_at IS NOT NULL AND spam = 0 GROUP BY 1, 2",
        )
        .map_err(query("read the metrics"))?;
    st.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
    })
    .and_then(|rows| rows.collect())
    .map_err(query("read the metrics"))
}

impl Store {
    /// Reads the metrics' counts in one read transaction.
    pub fn metrics_data(&mut self) -> Result<MetricsData> {
        let tx = self
            .conn
            .transaction()
            .map_err(query("begin reading the metrics"))?;
        let mut d = MetricsData::default();
        {
            let pairs = |sql: &str| -> Result<Vec<(String, u64)>> {
                let mut st = tx.prepare_cached(sql).map_err(query("read the metrics"))?;
                let rows = st
                    .query_map([], |r| {
                        Ok((
                            r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                            r.get::<_, i64>(1)? as u64,
                        ))
                    })
                    .map_err(query("read the metrics"))?;
                rows.collect::<std::result::Result<_, _>>()
                    .map_err(query("read the metrics"))
            };
            let one = |sql: &str| -> Result<i64> {
                tx.query_row(sql, [], |r| r.get::<_, Option<i64>>(0))
                    .map(|v| v.unwrap_or(0))
                    .map_err(query("read the metrics"))
            };
            let mut st = tx
                .prepare_cached(
                    "SELECT state, severity, COUNT(*) FROM tickets GROUP BY state, severity",
                )
                .map_err(query("read the metrics"))?;
            d.tickets = st
                .query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
                })
                .and_then(|rows| rows.collect())
                .map_err(query("read the metrics"))?;
            let mut st = tx
                .prepare_cached(
                    "SELECT received_at, severity, deadline_at FROM tickets WHERE state = 'new'",
                )
                .map_err(query("read the metrics"))?;
            d.unaccepted = st
                .query_map([], |r| {
                    Ok((from_ts(r.get(0)?), r.get(1)?, from_ts(r.get(2)?)))
                })
                .and_then(|rows| rows.collect())
                .map_err(query("read the metrics"))?;
            d.breaches = one("SELECT COUNT(*) FROM tickets WHERE breached = 1")? as u64;
            d.accepted = accepted(&tx)?;
            d.messages =
                pairs("SELECT kind, COUNT(*) FROM messages WHERE kind IS NOT NULL GROUP BY kind")?;
            d.auto_reply_rules = pairs(
                "SELECT json_extract(analysis, '$.rule'), COUNT(*) FROM messages \
                 WHERE kind = 'auto_reply' GROUP BY 1",
            )?;
            d.outbox = pairs("SELECT state, COUNT(*) FROM outbox GROUP BY state")?;
            d.retries = one("SELECT SUM(attempts - 1) FROM outbox WHERE attempts > 1")? as u64;
            d.quarantined = one("SELECT COUNT(*) FROM quarantine")? as u64;
            d.unreachable = one(
                "SELECT COUNT(DISTINCT requester) FROM tickets WHERE unreachable = 1 AND state != 'closed'",
            )? as u64;
            d.suppressed = one("SELECT COUNT(*) FROM suppressed")? as u64;
            d.last_send = Some(one(
                "SELECT MAX(sent_at) FROM outbox WHERE sent_at IS NOT NULL",
            )?)
            .filter(|t| *t > 0)
            .map(from_ts);
            d.last_poll = tx
                .query_row(
                    "SELECT CAST(value AS TEXT) FROM meta WHERE key = ?1",
                    params![LAST_POLL_KEY],
                    |r| r.get::<_, String>(0),
                )
                .ok()
                .and_then(|v| v.parse::<i64>().ok())
                .map(from_ts);
        }
        tx.commit().map_err(query("finish reading the metrics"))?;
        Ok(d)
    }

    /// Records the last successful mailbox poll (for `supportd metrics`).
    pub fn set_last_poll(&mut self, at: DateTime<Utc>) -> Result<()> {
        self.set_meta(LAST_POLL_KEY, &ts(at).to_string())
    }
}
