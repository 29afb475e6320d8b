//! The daemon's four workers, each with its own database connection:
//!
//! - **source**: the Maildir (scanned every second) or the IMAP mailbox
//!   (IDLE or polling); commits step 1 and wakes the ingest worker;
//! - **ingest**: step 2 on a thread of its own (the writer; the analysis
//!   runs on every core); runs when woken and at least every second, so
//!   messages stored by other processes (`deliver`, `import`) are picked up
//!   too; wakes the outbox and the scheduler when it changed something;
//! - **scheduler**: fires due SLA timers on a thread of its own; sleeps
//!   until the earliest due timer, at most 2 s, or until woken; retention
//!   once a day;
//! - **outbox**: sends due mail, then sleeps until the next retry is due,
//!   at most 2 s (mail queued by other processes), or until woken.
//!
//! Each stops at a safe point once the shutdown token is cancelled
//! (between chunks and batches, after the mail in flight, IMAP with DONE
//! and LOGOUT).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::{Ctx, current};
use crate::config::Source;
use crate::health::{Worker, beating};
use crate::ingest;
use crate::outbox::Transport;
use crate::outbox::send;
use crate::runtime::Runtime;
use crate::source::{imap::Imap, maildir};
use crate::store::Store;

/// How often the ingest worker looks for stored messages without a wake-up.
const INGEST_RECHECK: Duration = Duration::from_secs(1);
/// How often the scheduler looks for timers without a wake-up (timers set
/// by other processes, e.g. `import --send`).
const SCHEDULER_RECHECK: Duration = Duration::from_secs(2);
/// How often the outbox worker looks for due mail without a wake-up.
const OUTBOX_RECHECK: Duration = Duration::from_secs(2);
/// How long mails in flight may take to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How often the Maildir source scans `new/`.
const MAILDIR_SCAN: Duration = Duration::from_secs(1);
/// How often the scheduler looks whether retention is due.
const RETENTION_CHECK: Duration = Duration::from_secs(3600);

/// The source worker: the mailbox into step 1.
pub async fn source(mut store: Store, runtime: Arc<Runtime>, ctx: Arc<Ctx>) -> anyhow::Result<()> {
    let cfg = &runtime.config;
    let health = &ctx.health;
    match &cfg.source {
        Source::Maildir { path } => {
            while !ctx.shutdown.is_cancelled() {
                health.beat(Worker::Source);
                match tokio::task::block_in_place(|| maildir::pass(&mut store, path, Utc::now())) {
                    Ok(n) => {
                        health.poll_ok(Utc::now().timestamp());
                        if n > 0 {
                            tracing::debug!(messages = n, "Maildir pass");
                            ctx.wake.ingest.wake();
                        }
                    }
                    Err(maildir::Error::Store(e)) => {
                        if ctx.store_error("source", &e) {
                            break;
                        }
                    }
                    Err(e) => {
                        health.poll_failed(&e.to_string());
                        tracing::warn!(error = %e, "Maildir source failed");
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(MAILDIR_SCAN.min(health.tick)) => {}
                    _ = ctx.shutdown.cancelled() => {}
                }
            }
        }
        Source::Imap { .. } => {
            let imap = Imap::from_config(cfg).expect("an IMAP source");
            let fatal = |e: &crate::store::Error| ctx.store_error("source", e);
            imap.run(
                &mut store,
                &|| ctx.wake.ingest.wake(),
                &ctx.shutdown,
                health,
                &fatal,
            )
            .await;
        }
    }
    Ok(())
}

/// The ingest worker: step 2 for whatever step 1 stored.
pub fn ingest(mut store: Store, ctx: &Ctx) -> anyhow::Result<()> {
    // Asked between chunks: a long backlog is progress too.
    let stop = || {
        ctx.health.beat(Worker::Ingest);
        ctx.shutdown.is_cancelled()
    };
    while !ctx.shutdown.is_cancelled() {
        ctx.health.beat(Worker::Ingest);
        let runtime = current(&ctx.shared);
        let mut settings = runtime.ingest(true);
        settings.stop = Some(&stop);
        match ingest::apply_pending(&mut store, &settings, Utc::now()) {
            Ok(s) => {
                ctx.health.store_ok();
                if s != ingest::Summary::default() {
                    tracing::debug!(?s, "applied messages");
                    ctx.wake.outbox.wake();
                    ctx.wake.scheduler.wake();
                }
            }
            // A store error here is the database's (disk full, locked for
            // longer than the busy timeout): said, and tried again; or the
            // file is gone or damaged, and the daemon stops.
            Err(e) => {
                if ctx.store_error("ingest", &e) {
                    break;
                }
            }
        }
        ctx.wake
            .ingest
            .wait_blocking(INGEST_RECHECK.min(ctx.health.tick));
    }
    Ok(())
}

/// The scheduler: sleeps until the earliest due timer (an index lookup), a
/// wake-up, or the re-check interval (timers set by other processes), then
/// fires what is due. A missed wake-up costs latency, never a step.
pub fn scheduler(mut store: Store, ctx: &Ctx) -> anyhow::Result<()> {
    let stop = || {
        ctx.health.beat(Worker::Scheduler);
        ctx.shutdown.is_cancelled()
    };
    let mut retention_checked: Option<std::time::Instant> = None;
    while !ctx.shutdown.is_cancelled() {
        ctx.health.beat(Worker::Scheduler);
        let runtime = current(&ctx.shared);
        // Retention, once a day (checked hourly).
        if retention_checked.is_none_or(|t| t.elapsed() >= RETENTION_CHECK) {
            let first = retention_checked.is_none();
            retention_checked = Some(std::time::Instant::now());
            daily_retention(&mut store, &runtime.config.retention, first);
        }
        let mut settings = runtime.scheduler();
        settings.stop = Some(&stop);
        match crate::scheduler::pass(&mut store, &settings, Utc::now()) {
            Ok(s) if s.mails > 0 => {
                tracing::info!(
                    fired = s.fired,
                    mails = s.mails,
                    skipped = s.skipped,
                    "SLA steps fired"
                );
                ctx.wake.outbox.wake();
            }
            Ok(s) if s != crate::scheduler::Summary::default() => {
                tracing::debug!(?s, "scheduler pass")
            }
            Ok(_) => {}
            Err(e) => {
                if ctx.store_error("scheduler", &e) {
                    break;
                }
            }
        }
        let wait = match store.next_timer_due() {
            // Due instants are whole seconds: wake just after.
            Ok(Some(at)) => (at - Utc::now())
                .to_std()
                .map_or(Duration::ZERO, |d| d + Duration::from_millis(5)),
            Ok(None) => SCHEDULER_RECHECK,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the next timer");
                SCHEDULER_RECHECK
            }
        };
        ctx.wake
            .scheduler
            .wait_blocking(wait.min(SCHEDULER_RECHECK).min(ctx.health.tick));
    }
    Ok(())
}

