#!/usr/bin/env python3
"""Distil a pose data set from the MoveNet teacher (run once; cached under $LM_TRAIN_CACHE/dataset).

Sources (never committed; training/fetch_data.sh): vtest.avi and the photos of Debian's opencv-doc
(messi5.jpg excluded: unclear licence), the Pose2Sim 0.10.49 and Sports2D 0.8.34 demo videos and
Pose2Sim's intrinsic-calibration photos (BSD-3-Clause), plus ../shared/images/*.png as held-out photos.
 - video: people are found by background subtraction (static camera: median background, moving blobs);
   photos: by local maxima of the teacher's centre heatmap.
 - each candidate: teacher on a square crop around it, re-centred twice on the teacher's joints;
   kept if the teacher is confident (mean score >= --min-mean, >= --min-joints joints above 0.3).
 - a sample = 240x240 RGB crop of the square of side 1.5 L around the person (L = 1.25 x joints' bbox)
   + 17 teacher joints (x, y, score) in crop pixels. The student's default view is the central L x L
   square (160 x 160 pixels of the crop).
Extra sources (Pose2Sim / Sports2D, all train): every --extra-step-th video frame and each calibration
photo; people found by the teacher's centre heatmap, as for photos. Besides the full-body sample, each
person also gives an upper-body sample (head to hips: square around the teacher's upper-body joints,
teacher re-run and re-centred on that view; kept if >= --upper-min-joints of the 13 upper-body joints
score >= 0.3 and their mean score >= --min-mean), like a portrait photo.
Outputs (in $LM_TRAIN_CACHE/dataset): train.npz (vtest frames + opencv-doc photos), train_extra.npz
(Pose2Sim / Sports2D), heldout_video.npz, heldout_photos.npz. --stages picks what to (re)build; the
opencv-doc stage takes ~6 min, the extra stage alone can be rebuilt without it.
Split: video frames [0, TRAIN_END) + opencv-doc photos + the extra sources -> train; vtest frames
[HOLD_START, end) and ../shared/images -> held out (never trained on).
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
EXCLUDE_PHOTOS = {"messi5.jpg"}   # unclear licence
UPPER = list(range(13))            # nose .. hips: the upper-body joints
# (source name, path in the cache) of the extra videos and photo folders
EXTRA_VIDEOS = [(f"pose2sim/{d}/cam{c:02d}", f"pose2sim/Pose2Sim/Demo_{d}/videos/cam{c:02d}.mp4")
                for d in ("SinglePerson", "MultiPerson") for c in range(1, 5)] + \
               [("sports2d/demo", "sports2d/Sports2D/Demo/demo.mp4")]
# (the extrinsics PNGs are not used: they have skeletons drawn over the people)
EXTRA_PHOTOS = ["pose2sim/Pose2Sim/Demo_SinglePerson/calibration/intrinsics/*/*.jpg"]


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


def upper_body(teacher, img, j, a):
    """Upper-body (head to hips) view of a person whose full-body teacher joints are j: a square of
    1.25 x the upper-body joints' bbox, teacher re-run and re-centred once on that view. Returns
    (joints, cx, cy, side, mean upper-body score) or None if the gate fails."""
    for _ in range(2):
        ok = j[UPPER, 2] >= CONF
        if ok.sum() < a.upper_min_joints:
            return None
        u = j[UPPER][ok]
        x0, y0, x1, y1 = u[:, 0].min(), u[:, 1].min(), u[:, 0].max(), u[:, 1].max()
        if j[0, 2] >= CONF and min(j[5, 2], j[6, 2]) >= CONF:  # room for the top of the head
            y0 = min(y0, j[0, 1] - 0.6 * ((j[5, 1] + j[6, 1]) / 2 - j[0, 1]))
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        side = max(1.25 * max(x1 - x0, y1 - y0), 48.0)
        j, _, _ = teacher.run_crop(img, cx, cy, side)
    ok = j[UPPER, 2] >= CONF
    mean = float(j[UPPER, 2].mean())
    if ok.sum() < a.upper_min_joints or mean < a.min_mean:
        return None
    return j, cx, cy, side, mean


def close_up(teacher, img, j, a):
    """Head-and-chest view (like a portrait cut at the chest): square centred on the shoulders' midpoint,
    side max(1.2 x shoulder width, 3.5 x nose-to-shoulders height); teacher re-run on it, not re-centred.
    Kept if nose and both shoulders score >= 0.3, >= --close-min-joints of nose..wrists (11) do and their
    mean score >= --min-mean."""
    if min(j[0, 2], j[5, 2], j[6, 2]) < CONF:
        return None
    sx, sy = (j[5, 0] + j[6, 0]) / 2, (j[5, 1] + j[6, 1]) / 2
    side = max(1.2 * abs(j[5, 0] - j[6, 0]), 3.5 * (sy - j[0, 1]), 48.0)
    j, _, _ = teacher.run_crop(img, sx, sy, side)
    head = list(range(11))
    mean = float(j[head, 2].mean())
    if (min(j[0, 2], j[5, 2], j[6, 2]) < CONF or (j[head, 2] >= CONF).sum() < a.close_min_joints
            or mean < a.min_mean):
        return None
    return j, sx, sy, side, mean


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


def save(path, samples, img_of=None):
    """samples: dicts with the teacher joints and box, and either "crop"/"jj" (already cut) or an image
    given by img_of(sample)."""
    crops, joints, meta = [], [], []
    for s in samples:
        if "crop" in s:
            c, jj = s["crop"], s["jj"]
        else:
            c, jj = make_sample(img_of(s), s["j"], s["cx"], s["cy"], s["side"])
        crops.append(c)
        joints.append(jj)
        meta.append((s["src"], s["frame"], s["cx"], s["cy"], s["side"], s["mean_score"], s.get("kind", "full")))
    np.savez(path, images=np.stack(crops).astype(np.uint8), joints=np.stack(joints).astype(np.float32),
             src=np.array([m[0] for m in meta]), frame=np.array([m[1] for m in meta]),
             box=np.array([m[2:5] for m in meta], np.float32), mean_score=np.array([m[5] for m in meta], np.float32),
             kind=np.array([m[6] for m in meta]))
    print(f"{path}: {len(samples)} samples", flush=True)


def extra_samples(teacher, img, frame_id, src, a):
    if a.close_up_only:
        return close_up_samples(teacher, img, frame_id, src, a)
    """Full-body and upper-body samples (already cut) of every person the teacher finds in img."""
    full = process(teacher, img, photo_candidates(teacher, img), frame_id, src, a)
    for s in full:
        s["kind"] = "full"
    upper = []
    for s in full:
        u = upper_body(teacher, img, s["j"], a)
        if u is not None:
            j, cx, cy, side, mean = u
            upper.append(dict(j=j, cx=cx, cy=cy, side=side, mean_score=mean, frame=frame_id, src=src, kind="upper"))
    out = full + dedupe(upper)
    for s in out:
        s["crop"], s["jj"] = make_sample(img, s["j"], s["cx"], s["cy"], s["side"])
    return out


def close_up_samples(teacher, img, frame_id, src, a):
    """Head-and-chest samples (already cut) of every person the teacher finds in img."""
    full = process(teacher, img, photo_candidates(teacher, img), frame_id, src, a)
    out = []
    for s in full:
        c = close_up(teacher, img, s["j"], a)
        if c is not None:
            j, cx, cy, side, mean = c
            out.append(dict(j=j, cx=cx, cy=cy, side=side, mean_score=mean, frame=frame_id, src=src, kind="close"))
    out = dedupe(out)
    for s in out:
        s["crop"], s["jj"] = make_sample(img, s["j"], s["cx"], s["cy"], s["side"])
    return out


def prepare_extra(teacher, a, out, t0, fname="train_extra.npz"):
    samples = []
    for src, rel in EXTRA_VIDEOS:
        path = os.path.join(a.cache, rel)
        if not os.path.exists(path):
            raise SystemExit(f"{path} missing: run training/fetch_data.sh first")
        cap = cv2.VideoCapture(path)
        i, n0 = 0, len(samples)
        while True:
            ok, f = cap.read()
            if not ok:
                break
            if i % a.extra_step == 0:
                samples += extra_samples(teacher, cv2.cvtColor(f, cv2.COLOR_BGR2RGB), i, src, a)
            i += 1
        print(f"{src}: {i} frames, {len(samples) - n0} samples ({time.time() - t0:.0f} s)", flush=True)
    n0 = len(samples)
    for pat in EXTRA_PHOTOS:
        for p in sorted(glob.glob(os.path.join(a.cache, pat))):
            img = cv2.cvtColor(cv2.imread(p, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            samples += extra_samples(teacher, img, -1, "pose2sim/calib/" + os.path.basename(p), a)
    print(f"pose2sim calibration photos: {len(samples) - n0} samples ({time.time() - t0:.0f} s)", flush=True)
    kinds = np.array([s["kind"] for s in samples])
    print(f"{fname}: {len(samples)} samples ({(kinds == 'full').sum()} full-body, {(kinds == 'upper').sum()} "
          f"upper-body, {(kinds == 'close').sum()} head-and-chest)")
    save(os.path.join(out, fname), samples)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=os.environ.get("LM_TRAIN_CACHE", os.path.expanduser("~/.cache/lm-training")))
    ap.add_argument("--teacher", default=os.path.join(here, "..", "..", "shared", "models", "movenet_lightning_heatmaps.onnx"))
    ap.add_argument("--shared-images", default=os.path.join(here, "..", "..", "shared", "images"))
    ap.add_argument("--people", default=os.path.join(here, "..", "..", "shared", "people"),
                    help="../shared/people (MANIFEST.tsv, train/): the people-labels stage")
    ap.add_argument("--teacher-threads", type=int, default=2)
    ap.add_argument("--min-mean", type=float, default=0.35)
    ap.add_argument("--min-joints", type=int, default=9)
    ap.add_argument("--frame-step", type=int, default=1)
    ap.add_argument("--extra-step", type=int, default=3, help="use every n-th frame of the extra videos")
    ap.add_argument("--upper-min-joints", type=int, default=9, help="of the 13 upper-body joints")
    ap.add_argument("--close-min-joints", type=int, default=7, help="of the 11 joints nose..wrists")
    ap.add_argument("--stages", default="opencv-doc,extra,closeup",
                    help="comma list: opencv-doc (train.npz + held-out sets), extra (train_extra.npz), "
                         "closeup (train_closeup.npz: head-and-chest crops of the extra sources), "
                         "drop-excluded (remove EXCLUDE_PHOTOS samples from an existing train.npz), "
                         "people-labels (teacher labels of ../shared/people/train -> labels/people_train.npz; "
                         "pack.py then cuts and packs them)")
    a = ap.parse_args()
    stages = set(a.stages.split(","))
    out = os.path.join(a.cache, "dataset")
    os.makedirs(out, exist_ok=True)
    teacher = Teacher(a.teacher, threads=a.teacher_threads)
    t0 = time.time()
    if "people-labels" in stages:
        from lm_train.people import label_images
        os.makedirs(os.path.join(a.cache, "labels"), exist_ok=True)
        label_images(teacher, a.people, os.path.join(a.cache, "labels", "people_train.npz"))
    if "drop-excluded" in stages:
        p = os.path.join(out, "train.npz")
        d = dict(np.load(p))
        keep = ~np.isin(d["src"], list(EXCLUDE_PHOTOS))
        np.savez(p, **{k: v[keep] for k, v in d.items()})
        print(f"{p}: dropped {int((~keep).sum())} samples of {sorted(EXCLUDE_PHOTOS)}, {int(keep.sum())} left")
    if "extra" in stages:
        a.close_up_only = False
        prepare_extra(teacher, a, out, t0)
    if "closeup" in stages:
        a.close_up_only = True
        prepare_extra(teacher, a, out, t0, "train_closeup.npz")
    if "opencv-doc" not in stages:
        return
    data_dir = os.path.join(a.cache, "opencv-doc", "usr/share/doc/opencv-doc/examples/data")
    if not os.path.exists(os.path.join(data_dir, "vtest.avi")):
        raise SystemExit("run training/fetch_data.sh first")

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
        if img is None or min(img.shape[:2]) < 96 or os.path.basename(p) in EXCLUDE_PHOTOS:
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
