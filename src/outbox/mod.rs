//! Outgoing mail as rows of the transactional outbox. [`compose`] turns
//! one lifecycle effect into finished mails (pure: templates, addresses and
//! keys are arguments); the store writes them in the same transaction as the
//! change that caused them; the sender (mail I/O work) delivers them.
//!
//! Our markers (design.md "Outbound mail"): `X-Loop: <support address>`;
//! Message-ID `<SS-N.<outbox id>.<mac>@<support domain>>` (filled in by the
//! store once the row has its id); a body footer `[SS-N:<mac>]`; envelope
//! sender `support+bounce-<outbox id>@<support domain>`; subjects
//! `Re: [SS-N] <subject>`; `Auto-Submitted: auto-replied` on automatic mail
//! only, never on a consultant's relayed words. Mail to one consultant
//! carries that consultant's token in its Message-ID and in Reply-To
//! (`support+SS-N.<mac>@`), so that their reply is authenticated.

pub mod compose;
pub mod render;
pub mod send;
pub mod smtp;

/// Internal header (never sent) saying what to attach from
/// `attach_message`: `message` (the original as message/rfc822, the
/// default) or `attachments` (only its attachments: a consultant's relay).
pub const ATTACH_HEADER: &str = "X-Supportd-Attach";

pub use compose::{Audience, Composer, Mail};
