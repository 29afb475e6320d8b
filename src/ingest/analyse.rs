//! Step 2's first stage: each message parsed and analysed on the analysis
//! threads ([`super::pool`]), each within its time budget. Pure apart from
//! the look-ups of stored Message-IDs, which the stage's own thread makes
//! against its read-only view of the store; the writer resolves each
//! thread again in order before it decides (a message analysed ahead may
//! name one that was not committed yet).
//!
//! A panic in the analysis is caught: that message fails (and is retried
//! once, then quarantined) and the others go on. A message whose analysis
//! runs over its budget is quarantined at once, with the reason.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::pool::{Pool, Task};
use crate::mail::identity::Identity;
use crate::mail::{self, Analysis, classify::Kind, parse::Parsed, thread};
use crate::store::{Incoming, PendingMessage, analysis::StoredAnalysis};
pub use crate::ticket::decide::Sender;

/// What the first stage made of a message.
#[derive(Debug)]
pub enum Outcome {
    /// The raw message is gone.
    Gone,
    /// The analysis failed (a panic): why.
    Failed(String),
    /// The analysis ran over its budget: quarantined at once.
    OverBudget(Duration),
    /// Over the size limit: quarantined; the sender (a person, not an
    /// automatic mail) is told.
    TooLarge {
        /// The size at the source, in bytes.
        size: u64,
        /// Who to tell, if anyone.
        sender: Option<Sender>,
    },
    /// Analysed, with the analysis as stored (JSON, made here on the
    /// analysis threads rather than by the writer).
    Analysed(Box<Analysis>, String),
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
#[derive(Debug, Clone)]
pub enum Row {
    /// Stored by step 1.
    Stored(i64),
    /// To be stored by the writer first (`import`), with its identity when
    /// the analysis got that far.
    Fresh(Incoming, Option<Identity>),
}

/// A message after the first stage.
#[derive(Debug)]
pub struct Analysed {
    /// Its row.
    pub row: Row,
    /// When our server received it.
    pub received_at: DateTime<Utc>,
    /// Its raw bytes (shared with the analysis; kept for a second analysis
    /// should the store's answer about its thread differ).
    pub raw: Option<Arc<[u8]>>,
    /// The result.
    pub outcome: Outcome,
}

/// A message being analysed.
#[derive(Clone)]
struct Work {
    row: Row,
    raw: Option<Arc<[u8]>>,
    received_at: DateTime<Utc>,
}

impl Work {
    fn of(item: Item) -> Work {
        match item {
            Item::Stored(p) => Work {
                row: Row::Stored(p.id),
                raw: p.raw.map(Arc::from),
                received_at: p.received_at,
            },
            Item::Fresh(m) => Work {
                received_at: m.received_at,
                raw: Some(Arc::clone(&m.raw)),
                row: Row::Fresh(m, None),
            },
        }
    }

    /// A message the writer stores first (`import`) needs its identity;
    /// one stored by step 1 has it already.
    fn needs_identity(&self) -> bool {
        matches!(self.row, Row::Fresh(..))
    }

    /// Records a fresh message's identity (`None` for a stored one).
    fn identified(&mut self, identity: Option<Identity>) {
        if let (Row::Fresh(_, slot), Some(identity)) = (&mut self.row, identity) {
            *slot = Some(identity);
        }
    }

    /// A fresh message's identity from its header block alone, when its
    /// parse did not get that far.
    fn identify(&mut self, raw: &[u8]) {
        let identity = self.needs_identity().then(|| mail::identity::identity(raw));
        self.identified(identity);
    }

