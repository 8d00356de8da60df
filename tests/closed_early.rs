//! Sockets the server shuts at once and socket caps, in every step that opens its own
//! sockets: the real binary against servers written here (one that closes every socket
//! with 1008 right after the upgrade, over ws and wss; one that answers HTTP 503 past
//! three sockets), and a `capacity` run's rungs in report.md. Loopback only; every run
//! is bounded.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[allow(dead_code)]
mod common;

use common::run::{report_folder, report_in, run_scenario, scratch, text};
use common::servers::serve_for;

/// Runs `yaml` with `extra` arguments (killed, failing the test, after two minutes);
/// returns the output and the report folder.
fn run(name: &str, yaml: &str, extra: &[&str]) -> (Output, PathBuf) {
    let (out, reports) = run_scenario(name, yaml, extra);
    (out, report_folder(&reports))
}

fn report_json(folder: &Path) -> serde_json::Value {
    report_in(folder)
}

fn step<'a>(rep: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    rep["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {}", rep["steps"]))
}

fn metric(rep: &serde_json::Value, name: &str, m: &str) -> f64 {
    step(rep, name)["metrics"][m]["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("step {name} has no metric {m}: {}", step(rep, name)))
}

fn failures(rep: &serde_json::Value, name: &str, cause: &str) -> u64 {
    step(rep, name)["failures"][cause].as_u64().unwrap_or(0)
}

fn assert_note(rep: &serde_json::Value, name: &str, needle: &str) {
    let notes = step(rep, name)["notes"].to_string();
    assert!(notes.contains(needle), "{name}: {notes}");
}

/// Runs `yaml` against a test server with `behaviour` (over wss with `tls`); the run
/// must end with exit 1 (thresholds failed) and a complete report, which is returned.
fn failed_run(name: &str, behaviour: Behaviour, tls: bool, yaml: &str) -> serde_json::Value {
    let acceptor = tls.then(|| tls_acceptor(&scratch(&format!("{name}-cert"))));
    let port = server(behaviour, acceptor);
    let url = format!("{}://127.0.0.1:{port}/", if tls { "wss" } else { "ws" });
    let mut args = vec!["--target", url.as_str()];
    if tls {
        args.push("--insecure");
    }
    let (out, folder) = run(name, yaml, &args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let rep = report_json(&folder);
    assert_eq!(rep["complete"], true, "{}", rep["interruption"]);
    assert_eq!(rep["verdict"], "fail");
    rep
}

/// How the test server treats each WebSocket it accepts.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Completes the upgrade, then closes with 1008 at once.
    Close1008,
    /// Echoes, with at most 3 sockets at a time; past that, HTTP 503 instead of the
    /// upgrade.
    Cap503,
    /// Echoes the first 3 sockets and never frees their slots (a socket leak): HTTP
    /// 503 for every socket after them.
    Leak503,
}

/// Serves `behaviour` on 127.0.0.1 (over TLS with `tls`) on a thread and runtime of its
/// own for 90 s; returns the port.
fn server(behaviour: Behaviour, tls: Option<tokio_rustls::TlsAcceptor>) -> u16 {
    let open = Arc::new(AtomicUsize::new(0));
    serve_for(Duration::from_secs(90), move |tcp| {
        let (tls, open) = (tls.clone(), open.clone());
        async move {
            match tls {
                None => serve(tcp, behaviour, open).await,
                Some(acceptor) => {
                    if let Ok(s) = acceptor.accept(tcp).await {
                        serve(s, behaviour, open).await;
                    }
                }
            }
        }
    })
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    behaviour: Behaviour,
    open: Arc<AtomicUsize>,
) {
    let admitted = match behaviour {
        Behaviour::Close1008 => true,
        // The slot is taken before any await, so clients connecting together count.
        Behaviour::Cap503 | Behaviour::Leak503 => open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < 3).then_some(n + 1)
            })
            .is_ok(),
    };
    if !admitted {
        common::servers::refuse_with_503(&mut stream).await;
        return;
    }
    if let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await {
        match behaviour {
            Behaviour::Close1008 => {
                let frame = CloseFrame {
                    code: CloseCode::Policy,
                    reason: "no more clients".into(),
                };
                let _ = ws.send(Message::Close(Some(frame))).await;
                // Until the client answers the close (bounded).
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while ws.next().await.is_some() {}
                })
                .await;
            }
            Behaviour::Cap503 | Behaviour::Leak503 => {
                while let Some(Ok(m)) = ws.next().await {
                    if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
    if matches!(behaviour, Behaviour::Cap503) {
        open.fetch_sub(1, Ordering::AcqRel);
    }
}

const CLOSED_1008: &str = "closed early (code 1008)";

#[test]
fn steps_opening_their_own_sockets_count_a_1008_close_on_connect_as_closed_early() {
    let rep = failed_run(
        "close1008",
        Behaviour::Close1008,
        false,
        "name: closed early\nsteps:\n\
         \x20 - churn: { cycles: 3, timeout: 2s }\n\
         \x20 - exhaust: { cap: 5, timeout: 1s, settle: 100ms }\n\
         \x20 - abrupt: { count: 2, timeout: 2s }\n\
         \x20 - frames: { sizes: [16, 200], fragments: 0, timeout: 2s }\n\
         \x20 - ping: { count: 3, interval: 10ms, timeout: 1s }\n\
         \x20 - capacity: { clients: 2, from: 50, to: 100, until: [\"loss > 0\"], rung: 1s }\n\
         thresholds: [\"churn.closed_early == 0\"]\n",
    );
    assert_eq!(rep["thresholds"][0]["passed"], false);

    // churn: every cycle's socket was shut before its echo: a failure, not a success.
    assert_eq!(metric(&rep, "churn", "closed_early"), 3.0);
    assert_eq!(metric(&rep, "churn", "succeeded"), 0.0);
    assert_eq!(metric(&rep, "churn", "failures"), 3.0);
    assert_eq!(metric(&rep, "churn", "first_failure"), 1.0);
    assert_eq!(failures(&rep, "churn", CLOSED_1008), 3);
    // Nothing left to close politely: not a "close not echoed".
    assert_eq!(metric(&rep, "churn", "close_not_echoed"), 0.0);

    // exhaust: the first client is shut at once (not a purge), and so is the recovery check.
    assert_eq!(metric(&rep, "exhaust", "closed_early"), 2.0);
    assert_eq!(metric(&rep, "exhaust", "purged"), 0.0);
    assert_eq!(metric(&rep, "exhaust", "limit"), 0.0);
    assert_eq!(metric(&rep, "exhaust", "recovered"), 0.0);
    assert_eq!(failures(&rep, "exhaust", CLOSED_1008), 2);

    // abrupt: the checks after each drop were shut at once, not served.
    assert_eq!(metric(&rep, "abrupt", "closed_early"), 2.0);
    assert_eq!(metric(&rep, "abrupt", "checks_ok"), 0.0);
    assert_eq!(
        failures(&rep, "abrupt", &format!("check: {CLOSED_1008}")),
        2
    );

    // frames: each size on a fresh socket, shut before its echo.
    assert_eq!(metric(&rep, "frames", "closed_early"), 2.0);
    assert_eq!(metric(&rep, "frames", "passed"), 0.0);
    assert_eq!(failures(&rep, "frames", &format!("16 B: {CLOSED_1008}")), 1);

    // ping on a socket of its own: shut at once, so no ping counted as sent.
    assert_eq!(metric(&rep, "ping", "closed_early"), 1.0);
    assert_eq!(metric(&rep, "ping", "sent"), 0.0);
    assert_eq!(step(&rep, "ping")["status"], "failed");

    // capacity: its clients were shut at once, so no rung could run.
    assert_eq!(metric(&rep, "capacity", "closed_early"), 2.0);
    assert_eq!(metric(&rep, "capacity", "rungs"), 0.0);
    assert_eq!(step(&rep, "capacity")["status"], "failed");

    for s in ["churn", "exhaust", "abrupt", "frames", "ping", "capacity"] {
        assert_note(
            &rep,
            s,
            "closed by the server right after opening (closed early (code 1008))",
        );
    }
}

/// A self-signed certificate for 127.0.0.1 made with `openssl`, as a TLS acceptor.
fn tls_acceptor(dir: &Path) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-subj",
            "/CN=esp32-ws-server",
        ])
        .current_dir(dir)
        .output()
        .expect("openssl must be installed to make the test certificate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cert = CertificateDer::pem_file_iter(dir.join("cert.pem"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("key.pem")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(cert, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[test]
fn tls_handshakes_the_server_shuts_at_once_are_closed_early_not_succeeded() {
    let rep = failed_run(
        "wss1008",
        Behaviour::Close1008,
        true,
        "name: wss closed early\nsteps:\n\
         \x20 - tls: { handshakes: 4, concurrency: 2, timeout: 5s }\n\
         thresholds: [\"tls.closed_early == 0\"]\n",
    );
    assert_eq!(metric(&rep, "tls", "closed_early"), 4.0);
    assert_eq!(metric(&rep, "tls", "succeeded"), 0.0);
    // They did open: `failed` is for the ones that could not.
    assert_eq!(metric(&rep, "tls", "failed"), 0.0);
    assert_eq!(failures(&rep, "tls", CLOSED_1008), 4);
    // The handshakes themselves were measured.
    assert_eq!(step(&rep, "tls")["distributions"]["tls"]["count"], 4);
}

#[test]
fn tls_handshakes_answered_503_past_a_socket_leak_fail_thresholds_not_the_run() {
    let rep = failed_run(
        "wss-leak503",
        Behaviour::Leak503,
        true,
        "name: wss leak\nsteps:\n\
         \x20 - tls: { handshakes: 5, concurrency: 1, timeout: 5s }\n\
         thresholds: [\"tls.failed == 0\"]\n",
    );
    let ok = metric(&rep, "tls", "succeeded");
    assert!((1.0..=3.0).contains(&ok), "{ok}");
    assert_eq!(metric(&rep, "tls", "failed"), 5.0 - ok);
    assert_eq!(failures(&rep, "tls", "http 503") as f64, 5.0 - ok);
    assert_eq!(metric(&rep, "tls", "closed_early"), 0.0);
    assert_note(&rep, "tls", "at its socket limit, not lost");
}

#[test]
fn a_server_answering_503_past_three_sockets_fails_thresholds_in_each_step_not_the_run() {
    // exhaust finds the cap; connect holds 3 of 5; churn then gets 503 on every cycle;
    // frames cannot even open its socket.
    let rep = failed_run(
        "cap503",
        Behaviour::Cap503,
        false,
        "name: cap 503\nsteps:\n\
         \x20 - exhaust: { cap: 10, timeout: 1s, settle: 50ms }\n\
         \x20 - connect: { clients: 5 }\n\
         \x20 - churn: { cycles: 3, timeout: 1s }\n\
         \x20 - frames: { sizes: [16], fragments: 0, timeout: 1s }\n\
         \x20 - echo: { rate: 20, duration: 500ms }\n\
         thresholds: [\"exhaust.limit >= 7\", \"churn.failures == 0\", \"echo.loss == 0\"]\n",
    );
    let passed: Vec<bool> = rep["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["passed"].as_bool().unwrap())
        .collect();
    assert_eq!(passed, [false, false, true]);

    assert_eq!(metric(&rep, "exhaust", "limit"), 3.0);
    assert_eq!(metric(&rep, "exhaust", "refused"), 1.0);
    assert_eq!(failures(&rep, "exhaust", "http 503"), 1);
    assert_eq!(metric(&rep, "exhaust", "recovered"), 1.0);

    assert_eq!(metric(&rep, "connect", "connected"), 3.0);
    assert_eq!(metric(&rep, "connect", "failed"), 2.0);

    assert_eq!(metric(&rep, "churn", "succeeded"), 0.0);
    assert_eq!(failures(&rep, "churn", "http 503"), 3);
    assert_eq!(metric(&rep, "churn", "closed_early"), 0.0);

    assert_eq!(failures(&rep, "frames", "http 503"), 1);
    assert_note(&rep, "frames", "not lost");
    // The clients connect kept were still served.
    assert_eq!(metric(&rep, "echo", "loss"), 0.0);
}

#[test]
fn a_leaking_server_that_answers_503_to_everyone_is_a_failed_run_not_a_lost_target() {
    // No client stays open to vouch for the server: its HTTP 503 answers do.
    let rep = failed_run(
        "leak503",
        Behaviour::Leak503,
        false,
        "name: leak\nsteps:\n\
         \x20 - churn: { cycles: 5, timeout: 1s }\n\
         \x20 - exhaust: { cap: 5, timeout: 1s, settle: 50ms }\n\
         \x20 - abrupt: { count: 1, timeout: 1s }\n\
         thresholds: [\"churn.failures == 0\", \"exhaust.recovered == 1\"]\n",
    );
    // The run's own check of the target before the steps may have taken a slot.
    let ok = metric(&rep, "churn", "succeeded");
    assert!((1.0..=3.0).contains(&ok), "{ok}");
    assert_eq!(metric(&rep, "churn", "first_failure"), ok + 1.0);
    assert_eq!(failures(&rep, "churn", "http 503") as f64, 5.0 - ok);
    assert_eq!(metric(&rep, "exhaust", "recovered"), 0.0);
    assert_eq!(failures(&rep, "abrupt", "http 503"), 1);
    for s in ["exhaust", "abrupt"] {
        assert_note(&rep, s, "at its socket limit, not lost");
    }
}

#[test]
fn report_md_lists_each_capacity_rung_of_report_json() {
    let (out, folder) = run(
        "capacity",
        "name: capacity rungs\nsteps:\n\
         \x20 - capacity: { clients: 2, from: 20, to: 80, until: [\"loss > 0.5\"], rung: 400ms, bisections: 0 }\n",
        &["--sim"],
    );
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "{}",
        text(&out)
    );
    let rep = report_json(&folder);
    let md = std::fs::read_to_string(folder.join("report.md")).unwrap();
    let rungs = step(&rep, "capacity")["rungs"].as_array().unwrap().clone();
    assert!(rungs.len() >= 2, "{rungs:?}");
    assert!(
        md.contains("| Rate offered | Achieved | p50 | p99 | Loss | Conditions |"),
        "{md}"
    );
    for r in &rungs {
        let rate = r["rate"].as_f64().unwrap();
        let row = md
            .lines()
            .find(|l| l.starts_with(&format!("| {} msg/s |", fmt_rate(rate))))
            .unwrap_or_else(|| panic!("no row for {rate} msg/s in:\n{md}"));
        let held = r["broke"].as_array().unwrap().is_empty();
        assert_eq!(row.ends_with("| held |"), held, "{row}");
    }
    let sustained = metric(&rep, "capacity", "sustained");
    assert!(
        md.contains(&format!("Sustained: {} msg/s", fmt_rate(sustained))),
        "{md}"
    );
}

/// A rate as report.md writes it: whole numbers without decimals.
fn fmt_rate(r: f64) -> String {
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}
