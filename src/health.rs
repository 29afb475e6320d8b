//! What the daemon tells systemd about itself: each worker's last sign of
//! progress (the watchdog pings only while every worker has made progress
//! within half the watchdog interval) and the mailbox's health for the
//! `STATUS=` line. Shared by the workers; lock-free apart from the last
//! error text.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The daemon's workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worker {
    /// Reads the mailbox.
    Source,
    /// Applies stored messages.
    Ingest,
    /// Fires SLA timers.
    Scheduler,
    /// Sends mail.
    Outbox,
}

impl Worker {
    /// Every worker.
    pub const ALL: [Worker; 4] = [
        Worker::Source,
        Worker::Ingest,
        Worker::Scheduler,
        Worker::Outbox,
    ];

    /// Its name in logs.
    pub fn name(self) -> &'static str {
        match self {
            Worker::Source => "source",
            Worker::Ingest => "ingest",
            Worker::Scheduler => "scheduler",
            Worker::Outbox => "outbox",
        }
    }
}

/// How long an idle worker may wait before it shows progress again: a
/// quarter of the watchdog interval, so that a healthy worker always beats
/// within half of it.
pub fn tick(watchdog: Option<Duration>, default: Duration) -> Duration {
    watchdog.map_or(default, |w| {
        default.min(w / 4).max(Duration::from_millis(10))
    })
}

/// Shared health of a running daemon.
#[derive(Debug)]
pub struct Health {
    start: Instant,
    /// Milliseconds since `start` of each worker's last progress.
    beats: [AtomicU64; 4],
    /// The watchdog interval systemd asked for, if any.
    pub watchdog: Option<Duration>,
    /// How long an idle worker waits before beating again.
    pub tick: Duration,
    /// Unix seconds of the last successful mailbox poll (0: none yet).
    last_poll: AtomicI64,
    /// Mailbox failures since the last success.
    failures: AtomicU64,
    /// The last mailbox error, if the last poll failed.
    last_error: Mutex<Option<String>>,
    /// What is wrong now beyond the mailbox, by area (`database`,
    /// `transport`): shown in `STATUS=` and as metrics until it clears.
    faults: Mutex<std::collections::BTreeMap<&'static str, Fault>>,
    /// Database errors since the start, by kind (a metric).
    store_errors: Mutex<std::collections::BTreeMap<&'static str, u64>>,
}

/// Whether test fault injection is on: only when the process was started
/// with `SUPPORTD_TEST_FAULTS=1` (no mail can switch it on), in every build
/// profile, so the tests that prove the failure paths run in all of them.
pub fn faults_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("SUPPORTD_TEST_FAULTS").is_some_and(|v| v == "1"))
}

/// Something wrong that ops should see, by area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// A metric label for its kind (`disk_full`, `refusing`, ...).
    pub kind: &'static str,
    /// In words, with the underlying reason.
    pub text: String,
}

impl Health {
    /// Health of a daemon starting now.
    pub fn new(watchdog: Option<Duration>) -> Health {
        Health {
            start: Instant::now(),
            beats: Default::default(),
            watchdog,
            tick: tick(watchdog, Duration::from_secs(1)),
            last_poll: AtomicI64::new(0),
            failures: AtomicU64::new(0),
            last_error: Mutex::new(None),
            faults: Mutex::default(),
            store_errors: Mutex::default(),
        }
    }

    /// Something is wrong in `area` (`None`: it works again).
    pub fn set_fault(&self, area: &'static str, fault: Option<Fault>) {
        if let Ok(mut f) = self.faults.lock() {
            match fault {
                Some(x) => f.insert(area, x),
                None => f.remove(area),
            };
        }
    }

    /// What is wrong now, by area.
    pub fn faults(&self) -> Vec<(&'static str, Fault)> {
        self.faults
            .lock()
            .map(|f| f.iter().map(|(a, x)| (*a, x.clone())).collect())
            .unwrap_or_default()
    }

    /// A database error of kind `kind` happened: counted, and shown as the
    /// database's fault until [`Health::store_ok`].
    pub fn store_failed(&self, kind: &'static str, text: String) {
        if let Ok(mut m) = self.store_errors.lock() {
            *m.entry(kind).or_default() += 1;
        }
        self.set_fault("database", Some(Fault { kind, text }));
    }

    /// The database works again.
    pub fn store_ok(&self) {
        if let Ok(f) = self.faults.lock()
            && !f.contains_key("database")
        {
            return;
        }
        self.set_fault("database", None);
    }

