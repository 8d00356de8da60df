//! The loader against packets as esptool and espflash build them.

use std::io::Write as _;

use super::faults::{Fault, Faults};
use super::loader::{Effect, RomLoader, STUB_GREETING};
use super::protocol::{Loader, Request, checksum, op};
use crate::sim::chip::{Chip, ChipKind, Flash, ResetReason};

fn packet(op: u8, data: &[u8], chk: u32) -> Vec<u8> {
    let mut p = vec![0x00, op];
    p.extend_from_slice(&(data.len() as u16).to_le_bytes());
    p.extend_from_slice(&chk.to_le_bytes());
    p.extend_from_slice(data);
    p
}

fn words(ws: &[u32]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn data_packet(op: u8, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut data = words(&[payload.len() as u32, seq, 0, 0]);
    data.extend_from_slice(payload);
    packet(op, &data, checksum(payload))
}

fn run(loader: &mut RomLoader, chip: &mut Chip, p: &[u8]) -> Vec<Effect> {
    loader.handle(chip, &Request::parse(p).unwrap())
}

/// The single packet sent, split into (value, data-with-status).
fn answer(effects: &[Effect]) -> (u32, Vec<u8>) {
    match effects {
        [Effect::Send(p), ..] => {
            assert_eq!(p[0], 1, "a response");
            (
                u32::from_le_bytes(p[4..8].try_into().unwrap()),
                p[8..].to_vec(),
            )
        }
        other => panic!("no answer: {other:?}"),
    }
}

fn setup() -> (RomLoader, Chip) {
    (
        RomLoader::new(Faults::default()),
        Chip::new(ChipKind::Esp32c3, Flash::erased()),
    )
}

#[test]
fn sync_is_answered_eight_times_with_a_non_zero_value() {
    let (mut l, mut c) = setup();
    let mut sync = vec![0x07, 0x07, 0x12, 0x20];
    sync.extend_from_slice(&[0x55; 32]);
    let effects = run(&mut l, &mut c, &packet(op::SYNC, &sync, 0));
    assert_eq!(effects.len(), 8);
    assert_ne!(answer(&effects).0, 0);
    assert_eq!(answer(&effects).1, [0, 0, 0, 0]);
}

#[test]
fn security_info_names_the_chip() {
    let (mut l, mut c) = setup();
    let (_, data) = answer(&run(&mut l, &mut c, &packet(op::GET_SECURITY_INFO, &[], 0)));
    assert_eq!(data.len(), 24);
    assert_eq!(u32::from_le_bytes(data[12..16].try_into().unwrap()), 5);
}

#[test]
fn rom_write_then_md5_in_hex() {
    let (mut l, mut c) = setup();
    let image: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    let begin = packet(op::FLASH_BEGIN, &words(&[4096, 3, 0x400, 0x10000, 0]), 0);
    assert_eq!(answer(&run(&mut l, &mut c, &begin)).1, [0, 0, 0, 0]);
    for (seq, block) in image.chunks(0x400).enumerate() {
        let mut padded = block.to_vec();
        padded.resize(0x400, 0xFF);
        let effects = run(
            &mut l,
            &mut c,
            &data_packet(op::FLASH_DATA, seq as u32, &padded),
        );
        assert_eq!(answer(&effects).1, [0, 0, 0, 0], "block {seq}");
    }
    let md5 = packet(op::SPI_FLASH_MD5, &words(&[0x10000, 3000, 0, 0]), 0);
    let (_, data) = answer(&run(&mut l, &mut c, &md5));
    let expected: String = md5::Md5::digest(&image)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(&data[..32], expected.as_bytes());
    assert_eq!(&data[32..], [0, 0, 0, 0]);
    use md5::Digest as _;
}

#[test]
fn a_bad_checksum_is_refused_and_nothing_written() {
    let (mut l, mut c) = setup();
    run(
        &mut l,
        &mut c,
        &packet(op::FLASH_BEGIN, &words(&[4096, 1, 0x400, 0, 0]), 0),
    );
    let mut p = data_packet(op::FLASH_DATA, 0, &[0u8; 0x400]);
    p[4] ^= 1;
    let (_, data) = answer(&run(&mut l, &mut c, &p));
    assert_eq!(data[..2], [1, 0x07]);
    assert_eq!(c.flash.read(0, 4).unwrap(), [0xFF; 4]);
}

#[test]
fn the_stub_starts_after_mem_end_and_inflates_with_two_status_bytes() {
    let (mut l, mut c) = setup();
    run(
        &mut l,
        &mut c,
        &packet(op::MEM_BEGIN, &words(&[4, 1, 0x1800, 0x4038_0000]), 0),
    );
    run(&mut l, &mut c, &data_packet(op::MEM_DATA, 0, &[1, 2, 3, 4]));
    let effects = run(
        &mut l,
        &mut c,
        &packet(op::MEM_END, &words(&[0, 0x4038_0000]), 0),
    );
    assert_eq!(effects[1], Effect::Send(STUB_GREETING.to_vec()));
    assert_eq!(l.loader(), Loader::Stub);

    let image = vec![0x5Au8; 10_000];
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&image).unwrap();
    let compressed = z.finish().unwrap();
    let begin = packet(
        op::FLASH_DEFL_BEGIN,
        &words(&[10_000, 1, 0x4000, 0x2000, 0]),
        0,
    );
    assert_eq!(answer(&run(&mut l, &mut c, &begin)).1, [0, 0]);
    let effects = run(
        &mut l,
        &mut c,
        &data_packet(op::FLASH_DEFL_DATA, 0, &compressed),
    );
    assert_eq!(answer(&effects).1, [0, 0]);
    let end = run(&mut l, &mut c, &packet(op::FLASH_DEFL_END, &words(&[1]), 0));
    assert_eq!(end.len(), 1, "stay in the stub: {end:?}");
    assert_eq!(c.flash.read(0x2000, 10_000).unwrap(), &image[..]);
    let md5 = packet(op::SPI_FLASH_MD5, &words(&[0x2000, 10_000, 0, 0]), 0);
    let (_, data) = answer(&run(&mut l, &mut c, &md5));
    assert_eq!(data.len(), 18);
}

