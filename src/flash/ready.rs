//! After the reset: the firmware's console, read until its ready line, which says where
//! it listens.

use std::io::Read as _;
use std::time::{Duration, Instant};

use serialport::{SerialPort as _, TTYPort};
use wsbench_device::idf_log::{DeviceEvent, IdfLine};

use super::error::FlashError;

/// The console's last lines kept for the message when the ready line does not come.
const KEPT_LINES: usize = 6;

/// Where the flashed firmware listens, as its ready line announced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyLine {
    pub ws_url: String,
    /// `None` when the firmware serves no TLS (`wss_port=0`).
    pub wss_url: Option<String>,
    pub ssid: String,
    pub max_sockets: u16,
    pub purge: bool,
}

impl ReadyLine {
    /// The ready line's fields, as URLs.
    pub fn from_event(event: &DeviceEvent) -> Option<ReadyLine> {
        let DeviceEvent::Ready {
            ws_port,
            wss_port,
            max_sockets,
            purge,
            ssid,
            ip,
        } = event
        else {
            return None;
        };
        let url = |scheme: &str, port: u16, default: u16| {
            if port == default {
                format!("{scheme}://{ip}/ws")
            } else {
                format!("{scheme}://{ip}:{port}/ws")
            }
        };
        Some(ReadyLine {
            ws_url: url("ws", *ws_port, 80),
            wss_url: (*wss_port != 0).then(|| url("wss", *wss_port, 443)),
            ssid: ssid.clone(),
            max_sockets: *max_sockets,
            purge: *purge,
        })
    }
}

/// Reads the console until the ready line or `timeout`. A USB-Serial-JTAG board drops off
/// the bus when it resets: when the port fails, `reopen` is tried until the deadline and
/// reading goes on from the port that came back.
pub fn wait(
    mut tty: TTYPort,
    timeout: Duration,
    port: &str,
    reopen: impl Fn() -> Option<TTYPort>,
) -> Result<ReadyLine, FlashError> {
    let lost = |reason: String| FlashError::PortLost {
        port: port.to_owned(),
        during: "waiting for the firmware's ready line",
        reason,
    };
    tty.set_timeout(Duration::from_millis(200))
        .map_err(|e| lost(e.to_string()))?;
    let deadline = Instant::now() + timeout;
    let mut pending: Vec<u8> = Vec::new();
    let mut last: Vec<String> = Vec::new();
    let mut buf = [0u8; 512];
    while Instant::now() < deadline {
        match tty.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                let back = std::iter::from_fn(|| {
                    (Instant::now() < deadline).then(|| {
                        std::thread::sleep(Duration::from_millis(200));
                        reopen()
                    })
                })
                .flatten()
                .next();
                match back {
                    Some(again) => {
                        tty = again;
                        tty.set_timeout(Duration::from_millis(200))
                            .map_err(|e| lost(e.to_string()))?;
                    }
                    None => return Err(lost(format!("{e}, and the port did not come back"))),
                }
            }
        }
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let raw: Vec<u8> = pending.drain(..=end).collect();
            let text = String::from_utf8_lossy(&raw).trim().to_owned();
            if let Some(ready) = IdfLine::parse(&text)
                .and_then(|l| l.event())
                .and_then(|e| ReadyLine::from_event(&e))
            {
                return Ok(ready);
            }
            if !text.is_empty() && text.chars().any(|c| c.is_ascii_graphic()) {
                last.push(text);
                if last.len() > KEPT_LINES {
                    last.remove(0);
                }
            }
        }
    }
    Err(FlashError::NoReadyLine {
        port: port.to_owned(),
        timeout: humantime::format_duration(timeout).to_string(),
        last_lines: if last.is_empty() {
            "nothing".into()
        } else {
            format!("\"{}\"", last.join("\" / \""))
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn the_ready_line_gives_urls_and_default_ports_are_left_out() {
        let line = IdfLine::parse(
            "I (812) ws_server: ready ws_port=80 wss_port=443 max_sockets=3 purge=on ssid=ESP32-WS-Server ip=192.168.4.1",
        )
        .unwrap();
        let ready = ReadyLine::from_event(&line.event().unwrap()).unwrap();
        assert_eq!(ready.ws_url, "ws://192.168.4.1/ws");
        assert_eq!(ready.wss_url.as_deref(), Some("wss://192.168.4.1/ws"));
        assert_eq!(ready.max_sockets, 3);
        let line = IdfLine::parse(
            "I (5) ws_server: ready ws_port=8080 wss_port=0 max_sockets=7 purge=off ssid=x ip=127.0.0.1",
        )
        .unwrap();
        let ready = ReadyLine::from_event(&line.event().unwrap()).unwrap();
        assert_eq!(ready.ws_url, "ws://127.0.0.1:8080/ws");
        assert_eq!(ready.wss_url, None);
    }

    #[test]
    fn the_ready_line_is_found_among_boot_noise_on_a_pseudo_terminal() {
        let (mut master, slave) = TTYPort::pair().unwrap();
        master
            .write_all(
                b"\xff\x00garbage\r\nESP-ROM:esp32c3-api1-20210207\r\nrst:0x1 (POWERON),boot:0xc (SPI_FAST_FLASH_BOOT)\r\n\
                  I (812) ws_server: ready ws_port=8080 wss_port=8443 max_sockets=3 purge=on ssid=ESP32-WS-Server ip=127.0.0.1\r\n",
            )
            .unwrap();
        let ready = wait(slave, Duration::from_secs(20), "pty", || None).unwrap();
        assert_eq!(ready.wss_url.as_deref(), Some("wss://127.0.0.1:8443/ws"));
    }

    #[test]
    fn silence_ends_with_what_the_console_said() {
        let (mut master, slave) = TTYPort::pair().unwrap();
        master
            .write_all(b"E (10) boot: no app partition\r\n")
            .unwrap();
        let err = wait(slave, Duration::from_millis(600), "pty", || None).unwrap_err();
        let FlashError::NoReadyLine { last_lines, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(last_lines.contains("no app partition"), "{last_lines}");
    }
}
