//! Messages over the size limit. A source that stores only a message's
//! header block (IMAP fetches only the header of a message over the limit;
//! `deliver` reads no further) marks it with [`TRUNCATED_HEADER`], whose
//! value is the original size; [`original_size`] reads it back. Pure.

/// First header of a message a source stored without its body because it
/// was over the size limit. Its value is the original size in bytes.
/// Sources put it on the first line, where no sender can: a server
/// prepends its own trace headers above whatever a sender wrote.
pub const TRUNCATED_HEADER: &str = "X-Supportd-Truncated";

/// A message over the size limit as the sources store it: the
/// [`TRUNCATED_HEADER`] marker with its full `size`, then its header block
/// only (at most 256 KB; the first 64 KB when no blank line ends it).
pub fn truncated(raw: &[u8], size: u64) -> Vec<u8> {
    let end = header_block_end(raw);
    let mut out = format!("{TRUNCATED_HEADER}: {size}\r\n").into_bytes();
    out.extend_from_slice(&raw[..end]);
    out
}

/// Where a message's header block ends (after its blank line), at most
/// 256 KB in; the first 64 KB when no blank line ends it.
pub fn header_block_end(raw: &[u8]) -> usize {
    raw.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| i + 2))
        .unwrap_or(raw.len().min(64 * 1024))
        .min(256 * 1024)
}

/// The size a message had at its source: the [`TRUNCATED_HEADER`] value if
/// the source truncated it, else its length.
pub fn original_size(raw: &[u8]) -> u64 {
    let prefix = format!("{TRUNCATED_HEADER}: ");
    raw.strip_prefix(prefix.as_bytes())
        .and_then(|rest| {
            let end = rest.iter().position(|b| !b.is_ascii_digit())?;
            std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
        })
        .unwrap_or(raw.len() as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn original_size_reads_only_a_leading_marker() {
        let table: &[(&[u8], u64)] = &[
            (
                b"X-Supportd-Truncated: 52428800\r\nFrom: a@b\r\n\r\n",
                52_428_800,
            ),
            (b"From: a@b\r\nX-Supportd-Truncated: 52428800\r\n\r\nx", 46),
            (b"X-Supportd-Truncated: lots\r\n\r\n", 30),
            (b"", 0),
        ];
        for (raw, want) in table {
            assert_eq!(
                super::original_size(raw),
                *want,
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }
}
