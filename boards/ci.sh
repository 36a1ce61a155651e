#!/usr/bin/env bash
# Board CI: proves the cross-compiled binaries work (called from the project's test script).
#   1. installs the cross tools (boards/setup-cross.sh, idempotent)
#   2. compiles the device-tree overlays with `dtc -@` (warnings fail)
#   3. unit tests (`cargo test --lib`: kernels, config, post-processing, board, ...) under
#      qemu-arm and qemu-aarch64
#   4. builds dist/ (boards/dist.sh: sizes and GLIBC_ versions checked there)
#   5. runs dist/lm_arm and dist/lm_aarch64 under qemu and dist/lm_x86 natively on the default
#      model and tests/images/astronaut.png; the joints must be identical; reports peak RSS
#      and the program's own peak heap (lm counts it; under qemu the RSS includes the
#      emulator); fails if lm_x86's peak RSS exceeds 64 MiB (LM_CI_MAX_RSS_KB)
# Usage: bash boards/ci.sh [overlays] [test-arm] [test-aarch64] [dist] [run]   (default: all)
# Env:   LM_CROSS_TARGET_DIR  cargo target dir of the emulated unit tests (default
#        ~/.cache/lm/target-cross), LM_DIST_TARGET_DIR the same for dist.sh (default
#        ~/.cache/lm/target-dist): both outside the clone, so CI runs on the same machine only
#        rebuild `lm` itself; LM_CI_TEST_FILTER: test name filter for the emulated unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=never
CROSS_TARGET_DIR=${LM_CROSS_TARGET_DIR:-$HOME/.cache/lm/target-cross}
# tract reads /proc/cpuinfo for NEON, which under qemu-user is the host's: force its NEON kernels
# (cargo's [env] does this for `cargo test`; the dist runs below need it explicitly).
export TRACT_CPU_ARM32_NEON=true

