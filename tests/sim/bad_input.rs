//! Bad input must not take the board down: each case is logged, that connection is
//! closed, and the board keeps serving others.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::harness::*;

const UPGRADE_WITH_KEY: &str = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// A raw client that has completed the upgrade (response read up to its blank line).
async fn upgraded_raw(sim: &Sim) -> TcpStream {
    use tokio::io::AsyncReadExt;
    let mut stream = TcpStream::connect(sim.ws_addr()).await.unwrap();
    stream.write_all(UPGRADE_WITH_KEY.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(WAIT, stream.read(&mut byte))
            .await
            .expect("no upgrade response")
            .unwrap();
        assert_eq!(
            n,
            1,
            "closed during upgrade: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "accept key: {head}"
    );
    stream
}

/// A masked client frame header (no payload) with a 64-bit length.
fn frame_header(opcode: u8, len: u64) -> Vec<u8> {
    let mut header = vec![0x80 | opcode, 0x80 | 127];
    header.extend_from_slice(&len.to_be_bytes());
    header.extend_from_slice(&[0x11, 0x22, 0x33, 0x44]);
    header
}

/// The board still serves a fresh client (ws and wss).
async fn still_serves(sim: &Sim) {
    let mut ws = connect(&sim.ws_url).await;
    assert_echo(&mut ws, Message::text("still serving")).await;
    let mut wss = connect(&sim.wss_url).await;
    assert_echo(&mut wss, Message::binary(vec![1u8, 2, 3])).await;
}

#[tokio::test]
async fn random_bytes_instead_of_http() {
    let mut sim = Sim::start(&["--broadcast-ms", "0"]);
    let mut bystander = connect(&sim.ws_url).await;
    let mark = sim.mark();
    let mut stream = TcpStream::connect(sim.ws_addr()).await.unwrap();
    let peer = peer_of(&stream);
    // Deterministic noise (an LCG), with line breaks so a parser sees "lines".
    let mut x: u32 = 0x1234_5678;
    let noise: Vec<u8> = (0..4096)
        .map(|i| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            if i % 97 == 96 { b'\n' } else { (x >> 24) as u8 }
        })
        .collect();
    let _ = stream.write_all(&noise).await;
    read_until_closed(&mut stream).await;
    let close = wait_session_closed(&sim, mark, &peer).await;
    assert!(!close.contains("reason=client_close"), "{close}");
    assert_echo(&mut bystander, Message::text("unbothered")).await;
    still_serves(&sim).await;
    assert!(sim.alive());
}

#[tokio::test]
async fn upgrade_without_a_key_gets_400() {
    let mut sim = Sim::start(&["--broadcast-ms", "0"]);
    let mark = sim.mark();
    let mut stream = TcpStream::connect(sim.ws_addr()).await.unwrap();
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
    let reply = String::from_utf8_lossy(&read_until_closed(&mut stream).await).into_owned();
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    let line = sim
        .wait_line(mark, "for the rejected upgrade", |l| {
            l.contains("http_error")
        })
        .await;
    assert!(line.contains("status=400"), "{line}");
    still_serves(&sim).await;
    assert!(sim.alive());
}

#[tokio::test]
async fn frame_header_announcing_100_mb_closes_with_1009() {
    let mut sim = Sim::start(&["--broadcast-ms", "0"]);
    let mut stream = upgraded_raw(&sim).await;
    let mark = sim.mark();
    stream
        .write_all(&frame_header(0x2, 100 * 1024 * 1024))
        .await
        .unwrap();
    let _ = stream.write_all(&[0u8; 64]).await;
    let got = read_until_closed(&mut stream).await;
    // A CLOSE frame from the server: 0x88, length, then the code.
    assert!(got.len() >= 4 && got[0] == 0x88, "no CLOSE frame: {got:?}");
    assert_eq!(u16::from_be_bytes([got[2], got[3]]), 1009, "{got:?}");
    sim.wait_line(mark, "closing with 1009", |l| {
        l.contains(" close id=") && l.contains("code=1009")
    })
    .await;
    still_serves(&sim).await;
    assert!(sim.alive());
}

#[tokio::test]
async fn client_vanishing_mid_frame_frees_its_slot() {
    let mut sim = Sim::start(&["--broadcast-ms", "0"]);
    let mut observer = connect(&sim.ws_url).await;
    let mark = sim.mark();
    let mut stream = upgraded_raw(&sim).await;
    let peer = peer_of(&stream);
    let before = stats(&mut observer).await;
    assert_eq!(before["clients"], 2, "{before}");
    let mut partial = vec![0x81, 0x80 | 126, 0x03, 0xE8, 1, 2, 3, 4];
    partial.extend_from_slice(&[b'a'; 10]); // 10 of the 1000 bytes announced
    stream.write_all(&partial).await.unwrap();
    drop(stream);
    let close = wait_session_closed(&sim, mark, &peer).await;
    let reason = field(&close, "reason");
    assert!(matches!(reason, Some("eof" | "io_error")), "{close}");
    let after = stats(&mut observer).await;
    assert_eq!(after["clients"], 1, "slot not freed: {after}");
    still_serves(&sim).await;
    assert!(sim.alive());
}

