//! `supportd db backup|check`: a consistent copy of a live database, and
//! SQLite's integrity check.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::{Error, Result, Store, query};

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// The file written.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Tickets in the copy.
    pub tickets: u64,
}

impl Store {
    /// Copies the database to `to` with SQLite's online backup API, all
    /// pages in one step: one read transaction, so the copy is a consistent
    /// snapshot while the daemon goes on writing (WAL: writers are not
    /// blocked). The copy is written beside `to` and renamed into place
    /// after its own integrity check, so a failed backup leaves no file
    /// that looks whole.
    pub fn backup_to(&self, to: &Path) -> Result<Backup> {
        let tmp = PathBuf::from(format!("{}.partial", to.display()));
        let _ = std::fs::remove_file(&tmp);
        let open_err = |cause| Error::Open {
            path: tmp.clone(),
            cause,
        };
        crate::private::precreate(&tmp).map_err(|source| Error::Write {
            path: tmp.clone(),
            source,
        })?;
        let mut dst = Connection::open_with_flags(
            &tmp,
            rusqlite::OpenFlags::default() | rusqlite::OpenFlags::SQLITE_OPEN_NOFOLLOW,
        )
        .map_err(open_err)?;
        {
            let b = rusqlite::backup::Backup::new(&self.conn, &mut dst)
                .map_err(query("start the backup"))?;
            b.step(-1).map_err(query("copy the database"))?;
        }
        // A standalone file: no WAL beside it.
        dst.pragma_update(None, "journal_mode", "DELETE")
            .map_err(query("finish the backup"))?;
        let problems = integrity(&dst, true)?;
        if !problems.is_empty() {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::Corrupt {
                path: tmp,
                problems: problems.join("; "),
            });
        }
        let tickets: i64 = dst
            .query_row("SELECT COUNT(*) FROM tickets", [], |r| r.get(0))
            .map_err(query("count the copied tickets"))?;
        drop(dst);
        std::fs::rename(&tmp, to).map_err(|source| Error::Write {
            path: to.to_path_buf(),
            source,
        })?;
        let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
        Ok(Backup {
            path: to.to_path_buf(),
            bytes,
            tickets: tickets as u64,
        })
    }

    /// SQLite's `integrity_check` of the whole file: the problems found
    /// (none: the database is sound). A file too damaged for the check to
    /// run gives the error SQLite gave as its one problem.
    pub fn integrity_check(&self) -> Result<Vec<String>> {
        match integrity(&self.conn, false) {
            Err(Error::Query { cause, .. })
                if super::Fault::of(&cause) == Some(super::Fault::Corrupt) =>
            {
                Ok(vec![format!("SQLite cannot read the file: {cause}")])
            }
            r => r,
        }
    }

    /// SQLite's `quick_check` at start, given up after `limit` (a large
    /// file takes long; `supportd db check` goes through all of it). A
    /// damaged file is `Err(Damaged)` with SQLite's first findings.
    /// Returns whether the check ran to its end.
    pub fn check_at_start(&self, limit: std::time::Duration) -> Result<bool> {
        // A watchman interrupts the check at the limit unless it ended.
        let handle = self.conn.get_interrupt_handle();
        let (done, ended) = std::sync::mpsc::channel::<()>();
        let watchman = std::thread::spawn(move || {
            if ended.recv_timeout(limit) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                handle.interrupt();
            }
        });
        let result = integrity(&self.conn, true);
        drop(done);
        let _ = watchman.join();
        // The pages the check read leave the page cache (up to 16 MiB), so
        // that the idle daemon does not hold them.
        if let Err(e) = self.conn.execute_batch("PRAGMA shrink_memory") {
            tracing::debug!(error = %e, "cannot release the page cache after the check");
        }
        let damaged = |problems: Vec<String>| Error::Damaged {
            path: self.path.clone(),
            problems: problems.into_iter().take(5).collect::<Vec<_>>().join("; "),
        };
        match result {
            Ok(problems) if problems.is_empty() => Ok(true),
            Ok(problems) => Err(damaged(problems)),
            Err(Error::Query { cause, .. })
                if cause.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) =>
            {
                Ok(false)
            }
            Err(Error::Query { cause, .. })
                if super::Fault::of(&cause) == Some(super::Fault::Corrupt) =>
            {
                Err(damaged(vec![cause.to_string()]))
            }
            Err(e) => Err(e),
        }
    }
}

fn integrity(conn: &Connection, quick: bool) -> Result<Vec<String>> {
    let sql = if quick {
        "PRAGMA quick_check"
    } else {
        "PRAGMA integrity_check"
    };
    let mut st = conn.prepare(sql).map_err(query("check the database"))?;
    let rows = st
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(query("check the database"))?;
    let mut out = Vec::new();
    for r in rows {
        let line = r.map_err(query("check the database"))?;
        if line != "ok" {
            out.push(line);
        }
    }
    Ok(out)
}
