//! The ROM loader and the flasher stub: what each command does to the chip and what it
//! answers. Pure logic over whole packets; the UART carries them and the board acts on
//! the [`Effect`]s (baud changes, resets).

use std::io::Write as _;

use flate2::write::ZlibDecoder;

use super::faults::Faults;
use super::protocol::{Loader, Request, Status, checksum, error, op, response};
use crate::sim::chip::{Chip, RegisterEffect, ResetReason};

/// What the ROM sends as SYNC's value: any non-zero word says "ROM" (the stub sends 0),
/// which esptool uses to tell whether a stub is already running.
const ROM_SYNC_VALUE: u32 = 0x2012_0707;
/// Times the ROM answers one SYNC.
const SYNC_ANSWERS: usize = 8;
/// The stub's greeting once it runs.
pub const STUB_GREETING: &[u8] = b"OHAI";
/// Highest baud rate accepted by CHANGE_BAUDRATE (the C3/C6 UART's limit is 5 Mbaud).
const MAX_BAUD: u32 = 5_000_000;

/// What the board must do after a command, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Effect {
    /// A packet to send to the host (SLIP-framed by the UART).
    Send(Vec<u8>),
    /// Change the UART's speed (after what was sent so far went out at the old one).
    SetBaud(u32),
    /// Leave download mode: reset the chip and boot from flash.
    Reset(ResetReason),
    /// Leave download mode without a reset: run the app in flash.
    RunUserCode,
}

/// An open FLASH_BEGIN / FLASH_DEFL_BEGIN.
struct FlashWrite {
    offset: u32,
    block_size: u32,
    /// For compressed writes: the inflater, and how many bytes it produced so far.
    inflate: Option<(ZlibDecoder<Vec<u8>>, u32)>,
}

pub struct RomLoader {
    loader: Loader,
    write: Option<FlashWrite>,
    /// A MEM_BEGIN was seen (the host is uploading code to RAM).
    mem_loading: bool,
    faults: Faults,
    syncs_ignored: u32,
}

impl RomLoader {
    pub fn new(faults: Faults) -> RomLoader {
        RomLoader {
            loader: Loader::Rom,
            write: None,
            mem_loading: false,
            faults,
            syncs_ignored: 0,
        }
    }

    /// Who answers now.
    #[cfg(test)]
    pub fn loader(&self) -> Loader {
        self.loader
    }

    /// After a reset the ROM answers again and open writes are gone.
    pub fn reset(&mut self) {
        self.loader = Loader::Rom;
        self.write = None;
        self.mem_loading = false;
    }

    fn reply(&self, req: &Request<'_>, value: u32, data: &[u8]) -> Effect {
        Effect::Send(response(self.loader, req.op, value, data, Status::Ok))
    }

    fn fail(&self, req: &Request<'_>, rom: u8, stub: u8) -> Effect {
        let reason = match self.loader {
            Loader::Rom => rom,
            Loader::Stub => stub,
        };
        Effect::Send(response(
            self.loader,
            req.op,
            0,
            &[],
            Status::Failed(reason),
        ))
    }

