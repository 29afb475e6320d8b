//! A database that is missing where an earlier one evidently was: a
//! cleanup script removed it, or it was moved. Starting would create an
//! empty one, number tickets from 1 again and answer old mail as new; so
//! the daemon and `deliver` refuse, and say how to start afresh on purpose.
//!
//! The evidence: the marker `<db>.id` a database leaves beside itself when
//! it is created, the dir transport's `.eml` files, and the Maildir
//! source's `cur/` (messages already taken).

use std::path::{Path, PathBuf};

use crate::config::{Config, Source, Transport};
use crate::lang::en_counted;

/// The marker beside a database.
pub fn marker(db: &Path) -> PathBuf {
    PathBuf::from(format!("{}.id", db.display()))
}

/// Files in `dir` (not counting hidden ones), at most `limit` counted.
fn count_files(dir: &Path, limit: usize) -> usize {
    std::fs::read_dir(dir)
        .map(|l| {
            l.filter_map(|e| e.ok())
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .take(limit)
                .count()
        })
        .unwrap_or(0)
}

/// What shows that a database existed at `db`, in words (`None`: nothing;
/// a first start).
pub fn earlier_state(cfg: &Config, db: &Path) -> Option<String> {
    if db.exists() {
        return None;
    }
    let mut found = Vec::new();
    let m = marker(db);
    if m.exists() {
        found.push(format!(
            "{} (left by the database when it was created)",
            m.display()
        ));
    }
    if let Transport::Dir { path } = &cfg.transport {
        let n = count_files(path, 100_000);
        if n > 0 {
            found.push(format!(
                "{} holds {} it sent",
                path.display(),
                en_counted(n as u64, "mail", "mails")
            ));
        }
    }
    if let Source::Maildir { path } = &cfg.source {
        let n = count_files(&path.join("cur"), 100_000);
        if n > 0 {
            found.push(format!(
                "{} holds {} it took",
                path.join("cur").display(),
                en_counted(n as u64, "message", "messages")
            ));
        }
    }
    (!found.is_empty()).then(|| {
        format!(
            "there is no database at {db}, but an earlier one was there: {evidence}. It was deleted or moved; \
             starting now would number tickets from 1 again and answer old mail as new. Put it back \
             (or a backup made by supportd db backup) at {db}, or start afresh on purpose with \
             `supportd run --new-database` (files already written stay as they are)",
            db = db.display(),
            evidence = found.join("; ")
        )
    })
}

/// Writes the marker of a database that is there now (after it was opened).
pub fn mark(db: &Path) {
    let m = marker(db);
    if m.exists() {
        return;
    }
    let text = format!(
        "supportd keeps its database at {}; if that file is missing, it was deleted or moved \
         (supportd refuses to start with an empty one in its place)\n",
        db.display()
    );
    let written = crate::private::create_new(&m).and_then(|mut f| {
        use std::io::Write;
        f.write_all(text.as_bytes())
    });
    if let Err(e) = written {
        tracing::warn!(file = %m.display(), error = %e, "cannot write the database marker");
    }
}
