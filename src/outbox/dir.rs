//! The dir transport: each mail as an `.eml` file in a folder (the
//! embedded default; no mail server needed).

use std::path::{Path, PathBuf};

/// Writes `dir/name` so that a reader never sees half a file: tmp file,
/// fsync, rename.
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}
