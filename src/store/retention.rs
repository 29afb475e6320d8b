//! Retention (`[retention]`, off by default): bodies go, the audit trail
//! stays. Raw messages of tickets closed long ago, bodies of mail sent long
//! ago, and old quarantined messages are deleted; tickets, events and the
//! records of messages and mails remain, and each purge is an event.

use chrono::{DateTime, Months, Utc};
use rusqlite::params;

use super::{Result, Store, query, ts};
use crate::config::Retention;

/// What a retention run removes (or would remove, on a dry run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Raw messages of closed tickets.
    pub raw_messages: u64,
    /// Their bytes.
    pub raw_bytes: u64,
    /// The closed tickets they belong to.
    pub tickets: u64,
    /// Outgoing mail bodies.
    pub outbox_bodies: u64,
    /// Quarantined messages.
    pub quarantined: u64,
}

/// Meta key of the last retention run (the daemon runs it daily).
pub const LAST_RUN_KEY: &str = "retention:last-run";

/// Raw messages of tickets closed before the cutoff, except those a mail
/// still waiting to be sent attaches.
const CLOSED_RAW: &str = "SELECT mr.message, length(mr.raw), m.ticket FROM message_raw mr \
     JOIN messages m ON m.id = mr.message JOIN tickets t ON t.id = m.ticket \
     WHERE t.state = 'closed' AND t.closed_at < ?1 \
     AND mr.message NOT IN (SELECT attach_message FROM outbox WHERE state = 'pending' AND attach_message IS NOT NULL)";

/// Purges the raw messages of tickets closed more than `months` ago (or,
/// with `dry_run`, counts them), with an event on each ticket.
fn closed_raw(
    tx: &rusqlite::Connection,
    months: u32,
    now: DateTime<Utc>,
    dry_run: bool,
    r: &mut RetentionReport,
) -> Result<()> {
    let cutoff = now.checked_sub_months(Months::new(months)).unwrap_or(now);
    let rows: Vec<(i64, i64, i64)> = {
        let mut st = tx
            .prepare(CLOSED_RAW)
            .map_err(query("find old raw messages"))?;
        st.query_map([ts(cutoff)], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .and_then(|rows| rows.collect())
        .map_err(query("find old raw messages"))?
    };
    // Raw messages purged per ticket, for its event.
    let mut per_ticket: std::collections::BTreeMap<i64, usize> = Default::default();
    for (_, _, t) in &rows {
        *per_ticket.entry(*t).or_default() += 1;
    }
    r.raw_messages = rows.len() as u64;
    r.raw_bytes = rows.iter().map(|(_, b, _)| *b as u64).sum();
    r.tickets = per_ticket.len() as u64;
    if !dry_run {
        tx.execute(
            &format!(
                "DELETE FROM message_raw WHERE message IN (SELECT message FROM ({CLOSED_RAW}))"
            ),
            [ts(cutoff)],
        )
        .map_err(query("purge old raw messages"))?;
        let mut event = tx
            .prepare(
                "INSERT INTO events (ticket, at, actor, what, detail) VALUES (?1, ?2, 'supportd', 'retention', ?3)",
            )
            .map_err(query("record a purge"))?;
        for (t, n) in &per_ticket {
            event
                .execute(params![
                    t,
                    ts(now),
                    format!("raw messages purged: {n} (closed more than {months} months ago)")
                ])
                .map_err(query("record a purge"))?;
        }
    }
    Ok(())
}

impl Store {
    /// Applies the retention rules at `now` in one transaction; with
    /// `dry_run` only counts.
    pub fn retention(
        &mut self,
        rules: &Retention,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<RetentionReport> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(query("begin retention"))?;
        let mut r = RetentionReport::default();
        if let Some(months) = rules.closed_ticket_months {
            closed_raw(&tx, months, now, dry_run, &mut r)?;
        }
        if let Some(days) = rules.outbox_body_days {
            let cutoff = now - chrono::Duration::days(days.into());
            let count = "SELECT COUNT(*) FROM outbox WHERE body IS NOT NULL AND state != 'pending' AND created_at < ?1";
            r.outbox_bodies = tx
                .query_row(count, [ts(cutoff)], |row| row.get::<_, i64>(0))
                .map_err(query("count old mail bodies"))? as u64;
            if !dry_run {
                // The files that went along go with the bodies.
                tx.execute(
                    "DELETE FROM outbox_files WHERE outbox IN (SELECT id FROM outbox \
                     WHERE body IS NOT NULL AND state != 'pending' AND created_at < ?1)",
                    [ts(cutoff)],
                )
                .map_err(query("purge old mail files"))?;
                tx.execute(
                    "UPDATE outbox SET body = NULL WHERE body IS NOT NULL AND state != 'pending' AND created_at < ?1",
                    [ts(cutoff)],
                )
                .map_err(query("purge old mail bodies"))?;
            }
        }
        if let Some(days) = rules.quarantine_days {
            let cutoff = now - chrono::Duration::days(days.into());
            r.quarantined = if dry_run {
                tx.query_row(
                    "SELECT COUNT(*) FROM quarantine WHERE at < ?1",
                    [ts(cutoff)],
                    |row| row.get::<_, i64>(0),
                )
                .map_err(query("count old quarantine"))? as u64
            } else {
                super::drop_quarantine(&tx, "at < ?1", ts(cutoff))? as u64
            };
        }
        if !dry_run {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![LAST_RUN_KEY, ts(now).to_string()],
            )
            .map_err(query("record the retention run"))?;
            tx.commit().map_err(query("commit retention"))?;
        }
        Ok(r)
    }

    /// When retention last ran.
    pub fn retention_last_run(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self
            .meta(LAST_RUN_KEY)?
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|t| DateTime::from_timestamp(t, 0)))
    }
}
