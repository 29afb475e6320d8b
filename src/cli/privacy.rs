//! `supportd privacy export|erase EMAIL`: data-subject requests.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Policy;
use crate::config::{Config, Source, Transport};
use crate::lang::en_counted;
use crate::mail::mention::Person;
use crate::store::{Store, Subject};

/// What an export needs to know besides the store.
pub struct ExportContext<'a> {
    /// Ticket prefix.
    pub prefix: &'a str,
    /// The consultants and escalation addresses: mail to them is internal.
    pub internal: HashSet<String>,
    /// The token key: consultants' tokens are blanked out.
    pub key: Option<Vec<u8>>,
    /// Policy, for the ticket views.
    pub policy: &'a Policy,
}

/// Finds `address` everywhere, saying on stderr how far the scan of raw
/// messages got when there are many.
fn find(store: &Store, address: &str) -> anyhow::Result<(Person, Subject)> {
    let person = Person::new(address, &store.names_of(address)?);
    let mut progress = |read: u64, total: u64| {
        if total >= 5000 {
            eprint!("\rreading messages: {read} of {total}");
            if read == total {
                eprintln!();
            }
        }
    };
    let s = store.data_subject(&person, &mut progress)?;
    Ok((person, s))
}

/// Writes everything stored about `address` into the new folder `out`:
/// `export.json` (tickets with their messages, events and mail; other
/// events and mail naming them) and the raw messages as `messages/ID.eml`.
/// Internal material stays out: consultants' notes, their own mails and
/// mail to them; any consultant token left in the text is blanked.
/// Returns (tickets, messages, mails) exported.
pub fn export(
    store: &Store,
    address: &str,
    out: &Path,
    cx: &ExportContext<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<(usize, usize, usize)> {
    let (_, s) = find(store, address)?;
    // A new, private folder: never one someone prepared (or a symlink).
    crate::private::create_dir(out).map_err(|e| {
        anyhow::anyhow!(
            "cannot create {}: {e}; give --out a folder that does not exist yet",
            out.display()
        )
    })?;
    crate::private::create_dir(&out.join("messages"))?;
    let redact = |text: &str| redact_tokens(text, cx);
    let mut tickets = Vec::new();
    for n in &s.tickets {
        let mut buf = Vec::new();
        super::tickets::show(
            store,
            &format!("{}-{n}", cx.prefix),
            true,
            cx.prefix,
            cx.policy,
            None,
            &mut buf,
        )?;
        let mut t: Value = serde_json::from_slice(&buf)?;
        if let Some(events) = t["events"].as_array_mut() {
            events.retain(|e| e["what"] != "note");
        }
        // The consultants' own mails are the desk's (their notes, their
        // tags); what they told the person is in the outgoing mail.
        if let Some(messages) = t["messages"].as_array_mut() {
            messages.retain(|m| m["kind"] != "consultant_command");
        }
        if let Some(mails) = t["outgoing"].as_array_mut() {
            mails.retain(|m| !internal(&m["to"], cx));
        }
        tickets.push(t);
    }
    let consultants = store.consultant_messages(&s.messages)?;
    let mut files = Vec::new();
    for m in s.messages.iter().filter(|m| !consultants.contains(m)) {
        if let Some(raw) = store.raw_message(*m)? {
            let name = format!("messages/{m}.eml");
            let text = redact(&String::from_utf8_lossy(&raw));
            let bytes = if text.as_bytes() == raw.as_slice() {
                raw
            } else {
                text.into_bytes()
            };
            crate::private::create_new(&out.join(&name))?.write_all(&bytes)?;
            files.push(name);
        }
    }
    let mut mails = store.export_mails(&s.outbox)?;
    mails.retain(|m| !internal(&m.recipients, cx));
    let mut events = store.export_events(&s.events)?;
    events.retain(|e| e.what != "note");
    let doc = json!({
        "address": address,
        "exported_at": crate::sla::format_utc(now),
        "names": s.names,
        "tickets": tickets,
        "message_files": files,
        "outgoing": mails,
        "events": events,
    });
    let text = redact(&serde_json::to_string_pretty(&doc)?);
    let mut f = crate::private::create_new(&out.join("export.json"))?;
    writeln!(f, "{text}")?;
    Ok((s.tickets.len(), files.len(), mails.len()))
}

/// Whether a mail's recipients (a JSON array) are all internal.
fn internal(to: &Value, cx: &ExportContext<'_>) -> bool {
    to.as_array().is_some_and(|a| {
        !a.is_empty()
            && a.iter().all(|r| {
                r.as_str()
                    .is_some_and(|r| cx.internal.contains(&r.to_lowercase()))
            })
    })
}

/// `text` with every MAC that is not the customer's own ticket token
/// blanked: a consultant's token in a Reply-To or Message-ID
/// (`SS-7.<mac>`, `SS-7.12.<mac>`) would let the reader act as that
/// consultant.
fn redact_tokens(text: &str, cx: &ExportContext<'_>) -> String {
    let Some(key) = &cx.key else {
        return text.to_string();
    };
    let re = regex::Regex::new(&format!(
        r"(?i)\b({}-0*(\d{{1,18}}))((?:\.\d{{1,18}})?[.:])([0-9a-f]{{{}}})\b",
        regex::escape(cx.prefix),
        crate::mail::token::MAC_LEN
    ))
    .expect("a valid pattern");
    re.replace_all(text, |c: &regex::Captures<'_>| {
        let reference = format!("{}-{}", cx.prefix, &c[2]);
        let own = crate::mail::token::ticket_mac(key, &reference);
        if crate::mail::token::mac_eq(&c[4].to_ascii_lowercase(), &own) {
            c[0].to_string()
        } else {
            format!(
                "{}{}{}",
                &c[1],
                &c[3],
                "x".repeat(crate::mail::token::MAC_LEN)
            )
        }
    })
    .into_owned()
}

