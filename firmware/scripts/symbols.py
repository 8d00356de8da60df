#!/usr/bin/env python3
"""Writes the function symbols of a firmware ELF as a small text file (one line per
function: start address, size, mangled name, all hex but the name), sorted, so the
CLI can name the functions of a panic's backtrace without shipping debug info.

    symbols.py ELF CHIP OUT

Reproducible: the output depends only on the ELF's symbol table.
"""
import struct
import sys

STT_FUNC = 2
SHT_SYMTAB = 2


def functions(data):
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        sys.exit("symbols.py: not a 32-bit little-endian ELF")
    shoff, = struct.unpack_from("<I", data, 0x20)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x2E)
    sections = [struct.unpack_from("<IIIIIIIIII", data, shoff + i * shentsize) for i in range(shnum)]
    out = {}
    for sh in sections:
        if sh[1] != SHT_SYMTAB:
            continue
        strtab = sections[sh[6]]
        str_off = strtab[4]
        for off in range(sh[4], sh[4] + sh[5], 16):
            name, value, size, info, _other, shndx = struct.unpack_from("<IIIBBH", data, off)
            if info & 0xF != STT_FUNC or size == 0 or shndx == 0:
                continue
            end = data.index(b"\0", str_off + name)
            sym = data[str_off + name:end].decode("utf-8", "replace")
            addr = value & ~1
            # Aliases at one address: keep the shortest name, then the first in order.
            prev = out.get(addr)
            if prev is None or (len(sym), sym) < (len(prev[1]), prev[1]):
                out[addr] = (size, sym)
    return sorted((a, s, n) for a, (s, n) in out.items())


def main():
    elf, chip, dest = sys.argv[1:4]
    with open(elf, "rb") as f:
        syms = functions(f.read())
    with open(dest, "w", newline="\n") as f:
        f.write("# wsbench symbols v1: function symbols (start size name) of the bundled firmware\n")
        f.write(f"# chip={chip} functions={len(syms)}\n")
        for addr, size, name in syms:
            f.write(f"{addr:08x} {size:x} {name}\n")


if __name__ == "__main__":
    main()
