//! The outbox as the sender sees it: due mail, and what became of each
//! attempt (sent, retry later, failed), plus the rows `outbox list` and
//! `tickets show` print.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{ATTACH_HEADER, OutboxRow, Result, Store, from_ts, query, ts};
use crate::ticket::compose::Attach;

/// One outgoing mail with everything needed to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Row id (named by the envelope sender).
    pub id: i64,
    /// Its ticket.
    pub ticket: Option<u64>,
    /// Template name.
    pub template: String,
    /// MAIL FROM.
    pub envelope_from: String,
    /// RCPT TO.
    pub recipients: Vec<String>,
    /// Message-ID without angle brackets.
    pub message_id: String,
    /// Headers other than Message-ID, Date and MIME structure.
    pub headers: BTreeMap<String, String>,
    /// Plain-text body (`None` once purged).
    pub body: Option<String>,
    /// What of a stored message goes along.
    pub attach: Option<Attach>,
    /// A file that goes along (`None` once purged).
    pub file: Option<crate::ticket::compose::File>,
    /// Attempts so far.
    pub attempts: u32,
    /// When it was queued (the Date header).
    pub created_at: DateTime<Utc>,
    /// Start of the give-up window.
    pub retry_from: DateTime<Utc>,
}

/// Which rows `outbox list` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxFilter {
    /// Every row.
    All,
    /// Waiting to be sent (or to be retried).
    Pending,
    /// Refused for good, bounced, or given up.
    Failed,
    /// Held back by the rate limit.
    Held,
}

const ROW_COLUMNS: &str = "id, template, recipients, message_id, state, automatic, created_at, \
     attempts, next_attempt_at, sent_at, last_error, ticket";

fn outbox_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    let state: String = r.get(4)?;
    Ok(OutboxRow {
        id: r.get(0)?,
        template: r.get(1)?,
        to: serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or_default(),
        message_id: r.get(3)?,
        automatic: r.get(5)?,
        created_at: crate::sla::format_utc(from_ts(r.get(6)?)),
        attempts: r.get(7)?,
        // When it goes: a pending mail's next attempt; a held one's release
        // (none for mail held for a consultant, who was told instead).
        next_attempt_at: (state == "pending" || state == "held")
            .then(|| r.get::<_, i64>(8))
            .transpose()?
            .filter(|t| *t < super::NEVER)
            .map(|t| crate::sla::format_utc(from_ts(t))),
        sent_at: r
            .get::<_, Option<i64>>(9)?
            .map(|t| crate::sla::format_utc(from_ts(t))),
        last_error: r.get(10)?,
        ticket: r.get::<_, Option<i64>>(11)?.map(|t| t as u64),
        state,
    })
}

