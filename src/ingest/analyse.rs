//! Step 2's first stage: each stored message parsed and analysed, on every
//! core. Pure apart from the look-ups of stored Message-IDs, which one
//! thread makes against its own read-only view of the store; the writer
//! resolves each thread again in order before it decides (a message
//! analysed ahead may name one that was not committed yet).
//!
//! A panic in the analysis is caught: that message fails (and is retried
//! once, then quarantined) and the others go on.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::{DateTime, Utc};
use rayon::prelude::*;

use crate::mail::{self, Analysis, classify::Kind, parse::Parsed, thread};

use crate::mail::identity::Identity;
use crate::store::{Incoming, PendingMessage};
pub use crate::ticket::decide::Sender;

/// What the first stage made of a message.
#[derive(Debug)]
pub enum Outcome {
    /// The raw message is gone.
    Gone,
    /// The analysis failed (a panic): why.
    Failed(String),
    /// Over the size limit: quarantined; the sender (a person, not an
    /// automatic mail) is told.
    TooLarge {
        /// The size at the source, in bytes.
        size: u64,
        /// Who to tell, if anyone.
        sender: Option<Sender>,
    },
    /// Analysed.
    Analysed(Box<Analysis>),
}

/// A message entering step 2.
#[derive(Debug)]
pub enum Item {
    /// Stored by step 1, waiting for step 2 (the daemon).
    Stored(PendingMessage),
    /// Read by `import`: stored and applied by the writer in one go.
    Fresh(Incoming),
}

/// Where a message's row is, or will be.
#[derive(Debug)]
pub enum Row {
    /// Stored by step 1.
    Stored(i64),
    /// To be stored by the writer first (`import`), with its identity.
    Fresh(Incoming, Identity),
}

/// A message after the first stage.
#[derive(Debug)]
pub struct Analysed {
    /// Its row.
    pub row: Row,
    /// When our server received it.
    pub received_at: DateTime<Utc>,
    /// The raw bytes of a stored message, kept only when the thread may
    /// need resolving again (the analysis is then redone if the store's
    /// answer differs). A fresh message keeps them in its row.
    pub raw: Option<Vec<u8>>,
    /// The result.
    pub outcome: Outcome,
}

impl Analysed {
    /// The raw bytes, if still at hand.
    pub fn raw(&self) -> Option<&[u8]> {
        match &self.row {
            Row::Fresh(m, _) => Some(&m.raw),
            Row::Stored(_) => self.raw.as_deref(),
        }
    }
}

/// A message being analysed: its row, raw bytes and received instant.
struct Work {
    row: Row,
    raw: Option<Vec<u8>>,
    received_at: DateTime<Utc>,
}

impl Work {
    fn of(item: Item) -> Work {
        match item {
            Item::Stored(p) => Work {
                row: Row::Stored(p.id),
                raw: p.raw,
                received_at: p.received_at,
            },
            Item::Fresh(m) => {
                let ident = crate::mail::identity::identity(&m.raw);
                Work {
                    received_at: m.received_at,
                    raw: None,
                    row: Row::Fresh(m, ident),
                }
            }
        }
    }

    fn raw(&self) -> Option<&[u8]> {
        match &self.row {
            Row::Fresh(m, _) => Some(&m.raw),
            Row::Stored(_) => self.raw.as_deref(),
        }
    }
}

/// Stands for a ticket not known yet: the Message-ID belongs to a message
/// analysed ahead of its commit. Never written: the writer resolves the
/// thread again before it decides.
pub const PENDING_TICKET: u64 = u64::MAX;

/// Stored Message-IDs as the analysis stage sees them: the store as
/// committed, and the messages ahead of it in the pipeline.
pub struct Snapshot<'a> {
    /// The committed store (a read-only connection of its own).
    pub store: Option<&'a dyn thread::Lookup>,
    /// Message-IDs of messages analysed but maybe not committed yet.
    pub in_flight: HashSet<String>,
}

impl thread::Lookup for Snapshot<'_> {
    fn ticket_of_message_id(&self, message_id: &str) -> Option<u64> {
        self.store
            .and_then(|s| s.ticket_of_message_id(message_id))
            .or_else(|| {
                self.in_flight
                    .contains(message_id)
                    .then_some(PENDING_TICKET)
            })
    }
}

fn panic_text(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Runs `f`, turning a panic into this message's failure.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| format!("the analysis failed: {}", panic_text(p)))
}

/// One message parsed, with its threading keys.
enum Parsing {
    Done(Work, Result<Box<(Parsed, thread::Keys)>, String>),
    TooLarge(Work, u64),
}

