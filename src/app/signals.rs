//! Signals: SIGTERM and SIGINT stop the daemon, SIGHUP reloads its config.

use std::path::Path;
use std::sync::Arc;

use super::systemd::notify;
use super::{Ctx, current};
use crate::runtime::Runtime;
use crate::store::Store;

/// The daemon's signal handlers, installed.
pub struct Handlers {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

/// Installs the handlers at once (inside the runtime): before the daemon
/// says it is running, so a SIGHUP sent right after that line reloads
/// instead of ending the process (the default action of a signal nobody
/// handles yet).
pub fn install() -> std::io::Result<Handlers> {
    use tokio::signal::unix::{SignalKind, signal};
    Ok(Handlers {
        term: signal(SignalKind::terminate())?,
        int: signal(SignalKind::interrupt())?,
        hup: signal(SignalKind::hangup())?,
    })
}

/// SIGTERM/SIGINT stop the daemon; SIGHUP reloads the config.
pub async fn signals(ctx: Arc<Ctx>, handlers: Handlers) {
    let Handlers {
        mut term,
        mut int,
        mut hup,
    } = handlers;
    loop {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = int.recv() => tracing::info!("SIGINT: stopping"),
            _ = hup.recv() => {
                notify(&[sd_notify::NotifyState::Reloading]);
                let c = Arc::clone(&ctx);
                match tokio::task::spawn_blocking(move || reload(&c.shared, &c.db)).await {
                    Ok(Ok(kept)) => {
                        for section in &kept {
                            tracing::warn!(section = %section, "SIGHUP: {section} changed; it takes effect after a restart, the running values stay");
                        }
                        tracing::info!("SIGHUP: configuration reloaded");
                    }
                    Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"), "SIGHUP: the new configuration is not usable; the running one stays"),
                    Err(e) => tracing::error!(error = %e, "SIGHUP: reload failed; the running configuration stays"),
                }
                notify(&[sd_notify::NotifyState::Ready]);
                ctx.wake.all();
                continue;
            }
        }
        notify(&[sd_notify::NotifyState::Stopping]);
        ctx.shutdown.cancel();
        return;
    }
}

/// Reloads the config file: consultants, templates, calendar, SLA targets,
/// follow-ups, limits and retention take effect at the workers' next pass.
/// The source, the transport, the database and the metrics listener stay as
/// they are until a restart; the sections whose change waits for it are
/// returned.
fn reload(shared: &super::Shared, db: &Path) -> anyhow::Result<Vec<&'static str>> {
    let old = current(shared);
    let path = old.config.path.clone().ok_or_else(|| {
        anyhow::anyhow!("the daemon runs on the built-in configuration; there is no file to reload")
    })?;
    let mut new = crate::config::Config::load(&path)?;
    let was = &old.config;
    let mut kept = Vec::new();
    if new.source != was.source || new.source_limits != was.source_limits {
        kept.push("[source]");
        new.source = was.source.clone();
        new.source_limits = was.source_limits;
    }
    if new.transport != was.transport || new.sending != was.sending {
        kept.push("[transport]");
        new.transport = was.transport.clone();
        new.sending = was.sending;
    }
    if new.store != was.store {
        kept.push("[store]");
        new.store = was.store.clone();
    }
    if new.metrics_listen != was.metrics_listen {
        kept.push("[metrics]");
        new.metrics_listen = was.metrics_listen;
    }
    let mut store = Store::open(db)?;
    let runtime = Runtime::load(new, &mut store)?;
    match shared.write() {
        Ok(mut rt) => *rt = Arc::new(runtime),
        Err(poisoned) => *poisoned.into_inner() = Arc::new(runtime),
    }
    Ok(kept)
}
