//! The daemon's wiring (`supportd run`): four workers under one shutdown
//! token, each with its own database connection.
//!
//! - **source**: the Maildir (scanned every second) or the IMAP mailbox
//!   (IDLE or polling); commits step 1 and wakes the ingest worker;
//! - **ingest**: step 2 on a thread of its own (it is CPU and SQLite work);
//!   runs when woken and at least every second, so messages stored by
//!   other processes (`deliver`, `import`) are picked up too; wakes the
//!   outbox worker when it queued mail;
//! - **scheduler**: fires due SLA timers (reminders, escalations,
//!   follow-ups, closing) on a thread of its own; sleeps until the earliest
//!   due timer, at most 2 s, or until the ingest worker wakes it;
//! - **outbox**: sends due mail, then sleeps until the next retry is due,
//!   at most 2 s (mail queued by other processes), or until woken.
//!
//! SIGTERM and SIGINT cancel the token; each worker stops at a safe point
//! (between batches, after the mail in flight, IMAP with DONE and LOGOUT).
//! A slow or dead mail server holds up only its own worker.
//!
//! `run --once` does one pass of each, in order, and returns.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::cli::Runtime;
use crate::config::Source;
use crate::health::{Health, Worker, beating};
use crate::ingest;
use crate::outbox::Transport;
use crate::outbox::send::{self, PassSummary};
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

/// What `run` needs.
pub struct Daemon {
    runtime: Arc<Runtime>,
    db: PathBuf,
    /// The connection opened (and migrated) first; the source's in `run`.
    store: Store,
    transport: Transport,
    tokio: tokio::runtime::Runtime,
    /// Held while this process works on the database.
    _lock: InstanceLock,
}

/// What one `run --once` did.
#[derive(Debug, Clone, Copy, Default)]
pub struct OnceSummary {
    /// Messages taken from the source.
    pub fetched: usize,
    /// Step 2's counts.
    pub applied: ingest::Summary,
    /// The scheduler pass.
    pub scheduled: crate::scheduler::Summary,
    /// The outbox pass.
    pub sent: PassSummary,
    /// Seconds spent ingesting (fetch with step 1, then step 2, then the
    /// scheduler) and sending.
    pub seconds: [f64; 2],
}

impl std::fmt::Display for OnceSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = &self.applied;
        write!(
            f,
            "fetched {}; new tickets {}, replies {}, commands {} (rejected {}), auto-replies {}, bounces {}, feedback reports {}, quarantined {} (not mail {}); {}; mail sent {}, deferred {}, failed {}",
            self.fetched,
            a.new_tickets,
            a.replies,
            a.commands_applied,
            a.commands_rejected,
            a.auto_replies,
            a.bounces,
            a.feedback,
            a.quarantined,
            a.not_mail,
            self.scheduled,
            self.sent.sent,
            self.sent.deferred,
            self.sent.failed
        )?;
        let [ingest, send] = self.seconds;
        write!(f, " (ingest {ingest:.2} s, send {send:.2} s)")
    }
}

impl Daemon {
    /// Opens the database (creating and migrating it), loads templates and
    /// the token key, and sets up the transport.
    pub fn open(config: crate::config::Config, db: PathBuf) -> anyhow::Result<Daemon> {
        let lock = InstanceLock::acquire(&db)?;
        let mut store = Store::open(&db)?;
        let tokio = Self::tokio()?;
        let transport = Transport::from_config(&config.transport, &config.sending)?;
        if let Source::Maildir { path } = &config.source {
            maildir::ensure(path)?;
        }
        let runtime = Arc::new(Runtime::load(config, &mut store)?);
        Ok(Daemon {
            runtime,
            db,
            store,
            transport,
            tokio,
            _lock: lock,
        })
    }

