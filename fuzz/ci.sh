#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/fuzz_targets, cargo-fuzz on the nightly toolchain) and runs
# each for a bounded time; fails if any target crashes, hangs or runs out of memory.
# Usage: bash fuzz/ci.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 30 s, every target)
# Env:   LM_FUZZ_JOBS  targets fuzzed at the same time (default: one per CPU)
# Cached between runs: ~/.cache/lm/fuzz-target (build) and ~/.cache/lm/fuzz-corpus (the
# corpus each target grew; seeds are regenerated from the fixtures by fuzz/seeds.py).
# Crash inputs land in fuzz/artifacts/<target>/ (ignored by git); reproduce one with
# `cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>`.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
shift || true
export CARGO_TARGET_DIR=${LM_FUZZ_TARGET_DIR:-$HOME/.cache/lm/fuzz-target}
corpus=${LM_FUZZ_CORPUS:-$HOME/.cache/lm/fuzz-corpus}
toolchain=${LM_FUZZ_TOOLCHAIN:-nightly}

if ! cargo "+$toolchain" --version >/dev/null 2>&1; then
    rustup toolchain install "$toolchain" --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# Seeds: the project's own fixtures (and, with the peers' Pillow, JPEG images).
py=python3
[ -x .venv/bin/python ] && py=.venv/bin/python
rm -rf "$corpus/seeds"
"$py" fuzz/seeds.py "$corpus/seeds"

targets=("$@")
t0=$(date +%s)
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo "+$toolchain" fuzz list)
    cargo "+$toolchain" fuzz build
else
    for t in "${targets[@]}"; do cargo "+$toolchain" fuzz build "$t"; done
fi
echo "fuzz build: $(( $(date +%s) - t0 )) s"

# Each target is one single-threaded libFuzzer process: LM_FUZZ_JOBS of them at a time
# (default: one per CPU).
jobs=${LM_FUZZ_JOBS:-$(nproc)}
run_target() {
    local t=$1 dict
    mkdir -p "$corpus/$t" "$corpus/seeds/$t"   # (no seeds: e.g. JPEG ones need Pillow)
    local args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
    # The target's dictionary: fuzz/<target>.dict, else fuzz/<format>.dict (onnx_* → onnx.dict).
    for dict in "fuzz/$t.dict" "fuzz/${t%%_*}.dict"; do
        if [ -f "$dict" ]; then args+=(-dict="$dict"); break; fi
    done
    local rc=0
    cargo "+$toolchain" fuzz run "$t" "$corpus/$t" "$corpus/seeds/$t" -- "${args[@]}" \
        >"$corpus/$t.log" 2>&1 || rc=$?
    echo "$rc" >"$corpus/$t.rc"
}
echo "fuzz: ${#targets[@]} target(s), ${secs} s each, $jobs at a time"
for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    rm -f "$corpus/$t.rc"
    run_target "$t" &
done
wait
failed=()
for t in "${targets[@]}"; do
    log="$corpus/$t.log"
    echo "--- fuzz $t: ${secs} s"
    if [ "$(cat "$corpus/$t.rc" 2>/dev/null)" = 0 ]; then
        # The last status line (execs, cov, corpus) and the final stats.
        grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -n 1 || true
        grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log" || true
    else
        tail -n 40 "$log"
        failed+=("$t")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} target(s), ${secs} s each, no crash"
