#!/usr/bin/env bash
# The simulated board's ROM-loader emulator checked against a client nobody here wrote:
# esptool from PyPI flashes the bundled ESP32-C3 parts (firmware/dist/esp32c3/*, at the
# manifest's offsets) through `wsbench sim`'s pseudo-terminal, without and with its
# flasher stub, and its own verify and `esptool verify-flash` must match. Then a
# watchdog reset must boot the flashed firmware. Also prints the time esptool takes to
# flash with the stub at 921600 baud (the emulator paces its UART at the baud rate), the
# reference for `wsbench flash`'s time on the same emulator.
#
# Usage: scripts/esptool-check.sh
# Environment: ESPTOOL_VENV (default target/esptool-venv), ESPTOOL_VERSION (default
#   5.6.0), ESPTOOL_CHECK_PROFILE (debug|release, default debug), ESPTOOL_BAUD
#   (default 921600), WSBENCH_BIN (a wsbench binary to use instead of building one).
#   The setup it shares with benches/flash_time.sh is in scripts/lib/sim-flash.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${ESPTOOL_CHECK_PROFILE:-debug}
BAUD=${ESPTOOL_BAUD:-921600}
NAME=esptool-check
CHIP=esp32c3
# shellcheck source=lib/sim-flash.sh
. scripts/lib/sim-flash.sh

# 1. esptool in a venv of its own, wsbench, and the parts with their offsets.
use_esptool
use_wsbench "$PROFILE"
read_parts

# 2. The simulated board, its console copied to a log we can search.
WORK=$(mktemp -d)
trap 'stop_sim; rm -rf "$WORK"' EXIT
start_sim "$WORK/flash.bin" "$WORK/sim.log"
echo "esptool-check: simulated $CHIP on $PTY, esptool $("$ESPTOOL" version | tail -1)"

esptool() {
    timeout 600 "$ESPTOOL" --chip "$CHIP" --port "$PTY" --baud "$BAUD" --before no-reset "$@"
}
expect() { # expect COUNT TEXT FILE: TEXT appears COUNT times in FILE
    local n
    n=$(grep -c -- "$2" "$3" || true)
    [ "$n" -eq "$1" ] || { cat "$3"; fail "expected $1 x '$2', saw $n"; }
}

# 3. ROM loader only (no stub): write, esptool's own verify, then verify-flash.
echo "esptool-check: write-flash --no-stub"
esptool --after no-reset --no-stub write-flash "${PARTS[@]}" >"$WORK/rom.log" 2>&1 \
    || { cat "$WORK/rom.log"; fail "write-flash --no-stub"; }
expect $((${#PARTS[@]} / 2)) "Hash of data verified" "$WORK/rom.log"
esptool --after no-reset --no-stub verify-flash "${PARTS[@]}" >"$WORK/rom-verify.log" 2>&1 \
    || { cat "$WORK/rom-verify.log"; fail "verify-flash --no-stub"; }
expect $((${#PARTS[@]} / 2)) "digest matched" "$WORK/rom-verify.log"

# 4. With the stub (compressed writes), timed: the reference for `wsbench flash`.
echo "esptool-check: write-flash with the stub at $BAUD baud"
START=$(date +%s.%N)
esptool --after no-reset write-flash "${PARTS[@]}" >"$WORK/stub.log" 2>&1 \
    || { cat "$WORK/stub.log"; fail "write-flash (stub)"; }
END=$(date +%s.%N)
ESPTOOL_SECONDS=$(python3 -c "print(f'{$END - $START:.2f}')")
grep -q "Stub flasher running" "$WORK/stub.log" || { cat "$WORK/stub.log"; fail "no stub ran"; }
expect $((${#PARTS[@]} / 2)) "Hash of data verified" "$WORK/stub.log"

# 5. verify-flash through the stub, then a watchdog reset boots what was written.
MARK=$(wc -l <"$WORK/sim.log")
esptool --after watchdog-reset verify-flash "${PARTS[@]}" >"$WORK/stub-verify.log" 2>&1 \
    || { cat "$WORK/stub-verify.log"; fail "verify-flash (stub)"; }
expect $((${#PARTS[@]} / 2)) "digest matched" "$WORK/stub-verify.log"
for _ in $(seq 100); do
    tail -n +"$MARK" "$WORK/sim.log" | grep -q ": ready " && break
    sleep 0.1
done
tail -n +"$MARK" "$WORK/sim.log" | grep -q "rst:0x10 (RTCWDT_RTC_RST)" \
    || { cat "$WORK/sim.log"; fail "no watchdog reset after verify-flash"; }
tail -n +"$MARK" "$WORK/sim.log" | grep -q "boot_simulated app=wsbench-firmware" \
    || { cat "$WORK/sim.log"; fail "the flashed firmware did not boot"; }

# 6. wsbench flash on a fresh simulated board, then esptool checks what it wrote.
start_sim "$WORK/flash-wsbench.bin" "$WORK/sim2.log"
echo "esptool-check: wsbench flash --port $PTY --baud $BAUD"
START=$(date +%s.%N)
timeout 600 "$BIN" flash --port "$PTY" --baud "$BAUD" </dev/null >"$WORK/wsbench-flash.log" 2>&1 \
    || { cat "$WORK/wsbench-flash.log"; fail "wsbench flash"; }
END=$(date +%s.%N)
WSBENCH_SECONDS=$(python3 -c "print(f'{$END - $START:.2f}')")
grep -q "^flashed:" "$WORK/wsbench-flash.log" || { cat "$WORK/wsbench-flash.log"; fail "wsbench flash claimed nothing"; }
grep -q "^ready:" "$WORK/wsbench-flash.log" || { cat "$WORK/wsbench-flash.log"; fail "no ready line after wsbench flash"; }
esptool --after no-reset verify-flash "${PARTS[@]}" >"$WORK/wsbench-verify.log" 2>&1 \
    || { cat "$WORK/wsbench-verify.log"; fail "esptool verify-flash of what wsbench flash wrote"; }
expect $((${#PARTS[@]} / 2)) "digest matched" "$WORK/wsbench-verify.log"
RATIO=$(python3 -c "print(f'{$WSBENCH_SECONDS / $ESPTOOL_SECONDS:.2f}')")

echo "esptool-check: PASS (ROM and stub writes verified; verify-flash matched; watchdog reset booted the firmware; esptool verify-flash matched what wsbench flash wrote)"
echo "esptool-check: esptool write-flash with stub at $BAUD baud through the simulated UART: ${ESPTOOL_SECONDS} s (simulated board: host timing, the UART paced at the baud rate)"
echo "esptool-check: wsbench flash (stub, $BAUD baud, until its ready line) through the same UART: ${WSBENCH_SECONDS} s; ratio wsbench/esptool ${RATIO} (whole commands, one run each; benches/flash_time.sh takes medians)"
