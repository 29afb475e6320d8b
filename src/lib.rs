//! supportd: an email-driven support ticketing daemon for the Smartstock
//! support contract (`contract.md`; `design.md` maps each clause to a
//! behaviour).
//!
//! # Layout
//!
//! Pure core (no I/O, no clock reads; `now` is an argument):
//! - [`sla`]: working time on the business calendar, Polish holidays, SLA
//!   deadlines and their explanations;
//! - [`mail`]: one raw message -> its analysis (kind, thread, trimmed text,
//!   report fields, occurrence time, severity, language, consultant tags);
//! - [`ticket`]: the ticket lifecycle, `(ticket, input) -> (ticket, effects)`,
//!   and where a message goes;
//! - [`lang`]: the languages we write in.
//!
//! Edges:
//! - [`config`]: the TOML file, parsed and validated in two stages;
//! - [`store`]: SQLite, the only code that writes SQL;
//! - [`ingest`]: step 2, an analysed message applied to its ticket;
//! - [`scheduler`]: fires due SLA timers (the decisions are
//!   [`ticket::schedule`]'s);
//! - [`source`], [`outbox`]: the mailbox in (IMAP, Maildir) and mail out
//!   (SMTP, .eml files);
//! - [`app`]: `supportd run`, the workers under one shutdown token, signals
//!   (stop, reload), systemd notify and watchdog, the metrics endpoint;
//! - [`health`]: each worker's progress and the mailbox's health;
//! - [`metrics`]: the Prometheus text from one read of the store;
//! - [`cli`]: the command implementations `main` calls, over generic readers
//!   and writers so they are tested without a process.
//!
//! `src/main.rs` only parses arguments, calls into [`cli`] and maps results to
//! exit codes.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(rust_2018_idioms)]

pub mod app;
pub mod cli;
pub mod config;
pub mod health;
pub mod ingest;
pub mod lang;
pub mod mail;
pub mod metrics;
pub mod outbox;
pub mod runtime;
pub mod scheduler;
pub mod sla;
pub mod source;
pub mod store;
pub mod templates;
pub mod ticket;
pub mod tls;
