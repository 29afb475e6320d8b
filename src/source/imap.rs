//! The IMAP source (async-imap on tokio, TLS by rustls).
//!
//! Per connection: connect (implicit TLS, STARTTLS, or plain when the
//! config says so), log in (AUTHENTICATE PLAIN when the greeting offers it,
//! else LOGIN), make sure the processed folder exists, SELECT the folder,
//! then repeat: sync, wait (IDLE, re-issued every 25 minutes, or NOOP every
//! `poll-secs`; never STATUS on the selected mailbox, which Dovecot answers
//! from the session's stale view).
//!
//! A sync lists the folder (`UID SEARCH UNDELETED`: processed mail has been
//! moved out, so this is the backlog), fetches messages above the last
//! committed UID in batches (sizes first, `RFC822.SIZE`; a message over the
//! size limit is fetched as its header only, marked with
//! [`super::TRUNCATED_HEADER`]), commits them with step 1, and only then
//! flags them `\Seen` and moves them to the processed folder (MOVE, else
//! COPY + `\Deleted` + EXPUNGE). Messages at or below the last committed UID
//! that are still in the folder were committed before a crash or a failed
//! move: they are only moved. Source keys are `imap:<folder>:<uidvalidity>:<uid>`;
//! after a UIDVALIDITY change the folder is scanned from UID 1 and step 1's
//! Message-ID + content dedupe recognises what was stored already.
//!
//! Every command runs under `source.timeout-secs`; a failed connection is
//! retried with backoff from 1 s doubling to 5 min, with jitter.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use async_imap::{Client, Session};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config, SourceLimits, Tls};
use crate::health::{Health, Worker, beating};
use crate::store::{Incoming, Store};

/// A connection, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Io for T {}

type Conn = Box<dyn Io>;

/// IDLE is re-issued this often (RFC 2177: servers may drop it after 30 min).
const IDLE_RENEW: Duration = Duration::from_secs(25 * 60);
/// Committed messages moved to the processed folder in one command.
const MOVE_BATCH: usize = 20_000;
/// Reconnect backoff.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// The IMAP source's settings.
#[derive(Debug, Clone)]
pub struct Imap {
    server: config::Server,
    folder: String,
    processed: String,
    poll: Duration,
    idle: bool,
    limits: SourceLimits,
    max_bytes: u64,
}

/// What a connection learned about the server.
#[derive(Debug, Default, Clone, Copy)]
struct Caps {
    idle: bool,
    mv: bool,
    uidplus: bool,
}

/// A logged-in, selected session and its folder state.
struct Selected {
    session: Session<Conn>,
    caps: Caps,
    validity: u32,
}

/// A pass whose messages are committed and not yet moved.
pub struct Pass {
    sel: Selected,
    summary: SyncSummary,
    to_move: Vec<u32>,
}

/// Counts of one sync.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SyncSummary {
    /// Messages fetched and committed.
    pub fetched: usize,
    /// Messages moved to the processed folder.
    pub moved: usize,
    /// Seconds spent downloading, committing, and flagging + moving.
    pub seconds: [f64; 3],
}

async fn within<T, E, F>(limit: Duration, what: &str, f: F) -> anyhow::Result<T>
where
    F: Future<Output = Result<T, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r.with_context(|| what.to_string()),
        Err(_) => bail!("{what}: no answer within {} s", limit.as_secs()),
    }
}

/// A UID set in IMAP syntax, runs compressed (`1:5,7,9:12`).
pub fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

struct PlainAuth<'a> {
    user: &'a str,
    password: &'a str,
}

impl async_imap::Authenticator for PlainAuth<'_> {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> String {
        // RFC 4616: authzid NUL authcid NUL passwd (empty authzid).
        format!("\0{}\0{}", self.user, self.password)
    }
}

fn tls_config(server: &config::Server) -> anyhow::Result<Arc<ClientConfig>> {
    crate::tls::client_config(server.ca_file.as_deref(), "source.ca-file")
}

impl Imap {
    /// The IMAP source of a config (`None` when the source is a Maildir).
    pub fn from_config(cfg: &Config) -> Option<Imap> {
        match &cfg.source {
            config::Source::Imap {
                server,
                folder,
                processed_folder,
                poll_secs,
                idle,
            } => Some(Imap {
                server: server.clone(),
                folder: folder.clone(),
                processed: processed_folder.clone(),
                poll: Duration::from_secs(*poll_secs),
                idle: *idle,
                limits: cfg.source_limits,
                max_bytes: cfg.limits.max_message_bytes,
            }),
            config::Source::Maildir { .. } => None,
        }
    }

