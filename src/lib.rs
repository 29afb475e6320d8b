//! supportd: an email-driven support ticketing daemon for the Smartstock
//! support contract (`contract.md`; `design.md` maps each clause to a
//! behaviour).
//!
//! # Layout
//!
//! Every arrow points down: a module imports only modules below it.
//!
//! Pure core (no I/O, no clock reads; `now` is an argument):
//! - [`lang`]: the languages we write in;
//! - [`sla`]: working time on the business calendar, Polish holidays, SLA
//!   deadlines and their explanations;
//! - [`mail`]: one raw message -> its analysis (kind, thread keys, trimmed
//!   text, report fields, occurrence time, severity, language, consultant
//!   commands, a customer's message a consultant forwarded or `#open`ed);
//! - [`templates`]: the mails' texts, EN and PL, overridable;
//! - [`ticket`]: what happens, decided: the lifecycle
//!   ([`ticket::lifecycle`]), what one message does ([`ticket::decide`]),
//!   what a due timer does ([`ticket::schedule`]), the typed vocabulary
//!   ([`ticket::Event`], [`ticket::timer::Step`], [`mail::tags::Command`])
//!   and the one place that composes every mail ([`ticket::compose`]);
//! - [`report`]: whether the contract was kept: the SLA compliance report
//!   of a range of dates and its text, CSV, JSON and HTML forms.
//!
//! Edges, each above the core:
//! - [`config`]: the TOML file, parsed and validated in two stages;
//! - [`store`]: SQLite, the only code that writes SQL;
//! - [`source`], [`outbox`]: the mailbox in (IMAP, Maildir) and mail out
//!   (SMTP, .eml files); the outbox only sends;
//! - [`ingest`]: step 2 as a pipeline, **read → decide → write**, the
//!   analysis on every core and one writer committing in order;
//! - [`scheduler`]: due SLA timers, read → decide → write;
//! - [`runtime`]: what commands and the daemon run on (policy, token key,
//!   templates) and the settings borrowed from it;
//! - [`health`], [`metrics`]: each worker's progress; the Prometheus text;
//! - [`app`]: `supportd run`, the workers under one shutdown token and one
//!   wake mechanism, signals, systemd notify and watchdog, the metrics
//!   endpoint;
//! - [`cli`]: one module per command, `cli::<command>::run`.
//!
//! `src/main.rs` only parses arguments and dispatches to [`cli`].

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
pub mod private;
pub mod report;
pub mod runtime;
pub mod scheduler;
pub mod sla;
pub mod source;
pub mod store;
pub mod templates;
pub mod ticket;
pub mod tls;
