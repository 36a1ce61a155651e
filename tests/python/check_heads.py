#!/usr/bin/env python3
"""Peer check of lm's other keypoint heads on seed-style models the project builds.

training/seed_heads.py builds each network in PyTorch (random weights, BatchNorm calibrated on noise)
and exports it to ONNX in a temporary folder; this script writes a meta.yaml for it, runs
`lm run` on images of exactly the network's size (so lm resizes nothing and both sides see the same
pixels), runs onnxruntime on the same pixels, decodes its outputs with numpy (float32, the
post-processor's documented arithmetic) and requires the same result:

  regression   keras-io MobileNetV2, 224x224, 24 StanfordExtra joints, CoordinateRegressionToJoints
  grid a, b    1920x320 grid detector, 32 px cells, 3 classes, GridOffsetToPoints (a: NHWC,
               [dx, dy, logits], sigmoid; b: NCHW, [logits, background, dx, dy], softmax, offsets
               in pixels from the cell centre): the same points per class in the same order
  hourglass    2-stack hourglass, 256x256, MPII-16, GaussianHeatmapToJoints with `stack: -1`, as
               one 5-D output and as one output per stack; also that stack 0 would decode
               differently (so the last stack is really the one decoded) and that a `stack` beyond
               the model's stacks is refused at meta.yaml:line:column.

Thresholds (and the NMS radius) are put in gaps of onnxruntime's scores (distances), so that the
last-bit differences between tract's and onnxruntime's convolutions (different summation orders)
cannot flip a decision; positions must agree to COORD_TOL px, scores to SCORE_TOL, cells exactly.

Usage: training/.venv/bin/python tests/python/check_heads.py [LM_BINARY...]
(default: `cargo run --quiet --bin lm --`). Needs torch, onnxruntime, numpy, opencv (training venv).
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

import cv2
import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "training"))
import seed_heads  # noqa: E402
import torch  # noqa: E402

# One thread each: on a shared machine, PyTorch's and onnxruntime's spinning thread pools made the
# BatchNorm calibration 20x slower (45 s instead of 2 s for the hourglass).
torch.set_num_threads(1)

COORD_TOL, SCORE_TOL = 2e-3, 2e-5
STANFORD_EXTRA = ["left_front_paw", "left_front_wrist", "left_front_elbow", "left_rear_paw", "left_rear_wrist",
                  "left_rear_elbow", "right_front_paw", "right_front_wrist", "right_front_elbow", "right_rear_paw",
                  "right_rear_wrist", "right_rear_elbow", "tail_start", "tail_end", "left_ear_base",
                  "right_ear_base", "nose", "chin", "left_ear_tip", "right_ear_tip", "left_eye", "right_eye",
                  "withers", "throat"]
MPII = ["right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis", "thorax",
        "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
        "left_wrist"]
GRID_CLASSES = ["red", "green", "blue"]
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
    return ok


def images(tmp, tag, h, w):
    """The astronaut and a seeded noise picture, at exactly h x w, as PNG; returns (path, RGB uint8)."""
    astro = cv2.cvtColor(cv2.imread(os.path.join(ROOT, "tests", "images", "astronaut.png")), cv2.COLOR_BGR2RGB)
    rng = np.random.default_rng(7)
    out = []
    for name, rgb in [("astronaut", cv2.resize(astro, (w, h), interpolation=cv2.INTER_AREA)),
                      ("noise", rng.integers(0, 256, (h, w, 3), dtype=np.uint8))]:
        p = os.path.join(tmp, f"{tag}_{name}.png")
        cv2.imwrite(p, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        out.append((p, rgb))
    return out


def discs(tmp, h, w):
    """A 1920x320 strip with coloured discs (one colour per grid class) on grey noise."""
    rng = np.random.default_rng(3)
    img = rng.integers(60, 120, (h, w, 3), dtype=np.uint8)
    for i in range(18):
        c = [0, 0, 0]
        c[i % 3] = 255
        cv2.circle(img, (int(rng.integers(20, w - 20)), int(rng.integers(20, h - 20))), 12, c, -1)
    p = os.path.join(tmp, "grid_discs.png")
    cv2.imwrite(p, cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return [(p, img)]


def lm_run(lm, meta, paths, out_dir, expect_ok=True):
    r = subprocess.run(lm + ["run", "-c", meta, "-o", out_dir, "-i"] + paths, cwd=ROOT,
                       capture_output=True, text=True)
    if not expect_ok:
        return r
    if r.returncode != 0:
        raise SystemExit(f"lm run -c {meta} failed ({r.returncode}):\n{r.stderr}")
    with open(os.path.join(out_dir, "output.json")) as f:
        results = json.load(f)["results"]
    assert [os.path.basename(x["file_path"]) for x in results] == [os.path.basename(p) for p in paths]
    return [x["prediction"] for x in results]


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def meta_text(size, post, names, model, pre="", data_format="NHWC", extra=""):
    return (f"CLASSES:\n- object\nDATA_FORMAT: {data_format}\nIMAGE_SIZE:\n- {size[0]}\n- {size[1]}\n"
            f"POST_PROCESSOR:\n{post}PRE_PROCESSOR:{(chr(10) + pre) if pre else ' []'}\nTASK: IMAGE.KEYPOINT_DETECTION\n"
            f"MODEL:\n  file: {os.path.basename(model)}\n{extra}KEYPOINTS:\n  names: [{', '.join(names)}]\n")


def gap_threshold(values, lo_q, hi_q):
    """Midpoint of the widest gap between sorted values within the [lo_q, hi_q] quantiles."""
    v = np.sort(np.asarray(values, dtype=np.float64).ravel())
    lo, hi = int(lo_q * (len(v) - 1)), max(int(hi_q * (len(v) - 1)), int(lo_q * (len(v) - 1)) + 1)
    i = lo + int(np.argmax(np.diff(v[lo:hi + 1])))
    return float((v[i] + v[i + 1]) / 2), float(v[i + 1] - v[i])


def build(kind, path, **kw):
    args = SimpleNamespace(seed=0, joints=None, classes=3, variant="a", width=1920, height=320, stacks=2,
                           features=64, outputs="stacked")
    for k, v in kw.items():
        setattr(args, k, v)
    if args.joints is None:
        args.joints = 24 if kind == "regression" else 16
    model, shape, inputs, outputs = seed_heads.build(kind, args)
    seed_heads.export(model, shape, path, inputs, outputs)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def close(a, b, tol):
    return abs(float(a) - float(b)) <= tol


def trunc_ok(got, want_f):
    """Blueoil's int joint vs numpy's float: equal after truncation, or the float within COORD_TOL of
    an integer (where last-bit differences may truncate either way)."""
    return got == int(np.float32(want_f)) or abs(want_f - round(want_f)) <= COORD_TOL


def check_regression(lm, tmp):
    model = os.path.join(tmp, "regression.onnx")
    sess = build("regression", model)
    post = "- CoordinateRegressionToJoints:\n    components: [x, y]\n    normalized: true\n"
    meta = write(os.path.join(tmp, "regression.yaml"), meta_text((224, 224), post, STANFORD_EXTRA, model))
    imgs = images(tmp, "regression", 224, 224)
    preds = lm_run(lm, meta, [p for p, _ in imgs], os.path.join(tmp, "out_regression"))
    worst = 0.0
    for (p, rgb), pred in zip(imgs, preds):
        (v,) = sess.run(None, {"image": rgb[None].astype(np.float32)})
        v = v.reshape(-1)
        xs, ys = v[0::2] * np.float32(224), v[1::2] * np.float32(224)  # x0, y0, x1, y1, ...
        kps = pred["keypoints"]
        check(len(kps) == 24 and pred.get("points") is None, f"regression: {len(kps)} keypoints, points key")
        for j, k in enumerate(kps):
            d = max(abs(k["x"] - xs[j]), abs(k["y"] - ys[j]))
            worst = max(worst, d)
            check(d <= COORD_TOL and k["visible"] and k["score"] == 1.0 and k["name"] == STANFORD_EXTRA[j],
                  f"regression {os.path.basename(p)} joint {j}: lm {k} vs numpy ({xs[j]}, {ys[j]})")
            check(trunc_ok(pred["joints"][j], xs[j]) and trunc_ok(pred["joints"][24 + j], ys[j])
                  and pred["joints"][48 + j] == 1, f"regression joints list {j}: {pred['joints']}")
    spread = float(np.ptp(xs))
    print(f"regression (keras-io MobileNetV2, 224x224, 24 joints): max |lm - numpy| {worst:.3g} px over "
          f"{len(imgs)} images; joint x spread {spread:.1f} px")
    check(spread > 1.0, "regression: joints do not differ (degenerate model)")


def decode_grid(out, variant, threshold, radius, stride=32, k=3):
    """numpy: per class, cells with score >= threshold by descending score (stable), distance NMS."""
    if variant == "a":  # NHWC [dx, dy, logits], sigmoid, offsets in cells from the corner
        g = out[0]
        dx, dy, logits = g[..., 0], g[..., 1], g[..., 2:2 + k]
        scores = np.float32(1) / (np.float32(1) + np.exp(-logits))
        h, w = dx.shape
        cx, cy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        px, py = (cx + dx) * np.float32(stride), (cy + dy) * np.float32(stride)
    else:  # NCHW [logits, background, dx, dy], softmax over k + 1, offsets in pixels from the centre
        g = out[0]
        logits = np.moveaxis(g[:k + 1], 0, -1)
        e = np.exp(logits - logits.max(-1, keepdims=True))
        s = np.zeros(e.shape[:-1], dtype=np.float32)
        for c in range(k + 1):  # lm sums in channel order
            s = s + e[..., c]
        scores = (e / s[..., None])[..., :k]
        dx, dy = g[k + 1], g[k + 2]
        h, w = dx.shape
        cx, cy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        half = np.float32(0.5)
        px, py = (cx + half) * np.float32(stride) + dx, (cy + half) * np.float32(stride) + dy
    points = []
    for c in range(k):
        sc = scores[..., c].ravel()
        cand = [i for i in np.argsort(-sc, kind="stable") if sc[i] >= threshold]
        kept = []
        for i in cand:
            x, y = float(px.ravel()[i]), float(py.ravel()[i])
            if all((x - a) ** 2 + (y - b) ** 2 >= radius ** 2 for a, b, _ in kept):
                kept.append((x, y, float(sc[i])))
        points += [(c, x, y, s_) for x, y, s_ in kept]
    return scores, px, py, points


def check_grid(lm, tmp, variant):
    model = os.path.join(tmp, f"grid_{variant}.onnx")
    sess = build("grid", model, variant=variant)
    imgs = discs(tmp, 320, 1920) + images(tmp, f"grid_{variant}", 320, 1920)[:1]
    outs = [sess.run(None, {"image": (rgb[None].astype(np.float32) / np.float32(255))})[0] for _, rgb in imgs]
    all_scores = np.concatenate([decode_grid(o, variant, 2.0, 0.0)[0].ravel() for o in outs])
    threshold, gap = gap_threshold(all_scores, 0.90, 0.97)
    # An NMS radius no candidate pair distance is near (per class, all images).
    pairs = []
    for o in outs:
        _, px, py, pts = decode_grid(o, variant, threshold, 0.0)
        for i, (c, x, y, _) in enumerate(pts):
            pairs += [np.hypot(x - x2, y - y2) for c2, x2, y2, _ in pts[i + 1:] if c2 == c]
    radius = next(float(r) for r in np.arange(48.25, 96.0, 0.5) if all(abs(d - r) > 0.05 for d in pairs))
    if variant == "a":
        post = (f"- GridOffsetToPoints:\n    confidence_threshold: {threshold!r}\n    stride: 32\n"
                f"    nms_distance: {radius!r}\n    score_activation: sigmoid\n")
        df = "NHWC"
    else:
        post = (f"- GridOffsetToPoints:\n    confidence_threshold: {threshold!r}\n    stride: 32\n"
                f"    nms_distance: {radius!r}\n    channels: offsets_last\n    offset_unit: pixel\n"
                f"    offset_origin: center\n    score_activation: softmax\n    background: true\n"
                f"    data_format: NCHW\n")
        df = "NHWC"  # the input stays NHWC; data_format above is the grid's
    meta = write(os.path.join(tmp, f"grid_{variant}.yaml"),
                 meta_text((320, 1920), post, GRID_CLASSES, model, pre="- DivideBy255: null", data_format=df))
    preds = lm_run(lm, meta, [p for p, _ in imgs], os.path.join(tmp, f"out_grid_{variant}"))
    worst, counts = 0.0, []
    for (p, _), o, pred in zip(imgs, outs, preds):
        scores, px, py, ref = decode_grid(o, variant, threshold, radius)
        got = pred.get("points")
        name = f"grid {variant} {os.path.basename(p)}"
        if not check(got is not None and len(got) == len(ref),
                     f"{name}: lm {len(got or [])} points vs numpy {len(ref)}"):
            continue
        counts.append(len(ref))
        for q, (c, x, y, s) in zip(got, ref):
            d = max(abs(q["x"] - x), abs(q["y"] - y))
            worst = max(worst, d)
            check(q["class"] == c and q["name"] == GRID_CLASSES[c] and d <= COORD_TOL
                  and close(q["score"], s, SCORE_TOL), f"{name}: lm {q} vs numpy {(c, x, y, s)}")
        # Joints: the best point per class, visible; else the best cell, invisible.
        for c, k in enumerate(pred["keypoints"]):
            mine = [r for r in ref if r[0] == c]
            if mine:
                check(k["visible"] and close(k["x"], mine[0][1], COORD_TOL) and close(k["score"], mine[0][3], SCORE_TOL),
                      f"{name}: keypoint {c} {k} vs best point {mine[0]}")
            else:
                check(not k["visible"] and close(k["score"], scores[..., c].max(), SCORE_TOL),
                      f"{name}: keypoint {c} {k} should be invisible at the best cell")
    print(f"grid {variant} (1920x320, 32 px cells, 3 classes): points per image {counts} at threshold "
          f"{threshold:.4g} (gap {gap:.2g}), NMS {radius} px; max |lm - numpy| {worst:.3g} px")
    check(sum(counts) > 0, f"grid {variant}: no points at all (degenerate check)")


def decode_heatmaps(heat, threshold_scale, threshold):
    """Blueoil's GaussianHeatmapToJoints on one stack's [J, H, W] heatmaps (NCHW), stride 4."""
    out = []
    for j in range(heat.shape[0]):
        cy, cx = np.unravel_index(np.argmax(heat[j]), heat[j].shape)
        peak = float(heat[j, cy, cx])
        out.append((int(cx) * 4, int(cy) * 4, peak / threshold_scale, peak >= threshold_scale * threshold, heat[j]))
    return out


def check_hourglass(lm, tmp, outputs):
    tag = f"hourglass_{outputs}"
    model = os.path.join(tmp, f"{tag}.onnx")
    sess = build("hourglass", model, outputs=outputs)
    imgs = images(tmp, tag, 256, 256)
    stacks = []
    for _, rgb in imgs:
        x = (rgb.astype(np.float32) / np.float32(255)).transpose(2, 0, 1)[None]
        res = sess.run(None, {"image": x})
        stacks.append([res[0][0, s] for s in range(res[0].shape[1])] if outputs == "stacked" else [r[0] for r in res])
    peaks = np.array([[h.max() for h in st[-1]] for st in stacks])
    scale = float(np.round(2 * np.abs(peaks).max() + 1, 3))
    threshold, _ = gap_threshold(peaks / scale, 0.3, 0.7)
    threshold = min(max(threshold, 0.0), 1.0)
    post = (f"- GaussianHeatmapToJoints:\n    confidence_threshold: {threshold!r}\n    num_dimensions: 2\n"
            f"    stride: 4\n    threshold_scale: {scale!r}\n    data_format: NCHW\n    stack: -1\n")
    text = meta_text((256, 256), post, MPII, model, pre="- DivideBy255: null", data_format="NCHW")
    meta = write(os.path.join(tmp, f"{tag}.yaml"), text)
    preds = lm_run(lm, meta, [p for p, _ in imgs], os.path.join(tmp, f"out_{tag}"))
    differs = 0
    for (p, _), st, pred in zip(imgs, stacks, preds):
        ref, first = decode_heatmaps(st[-1], scale, threshold), decode_heatmaps(st[0], scale, threshold)
        for j, (k, (x, y, s, v, heat), f) in enumerate(zip(pred["keypoints"], ref, first)):
            # A cell whose value is within 1e-4 of the maximum is a tie lm may break differently.
            lm_cell = heat[int(round(k["y"])) // 4, int(round(k["x"])) // 4]
            same = (k["x"], k["y"]) == (x, y) or abs(lm_cell - heat.max()) <= 1e-4
            check(same and close(k["score"], s, SCORE_TOL) and k["visible"] == v,
                  f"{tag} {os.path.basename(p)} joint {j}: lm {k} vs numpy {(x, y, s, v)}")
            differs += (f[0], f[1]) != (x, y)
    print(f"{tag} (2 stacks, 64 features, 256x256, MPII-16): {len(imgs)} images x 16 joints equal to the numpy "
          f"decoding of the last stack; stack 0 would move {differs} of them")
    check(differs > 0, f"{tag}: stack 0 and the last stack decode identically (the check could not tell)")
    if outputs == "per-stack":
        # `stack` beyond the model's 2 outputs: refused at the field.
        bad = write(os.path.join(tmp, f"{tag}_bad.yaml"), text.replace("stack: -1", "stack: 2"))
        r = lm_run(lm, bad, [imgs[0][0]], os.path.join(tmp, "out_bad"), expect_ok=False)
        line = text.splitlines().index("    stack: -1") + 1
        check(r.returncode != 0 and f"{tag}_bad.yaml:{line}:5: POST_PROCESSOR.GaussianHeatmapToJoints.stack" in r.stderr
              and "2 outputs" in r.stderr, f"{tag}: stack 2 of 2 outputs: rc {r.returncode}, {r.stderr.strip()}")


def main():
    lm = sys.argv[1:] or ["cargo", "run", "--quiet", "--bin", "lm", "--"]
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in [("regression", lambda: check_regression(lm, tmp)),
                         ("grid a", lambda: check_grid(lm, tmp, "a")),
                         ("grid b", lambda: check_grid(lm, tmp, "b")),
                         ("hourglass stacked", lambda: check_hourglass(lm, tmp, "stacked")),
                         ("hourglass per-stack", lambda: check_hourglass(lm, tmp, "per-stack"))]:
            t = time.time()
            fn()
            print(f"  ({name}: {time.time() - t:.1f} s)")
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures[:40]))
        return 1
    print("OK: lm's CoordinateRegressionToJoints, GridOffsetToPoints and GaussianHeatmapToJoints(stack) equal "
          "the numpy decoding of onnxruntime's outputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
