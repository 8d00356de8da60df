#!/usr/bin/env bash
# Time to flash the bundled ESP32-C3 image at 921600 baud with the flasher stub through
# the simulated board's ROM-loader emulator (its UART paces bytes at the baud rate, 10 bits
# a byte), `wsbench flash` next to `esptool write-flash` on the same emulator in the same
# run, each on a freshly erased flash, alternating, RUNS times each. Prints the medians and
# their ratio (wsbench / esptool; goal <= 1.0). A benchmark, not a test: it asserts nothing
# about speed and fails only when a flash fails.
#
# Usage: benches/flash_time.sh
# Environment: RUNS (default 3), BAUD (default 921600), ESPTOOL_VENV (default
#   target/esptool-venv), ESPTOOL_VERSION (default 5.6.0), WSBENCH_BIN (a wsbench binary
#   to use instead of building the release profile). The setup it shares with
#   scripts/esptool-check.sh is in scripts/lib/sim-flash.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
BAUD=${BAUD:-921600}
NAME=flash_time
CHIP=esp32c3
# shellcheck source=../scripts/lib/sim-flash.sh
. scripts/lib/sim-flash.sh

use_esptool
use_wsbench release
WORK=$(mktemp -d)
trap 'stop_sim; rm -rf "$WORK"' EXIT
# A private copy: a shared build directory may be rebuilt while this runs.
cp "$BIN" "$WORK/wsbench"
BIN="$WORK/wsbench"
read_parts

# fresh_sim: a fresh simulated board with an erased flash; sets PTY.
fresh_sim() {
    stop_sim
    rm -f "$WORK/flash.bin"
    start_sim "$WORK/flash.bin" "$WORK/sim.log"
}

now() { date +%s.%N; }

time_wsbench() {
    fresh_sim
    local t0 t1
    t0=$(now)
    "$BIN" flash --port "$PTY" --baud "$BAUD" >"$WORK/wsbench.out" 2>&1 \
        || { cat "$WORK/wsbench.out"; fail "wsbench flash failed"; }
    t1=$(now)
    grep -q '^flashed:  4 region(s) written' "$WORK/wsbench.out" \
        || { cat "$WORK/wsbench.out"; fail "wsbench did not write every region"; }
    printf "%.2f\n" "$(echo "$t1 - $t0" | bc)"
}

time_esptool() {
    fresh_sim
    local t0 t1
    t0=$(now)
    timeout 600 "$ESPTOOL" --chip "$CHIP" --port "$PTY" --baud "$BAUD" --before no-reset \
        --after no-reset write-flash "${PARTS[@]}" >"$WORK/esptool.out" 2>&1 \
        || { cat "$WORK/esptool.out"; fail "esptool write-flash failed"; }
    t1=$(now)
    grep -q 'Hash of data verified' "$WORK/esptool.out" \
        || { cat "$WORK/esptool.out"; fail "esptool did not verify"; }
    printf "%.2f\n" "$(echo "$t1 - $t0" | bc)"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

W=()
E=()
for run in $(seq "$RUNS"); do
    W+=("$(time_wsbench)")
    E+=("$(time_esptool)")
    echo "run $run: wsbench ${W[-1]} s, esptool ${E[-1]} s"
done
stop_sim
WM=$(median "${W[@]}")
EM=$(median "${E[@]}")
RATIO=$(printf "%.2f" "$(echo "scale=4; $WM / $EM" | bc)")
APP=$(stat -c %s firmware/dist/$CHIP/app.bin)
echo
echo "flash_time: bundled $CHIP image (app $APP bytes), $BAUD baud, stub, simulated board's emulator"
echo "  wsbench flash        median ${WM} s of ${RUNS} (until exit: written, verified, app started, ready line read)"
echo "  esptool write-flash  median ${EM} s of ${RUNS} (esptool $ESPTOOL_VERSION, written and verified)"
echo "  ratio wsbench/esptool = ${RATIO} (goal <= 1.0)"