/// Data-subject requests: export or erase everything stored about one
/// email address.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write everything stored about EMAIL into a folder: export.json (its
    /// tickets with messages, events and mail; other events and mail naming
    /// it) and the raw messages as messages/ID.eml.
    Export {
        /// The person's address.
        email: String,
        /// The folder to write (created; default supportd-export-EMAIL).
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
    },
    /// Erase EMAIL: delete the raw messages, mail bodies and quarantine
    /// entries about the person, replace their address and name everywhere
    /// else by a pseudonym (tickets and the audit trail keep their shape),
    /// then VACUUM. Backups taken before are not changed: erase there too,
    /// or let them expire.
    Erase {
        /// The person's address.
        email: String,
        /// Only report what would be erased.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs a `privacy` command.
pub fn run(g: &super::Global, cmd: &Command) -> super::Outcome {
    let (cfg, db) = g.config_and_db()?;
    let mut out = std::io::stdout().lock();
    match cmd {
        Command::Export { email, out: dir } => {
            let email = email.trim().to_lowercase();
            let dir = dir
                .clone()
                .unwrap_or_else(|| std::path::PathBuf::from(format!("supportd-export-{email}")));
            let store = Store::open_read_only(&db)?;
            let policy = Policy::from_config(&cfg);
            let key = match cfg.configured_token_key()? {
                Some(k) => Some(k),
                None => store.stored_token_key()?,
            };
            let cx = ExportContext {
                prefix: &cfg.support.ticket_prefix,
                internal: cfg
                    .consultants
                    .addresses
                    .iter()
                    .chain(&cfg.consultants.escalation)
                    .map(|a| a.to_lowercase())
                    .collect(),
                key,
                policy: &policy,
            };
            let (t, m, o) = export(&store, &email, &dir, &cx, g.now())?;
            writeln!(
                out,
                "{}: {}, {}, {} about {email}",
                dir.display(),
                en_counted(t as u64, "ticket", "tickets"),
                en_counted(m as u64, "message", "messages"),
                en_counted(o as u64, "outgoing mail", "outgoing mails")
            )?;
        }
        Command::Erase { email, dry_run } => {
            let email = email.trim().to_lowercase();
            let mut store = Store::open(&db)?;
            erase(&mut store, &cfg, &email, *dry_run, &mut out)?;
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// The files outside the database that hold a person's mail: the dir
/// transport's `.eml` files of their outgoing mail, and the Maildir
/// source's copies of their messages (`cur/` and `new/`).
fn copies(cfg: &Config, s: &Subject) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Transport::Dir { path } = &cfg.transport {
        out.extend(
            s.outbox
                .iter()
                .map(|id| path.join(crate::outbox::dir::file_name(*id)))
                .filter(|p| p.symlink_metadata().is_ok()),
        );
    }
    if let Source::Maildir { path } = &cfg.source {
        let uniques: HashSet<&str> = s
            .source_keys
            .iter()
            .filter_map(|k| k.strip_prefix("maildir:"))
            .collect();
        for sub in ["cur", "new"] {
            let Ok(listing) = std::fs::read_dir(path.join(sub)) else {
                continue;
            };
            out.extend(
                listing
                    .filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                            uniques.contains(crate::source::files::maildir_unique(n))
                        })
                    }),
            );
        }
    }
    out
}

/// Erases a person (or, with `dry_run`, says what would go).
fn erase(
    store: &mut Store,
    cfg: &Config,
    email: &str,
    dry_run: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let (person, s) = find(store, email)?;
    let files = copies(cfg, &s);
    if dry_run {
        writeln!(
            out,
            "would erase {email}: {}, {} (raw deleted), {} (bodies deleted), {}, {}; names: {}",
            en_counted(s.tickets.len() as u64, "ticket", "tickets"),
            en_counted(s.messages.len() as u64, "message", "messages"),
            en_counted(s.outbox.len() as u64, "outgoing mail", "outgoing mails"),
            en_counted(s.events.len() as u64, "event", "events"),
            en_counted(files.len() as u64, "mail file", "mail files"),
            if s.names.is_empty() {
                "-".to_string()
            } else {
                s.names.join(", ")
            }
        )?;
        return Ok(());
    }
    let key = store.token_key(cfg.configured_token_key()?.as_deref())?;
    let pseudonym = crate::mail::token::pseudonym(&key, email);
    let (e, checkpointed) = store.erase_subject(&person, &pseudonym, &s)?;
    let mut removed = 0;
    for f in &files {
        match std::fs::remove_file(f) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => writeln!(out, "cannot delete {}: {e}; delete it by hand", f.display())?,
        }
    }
    writeln!(
        out,
        "erased {email} as {pseudonym}: {} and {} deleted, {} dropped, {} replaced, {} deleted; database vacuumed",
        en_counted(e.raw_messages, "raw message", "raw messages"),
        en_counted(e.outbox_bodies, "mail body", "mail bodies"),
        en_counted(e.quarantined, "quarantine entry", "quarantine entries"),
        en_counted(e.pseudonymised, "value", "values"),
        en_counted(removed as u64, "mail file", "mail files")
    )?;
    if !checkpointed {
        writeln!(
            out,
            "note: another process had the database open, so its write-ahead log may still hold old pages; run the erasure again with the daemon stopped"
        )?;
    }
    if let Source::Imap {
        processed_folder, ..
    } = &cfg.source
    {
        writeln!(
            out,
            "the IMAP server keeps its own copies of the messages (folder {processed_folder}): delete them there"
        )?;
    }
    writeln!(
        out,
        "backups taken before now still hold the data: erase there too, or let them expire"
    )?;
    Ok(())
}
