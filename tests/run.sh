#!/usr/bin/env bash
# The project's test suite: sets up what it needs (Python venvs for the peer
# checks, verilator/yosys through apt when run as root), then runs every check.
# Usage: bash tests/run.sh        (CI: .ci/run calls exactly this)
# Needs: a Rust toolchain, python3 with venv (Debian: python3-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
t0=$(date +%s)
# Each section's start and duration, and at exit (also when a check fails) a table of all.
names=() durations=() current="" started=0
# GiB free on the filesystem of a path: each section's end prints it, so a run that fills the
# disk shows where (a full disk otherwise surfaces as a linker "Bus error" deep in a build).
free_gib() { df -Pk "$1" 2>/dev/null | awk 'NR == 2 { printf "%.1f", $4 / 1048576 }'; }
end_section() {
    [ -n "$current" ] || return 0
    local d=$(( $(date +%s) - started ))
    names+=("$current") durations+=("$d")
    printf '=== %s: %s s (disk: %s GiB free)\n' "$current" "$d" "$(free_gib "$CARGO_TARGET_DIR")"
    current=""
}
section() {
    end_section
    current="$*" started=$(date +%s)
    printf '\n=== [%ss] %s\n' "$(( started - t0 ))" "$*"
}
summary() {
    local rc=$? failed="$current" i
    end_section
    # A venv set-up still running in the background (a check failed before it was needed).
    kill $(jobs -p) 2>/dev/null || true
    [ -z "${venvs:-}" ] || rm -rf "$venvs"
    printf '\n=== summary: %s s in all\n' "$(( $(date +%s) - t0 ))"
    for i in "${!names[@]}"; do
        printf '%6s s  %s%s\n' "${durations[$i]}" "${names[$i]}" \
            "$([ "$rc" -ne 0 ] && [ "${names[$i]}" = "$failed" ] && echo '  FAILED')"
    done
    [ "$rc" -eq 0 ] && echo "all checks passed"
    exit "$rc"
}
trap summary EXIT

# The host's cargo target dir lives outside the clone, like the emulated tests' and the board
# binaries' (boards/ci.sh): a run on a machine that has run the suite before rebuilds only lm.
# A fresh clone's files are newer than every cached artefact of lm, so lm is always rebuilt.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/lm/target}
mkdir -p "$CARGO_TARGET_DIR"
echo "disk: $(free_gib "$CARGO_TARGET_DIR") GiB free for the build caches ($CARGO_TARGET_DIR)," \
    "$(free_gib .) GiB for the clone"

# The Python venvs (the peers' .venv, and PyTorch's ~5.7 GB in ~/.cache/lm/train-venv) are
# downloaded in the background while Rust builds; their sections wait for them. Up to date
# venvs take a second.
venvs=$(mktemp -d)
(
    for v in peers:tests/python/setup.sh train:training/setup.sh; do
        rc=0
        bash "${v#*:}" >"$venvs/${v%%:*}.log" 2>&1 || rc=$?
        echo "$rc" >"$venvs/${v%%:*}.rc"
    done
) &
await_venv() { # <peers|train>: waits for its set-up, shows its log, fails with it
    while [ ! -f "$venvs/$1.rc" ]; do sleep 2; done
    cat "$venvs/$1.log"
    [ "$(cat "$venvs/$1.rc")" = 0 ] || { echo "venv set-up ($1) failed" >&2; return 1; }
}

section "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
# The board binaries' configuration (no tract-onnx; boards/dist.sh).
cargo clippy --all-targets --no-default-features --quiet -- -D warnings

section "rust tests"
if [ ! -f ../shared/README.md ]; then
    echo "note: ../shared is absent: the MoveNet/EfficientPose tests (tests/integration/shared_models.rs) skip"
fi
cargo test 2>&1 | tee /tmp/lm-cargo-test.$$.log
grep -q "test result: ok" /tmp/lm-cargo-test.$$.log
rm -f /tmp/lm-cargo-test.$$.log

section "cross: unit tests under qemu-arm/-aarch64, dist binaries, joints vs lm_x86 (boards/ci.sh)"
# Cargo target dirs in ~/.cache/lm: with warm caches only `lm` itself is rebuilt.
bash boards/ci.sh

section "python peers (fixtures reproducible with onnxruntime / qonnx; lm eval AP/AR vs pycocotools; lm convert vs qonnx)"
await_venv peers
.venv/bin/python tests/python/check_fixtures.py
.venv/bin/python tests/python/check_eval_coco.py
.venv/bin/python tests/python/check_posenet.py   # skips without ../shared
.venv/bin/python tests/python/check_convert.py   # lm convert's QONNX in the qonnx executor vs TF and lm

section "training export checks (PyTorch vs qonnx executor, onnxruntime); seed-style heads vs onnxruntime"
await_venv train
bash training/run_tests.sh
# Regression, grid and stacked-hourglass models built by training/seed_heads.py in a temporary folder,
# run in lm and decoded by numpy from onnxruntime's outputs (~40 s).
training/.venv/bin/python tests/python/check_heads.py

section "FPGA: register map, RTL simulation, synthesis fit, Rust driver co-simulation"
bash fpga/ci.sh

section "fuzz: every target 30 s on its cached corpus (fuzz/ci.sh)"
bash fuzz/ci.sh 30
