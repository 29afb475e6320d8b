//! The Maildir source (the embedded default): messages delivered into
//! `new/` are committed by step 1, then renamed into `cur/` with the Seen
//! flag (`:2,S`), the way a mail reader marks them read. A crash between
//! the commit and the rename re-reads the file on the next pass; the
//! source key (`maildir:<unique name>`) makes that a duplicate, not a
//! second ticket.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::files;
use crate::store::{self, Incoming, Store};

/// Files committed per transaction.
const BATCH: usize = 100;

/// Why a pass failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Maildir cannot be created or listed.
    #[error("Maildir {path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// Creates `new/`, `cur/` and `tmp/` if missing.
pub fn ensure(dir: &Path) -> Result<(), Error> {
    for sub in ["new", "cur", "tmp"] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).map_err(|source| Error::Io { path: d, source })?;
    }
    Ok(())
}

/// The name a file gets in `cur/`: its unique part with the Seen flag added
/// to whatever flags it had.
fn cur_name(name: &str) -> String {
    match name.split_once(":2,") {
        Some((unique, flags)) if flags.contains('S') => format!("{unique}:2,{flags}"),
        Some((unique, flags)) => {
            let mut f: Vec<char> = flags.chars().chain(['S']).collect();
            f.sort_unstable();
            format!("{unique}:2,{}", f.into_iter().collect::<String>())
        }
        None => format!("{}:2,S", files::maildir_unique(name)),
    }
}

/// How long a file written straight into `new/` must have been left alone
/// before it is read.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether a file in `new/` is whole: nobody has written it for
/// [`SETTLE`]. Maildir writers write into `tmp/` and rename into `new/`;
/// a file copied straight into `new/` (`cp big.eml new/`) may still be
/// growing, so it waits for a later pass (the daemon scans every second).
fn settled(m: &std::fs::Metadata, now: std::time::SystemTime) -> bool {
    m.modified()
        .ok()
        .and_then(|t| now.duration_since(t).ok())
        .is_none_or(|age| age >= SETTLE)
}

/// One pass: commits every message in `new/` and moves it to `cur/`.
/// Returns how many files were taken (new and duplicate).
pub fn pass(store: &mut Store, dir: &Path, now: DateTime<Utc>) -> Result<usize, Error> {
    let new = dir.join("new");
    let io = |source| Error::Io {
        path: new.clone(),
        source,
    };
    let listing = match std::fs::read_dir(&new) {
        // Removed while running (or never made): made again, empty.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            ensure(dir)?;
            return Ok(0);
        }
        r => r.map_err(io)?,
    };
    let wall = std::time::SystemTime::now();
    let mut names: Vec<String> = listing
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| e.metadata().is_ok_and(|m| settled(&m, wall)))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    let mut taken = 0;
    for chunk in names.chunks(BATCH) {
        let mut batch = Vec::with_capacity(chunk.len());
        let mut moved = Vec::with_capacity(chunk.len());
        for name in chunk {
            let path = new.join(name);
            match files::read_maildir_file(&path) {
                Ok(m) => {
                    batch.push(Incoming {
                        source_key: Some(m.source_key),
                        raw: m.raw.into(),
                        received_at: m.received_at,
                    });
                    moved.push(name);
                }
                // Gone meanwhile (another reader), or unreadable: left for
                // the next pass and said once per pass.
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot read a Maildir file")
                }
            }
        }
        store.store_raw(&batch, now)?;
        for name in moved {
            let from = new.join(name);
            let to = dir.join("cur").join(cur_name(name));
            if let Err(e) = std::fs::rename(&from, &to) {
                tracing::warn!(file = %from.display(), error = %e, "stored, but cannot move the file to cur/");
            }
            taken += 1;
        }
    }
    Ok(taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cur_names_add_the_seen_flag_once() {
        let table = [
            ("1700000000.M1P2.host", "1700000000.M1P2.host:2,S"),
            ("1700000000.M1P2.host:2,", "1700000000.M1P2.host:2,S"),
            ("1700000000.M1P2.host:2,F", "1700000000.M1P2.host:2,FS"),
            ("1700000000.M1P2.host:2,RS", "1700000000.M1P2.host:2,RS"),
            ("1700000000.M1P2.host:2,T", "1700000000.M1P2.host:2,ST"),
        ];
        for (name, want) in table {
            assert_eq!(cur_name(name), want, "{name}");
        }
    }
}
