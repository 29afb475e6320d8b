//! Files only the service user may read: the database (it holds the token
//! key), its lock and backups, outgoing mail, privacy exports. Created 0600
//! (folders 0700) whatever the umask, and never written through a symlink
//! someone planted where the file should be.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Read and write for the owner only.
pub const FILE_MODE: u32 = 0o600;
/// Folders: the owner only.
pub const DIR_MODE: u32 = 0o700;

fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(FILE_MODE).custom_flags(libc::O_NOFOLLOW);
    o
}

/// Opens `path` for reading and writing, creating it 0600 if missing;
/// refuses a symlink. An existing file keeps its content.
pub fn open(path: &Path) -> io::Result<File> {
    let f = options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    tighten(&f)?;
    Ok(f)
}

/// Creates `path` anew (it must not exist, not even as a symlink), 0600.
pub fn create_new(path: &Path) -> io::Result<File> {
    options().write(true).create_new(true).open(path)
}

/// Makes sure the database file exists as a private file before SQLite
/// opens it (SQLite gives its -wal and -shm files the same mode).
pub fn precreate(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_dir_all(dir)?;
            }
            match create_new(path) {
                Ok(_) => Ok(()),
                // Another process made it meanwhile.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Creates a folder and its missing parents, new ones 0700.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
}

/// Creates one new folder, 0700; an existing one (or a symlink) is an
/// error, so nothing is written into a place someone else prepared.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new().mode(DIR_MODE).create(dir)
}

/// Writes `dir/name` so that a reader never sees half a file (a new 0600
/// temporary file, fsync, then a hard link to the name), and never over an
/// existing file or through a symlink planted there: the same bytes there already (a mail written just before a crash)
/// count as written; other bytes (an earlier database's mail of the same
/// number) keep their file, and these go to `name` with `.2`, `.3`, ...
/// before its extension. Returns the path written.
pub fn write_new(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut f = create_new(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    let result = (1..=1000)
        .map(|n| match n {
            1 => name.to_string(),
            n if ext.is_empty() => format!("{stem}.{n}"),
            n => format!("{stem}.{n}.{ext}"),
        })
        .find_map(|candidate| {
            let path = dir.join(&candidate);
            // A hard link is created only where nothing is: no race with
            // another writer, no overwrite.
            match std::fs::hard_link(&tmp, &path) {
                Ok(()) => Some(Ok(path)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let same = std::fs::symlink_metadata(&path)
                        .is_ok_and(|m| m.file_type().is_file())
                        && std::fs::read(&path).is_ok_and(|old| old == bytes);
                    same.then_some(Ok(path))
                }
                Err(e) => Some(Err(e)),
            }
        })
        .unwrap_or_else(|| {
            Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{name} and 999 numbered variants exist already"),
            ))
        });
    let _ = std::fs::remove_file(&tmp);
    result
}

/// Takes group and other permissions off an open file.
fn tighten(f: &File) -> io::Result<()> {
    let mode = f.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        f.set_permissions(std::fs::Permissions::from_mode(mode & 0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("supportd-private-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn files_are_private_under_the_usual_umask() {
        // Under the usual umask 022 a plain create gives 0644 (0755 for a
        // folder); these must still be private.
        let d = temp("mode");
        let written = write_new(&d.join("out"), "1.eml", b"x").unwrap();
        precreate(&d.join("db/supportd.db")).unwrap();
        drop(open(&d.join("db/supportd.db.lock")).unwrap());
        std::fs::write(d.join("loose"), b"x").unwrap();
        std::fs::set_permissions(d.join("loose"), std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(open(&d.join("loose")).unwrap());
        assert_eq!(
            mode(&d.join("loose")),
            0o600,
            "an old lock file is tightened"
        );
        assert_eq!(mode(&written), 0o600);
        assert_eq!(mode(&d.join("out")), 0o700);
        assert_eq!(mode(&d.join("db/supportd.db")), 0o600);
        assert_eq!(mode(&d.join("db/supportd.db.lock")), 0o600);
    }

    #[test]
    fn an_existing_file_is_never_overwritten() {
        let d = temp("noclobber");
        assert_eq!(
            write_new(&d, "000001.eml", b"first").unwrap(),
            d.join("000001.eml")
        );
        // The same mail again (a crash before its result was recorded).
        assert_eq!(
            write_new(&d, "000001.eml", b"first").unwrap(),
            d.join("000001.eml")
        );
        // Another database's mail number 1.
        assert_eq!(
            write_new(&d, "000001.eml", b"second").unwrap(),
            d.join("000001.2.eml")
        );
        assert_eq!(std::fs::read(d.join("000001.eml")).unwrap(), b"first");
        assert_eq!(
            write_new(&d, "000001.eml", b"third").unwrap(),
            d.join("000001.3.eml")
        );
        std::os::unix::fs::symlink("/etc/passwd", d.join("000002.eml")).unwrap();
        assert_eq!(
            write_new(&d, "000002.eml", b"x").unwrap(),
            d.join("000002.2.eml")
        );
        assert_eq!(mode(&d.join("000001.3.eml")), 0o600);
    }

    #[test]
    fn planted_symlinks_are_never_written_through() {
        let d = temp("symlink");
        let target = d.join("target");
        std::fs::write(&target, b"precious").unwrap();
        std::os::unix::fs::symlink(&target, d.join("lock")).unwrap();
        assert!(open(&d.join("lock")).is_err());
        std::os::unix::fs::symlink(&target, d.join(".2.eml.tmp")).unwrap();
        std::os::unix::fs::symlink(&target, d.join("2.eml")).unwrap();
        let written = write_new(&d, "2.eml", b"mail").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
        assert_eq!(std::fs::read(written).unwrap(), b"mail");
        std::os::unix::fs::symlink(&d, d.join("export")).unwrap();
        assert!(create_dir(&d.join("export")).is_err());
        std::os::unix::fs::symlink(&target, d.join("db")).unwrap();
        precreate(&d.join("db")).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    }
}
