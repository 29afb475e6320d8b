//! Step 2's read: everything a message's decision needs from the store, in
//! one place before the pure [`crate::ticket::decide`]: the ticket it names,
//! our mail a report names, the next ticket number, and (when mail is
//! queued) the rate-limit counts of everyone it may write to.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use crate::mail::{Analysis, classify::Kind};
use crate::store::{self, Store};
use crate::ticket::decide::Known;
use crate::ticket::limits::Recent;

/// The hour the rate limits count.
const LIMIT_WINDOW: Duration = Duration::hours(1);
/// Internal notes a consultant notification shows (the latest ones).
const NOTES_SHOWN: usize = 3;

/// What the store knows that `a`'s decision needs.
pub fn known(
    store: &Store,
    a: &Analysis,
    first_number: u64,
    sending: Option<&[String]>,
    now: DateTime<Utc>,
) -> store::Result<Known> {
    let named_mail = match a.kind {
        Kind::Bounce => store.find_mail(
            a.report.bounced_outbox_id,
            a.report.bounced_message_id.as_deref(),
        )?,
        // A feedback report belongs to the ticket of the mail it reports.
        Kind::Feedback => store.find_mail(None, a.report.reported_message_id.as_deref())?,
        _ => None,
    };
    let ticket = match a.ticket.or(named_mail.and_then(|(_, t)| t)) {
        Some(n) => store.ticket(n)?,
        None => None,
    };
    // With sending on (`Some(consultants)`): the rate-limit counts.
    let (mut held_on_ticket, mut recent, mut held_for) = (0, Recent::default(), HashMap::new());
    let mut notes = Vec::new();
    if let Some(consultants) = sending {
        if let Some(t) = &ticket {
            held_on_ticket = store.held_mails(t.number)?;
            notes = store.notes(t.number, NOTES_SHOWN)?;
        }
        // Everyone an automatic mail of this decision may go to.
        let candidates = ticket
            .iter()
            .flat_map(|t| t.participants.iter())
            .chain(std::iter::once(&a.requester.address))
            .chain(&a.copied);
        recent = store.recent_automatic(candidates, now - LIMIT_WINDOW)?;
        for c in consultants {
            let sent = store.automatic_to(c, now - LIMIT_WINDOW)?;
            recent.by_address.insert(c.clone(), sent);
            let n = store.held_for_consultant(c)?;
            if n > 0 {
                held_for.insert(c.clone(), n);
            }
        }
    }
    Ok(Known {
        ticket,
        next_number: store.next_ticket_number(first_number)?,
        named_mail,
        held_on_ticket,
        recent,
        held_for,
        notes,
    })
}

/// The rate-limit counts for one address (a sender told their message was
/// too large).
pub fn recent_for(store: &Store, address: &String, now: DateTime<Utc>) -> store::Result<Recent> {
    store.recent_automatic(std::iter::once(address), now - LIMIT_WINDOW)
}
