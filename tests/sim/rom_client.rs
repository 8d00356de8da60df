//! A minimal host side of the ESP serial protocol for tests: SLIP packets (slip-codec)
//! over the simulated board's pseudo-terminal, every read bounded in time. Written from
//! esptool's protocol documentation, independently of the emulator's code.

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use espflash::command::CommandType as Op;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use slip_codec::{SlipDecoder, SlipEncoder, SlipError};

// The opcodes as espflash (the host side wsbench flashes with) numbers them, not as the
// emulator under test does.
pub const SYNC: u8 = Op::Sync as u8;
pub const FLASH_BEGIN: u8 = Op::FlashBegin as u8;
pub const FLASH_DATA: u8 = Op::FlashData as u8;
pub const FLASH_END: u8 = Op::FlashEnd as u8;
pub const MEM_BEGIN: u8 = Op::MemBegin as u8;
pub const MEM_END: u8 = Op::MemEnd as u8;
pub const MEM_DATA: u8 = Op::MemData as u8;
pub const READ_REG: u8 = Op::ReadReg as u8;
pub const SPI_ATTACH: u8 = Op::SpiAttach as u8;
pub const CHANGE_BAUDRATE: u8 = Op::ChangeBaudrate as u8;
pub const FLASH_DEFL_BEGIN: u8 = Op::FlashDeflBegin as u8;
pub const FLASH_DEFL_DATA: u8 = Op::FlashDeflData as u8;
pub const SPI_FLASH_MD5: u8 = Op::FlashMd5 as u8;
pub const GET_SECURITY_INFO: u8 = Op::GetSecurityInfo as u8;

/// How long one answer may take (a loaded machine, 115200 baud).
pub const ANSWER: Duration = Duration::from_secs(5);

/// A response: value word and data (status bytes included).
#[derive(Debug)]
pub struct Response {
    pub value: u32,
    pub data: Vec<u8>,
}

impl Response {
    /// The first status byte (after `payload_len` bytes of data).
    pub fn failed(&self, payload_len: usize) -> bool {
        self.data[payload_len] != 0
    }
}

pub struct RomClient {
    port: std::fs::File,
    decoder: SlipDecoder,
    deadline: Instant,
}

impl Read for RomClient {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(std::io::ErrorKind::TimedOut.into());
            }
            let mut fds = [PollFd::new(self.port.as_fd(), PollFlags::POLLIN)];
            let wait = PollTimeout::from(left.as_millis().clamp(1, 1000) as u16);
            if poll(&mut fds, wait).unwrap_or(0) == 0 {
                continue;
            }
            match (&self.port).read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

pub fn words(ws: &[u32]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_le_bytes()).collect()
}

pub fn checksum(data: &[u8]) -> u32 {
    u32::from(data.iter().fold(0xEFu8, |c, b| c ^ b))
}

