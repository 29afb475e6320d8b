//! Step 2 of every message, as a pipeline: **read → decide → write**.
//!
//! ```text
//!  store (pending rows) ──► analyse (every core) ──► for each message, in order:
//!                                                     read   what the decision needs (read.rs)
//!                                                     decide ticket::decide (pure)
//!                                                     write  one savepoint (store)
//! ```
//!
//! The analysis runs up to two chunks ahead of the writer, the next
//! chunk's parsing overlapping the current one's finishing (`import`'s
//! files are read ahead on a thread of their own); a chunk is one
//! transaction, and log lines about tickets are written only once it is
//! committed. A message read by `import` is written once, with its
//! decision. A message analysed ahead may name one that was not committed
//! yet, so the writer resolves each thread again against the store before
//! it decides ([`analyse`]).
//!
//! Failure policy: a message whose step 2 fails (an error, or a panic in
//! the analysis or the decision) is retried once; the second failure
//! quarantines it with its reason, and the next message goes on. Nothing is
//! lost: the raw message stays stored either way. A store error stops the
//! pass (it is the database's, not the message's).

pub mod analyse;
pub mod pool;
pub mod read;

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::mail::{self, Analysis, classify::Kind, thread};
use crate::store::Incoming;
use crate::store::{self, DecidedRow, Markers, Store, analysis::StoredAnalysis};
use crate::ticket::decide::{self, Decision, Message, Rules};
use crate::ticket::{Event, Ticket};
use analyse::{Analysed, Item, Outcome, Row};

pub use decide::Summary;

/// What step 2 needs besides the store.
pub struct Settings<'a> {
    /// Message analysis settings (addresses, token key, rules).
    pub analysis: &'a mail::Settings,
    /// The rules decisions follow (and the mail they queue, if any).
    pub rules: Rules<'a>,
    /// Number of the first ticket.
    pub first_number: u64,
    /// Larger messages are quarantined raw and the sender is told.
    pub max_message_bytes: u64,
    /// What one message's analysis may take; one that takes longer is
    /// quarantined with the reason, and the others go on.
    pub analysis_budget: Duration,
    /// Asked between chunks, and while the analysis shows progress: stop
    /// early (the daemon is shutting down); the rest stays pending for the
    /// next start.
    pub stop: Option<&'a (dyn Fn() -> bool + Sync)>,
}

/// Messages per chunk: one transaction (one fsync), analysed in parallel.
const CHUNK: usize = 100;

/// Raw bytes per chunk at most: enough to keep every core busy, little
/// enough to bound memory whatever the messages' sizes.
const CHUNK_BYTES: usize = 16 * 1024 * 1024;

/// Analysed chunks waiting for the writer at most: the analysis keeps
/// every core busy while the writer commits (bounded memory: at most
/// `AHEAD + 3` chunks in the pipeline, each within [`CHUNK_BYTES`]).
const AHEAD: usize = 2;

/// How often a writer waiting for the analysis looks whether it still
/// makes progress (and shows it, for the watchdog).
const PROGRESS_CHECK: Duration = Duration::from_millis(200);

/// Where the pipeline's messages come from.
pub enum Source<'a> {
    /// The store's messages waiting for step 2 (the daemon, `quarantine
    /// replay`), read by the analysis side through its own connection.
    Pending,
    /// Messages `import` read: stored and applied by the writer in one
    /// transaction per chunk.
    Incoming(&'a mut (dyn Iterator<Item = Incoming> + Send)),
}

/// What a pipeline run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Run {
    /// Step 2's counts.
    pub summary: Summary,
    /// Messages whose step 2 failed (tried again in a second round).
    pub failures: u64,
    /// Messages taken from the source.
    pub read: u64,
    /// Fresh messages that were already stored.
    pub duplicates: u64,
}

