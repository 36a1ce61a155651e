#!/usr/bin/env python3
"""Peer check of `lm convert` (src/tf/convert.rs) with the qonnx executor.

1. `lm convert tests/fixtures/blueoil_tiny_pose.pb -o model.onnx` (the project's
   Blueoil-style graph: both weight scalings, both rounding bodies).
2. qonnx (ModelWrapper + InferShapes + qonnx.core.onnx_exec.execute_onnx, the
   path FINN takes) runs the written file on the fixture's input: every
   activation quantiser output must equal TensorFlow's (the fixture's
   `NNN_<tensor>:0.npy`, Blueoil's inference_test_data naming) bit for bit,
   the binarised kernels by sign (scale within 2 ulp: TensorFlow's Mean
   sums in its own order), and the output within 1e-5 x max(1, max |TF|).
3. Blueoil's own lmnet_v1_toy_graph.pb (../shared/blueoil; skipped without it),
   converted the same way, against Blueoil's per-op outputs for 1000_dog.png.
4. The fixture's file through `lm run -m model.onnx` on photos (tests/images/*.png,
   ../shared/images/*.png when present), resized here to the network's 16x16
   and saved as RGB PNG so that lm's resize is a no-op and both sides see the
   same input (pixels / 255 in float32), on the float, cpu and fpga (software
   register model) backends: every joint's cell and visibility equal the
   argmax of qonnx's heatmaps, its score (peak / 10) within SCORE_TOL.

Usage: check_convert.py [LM_BINARY]  (default: `cargo run --bin lm --`).
Needs numpy, onnx, onnxruntime, qonnx, pillow (tests/python/requirements.txt).
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.transformation.infer_shapes import InferShapes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "blueoil_tiny_pose.pb")
DATA = os.path.join(ROOT, "tests", "fixtures", "blueoil_tiny_pose")
SHARED = os.path.join(ROOT, "..", "shared")
SIZE, STRIDE, JOINTS, THRESHOLD = 16, 2, 17, 0.1
SCORE_TOL = 1e-5
META = f"""CLASSES:
- person
DATA_FORMAT: NHWC
IMAGE_SIZE:
- {SIZE}
- {SIZE}
POST_PROCESSOR:
- GaussianHeatmapToJoints:
    confidence_threshold: {THRESHOLD}
    num_dimensions: 2
    stride: {STRIDE}
PRE_PROCESSOR:
- ResizeWithJoints:
    image_size:
    - {SIZE}
    - {SIZE}
    resample: NEAREST
