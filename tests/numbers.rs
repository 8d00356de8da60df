//! Honest numbers under stress: the real binary against servers written here (each with
//! a known misbehaviour) and the simulated board. Loopback only; every run is bounded.

#[allow(dead_code)]
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncReadExt;

use common::run::{
    report, run_scenario, run_stopped, scenario_file, scratch, scratch_path, signal, text,
    wait_within, wsbench,
};
use common::servers::{echo_server, serve_for, ws_serve_for};

/// How long each test's server serves.
const SERVE: Duration = Duration::from_secs(90);

/// Runs `yaml` with `extra` arguments, killing wsbench if it has not ended within two
/// minutes (then the test fails); returns its output and the report.
fn run(name: &str, yaml: &str, extra: &[&str]) -> (Output, serde_json::Value) {
    let (out, reports) = run_scenario(name, yaml, extra);
    (out, report(&reports))
}

fn target(port: u16) -> String {
    format!("ws://127.0.0.1:{port}/")
}

fn metric(rep: &serde_json::Value, step: usize, name: &str) -> f64 {
    rep["steps"][step]["metrics"][name]["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("step {step} has no metric {name}: {}", rep["steps"][step]))
}

/// An echo server that stops reading for the first 200 ms of every second.
fn stalling_echo_server() -> u16 {
    ws_serve_for(SERVE, |mut ws| async move {
        let start = Instant::now();
        loop {
            let phase = Duration::from_nanos((start.elapsed().as_nanos() % 1_000_000_000) as u64);
            if phase < Duration::from_millis(200) {
                tokio::time::sleep(Duration::from_millis(200) - phase).await;
            }
            match ws.next().await {
                Some(Ok(m)) if m.is_text() || m.is_binary() => {
                    if ws.send(m).await.is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                _ => return,
            }
        }
    })
}

#[test]
fn a_server_stalling_its_reads_shows_the_stall_in_echo_p99() {
    let port = stalling_echo_server();
    let (out, rep) = run(
        "stall",
        "name: stall\nsteps:\n  - connect: { clients: 1 }\n\
         \x20 - echo: { rate: 200, duration: 3s, late_after: 1s }\n\
         thresholds: [\"echo.latency.p99 < 50ms\"]\n",
        &["--target", &target(port)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let lat = &rep["steps"][1]["distributions"]["latency"];
    let p99 = lat["p99_us"].as_u64().unwrap();
    assert!(p99 >= 180_000, "p99 {p99} µs hides a 200 ms stall: {lat}");
    assert_eq!(metric(&rep, 1, "received"), 600.0);
    assert_eq!(metric(&rep, 1, "unsent"), 0.0);
}

/// Upgrades, then reads and discards every byte as fast as it arrives, never answering:
/// whatever the client cannot send is the client's own limit.
fn discarding_server() -> u16 {
    ws_serve_for(SERVE, |mut ws| async move {
        let mut buf = vec![0u8; 1 << 16];
        while let Ok(n) = ws.get_mut().read(&mut buf).await {
            if n == 0 {
                return;
            }
        }
    })
}

#[test]
fn an_impossible_rate_counts_unsent_messages_as_the_clients_limit() {
    let port = discarding_server();
    let (out, rep) = run(
        "impossible",
        "name: impossible\nsteps:\n  - connect: { clients: 1 }\n\
         \x20 - echo: { rate: 2000000, duration: 1s, timeout: 1s }\n\
         thresholds: [\"echo.unsent == 0\"]\n",
        &["--target", &target(port)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (planned, sent, unsent) = (
        metric(&rep, 1, "planned"),
        metric(&rep, 1, "sent"),
        metric(&rep, 1, "unsent"),
    );
    assert_eq!(planned, 2_000_000.0);
    assert_eq!(sent + unsent, planned);
    // How many got out depends on how much CPU the client had (on a loaded machine it
    // may be none); that the rest is counted, and as the client's limit, does not.
    assert!(unsent > 0.0, "sent {sent}, unsent {unsent}");
    assert_eq!(metric(&rep, 1, "unsent_client"), unsent);
    assert_eq!(metric(&rep, 1, "unsent_server"), 0.0);
    // Unsent messages count against loss: nothing came back, nothing was excused.
    assert_eq!(metric(&rep, 1, "loss"), 1.0);
    let notes = rep["steps"][1]["notes"].to_string();
    assert!(notes.contains("the client could not keep up"), "{notes}");
    assert!(
        !rep["steps"][1]["errors"]
            .to_string()
            .contains("stopped reading")
    );
}

#[test]
fn the_connection_gauge_stays_at_zero_across_an_idle_start() {
    let (out, rep) = run(
        "gauge",
        "name: gauge\nsteps:\n  - wait: { duration: 3s }\n  - connect: { clients: 3 }\n\
         \x20 - hold: { duration: 2s }\n",
        &["--sim"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let timeline = rep["timeline"].as_array().unwrap();
    let gauge: Vec<u64> = timeline
        .iter()
        .map(|s| s["connections"].as_u64().unwrap())
        .collect();
    assert_eq!(gauge[..2], [0, 0], "{gauge:?}");
    assert!(gauge[4..].contains(&3), "{gauge:?}");
}

/// An echo server holding at most 3 sockets. With `purge`, a 4th client closes the
/// least recently opened one (code 1008, like the device's LRU purge); without, the 4th
/// is answered with HTTP 503. The purge's close frame is sent `purge_delay` after the
/// 4th client was accepted (a busy device purges late).
fn three_socket_server(purge: bool, purge_delay: Duration) -> u16 {
    use std::sync::{Arc, Mutex};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    type Held = Arc<Mutex<Vec<(u64, tokio::sync::mpsc::UnboundedSender<()>)>>>;
    let held: Held = Arc::default();
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    serve_for(SERVE, move |mut stream| {
        let held = held.clone();
        let id = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The slot is taken at accept, before any await, so concurrent clients count.
        let (tx, mut purged) = tokio::sync::mpsc::unbounded_channel();
        let admitted = {
            let mut h = held.lock().unwrap();
            if h.len() >= 3 && !purge {
                false
            } else {
                if h.len() >= 3 {
                    let (_, oldest) = h.remove(0);
                    let _ = oldest.send(());
                }
                h.push((id, tx));
                true
            }
        };
        async move {
            if !admitted {
                common::servers::refuse_with_503(&mut stream).await;
                return;
            }
            let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                held.lock().unwrap().retain(|(i, _)| *i != id);
                return;
            };
            let (mut sink, mut stream) = ws.split();
            loop {
                tokio::select! {
                    _ = purged.recv() => {
                        tokio::time::sleep(purge_delay).await;
                        let _ = sink.send(Message::Close(Some(CloseFrame {
                            code: CloseCode::Policy,
                            reason: "purged".into(),
                        }))).await;
                        break;
                    }
                    m = stream.next() => match m {
                        Some(Ok(m)) if m.is_text() || m.is_binary() => {
                            if sink.send(m).await.is_err() { break; }
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                }
            }
            held.lock().unwrap().retain(|(i, _)| *i != id);
        }
    })
}

fn assert_socket_cap_fails_thresholds(purge: bool, name: &str) -> serde_json::Value {
    let port = three_socket_server(purge, Duration::ZERO);
    let (out, rep) = run(
        name,
        "name: cap\nsteps:\n  - connect: { clients: 6 }\n\
         \x20 - echo: { rate: 20, duration: 1s }\n\
         thresholds: [\"connect.connected == 6\", \"echo.loss == 0\"]\n",
        &["--target", &target(port)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(rep["complete"], true, "{}", rep["interruption"]);
    assert_eq!(rep["verdict"], "fail");
    assert_eq!(metric(&rep, 0, "connected"), 3.0);
    rep
}

#[test]
fn a_purging_three_socket_server_fails_thresholds_and_counts_closed_early() {
    let rep = assert_socket_cap_fails_thresholds(true, "purge");
    assert_eq!(metric(&rep, 0, "closed_early"), 3.0);
    assert_eq!(rep["steps"][0]["failures"]["closed early (code 1008)"], 3);
}

#[test]
fn a_server_answering_503_at_its_cap_fails_thresholds_instead_of_ending_the_run() {
    let rep = assert_socket_cap_fails_thresholds(false, "http503");
    assert_eq!(metric(&rep, 0, "failed"), 3.0);
    assert_eq!(rep["steps"][0]["failures"]["http 503"], 3);
    assert!(
        rep["steps"][0]["notes"]
            .to_string()
            .contains("at its socket limit, not lost")
    );
}

#[test]
fn a_purge_arriving_after_settle_neither_shifts_the_limit_nor_counts_twice() {
    // The purge comes 400 ms after the extra client, far past `settle`: meanwhile more
    // clients open, each purging one more; the limit must still be 3, each close counted once.
    let port = three_socket_server(true, Duration::from_millis(400));
    let (out, rep) = run(
        "late-purge",
        "name: late purge\nsteps:\n  - exhaust: { cap: 20, settle: 40ms, timeout: 3s }\n\
         thresholds: [\"exhaust.limit == 3\"]\n",
        &["--target", &target(port)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(metric(&rep, 0, "limit"), 3.0);
    let opened = metric(&rep, 0, "opened");
    assert!(
        opened > 4.0,
        "the purge should have come after more opens: {opened}"
    );
    assert_eq!(metric(&rep, 0, "purged"), opened - 3.0);
    assert_eq!(metric(&rep, 0, "refused"), 0.0);
    assert!(
        rep["steps"][0]["notes"]
            .to_string()
            .contains("oldest clients (#1"),
        "{}",
        rep["steps"][0]["notes"]
    );
}

/// An echo server that answers at most `rate` messages per second over all its
/// connections (each echo waits for the next free slot), like a board at its limit.
fn throttled_echo_server(rate: f64) -> u16 {
    use std::sync::{Arc, Mutex};
    let next: Arc<Mutex<tokio::time::Instant>> = Arc::new(Mutex::new(tokio::time::Instant::now()));
    let gap = Duration::from_secs_f64(1.0 / rate);
    ws_serve_for(SERVE, move |mut ws| {
        let next = next.clone();
        async move {
            while let Some(Ok(m)) = ws.next().await {
                if !(m.is_text() || m.is_binary()) {
                    continue;
                }
                let at = {
                    let mut n = next.lock().unwrap();
                    let at = (*n).max(tokio::time::Instant::now());
                    *n = at + gap;
                    at
                };
                tokio::time::sleep_until(at).await;
                if ws.send(m).await.is_err() {
                    return;
                }
            }
        }
    })
}

#[test]
fn capacity_finds_a_throttled_servers_rate_within_15_percent() {
    let port = throttled_echo_server(400.0);
    let (out, rep) = run(
        "capacity-throttled",
        "name: cap\nsteps:\n  - capacity: { clients: 2, from: 100, to: 3200, \
         until: [\"latency.p99 > 50ms\", \"loss > 0\"], rung: 2s, timeout: 1s }\n\
         thresholds: [\"capacity.sustained > 0\"]\n",
        &["--target", &target(port)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let sustained = metric(&rep, 0, "sustained");
    assert!(
        (340.0..=460.0).contains(&sustained),
        "sustained {sustained} msg/s for a server limited to 400: {}",
        rep["steps"][0]["rungs"]
    );
    let knee = metric(&rep, 0, "knee");
    assert!(knee > sustained && knee <= 800.0, "knee {knee}");
    let rungs = rep["steps"][0]["rungs"].as_array().unwrap();
    assert_eq!(rungs.len() as f64, metric(&rep, 0, "rungs"));
    assert!(
        rungs
            .iter()
            .any(|r| !r["broke"].as_array().unwrap().is_empty())
    );
}

#[test]
fn a_capacity_search_stopped_mid_rung_keeps_the_rungs_it_judged() {
    // Rungs of 2 s at 100, 200, 400 … against a server limited to 400 msg/s; the stop
    // comes in the third rung.
    let port = throttled_echo_server(400.0);
    let rep = run_stopped(
        "capacity-stopped",
        "name: cap\nsteps:\n  - capacity: { clients: 2, from: 100, to: 3200, \
         until: [\"latency.p99 > 50ms\", \"loss > 0\"], rung: 2s, timeout: 1s }\n\
         thresholds: [\"capacity.sustained >= 100\"]\n",
        &["--target", &target(port)],
        "capacity",
        Duration::from_millis(5000),
        "INT",
    );
    let step = &rep["steps"][0];
    assert_eq!(step["status"], "interrupted");
    let rungs = step["rungs"].as_array().unwrap();
    assert!(!rungs.is_empty(), "{step}");
    assert_eq!(rungs.len() as f64, metric(&rep, 0, "rungs"));
    // Every rung listed ran to its end: its plan is its whole rate for 2 s.
    for r in rungs {
        let full = r["rate"].as_f64().unwrap() * 2.0;
        assert_eq!(r["planned"].as_f64().unwrap(), full, "{r}");
    }
    assert!(metric(&rep, 0, "sustained") >= 100.0);
    let notes = step["notes"].to_string();
    assert!(notes.contains("stopped during the rung at"), "{notes}");
    let verdict = rep["thresholds"][0]["message"].as_str().unwrap();
    assert!(verdict.contains("(interrupted: "), "{verdict}");
}

#[test]
fn capacity_runs_against_the_simulated_board_and_charts_its_rungs() {
    let (out, rep) = run(
        "capacity-sim",
        "name: cap\nsteps:\n  - capacity: { clients: 3, from: 100, to: 400, \
         until: [\"latency.p99 > 1s\"], rung: 1s, bisections: 1 }\n\
         thresholds: [\"capacity.sustained >= 100\"]\n",
        &["--sim"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let rungs = rep["steps"][0]["rungs"].as_array().unwrap();
    assert_eq!(rungs[0]["rate"], 100.0);
    assert!(rungs.iter().all(|r| r["planned"].as_u64().unwrap() > 0));
    assert_eq!(metric(&rep, 0, "sustained"), 400.0);
    let folder = common::run::report_folder(&scratch_path("capacity-sim").join("reports"));
    let html = std::fs::read_to_string(folder.join("report.html")).unwrap();
    assert!(html.contains("echo latency by offered rate"));
}

/// A server speaking the device's `!time` and `!burst` commands, whose `!time` answers
/// each take 900 ms (a clock exchange of 4.5 s), broadcasting each burst to every client.
fn slow_clock_burst_server() -> u16 {
    use tokio_tungstenite::tungstenite::Message;
    let (bursts, _) = tokio::sync::broadcast::channel::<String>(64);
    let booted = Instant::now();
    ws_serve_for(SERVE, move |ws| {
        let bursts = bursts.clone();
        async move {
            let (mut sink, mut stream) = ws.split();
            let mut rx = bursts.subscribe();
            loop {
                tokio::select! {
                    b = rx.recv() => match b {
                        Ok(b) => if sink.send(Message::text(b)).await.is_err() { break },
                        Err(_) => break,
                    },
                    m = stream.next() => match m {
                        Some(Ok(Message::Text(t))) if t.as_str() == "!time" => {
                            tokio::time::sleep(Duration::from_millis(900)).await;
                            let t_us = booted.elapsed().as_micros();
                            if sink.send(Message::text(format!("time t_us={t_us}"))).await.is_err() { break }
                        }
                        Some(Ok(Message::Text(t))) if t.as_str().starts_with("!burst ") => {
                            let words: Vec<u64> = t.as_str()[7..].split(' ').filter_map(|w| w.parse().ok()).collect();
                            let (count, interval) = (words[0], words[2]);
                            let started = format!("!burst started id=1 count={count} size={} interval_ms={interval}", words[1]);
                            if sink.send(Message::text(started)).await.is_err() { break }
                            let all = bursts.clone();
                            tokio::spawn(async move {
                                for seq in 0..count {
                                    tokio::time::sleep(Duration::from_millis(interval)).await;
                                    let t_us = booted.elapsed().as_micros();
                                    let _ = all.send(format!("burst id=1 seq={seq} count={count} t_us={t_us} "));
                                }
                            });
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                }
            }
        }
    })
}

#[test]
fn fanout_deadline_counts_from_after_the_clock_exchange() {
    // wait = 5 × 10 ms + 500 ms + 3 s ≈ 3.55 s, shorter than the 4.5 s exchange: with the
    // deadline counted from the step's start, no burst message would be waited for.
    let port = slow_clock_burst_server();
    let (out, rep) = run(
        "fanout-deadline",
        "name: slow clock\nsteps:\n  - connect: { clients: 2 }\n\
         \x20 - fanout: { trigger: burst, count: 5, size: 100, interval: 10ms, timeout: 500ms }\n\
         thresholds: [\"fanout.loss == 0\"]\n",
        &["--target", &target(port)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(metric(&rep, 1, "delivered"), 10.0);
}

/// A host that freezes the load generator (here SIGSTOP for 150 ms, as an overloaded or
/// suspended machine would) delays the sends due meanwhile: they count as `sent_late`,
/// the step says the delay was the host's, and `send_lag` shows the freeze.
#[test]
fn sends_a_frozen_host_started_late_are_counted_as_the_hosts_delay() {
    let port = echo_server(SERVE, Duration::ZERO);
    let dir = scratch("frozen-host");
    let file = scenario_file(
        &dir,
        "name: frozen\nsteps:\n  - connect: { clients: 2 }\n  \
         - echo: { rate: 200, per: total, duration: 2s }\n",
    );
    let reports = dir.join("reports");
    let mut child = wsbench(&["run", file.to_str().unwrap(), "--target", &target(port)])
        .arg("--report-dir")
        .arg(&reports)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (started_tx, started) = std::sync::mpsc::channel();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if line.contains("echo: started") {
                let _ = started_tx.send(());
            }
        }
    });
    started
        .recv_timeout(Duration::from_secs(30))
        .expect("the echo step did not start");
    std::thread::sleep(Duration::from_millis(500));
    signal(child.id(), "-STOP");
    std::thread::sleep(Duration::from_millis(150));
    signal(child.id(), "-CONT");
    let status = wait_within(&mut child, Duration::from_secs(60));
    let Some(status) = status else {
        let _ = child.kill();
        panic!("wsbench did not end");
    };
    assert!(status.success(), "{status}");
    let rep = report(&reports);
    // About 30 messages were due during the freeze.
    let late = metric(&rep, 1, "sent_late");
    assert!(
        (10.0..=metric(&rep, 1, "sent")).contains(&late),
        "sent_late {late}"
    );
    let lag_max = rep["steps"][1]["distributions"]["send_lag"]["max_us"]
        .as_u64()
        .unwrap();
    assert!(lag_max >= 100_000, "send_lag max {lag_max} µs");
    let notes = rep["steps"][1]["notes"].to_string();
    assert!(
        notes.contains(&format!("{late} of")) && notes.contains("this host's delay"),
        "{notes}"
    );
}
