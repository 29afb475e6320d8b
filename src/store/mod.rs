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
use crate::ticket::compose::{Attach, Mail};
use crate::ticket::decide::Decision;
use crate::ticket::timer::{Step, TimerChange};
use crate::ticket::{Event, Record, Ticket};

pub mod analysis;
mod maintenance;
mod metrics;
mod outbox;
mod privacy;
mod retention;
pub use maintenance::Backup;
pub use metrics::{LAST_POLL_KEY, MetricsData};
pub use outbox::{OutboxCounts, OutboxFilter, Outgoing};
pub use privacy::{Erased, ExportedEvent, ExportedMail, Subject};
pub use retention::RetentionReport;

/// Migrations, in order; the index + 1 is the schema version they produce.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_outbox_sending.sql"),
    include_str!("migrations/0003_scheduler.sql"),
    include_str!("migrations/0004_feedback.sql"),
    include_str!("migrations/0005_consultant_held.sql"),
    include_str!("migrations/0006_outbox_files.sql"),
    include_str!("migrations/0007_checks_as_comparisons.sql"),
    include_str!("migrations/0008_message_key.sql"),
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Bytes of a generated token key (HMAC-SHA256 takes 32 or more).
pub const TOKEN_KEY_BYTES: usize = 32;

/// The loop-like automatic mails to a domain (?1) since an instant (?2):
/// beyond the [`crate::ticket::limits::LOOP_AFTER`]-th to each address.
pub(crate) const LOOP_LIKE_SQL: &str = "SELECT COALESCE(SUM(n - 2), 0) FROM (SELECT COUNT(*) AS n \
     FROM outbox_automatic WHERE domain = ?1 AND created_at >= ?2 GROUP BY address) WHERE n > 2";

/// `next_attempt_at` of held mail that is never released by itself (held
/// for a consultant, who was told how many): 9999-12-31T23:59:59Z.
pub const NEVER: i64 = 253_402_300_799;

/// How long a writer waits for another process's transaction.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database file or its folder could not be opened or created.
    #[error("cannot open database {}: {}", path.display(), reason(cause))]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: rusqlite::Error,
    },
    /// A command that only reads found no database file at the path.
    #[error(
        "no database at {}; give its path with --db or the config's [store] path \
         (supportd run, import and deliver create it)",
        path.display()
    )]
    Missing {
        /// The path.
        path: PathBuf,
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
    /// A migration failed; the database is left at the version it had.
    #[error("cannot migrate database {} to schema version {version}: {}", path.display(), reason(cause))]
    Migrate {
        /// The file.
        path: PathBuf,
        /// The version that failed.
        version: u32,
        /// Why.
        cause: rusqlite::Error,
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
    /// A file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A copy of the database failed its integrity check.
    #[error("the copy {} failed its integrity check: {problems}", path.display())]
    Corrupt {
        /// The copy.
        path: PathBuf,
        /// What SQLite found.
        problems: String,
    },
    /// A query failed.
    #[error("cannot {what}: {}", reason(cause))]
    Query {
        /// What was being done.
        what: &'static str,
        /// Why.
        cause: rusqlite::Error,
    },
    /// The database file this process opened is no longer at its path
    /// (deleted, or replaced by another file): whatever is written now
    /// would be lost.
    #[error(
        "the database file {} was {what} while supportd had it open; stopping before anything else \
         is written into a file nobody will read (restore it, or start afresh on purpose: see supportd run --help)",
        path.display()
    )]
    FileGone {
        /// The path.
        path: PathBuf,
        /// `deleted` or `replaced by another file`.
        what: &'static str,
    },
    /// The database file is damaged.
    #[error(
        "database {} is damaged: {problems}; restore the last backup (supportd db backup made it) \
         with supportd stopped, or salvage what is readable with `sqlite3 {} .recover`",
        path.display(),
        path.display()
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// SQLite's findings (the first few).
        problems: String,
    },
}

/// What went wrong underneath, as ops need to read it: SQLite's reason in
/// words (disk full, read-only, locked, damaged) with its own message.
pub fn reason(e: &rusqlite::Error) -> String {
    match Fault::of(e) {
        Some(f) => format!("{} ({e})", f.words()),
        None => e.to_string(),
    }
}

/// The kinds of database trouble ops act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// No space left for the database or its log.
    DiskFull,
    /// The file or its folder cannot be written.
    ReadOnly,
    /// Another process holds the write lock for longer than the busy timeout.
    Locked,
    /// The file is damaged.
    Corrupt,
    /// Reading or writing the file failed (the disk, the filesystem).
    Io,
    /// The file was deleted or replaced under us.
    Gone,
}

impl Fault {
    /// The kind of a SQLite error, if it is one ops must act on.
    pub fn of(e: &rusqlite::Error) -> Option<Fault> {
        use rusqlite::ErrorCode as C;
        match e.sqlite_error_code()? {
            C::DiskFull => Some(Fault::DiskFull),
            C::ReadOnly | C::CannotOpen | C::PermissionDenied => Some(Fault::ReadOnly),
            C::DatabaseBusy | C::DatabaseLocked => Some(Fault::Locked),
            C::DatabaseCorrupt | C::NotADatabase => Some(Fault::Corrupt),
            C::SystemIoFailure => Some(Fault::Io),
            _ => None,
        }
    }

    /// A metric label.
    pub fn label(self) -> &'static str {
        match self {
            Fault::DiskFull => "disk_full",
            Fault::ReadOnly => "read_only",
            Fault::Locked => "locked",
            Fault::Corrupt => "corrupt",
            Fault::Io => "io",
            Fault::Gone => "gone",
        }
    }

    /// In words.
    pub fn words(self) -> &'static str {
        match self {
            Fault::DiskFull => "database or disk is full",
            Fault::ReadOnly => {
                "the database cannot be written (read-only file, folder or filesystem)"
            }
            Fault::Locked => "the database is locked by another process",
            Fault::Corrupt => {
                "the database file is damaged (supportd db check lists what SQLite finds)"
            }
            Fault::Io => "the disk or filesystem failed a read or write",
            Fault::Gone => "the database file was deleted or replaced",
        }
    }
}

impl Error {
    /// The kind of trouble, if ops must act on it.
    pub fn fault(&self) -> Option<Fault> {
        match self {
            Error::Open { cause, .. }
            | Error::Migrate { cause, .. }
            | Error::Query { cause, .. } => Fault::of(cause),
            Error::FileGone { .. } => Some(Fault::Gone),
            Error::Damaged { .. } | Error::Corrupt { .. } => Some(Fault::Corrupt),
            Error::Write { source, .. } | Error::CreateDir { source, .. } => {
                match source.raw_os_error() {
                    Some(libc::ENOSPC) => Some(Fault::DiskFull),
                    Some(libc::EROFS | libc::EACCES | libc::EPERM) => Some(Fault::ReadOnly),
                    _ => None,
                }
            }
            Error::TooNew { .. } | Error::Missing { .. } => None,
        }
    }

    /// Whether the daemon must stop rather than retry: the file is gone or
    /// damaged, so going on would write where nobody reads, or make the
    /// damage worse.
    pub fn is_fatal(&self) -> bool {
        matches!(self.fault(), Some(Fault::Gone | Fault::Corrupt))
    }
}

/// Result of the store.
pub type Result<T> = std::result::Result<T, Error>;

fn query(what: &'static str) -> impl FnOnce(rusqlite::Error) -> Error {
    move |cause| Error::Query { what, cause }
}

/// A message arriving at step 1.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Where it came from, unique per copy (`imap:INBOX:1700000000:42`,
    /// `maildir:<file name>`, `file:<path>#<n>`); `None` for `deliver`.
    pub source_key: Option<String>,
    /// The raw bytes (shared: the analysis reads them while the writer
    /// stores them).
    pub raw: std::sync::Arc<[u8]>,
    /// When our mail server received it (design.md "received").
    pub received_at: DateTime<Utc>,
}

/// A ticket's due timers, and the codes of due timers this version does
/// not know.
pub type DueTimers = (Vec<(Step, DateTime<Utc>)>, Vec<String>);

/// A stored message waiting for step 2.
#[derive(Debug, Clone)]
pub struct PendingMessage {
    /// Its row.
    pub id: i64,
    /// Its raw bytes (`None`: purged before it was applied).
    pub raw: Option<Vec<u8>>,
    /// When our server received it.
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
    /// The database file as opened (writable stores): compared with what
    /// the path names now, so a deleted or replaced file is noticed.
    file: Option<FileGuard>,
}

/// The database file as a store opened it (its device and inode), to
/// compare with what its path names now. No descriptor is kept: closing a
/// second descriptor of the database file would drop SQLite's own POSIX
/// locks of this process.
#[derive(Debug, Clone)]
pub struct FileGuard {
    path: PathBuf,
    id: (u64, u64),
}

impl FileGuard {
    fn open(path: &Path) -> Result<FileGuard> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(FileGuard {
            path: path.to_path_buf(),
            id: (m.dev(), m.ino()),
        })
    }

    /// `Err(FileGone)` when the file was deleted or another one took its
    /// path.
    pub fn check(&self) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let gone = |what| Error::FileGone {
            path: self.path.clone(),
            what,
        };
        match std::fs::metadata(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(gone("deleted")),
            Err(source) => Err(Error::Write {
                path: self.path.clone(),
                source,
            }),
            Ok(now) if (now.dev(), now.ino()) != self.id => Err(gone("replaced by another file")),
            Ok(_) => Ok(()),
        }
    }
}

