# Shared by scripts/esptool-check.sh and benches/flash_time.sh (sourced, from the
# repository's root): esptool from PyPI in a venv of its own, the wsbench binary, the
# bundled parts with their offsets, and simulated boards to flash through.
#
# The sourcing script sets NAME (its name in messages) and CHIP first; ESPTOOL_VENV
# (default target/esptool-venv), ESPTOOL_VERSION (default 5.6.0) and WSBENCH_BIN (a
# wsbench binary to use instead of building one) come from the environment.

VENV=${ESPTOOL_VENV:-target/esptool-venv}
ESPTOOL_VERSION=${ESPTOOL_VERSION:-5.6.0}

fail() { echo "$NAME: FAIL: $*" >&2; exit 1; }

# use_esptool: esptool in its venv (reused when it already has the right version);
# sets ESPTOOL.
use_esptool() {
    if ! "$VENV/bin/esptool" version 2>/dev/null | grep -q "$ESPTOOL_VERSION"; then
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check "esptool==$ESPTOOL_VERSION"
    fi
    ESPTOOL="$VENV/bin/esptool"
}

# use_wsbench PROFILE (debug|release): $WSBENCH_BIN, else the binary built in that
# profile where cargo puts it (it knows its configuration best); sets BIN.
use_wsbench() {
    if [ -n "${WSBENCH_BIN:-}" ]; then
        BIN=$WSBENCH_BIN
        return
    fi
    local target_dir
    target_dir=$(cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    if [ "$1" = release ]; then
        cargo build --quiet --locked --release --bin wsbench
    else
        cargo build --quiet --locked --bin wsbench
    fi
    BIN="$target_dir/$1/wsbench"
}

# read_parts: CHIP's parts from firmware/dist/manifest.json (never repeated here), as
# esptool takes them: PARTS=(OFFSET FILE OFFSET FILE …).
read_parts() {
    mapfile -t PARTS < <(python3 - "$CHIP" <<'PY'
import json, sys
manifest = json.load(open("firmware/dist/manifest.json"))
image = next(i for i in manifest["images"] if i["chip"] == sys.argv[1])
for part in image["parts"]:
    print(hex(part["offset"]))
    print("firmware/dist/" + part["file"])
PY
    )
    [ "${#PARTS[@]}" -ge 2 ] || fail "no $CHIP parts in firmware/dist/manifest.json"
}

SIM_PID=
# start_sim FLASH_FILE LOG: a simulated CHIP on that flash (the one running before is
# stopped), its console's lines copied to LOG; sets SIM_PID and PTY.
start_sim() {
    stop_sim
    "$BIN" sim --ws-port 0 --wss-port 0 --chip "$CHIP" --console - \
        --flash-file "$1" >"$2" 2>&1 &
    SIM_PID=$!
    PTY=
    for _ in $(seq 100); do
        PTY=$(sed -n 's/^  console: \(\/dev\/[^ ]*\).*/\1/p' "$2" | head -1)
        [ -n "$PTY" ] && return 0
        kill -0 "$SIM_PID" 2>/dev/null || { cat "$2"; fail "wsbench sim exited"; }
        sleep 0.1
    done
    cat "$2"
    fail "wsbench sim printed no console path"
}

stop_sim() {
    if [ -n "$SIM_PID" ]; then
        kill "$SIM_PID" 2>/dev/null || true
        wait "$SIM_PID" 2>/dev/null || true
        SIM_PID=
    fi
}
