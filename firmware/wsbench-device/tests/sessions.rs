//! The session table (limit, LRU purge, refuse), the periodic broadcast, control
//! commands and the console lines that report them.

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use support::*;
use tokio::io::DuplexStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use wsbench_device::idf_log::DeviceEvent;
use wsbench_device::{Device, DeviceConfig, HeapSource, MAX_OPEN_SOCKETS};

type Ws = WebSocketStream<DuplexStream>;

async fn client(bench: &Bench) -> Ws {
    let stream = bench.connect().expect("admitted");
    tokio_tungstenite::client_async("ws://192.168.4.1/ws", stream)
        .await
        .expect("upgrade")
        .0
}

async fn next(ws: &mut Ws) -> Message {
    tokio::time::timeout(STEP, ws.next())
        .await
        .expect("a message in time")
        .expect("stream open")
        .expect("valid message")
}

async fn next_text(ws: &mut Ws) -> String {
    match next(ws).await {
        Message::Text(t) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

async fn ask(ws: &mut Ws, command: &str) -> String {
    ws.send(Message::text(command)).await.unwrap();
    next_text(ws).await
}

fn config(max: u16, purge: bool) -> DeviceConfig {
    DeviceConfig {
        max_open_sockets: max,
        lru_purge: purge,
        broadcast_interval_ms: 0,
        ..DeviceConfig::default()
    }
}

#[tokio::test]
async fn when_full_the_least_recently_active_session_is_purged() {
    let bench = Bench::new(config(3, true));
    let mut a = client(&bench).await;
    let mut b = client(&bench).await;
    let mut c = client(&bench).await;
    // a and c are active after b: b is the least recently active.
    for ws in [&mut a, &mut c] {
        ws.send(Message::text("hi")).await.unwrap();
        assert_eq!(next_text(ws).await, "hi");
    }
    let mut d = client(&bench).await;
    match next(&mut b).await {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::Away);
            assert_eq!(frame.reason, "purged");
        }
        other => panic!("expected CLOSE 1001, got {other:?}"),
    }
    let purge = bench
        .wait_event("purge", |e| matches!(e, DeviceEvent::Purge { .. }))
        .await;
    let DeviceEvent::Purge {
        id, clients, max, ..
    } = purge
    else {
        unreachable!()
    };
    assert_eq!((id, clients, max), (2, 2, 3));
    bench
        .wait_event("close", |e| {
            matches!(e, DeviceEvent::Close { id: 2, reason, code: Some(1001), .. } if reason == "purged")
        })
        .await;
    bench
        .wait_event("open", |e| {
            matches!(
                e,
                DeviceEvent::Open {
                    id: 4,
                    clients: 3,
                    max: 3,
                    ..
                }
            )
        })
        .await;
    for ws in [&mut a, &mut c, &mut d] {
        ws.send(Message::text("alive")).await.unwrap();
        assert_eq!(next_text(ws).await, "alive");
    }
    let stats = ask(&mut d, "!stats").await;
    assert!(stats.contains("\"purged\":1"), "{stats}");
    assert!(stats.contains("\"clients\":3"), "{stats}");
}

#[tokio::test]
async fn with_purge_off_the_extra_connection_is_refused() {
    let bench = Bench::new(config(2, false));
    let mut a = client(&bench).await;
    let _b = client(&bench).await;
    assert!(bench.connect().is_none(), "third connection refused");
    bench
        .wait_event("refuse", |e| {
            matches!(e, DeviceEvent::Refuse { reason, clients: 2, max: 2, .. } if reason == "full")
        })
        .await;
    let stats = ask(&mut a, "!stats").await;
    assert!(stats.contains("\"refused\":1"), "{stats}");
    a.close(None).await.unwrap();
    bench
        .wait_event("close", |e| {
            matches!(e, DeviceEvent::Close { clients: 1, .. })
        })
        .await;
    assert!(bench.connect().is_some(), "a slot is free after a close");
}

