//! Data-subject requests (GDPR articles 15 and 17): find everything stored
//! about one address, and erase it: raw messages, mail bodies and
//! quarantine go; the address and name in tickets, participants, events,
//! analyses and mail records are replaced by a pseudonym, so the audit trail
//! keeps its shape.

use rusqlite::OptionalExtension;

use super::{Result, Store, query};
use crate::mail::mention::Person;

/// The rows about one person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    /// Tickets they asked, joined or were copied on.
    pub tickets: Vec<u64>,
    /// Messages of those tickets, and any other message naming them (in
    /// its bytes or decoded text).
    pub messages: Vec<i64>,
    /// The source keys of those messages (`maildir:NAME`, `imap:...`), so
    /// copies outside the database can be found.
    pub source_keys: Vec<String>,
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

/// The ids of rows whose `column` names `person` by exact address: SQL
/// narrows by substring, [`Person::address_in`] decides.
fn naming(
    conn: &rusqlite::Connection,
    table: &str,
    id: &str,
    columns: &[&str],
    person: &Person,
) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for column in columns {
        let mut st = conn
            .prepare(&format!(
                "SELECT {id}, {column} FROM {table} WHERE instr(lower({column}), ?1) > 0"
            ))
            .map_err(query("find a person's data"))?;
        let rows = st
            .query_map([person.address()], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(query("find a person's data"))?;
        for row in rows {
            let (n, text) = row.map_err(query("find a person's data"))?;
            if person.address_in(&text) {
                out.push(n);
            }
        }
    }
    Ok(out)
}

/// `v` sorted without repeats.
fn set<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort_unstable();
    v.dedup();
    v
}

/// The tickets a person asked, joined or was copied on.
const THEIRS: &str = "(SELECT ticket FROM participants WHERE address = ?1 \
     UNION SELECT id FROM tickets WHERE requester = ?1)";

/// Where an erasure replaces the address (every row) and the names (only
/// the rows about the person: `(table, column, key column, scope)`).
const COLUMNS: [(&str, &str, &str, Scope); 17] = [
    ("tickets", "requester", "id", Scope::Tickets),
    ("tickets", "requester_name", "id", Scope::Tickets),
    ("tickets", "subject", "id", Scope::Tickets),
    ("participants", "address", "", Scope::None),
    ("events", "actor", "id", Scope::Events),
    ("events", "detail", "id", Scope::Events),
    ("messages", "analysis", "id", Scope::Messages),
    ("messages", "error", "id", Scope::Messages),
    ("outbox", "recipients", "id", Scope::Outbox),
    ("outbox", "bounced_to", "id", Scope::Outbox),
    ("outbox", "headers", "id", Scope::Outbox),
    ("outbox", "last_error", "id", Scope::Outbox),
    ("outbox", "answer", "id", Scope::Outbox),
    ("outbox_automatic", "address", "", Scope::None),
    ("quarantine", "reason", "message", Scope::Messages),
    ("suppressed", "address", "", Scope::None),
    ("suppressed", "reason", "", Scope::None),
];

/// Which of a [`Subject`]'s id lists a column's names are erased in.
#[derive(Debug, Clone, Copy)]
enum Scope {
    Tickets,
    Messages,
    Outbox,
    Events,
    None,
}

impl Subject {
    fn scope(&self, s: Scope) -> Vec<i64> {
        match s {
            Scope::Tickets => self.tickets.iter().map(|t| *t as i64).collect(),
            Scope::Messages => self.messages.clone(),
            Scope::Outbox => self.outbox.clone(),
            Scope::Events => self.events.clone(),
            Scope::None => Vec::new(),
        }
    }
}

