#!/usr/bin/env python3
"""Speed of one 160×160 frame of the default model, in one run on one machine:

  * lm, quantised engine (fused bit-serial kernels), 1 thread and all threads
  * lm, tract running the same QONNX file as float fake-quant
  * lm, tract running the float LmSinglePoseV1
  * onnxruntime running the float LmSinglePoseV1, 1 thread and all threads

Prints a Markdown table (ms per frame = mean of `lm bench`'s `run` stage or
of onnxruntime's session.run) with ratios against the quantised engine, and
the per-layer table of the quantised engine. Not part of CI (timings on a
shared machine are noisy: compare ratios within one run).

    cargo build --release && .venv/bin/python benches/compare_engines.py [-n RUNS]
"""
import argparse
import os
import platform
import re
import subprocess
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LM = os.path.join(ROOT, "target", "release", "lm")
QMETA = os.path.join(ROOT, "meta", "lm_single_pose_v1_quantize.yaml")
FMETA = os.path.join(ROOT, "meta", "lm_single_pose_v1.yaml")
FMODEL = os.path.join(ROOT, "models", "lm_single_pose_v1.onnx")


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def lm_bench(meta, runs, *args):
    out = subprocess.run(
        [LM, "bench", "-c", meta, "-n", str(runs), "--profile-runs", "3", *args],
        check=True, capture_output=True, text=True,
    ).stdout
    m = re.search(r"^run\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", out, re.M)
    return float(m.group(1)), float(m.group(3)), out


def ort_bench(runs, threads):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(FMODEL, opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x = np.random.default_rng(0).uniform(0, 1, (1, 160, 160, 3)).astype(np.float32)
    sess.run(None, {name: x})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {name: x})
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.mean(times)), 1e3 * float(np.min(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", "--runs", type=int, default=20)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    rows = []
    q1 = lm_bench(QMETA, args.runs, "--backend", "cpu", "--threads", "1")
    rows.append(("lm quantised engine, 1 thread", q1[0], q1[1]))
    qn = lm_bench(QMETA, args.runs, "--backend", "cpu", "--threads", "0")
    rows.append((f"lm quantised engine, {cores} threads", qn[0], qn[1]))
    qf = lm_bench(QMETA, args.runs, "--backend", "float")
    rows.append(("tract, same QONNX as float fake-quant (1 thread)", qf[0], qf[1]))
    ff = lm_bench(FMETA, args.runs, "--backend", "float")
    rows.append(("tract, float LmSinglePoseV1 (1 thread)", ff[0], ff[1]))
    o1 = ort_bench(args.runs, 1)
    rows.append(("onnxruntime, float LmSinglePoseV1, 1 thread", *o1))
    on = ort_bench(args.runs, cores)
    rows.append((f"onnxruntime, float LmSinglePoseV1, {cores} threads", *on))

    print(f"date {time.strftime('%Y-%m-%d')}, CPU {cpu_model()}, {cores} cores, 160×160, {args.runs} runs")
    print()
    print("| engine | mean ms/frame | min ms | mean / quantised 1-thread |")
    print("|---|---:|---:|---:|")
    for name, mean, best in rows:
        print(f"| {name} | {mean:.2f} | {best:.2f} | {mean / q1[0]:.2f}× |")
    print()
    print("Quantised engine, 1 thread, per layer (from `lm bench`):")
    print("```")
    text = q1[2]
    start = text.find("quantised layers")
    print(text[start:text.find("peak RSS")].rstrip())
    print("```")


if __name__ == "__main__":
    main()