    fn tokio() -> anyhow::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the async runtime")
    }

    /// One ingest pass (fetch and step 1, then step 2 while the IMAP server
    /// moves the committed messages), one scheduler pass, then one outbox
    /// pass, at `now`
    /// (`None`: the clock). Step 2 alongside the fetch, as in the daemon,
    /// measured no faster here: both want SQLite's write lock.
    pub fn once(mut self, now: Option<DateTime<Utc>>) -> anyhow::Result<OnceSummary> {
        let clock = move || now.unwrap_or_else(Utc::now);
        let mut summary = OnceSummary::default();
        let store = &mut self.store;
        let cfg = &self.runtime.config;
        let t = std::time::Instant::now();
        let settings = self.runtime.ingest(true);
        match &cfg.source {
            Source::Maildir { path } => {
                summary.fetched = maildir::pass(store, path, clock())?;
                summary.applied = ingest::apply_pending(store, &settings, clock())?;
            }
            Source::Imap { .. } => {
                let imap = Imap::from_config(cfg).expect("an IMAP source");
                let pass = self.tokio.block_on(imap.fetch_pass(store))?;
                let (moved, applied) = std::thread::scope(|scope| {
                    let apply = scope.spawn(|| ingest::apply_pending(store, &settings, clock()));
                    let moved = self.tokio.block_on(imap.finish(pass));
                    (moved, apply.join())
                });
                summary.fetched = moved?.fetched;
                summary.applied = applied.map_err(|_| anyhow::anyhow!("step 2 panicked"))??;
            }
        }
        summary.scheduled = crate::scheduler::pass(store, &self.runtime.scheduler(), clock())?;
        summary.seconds[0] = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        store.relax_durability_for_sending()?;
        summary.sent = self.tokio.block_on(send::send_due(
            store,
            &self.transport,
            &cfg.sending,
            &clock,
            &|| false,
        ))?;
        summary.seconds[1] = t.elapsed().as_secs_f64();
        Ok(summary)
    }

    /// Runs until SIGTERM or SIGINT; SIGHUP reloads the config. Tells
    /// systemd READY=1 once the database is open and the workers started
    /// (the mailbox is not waited for), STATUS= lines with the mailbox's and
    /// the outbox's health, and WATCHDOG=1 while every worker makes progress.
    pub fn run(self) -> anyhow::Result<()> {
        let rt = &self.tokio;
        let shutdown = CancellationToken::new();
        let outbox_wake = Arc::new(Notify::new());
        let (ingest_tx, ingest_rx) = std::sync::mpsc::sync_channel::<()>(1);
        let health = Arc::new(Health::new(sd_notify::watchdog_enabled()));
        let shared: Shared = Arc::new(RwLock::new(Arc::clone(&self.runtime)));

        // Each worker has its own connection; open them all before starting,
        // so a database problem stops the start, not a worker.
        let source_store = self.store;
        let ingest_store = Store::open(&self.db)?;
        let scheduler_store = Store::open(&self.db)?;
        let outbox_store = Store::open(&self.db)?;
        let status_store = Store::open(&self.db)?;
        // The metrics endpoint binds before READY: a port in use stops the
        // start with its reason.
        let metrics = match self.runtime.config.metrics_listen {
            Some(addr) => Some(
                rt.block_on(tokio::net::TcpListener::bind(addr))
                    .with_context(|| format!("cannot listen on {addr} ([metrics] listen)"))?,
            ),
            None => None,
        };
        outbox_store.relax_durability_for_sending()?;
        let (scheduler_tx, scheduler_rx) = std::sync::mpsc::sync_channel::<()>(1);
        // Kept to wake the threads at shutdown, so they stop at once.
        let wake_all = (ingest_tx.clone(), scheduler_tx.clone());

        let ingest_thread = {
            let (shared, shutdown, health) = (shared.clone(), shutdown.clone(), health.clone());
            let wake = Arc::clone(&outbox_wake);
            std::thread::Builder::new()
                .name("ingest".into())
                .spawn(move || {
                    ingest_worker(
                        ingest_store,
                        &shared,
                        ingest_rx,
                        (&wake, &scheduler_tx),
                        &shutdown,
                        &health,
                    )
                })
                .context("cannot start the ingest worker")?
        };
        let scheduler_thread = {
            let (shared, shutdown, health) = (shared.clone(), shutdown.clone(), health.clone());
            let wake = Arc::clone(&outbox_wake);
            std::thread::Builder::new()
                .name("scheduler".into())
                .spawn(move || {
                    scheduler_worker(
                        scheduler_store,
                        &shared,
                        scheduler_rx,
                        &wake,
                        &shutdown,
                        &health,
                    )
                })
                .context("cannot start the scheduler")?
        };

        let result = rt.block_on(async {
            let signals = tokio::spawn(signals(
                shutdown.clone(),
                shared.clone(),
                self.db.clone(),
                Arc::clone(&outbox_wake),
            ));
            let source = tokio::spawn(source_worker(
                source_store,
                Arc::clone(&self.runtime),
                ingest_tx,
                shutdown.clone(),
                health.clone(),
            ));
            let outbox = tokio::spawn(outbox_worker(
                outbox_store,
                Arc::clone(&self.runtime),
                self.transport.clone(),
                Arc::clone(&outbox_wake),
                shutdown.clone(),
                health.clone(),
            ));
            let watchdog = tokio::spawn(watchdog(health.clone(), status_store, shutdown.clone()));
            let metrics = metrics.map(|listener| {
                tracing::info!(address = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "metrics at /metrics");
                tokio::spawn(serve_metrics(listener, self.db.clone(), shared.clone(), health.clone(), shutdown.clone()))
            });
            notify(&[sd_notify::NotifyState::Ready]);
            tracing::info!(db = %self.db.display(), "supportd running");
            let (source, outbox) = tokio::join!(source, outbox);
            signals.abort();
            watchdog.abort();
            if let Some(m) = metrics {
                m.abort();
            }
            source.context("source worker")??;
            outbox.context("outbox worker")??;
            anyhow::Ok(())
        });
        shutdown.cancel();
        wake(&wake_all.0);
        wake(&wake_all.1);
        let ingest = ingest_thread
            .join()
            .map_err(|_| anyhow::anyhow!("the ingest worker panicked"))?;
        let scheduler = scheduler_thread
            .join()
            .map_err(|_| anyhow::anyhow!("the scheduler panicked"))?;
        result?;
        ingest?;
        scheduler?;
        tracing::info!("supportd stopped");
        Ok(())
    }
}

