//! `supportd privacy export|erase EMAIL`: data-subject requests.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::Policy;
use crate::store::Store;

/// Writes everything stored about `address` into the folder `out`:
/// `export.json` (tickets with their messages, events and mail; other
/// events and mail naming them) and the raw messages as `messages/ID.eml`.
/// Returns (tickets, messages, mails) exported.
pub fn export(
    store: &Store,
    address: &str,
    out: &Path,
    prefix: &str,
    policy: &Policy,
    now: DateTime<Utc>,
) -> anyhow::Result<(usize, usize, usize)> {
    let s = store.data_subject(address)?;
    std::fs::create_dir_all(out.join("messages"))
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
    let mut tickets = Vec::new();
    for n in &s.tickets {
        let mut buf = Vec::new();
        super::tickets::show(
            store,
            &format!("{prefix}-{n}"),
            true,
            prefix,
            policy,
            None,
            &mut buf,
        )?;
        tickets.push(serde_json::from_slice::<serde_json::Value>(&buf)?);
    }
    let mut files = 0;
    for m in &s.messages {
        if let Some(raw) = store.raw_message(*m)? {
            std::fs::write(out.join("messages").join(format!("{m}.eml")), raw)?;
            files += 1;
        }
    }
    let mails = store.export_mails(&s.outbox)?;
    let events = store.export_events(&s.events)?;
    let doc = json!({
        "address": address,
        "exported_at": crate::sla::format_utc(now),
        "names": s.names,
        "tickets": tickets,
        "message_files": s.messages.iter().map(|m| format!("messages/{m}.eml")).collect::<Vec<_>>(),
        "outgoing": mails,
        "events": events,
    });
    let mut f = std::fs::File::create(out.join("export.json"))?;
    serde_json::to_writer_pretty(&mut f, &doc)?;
    writeln!(f)?;
    Ok((s.tickets.len(), files, mails.len()))
}