    fn name(&self) -> String {
        format!("{}:{}", self.server.host, self.server.port)
    }

    async fn tls(&self, tcp: TcpStream) -> anyhow::Result<Conn> {
        let cfg = tls_config(&self.server)?;
        let name = ServerName::try_from(self.server.host.clone())
            .with_context(|| format!("{:?} is not a valid TLS server name", self.server.host))?;
        let stream = within(
            self.limits.timeout,
            "TLS handshake",
            TlsConnector::from(cfg).connect(name, tcp),
        )
        .await?;
        Ok(Box::new(stream))
    }

    /// Connects, logs in and selects the folder.
    async fn connect(&self) -> anyhow::Result<Selected> {
        let t = self.limits.timeout;
        let (mut session, caps) = self.login().await?;
        // The processed folder, created if missing.
        if !self.folder_exists(&mut session, &self.processed).await? {
            within(
                t,
                &format!("create folder {:?}", self.processed),
                session.create(&self.processed),
            )
            .await?;
            tracing::info!(folder = %self.processed, "created the processed folder");
        }
        let mailbox = within(
            t,
            &format!("select folder {:?}", self.folder),
            session.select(&self.folder),
        )
        .await?;
        let validity = mailbox.uid_validity.unwrap_or(0);
        Ok(Selected {
            session,
            caps,
            validity,
        })
    }