impl RomClient {
    pub fn open(path: &str) -> RomClient {
        let port = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NOCTTY | nix::libc::O_NONBLOCK)
            .open(path)
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
        RomClient {
            port,
            decoder: SlipDecoder::new(),
            deadline: Instant::now(),
        }
    }

    /// Sends one request packet.
    pub fn send(&mut self, op: u8, data: &[u8], chk: u32) {
        let mut packet = vec![0x00, op];
        packet.extend_from_slice(&(data.len() as u16).to_le_bytes());
        packet.extend_from_slice(&chk.to_le_bytes());
        packet.extend_from_slice(data);
        let mut framed = Vec::new();
        SlipEncoder::new(true).encode(&packet, &mut framed).unwrap();
        use std::io::Write as _;
        let mut rest = &framed[..];
        while !rest.is_empty() {
            match (&self.port).write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("write to the board: {e}"),
            }
        }
    }

    /// The next SLIP packet within `wait`, or `None`.
    pub fn packet(&mut self, wait: Duration) -> Option<Vec<u8>> {
        self.deadline = Instant::now() + wait;
        loop {
            let mut out = Vec::new();
            let mut decoder = std::mem::take(&mut self.decoder);
            let result = decoder.decode(self, &mut out);
            self.decoder = decoder;
            match result {
                Ok(_) => return Some(out),
                Err(SlipError::FramingError) => continue,
                Err(_) => return None,
            }
        }
    }

    /// The response to `op` within `wait` (other packets and log text skipped).
    pub fn response(&mut self, op: u8, wait: Duration) -> Option<Response> {
        let until = Instant::now() + wait;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let p = self.packet(left)?;
            if p.len() >= 8 && p[0] == 0x01 && p[1] == op {
                return Some(Response {
                    value: u32::from_le_bytes(p[4..8].try_into().unwrap()),
                    data: p[8..].to_vec(),
                });
            }
        }
    }

    pub fn command(&mut self, op: u8, data: &[u8], chk: u32) -> Response {
        self.send(op, data, chk);
        self.response(op, ANSWER)
            .unwrap_or_else(|| panic!("no answer to command {op:#04x}"))
    }

    /// One SYNC; true when answered (all eight answers are read).
    pub fn sync_once(&mut self, wait: Duration) -> bool {
        let mut data = vec![0x07, 0x07, 0x12, 0x20];
        data.extend_from_slice(&[0x55; 32]);
        self.send(SYNC, &data, 0);
        if self.response(SYNC, wait).is_none() {
            return false;
        }
        for _ in 0..7 {
            self.response(SYNC, Duration::from_millis(500));
        }
        true
    }

    /// SYNC until answered, as esptool does; returns how many went unanswered.
    pub fn sync(&mut self) -> usize {
        for unanswered in 0..10 {
            if self.sync_once(Duration::from_millis(300)) {
                return unanswered;
            }
        }
        panic!("no SYNC answered in 10 tries");
    }

    pub fn read_reg(&mut self, addr: u32) -> u32 {
        let r = self.command(READ_REG, &words(&[addr]), 0);
        assert!(!r.failed(0), "READ_REG {addr:#x} failed: {r:?}");
        r.value
    }

    /// CHANGE_BAUDRATE (ROM form: new, 0). The pty does not care; the board paces at it.
    pub fn change_baud(&mut self, baud: u32) {
        let r = self.command(CHANGE_BAUDRATE, &words(&[baud, 0]), 0);
        assert!(!r.failed(0), "{r:?}");
    }

    /// Writes `data` at `offset` with FLASH_BEGIN/FLASH_DATA (ROM, 1 KiB blocks).
    pub fn write_flash(&mut self, offset: u32, data: &[u8]) {
        const BLOCK: usize = 0x400;
        let blocks = data.len().div_ceil(BLOCK) as u32;
        let erase = (data.len().div_ceil(4096) * 4096) as u32;
        let r = self.command(
            FLASH_BEGIN,
            &words(&[erase, blocks, BLOCK as u32, offset, 0]),
            0,
        );
        assert!(!r.failed(0), "FLASH_BEGIN: {r:?}");
        for (seq, chunk) in data.chunks(BLOCK).enumerate() {
            let mut block = chunk.to_vec();
            block.resize(BLOCK, 0xFF);
            let mut payload = words(&[BLOCK as u32, seq as u32, 0, 0]);
            payload.extend_from_slice(&block);
            let r = self.command(FLASH_DATA, &payload, checksum(&block));
            assert!(!r.failed(0), "FLASH_DATA {seq}: {r:?}");
        }
    }

    /// Writes `data` at `offset` compressed (FLASH_DEFL_*, which the C3/C6 ROM has).
    pub fn write_flash_deflated(&mut self, offset: u32, data: &[u8]) {
        use std::io::Write as _;
        const BLOCK: usize = 0x400;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(data).unwrap();
        let compressed = z.finish().unwrap();
        let blocks = compressed.len().div_ceil(BLOCK) as u32;
        let erase = (data.len().div_ceil(BLOCK) * BLOCK) as u32;
        let r = self.command(
            FLASH_DEFL_BEGIN,
            &words(&[erase, blocks, BLOCK as u32, offset, 0]),
            0,
        );
        assert!(!r.failed(0), "FLASH_DEFL_BEGIN: {r:?}");
        for (seq, block) in compressed.chunks(BLOCK).enumerate() {
            let mut payload = words(&[block.len() as u32, seq as u32, 0, 0]);
            payload.extend_from_slice(block);
            let r = self.command(FLASH_DEFL_DATA, &payload, checksum(block));
            assert!(!r.failed(0), "FLASH_DEFL_DATA {seq}: {r:?}");
        }
    }

    /// The ROM's MD5 of a region, as 32 hex characters.
    pub fn md5_hex(&mut self, offset: u32, len: usize) -> String {
        let r = self.command(SPI_FLASH_MD5, &words(&[offset, len as u32, 0, 0]), 0);
        assert!(!r.failed(32), "SPI_FLASH_MD5: {r:?}");
        String::from_utf8(r.data[..32].to_vec()).unwrap()
    }
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest as _;
    md5::Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
