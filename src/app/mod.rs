//! The daemon (`supportd run`): four workers ([`workers`]) under one
//! shutdown token, each with its own database connection, woken through one
//! mechanism ([`wake`]); signals ([`signals`]), systemd notify and watchdog
//! ([`systemd`]), one instance per database ([`lock`]) and the metrics
//! endpoint ([`metrics_http`]).
//!
//! ```text
//! Daemon::run
//!   ├─ thread  ingest     step 2 (read → decide → write)  → wakes scheduler, outbox
//!   ├─ thread  scheduler  due SLA timers, daily retention → wakes outbox
//!   ├─ task    source     Maildir / IMAP into step 1      → wakes ingest
//!   ├─ task    outbox     due mail out (SMTP / .eml files)
//!   ├─ task    signals    SIGTERM/SIGINT cancel the token, SIGHUP reloads
//!   ├─ task    watchdog   WATCHDOG=1 while every worker makes progress, STATUS=
//!   └─ task    metrics    GET /metrics
//! ```
//!
//! SIGTERM and SIGINT cancel the token; each worker stops at a safe point
//! (between chunks, after the mail in flight, IMAP with DONE and LOGOUT).
//! A slow or dead mail server holds up only its own worker.
//!
//! `run --once` does one pass of each, in order, and returns.

pub mod fresh;
pub mod lock;
pub mod metrics_http;
pub mod signals;
pub mod systemd;
pub mod wake;
pub mod workers;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::config::Source;
use crate::health::Health;
use crate::ingest;
use crate::outbox::Transport;
use crate::outbox::send::{self, PassSummary};
use crate::runtime::Runtime;
use crate::source::{imap::Imap, maildir};
use crate::store::Store;
use lock::InstanceLock;
use systemd::notify;
use wake::Wakes;

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
#[derive(Debug, Clone, Default)]
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
    /// Opens the database (creating and migrating it; `new_database`: even
    /// where an earlier one evidently was), loads templates and the token
    /// key, and sets up the transport.
    pub fn open(
        config: crate::config::Config,
        db: PathBuf,
        new_database: bool,
    ) -> anyhow::Result<Daemon> {
        if !new_database && let Some(why) = fresh::earlier_state(&config, &db) {
            anyhow::bail!(why);
        }
        let lock = InstanceLock::acquire(&db)?;
        let mut store = Store::open(&db).map_err(|e| damaged_or(e, &db))?;
        fresh::mark(&db);
        // A damaged file is refused before anything is written into it.
        if !store.check_at_start(START_CHECK_LIMIT)? {
            tracing::info!(
                limit_ms = START_CHECK_LIMIT.as_millis(),
                "the database is too large to check whole at every start; supportd db check reads all of it"
            );
        }
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
        store.release_held(&self.runtime.limits(), clock())?;
        summary.sent = self.tokio.block_on(send::send_due(
            store,
            &self.transport,
            &cfg.sending,
            &self.runtime.internal_addresses(),
            &clock,
            &|| false,
        ))?;
        summary.seconds[1] = t.elapsed().as_secs_f64();
        if let Some(reply) = &summary.sent.server_refusing {
            tracing::error!(reply = %reply, "the mail server refuses mail of its own accord (policy, relay settings, our own consultants); mail is kept and retried");
        }
        Ok(summary)
    }

    /// Runs until SIGTERM or SIGINT; SIGHUP reloads the config. Tells
    /// systemd READY=1 once the database is open and the workers started
    /// (the mailbox is not waited for), STATUS= lines with the mailbox's and
    /// the outbox's health, and WATCHDOG=1 while every worker makes progress.
    pub fn run(self) -> anyhow::Result<()> {
        let ctx = Arc::new(Ctx {
            shared: Arc::new(RwLock::new(Arc::clone(&self.runtime))),
            shutdown: CancellationToken::new(),
            health: Arc::new(Health::new(sd_notify::watchdog_enabled())),
            wake: Wakes::default(),
            db: self.db.clone(),
            fatal: std::sync::Mutex::new(None),
        });
        // Each worker has its own connection; open them all before starting,
        // so a database problem stops the start, not a worker.
        let ingest_store = Store::open(&self.db)?;
        let scheduler_store = Store::open(&self.db)?;
        let outbox_store = Store::open(&self.db)?;
        let status_store = Store::open(&self.db)?;
        outbox_store.relax_durability_for_sending()?;
        // The metrics endpoint binds before READY: a port in use stops the
        // start with its reason.
        let metrics = match self.runtime.config.metrics_listen {
            Some(addr) => Some(
                self.tokio
                    .block_on(tokio::net::TcpListener::bind(addr))
                    .with_context(|| format!("cannot listen on {addr} ([metrics] listen)"))?,
            ),
            None => None,
        };
        let threads = [
            spawn("ingest", &ctx, move |c| workers::ingest(ingest_store, c))?,
            spawn("scheduler", &ctx, move |c| {
                workers::scheduler(scheduler_store, c)
            })?,
        ];
        let tasks = Tasks {
            source: self.store,
            outbox: outbox_store,
            status: status_store,
            transport: self.transport.clone(),
            metrics,
        };
        let result = self
            .tokio
            .block_on(serve(Arc::clone(&ctx), Arc::clone(&self.runtime), tasks));
        ctx.shutdown.cancel();
        ctx.wake.all();
        for (name, thread) in threads {
            thread
                .join()
                .map_err(|_| anyhow::anyhow!("the {name} worker panicked"))??;
        }
        result?;
        if let Some(why) = ctx.fatal.lock().ok().and_then(|f| f.clone()) {
            anyhow::bail!(why);
        }
        tracing::info!("supportd stopped");
        Ok(())
    }
}

