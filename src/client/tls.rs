//! The client's TLS settings: trust the bundled development certificate by default, a
//! PEM file with `--ca`, or nothing at all with `--insecure` (recorded in the report).
//!
//! A `--ca` file is used both ways people mean it: as trust anchors (a CA that signed
//! the server's certificate) and as pinned certificates (the server's own self-signed
//! certificate, e.g. made with `openssl req -x509`, which WebPKI refuses as a leaf
//! because it is marked as a CA, and which rarely names the IP address it is served
//! on). A pinned certificate is accepted only when the server presents exactly those
//! bytes; the handshake signatures are checked either way.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
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
    let certificate = match trust {
        Trust::Insecure => None,
        Trust::BundledDeviceCert => Some(CaOrPinned::from_pem(
            wsbench_device::certs::DEV_CERT_PEM.as_bytes(),
            "the bundled device certificate",
        )?),
        Trust::CaFile(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read --ca file {}: {e}", path.display()))?;
            Some(CaOrPinned::from_pem(&pem, &path.display().to_string())?)
        }
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ServerCheck {
            certificate,
            signatures: provider().signature_verification_algorithms,
        }))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A PEM file's certificates, both ways [`ServerCheck`] trusts a server with them: its
/// chain leads to one of them (WebPKI, name checked), or its certificate is byte for
/// byte one of them (pinned).
#[derive(Debug)]
struct CaOrPinned {
    /// Where the certificates came from, for messages.
    source: String,
    /// `None` when no certificate in the file can serve as a trust anchor.
    ca: Option<Arc<WebPkiServerVerifier>>,
    /// Why the file gives no trust anchor, when `ca` is `None`.
    ca_unusable: Option<String>,
    pinned: Vec<CertificateDer<'static>>,
}

impl CaOrPinned {
    fn from_pem(pem: &[u8], source: &str) -> Result<CaOrPinned, String> {
        let mut pinned = Vec::new();
        for cert in CertificateDer::pem_slice_iter(pem) {
            pinned.push(cert.map_err(|e| format!("{source}: not a PEM certificate ({e})"))?);
        }
        if pinned.is_empty() {
            return Err(format!(
                "{source}: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)"
            ));
        }
        let mut roots = RootCertStore::empty();
        let mut ca_unusable = None;
        for cert in &pinned {
            if let Err(e) = roots.add(cert.clone()) {
                ca_unusable = Some(format!("not usable as a trust anchor ({e})"));
            }
        }
        let ca = if roots.is_empty() {
            None
        } else {
            match WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider()).build() {
                Ok(v) => Some(v),
                Err(e) => {
                    ca_unusable = Some(e.to_string());
                    None
                }
            }
        };
        Ok(CaOrPinned {
            source: source.to_string(),
            ca,
            ca_unusable,
            pinned,
        })
    }
}

/// The first bytes of a certificate's SHA-256, enough to tell two apart in a message.
fn fingerprint(cert: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(cert)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A certificate error as a sentence (WebPKI's names are CamelCase identifiers).
fn explain(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => "not signed by it".into(),
            C::Other(o) if o.to_string().contains("CaUsedAsEndEntity") => {
                "the server presented a CA certificate as its own".into()
            }
            C::Other(o) => o.to_string(),
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "the certificate does not name this host or IP address".into()
            }
            C::Expired | C::ExpiredContext { .. } => "the certificate has expired".into(),
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "the certificate is not valid yet (check the clock)".into()
            }
            C::BadSignature => "bad signature".into(),
            other => format!("{other:?}"),
        },
        other => other.to_string(),
    }
}

/// Why a server certificate was refused by a [`CaOrPinned`] file.
#[derive(Debug)]
struct NotTrusted(String);

impl std::fmt::Display for NotTrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotTrusted {}

/// The server check of every client configuration: the certificate against a `--ca`
/// file or the bundled certificate, or not at all with `--insecure`; the handshake
/// signatures either way.
#[derive(Debug)]
struct ServerCheck {
    /// `None` with `--insecure`: any certificate is accepted.
    certificate: Option<CaOrPinned>,
    /// The provider's, for the handshake signatures.
    signatures: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ServerCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(trusted) = &self.certificate else {
            return Ok(ServerCertVerified::assertion());
        };
        let as_ca = match &trusted.ca {
            Some(ca) => {
                match ca.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
                    Ok(ok) => return Ok(ok),
                    Err(e) => explain(&e),
                }
            }
            None => trusted
                .ca_unusable
                .clone()
                .unwrap_or_else(|| "no trust anchor in it".into()),
        };
        if trusted
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            return Ok(ServerCertVerified::assertion());
        }
        let pinned: Vec<String> = trusted.pinned.iter().map(|p| fingerprint(p)).collect();
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::Other(rustls::OtherError(Arc::new(NotTrusted(format!(
                "tried {} as a CA (trust anchor): {as_ca}; and as the pinned server certificate: \
                 the server's certificate (sha256 {}) is not {} (sha256 {})",
                trusted.source,
                fingerprint(end_entity),
                if pinned.len() == 1 {
                    "the one in it"
                } else {
                    "any in it"
                },
                pinned.join(", ")
            ))))),
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.signatures)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.signatures)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.signatures.supported_schemes()
    }
}