impl Store {
    /// Opens (creating if missing, with its folder) and migrates the database.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::private::create_dir_all(dir).map_err(|source| Error::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        // 0600 from the first byte (it holds the token key), never through
        // a symlink.
        crate::private::precreate(path).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::default() | OpenFlags::SQLITE_OPEN_NOFOLLOW,
        )
        .map_err(|cause| Error::Open {
            path: path.to_path_buf(),
            cause,
        })?;
        let file = FileGuard::open(path)?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            file: Some(file),
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// Opens an existing database read-only (for `inspect --db` and reports);
    /// it must already be at this binary's schema version.
    pub fn open_read_only(path: &Path) -> Result<Store> {
        // SQLite would say it cannot open the file, which reads like a
        // permission problem.
        let missing = match std::fs::metadata(path) {
            Ok(m) => m.is_dir(),
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        };
        if missing {
            return Err(Error::Missing {
                path: path.to_path_buf(),
            });
        }
        let store = match Store::open_ro(path, false) {
            // WAL readers need the -shm file: on read-only media (a mounted
            // backup, a read-only filesystem) the file is read as it is.
            Err(e) if e.fault() == Some(Fault::ReadOnly) && path.is_file() => {
                let store = Store::open_ro(path, true)?;
                tracing::warn!(
                    db = %path.display(),
                    reason = %e,
                    "read as it is (immutable): its folder or filesystem cannot be written, so changes another process makes now are not seen"
                );
                store
            }
            r => r?,
        };
        Ok(store)
    }

    fn open_ro(path: &Path, immutable: bool) -> Result<Store> {
        let open_err = |cause| Error::Open {
            path: path.to_path_buf(),
            cause,
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = if immutable {
            let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            // RFC 8089 file URI; SQLite decodes %XX.
            let uri = format!(
                "file:{}?immutable=1",
                abs.display()
                    .to_string()
                    .replace('%', "%25")
                    .replace('?', "%3f")
                    .replace('#', "%23")
            );
            Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)
        } else {
            Connection::open_with_flags(path, flags)
        }
        .map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(query("set the busy timeout"))?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
            file: None,
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
        // 16 KB pages for a new database (an existing one keeps its own): a
        // typical message (12 KB) takes one overflow page instead of three,
        // and a commit writes a quarter of the WAL frames. Measured with
        // `cargo bench --bench import`: commits 40% faster.
        c.pragma_update(None, "page_size", 16384)
            .map_err(query("set the page size"))?;
        c.pragma_update(None, "journal_mode", "WAL")
            .map_err(query("switch to WAL"))?;
        c.pragma_update(None, "synchronous", "FULL")
            .map_err(query("set synchronous=FULL"))?;
        // A page cache of 16 MiB (SQLite's default is 2 MiB: 125 of our
        // pages): the indexes a chunk of messages updates stay in memory
        // instead of being read back from the WAL. Measured with perf on
        // the 10,000-message import: the writer's page reads fell from 300
        // to 75 samples and its statements took 0.09 s less.
        c.pragma_update(None, "cache_size", -16_384)
            .map_err(query("set the page cache size"))?;
        c.pragma_update(None, "foreign_keys", "ON")
            .map_err(query("enable foreign keys"))?;
        // Savepoints (one per message in a batch) journal in memory, not in
        // a temporary file.
        c.pragma_update(None, "temp_store", "MEMORY")
            .map_err(query("keep temporary data in memory"))?;
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
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        // Every pending migration in one transaction: a new database is
        // created whole with one sync (not one per version), and a failed
        // upgrade leaves the version the file had.
        let path = self.path.clone();
        let fail = |version| {
            let path = path.clone();
            move |cause| Error::Migrate {
                path,
                version,
                cause,
            }
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(fail(found + 1))?;
        // Another process (a `deliver` next to the daemon) may have
        // migrated while this one waited for the write lock.
        let now_at: u32 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(fail(found + 1))?;
        if now_at > SCHEMA_VERSION {
            return Err(Error::TooNew {
                path: self.path.clone(),
                found: now_at,
                supported: SCHEMA_VERSION,
            });
        }
        // Migration 8 fills the key of the messages stored before it.
        tx.create_scalar_function(
            "supportd_message_key",
            1,
            rusqlite::functions::FunctionFlags::SQLITE_UTF8
                | rusqlite::functions::FunctionFlags::SQLITE_DETERMINISTIC,
            |ctx| Ok(message_key(&ctx.get::<String>(0)?)),
        )
        .map_err(fail(found + 1))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(now_at as usize) {
            tx.execute_batch(sql).map_err(fail(i as u32 + 1))?;
        }
        if now_at < SCHEMA_VERSION {
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(fail(SCHEMA_VERSION))?;
        }
        tx.commit().map_err(fail(SCHEMA_VERSION))
    }

    /// Step 1: commits a batch of raw messages in one transaction and says,
    /// for each, whether it was new or a duplicate. Duplicates are the same
    /// source key, or the same Message-ID with the same content apart from
    /// trace headers.
    pub fn store_raw(&mut self, batch: &[Incoming], now: DateTime<Utc>) -> Result<Vec<Stored>> {
        self.store_raw_and_meta(batch, now, &[])
    }

    /// [`Store::store_raw`] that also sets `meta` values in the same
    /// transaction (a source's position moves with what it stored).
    pub fn store_raw_and_meta(
        &mut self,
        batch: &[Incoming],
        now: DateTime<Utc>,
        meta: &[(&str, &str)],
    ) -> Result<Vec<Stored>> {
        self.check_file()?;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(query("begin storing messages"))?;
        let mut out = Vec::with_capacity(batch.len());
        for m in batch {
            out.push(insert_incoming(&tx, m, identity::identity(&m.raw), now)?);
        }
        for (key, value) in meta {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                params![key, value],
            )
            .map_err(query("write a setting"))?;
        }
        tx.commit().map_err(query("commit stored messages"))?;
        // Committed into the file we opened: the caller moves or flags the
        // source's copies next, so that file must still be the database.
        self.check_file()?;
        Ok(out)
    }

    /// Step 1's dedup for one message inside the caller's batch, without
    /// writing it: a duplicate, or the row id it is to be written under
    /// (by [`Store::commit_decision`] with [`DecidedRow::New`], or
    /// [`Store::store_in_batch_as`]) before anything else is stored.
    pub fn identify_in_batch(
        &mut self,
        m: &Incoming,
        ident: identity::Identity,
    ) -> Result<Identified> {
        identify(&self.conn, m, ident)
    }

    /// Writes a message [`Store::identify_in_batch`] found new, as stored
    /// (its step 2 failed: recorded next, as for any stored message).
    pub fn store_in_batch_as(
        &mut self,
        id: i64,
        m: &Incoming,
        ident: &identity::Identity,
        now: DateTime<Utc>,
    ) -> Result<()> {
        insert_message(&self.conn, id, m, ident, now, None)
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
        random_bytes(&mut key, "generate the token key")?;
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

    /// Starts a batch: the savepoints of `commit_applied` and `fail_message`
    /// nest in one transaction until [`Store::commit_batch`].
    pub fn begin_batch(&mut self) -> Result<()> {
        self.check_file()?;
        self.run_cached("BEGIN IMMEDIATE")
            .map_err(query("begin a batch"))
    }

    /// Whether the database file this store opened is still the one at its
    /// path: not deleted (a cleanup script), not replaced (a copy over it
    /// without stopping the daemon). One `stat` call; made before every
    /// write transaction and before mail goes out.
    pub fn check_file(&self) -> Result<()> {
        self.file.as_ref().map_or(Ok(()), FileGuard::check)
    }

    /// The check of [`Store::check_file`], to take along (the sender checks
    /// before each mail while the store is busy recording results).
    pub fn file_guard(&self) -> Option<FileGuard> {
        self.file.clone()
    }

    /// `query_row` through the statement cache (for queries step 2 makes
    /// per message).
    fn cached_row<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut st| st.query_row(params, f))
    }

    /// Runs a statement without parameters through the statement cache.
    fn run_cached(&self, sql: &str) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut st| st.execute([]))
            .map(|_| ())
    }

    /// Commits a batch.
    pub fn commit_batch(&mut self) -> Result<()> {
        self.run_cached("COMMIT").map_err(query("commit a batch"))
    }

    /// Rolls a batch back.
    pub fn rollback_batch(&mut self) -> Result<()> {
        self.conn
            .execute_batch("ROLLBACK")
            .map_err(query("roll back a batch"))
    }

    /// Removes every timer of a ticket.
    pub fn delete_timers(&mut self, ticket: u64) -> Result<()> {
        self.conn
            .execute("DELETE FROM timers WHERE ticket = ?1", [ticket as i64])
            .map(|_| ())
            .map_err(query("remove timers"))
    }

    /// Queues an outgoing mail (inside the caller's batch or alone). The
    /// row's id completes the Message-ID (`<ref>.<id>.<mac>@domain`) and the
    /// envelope sender (`local+bounce-<id>@domain`). A mail whose key is
    /// already queued is not queued again: `None`. `held` stores it held
    /// back by the rate limit.
    pub fn queue_mail(&mut self, q: &QueuedMail<'_>, now: DateTime<Utc>) -> Result<Option<i64>> {
        let sp = self
            .conn
            .savepoint()
            .map_err(query("begin queueing a mail"))?;
        let id = insert_mail(&sp, q, now)?;
        sp.commit().map_err(query("queue a mail"))?;
        Ok(id)
    }

    /// One of our mails, by its outbox row (the bounce envelope) or its
    /// Message-ID: the row and its ticket.
    pub fn find_mail(
        &self,
        outbox_id: Option<u64>,
        message_id: Option<&str>,
    ) -> Result<Option<(i64, Option<u64>)>> {
        let row: Option<(i64, Option<i64>)> = self.cached_row(
                "SELECT id, ticket FROM outbox WHERE id = ?1 OR (?2 IS NOT NULL AND message_id = ?2) ORDER BY id = ?1 DESC LIMIT 1",
                params![outbox_id.map(|i| i as i64), message_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(query("find one of our mails"))?;
        Ok(row.map(|(id, t)| (id, t.map(|t| t as u64))))
    }

    /// Automatic mails that went (or may go) out to an address since an
    /// instant, and the loop-like ones to its domain: beyond the second to
    /// each address (for the rate limits; a burst of people is not a loop).
    pub fn automatic_mail_since(&self, address: &str, since: DateTime<Utc>) -> Result<(u32, u32)> {
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        let count = |sql: &str, key: &str| -> Result<u32> {
            self.cached_row(sql, params![key, ts(since)], |r| r.get(0))
                .map_err(query("count automatic mail"))
        };
        Ok((
            count(
                "SELECT COUNT(*) FROM outbox_automatic WHERE address = ?1 AND created_at >= ?2",
                address,
            )?,
            count(LOOP_LIKE_SQL, domain)?,
        ))
    }

    /// Automatic mail queued since `since` to each of `addresses` and to
    /// their domains (for the rate limits).
    pub fn recent_automatic<'a>(
        &self,
        addresses: impl IntoIterator<Item = &'a String>,
        since: DateTime<Utc>,
    ) -> Result<crate::ticket::limits::Recent> {
        let mut recent = crate::ticket::limits::Recent::default();
        for a in addresses {
            if recent.by_address.contains_key(a) {
                continue;
            }
            let (n, d) = self.automatic_mail_since(a, since)?;
            recent.by_address.insert(a.clone(), n);
            recent
                .by_domain
                .insert(crate::ticket::limits::domain_of(a).to_string(), d);
        }
        Ok(recent)
    }

    /// The earliest due instant of any timer (the scheduler sleeps until
    /// then); an index lookup.
    pub fn next_timer_due(&self) -> Result<Option<DateTime<Utc>>> {
        self.conn
            .prepare_cached("SELECT MIN(due_at) FROM timers")
            .and_then(|mut st| st.query_row([], |r| r.get::<_, Option<i64>>(0)))
            .map(|t| t.map(from_ts))
            .map_err(query("find the next timer"))
    }

    /// Tickets with a timer due at `now`, earliest due first, at most `limit`.
    pub fn tickets_with_due_timers(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<u64>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT ticket FROM timers WHERE due_at <= ?1 ORDER BY due_at, id LIMIT ?2",
            )
            .map_err(query("find due timers"))?;
        let rows = st
            .query_map(params![ts(now), limit as i64], |r| r.get::<_, i64>(0))
            .map_err(query("find due timers"))?;
        let mut out: Vec<u64> = Vec::new();
        for r in rows {
            let t = r.map_err(query("find due timers"))? as u64;
            if !out.contains(&t) {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// A ticket's timers due at `now`, earliest first, and the codes of
    /// due timers this version does not know.
    pub fn due_timers(&self, ticket: u64, now: DateTime<Utc>) -> Result<DueTimers> {
        let (mut known, mut unknown) = (Vec::new(), Vec::new());
        for (code, at) in self.timers(ticket)? {
            if at > now {
                continue;
            }
            match Step::parse(&code) {
                Some(step) => known.push((step, at)),
                None => unknown.push(code),
            }
        }
        Ok((known, unknown))
    }

    /// What became of an outgoing mail, by its key; `None` when there is
    /// no such mail.
    pub fn mail_outcome(&self, key: &str) -> Result<Option<MailOutcome>> {
        self.conn
            .prepare_cached(
                "SELECT state, sent_at, last_error, recipients, bounced_to FROM outbox WHERE key = ?1",
            )
            .and_then(|mut st| {
                st.query_row([key], |r| {
                    let list = |s: Option<String>| -> Vec<String> {
                        s.and_then(|j| serde_json::from_str(&j).ok())
                            .unwrap_or_default()
                    };
                    Ok(MailOutcome {
                        state: r.get(0)?,
                        sent_at: r.get::<_, Option<i64>>(1)?.map(from_ts),
                        error: r.get(2)?,
                        recipients: list(r.get(3)?),
                        bounced_to: list(r.get(4)?),
                    })
                })
                .optional()
            })
            .map_err(query("read a mail's outcome"))
    }

    /// Automatic mails of a ticket held back by the rate limit.
    pub fn held_mails(&self, ticket: u64) -> Result<u32> {
        self.conn
            .prepare_cached("SELECT COUNT(*) FROM outbox WHERE ticket = ?1 AND state = 'held'")
            .and_then(|mut st| st.query_row([ticket as i64], |r| r.get(0)))
            .map_err(query("count held mail"))
    }

    /// Automatic mails to consultant `address` held back by the hourly
    /// limit since the last one that went out.
    pub fn held_for_consultant(&self, address: &str) -> Result<u32> {
        self.cached_row(
            "SELECT mails FROM consultant_held WHERE address = ?1",
            [address],
            |r| r.get(0),
        )
        .optional()
        .map(Option::unwrap_or_default)
        .map_err(query("count held mail"))
    }

    /// A ticket's latest internal notes as "author: text", oldest first.
    pub fn notes(&self, ticket: u64, limit: usize) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT actor, detail FROM events WHERE ticket = ?1 AND what = 'note' \
                 AND detail IS NOT NULL ORDER BY id DESC LIMIT ?2",
            )
            .map_err(query("read notes"))?;
        let mut notes = stmt
            .query_map(params![ticket as i64, limit as i64], |r| {
                Ok(format!(
                    "{}: {}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?
                ))
            })
            .map_err(query("read notes"))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(query("read notes"))?;
        notes.reverse();
        Ok(notes)
    }

    /// Automatic mails queued to `address` since an instant (a consultant's
    /// hourly limit; their domain is never counted as a whole).
    pub fn automatic_to(&self, address: &str, since: DateTime<Utc>) -> Result<u32> {
        self.cached_row(
            "SELECT COUNT(*) FROM outbox_automatic WHERE address = ?1 AND created_at >= ?2",
            params![address, ts(since)],
            |r| r.get(0),
        )
        .map_err(query("count automatic mail"))
    }

    /// A ticket's timers, earliest first.
    pub fn timers(&self, ticket: u64) -> Result<Vec<(String, DateTime<Utc>)>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT kind, due_at FROM timers WHERE ticket = ?1 ORDER BY due_at, kind",
            )
            .map_err(query("read timers"))?;
        let rows = stmt
            .query_map([ticket as i64], |r| {
                Ok((r.get::<_, String>(0)?, from_ts(r.get(1)?)))
            })
            .map_err(query("read timers"))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(query("read timers"))
    }

    /// The Message-ID of the message stored from `source_key`.
    pub fn message_id_of_source(&self, source_key: &str) -> Result<Option<String>> {
        self.cached_row(
            "SELECT message_id FROM messages WHERE source_key = ?1",
            [source_key],
            |r| r.get(0),
        )
        .optional()
        .map_err(query("find a stored message"))
    }

    /// A value kept in `meta` (source positions and the like).
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        // Cached: the scheduler reads its desk records on every pass.
        self.cached_row(
            "SELECT CAST(value AS TEXT) FROM meta WHERE key = ?1",
            [key],
            |r| r.get(0),
        )
        .optional()
        .map_err(query("read a setting"))
    }

    /// Sets a value in `meta`.
    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                params![key, value],
            )
            .map_err(query("write a setting"))?;
        Ok(())
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

    /// Messages stored by step 1 and not yet applied, after row `after`,
    /// oldest first, with their raw bytes: at most `limit` of them, and no
    /// more once `max_bytes` of raw bytes are read (at least one).
    pub fn pending_after(
        &self,
        after: i64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<PendingMessage>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT m.id, m.received_at, r.raw FROM messages m LEFT JOIN message_raw r ON r.message = m.id \
                 WHERE m.state = 'stored' AND m.id > ?1 ORDER BY m.id LIMIT ?2",
            )
            .map_err(query("list pending messages"))?;
        let mut rows = stmt
            .query(params![after, limit as i64])
            .map_err(query("list pending messages"))?;
        let (mut out, mut bytes) = (Vec::new(), 0usize);
        while bytes < max_bytes {
            let Some(r) = rows.next().map_err(query("list pending messages"))? else {
                break;
            };
            let raw: Option<Vec<u8>> = r.get(2).map_err(query("read a message"))?;
            bytes += raw.as_ref().map_or(0, Vec::len);
            out.push(PendingMessage {
                id: r.get(0).map_err(query("list pending messages"))?,
                received_at: from_ts(r.get(1).map_err(query("list pending messages"))?),
                raw,
            });
        }
        Ok(out)
    }

    /// The raw bytes of a stored message (`None` once purged).
    pub fn raw_message(&self, id: i64) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_row(
                "SELECT raw FROM message_raw WHERE message = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(query("read a message"))
            .map(Option::flatten)
    }

    /// The ticket of a message we stored or sent with this Message-ID.
    pub fn ticket_of_message_id(&self, message_id: &str) -> Result<Option<u64>> {
        let stored: Option<Option<i64>> = self
            .cached_row(
                TICKET_OF_MESSAGE_ID,
                params![message_key(message_id), message_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(query("look up a Message-ID"))?;
        if let Some(Some(t)) = stored {
            return Ok(Some(t as u64));
        }
        let sent: Option<Option<i64>> = self
            .cached_row(
                "SELECT ticket FROM outbox WHERE message_id = ?1 LIMIT 1",
                [message_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(query("look up a sent Message-ID"))?;
        Ok(sent.flatten().map(|t| t as u64))
    }
}

/// A stored event, for `tickets show`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EventRow {
    /// When, `YYYY-MM-DDTHH:MM:SSZ`.
    pub at: String,
    /// Who: an address or `supportd`.
    pub actor: String,
    /// Stable code.
    pub what: String,
    /// Details.
    pub detail: Option<String>,
    /// The message that caused it.
    pub message: Option<i64>,
}

/// A stored message of a ticket, for `tickets show`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MessageRow {
    /// Row id.
    pub id: i64,
    /// Message-ID without angle brackets.
    pub message_id: String,
    /// When our server received it.
    pub received_at: String,
    /// Its kind.
    pub kind: Option<String>,
    /// Sender address.
    pub from: Option<String>,
    /// Subject.
    pub subject: Option<String>,
    /// Its own words, trimmed of quoted history (filled in by `tickets
    /// show` from the raw message; `None` once the raw bytes are gone).
    pub text: Option<String>,
}

/// What became of an outgoing mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailOutcome {
    /// `pending`, `sent`, `failed` or `held`.
    pub state: String,
    /// When our server accepted it.
    pub sent_at: Option<DateTime<Utc>>,
    /// The last error, or why it failed.
    pub error: Option<String>,
    /// Its recipients.
    pub recipients: Vec<String>,
    /// The recipients delivery reports named as failed (empty: none named).
    pub bounced_to: Vec<String>,
}

