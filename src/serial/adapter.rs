//! What a USB serial bridge is, told from its vendor and product ids. The reset sequence a
//! flasher must use, and whether a port is worth choosing on its own, follow from it.

use serde::Serialize;

/// The USB-to-serial bridge a port looks like, by USB VID:PID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Adapter {
    /// Espressif's on-chip USB-Serial-JTAG (303a:1001): C3, C6, S3, H2 boards without a bridge.
    EspressifUsbSerialJtag,
    /// Another Espressif USB device (303a:…), such as an S2/S3 in USB-OTG download mode.
    EspressifUsb,
    /// Silicon Labs CP210x (10c4:ea60 and relatives).
    Cp210x,
    /// WCH CH340 (1a86:7523).
    Ch340,
    /// WCH CH343/CH9102 (1a86:55d3, 55d4).
    Ch343,
    /// FTDI FT232R/FT2232/FT231X (0403:6001, 6010, 6014, 6015).
    Ftdi,
    /// A USB serial device of another kind: possibly a board, never chosen on its own.
    OtherUsb,
    /// Not a USB device (a PCI or built-in UART, a Bluetooth port, a pseudo-terminal).
    NotUsb,
}

impl Adapter {
    /// Classifies a USB identity.
    pub fn from_usb(vid: u16, pid: u16) -> Adapter {
        match (vid, pid) {
            (0x303A, 0x1001) => Adapter::EspressifUsbSerialJtag,
            (0x303A, _) => Adapter::EspressifUsb,
            (0x10C4, 0xEA60 | 0xEA70 | 0xEA71) => Adapter::Cp210x,
            (0x1A86, 0x7523 | 0x7522 | 0x5523) => Adapter::Ch340,
            (0x1A86, 0x55D2..=0x55D4) => Adapter::Ch343,
            (0x0403, 0x6001 | 0x6010 | 0x6011 | 0x6014 | 0x6015) => Adapter::Ftdi,
            _ => Adapter::OtherUsb,
        }
    }

    /// The bridges ESP32 boards carry: ports that `wsbench flash` picks without `--port`.
    pub fn is_likely_esp(self) -> bool {
        !matches!(self, Adapter::OtherUsb | Adapter::NotUsb)
    }

    /// Whether espflash's USB-Serial-JTAG reset sequence applies (its own DTR/RTS dance);
    /// the other bridges get the classic auto-reset circuit's sequence.
    pub fn is_usb_serial_jtag(self) -> bool {
        self == Adapter::EspressifUsbSerialJtag
    }

    /// A short name for listings and messages.
    pub fn label(self) -> &'static str {
        match self {
            Adapter::EspressifUsbSerialJtag => "Espressif USB-Serial-JTAG",
            Adapter::EspressifUsb => "Espressif USB",
            Adapter::Cp210x => "Silicon Labs CP210x",
            Adapter::Ch340 => "WCH CH340",
            Adapter::Ch343 => "WCH CH343/CH9102",
            Adapter::Ftdi => "FTDI",
            Adapter::OtherUsb => "other USB serial device",
            Adapter::NotUsb => "not a USB device",
        }
    }
}

impl std::fmt::Display for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_esp_bridges_are_recognised() {
        assert_eq!(
            Adapter::from_usb(0x303A, 0x1001),
            Adapter::EspressifUsbSerialJtag
        );
        assert_eq!(Adapter::from_usb(0x10C4, 0xEA60), Adapter::Cp210x);
        assert_eq!(Adapter::from_usb(0x1A86, 0x7523), Adapter::Ch340);
        assert_eq!(Adapter::from_usb(0x1A86, 0x55D4), Adapter::Ch343);
        for pid in [0x6001, 0x6010, 0x6015] {
            assert_eq!(Adapter::from_usb(0x0403, pid), Adapter::Ftdi);
        }
        assert!(Adapter::from_usb(0x303A, 0x1001).is_usb_serial_jtag());
        assert!(!Adapter::Cp210x.is_usb_serial_jtag());
    }

    #[test]
    fn unknown_usb_devices_are_listed_but_never_chosen() {
        let other = Adapter::from_usb(0x2341, 0x0043); // an Arduino Uno
        assert_eq!(other, Adapter::OtherUsb);
        assert!(!other.is_likely_esp());
        assert!(!Adapter::NotUsb.is_likely_esp());
        assert!(Adapter::Ch340.is_likely_esp());
    }
}