- DivideBy255: null
TASK: IMAGE.KEYPOINT_DETECTION
"""


def ulps(a, b):
    """Distance in units in the last place between float32 arrays of one sign."""
    ia = a.astype(np.float32).view(np.int32).astype(np.int64)
    ib = b.astype(np.float32).view(np.int32).astype(np.int64)
    return np.abs(ia - ib)


def qonnx_run(model, x, full=False):
    return execute_onnx(model, {"images_placeholder": x}, return_full_exec_context=full)


def check_tensors(model, data, need):
    """qonnx vs TensorFlow's per-tensor outputs (Blueoil's inference_test_data naming:
    NNN_<tensor, '/' as '_'>:0.npy, the input first); tensors without an ONNX
    counterpart (Consts' Identity reads) are skipped; returns failures."""
    failures = []
    files = sorted(glob.glob(os.path.join(data, "*.npy")))
    x = np.load(files[0])
    ctx = qonnx_run(model, x, full=True)
    g = model.graph
    io = {v.name for v in list(g.input) + list(g.output)}
    kernels = {t.name for t in g.initializer} | {n.output[0] for n in g.node if n.op_type == "BipolarQuant"}
    compared = 0
    for f in files[1:]:
        tensor = os.path.basename(f)[4:-len(".npy")]
        tensor = tensor[:-2] if tensor.endswith((":0", "_0")) else tensor
        want = np.load(f)
        if want.dtype != np.float32:
            continue
        # The ONNX tensor is named after the TF node; '/' became '_' in the file name.
        names = [n for n in ctx if n.replace("/", "_") == tensor]
        assert len(names) <= 1, f"{tensor}: {names}"
        if not names:
            continue
        compared += 1
        got = ctx[names[0]]
        if got.ndim == 4 and names[0] not in io:
            # Inside the graph: OIHW kernels (TF: HWIO), NCHW activations.
            got = got.transpose(2, 3, 1, 0) if names[0] in kernels else got.transpose(0, 2, 3, 1)
        assert got.shape == want.shape, f"{tensor}: {got.shape} vs {want.shape}"
        if names[0] in kernels:
            ok = bool(np.all(np.sign(got) == np.sign(want)) and ulps(got, want).max() <= 2)
            rule = f"sign equal, scale {int(ulps(got, want).max())} ulp"
        elif "Quantizer" in tensor or "QTZ" in tensor:
            ok = bool(np.array_equal(got, want))
            rule = f"exact ({int(np.sum(got != want))} differ)"
        else:
            diff = float(np.max(np.abs(got - want)))
            ok = diff <= 1e-5 * max(1.0, float(np.max(np.abs(want))))
            rule = f"max |diff| {diff:.3g}"
        print(f"{'ok  ' if ok else 'FAIL'} {names[0]} {want.shape}: {rule}")
        if not ok:
            failures.append(names[0])
    print(f"{compared} tensors of {data} compared")
    if compared < need:
        failures.append(f"only {compared} of {data}'s tensors have a counterpart (expected {need})")
    return failures


def decode(heat):
    """Blueoil's GaussianHeatmapToJoints on [H, W, J]: first argmax, x*stride, peak/10."""
    out = []
    for j in range(JOINTS):
        h = heat[..., j]
        cy, cx = np.unravel_index(np.argmax(h), h.shape)
        peak = float(h[cy, cx])
        out.append((float(cx * STRIDE), float(cy * STRIDE), peak / 10.0, peak >= 10.0 * THRESHOLD))
    return out


def check_joints(model, lm, onnx_path, tmp):
    sources = sorted(glob.glob(os.path.join(ROOT, "tests", "images", "*.png")))
    sources += sorted(glob.glob(os.path.join(SHARED, "images", "*.png")))
    paths, inputs = [], []
    for i, src in enumerate(sources):
        img = Image.open(src).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)
        p = os.path.join(tmp, f"{i}_{os.path.basename(src)}")
        img.save(p)
        paths.append(p)
        inputs.append((np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / np.float32(255))[None])
    want = [decode(qonnx_run(model, x)["output"][0]) for x in inputs]
    meta = os.path.join(tmp, "meta.yaml")
    with open(meta, "w") as f:
        f.write(META)
    failures, worst = [], 0.0
    for backend in (["--backend", "float"], ["--backend", "cpu"], ["--backend", "fpga", "--fpga-device", "sim"]):
        out_dir = os.path.join(tmp, "out_" + backend[1])
        cmd = lm + ["run", "-c", meta, "-m", onnx_path, "-o", out_dir, "-i"] + paths + backend
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(out_dir, "output.json")) as f:
            results = json.load(f)["results"]
        assert len(results) == len(paths)
        for p, res, joints in zip(paths, results, want):
            assert os.path.basename(res["file_path"]) == os.path.basename(p), res["file_path"]
            kps = res["prediction"]["keypoints"]
            bad = 0
            for k, (x, y, score, visible) in zip(kps, joints):
                worst = max(worst, abs(k["score"] - score))
                if (k["x"], k["y"], k["visible"]) != (x, y, visible) or abs(k["score"] - score) > SCORE_TOL:
                    bad += 1
            ok = bad == 0 and len(kps) == JOINTS
            print(f"{'ok  ' if ok else 'FAIL'} {backend[1]:5s} {os.path.basename(p)}: "
                  f"{sum(j[3] for j in joints)} visible, {bad} joints differ")
            if not ok:
                failures.append(f"{backend[1]} {p}")
    print(f"joints: {len(paths)} images x 3 backends, max |score diff| {worst:.3g}")
    return failures


def blueoil_toy(lm, tmp):
    """Blueoil's own lmnet_v1_toy_graph.pb (../shared/blueoil, skipped without it),
    converted and run in qonnx, against Blueoil's per-op outputs."""
    toy = os.path.join(SHARED, "blueoil", "lmnet_v1_toy_graph.pb")
    if not os.path.exists(toy):
        print(f"SKIP: {toy} absent (../shared is not beside the checkout)")
        return []
    subprocess.run(["tar", "xzf", toy.replace(".pb", "_1000_dog.png.tar.gz"), "-C", tmp], check=True)
    onnx_path = os.path.join(tmp, "toy.onnx")
    subprocess.run(lm + ["convert", toy, "-o", onnx_path], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    model = ModelWrapper(onnx_path).transform(InferShapes())
    return check_tensors(model, os.path.join(tmp, "1000_dog.png"), 11)


def main():
    lm = sys.argv[1:] or ["cargo", "run", "--quiet", "--bin", "lm", "--"]
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = os.path.join(tmp, "model.onnx")
        subprocess.run(lm + ["convert", FIXTURE, "-o", onnx_path], cwd=ROOT, check=True)
        model = ModelWrapper(onnx_path).transform(InferShapes())
        failures = check_tensors(model, DATA, 8) + check_joints(model, lm, onnx_path, tmp)
        failures += blueoil_toy(lm, tmp)
    print("all match" if not failures else f"{len(failures)} failed: {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
