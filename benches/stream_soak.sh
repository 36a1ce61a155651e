#!/usr/bin/env bash
# Soak: FRAMES frames (default 10,000) of a looped 320x240 MJPEG clip through `lm stream`
# (release build) with JSON Lines and a web-view client reading /stream.mjpg the whole time
# (so overlays are drawn and JPEG-encoded for every frame). Every S seconds (default 10) one
# row: seconds, frames written, VmRSS of the stream, load average (the machine is shared:
# rates vary, memory should not). At the end: the frame numbers are checked to be 0..FRAMES-1
# without a gap, the summary line is printed, and RSS after warm-up vs at the end.
#
#   bash benches/stream_soak.sh [FRAMES] [META] [S]
#
# Not part of CI (minutes). Default model: meta/lm_single_pose_v1_quantize.yaml.
# LM_PROFILE=debug uses the debug build (dependencies are optimised in it too; lm's own code
# is not), e.g. when a release build is not at hand; LM_SKIP_BUILD=1 uses the binaries as built.
set -euo pipefail
cd "$(dirname "$0")/.."
FRAMES=${1:-10000}
META=${2:-meta/lm_single_pose_v1_quantize.yaml}
EVERY=${3:-10}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
PROFILE=${LM_PROFILE:-release}
[ -n "${LM_SKIP_BUILD:-}" ] ||
    nice -n 10 cargo build --profile "${PROFILE/debug/dev}" --quiet --bin lm --example make_mjpeg
LM=$CARGO_TARGET_DIR/$PROFILE/lm
TMP=$(mktemp -d)
PORT=$((30000 + $$ % 20000))
cleanup() {
    [ -z "${CURL:-}" ] || kill "$CURL" 2>/dev/null || true
    [ -z "${PID:-}" ] || kill "$PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
"$CARGO_TARGET_DIR/$PROFILE/examples/make_mjpeg" "$TMP/clip.mjpg" 320 240 100
"$LM" stream -s "$TMP/clip.mjpg?loop" -c "$META" --frames "$FRAMES" --jsonl "$TMP/out.jsonl" \
    --http "127.0.0.1:$PORT" --stats-every 0 2>"$TMP/stream.log" &
PID=$!
# One viewer on the overlay stream for the whole run.
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -s -N "http://127.0.0.1:$PORT/stream.mjpg" -o "$TMP/view.mjpg" &
CURL=$!
t0=$(date +%s)
echo "| s | frames written | VmRSS (kB) | load average 1/5/15 min |"
echo "|---:|---:|---:|---|"
rss_rows=()
while kill -0 "$PID" 2>/dev/null; do
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status" 2>/dev/null || true)
    [ -n "$rss" ] || break
    n=$(wc -l <"$TMP/out.jsonl" 2>/dev/null || echo 0)
    echo "| $(( $(date +%s) - t0 )) | $n | $rss | $(cut -d' ' -f1-3 /proc/loadavg) |"
    rss_rows+=("$n $rss")
    sleep "$EVERY"
done
rc=0
wait "$PID" || rc=$?
PID=
kill "$CURL" 2>/dev/null || true
echo
grep summary "$TMP/stream.log" || { cat "$TMP/stream.log"; exit 1; }
[ "$rc" -eq 0 ] || { echo "lm stream exited with $rc" >&2; exit 1; }
echo "viewer received $(stat -c %s "$TMP/view.mjpg") B of MJPEG"
python3 - "$TMP/out.jsonl" "$FRAMES" "${rss_rows[@]}" <<'PY'
import json, sys
path, frames, rows = sys.argv[1], int(sys.argv[2]), [tuple(map(int, r.split())) for r in sys.argv[3:]]
numbers = [json.loads(l)["frame"] for l in open(path)]
assert numbers == list(range(frames)), f"{len(numbers)} records, not frames 0..{frames - 1} in order"
print(f"JSON Lines: {len(numbers)} records, frames 0..{frames - 1} without a gap")
warm = [r for r in rows if r[0] >= 500] or rows
if warm:
    first, last, peak = warm[0][1], warm[-1][1], max(r[1] for r in warm)
    print(f"VmRSS after {warm[0][0]} frames {first} kB, at {warm[-1][0]} frames {last} kB "
          f"(x{last / first:.3f}), peak {peak} kB")
PY
