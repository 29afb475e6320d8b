//! What the daemon tells systemd: READY/RELOADING/STOPPING, a STATUS= line
//! with the mailbox's and the outbox's health, and WATCHDOG=1 while every
//! worker makes progress.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::health::Health;
use crate::store::Store;

/// Tells systemd (when it listens: `NOTIFY_SOCKET`).
pub fn notify(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

/// Pings the systemd watchdog while every worker has made progress within
/// half its interval, and refreshes the STATUS= line.
pub async fn watchdog(health: Arc<Health>, mut store: Store, shutdown: CancellationToken) {
    let mut poll_written: Option<DateTime<Utc>> = None;
    let every = health
        .watchdog
        .map_or(STATUS_EVERY, |w| (w / 4).min(STATUS_EVERY));
    let mut last_status = std::time::Instant::now() - STATUS_EVERY;
    let mut withheld = false;
    while !shutdown.is_cancelled() {
        if let Some(w) = health.watchdog {
            match health.stuck(w / 2) {
                None => {
                    notify(&[sd_notify::NotifyState::Watchdog]);
                    withheld = false;
                }
                Some((worker, silent)) if !withheld => {
                    withheld = true;
                    tracing::error!(
                        worker = worker.name(),
                        silent_secs = silent.as_secs(),
                        "a worker made no progress; withholding the watchdog ping"
                    );
                }
                Some(_) => {}
            }
        }
        if last_status.elapsed() >= STATUS_EVERY {
            last_status = std::time::Instant::now();
            let status = status_line(&health, &store);
            notify(&[sd_notify::NotifyState::Status(&status)]);
            // The last good poll, for `supportd metrics` (at most once a minute).
            if let Some(at) = health.last_poll()
                && poll_written.is_none_or(|w| at - w >= chrono::Duration::seconds(60))
            {
                match tokio::task::block_in_place(|| store.set_last_poll(at)) {
                    Ok(()) => poll_written = Some(at),
                    Err(e) => tracing::warn!(error = %e, "cannot record the last poll"),
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => {}
        }
    }
}

/// How often the STATUS= line is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(10);

fn status_line(health: &Health, store: &Store) -> String {
    let outbox = match store.outbox_counts() {
        Ok(c) => format!(
            "outbox {} waiting, {} failed, {} held",
            c.pending, c.failed, c.held
        ),
        Err(e) => format!("outbox unknown ({e})"),
    };
    format!(
        "{}; {outbox}{}",
        health.mailbox_status(),
        health.faults_status()
    )
}