/// A mail to queue, with what its Message-ID and envelope need.
#[derive(Debug, Clone)]
pub struct QueuedMail<'a> {
    /// The composed mail.
    pub mail: &'a Mail,
    /// Its ticket.
    pub ticket: Option<u64>,
    /// What its Message-ID and envelope are made of.
    pub markers: Markers<'a>,
    /// Held back by the rate limit.
    pub held: bool,
}

/// The recipients an automatic mail keeps once those who reported our mail
/// (feedback reports) are left out, and the error that fails it when
/// nobody is left (the row then keeps its recipients, for the record).
fn without_suppressed<'m>(
    conn: &Connection,
    mail: &'m Mail,
) -> Result<(std::borrow::Cow<'m, [String]>, Option<String>)> {
    use std::borrow::Cow;
    if !mail.automatic {
        return Ok((Cow::Borrowed(&mail.to), None));
    }
    let mut st = conn
        .prepare_cached("SELECT 1 FROM suppressed WHERE address = ?1")
        .map_err(query("look up suppressed recipients"))?;
    let mut suppressed = Vec::new();
    for a in &mail.to {
        if st
            .exists([a.to_lowercase()])
            .map_err(query("look up suppressed recipients"))?
        {
            suppressed.push(a.as_str());
        }
    }
    if suppressed.is_empty() {
        return Ok((Cow::Borrowed(&mail.to), None));
    }
    if suppressed.len() == mail.to.len() {
        let error = format!(
            "not sent: {} reported our mail as spam or abuse (a feedback report); automatic mail to them is suppressed",
            suppressed.join(", ")
        );
        return Ok((Cow::Borrowed(&mail.to), Some(error)));
    }
    let kept = mail
        .to
        .iter()
        .filter(|a| !suppressed.contains(&a.as_str()))
        .cloned()
        .collect();
    Ok((Cow::Owned(kept), None))
}