/// Analyses a chunk in order: parsing and analysis on every core, the
/// look-ups of stored Message-IDs in this thread. Adds the chunk's
/// Message-IDs to the snapshot's in-flight set.
pub fn chunk(
    items: Vec<Item>,
    s: &mail::Settings,
    max_message_bytes: u64,
    snapshot: &mut Snapshot<'_>,
    progress: &std::sync::atomic::AtomicU64,
) -> Vec<Analysed> {
    let tick = || {
        progress.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    };
    let parsed: Vec<Parsing> = items
        .into_par_iter()
        .map(|item| {
            tick();
            let p = Work::of(item);
            wedge_injection(p.raw());
            let size = p.raw().map_or(0, mail::oversize::original_size);
            if p.raw().is_some() && size > max_message_bytes {
                return Parsing::TooLarge(p, size);
            }
            let result = match p.raw() {
                Some(raw) => guarded(|| {
                    fault_injection(raw);
                    let parsed = mail::parse::parse(raw);
                    let keys = thread::keys(&parsed, &s.markers);
                    Box::new((parsed, keys))
                }),
                None => Err(String::new()),
            };
            Parsing::Done(p, result)
        })
        .collect();
    // Threads, in order: a message may name one analysed just before it.
    let threaded: Vec<(Parsing, Option<thread::Thread>)> = parsed
        .into_iter()
        .map(|item| {
            let thread = match &item {
                Parsing::Done(_, Ok(parsed)) => {
                    let (p, keys) = &**parsed;
                    let t = thread::resolve(keys, snapshot);
                    if let Some(id) = &p.message_id {
                        snapshot.in_flight.insert(id.clone());
                    }
                    t
                }
                _ => None,
            };
            (item, thread)
        })
        .collect();
    threaded
        .into_par_iter()
        .map(|(item, thread)| {
            tick();
            finish(item, thread, s)
        })
        .collect()
}

/// The analysis of one parsed message.
fn finish(item: Parsing, thread: Option<thread::Thread>, s: &mail::Settings) -> Analysed {
    match item {
        Parsing::TooLarge(p, size) => {
            let sender = p.raw().and_then(|raw| too_large_sender(raw, s));
            Analysed {
                row: p.row,
                received_at: p.received_at,
                raw: None,
                outcome: Outcome::TooLarge { size, sender },
            }
        }
        Parsing::Done(p, parsed) => {
            let outcome = match parsed {
                Err(_) if p.raw().is_none() => Outcome::Gone,
                Err(reason) => Outcome::Failed(reason),
                Ok(parsed) => {
                    let (parsed, keys) = *parsed;
                    let again = keys.needs_lookup();
                    match guarded(|| mail::analyze_threaded(parsed, keys, thread, p.received_at, s))
                    {
                        Ok(a) => {
                            return Analysed {
                                row: p.row,
                                received_at: p.received_at,
                                raw: if again { p.raw } else { None },
                                outcome: Outcome::Analysed(Box::new(a)),
                            };
                        }
                        Err(reason) => Outcome::Failed(reason),
                    }
                }
            };
            Analysed {
                row: p.row,
                received_at: p.received_at,
                raw: None,
                outcome,
            }
        }
    }
}

/// Who a message over the size limit came from, when it is a person's
/// (never an automatic mail, never an address-less one).
fn too_large_sender(raw: &[u8], s: &mail::Settings) -> Option<Sender> {
    guarded(|| {
        let p = mail::parse::parse(raw);
        let who = mail::classify::Who {
            markers: &s.markers,
            support_address: &s.support_address,
            consultants: &s.consultants,
        };
        let kind: Kind = mail::classify::classify(&p, &who, false).kind;
        if kind.is_automatic() || !p.from.address.contains('@') {
            return None;
        }
        Some(Sender {
            language: mail::language::detect(&p.subject, &p.text, s.default_language),
            address: p.from.address,
            subject: p.subject,
        })
    })
    .ok()
    .flatten()
}

/// Analyses one message again, against the store as the writer sees it.
pub fn again(
    raw: &[u8],
    received_at: DateTime<Utc>,
    s: &mail::Settings,
    lookup: &dyn thread::Lookup,
) -> Result<Analysis, String> {
    guarded(|| mail::analyze(raw, received_at, s, lookup))
}

/// Whether test fault injection is on: only when the process was started
/// with `SUPPORTD_TEST_FAULTS=1` (no mail can switch it on), in every build
/// profile, so the tests that prove the failure paths run in all of them.
fn faults_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("SUPPORTD_TEST_FAULTS").is_some_and(|v| v == "1"))
}

/// Whether a message carries a test fault header (with faults enabled).
fn injected(raw: &[u8], trigger: &[u8]) -> bool {
    faults_enabled() && memchr::memmem::find(raw, trigger).is_some()
}

/// `X-Supportd-Test-Panic: analysis` panics the analysis, so tests can
/// prove that a failing message is quarantined and the next one goes on.
fn fault_injection(raw: &[u8]) {
    if injected(raw, b"X-Supportd-Test-Panic: analysis") {
        panic!("test fault injection");
    }
}

/// `X-Supportd-Test-Wedge: ingest` stops the analysis for good (a
/// deadlock, as far as anyone can tell), so tests can prove that the
/// systemd watchdog pings stop.
fn wedge_injection(raw: Option<&[u8]>) {
    if raw.is_some_and(|raw| injected(raw, b"X-Supportd-Test-Wedge: ingest")) {
        tracing::error!("test fault injection: the ingest worker wedges");
        loop {
            std::thread::park();
        }
    }
}
