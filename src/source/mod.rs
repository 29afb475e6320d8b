//! Where mail comes from. `files` reads .eml files, mbox files and Maildirs
//! (for `supportd import` and the Maildir source); `maildir` is the
//! daemon's Maildir source (new/ -> cur/ after step 1); `imap` the IMAP
//! source. Every source commits step 1 ([`crate::store::Store::store_raw`])
//! before it acknowledges a message to its mailbox.

pub mod files;
pub mod imap;
pub mod maildir;

pub use crate::mail::oversize::{TRUNCATED_HEADER, original_size, truncated};