/// Step 1 for one message: a duplicate by source key, else by Message-ID
/// and content hash, else a new row with its raw bytes.
fn insert_incoming(
    conn: &Connection,
    m: &Incoming,
    ident: identity::Identity,
    now: DateTime<Utc>,
) -> Result<Stored> {
    match identify(conn, m, ident)? {
        Identified::Duplicate(id) => Ok(Stored::Duplicate(id)),
        Identified::New(id, ident) => {
            insert_message(conn, id, m, &ident, now, None)?;
            Ok(Stored::New(id))
        }
    }
}

/// A message before its row is written: already stored, or new with the
/// row id it gets and its identity.
#[derive(Debug)]
pub enum Identified {
    /// Already stored (same source key, or same Message-ID and content).
    Duplicate(i64),
    /// New: the row id it is written under, and its identity.
    New(i64, identity::Identity),
}

/// The dedup of step 1: a duplicate by source key, else by Message-ID and
/// content hash; else the id of the row to write (one past the highest,
/// the id SQLite would choose; the caller writes inside its transaction,
/// so nobody takes it first).
fn identify(conn: &Connection, m: &Incoming, mut ident: identity::Identity) -> Result<Identified> {
    if let Some(key) = &m.source_key {
        let found: Option<i64> = conn
            .prepare_cached("SELECT id FROM messages WHERE source_key = ?1")
            .and_then(|mut st| st.query_row([key], |r| r.get(0)).optional())
            .map_err(query("look up a source key"))?;
        if let Some(id) = found {
            return Ok(Identified::Duplicate(id));
        }
    }
    if ident.dedupable {
        let found: Option<i64> = conn
            .prepare_cached(SAME_MESSAGE)
            .and_then(|mut st| {
                let key = message_key(&ident.message_id);
                st.query_row(params![key, ident.message_id, ident.content_hash], |r| {
                    r.get(0)
                })
                .optional()
            })
            .map_err(query("look up a message identity"))?;
        if let Some(id) = found {
            return Ok(Identified::Duplicate(id));
        }
    } else {
        // Nothing but trace headers (or nothing at all): the hash says
        // nothing, so this input is its own message.
        random_bytes(&mut ident.content_hash, "draw a unique identity")?;
    }
    let last: Option<i64> = conn
        .prepare_cached("SELECT MAX(id) FROM messages")
        .and_then(|mut st| st.query_row([], |r| r.get(0)))
        .map_err(query("number a message"))?;
    Ok(Identified::New(last.unwrap_or(0) + 1, ident))
}

/// The stored message with a Message-ID (?2, its key ?1) and content hash
/// (?3).
const SAME_MESSAGE: &str =
    "SELECT id FROM messages WHERE message_key = ?1 AND message_id = ?2 AND content_hash = ?3";

/// The ticket of a stored message with a Message-ID (?2, its key ?1).
const TICKET_OF_MESSAGE_ID: &str = "SELECT ticket FROM messages \
     WHERE message_key = ?1 AND message_id = ?2 AND ticket IS NOT NULL LIMIT 1";

/// The 8-byte key messages are looked up by Message-ID through (schema 8):
/// the first 8 bytes of the Message-ID's SHA-256, big-endian. Stored with
/// every message, so it never changes.
fn message_key(message_id: &str) -> i64 {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(message_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    i64::from_be_bytes(first)
}

/// Step 2's result for a message written in the same step as its row
/// (`import`): the row is inserted applied, never updated.
#[derive(Clone, Copy)]
struct Applied<'a> {
    kind: Option<&'a str>,
    analysis: &'a str,
    ticket: Option<i64>,
}

/// Writes a new message's row and raw bytes: `stored` (step 2 to come), or
/// already `applied` with step 2's result.
fn insert_message(
    conn: &Connection,
    id: i64,
    m: &Incoming,
    ident: &identity::Identity,
    now: DateTime<Utc>,
    applied: Option<Applied<'_>>,
) -> Result<()> {
    let (state, kind, analysis, ticket) = match &applied {
        Some(a) => ("applied", a.kind, Some(a.analysis), a.ticket),
        None => ("stored", None, None, None),
    };
    conn.prepare_cached(
        "INSERT INTO messages (id, source_key, message_id, message_key, content_hash, raw_size, \
         received_at, direction, state, stored_at, kind, analysis, ticket) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'in', ?8, ?9, ?10, ?11, ?12)",
    )
    .and_then(|mut st| {
        st.execute(params![
            id,
            m.source_key,
            ident.message_id,
            message_key(&ident.message_id),
            ident.content_hash,
            m.raw.len() as i64,
            m.received_at.timestamp(),
            state,
            now.timestamp(),
            kind,
            analysis,
            ticket,
        ])
    })
    .map_err(query("store a message"))?;
    conn.prepare_cached("INSERT INTO message_raw (message, raw) VALUES (?1, ?2)")
        .and_then(|mut st| st.execute(params![id, &m.raw[..]]))
        .map_err(query("store a message"))?;
    Ok(())
}

/// Fills `buf` from the OS's random source; `what` names the purpose in
/// the error.
fn random_bytes(buf: &mut [u8], what: &'static str) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::Query {
        what,
        cause: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
    })
}

