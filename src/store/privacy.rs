//! Data-subject requests (GDPR articles 15 and 17): find everything stored
//! about one address, and erase it: raw messages, mail bodies and
//! quarantine go; the address and name in tickets, participants, events,
//! analyses and mail records are replaced by a pseudonym, so the audit trail
//! keeps its shape.

use rusqlite::params;

use super::{Result, Store, query};

/// The rows about one person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    /// Tickets they asked, joined or were copied on.
    pub tickets: Vec<u64>,
    /// Messages of those tickets, and any other message naming them.
    pub messages: Vec<i64>,
    /// Outgoing mail of those tickets, or to them.
    pub outbox: Vec<i64>,
    /// Events naming them (any ticket), and those of their tickets.
    pub events: Vec<i64>,
    /// Names they used (From display names).
    pub names: Vec<String>,
}

/// What an erasure changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Erased {
    /// Raw messages deleted.
    pub raw_messages: u64,
    /// Mail bodies deleted.
    pub outbox_bodies: u64,
    /// Quarantine entries deleted.
    pub quarantined: u64,
    /// Rows whose address or name was replaced.
    pub pseudonymised: u64,
}

fn ids<T: rusqlite::types::FromSql>(
    conn: &rusqlite::Connection,
    sql: &str,
    p: impl rusqlite::Params,
) -> Result<Vec<T>> {
    let mut st = conn.prepare(sql).map_err(query("find a person's data"))?;
    st.query_map(p, |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(query("find a person's data"))
}

fn like(address: &str) -> String {
    let escaped = address
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

impl Store {
    /// Everything stored about `address` (lower-case).
    pub fn data_subject(&self, address: &str) -> Result<Subject> {
        let c = &self.conn;
        let pattern = like(address);
        // The tickets they asked, joined or were copied on.
        const THEIRS: &str = "(SELECT ticket FROM participants WHERE address = ?1 \
             UNION SELECT id FROM tickets WHERE requester = ?1)";
        // Every query names the address (?1) and its LIKE pattern (?2).
        let sorted = |sql: String| -> Result<Vec<i64>> {
            ids(
                c,
                &format!("SELECT * FROM ({sql}) WHERE ?2 IS NOT NULL ORDER BY 1"),
                params![address, pattern],
            )
        };
        let tickets = sorted(format!("SELECT * FROM {THEIRS}"))?;
        let messages = sorted(format!(
            "SELECT id FROM messages WHERE ticket IN {THEIRS} \
             UNION SELECT id FROM messages WHERE lower(analysis) LIKE ?2 ESCAPE '\\' \
             UNION SELECT message FROM message_raw WHERE instr(lower(CAST(raw AS TEXT)), ?1) > 0"
        ))?;
        let outbox = sorted(format!(
            "SELECT id FROM outbox WHERE ticket IN {THEIRS} \
             UNION SELECT id FROM outbox WHERE lower(recipients) LIKE ?2 ESCAPE '\\' \
             OR lower(headers) LIKE ?2 ESCAPE '\\' OR lower(body) LIKE ?2 ESCAPE '\\'"
        ))?;
        let events = sorted(format!(
            "SELECT id FROM events WHERE actor = ?1 OR lower(detail) LIKE ?2 ESCAPE '\\' \
             OR ticket IN {THEIRS}"
        ))?;
        let mut names: Vec<String> = ids(
            c,
            "SELECT requester_name FROM tickets WHERE requester = ?1 AND requester_name IS NOT NULL \
             UNION SELECT json_extract(analysis, '$.requester.name') FROM messages \
             WHERE json_extract(analysis, '$.requester.address') = ?1 \
             AND json_extract(analysis, '$.requester.name') IS NOT NULL",
            [address],
        )?;
        names.retain(|n| n.trim().len() >= 3);
        names.sort();
        names.dedup();
        Ok(Subject {
            tickets: tickets.into_iter().map(|t| t as u64).collect(),
            messages,
            outbox,
            events,
            names,
        })
    }

    /// Erases `address` (lower-case) as [`Subject`] found it, replacing it
    /// by `pseudonym`, in one transaction; then VACUUMs and truncates the
    /// WAL, so no copy stays in the file's free pages. Returns what changed
    /// and whether the WAL could be emptied (not while another process
    /// reads the database).
    pub fn erase_subject(
        &mut self,
        address: &str,
        pseudonym: &str,
        s: &Subject,
    ) -> Result<(Erased, bool)> {
        let mut e = Erased::default();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(query("begin an erasure"))?;
        {
            let exec = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<u64> {
                tx.prepare_cached(sql)
                    .and_then(|mut st| st.execute(p))
                    .map(|n| n as u64)
                    .map_err(query("erase a person's data"))
            };
            for m in &s.messages {
                e.raw_messages += exec("DELETE FROM message_raw WHERE message = ?1", &[m])?;
                e.quarantined += super::drop_quarantine(&tx, "message = ?1", *m)? as u64;
            }
            for o in &s.outbox {
                e.outbox_bodies += exec(
                    "UPDATE outbox SET body = NULL WHERE id = ?1 AND body IS NOT NULL",
                    &[o],
                )?;
            }
            let mut texts: Vec<String> = vec![address.to_string()];
            texts.extend(s.names.iter().cloned());
            // Every text column that may name them, by replacement: the
            // address first, then the names they used.
            let columns = [
                ("tickets", "requester"),
                ("tickets", "requester_name"),
                ("tickets", "subject"),
                ("participants", "address"),
                ("events", "actor"),
                ("events", "detail"),
                ("messages", "analysis"),
                ("messages", "error"),
                ("outbox", "recipients"),
                ("outbox", "bounced_to"),
                ("outbox", "headers"),
                ("outbox", "last_error"),
                ("outbox", "answer"),
                ("outbox_automatic", "address"),
                ("quarantine", "reason"),
                ("suppressed", "address"),
                ("suppressed", "reason"),
            ];
            for (i, text) in texts.iter().enumerate() {
                let with = if i == 0 { pseudonym } else { "(erased)" };
                let pattern = like(&text.to_lowercase());
                for (table, column) in columns {
                    // Case-insensitive: replace each spelling found.
                    let spellings: Vec<String> = ids(
                        &tx,
                        &format!(
                            "SELECT DISTINCT {column} FROM {table} WHERE lower({column}) LIKE ?1 ESCAPE '\\'"
                        ),
                        [&pattern],
                    )?;
                    for value in spellings {
                        let replaced = replace_ci(&value, text, with);
                        e.pseudonymised += exec(
                            &format!("UPDATE {table} SET {column} = ?2 WHERE {column} = ?1"),
                            &[&value, &replaced],
                        )?;
                    }
                }
            }
        }
        tx.commit().map_err(query("commit an erasure"))?;
        self.conn
            .execute_batch("VACUUM")
            .map_err(query("vacuum after an erasure"))?;
        let busy: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .map_err(query("checkpoint after an erasure"))?;
        Ok((e, busy == 0))
    }
}

/// One outgoing mail as exported: who it went to, its headers and body.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExportedMail {
    /// Outbox id.
    pub id: i64,
    /// Ticket number.
    pub ticket: Option<u64>,
    /// Template.
    pub template: String,
    /// Recipients (JSON array as stored).
    pub recipients: serde_json::Value,
    /// Headers (JSON object as stored).
    pub headers: serde_json::Value,
    /// Body, unless purged.
    pub body: Option<String>,
    /// State.
    pub state: String,
    /// Queued at, unix seconds.
    pub created_at: i64,
}

/// One event as exported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExportedEvent {
    /// Event id.
    pub id: i64,
    /// Ticket number.
    pub ticket: Option<u64>,
    /// Unix seconds.
    pub at: i64,
    /// Who.
    pub actor: String,
    /// What.
    pub what: String,
    /// Details.
    pub detail: Option<String>,
}

