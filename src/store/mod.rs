//! The SQLite store: the only code that writes SQL.
//!
//! Owns the schema (numbered migrations embedded in the binary), the durable
//! connection settings, and the two steps every message takes:
//! 1. [`Store::store_raw`] commits raw messages (a batch in one transaction),
//!    deduplicated by source key, else by Message-ID plus the hash of the
//!    message without trace headers ([`crate::mail::identity`]). Only after it
//!    returns may a source acknowledge a message (IMAP flag, Maildir rename,
//!    `deliver` exit 0).
//! 2. Applying the analysis to tickets (the ticket issue) reads the rows
//!    step 1 left in state `stored`.
//!
//! Durability: WAL with `synchronous=FULL` (a commit survives power loss),
//! foreign keys on, a busy timeout so a second process (`deliver`, `import`)
//! waits instead of failing. A database written by a newer supportd is
//! refused rather than misread.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::mail::identity;

/// Migrations, in order; the index + 1 is the schema version they produce.
const MIGRATIONS: &[&str] = &[include_str!("migrations/0001_init.sql")];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Bytes of a generated token key (HMAC-SHA256 takes 32 or more).
pub const TOKEN_KEY_BYTES: usize = 32;

/// How long a writer waits for another process's transaction.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database file or its folder could not be opened or created.
    #[error("cannot open database {}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
    /// The database's folder could not be created.
    #[error("cannot create the database folder {}", path.display())]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A migration failed; the database is left at the previous version.
    #[error("cannot migrate database {} to schema version {version}", path.display())]
    Migrate {
        /// The file.
        path: PathBuf,
        /// The version that failed.
        version: u32,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer supportd.
    #[error(
        "database {} has schema version {found}, newer than the {supported} this supportd knows; \
         run the newer supportd, or restore a backup taken before the upgrade",
        path.display()
    )]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
        /// Ours.
        supported: u32,
    },
    /// A query failed.
    #[error("cannot {what}")]
    Query {
        /// What was being done.
        what: &'static str,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
}

/// Result of the store.
pub type Result<T> = std::result::Result<T, Error>;

fn query(what: &'static str) -> impl FnOnce(rusqlite::Error) -> Error {
    move |source| Error::Query { what, source }
}

/// A message arriving at step 1.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Where it came from, unique per copy (`imap:INBOX:1700000000:42`,
    /// `maildir:<file name>`, `file:<path>#<n>`); `None` for `deliver`.
    pub source_key: Option<String>,
    /// The raw bytes.
    pub raw: Vec<u8>,
    /// When our mail server received it (design.md "received").
    pub received_at: DateTime<Utc>,
}

/// What step 1 did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Stored as a new message with this row id.
    New(i64),
    /// Already stored (same source key, or same Message-ID and content).
    Duplicate(i64),
}

impl Stored {
    /// The message row, new or existing.
    pub fn id(self) -> i64 {
        match self {
            Stored::New(id) | Stored::Duplicate(id) => id,
        }
    }
}

