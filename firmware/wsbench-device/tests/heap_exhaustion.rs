//! A heap that runs out while a peer's large message is handled: the board's allocator
//! aborts (reboots the chip) when an infallible allocation fails, so every buffer whose
//! size a peer chooses must be allocated fallibly and its failure handled as lost frames
//! or an error reply. This test binary's allocator refuses large allocations on demand,
//! on the test's own thread only (the device runs there too: current-thread runtime).
//! And on a board the device keeps a heap reserve for the small allocations it cannot
//! avoid: a peer's buffers may not eat into it.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use wsbench_device::idf_log::DeviceEvent;
use wsbench_device::{DeviceConfig, HeapFigures};

/// Allocations of this size or more count as large (a peer-sized buffer); the test's
/// clients and pipes stay well below it.
const LARGE: usize = 8 * 1024;
/// Size of the hostile messages: large, and within the default `max_message_len`.
const MESSAGE: usize = 12 * 1024;

thread_local! {
    /// Large allocations still granted on this thread; `None` = no limit.
    static LARGE_LEFT: Cell<Option<u32>> = const { Cell::new(None) };
    /// Allocations (and reallocations) made on this thread.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

struct Frugal;

// SAFETY: every call is forwarded to the system allocator, or refused with a null
// pointer, which `GlobalAlloc` allows.
unsafe impl GlobalAlloc for Frugal {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        if layout.size() >= LARGE && !take_large() {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Frugal = Frugal;

fn take_large() -> bool {
    LARGE_LEFT
        .try_with(|left| match left.get() {
            None => true,
            Some(0) => false,
            Some(n) => {
                left.set(Some(n - 1));
                true
            }
        })
        .unwrap_or(true)
}

/// From now on, grant this thread only `n` more large allocations.
fn limit_large_allocations(n: u32) {
    LARGE_LEFT.with(|left| left.set(Some(n)));
}

fn unlimited() {
    LARGE_LEFT.with(|left| left.set(None));
}

/// Clients with small pipes, so neither side's buffers ever make a large allocation.
async fn small_clients(bench: &Bench, n: usize) -> Vec<DuplexStream> {
    let mut clients = Vec::new();
    for _ in 0..n {
        clients.push(raw_upgraded_with_buffer(bench, 1024).await);
    }
    clients
}

async fn wait_for_stats(bench: &Bench, needle: &str) {
    let deadline = Instant::now() + STEP;
    loop {
        let stats = bench.device.stats_json();
        if stats.contains(needle) {
            return;
        }
        assert!(Instant::now() < deadline, "{needle} never in {stats}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn assert_all_served(clients: &mut [DuplexStream]) {
    for (i, client) in clients.iter_mut().enumerate() {
        let text = format!("still served {i}");
        client
            .write_all(&client_frame(0x81, text.as_bytes(), true))
            .await
            .unwrap();
        let echo = read_frame(client).await;
        assert_eq!((echo.opcode, echo.payload), (1, text.into_bytes()));
    }
}

#[tokio::test]
async fn a_broadcast_the_heap_cannot_copy_is_dropped_and_the_device_serves_on() {
    let bench = Bench::quiet();
    let mut clients = small_clients(&bench, 3).await;
    let command = format!("!bcast {}", "x".repeat(MESSAGE));
    let frame = client_frame(0x81, command.as_bytes(), true);
    // Room for the buffer the message arrives in, none for a copy of it.
    limit_large_allocations(1);
    clients[0].write_all(&frame).await.unwrap();
    wait_for_stats(&bench, "\"dropped\":3").await;
    unlimited();
    assert_all_served(&mut clients).await;
}

#[tokio::test]
async fn a_huge_unknown_command_gets_a_short_error_without_copying_it() {
    let bench = Bench::quiet();
    let mut clients = small_clients(&bench, 1).await;
    let command = format!("!{}", "x".repeat(MESSAGE));
    let frame = client_frame(0x81, command.as_bytes(), true);
    // Room for the buffer the message arrives in, none for a copy of it.
    limit_large_allocations(1);
    clients[0].write_all(&frame).await.unwrap();
    let reply = read_frame(&mut clients[0]).await;
    unlimited();
    let reply = String::from_utf8(reply.payload).unwrap();
    assert!(
        reply.starts_with("!error unknown command '!xxx") && reply.len() < 200,
        "{reply}"
    );
    assert_all_served(&mut clients).await;
}

#[tokio::test]
async fn burst_frames_the_heap_cannot_hold_are_counted_as_dropped() {
    let bench = Bench::quiet();
    let mut clients = small_clients(&bench, 3).await;
    bench.start_background();
    limit_large_allocations(0);
    let command = format!("!burst 2 {MESSAGE} 0");
    clients[0]
        .write_all(&client_frame(0x81, command.as_bytes(), true))
        .await
        .unwrap();
    let reply = read_frame(&mut clients[0]).await;
    assert!(
        reply.payload.starts_with(b"!burst started id=1 count=2"),
        "{reply:?}"
    );
    bench
        .wait_event("burst_done", |e| {
            matches!(
                e,
                DeviceEvent::BurstDone {
                    id: 1,
                    sent: 0,
                    dropped: 6
                }
            )
        })
        .await;
    unlimited();
    assert_all_served(&mut clients).await;
}

#[tokio::test]
async fn an_echo_needs_no_second_buffer_for_its_header() {
    let bench = Bench::quiet();
    let mut clients = small_clients(&bench, 1).await;
    let client = &mut clients[0];
    let payload: Vec<u8> = (0..MESSAGE).map(|i| (i % 251) as u8).collect();
    let frame = client_frame(0x82, &payload, true);
    limit_large_allocations(1);
    client.write_all(&frame).await.unwrap();
    // The header comes first: once it is here, the echo frame has been built.
    let mut head = [0u8; 4];
    tokio::time::timeout(STEP, client.read_exact(&mut head))
        .await
        .expect("echo header in time")
        .unwrap();
    unlimited();
    assert_eq!(head[0], 0x82, "a binary echo, not a close: {head:?}");
    assert_eq!(head[1], 126);
    assert_eq!(usize::from(u16::from_be_bytes([head[2], head[3]])), MESSAGE);
    let mut echoed = vec![0u8; MESSAGE];
    tokio::time::timeout(STEP, client.read_exact(&mut echoed))
        .await
        .expect("echo payload in time")
        .unwrap();
    assert!(echoed == payload, "echo differs from the message");
}

/// A board whose allocator reports `free` bytes, keeping [`RESERVE`] for small needs.
fn board_with_free_heap(free: u32) -> Bench {
    Bench::with_heap(
        DeviceConfig {
            broadcast_interval_ms: 0,
            heap_reserve_bytes: RESERVE,
            ..DeviceConfig::default()
        },
        Some(HeapFigures {
            free,
            min_free: free,
        }),
    )
}

const RESERVE: usize = 16 * 1024;

#[tokio::test]
async fn a_message_that_would_eat_the_heap_reserve_closes_1009_and_small_ones_pass() {
    // 20 000 free, 16 KiB kept: room for about 3.6 KB of peer-sized buffers.
    let bench = board_with_free_heap(20_000);
    let mut clients = small_clients(&bench, 2).await;
    let big = client_frame(0x82, &vec![9u8; 8 * 1024], true);
    // The device refuses from the header and stops reading: the rest may not fit.
    let _ = clients[0].write_all(&big).await;
    expect_close(&mut clients[0], 1009).await;
    let error = bench
        .wait_event("protocol_error", |e| {
            matches!(e, DeviceEvent::ProtocolError { code: 1009, .. })
        })
        .await;
    assert!(format!("{error:?}").contains("reserve 16384"), "{error:?}");
    assert_all_served(&mut clients[1..]).await;
}

#[tokio::test]
async fn burst_frames_that_would_eat_the_heap_reserve_are_dropped() {
    let bench = board_with_free_heap(20_000);
    let mut clients = small_clients(&bench, 2).await;
    bench.start_background();
    clients[0]
        .write_all(&client_frame(0x81, b"!burst 3 4000 0", true))
        .await
        .unwrap();
    let reply = read_frame(&mut clients[0]).await;
    assert!(reply.payload.starts_with(b"!burst started"), "{reply:?}");
    bench
        .wait_event("burst_done", |e| {
            matches!(
                e,
                DeviceEvent::BurstDone {
                    sent: 0,
                    dropped: 6,
                    ..
                }
            )
        })
        .await;
    assert_all_served(&mut clients).await;
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[tokio::test]
async fn a_message_in_thousands_of_tiny_fragments_costs_a_few_reallocations() {
    const FRAGMENTS: usize = 4000;
    let bench = Bench::quiet();
    let mut clients = small_clients(&bench, 1).await;
    let client = &mut clients[0];
    let mut frames = client_frame(0x02, b"a", true);
    for _ in 1..FRAGMENTS - 1 {
        frames.extend_from_slice(&client_frame(0x00, b"a", true));
    }
    frames.extend_from_slice(&client_frame(0x80, b"a", true));
    let before = allocations();
    client.write_all(&frames).await.unwrap();
    let echo = read_frame(client).await;
    let made = allocations() - before;
    assert_eq!((echo.opcode, echo.payload.len()), (2, FRAGMENTS));
    // One growth per fragment would be thousands (and quadratic copying); doubling
    // needs a dozen. The rest is the pipes, the tasks' wakeups and the reply.
    assert!(
        made < 400,
        "{made} allocations for one message of {FRAGMENTS} fragments"
    );
}
