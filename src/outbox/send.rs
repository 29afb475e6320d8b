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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassSummary {
    /// Accepted by the server (or written).
    pub sent: u64,
    /// To be tried again.
    pub deferred: u64,
    /// Failed for good.
    pub failed: u64,
    /// Why the first deferred mail was deferred (the pass logs one line).
    pub deferred_because: Option<String>,
    /// The server refused mail for a reason that is its own (policy, a
    /// relay that refuses everything, our own consultants refused): the
    /// mail waits and ops are told.
    pub server_refusing: Option<String>,
}

/// Whether a 5xx answer is the server's fault rather than the mail's: the
/// mail is kept and retried, and ops are told. A mail's fault is a problem
/// with its recipient's mailbox (RFC 3463 status 5.1.x, 5.2.x), its size
/// (5.3.4) or its content (5.6.x), or a plain 550-553 without a status;
/// everything else (5.7.x policy, "relay access denied", 5.0.0, 554,
/// authentication) is the server's, and so is any refusal of our own
/// consultants or support address.
pub fn server_fault(reply: &str, recipients: &[String], internal: &[String]) -> bool {
    if recipients
        .iter()
        .any(|r| internal.iter().any(|i| i.eq_ignore_ascii_case(r)))
    {
        return true;
    }
    static STATUS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?:^|[\s(#\[])5\.([0-9]{1,3})\.([0-9]{1,3})\b").expect("valid")
    });
    static BASIC: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\b(5[0-9]{2})\b").expect("valid"));
    if let Some(c) = STATUS.captures(reply) {
        let mail_fault = matches!((&c[1], &c[2]), ("1" | "2" | "6", _) | ("3", "4"));
        return !mail_fault;
    }
    !matches!(
        BASIC.captures(reply).map(|c| c[1].to_string()).as_deref(),
        Some("550" | "551" | "552" | "553")
    )
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
    internal: &[String],
    now: &(dyn Fn() -> DateTime<Utc> + Sync),
    stop: &(dyn Fn() -> bool + Sync),
) -> store::Result<PassSummary> {
    let mut summary = PassSummary::default();
    // No mail goes out of a database file that was deleted or replaced: it
    // would be sent again from the restored one.
    let guard = store.file_guard();
    let file_ok = || guard.as_ref().is_none_or(|g| g.check().is_ok());
    loop {
        // A server that refuses mail of its own accord is not given the
        // rest of the queue this pass: it waits with its backoff.
        if stop() || summary.server_refusing.is_some() {
            return Ok(finish(summary));
        }
        store.check_file()?;
        let due = store.due_outbox(now(), DUE_BATCH)?;
        if due.is_empty() {
            return Ok(finish(summary));
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
        let mut results =
            futures::stream::iter(jobs.into_iter().take_while(|_| !stop() && file_ok()))
                .map(|(m, attached)| {
                    let span = mail_span(&m);
                    async move {
                        let outcome = match super::render::render(&m, attached.as_deref()) {
                            Err(e) => Outcome::Permanent(e.to_string()),
                            Ok(bytes) => {
                                match tokio::time::timeout(timeout, transport.send(&m, &bytes))
                                    .await
                                {
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
            let outcome = match outcome {
                Outcome::Refused(reply) if server_fault(&reply, &m.recipients, internal) => {
                    summary.server_refusing.get_or_insert_with(|| reply.clone());
                    Outcome::Temporary(format!(
                        "the server refuses mail ({reply}); kept and retried"
                    ))
                }
                Outcome::Refused(reply) => Outcome::Permanent(reply),
                o => o,
            };
            record(store, &m, outcome, at, sending, &mut summary)?;
        }
    }
}

/// One line for the mails a pass deferred (an outage defers them all for
/// the same reason: one line per round, not one per mail).
fn finish(summary: PassSummary) -> PassSummary {
    if let Some(why) = &summary.deferred_because {
        tracing::warn!(mails = summary.deferred, reason = %why, "mail deferred; trying again with backoff");
    }
    summary
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
        // The caller has classified refusals; one left here is the mail's.
        Outcome::Permanent(error) | Outcome::Refused(error) => {
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
                tracing::debug!(%error, next = %crate::sla::format_utc(next), "mail deferred");
                summary.deferred_because.get_or_insert(error);
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
    fn refusals_that_are_the_servers_fault() {
        let internal = ["anna@smartstock.test".to_string()];
        let customer = ["jan@acme.test".to_string()];
        let table = [
            (
                "554 5.7.1 <jan@acme.test>: Recipient address rejected: Access denied",
                &customer,
                true,
            ),
            (
                "554 5.7.1 <jan@acme.test>: Relay access denied",
                &customer,
                true,
            ),
            (
                "550 5.1.1 <jan@acme.test>: Recipient address rejected: User unknown",
                &customer,
                false,
            ),
            ("552 5.2.2 mailbox full", &customer, false),
            ("552 5.3.4 message too big", &customer, false),
            ("550 5.6.0 content rejected", &customer, false),
            ("550 No such user here", &customer, false),
            ("554 Transaction failed", &customer, true),
            ("535 5.7.8 authentication failed", &customer, true),
            (
                "550 5.1.1 <anna@smartstock.test>: User unknown",
                &internal,
                true,
            ),
        ];
        for (reply, to, server) in table {
            assert_eq!(server_fault(reply, to, &internal), server, "{reply}");
        }
    }

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
