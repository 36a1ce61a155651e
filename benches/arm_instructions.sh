#!/usr/bin/env bash
# Instructions executed per frame by the ARM board binaries, counted under qemu-user (no ARM
# machine here; valgrind does not run ARM code on x86). qemu logs every translated block
# (`-d in_asm`: its instructions) and every block executed (`-d exec,nochain`); the sum over
# executions of the block sizes is the guest's instruction count. A run on two copies of the
# image minus a run on one is one frame (decode, preprocess, network, post-processing), free of
# start-up and model loading. Counts are exact and repeat whatever the machine's load; they
# are not cycles (a NEON q-register op is one instruction but two issue cycles on a Cortex-A9).
#
# Usage: bash benches/arm_instructions.sh [BINARY_ARCH:KERNEL ...]
#        default: arm:portable arm:neon aarch64:portable aarch64:neon
# Env:   LM_BIN_DIR  where lm_arm / lm_aarch64 are (default: dist/, from boards/dist.sh)
#        LM_IMAGE    the frame (default: tests/images/astronaut.png)
# Needs qemu-user-static and the cross sysroots (boards/setup-cross.sh). Each count takes
# 1–3 minutes (qemu with logging is ~50× slower).
set -euo pipefail
cd "$(dirname "$0")/.."
bin_dir=${LM_BIN_DIR:-dist}
img=${LM_IMAGE:-tests/images/astronaut.png}
meta=meta/lm_single_pose_v1_quantize.yaml
runs=("$@")
((${#runs[@]})) || runs=(arm:portable arm:neon aarch64:portable aarch64:neon)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export TRACT_CPU_ARM32_NEON=true

# Guest instructions of one `lm run` on images "$@", read from qemu's log through a FIFO.
count() { # <arch> <kernel> <image...>
    local arch=$1 kernel=$2
    shift 2
    local qemu=(qemu-arm-static -L /usr/arm-linux-gnueabihf)
    [ "$arch" = aarch64 ] && qemu=(qemu-aarch64-static -L /usr/aarch64-linux-gnu)
    rm -f "$tmp/log"
    mkfifo "$tmp/log"
    # in_asm: "IN: sym", then "0x<pc>:  <insn> ..." lines, then a blank line.
    # exec:   "Trace 0: 0x<host> [<cs_base>/<pc>/<flags>/<cflags>] sym".
    awk '
        function key(h) { sub(/^0x/, "", h); sub(/^0+/, "", h); return h }
        /^IN:/ { blk = 1; start = ""; n = 0; next }
        blk && /^0x[0-9a-f]+:/ { if (start == "") start = key(substr($1, 1, length($1) - 1)); n++; next }
        blk { if (start != "") size[start] = n; blk = 0 }
        /^Trace / { split($0, a, "["); split(a[2], f, "/"); execs[key(f[2])]++ }
        END { for (pc in execs) total += execs[pc] * size[pc]; printf "%.0f\n", total }
    ' "$tmp/log" >"$tmp/count" &
    local awk_pid=$!
    "${qemu[@]}" -d in_asm,exec,nochain -D "$tmp/log" "$bin_dir/lm_$arch" run -c "$meta" \
        --kernel "$kernel" -i "$@" -o "$tmp/out" >"$tmp/run.log" 2>&1 \
        || { cat "$tmp/run.log" >&2; echo "FAIL: lm_$arch run --kernel $kernel" >&2; exit 1; }
    wait "$awk_pid"
    cat "$tmp/count"
}

cp "$img" "$tmp/a.png"
cp "$img" "$tmp/b.png"
printf '%-9s %-9s %16s %16s %16s\n' binary kernel "1 image" "2 images" "per frame"
for r in "${runs[@]}"; do
    arch=${r%%:*} kernel=${r#*:}
    one=$(count "$arch" "$kernel" "$tmp/a.png")
    two=$(count "$arch" "$kernel" "$tmp/a.png" "$tmp/b.png")
    printf '%-9s %-9s %16s %16s %16s\n' "lm_$arch" "$kernel" "$one" "$two" "$((two - one))"
done