/// The database handle.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if missing, with its folder) and migrates the database.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| Error::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// Opens an existing database read-only (for `inspect --db` and reports);
    /// it must already be at this binary's schema version.
    pub fn open_read_only(path: &Path) -> Result<Store> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| Error::Open {
            path: path.to_path_buf(),
            source,
        })?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(query("set the busy timeout"))?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
        };
        let found = store.schema_version()?;
        if found > SCHEMA_VERSION {
            return Err(Error::TooNew {
                path: store.path.clone(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn configure(&self) -> Result<()> {
        let c = &self.conn;
        c.busy_timeout(BUSY_TIMEOUT)
            .map_err(query("set the busy timeout"))?;
        c.pragma_update(None, "journal_mode", "WAL")
            .map_err(query("switch to WAL"))?;
        c.pragma_update(None, "synchronous", "FULL")
            .map_err(query("set synchronous=FULL"))?;
        c.pragma_update(None, "foreign_keys", "ON")
            .map_err(query("enable foreign keys"))?;
        Ok(())
    }

    /// The schema version stored in the database (0 for a new file).
    pub fn schema_version(&self) -> Result<u32> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get::<_, u32>(0))
            .map_err(query("read the schema version"))
    }

    fn migrate(&mut self) -> Result<()> {
        let found = self.schema_version()?;
        if found > SCHEMA_VERSION {
            return Err(Error::TooNew {
                path: self.path.clone(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let version = i as u32 + 1;
            let fail = |source| Error::Migrate {
                path: self.path.clone(),
                version,
                source,
            };
            let tx = self.conn.transaction().map_err(fail)?;
            tx.execute_batch(sql).map_err(fail)?;
            tx.pragma_update(None, "user_version", version)
                .map_err(fail)?;
            tx.commit().map_err(fail)?;
        }
        Ok(())
    }

    /// Step 1: commits a batch of raw messages in one transaction and says,
    /// for each, whether it was new or a duplicate. Duplicates are the same
    /// source key, or the same Message-ID with the same content apart from
    /// trace headers.
    pub fn store_raw(&mut self, batch: &[Incoming], now: DateTime<Utc>) -> Result<Vec<Stored>> {
        let tx = self
            .conn
            .transaction()
            .map_err(query("begin storing messages"))?;
        let mut out = Vec::with_capacity(batch.len());
        {
            let mut by_source = tx
                .prepare_cached("SELECT id FROM messages WHERE source_key = ?1")
                .map_err(query("look up a source key"))?;
            let mut by_identity = tx
                .prepare_cached(
                    "SELECT id FROM messages WHERE message_id = ?1 AND content_hash = ?2",
                )
                .map_err(query("look up a message identity"))?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO messages (source_key, message_id, content_hash, raw, raw_size, received_at, \
                     direction, state, stored_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'in', 'stored', ?7)",
                )
                .map_err(query("prepare storing a message"))?;
            for m in batch {
                if let Some(key) = &m.source_key {
                    let found: Option<i64> = by_source
                        .query_row([key], |r| r.get(0))
                        .optional()
                        .map_err(query("look up a source key"))?;
                    if let Some(id) = found {
                        out.push(Stored::Duplicate(id));
                        continue;
                    }
                }
                let ident = identity::identity(&m.raw);
                let found: Option<i64> = by_identity
                    .query_row(params![ident.message_id, ident.content_hash], |r| r.get(0))
                    .optional()
                    .map_err(query("look up a message identity"))?;
                if let Some(id) = found {
                    out.push(Stored::Duplicate(id));
                    continue;
                }
                insert
                    .execute(params![
                        m.source_key,
                        ident.message_id,
                        ident.content_hash,
                        m.raw,
                        m.raw.len() as i64,
                        m.received_at.timestamp(),
                        now.timestamp(),
                    ])
                    .map_err(query("store a message"))?;
                out.push(Stored::New(tx.last_insert_rowid()));
            }
        }
        tx.commit().map_err(query("commit stored messages"))?;
        Ok(out)
    }

    /// The HMAC key of our tokens: the configured one when given (and then
    /// not stored), else the one in the database, generated from the OS's
    /// random source on first use.
    pub fn token_key(&mut self, configured: Option<&[u8]>) -> Result<Vec<u8>> {
        if let Some(key) = configured {
            return Ok(key.to_vec());
        }
        if let Some(key) = self.stored_token_key()? {
            return Ok(key);
        }
        let mut key = vec![0u8; TOKEN_KEY_BYTES];
        getrandom::fill(&mut key).map_err(|e| Error::Query {
            what: "generate the token key",
            source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
        })?;
        // Two processes may race on first start: the first key wins.
        self.conn
            .execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('token_key', ?1)",
                [&key],
            )
            .map_err(query("store the token key"))?;
        Ok(self.stored_token_key()?.unwrap_or(key))
    }

    /// The token key in the database, if one was generated.
    pub fn stored_token_key(&self) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = 'token_key'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(query("read the token key"))
    }

    /// Messages stored by step 1 and not yet applied, oldest first.
    pub fn pending_messages(&self, limit: usize) -> Result<Vec<i64>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM messages WHERE state = 'stored' ORDER BY id LIMIT ?1")
            .map_err(query("list pending messages"))?;
        let rows = stmt
            .query_map([limit as i64], |r| r.get(0))
            .map_err(query("list pending messages"))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(query("list pending messages"))
    }

    /// The raw bytes of a stored message (`None` once purged).
    pub fn raw_message(&self, id: i64) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_row("SELECT raw FROM messages WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(query("read a message"))
            .map(Option::flatten)
    }

    /// The ticket of a message we stored or sent with this Message-ID.
    pub fn ticket_of_message_id(&self, message_id: &str) -> Result<Option<u64>> {
        let stored: Option<Option<i64>> = self
            .conn
            .query_row(
                "SELECT ticket FROM messages WHERE message_id = ?1 AND ticket IS NOT NULL LIMIT 1",
                [message_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(query("look up a Message-ID"))?;
        if let Some(Some(t)) = stored {
            return Ok(Some(t as u64));
        }
        let sent: Option<Option<i64>> = self
            .conn
            .query_row(
                "SELECT ticket FROM outbox WHERE message_id = ?1 LIMIT 1",
                [message_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(query("look up a sent Message-ID"))?;
        Ok(sent.flatten().map(|t| t as u64))
    }
}

impl crate::mail::thread::Lookup for Store {
    fn ticket_of_message_id(&self, message_id: &str) -> Option<u64> {
        // A failed look-up threads nothing: the message opens a ticket rather
        // than being lost.
        Store::ticket_of_message_id(self, message_id).ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("supportd-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("sub/folder/supportd.db")
    }

    fn incoming(key: Option<&str>, raw: &str) -> Incoming {
        Incoming {
            source_key: key.map(Into::into),
            raw: raw.as_bytes().to_vec(),
            received_at: "2026-11-25T10:00:00Z".parse().unwrap(),
        }
    }

    const MAIL: &str = "From: a@b.example\nSubject: x\nMessage-ID: <m1@b.example>\n\nbody\n";

    #[test]
    fn opens_creates_folders_and_sets_durability() {
        let path = temp("open");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let mode: String = store
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        let sync: i64 = store
            .conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        let fk: i64 = store
            .conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!((mode.as_str(), sync, fk), ("wal", 2, 1));
        drop(store);
        // Reopening migrates nothing and keeps the version.
        assert_eq!(
            Store::open(&path).unwrap().schema_version().unwrap(),
            SCHEMA_VERSION
        );
        std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap().parent().unwrap())
            .unwrap();
    }

    #[test]
    fn newer_databases_are_refused() {
        let path = temp("newer");
        let store = Store::open(&path).unwrap();
        store
            .conn
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(store);
        let err = Store::open(&path).unwrap_err().to_string();
        assert!(
            err.contains(&format!("schema version {}", SCHEMA_VERSION + 1))
                && err.contains("newer"),
            "{err}"
        );
        assert!(Store::open_read_only(&path).is_err());
    }

    #[test]
    fn step_one_deduplicates() {
        let path = temp("dedupe");
        let mut store = Store::open(&path).unwrap();
        let now = "2026-11-25T10:00:01Z".parse().unwrap();
        let traced = format!(
            "Received: from mx; Wed, 25 Nov 2026 10:00:00 +0100\r\nDelivered-To: support@x\r\n{}",
            MAIL.replace('\n', "\r\n")
        );
        let out = store
            .store_raw(
                &[
                    incoming(Some("maildir:1"), MAIL),
                    incoming(Some("maildir:1"), "something else entirely\n"),
                    incoming(Some("imap:INBOX:1:7"), &traced),
                    incoming(
                        None,
                        "From: a@b.example\nMessage-ID: <m2@b.example>\n\nother\n",
                    ),
                ],
                now,
            )
            .unwrap();
        assert!(matches!(out[0], Stored::New(_)));
        assert_eq!(out[1], Stored::Duplicate(out[0].id()), "same source key");
        assert_eq!(
            out[2],
            Stored::Duplicate(out[0].id()),
            "same mail with other trace headers"
        );
        assert!(matches!(out[3], Stored::New(_)));
        // The same batch again changes nothing.
        let again = store
            .store_raw(&[incoming(Some("maildir:1"), MAIL)], now)
            .unwrap();
        assert_eq!(again, vec![Stored::Duplicate(out[0].id())]);
        assert_eq!(
            store.pending_messages(10).unwrap(),
            vec![out[0].id(), out[3].id()]
        );
        assert_eq!(
            store.raw_message(out[0].id()).unwrap().unwrap(),
            MAIL.as_bytes()
        );
    }

    #[test]
    fn token_key_is_generated_once() {
        let path = temp("key");
        let mut store = Store::open(&path).unwrap();
        let k1 = store.token_key(None).unwrap();
        assert_eq!(k1.len(), TOKEN_KEY_BYTES);
        assert_eq!(store.token_key(None).unwrap(), k1);
        drop(store);
        let mut again = Store::open(&path).unwrap();
        assert_eq!(again.token_key(None).unwrap(), k1);
        assert_eq!(again.token_key(Some(b"configured")).unwrap(), b"configured");
        assert_ne!(
            Store::open(&temp("key2")).unwrap().token_key(None).unwrap(),
            k1
        );
    }

    #[test]
    fn audit_events_cannot_be_deleted() {
        let path = temp("events");
        let store = Store::open(&path).unwrap();
        store
            .conn
            .execute(
                "INSERT INTO events (at, actor, what) VALUES (1, 'supportd', 'test')",
                [],
            )
            .unwrap();
        let err = store
            .conn
            .execute("DELETE FROM events", [])
            .unwrap_err()
            .to_string();
        assert!(err.contains("append-only"), "{err}");
    }
}
