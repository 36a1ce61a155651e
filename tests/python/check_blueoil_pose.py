#!/usr/bin/env python3
"""lm on a Blueoil-style LmSinglePoseV1Quantize GraphDef vs TensorFlow's own run
of it, on real photos (outside CI: it needs the ~1.5 GB TensorFlow venv).

  .venv/bin/python tests/python/check_blueoil_pose.py [LM_BINARY]

1. tests/python/blueoil_pose.py builds two `minimal_graph_with_shape.pb` from
   the shipped models/lm_single_pose_v1_quantize.onnx (tf.compat.v1, Blueoil's
   Defun quantisers; see that script): one with the v0.22+ activation quantiser
   (floor(x + 0.5), half up) and one with the <= v0.10 body (tf.round, half to
   even). TensorFlow (tests/python/tf_setup.sh's venv, set up if missing) runs
   each graph on the photos.
2. The photos: tests/images/*.png and ../shared/images/*.png (same file
   content once), each resized here to 160x160 (PIL bilinear) and saved as RGB
   PNG, and its mirror image, so lm's resize is a no-op and both sides see the
   same input (pixels / 255 in float32).
3. `lm run -m GRAPH.pb` on the float, cpu and fpga (software register model)
   backends, and `lm convert GRAPH.pb` + `lm run -m GRAPH.onnx` (cpu): every
   joint's position and visibility must equal TensorFlow's heatmaps decoded with
   the meta's confidence_threshold and subpixel, the score (peak / 10) within
   SCORE_TOL. Prints one line per graph and
   backend and exits non-zero on any difference.
"""
import glob
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image, ImageOps

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "tests", "python")
MODEL = os.path.join(ROOT, "models", "lm_single_pose_v1_quantize.onnx")
META = os.path.join(ROOT, "meta", "lm_single_pose_v1_quantize.yaml")
SIZE, STRIDE, JOINTS = 160, 8, 17
SCORE_TOL = 1e-4


def post_processor(meta_text):
    """(confidence_threshold, subpixel) of the shipped meta's GaussianHeatmapToJoints."""
    threshold = float(re.search(r"^\s+confidence_threshold:\s*([0-9.]+)\s*$", meta_text, re.M).group(1))
    subpixel = re.search(r"^\s+subpixel:\s*true\s*$", meta_text, re.M) is not None
    return threshold, subpixel


def quarter(before, after):
    return 0.25 if after > before else -0.25 if after < before else 0.0


def decode(heat, threshold, subpixel):
    """As lm's GaussianHeatmapToJoints: first maximum, x stride; `subpixel`: a quarter cell towards the larger
    neighbour on each axis (none at a border)."""
    out = []
    for j in range(JOINTS):
        h = heat[..., j]
        cy, cx = np.unravel_index(np.argmax(h), h.shape)
        peak = float(h[cy, cx])
        x, y = float(cx), float(cy)
        if subpixel and 0 < cx < h.shape[1] - 1:
            x += quarter(h[cy, cx - 1], h[cy, cx + 1])
        if subpixel and 0 < cy < h.shape[0] - 1:
            y += quarter(h[cy - 1, cx], h[cy + 1, cx])
        out.append((x * STRIDE, y * STRIDE, peak / 10.0, peak >= 10.0 * threshold))
    return out


def photos(tmp):
    sources = sorted(glob.glob(os.path.join(ROOT, "tests", "images", "*.png")))
    sources += sorted(glob.glob(os.path.join(ROOT, "..", "shared", "images", "*.png")))
    seen, paths, arrays = set(), [], {}
    for src in sources:
        digest = hashlib.sha256(open(src, "rb").read()).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        img = Image.open(src).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)
        stem = os.path.splitext(os.path.basename(src))[0]
        for name, im in ((stem, img), (stem + "_mirror", ImageOps.mirror(img))):
            p = os.path.join(tmp, name + ".png")
            im.save(p)
            paths.append(p)
            arrays[name] = np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / np.float32(255)
    np.savez(os.path.join(tmp, "inputs.npz"), **arrays)
    return paths


def lm_joints(lm, meta, model, paths, out_dir, backend):
    cmd = lm + ["run", "-c", meta, "-m", model, "-o", out_dir, "-i"] + paths + backend
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out_dir, "output.json")) as f:
        return json.load(f)["results"]


def main():
    lm = sys.argv[1:] or ["cargo", "run", "--quiet", "--bin", "lm", "--"]
    tf_python = subprocess.run(["bash", os.path.join(HERE, "tf_setup.sh")], check=True,
                               capture_output=True, text=True).stdout.strip().splitlines()[-1]
    script = os.path.join(HERE, "blueoil_pose.py")
    failures, rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "weights.npz")
        subprocess.run([sys.executable, script, "dump", MODEL, weights], check=True)
        paths = photos(tmp)
        meta = os.path.join(tmp, "meta.yaml")
        with open(META) as f:
            text = f.read()
        # one inference per picture: a flip_test set in the shipped meta is not what TF is compared with
        text = re.sub(r"^\s+flip_test:.*\n", "", text, flags=re.M)
        with open(meta, "w") as f:
            f.write(text.split("MODEL:")[0])
        for rounding, flag in (("half-up (v0.22+)", []), ("half-even (<= v0.10)", ["--old-rounding"])):
            tag = "old" if flag else "new"
            pb = os.path.join(tmp, f"graph_{tag}.pb")
            ref = os.path.join(tmp, f"tf_{tag}.npz")
            subprocess.run([tf_python, script, "make", weights, pb] + flag, check=True)
            subprocess.run([tf_python, script, "reference", pb, os.path.join(tmp, "inputs.npz"), ref], check=True)
            want = {k: decode(v, *post_processor(text)) for k, v in np.load(ref).items()}
            onnx = os.path.join(tmp, f"graph_{tag}.onnx")
            subprocess.run(lm + ["convert", pb, "-o", onnx], cwd=ROOT, check=True)
            runs = [("float", pb, ["--backend", "float"]), ("cpu", pb, ["--backend", "cpu"]),
                    ("fpga sim", pb, ["--backend", "fpga", "--fpga-device", "sim"]),
                    ("cpu, converted .onnx", onnx, ["--backend", "cpu"])]
            for label, model, backend in runs:
                results = lm_joints(lm, meta, model, paths, os.path.join(tmp, f"out_{tag}"), backend)
                assert len(results) == len(paths)
                differ, worst, visible = 0, 0.0, 0
                for p, res in zip(paths, results):
                    name = os.path.splitext(os.path.basename(p))[0]
                    assert os.path.basename(res["file_path"]) == os.path.basename(p), res["file_path"]
                    for k, (x, y, score, vis) in zip(res["prediction"]["keypoints"], want[name]):
                        worst = max(worst, abs(k["score"] - score))
                        visible += vis
                        if (k["x"], k["y"], k["visible"]) != (x, y, vis) or abs(k["score"] - score) > SCORE_TOL:
                            differ += 1
                            print(f"  {label} {name}: lm {k} vs TF {(x, y, score, vis)}")
                rows.append((rounding, label, len(paths), len(paths) * JOINTS, visible, differ, worst))
                if differ:
                    failures.append(f"{rounding} {label}")
    print("\n| graph rounding | lm | images | joints | visible (TF) | joints that differ | max abs score diff |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]} | {r[6]:.2g} |")
    print("all joints equal" if not failures else f"differences: {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
