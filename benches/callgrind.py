#!/usr/bin/env python3
"""Instructions executed per frame of the default model, and per node, counted by callgrind.

Instruction counts repeat whatever the machine's load, so they are the stable record that later
changes are compared against (the times of `compare_engines.py` are not). Two counts:

  * per frame: `lm bench -n 3` minus `lm bench -n 1` (same load, warm-up, yardstick and
    profiled run), halved: one `Pipeline::infer` (pre-processing, network, post-processing);
  * per node: one run with collection only inside `Pipeline::infer`, and a callgrind dump
    before and after every `EvalOp::eval` (`--dump-before/--dump-after`): each op's own count,
    and what ran between two ops (tract's plan, ops evaluated through another entry point such
    as the float head's matrix product) as "between". The timed frame (the second) is shown.

Valgrind does not emulate AVX-512: on x86 `--kernel best` picks the AVX2 kernels under
callgrind, so these counts describe the AVX2 path (the lane kernels' instruction counts on ARM
come from `benches/arm_instructions.sh` under qemu).

    python3 benches/callgrind.py [--threads N] [--kernel K] [--lm PATH]

Builds `--profile callgrind` (release with symbols) unless `--lm` names a binary with symbols.
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
META = os.path.join(ROOT, "meta", "lm_single_pose_v1_quantize.yaml")
EVAL = "*as tract_core::ops::EvalOp>::eval"


def callgrind(lm, args, extra, outdir):
    out = os.path.join(outdir, "cg.out")
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *extra, lm, "bench",
           "-c", META, "--profile-runs", "1", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return p.stdout


def dumps(outdir):
    """(trigger, instructions) of every dump, in order."""
    def seq(path):
        m = re.search(r"\.(\d+)(?:-\d+)?$", path)
        return int(m.group(1)) if m else 10**9  # the file without a number: program end
    rows = []
    for path in sorted(glob.glob(os.path.join(outdir, "cg.out*")), key=seq):
        trigger, total = "", 0
        for line in open(path, errors="replace"):
            if line.startswith("desc: Trigger:"):
                trigger = line.split(":", 2)[2].strip()
            elif line.startswith("totals:") or line.startswith("summary:"):
                total = int(line.split()[1])
        rows.append((trigger, total))
    return rows


def op_name(trigger):
    m = re.search(r"<([\w:]+)(?:<[^>]*>)? as tract_core::ops::EvalOp>::eval", trigger)
    return m.group(1).rsplit("::", 1)[-1] if m else trigger


def total_instructions(lm, args):
    with tempfile.TemporaryDirectory() as d:
        callgrind(lm, args, [], d)
        return sum(t for _, t in dumps(d))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1")
    ap.add_argument("--kernel", default="best")
    ap.add_argument("--lm", default=None, help="an lm binary with symbols (default: build one)")
    a = ap.parse_args()
    lm = a.lm
    if lm is None:
        subprocess.run(["cargo", "build", "--profile", "callgrind", "--quiet"], cwd=ROOT, check=True)
        lm = os.path.join(ROOT, "target", "callgrind", "lm")
    args = ["--threads", a.threads, "--kernel", a.kernel]

    one = total_instructions(lm, ["-n", "1", *args])
    three = total_instructions(lm, ["-n", "3", *args])
    frame = (three - one) / 2

    with tempfile.TemporaryDirectory() as d:
        report = callgrind(lm, ["-n", "1", *args],
                           ["--collect-atstart=no", "--toggle-collect=*Pipeline::infer*",
                            f"--dump-before={EVAL}", f"--dump-after={EVAL}"], d)
        rows = dumps(d)
    backend = re.search(r"^backend\s+(.*)$", report, re.M).group(1)
    qlayers = re.findall(r"^(\S+\.qconv)\s", report, re.M)
    # Dumps inside `infer` (collection is off elsewhere, so those count 0): two frames.
    frames = [r for r in rows if r[1] > 0 and r[0] != "Program termination"]
    # Split at the first `before` of each frame: the warm-up and the timed frame have the same
    # sequence of triggers, so the timed frame is the second half.
    half = len(frames) // 2
    timed = frames[half:]
    print(f"backend: {backend}; threads {a.threads}; kernel {a.kernel} (valgrind: no AVX-512)")
    print(f"instructions per frame (Pipeline::infer): {frame:,.0f}")
    print()
    print("| # | node (op; quantised layers by name) | instructions | % of frame |")
    print("|---:|---|---:|---:|")
    q = iter(qlayers)
    between = 0
    n = 0
    in_frame = sum(t for _, t in timed)
    for trigger, count in timed:
        if trigger.startswith("--dump-before"):
            between += count
            continue
        name = op_name(trigger)
        if name == "QConv2d":
            name = next(q, "QConv2d")
        n += 1
        print(f"| {n} | {name} | {count:,} | {100 * count / frame:.1f} |")
    print(f"| | between ops (plan, float head, pre/post-processing) | {between:,} | "
          f"{100 * between / frame:.1f} |")
    print(f"| | **sum of the timed frame's dumps** | **{in_frame:,}** | {100 * in_frame / frame:.1f} |")
    if abs(in_frame - frame) > 0.02 * frame:
        print(f"warning: the timed frame's dumps ({in_frame:,}) differ from the per-frame count "
              f"by more than 2 %", file=sys.stderr)


if __name__ == "__main__":
    main()
