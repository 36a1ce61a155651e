#!/usr/bin/env bash
# End-to-end FPS of `lm stream` on a 320x240 MJPEG file vs `lm bench`'s pre + run + post rate on
# one frame of it, in the same run (issue 12: stream >= 90 % of bench), and the peak RSS of the
# stream. Not part of CI (timings on a shared machine are noisy: compare the ratio).
#
#   bash benches/stream_fps.sh [FRAMES] [META]      (default 2000 frames, the default model)
#
# The MJPEG file is read as fast as inference takes it (no ?fps=), so no frame is dropped and
# end-to-end FPS = frames / wall time of the stream (decode, inference, JSON Lines written).
set -euo pipefail
cd "$(dirname "$0")/.."
FRAMES=${1:-2000}
META=${2:-meta/lm_single_pose_v1_quantize.yaml}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
nice -n 10 cargo build --release --quiet --bin lm --example make_mjpeg
LM=$CARGO_TARGET_DIR/release/lm
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$CARGO_TARGET_DIR/release/examples/make_mjpeg" "$TMP/clip.mjpg" 320 240 "$FRAMES"
# One frame of the clip as the bench image (the same decode path is not part of bench's pre).
"$CARGO_TARGET_DIR/release/examples/make_mjpeg" "$TMP/one.mjpg" 320 240 1
cp "$TMP/one.mjpg" "$TMP/one.jpg"

BENCH=$("$LM" bench -c "$META" -i "$TMP/one.jpg" -n 500 --profile-runs 1 --top 1)
TOTAL_MS=$(awk '$1 == "total" {print $2}' <<<"$BENCH")
STREAM_ERR=$( { /usr/bin/time -f 'maxrss_kb %M' "$LM" stream -s "$TMP/clip.mjpg" -c "$META" \
    --jsonl "$TMP/out.jsonl" --stats-every 0 >/dev/null; } 2>&1 )
LINES=$(wc -l <"$TMP/out.jsonl")
E2E=$(sed -n 's/.*summary: .*end-to-end \([0-9.]*\) fps.*/\1/p' <<<"$STREAM_ERR")
RSS=$(sed -n 's/^maxrss_kb \([0-9]*\)/\1/p' <<<"$STREAM_ERR")
python3 - "$TOTAL_MS" "$E2E" "$LINES" "$FRAMES" "$RSS" <<'PY'
import sys
total_ms, e2e, lines, frames, rss = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
bench_fps = 1000.0 / total_ms
print("| measure | frames/s |")
print("|---|---:|")
print(f"| lm bench pre+run+post (320x240 JPEG, mean of 500) | {bench_fps:.1f} |")
print(f"| lm stream end-to-end (MJPEG file, {frames} frames) | {e2e:.1f} |")
print(f"| ratio stream / bench | {e2e / bench_fps:.2f} |")
print(f"\nJSON Lines written: {lines} of {frames}; stream peak RSS {rss / 1024:.1f} MiB")
PY
echo "$STREAM_ERR" | grep summary
