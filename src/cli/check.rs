//! `supportd check-config [--online]`: everything that can be wrong with a
//! config, found before the daemon starts. The file itself (TOML, keys,
//! addresses, time zone, hours, closed days, limits) is checked by
//! [`Config::load`]; this adds what needs the world: template overrides,
//! credentials, writable state paths, CA files, and with `--online` a login
//! to the IMAP and SMTP servers. One line per problem.

use std::path::{Path, PathBuf};

use crate::config::{self, Config, Source, Transport};

/// What the checks found: lines for stdout (what is fine) and problems.
#[derive(Debug, Default)]
pub struct Report {
    /// What was checked and is fine.
    pub ok: Vec<String>,
    /// One line per problem.
    pub problems: Vec<String>,
}

/// Checks a loaded config; `online` also logs in to the mail servers.
pub fn check(cfg: &Config, online: bool) -> Report {
    let mut r = Report::default();
    if let Err(e) = crate::templates::Templates::load(cfg.support.templates_dir.as_deref()) {
        r.problems.push(format!("{e}"));
    }
    let secrets = [
        source_server(cfg).and_then(|s| s.password.as_ref()),
        transport_server(cfg).and_then(|s| s.password.as_ref()),
        cfg.consultants.token_key.as_ref(),
    ];
    for secret in secrets.into_iter().flatten() {
        if let Err(e) = secret.load() {
            r.problems.push(chain(&e));
        }
    }
    for (what, ca) in [
        (
            "source.ca-file",
            source_server(cfg).and_then(|s| s.ca_file.as_deref()),
        ),
        (
            "transport.ca-file",
            transport_server(cfg).and_then(|s| s.ca_file.as_deref()),
        ),
    ] {
        if let Some(ca) = ca
            && let Err(e) = crate::tls::client_config(Some(ca), what)
        {
            r.problems.push(format!("{e:#}"));
        }
    }
    let mut dirs: Vec<(&str, PathBuf)> = vec![(
        "[store] path",
        cfg.store
            .path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    )];
    if let Source::Maildir { path } = &cfg.source {
        dirs.push(("[source] maildir", path.clone()));
    }
    if let Transport::Dir { path } = &cfg.transport {
        dirs.push(("[transport] dir", path.clone()));
    }
    for (what, dir) in dirs {
        if let Err(e) = writable(&dir) {
            r.problems.push(format!("{what}: {e}"));
        }
    }
    if cfg.store.path.is_file()
        && let Err(e) = std::fs::OpenOptions::new()
            .write(true)
            .open(&cfg.store.path)
    {
        r.problems.push(format!(
            "[store] path {}: cannot write: {e}",
            cfg.store.path.display()
        ));
    }
    if online {
        online_checks(cfg, &mut r);
    }
    // A bad credential is found offline and again by the login attempt.
    let mut seen = std::collections::HashSet::new();
    r.problems.retain(|p| seen.insert(p.clone()));
    r
}

/// An error with its causes, "what: why: why".
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

fn source_server(cfg: &Config) -> Option<&config::Server> {
    match &cfg.source {
        Source::Imap { server, .. } => Some(server),
        Source::Maildir { .. } => None,
    }
}

fn transport_server(cfg: &Config) -> Option<&config::Server> {
    match &cfg.transport {
        Transport::Smtp { server } => Some(server),
        Transport::Dir { .. } => None,
    }
}

/// Whether files can be created in `dir`, or in the nearest existing folder
/// above it when it does not exist yet (supportd creates it).
fn writable(dir: &Path) -> Result<(), String> {
    let mut existing = dir;
    while !existing.exists() {
        existing = match existing.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
    }
    if !existing.is_dir() {
        return Err(format!("{} is not a folder", existing.display()));
    }
    let probe = existing.join(format!(".supportd-check-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) if existing == dir => Err(format!("cannot write into {}: {e}", dir.display())),
        Err(e) => Err(format!(
            "{} does not exist and cannot be created in {}: {e}",
            dir.display(),
            existing.display()
        )),
    }
}

fn online_checks(cfg: &Config, r: &mut Report) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            r.problems
                .push(format!("cannot start the async runtime: {e}"));
            return;
        }
    };
    if let Some(imap) = crate::source::imap::Imap::from_config(cfg) {
        match rt.block_on(imap.check()) {
            Ok(line) => r.ok.push(line),
            Err(e) => r.problems.push(format!("[source] {e:#}")),
        }
    }
    if let Some(server) = transport_server(cfg) {
        let client = crate::outbox::smtp::SmtpClient::new(
            server,
            cfg.sending.timeout,
            cfg.sending.concurrency,
        );
        match client {
            Ok(c) => match rt.block_on(c.check()) {
                Ok(line) => {
                    r.ok.push(line);
                    probe_recipients(cfg, &c, &rt, r);
                }
                Err(e) => r.problems.push(format!("[transport] {}", chain(&e))),
            },
            Err(e) => r.problems.push(chain(&e)),
        }
    }
}

