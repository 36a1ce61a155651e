#!/usr/bin/env python3
"""Distil a pose data set from the MoveNet teacher (run once; cached under $LM_TRAIN_CACHE/dataset).

Sources (never committed): vtest.avi and the photos of Debian's opencv-doc (training/fetch_data.sh),
plus ../shared/images/*.png as held-out photos.
 - video: people are found by background subtraction (static camera: median background, moving blobs);
   photos: by local maxima of the teacher's centre heatmap.
 - each candidate: teacher on a square crop around it, re-centred twice on the teacher's joints;
   kept if the teacher is confident (mean score >= --min-mean, >= --min-joints joints above 0.3).
 - a sample = 240x240 RGB crop of the square of side 1.5 L around the person (L = 1.25 x joints' bbox)
   + 17 teacher joints (x, y, score) in crop pixels. The student's default view is the central L x L
   square (160 x 160 pixels of the crop).
Split: video frames [0, TRAIN_END) + opencv-doc photos -> train; frames [HOLD_START, end) and
../shared/images -> held out (never trained on).
"""
import argparse
import glob
import os
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lm_train.teacher import Teacher, square_crop  # noqa: E402

CROP = 240          # stored crop size (pixels)
CONTEXT = 1.5       # stored crop side / L
TRAIN_END = 600     # video frames [0, 600) train
HOLD_START = 650    # video frames [650, 795) held out
CONF = 0.3


def refine(teacher, img, cx, cy, side, iters=2):
    j = None
    for _ in range(iters + 1):
        j, _, _ = teacher.run_crop(img, cx, cy, side)
        ok = j[:, 2] >= CONF
        if ok.sum() < 4:
            return j, cx, cy, side
        x0, y0 = j[ok, 0].min(), j[ok, 1].min()
        x1, y1 = j[ok, 0].max(), j[ok, 1].max()
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        side = max(1.25 * max(x1 - x0, y1 - y0), 48.0)
    return j, cx, cy, side


def make_sample(img, j, cx, cy, side):
    big = side * CONTEXT
    crop = square_crop(img, cx, cy, big, CROP)
    s = CROP / big
    jj = j.copy()
    jj[:, 0] = (j[:, 0] - (cx - big / 2)) * s
    jj[:, 1] = (j[:, 1] - (cy - big / 2)) * s
    return crop, jj


def video_candidates(frames_grey, bg, idx):
    d = cv2.absdiff(frames_grey[idx], bg)
    _, m = cv2.threshold(d, 30, 255, cv2.THRESH_BINARY)
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    m = cv2.dilate(m, np.ones((9, 5), np.uint8), iterations=2)
    n, _, stats, _ = cv2.connectedComponentsWithStats(m)
    out = []
    for i in range(1, n):
        x, y, w, h, a = stats[i]
        if h < 30 or a < 300:
            continue
        out.append((x + w / 2, y + h / 2, 1.4 * max(w, h)))
    return out


def photo_candidates(teacher, img):
    h, w = img.shape[:2]
    side = max(h, w)
    cx, cy = w / 2, h / 2
    _, _, ctr = teacher.run_crop(img, cx, cy, side)
    out = []
    mx = cv2.dilate(ctr, np.ones((5, 5), np.float32))
    ys, xs = np.nonzero((ctr >= mx) & (ctr > 0.2))
    for y, x in zip(ys, xs):
        px = cx - side / 2 + (x + 0.5) * side / 48
        py = cy - side / 2 + (y + 0.5) * side / 48
        out.append((px, py, side / 2))
    out.append((cx, cy, side))  # the whole photo as one candidate too
    return out


def dedupe(samples):
    samples = sorted(samples, key=lambda s: -s["mean_score"])
    kept = []
    for s in samples:
        if all(np.hypot(s["cx"] - k["cx"], s["cy"] - k["cy"]) > 0.3 * min(s["side"], k["side"]) or
               s["frame"] != k["frame"] for k in kept):
            kept.append(s)
    return kept


def process(teacher, img, cands, frame_id, src, a):
    res = []
    for cx, cy, side in cands:
        j, cx2, cy2, side2 = refine(teacher, img, cx, cy, side)
        ok = j[:, 2] >= CONF
        mean = float(j[:, 2].mean())
        if mean < a.min_mean or ok.sum() < a.min_joints:
            continue
        res.append(dict(j=j, cx=cx2, cy=cy2, side=side2, mean_score=mean, frame=frame_id, src=src))
    return dedupe(res)


