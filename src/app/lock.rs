//! One running instance per database.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// One running instance per database: a lock file next to it (`DB.lock`)
/// with the holder's pid. The lock goes with the process, however it ends.
pub struct InstanceLock {
    _file: std::fs::File,
}

impl InstanceLock {
    /// Takes the lock of `db`, or says who holds it.
    pub fn acquire(db: &Path) -> anyhow::Result<InstanceLock> {
        use std::io::{Read, Seek, Write};
        let path = PathBuf::from(format!("{}.lock", db.display()));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::private::create_dir_all(dir)
                .with_context(|| format!("cannot create the database folder {}", dir.display()))?;
        }
        let mut file = crate::private::open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0)?;
                file.rewind()?;
                writeln!(file, "{}", std::process::id())?;
                Ok(InstanceLock { _file: file })
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
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
                Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
    }
}
