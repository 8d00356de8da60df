//! The wss acceptor: rustls serving the bundled development certificate, the same
//! identity the firmware carries (kept once, in the device crate).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use wsbench_device::certs::{DEV_CERT_PEM, DEV_KEY_PEM};

use super::error::SimError;

/// Builds the acceptor once per board; every wss connection shares it.
pub fn dev_acceptor() -> Result<TlsAcceptor, SimError> {
    let certs = CertificateDer::pem_slice_iter(DEV_CERT_PEM.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SimError::Tls(format!("bundled certificate does not parse: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(DEV_KEY_PEM.as_bytes())
        .map_err(|e| SimError::Tls(format!("bundled key does not parse: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SimError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| SimError::Tls(format!("bundled certificate and key do not match: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn bundled_certificate_and_key_make_an_acceptor() {
        super::dev_acceptor().unwrap();
    }
}
