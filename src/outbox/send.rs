//! Sending the outbox: the two transports (SMTP with lettre, or .eml files
//! in a folder) and one pass over the due mail with bounded concurrency.
//!
//! Retry policy (issue 5): a 4xx answer, a network or TLS error or a
//! timeout retries after 1 min, doubling to 30 min, until `give-up-days`
//! after the mail was queued (or an operator's `outbox retry`); a 5xx
//! answer fails the mail at once with the server's words. Each result is
//! committed as soon as it is known, so a kill between the server's
//! acceptance and our commit re-sends at most the mails in flight, with
//! the same Message-ID and bytes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use lettre::Address;
use lettre::address::Envelope;
use tracing::Instrument;

use crate::config::{self, Sending};
use crate::store::{self, Outgoing, Store};

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted; the server's answer.
    Sent(String),
    /// Try again later (4xx, network, TLS, timeout).
    Temporary(String),
    /// Refused for good (5xx, or a mail that cannot be built).
    Permanent(String),
    /// Accepted for some recipients, refused for good for the others (the
    /// server refused a recipient, so each was tried on its own).
    Partial {
        /// The server's answer for the accepted ones.
        answer: String,
        /// The refused recipients.
        refused: Vec<String>,
        /// The server's words about them.
        error: String,
    },
}

/// Where mail goes.
#[derive(Clone)]
pub enum Transport {
    /// `.eml` files in a folder, written atomically (tmp + rename).
    Dir(PathBuf),
    /// An SMTP server (connections kept and reused).
    Smtp(std::sync::Arc<super::smtp::SmtpClient>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Dir(p) => write!(f, "dir {}", p.display()),
            Transport::Smtp(_) => f.write_str("smtp"),
        }
    }
}

