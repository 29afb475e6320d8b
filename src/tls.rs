//! TLS client settings shared by the IMAP source and the SMTP sender:
//! rustls with the ring provider, trusting either a configured CA file or
//! the system's roots.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio_rustls::rustls::pki_types::{CertificateDer, pem::PemObject};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// A client config trusting `ca_file` (PEM, one or more certificates), or
/// the system roots when there is none. `key` names the config key in
/// error messages.
pub fn client_config(ca_file: Option<&Path>, key: &str) -> anyhow::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("{key} {}: cannot read", path.display()))?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.with_context(|| format!("{key} {}: not PEM", path.display()))?;
                roots
                    .add(cert)
                    .with_context(|| format!("{key} {}", path.display()))?;
            }
            if roots.is_empty() {
                bail!("{key} {}: no certificate in it", path.display());
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                roots.add(cert).ok();
            }
            if roots.is_empty() {
                bail!("no system CA certificates found (install ca-certificates, or set {key})");
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}
