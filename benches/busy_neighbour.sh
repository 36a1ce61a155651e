#!/usr/bin/env bash
# `--threads 2` beside a CPU-bound neighbour: a busy loop pinned on the last CPU, at the same
# priority as lm (or at `nice NICE`), while `lm bench` runs 1 and 2 threads in alternation; then the
# same with no neighbour. Prints mean and median ms per frame, the 2-thread stall count, and the
# 1-thread / 2-thread ratio of the means (≥ 1: 2 threads are not slower on average). See README
# Speed, "A busy neighbour on the other core". Not part of CI (timings on a shared machine are
# noisy: compare within one run). Needs 2 or more CPUs and `taskset` (util-linux).
#
#   bash benches/busy_neighbour.sh [ROUNDS] [FRAMES] [NICE]   (default 3 rounds, 3000 frames, 0)
#   LM=path/to/other/lm bash benches/busy_neighbour.sh         (another build, e.g. an older one)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
FRAMES=${2:-3000}
NICE=${3:-0}
META=meta/lm_single_pose_v1_quantize.yaml
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
if [ -z "${LM:-}" ]; then
    cargo build --release --quiet --bin lm
    LM=$CARGO_TARGET_DIR/release/lm
fi
CPUS=$(nproc)
[ "$CPUS" -ge 2 ] || { echo "needs 2 or more CPUs (have $CPUS)" >&2; exit 1; }
BUSY=""
trap '[ -z "$BUSY" ] || kill "$BUSY" 2>/dev/null || true' EXIT

# "mean median stalls" of the run stage.
bench() {
    "$LM" bench -c "$META" -n "$FRAMES" --profile-runs 1 --top 1 --backend cpu --threads "$1" |
        awk '$1 == "run" {m = $2; med = $5} $1 == "threads" {s = $3}
             END {printf "%s %s %s", m, med, (s == "" ? "-" : s)}'
}

echo "date $(date -u +%F), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $FRAMES frames a run"
echo
echo "| neighbour | round | 1 thread mean / median ms | 2 threads mean / median ms | 2-thread stalls | 1 / 2 threads (means) |"
echo "|---|---:|---:|---:|---:|---:|"
for neighbour in busy none; do
    if [ "$neighbour" = busy ]; then
        taskset -c $((CPUS - 1)) nice -n "$NICE" sh -c 'while :; do :; done' &
        BUSY=$!
        label="busy loop on CPU $((CPUS - 1)), nice $NICE"
        sleep 1
    else
        label="none"
    fi
    for r in $(seq 1 "$ROUNDS"); do
        read -r m1 med1 _ <<<"$(bench 1)"
        read -r m2 med2 s2 <<<"$(bench 2)"
        ratio=$(awk -v a="$m1" -v b="$m2" 'BEGIN {printf "%.2f", a / b}')
        echo "| $label | $r | $m1 / $med1 | $m2 / $med2 | $s2 | ${ratio}× |"
    done
    if [ -n "$BUSY" ]; then
        kill "$BUSY"
        wait "$BUSY" 2>/dev/null || true
        BUSY=""
    fi
done
