#!/usr/bin/env python3
"""Speed of one 160×160 frame of the default model, in one run on one machine:

  * lm, quantised engine (fused bit-serial kernels), 1 thread and all threads
  * lm, tract running the same QONNX file as float fake-quant
  * lm, tract running the float LmSinglePoseV1
  * onnxruntime running the float LmSinglePoseV1, 1 thread and all threads
  * onnxruntime running the float LmSinglePoseV1 statically quantised to int8
    by onnxruntime's own tools (what a user would do instead of a binary
    network; see `quantise_int8`), 1 thread and all threads

Prints a Markdown table (ms per frame: mean, median and min of `lm bench`'s `run`
stage or of onnxruntime's session.run) with ratios against the quantised engine
(of the medians: on a shared VM a few runs slowed by a neighbour move the mean,
especially the 2-thread one, whose frame waits for its slower half; the means'
ratios are printed beside them), then the two targets' ratios measured again in
alternating rounds (see `target_rounds`: a neighbour who slows the VM for a
second then slows every engine of one round, not one engine's whole
measurement; the median over rounds is the figure), and
the per-layer table of the quantised engine. Not part of CI (timings on a
shared machine are noisy: compare ratios within one run).

    cargo build --release && .venv/bin/python benches/compare_engines.py [-n RUNS]
"""
import argparse
import os
import platform
import re
import subprocess
import tempfile
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
    m = re.search(r"^run\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", out, re.M)
    return float(m.group(1)), float(m.group(4)), float(m.group(3)), out