/// The running configuration: replaced whole by a reload, read by each
/// worker at the top of every pass.
type Shared = Arc<RwLock<Arc<Runtime>>>;

fn current(shared: &Shared) -> Arc<Runtime> {
    match shared.read() {
        Ok(rt) => Arc::clone(&rt),
        Err(poisoned) => Arc::clone(&poisoned.into_inner()),
    }
}

/// Tells systemd (when it listens: `NOTIFY_SOCKET`).
fn notify(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

/// One running instance per database: a lock file next to it (`DB.lock`)
/// with the holder's pid. The lock goes with the process, however it ends.
struct InstanceLock {
    _file: std::fs::File,
}

impl InstanceLock {
    fn acquire(db: &Path) -> anyhow::Result<InstanceLock> {
        use std::io::{Read, Seek, Write};
        let path = PathBuf::from(format!("{}.lock", db.display()));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the database folder {}", dir.display()))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0)?;
                file.rewind()?;
                writeln!(file, "{}", std::process::id())?;
                Ok(InstanceLock { _file: file })
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    "another supportd".to_string()
                } else {
                    format!("another supportd (pid {holder})")
                };
                anyhow::bail!(
                    "{who} is already running on {}; stop it first (systemctl stop supportd), \
                     or give this one another database with --db",
                    db.display()
                )
            }
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
    }
}

/// SIGTERM/SIGINT stop the daemon; SIGHUP reloads the config.
async fn signals(shutdown: CancellationToken, shared: Shared, db: PathBuf, outbox: Arc<Notify>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = int.recv() => tracing::info!("SIGINT: stopping"),
            _ = hup.recv() => {
                notify(&[sd_notify::NotifyState::Reloading]);
                let shared = shared.clone();
                let db = db.clone();
                match tokio::task::spawn_blocking(move || reload(&shared, &db)).await {
                    Ok(Ok(kept)) => {
                        for section in &kept {
                            tracing::warn!(section = %section, "SIGHUP: {section} changed; it takes effect after a restart, the running values stay");
                        }
                        tracing::info!("SIGHUP: configuration reloaded");
                    }
                    Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"), "SIGHUP: the new configuration is not usable; the running one stays"),
                    Err(e) => tracing::error!(error = %e, "SIGHUP: reload failed; the running configuration stays"),
                }
                notify(&[sd_notify::NotifyState::Ready]);
                outbox.notify_one();
                continue;
            }
        }
        notify(&[sd_notify::NotifyState::Stopping]);
        shutdown.cancel();
        return;
    }
}