/// Applies every message step 1 stored and step 2 has not applied yet.
/// A message that fails is tried again once in a second round.
pub fn apply_pending(
    store: &mut Store,
    s: &Settings<'_>,
    now: DateTime<Utc>,
) -> store::Result<Summary> {
    let mut summary = Summary::default();
    loop {
        let run = pipeline(store, s, now, Source::Pending, None)?;
        summary.add(&run.summary);
        if run.failures == 0 || s.stop.is_some_and(|stop| stop()) {
            return Ok(summary);
        }
    }
}

/// Where the analysis side takes its chunks from.
enum Feed {
    /// The store's pending rows, read by the analysis side itself.
    Pending,
    /// Chunks a thread of their own reads ahead (`import`'s files), so the
    /// analysis threads never wait for the disk.
    Chunks(mpsc::Receiver<Vec<Item>>),
}

/// The next chunk from a feed: at most [`CHUNK`] messages and
/// [`CHUNK_BYTES`] raw bytes (at least one message); empty at the end.
fn next_chunk(feed: &Feed, reader: Option<&Store>, after: &mut i64) -> store::Result<Vec<Item>> {
    match feed {
        Feed::Pending => {
            let Some(reader) = reader else {
                return Ok(Vec::new());
            };
            let chunk = reader.pending_after(*after, CHUNK, CHUNK_BYTES)?;
            if let Some(last) = chunk.last() {
                *after = last.id;
            }
            Ok(chunk.into_iter().map(Item::Stored).collect())
        }
        Feed::Chunks(chunks) => Ok(chunks.recv().unwrap_or_default()),
    }
}

/// Reads `messages` in chunks ahead of the analysis, until they end or the
/// analysis side stops taking them.
fn read_ahead(
    messages: &mut (dyn Iterator<Item = Incoming> + Send),
    to_analysis: &mpsc::SyncSender<Vec<Item>>,
) {
    loop {
        let (mut chunk, mut bytes) = (Vec::new(), 0);
        while chunk.len() < CHUNK && bytes < CHUNK_BYTES {
            let Some(m) = messages.next() else { break };
            bytes += m.raw.len();
            chunk.push(Item::Fresh(m));
        }
        if chunk.is_empty() || to_analysis.send(chunk).is_err() {
            return;
        }
    }
}

/// Runs the messages of `source` through the analysis (a thread of its
/// own, using every core) and the writer (this thread). `progress` hears
/// of each chunk written (messages in it).
pub fn pipeline(
    store: &mut Store,
    s: &Settings<'_>,
    now: DateTime<Utc>,
    source: Source<'_>,
    progress: Option<&dyn Fn(usize)>,
) -> store::Result<Run> {
    let analysed_count = Arc::new(AtomicU64::new(0));
    let path = store.path().to_path_buf();
    let shared = analyse::Shared {
        settings: Arc::new(s.analysis.clone()),
        max_message_bytes: s.max_message_bytes,
        budget: s.analysis_budget,
    };
    let stages = analyse::Stages::new(shared, Arc::clone(&analysed_count));
    std::thread::scope(|scope| {
        // The analysis runs up to AHEAD chunks ahead of the writer.
        let (to_writer, analysed) = mpsc::sync_channel::<store::Result<Vec<Analysed>>>(AHEAD);
        let stop = s.stop;
        let (feed, reading) = match source {
            Source::Pending => (Feed::Pending, None),
            Source::Incoming(messages) => {
                let (to_analysis, chunks) = mpsc::sync_channel(1);
                let reading = scope.spawn(move || read_ahead(messages, &to_analysis));
                (Feed::Chunks(chunks), Some(reading))
            }
        };
        let analysis = scope.spawn(move || analysis_side(&path, feed, stages, stop, &to_writer));
        let mut w = Writer::default();
        let (mut busy, mut waited) = (Duration::ZERO, Duration::ZERO);
        loop {
            let t = std::time::Instant::now();
            let Some(chunk) = wait(&analysed, &analysed_count, s.stop) else {
                break;
            };
            waited += t.elapsed();
            let t = std::time::Instant::now();
            let chunk = chunk?;
            let n = chunk.len();
            w.chunk(store, s, chunk, now)?;
            busy += t.elapsed();
            if let Some(p) = progress {
                p(n);
            }
        }
        if w.run.read > 0 {
            tracing::debug!(
                messages = w.run.read,
                writer_secs = format!("{:.2}", busy.as_secs_f64()),
                waiting_secs = format!("{:.2}", waited.as_secs_f64()),
                committing_secs = format!("{:.2}", w.committing.as_secs_f64()),
                "step 2 pass"
            );
        }
        drop(analysed);
        // A panic of the analysis thread outside the per-message guard.
        if analysis.join().is_err() {
            tracing::error!("the analysis thread stopped unexpectedly");
        }
        if reading.is_some_and(|r| r.join().is_err()) {
            tracing::error!("the reading thread stopped unexpectedly");
        }
        Ok(w.run)
    })
}