/// Why a transport could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The CA file is unreadable or not PEM.
    #[error("transport.ca-file {path}: {reason}")]
    Ca {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The password could not be read.
    #[error(transparent)]
    Secret(#[from] config::Error),
    /// TLS parameters were refused.
    #[error("transport TLS settings: {0}")]
    Tls(String),
    /// The outbox folder cannot be created.
    #[error("cannot create the outbox folder {path}: {source}")]
    Dir {
        /// The folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl Transport {
    /// The transport the config names.
    pub fn from_config(t: &config::Transport, s: &Sending) -> Result<Transport, SetupError> {
        match t {
            config::Transport::Dir { path } => {
                std::fs::create_dir_all(path).map_err(|source| SetupError::Dir {
                    path: path.clone(),
                    source,
                })?;
                Ok(Transport::Dir(path.clone()))
            }
            config::Transport::Smtp { server } => Ok(Transport::Smtp(std::sync::Arc::new(
                super::smtp::SmtpClient::new(server, s.timeout, s.concurrency)?,
            ))),
        }
    }

    /// Sends one mail's bytes to its envelope.
    pub async fn send(&self, m: &Outgoing, bytes: &[u8]) -> Outcome {
        match self {
            Transport::Dir(dir) => {
                let dir = dir.clone();
                let name = format!("{:06}.eml", m.id);
                let mut file = format!("Return-Path: <{}>\r\n", m.envelope_from).into_bytes();
                file.extend_from_slice(bytes);
                match tokio::task::spawn_blocking(move || write_atomically(&dir, &name, &file))
                    .await
                {
                    Ok(Ok(path)) => Outcome::Sent(format!("written to {}", path.display())),
                    Ok(Err(e)) => Outcome::Temporary(format!("cannot write the mail file: {e}")),
                    Err(e) => Outcome::Temporary(format!("writer task failed: {e}")),
                }
            }
            Transport::Smtp(smtp) => {
                let from = match m.envelope_from.parse::<Address>() {
                    Ok(a) => a,
                    Err(e) => {
                        return Outcome::Permanent(format!(
                            "envelope sender {:?}: {e}",
                            m.envelope_from
                        ));
                    }
                };
                let mut to = Vec::new();
                for r in &m.recipients {
                    match r.parse::<Address>() {
                        Ok(a) => to.push(a),
                        Err(e) => {
                            return Outcome::Permanent(format!("recipient {r:?}: {e}"));
                        }
                    }
                }
                let envelope = match Envelope::new(Some(from.clone()), to.clone()) {
                    Ok(e) => e,
                    Err(e) => return Outcome::Permanent(format!("envelope: {e}")),
                };
                let answer = |r: lettre::transport::smtp::response::Response| {
                    format!("{} {}", r.code(), r.message().collect::<Vec<_>>().join(" "))
                };
                match smtp.send(&envelope, bytes).await {
                    Ok(r) => Outcome::Sent(answer(r)),
                    // One refused recipient aborts the whole transaction:
                    // each recipient on its own, so the others still get it.
                    Err(e) if e.is_permanent() && to.len() > 1 => {
                        let (mut accepted, mut refused, mut errors) =
                            (None, Vec::new(), Vec::new());
                        for (addr, raw) in to.iter().zip(&m.recipients) {
                            let one = match Envelope::new(Some(from.clone()), vec![addr.clone()]) {
                                Ok(e) => e,
                                Err(e) => return Outcome::Permanent(format!("envelope: {e}")),
                            };
                            match smtp.send(&one, bytes).await {
                                Ok(r) => accepted = Some(answer(r)),
                                Err(e) => {
                                    refused.push(raw.clone());
                                    errors.push(format!("{raw}: {e}"));
                                }
                            }
                        }
                        match accepted {
                            None => Outcome::Permanent(errors.join("; ")),
                            Some(answer) => Outcome::Partial {
                                answer,
                                refused,
                                error: errors.join("; "),
                            },
                        }
                    }
                    Err(e) if e.is_permanent() => Outcome::Permanent(e.to_string()),
                    Err(e) => Outcome::Temporary(e.to_string()),
                }
            }
        }
    }
}

/// Writes `dir/name` so that a reader never sees half a file: tmp file,
/// fsync, rename.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Delay before the next attempt after `attempts` failed ones: `initial`
/// (1 min by default), doubling, at most `max` (30 min).
pub fn retry_delay(attempts: u32, initial: Duration, max: Duration) -> Duration {
    initial
        .saturating_mul(1 << attempts.saturating_sub(1).min(20))
        .min(max)
}

/// Counts of one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassSummary {
    /// Accepted by the server (or written).
    pub sent: u64,
    /// To be tried again.
    pub deferred: u64,
    /// Failed for good.
    pub failed: u64,
}

/// How many due rows are read at a time.
const DUE_BATCH: usize = 256;

/// Sends every mail due at `now()`, `concurrency` at a time, committing
/// each result as it comes. Mails that fail temporarily are rescheduled
/// and not retried within this pass. Once `stop()` says so, no further
/// mail is started; those in flight finish.
pub async fn send_due(
    store: &mut Store,
    transport: &Transport,
    sending: &Sending,
    now: &(dyn Fn() -> DateTime<Utc> + Sync),
    stop: &(dyn Fn() -> bool + Sync),
) -> store::Result<PassSummary> {
    let mut summary = PassSummary::default();
    loop {
        if stop() {
            return Ok(summary);
        }
        let due = store.due_outbox(now(), DUE_BATCH)?;
        if due.is_empty() {
            return Ok(summary);
        }
        let mut jobs = Vec::with_capacity(due.len());
        for m in due {
            let attached = match m.attach_message {
                Some(id) => store.raw_message(id)?,
                None => None,
            };
            jobs.push((m, attached));
        }
        let timeout = sending.timeout * 3;
        let mut results = futures::stream::iter(jobs.into_iter().take_while(|_| !stop()))
            .map(|(m, attached)| {
                let span = mail_span(&m);
                async move {
                    let outcome = match super::render::render(&m, attached.as_deref()) {
                        Err(e) => Outcome::Permanent(e.to_string()),
                        Ok(bytes) => {
                            match tokio::time::timeout(timeout, transport.send(&m, &bytes)).await {
                                Ok(o) => o,
                                Err(_) => Outcome::Temporary(format!(
                                    "no answer within {} s",
                                    timeout.as_secs()
                                )),
                            }
                        }
                    };
                    (m, outcome)
                }
                .instrument(span)
            })
            .buffer_unordered(sending.concurrency.max(1));
        while let Some((m, outcome)) = results.next().await {
            let at = now();
            let _span = mail_span(&m).entered();
            match outcome {
                Outcome::Sent(answer) => {
                    store.outbox_sent(m.id, &answer, at)?;
                    summary.sent += 1;
                    tracing::info!(template = %m.template, to = m.recipients.len(), "mail sent");
                }
                Outcome::Permanent(error) => {
                    store.outbox_failed(m.id, &error, at)?;
                    summary.failed += 1;
                    tracing::warn!(template = %m.template, %error, "mail failed");
                }
                Outcome::Partial {
                    answer,
                    refused,
                    error,
                } => {
                    store.outbox_sent_partly(m.id, &answer, &refused, &error, at)?;
                    summary.sent += 1;
                    tracing::warn!(template = %m.template, refused = refused.len(), %error, "mail sent, some recipients refused");
                }
                Outcome::Temporary(error) => {
                    let attempts = m.attempts + 1;
                    let give_up = m.retry_from
                        + chrono::Duration::from_std(sending.give_up_after)
                            .unwrap_or(chrono::Duration::MAX);
                    if at >= give_up {
                        let error =
                            format!("gave up after {attempts} attempts; last error: {error}");
                        store.outbox_failed(m.id, &error, at)?;
                        summary.failed += 1;
                        tracing::warn!(template = %m.template, %error, "mail failed");
                    } else {
                        let next = at
                            + chrono::Duration::from_std(retry_delay(
                                attempts,
                                sending.retry_initial,
                                sending.retry_max,
                            ))
                            .unwrap_or_default();
                        store.outbox_retry_later(m.id, &error, next)?;
                        summary.deferred += 1;
                        tracing::info!(%error, next = %crate::sla::format_utc(next), "mail deferred");
                    }
                }
            }
        }
    }
}

/// The log span of one outgoing mail: its outbox id and ticket reference
/// (the part of our Message-ID before the first dot; never the token after
/// it).
fn mail_span(m: &Outgoing) -> tracing::Span {
    let reference = m
        .ticket
        .and_then(|_| m.message_id.split('.').next())
        .unwrap_or("");
    tracing::info_span!("mail", outbox = m.id, ticket = %reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_to_thirty_minutes() {
        let table = [
            (1, 60),
            (2, 120),
            (3, 240),
            (4, 480),
            (5, 960),
            (6, 1800),
            (7, 1800),
            (40, 1800),
        ];
        for (attempts, secs) in table {
            assert_eq!(
                retry_delay(attempts, Duration::from_secs(60), Duration::from_secs(1800)),
                Duration::from_secs(secs),
                "{attempts}"
            );
        }
    }
}
