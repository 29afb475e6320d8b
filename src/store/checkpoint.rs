//! Checkpoints on a thread of their own while a long pass writes.
//!
//! In WAL mode a commit appends pages to the `-wal` file, and a checkpoint
//! copies them into the database file. By default SQLite checkpoints on the
//! committing connection, right after a commit that leaves 1,000 pages or
//! more in the WAL: the writer stops while the pages are read back, written
//! and synced. During a pass of many commits (`import`, step 2 after an
//! outage) that copy is a fifth of the writer's time. [`Aside`] replaces the
//! writer's hook with one that only wakes a thread holding a connection of
//! its own, which checkpoints while the writer goes on; SQLite's documentation
//! of `sqlite3_wal_hook` names this use. A checkpoint copies what is
//! committed and never blocks the writer (`PASSIVE`), so durability is the
//! same: a commit is durable once it is in the synced WAL.
//!
//! When the pass ends the writer's own checkpoints come back, and whatever is
//! left in the WAL is copied by the writer's next automatic checkpoint (or
//! when it closes).

use std::os::raw::c_int;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::{Scope, ScopedJoinHandle};

use rusqlite::{Connection, OpenFlags};

use super::{BUSY_TIMEOUT, Error, Result, Store, query};

/// Pages in the WAL after which a checkpoint is due: SQLite's default
/// (`SQLITE_DEFAULT_WAL_AUTOCHECKPOINT`, sqlite3.c).
const AFTER_PAGES: c_int = 1000;

/// Checkpoints running aside a long pass (see the module's text). End it
/// with [`Aside::finish`], which gives the writer its own checkpoints back.
pub struct Aside<'scope> {
    thread: ScopedJoinHandle<'scope, ()>,
}

impl Store {
    /// Moves this connection's automatic checkpoints to a thread of `scope`
    /// until [`Aside::finish`].
    pub fn checkpoint_aside<'scope>(
        &mut self,
        scope: &'scope Scope<'scope, '_>,
    ) -> Result<Aside<'scope>> {
        // One pending wake-up at most: a commit while a checkpoint runs
        // asks for one more, later ones add nothing.
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        let path = self.path.clone();
        let thread = scope.spawn(move || checkpoints(&path, &woken));
        // The hook owns the only sender: removing it ends the thread.
        self.conn
            .wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: c_int| {
                if pages >= AFTER_PAGES {
                    let _ = wake.try_send(());
                }
                Ok(())
            }))
            .map_err(query("hand checkpoints to a thread"))?;
        Ok(Aside { thread })
    }
}

impl Aside<'_> {
    /// Waits for a running checkpoint and gives `store` its own automatic
    /// checkpoints back.
    pub fn finish(self, store: &mut Store) -> Result<()> {
        // Dropping the hook (rusqlite frees it) hangs up on the thread;
        // the pragma then installs SQLite's own hook again.
        let restored = store
            .conn
            .wal_hook(None::<fn(&mut rusqlite::hooks::Wal, c_int) -> rusqlite::Result<()>>)
            .and_then(|()| {
                store
                    .conn
                    .pragma_update(None, "wal_autocheckpoint", AFTER_PAGES)
            })
            .map_err(query("restore automatic checkpoints"));
        if self.thread.join().is_err() {
            tracing::error!("the checkpointing thread stopped unexpectedly");
        }
        restored
    }
}

/// The thread: a checkpoint each time the writer's hook wakes it, until the
/// writer hangs up. The connection is opened at the first wake-up (a short
/// pass never needs one).
fn checkpoints(path: &Path, woken: &mpsc::Receiver<()>) {
    let mut conn = None;
    while woken.recv().is_ok() {
        if conn.is_none() {
            match open(path) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    // The writer's checkpoints come back when the pass
                    // ends; until then the WAL grows, nothing is lost.
                    tracing::warn!(db = %path.display(), reason = %e, "cannot checkpoint aside the writer; the WAL grows until the pass ends");
                    return;
                }
            }
        }
        if let Some(c) = &conn
            && let Err(e) = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        {
            tracing::warn!(db = %path.display(), reason = %e, "a checkpoint failed; the WAL keeps the pages and the next one retries");
        }
    }
}

/// A connection for checkpoints: it syncs like the writer's
/// (`synchronous=FULL`: the WAL before the copy, the database after it).
fn open(path: &Path) -> Result<Connection> {
    let open_err = |cause| Error::Open {
        path: PathBuf::from(path),
        cause,
    };
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open_err)?;
    c.busy_timeout(BUSY_TIMEOUT)
        .map_err(query("set the busy timeout"))?;
    c.pragma_update(None, "synchronous", "FULL")
        .map_err(query("set synchronous=FULL"))?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Incoming;

    /// Stores `n` messages of 64 KB each, one transaction per message.
    fn store_big(store: &mut Store, from: usize, n: usize) {
        let at = "2026-11-25T10:00:00Z".parse().unwrap();
        for i in from..from + n {
            let raw = format!(
                "From: a@b.example\nMessage-ID: <big{i}@b.example>\n\n{}\n",
                "x".repeat(64 * 1024)
            );
            let m = Incoming {
                source_key: Some(format!("test:{i}")),
                raw: raw.as_bytes().into(),
                received_at: at,
            };
            store.store_raw(&[m], at).unwrap();
        }
    }

    fn file_len(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().len()
    }

    #[test]
    fn checkpoints_run_aside_and_come_back() {
        let dir = std::env::temp_dir().join(format!("supportd-aside-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("supportd.db");
        let mut store = Store::open(&path).unwrap();
        let empty = file_len(&path);
        std::thread::scope(|scope| {
            let aside = store.checkpoint_aside(scope).unwrap();
            // 300 commits of 64 KB (about 1,500 pages of 16 KB): past the
            // threshold, so the hook wakes the thread.
            store_big(&mut store, 0, 300);
            // Joining waits for the checkpoint the last wake-up asked for.
            aside.finish(&mut store).unwrap();
        });
        // Only a checkpoint writes pages into the database file, and the
        // writer's own were off: the thread copied them.
        let after_aside = file_len(&path);
        assert!(
            after_aside > empty + 10 * 1024 * 1024,
            "{empty} -> {after_aside}"
        );
        let auto: i64 = store
            .conn
            .pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0))
            .unwrap();
        assert_eq!(auto, i64::from(AFTER_PAGES));
        // The writer checkpoints by itself again.
        store_big(&mut store, 300, 300);
        assert!(file_len(&path) > after_aside + 10 * 1024 * 1024);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
