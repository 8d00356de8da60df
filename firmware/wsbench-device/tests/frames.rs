//! WebSocket frames after the upgrade: echo, ping, close, fragments, and every way a
//! client can break RFC 6455.

mod support;

use futures_util::{SinkExt, StreamExt};
use support::*;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use wsbench_device::DeviceConfig;
use wsbench_device::idf_log::DeviceEvent;

async fn tungstenite_client(
    bench: &Bench,
) -> tokio_tungstenite::WebSocketStream<tokio::io::DuplexStream> {
    let stream = bench.connect().expect("admitted");
    tokio_tungstenite::client_async("ws://192.168.4.1/ws", stream)
        .await
        .expect("upgrade")
        .0
}

async fn next(ws: &mut tokio_tungstenite::WebSocketStream<tokio::io::DuplexStream>) -> Message {
    tokio::time::timeout(STEP, ws.next())
        .await
        .expect("a message in time")
        .expect("stream open")
        .expect("valid message")
}

#[tokio::test]
async fn text_and_binary_come_back_with_their_opcode_and_ping_gets_pong() {
    let bench = Bench::quiet();
    let mut ws = tungstenite_client(&bench).await;
    ws.send(Message::text("héllo")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("héllo"));
    let blob: Vec<u8> = (0..=255u8).cycle().take(1433).collect();
    ws.send(Message::binary(blob.clone())).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::binary(blob));
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    assert_eq!(
        next(&mut ws).await,
        Message::Pong(b"are you there".to_vec().into())
    );
    let big = "x".repeat(16 * 1024);
    ws.send(Message::text(big.clone())).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text(big));
}

#[tokio::test]
async fn close_is_answered_with_the_same_code_and_logged() {
    let bench = Bench::quiet();
    let mut ws = tungstenite_client(&bench).await;
    ws.close(Some(CloseFrame {
        code: CloseCode::Away,
        reason: "bye".into(),
    }))
    .await
    .unwrap();
    match next(&mut ws).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected CLOSE, got {other:?}"),
    }
    bench
        .wait_event("close", |e| {
            matches!(e, DeviceEvent::Close { reason, code: Some(1001), clients: 0, .. } if reason == "client_close")
        })
        .await;
}

#[tokio::test]
async fn an_empty_close_is_answered_with_an_empty_close() {
    let bench = Bench::quiet();
    let mut s = raw_upgraded(&bench).await;
    s.write_all(&client_frame(0x88, b"", true)).await.unwrap();
    let frame = read_frame(&mut s).await;
    assert_eq!((frame.opcode, frame.payload.len()), (8, 0));
    assert!(read_to_end(&mut s).await.is_empty());
}

#[tokio::test]
async fn fragments_are_reassembled_with_control_frames_between_them() {
    let bench = Bench::quiet();
    let mut s = raw_upgraded(&bench).await;
    s.write_all(&client_frame(0x01, b"frag", true))
        .await
        .unwrap();
    s.write_all(&client_frame(0x89, b"p", true)).await.unwrap();
    // "é" split across the fragment boundary.
    s.write_all(&client_frame(0x00, b"ment\xc3", true))
        .await
        .unwrap();
    s.write_all(&client_frame(0x80, b"\xa9d", true))
        .await
        .unwrap();
    let pong = read_frame(&mut s).await;
    assert_eq!((pong.opcode, pong.payload.as_slice()), (0x0a, &b"p"[..]));
    let echo = read_frame(&mut s).await;
    assert!(echo.fin);
    assert_eq!(echo.opcode, 1);
    assert_eq!(echo.payload, "fragmentéd".as_bytes());
}

async fn violation(bytes: &[u8], code: u16) -> Bench {
    let bench = Bench::quiet();
    let mut s = raw_upgraded(&bench).await;
    s.write_all(bytes).await.unwrap();
    expect_close(&mut s, code).await;
    bench
        .wait_event(
            "protocol_error",
            |e| matches!(e, DeviceEvent::ProtocolError { code: c, .. } if *c == code),
        )
        .await;
    bench
}