/// The analysis side of the pipeline: reads chunks from the source and
/// hands each, analysed, to the writer.
fn analysis_side(
    path: &std::path::Path,
    feed: Feed,
    mut stages: analyse::Stages,
    stop: Option<&(dyn Fn() -> bool + Sync)>,
    to_writer: &mpsc::SyncSender<store::Result<Vec<Analysed>>>,
) {
    // Its own read-only view of the committed store.
    let reader = Store::open_read_only(path).ok();
    let mut snapshot = analyse::Snapshot {
        store: reader.as_ref().map(|r| r as &dyn thread::Lookup),
        in_flight: HashSet::new(),
    };
    // The Message-IDs of the chunks that may not be committed yet, oldest
    // first: those in the channel, and the one the writer is applying.
    let mut uncommitted: VecDeque<HashSet<String>> = VecDeque::new();
    let mut after = 0;
    let mut upcoming = start_next(&feed, reader.as_ref(), &mut after, &mut stages);
    loop {
        let current = match upcoming {
            Ok(Some(started)) => started,
            Ok(None) => return,
            Err(e) => {
                let _ = to_writer.send(Err(e));
                return;
            }
        };
        if stop.is_some_and(|stop| stop()) {
            return;
        }
        // The next chunk is read and its parsing queued before this one is
        // finished: the threads never wait for the chunk's slowest message.
        upcoming = start_next(&feed, reader.as_ref(), &mut after, &mut stages);
        let (out, ids) = stages.finish(current, &mut snapshot);
        if to_writer.send(Ok(out)).is_err() {
            return;
        }
        // At most AHEAD chunks wait in the channel and the writer applies
        // one: older chunks are committed.
        uncommitted.push_back(ids);
        if uncommitted.len() > AHEAD + 1 {
            uncommitted.pop_front();
            snapshot.in_flight = uncommitted.iter().flatten().cloned().collect();
        }
    }
}

/// Reads the next chunk from the feed and queues its parsing; `None` at
/// the end.
fn start_next(
    feed: &Feed,
    reader: Option<&Store>,
    after: &mut i64,
    stages: &mut analyse::Stages,
) -> store::Result<Option<analyse::Started>> {
    let chunk = next_chunk(feed, reader, after)?;
    Ok((!chunk.is_empty()).then(|| stages.start(chunk)))
}

/// Waits for the analysis of the next chunk, showing progress (through
/// `stop`, which beats for the watchdog) only while the analysis makes
/// some: a wedged analysis stops the pings.
fn wait(
    analysed: &mpsc::Receiver<store::Result<Vec<Analysed>>>,
    progress: &AtomicU64,
    stop: Option<&(dyn Fn() -> bool + Sync)>,
) -> Option<store::Result<Vec<Analysed>>> {
    let mut seen = progress.load(Ordering::Relaxed);
    loop {
        match analysed.recv_timeout(PROGRESS_CHECK) {
            Ok(chunk) => return Some(chunk),
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let now = progress.load(Ordering::Relaxed);
                if now != seen {
                    seen = now;
                    if let Some(stop) = stop {
                        stop();
                    }
                }
            }
        }
    }
}

