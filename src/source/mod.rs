//! Where mail comes from. `files` reads .eml files, mbox files and Maildirs
//! (for `supportd import` and the Maildir source); the IMAP source joins it
//! with the mail I/O work.

pub mod files;