impl Store {
    fn outbox_rows(&self, filter: &str, arg: impl rusqlite::ToSql) -> Result<Vec<OutboxRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ROW_COLUMNS} FROM outbox {filter} ORDER BY id"
            ))
            .map_err(query("read outgoing mail"))?;
        let rows = stmt
            .query_map([arg], outbox_row)
            .map_err(query("read outgoing mail"))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(query("read outgoing mail"))
    }

    /// The outgoing mails of a ticket, for `tickets show`.
    pub fn ticket_outbox(&self, ticket: u64) -> Result<Vec<OutboxRow>> {
        self.outbox_rows("WHERE ticket = ?1", ticket as i64)
    }

    /// The bodies of a ticket's outgoing mails by row id (`None`: purged).
    pub fn ticket_outbox_bodies(
        &self,
        ticket: u64,
    ) -> Result<std::collections::HashMap<i64, Option<String>>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, body FROM outbox WHERE ticket = ?1")
            .map_err(query("read outgoing mail"))?;
        let rows = stmt
            .query_map([ticket as i64], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(query("read outgoing mail"))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(query("read outgoing mail"))
    }

    /// Every outgoing mail, oldest first.
    pub fn all_outbox(&self) -> Result<Vec<OutboxRow>> {
        self.outbox_list(OutboxFilter::All)
    }

    /// Outgoing mail for `outbox list`, oldest first.
    pub fn outbox_list(&self, filter: OutboxFilter) -> Result<Vec<OutboxRow>> {
        let state = match filter {
            OutboxFilter::All => None,
            OutboxFilter::Pending => Some("pending"),
            OutboxFilter::Failed => Some("failed"),
            OutboxFilter::Held => Some("held"),
        };
        self.outbox_rows("WHERE ?1 IS NULL OR state = ?1", state)
    }

    /// Pending mail whose next attempt is due at `now`, oldest first.
    pub fn due_outbox(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Outgoing>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT o.id, ticket, template, envelope_from, recipients, message_id, headers, body, \
                 attach_message, attempts, created_at, retry_from, f.name, f.content_type, f.data \
                 FROM outbox o LEFT JOIN outbox_files f ON f.outbox = o.id \
                 WHERE state = 'pending' AND next_attempt_at <= ?1 ORDER BY next_attempt_at, o.id LIMIT ?2",
            )
            .map_err(query("read due mail"))?;
        let rows = stmt
            .query_map(params![ts(now), limit as i64], |r| {
                let created_at = from_ts(r.get(10)?);
                let mut headers: BTreeMap<String, String> =
                    serde_json::from_str(&r.get::<_, String>(6)?).unwrap_or_default();
                // The internal header says what of the message goes along.
                let only_attachments =
                    headers.remove(ATTACH_HEADER).as_deref() == Some("attachments");
                let attach = r.get::<_, Option<i64>>(8)?.map(|id| {
                    if only_attachments {
                        Attach::AttachmentsOf(id)
                    } else {
                        Attach::Original(id)
                    }
                });
                Ok(Outgoing {
                    id: r.get(0)?,
                    ticket: r.get::<_, Option<i64>>(1)?.map(|t| t as u64),
                    template: r.get(2)?,
                    envelope_from: r.get(3)?,
                    recipients: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
                    message_id: r.get(5)?,
                    headers,
                    body: r.get(7)?,
                    attach,
                    file: match r.get::<_, Option<String>>(12)? {
                        Some(name) => Some(crate::ticket::compose::File {
                            name,
                            content_type: r.get(13)?,
                            data: r.get(14)?,
                        }),
                        None => None,
                    },
                    attempts: r.get(9)?,
                    created_at,
                    retry_from: r.get::<_, Option<i64>>(11)?.map_or(created_at, from_ts),
                })
            })
            .map_err(query("read due mail"))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(query("read due mail"))
    }

    /// When the next pending mail is due (`None`: nothing pending).
    pub fn next_outbox_due(&self) -> Result<Option<DateTime<Utc>>> {
        let t: Option<i64> = self
            .conn
            .query_row(
                "SELECT MIN(t) FROM (SELECT MIN(next_attempt_at) AS t FROM outbox WHERE state = 'pending' \
                 UNION ALL SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'held' AND next_attempt_at < ?1)",
                [super::NEVER],
                |r| r.get(0),
            )
            .map_err(query("find the next due mail"))?;
        Ok(t.map(from_ts))
    }

    /// The server accepted the mail.
    pub fn outbox_sent(&mut self, id: i64, answer: &str, now: DateTime<Utc>) -> Result<()> {
        self.conn
            .execute(
                "UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_at = ?2, answer = ?3, \
                 last_error = NULL WHERE id = ?1 AND state = 'pending'",
                params![id, ts(now), answer],
            )
            .map_err(query("mark a mail sent"))?;
        Ok(())
    }

    /// Accepted for some recipients and refused for good for `refused`:
    /// sent, with the refused ones kept like a delivery report's (a
    /// follow-up refused for its requester wakes the scheduler).
    pub fn outbox_sent_partly(
        &mut self,
        id: i64,
        answer: &str,
        refused: &[String],
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.settle(
            id,
            "UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_at = ?2, answer = ?3, \
             last_error = ?4, bounced_to = ?5 WHERE id = ?1 AND state = 'pending' RETURNING ticket",
            params![
                id,
                ts(now),
                answer,
                error,
                serde_json::to_string(refused).unwrap_or_default()
            ],
            (
                "mail-partly-refused",
                serde_json::json!({"outbox": id, "refused": refused, "error": error}),
            ),
            now,
        )
    }

    /// A temporary failure: try again at `next`.
    pub fn outbox_retry_later(&mut self, id: i64, error: &str, next: DateTime<Utc>) -> Result<()> {
        self.conn
            .execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 \
                 WHERE id = ?1 AND state = 'pending'",
                params![id, ts(next), error],
            )
            .map_err(query("reschedule a mail"))?;
        Ok(())
    }

    /// A permanent failure (a 5xx answer, or given up): the mail is failed
    /// and its ticket's timeline says so.
    pub fn outbox_failed(&mut self, id: i64, error: &str, now: DateTime<Utc>) -> Result<()> {
        self.settle(
            id,
            "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ?2, failed_at = ?3 \
             WHERE id = ?1 AND state = 'pending' RETURNING ticket",
            params![id, error, ts(now)],
            (
                "mail-failed",
                serde_json::json!({"outbox": id, "error": error}),
            ),
            now,
        )
    }

    /// Records a pending mail's final outcome (`update` returns its ticket)
    /// with an event on that ticket; a follow-up that failed wakes the
    /// scheduler. One transaction.
    fn settle(
        &mut self,
        id: i64,
        update: &str,
        p: &[&dyn rusqlite::ToSql],
        (what, detail): (&str, serde_json::Value),
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.check_file()?;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(query("record a mail's outcome"))?;
        let ticket: Option<Option<i64>> = tx
            .query_row(update, p, |r| r.get(0))
            .optional()
            .map_err(query("record a mail's outcome"))?;
        if let Some(Some(ticket)) = ticket {
            tx.execute(
                "INSERT INTO events (ticket, at, actor, what, detail) VALUES (?1, ?2, 'supportd', ?3, ?4)",
                params![ticket, ts(now), what, detail.to_string()],
            )
            .map_err(query("record a mail's outcome"))?;
        }
        wake_on_failed_followup(&tx, id, now)?;
        tx.commit().map_err(query("record a mail's outcome"))
    }

    /// How many mails wait, failed for good, or are held back (index
    /// counts; no scan of the outbox).
    pub fn outbox_counts(&self) -> Result<OutboxCounts> {
        let count = |sql: &str| -> Result<u64> {
            self.conn
                .prepare_cached(sql)
                .and_then(|mut st| st.query_row([], |r| r.get::<_, i64>(0)))
                .map(|n| n as u64)
                .map_err(query("count outgoing mail"))
        };
        Ok(OutboxCounts {
            pending: count("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")?,
            failed: count("SELECT COUNT(*) FROM outbox WHERE state = 'failed'")?,
            held: count("SELECT COUNT(*) FROM outbox WHERE state = 'held'")?,
        })
    }

    /// Held automatic mail whose hour allows it now: it becomes due (and
    /// counts towards the limits from now); the rest get the instant their
    /// recipient's hour will allow them, which `outbox list` shows. Mail
    /// held for a consultant stays (the next mail to them said so).
    /// Returns how many were released.
    pub fn release_held(
        &mut self,
        limits: &crate::ticket::limits::Limits,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let window = now - chrono::Duration::hours(1);
        let held: Vec<(i64, String)> = {
            let mut st = self
                .conn
                .prepare_cached(
                    "SELECT id, recipients FROM outbox WHERE state = 'held' \
                     AND next_attempt_at <= ?1 ORDER BY id LIMIT 1000",
                )
                .map_err(query("read held mail"))?;
            st.query_map([ts(now)], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect())
                .map_err(query("read held mail"))?
        };
        if held.is_empty() {
            return Ok(0);
        }
        self.check_file()?;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(query("release held mail"))?;
        let mut released = 0;
        for (id, recipients) in held {
            let to: Vec<String> = serde_json::from_str(&recipients).unwrap_or_default();
            let recent = recent_in(&tx, &to, window)?;
            if recent.over(limits, &to) {
                let next = next_allowed(&tx, &to, limits, window)?
                    .max(now + chrono::Duration::seconds(60));
                tx.execute(
                    "UPDATE outbox SET next_attempt_at = ?2 WHERE id = ?1",
                    params![id, ts(next)],
                )
                .map_err(query("release held mail"))?;
            } else {
                tx.execute(
                    "UPDATE outbox SET state = 'pending', next_attempt_at = ?2, retry_from = ?2 WHERE id = ?1",
                    params![id, ts(now)],
                )
                .map_err(query("release held mail"))?;
                super::count_automatic(&tx, id, &to, now)?;
                released += 1;
            }
        }
        tx.commit().map_err(query("release held mail"))?;
        Ok(released)
    }

    /// Failed mails (`since`: failed at or after it), oldest first; bounced
    /// ones are left out (their address is wrong, sending again changes
    /// nothing).
    pub fn failed_mails(&self, since: Option<DateTime<Utc>>) -> Result<Vec<i64>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT id FROM outbox WHERE state = 'failed' AND bounced_to IS NULL \
                 AND (?1 IS NULL OR COALESCE(failed_at, created_at) >= ?1) ORDER BY id",
            )
            .map_err(query("find failed mail"))?;
        st.query_map([since.map(ts)], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(query("find failed mail"))
    }

    /// `outbox retry ID`: a failed, held or pending mail is due now, with a
    /// fresh give-up window. Returns the state it was in (`None`: no such
    /// mail); a sent mail is left alone.
    pub fn outbox_retry(&mut self, id: i64, now: DateTime<Utc>) -> Result<Option<String>> {
        let state: Option<String> = self
            .conn
            .query_row("SELECT state FROM outbox WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(query("find a mail"))?;
        if matches!(state.as_deref(), Some("failed" | "held" | "pending")) {
            self.conn
                .execute(
                    "UPDATE outbox SET state = 'pending', next_attempt_at = ?2, retry_from = ?2 WHERE id = ?1",
                    params![id, ts(now)],
                )
                .map_err(query("retry a mail"))?;
        }
        Ok(state)
    }

    /// For the sender's own connection: commits survive a killed process
    /// but may be lost on power failure (`synchronous=NORMAL` in WAL mode).
    /// Losing a "sent" mark costs a duplicate send, never a lost mail, and
    /// makes each mark a fraction of a millisecond.
    pub fn relax_durability_for_sending(&self) -> Result<()> {
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(query("set synchronous=NORMAL"))
    }

    /// SQLite's `data_version`: changes when another connection (another
    /// process: `deliver`, `import --send`) commits to the database.
    pub fn data_version(&self) -> Result<i64> {
        self.conn
            .pragma_query_value(None, "data_version", |r| r.get(0))
            .map_err(query("read data_version"))
    }
}

