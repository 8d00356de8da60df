//! `--ca` with the certificates people have, against a wss server that is not ours
//! (tokio-rustls + tokio-tungstenite in this test, certificates made with `openssl` in
//! the test): a self-signed certificate from `openssl req -x509` pinned as the server's,
//! a CA that signed the server's certificate, and an unrelated certificate that must
//! fail with a message saying what was tried. Loopback only.

#[allow(dead_code)]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use common::run::{output_within, scenario_file, scratch, text, wsbench};
use common::servers::{echo_after, serve_for};

const SCENARIO: &str = "name: wss-foreign\nsteps:\n  - connect: { clients: 2 }\n  - echo: { rate: 20, duration: 500ms, size: 32 }\nthresholds: [\"connect.failed == 0\", \"echo.loss == 0\"]\n";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed to make the test certificates");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const EC: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];

/// `openssl req -x509`: a self-signed certificate as people make one for a device,
/// naming no IP address (it would not pass WebPKI for 127.0.0.1).
fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (format!("{name}.pem"), format!("{name}.key"));
    let mut args = vec!["req", "-x509"];
    args.extend(EC);
    args.extend([
        "-nodes",
        "-keyout",
        &key,
        "-out",
        &cert,
        "-days",
        "2",
        "-subj",
        "/CN=esp32-ws-server",
    ]);
    openssl(dir, &args);
    (dir.join(cert), dir.join(key))
}

/// A CA and a server certificate it signed for IP 127.0.0.1.
fn ca_and_leaf(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let mut ca = vec!["req", "-x509"];
    ca.extend(EC);
    ca.extend([
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Test CA",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(EC);
    csr.extend([
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ],
    );
    (
        dir.join("ca.pem"),
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
    )
}

/// A wss echo server on 127.0.0.1 serving `cert` (a PEM chain) with `key`; it lives
/// at most a minute.
fn wss_echo_server(cert: &Path, key: &Path) -> u16 {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    serve_for(Duration::from_secs(60), move |tcp| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            if let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await {
                echo_after(&mut ws, Duration::ZERO).await;
            }
        }
    })
}

fn run(dir: &Path, port: u16, ca: &Path) -> (Output, serde_json::Value) {
    let file = scenario_file(dir, SCENARIO);
    let reports = dir.join("reports");
    let mut command = wsbench(&[
        "run",
        file.to_str().unwrap(),
        "--json",
        "--connect-timeout",
        "5s",
    ]);
    command
        .args(["--target", &format!("wss://127.0.0.1:{port}/ws")])
        .args(["--ca", ca.to_str().unwrap()])
        .args(["--report-dir", reports.to_str().unwrap()]);
    let out = output_within(&mut command, Duration::from_secs(120));
    let summary = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, summary)
}

#[test]
fn a_self_signed_certificate_from_openssl_is_pinned() {
    let dir = scratch("pinned");
    let (cert, key) = self_signed(&dir, "server");
    let port = wss_echo_server(&cert, &key);
    let (out, summary) = run(&dir, port, &cert);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["verdict"], "pass", "{}", text(&out));
}

#[test]
fn a_ca_that_signed_the_server_certificate_is_a_trust_anchor() {
    let dir = scratch("anchor");
    let (ca, leaf, key) = ca_and_leaf(&dir);
    let port = wss_echo_server(&leaf, &key);
    let (out, summary) = run(&dir, port, &ca);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["verdict"], "pass");
}

#[test]
fn an_unrelated_certificate_fails_saying_what_was_tried() {
    let dir = scratch("unrelated");
    let (cert, key) = self_signed(&dir, "server");
    let (other, _) = self_signed(&dir, "other");
    let port = wss_echo_server(&cert, &key);
    let (out, summary) = run(&dir, port, &other);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    assert_eq!(summary["started"], false, "{t}");
    for expected in [
        "certificate not trusted",
        "as a CA (trust anchor)",
        "as the pinned server certificate",
        other.to_str().unwrap(),
        "wsbench::run::unreachable",
    ] {
        assert!(t.contains(expected), "`{expected}` missing from:\n{t}");
    }
    // The help must not suggest the flag that was given as if it were missing.
    assert!(!t.contains("give --ca"), "{t}");
}
