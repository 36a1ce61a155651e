#!/usr/bin/env python3
"""Peer check of the HeatmapOffsetToJoints post-processor on PoseNet.

Runs ../shared/models/posenet_mobilenet_v1.onnx in onnxruntime, decodes its
heatmap and offset outputs with numpy (argmax cell, cell * 16 + offset,
PoseNet's y-then-x offset layout, sigmoid score, threshold 0.3), runs
`lm run -c meta/posenet_mobilenet_v1.yaml` on the same images and requires
the same joints.

The images (tests/images/astronaut.png, ../shared/images/camera.png) are
first resized to the network's 385x385 with PIL and saved as PNG, so lm's
Resize is a no-op and both sides see the same input bits; joints in image
pixels are then network pixels. The input scaling mirrors meta.yaml's
Rescale in float32 (x * 0.00784313725490196 - 1).

What must match: the argmax cell of every joint and the visibility exactly;
x and y to COORD_TOL pixels and the score to SCORE_TOL. Why not bit-exact:
tract and onnxruntime run the convolutions with different summation orders,
so the offsets differ in the last bits (the measured maxima are printed).

Skips (exit 0, with a message) when ../shared is absent. Usage:
  tests/python/check_posenet.py [LM_BINARY]
(default: `cargo run --bin lm --`; tests/run.sh has built it). Needs numpy, onnxruntime and
pillow (tests/python/requirements.txt; tests/python/setup.sh)."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(ROOT, "..", "shared")
MODEL = os.path.join(SHARED, "models", "posenet_mobilenet_v1.onnx")
META = os.path.join(ROOT, "meta", "posenet_mobilenet_v1.yaml")
IMAGES = [os.path.join(ROOT, "tests", "images", "astronaut.png"), os.path.join(SHARED, "images", "camera.png")]
SIZE, STRIDE, JOINTS, THRESHOLD = 385, 16, 17, 0.3
HEATMAPS, OFFSETS = "MobilenetV1/heatmap_2/BiasAdd:0", "MobilenetV1/offset_2/BiasAdd:0"
COORD_TOL, SCORE_TOL = 1e-2, 1e-4


def decode(heat, off):
    """numpy decoding, float32 throughout: per joint (x, y, score, visible, cell)."""
    out = []
    for j in range(JOINTS):
        h = heat[..., j]
        cy, cx = np.unravel_index(np.argmax(h), h.shape)  # first maximum, row-major
        dy, dx = off[cy, cx, j], off[cy, cx, JOINTS + j]  # all y, then all x
        x = np.float32(cx * STRIDE) + dx
        y = np.float32(cy * STRIDE) + dy
        score = np.float32(1) / (np.float32(1) + np.exp(-h[cy, cx]))
        out.append((float(x), float(y), float(score), bool(score >= THRESHOLD), (int(cy), int(cx))))
    return out


def main():
    if not os.path.exists(MODEL):
        print(f"SKIP: {MODEL} absent (../shared is not beside the checkout)")
        return 0
    lm = sys.argv[1:] or ["cargo", "run", "--quiet", "--bin", "lm", "--"]
    sess = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
    worst = {"coord": 0.0, "score": 0.0}
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for src in IMAGES:
            img = Image.open(src).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)
            p = os.path.join(tmp, os.path.basename(src))
            img.save(p)
            paths.append(p)
        out_dir = os.path.join(tmp, "out")
        cmd = lm + ["run", "-c", META, "-o", out_dir, "-i"] + paths
        subprocess.run(cmd, cwd=ROOT, check=True)
        with open(os.path.join(out_dir, "output.json")) as f:
            results = json.load(f)["results"]
        assert len(results) == len(paths), f"lm gave {len(results)} results for {len(paths)} images"
        for p, res in zip(paths, results):
            assert os.path.basename(res["file_path"]) == os.path.basename(p), res["file_path"]
            x = np.asarray(Image.open(p).convert("RGB")).astype(np.float32)
            x = x * np.float32(0.00784313725490196) + np.float32(-1.0)
            heat, off = sess.run([HEATMAPS, OFFSETS], {"image:0": x[None]})
            ref = decode(heat[0], off[0])
            kps = res["prediction"]["keypoints"]
            assert len(kps) == JOINTS
            name = os.path.basename(p)
            visible = 0
            for j, (k, (rx, ry, rs, rv, cell)) in enumerate(zip(kps, ref)):
                dc = max(abs(k["x"] - rx), abs(k["y"] - ry))
                ds = abs(k["score"] - rs)
                worst["coord"] = max(worst["coord"], dc)
                worst["score"] = max(worst["score"], ds)
                # Same cell: lm's position minus numpy's offsets lands on numpy's cell.
                lm_cell = (round((k["y"] - (ry - cell[0] * STRIDE)) / STRIDE), round((k["x"] - (rx - cell[1] * STRIDE)) / STRIDE))
                if lm_cell != cell or dc > COORD_TOL or ds > SCORE_TOL or k["visible"] != rv:
                    failures.append(f"{name} joint {j} ({k['name']}): lm {k} vs numpy x {rx} y {ry} score {rs} visible {rv} cell {cell}")
                visible += rv
            # Blueoil's int joints list: x, y truncated (scale 1 here), 0 when invisible.
            joints = res["prediction"]["joints"]
            want = [int(np.float32(r[0])) if r[3] else 0 for r in ref] + [int(np.float32(r[1])) if r[3] else 0 for r in ref] + [int(r[3]) for r in ref]
            if joints != want:
                failures.append(f"{name}: joints list {joints} vs numpy {want}")
            print(f"{name}: {visible}/{JOINTS} joints visible; cells: {[r[4] for r in ref]}")
    print(f"max |lm - numpy| over {len(paths)} images x {JOINTS} joints: coordinates {worst['coord']:.3g} px (tolerance {COORD_TOL}), score {worst['score']:.3g} (tolerance {SCORE_TOL})")
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        return 1
    print("OK: lm's HeatmapOffsetToJoints equals the numpy decoding of onnxruntime's outputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
