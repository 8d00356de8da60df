#!/usr/bin/env python3
"""Cut a merged flash image (espflash save-image --merge) into the parts espflash would
write: bootloader at 0x0, partition table at 0x8000, app at 0x10000. Each ESP image's
length is read from its own header (segments, checksum, optional SHA-256), so no 0xFF
trimming guesses are involved. Writes the parts and prints them as JSON lines."""
import hashlib
import json
import struct
import sys

BOOTLOADER_OFFSET = 0x0
PARTITION_TABLE_OFFSET = 0x8000
PARTITION_TABLE_LEN = 0xC00
APP_OFFSET = 0x10000


def esp_image_len(data, start):
    if data[start] != 0xE9:
        sys.exit(f"no ESP image at {start:#x} (first byte {data[start]:#04x}, want 0xe9)")
    segments = data[start + 1]
    hash_appended = data[start + 23] == 1
    pos = start + 24
    for _ in range(segments):
        _addr, length = struct.unpack_from("<II", data, pos)
        pos += 8 + length
    # Checksum byte sits at the end of a 16-byte aligned block.
    pos += 16 - ((pos - start) % 16)
    if hash_appended:
        pos += 32
    return pos - start


def main():
    merged_path, out_dir = sys.argv[1], sys.argv[2]
    data = open(merged_path, "rb").read()
    parts = [
        ("bootloader", BOOTLOADER_OFFSET, esp_image_len(data, BOOTLOADER_OFFSET)),
        ("partition-table", PARTITION_TABLE_OFFSET, PARTITION_TABLE_LEN),
        ("app", APP_OFFSET, esp_image_len(data, APP_OFFSET)),
    ]
    for name, offset, length in parts:
        blob = data[offset : offset + length]
        if len(blob) != length:
            sys.exit(f"{name}: merged image ends before {offset + length:#x}")
        with open(f"{out_dir}/{name}.bin", "wb") as f:
            f.write(blob)
        print(json.dumps({
            "name": name,
            "file": f"{name}.bin",
            "offset": offset,
            "size": length,
            "sha256": hashlib.sha256(blob).hexdigest(),
        }))


main()
