//! Which port a command talks to: the one named (`--port`, then `WSBENCH_PORT`), else the
//! single port that looks like an ESP32 board. Several candidates are listed and the
//! command stops: wsbench never prompts, so it behaves the same at a desk and in CI.

use std::path::PathBuf;

use super::board_port::BoardPort;
use super::error::SerialError;

/// Environment variable naming the port when `--port` is not given.
pub const PORT_ENV: &str = "WSBENCH_PORT";

/// The chosen port and why, for the command's first line of output.
#[derive(Debug, Clone)]
pub struct PortChoice {
    pub port: BoardPort,
    pub because: &'static str,
}

/// Picks the port. `given` is `--port`, `from_env` is `WSBENCH_PORT`'s value (empty counts
/// as unset), `listed` the system's ports (only consulted when neither names one).
pub fn choose(
    given: Option<PathBuf>,
    from_env: Option<String>,
    listed: impl FnOnce() -> Result<Vec<BoardPort>, SerialError>,
) -> Result<PortChoice, SerialError> {
    if let Some(path) = given {
        return Ok(PortChoice {
            port: BoardPort::at_path(&path),
            because: "given with --port",
        });
    }
    if let Some(path) = from_env.filter(|v| !v.trim().is_empty()) {
        return Ok(PortChoice {
            port: BoardPort::at_path(&PathBuf::from(path.trim())),
            because: "from WSBENCH_PORT",
        });
    }
    let all = listed()?;
    let (likely, others): (Vec<_>, Vec<_>) =
        all.into_iter().partition(|p| p.adapter.is_likely_esp());
    match likely.len() {
        1 => Ok(PortChoice {
            port: likely.into_iter().next().expect("one candidate"),
            because: "the only port that looks like an ESP32 board",
        }),
        0 => Err(SerialError::NoPort {
            listed: if others.is_empty() {
                String::new()
            } else {
                format!(
                    " (other ports: {})",
                    others
                        .iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        }),
        _ => Err(SerialError::SeveralPorts {
            candidates: likely
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serial::adapter::Adapter;
    use crate::serial::board_port::UsbIdentity;

    fn usb_port(path: &str, vid: u16, pid: u16) -> BoardPort {
        BoardPort {
            path: path.into(),
            usb: Some(UsbIdentity {
                vid,
                pid,
                manufacturer: None,
                product: None,
                serial_number: None,
            }),
            adapter: Adapter::from_usb(vid, pid),
        }
    }

    fn never_listed() -> Result<Vec<BoardPort>, SerialError> {
        panic!("the listing must not be consulted when a port is named")
    }

    #[test]
    fn a_named_port_wins_over_the_environment_and_the_listing() {
        let c = choose(
            Some("/dev/pts/7".into()),
            Some("/dev/ttyUSB9".into()),
            never_listed,
        )
        .unwrap();
        assert_eq!(c.port.path, PathBuf::from("/dev/pts/7"));
        assert_eq!(c.because, "given with --port");
        let c = choose(None, Some("/dev/pts/8".into()), never_listed).unwrap();
        assert_eq!(c.port.path, PathBuf::from("/dev/pts/8"));
        assert_eq!(c.because, "from WSBENCH_PORT");
    }

    #[test]
    fn the_single_esp_like_port_is_chosen_among_others() {
        let c = choose(None, Some(String::new()), || {
            Ok(vec![
                usb_port("/dev/ttyACM0", 0x2341, 0x0043),
                usb_port("/dev/ttyUSB0", 0x10C4, 0xEA60),
            ])
        })
        .unwrap();
        assert_eq!(c.port.path, PathBuf::from("/dev/ttyUSB0"));
    }

    #[test]
    fn several_candidates_are_listed_and_nothing_is_chosen() {
        let err = choose(None, None, || {
            Ok(vec![
                usb_port("/dev/ttyUSB0", 0x10C4, 0xEA60),
                usb_port("/dev/ttyACM0", 0x303A, 0x1001),
            ])
        })
        .unwrap_err();
        let SerialError::SeveralPorts { candidates } = &err else {
            panic!("{err:?}")
        };
        assert!(candidates.contains("/dev/ttyUSB0") && candidates.contains("/dev/ttyACM0"));
        assert!(err.is_usage());
    }

    #[test]
    fn no_candidate_names_the_other_ports() {
        let err = choose(None, None, || {
            Ok(vec![usb_port("/dev/ttyACM0", 0x2341, 0x0043)])
        })
        .unwrap_err();
        let SerialError::NoPort { listed } = &err else {
            panic!("{err:?}")
        };
        assert!(listed.contains("/dev/ttyACM0"), "{listed}");
        let err = choose(None, None, || Ok(vec![])).unwrap_err();
        assert!(matches!(err, SerialError::NoPort { ref listed } if listed.is_empty()));
    }
}