/// How long the check of the database at start may take: the daemon is
/// ready within 200 ms of its start with a 1 GB database. The check reads
/// the whole file in about 300 ms at that size (page cache warm), so a
/// file over about 500 MB is checked in part at start; `supportd db check`
/// reads all of it, and a damaged page met later stops the daemon.
const START_CHECK_LIMIT: std::time::Duration = std::time::Duration::from_millis(150);

/// An error opening the database, with the way out when the file is
/// damaged.
fn damaged_or(e: crate::store::Error, db: &std::path::Path) -> crate::store::Error {
    if e.fault() == Some(crate::store::Fault::Corrupt) {
        crate::store::Error::Damaged {
            path: db.to_path_buf(),
            problems: e.to_string(),
        }
    } else {
        e
    }
}

/// What every worker shares.
pub struct Ctx {
    /// The running configuration.
    pub shared: Shared,
    /// Cancelled to stop the daemon.
    pub shutdown: CancellationToken,
    /// Each worker's progress, for the watchdog and STATUS=.
    pub health: Arc<Health>,
    /// The workers' wake-ups.
    pub wake: Wakes,
    /// The database file.
    pub db: PathBuf,
    /// Why the daemon stopped on its own, if it did.
    pub fatal: std::sync::Mutex<Option<String>>,
}

impl Ctx {
    /// Stops the daemon because going on would lose data (the database
    /// file was deleted, replaced or damaged): says why (log, STATUS=) and
    /// makes `run` exit non-zero, so systemd restarts it and the journal
    /// shows the reason.
    pub fn stop_fatal(&self, why: String) {
        tracing::error!(error = %why, "stopping");
        notify(&[
            sd_notify::NotifyState::Status(&format!("stopping: {why}")),
            sd_notify::NotifyState::Stopping,
        ]);
        if let Ok(mut f) = self.fatal.lock()
            && f.is_none()
        {
            *f = Some(why);
        }
        self.shutdown.cancel();
        self.wake.all();
    }

    /// A store error in `worker`: fatal ones stop the daemon; the others
    /// are counted and shown until the store works again. Returns whether
    /// it was fatal.
    pub fn store_error(&self, worker: &str, e: &crate::store::Error) -> bool {
        if e.is_fatal() {
            self.stop_fatal(e.to_string());
            return true;
        }
        if let Some(f) = e.fault() {
            self.health.store_failed(f.label(), e.to_string());
        }
        tracing::error!(worker, error = %e, "database error; retrying");
        false
    }
}