impl Store {
    /// The outgoing mails with these ids, for an export.
    pub fn export_mails(&self, ids: &[i64]) -> Result<Vec<ExportedMail>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT id, ticket, template, recipients, headers, body, state, created_at FROM outbox WHERE id = ?1",
            )
            .map_err(query("export mail"))?;
        let mut out = Vec::new();
        for id in ids {
            let row = st
                .query_row([id], |r| {
                    Ok(ExportedMail {
                        id: r.get(0)?,
                        ticket: r.get::<_, Option<i64>>(1)?.map(|t| t as u64),
                        template: r.get(2)?,
                        recipients: serde_json::from_str(&r.get::<_, String>(3)?)
                            .unwrap_or_default(),
                        headers: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
                        body: r.get(5)?,
                        state: r.get(6)?,
                        created_at: r.get(7)?,
                    })
                })
                .map_err(query("export mail"))?;
            out.push(row);
        }
        Ok(out)
    }

    /// The events with these ids, for an export.
    pub fn export_events(&self, ids: &[i64]) -> Result<Vec<ExportedEvent>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT id, ticket, at, actor, what, detail FROM events WHERE id = ?1")
            .map_err(query("export events"))?;
        let mut out = Vec::new();
        for id in ids {
            out.push(
                st.query_row([id], |r| {
                    Ok(ExportedEvent {
                        id: r.get(0)?,
                        ticket: r.get::<_, Option<i64>>(1)?.map(|t| t as u64),
                        at: r.get(2)?,
                        actor: r.get(3)?,
                        what: r.get(4)?,
                        detail: r.get(5)?,
                    })
                })
                .map_err(query("export events"))?,
            );
        }
        Ok(out)
    }
}

/// `text` with every case-insensitive occurrence of `what` replaced.
fn replace_ci(text: &str, what: &str, with: &str) -> String {
    let (lower, needle) = (text.to_lowercase(), what.to_lowercase());
    if needle.is_empty() || lower.len() != text.len() {
        return text.replace(what, with);
    }
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(at) = lower[i..].find(&needle) {
        out.push_str(&text[i..i + at]);
        out.push_str(with);
        i += at + needle.len();
    }
    out.push_str(&text[i..]);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn replace_ci_finds_every_spelling() {
        let table = [
            (
                "Jan@Acme.example and jan@acme.example",
                "jan@acme.example",
                "X",
                "X and X",
            ),
            ("nothing here", "jan@acme.example", "X", "nothing here"),
            (
                "\"Jan Kowalski\" <jan@acme.example>",
                "Jan Kowalski",
                "(erased)",
                "\"(erased)\" <jan@acme.example>",
            ),
        ];
        for (text, what, with, expected) in table {
            assert_eq!(super::replace_ci(text, what, with), expected);
        }
    }
}
