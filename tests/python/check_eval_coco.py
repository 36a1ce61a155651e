#!/usr/bin/env python3
"""Peer check of `lm eval`'s COCO keypoint AP/AR against pycocotools.

1. Synthetic: a COCO person_keypoints file with several persons per image
   (jittered joints, partly unlabelled, a crowd region over one person, a
   person with num_keypoints 0) on images drawn so that the colour_blocks
   fixture model (tests/fixtures/make_fixtures.py) answers at known places
   with varied scores. `lm eval` runs the model and writes its predictions
   (coco_results.json) and report.json; pycocotools' COCOeval scores the same
   predictions against the ORIGINAL ground-truth file: the two AP/AR sets
   must agree to 1e-9 (this checks the COCO reader, crowd/ignore handling,
   OKS, matching and accumulation).
2. Optional: for each report folder given on the command line (a real run,
   e.g. on ../shared/people/eval/gt_coco17.json), COCOeval on that folder's
   coco_gt.json and coco_results.json against its report.json.

Usage: check_eval_coco.py [--lm PATH_TO_LM] [REPORT_DIR ...]
"""
import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
COCO17 = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
          "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
          "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"]
KEYS = [("ap", 0), ("ap50", 1), ("ap75", 2), ("ar", 5), ("ar50", 6), ("ar75", 7)]


def cocoeval(gt_path, results_path):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_path)
        dt = gt.loadRes(results_path)
        e = COCOeval(gt, dt, "keypoints")
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e.stats


def compare(label, ours, stats):
    bad = []
    for key, i in KEYS:
        mark = "ok" if abs(ours[key] - stats[i]) <= 1e-9 else "MISMATCH"
        if mark != "ok":
            bad.append(key)
        print(f"  {label} {key:5s} lm {ours[key]:.6f}  pycocotools {stats[i]:.6f}  {mark}")
    return bad


def synthetic(tmp, rng):
    """Images, ground truth and the expected model answers (see module doc)."""
    images, annotations = [], []
    aid = 0
    for img_id in range(1, 6):
        canvas = np.zeros((256, 256, 3), np.uint8)
        for cell in range(4):
            cx, cy = 128 * (cell % 2), 128 * (cell // 2)
            bx, by = cx + 32, cy + 32  # box 64 × 64; crop 64 → network 32 (× 0.5)
            # Red square (even joints) and green square (odd joints) on the crop's 8 px grid.
            (r1, c1), (r2, c2) = rng.integers(0, 8, 2), rng.integers(0, 8, 2)
            while (r2, c2) == (r1, c1):
                r2, c2 = rng.integers(0, 8, 2)
            level = int(rng.integers(140, 256))
            canvas[by + 8 * r1: by + 8 * r1 + 8, bx + 8 * c1: bx + 8 * c1 + 8, 0] = level
            canvas[by + 8 * r2: by + 8 * r2 + 8, bx + 8 * c2: bx + 8 * c2 + 8, 1] = level
            jitter = rng.uniform(0, 8)
            kp = []
            for k in range(17):
                px, py = (bx + 8 * c1, by + 8 * r1) if k % 2 == 0 else (bx + 8 * c2, by + 8 * r2)
                v = int(rng.choice([0, 1, 2, 2, 2]))
                if v == 0:
                    kp += [0, 0, 0]
                else:
                    dx, dy = rng.normal(0, jitter, 2)
                    kp += [round(float(px + dx), 2), round(float(py + dy), 2), v]
            n = sum(1 for k in range(17) if kp[3 * k + 2] > 0)
            aid += 1
            annotations.append({
                "id": aid, "image_id": img_id, "category_id": 1, "keypoints": kp,
                "num_keypoints": n, "iscrowd": 0, "bbox": [bx, by, 64, 64],
                "area": float(rng.uniform(1500, 4096)),
            })
        if img_id == 2:
            # A crowd region over the first person: predictions near it are ignored.
            aid += 1
            annotations.append({"id": aid, "image_id": img_id, "category_id": 1,
                                "keypoints": [0] * 51, "num_keypoints": 0, "iscrowd": 1,
                                "bbox": [20, 20, 90, 90], "area": 5000.0})
        if img_id == 3:
            aid += 1
            annotations.append({"id": aid, "image_id": img_id, "category_id": 1,
                                "keypoints": [0] * 51, "num_keypoints": 0, "iscrowd": 0,
                                "bbox": [150, 20, 40, 40], "area": 1600.0})
        name = f"synthetic_{img_id}.png"
        Image.fromarray(canvas).save(os.path.join(tmp, name))
        images.append({"id": img_id, "file_name": name, "width": 256, "height": 256})
    gt = {"images": images, "annotations": annotations,
          "categories": [{"id": 1, "name": "person", "keypoints": COCO17, "skeleton": []}]}
    path = os.path.join(tmp, "gt.json")
    with open(path, "w") as f:
        json.dump(gt, f)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lm", help="lm binary (default: cargo run --bin lm)")
    ap.add_argument("reports", nargs="*")
    args = ap.parse_args()
    lm = [args.lm] if args.lm else ["cargo", "run", "--quiet", "--bin", "lm", "--"]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        gt = synthetic(tmp, np.random.default_rng(13))
        out = os.path.join(tmp, "report")
        cmd = lm + ["eval", "-c", os.path.join(FIXTURES, "colour_blocks.yaml"), "--gt", gt,
                    "--margin", "1", "-q", "-o", out]
        run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        if run.returncode != 0:
            print(run.stdout, run.stderr, sep="\n")
            sys.exit(f"lm eval failed ({run.returncode})")
        report = json.load(open(os.path.join(out, "report.json")))
        stats = cocoeval(gt, os.path.join(out, "coco_results.json"))
        print(f"synthetic: {report['instances_evaluated']} persons, "
              f"{len(report['skipped'])} ignored annotations")
        if not 0.05 < stats[0] < 0.95:
            failures.append("synthetic AP not informative")
        failures += compare("synthetic", report["summary"]["coco"], stats)
    for d in args.reports:
        report = json.load(open(os.path.join(d, "report.json")))
        stats = cocoeval(os.path.join(d, "coco_gt.json"), os.path.join(d, "coco_results.json"))
        print(f"{d}: {report['instances_evaluated']} persons")
        failures += compare(os.path.basename(d.rstrip("/")), report["summary"]["coco"], stats)
    if failures:
        sys.exit(f"lm eval vs pycocotools: {failures}")
    print("lm eval COCO AP/AR agree with pycocotools")


if __name__ == "__main__":
    main()