    fn done(self, outcome: Outcome) -> Analysed {
        Analysed {
            row: self.row,
            received_at: self.received_at,
            raw: self.raw,
            outcome,
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

/// A message parsed, with its threading keys, or what stopped it.
enum Parsing {
    Parsed(Work, Box<(Parsed, thread::Keys)>),
    Done(Analysed),
}

/// What one task of the stage returns.
enum Stage {
    Parsing(Parsing),
    Finished(Analysed),
}

/// What the analysis needs, shared with its threads.
#[derive(Clone)]
pub struct Shared {
    /// Analysis settings.
    pub settings: Arc<mail::Settings>,
    /// Larger messages are quarantined and their sender told.
    pub max_message_bytes: u64,
    /// What one message's analysis may take.
    pub budget: Duration,
}

/// The analysis threads of a pipeline run.
pub struct Stages {
    pool: Pool<Stage>,
    shared: Shared,
}

impl Stages {
    /// Threads for `shared`, one per core, progress counted in `progress`.
    pub fn new(shared: Shared, progress: Arc<std::sync::atomic::AtomicU64>) -> Stages {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Stages {
            pool: Pool::new(threads, progress),
            shared,
        }
    }

    /// Starts a chunk's analysis: its messages are parsed on the pool
    /// while the caller goes on (reading the next chunk, finishing the one
    /// before); [`Stages::finish`] completes it.
    pub fn start(&mut self, items: Vec<Item>) -> Started {
        let works: Vec<Work> = items.into_iter().map(Work::of).collect();
        let tasks: Vec<Task<Stage>> = works
            .iter()
            .cloned()
            .map(|w| -> Task<Stage> {
                let shared = self.shared.clone();
                Box::new(move || Stage::Parsing(parse(w, &shared)))
            })
            .collect();
        Started {
            batch: self.pool.submit(tasks),
            works,
        }
    }

    /// Completes a chunk's analysis, in order: the look-ups of stored
    /// Message-IDs in this thread, then the analysis on the pool. Adds the
    /// chunk's Message-IDs to the snapshot's in-flight set, and returns
    /// them with the analysed messages.
    pub fn finish(
        &mut self,
        started: Started,
        snapshot: &mut Snapshot<'_>,
    ) -> (Vec<Analysed>, HashSet<String>) {
        let budget = self.shared.budget;
        let Started { batch, works } = started;
        let parsed = self.pool.collect(batch, budget);
        let mut finished: Vec<Option<Analysed>> = Vec::with_capacity(works.len());
        let mut ids = HashSet::new();
        let mut tasks: Vec<Task<Stage>> = Vec::new();
        let mut slots = Vec::new();
        for (w, p) in works.into_iter().zip(parsed) {
            match p {
                Some(Stage::Parsing(Parsing::Parsed(w, parsed))) => {
                    // Threads in order: a message may name one analysed
                    // just before it.
                    let thread = thread::resolve(&parsed.1, snapshot);
                    if let Some(id) = &parsed.0.message_id {
                        snapshot.in_flight.insert(id.clone());
                        ids.insert(id.clone());
                    }
                    let shared = self.shared.clone();
                    slots.push((finished.len(), w.clone()));
                    finished.push(None);
                    tasks.push(Box::new(move || {
                        Stage::Finished(finish(w, *parsed, thread, &shared))
                    }));
                }
                Some(Stage::Parsing(Parsing::Done(a)) | Stage::Finished(a)) => {
                    finished.push(Some(a))
                }
                None => finished.push(Some(w.done(Outcome::OverBudget(budget)))),
            }
        }
        // Ahead of the next chunk's parsing, queued before: this chunk is
        // what the writer waits for, and the parsing fills the threads
        // while this batch's last tasks run.
        let batch = self.pool.submit_first(tasks);
        let results = self.pool.collect(batch, budget);
        for ((slot, w), r) in slots.into_iter().zip(results) {
            finished[slot] = Some(match r {
                Some(Stage::Finished(a)) => a,
                _ => w.done(Outcome::OverBudget(budget)),
            });
        }
        (finished.into_iter().flatten().collect(), ids)
    }
}

/// A chunk whose parsing runs on the pool.
pub struct Started {
    batch: super::pool::Batch,
    works: Vec<Work>,
}

/// Parses one message (or finds it gone, too large, or failing).
fn parse(mut w: Work, shared: &Shared) -> Parsing {
    let Some(raw) = w.raw.clone() else {
        return Parsing::Done(w.done(Outcome::Gone));
    };
    let size = mail::oversize::original_size(&raw);
    if size > shared.max_message_bytes {
        w.identify(&raw);
        let sender = too_large_sender(&raw, &shared.settings);
        return Parsing::Done(w.done(Outcome::TooLarge { size, sender }));
    }
    let needs_identity = w.needs_identity();
    let parsed = guarded(|| {
        fault_injection(&raw);
        // The identity from the same reading, when the message needs one.
        let (parsed, identity) = if needs_identity {
            let (parsed, identity) = mail::identity::parse_with_identity(&raw);
            (parsed, Some(identity))
        } else {
            (mail::parse::parse(&raw), None)
        };
        let keys = thread::keys(&parsed, &shared.settings.markers);
        (Box::new((parsed, keys)), identity)
    });
    match parsed {
        Ok((p, identity)) => {
            w.identified(identity);
            Parsing::Parsed(w, p)
        }
        Err(reason) => {
            w.identify(&raw);
            Parsing::Done(w.done(Outcome::Failed(reason)))
        }
    }
}

/// The analysis of one parsed message.
fn finish(
    w: Work,
    (parsed, keys): (Parsed, thread::Keys),
    thread: Option<thread::Thread>,
    shared: &Shared,
) -> Analysed {
    let received_at = w.received_at;
    match guarded(|| mail::analyze_threaded(parsed, keys, thread, received_at, &shared.settings)) {
        Ok(a) => {
            let json = StoredAnalysis::of(&a).to_json();
            w.done(Outcome::Analysed(Box::new(a), json))
        }
        Err(reason) => w.done(Outcome::Failed(reason)),
    }
}

/// Who a message over the size limit came from, when it is a person's
/// (never an automatic mail, never an address-less one, never a forged
/// one). Only its header block is read.
fn too_large_sender(raw: &[u8], s: &mail::Settings) -> Option<Sender> {
    let head = &raw[..mail::oversize::header_block_end(raw)];
    guarded(|| {
        let p = mail::parse::parse(head);
        let who = mail::classify::Who {
            markers: &s.markers,
            support_address: &s.support_address,
            consultants: &s.consultants,
        };
        let kind: Kind = mail::classify::classify(&p, &who, false).kind;
        // A forged From (our server recorded a DMARC failure) is not told
        // either: the notice would go to whoever was impersonated.
        if kind.is_automatic() || !p.from.address.contains('@') || mail::sender_dmarc_fail(&p, s) {
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

use crate::health::faults_enabled;

/// Whether a message carries a test fault header (with faults enabled).
fn injected(raw: &[u8], trigger: &[u8]) -> bool {
    faults_enabled() && memchr::memmem::find(raw, trigger).is_some()
}

/// `X-Supportd-Test-Panic: analysis` panics the analysis, so tests can
/// prove that a failing message is quarantined and the next one goes on;
/// `X-Supportd-Test-Slow: analysis` makes it take 60 s, so they can prove
/// the time budget.
fn fault_injection(raw: &[u8]) {
    if injected(raw, b"X-Supportd-Test-Panic: analysis") {
        panic!("test fault injection");
    }
    if injected(raw, b"X-Supportd-Test-Slow: analysis") {
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// `X-Supportd-Test-Wedge: ingest` stops the writer for good (a deadlock,
/// as far as anyone can tell), so tests can prove that the systemd
/// watchdog pings stop.
pub fn wedge_injection(raw: Option<&[u8]>) {
    if raw.is_some_and(|raw| injected(raw, b"X-Supportd-Test-Wedge: ingest")) {
        tracing::error!("test fault injection: the ingest worker wedges");
        loop {
            std::thread::park();
        }
    }
}
