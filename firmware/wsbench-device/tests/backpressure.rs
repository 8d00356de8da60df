//! Clients that stop reading: they must not wedge the device, hold memory without bound,
//! or slow the other sessions down.

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use support::*;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;
use wsbench_device::DeviceConfig;
use wsbench_device::idf_log::DeviceEvent;

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_after_the_write_timeout() {
    let bench = Bench::new(DeviceConfig {
        broadcast_interval_ms: 0,
        write_timeout_ms: 300,
        ..DeviceConfig::default()
    });
    let mut stuck = raw_upgraded_with_buffer(&bench, 4096).await;
    // Pings whose PONGs are never read: the pipe fills, then the queue, then the
    // writer's timeout ends the session.
    let ping = client_frame(0x89, &[b'p'; 125], true);
    let flood = tokio::spawn(async move {
        for _ in 0..2000 {
            if tokio::time::timeout(Duration::from_secs(2), stuck.write_all(&ping))
                .await
                .map_or(true, |r| r.is_err())
            {
                break;
            }
        }
        stuck
    });
    bench
        .wait_event(
            "close",
            |e| matches!(e, DeviceEvent::Close { reason, .. } if reason == "write_timeout"),
        )
        .await;
    drop(flood.await.unwrap());
    let stats = bench.device.stats_json();
    assert!(stats.contains("\"clients\":0"), "{stats}");
}

#[tokio::test]
async fn a_burst_reaches_readers_in_full_while_a_non_reader_only_loses_frames() {
    let bench = Bench::quiet();
    let _stuck = raw_upgraded_with_buffer(&bench, 512).await;
    let stream = bench.connect().unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async("ws://192.168.4.1/ws", stream)
        .await
        .unwrap();
    bench.start_background();
    ws.send(Message::text("!burst 200 100 0")).await.unwrap();
    let mut seqs = Vec::new();
    while seqs.len() < 200 {
        let msg = tokio::time::timeout(STEP, ws.next())
            .await
            .expect("burst frame in time")
            .unwrap()
            .unwrap();
        let text = msg.into_text().unwrap();
        if let Some(rest) = text.strip_prefix("burst id=1 seq=") {
            seqs.push(rest.split(' ').next().unwrap().parse::<u32>().unwrap());
        }
    }
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>(), "in order, none lost");
    let done = bench
        .wait_event("burst_done", |e| matches!(e, DeviceEvent::BurstDone { .. }))
        .await;
    let DeviceEvent::BurstDone { sent, dropped, .. } = done else {
        unreachable!()
    };
    assert_eq!(sent + dropped, 400);
    assert!(dropped > 0, "the non-reader's queue overflowed: {done:?}");
}
