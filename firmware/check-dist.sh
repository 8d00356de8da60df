#!/usr/bin/env bash
# Rebuilds the bundled firmware from source and compares it byte for byte with the
# committed firmware/dist/. Exit 0: identical, or the check was skipped (it says so
# plainly, with the reason); exit 1: the rebuilt images differ; exit 2: the build broke.
#
# Skips when the pinned toolchain or the riscv targets cannot be had here. Installs
# espflash 4.7.0 from crates.io when it is missing (several minutes, once).
set -uo pipefail

TOOLCHAIN_VERSION=1.95.0
ESPFLASH_VERSION=4.7.0
TARGETS=(riscv32imc-unknown-none-elf riscv32imac-unknown-none-elf)
FW_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

skip() { echo "check-dist: SKIPPED, firmware images NOT verified: $*"; exit 0; }

# The pinned toolchain: the active one if it is that version, else the named one.
if [ "$(rustc --version 2>/dev/null | awk '{print $2}')" != "$TOOLCHAIN_VERSION" ]; then
  command -v rustup >/dev/null || skip "rustc is not $TOOLCHAIN_VERSION and rustup is not there to select it"
  export RUSTUP_TOOLCHAIN=$TOOLCHAIN_VERSION
  [ "$(rustc --version 2>/dev/null | awk '{print $2}')" = "$TOOLCHAIN_VERSION" ] ||
    skip "toolchain $TOOLCHAIN_VERSION is not installed"
fi
for target in "${TARGETS[@]}"; do
  if [ ! -d "$(rustc --print target-libdir --target "$target" 2>/dev/null)" ]; then
    command -v rustup >/dev/null || skip "target $target is missing and rustup is not there to add it"
    rustup target add "$target" >/dev/null 2>&1 || skip "target $target cannot be installed here"
  fi
done
command -v python3 >/dev/null || skip "python3 is not installed"

ESPFLASH=${ESPFLASH:-espflash}
if ! command -v "$ESPFLASH" >/dev/null || [ "$("$ESPFLASH" --version | awk '{print $2}')" != "$ESPFLASH_VERSION" ]; then
  tools=$FW_DIR/target/tools
  if [ ! -x "$tools/bin/espflash" ]; then
    echo "check-dist: installing espflash $ESPFLASH_VERSION into $tools (takes a few minutes)"
    cargo install espflash --version "$ESPFLASH_VERSION" --locked --root "$tools" --quiet ||
      skip "espflash $ESPFLASH_VERSION could not be installed"
  fi
  ESPFLASH=$tools/bin/espflash
fi
export ESPFLASH

rebuilt=$(mktemp -d)
trap 'rm -rf "$rebuilt"' EXIT
start=$(date +%s)
if ! "$FW_DIR/build-dist.sh" "$rebuilt"; then
  echo "check-dist: FAILED: the firmware did not build"
  exit 2
fi

status=0
while read -r file; do
  if cmp -s "$FW_DIR/dist/$file" "$rebuilt/$file"; then
    echo "check-dist: identical  $file"
  else
    echo "check-dist: DIFFERENT  $file (committed $(sha256sum < "$FW_DIR/dist/$file" | cut -c1-16), rebuilt $(sha256sum < "$rebuilt/$file" | cut -c1-16))"
    status=1
  fi
done < <(python3 -c 'import json,sys; [print(p) for i in json.load(open(sys.argv[1]))["images"] for p in [q["file"] for q in i["parts"]] + [i["chip"] + "/app.symbols"]]' "$FW_DIR/dist/manifest.json")

echo "check-dist: rebuilt and compared in $(( $(date +%s) - start )) s"
if [ $status -ne 0 ]; then
  echo "check-dist: FAILED: firmware/dist does not match its sources; run firmware/build-dist.sh and commit firmware/dist"
fi
exit $status
