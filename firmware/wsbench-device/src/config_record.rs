//! The device settings record: what the bundled firmware reads at boot from a fixed flash
//! location, so a board can be re-configured (SSID, password, channel, socket limits,
//! purge, broadcast interval, ports, station mode) without rebuilding the image.
//!
//! One definition, used by the firmware (decode at boot) and by the CLI (encode before
//! writing it to flash), so the two can never disagree about the layout.
//!
//! # Layout (version 1, all integers little-endian)
//!
//! ```text
//! offset  size  field
//! 0       4     magic            b"WSBC"
//! 4       2     version          1
//! 6       2     body_len         number of body bytes that follow
//! 8       n     body             see below
//! 8+n     4     crc32            CRC-32/ISO-HDLC over bytes 0 .. 8+n
//! ```
//!
//! Body (version 1):
//!
//! ```text
//! u8   wifi mode         0 = access point (SoftAP), 1 = station (join a network)
//! u8   channel           1..=13, used in access-point mode
//! u8   ssid length       then that many bytes of UTF-8: 1..=32
//! u8   password length   then that many bytes of UTF-8: 0 (open) or 8..=63 (WPA2)
//! u8   max open sockets  1..=32: sessions at once, ws and wss together
//! u8   max tls sessions  0..=32: of those, how many may be TLS (0 turns wss off)
//! u8   lru purge         0 = off, 1 = on
//! u32  broadcast interval in ms (0 = off)
//! u16  ws port           non-zero
//! u16  wss port          non-zero, different from the ws port
//! ```
//!
//! The socket limits follow the device crate's single session table: `max open sockets`
//! counts every session, and `max tls sessions` caps how many of them are TLS, which is
//! what the board's heap limits.
//!
//! In station mode the SSID and password are the network to join; in access-point mode
//! they are the network the board creates. Flash that was never written reads as `0xFF`
//! bytes: [`decode`] reports that as [`ConfigRecordError::Missing`], distinct from a
//! damaged record, so the firmware can say which one it saw.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Flash offset of the settings record: a 4 KiB partition (`wsbench_cfg`, custom type 0x40,
/// subtype 0) placed here by the bundled partition table. The CLI writes the record
/// here; the firmware reads it from here.
pub const FLASH_OFFSET: u32 = 0xE000;

/// Size of the flash region reserved for the record (one erase sector).
pub const FLASH_REGION_LEN: usize = 0x1000;

/// The four bytes every record starts with.
pub const MAGIC: [u8; 4] = *b"WSBC";

/// The layout version this code writes and reads.
pub const VERSION: u16 = 1;

const HEADER_LEN: usize = 8;
const CRC_LEN: usize = 4;
const MAX_SSID_LEN: usize = 32;
const MAX_PASSWORD_LEN: usize = 63;
const MIN_PASSWORD_LEN: usize = 8;
const MAX_SOCKETS: u8 = 32;

/// The longest record version 1 can produce; a reader never needs more bytes than this.
pub const MAX_RECORD_LEN: usize =
    HEADER_LEN + 2 + 1 + MAX_SSID_LEN + 1 + MAX_PASSWORD_LEN + 3 + 4 + 2 + 2 + CRC_LEN;

/// How the board joins a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WifiMode {
    /// The board creates its own network (SoftAP) and serves DHCP on it.
    AccessPoint,
    /// The board joins an existing network and takes an address from its DHCP server.
    Station,
}

/// The settings a board boots with. [`Default`] gives the ESP-IDF WebSocket example's
/// values, which is also what the firmware uses when no valid record is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSettings {
    /// Access point (own network) or station (join one).
    pub wifi_mode: WifiMode,
    /// SSID created (access point) or joined (station).
    pub ssid: String,
    /// WPA2 password; empty means an open network.
    pub password: String,
    /// Wi-Fi channel of the access point (1..=13); ignored in station mode.
    pub channel: u8,
    /// Sessions served at once, ws and wss together: esp_http_server's
    /// `max_open_sockets`, the size of the device's one session table.
    pub max_open_sockets: u8,
    /// Of those, how many may be TLS at once (each costs about 38 KiB of heap on the
    /// board); 0 turns wss off.
    pub max_tls_sessions: u8,
    /// Close the least recently active session when a new one arrives and the table is full.
    pub lru_purge: bool,
    /// Period of the broadcast to every client, in ms (0 = off).
    pub broadcast_interval_ms: u32,
    /// Port of the plain WebSocket server.
    pub ws_port: u16,
    /// Port of the TLS WebSocket server.
    pub wss_port: u16,
}

