//! `SimBoard`: one simulated board running on the current tokio runtime. The in-process
//! API behind `wsbench sim` and `wsbench run --sim`.
//!
//! It composes the parts, each with one job: the UART (`uart`), the chip and its flash
//! (`chip`), the chip's serial side with the ROM loader (`download`, `rom`), booting
//! from flash (`boot`) and the app (`app`). The chip thread tells the app task what to
//! run; nothing flows back.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use wsbench_device::{DeviceConfig, MAX_OPEN_SOCKETS};

use super::app::{AppConfig, AppHost, RunningApp};
use super::chip::{Chip, ChipKind, Flash, ResetReason};
use super::download::{self, AppControl, ChipThread};
use super::error::SimError;
use super::listener::{self, WS, WSS};
use super::noise;
use super::options::SimOptions;
use super::stall::StallGate;
use super::tls;
use super::uart::Uart;

/// A running simulated board: the device crate on tokio, listening on 127.0.0.1, and a
/// chip that answers the ESP ROM loader's protocol on its serial console.
///
/// Its figures are host figures (timing) and modelled ones (heap): never present them
/// as a board's. Dropping it stops everything too; `shutdown` also waits until the
/// ports are closed and the flash file is saved.
pub struct SimBoard {
    ws_addr: SocketAddr,
    wss_addr: SocketAddr,
    uart: Arc<Uart>,
    ready_line: Option<String>,
    chip: ChipKind,
    flash_was_empty: bool,
    app_task: JoinHandle<()>,
    app_stop: Option<tokio::sync::oneshot::Sender<()>>,
    chip_thread: Option<ChipThread>,
}

impl SimBoard {
    /// Binds both ports, opens the UART and the flash, and boots: with an erased flash
    /// the bundled firmware runs with `opts`' settings (an unflashed simulated board
    /// behaves as it always did); otherwise the chip boots what the flash holds.
    /// Returns once the ports listen and the ready line is printed (if an app runs).
    pub async fn start(opts: SimOptions) -> Result<SimBoard, SimError> {
        opts.validate()?;
        // Fault times count from here.
        let started = std::time::Instant::now();
        let ws = listener::bind(opts.ws_port, WS).await?;
        let wss = listener::bind(opts.wss_port, WSS).await?;
        let ws_addr = local_addr(&ws, opts.ws_port)?;
        let wss_addr = local_addr(&wss, opts.wss_port)?;
        let flash = match &opts.flash_file {
            Some(path) => Flash::backed_by(path)?,
            None => Flash::erased(),
        };
        let flash_was_empty = flash.is_erased();
        let chip = Chip::new(opts.chip, flash);
        let uart = Arc::new(Uart::open(opts.console_stdout)?);
        let host = AppHost {
            ws_addr,
            wss_addr,
            acceptor: tls::dev_acceptor()?,
            uart: uart.clone(),
            heap_leak_per_s: opts.faults.heap_leak_per_s,
            stall: StallGate::new(started, &opts.faults.stalls),
        };
        let base = DeviceConfig {
            max_open_sockets: u16::try_from(opts.max_sockets).unwrap_or(MAX_OPEN_SOCKETS),
            lru_purge: opts.lru_purge,
            broadcast_interval_ms: opts.broadcast_interval_ms,
            max_message_len: opts.max_message_len,
            ..DeviceConfig::default()
        };

        // Printed before any caller can subscribe: keep it for `ready_line`.
        let mut boot_lines = uart.subscribe();
        if opts.faults.noise {
            for garbage in noise::burst() {
                uart.write_bytes_line(&garbage);
            }
        }
        let first = if flash_was_empty && opts.faults.has_board_faults() {
            // A board's power-on boot log, so a console reader knows the chip (and can
            // name a later panic's frames) before the first fault.
            let (lines, app) = download::factory_boot(opts.chip, ResetReason::PowerOn, &base);
            for line in lines {
                uart.write_line(&line);
            }
            Some(app)
        } else if flash_was_empty {
            Some(AppConfig::factory(base.clone()))
        } else {
            let (lines, app) = download::boot_app(&chip, ResetReason::PowerOn, &base);
            for line in lines {
                uart.write_line(&line);
            }
            app
        };
        let app_running = first.is_some();
        let running = first.map(|config| {
            let wss = config.serve_wss.then_some(wss);
            host.start_on(config, ws, wss)
        });
        let mut ready_line = None;
        while let Ok(line) = boot_lines.try_recv() {
            if line.contains(": ready ") {
                ready_line = Some(line);
                break;
            }
        }

        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let app_task = tokio::spawn(run_app(host, running, control_rx, stop_rx));
        let chip_thread = ChipThread::spawn(
            uart.clone(),
            chip,
            &opts.faults,
            base,
            control_tx,
            started,
            app_running,
        )
        .map_err(|e| SimError::Console(format!("cannot start the chip's thread: {e}")))?;
        Ok(SimBoard {
            ws_addr,
            wss_addr,
            uart,
            ready_line,
            chip: opts.chip,
            flash_was_empty,
            app_task,
            app_stop: Some(stop_tx),
            chip_thread: Some(chip_thread),
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

    /// The chip the ROM loader answers as.
    pub fn chip(&self) -> ChipKind {
        self.chip
    }

    /// Whether the flash was erased at start (the bundled firmware then runs with the
    /// simulator's settings until something is flashed).
    pub fn flash_was_empty(&self) -> bool {
        self.flash_was_empty
    }

    /// The pseudo-terminal standing in for the board's serial port (`/dev/pts/N`).
    pub fn console_path(&self) -> Option<&Path> {
        Some(self.uart.path())
    }

    /// Every console line printed from now on (device log lines, ROM boot logs), as
    /// printed (no line ending). A receiver that falls far behind gets `Lagged` rather
    /// than slowing the board.
    pub fn console_lines(&self) -> broadcast::Receiver<String> {
        self.uart.subscribe()
    }

    /// The device's ready line (`I (0) ws_server: ready ws_port=...`), printed during
    /// `start` and so before any `console_lines` receiver existed.
    pub fn ready_line(&self) -> Option<&str> {
        self.ready_line.as_deref()
    }

    /// Console lines lost because no reader kept up.
    pub fn console_dropped(&self) -> u64 {
        self.uart.dropped()
    }

    /// Stops the app (closing every session and both ports) and the chip (saving its
    /// flash file), and waits until both are done.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.app_stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.app_task).await;
        if let Some(chip) = self.chip_thread.take() {
            let _ = tokio::task::spawn_blocking(move || chip.stop()).await;
        }
    }
}

impl Drop for SimBoard {
    fn drop(&mut self) {
        self.app_task.abort();
    }
}

/// The app task: runs what the chip booted until told to stop.
async fn run_app(
    host: AppHost,
    mut running: Option<RunningApp>,
    mut control: mpsc::UnboundedReceiver<AppControl>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let next = tokio::select! {
            _ = &mut stop => break,
            next = control.recv() => match next {
                Some(next) => next,
                // The chip stopped (shutdown): keep serving until told to stop.
                None => {
                    let _ = (&mut stop).await;
                    break;
                }
            },
        };
        if let Some(app) = running.take() {
            app.stop().await;
        }
        if let AppControl::Start(config) = next {
            running = host.restart(config).await;
        }
    }
    if let Some(app) = running {
        app.stop().await;
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
