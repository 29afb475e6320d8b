//! Sending the outbox: one pass over the due mail with bounded
//! concurrency, through the configured [`Transport`].
//!
//! Retry policy (issue 5): a 4xx answer, a network or TLS error or a
//! timeout retries after 1 min, doubling to 30 min, until `give-up-days`
//! after the mail was queued (or an operator's `outbox retry`); a 5xx
//! answer fails the mail at once with the server's words. Each result is
//! committed as soon as it is known, so a kill between the server's
//! acceptance and our commit re-sends at most the mails in flight, with
//! the same Message-ID and bytes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tracing::Instrument;

use super::transport::{Outcome, Transport};
use crate::config::Sending;
use crate::store::{self, Outgoing, Store};

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
            let attached = match m.attach {
                Some(a) => store.raw_message(a.message())?,
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
            record(store, &m, outcome, at, sending, &mut summary)?;
        }
    }
}

/// Records what became of one attempt, as soon as it is known.
fn record(
    store: &mut Store,
    m: &Outgoing,
    outcome: Outcome,
    at: DateTime<Utc>,
    sending: &Sending,
    summary: &mut PassSummary,
) -> store::Result<()> {
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
                let error = format!("gave up after {attempts} attempts; last error: {error}");
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
    Ok(())
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