/// Reloads the config file: consultants, templates, calendar, SLA targets,
/// follow-ups, limits and retention take effect at the workers' next pass.
/// The source, the transport, the database and the metrics listener stay as
/// they are until a restart; the sections whose change waits for it are
/// returned.
fn reload(shared: &Shared, db: &Path) -> anyhow::Result<Vec<&'static str>> {
    let old = current(shared);
    let path = old.config.path.clone().ok_or_else(|| {
        anyhow::anyhow!("the daemon runs on the built-in configuration; there is no file to reload")
    })?;
    let mut new = crate::config::Config::load(&path)?;
    let was = &old.config;
    let mut kept = Vec::new();
    if new.source != was.source || new.source_limits != was.source_limits {
        kept.push("[source]");
        new.source = was.source.clone();
        new.source_limits = was.source_limits;
    }
    if new.transport != was.transport || new.sending != was.sending {
        kept.push("[transport]");
        new.transport = was.transport.clone();
        new.sending = was.sending;
    }
    if new.store != was.store {
        kept.push("[store]");
        new.store = was.store.clone();
    }
    if new.metrics_listen != was.metrics_listen {
        kept.push("[metrics]");
        new.metrics_listen = was.metrics_listen;
    }
    let mut store = Store::open(db)?;
    let runtime = Runtime::load(new, &mut store)?;
    match shared.write() {
        Ok(mut rt) => *rt = Arc::new(runtime),
        Err(poisoned) => *poisoned.into_inner() = Arc::new(runtime),
    }
    Ok(kept)
}

/// Pings the systemd watchdog while every worker has made progress within
/// half its interval, and refreshes the STATUS= line.
async fn watchdog(health: Arc<Health>, mut store: Store, shutdown: CancellationToken) {
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
                        silent_secs = silent.as_secs_f32(),
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

/// Serves `GET /metrics` (Prometheus) on the listener until shutdown.
async fn serve_metrics(
    listener: tokio::net::TcpListener,
    db: PathBuf,
    shared: Shared,
    health: Arc<Health>,
    shutdown: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: accept failed");
                    continue;
                }
            },
            _ = shutdown.cancelled() => return,
        };
        let (db, shared, health) = (db.clone(), shared.clone(), health.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let (db, shared, health) = (db.clone(), shared.clone(), health.clone());
                async move {
                    Ok::<_, std::convert::Infallible>(
                        metrics_response(req, db, shared, health).await,
                    )
                }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "metrics: connection ended");
            }
        });
    }
}

async fn metrics_response(
    req: hyper::Request<hyper::body::Incoming>,
    db: PathBuf,
    shared: Shared,
    health: Arc<Health>,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    let reply = |status: u16, content_type: &str, body: String| {
        let mut r = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
        *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
        if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
        }
        r
    };
    if req.method() != hyper::Method::GET || req.uri().path() != "/metrics" {
        return reply(
            404,
            "text/plain",
            "not found; the metrics are at GET /metrics\n".into(),
        );
    }
    let text = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let mut store = Store::open_read_only(&db)?;
        let mut data = store.metrics_data()?;
        // The daemon knows its last poll better than the minutely record.
        data.last_poll = health.last_poll().or(data.last_poll);
        let rt = current(&shared);
        Ok(crate::metrics::render(
            &data,
            &crate::cli::Policy::from_config(&rt.config),
            Utc::now(),
        ))
    })
    .await;
    match text {
        Ok(Ok(text)) => reply(200, crate::metrics::CONTENT_TYPE, text),
        Ok(Err(e)) => reply(
            500,
            "text/plain",
            format!("cannot read the metrics: {e:#}\n"),
        ),
        Err(e) => reply(500, "text/plain", format!("cannot read the metrics: {e}\n")),
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
    format!("{}; {outbox}", health.mailbox_status())
}

fn wake(tx: &SyncSender<()>) {
    // A full channel already holds a wake-up; a closed one means shutdown.
    let _ = tx.try_send(());
}

