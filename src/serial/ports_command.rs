//! `wsbench ports`: the serial ports the system lists, with what each one looks like.

use serde::Serialize;

use super::board_port::{BoardPort, list};
use super::error::SerialError;
use crate::exit::{CommandResult, Failure, Outcome};

#[derive(Debug, Clone, clap::Args)]
pub struct PortsArgs {
    /// Print the ports as JSON (an object with a `ports` array) for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct PortsJson<'a> {
    ports: Vec<PortJson<'a>>,
}

#[derive(Serialize)]
struct PortJson<'a> {
    #[serde(flatten)]
    port: &'a BoardPort,
    adapter_name: &'static str,
    /// `vid:pid` in lower-case hex, as lsusb prints it; null for non-USB ports.
    vid_pid: Option<String>,
    /// Whether `wsbench flash` would pick it without `--port`.
    likely_esp: bool,
}

pub fn main(args: PortsArgs) -> CommandResult {
    let ports = list().map_err(|e: SerialError| Failure::unrunnable(e))?;
    let text = if args.json {
        let doc = PortsJson {
            ports: ports
                .iter()
                .map(|port| PortJson {
                    port,
                    adapter_name: port.adapter.label(),
                    vid_pid: port.vid_pid(),
                    likely_esp: port.adapter.is_likely_esp(),
                })
                .collect(),
        };
        serde_json::to_string_pretty(&doc).expect("plain data serialises")
    } else {
        table(&ports)
    };
    println!("{text}");
    Ok(Outcome::Success)
}

fn table(ports: &[BoardPort]) -> String {
    if ports.is_empty() {
        return "no serial ports found (pseudo-terminals are never listed: give them to \
                `wsbench flash --port`)"
            .to_owned();
    }
    let dash = || "-".to_owned();
    let rows: Vec<[String; 6]> = ports
        .iter()
        .map(|p| {
            let usb = p.usb.as_ref();
            [
                format!(
                    "{}{}",
                    if p.adapter.is_likely_esp() {
                        "* "
                    } else {
                        "  "
                    },
                    p.path.display()
                ),
                p.vid_pid().unwrap_or_else(dash),
                p.adapter.label().to_owned(),
                usb.and_then(|u| u.manufacturer.clone())
                    .unwrap_or_else(dash),
                usb.and_then(|u| u.product.clone()).unwrap_or_else(dash),
                usb.and_then(|u| u.serial_number.clone())
                    .unwrap_or_else(dash),
            ]
        })
        .collect();
    let header = [
        "  PATH",
        "VID:PID",
        "ADAPTER",
        "MANUFACTURER",
        "PRODUCT",
        "SERIAL",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(&header)];
    out.extend(
        rows.iter()
            .map(|r| line(&r.iter().map(String::as_str).collect::<Vec<_>>())),
    );
    out.push(
        "* looks like an ESP32 board: `wsbench flash` picks it when it is the only one".into(),
    );
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serial::adapter::Adapter;
    use crate::serial::board_port::UsbIdentity;

    #[test]
    fn the_table_marks_esp_ports_and_fills_missing_fields_with_dashes() {
        let ports = [
            BoardPort {
                path: "/dev/ttyACM0".into(),
                usb: Some(UsbIdentity {
                    vid: 0x303A,
                    pid: 0x1001,
                    manufacturer: Some("Espressif".into()),
                    product: Some("USB JTAG/serial debug unit".into()),
                    serial_number: Some("F4:12:FA:00:11:22".into()),
                }),
                adapter: Adapter::EspressifUsbSerialJtag,
            },
            BoardPort {
                path: "/dev/ttyS0".into(),
                usb: None,
                adapter: Adapter::NotUsb,
            },
        ];
        let text = table(&ports);
        let lines: Vec<_> = text.lines().collect();
        assert!(lines[1].starts_with("* /dev/ttyACM0"), "{text}");
        assert!(lines[1].contains("303a:1001") && lines[1].contains("F4:12:FA:00:11:22"));
        assert!(lines[2].starts_with("  /dev/ttyS0") && lines[2].contains("not a USB device"));
    }
}
