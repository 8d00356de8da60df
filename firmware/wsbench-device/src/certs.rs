//! The development TLS identity, kept once in `firmware/certs/` (see its README): public
//! and for testing only. The firmware serves wss with it, the simulated board too, and
//! the CLI trusts the certificate by default.

/// Self-signed ECDSA P-256 certificate, SAN IP 192.168.4.1, IP 127.0.0.1, DNS localhost.
pub const DEV_CERT_PEM: &str = include_str!("../../certs/dev-cert.pem");
/// Its PKCS#8 private key. Published on purpose: it protects nothing.
pub const DEV_KEY_PEM: &str = include_str!("../../certs/dev-key.pem");
