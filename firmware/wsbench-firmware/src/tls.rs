//! wss: MbedTLS (mbedtls-rs) server sessions over embassy-net sockets, with the
//! development certificate the simulated board and the CLI also use.

use alloc::ffi::CString;

use embassy_net::tcp::{Error, TcpReader, TcpSocket, TcpWriter};
use embedded_io_async::{ErrorType, Read, Write};
use mbedtls_rs::{Certificate, Credentials, PrivateKey, Split, X509};
use wsbench_device::certs::{DEV_CERT_PEM, DEV_KEY_PEM};

/// Why the TLS identity could not be loaded (the PEMs are compiled in, so this is a
/// build defect, reported once at boot and wss is then not served).
#[derive(Debug)]
pub enum IdentityError {
    /// A PEM holds a NUL byte, which MbedTLS cannot take.
    Nul,
    /// MbedTLS rejected the certificate or key.
    Parse,
}

/// The server's certificate and key, parsed once at boot and shared by every session.
pub fn dev_credentials() -> Result<Credentials<'static>, IdentityError> {
    let cert = CString::new(DEV_CERT_PEM).map_err(|_| IdentityError::Nul)?;
    let key = CString::new(DEV_KEY_PEM).map_err(|_| IdentityError::Nul)?;
    let certificate =
        Certificate::new(X509::PEM(cert.as_c_str())).map_err(|_| IdentityError::Parse)?;
    let private_key =
        PrivateKey::new(X509::PEM(key.as_c_str()), None).map_err(|_| IdentityError::Parse)?;
    Ok(Credentials {
        certificate,
        private_key,
    })
}

/// A TCP socket that MbedTLS can split into independent read and write halves, so the
/// device can read frames while broadcasts are written.
pub struct SplittableTcp<'a, 'b>(pub &'a mut TcpSocket<'b>);

impl ErrorType for SplittableTcp<'_, '_> {
    type Error = Error;
}

impl Read for SplittableTcp<'_, '_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        self.0.read(buf).await
    }
}

impl Write for SplittableTcp<'_, '_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Error> {
        self.0.write(buf).await
    }

    async fn flush(&mut self) -> Result<(), Error> {
        self.0.flush().await
    }
}

impl<'b> Split for SplittableTcp<'_, 'b> {
    type Read<'s>
        = TcpReader<'s>
    where
        Self: 's;
    type Write<'s>
        = TcpWriter<'s>
    where
        Self: 's;

    fn split(&mut self) -> (TcpReader<'_>, TcpWriter<'_>) {
        self.0.split()
    }
}