    /// Database errors since the start, by kind.
    pub fn store_errors(&self) -> Vec<(&'static str, u64)> {
        self.store_errors
            .lock()
            .map(|m| m.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default()
    }

    fn slot(w: Worker) -> usize {
        Worker::ALL.iter().position(|x| *x == w).unwrap_or(0)
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// The worker made progress (or waited as it should).
    pub fn beat(&self, w: Worker) {
        self.beat_at(w, self.now_ms());
    }

    fn beat_at(&self, w: Worker, ms: u64) {
        self.beats[Self::slot(w)].store(ms, Ordering::Relaxed);
    }

    /// How long each worker has gone without progress.
    pub fn silences(&self) -> Vec<(Worker, Duration)> {
        self.silences_at(self.now_ms())
    }

    fn silences_at(&self, now: u64) -> Vec<(Worker, Duration)> {
        Worker::ALL
            .iter()
            .map(|w| {
                let last = self.beats[Self::slot(*w)].load(Ordering::Relaxed);
                (*w, Duration::from_millis(now.saturating_sub(last)))
            })
            .collect()
    }

    /// The first worker silent for longer than `limit`, if any.
    pub fn stuck(&self, limit: Duration) -> Option<(Worker, Duration)> {
        self.stuck_at(limit, self.now_ms())
    }

    fn stuck_at(&self, limit: Duration, now: u64) -> Option<(Worker, Duration)> {
        self.silences_at(now).into_iter().find(|(_, d)| *d > limit)
    }

    /// A mailbox poll succeeded at `unix_secs`.
    pub fn poll_ok(&self, unix_secs: i64) {
        self.last_poll.store(unix_secs, Ordering::Relaxed);
        self.failures.store(0, Ordering::Relaxed);
        if let Ok(mut e) = self.last_error.lock() {
            *e = None;
        }
    }

    /// When the mailbox was last polled successfully.
    pub fn last_poll(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let last = self.last_poll.load(Ordering::Relaxed);
        chrono::DateTime::from_timestamp(last, 0).filter(|_| last > 0)
    }

    /// A mailbox poll failed.
    pub fn poll_failed(&self, error: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(error.to_string());
        }
    }

    /// The mailbox part of the status line.
    pub fn mailbox_status(&self) -> String {
        let last = self.last_poll.load(Ordering::Relaxed);
        let failures = self.failures.load(Ordering::Relaxed);
        let when = chrono::DateTime::from_timestamp(last, 0)
            .filter(|_| last > 0)
            .map(crate::sla::format_utc);
        let error = self.last_error.lock().ok().and_then(|e| e.clone());
        match (when, error) {
            (_, Some(e)) => {
                let e: String = e.chars().take(120).collect();
                format!("mailbox failing ({failures} in a row): {e}")
            }
            (Some(at), None) => format!("mailbox ok, last poll {at}"),
            (None, None) => "mailbox not polled yet".into(),
        }
    }

    /// The faults part of the status line (empty when all is well).
    pub fn faults_status(&self) -> String {
        self.faults()
            .iter()
            .map(|(area, f)| {
                let text: String = f.text.chars().take(160).collect();
                format!("; {area} failing: {text}")
            })
            .collect()
    }
}

/// Awaits `fut`, beating for `worker` every `every` while it is pending: a
/// long but live wait (IMAP IDLE, a slow server within its timeout) is
/// progress; a stalled executor is not.
pub async fn beating<F: std::future::Future>(
    fut: F,
    health: &Health,
    worker: Worker,
    every: Duration,
) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    loop {
        tokio::select! {
            r = &mut fut => {
                health.beat(worker);
                return r;
            }
            _ = tokio::time::sleep(every) => health.beat(worker),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_worker_is_found() {
        let h = Health::new(Some(Duration::from_secs(2)));
        let second = Duration::from_secs(1);
        for w in Worker::ALL {
            h.beat_at(w, 1_000);
        }
        assert_eq!(h.stuck_at(second, 1_900), None);
        h.beat_at(Worker::Source, 2_500);
        h.beat_at(Worker::Ingest, 2_600);
        h.beat_at(Worker::Outbox, 2_700);
        // The scheduler last beat at 1.0 s: 1.8 s of silence at 2.8 s.
        assert_eq!(
            h.stuck_at(second, 2_800),
            Some((Worker::Scheduler, Duration::from_millis(1_800)))
        );
    }

    #[test]
    fn ticks_fit_the_watchdog() {
        let d = Duration::from_secs(2);
        assert_eq!(tick(None, d), d);
        assert_eq!(tick(Some(Duration::from_secs(60)), d), d);
        assert_eq!(
            tick(Some(Duration::from_secs(1)), d),
            Duration::from_millis(250)
        );
    }

    #[test]
    fn the_status_names_the_mailbox_state() {
        let h = Health::new(None);
        assert_eq!(h.mailbox_status(), "mailbox not polled yet");
        h.poll_ok(1_795_000_000);
        assert!(
            h.mailbox_status()
                .starts_with("mailbox ok, last poll 2026-")
        );
        h.poll_failed("connection refused");
        h.poll_failed("connection refused");
        assert_eq!(
            h.mailbox_status(),
            "mailbox failing (2 in a row): connection refused"
        );
    }
}
