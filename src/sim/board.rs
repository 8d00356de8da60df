//! `SimBoard`: one simulated board running on the current tokio runtime. The in-process
//! API behind `wsbench sim` and `wsbench run --sim`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::broadcast;
use tokio::task::JoinSet;
use wsbench_device::{Device, DeviceConfig, MAX_OPEN_SOCKETS};

use super::console::Console;
use super::error::SimError;
use super::listener::{self, WS, WSS};
use super::options::SimOptions;
use super::platform::SimPlatform;
use super::tls;

/// A running simulated board: the device crate on tokio, listening on 127.0.0.1.
///
/// Its figures are host figures (timing) and modelled ones (heap): never present them
/// as a board's. Dropping it stops everything too; `shutdown` also waits until the
/// ports are closed.
pub struct SimBoard {
    ws_addr: SocketAddr,
    wss_addr: SocketAddr,
    console: Arc<Console>,
    ready_line: Option<String>,
    tasks: JoinSet<()>,
}

impl SimBoard {
    /// Binds both ports, creates the console and starts serving on the current tokio
    /// runtime. Returns once the ports listen and the ready line is printed.
    pub async fn start(opts: SimOptions) -> Result<SimBoard, SimError> {
        opts.validate()?;
        let ws = listener::bind(opts.ws_port, WS).await?;
        let wss = listener::bind(opts.wss_port, WSS).await?;
        let ws_addr = local_addr(&ws, opts.ws_port)?;
        let wss_addr = local_addr(&wss, opts.wss_port)?;
        let acceptor = tls::dev_acceptor()?;
        let console = Arc::new(Console::open(opts.console_stdout)?);
        let platform = SimPlatform::new(console.clone());

        let config = DeviceConfig {
            max_open_sockets: u16::try_from(opts.max_sockets).unwrap_or(MAX_OPEN_SOCKETS),
            lru_purge: opts.lru_purge,
            broadcast_interval_ms: opts.broadcast_interval_ms,
            max_message_len: opts.max_message_len,
            ws_port: ws_addr.port(),
            wss_port: wss_addr.port(),
            ip: ws_addr.ip().to_string(),
            ..DeviceConfig::default()
        };
        let device = Arc::new(Device::new(config, platform.clone()));

        let mut tasks = JoinSet::new();
        tasks.spawn(listener::accept_loop(
            ws,
            WS,
            device.clone(),
            None,
            platform.clone(),
        ));
        tasks.spawn(listener::accept_loop(
            wss,
            WSS,
            device.clone(),
            Some(acceptor),
            platform,
        ));
        let background = device.clone();
        tasks.spawn(async move {
            background.run_background().await;
        });
        // Printed before any caller can subscribe: keep it for `ready_line`.
        let mut boot_lines = console.subscribe();
        device.announce_ready();
        let mut ready_line = None;
        while let Ok(line) = boot_lines.try_recv() {
            if line.contains(": ready ") {
                ready_line = Some(line);
                break;
            }
        }
        Ok(SimBoard {
            ws_addr,
            wss_addr,
            console,
            ready_line,
            tasks,
        })
    }

    /// `ws://127.0.0.1:PORT/ws`
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.ws_addr)
    }

    /// `wss://127.0.0.1:PORT/ws` (the bundled development certificate; SAN 127.0.0.1).
    pub fn wss_url(&self) -> String {
        format!("wss://{}/ws", self.wss_addr)
    }

    pub fn ws_addr(&self) -> SocketAddr {
        self.ws_addr
    }

    pub fn wss_addr(&self) -> SocketAddr {
        self.wss_addr
    }

    /// The pseudo-terminal standing in for the board's serial port (`/dev/pts/N`).
    pub fn console_path(&self) -> Option<&Path> {
        Some(self.console.path())
    }

    /// Every device log line printed from now on, as printed (ESP-IDF format, no line
    /// ending). A receiver that falls far behind gets `Lagged` rather than slowing the
    /// board.
    pub fn console_lines(&self) -> broadcast::Receiver<String> {
        self.console.subscribe()
    }

    /// The device's ready line (`I (0) ws_server: ready ws_port=...`), printed during
    /// `start` and so before any `console_lines` receiver existed.
    pub fn ready_line(&self) -> Option<&str> {
        self.ready_line.as_deref()
    }

    /// The console itself: its master side (`Console::master_fd`) is where a reader of
    /// what the host writes to the "UART" (a ROM-loader emulator) would sit.
    pub fn console(&self) -> &Console {
        &self.console
    }

    /// Console lines lost because no reader kept up.
    pub fn console_dropped(&self) -> u64 {
        self.console.dropped()
    }

    /// Closes every session and both ports, and waits until they are closed.
    pub async fn shutdown(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

fn local_addr(listener: &tokio::net::TcpListener, port: u16) -> Result<SocketAddr, SimError> {
    listener.local_addr().map_err(|source| SimError::Listen {
        port,
        what: "the local address",
        flag: "--ws-port/--wss-port",
        source,
    })
}
