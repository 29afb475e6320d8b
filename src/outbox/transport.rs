//! Where mail goes: an SMTP server ([`super::smtp`]) or `.eml` files in a
//! folder ([`super::dir`]), and what became of one attempt.

use std::path::PathBuf;

use lettre::Address;
use lettre::address::Envelope;

use super::smtp::{SmtpClient, SmtpSetupError};
use crate::config;
use crate::store::Outgoing;

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted; the server's answer.
    Sent(String),
    /// Try again later (4xx, network, TLS, timeout).
    Temporary(String),
    /// The mail cannot be built or addressed (a broken row).
    Permanent(String),
    /// The server answered 5xx: refused for good, unless the sender finds
    /// the server, not the mail, at fault ([`super::send::server_fault`]).
    Refused(String),
    /// Accepted for some recipients, refused for good for the others at
    /// RCPT (one transaction).
    Partial {
        /// The server's answer for the accepted ones.
        answer: String,
        /// The refused recipients.
        refused: Vec<String>,
        /// The server's words about them.
        error: String,
    },
}

/// Where mail goes.
#[derive(Clone)]
pub enum Transport {
    /// `.eml` files in a folder, written atomically (tmp + rename).
    Dir(PathBuf),
    /// An SMTP server (connections kept and reused).
    Smtp(std::sync::Arc<SmtpClient>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Dir(p) => write!(f, "dir {}", p.display()),
            Transport::Smtp(_) => f.write_str("smtp"),
        }
    }
}

/// Why a transport could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The SMTP client could not be set up.
    #[error(transparent)]
    Smtp(#[from] SmtpSetupError),
    /// The outbox folder cannot be created.
    #[error("cannot create the outbox folder {path}: {source}")]
    Dir {
        /// The folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl Transport {
    /// The transport the config names.
    pub fn from_config(
        t: &config::Transport,
        s: &config::Sending,
    ) -> Result<Transport, SetupError> {
        match t {
            config::Transport::Dir { path } => {
                std::fs::create_dir_all(path).map_err(|source| SetupError::Dir {
                    path: path.clone(),
                    source,
                })?;
                Ok(Transport::Dir(path.clone()))
            }
            config::Transport::Smtp { server } => Ok(Transport::Smtp(std::sync::Arc::new(
                SmtpClient::new(server, s.timeout, s.concurrency)?,
            ))),
        }
    }

    /// Sends one mail's bytes to its envelope.
    pub async fn send(&self, m: &Outgoing, bytes: &[u8]) -> Outcome {
        match self {
            Transport::Dir(dir) => {
                let dir = dir.clone();
                let name = super::dir::file_name(m.id);
                let mut file = format!("Return-Path: <{}>\r\n", m.envelope_from).into_bytes();
                file.extend_from_slice(bytes);
                match tokio::task::spawn_blocking(move || super::dir::write_new(&dir, &name, &file))
                    .await
                {
                    Ok(Ok(path)) => Outcome::Sent(format!("written to {}", path.display())),
                    Ok(Err(e)) => Outcome::Temporary(format!("cannot write the mail file: {e}")),
                    Err(e) => Outcome::Temporary(format!("writer task failed: {e}")),
                }
            }
            Transport::Smtp(smtp) => send_smtp(smtp, m, bytes).await,
        }
    }
}

/// One mail over SMTP, in one transaction whatever its recipients.
async fn send_smtp(smtp: &SmtpClient, m: &Outgoing, bytes: &[u8]) -> Outcome {
    let from = match m.envelope_from.parse::<Address>() {
        Ok(a) => a,
        Err(e) => return Outcome::Permanent(format!("envelope sender {:?}: {e}", m.envelope_from)),
    };
    let mut to = Vec::new();
    for r in &m.recipients {
        match r.parse::<Address>() {
            Ok(a) => to.push(a),
            Err(e) => return Outcome::Permanent(format!("recipient {r:?}: {e}")),
        }
    }
    let envelope = match Envelope::new(Some(from), to) {
        Ok(e) => e,
        Err(e) => return Outcome::Permanent(format!("envelope: {e}")),
    };
    match smtp.send(&envelope, bytes).await {
        Ok(d) => {
            let answer = format!(
                "{} {}",
                d.answer.code(),
                d.answer.message().collect::<Vec<_>>().join(" ")
            );
            if d.refused.is_empty() {
                return Outcome::Sent(answer);
            }
            let error = d
                .refused
                .iter()
                .map(|(a, e)| format!("{a}: {e}"))
                .collect::<Vec<_>>()
                .join("; ");
            Outcome::Partial {
                answer,
                refused: d.refused.iter().map(|(a, _)| a.to_string()).collect(),
                error,
            }
        }
        Err(e) if e.is_permanent() => Outcome::Refused(e.to_string()),
        Err(e) => Outcome::Temporary(e.to_string()),
    }
}
