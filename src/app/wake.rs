//! The daemon's one wake-up mechanism: a worker waits on its [`Wake`] with
//! a timeout (its re-check interval); whoever has work for it wakes it.
//! The same signal serves the workers on threads of their own (ingest,
//! scheduler) and those on the async runtime (the outbox). A wake-up that
//! comes while the worker is busy is kept, so none is lost; a missed one
//! would cost latency, never work (every worker re-reads the store).

use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// A wake-up signal for one worker.
#[derive(Debug, Default)]
pub struct Wake {
    /// Set by [`Wake::wake`], cleared by the wait that sees it.
    pending: Mutex<bool>,
    /// Wakes a waiting thread.
    cond: Condvar,
    /// Wakes a waiting task (keeps one permit when nobody waits).
    task: tokio::sync::Notify,
}

impl Wake {
    /// There is work: the worker's wait ends now, or its next one at once.
    pub fn wake(&self) {
        *self.pending.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cond.notify_all();
        self.task.notify_one();
    }

    /// Waits on a thread until woken or `timeout` passes.
    pub fn wait_blocking(&self, timeout: Duration) {
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let (mut pending, _) = self
            .cond
            .wait_timeout_while(pending, timeout, |woken| !*woken)
            .unwrap_or_else(|e| e.into_inner());
        *pending = false;
    }

    /// Waits in a task until woken or `timeout` passes.
    pub async fn wait(&self, timeout: Duration) {
        tokio::select! {
            _ = self.task.notified() => {}
            _ = tokio::time::sleep(timeout) => {}
        }
        *self.pending.lock().unwrap_or_else(|e| e.into_inner()) = false;
    }
}

/// The wake-ups of the daemon's workers.
#[derive(Debug, Default)]
pub struct Wakes {
    /// Stored messages to apply (the source committed some).
    pub ingest: Wake,
    /// Timers may have been set, moved or cleared.
    pub scheduler: Wake,
    /// Mail was queued.
    pub outbox: Wake,
}

impl Wakes {
    /// Wakes every worker (at shutdown, so they stop at once).
    pub fn all(&self) {
        self.ingest.wake();
        self.scheduler.wake();
        self.outbox.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn a_wake_before_the_wait_is_kept_and_a_wait_without_one_times_out() {
        let w = Wake::default();
        w.wake();
        let t = Instant::now();
        w.wait_blocking(Duration::from_secs(5));
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "the early wake-up was lost"
        );
        let t = Instant::now();
        w.wait_blocking(Duration::from_millis(50));
        assert!(
            t.elapsed() >= Duration::from_millis(50),
            "no wake-up, yet it returned early"
        );
    }

    #[test]
    fn a_thread_waiting_is_woken() {
        let w = Arc::new(Wake::default());
        let waiter = {
            let w = Arc::clone(&w);
            std::thread::spawn(move || {
                let t = Instant::now();
                w.wait_blocking(Duration::from_secs(10));
                t.elapsed()
            })
        };
        // Whether the wake comes before or after the wait starts, the
        // wait ends well before its timeout.
        w.wake();
        assert!(waiter.join().unwrap() < Duration::from_secs(5));
    }
}