/// A follow-up that failed (refused by our server, or bounced) sets the
/// ticket's `followup-failed` timer due `now`: the scheduler decides, in
/// the same way for both, whether the customer is unreachable.
pub(super) fn wake_on_failed_followup(
    conn: &rusqlite::Connection,
    outbox_id: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "INSERT INTO timers (ticket, kind, due_at) \
         SELECT ticket, 'followup-failed', ?2 FROM outbox \
         WHERE id = ?1 AND ticket IS NOT NULL AND template IN ('followup-1', 'followup-2') \
         ON CONFLICT (ticket, kind) DO UPDATE SET due_at = excluded.due_at",
        params![outbox_id, ts(now)],
    )
    .map_err(query("wake the scheduler for a failed follow-up"))?;
    Ok(())
}

/// Outgoing mail by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Waiting to be sent (or retried).
    pub pending: u64,
    /// Failed for good.
    pub failed: u64,
    /// Held back by the rate limit.
    pub held: u64,
}

/// The hourly counts for `to` since `since`, inside a transaction.
fn recent_in(
    conn: &rusqlite::Connection,
    to: &[String],
    since: DateTime<Utc>,
) -> Result<crate::ticket::limits::Recent> {
    let mut recent = crate::ticket::limits::Recent::default();
    for a in to {
        let domain = crate::ticket::limits::domain_of(a);
        let n: u32 = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM outbox_automatic WHERE address = ?1 AND created_at >= ?2",
            )
            .and_then(|mut st| st.query_row(params![a, ts(since)], |r| r.get(0)))
            .map_err(query("count automatic mail"))?;
        let repeats: u32 = conn
            .prepare_cached(super::LOOP_LIKE_SQL)
            .and_then(|mut st| st.query_row(params![domain, ts(since)], |r| r.get(0)))
            .map_err(query("count automatic mail"))?;
        recent.by_address.insert(a.clone(), n);
        recent.by_domain.insert(domain.to_string(), repeats);
    }
    Ok(recent)
}

