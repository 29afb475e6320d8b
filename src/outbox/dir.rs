//! The dir transport: each mail as an `.eml` file in a folder (the
//! embedded default; no mail server needed).

/// The file name of outbox row `id`.
pub fn file_name(id: i64) -> String {
    format!("{id:06}.eml")
}

pub use crate::private::write_new;
