//! One running instance per database: the lock is taken on the database
//! file itself (flock), so a second path to it (a symlink to its folder, a
//! hard link) finds it taken too.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// One running instance per database: an exclusive flock on the database
/// file, and the holder's pid in `DB.lock` beside it (for the message a
/// second instance gives). The lock goes with the process, however it
/// ends.
pub struct InstanceLock {
    _pid_file: std::fs::File,
}

impl InstanceLock {
    /// Takes the lock of `db` (creating the file if missing), or says who
    /// holds it.
    pub fn acquire(db: &Path) -> anyhow::Result<InstanceLock> {
        use std::io::{Read, Seek, Write};
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::private::create_dir_all(dir)
                .with_context(|| format!("cannot create the database folder {}", dir.display()))?;
        }
        crate::private::precreate(db)
            .with_context(|| format!("cannot create the database {}", db.display()))?;
        let db_file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(db)
            .with_context(|| format!("cannot open the database {}", db.display()))?;
        let path = PathBuf::from(format!("{}.lock", db.display()));
        let mut pid_file = crate::private::open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        match db_file.try_lock() {
            Ok(()) => {
                // Never closed before the process ends: closing a descriptor
                // of the database file would drop SQLite's own POSIX locks of
                // this process; the flock goes with the process.
                std::mem::forget(db_file);
                pid_file.set_len(0)?;
                pid_file.rewind()?;
                writeln!(pid_file, "{}", std::process::id())?;
                Ok(InstanceLock {
                    _pid_file: pid_file,
                })
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = pid_file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    "another supportd".to_string()
                } else {
                    format!("another supportd (pid {holder})")
                };
                anyhow::bail!(
                    "{who} is already running on {}; stop it first (systemctl stop supportd), \
                     or give this one another database with --db",
                    db.display()
                )
            }
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock {}", db.display()))
            }
        }
    }
}