/// Asks the SMTP server whether it takes mail from the support address to
/// a consultant and to the support address (MAIL FROM, RCPT TO, RSET):
/// a relay that refuses recipients is found before the daemon starts.
fn probe_recipients(
    cfg: &Config,
    c: &crate::outbox::smtp::SmtpClient,
    rt: &tokio::runtime::Runtime,
    r: &mut Report,
) {
    let parse = |a: &str| a.parse::<lettre::Address>().ok();
    let Some(from) = parse(&cfg.support.address) else {
        return;
    };
    let to: Vec<lettre::Address> = cfg
        .consultants
        .addresses
        .first()
        .into_iter()
        .chain(std::iter::once(&cfg.support.address))
        .filter_map(|a| parse(a))
        .collect();
    match rt.block_on(c.probe(&from, &to)) {
        Ok(refused) if refused.is_empty() => r.ok.push(format!(
            "SMTP takes mail from {from} to {} (MAIL FROM and RCPT TO tried, nothing sent)",
            to.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(" and ")
        )),
        Ok(refused) => {
            for (a, e) in refused {
                r.problems.push(format!(
                    "[transport] the server refuses mail from {from} to {a}: {e}; supportd's mail would not go out (check the relay's recipient and sender restrictions)"
                ));
            }
        }
        Err(e) => r
            .problems
            .push(format!("[transport] MAIL FROM {from}: {}", chain(&e))),
    }
}

/// Validate the config file and what it names; exit 78 on any problem.
///
/// One line per problem, with file:line:column for mistakes in the file.
/// Besides the file itself it checks template overrides, that passwords
/// and the token key can be read, that the state folders (database,
/// Maildir, outbox) are writable or can be created, and CA files. With
/// --online it also logs in to the IMAP and SMTP servers (no mail is
/// sent, nothing in the mailbox changes).
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Also log in to the IMAP and SMTP servers.
    #[arg(long)]
    pub online: bool,
}

/// Checks the config; exit 78 with one line per problem.
pub fn run(g: &super::Global, args: &Args) -> super::Outcome {
    use std::io::Write;
    let path = g
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
    let mut cfg = Config::load(&path).map_err(|e| super::Failure {
        code: super::EXIT_CONFIG,
        error: anyhow::Error::new(e)
            .context(format!("check-config: {} is not usable", path.display())),
    })?;
    if let Some(db) = &g.db {
        cfg.store.path = db.clone();
    }
    let shown = cfg.path.clone().unwrap_or(path);
    let report = check(&cfg, args.online);
    let mut err = std::io::stderr().lock();
    for p in &report.problems {
        writeln!(err, "{}: {p}", shown.display())?;
    }
    let mut out = std::io::stdout().lock();
    for line in &report.ok {
        writeln!(out, "{line}")?;
    }
    if report.problems.is_empty() {
        writeln!(out, "{}: ok", shown.display())?;
        Ok(std::process::ExitCode::SUCCESS)
    } else {
        Ok(std::process::ExitCode::from(super::EXIT_CONFIG))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writable_walks_up_to_an_existing_folder() {
        let base = std::env::temp_dir().join(format!("supportd-check-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        assert_eq!(writable(&base), Ok(()));
        assert_eq!(writable(&base.join("a/b/c")), Ok(()));
        let file = base.join("f");
        std::fs::write(&file, "x").unwrap();
        let e = writable(&file.join("sub")).unwrap_err();
        assert!(e.contains("is not a folder"), "{e}");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
