//! Sending: the outbox only sends what the decisions queued. One pass over
//! the due mail ([`send`]), the transports ([`transport`]: [`smtp`] or
//! [`dir`]) and each row as RFC 5322 bytes ([`render`]). What a mail says
//! and whom it goes to is decided in [`crate::ticket::compose`].

pub mod dir;
pub mod render;
pub mod send;
pub mod smtp;
pub mod transport;

pub use transport::{Outcome, SetupError, Transport};