/// When each of `to` will be under its hourly limit again: an hour after
/// the mail that must leave the window first.
fn next_allowed(
    conn: &rusqlite::Connection,
    to: &[String],
    limits: &crate::ticket::limits::Limits,
    since: DateTime<Utc>,
) -> Result<DateTime<Utc>> {
    let mut latest = since;
    for a in to {
        let n: u32 = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM outbox_automatic WHERE address = ?1 AND created_at >= ?2",
            )
            .and_then(|mut st| st.query_row(params![a, ts(since)], |r| r.get(0)))
            .map_err(query("count automatic mail"))?;
        if n < limits.per_recipient_per_hour {
            continue;
        }
        let offset = n - limits.per_recipient_per_hour;
        let leaves: Option<i64> = conn
            .prepare_cached(
                "SELECT created_at FROM outbox_automatic WHERE address = ?1 AND created_at >= ?2 \
                 ORDER BY created_at LIMIT 1 OFFSET ?3",
            )
            .and_then(|mut st| st.query_row(params![a, ts(since), offset], |r| r.get(0)))
            .optional()
            .map_err(query("count automatic mail"))?;
        if let Some(t) = leaves {
            latest =
                latest.max(from_ts(t) + chrono::Duration::hours(1) + chrono::Duration::seconds(1));
        }
    }
    Ok(latest)
}