#[tokio::test]
async fn a_flood_of_connections_leaves_the_board_serving() {
    let mut sim = Sim::start(&["--broadcast-ms", "0"]);
    let addr = sim.ws_addr();
    // 300 connections at once, bounded: a third say nothing, a third send garbage, a
    // third upgrade and leave. All are dropped at the end.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..300u32 {
        let addr = addr.clone();
        tasks.spawn(async move {
            let Ok(Ok(mut stream)) = tokio::time::timeout(WAIT, TcpStream::connect(addr)).await
            else {
                return;
            };
            match i % 3 {
                0 => {}
                1 => {
                    let _ = stream.write_all(b"\x16\x03\x01garbage\r\n\r\n").await;
                }
                _ => {
                    let _ = stream.write_all(UPGRADE_WITH_KEY.as_bytes()).await;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        });
    }
    while tasks.join_next().await.is_some() {}
    assert!(sim.alive());
    // The board settles: a new client is served and the table empties to it alone.
    let mut client = connect(&sim.ws_url).await;
    assert_echo(&mut client, Message::text("after the flood")).await;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let s = stats(&mut client).await;
        if s["clients"] == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sessions not released: {s}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    still_serves(&sim).await;
    let lines = sim.lines();
    assert!(
        lines.iter().filter(|l| l.contains(" purge id=")).count() > 0,
        "a flood over the limit purges (and logs) sessions"
    );
}

#[tokio::test]
async fn plain_bytes_on_the_tls_port_are_logged_and_closed() {
    let mut sim = Sim::start(&["--broadcast-ms", "0"]);
    let mut bystander = connect(&sim.wss_url).await;
    let mark = sim.mark();
    let mut stream = TcpStream::connect(host_port(&sim.wss_url)).await.unwrap();
    let peer = peer_of(&stream);
    let _ = stream.write_all(UPGRADE_WITH_KEY.as_bytes()).await;
    read_until_closed(&mut stream).await;
    let line = sim
        .wait_line(mark, "for the TLS failure", |l| {
            l.contains(" tls_error ") && field(l, "peer") == Some(peer.as_str())
        })
        .await;
    assert!(line.starts_with("W ("), "{line}");
    // No session was taken by it.
    let s = stats(&mut bystander).await;
    assert_eq!(s["clients"], 1, "{s}");
    assert_echo(&mut bystander, Message::text("unbothered")).await;
    still_serves(&sim).await;
    assert!(sim.alive());
}

#[tokio::test]
async fn silent_connections_to_the_tls_port_do_not_lock_out_clients() {
    let mut sim = Sim::start(&["--broadcast-ms", "0"]);
    let addr = host_port(&sim.wss_url);
    let mut silent = Vec::new();
    for _ in 0..100 {
        silent.push(TcpStream::connect(&addr).await.unwrap());
    }
    // Handshakes pending do not hold session slots: a real client gets in at once.
    let mut client = connect(&sim.wss_url).await;
    assert_echo(&mut client, Message::text("past the silent ones")).await;
    let s = stats(&mut client).await;
    assert_eq!(s["clients"], 1, "{s}");
    drop(silent);
    assert!(sim.alive());
}

#[tokio::test]
async fn running_out_of_descriptors_is_logged_and_survived() {
    let mut sim = Sim::start_with_fd_limit(48, &["--broadcast-ms", "0"]);
    let addr = host_port(&sim.wss_url);
    let mark = sim.mark();
    // Silent TLS clients hold a descriptor each until their handshake times out: far
    // more than the process may open.
    let mut silent = Vec::new();
    for _ in 0..120 {
        if let Ok(Ok(s)) =
            tokio::time::timeout(std::time::Duration::from_secs(1), TcpStream::connect(&addr)).await
        {
            silent.push(s);
        }
    }
    let line = sim
        .wait_line(mark, "for the failed accept", |l| {
            l.contains(" accept_error ")
        })
        .await;
    assert!(line.contains("listener=wss"), "{line}");
    assert!(sim.alive());
    drop(silent);
    // Descriptors come back as those connections end; the board serves again.
    still_serves(&sim).await;
    assert!(sim.alive());
}