/// The writer: applies analysed messages in order, a chunk per
/// transaction.
#[derive(Default)]
struct Writer {
    run: Run,
    /// Time spent committing (writing the WAL, fsync, checkpoints).
    committing: Duration,
}

impl Writer {
    /// Applies a chunk in one transaction, then logs what it did.
    fn chunk(
        &mut self,
        store: &mut Store,
        s: &Settings<'_>,
        chunk: Vec<Analysed>,
        now: DateTime<Utc>,
    ) -> store::Result<()> {
        // One transaction per chunk (one fsync). A message's own failure
        // is recorded and the next one goes on; a store error rolls the
        // whole chunk back. A crash loses nothing: what was not committed
        // is still pending (the daemon) or still in its file (`import`).
        store.begin_batch()?;
        let mut lines = Vec::with_capacity(chunk.len());
        for item in chunk {
            if let Err(e) = self.message(store, s, item, now, &mut lines) {
                let _ = store.rollback_batch();
                return Err(e);
            }
        }
        let t = std::time::Instant::now();
        let r = store.commit_batch();
        self.committing += t.elapsed();
        if let Err(e) = r {
            let _ = store.rollback_batch();
            return Err(e);
        }
        for line in &lines {
            line.emit();
        }
        Ok(())
    }

    /// Reads, decides and writes one message (or records its failure).
    fn message(
        &mut self,
        store: &mut Store,
        s: &Settings<'_>,
        mut item: Analysed,
        now: DateTime<Utc>,
        lines: &mut Vec<LogLine>,
    ) -> store::Result<()> {
        let markers = Markers {
            support_address: &s.analysis.support_address,
            prefix: &s.analysis.ticket_prefix,
            key: s.analysis.token_key.as_deref().unwrap_or_default(),
        };
        self.run.read += 1;
        // A fresh message (`import`) is deduplicated here and written with
        // its decision: one insert of its row, already applied.
        let (id, fresh) = match std::mem::replace(&mut item.row, Row::Stored(0)) {
            Row::Stored(id) => (id, None),
            Row::Fresh(m, ident) => {
                let ident = ident.unwrap_or_else(|| crate::mail::identity::identity(&m.raw));
                match store.identify_in_batch(&m, ident)? {
                    store::Identified::Duplicate(_) => {
                        self.run.duplicates += 1;
                        return Ok(());
                    }
                    store::Identified::New(id, ident) => (id, Some((m, ident))),
                }
            }
        };
        let row = match &fresh {
            None => DecidedRow::Stored(id),
            Some((m, ident)) => DecidedRow::New(id, m, ident),
        };
        analyse::wedge_injection(item.raw.as_deref());
        let received_at = item.received_at;
        match decided(store, s, id, item, now)? {
            Ok((d, analysis, json)) => {
                store.commit_decision(row, &d, &json, received_at, markers, now)?;
                self.run.summary.add(&d.summary);
                lines.push(LogLine::of(id, &d, analysis.as_deref(), s.rules.prefix));
            }
            Err(reason) => {
                if let Some((m, ident)) = &fresh {
                    store.store_in_batch_as(id, m, ident, now)?;
                }
                self.run.failures += 1;
                let quarantined = store.fail_message(id, &reason, now)?;
                if quarantined {
                    self.run.summary.quarantined += 1;
                }
                lines.push(LogLine::Failed {
                    id,
                    reason,
                    quarantined,
                });
            }
        }
        Ok(())
    }
}

/// A message's decision, with its analysis and that analysis as stored
/// (JSON; empty without one); `Err` is the message's own failure, the outer
/// error the store's.
type Decided = Result<(Decision, Option<Box<Analysis>>, String), String>;