    /// Handles one request.
    pub fn handle(&mut self, chip: &mut Chip, req: &Request<'_>) -> Vec<Effect> {
        if req.op == op::SYNC && self.syncs_ignored < self.faults.ignore_syncs {
            self.syncs_ignored += 1;
            return Vec::new();
        }
        if self.faults.fail_commands.contains(&req.op) {
            return vec![self.fail(req, error::ROM_FAILED_TO_ACT, error::STUB_FAILED_SPI_OP)];
        }
        let bad_len = || self.fail(req, error::ROM_INVALID_MESSAGE, error::STUB_BAD_DATA_LEN);
        match req.op {
            op::SYNC => {
                let value = match self.loader {
                    Loader::Rom => ROM_SYNC_VALUE,
                    Loader::Stub => 0,
                };
                (0..SYNC_ANSWERS)
                    .map(|_| self.reply(req, value, &[]))
                    .collect()
            }
            op::READ_REG => match req.word(0) {
                Some(addr) => vec![self.reply(req, chip.read_reg(addr), &[])],
                None => vec![bad_len()],
            },
            op::WRITE_REG => self.write_reg(chip, req),
            op::SPI_ATTACH | op::SPI_SET_PARAMS => vec![self.reply(req, 0, &[])],
            op::GET_SECURITY_INFO => {
                let mut info = Vec::with_capacity(20);
                info.extend_from_slice(&0u32.to_le_bytes()); // flags: nothing enabled
                info.push(0); // flash_crypt_cnt
                info.extend_from_slice(&[0; 7]); // key purposes
                info.extend_from_slice(&chip.kind.chip_id().to_le_bytes());
                info.extend_from_slice(&0u32.to_le_bytes()); // eco / api version
                vec![self.reply(req, 0, &info)]
            }
            op::CHANGE_BAUDRATE => match req.word(0) {
                Some(baud) if (300..=MAX_BAUD).contains(&baud) => {
                    vec![self.reply(req, 0, &[]), Effect::SetBaud(baud)]
                }
                Some(_) => vec![self.fail(req, error::ROM_FAILED_TO_ACT, error::STUB_BAD_DATA_LEN)],
                None => vec![bad_len()],
            },
            op::FLASH_BEGIN | op::FLASH_DEFL_BEGIN => self.flash_begin(chip, req),
            op::FLASH_DATA | op::FLASH_DEFL_DATA => self.flash_data(chip, req),
            op::FLASH_END | op::FLASH_DEFL_END => self.flash_end(req),
            op::SPI_FLASH_MD5 => self.md5(chip, req),
            op::MEM_BEGIN => {
                self.mem_loading = true;
                vec![self.reply(req, 0, &[])]
            }
            op::MEM_DATA => match self.data_payload(req) {
                Err(e) => vec![e],
                Ok(_) if !self.mem_loading => {
                    vec![self.fail(req, error::ROM_FAILED_TO_ACT, error::STUB_NOT_IN_FLASH_MODE)]
                }
                // RAM content is not kept: the only code a host runs is a flasher stub,
                // which this loader stands in for.
                Ok(_) => vec![self.reply(req, 0, &[])],
            },
            op::MEM_END => {
                let execute = req.word(0) == Some(0);
                let mut effects = vec![self.reply(req, 0, &[])];
                if execute && self.loader == Loader::Rom {
                    self.loader = Loader::Stub;
                    self.mem_loading = false;
                    effects.push(Effect::Send(STUB_GREETING.to_vec()));
                }
                effects
            }
            op::ERASE_FLASH if self.loader == Loader::Stub => {
                chip.flash.erase_all();
                vec![self.reply(req, 0, &[])]
            }
            op::ERASE_REGION if self.loader == Loader::Stub => match (req.word(0), req.word(1)) {
                (Some(offset), Some(size))
                    if offset.is_multiple_of(4096) && size.is_multiple_of(4096) =>
                {
                    match chip.flash.erase(offset, size as usize) {
                        Ok(()) => vec![self.reply(req, 0, &[])],
                        Err(_) => vec![self.fail(req, 0, error::STUB_FAILED_SPI_OP)],
                    }
                }
                _ => vec![self.fail(req, 0, error::STUB_BAD_DATA_LEN)],
            },
            op::RUN_USER_CODE if self.loader == Loader::Stub => vec![Effect::RunUserCode],
            _ => vec![self.fail(req, error::ROM_INVALID_MESSAGE, error::STUB_NOT_IMPLEMENTED)],
        }
    }

    fn write_reg(&mut self, chip: &mut Chip, req: &Request<'_>) -> Vec<Effect> {
        if req.data.is_empty() || !req.data.len().is_multiple_of(16) {
            return vec![self.fail(req, error::ROM_INVALID_MESSAGE, error::STUB_BAD_DATA_LEN)];
        }
        let mut reset = false;
        // Several (address, value, mask, delay) records may come in one command.
        for record in 0..req.data.len() / 16 {
            let word = |i| req.word(record * 4 + i).unwrap_or(0);
            if chip.write_reg(word(0), word(1), word(2)) == RegisterEffect::WatchdogReset {
                reset = true;
            }
        }
        let mut effects = vec![self.reply(req, 0, &[])];
        if reset {
            effects.push(Effect::Reset(ResetReason::RtcWatchdog));
        }
        effects
    }

    fn flash_begin(&mut self, chip: &mut Chip, req: &Request<'_>) -> Vec<Effect> {
        let (Some(size), Some(_blocks), Some(block_size), Some(offset)) =
            (req.word(0), req.word(1), req.word(2), req.word(3))
        else {
            return vec![self.fail(req, error::ROM_INVALID_MESSAGE, error::STUB_BAD_DATA_LEN)];
        };
        if block_size == 0 && size != 0 {
            return vec![self.fail(req, error::ROM_INVALID_MESSAGE, error::STUB_BAD_DATA_LEN)];
        }
        // Both loaders erase what the write will cover before (ROM) or while (stub)
        // writing; the end result is the same sectors erased.
        if chip.flash.erase(offset, size as usize).is_err() {
            return vec![self.fail(req, error::ROM_FAILED_TO_ACT, error::STUB_TOO_MUCH_DATA)];
        }
        let inflate = (req.op == op::FLASH_DEFL_BEGIN).then(|| (ZlibDecoder::new(Vec::new()), 0));
        self.write = Some(FlashWrite {
            offset,
            block_size,
            inflate,
        });
        vec![self.reply(req, 0, &[])]
    }

