//! `supportd inspect FILE.eml... | -`: one JSON object per message, one per
//! line, with the field names documented in the README. Exits 0 whenever it
//! printed a result; a file it cannot read is reported on stderr and makes
//! the exit status 1, the other files still print.

use std::io::{Read, Write};
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::mail::{self, Settings, thread::Lookup};

/// The received instant of a file (design.md): the topmost `Received:`
/// date, else the file's modification time, else `now`.
pub fn received_at(raw: &[u8], path: Option<&Path>, now: DateTime<Utc>) -> DateTime<Utc> {
    mail::parse::topmost_received(raw)
        .or_else(|| {
            let modified = std::fs::metadata(path?).ok()?.modified().ok()?;
            Some(DateTime::<Utc>::from(modified))
        })
        .map(|t| DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t))
        .unwrap_or(now)
}

/// Analyses each input and writes one JSON line per message. Returns how many
/// inputs could not be read.
pub fn inspect(
    inputs: &[String],
    settings: &Settings,
    lookup: &dyn Lookup,
    received: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> std::io::Result<usize> {
    let mut failed = 0;
    for input in inputs {
        let (raw, path) = if input == "-" {
            let mut buf = Vec::new();
            std::io::stdin().lock().read_to_end(&mut buf)?;
            (buf, None)
        } else {
            match std::fs::read(input) {
                Ok(b) => (b, Some(Path::new(input))),
                Err(e) => {
                    writeln!(err, "supportd: cannot read {input}: {e}")?;
                    failed += 1;
                    continue;
                }
            }
        };
        let at = received.unwrap_or_else(|| received_at(&raw, path, now));
        let analysis = mail::analyze(&raw, at, settings, lookup);
        serde_json::to_writer(&mut *out, &analysis)?;
        out.write_all(b"\n")?;
    }
    Ok(failed)
}