#[test]
fn flash_end_asking_for_a_reboot_resets() {
    let (mut l, mut c) = setup();
    let effects = run(&mut l, &mut c, &packet(op::FLASH_END, &words(&[0]), 0));
    assert_eq!(effects[1], Effect::Reset(ResetReason::SoftwareSystem));
    let effects = run(&mut l, &mut c, &packet(op::FLASH_END, &words(&[1]), 0));
    assert_eq!(effects[1], Effect::RunUserCode);
}

#[test]
fn faults_fail_commands_corrupt_md5_and_swallow_syncs() {
    let faults = Faults::from_list(&[
        Fault::FailCommand(op::FLASH_BEGIN),
        Fault::BadMd5,
        Fault::IgnoreSyncs(2),
    ]);
    let mut l = RomLoader::new(faults);
    let mut c = Chip::new(ChipKind::Esp32c6, Flash::erased());
    let sync = packet(op::SYNC, &[0x07; 36], 0);
    assert!(run(&mut l, &mut c, &sync).is_empty());
    assert!(run(&mut l, &mut c, &sync).is_empty());
    assert_eq!(run(&mut l, &mut c, &sync).len(), 8);
    let (_, data) = answer(&run(
        &mut l,
        &mut c,
        &packet(op::FLASH_BEGIN, &words(&[0, 0, 0x400, 0, 0]), 0),
    ));
    assert_eq!(data[0], 1);
    let (_, data) = answer(&run(
        &mut l,
        &mut c,
        &packet(op::SPI_FLASH_MD5, &words(&[0, 16, 0, 0]), 0),
    ));
    let good: String = c
        .flash
        .md5(0, 16)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_ne!(&data[..32], good.as_bytes());
}

#[test]
fn unknown_commands_are_invalid_messages_in_rom() {
    let (mut l, mut c) = setup();
    let (_, data) = answer(&run(&mut l, &mut c, &packet(0x42, &[], 0)));
    assert_eq!(data[..2], [1, 0x05]);
}