/// Records the recipients of automatic mail `id` at `at`, for the hourly
/// limits.
fn count_automatic(conn: &Connection, id: i64, to: &[String], at: DateTime<Utc>) -> Result<()> {
    for address in to {
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        conn.prepare_cached(
            "INSERT INTO outbox_automatic (outbox, address, domain, created_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut st| st.execute(params![id, address, domain, ts(at)]))
        .map_err(query("queue a mail"))?;
    }
    Ok(())
}

/// Keeps the count of mails held back for each consultant: one more when a
/// mail to them is held, none once one goes out (it said how many).
fn count_consultant_held(conn: &Connection, to: &[String], held: bool) -> Result<()> {
    for address in to {
        let sql = if held {
            "INSERT INTO consultant_held (address, mails) VALUES (?1, 1) \
             ON CONFLICT (address) DO UPDATE SET mails = mails + 1"
        } else {
            "DELETE FROM consultant_held WHERE address = ?1"
        };
        conn.prepare_cached(sql)
            .and_then(|mut st| st.execute([address]))
            .map_err(query("count held mail"))?;
    }
    Ok(())
}

fn insert_mail(conn: &Connection, q: &QueuedMail<'_>, now: DateTime<Utc>) -> Result<Option<i64>> {
    let mail = q.mail;
    let (to, suppressed_error) = without_suppressed(conn, mail)?;
    let mut headers = std::borrow::Cow::Borrowed(&mail.headers);
    if let Some(Attach::AttachmentsOf(_)) = mail.attach {
        headers
            .to_mut()
            .insert(ATTACH_HEADER.into(), "attachments".into());
    }
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO outbox (key, ticket, template, automatic, envelope_from, recipients, message_id, \
             headers, body, attach_message, state, last_error, next_attempt_at, created_at) \
             VALUES (?1, ?2, ?3, ?4, '', ?5, '', ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
        )
        .and_then(|mut st| {
            st.execute(params![
                mail.key,
                q.ticket.map(|t| t as i64),
                mail.template,
                mail.automatic,
                serde_json::to_string(&*to).unwrap_or_default(),
                serde_json::to_string(&*headers).unwrap_or_default(),
                mail.body,
                mail.attach.map(Attach::message),
                match (&suppressed_error, q.held) {
                    (Some(_), _) => "failed",
                    (None, true) => "held",
                    (None, false) => "pending",
                },
                suppressed_error,
                ts(now),
            ])
        })
        .map_err(query("queue a mail"))?;
    if inserted == 0 {
        return Ok(None);
    }
    let id = conn.last_insert_rowid();
    let to_consultant = mail.audience == crate::ticket::compose::Audience::Consultant;
    if to_consultant && mail.automatic {
        count_consultant_held(conn, &mail.to, q.held)?;
    }
    if q.held && to_consultant {
        // Held for a consultant: the next mail to them says how many; it
        // is not sent later (supportd outbox retry sends it on demand).
        conn.prepare_cached("UPDATE outbox SET next_attempt_at = ?2 WHERE id = ?1")
            .and_then(|mut st| st.execute(params![id, NEVER]))
            .map_err(query("queue a mail"))?;
    }
    // Automatic mail counts towards the hourly limits once it may go out:
    // a held one when it is released.
    if mail.automatic && !q.held && suppressed_error.is_none() {
        count_automatic(conn, id, &to, now)?;
    }
    set_identity(conn, id, q)?;
    if let Some(f) = &mail.file {
        insert_file(conn, id, f)?;
    }
    Ok(Some(id))
}

/// The Message-ID and envelope sender of outgoing mail `id`: both carry
/// a MAC (a delivery report must know it to fail the mail).
fn set_identity(conn: &Connection, id: i64, q: &QueuedMail<'_>) -> Result<()> {
    let (local, domain) = q
        .markers
        .support_address
        .rsplit_once('@')
        .unwrap_or((q.markers.support_address, ""));
    let row_mac = crate::mail::token::mail_mac(q.markers.key, id);
    let message_id = match q.ticket {
        // A ticket's mail without a MAC of its own takes the row's: the
        // Message-ID stays valid (`SS-1.5.<mac>@`, never `SS-1.5.@`).
        Some(n) => {
            let mac = if q.mail.id_mac.is_empty() {
                &row_mac
            } else {
                &q.mail.id_mac
            };
            format!("{}-{n}.{id}.{mac}@{domain}", q.markers.prefix)
        }
        None => format!("supportd.{id}.{row_mac}@{domain}"),
    };
    conn.prepare_cached("UPDATE outbox SET message_id = ?2, envelope_from = ?3 WHERE id = ?1")
        .and_then(|mut st| {
            st.execute(params![
                id,
                message_id,
                format!("{local}+bounce-{id}.{row_mac}@{domain}")
            ])
        })
        .map_err(query("queue a mail"))?;
    Ok(())
}

/// The file that goes along with outgoing mail `id`.
fn insert_file(conn: &Connection, id: i64, f: &crate::ticket::compose::File) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO outbox_files (outbox, name, content_type, data) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut st| st.execute(params![id, f.name, f.content_type, f.data]))
    .map_err(query("queue a mail's file"))?;
    Ok(())
}

/// A quarantined message, for `supportd quarantine`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QuarantineRow {
    /// The message row (the id the quarantine commands take).
    pub message: i64,
    /// Why it is there.
    pub reason: String,
    /// Since when.
    pub at: String,
    /// Its Message-ID.
    pub message_id: String,
    /// Raw size in bytes.
    pub size: i64,
    /// When our server received it.
    pub received_at: String,
}

/// An outgoing mail of a ticket, for `tickets show`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutboxRow {
    /// Row id.
    pub id: i64,
    /// Template name.
    pub template: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Message-ID without angle brackets.
    pub message_id: String,
    /// `pending`, `sent`, `failed` or `held`.
    pub state: String,
    /// Automatic mail.
    pub automatic: bool,
    /// When it was queued.
    pub created_at: String,
    /// Send attempts so far.
    pub attempts: u32,
    /// The next attempt (pending mail).
    pub next_attempt_at: Option<String>,
    /// When the server accepted it.
    pub sent_at: Option<String>,
    /// The last error or the server's refusal.
    pub last_error: Option<String>,
    /// The ticket, if any.
    pub ticket: Option<u64>,
}

/// Internal header (never sent) saying that only the attachments of
/// `attach_message` go along (a consultant's relay); without it the whole
/// message is attached. Kept in the headers so that rows queued by earlier
/// versions read the same.
pub const ATTACH_HEADER: &str = "X-Supportd-Attach";

/// A change to one ticket, written together: the ticket (inserted when
/// new), its participants, events, outgoing mails and timers.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    /// The ticket after the change (new or updated); `None`: no ticket.
    pub ticket: Option<(&'a Ticket, bool)>,
    /// Audit events.
    pub events: &'a [Record],
    /// When the events happened.
    pub at: DateTime<Utc>,
    /// The message that caused it, if any.
    pub message: Option<i64>,
    /// Outgoing mails.
    pub mails: &'a [QueuedMail<'a>],
    /// Timer changes.
    pub timers: &'a TimerChange,
}

/// What every queued mail's Message-ID and envelope need.
#[derive(Debug, Clone, Copy)]
pub struct Markers<'a> {
    /// The support address (for the envelope and Message-ID domain).
    pub support_address: &'a str,
    /// Ticket prefix.
    pub prefix: &'a str,
    /// The token key (the envelope's and a ticketless Message-ID's MAC).
    pub key: &'a [u8],
}

fn write_change(conn: &Connection, c: &Change<'_>, now: DateTime<Utc>) -> Result<()> {
    write_ticket(conn, c, now)?;
    write_effects(conn, c, now)
}

/// A change's events, mails and timers (its ticket written already).
fn write_effects(conn: &Connection, c: &Change<'_>, now: DateTime<Utc>) -> Result<()> {
    let ticket_id = c.ticket.map(|(t, _)| t.number as i64);
    for e in c.events {
        conn.prepare_cached("INSERT INTO events (ticket, at, actor, what, detail, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            .and_then(|mut st| st.execute(params![ticket_id, ts(c.at), e.actor, e.what.as_str(), e.detail, c.message]))
            .map_err(query("record an event"))?;
    }
    for q in c.mails {
        insert_mail(conn, q, now)?;
    }
    if let Some(t) = ticket_id {
        if c.timers.clear {
            conn.prepare_cached("DELETE FROM timers WHERE ticket = ?1")
                .and_then(|mut st| st.execute([t]))
                .map_err(query("clear timers"))?;
        }
        if c.timers.clear_response {
            conn.prepare_cached(
                    "DELETE FROM timers WHERE ticket = ?1 AND (kind = 'breach' OR kind LIKE 'reminder-%')",
                )
                .and_then(|mut st| st.execute([t]))
                .map_err(query("clear the response timers"))?;
        }
        let removed = c.timers.remove.iter().map(|s| s.code());
        for kind in removed.chain(c.timers.remove_unknown.iter().cloned()) {
            conn.prepare_cached("DELETE FROM timers WHERE ticket = ?1 AND kind = ?2")
                .and_then(|mut st| st.execute(params![t, kind]))
                .map_err(query("remove a timer"))?;
        }
        for (step, due) in &c.timers.set {
            conn.prepare_cached(
                "INSERT INTO timers (ticket, kind, due_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (ticket, kind) DO UPDATE SET due_at = excluded.due_at",
            )
            .and_then(|mut st| st.execute(params![t, step.code(), ts(*due)]))
            .map_err(query("set a timer"))?;
        }
    }
    Ok(())
}

/// The ticket of a change (inserted when new) and its participants.
fn write_ticket(conn: &Connection, c: &Change<'_>, now: DateTime<Utc>) -> Result<()> {
    if let Some((t, new)) = c.ticket {
        let fields = serde_json::to_string(&t.fields_found).unwrap_or_else(|_| "[]".into());
        let missing = t.missing_fields();
        let missing = serde_json::to_string(&missing).unwrap_or_else(|_| "[]".into());
        if new {
            conn.prepare_cached("INSERT INTO tickets (id, requester, subject, severity, state, language, received_at, deadline_at, \
                     accepted_at, owner, fields_found, fields_missing, spam, unreachable, silence_since, closed_at, updated_at, \
                     breached, followups_sent) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)").and_then(|mut st| st.execute(params![
                        t.number as i64, t.requester, t.subject, t.severity.number(), t.state.as_str(), t.language.as_str(),
                        ts(t.received_at), ts(t.deadline_at), t.accepted_at.map(ts), t.owner, fields, missing, t.spam,
                        t.unreachable, t.silence_since.map(ts), t.closed_at.map(ts), ts(now), t.breached, t.followups_sent
                    ]))
                .map_err(query("create a ticket"))?;
        } else {
            conn.prepare_cached("UPDATE tickets SET severity = ?2, state = ?3, deadline_at = ?4, accepted_at = ?5, owner = ?6, \
                     fields_found = ?7, fields_missing = ?8, spam = ?9, unreachable = ?10, silence_since = ?11, \
                     closed_at = ?12, updated_at = ?13, breached = ?14, followups_sent = ?15 WHERE id = ?1").and_then(|mut st| st.execute(params![
                        t.number as i64, t.severity.number(), t.state.as_str(), ts(t.deadline_at), t.accepted_at.map(ts),
                        t.owner, fields, missing, t.spam, t.unreachable, t.silence_since.map(ts), t.closed_at.map(ts), ts(now),
                        t.breached, t.followups_sent
                    ]))
                .map_err(query("update a ticket"))?;
        }
        // A known ticket's participants are mostly stored already: one read
        // instead of an insert (ignored) for each.
        let stored: std::collections::HashSet<String> = if new {
            std::collections::HashSet::new()
        } else {
            participants(conn, t.number)?
        };
        for p in t.participants.iter().filter(|p| !stored.contains(*p)) {
            let role = if *p == t.requester {
                "requester"
            } else if crate::ticket::colleagues(p, &t.requester) {
                "colleague"
            } else {
                "added"
            };
            conn.prepare_cached(
                "INSERT OR IGNORE INTO participants (ticket, address, role) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut st| st.execute(params![t.number as i64, p, role]))
            .map_err(query("add a participant"))?;
        }
        // `#remove ADDRESS`: the event names who left the ticket.
        let removed = c
            .events
            .iter()
            .filter(|r| r.what == Event::ParticipantRemoved);
        for address in removed.filter_map(|r| r.detail.as_deref()) {
            conn.prepare_cached("DELETE FROM participants WHERE ticket = ?1 AND address = ?2")
                .and_then(|mut st| st.execute(params![t.number as i64, address]))
                .map_err(query("remove a participant"))?;
        }
    }
    Ok(())
}

/// The addresses of a ticket's participants, in any collection.
fn participants<C: FromIterator<String>>(conn: &Connection, ticket: u64) -> Result<C> {
    conn.prepare_cached("SELECT address FROM participants WHERE ticket = ?1")
        .and_then(|mut st| {
            st.query_map([ticket as i64], |r| r.get::<_, String>(0))?
                .collect()
        })
        .map_err(query("read participants"))
}

/// Records a delivery report's verdict: a permanent failure fails the mail
/// and remembers the failed recipients; a failed follow-up wakes the
/// scheduler.
fn write_bounce(
    conn: &Connection,
    b: &crate::ticket::decide::BounceMark,
    now: DateTime<Utc>,
) -> Result<()> {
    if !b.permanent {
        return Ok(());
    }
    let mut bounced: Vec<String> = conn
        .prepare_cached("SELECT bounced_to FROM outbox WHERE id = ?1")
        .and_then(|mut st| st.query_row([b.outbox], |r| r.get::<_, Option<String>>(0)))
        .optional()
        .map_err(query("mark a mail bounced"))?
        .flatten()
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default();
    for r in &b.recipients {
        if !bounced.contains(r) {
            bounced.push(r.clone());
        }
    }
    conn.prepare_cached(
        "UPDATE outbox SET state = 'failed', last_error = ?2, bounced_to = ?3 WHERE id = ?1",
    )
    .and_then(|mut st| {
        st.execute(params![
            b.outbox,
            b.reason,
            (!bounced.is_empty()).then(|| serde_json::to_string(&bounced).unwrap_or_default())
        ])
    })
    .map_err(query("mark a mail bounced"))?;
    outbox::wake_on_failed_followup(conn, b.outbox, now)
}

/// The message a decision is about.
#[derive(Debug, Clone, Copy)]
pub enum DecidedRow<'a> {
    /// Its row, stored by step 1.
    Stored(i64),
    /// Read by `import` and not stored yet: its row is written with the
    /// decision, already applied (one insert, never an update), under the
    /// id [`Store::identify_in_batch`] gave it.
    New(i64, &'a Incoming, &'a identity::Identity),
}

impl DecidedRow<'_> {
    /// The message's row id.
    pub fn id(&self) -> i64 {
        match self {
            DecidedRow::Stored(id) | DecidedRow::New(id, ..) => *id,
        }
    }
}