/// A worker on a thread of its own, with its name.
type Thread = (&'static str, std::thread::JoinHandle<anyhow::Result<()>>);

fn spawn(
    name: &'static str,
    ctx: &Arc<Ctx>,
    work: impl FnOnce(&Ctx) -> anyhow::Result<()> + Send + 'static,
) -> anyhow::Result<Thread> {
    let ctx = Arc::clone(ctx);
    let handle = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || work(&ctx))
        .with_context(|| format!("cannot start the {name} worker"))?;
    Ok((name, handle))
}

/// What the async side of the daemon owns.
struct Tasks {
    source: Store,
    outbox: Store,
    status: Store,
    transport: Transport,
    metrics: Option<tokio::net::TcpListener>,
}

/// What the daemon reads, for its start-up line.
fn describe_source(s: &crate::config::Source) -> String {
    match s {
        crate::config::Source::Maildir { path } => format!("Maildir {}", path.display()),
        crate::config::Source::Imap { server, folder, .. } => {
            format!("IMAP {}:{} folder {folder}", server.host, server.port)
        }
    }
}

/// Where the daemon's mail goes, for its start-up line.
fn describe_transport(t: &crate::config::Transport) -> String {
    match t {
        crate::config::Transport::Dir { path } => format!(".eml files in {}", path.display()),
        crate::config::Transport::Smtp { server } => {
            format!("SMTP {}:{}", server.host, server.port)
        }
    }
}

/// The async workers, until the source and the outbox have stopped.
async fn serve(ctx: Arc<Ctx>, runtime: Arc<Runtime>, t: Tasks) -> anyhow::Result<()> {
    let handlers = signals::install().context("cannot install the signal handlers")?;
    let signals = tokio::spawn(signals::signals(Arc::clone(&ctx), handlers));
    let source = tokio::spawn(workers::source(
        t.source,
        Arc::clone(&runtime),
        Arc::clone(&ctx),
    ));
    let outbox = tokio::spawn(workers::outbox(
        t.outbox,
        Arc::clone(&runtime),
        t.transport,
        Arc::clone(&ctx),
    ));
    let watchdog = tokio::spawn(systemd::watchdog(
        ctx.health.clone(),
        t.status,
        ctx.shutdown.clone(),
    ));
    let metrics = t.metrics.map(|listener| {
        tracing::info!(address = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "metrics at /metrics");
        tokio::spawn(metrics_http::serve(
            listener,
            ctx.db.clone(),
            ctx.shared.clone(),
            ctx.health.clone(),
            ctx.shutdown.clone(),
        ))
    });
    notify(&[sd_notify::NotifyState::Ready]);
    let cfg = &runtime.config;
    tracing::info!(
        source = %describe_source(&cfg.source),
        transport = %describe_transport(&cfg.transport),
        db = %ctx.db.display(),
        consultants = %cfg.consultants.addresses.join(", "),
        support = %cfg.support.address,
        "supportd running"
    );
    let (source, outbox) = tokio::join!(source, outbox);
    // The other tasks end here, before the runtime shuts down: a task still
    // running then may poll its timer while the timers are going away, and
    // tokio panics ("A Tokio 1.x context was found, but it is being
    // shutdown"): in 5 of 70 stops just after READY=1 on a 1 GB database.
    for task in [signals, watchdog].into_iter().chain(metrics) {
        task.abort();
        let _ = task.await;
    }
    source.context("source worker")??;
    outbox.context("outbox worker")??;
    Ok(())
}

/// The running configuration: replaced whole by a reload, read by each
/// worker at the top of every pass.
pub type Shared = Arc<RwLock<Arc<Runtime>>>;

/// The running configuration as of now (a reload may replace it).
pub fn current(shared: &Shared) -> Arc<Runtime> {
    match shared.read() {
        Ok(rt) => Arc::clone(&rt),
        Err(poisoned) => Arc::clone(&poisoned.into_inner()),
    }
}
