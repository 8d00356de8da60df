//! The in-process API `wsbench run --sim` uses.

use std::time::Duration;

use tokio_tungstenite::tungstenite::Message;
use wsbench::sim::{SimBoard, SimOptions};

use crate::harness::*;

#[tokio::test]
async fn sim_board_serves_logs_and_shuts_down() {
    let board = SimBoard::start(SimOptions {
        broadcast_interval_ms: 0,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let mut lines = board.console_lines();
    let ready = board.ready_line().expect("ready line kept");
    let ws_port = board.ws_addr().port().to_string();
    assert_eq!(field(ready, "ws_port"), Some(ws_port.as_str()), "{ready}");
    assert!(board.console_path().unwrap().exists());

    let mut ws = connect(&board.ws_url()).await;
    assert_echo(&mut ws, Message::text("in process")).await;
    let mut wss = connect(&board.wss_url()).await;
    assert_echo(&mut wss, Message::binary(vec![9u8; 300])).await;

    let open = tokio::time::timeout(WAIT, async {
        loop {
            let line = lines.recv().await.unwrap();
            if line.contains(" open id=") {
                return line;
            }
        }
    })
    .await
    .expect("open line on console_lines()");
    assert!(open.starts_with("I ("), "{open}");

    let addr = board.ws_addr();
    board.shutdown().await;
    // Ports closed once shutdown returns.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn sim_board_rejects_settings_it_cannot_run() {
    let err = SimBoard::start(SimOptions {
        max_sockets: 0,
        ..SimOptions::default()
    })
    .await
    .err()
    .expect("max_sockets 0 accepted");
    assert!(err.to_string().contains("max_sockets"), "{err}");
}