    /// The payload of a data packet (after its 16-byte header), checked against the
    /// header's length and the packet's checksum.
    fn data_payload<'r>(&self, req: &Request<'r>) -> Result<&'r [u8], Effect> {
        let Some(len) = req.word(0) else {
            return Err(self.fail(req, error::ROM_INVALID_MESSAGE, error::STUB_BAD_DATA_LEN));
        };
        let payload = &req.data[16.min(req.data.len())..];
        if req.data.len() < 16 || payload.len() != len as usize {
            return Err(self.fail(req, error::ROM_INVALID_MESSAGE, error::STUB_BAD_DATA_LEN));
        }
        if checksum(payload) != req.checksum & 0xFF {
            return Err(self.fail(req, error::ROM_INVALID_CRC, error::STUB_BAD_DATA_CHECKSUM));
        }
        Ok(payload)
    }

    fn flash_data(&mut self, chip: &mut Chip, req: &Request<'_>) -> Vec<Effect> {
        let payload = match self.data_payload(req) {
            Ok(p) => p,
            Err(e) => return vec![e],
        };
        let compressed = req.op == op::FLASH_DEFL_DATA;
        let loader = self.loader;
        let Some(write) = self
            .write
            .as_mut()
            .filter(|w| w.inflate.is_some() == compressed)
        else {
            return vec![self.fail(req, error::ROM_FAILED_TO_ACT, error::STUB_NOT_IN_FLASH_MODE)];
        };
        let seq = req.word(1).unwrap_or(0);
        let result = match &mut write.inflate {
            None => {
                let at = write.offset as u64 + u64::from(seq) * u64::from(write.block_size);
                u32::try_from(at)
                    .ok()
                    .and_then(|at| chip.flash.program(at, payload).ok())
                    .ok_or((error::ROM_FLASH_WRITE, error::STUB_TOO_MUCH_DATA))
            }
            Some((inflater, produced)) => inflater
                .write_all(payload)
                .and_then(|()| inflater.flush())
                .map_err(|_| (error::ROM_DEFLATE, error::STUB_INFLATE))
                .and_then(|()| {
                    let out = std::mem::take(inflater.get_mut());
                    let at = write.offset + *produced;
                    *produced += out.len() as u32;
                    chip.flash
                        .program(at, &out)
                        .map_err(|_| (error::ROM_FLASH_WRITE, error::STUB_TOO_MUCH_DATA))
                }),
        };
        match result {
            Ok(()) => vec![Effect::Send(response(loader, req.op, 0, &[], Status::Ok))],
            Err((rom, stub)) => {
                self.write = None;
                vec![self.fail(req, rom, stub)]
            }
        }
    }

    fn flash_end(&mut self, req: &Request<'_>) -> Vec<Effect> {
        self.write = None;
        // 0 asks for a reboot; 1 for "run user code" (ROM) or "stay" (stub).
        let reboot = req.word(0) == Some(0);
        let mut effects = vec![self.reply(req, 0, &[])];
        match (reboot, self.loader) {
            (true, _) => effects.push(Effect::Reset(ResetReason::SoftwareSystem)),
            (false, Loader::Rom) => effects.push(Effect::RunUserCode),
            (false, Loader::Stub) => {}
        }
        effects
    }

    fn md5(&mut self, chip: &mut Chip, req: &Request<'_>) -> Vec<Effect> {
        let (Some(offset), Some(size)) = (req.word(0), req.word(1)) else {
            return vec![self.fail(req, error::ROM_INVALID_MESSAGE, error::STUB_BAD_DATA_LEN)];
        };
        let Ok(mut digest) = chip.flash.md5(offset, size as usize) else {
            return vec![self.fail(req, error::ROM_FAILED_TO_ACT, error::STUB_FAILED_SPI_OP)];
        };
        if self.faults.bad_md5 {
            digest[0] ^= 0xFF;
        }
        let data = match self.loader {
            Loader::Rom => digest
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into_bytes(),
            Loader::Stub => digest.to_vec(),
        };
        vec![self.reply(req, 0, &data)]
    }
}
