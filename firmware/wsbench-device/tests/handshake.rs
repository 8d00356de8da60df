//! The HTTP phase: upgrade, subprotocol, status page, and what happens to bad requests.

mod support;

use support::*;
use tokio::io::AsyncWriteExt;
use wsbench_device::DeviceConfig;
use wsbench_device::idf_log::DeviceEvent;

#[tokio::test]
async fn tungstenite_accepts_the_upgrade_and_gets_chat_when_it_offers_it() {
    let bench = Bench::quiet();
    let stream = bench.connect().unwrap();
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            "ws://192.168.4.1/ws",
        )
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "superchat, chat".parse().unwrap());
    let (_ws, response) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("upgrade accepted (tungstenite checks Sec-WebSocket-Accept)");
    assert_eq!(response.status(), 101);
    assert_eq!(response.headers()["Sec-WebSocket-Protocol"], "chat");
    bench
        .wait_event(
            "upgrade",
            |e| matches!(e, DeviceEvent::Upgrade { subprotocol: Some(p), .. } if p == "chat"),
        )
        .await;
}

#[tokio::test]
async fn the_accept_value_is_the_rfc_example_and_no_subprotocol_unless_offered() {
    let bench = Bench::quiet();
    let mut stream = bench.connect().unwrap();
    stream
        .write_all(
            upgrade_request("")
                .replace("Connection: Upgrade", "Connection: keep-alive, Upgrade")
                .as_bytes(),
        )
        .await
        .unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(
        head.contains(&format!("Sec-WebSocket-Accept: {ACCEPT}\r\n")),
        "{head}"
    );
    assert!(!head.contains("Sec-WebSocket-Protocol"), "{head}");
}

async fn answer_to(bench: &Bench, request: &str) -> String {
    let mut stream = bench.connect().unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    String::from_utf8_lossy(&read_to_end(&mut stream).await).into_owned()
}

#[tokio::test]
async fn a_malformed_upgrade_gets_400_and_the_connection_closed() {
    let bench = Bench::quiet();
    let no_key = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let answer = answer_to(&bench, no_key).await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.contains("Sec-WebSocket-Key"), "{answer}");

    let old_version = upgrade_request("").replace("Version: 13", "Version: 8");
    let answer = answer_to(&bench, &old_version).await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.contains("Sec-WebSocket-Version: 13\r\n"), "{answer}");

    let no_upgrade = "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n";
    assert!(
        answer_to(&bench, no_upgrade)
            .await
            .starts_with("HTTP/1.1 400 ")
    );

    let short_key = upgrade_request("").replace(KEY, "abc");
    assert!(
        answer_to(&bench, &short_key)
            .await
            .starts_with("HTTP/1.1 400 ")
    );

    // 24 bytes, but not base64.
    let odd_key = upgrade_request("").replace(KEY, "dGhlIHNhbXBsZSBub25jZé=");
    let answer = answer_to(&bench, &odd_key).await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");

    bench
        .wait_event("http_error", |e| {
            matches!(e, DeviceEvent::HttpError { status: 400, what, .. } if what.contains("Sec-WebSocket-Key"))
        })
        .await;
    bench
        .wait_event("close", |e| {
            matches!(e, DeviceEvent::Close { reason, clients: 0, .. } if reason == "bad_request")
        })
        .await;
}

#[tokio::test]
async fn other_paths_get_404_and_the_root_a_status_page() {
    let bench = Bench::quiet();
    let answer = answer_to(&bench, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 404 "), "{answer}");

    let answer = answer_to(&bench, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(
        head.contains(&format!("Content-Length: {}\r\n", body.len())),
        "{head}"
    );
    assert!(
        body.contains("ESP32-WS-Server") && body.contains("/ws"),
        "{body}"
    );
}

#[tokio::test]
async fn random_bytes_instead_of_a_request_get_400() {
    let bench = Bench::quiet();
    let garbage: Vec<u8> = (0..300u32).map(|i| (i * 7919 % 251) as u8).collect();
    let mut stream = bench.connect().unwrap();
    stream.write_all(&garbage).await.unwrap();
    stream.write_all(b"\r\n\r\n").await.unwrap();
    let answer = read_to_end(&mut stream).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 400 "),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test]
async fn an_endless_request_head_is_refused_without_unbounded_buffering() {
    let bench = Bench::quiet();
    let mut stream = bench.connect().unwrap();
    let mut head = String::from("GET /ws HTTP/1.1\r\n");
    while head.len() < 3 * wsbench_device::MAX_REQUEST_HEAD {
        head.push_str("X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    // The device stops reading after its limit; writing may then fail, which is fine.
    let _ = stream.write_all(head.as_bytes()).await;
    let answer = read_to_end(&mut stream).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 400 "),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_that_never_completes_loses_its_slot_after_the_timeout() {
    let bench = Bench::new(DeviceConfig {
        broadcast_interval_ms: 0,
        max_open_sockets: 1,
        lru_purge: false,
        request_timeout_ms: 2000,
        ..DeviceConfig::default()
    });
    let mut silent = bench.connect().unwrap();
    silent.write_all(b"GET /ws HTTP/1.1\r\n").await.unwrap();
    assert!(bench.connect().is_none(), "the only slot is taken");
    let rest = read_to_end(&mut silent).await;
    assert!(rest.is_empty());
    bench
        .wait_event(
            "close",
            |e| matches!(e, DeviceEvent::Close { reason, .. } if reason == "request_timeout"),
        )
        .await;
    assert!(bench.connect().is_some(), "the slot is free again");
}

#[tokio::test]
async fn odd_line_endings_and_header_floods_are_answered_and_every_slot_freed() {
    let bench = Bench::quiet();
    let many_headers: String = (0..40).map(|i| format!("X-{i}: y\r\n")).collect();
    let requests: Vec<Vec<u8>> = vec![
        b"GET /ws HTTP/1.1\n\n\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\nHost: x\n\nbody\r\n\r\n".to_vec(),
        format!(
            "GET /ws HTTP/1.1\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Key: {KEY}\nSec-WebSocket-Version: 13\n\n\r\n\r\n"
        )
        .into_bytes(),
        format!("GET /ws HTTP/1.1\r\n{many_headers}\r\n").into_bytes(),
        b"\r\n\r\n".to_vec(),
        b"GET /ws HTTP/2.0\r\n\r\n".to_vec(),
        b"GET /ws HTTP/1.1\r\nUpgrade: \xff\xfe\r\nConnection: \x80\r\n\r\n".to_vec(),
        b"GET /\x00ws HTTP/1.1\r\n\r\n".to_vec(),
    ];
    for request in &requests {
        let mut stream = bench.connect().unwrap();
        stream.write_all(request).await.unwrap();
        // EOF after the request: an upgraded session ends too, so every case closes.
        stream.shutdown().await.unwrap();
        let answer = read_to_end(&mut stream).await;
        assert!(
            answer.is_empty() || answer.starts_with(b"HTTP/1.1 "),
            "{request:?} -> {:?}",
            String::from_utf8_lossy(&answer)
        );
    }
    // A panic in a session would have left its slot taken and its close unlogged.
    let closes = bench
        .events()
        .iter()
        .filter(|e| matches!(e, DeviceEvent::Close { .. }))
        .count();
    assert_eq!(closes, requests.len(), "{}", bench.lines().join("\n"));
    let stats = bench.device.stats_json();
    assert!(stats.contains("\"clients\":0"), "{stats}");
}
