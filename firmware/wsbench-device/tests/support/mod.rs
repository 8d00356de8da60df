//! A small host for the device in tests: tokio time, a console that keeps its lines, and
//! connections over in-memory pipes. Clients are tokio-tungstenite or raw bytes.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use embedded_io_adapters::tokio_1::FromTokio;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use wsbench_device::host::HostPlatform;
use wsbench_device::idf_log::{DeviceEvent, IdfLine};
use wsbench_device::{Admission, Device, DeviceConfig, HeapFigures, Transport};

/// Every await on the device's answer is bounded by this.
pub const STEP: Duration = Duration::from_secs(5);

/// The device crate's host platform, as the simulated board uses it.
pub type TestPlatform = HostPlatform;

pub struct Bench {
    pub device: Arc<Device<TestPlatform>>,
    lines: Arc<Mutex<Vec<String>>>,
    next_port: std::sync::atomic::AtomicU16,
}

impl Bench {
    pub fn new(config: DeviceConfig) -> Bench {
        Bench::with_heap(config, None)
    }

    /// A device whose platform reports `heap` as allocator figures.
    pub fn with_heap(config: DeviceConfig, heap: Option<HeapFigures>) -> Bench {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let platform = HostPlatform::new(move |line| sink.lock().unwrap().push(line.to_string()))
            .with_heap(heap);
        Bench {
            device: Arc::new(Device::new(config, platform)),
            lines,
            next_port: std::sync::atomic::AtomicU16::new(40000),
        }
    }

    /// A device with no periodic broadcast, so tests see only the frames they cause.
    pub fn quiet() -> Bench {
        Bench::new(DeviceConfig {
            broadcast_interval_ms: 0,
            ..DeviceConfig::default()
        })
    }

    pub fn start_background(&self) {
        let device = self.device.clone();
        tokio::spawn(async move { device.run_background().await });
    }

    pub fn peer(&self) -> SocketAddr {
        let port = self
            .next_port
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// Open a connection the way a host does: admit, then serve in its own task.
    /// `None` when refused (the server side is dropped: the client sees EOF).
    pub fn connect(&self) -> Option<DuplexStream> {
        self.connect_from(self.peer())
    }

    pub fn connect_from(&self, peer: SocketAddr) -> Option<DuplexStream> {
        self.connect_with_buffer(peer, 256 * 1024)
    }

    /// `buffer`: bytes the pipe holds in each direction (a small one stands for a client
    /// that reads slowly).
    pub fn connect_with_buffer(&self, peer: SocketAddr, buffer: usize) -> Option<DuplexStream> {
        let (client, server) = tokio::io::duplex(buffer);
        match self.device.admit(peer, Transport::Ws) {
            Admission::Refused => None,
            Admission::Admitted(id) => {
                let device = self.device.clone();
                let (r, w) = tokio::io::split(server);
                tokio::spawn(async move {
                    device.serve(id, FromTokio::new(r), FromTokio::new(w)).await;
                });
                Some(client)
            }
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    pub fn events(&self) -> Vec<DeviceEvent> {
        self.lines()
            .iter()
            .map(|l| {
                IdfLine::parse(l)
                    .unwrap_or_else(|| panic!("device line is not an ESP-IDF line: {l:?}"))
            })
            .filter_map(|l| l.event())
            .collect()
    }

    /// Wait until an event matching `pred` was logged.
    pub async fn wait_event(&self, what: &str, pred: impl Fn(&DeviceEvent) -> bool) -> DeviceEvent {
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(e) = self.events().into_iter().find(|e| pred(e)) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} event; console:\n{}",
                self.lines().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// RFC 6455's example answer to [`KEY`].
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

pub fn upgrade_request(extra: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: 192.168.4.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// Read an HTTP response head (up to the blank line).
pub async fn read_head(stream: &mut DuplexStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(STEP, stream.read(&mut byte))
            .await
            .expect("response head in time")
            .unwrap();
        assert!(
            n == 1,
            "EOF inside the response head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Read until the device closes the connection.
pub async fn read_to_end(stream: &mut DuplexStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(STEP, stream.read_to_end(&mut out))
        .await
        .expect("device closes the connection in time")
        .unwrap();
    out
}

/// A raw client: upgraded by hand, frames written byte by byte.
pub async fn raw_upgraded(bench: &Bench) -> DuplexStream {
    raw_upgraded_with_buffer(bench, 256 * 1024).await
}

pub async fn raw_upgraded_with_buffer(bench: &Bench, buffer: usize) -> DuplexStream {
    let mut stream = bench
        .connect_with_buffer(bench.peer(), buffer)
        .expect("admitted");
    stream
        .write_all(upgrade_request("").as_bytes())
        .await
        .unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream
}

/// Encode a client frame: `first` is the first header byte (FIN, RSV, opcode).
pub fn client_frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![first];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n < 65536 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x37u8, 0xfa, 0x21, 0x3d];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// A frame as the device sent it.
#[derive(Debug, PartialEq, Eq)]
pub struct ServerFrame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl ServerFrame {
    pub fn close_code(&self) -> Option<u16> {
        assert_eq!(self.opcode, 8, "expected a CLOSE frame, got {self:?}");
        (self.payload.len() >= 2).then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

pub async fn read_frame(stream: &mut DuplexStream) -> ServerFrame {
    tokio::time::timeout(STEP, async {
        let mut h = [0u8; 2];
        stream.read_exact(&mut h).await.expect("frame header");
        assert_eq!(h[1] & 0x80, 0, "server frames are never masked");
        assert_eq!(h[0] & 0x70, 0, "no reserved bits");
        let len = match h[1] & 0x7f {
            126 => u64::from(stream.read_u16().await.unwrap()),
            127 => stream.read_u64().await.unwrap(),
            n => u64::from(n),
        };
        let mut payload = vec![0u8; len as usize];
        stream.read_exact(&mut payload).await.unwrap();
        ServerFrame {
            fin: h[0] & 0x80 != 0,
            opcode: h[0] & 0x0f,
            payload,
        }
    })
    .await
    .expect("a frame from the device in time")
}

/// Read frames, skipping none, until a CLOSE arrives; then check the device hangs up.
pub async fn expect_close(stream: &mut DuplexStream, code: u16) {
    let frame = read_frame(stream).await;
    assert_eq!(frame.close_code(), Some(code), "close frame {frame:?}");
    let rest = read_to_end(stream).await;
    assert!(rest.is_empty(), "bytes after CLOSE: {rest:?}");
}
