//! Echo, PING/PONG and the periodic broadcast over ws and wss, and the console.

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::harness::*;

async fn echo_text_binary_ping(url: &str) {
    let mut client = connect(url).await;
    assert_echo(&mut client, Message::text("hello board")).await;
    assert_echo(&mut client, Message::binary(vec![0u8, 1, 2, 254, 255])).await;
    // Across the 125/126 length encodings and past the 1433-byte mark.
    assert_echo(&mut client, Message::binary(vec![7u8; 126])).await;
    assert_echo(&mut client, Message::text("x".repeat(4000))).await;
    client
        .send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    assert_eq!(
        next_reply(&mut client).await,
        Message::Pong(b"are you there".to_vec().into())
    );
    client
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        })))
        .await
        .unwrap();
    match next_reply(&mut client).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Normal),
        other => panic!("CLOSE answered with {other:?}"),
    }
}

#[tokio::test]
async fn echoes_text_and_binary_and_answers_ping_over_ws() {
    let sim = Sim::start(&["--broadcast-ms", "0"]);
    assert!(sim.ws_url.starts_with("ws://127.0.0.1:") && sim.ws_url.ends_with("/ws"));
    echo_text_binary_ping(&sim.ws_url).await;
}

#[tokio::test]
async fn echoes_text_and_binary_and_answers_ping_over_wss_with_the_bundled_cert() {
    let sim = Sim::start(&["--broadcast-ms", "0"]);
    assert!(sim.wss_url.starts_with("wss://127.0.0.1:") && sim.wss_url.ends_with("/ws"));
    echo_text_binary_ping(&sim.wss_url).await;
}

#[tokio::test]
async fn broadcasts_to_every_client_counting_up() {
    let sim = Sim::start(&["--broadcast-ms", "200"]);
    let mut a = connect(&sim.ws_url).await;
    let mut b = connect(&sim.wss_url).await;
    let mut seen = Vec::new();
    for client in [&mut a, &mut b] {
        let mut numbers = Vec::new();
        while numbers.len() < 2 {
            let msg = tokio::time::timeout(WAIT, futures_util::StreamExt::next(client))
                .await
                .expect("no broadcast in time")
                .unwrap()
                .unwrap();
            let text = msg.into_text().unwrap();
            let n: u64 = text
                .strip_prefix("Server broadcast: Hello #")
                .unwrap_or_else(|| panic!("unexpected message {text:?}"))
                .parse()
                .unwrap();
            numbers.push(n);
        }
        assert_eq!(
            numbers[1],
            numbers[0] + 1,
            "broadcast numbers must count up by one"
        );
        seen.push(numbers);
    }
    sim.wait_line(0, "for a broadcast round", |l| l.contains(" broadcast n="))
        .await;
}

#[tokio::test]
async fn console_pty_carries_the_device_lines() {
    use std::io::Read;
    let sim = Sim::start(&["--broadcast-ms", "0"]);
    assert!(
        sim.console_path.starts_with("/dev/pts/"),
        "{}",
        sim.console_path
    );
    let path = sim.console_path.clone();
    // Opened before the client connects, so the open line is read live.
    let reader = std::thread::spawn(move || {
        let mut tty = std::fs::File::open(path).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        let deadline = std::time::Instant::now() + WAIT;
        while !String::from_utf8_lossy(&got).contains(" open id=") {
            assert!(
                std::time::Instant::now() < deadline,
                "no open line on the pty"
            );
            let n = tty.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(got).unwrap()
    });
    std::thread::sleep(std::time::Duration::from_millis(100));
    let _client = connect(&sim.ws_url).await;
    let text = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    let line = text.lines().find(|l| l.contains(" open id=")).unwrap();
    assert!(line.starts_with("I ("), "ESP-IDF format: {line}");
    // CRLF as ESP-IDF prints it, and nothing added by the terminal (raw mode).
    assert!(
        text.contains(" open id=") && text.contains("\r\n"),
        "{text:?}"
    );
    assert!(!text.contains("\r\r"), "terminal not raw: {text:?}");
    assert!(
        text.split("\r\n").all(|l| !l.contains('\n')),
        "bare LF: {text:?}"
    );
}
