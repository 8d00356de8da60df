//! The ESP serial protocol's packets, as esptool's "Serial Protocol" documents them:
//! a request `00 op len16 chk32 data`, a response `01 op len16 value32 data+status`.
//! SLIP framing is the UART's job; this module only sees whole packets.

/// Opcodes the emulator knows (ROM and stub).
pub mod op {
    pub const FLASH_BEGIN: u8 = 0x02;
    pub const FLASH_DATA: u8 = 0x03;
    pub const FLASH_END: u8 = 0x04;
    pub const MEM_BEGIN: u8 = 0x05;
    pub const MEM_END: u8 = 0x06;
    pub const MEM_DATA: u8 = 0x07;
    pub const SYNC: u8 = 0x08;
    pub const WRITE_REG: u8 = 0x09;
    pub const READ_REG: u8 = 0x0A;
    pub const SPI_SET_PARAMS: u8 = 0x0B;
    pub const SPI_ATTACH: u8 = 0x0D;
    pub const CHANGE_BAUDRATE: u8 = 0x0F;
    pub const FLASH_DEFL_BEGIN: u8 = 0x10;
    pub const FLASH_DEFL_DATA: u8 = 0x11;
    pub const FLASH_DEFL_END: u8 = 0x12;
    pub const SPI_FLASH_MD5: u8 = 0x13;
    pub const GET_SECURITY_INFO: u8 = 0x14;
    pub const ERASE_FLASH: u8 = 0xD0;
    pub const ERASE_REGION: u8 = 0xD1;
    pub const RUN_USER_CODE: u8 = 0xD3;
}

/// Every opcode with its name, for `--fault fail-command=NAME` and for messages.
pub const OPCODE_NAMES: &[(u8, &str)] = &[
    (op::FLASH_BEGIN, "FLASH_BEGIN"),
    (op::FLASH_DATA, "FLASH_DATA"),
    (op::FLASH_END, "FLASH_END"),
    (op::MEM_BEGIN, "MEM_BEGIN"),
    (op::MEM_END, "MEM_END"),
    (op::MEM_DATA, "MEM_DATA"),
    (op::SYNC, "SYNC"),
    (op::WRITE_REG, "WRITE_REG"),
    (op::READ_REG, "READ_REG"),
    (op::SPI_SET_PARAMS, "SPI_SET_PARAMS"),
    (op::SPI_ATTACH, "SPI_ATTACH"),
    (op::CHANGE_BAUDRATE, "CHANGE_BAUDRATE"),
    (op::FLASH_DEFL_BEGIN, "FLASH_DEFL_BEGIN"),
    (op::FLASH_DEFL_DATA, "FLASH_DEFL_DATA"),
    (op::FLASH_DEFL_END, "FLASH_DEFL_END"),
    (op::SPI_FLASH_MD5, "SPI_FLASH_MD5"),
    (op::GET_SECURITY_INFO, "GET_SECURITY_INFO"),
    (op::ERASE_FLASH, "ERASE_FLASH"),
    (op::ERASE_REGION, "ERASE_REGION"),
    (op::RUN_USER_CODE, "RUN_USER_CODE"),
];

/// The opcode's name, or its number.
pub fn opcode_name(code: u8) -> String {
    OPCODE_NAMES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or_else(|| format!("{code:#04x}"), |(_, n)| (*n).to_owned())
}

/// Error codes of the second status byte. ROM codes from esptool's documentation; the
/// stub's are its own (`0xC0`..).
pub mod error {
    pub const ROM_INVALID_MESSAGE: u8 = 0x05;
    pub const ROM_FAILED_TO_ACT: u8 = 0x06;
    pub const ROM_INVALID_CRC: u8 = 0x07;
    pub const ROM_FLASH_WRITE: u8 = 0x08;
    pub const ROM_DEFLATE: u8 = 0x0B;
    pub const STUB_BAD_DATA_LEN: u8 = 0xC0;
    pub const STUB_BAD_DATA_CHECKSUM: u8 = 0xC1;
    pub const STUB_FAILED_SPI_OP: u8 = 0xC4;
    pub const STUB_NOT_IN_FLASH_MODE: u8 = 0xC6;
    pub const STUB_INFLATE: u8 = 0xC7;
    pub const STUB_TOO_MUCH_DATA: u8 = 0xC9;
    pub const STUB_NOT_IMPLEMENTED: u8 = 0xFF;
}