impl Default for DeviceSettings {
    fn default() -> Self {
        Self {
            wifi_mode: WifiMode::AccessPoint,
            ssid: String::from("ESP32-WS-Server"),
            password: String::from("password"),
            channel: 1,
            max_open_sockets: 7,
            max_tls_sessions: 2,
            lru_purge: true,
            broadcast_interval_ms: 5000,
            ws_port: 80,
            wss_port: 443,
        }
    }
}

/// Why a record could not be used. Each variant names what was wrong so the firmware's
/// W line and the CLI's error can say it plainly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigRecordError {
    /// The region is erased (all `0xFF`) or empty: no record was ever written.
    Missing,
    /// The first four bytes are not `WSBC`: the region holds something else.
    BadMagic([u8; 4]),
    /// A record of a layout this code does not know.
    UnsupportedVersion(u16),
    /// Fewer bytes than the header announces.
    Truncated { needed: usize, available: usize },
    /// The stored CRC does not match the bytes: the record is damaged.
    Checksum { stored: u32, computed: u32 },
    /// The body's length disagrees with its fields.
    BodyLength { declared: usize, used: usize },
    /// A field is out of its range (or, when encoding, a setting cannot be stored).
    InvalidField {
        field: &'static str,
        reason: &'static str,
    },
}

impl fmt::Display for ConfigRecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => write!(f, "no settings record (flash region erased)"),
            Self::BadMagic(m) => write!(f, "not a settings record (magic {m:02x?})"),
            Self::UnsupportedVersion(v) => {
                write!(
                    f,
                    "settings record version {v} is not supported (expected {VERSION})"
                )
            }
            Self::Truncated { needed, available } => {
                write!(
                    f,
                    "settings record truncated ({available} of {needed} bytes)"
                )
            }
            Self::Checksum { stored, computed } => write!(
                f,
                "settings record checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
            Self::BodyLength { declared, used } => write!(
                f,
                "settings record body length {declared} does not match its fields ({used} bytes)"
            ),
            Self::InvalidField { field, reason } => {
                write!(f, "settings record field {field}: {reason}")
            }
        }
    }
}

impl core::error::Error for ConfigRecordError {}

/// CRC-32/ISO-HDLC (the zlib/Ethernet CRC), bit by bit: the record is a few dozen bytes
/// read once at boot, so a table is not worth its flash.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

impl DeviceSettings {
    /// Checks every field against its range, so a record that decodes is also usable.
    pub fn validate(&self) -> Result<(), ConfigRecordError> {
        let invalid = |field, reason| Err(ConfigRecordError::InvalidField { field, reason });
        if self.ssid.is_empty() || self.ssid.len() > MAX_SSID_LEN {
            return invalid("ssid", "must be 1 to 32 bytes");
        }
        let pw = self.password.len();
        if pw != 0 && !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&pw) {
            return invalid("password", "must be empty (open) or 8 to 63 bytes (WPA2)");
        }
        if !(1..=13).contains(&self.channel) {
            return invalid("channel", "must be 1 to 13");
        }
        if self.max_open_sockets == 0 || self.max_open_sockets > MAX_SOCKETS {
            return invalid("max_open_sockets", "must be 1 to 32");
        }
        if self.max_tls_sessions > MAX_SOCKETS {
            return invalid("max_tls_sessions", "must be 0 to 32");
        }
        if self.max_tls_sessions > self.max_open_sockets {
            return invalid("max_tls_sessions", "must not exceed max_open_sockets");
        }
        if self.ws_port == 0 {
            return invalid("ws_port", "must not be 0");
        }
        if self.wss_port == 0 {
            return invalid("wss_port", "must not be 0");
        }
        if self.ws_port == self.wss_port {
            return invalid("wss_port", "must differ from ws_port");
        }
        Ok(())
    }

    /// The record's bytes (header, body, CRC), ready to be written at [`FLASH_OFFSET`].
    pub fn encode(&self) -> Result<Vec<u8>, ConfigRecordError> {
        self.validate()?;
        let mut out = Vec::with_capacity(MAX_RECORD_LEN);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&[0, 0]); // body length, filled in below
        out.push(match self.wifi_mode {
            WifiMode::AccessPoint => 0,
            WifiMode::Station => 1,
        });
        out.push(self.channel);
        // Lengths fit in a byte: validate() bounded them.
        out.push(self.ssid.len() as u8);
        out.extend_from_slice(self.ssid.as_bytes());
        out.push(self.password.len() as u8);
        out.extend_from_slice(self.password.as_bytes());
        out.push(self.max_open_sockets);
        out.push(self.max_tls_sessions);
        out.push(u8::from(self.lru_purge));
        out.extend_from_slice(&self.broadcast_interval_ms.to_le_bytes());
        out.extend_from_slice(&self.ws_port.to_le_bytes());
        out.extend_from_slice(&self.wss_port.to_le_bytes());
        let body_len = (out.len() - HEADER_LEN) as u16;
        out[6..8].copy_from_slice(&body_len.to_le_bytes());
        let crc = crc32(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }
}