/// Read and decide for one analysed message.
fn decided(
    store: &Store,
    s: &Settings<'_>,
    id: i64,
    item: Analysed,
    now: DateTime<Utc>,
) -> store::Result<Decided> {
    let sending = s.rules.sending.is_some();
    let (a, json) = match item.outcome {
        Outcome::Gone => return Ok(Err("the raw message is gone".into())),
        Outcome::OverBudget(budget) => {
            return Ok(Ok((decide::over_budget(budget), None, String::new())));
        }
        Outcome::Failed(reason) => return Ok(Err(reason)),
        Outcome::TooLarge { size, sender } => {
            let recent = match (&sender, sending) {
                (Some(x), true) => read::recent_for(store, &x.address, now)?,
                _ => Default::default(),
            };
            let d = decide::too_large(
                id,
                size,
                s.max_message_bytes,
                sender.as_ref(),
                &recent,
                &s.rules,
            );
            return Ok(Ok((d, None, String::new())));
        }
        Outcome::Analysed(a, json) => (a, json),
    };
    let (a, json) = match rethread(store, s, a, item.raw.as_deref(), item.received_at) {
        Ok(Rethread::Same(a)) => (a, json),
        Ok(Rethread::Changed(a)) => {
            let json = StoredAnalysis::of(&a).to_json();
            (a, json)
        }
        Err(reason) => return Ok(Err(reason)),
    };
    let consultants = sending.then_some(s.rules.consultants);
    let known = read::known(store, &a, s.first_number, consultants, now)?;
    let m = Message {
        id,
        analysis: &a,
        received_at: item.received_at,
    };
    let d = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decide::decide(&m, known, &s.rules, now)
    }))
    .unwrap_or_else(|_| Err("the decision failed (a panic)".into()));
    Ok(d.map(|d| (d, Some(a), json)))
}

/// A message's analysis after [`rethread`].
enum Rethread {
    /// As the analysis threads made it.
    Same(Box<Analysis>),
    /// Its thread corrected, or analysed again.
    Changed(Box<Analysis>),
}

/// The thread of a message analysed ahead, resolved again against the
/// store as it is now: when it differs, the ticket number is corrected, or
/// (when whether it threads at all changed, or for a consultant, whose
/// sender check is per ticket) the message is analysed again.
fn rethread(
    store: &Store,
    s: &Settings<'_>,
    mut a: Box<Analysis>,
    raw: Option<&[u8]>,
    received_at: DateTime<Utc>,
) -> Result<Rethread, String> {
    if !a.thread_keys.needs_lookup() {
        return Ok(Rethread::Same(a));
    }
    let now = thread::resolve(&a.thread_keys, store);
    let was = a.ticket.zip(a.thread_signal);
    match now {
        Some(t) if was == Some((t.number, t.signal)) => Ok(Rethread::Same(a)),
        Some(t) if was.is_some() && a.kind != Kind::ConsultantCommand => {
            a.ticket = Some(t.number);
            a.ticket_ref = Some(format!("{}-{}", s.analysis.ticket_prefix, t.number));
            a.thread_signal = Some(t.signal);
            Ok(Rethread::Changed(a))
        }
        None if was.is_none() => Ok(Rethread::Same(a)),
        _ => {
            tracing::debug!(was = ?was, now = ?now.map(|t| (t.number, t.signal)), "thread changed; analysed again");
            let raw = raw.ok_or("the raw message is gone")?;
            analyse::again(raw, received_at, s.analysis, store)
                .map(|a| Rethread::Changed(Box::new(a)))
        }
    }
}

/// A line for the log about one applied message, written once its chunk is
/// committed: one info line per ticket opened and per command applied;
/// never a body, a token or a password.
enum LogLine {
    /// The message was applied.
    Applied {
        id: i64,
        reference: Option<String>,
        new: Option<(u8, String)>,
        kind: Option<Kind>,
        from: String,
        commands: String,
        rejected: bool,
        breached: bool,
        quarantine: Option<String>,
        suppressed: Vec<String>,
    },
    /// Its step 2 failed.
    Failed {
        id: i64,
        reason: String,
        quarantined: bool,
    },
}