/// Runs the retention rules when they have not run for a day.
fn daily_retention(store: &mut Store, rules: &crate::config::Retention, first: bool) {
    if !rules.any() {
        return;
    }
    let now = Utc::now();
    match store.retention_last_run() {
        Ok(Some(last)) if now - last < chrono::Duration::hours(24) => {
            if first {
                tracing::info!(last_run = %crate::sla::format_utc(last), "retention is on; it ran within the last day");
            }
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "retention: cannot read its last run");
            return;
        }
        _ => {}
    }
    match store.retention(rules, now, false) {
        Ok(r) => tracing::info!(
            raw_messages = r.raw_messages,
            raw_bytes = r.raw_bytes,
            tickets = r.tickets,
            outbox_bodies = r.outbox_bodies,
            quarantined = r.quarantined,
            "retention run"
        ),
        Err(e) => tracing::error!(error = %e, "retention failed; it runs again in an hour"),
    }
}

/// The outbox worker: sends due mail until shutdown.
pub async fn outbox(
    mut store: Store,
    runtime: Arc<Runtime>,
    transport: Transport,
    ctx: Arc<Ctx>,
) -> anyhow::Result<()> {
    let sending = runtime.config.sending;
    let internal = runtime.internal_addresses();
    let clock = Utc::now;
    let health = &ctx.health;
    // Asked before each mail: sending a long queue is progress.
    let stop = || {
        health.beat(Worker::Outbox);
        ctx.shutdown.is_cancelled()
    };
    while !ctx.shutdown.is_cancelled() {
        health.beat(Worker::Outbox);
        // Held mail whose hour allows it now joins the queue.
        let limits = current(&ctx.shared).limits();
        match tokio::task::block_in_place(|| store.release_held(&limits, clock())) {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                mails = n,
                "held mail released: the hourly limit allows it now"
            ),
            Err(e) => {
                if ctx.store_error("outbox", &e) {
                    break;
                }
            }
        }
        // On shutdown no new mail starts; the mails in flight get a grace
        // period to finish and be recorded. One cut short stays pending (a
        // server that had accepted it gets it again, same Message-ID).
        let grace = async {
            ctx.shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        let pass = tokio::select! {
            r = beating(send::send_due(&mut store, &transport, &sending, &internal, &clock, &stop), health, Worker::Outbox, health.tick) => r,
            _ = grace => break,
        };
        if let Ok(summary) = &pass {
            server_health(health, summary);
        }
        if let Err(e) = pass {
            if ctx.store_error("outbox", &e) {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(OUTBOX_RECHECK) => {}
                _ = ctx.shutdown.cancelled() => {}
            }
            continue;
        }
        let next = store.next_outbox_due().ok().flatten();
        let wait = next
            .map(|t| (t - Utc::now()).to_std().unwrap_or_default())
            .unwrap_or(OUTBOX_RECHECK)
            .min(OUTBOX_RECHECK)
            .min(health.tick);
        tokio::select! {
            _ = ctx.wake.outbox.wait(wait) => {}
            _ = ctx.shutdown.cancelled() => {}
        }
    }
    Ok(())
}

/// What a send pass showed of the mail server, for `STATUS=` and the
/// metrics: refusing mail of its own accord, or accepting it again.
fn server_health(health: &crate::health::Health, s: &send::PassSummary) {
    let area = "transport";
    let was = health.faults().into_iter().any(|(a, _)| a == area);
    match &s.server_refusing {
        Some(reply) => {
            if !was {
                tracing::error!(reply = %reply, "the mail server refuses mail of its own accord (policy, relay settings, our own consultants); mail is kept and retried");
            }
            health.set_fault(
                area,
                Some(crate::health::Fault {
                    kind: "refusing",
                    text: format!("the mail server refuses mail: {reply}"),
                }),
            );
        }
        None if s.sent > 0 && was => {
            tracing::info!("the mail server accepts mail again");
            health.set_fault(area, None);
        }
        None => {}
    }
}
