#!/usr/bin/env bash
# WebSocket conformance of the simulated board: the Autobahn|Testsuite cases (run by the
# PyPI package kosoku) against `wsbench sim`, then a verdict read from Autobahn's
# index.json. Fails (exit 1) when any case is FAILED or the board died; NON-STRICT and
# INFORMATIONAL results are listed but pass.
#
# Usage: scripts/conformance.sh [kosoku selection flags]
#   default selection: -x '9.*' -x '12.*' -x '13.*' (about 11 s)
#   group 9 (limits and performance) by hand:  scripts/conformance.sh -i '9.*'
# Environment: CONFORMANCE_OUT (report dir, default target/conformance),
#   CONFORMANCE_VENV (default target/conformance-venv), CONFORMANCE_PROFILE (debug|release),
#   CONFORMANCE_MAX_MESSAGE (bytes; default 1 MiB, 16 MiB when group 9 is selected).
set -euo pipefail
cd "$(dirname "$0")/.."

KOSOKU_VERSION=0.1.0
OUT=${CONFORMANCE_OUT:-target/conformance}
VENV=${CONFORMANCE_VENV:-target/conformance-venv}
PROFILE=${CONFORMANCE_PROFILE:-debug}
TARGET_DIR=${CARGO_TARGET_DIR:-target}

if [ "$#" -eq 0 ]; then
    set -- -x '9.*' -x '12.*' -x '13.*'
fi
# Group 9 sends messages of up to 16 MiB; the others at most 64 KiB.
group9_selected() {
    local prev= includes=0 excludes9=0 arg
    for arg in "$@"; do
        case "$prev" in
            -i | --include) includes=1; case "$arg" in 9* | '*') return 0 ;; esac ;;
            -x | --exclude) case "$arg" in 9.* | 9) excludes9=1 ;; esac ;;
        esac
        prev=$arg
    done
    [ "$includes" -eq 0 ] && [ "$excludes9" -eq 0 ]
}
if [ -n "${CONFORMANCE_MAX_MESSAGE:-}" ]; then
    MAX_MESSAGE=$CONFORMANCE_MAX_MESSAGE
elif group9_selected "$@"; then
    MAX_MESSAGE=16777216
else
    MAX_MESSAGE=1048576
fi

say() { printf 'conformance: %s\n' "$*"; }

# 1. kosoku in a venv of its own (reused when it already has the right version).
if ! "$VENV/bin/python" -c "import importlib.metadata as m; assert m.version('kosoku') == '$KOSOKU_VERSION'" 2>/dev/null; then
    say "installing kosoku $KOSOKU_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "kosoku==$KOSOKU_VERSION"
fi

# 2. The simulated board: any free ports, no periodic broadcast (it would be an
#    unexpected frame in every case), a message limit the selected cases fit in.
if [ "$PROFILE" = release ]; then
    cargo build --quiet --locked --release --bin wsbench
else
    cargo build --quiet --locked --bin wsbench
fi
BIN="$TARGET_DIR/$PROFILE/wsbench"
mkdir -p "$OUT"
SIM_LOG="$OUT/sim.log"
rm -rf "$OUT/report"

SIM_PID=
KOSOKU_PID=
stop_children() {
    local pid
    for pid in $KOSOKU_PID $SIM_PID; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
}
trap stop_children EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$BIN" sim --ws-port 0 --wss-port 0 --broadcast-ms 0 --max-message "$MAX_MESSAGE" \
    --console - >"$SIM_LOG" 2>&1 &
SIM_PID=$!

URL=
for _ in $(seq 1 100); do
    URL=$(sed -n 's/^  ws: *\(ws:\/\/[^ ]*\).*/\1/p' "$SIM_LOG" | head -n 1)
    [ -n "$URL" ] && break
    kill -0 "$SIM_PID" 2>/dev/null || { cat "$SIM_LOG" >&2; say "wsbench sim exited at start"; exit 3; }
    sleep 0.1
done
[ -n "$URL" ] || { cat "$SIM_LOG" >&2; say "wsbench sim printed no ws:// URL within 10 s"; exit 3; }
say "simulated board at $URL (max message $MAX_MESSAGE bytes), cases: $*"

# 3. The cases. kosoku exits non-zero for NON-STRICT results too, so the verdict is
#    taken from index.json below, not from its exit status.
START=$(date +%s)
# In the background so that Ctrl-C reaches the trap at once, not after the cases.
"$VENV/bin/kosoku" -m fuzzingclient -o "$OUT/report" "$@" "$URL" &
KOSOKU_PID=$!
set +e
wait "$KOSOKU_PID"
KOSOKU_STATUS=$?
set -e
KOSOKU_PID=
say "kosoku finished in $(( $(date +%s) - START )) s (exit $KOSOKU_STATUS)"

if ! kill -0 "$SIM_PID" 2>/dev/null; then
    tail -n 20 "$SIM_LOG" >&2
    say "FAIL: the simulated board died during the run (log: $SIM_LOG)"
    exit 1
fi
if [ ! -f "$OUT/report/index.json" ]; then
    say "FAIL: kosoku wrote no $OUT/report/index.json"
    exit 1
fi

# 4. The verdict.
"$VENV/bin/python" - "$OUT/report" <<'PY'
import json, os, sys
from collections import Counter

outdir = sys.argv[1]
with open(os.path.join(outdir, "index.json")) as f:
    index = json.load(f)

def case_key(case_id):
    return tuple(int(p) if p.isdigit() else p for p in case_id.split("."))

counts, failed, noted = Counter(), [], []
for agent, cases in index.items():
    for case_id in sorted(cases, key=case_key):
        result = cases[case_id]
        behavior, close = result.get("behavior"), result.get("behaviorClose")
        counts[behavior] += 1
        line = f"  {case_id:<10} behavior={behavior} close={close} ({result.get('duration', '?')} ms)"
        if "FAILED" in (behavior, close):
            detail = ""
            report = result.get("reportfile")
            if report and os.path.exists(os.path.join(outdir, report)):
                with open(os.path.join(outdir, report)) as rf:
                    case = json.load(rf)
                detail = f"\n             {case.get('description', '')}\n             result: {case.get('result', '')}; close: {case.get('resultClose', '')}"
            failed.append(line + detail)
        elif behavior != "OK" or close not in ("OK", "INFORMATIONAL"):
            noted.append(line)

print("conformance: " + ", ".join(f"{n} {b}" for b, n in sorted(counts.items())))
if noted:
    print("conformance: passed with remarks:")
    print("\n".join(noted))
if failed:
    print(f"conformance: FAILED cases ({len(failed)}), report in {outdir}/index.html:")
    print("\n".join(failed))
    sys.exit(1)
print(f"conformance: 0 FAILED (report in {outdir}/index.html)")
PY
