#!/usr/bin/env bash
# Builds the bundled firmware for ESP32-C3 and ESP32-C6 and writes, per chip, the parts
# espflash would flash (bootloader, partition table, app), the app's function symbols
# (app.symbols, for decoding its panics) plus dist/manifest.json.
#
#   firmware/build-dist.sh            # writes firmware/dist/
#   firmware/build-dist.sh OUT_DIR    # writes elsewhere (check-dist.sh uses this)
#
# Reproducible: a pinned toolchain and espflash (checked, not downloaded), source paths
# remapped, SOURCE_DATE_EPOCH fixed (the app descriptor's build date), Cargo.lock
# enforced, its own target directory. Needs: rustc 1.95.0 with the riscv32imc and
# riscv32imac targets, espflash 4.7.0, python3.
set -euo pipefail

TOOLCHAIN_VERSION=1.95.0
ESPFLASH_VERSION=4.7.0
# 2026-01-01T00:00:00Z: the build date recorded in the app descriptor, the same for every
# build of the same sources.
SOURCE_DATE_EPOCH=1767225600
CHIPS=("esp32c3:riscv32imc-unknown-none-elf" "esp32c6:riscv32imac-unknown-none-elf")
FLASH_SIZE=4mb

FW_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$FW_DIR/.." && pwd)
OUT_DIR=${1:-$FW_DIR/dist}
ESPFLASH=${ESPFLASH:-espflash}

die() { echo "build-dist: $*" >&2; exit 2; }

rustc_version=$(rustc --version | awk '{print $2}')
[ "$rustc_version" = "$TOOLCHAIN_VERSION" ] ||
  die "rustc is $rustc_version, the images are pinned to $TOOLCHAIN_VERSION (run with that toolchain, e.g. RUSTUP_TOOLCHAIN=$TOOLCHAIN_VERSION)"
for entry in "${CHIPS[@]}"; do
  target=${entry#*:}
  [ -d "$(rustc --print target-libdir --target "$target" 2>/dev/null)" ] ||
    die "the Rust target $target is not installed (rustup target add $target)"
done
command -v "$ESPFLASH" >/dev/null ||
  die "espflash not found (cargo install espflash --version $ESPFLASH_VERSION --locked, or set ESPFLASH=path)"
espflash_version=$("$ESPFLASH" --version | awk '{print $2}')
[ "$espflash_version" = "$ESPFLASH_VERSION" ] ||
  die "espflash is $espflash_version, the images are pinned to $ESPFLASH_VERSION"
command -v python3 >/dev/null || die "python3 not found (needed to split the merged images)"

CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
export SOURCE_DATE_EPOCH
export CARGO_TARGET_DIR=$FW_DIR/target/dist
export RUSTFLAGS="--remap-path-prefix=$REPO_DIR=/wsbench --remap-path-prefix=$CARGO_HOME=/cargo"
unset CARGO_ENCODED_RUSTFLAGS

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$OUT_DIR"

for entry in "${CHIPS[@]}"; do
  chip=${entry%%:*}
  target=${entry#*:}
  echo "build-dist: building $chip ($target)" >&2
  (cd "$FW_DIR" && cargo build --release --locked -p wsbench-firmware --target "$target" --features "$chip")
  elf=$CARGO_TARGET_DIR/$target/release/wsbench-firmware
  "$ESPFLASH" save-image --skip-update-check --chip "$chip" --merge --skip-padding --flash-size "$FLASH_SIZE" \
    --partition-table "$FW_DIR/partitions.csv" "$elf" "$scratch/$chip-merged.bin" >&2
  rm -rf "${OUT_DIR:?}/$chip"
  mkdir -p "$OUT_DIR/$chip"
  python3 "$FW_DIR/scripts/split_image.py" "$scratch/$chip-merged.bin" "$OUT_DIR/$chip" \
    > "$scratch/$chip-parts.jsonl"
  # Function symbols of the same ELF, so panics of the bundled image are decoded
  # without shipping its debug info (src/console/symbols.rs reads them).
  python3 "$FW_DIR/scripts/symbols.py" "$elf" "$chip" "$OUT_DIR/$chip/app.symbols"
  echo "$chip $target" > "$scratch/$chip-target"
done

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$FW_DIR/wsbench-firmware/Cargo.toml" | head -n1)
revision=$(git -C "$REPO_DIR" log -1 --format=%H -- firmware ':(exclude)firmware/dist' 2>/dev/null || echo unknown)
if [ -n "$(git -C "$REPO_DIR" status --porcelain -- firmware ':(exclude)firmware/dist' 2>/dev/null)" ]; then
  revision="$revision-dirty"
fi

python3 - "$scratch" "$OUT_DIR/manifest.json" "$version" "$revision" "$(rustc --version)" \
  "$ESPFLASH_VERSION" "$SOURCE_DATE_EPOCH" "$FLASH_SIZE" "${CHIPS[@]}" <<'PY'
import json, sys
scratch, out, version, revision, rustc, espflash, epoch, flash_size, *chips = sys.argv[1:]
images = []
for entry in chips:
    chip, target = entry.split(":")
    parts = [json.loads(l) for l in open(f"{scratch}/{chip}-parts.jsonl")]
    for p in parts:
        p["file"] = f"{chip}/{p['file']}"
    images.append({"chip": chip, "target": target, "flash_size": flash_size.upper(), "parts": parts})
manifest = {
    "schema_version": 1,
    "firmware": "wsbench-firmware",
    "version": version,
    "source_revision": revision,
    "toolchain": rustc,
    "espflash": espflash,
    "source_date_epoch": int(epoch),
    "images": images,
}
with open(out, "w") as f:
    json.dump(manifest, f, indent=2)
    f.write("\n")
PY
echo "build-dist: wrote $OUT_DIR" >&2