/// Writes a message's decision (see [`Store::commit_decision`]).
fn write_decision(
    tx: &Connection,
    row: DecidedRow<'_>,
    d: &Decision,
    analysis: &str,
    at: DateTime<Utc>,
    m: Markers<'_>,
    now: DateTime<Utc>,
) -> Result<()> {
    let message = row.id();
    if let Some(b) = &d.bounce {
        write_bounce(tx, b, now)?;
    }
    let ticket = d.ticket.as_ref().map(|(t, new)| (t, *new));
    let number = ticket.map(|(t, _)| t.number);
    let mails: Vec<QueuedMail<'_>> = d
        .mails
        .iter()
        .map(|(mail, held)| QueuedMail {
            mail,
            ticket: number,
            markers: m,
            held: *held,
        })
        .collect();
    let change = Change {
        ticket,
        events: &d.events,
        at,
        message: Some(message),
        mails: &mails,
        timers: &d.timers,
    };
    write_ticket(tx, &change, now)?;
    let applied = Applied {
        kind: d.kind.map(|k| k.as_str()),
        analysis,
        ticket: number.map(|n| n as i64),
    };
    // A new row goes in before the rows that name it (events, mails):
    // applied, or stored when the decision quarantines it (below).
    if let DecidedRow::New(id, incoming, ident) = row {
        let applied = d.quarantine.is_none().then_some(applied);
        insert_message(tx, id, incoming, ident, now, applied)?;
    }
    write_effects(tx, &change, now)?;
    for (address, reason) in &d.suppress {
        tx.prepare_cached(
            "INSERT INTO suppressed (address, reason, at, message) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (address) DO UPDATE SET reason = ?2, at = ?3, message = ?4",
        )
        .and_then(|mut st| st.execute(params![address, reason, ts(now), message]))
        .map_err(query("record a suppressed recipient"))?;
    }
    match (&d.quarantine, row) {
        (Some(reason), _) => quarantine_row(tx, message, reason, now)?,
        (None, DecidedRow::New(..)) => {}
        (None, DecidedRow::Stored(_)) => {
            tx.prepare_cached("UPDATE messages SET state = 'applied', kind = ?2, analysis = ?3, ticket = ?4, error = NULL WHERE id = ?1")
                .and_then(|mut st| st.execute(params![message, applied.kind, analysis, applied.ticket]))
                .map_err(query("mark a message applied"))?;
        }
    }
    Ok(())
}

/// Marks a message quarantined with its reason.
fn quarantine_row(conn: &Connection, id: i64, reason: &str, now: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached("UPDATE messages SET state = 'quarantined', error = ?2 WHERE id = ?1")
        .and_then(|mut st| st.execute(params![id, reason]))
        .map_err(query("quarantine a message"))?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO quarantine (message, reason, at) VALUES (?1, ?2, ?3)",
    )
    .and_then(|mut st| st.execute(params![id, reason, ts(now)]))
    .map_err(query("quarantine a message"))?;
    Ok(())
}

/// Drops the quarantined messages whose quarantine rows match `filter` (a
/// condition on `quarantine` with one parameter): raw bytes deleted, the
/// message rows kept as `dropped`, the quarantine rows removed. How many.
fn drop_quarantine(conn: &Connection, filter: &str, param: i64) -> Result<usize> {
    let chosen = format!("SELECT message FROM quarantine WHERE {filter}");
    conn.execute(
        &format!("UPDATE messages SET state = 'dropped' WHERE id IN ({chosen})"),
        [param],
    )
    .and_then(|_| {
        conn.execute(
            &format!("DELETE FROM message_raw WHERE message IN ({chosen})"),
            [param],
        )
    })
    .and_then(|_| conn.execute(&format!("DELETE FROM quarantine WHERE {filter}"), [param]))
    .map_err(query("drop quarantined messages"))
}

