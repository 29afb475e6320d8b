//! Messages from files, for `supportd import` and the Maildir source: single
//! .eml files, mbox files and Maildirs (`new/` and `cur/`), each message with
//! a source key and its received instant (design.md "received"):
//! - .eml: the topmost `Received:` date, else the file's modification time;
//! - Maildir: the topmost `Received:` date, else the time at the start of the
//!   file name (Maildir names begin with the delivery's unix time), else the
//!   file's modification time;
//! - mbox: the topmost `Received:` date, else the date of its `From ` line,
//!   else its `Date:` header.
//!
//! A Maildir's Maildir++ subfolders (`.Folder/cur`) are read too, except
//! trash, junk and drafts.
//!
//! Inputs are only read, never modified. Messages come in delivery order
//! (Maildir names sort by time; mbox and folders keep their order).

use std::fs;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::mail::parse::{date_header, topmost_received};

/// One message read from a file.
#[derive(Debug, Clone)]
pub struct FileMessage {
    /// Unique per copy: `file:<path>`, `mbox:<path>#<n>`, `maildir:<unique name>`.
    pub source_key: String,
    /// The raw bytes.
    pub raw: Vec<u8>,
    /// When our server received it.
    pub received_at: DateTime<Utc>,
    /// Where it came from, for messages to the user.
    pub origin: String,
}

/// What a path holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// One message.
    Eml,
    /// Many messages separated by `From ` lines.
    Mbox,
    /// A Maildir folder.
    Maildir,
}

/// Tells what a path holds: a folder with `cur/` or `new/` is a Maildir, a
/// file starting with `From ` is an mbox, any other file one message.
pub fn detect(path: &Path) -> io::Result<InputKind> {
    let meta = fs::metadata(path)?;
    if meta.is_dir() {
        if path.join("cur").is_dir() || path.join("new").is_dir() {
            return Ok(InputKind::Maildir);
        }
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is a folder but not a Maildir (it has neither cur/ nor new/)",
                path.display()
            ),
        ));
    }
    let mut head = [0u8; 5];
    let n = io::Read::read(&mut fs::File::open(path)?, &mut head)?;
    Ok(if &head[..n] == b"From " {
        InputKind::Mbox
    } else {
        InputKind::Eml
    })
}

fn mtime(path: &Path) -> Option<DateTime<Utc>> {
    fs::metadata(path)
        .ok()?
        .modified()
        .ok()
        .map(DateTime::<Utc>::from)
}

fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// The unique part of a Maildir file name (without the `:2,FLAGS` info,
/// which changes when a message moves from `new/` to `cur/`).
pub fn maildir_unique(name: &str) -> &str {
    name.split_once(':').map_or(name, |(u, _)| u)
}

/// The delivery time at the start of a Maildir file name
/// (`1732412345.M123P456.host`). Only a name that starts with at least nine
/// digits counts (1973 on): a file someone named `1.eml` has no time in it.
fn maildir_time(name: &str) -> Option<DateTime<Utc>> {
    let first = name.split('.').next()?;
    if first.len() < 9 || !first.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    DateTime::from_timestamp(first.parse().ok()?, 0)
}

/// The files of a Maildir's `new/` and `cur/`, sorted by name.
pub fn maildir_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    folders.extend(maildirpp_folders(dir)?);
    for folder in &folders {
        folder_files(folder, &mut files)?;
    }
    // Each name taken out of its path once, not at every comparison.
    files.sort_by_cached_key(|f| f.file_name().map(std::ffi::OsStr::to_os_string));
    Ok(files)
}