impl LogLine {
    fn of(id: i64, d: &Decision, a: Option<&Analysis>, prefix: &str) -> LogLine {
        let ticket: Option<&(Ticket, bool)> = d.ticket.as_ref();
        LogLine::Applied {
            id,
            reference: ticket.map(|(t, _)| format!("{prefix}-{}", t.number)),
            new: ticket
                .filter(|(_, new)| *new)
                .map(|(t, _)| (t.severity.number(), t.requester.clone())),
            kind: d.kind,
            from: a.map(|a| a.requester.address.clone()).unwrap_or_default(),
            commands: a
                .map(|a| {
                    a.commands
                        .iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default(),
            rejected: d.rejected,
            breached: d.has(Event::Breached),
            quarantine: d.quarantine.clone(),
            suppressed: d.suppress.iter().map(|(a, _)| a.clone()).collect(),
        }
    }

    fn emit(&self) {
        match self {
            LogLine::Failed {
                id,
                reason,
                quarantined,
            } => {
                let _span = tracing::info_span!("message", id).entered();
                tracing::warn!(%reason, "message failed");
                if *quarantined {
                    tracing::warn!("message quarantined after a second failure");
                }
            }
            LogLine::Applied {
                id,
                reference,
                new,
                kind,
                from,
                commands,
                rejected,
                breached,
                quarantine,
                suppressed,
            } => {
                let span = tracing::info_span!("message", id, ticket = tracing::field::Empty);
                if let Some(r) = reference {
                    span.record("ticket", tracing::field::display(r));
                }
                let _entered = span.enter();
                let has_ticket = reference.is_some();
                emit_applied(
                    *kind,
                    new.as_ref(),
                    has_ticket,
                    from,
                    commands,
                    *rejected,
                    quarantine.as_deref(),
                );
                if *kind == Some(Kind::Feedback) {
                    if suppressed.is_empty() {
                        tracing::warn!("feedback report names no recipient; nothing suppressed");
                    }
                    for r in suppressed {
                        tracing::warn!(recipient = %r, "feedback report: no more automatic mail to this recipient");
                    }
                }
                if *breached {
                    match new {
                        Some(_) => tracing::info!(
                            "the response deadline had passed when the message was applied (history); no escalation"
                        ),
                        None => tracing::warn!(
                            "SLA breach: the new severity's deadline has passed; escalated"
                        ),
                    }
                }
            }
        }
    }
}

/// The main line about an applied message.
fn emit_applied(
    kind: Option<Kind>,
    new: Option<&(u8, String)>,
    has_ticket: bool,
    from: &str,
    commands: &str,
    rejected: bool,
    quarantine: Option<&str>,
) {
    let Some(kind) = kind else {
        if let Some(reason) = quarantine {
            tracing::warn!(%reason, "message quarantined; its sender is told");
        }
        return;
    };
    match (new, kind) {
        (_, Kind::NotMail) => {
            tracing::warn!("input is not a mail; quarantined")
        }
        (Some((severity, requester)), kind) => tracing::info!(
            severity,
            requester = %requester,
            kind = kind.as_str(),
            "ticket opened"
        ),
        (None, Kind::ConsultantCommand) if !rejected => {
            tracing::info!(consultant = %from, commands = %commands, "command applied")
        }
        (None, Kind::ConsultantCommand) => {
            tracing::warn!(consultant = %from, "command rejected; the consultant is told why")
        }
        (None, kind) if has_ticket => {
            tracing::debug!(kind = kind.as_str(), from = %from, "message added")
        }
        (None, kind) => tracing::debug!(kind = kind.as_str(), "message stored alone"),
    }
}
