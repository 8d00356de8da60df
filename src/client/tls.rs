//! The client's TLS settings: trust the bundled development certificate by default, a CA
//! file with `--ca`, or nothing at all with `--insecure` (recorded in the report).

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// What the client trusts, as the report states it.
#[derive(Debug, Clone)]
pub enum Trust {
    BundledDeviceCert,
    CaFile(std::path::PathBuf),
    Insecure,
}

impl Trust {
    pub fn describe(&self) -> String {
        match self {
            Trust::BundledDeviceCert => "bundled device certificate".into(),
            Trust::CaFile(p) => p.display().to_string(),
            Trust::Insecure => "none (--insecure: certificates not checked)".into(),
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the client configuration; the error names the file and what is wrong with it.
pub fn client_config(trust: &Trust) -> Result<Arc<ClientConfig>, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let config = match trust {
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert))
            .with_no_client_auth(),
        Trust::BundledDeviceCert => with_roots(
            builder,
            wsbench_device::certs::DEV_CERT_PEM.as_bytes(),
            Path::new("bundled"),
        )?,
        Trust::CaFile(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
            with_roots(builder, &pem, path)?
        }
    };
    Ok(Arc::new(config))
}

fn with_roots(
    builder: rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>,
    pem: &[u8],
    path: &Path,
) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| format!("{}: not a PEM certificate ({e})", path.display()))?;
        roots.add(cert).map_err(|e| {
            format!(
                "{}: certificate not usable as a trust anchor ({e})",
                path.display()
            )
        })?;
    }
    if roots.is_empty() {
        return Err(format!(
            "{}: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// `--insecure`: accepts any certificate, still checks the handshake signatures.
#[derive(Debug)]
struct AcceptAnyCert;

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