async fn source_worker(
    mut store: Store,
    runtime: Arc<Runtime>,
    ingest: SyncSender<()>,
    shutdown: CancellationToken,
    health: Arc<Health>,
) -> anyhow::Result<()> {
    let cfg = &runtime.config;
    match &cfg.source {
        Source::Maildir { path } => {
            while !shutdown.is_cancelled() {
                health.beat(Worker::Source);
                match tokio::task::block_in_place(|| maildir::pass(&mut store, path, Utc::now())) {
                    Ok(n) => {
                        health.poll_ok(Utc::now().timestamp());
                        if n > 0 {
                            tracing::debug!(messages = n, "Maildir pass");
                            wake(&ingest);
                        }
                    }
                    Err(e) => {
                        health.poll_failed(&e.to_string());
                        tracing::warn!(error = %e, "Maildir source failed");
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(MAILDIR_SCAN.min(health.tick)) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
        }
        Source::Imap { .. } => {
            let imap = Imap::from_config(cfg).expect("an IMAP source");
            imap.run(&mut store, &|| wake(&ingest), &shutdown, &health)
                .await;
        }
    }
    Ok(())
}

fn ingest_worker(
    mut store: Store,
    shared: &Shared,
    wakes: Receiver<()>,
    (outbox, scheduler): (&Notify, &SyncSender<()>),
    shutdown: &CancellationToken,
    health: &Health,
) -> anyhow::Result<()> {
    // Asked between batches: a long backlog is progress too.
    let stop = || {
        health.beat(Worker::Ingest);
        shutdown.is_cancelled()
    };
    while !shutdown.is_cancelled() {
        health.beat(Worker::Ingest);
        let runtime = current(shared);
        let mut settings = runtime.ingest(true);
        settings.stop = Some(&stop);
        match ingest::apply_pending(&mut store, &settings, Utc::now()) {
            Ok(s) if s != ingest::Summary::default() => {
                tracing::debug!(?s, "applied messages");
                outbox.notify_one();
                // Timers may have been set, moved or cleared.
                wake(scheduler);
            }
            Ok(_) => {}
            // A store error here is the database's (disk full, locked for
            // longer than the busy timeout): log it and try again.
            Err(e) => tracing::error!(error = %e, "step 2 failed; retrying"),
        }
        let wait = INGEST_RECHECK.min(health.tick);
        match wakes.recv_timeout(wait) {
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                // The source worker ended: keep draining until shutdown.
                std::thread::sleep(wait);
            }
        }
    }
    Ok(())
}

/// Sleeps until the earliest due timer (an index lookup), a wake-up from the
/// ingest worker, or the re-check interval (timers set by other processes),
/// then fires what is due. A missed wake-up costs latency, never a step.
fn scheduler_worker(
    mut store: Store,
    shared: &Shared,
    wakes: Receiver<()>,
    outbox: &Notify,
    shutdown: &CancellationToken,
    health: &Health,
) -> anyhow::Result<()> {
    let stop = || {
        health.beat(Worker::Scheduler);
        shutdown.is_cancelled()
    };
    let mut retention_checked: Option<std::time::Instant> = None;
    while !shutdown.is_cancelled() {
        health.beat(Worker::Scheduler);
        let runtime = current(shared);
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
                outbox.notify_one();
            }
            Ok(s) if s != crate::scheduler::Summary::default() => {
                tracing::debug!(?s, "scheduler pass")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "scheduler pass failed; retrying"),
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
        }
        .min(SCHEDULER_RECHECK)
        .min(health.tick);
        match wakes.recv_timeout(wait) {
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
        }
    }
    Ok(())
}

/// How often the scheduler looks whether retention is due.
const RETENTION_CHECK: Duration = Duration::from_secs(3600);

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

async fn outbox_worker(
    mut store: Store,
    runtime: Arc<Runtime>,
    transport: Transport,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
    health: Arc<Health>,
) -> anyhow::Result<()> {
    let sending = runtime.config.sending;
    let clock = Utc::now;
    // Asked before each mail: sending a long queue is progress.
    let stop = || {
        health.beat(Worker::Outbox);
        shutdown.is_cancelled()
    };
    while !shutdown.is_cancelled() {
        health.beat(Worker::Outbox);
        // On shutdown no new mail starts; the mails in flight get a grace
        // period to finish and be recorded. One cut short stays pending (a
        // server that had accepted it gets it again, same Message-ID).
        let grace = async {
            shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        let pass = tokio::select! {
            r = beating(send::send_due(&mut store, &transport, &sending, &clock, &stop), &health, Worker::Outbox, health.tick) => r,
            _ = grace => break,
        };
        if let Err(e) = pass {
            tracing::error!(error = %e, "outbox pass failed; retrying");
            tokio::select! {
                _ = tokio::time::sleep(OUTBOX_RECHECK) => {}
                _ = shutdown.cancelled() => {}
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
            _ = tokio::time::sleep(wait) => {}
            _ = wake.notified() => {}
            _ = shutdown.cancelled() => {}
        }
    }
    Ok(())
}