fn ts(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn from_ts(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or_default()
}

impl Store {
    /// The number the next new ticket gets: one past the highest, or
    /// `first_number` when there is none (numbers are never reused).
    pub fn next_ticket_number(&self, first_number: u64) -> Result<u64> {
        let max: Option<i64> = self
            .cached_row("SELECT MAX(id) FROM tickets", [], |r| r.get(0))
            .map_err(query("find the next ticket number"))?;
        Ok(max.map_or(first_number, |m| (m as u64 + 1).max(first_number)))
    }

    /// A ticket with its participants.
    pub fn ticket(&self, number: u64) -> Result<Option<Ticket>> {
        use crate::ticket::State;
        let row = self.cached_row(
                "SELECT requester, subject, severity, state, language, received_at, deadline_at, accepted_at, owner, \
                 fields_found, spam, unreachable, silence_since, closed_at, breached, followups_sent, \
                 (SELECT message_id FROM messages WHERE ticket = tickets.id AND direction = 'in' ORDER BY id LIMIT 1) \
                 FROM tickets WHERE id = ?1",
                [number as i64],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, u8>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, i64>(6)?,
                        r.get::<_, Option<i64>>(7)?,
                        r.get::<_, Option<String>>(8)?,
                        r.get::<_, String>(9)?,
                        r.get::<_, bool>(10)?,
                        r.get::<_, bool>(11)?,
                        r.get::<_, Option<i64>>(12)?,
                        r.get::<_, Option<i64>>(13)?,
                        r.get::<_, bool>(14)?,
                        r.get::<_, u8>(15)?,
                        r.get::<_, Option<String>>(16)?,
                    ))
                },
            )
            .optional()
            .map_err(query("read a ticket"))?;
        let Some(r) = row else { return Ok(None) };
        let participants = participants(&self.conn, number)?;
        Ok(Some(Ticket {
            number,
            requester: r.0,
            participants,
            subject: r.1,
            severity: crate::sla::Severity::from_number(r.2).unwrap_or(crate::sla::Severity::Minor),
            state: State::parse(&r.3).unwrap_or(State::Open),
            language: r.4.parse().unwrap_or_default(),
            received_at: from_ts(r.5),
            deadline_at: from_ts(r.6),
            accepted_at: r.7.map(from_ts),
            owner: r.8,
            fields_found: serde_json::from_str(&r.9).unwrap_or_default(),
            spam: r.10,
            unreachable: r.11,
            silence_since: r.12.map(from_ts),
            closed_at: r.13.map(from_ts),
            breached: r.14,
            followups_sent: r.15,
            thread_root: r.16,
        }))
    }

    /// Step 2: writes a message's decision in one savepoint (its own
    /// transaction when alone, nested in a batch): the bounce it records,
    /// the ticket (inserted when new), its participants, the events, mails,
    /// timers and suppressions, and the message marked applied with its
    /// analysis (or quarantined, when the decision says so).
    pub fn commit_decision(
        &mut self,
        message: DecidedRow<'_>,
        d: &Decision,
        analysis: &str,
        at: DateTime<Utc>,
        m: Markers<'_>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.in_savepoint(|tx| write_decision(tx, message, d, analysis, at, m, now))
    }

    /// Runs `f` so that all of its writes happen or none: in a savepoint
    /// (its own transaction) when no transaction is open. Inside a batch
    /// `f` runs as it is: an error there rolls the whole batch back (the
    /// writer never commits a batch after a failed write), and a savepoint
    /// per message would copy every page it touches into the statement
    /// journal for nothing.
    fn in_savepoint<T>(&mut self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        if !self.conn.is_autocommit() {
            return f(&self.conn);
        }
        self.check_file()?;
        let run = |sql: &str| {
            self.conn
                .prepare_cached(sql)
                .and_then(|mut st| st.execute([]))
                .map(|_| ())
        };
        run("SAVEPOINT change").map_err(query("begin a change"))?;
        match f(&self.conn) {
            Ok(v) => {
                run("RELEASE change").map_err(query("commit a change"))?;
                Ok(v)
            }
            Err(e) => {
                let _ = run("ROLLBACK TO change").and_then(|()| run("RELEASE change"));
                Err(e)
            }
        }
    }

    /// Writes one change to a ticket in one savepoint.
    pub fn commit_change(&mut self, c: &Change<'_>, now: DateTime<Utc>) -> Result<()> {
        self.in_savepoint(|tx| write_change(tx, c, now))
    }

    /// The scheduler: writes what a ticket's due timers did (ticket,
    /// events, mails, timers) in one savepoint.
    pub fn commit_fired(
        &mut self,
        f: &crate::ticket::schedule::Fired,
        m: Markers<'_>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mails: Vec<QueuedMail<'_>> = f
            .mails
            .iter()
            .map(|mail| QueuedMail {
                mail,
                ticket: Some(f.ticket.number),
                markers: m,
                held: false,
            })
            .collect();
        self.commit_change(
            &Change {
                ticket: Some((&f.ticket, false)),
                events: &f.events,
                at: now,
                message: None,
                mails: &mails,
                timers: &f.timers,
            },
            now,
        )
    }

    /// Records a failed step 2; the second failure quarantines the message
    /// with its reason. Returns whether it is now quarantined.
    pub fn fail_message(&mut self, id: i64, reason: &str, now: DateTime<Utc>) -> Result<bool> {
        self.in_savepoint(|tx| {
            let attempts: i64 = tx
                .query_row(
                    "UPDATE messages SET attempts = attempts + 1, error = ?2 WHERE id = ?1 RETURNING attempts",
                    params![id, reason],
                    |r| r.get(0),
                )
                .map_err(query("record a failure"))?;
            let quarantined = attempts >= 2;
            if quarantined {
                quarantine_row(tx, id, reason, now)?;
            }
            Ok(quarantined)
        })
    }

    /// Quarantines a message at once with its reason: kept raw, never
    /// applied.
    pub fn quarantine(&mut self, id: i64, reason: &str, now: DateTime<Utc>) -> Result<()> {
        self.in_savepoint(|tx| quarantine_row(tx, id, reason, now))
    }

    /// The quarantine, oldest first.
    pub fn quarantined(&self) -> Result<Vec<QuarantineRow>> {
        self.quarantine_rows("", None)
    }

    /// One message's quarantine entry, if it is in quarantine.
    pub fn quarantined_message(&self, id: i64) -> Result<Option<QuarantineRow>> {
        Ok(self
            .quarantine_rows("WHERE q.message = ?1", Some(id))?
            .pop())
    }

    fn quarantine_rows(&self, filter: &str, id: Option<i64>) -> Result<Vec<QuarantineRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT q.message, q.reason, q.at, m.message_id, m.raw_size, m.received_at FROM quarantine q \
                 JOIN messages m ON m.id = q.message {filter} ORDER BY q.id"
            ))
            .map_err(query("list the quarantine"))?;
        let row = |r: &rusqlite::Row<'_>| {
            Ok(QuarantineRow {
                message: r.get(0)?,
                reason: r.get(1)?,
                at: crate::sla::format_utc(from_ts(r.get(2)?)),
                message_id: r.get(3)?,
                size: r.get(4)?,
                received_at: crate::sla::format_utc(from_ts(r.get(5)?)),
            })
        };
        let rows = match id {
            Some(id) => stmt.query_map([id], row),
            None => stmt.query_map([], row),
        }
        .map_err(query("list the quarantine"))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(query("list the quarantine"))
    }

    /// Takes a message out of quarantine to be applied again (`stored`,
    /// attempts reset). Returns false when it is not in quarantine.
    pub fn release(&mut self, id: i64) -> Result<bool> {
        let sp = self.conn.savepoint().map_err(query("begin a release"))?;
        let n = sp
            .execute("DELETE FROM quarantine WHERE message = ?1", [id])
            .map_err(query("release a message"))?;
        if n > 0 {
            sp.execute(
                "UPDATE messages SET state = 'stored', attempts = 0, error = NULL WHERE id = ?1",
                [id],
            )
            .map_err(query("release a message"))?;
        }
        sp.commit().map_err(query("release a message"))?;
        Ok(n > 0)
    }

    /// Drops a quarantined message: out of quarantine, raw bytes deleted, the
    /// row kept as `dropped` (the audit trail keeps its shape).
    pub fn drop_quarantined(&mut self, id: i64) -> Result<bool> {
        let sp = self.conn.savepoint().map_err(query("begin a drop"))?;
        let n = drop_quarantine(&sp, "message = ?1", id)?;
        sp.commit().map_err(query("drop a message"))?;
        Ok(n > 0)
    }

    /// Ticket numbers in a state (`None`: every state but closed; `all`:
    /// every ticket), in order.
    pub fn ticket_numbers(&self, state: Option<&str>) -> Result<Vec<u64>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id FROM tickets WHERE CASE ?1 WHEN 'all' THEN 1 WHEN 'open-states' THEN state != 'closed' \
                 ELSE state = ?1 END ORDER BY id",
            )
            .map_err(query("list tickets"))?;
        let rows = stmt
            .query_map([state.unwrap_or("open-states")], |r| r.get::<_, i64>(0))
            .map_err(query("list tickets"))?;
        rows.map(|r| r.map(|n| n as u64))
            .collect::<std::result::Result<_, _>>()
            .map_err(query("list tickets"))
    }

    /// Open tickets for the consultants' digest, with the next step of
    /// their customer-silence chain.
    pub fn desk_tickets(&self) -> Result<Vec<crate::ticket::desk::DeskTicket>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT t.id, t.subject, t.requester, t.severity, t.state, t.owner, t.received_at, t.deadline_at, \
                 (SELECT kind FROM timers WHERE ticket = t.id AND kind IN ('followup-1', 'followup-2', 'close') \
                  ORDER BY due_at LIMIT 1), \
                 (SELECT MIN(due_at) FROM timers WHERE ticket = t.id AND kind IN ('followup-1', 'followup-2', 'close')) \
                 FROM tickets t WHERE t.state != 'closed' AND t.spam = 0 ORDER BY t.id",
            )
            .map_err(query("read open tickets"))?;
        let rows = stmt
            .query_map([], |r| {
                let step: Option<String> = r.get(8)?;
                let due: Option<i64> = r.get(9)?;
                Ok(crate::ticket::desk::DeskTicket {
                    number: r.get::<_, i64>(0)? as u64,
                    subject: r.get(1)?,
                    requester: r.get(2)?,
                    severity: crate::sla::Severity::from_number(r.get(3)?)
                        .unwrap_or(crate::sla::Severity::Minor),
                    state: crate::ticket::State::parse(&r.get::<_, String>(4)?)
                        .unwrap_or(crate::ticket::State::Open),
                    owner: r.get(5)?,
                    received_at: from_ts(r.get(6)?),
                    deadline_at: from_ts(r.get(7)?),
                    next_chain_step: step.zip(due.map(from_ts)),
                })
            })
            .map_err(query("read open tickets"))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(query("read open tickets"))
    }

    /// Tickets received in `[from, to)` for the SLA report (spam left
    /// out), of one customer domain when given, by number.
    pub fn report_rows(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        customer: Option<&str>,
    ) -> Result<Vec<crate::report::Row>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, lower(substr(requester, instr(requester, '@') + 1)), severity, received_at, \
                 deadline_at, accepted_at FROM tickets WHERE received_at >= ?1 AND received_at < ?2 \
                 AND spam = 0 AND (?3 IS NULL OR lower(substr(requester, instr(requester, '@') + 1)) = ?3) \
                 ORDER BY id",
            )
            .map_err(query("read tickets for the report"))?;
        let rows = stmt
            .query_map(params![ts(from), ts(to), customer], |r| {
                Ok(crate::report::Row {
                    number: r.get::<_, i64>(0)? as u64,
                    customer: r.get(1)?,
                    severity: crate::sla::Severity::from_number(r.get(2)?)
                        .unwrap_or(crate::sla::Severity::Minor),
                    received_at: from_ts(r.get(3)?),
                    deadline_at: from_ts(r.get(4)?),
                    accepted_at: r.get::<_, Option<i64>>(5)?.map(from_ts),
                })
            })
            .map_err(query("read tickets for the report"))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(query("read tickets for the report"))
    }

    /// Tickets whose mail contains `text` (case-insensitive for ASCII, as
    /// SQLite's LIKE), for `tickets list --search`: the mails supportd
    /// wrote about them (notifications carry the customers' words, relays
    /// the consultants'), and the raw messages as they came.
    pub fn tickets_mentioning(&self, text: &str) -> Result<std::collections::HashSet<u64>> {
        let pattern = format!(
            "%{}%",
            text.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT ticket FROM outbox WHERE ticket IS NOT NULL AND body LIKE ?1 ESCAPE '\\' \
                 UNION SELECT m.ticket FROM messages m JOIN message_raw r ON r.message = m.id \
                 WHERE m.ticket IS NOT NULL AND CAST(r.raw AS TEXT) LIKE ?1 ESCAPE '\\'",
            )
            .map_err(query("search messages"))?;
        let rows = stmt
            .query_map([pattern], |r| r.get::<_, i64>(0))
            .map_err(query("search messages"))?;
        rows.map(|r| r.map(|n| n as u64))
            .collect::<std::result::Result<_, _>>()
            .map_err(query("search messages"))
    }

    /// A ticket's events, oldest first.
    pub fn events(&self, ticket: u64) -> Result<Vec<EventRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT at, actor, what, detail, message FROM events WHERE ticket = ?1 ORDER BY id",
            )
            .map_err(query("read events"))?;
        let rows = stmt
            .query_map([ticket as i64], |r| {
                Ok(EventRow {
                    at: crate::sla::format_utc(from_ts(r.get(0)?)),
                    actor: r.get(1)?,
                    what: r.get(2)?,
                    detail: r.get(3)?,
                    message: r.get(4)?,
                })
            })
            .map_err(query("read events"))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(query("read events"))
    }

    /// A ticket's messages, in the order received.
    pub fn ticket_messages(&self, ticket: u64) -> Result<Vec<MessageRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, message_id, received_at, kind, json_extract(analysis, '$.requester.address'), \
                 json_extract(analysis, '$.subject') \
                 FROM messages WHERE ticket = ?1 ORDER BY received_at, id",
            )
            .map_err(query("read messages"))?;
        let rows = stmt
            .query_map([ticket as i64], |r| {
                Ok(MessageRow {
                    id: r.get(0)?,
                    message_id: r.get(1)?,
                    received_at: crate::sla::format_utc(from_ts(r.get(2)?)),
                    kind: r.get(3)?,
                    from: r.get(4)?,
                    subject: r.get(5)?,
                    text: None,
                })
            })
            .map_err(query("read messages"))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(query("read messages"))
    }

    /// The received instant of a stored message.
    pub fn message_received_at(&self, id: i64) -> Result<Option<DateTime<Utc>>> {
        self.cached_row(
            "SELECT received_at FROM messages WHERE id = ?1",
            [id],
            |r| r.get::<_, i64>(0),
        )
        .optional()
        .map(|t| t.map(from_ts))
        .map_err(query("read a message"))
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

    /// Removes the folder [`temp`] made for `path`.
    fn remove_temp(path: &Path) {
        std::fs::remove_dir_all(path.ancestors().nth(3).unwrap()).unwrap();
    }

    /// A database file made by an earlier binary: the first `version`
    /// migrations applied, at that version.
    fn at_version(name: &str, version: usize) -> (PathBuf, Connection) {
        let path = temp(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let old = Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..version] {
            old.execute_batch(sql).unwrap();
        }
        old.pragma_update(None, "user_version", i64::try_from(version).unwrap())
            .unwrap();
        (path, old)
    }

    fn incoming(key: Option<&str>, raw: &str) -> Incoming {
        Incoming {
            source_key: key.map(Into::into),
            raw: raw.as_bytes().into(),
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
        remove_temp(&path);
    }

    #[test]
    fn a_failed_upgrade_leaves_the_version_the_file_had() {
        // A database of version 4 in which migration 7 cannot run (its
        // table name is taken): 5 and 6 would apply, then 7 fails.
        let (path, raw) = at_version("upgrade", 4);
        raw.execute_batch("CREATE TABLE schema_7_cookie (x)")
            .unwrap();
        drop(raw);
        let Err(e) = Store::open(&path) else {
            panic!("migrated past a failing step");
        };
        assert!(
            matches!(e, Error::Migrate { version: 7, .. }),
            "{e}: names the version that failed"
        );
        // Nothing of 5 and 6 stayed: the file is as it was.
        let raw = Connection::open(&path).unwrap();
        let version: u32 = raw
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        let held: i64 = raw
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'consultant_held'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!((version, held), (4, 0));
        drop(raw);
        remove_temp(&path);
    }

    #[test]
    fn reading_commands_name_a_missing_database() {
        let dir = temp("missing");
        let folder = dir.parent().unwrap().to_path_buf();
        std::fs::create_dir_all(&folder).unwrap();
        // No file at the path, and a folder where the file should be.
        for path in [dir.clone(), folder.clone()] {
            let Err(e) = Store::open_read_only(&path) else {
                panic!("{} opened", path.display());
            };
            let text = e.to_string();
            assert!(matches!(e, Error::Missing { .. }), "{text}");
            assert!(text.contains(&format!("no database at {}", path.display())));
            assert!(text.contains("--db"), "{text}");
            // Nothing was created on the way.
            assert!(!dir.exists());
        }
        remove_temp(&dir);
    }

    /// Whether running `sql` builds a temporary b-tree (`OpenEphemeral`).
    fn builds_temp_tree(conn: &Connection, sql: &str) -> bool {
        let mut st = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
        let ops: Vec<String> = st
            .query_map([rusqlite::types::Null], |r| r.get::<_, String>(1))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        ops.iter().any(|op| op == "OpenEphemeral")
    }

    #[test]
    fn state_checks_refuse_the_same_values_without_temp_trees() {
        // A database of version 6 (before the checks were rewritten), with
        // rows in it, opened by this binary.
        let (path, old) = at_version("checks", 6);
        old.execute_batch(
            "INSERT INTO tickets (id, requester, subject, severity, state, language, received_at, deadline_at, updated_at) \
             VALUES (1, 'a@b.example', 'x', 3, 'open', 'en', 0, 0, 0); \
             INSERT INTO participants (ticket, address, role) VALUES (1, 'a@b.example', 'requester');",
        )
        .unwrap();
        let writes = [
            "UPDATE tickets SET state = ?1 WHERE id = 1",
            "INSERT INTO messages (message_id, content_hash, raw_size, received_at, direction, state, stored_at) \
             VALUES ('m@x', x'00', 1, 0, 'in', ?1, 0)",
            "INSERT INTO participants (ticket, address, role) VALUES (1, 'c@b.example', ?1)",
            "INSERT INTO outbox (key, template, automatic, envelope_from, recipients, message_id, headers, state, \
             next_attempt_at, created_at) VALUES ('t:' || ?1, 't', 0, 'e@x', '[]', 'o@x', '{}', ?1, 0, 0)",
        ];
        assert!(builds_temp_tree(&old, writes[0]), "the old checks did");

        // `old` stays open across the migration, as a running reader would;
        // its next statement notices the schema changed.
        let store = Store::open(&path).unwrap();
        old.query_row("SELECT count(*) FROM tickets", [], |r| r.get::<_, i64>(0))
            .unwrap();
        assert!(
            !builds_temp_tree(&old, writes[0]),
            "a connection opened before reads the new schema"
        );
        drop(old);
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let c = &store.conn;
        // The rows are still there.
        let state: String = c
            .query_row("SELECT state FROM tickets WHERE id = 1", [], |r| r.get(0))
            .unwrap();
        assert_eq!(state, "open");
        // (statement, a value it accepts, values it refuses)
        let table: [(&str, &str, &[&str]); 4] = [
            (writes[0], "waiting", &["bogus", "Open", "", "open "]),
            (writes[1], "applied", &["bogus", "APPLIED"]),
            (writes[2], "colleague", &["owner", ""]),
            (writes[3], "held", &["queued", "Sent"]),
        ];
        for (sql, good, bad) in table {
            assert!(!builds_temp_tree(c, sql), "{sql}");
            for value in bad {
                let err = c.execute(sql, [value]).unwrap_err().to_string();
                assert!(
                    err.contains("CHECK constraint failed"),
                    "{sql} {value}: {err}"
                );
            }
            assert_eq!(c.execute(sql, [good]).unwrap(), 1, "{sql} {good}");
        }
        let check: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        drop(store);
        remove_temp(&path);
    }

    /// The plan SQLite picks for `sql`, one line per step.
    fn plan(conn: &Connection, sql: &str) -> String {
        let mut st = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows: Vec<String> = st
            .query_map(
                rusqlite::params_from_iter(vec![rusqlite::types::Null; st.parameter_count()]),
                |r| r.get::<_, String>(3),
            )
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        rows.join("\n")
    }

    #[test]
    fn messages_stored_before_the_message_key_are_still_found() {
        // A database of version 7 with a ticket and its first message,
        // stored as that version stored them (no key).
        let (path, old) = at_version("message-key", 7);
        let ident = identity::identity(MAIL.as_bytes());
        old.execute(
            "INSERT INTO tickets (id, requester, subject, severity, state, language, received_at, deadline_at, updated_at) \
             VALUES (1, 'a@b.example', 'x', 3, 'open', 'en', 0, 0, 0)",
            [],
        )
        .unwrap();
        old.execute(
            "INSERT INTO messages (id, message_id, content_hash, raw_size, received_at, direction, state, stored_at, ticket) \
             VALUES (5, ?1, ?2, 1, 0, 'in', 'applied', 0, 1)",
            params![ident.message_id, ident.content_hash],
        )
        .unwrap();
        drop(old);

        let mut store = Store::open(&path).unwrap();
        // The key is the first 8 bytes of the Message-ID's SHA-256
        // (computed apart: Python's hashlib), filled in for the old row.
        let key: i64 = store
            .conn
            .query_row("SELECT message_key FROM messages WHERE id = 5", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(
            (key, message_key("m1@b.example")),
            (6374745881677086130, key)
        );
        // A reply to it threads, and the same mail delivered again by
        // another path is a duplicate of it.
        assert_eq!(store.ticket_of_message_id("m1@b.example").unwrap(), Some(1));
        assert_eq!(store.ticket_of_message_id("m2@b.example").unwrap(), None);
        let again = format!("Received: from mx2\n{MAIL}");
        let now = "2026-11-25T10:00:01Z".parse().unwrap();
        assert_eq!(
            store.store_raw(&[incoming(None, &again)], now).unwrap(),
            vec![Stored::Duplicate(5)]
        );
        // Both look-ups go through the key's index, not a scan.
        let c = &store.conn;
        for sql in [SAME_MESSAGE, TICKET_OF_MESSAGE_ID] {
            let plan = plan(c, sql);
            assert!(plan.contains("USING INDEX messages_key"), "{sql}: {plan}");
        }
        let gone: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_schema \
                 WHERE name IN ('messages_identity', 'participants_address')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(gone, 0);
        drop(store);
        remove_temp(&path);
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