/// Who answers: the chip's ROM loader, or the flasher stub a host uploaded to RAM. They
/// differ in status length (4 bytes / 2 bytes), MD5 format and a few arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loader {
    Rom,
    Stub,
}

/// Seed of the XOR checksum over a data packet's payload.
const CHECKSUM_SEED: u8 = 0xEF;

/// The checksum a host puts in a data packet's header (only the low byte is used).
pub fn checksum(data: &[u8]) -> u32 {
    u32::from(data.iter().fold(CHECKSUM_SEED, |c, b| c ^ b))
}

/// One request from the host.
#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub op: u8,
    pub checksum: u32,
    pub data: &'a [u8],
}

impl<'a> Request<'a> {
    /// A request packet, or `None` for anything else (a response echoed back, line
    /// noise, a length that disagrees with the payload).
    pub fn parse(packet: &'a [u8]) -> Option<Request<'a>> {
        if packet.len() < 8 || packet[0] != 0x00 {
            return None;
        }
        let len = usize::from(u16::from_le_bytes([packet[2], packet[3]]));
        let data = &packet[8..];
        if data.len() != len {
            return None;
        }
        Some(Request {
            op: packet[1],
            checksum: u32_at(packet, 4),
            data,
        })
    }

    /// The `index`th little-endian word of the payload, if present.
    pub fn word(&self, index: usize) -> Option<u32> {
        let at = index * 4;
        (self.data.len() >= at + 4).then(|| u32_at(self.data, at))
    }
}

/// The outcome carried in a response's status bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    Failed(u8),
}

/// Encodes a response: header, `data`, then the status bytes `loader` sends.
pub fn response(loader: Loader, op: u8, value: u32, data: &[u8], status: Status) -> Vec<u8> {
    let (code, reason) = match status {
        Status::Ok => (0u8, 0u8),
        Status::Failed(reason) => (1, reason),
    };
    let status_bytes: &[u8] = match loader {
        Loader::Rom => &[code, reason, 0, 0],
        Loader::Stub => &[code, reason],
    };
    let len = (data.len() + status_bytes.len()) as u16;
    let mut out = Vec::with_capacity(8 + usize::from(len));
    out.extend_from_slice(&[0x01, op]);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&value.to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(status_bytes);
    out
}

pub fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_parses_and_a_bad_length_does_not() {
        let mut packet = vec![0x00, op::READ_REG, 4, 0, 0, 0, 0, 0];
        packet.extend_from_slice(&0x4000_1000u32.to_le_bytes());
        let req = Request::parse(&packet).unwrap();
        assert_eq!((req.op, req.word(0)), (op::READ_REG, Some(0x4000_1000)));
        packet.push(0);
        assert_eq!(Request::parse(&packet), None);
        assert_eq!(Request::parse(&[0x01, 0x08, 0, 0, 0, 0, 0, 0]), None);
    }

    #[test]
    fn responses_carry_four_status_bytes_from_rom_and_two_from_the_stub() {
        let rom = response(Loader::Rom, op::READ_REG, 7, &[], Status::Ok);
        assert_eq!(rom, [1, 0x0A, 4, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
        let stub = response(Loader::Stub, op::READ_REG, 7, &[], Status::Failed(0xC4));
        assert_eq!(stub, [1, 0x0A, 2, 0, 7, 0, 0, 0, 1, 0xC4]);
    }

    #[test]
    fn checksum_is_the_xor_seeded_with_0xef() {
        assert_eq!(checksum(&[]), 0xEF);
        assert_eq!(checksum(&[0xEF]), 0);
        assert_eq!(checksum(&[1, 2, 4]), u32::from(0xEFu8 ^ 7));
    }
}
