//! Integration tests: the `supportd` binary driven as a user drives it.
//!
//! Modules:
//! - `util`: running the binary, temp folders;
//! - `attacks`: a stranger's worst mail (forged commands, spam through
//!   support@, forged bounces, injection, floods, poison, private files);
//! - `desk_week`: a scripted week at the desk read as a threading client
//!   reads it (one thread per ticket, one customer mail per consultant
//!   mail, notes never leaked, originals inline, `tickets show`);
//! - `faults`: the database deleted, replaced or damaged, one instance per
//!   file, growing Maildir files, held mail, a refusing relay, a cut move;
//! - `fixtures`: the golden .eml corpus under `fixtures/eml`;
//! - `hostile`: bad input never panics and always gives a result;
//! - `import`: `supportd import` and `tickets` with mail files;
//! - `inspect_cli`: `supportd inspect` with files, stdin and `--db`;
//! - `mail_io`: real Dovecot and Postfix (IMAP, SMTP, bounces, kill -9);
//! - `mailserver`: the test harness that starts them on loopback ports;
//! - `participants`: who is on a ticket, `#remove`, the participant cap;
//! - `privacy`: metrics, retention, data-subject export and erasure;
//! - `real_mail`: mail in the shapes real servers write it (line endings,
//!   not-mail, delivery and feedback reports, Maildir++, mbox), and a
//!   property test over any bytes;
//! - `report`: `supportd report sla` by hand over Easter and Christmas,
//!   against an independent recomputation, and its HTML page in headless
//!   Chromium;
//! - `scheduler`: the SLA scheduler by time travel (`run --once --now`);
//! - `service`: the daemon as systemd runs it (signals, notify socket,
//!   lock, backups, check-config, the unit file);
//! - `sla_cli`: `supportd sla …` and `check-config` as a user sees them;
//! - `sla_oracle`: deadlines and working time against an independent Python
//!   oracle (`tests/oracle/sla_oracle.py`).

mod attacks;
mod desk_week;
mod faults;
mod fixtures;
mod hostile;
mod import;
mod inspect_cli;
mod mail_io;
mod mailserver;
mod participants;
mod privacy;
mod real_mail;
mod report;
mod scheduler;
mod service;
mod sla_cli;
mod sla_oracle;
mod util;