#[tokio::test]
async fn the_periodic_broadcast_counts_up_and_reaches_every_session() {
    let bench = Bench::new(DeviceConfig {
        broadcast_interval_ms: 50,
        ..DeviceConfig::default()
    });
    let mut a = client(&bench).await;
    let mut b = client(&bench).await;
    bench.start_background();
    let first_a = next_text(&mut a).await;
    let n: u32 = first_a
        .strip_prefix("Server broadcast: Hello #")
        .expect("broadcast text")
        .parse()
        .unwrap();
    assert_eq!(
        next_text(&mut a).await,
        format!("Server broadcast: Hello #{}", n + 1)
    );
    let first_b = next_text(&mut b).await;
    assert!(
        first_b.starts_with("Server broadcast: Hello #"),
        "{first_b}"
    );
    bench
        .wait_event("broadcast", |e| {
            matches!(e, DeviceEvent::Broadcast { clients: 2, .. })
        })
        .await;
    bench
        .wait_event("heap", |e| {
            matches!(
                e,
                DeviceEvent::Heap {
                    source: HeapSource::Modelled,
                    ..
                }
            )
        })
        .await;
}

#[tokio::test]
async fn burst_sends_numbered_stamped_frames_of_the_asked_size_to_everyone() {
    let bench = Bench::quiet();
    let mut a = client(&bench).await;
    let mut b = client(&bench).await;
    bench.start_background();
    let reply = ask(&mut a, "!burst 5 100 1").await;
    assert!(
        reply.starts_with("!burst started id=1 count=5 size=100"),
        "{reply}"
    );
    for ws in [&mut a, &mut b] {
        let mut last_t = 0u64;
        for seq in 1..=5 {
            let frame = next_text(ws).await;
            assert_eq!(frame.len(), 100, "{frame}");
            let head = format!("burst id=1 seq={seq} count=5 t_us=");
            let rest = frame
                .strip_prefix(&head)
                .unwrap_or_else(|| panic!("{frame}"));
            let (t, pad) = rest.split_once(' ').unwrap();
            let t: u64 = t.parse().unwrap();
            assert!(t >= last_t);
            last_t = t;
            assert!(pad.bytes().all(|c| c == b'.'), "{frame}");
        }
    }
    bench
        .wait_event("burst_done", |e| {
            matches!(
                e,
                DeviceEvent::BurstDone {
                    id: 1,
                    sent: 10,
                    dropped: 0
                }
            )
        })
        .await;
}

#[tokio::test]
async fn commands_answer_the_sender_and_bad_ones_get_an_error() {
    let bench = Bench::quiet();
    let mut a = client(&bench).await;
    let mut b = client(&bench).await;

    let stats = ask(&mut a, "!stats").await;
    for key in [
        "uptime_ms",
        "clients",
        "max_clients",
        "rx_frames",
        "tx_frames",
        "free_heap",
        "min_free_heap",
        "heap_source",
        "purged",
        "refused",
    ] {
        assert!(
            stats.contains(&format!("\"{key}\":")),
            "{key} missing in {stats}"
        );
    }
    assert!(stats.contains("\"max_clients\":7") && stats.contains("\"heap_source\":\"modelled\""));

    let time = ask(&mut a, "!time").await;
    let t: u64 = time
        .strip_prefix("time t_us=")
        .expect(&time)
        .parse()
        .unwrap();
    assert!(t > 0);

    a.send(Message::text("!bcast hello all")).await.unwrap();
    assert_eq!(next_text(&mut a).await, "hello all");
    assert_eq!(next_text(&mut b).await, "hello all");

    for bad in [
        "!",
        "!nope",
        "!burst 0 100 1",
        "!burst 1 2",
        "!close 1005",
        "!stats x",
    ] {
        let answer = ask(&mut a, bad).await;
        assert!(answer.starts_with("!error "), "{bad} -> {answer}");
    }

    a.send(Message::text("!close 4001")).await.unwrap();
    match next(&mut a).await {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 4001),
        other => panic!("expected CLOSE 4001, got {other:?}"),
    }
    bench
        .wait_event("close", |e| {
            matches!(e, DeviceEvent::Close { reason, code: Some(4001), .. } if reason == "server_close")
        })
        .await;
    b.send(Message::text("still")).await.unwrap();
    assert_eq!(next_text(&mut b).await, "still");
}