impl Store {
    /// Everything stored about `person`. Reads every raw message once
    /// (decoded, see [`Person::in_raw`]); `progress` hears how many of how
    /// many were read.
    pub fn data_subject(
        &self,
        person: &Person,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Subject> {
        let c = &self.conn;
        let address = person.address();
        let tickets: Vec<i64> = ids(c, &format!("SELECT * FROM {THEIRS}"), [address])?;
        let mut messages: Vec<i64> = ids(
            c,
            &format!("SELECT id FROM messages WHERE ticket IN {THEIRS}"),
            [address],
        )?;
        messages.extend(naming(c, "messages", "id", &["analysis"], person)?);
        messages.extend(self.raw_naming(person, progress)?);
        let messages = set(messages);
        let mut outbox: Vec<i64> = ids(
            c,
            &format!("SELECT id FROM outbox WHERE ticket IN {THEIRS}"),
            [address],
        )?;
        outbox.extend(naming(
            c,
            "outbox",
            "id",
            &["recipients", "headers", "body"],
            person,
        )?);
        let mut events: Vec<i64> = ids(
            c,
            &format!("SELECT id FROM events WHERE actor = ?1 OR ticket IN {THEIRS}"),
            [address],
        )?;
        events.extend(naming(c, "events", "id", &["detail"], person)?);
        let mut source_keys = Vec::new();
        for m in &messages {
            source_keys.extend(
                ids::<Option<String>>(c, "SELECT source_key FROM messages WHERE id = ?1", [m])?
                    .into_iter()
                    .flatten(),
            );
        }
        Ok(Subject {
            tickets: set(tickets).into_iter().map(|t| t as u64).collect(),
            messages,
            source_keys,
            outbox: set(outbox),
            events: set(events),
            names: person.names().to_vec(),
        })
    }

    /// The names `address` (lower-case) used: the display names of their
    /// mail, three characters or longer.
    pub fn names_of(&self, address: &str) -> Result<Vec<String>> {
        let mut names: Vec<String> = ids(
            &self.conn,
            "SELECT requester_name FROM tickets WHERE requester = ?1 AND requester_name IS NOT NULL \
             UNION SELECT json_extract(analysis, '$.requester.name') FROM messages \
             WHERE json_extract(analysis, '$.requester.address') = ?1 \
             AND json_extract(analysis, '$.requester.name') IS NOT NULL",
            [address],
        )?;
        names.retain(|n| n.trim().chars().count() >= 3);
        Ok(set(names))
    }

    /// Raw messages that name `person`, decoded.
    fn raw_naming(&self, person: &Person, progress: &mut dyn FnMut(u64, u64)) -> Result<Vec<i64>> {
        let total: i64 = self
            .conn
            .query_row("SELECT count(*) FROM message_raw", [], |r| r.get(0))
            .map_err(query("count raw messages"))?;
        let mut st = self
            .conn
            .prepare("SELECT message, raw FROM message_raw ORDER BY message")
            .map_err(query("read raw messages"))?;
        let mut rows = st.query([]).map_err(query("read raw messages"))?;
        let (mut out, mut read) = (Vec::new(), 0u64);
        while let Some(row) = rows.next().map_err(query("read raw messages"))? {
            let id: i64 = row.get(0).map_err(query("read raw messages"))?;
            let raw = row
                .get_ref(1)
                .and_then(|v| Ok(v.as_blob()?.to_vec()))
                .map_err(query("read raw messages"))?;
            if person.in_raw(&raw) {
                out.push(id);
            }
            read += 1;
            if read % 1000 == 0 || read == total as u64 {
                progress(read, total as u64);
            }
        }
        Ok(out)
    }

    /// Erases `person` as [`Subject`] found them, in one transaction: raw
    /// messages, mail bodies and quarantine entries go; the exact address
    /// is replaced by `pseudonym` wherever it stands, and their whole names
    /// by `(erased)` in the rows about them (never in other people's
    /// tickets). Then VACUUMs and truncates the WAL, so no copy stays in
    /// the file's free pages. Returns what changed and whether the WAL could
    /// be emptied (not while another process reads the database).
    pub fn erase_subject(
        &mut self,
        person: &Person,
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
                exec("DELETE FROM outbox_files WHERE outbox = ?1", &[o])?;
            }
            for (table, column, key, scope) in COLUMNS {
                e.pseudonymised +=
                    rewrite(&tx, table, column, key, &s.scope(scope), person, pseudonym)?;
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

/// Replaces the address in `table.column`, value by value (for tables
/// without a rowid, and columns where names are never erased).
fn rewrite_values(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    column: &str,
    person: &Person,
    pseudonym: &str,
) -> Result<u64> {
    let values: Vec<String> = ids(
        tx,
        &format!("SELECT DISTINCT {column} FROM {table} WHERE instr(lower({column}), ?1) > 0"),
        [person.address()],
    )?;
    let mut changed = 0;
    for value in values {
        let replaced = person.replace(&value, pseudonym, false);
        if replaced != value {
            changed += tx
                .execute(
                    &format!("UPDATE OR REPLACE {table} SET {column} = ?2 WHERE {column} = ?1"),
                    rusqlite::params![value, replaced.as_ref()],
                )
                .map_err(query("erase a person's data"))? as u64;
        }
    }
    Ok(changed)
}

/// Replaces the address in every row of `table.column` that names it, and
/// the names too in the rows whose `key` is in `scope`. Returns the rows
/// changed.
fn rewrite(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    column: &str,
    key: &str,
    scope: &[i64],
    person: &Person,
    pseudonym: &str,
) -> Result<u64> {
    if scope.is_empty() {
        return rewrite_values(tx, table, column, person, pseudonym);
    }
    let mut rows: Vec<(i64, String, bool)> = Vec::new();
    let mut read = |sql: &str, p: &dyn rusqlite::ToSql, names: bool| -> Result<()> {
        let mut st = tx
            .prepare_cached(sql)
            .map_err(query("erase a person's data"))?;
        let found = st
            .query_map([p], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .and_then(|r| r.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(query("erase a person's data"))?;
        rows.extend(found.into_iter().map(|(k, v)| (k, v, names)));
        Ok(())
    };
    read(
        &format!("SELECT rowid, {column} FROM {table} WHERE instr(lower({column}), ?1) > 0"),
        &person.address(),
        false,
    )?;
    for k in scope {
        read(
            &format!(
                "SELECT rowid, {column} FROM {table} WHERE {key} = ?1 AND {column} IS NOT NULL"
            ),
            k,
            true,
        )?;
    }
    let mut changed = 0;
    for (rowid, value, names) in rows {
        // Read again: an earlier pass may have rewritten the row.
        let now: Option<String> = tx
            .query_row(
                &format!("SELECT {column} FROM {table} WHERE rowid = ?1"),
                [rowid],
                |r| r.get(0),
            )
            .map_err(query("erase a person's data"))?;
        let current = now.unwrap_or(value);
        let replaced = person.replace(&current, pseudonym, names);
        if replaced != current {
            changed += tx
                .execute(
                    &format!("UPDATE OR REPLACE {table} SET {column} = ?2 WHERE rowid = ?1"),
                    rusqlite::params![rowid, replaced.as_ref()],
                )
                .map_err(query("erase a person's data"))? as u64;
        }
    }
    Ok(changed)
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
    /// Of `ids`, the messages consultants wrote: internal (their notes,
    /// their tokens), never exported.
    pub fn consultant_messages(&self, ids: &[i64]) -> Result<std::collections::HashSet<i64>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT kind = 'consultant_command' FROM messages WHERE id = ?1")
            .map_err(query("read message kinds"))?;
        let mut out = std::collections::HashSet::new();
        for id in ids {
            let theirs: Option<bool> = st
                .query_row([id], |r| r.get(0))
                .optional()
                .map_err(query("read message kinds"))?
                .flatten();
            if theirs == Some(true) {
                out.insert(*id);
            }
        }
        Ok(out)
    }

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
