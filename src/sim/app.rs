//! The app the simulated chip runs: the device crate serving ws and wss on 127.0.0.1.
//! It can be stopped (download mode, a reset) and started again with new settings; its
//! ports stay the same across restarts, so URLs a user was given keep working.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use wsbench_device::idf_log::{Level, Value};
use wsbench_device::{Device, DeviceConfig};

use super::error::SimError;
use super::listener::{self, WS, WSS};
use super::platform;
use super::stall::StallGate;
use super::uart::Uart;

/// What one boot of the app runs with.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The device's settings; its ports are replaced by the board's.
    pub device: DeviceConfig,
    /// Whether wss is served (a record with no TLS sessions turns it off).
    pub serve_wss: bool,
    /// TLS sessions at once (the flashed record's), or no bound of its own.
    pub max_tls_sessions: Option<usize>,
    /// Lines the firmware prints at boot before the device starts (W settings lines),
    /// with their tag.
    pub boot_lines: Vec<(Level, &'static str, String)>,
}

/// Where the app listens and prints; fixed for the board's life.
pub struct AppHost {
    pub ws_addr: SocketAddr,
    pub wss_addr: SocketAddr,
    pub acceptor: TlsAcceptor,
    pub uart: Arc<Uart>,
    /// The `heap-leak` fault's bytes a second (0: none).
    pub heap_leak_per_s: u64,
    /// The `stall` fault's windows.
    pub stall: StallGate,
}

/// A running app. Dropping it stops it too; [`RunningApp::stop`] also waits until its
/// ports are closed.
pub struct RunningApp {
    tasks: JoinSet<()>,
}

impl AppHost {
    /// Boots the app on already bound listeners (the board's first start).
    pub fn start_on(
        &self,
        config: AppConfig,
        ws: tokio::net::TcpListener,
        wss: Option<tokio::net::TcpListener>,
    ) -> RunningApp {
        let platform = platform::booted_now(self.uart.clone(), self.heap_leak_per_s);
        for (level, tag, message) in &config.boot_lines {
            let ms = wsbench_device::Platform::now_us(&platform) / 1000;
            self.uart.write_line(&wsbench_device::idf_log::format_line(
                *level, ms, tag, message,
            ));
        }
        let device_config = DeviceConfig {
            ws_port: self.ws_addr.port(),
            wss_port: if wss.is_some() {
                self.wss_addr.port()
            } else {
                0
            },
            ip: self.ws_addr.ip().to_string(),
            ..config.device
        };
        let device = Arc::new(Device::new(device_config, platform.clone()));
        let mut tasks = JoinSet::new();
        tasks.spawn(listener::accept_loop(
            ws,
            WS,
            device.clone(),
            None,
            platform.clone(),
            self.stall.clone(),
        ));
        if let Some(wss) = wss {
            let service = listener::TlsService {
                acceptor: self.acceptor.clone(),
                sessions: config
                    .max_tls_sessions
                    .map(|n| Arc::new(tokio::sync::Semaphore::new(n))),
            };
            tasks.spawn(listener::accept_loop(
                wss,
                WSS,
                device.clone(),
                Some(service),
                platform,
                self.stall.clone(),
            ));
        }
        let background = device.clone();
        tasks.spawn(async move { background.run_background().await });
        device.announce_ready();
        RunningApp { tasks }
    }

    /// Boots the app again after a reset: binds the board's ports anew first. A port
    /// another program took meanwhile is said on the console; the app then does not run.
    pub async fn restart(&self, config: AppConfig) -> Option<RunningApp> {
        let ws = match listener::bind(self.ws_addr.port(), WS).await {
            Ok(l) => l,
            Err(e) => return self.listen_failed(self.ws_addr.port(), &e),
        };
        let wss = if config.serve_wss {
            match listener::bind(self.wss_addr.port(), WSS).await {
                Ok(l) => Some(l),
                Err(e) => return self.listen_failed(self.wss_addr.port(), &e),
            }
        } else {
            None
        };
        Some(self.start_on(config, ws, wss))
    }

    fn listen_failed(&self, port: u16, e: &SimError) -> Option<RunningApp> {
        let platform = platform::booted_now(self.uart.clone(), self.heap_leak_per_s);
        let reason = e.to_string();
        platform::log(
            &platform,
            Level::Error,
            &format!("listen_failed port={port} reason={}", Value(&reason)),
        );
        None
    }
}

impl RunningApp {
    /// Closes every session and both ports, and waits until they are closed.
    pub async fn stop(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

impl AppConfig {
    /// The app as the simulator's own settings describe it (an unflashed board, or
    /// `wsbench run --sim`): no boot lines of its own.
    pub fn factory(device: DeviceConfig) -> AppConfig {
        AppConfig {
            device,
            serve_wss: true,
            max_tls_sessions: None,
            boot_lines: Vec::new(),
        }
    }

    /// The bundled firmware booted from flash with its settings record; `base` gives
    /// what a record does not hold (message limits, timeouts).
    pub fn from_firmware(
        firmware: &super::boot::FirmwareBoot,
        chip: super::chip::ChipKind,
        base: &DeviceConfig,
    ) -> AppConfig {
        let s = &firmware.settings;
        let mut boot_lines = vec![(
            Level::Info,
            platform::HOST_TAG,
            format!(
                "boot_simulated app={} version={} chip={chip} note={}",
                super::boot::FIRMWARE_PROJECT,
                Value(&firmware.version),
                Value("the device crate on this host, not the image's code")
            ),
        )];
        boot_lines.extend(
            firmware
                .warnings
                .iter()
                .map(|w| (Level::Warn, super::boot::FIRMWARE_TAG, w.clone())),
        );
        AppConfig {
            device: DeviceConfig {
                max_open_sockets: u16::from(s.max_open_sockets),
                lru_purge: s.lru_purge,
                broadcast_interval_ms: s.broadcast_interval_ms,
                ssid: s.ssid.clone(),
                ..base.clone()
            },
            serve_wss: s.max_tls_sessions > 0,
            max_tls_sessions: Some(usize::from(s.max_tls_sessions)),
            boot_lines,
        }
    }
}