#[tokio::test]
async fn protocol_errors_close_with_1002() {
    // Unmasked client frame.
    violation(&client_frame(0x81, b"hi", false), 1002).await;
    // Reserved bits.
    violation(&client_frame(0xc1, b"hi", true), 1002).await;
    // Unknown opcodes, data and control.
    violation(&client_frame(0x83, b"", true), 1002).await;
    violation(&client_frame(0x8b, b"", true), 1002).await;
    // Fragmented and oversized control frames.
    violation(&client_frame(0x09, b"", true), 1002).await;
    violation(&client_frame(0x89, &[0u8; 126], true), 1002).await;
    // Continuation without a message, new message inside a fragmented one.
    violation(&client_frame(0x80, b"x", true), 1002).await;
    let mut two = client_frame(0x01, b"a", true);
    two.extend(client_frame(0x81, b"b", true));
    violation(&two, 1002).await;
    // Close payloads: 1 byte, invalid codes.
    violation(&client_frame(0x88, &[3], true), 1002).await;
    for code in [0u16, 999, 1004, 1005, 1006, 1016, 2000, 5000] {
        violation(&client_frame(0x88, &code.to_be_bytes(), true), 1002).await;
    }
}

#[tokio::test]
async fn invalid_utf8_closes_with_1007() {
    violation(&client_frame(0x81, b"ab\xff", true), 1007).await;
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"\xc3\x28");
    violation(&client_frame(0x88, &close, true), 1007).await;
    // Fails fast: the first fragment is already invalid, no final fragment needed.
    violation(
        &client_frame(
            0x01,
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80",
            true,
        ),
        1007,
    )
    .await;
}

#[tokio::test]
async fn oversized_messages_close_with_1009_without_reading_them() {
    let bench = violation(
        &{
            let mut h = vec![0x82, 0x80 | 127];
            h.extend_from_slice(&(100u64 * 1024 * 1024).to_be_bytes());
            h.extend_from_slice(&[1, 2, 3, 4]);
            h
        },
        1009,
    )
    .await;
    let stats = bench.device.stats_json();
    assert!(stats.contains("\"clients\":0"), "{stats}");

    // Fragments that add up to more than max_message_len.
    let bench = Bench::new(DeviceConfig {
        max_message_len: 1000,
        broadcast_interval_ms: 0,
        ..DeviceConfig::default()
    });
    let mut s = raw_upgraded(&bench).await;
    s.write_all(&client_frame(0x02, &[0u8; 600], true))
        .await
        .unwrap();
    s.write_all(&client_frame(0x80, &[0u8; 600], true))
        .await
        .unwrap();
    expect_close(&mut s, 1009).await;
}

#[tokio::test]
async fn a_client_vanishing_mid_frame_is_closed_and_others_are_still_served() {
    let bench = Bench::quiet();
    let mut other = tungstenite_client(&bench).await;
    let mut s = raw_upgraded(&bench).await;
    let frame = client_frame(0x82, &[7u8; 1000], true);
    s.write_all(&frame[..500]).await.unwrap();
    drop(s);
    bench
        .wait_event(
            "close",
            |e| matches!(e, DeviceEvent::Close { reason, .. } if reason == "eof"),
        )
        .await;
    other.send(Message::text("still here")).await.unwrap();
    assert_eq!(next(&mut other).await, Message::text("still here"));
}

#[tokio::test]
async fn frames_pipelined_behind_the_upgrade_request_are_not_lost() {
    let bench = Bench::quiet();
    let mut s = bench.connect().unwrap();
    let mut bytes = upgrade_request("").into_bytes();
    bytes.extend(client_frame(0x81, b"early", true));
    s.write_all(&bytes).await.unwrap();
    let head = read_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let echo = read_frame(&mut s).await;
    assert_eq!(echo.payload, b"early");
}

#[tokio::test]
async fn echo_is_exact_across_the_length_encoding_boundaries() {
    let bench = Bench::new(DeviceConfig {
        max_message_len: 70_000,
        max_queued_bytes: 70_100,
        broadcast_interval_ms: 0,
        ..DeviceConfig::default()
    });
    let mut s = raw_upgraded(&bench).await;
    for len in [0usize, 1, 125, 126, 127, 65535, 65536, 70_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        s.write_all(&client_frame(0x82, &payload, true))
            .await
            .unwrap();
        let echo = read_frame(&mut s).await;
        assert!(echo.fin);
        assert_eq!(echo.opcode, 2);
        assert_eq!(echo.payload.len(), len);
        assert!(echo.payload == payload, "payload of {len} bytes differs");
    }
}