/// Maildir++ subfolders (`.Support`, `.INBOX.Archive`: a folder whose name
/// starts with a dot and that has `cur/` or `new/`), except the ones that
/// hold no customer mail: trash, junk and drafts.
fn maildirpp_folders(dir: &Path) -> io::Result<Vec<PathBuf>> {
    const SKIPPED: [&str; 5] = ["trash", "junk", "spam", "drafts", "deleted messages"];
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_lowercase();
        let Some(folder) = name.strip_prefix('.') else {
            continue;
        };
        let last = folder.rsplit('.').next().unwrap_or(folder);
        let path = entry.path();
        if !folder.is_empty()
            && !SKIPPED.contains(&last)
            && entry.file_type()?.is_dir()
            && (path.join("cur").is_dir() || path.join("new").is_dir())
        {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn folder_files(dir: &Path, files: &mut Vec<PathBuf>) -> io::Result<()> {
    for sub in ["new", "cur"] {
        let d = dir.join(sub);
        if !d.is_dir() {
            continue;
        }
        for entry in fs::read_dir(&d)? {
            let entry = entry?;
            if entry.file_type()?.is_file() && !entry.file_name().to_string_lossy().starts_with('.')
            {
                files.push(entry.path());
            }
        }
    }
    Ok(())
}

/// Reads one Maildir file.
pub fn read_maildir_file(path: &Path) -> io::Result<FileMessage> {
    let raw = fs::read(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let received_at = topmost_received(&raw)
        .or_else(|| maildir_time(&name))
        .or_else(|| mtime(path))
        .unwrap_or_default();
    Ok(FileMessage {
        source_key: format!("maildir:{}", maildir_unique(&name)),
        raw,
        received_at: whole_seconds(received_at),
        origin: path.display().to_string(),
    })
}

/// An input's messages, read one at a time (so a large Maildir or mbox
/// never sits in memory whole).
pub type Messages = Box<dyn Iterator<Item = io::Result<FileMessage>> + Send>;

/// An opened input: its messages, and the bytes they are read from when
/// measured (`import` shows its progress against them).
pub struct Input {
    /// The messages.
    pub messages: Messages,
    /// The file's size, or a Maildir's files together; 0 unless measured.
    pub bytes: u64,
}

/// Opens a path; `measure` also sums its bytes (one look at every file of
/// a Maildir, from the same listing the messages are read by).
pub fn open(path: &Path, measure: bool) -> io::Result<Input> {
    Ok(match detect(path)? {
        InputKind::Eml => Input {
            messages: Box::new(std::iter::once(read_eml(path))),
            bytes: total_bytes(measure, &[path]),
        },
        InputKind::Maildir => {
            let files = maildir_files(path)?;
            Input {
                bytes: total_bytes(measure, &files),
                messages: Box::new(files.into_iter().map(|f| read_maildir_file(&f))),
            }
        }
        InputKind::Mbox => {
            let abs = fs::canonicalize(path)?;
            let shown = path.display().to_string();
            let reader = BufReader::new(fs::File::open(path)?);
            Input {
                messages: Box::new(
                    mail_parser::mailbox::mbox::MessageIterator::new(reader)
                        .enumerate()
                        .map(move |(i, m)| {
                            let m = m.map_err(|_| {
                                io::Error::new(
                                    io::ErrorKind::InvalidData,
                                    format!("{shown}: message {} cannot be read", i + 1),
                                )
                            })?;
                            Ok(mbox_message(m, &abs, &shown, i))
                        }),
                ),
                bytes: total_bytes(measure, &[path]),
            }
        }
    })
}

/// The bytes of `files` together when `measure`, else 0 (nothing read).
fn total_bytes<P: AsRef<Path>>(measure: bool, files: &[P]) -> u64 {
    if !measure {
        return 0;
    }
    files
        .iter()
        .map(|f| fs::metadata(f).map_or(0, |m| m.len()))
        .sum()
}

fn mbox_message(
    m: mail_parser::mailbox::mbox::Message,
    abs: &Path,
    shown: &str,
    i: usize,
) -> FileMessage {
    // A `From ` line without a date reads as 0: the Date header then.
    let from_line =
        DateTime::from_timestamp(m.internal_date() as i64, 0).filter(|t| t.timestamp() > 0);
    let mut raw = m.unwrap_contents();
    raw.truncate(without_separator(&raw).len());
    let received_at = topmost_received(&raw)
        .or(from_line)
        .or_else(|| date_header(&raw))
        .unwrap_or_default();
    FileMessage {
        source_key: format!("mbox:{}#{}", abs.display(), i + 1),
        raw,
        received_at: whole_seconds(received_at),
        origin: format!("{shown} message {}", i + 1),
    }
}

/// An mbox message without the blank line that ends it in the file: "a
/// message encoded in mbox format begins with a From_ line, continues with
/// a series of non-From_ lines, and ends with a blank line" (mbox(5), as
/// qmail and Debian document it). That line belongs to the file, not to
/// the message. Kept, it made a mail imported from an mbox export another
/// message than its copy from the mailbox (one byte more, another hash).
fn without_separator(raw: &[u8]) -> &[u8] {
    if raw.ends_with(b"\r\n\r\n") {
        &raw[..raw.len() - 2]
    } else if raw.ends_with(b"\n\n") {
        &raw[..raw.len() - 1]
    } else {
        raw
    }
}

/// Reads every message of a path (an .eml file, an mbox or a Maildir).
pub fn read_all(path: &Path) -> io::Result<Vec<FileMessage>> {
    open(path, false)?.messages.collect()
}

/// Reads one .eml file.
fn read_eml(path: &Path) -> io::Result<FileMessage> {
    let abs = fs::canonicalize(path)?;
    let raw = fs::read(path)?;
    let received_at = topmost_received(&raw)
        .or_else(|| mtime(path))
        .unwrap_or_default();
    Ok(FileMessage {
        source_key: format!("file:{}", abs.display()),
        raw,
        received_at: whole_seconds(received_at),
        origin: path.display().to_string(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn maildir_names_give_a_time_only_when_they_start_with_one() {
        let table = [
            ("1732412345.M123P456.mx:2,S", Some(1_732_412_345)),
            ("1732412345.eml", Some(1_732_412_345)),
            ("1.eml", None),
            ("42.test", None),
            ("abc.1732412345", None),
            ("17324x2345.M1.mx", None),
        ];
        for (name, secs) in table {
            assert_eq!(
                super::maildir_time(name).map(|t| t.timestamp()),
                secs,
                "{name}"
            );
        }
    }

    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("supportd-files-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    const WITH_RECEIVED: &str = "Received: from mx by mx; Wed, 25 Nov 2026 10:00:00 +0100\nFrom: a@b.example\nSubject: x\n\nbody\n";
    const WITHOUT: &str = "From: a@b.example\nSubject: y\n\nbody\n";

    #[test]
    fn eml_mbox_and_maildir() {
        let d = dir("all");
        fs::write(d.join("one.eml"), WITH_RECEIVED).unwrap();
        let eml = read_all(&d.join("one.eml")).unwrap();
        assert_eq!(eml.len(), 1);
        assert_eq!(
            eml[0].received_at,
            "2026-11-25T09:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert!(eml[0].source_key.starts_with("file:/"));

        let mbox = format!(
            "From a@b.example Wed Nov 25 08:30:00 2026\n{WITHOUT}\nFrom a@b.example Wed Nov 25 08:31:00 2026\n{WITH_RECEIVED}\n"
        );
        fs::write(d.join("box.mbox"), mbox).unwrap();
        assert_eq!(detect(&d.join("box.mbox")).unwrap(), InputKind::Mbox);
        let m = read_all(&d.join("box.mbox")).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[0].received_at,
            "2026-11-25T08:30:00Z".parse::<DateTime<Utc>>().unwrap(),
            "From line"
        );
        assert_eq!(
            m[1].received_at,
            "2026-11-25T09:00:00Z".parse::<DateTime<Utc>>().unwrap(),
            "Received"
        );
        assert!(m[1].source_key.ends_with("#2"));
        // Each message as it was delivered, without the blank line that
        // ends it in the file; only a line break of the message's own stays.
        assert_eq!(
            (m[0].raw.as_slice(), m[1].raw.as_slice()),
            (WITHOUT.as_bytes(), WITH_RECEIVED.as_bytes())
        );
        let crlf = "From a@b.example Wed Nov 25 08:30:00 2026\r\nSubject: z\r\n\r\nbody\r\n\r\n";
        fs::write(d.join("crlf.mbox"), crlf).unwrap();
        let m = read_all(&d.join("crlf.mbox")).unwrap();
        assert_eq!(m[0].raw, b"Subject: z\r\n\r\nbody\r\n");

        let md = d.join("Maildir");
        for sub in ["new", "cur", "tmp"] {
            fs::create_dir_all(md.join(sub)).unwrap();
        }
        fs::write(md.join("new/1795597200.M2P9.host"), WITHOUT).unwrap();
        fs::write(md.join("cur/1795597100.M1P9.host:2,S"), WITH_RECEIVED).unwrap();
        fs::write(md.join("tmp/1795597300.M3P9.host"), WITHOUT).unwrap();
        let all = read_all(&md).unwrap();
        assert_eq!(all.len(), 2, "tmp/ is not read");
        assert_eq!(
            all[0].source_key, "maildir:1795597100.M1P9.host",
            "sorted by name, flags dropped"
        );
        assert_eq!(
            all[1].received_at,
            "2026-11-25T09:00:00Z".parse::<DateTime<Utc>>().unwrap(),
            "name time"
        );
        // Nothing was moved or changed.
        assert!(md.join("new/1795597200.M2P9.host").exists());
        fs::remove_dir_all(&d).unwrap();
    }

    /// The bytes `open` measures for a path.
    fn size(path: &Path) -> io::Result<u64> {
        open(path, true).map(|input| input.bytes)
    }

    #[test]
    fn size_is_the_file_or_the_maildir_files_together() {
        let d = dir("size");
        fs::write(d.join("one.eml"), WITH_RECEIVED).unwrap();
        let md = d.join("Maildir");
        for sub in ["new", "cur", "tmp", ".Trash/cur"] {
            fs::create_dir_all(md.join(sub)).unwrap();
        }
        fs::write(md.join("new/1.host"), WITH_RECEIVED).unwrap();
        fs::write(md.join("cur/2.host:2,S"), WITHOUT).unwrap();
        // Neither a message being delivered nor the trash is imported.
        fs::write(md.join("tmp/3.host"), "x".repeat(1000)).unwrap();
        fs::write(md.join(".Trash/cur/4.host"), "x".repeat(1000)).unwrap();
        assert_eq!(
            size(&d.join("one.eml")).unwrap(),
            WITH_RECEIVED.len() as u64
        );
        assert_eq!(
            size(&md).unwrap(),
            (WITH_RECEIVED.len() + WITHOUT.len()) as u64
        );
        assert!(size(&d.join("missing.eml")).is_err());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn folders_that_are_not_maildirs_are_named() {
        let d = dir("notmaildir");
        let err = read_all(&d).unwrap_err().to_string();
        assert!(err.contains("not a Maildir"), "{err}");
        fs::remove_dir_all(&d).unwrap();
    }
}