def calibration_images():
    """160×160 RGB images in [0, 1], NHWC, as the float model's meta.yaml feeds it
    (resize, then /255): crops and flips of tests/images/astronaut.png, plus
    ../shared/images/*.png where that folder exists."""
    from PIL import Image

    paths = [os.path.join(ROOT, "tests", "images", "astronaut.png")]
    shared = os.path.join(ROOT, "..", "shared", "images")
    if os.path.isdir(shared):
        paths += sorted(os.path.join(shared, f) for f in os.listdir(shared) if f.endswith(".png"))
    out = []
    for path in paths:
        img = Image.open(path).convert("RGB")
        w, h = img.size
        boxes = [(0, 0, w, h), (0, 0, w * 3 // 4, h * 3 // 4), (w // 4, h // 4, w, h),
                 (w // 8, 0, w * 7 // 8, h * 3 // 4)]
        for box in boxes:
            for flip in (False, True):
                crop = img.crop(box).resize((160, 160), Image.BILINEAR)
                if flip:
                    crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
                out.append(np.asarray(crop, np.float32)[None] / 255.0)
    return out


def quantise_int8(path):
    """Quantises the float model as onnxruntime's docs describe: pre-processing
    (shape inference, fusions), then `quantize_static` in QDQ format with
    per-channel int8 weights and uint8 activations, MinMax calibration on
    `calibration_images()`. Returns the number of calibration images."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    images = calibration_images()

    class Reader(CalibrationDataReader):
        def __init__(self, name):
            self.feeds = iter({name: x} for x in images)

        def get_next(self):
            return next(self.feeds, None)

    import onnx

    name = onnx.load(FMODEL).graph.input[0].name
    pre = path + ".pre.onnx"
    quant_pre_process(FMODEL, pre)
    quantize_static(pre, path, Reader(name), quant_format=QuantFormat.QDQ, per_channel=True,
                    weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
    os.remove(pre)
    return len(images)


def ort_session(threads, model=FMODEL):
    """A warmed-up onnxruntime session; returns `time(runs)`, which times `runs` frames and
    returns their (mean, median, min) in ms."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x = np.random.default_rng(0).uniform(0, 1, (1, 160, 160, 3)).astype(np.float32)
    sess.run(None, {name: x})

    def time_runs(runs):
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            sess.run(None, {name: x})
            times.append(time.perf_counter() - t)
        return 1e3 * float(np.mean(times)), 1e3 * float(np.median(times)), 1e3 * float(np.min(times))

    return time_runs


def ort_bench(runs, threads, model=FMODEL):
    return ort_session(threads, model)(runs)


def target_rounds(rounds, runs, int8, cores):
    """The two targets' ratios measured in alternating rounds: each round times lm 1 thread,
    lm `cores` threads and onnxruntime int8 1 thread, `runs` frames each, one after the
    other, so that a neighbour who slows this VM for a while slows one round of all three
    rather than one engine's whole measurement. Returns the table of rounds (lines) and the
    per-round ratios of medians (int8 / lm 1 thread, lm 1 / lm `cores` threads)."""
    ort_int8 = ort_session(1, int8)
    lines = [f"Targets in {rounds} alternating rounds of {runs} frames (median ms; ratios of medians):",
             "",
             f"| round | lm 1 thread | lm {cores} threads | onnxruntime int8, 1 thread "
             f"| int8 / lm 1 thread | lm 1 / lm {cores} threads |",
             "|---:|---:|---:|---:|---:|---:|"]
    vs_int8, vs_one = [], []
    for r in range(rounds):
        one = lm_bench(QMETA, runs, "--backend", "cpu", "--threads", "1")[1]
        many = lm_bench(QMETA, runs, "--backend", "cpu", "--threads", "0")[1]
        i8 = ort_int8(runs)[1]
        vs_int8.append(i8 / one)
        vs_one.append(one / many)
        lines.append(f"| {r + 1} | {one:.3f} | {many:.3f} | {i8:.3f} | {vs_int8[-1]:.2f}× "
                     f"| {vs_one[-1]:.2f}× |")
    return lines, vs_int8, vs_one


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", "--runs", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5,
                    help="alternating rounds for the targets' ratios (0: none)")
    ap.add_argument("--round-runs", type=int, default=1000, help="frames per engine per round")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    load_start = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    rows = []
    q1 = lm_bench(QMETA, args.runs, "--backend", "cpu", "--threads", "1")
    rows.append(("lm quantised engine, 1 thread", *q1[:3]))
    qn = lm_bench(QMETA, args.runs, "--backend", "cpu", "--threads", "0")
    rows.append((f"lm quantised engine, {cores} threads", *qn[:3]))
    qf = lm_bench(QMETA, args.runs, "--backend", "float")
    rows.append(("tract, same QONNX as float fake-quant (1 thread)", *qf[:3]))
    ff = lm_bench(FMETA, args.runs, "--backend", "float")
    rows.append(("tract, float LmSinglePoseV1 (1 thread)", *ff[:3]))
    o1 = ort_bench(args.runs, 1)
    rows.append(("onnxruntime, float LmSinglePoseV1, 1 thread", *o1))
    on = ort_bench(args.runs, cores)
    rows.append((f"onnxruntime, float LmSinglePoseV1, {cores} threads", *on))
    with tempfile.TemporaryDirectory() as tmp:
        int8 = os.path.join(tmp, "lm_single_pose_v1_int8.onnx")
        calibrated = quantise_int8(int8)
        i1 = ort_bench(args.runs, 1, int8)
        rows.append(("onnxruntime, int8 (QDQ) LmSinglePoseV1, 1 thread", *i1))
        i_n = ort_bench(args.runs, cores, int8)
        rows.append((f"onnxruntime, int8 (QDQ) LmSinglePoseV1, {cores} threads", *i_n))
        rounds = target_rounds(args.rounds, args.round_runs, int8, cores) if args.rounds else None

    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"date {time.strftime('%Y-%m-%d')}, CPU {cpu_model()}, {cores} cores, 160×160, "
          f"{args.runs} runs, load average at the start {load_start}, at the end {load}; int8 model: quantize_static, QDQ, "
          f"per-channel int8 weights, uint8 activations, MinMax on {calibrated} calibration images")
    print()
    print("| engine | mean ms/frame | median ms | min ms | median / quantised 1-thread median |")
    print("|---|---:|---:|---:|---:|")
    for name, mean, median, best in rows:
        print(f"| {name} | {mean:.2f} | {median:.2f} | {best:.2f} | {median / q1[1]:.2f}× |")
    print()
    print(f"lm 1 thread vs onnxruntime int8 1 thread: {i1[1] / q1[1]:.2f}× faster (medians; means "
          f"{i1[0] / q1[0]:.2f}×; target ≥ 3×); lm {cores} threads vs 1 thread: {q1[1] / qn[1]:.2f}× "
          f"(medians; means {q1[0] / qn[0]:.2f}×; target ≥ 1.6×)")
    if rounds:
        lines, r8, r1 = rounds
        m8, m1 = float(np.median(r8)), float(np.median(r1))
        print()
        print("\n".join(lines))
        print()
        print(f"In alternating rounds (median over {len(r8)} rounds): lm 1 thread vs onnxruntime int8 "
              f"1 thread {m8:.2f}× (rounds {min(r8):.2f}–{max(r8):.2f}×; target ≥ 3×); "
              f"lm {cores} threads vs 1 thread {m1:.2f}× (rounds {min(r1):.2f}–{max(r1):.2f}×; "
              f"target ≥ 1.6×)")
    print()
    print("Quantised engine, 1 thread, per layer (from `lm bench`):")
    print("```")
    text = q1[3]
    start = text.find("quantised layers")
    print(text[start:text.find("peak RSS")].rstrip())
    print("```")


if __name__ == "__main__":
    main()