    async fn folder_exists(&self, session: &mut Session<Conn>, name: &str) -> anyhow::Result<bool> {
        let found: Vec<_> = within(self.limits.timeout, "LIST", async {
            session
                .list(None, Some(name))
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        Ok(!found.is_empty())
    }

    /// `check-config --online`: logs in, looks at both folders without
    /// changing anything, logs out. What it found, in one line.
    pub async fn check(&self) -> anyhow::Result<String> {
        let t = self.limits.timeout;
        let (mut session, caps) = self.login().await?;
        let mailbox = within(
            t,
            &format!("examine folder {:?}", self.folder),
            session.examine(&self.folder),
        )
        .await?;
        let processed = if self.folder_exists(&mut session, &self.processed).await? {
            format!("{:?} exists", self.processed)
        } else {
            format!("{:?} will be created on the first run", self.processed)
        };
        within(t, "LOGOUT", session.logout()).await.ok();
        Ok(format!(
            "IMAP {}: logged in; {:?} holds {} messages; {processed}; IDLE {}",
            self.name(),
            self.folder,
            mailbox.exists,
            if caps.idle {
                "used"
            } else {
                "not used (polling)"
            }
        ))
    }

    /// Connects and logs in.
    async fn login(&self) -> anyhow::Result<(Session<Conn>, Caps)> {
        let t = self.limits.timeout;
        let addr = (self.server.host.as_str(), self.server.port);
        let tcp = within(
            t,
            &format!("connect to {}", self.name()),
            TcpStream::connect(addr),
        )
        .await?;
        tcp.set_nodelay(true).ok();
        let (client, greeting) = match self.server.tls {
            Tls::Implicit => {
                let mut c = Client::new(self.tls(tcp).await?);
                let g = within(t, "read the greeting", c.read_response()).await?;
                (c, g)
            }
            Tls::None => {
                let mut c = Client::new(Box::new(tcp) as Conn);
                let g = within(t, "read the greeting", c.read_response()).await?;
                (c, g)
            }
            Tls::Starttls => {
                let mut c = Client::new(tcp);
                let g = within(t, "read the greeting", c.read_response()).await?;
                within(t, "STARTTLS", c.run_command_and_check_ok("STARTTLS", None)).await?;
                let tcp = c.into_inner();
                (Client::new(self.tls(tcp).await?), g)
            }
        };
        let greeting = greeting.ok_or_else(|| anyhow!("the server closed the connection"))?;
        let greeting_text = String::from_utf8_lossy(greeting.borrow_owner()).to_ascii_uppercase();
        // The greeting may list capabilities (mechanisms offered before TLS).
        let user = self.server.user.clone().unwrap_or_default();
        let password = match &self.server.password {
            Some(p) => p.load()?.expose().to_string(),
            None => String::new(),
        };
        let login = async {
            if greeting_text.contains("AUTH=PLAIN") {
                client
                    .authenticate(
                        "PLAIN",
                        PlainAuth {
                            user: &user,
                            password: &password,
                        },
                    )
                    .await
                    .map_err(|(e, _)| e)
            } else {
                client.login(&user, &password).await.map_err(|(e, _)| e)
            }
        };
        let mut session = within(t, &format!("log in to {} as {user}", self.name()), login).await?;
        let caps = within(t, "CAPABILITY", session.capabilities()).await?;
        let caps = Caps {
            idle: self.idle && caps.has_str("IDLE"),
            mv: caps.has_str("MOVE"),
            uidplus: caps.has_str("UIDPLUS"),
        };
        Ok((session, caps))
    }

    fn validity_key(&self) -> String {
        format!("imap:{}:uidvalidity", self.folder)
    }

    fn last_uid_key(&self) -> String {
        format!("imap:{}:last-uid", self.folder)
    }

    /// The last committed UID for this UIDVALIDITY (0 after a change, which
    /// is recorded and logged).
    fn last_uid(&self, store: &mut Store, validity: u32) -> anyhow::Result<u32> {
        let known = store.meta(&self.validity_key())?;
        let last = store
            .meta(&self.last_uid_key())?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        match known.and_then(|v| v.parse::<u32>().ok()) {
            Some(v) if v == validity => Ok(last),
            previous => {
                if previous.is_some() {
                    tracing::warn!(
                        folder = %self.folder,
                        old = previous.unwrap_or_default(),
                        new = validity,
                        "UIDVALIDITY changed: scanning the whole folder again (stored messages are recognised)"
                    );
                }
                store.set_meta(&self.validity_key(), &validity.to_string())?;
                store.set_meta(&self.last_uid_key(), "0")?;
                Ok(0)
            }
        }
    }

    /// Fetches, commits and moves everything in the folder.
    async fn sync(
        &self,
        sel: &mut Selected,
        store: &mut Store,
        notify: &(dyn Fn() + Sync),
    ) -> anyhow::Result<SyncSummary> {
        let (mut summary, to_move) = self.fetch_new(sel, store, notify).await?;
        self.move_committed(sel, &to_move, &mut summary).await?;
        Ok(summary)
    }

    /// Moves committed messages, and says what a sync did.
    async fn move_committed(
        &self,
        sel: &mut Selected,
        uids: &[u32],
        summary: &mut SyncSummary,
    ) -> anyhow::Result<()> {
        if !uids.is_empty() {
            let t = std::time::Instant::now();
            summary.moved += self.acknowledge(sel, uids).await?;
            summary.seconds[2] += t.elapsed().as_secs_f64();
        }
        if summary.fetched > 0 {
            tracing::debug!(
                fetched = summary.fetched,
                download_secs = summary.seconds[0],
                commit_secs = summary.seconds[1],
                move_secs = summary.seconds[2],
                "IMAP sync"
            );
        }
        Ok(())
    }

    /// Fetches and commits everything new in the folder; returns the
    /// committed UIDs not moved yet (also those committed before a crash).
    async fn fetch_new(
        &self,
        sel: &mut Selected,
        store: &mut Store,
        notify: &(dyn Fn() + Sync),
    ) -> anyhow::Result<(SyncSummary, Vec<u32>)> {
        let t = self.limits.timeout;
        while sel.session.unsolicited_responses.try_recv().is_ok() {}
        let last = tokio::task::block_in_place(|| self.last_uid(store, sel.validity))?;
        let all: HashSet<u32> =
            within(t, "UID SEARCH", sel.session.uid_search("UNDELETED")).await?;
        let mut new: Vec<u32> = all.iter().copied().filter(|u| *u > last).collect();
        new.sort_unstable();
        let mut summary = SyncSummary::default();
        let mut leftovers: Vec<u32> = all.iter().copied().filter(|u| *u <= last).collect();
        leftovers.sort_unstable();
        if !leftovers.is_empty() {
            summary.moved += self.move_leftovers(sel, store, &leftovers).await?;
        }
        // Committed messages are moved in large sets: Dovecot's cost of a
        // MOVE (an expunge) grows with the folder's size, not the set's.
        let mut to_move: Vec<u32> = Vec::new();
        for chunk in new.chunks(self.limits.fetch_batch.max(1)) {
            let t = std::time::Instant::now();
            let batch = self.fetch(sel, chunk).await?;
            summary.seconds[0] += t.elapsed().as_secs_f64();
            let t = std::time::Instant::now();
            let max_uid = chunk.iter().copied().max().unwrap_or(last);
            let now = Utc::now();
            tokio::task::block_in_place(|| {
                store.store_raw_and_meta(
                    &batch,
                    now,
                    &[(&self.last_uid_key(), &max_uid.to_string())],
                )
            })?;
            summary.seconds[1] += t.elapsed().as_secs_f64();
            summary.fetched += batch.len();
            notify();
            to_move.extend_from_slice(chunk);
            if to_move.len() >= MOVE_BATCH {
                let t = std::time::Instant::now();
                summary.moved += self.acknowledge(sel, &std::mem::take(&mut to_move)).await?;
                summary.seconds[2] += t.elapsed().as_secs_f64();
            }
        }
        Ok((summary, to_move))
    }

    /// Messages an earlier session committed but did not move (a kill, or a
    /// connection lost between the commit and the move). If that move was
    /// cut off after the server had copied them, their copies are in the
    /// processed folder already: those are only removed from this folder,
    /// never copied a second time. Returns how many left the folder.
    async fn move_leftovers(
        &self,
        sel: &mut Selected,
        store: &mut Store,
        uids: &[u32],
    ) -> anyhow::Result<usize> {
        let t = self.limits.timeout;
        let mut ids = Vec::new();
        for uid in uids {
            let key = format!("imap:{}:{}:{uid}", self.folder, sel.validity);
            if let Some(id) = tokio::task::block_in_place(|| store.message_id_of_source(&key))?
                && let Some(q) = search_string(&id)
            {
                ids.push((*uid, q));
            }
        }
        let mut already = HashSet::new();
        if !ids.is_empty() {
            within(t, "EXAMINE", sel.session.examine(&self.processed)).await?;
            for (uid, q) in &ids {
                let found = within(
                    t,
                    "UID SEARCH HEADER Message-ID",
                    sel.session.uid_search(format!("HEADER Message-ID {q}")),
                )
                .await?;
                if !found.is_empty() {
                    already.insert(*uid);
                }
            }
            within(t, "SELECT", sel.session.select(&self.folder)).await?;
        }
        let copied: Vec<u32> = uids
            .iter()
            .copied()
            .filter(|u| already.contains(u))
            .collect();
        let rest: Vec<u32> = uids
            .iter()
            .copied()
            .filter(|u| !already.contains(u))
            .collect();
        if !copied.is_empty() {
            self.remove(sel, &copied).await?;
            tracing::info!(
                messages = copied.len(),
                folder = %self.processed,
                "already in the processed folder (an earlier move was cut off): removed here, not copied again"
            );
        }
        let moved = if rest.is_empty() {
            0
        } else {
            self.acknowledge(sel, &rest).await?
        };
        Ok(copied.len() + moved)
    }

    /// Flags `uids` deleted and expunges them (their copies are elsewhere).
    async fn remove(&self, sel: &mut Selected, uids: &[u32]) -> anyhow::Result<()> {
        let t = self.limits.timeout;
        let set = uid_set(uids);
        let session = &mut sel.session;
        within(t, "UID STORE \\Deleted", async {
            session
                .uid_store(&set, "+FLAGS.SILENT (\\Seen \\Deleted)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        if sel.caps.uidplus {
            within(t, "UID EXPUNGE", async {
                session
                    .uid_expunge(&set)
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?;
        } else {
            within(t, "EXPUNGE", async {
                session.expunge().await?.try_collect::<Vec<_>>().await
            })
            .await?;
        }
        Ok(())
    }

    /// Fetches one batch: sizes first, then whole messages within the size
    /// limit and only the header of larger ones.
    async fn fetch(&self, sel: &mut Selected, uids: &[u32]) -> anyhow::Result<Vec<Incoming>> {
        let t = self.limits.timeout;
        let session = &mut sel.session;
        let sizes = within(t, "UID FETCH sizes", async {
            session
                .uid_fetch(uid_set(uids), "(UID RFC822.SIZE)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        let size_of: BTreeMap<u32, u64> = sizes
            .iter()
            .filter_map(|f| Some((f.uid?, u64::from(f.size?))))
            .collect();
        let (small, big): (Vec<u32>, Vec<u32>) = uids
            .iter()
            .filter(|u| size_of.contains_key(u))
            .partition(|u| size_of[u] <= self.max_bytes);
        let mut out = Vec::with_capacity(uids.len());
        for (set, query, whole) in [
            (small, "(UID INTERNALDATE BODY.PEEK[])", true),
            (big, "(UID INTERNALDATE BODY.PEEK[HEADER])", false),
        ] {
            if set.is_empty() {
                continue;
            }
            // Large fetches get time in proportion to their size.
            let bytes: u64 = set.iter().map(|u| size_of[u]).sum();
            let limit = t + Duration::from_secs(if whole { bytes / 1_000_000 } else { 0 });
            let fetched = within(limit, "UID FETCH", async {
                session
                    .uid_fetch(uid_set(&set), query)
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?;
            for f in fetched {
                let Some(uid) = f.uid else { continue };
                let received_at = f
                    .internal_date()
                    .map(|d| d.with_timezone(&Utc))
                    .unwrap_or_else(Utc::now);
                let raw = if whole {
                    let Some(b) = f.body() else { continue };
                    b.to_vec()
                } else {
                    let Some(h) = f.header() else { continue };
                    super::truncated(h, size_of[&uid])
                };
                out.push((
                    uid,
                    Incoming {
                        source_key: Some(format!("imap:{}:{}:{uid}", self.folder, sel.validity)),
                        raw: raw.into(),
                        received_at: DateTime::from_timestamp(received_at.timestamp(), 0)
                            .unwrap_or(received_at),
                    },
                ));
            }
        }
        // In UID (arrival) order: a reply must not be applied before the
        // request it answers. (Sorting the keys as text put UID 1000
        // before 999.)
        out.sort_unstable_by_key(|(uid, _)| *uid);
        Ok(out.into_iter().map(|(_, m)| m).collect())
    }

    /// Flags committed messages `\Seen` and moves them to the processed
    /// folder.
    async fn acknowledge(&self, sel: &mut Selected, uids: &[u32]) -> anyhow::Result<usize> {
        let t = self.limits.timeout;
        let set = uid_set(uids);
        let session = &mut sel.session;
        within(t, "UID STORE \\Seen", async {
            session
                .uid_store(&set, "+FLAGS.SILENT (\\Seen)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        // Test fault: the connection is lost in the middle of a move, after
        // the server copied the messages (`SUPPORTD_TEST_CUT_MOVE=1`).
        if crate::health::faults_enabled()
            && std::env::var_os("SUPPORTD_TEST_CUT_MOVE").is_some_and(|v| v == "1")
        {
            within(t, "UID COPY", session.uid_copy(&set, &self.processed)).await?;
            anyhow::bail!("test fault: the connection was lost during the move");
        }
        if sel.caps.mv {
            within(t, "UID MOVE", session.uid_mv(&set, &self.processed)).await?;
        } else {
            // No MOVE: a copy, then the originals removed.
            within(t, "UID COPY", session.uid_copy(&set, &self.processed)).await?;
            self.remove(sel, uids).await?;
        }
        Ok(uids.len())
    }

    /// The first half of a pass for `run --once`: connect, fetch and commit
    /// everything new. [`Imap::finish`] moves it; the caller may apply the
    /// messages meanwhile (they are committed).
    pub async fn fetch_pass(&self, store: &mut Store) -> anyhow::Result<Pass> {
        let mut sel = self.connect().await?;
        let (summary, to_move) = self.fetch_new(&mut sel, store, &|| {}).await?;
        Ok(Pass {
            sel,
            summary,
            to_move,
        })
    }

    /// The second half: move what the first committed, log out.
    pub async fn finish(&self, mut pass: Pass) -> anyhow::Result<SyncSummary> {
        self.move_committed(&mut pass.sel, &pass.to_move, &mut pass.summary)
            .await?;
        within(self.limits.timeout, "LOGOUT", pass.sel.session.logout())
            .await
            .ok();
        Ok(pass.summary)
    }

    /// Runs until `shutdown`: connect, sync, wait for news, sync...;
    /// reconnects with backoff on any failure.
    pub async fn run(
        &self,
        store: &mut Store,
        notify: &(dyn Fn() + Sync),
        shutdown: &CancellationToken,
        health: &Health,
        store_error: &(dyn Fn(&crate::store::Error) -> bool + Sync),
    ) {
        let mut backoff = BACKOFF_MIN;
        while !shutdown.is_cancelled() {
            let connected = tokio::select! {
                r = beating(self.connect(), health, Worker::Source, health.tick) => r,
                _ = shutdown.cancelled() => return,
            };
            let result = match connected {
                Ok(sel) => {
                    tracing::info!(server = %self.name(), folder = %self.folder, idle = sel.caps.idle, "IMAP connected");
                    self.serve(sel, store, notify, shutdown, &mut backoff, health)
                        .await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => return,
                // The database's trouble, not the server's: said as such; a
                // deleted or damaged database stops the daemon.
                Err(e) if e.downcast_ref::<crate::store::Error>().is_some() => {
                    let se = e.downcast_ref::<crate::store::Error>().expect("checked");
                    if store_error(se) {
                        return;
                    }
                    tokio::select! {
                        _ = beating(tokio::time::sleep(BACKOFF_MIN), health, Worker::Source, health.tick) => {}
                        _ = shutdown.cancelled() => return,
                    }
                }
                Err(e) => {
                    let wait = jitter(backoff);
                    let error = format!("{e:#}");
                    health.poll_failed(&error);
                    tracing::warn!(server = %self.name(), error = %error, retry_in_secs = wait.as_secs(), "IMAP source failed");
                    tokio::select! {
                        _ = beating(tokio::time::sleep(wait), health, Worker::Source, health.tick) => {}
                        _ = shutdown.cancelled() => return,
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// The sync-and-wait loop of one connection; `Ok` only on shutdown.
    async fn serve(
        &self,
        mut sel: Selected,
        store: &mut Store,
        notify: &(dyn Fn() + Sync),
        shutdown: &CancellationToken,
        backoff: &mut Duration,
        health: &Health,
    ) -> anyhow::Result<()> {
        let t = self.limits.timeout;
        let (tick, src) = (health.tick, Worker::Source);
        loop {
            beating(self.sync(&mut sel, store, notify), health, src, tick).await?;
            health.poll_ok(chrono::Utc::now().timestamp());
            *backoff = BACKOFF_MIN;
            // Mail that arrived while we synced was announced then (an
            // untagged EXISTS in another command's answer), and IDLE will not
            // announce it again: look once more before waiting.
            if arrived_meanwhile(&mut sel) {
                continue;
            }
            if sel.caps.idle {
                // The session moves into the IDLE handle and back.
                let mut idle = sel.session.idle();
                within(t, "IDLE", idle.init()).await?;
                let stopping = {
                    let (wait, _stop) = idle.wait_with_timeout(IDLE_RENEW);
                    tokio::select! {
                        r = beating(wait, health, src, tick) => { r.context("IDLE")?; false }
                        _ = shutdown.cancelled() => true,
                    }
                };
                sel.session = within(t, "DONE", idle.done()).await?;
                if stopping {
                    within(t, "LOGOUT", sel.session.logout()).await.ok();
                    return Ok(());
                }
            } else {
                tokio::select! {
                    _ = beating(tokio::time::sleep(self.poll), health, src, tick) => {}
                    _ = shutdown.cancelled() => {
                        within(t, "LOGOUT", sel.session.logout()).await.ok();
                        return Ok(());
                    }
                }
                // NOOP refreshes the selected mailbox's view.
                within(t, "NOOP", sel.session.noop()).await?;
            }
        }
    }
}

/// Whether the server announced new mail (EXISTS or RECENT) since the
/// last sync drained its announcements; drains them.
fn arrived_meanwhile(sel: &mut Selected) -> bool {
    let mut arrived = false;
    while let Ok(r) = sel.session.unsolicited_responses.try_recv() {
        arrived |= matches!(
            r,
            async_imap::types::UnsolicitedResponse::Exists(_)
                | async_imap::types::UnsolicitedResponse::Recent(_)
        );
    }
    arrived
}

/// `d` ± 20 %.
fn jitter(d: Duration) -> Duration {
    let r = getrandom::u32().unwrap_or(0) % 401; // 0..=400
    d * (800 + r) / 1000
}

/// A Message-ID (without brackets) as an IMAP quoted string for `SEARCH
/// HEADER Message-ID` (RFC 3501 quoted: `"` and `\` escaped), or `None` for
/// one that cannot be searched as ASCII (our own made-up ids have no
/// header to find).
fn search_string(id: &str) -> Option<String> {
    if id.is_empty() || !id.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return None;
    }
    Some(format!(
        "\"<{}>\"",
        id.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_compress_runs() {
        let table: &[(&[u32], &str)] = &[
            (&[], ""),
            (&[7], "7"),
            (&[1, 2, 3, 4, 5], "1:5"),
            (&[9, 1, 2, 3, 12, 11, 10, 7, 7], "1:3,7,9:12"),
            (&[4, 6], "4,6"),
        ];
        for (uids, want) in table {
            assert_eq!(uid_set(uids), *want, "{uids:?}");
        }
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        for _ in 0..1000 {
            let j = jitter(Duration::from_secs(10));
            assert!(
                j >= Duration::from_secs(8) && j <= Duration::from_secs(12),
                "{j:?}"
            );
        }
    }
}