parts=("$@")
((${#parts[@]})) || parts=(overlays test-arm test-aarch64 dist run)
want() { local p; for p in "${parts[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }

T_START=$(date +%s)
declare -a SUMMARY=()
declare -A WALL=() RSS=() HEAP=() JOINTS=()
step() { printf '\n=== boards/ci: %s\n' "$*"; T_STEP=$(date +%s); }
done_step() { SUMMARY+=("$(printf '%-28s %5d s  %s' "$1" $(($(date +%s) - T_STEP)) "${2:-}")"); }

step "cross tools"
bash boards/setup-cross.sh >/dev/null
done_step "setup-cross"

if want overlays; then
    step "device-tree overlays (dtc -@)"
    out=$(mktemp -d)
    for dts in boards/*/*.dtso; do
        dtbo=$out/$(basename "${dts%.dtso}").dtbo
        # lm_qconv.dtso inherits its interrupt parent from /soc, which dtc cannot see.
        if ! err=$(dtc -@ -W no-interrupts_property -I dts -O dtb -o "$dtbo" "$dts" 2>&1) \
            || [ -n "$err" ]; then
            echo "FAIL: $dts" >&2
            echo "$err" >&2
            exit 1
        fi
        echo "   $dts -> $(stat -c %s "$dtbo") bytes"
    done
    # The overlay must carry the accelerator's CSR block and interrupt.
    fdtget "$out/lm_qconv.dtbo" /fragment@0/__overlay__/lm-qconv@ff200000 compatible \
        | grep -q 'lm,qconv-1.0'
    [ "$(fdtget -t x "$out/lm_qconv.dtbo" /fragment@0/__overlay__/lm-qconv@ff200000 reg)" \
        = "ff200000 100" ]
    rm -rf "$out"
    done_step "overlays"
fi

run_unit_tests() { # <name> <triple>
    step "unit tests under qemu ($2)"
    local log
    log=$(mktemp)
    # shellcheck disable=SC2086
    CARGO_TARGET_DIR=$CROSS_TARGET_DIR nice -n 10 cargo test --quiet --target "$2" --lib \
        -- ${LM_CI_TEST_FILTER:-} 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local res
    res=$(grep -E '^test result:' "$log" | tail -n 1 || true)
    rm -f "$log"
    [ "$rc" -eq 0 ] || { echo "FAIL: unit tests under qemu for $2" >&2; exit 1; }
    done_step "tests $1" "$res"
}
want test-arm && run_unit_tests arm armv7-unknown-linux-gnueabihf
want test-aarch64 && run_unit_tests aarch64 aarch64-unknown-linux-gnu

if want dist; then
    step "dist (boards/dist.sh)"
    log=$(mktemp)
    bash boards/dist.sh 2>&1 | tee "$log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "FAIL: boards/dist.sh" >&2; exit 1; }
    done_step "dist" "$(grep -c 'highest GLIBC' "$log") binaries checked"
    rm -f "$log"
fi

if want run; then
    step "dist binaries on the default model"
    meta=meta/lm_single_pose_v1_quantize.yaml
    if [ ! -f "$meta" ] || [ ! -f models/lm_single_pose_v1_quantize.onnx ]; then
        echo "   default model absent: using tests/fixtures/lm_tiny_quantize.yaml"
        meta=tests/fixtures/lm_tiny_quantize.yaml
    fi
    img=tests/images/astronaut.png
    out=$(mktemp -d)
    for n in x86 arm aarch64; do
        [ -x "dist/lm_$n" ] || { echo "FAIL: dist/lm_$n missing (run the dist part)" >&2; exit 1; }
        case $n in
            x86) runner=() ;;
            arm) runner=(qemu-arm-static -L /usr/arm-linux-gnueabihf) ;;
            aarch64) runner=(qemu-aarch64-static -L /usr/aarch64-linux-gnu) ;;
        esac
        t0=$(date +%s.%N)
        /usr/bin/time -f '%M' -o "$out/$n.rss" "${runner[@]}" "dist/lm_$n" run -c "$meta" \
            -i "$img" -o "$out/$n" >"$out/$n.log" 2>&1 \
            || { cat "$out/$n.log" >&2; echo "FAIL: dist/lm_$n run" >&2; exit 1; }
        t1=$(date +%s.%N)
        WALL[$n]=$(echo "$t1 - $t0" | awk '{printf "%.1f", $1 - $3}')
        RSS[$n]=$(awk '{printf "%.1f", $1/1024}' "$out/$n.rss")
        HEAP[$n]=$(sed -n 's/.*peak heap \([0-9.]*\) MiB.*/\1/p' "$out/$n.log" | tail -n 1)
        # What the emulator alone costs: the same binary printing its version.
        /usr/bin/time -f '%M' -o "$out/$n.base" "${runner[@]}" "dist/lm_$n" --version >/dev/null
        base=$(awk '{printf "%.1f", $1/1024}' "$out/$n.base")
        printf '   lm_%-8s %s; wall %s s, peak RSS %s MiB (--version: %s MiB)%s\n' "$n" \
            "$(tail -n 1 "$out/$n.log")" "${WALL[$n]}" "${RSS[$n]}" "$base" \
            "$([ "$n" = x86 ] || echo ' (qemu-user, includes the emulator)')"
    done
    max_rss=${LM_CI_MAX_RSS_KB:-65536}
    if [ "$(cat "$out/x86.rss")" -gt "$max_rss" ]; then
        echo "FAIL: lm_x86 peak RSS $(cat "$out/x86.rss") KiB > $max_rss KiB" >&2
        exit 1
    fi
    python3 - "$out" <<'EOF'
import json, sys
out = sys.argv[1]
def joints(n):
    d = json.load(open(f"{out}/{n}/output.json"))
    return [r["prediction"]["joints"] for r in d["results"]]
ref = joints("x86")
assert ref and all(len(j) > 0 for j in ref), "no joints from lm_x86"
for n in ("arm", "aarch64"):
    got = joints(n)
    if got != ref:
        sys.exit(f"FAIL: lm_{n} joints differ from lm_x86:\n  x86: {ref}\n  {n}: {got}")
    print(f"   lm_{n} joints identical to lm_x86 ({sum(len(j) for j in ref)} values)")
EOF
    rm -rf "$out"
    JOINTS=([x86]="reference" [arm]="identical" [aarch64]="identical")
    done_step "run (qemu)" "joints identical"
fi

printf '\n=== boards/ci summary (%s)\n' "$(date -u +%FT%TZ)"
printf '%s\n' "${SUMMARY[@]}"
declare -A OBJDUMP=([arm]=arm-linux-gnueabihf-objdump [aarch64]=aarch64-linux-gnu-objdump
                    [x86]=objdump)
printf '\n%-15s %10s %6s %6s  %-10s %9s %9s %8s\n' binary bytes MiB GLIBC joints "peak RSS" \
    "peak heap" "run"
for n in arm aarch64 x86; do
    [ -f "dist/lm_$n" ] || continue
    size=$(stat -c %s "dist/lm_$n")
    glibc=$("${OBJDUMP[$n]}" -T "dist/lm_$n" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' \
            | sort -V | tail -n 1)
    printf '%-15s %10s %6.2f %6s  %-10s %9s %9s %8s\n' "dist/lm_$n" "$size" \
        "$(awk "BEGIN{print $size/1048576}")" "$glibc" "${JOINTS[$n]:--}" \
        "${RSS[$n]:+${RSS[$n]} MiB}" "${HEAP[$n]:+${HEAP[$n]} MiB}" "${WALL[$n]:+${WALL[$n]} s}"
done
echo "(peak RSS and run time of lm_arm/lm_aarch64 are under qemu-user, emulator included;"
echo " peak heap is the program's own, counted by lm's allocator)"
echo "total $(($(date +%s) - T_START)) s"