def save(path, samples, img_of):
    crops, joints, meta = [], [], []
    for s in samples:
        c, jj = make_sample(img_of(s), s["j"], s["cx"], s["cy"], s["side"])
        crops.append(c)
        joints.append(jj)
        meta.append((s["src"], s["frame"], s["cx"], s["cy"], s["side"], s["mean_score"]))
    np.savez(path, images=np.stack(crops).astype(np.uint8), joints=np.stack(joints).astype(np.float32),
             src=np.array([m[0] for m in meta]), frame=np.array([m[1] for m in meta]),
             box=np.array([m[2:5] for m in meta], np.float32), mean_score=np.array([m[5] for m in meta], np.float32))
    print(f"{path}: {len(samples)} samples", flush=True)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=os.environ.get("LM_TRAIN_CACHE", os.path.expanduser("~/.cache/lm-training")))
    ap.add_argument("--teacher", default=os.path.join(here, "..", "..", "shared", "models", "movenet_lightning_heatmaps.onnx"))
    ap.add_argument("--shared-images", default=os.path.join(here, "..", "..", "shared", "images"))
    ap.add_argument("--min-mean", type=float, default=0.35)
    ap.add_argument("--min-joints", type=int, default=9)
    ap.add_argument("--frame-step", type=int, default=1)
    a = ap.parse_args()
    data_dir = os.path.join(a.cache, "opencv-doc", "usr/share/doc/opencv-doc/examples/data")
    if not os.path.exists(os.path.join(data_dir, "vtest.avi")):
        raise SystemExit("run training/fetch_data.sh first")
    out = os.path.join(a.cache, "dataset")
    os.makedirs(out, exist_ok=True)
    teacher = Teacher(a.teacher)
    t0 = time.time()

    cap = cv2.VideoCapture(os.path.join(data_dir, "vtest.avi"))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    bg = np.median(np.stack(grey[::5]), axis=0).astype(np.uint8)
    print(f"video: {len(frames)} frames", flush=True)

    train, hold = [], []
    for i in range(0, len(frames)):
        if TRAIN_END <= i < HOLD_START:
            continue
        if i < TRAIN_END and i % a.frame_step:
            continue
        s = process(teacher, frames[i], video_candidates(grey, bg, i), i, "vtest", a)
        (train if i < TRAIN_END else hold).extend(s)
        if i % 50 == 0:
            print(f"frame {i}: train {len(train)} held-out {len(hold)} ({time.time() - t0:.0f} s)", flush=True)

    photos = {}
    for p in sorted(glob.glob(os.path.join(data_dir, "*.jpg")) + glob.glob(os.path.join(data_dir, "*.png"))):
        img = cv2.imread(p, cv2.IMREAD_COLOR)
        if img is None or min(img.shape[:2]) < 96:
            continue
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        name = os.path.basename(p)
        photos[name] = img
        s = process(teacher, img, photo_candidates(teacher, img), -1, name, a)
        train.extend(s)
    print(f"photos: train {len(train)} ({time.time() - t0:.0f} s)", flush=True)

    def img_of(s):
        return frames[s["frame"]] if s["src"] == "vtest" else photos[s["src"]]

    save(os.path.join(out, "train.npz"), train, img_of)
    save(os.path.join(out, "heldout_video.npz"), hold, img_of)

    # held-out photos: the whole image is the view (letterboxed square), teacher joints on it
    hp = []
    for p in sorted(glob.glob(os.path.join(a.shared_images, "*.png"))):
        img = cv2.cvtColor(cv2.imread(p, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        h, w = img.shape[:2]
        side = float(max(h, w))
        j, _, _ = teacher.run_crop(img, w / 2, h / 2, side)
        photos[os.path.basename(p)] = img
        hp.append(dict(j=j, cx=w / 2, cy=h / 2, side=side, mean_score=float(j[:, 2].mean()), frame=-1,
                       src=os.path.basename(p)))
    save(os.path.join(out, "heldout_photos.npz"), hp, img_of)
    print(f"done in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