#[tokio::test]
async fn the_ready_line_names_ports_limit_purge_and_access_point() {
    let bench = Bench::quiet();
    bench.device.announce_ready();
    let lines = bench.lines();
    assert!(
        lines[0].starts_with("I (") && lines[0].ends_with(
            "ws_server: ready ws_port=80 wss_port=443 max_sockets=7 purge=on ssid=ESP32-WS-Server ip=192.168.4.1"
        ),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_socket_limit_beyond_the_cap_is_served_and_announced_as_the_cap() {
    // Slot numbers are 16-bit and there are two slots per session: 65535 sessions
    // would wrap slot numbers and hand one session's frames to another.
    let bench = Bench::new(DeviceConfig {
        max_open_sockets: u16::MAX,
        broadcast_interval_ms: 0,
        ..DeviceConfig::default()
    });
    bench.device.announce_ready();
    let ready = bench
        .wait_event("ready", |e| matches!(e, DeviceEvent::Ready { .. }))
        .await;
    assert!(
        matches!(ready, DeviceEvent::Ready { max_sockets, .. } if max_sockets == MAX_OPEN_SOCKETS),
        "{ready:?}"
    );
    let stats = bench.device.stats_json();
    assert!(
        stats.contains(&format!("\"max_clients\":{MAX_OPEN_SOCKETS}")),
        "{stats}"
    );
}

#[tokio::test]
async fn modelled_heap_drops_per_session_and_remembers_its_minimum() {
    let bench = Bench::quiet();
    let (idle, _) = bench.device.heap_figures();
    let a = client(&bench).await;
    let (busy, source) = bench.device.heap_figures();
    assert_eq!(source, HeapSource::Modelled);
    assert_eq!(
        idle.free - busy.free,
        wsbench_device::heap_model::WS_SESSION_COST
    );
    drop(a);
    bench
        .wait_event("close", |e| matches!(e, DeviceEvent::Close { .. }))
        .await;
    let (after, _) = bench.device.heap_figures();
    assert_eq!(after.free, idle.free);
    assert_eq!(after.min_free, busy.free);
}

#[tokio::test]
async fn allocator_figures_are_reported_as_such() {
    let figures = wsbench_device::HeapFigures {
        free: 123_456,
        min_free: 100_000,
    };
    let bench = Bench::with_heap(DeviceConfig::default(), Some(figures));
    let mut ws = client(&bench).await;
    let stats = ask(&mut ws, "!stats").await;
    assert!(
        stats.contains(
            "\"free_heap\":123456,\"min_free_heap\":100000,\"heap_source\":\"allocator\""
        ),
        "{stats}"
    );
    bench.start_background();
    bench
        .wait_event("heap", |e| {
            *e == DeviceEvent::Heap {
                free: 123_456,
                min_free: 100_000,
                source: HeapSource::Allocator,
            }
        })
        .await;
}

#[tokio::test]
async fn one_burst_at_a_time() {
    let bench = Bench::quiet();
    let mut ws = client(&bench).await;
    bench.start_background();
    let first = ask(&mut ws, "!burst 3 100 60000").await;
    assert!(first.starts_with("!burst started id=1 "), "{first}");
    // The first frame goes out at once; the next only after a minute.
    let frame = next_text(&mut ws).await;
    assert!(frame.starts_with("burst id=1 seq=1 "), "{frame}");
    let second = ask(&mut ws, "!burst 3 100 0").await;
    assert!(
        second.starts_with("!error burst 1 is still running"),
        "{second}"
    );
}

#[tokio::test]
async fn a_flood_of_connections_leaves_the_device_serving() {
    let bench = Bench::new(config(4, true));
    let mut streams = Vec::new();
    for _ in 0..50 {
        if let Some(s) = bench.connect() {
            streams.push(s);
        }
    }
    drop(streams);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut ws = client(&bench).await;
    ws.send(Message::text("after the flood")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "after the flood");
}

/// The simulated board shares the device through `Arc` and spawns `serve` and
/// `run_background` on tokio's multi-threaded runtime: this must keep compiling.
#[test]
fn device_is_sync_and_its_futures_are_send() {
    fn assert_sync<T: Sync>() {}
    fn assert_send<T: Send>(_: &T) {}
    assert_sync::<Device<TestPlatform>>();
    let bench = Bench::quiet();
    let (client, server) = tokio::io::duplex(64);
    let (r, w) = tokio::io::split(server);
    if let wsbench_device::Admission::Admitted(id) = bench
        .device
        .admit(bench.peer(), wsbench_device::Transport::Wss)
    {
        let serve = bench.device.serve(
            id,
            embedded_io_adapters::tokio_1::FromTokio::new(r),
            embedded_io_adapters::tokio_1::FromTokio::new(w),
        );
        assert_send(&serve);
    }
    assert_send(&bench.device.run_background());
    drop(client);
}
