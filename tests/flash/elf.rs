//! Small but real ESP application ELFs, written with the `object` crate so no cross
//! toolchain is needed: an executable with PT_LOAD segments at the chip's flash-mapped
//! (IROM/DROM) and RAM addresses, and the ESP-IDF app descriptor espflash and the
//! bootloader read, naming a project that is not the bundled firmware.

use object::Endianness;
use object::elf;
use object::write::elf::{FileHeader, ProgramHeader, SectionHeader, Writer};

/// The project name the descriptor carries: not `wsbench-firmware`, so the simulated
/// board must say it cannot run it.
pub const PROJECT: &str = "hello-esp";

/// Where one chip keeps what an app links against.
pub struct MemoryMap {
    machine: elf::Machine,
    drom: u32,
    irom: u32,
    iram: u32,
    dram: u32,
}

/// ESP32-C3 (RISC-V): DROM 0x3C00_0000, IROM 0x4200_0000, IRAM 0x4038_0000, DRAM 0x3FC8_0000.
pub const ESP32C3: MemoryMap = MemoryMap {
    machine: elf::EM_RISCV,
    drom: 0x3C00_0000,
    irom: 0x4200_0000,
    iram: 0x4038_0000,
    dram: 0x3FC8_0000,
};

/// ESP32 (Xtensa): DROM 0x3F40_0000, IROM 0x400D_0000, IRAM 0x4008_0000, DRAM 0x3FFB_0000.
pub const ESP32: MemoryMap = MemoryMap {
    machine: elf::EM_XTENSA,
    drom: 0x3F40_0000,
    irom: 0x400D_0000,
    iram: 0x4008_0000,
    dram: 0x3FFB_0000,
};

/// `esp_app_desc_t`: magic, secure version, reserved, version[32], project_name[32],
/// time, date, idf_ver, ELF SHA-256 (espflash fills it), eFuse revisions, MMU page
/// size (0: inferred from the descriptor's alignment), reserved: 256 bytes.
fn app_descriptor() -> Vec<u8> {
    let mut d = vec![0u8; 256];
    d[0..4].copy_from_slice(&0xABCD_5432u32.to_le_bytes());
    let put = |d: &mut Vec<u8>, at: usize, text: &str| {
        d[at..at + text.len()].copy_from_slice(text.as_bytes());
    };
    put(&mut d, 16, "1.0.0");
    put(&mut d, 48, PROJECT);
    put(&mut d, 80, "10:00:00");
    put(&mut d, 96, "Dec  1 2026");
    put(&mut d, 112, "v5.2-test");
    d
}

struct Part {
    name: &'static [u8],
    addr: u32,
    data: Vec<u8>,
    flags: u64,
    exec: bool,
}

/// An application ELF for `map`'s chip, entry point in IRAM.
pub fn app(map: &MemoryMap) -> Vec<u8> {
    build(map, true)
}

/// The same ELF without its app descriptor: not an app the ESP-IDF bootloader starts.
pub fn without_descriptor(map: &MemoryMap) -> Vec<u8> {
    build(map, false)
}

fn build(map: &MemoryMap, with_descriptor: bool) -> Vec<u8> {
    let alloc = elf::SHF_ALLOC.0;
    let mut parts = vec![
        Part {
            name: b".flash.appdesc",
            addr: map.drom + 0x20,
            data: app_descriptor(),
            flags: alloc,
            exec: false,
        },
        Part {
            name: b".flash.rodata",
            addr: map.drom + 0x120,
            data: b"hello from a test ELF\0\0\0".repeat(40),
            flags: alloc,
            exec: false,
        },
        Part {
            name: b".flash.text",
            addr: map.irom + 0x20,
            // RISC-V `nop`s (also plain bytes for Xtensa: nothing executes them here).
            data: [0x13u8, 0, 0, 0].repeat(512),
            flags: alloc | elf::SHF_EXECINSTR.0,
            exec: true,
        },
        Part {
            name: b".iram0.text",
            addr: map.iram,
            data: [0x13u8, 0, 0, 0, 0x6F, 0, 0, 0].repeat(16),
            flags: alloc | elf::SHF_EXECINSTR.0,
            exec: true,
        },
        Part {
            name: b".dram0.data",
            addr: map.dram,
            data: (0u8..=255).collect(),
            flags: alloc | elf::SHF_WRITE.0,
            exec: false,
        },
    ];
    if !with_descriptor {
        parts.remove(0);
    }

    let mut out = Vec::new();
    let mut w = Writer::new(Endianness::Little, false, &mut out);
    w.reserve_file_header();
    w.reserve_program_headers(parts.len() as u32);
    let names: Vec<_> = parts.iter().map(|p| w.add_section_name(p.name)).collect();
    w.reserve_null_section_index();
    for _ in &parts {
        w.reserve_section_index();
    }
    w.reserve_shstrtab_section_index();
    let offsets: Vec<u64> = parts
        .iter()
        .map(|p| w.reserve(p.data.len() as u64, 4))
        .collect();
    w.reserve_shstrtab().unwrap();
    w.reserve_section_headers();

    w.write_file_header(&FileHeader {
        os_abi: elf::ELFOSABI_NONE,
        abi_version: 0,
        e_type: elf::ET_EXEC,
        e_machine: map.machine,
        e_entry: u64::from(map.iram),
        e_flags: elf::FileFlags(0),
    })
    .unwrap();
    w.write_align_program_headers();
    for (p, &offset) in parts.iter().zip(&offsets) {
        let flags = if p.exec {
            elf::PF_R.0 | elf::PF_X.0
        } else {
            elf::PF_R.0
        };
        w.write_program_header(&ProgramHeader {
            p_type: elf::PT_LOAD,
            p_flags: elf::ProgramFlags(flags),
            p_offset: offset,
            p_vaddr: u64::from(p.addr),
            p_paddr: u64::from(p.addr),
            p_filesz: p.data.len() as u64,
            p_memsz: p.data.len() as u64,
            p_align: 4,
        });
    }
    for p in &parts {
        w.write_align(4);
        w.write(&p.data);
    }
    w.write_shstrtab();
    w.write_null_section_header();
    for ((p, &offset), &name) in parts.iter().zip(&offsets).zip(&names) {
        w.write_section_header(&SectionHeader {
            sh_name: w.section_name_offset(Some(name)),
            sh_type: elf::SHT_PROGBITS,
            sh_flags: elf::SectionFlags(p.flags),
            sh_addr: u64::from(p.addr),
            sh_offset: offset,
            sh_size: p.data.len() as u64,
            sh_link: 0,
            sh_info: 0,
            sh_addralign: 4,
            sh_entsize: 0,
        });
    }
    w.write_shstrtab_section_header();
    out
}