/// Reads a record from the start of `bytes` (the flash region; trailing bytes are
/// ignored). Every failure is an error, never a guess: the caller falls back to
/// [`DeviceSettings::default`] and says why.
pub fn decode(bytes: &[u8]) -> Result<DeviceSettings, ConfigRecordError> {
    let erased = bytes.iter().take(HEADER_LEN).all(|&b| b == 0xFF);
    if bytes.is_empty() || erased {
        return Err(ConfigRecordError::Missing);
    }
    if bytes.len() < HEADER_LEN {
        return Err(ConfigRecordError::Truncated {
            needed: HEADER_LEN,
            available: bytes.len(),
        });
    }
    let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
    if magic != MAGIC {
        return Err(ConfigRecordError::BadMagic(magic));
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    if version != VERSION {
        return Err(ConfigRecordError::UnsupportedVersion(version));
    }
    let body_len = usize::from(u16::from_le_bytes([bytes[6], bytes[7]]));
    let total = HEADER_LEN + body_len + CRC_LEN;
    if bytes.len() < total {
        return Err(ConfigRecordError::Truncated {
            needed: total,
            available: bytes.len(),
        });
    }
    let crc_at = HEADER_LEN + body_len;
    let stored = u32::from_le_bytes([
        bytes[crc_at],
        bytes[crc_at + 1],
        bytes[crc_at + 2],
        bytes[crc_at + 3],
    ]);
    let computed = crc32(&bytes[..crc_at]);
    if stored != computed {
        return Err(ConfigRecordError::Checksum { stored, computed });
    }
    let mut body = BodyReader {
        bytes: &bytes[HEADER_LEN..crc_at],
        at: 0,
    };
    let settings = body.settings()?;
    if body.at != body_len {
        return Err(ConfigRecordError::BodyLength {
            declared: body_len,
            used: body.at,
        });
    }
    settings.validate()?;
    Ok(settings)
}

/// A cursor over the body that turns running off the end into a [`ConfigRecordError`].
struct BodyReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> BodyReader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ConfigRecordError> {
        let end = self.at + n;
        let slice = self
            .bytes
            .get(self.at..end)
            .ok_or(ConfigRecordError::BodyLength {
                declared: self.bytes.len(),
                used: end,
            })?;
        self.at = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, ConfigRecordError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, ConfigRecordError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, ConfigRecordError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn text(&mut self, field: &'static str) -> Result<String, ConfigRecordError> {
        let len = usize::from(self.u8()?);
        let raw = self.take(len)?;
        core::str::from_utf8(raw)
            .map(String::from)
            .map_err(|_| ConfigRecordError::InvalidField {
                field,
                reason: "is not valid UTF-8",
            })
    }

    fn settings(&mut self) -> Result<DeviceSettings, ConfigRecordError> {
        let wifi_mode = match self.u8()? {
            0 => WifiMode::AccessPoint,
            1 => WifiMode::Station,
            _ => {
                return Err(ConfigRecordError::InvalidField {
                    field: "wifi_mode",
                    reason: "must be 0 (access point) or 1 (station)",
                });
            }
        };
        let channel = self.u8()?;
        let ssid = self.text("ssid")?;
        let password = self.text("password")?;
        let max_open_sockets = self.u8()?;
        let max_tls_sessions = self.u8()?;
        let lru_purge = match self.u8()? {
            0 => false,
            1 => true,
            _ => {
                return Err(ConfigRecordError::InvalidField {
                    field: "lru_purge",
                    reason: "must be 0 or 1",
                });
            }
        };
        Ok(DeviceSettings {
            wifi_mode,
            ssid,
            password,
            channel,
            max_open_sockets,
            max_tls_sessions,
            lru_purge,
            broadcast_interval_ms: self.u32()?,
            ws_port: self.u16()?,
            wss_port: self.u16()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn station() -> DeviceSettings {
        DeviceSettings {
            wifi_mode: WifiMode::Station,
            ssid: String::from("bench-lab"),
            password: String::from("correct horse battery"),
            channel: 6,
            max_open_sockets: 5,
            max_tls_sessions: 2,
            lru_purge: false,
            broadcast_interval_ms: 0,
            ws_port: 8080,
            wss_port: 8443,
        }
    }

    /// Re-seals a hand-edited record so only the edited field is wrong, not the CRC.
    fn reseal(record: &mut [u8]) {
        let crc_at = record.len() - CRC_LEN;
        let crc = crc32(&record[..crc_at]);
        record[crc_at..].copy_from_slice(&crc.to_le_bytes());
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn defaults_round_trip() {
        let bytes = DeviceSettings::default().encode().unwrap();
        assert_eq!(&bytes[..4], b"WSBC");
        assert_eq!(decode(&bytes).unwrap(), DeviceSettings::default());
    }

    #[test]
    fn station_settings_round_trip_inside_an_erased_sector() {
        let record = station().encode().unwrap();
        let mut sector = vec![0xFF; FLASH_REGION_LEN];
        sector[..record.len()].copy_from_slice(&record);
        assert_eq!(decode(&sector).unwrap(), station());
    }

    #[test]
    fn open_network_and_longest_fields_round_trip() {
        let mut s = DeviceSettings {
            password: String::new(),
            ..DeviceSettings::default()
        };
        assert_eq!(decode(&s.encode().unwrap()).unwrap(), s);
        s.ssid = "s".repeat(32);
        s.password = "p".repeat(63);
        let bytes = s.encode().unwrap();
        assert_eq!(bytes.len(), MAX_RECORD_LEN);
        assert_eq!(decode(&bytes).unwrap(), s);
    }

    #[test]
    fn erased_or_empty_flash_is_missing() {
        assert_eq!(decode(&[0xFF; 64]), Err(ConfigRecordError::Missing));
        assert_eq!(decode(&[]), Err(ConfigRecordError::Missing));
    }

    #[test]
    fn foreign_bytes_are_bad_magic() {
        assert!(matches!(
            decode(&[0u8; 64]),
            Err(ConfigRecordError::BadMagic([0, 0, 0, 0]))
        ));
    }

    #[test]
    fn unknown_version_is_refused() {
        let mut bytes = DeviceSettings::default().encode().unwrap();
        bytes[4] = 2;
        reseal(&mut bytes);
        assert_eq!(
            decode(&bytes),
            Err(ConfigRecordError::UnsupportedVersion(2))
        );
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let bytes = station().encode().unwrap();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[i] ^= 1 << bit;
                assert!(
                    decode(&damaged).is_err(),
                    "flip of bit {bit} in byte {i} accepted"
                );
            }
        }
    }

    #[test]
    fn damaged_body_is_a_checksum_error() {
        let mut bytes = station().encode().unwrap();
        bytes[12] ^= 0x20;
        assert!(matches!(
            decode(&bytes),
            Err(ConfigRecordError::Checksum { .. })
        ));
    }

    #[test]
    fn truncation_is_reported_with_sizes() {
        let bytes = station().encode().unwrap();
        for cut in [3, 7, bytes.len() - 1] {
            assert!(
                matches!(
                    decode(&bytes[..cut]),
                    Err(ConfigRecordError::Truncated { .. })
                ),
                "cut at {cut}"
            );
        }
    }

    /// Hostile records that pass the CRC (a tool that seals whatever it writes): every
    /// byte of a record set to every value, and every declared body length, resealed.
    /// Decoding must never panic, and whatever it accepts is usable and stored the same
    /// way again.
    #[test]
    fn resealed_corruption_of_any_byte_never_panics_and_never_yields_invalid_settings() {
        let original = station().encode().unwrap();
        let check = |bytes: &[u8]| {
            if let Ok(settings) = decode(bytes) {
                assert_eq!(settings.validate(), Ok(()));
                let again = settings.encode().unwrap();
                assert_eq!(decode(&again), Ok(settings));
            }
        };
        for at in 0..original.len() - CRC_LEN {
            for value in 0..=u8::MAX {
                let mut bytes = original.clone();
                bytes[at] = value;
                reseal(&mut bytes);
                check(&bytes);
            }
        }
        // Every body length, sealed where it says the CRC is, in a 4 KiB erased region.
        for body_len in 0..=u16::MAX {
            let mut region = vec![0xFFu8; FLASH_REGION_LEN];
            region[..original.len()].copy_from_slice(&original);
            region[6..8].copy_from_slice(&body_len.to_le_bytes());
            let crc_at = HEADER_LEN + usize::from(body_len);
            if crc_at + CRC_LEN <= region.len() {
                let crc = crc32(&region[..crc_at]);
                region[crc_at..crc_at + CRC_LEN].copy_from_slice(&crc.to_le_bytes());
            }
            check(&region);
        }
    }

    #[test]
    fn body_length_that_disagrees_with_fields_is_refused() {
        let mut bytes = station().encode().unwrap();
        // Claim one more body byte and supply it before the CRC.
        let body_len = u16::from_le_bytes([bytes[6], bytes[7]]) + 1;
        bytes[6..8].copy_from_slice(&body_len.to_le_bytes());
        let crc_at = bytes.len() - CRC_LEN;
        bytes.insert(crc_at, 0);
        reseal(&mut bytes);
        assert!(matches!(
            decode(&bytes),
            Err(ConfigRecordError::BodyLength { .. })
        ));
    }

    #[test]
    fn out_of_range_fields_are_refused_even_with_a_valid_crc() {
        let cases: [(usize, u8, &str); 3] =
            [(8, 7, "wifi_mode"), (9, 14, "channel"), (9, 0, "channel")];
        for (offset, value, field) in cases {
            let mut bytes = station().encode().unwrap();
            bytes[offset] = value;
            reseal(&mut bytes);
            assert_eq!(
                decode(&bytes).unwrap_err(),
                ConfigRecordError::InvalidField {
                    field,
                    reason: match field {
                        "wifi_mode" => "must be 0 (access point) or 1 (station)",
                        _ => "must be 1 to 13",
                    }
                }
            );
        }
    }

    #[test]
    fn invalid_utf8_ssid_is_refused() {
        let mut bytes = station().encode().unwrap();
        bytes[11] = 0xC3; // first SSID byte: a lone UTF-8 lead byte
        reseal(&mut bytes);
        assert!(matches!(
            decode(&bytes),
            Err(ConfigRecordError::InvalidField { field: "ssid", .. })
        ));
    }

    #[test]
    fn settings_that_cannot_be_stored_are_refused_at_encode() {
        let bad = [
            DeviceSettings {
                ssid: String::new(),
                ..DeviceSettings::default()
            },
            DeviceSettings {
                password: String::from("short"),
                ..DeviceSettings::default()
            },
            DeviceSettings {
                max_tls_sessions: 8,
                ..DeviceSettings::default()
            },
            DeviceSettings {
                max_open_sockets: 0,
                ..DeviceSettings::default()
            },
            DeviceSettings {
                wss_port: 80,
                ..DeviceSettings::default()
            },
            DeviceSettings {
                ws_port: 0,
                ..DeviceSettings::default()
            },
        ];
        for s in bad {
            assert!(
                matches!(s.encode(), Err(ConfigRecordError::InvalidField { .. })),
                "{s:?}"
            );
        }
    }

    #[test]
    fn errors_read_as_sentences() {
        let e = decode(&[0u8; 16]).unwrap_err();
        assert!(alloc::format!("{e}").contains("not a settings record"));
    }
}
