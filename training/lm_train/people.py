"""Teacher labels for ../shared/people/train/ (MANIFEST.tsv): person-centred views, a confidence gate,
source groups for the split and for balanced sampling.

Labelling (slow part, cached in $LM_TRAIN_CACHE/labels/people_train.npz; rebuilt by
`prepare_data.py --stages people-labels`): for every image, the teacher's centre heatmap on the whole
(letterboxed) picture gives candidates (plus the whole picture); each is re-centred twice on the
teacher's own joints (`prepare_data.refine`); duplicates in an image are removed. Every person found is
stored with all 17 (x, y, score) in original image pixels and the teacher's mean score, *before* any
gate, so the gate can change without re-running the teacher.

Gate (cheap, applied when packing): a person is kept if its mean score >= `min_mean` and >= `min_joints`
joints score >= 0.3; its sampling weight is `conf_weight(mean)` (down-weights the unsure ones).
"""
from __future__ import annotations

import csv
import hashlib
import os
import re
import time
from types import SimpleNamespace

import cv2
import numpy as np

IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
# Held out for picking confidence_threshold: whole videos (Pose2Sim: one camera of each demo; the 4
# cameras are views of the same moments, so no frame of a held-out video is ever trained on) ...
HELDOUT_VIDEOS = {
    "pypi:pose2sim==0.10.49:Pose2Sim/Demo_SinglePerson/videos/cam04.mp4",
    "pypi:pose2sim==0.10.49:Pose2Sim/Demo_MultiPerson/videos/cam04.mp4",
}
HELDOUT_PERCENT = 10  # ... and ~10 % of the other groups (photo = own group, video = one group), by hash
SURE_MEAN = 0.5  # a label whose mean teacher score reaches this gets full sampling weight (conf_weight)


def read_manifest(people_dir: str):
    """Rows of MANIFEST.tsv for the train/ images: dicts with path (relative to people_dir), source,
    source_path, licence, tier, group."""
    rows = []
    with open(os.path.join(people_dir, "MANIFEST.tsv"), newline="") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            p = r["path"]
            if not p.startswith("train/") or not p.lower().endswith(IMAGE_EXT):
                continue
            tier = r["notes"].split(";")[0].replace("tier=", "") if r["notes"].startswith("tier=") else ""
            rows.append({"path": p, "source": r["source"], "source_path": r["source_path"],
                         "licence": r["licence"], "tier": tier, "group": video_group(r["source_path"], p)})
    return rows


def video_group(source_path: str, path: str) -> str:
    """Split / dedup group: a video frame belongs to its video ("... frame N (...)" stripped), a photo is
    its own group."""
    m = re.match(r"(.*?) frame \d+", source_path)
    return m.group(1) if m else (source_path or path)


def is_heldout(group: str) -> bool:
    if group in HELDOUT_VIDEOS:
        return True
    if group.startswith("pypi:pose2sim"):
        return False  # the other Pose2Sim videos are train
    return int(hashlib.sha1(group.encode()).hexdigest(), 16) % 100 < HELDOUT_PERCENT


def conf_weight(mean: np.ndarray, full: float = SURE_MEAN, floor: float = 0.25) -> np.ndarray:
    """Sampling weight from the teacher's mean score: 1 at >= `full`, falling linearly to `floor`."""
    return np.clip(np.asarray(mean, np.float32) / full, floor, 1.0)


def gate(joints: np.ndarray, mean: np.ndarray, min_mean: float, min_joints: int, conf: float = 0.3):
    """Boolean mask of the persons that pass the teacher-confidence gate."""
    return (mean >= min_mean) & ((joints[:, :, 2] >= conf).sum(1) >= min_joints)


def label_images(teacher, people_dir: str, out_path: str, log_every: int = 100):
    """Run the teacher on every train/ image (see module doc) and save the raw labels to out_path."""
    from prepare_data import photo_candidates, process  # the same person finder as the other sources
    a = SimpleNamespace(min_mean=0.0, min_joints=4)  # no gate here: stored before gating
    rows = read_manifest(people_dir)
    recs, t0 = [], time.time()
    n_none = 0
    for i, r in enumerate(rows):
        img = cv2.imread(os.path.join(people_dir, r["path"]), cv2.IMREAD_COLOR)
        if img is None:
            raise SystemExit(f"{os.path.join(people_dir, r['path'])}: not a readable image")
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        found = process(teacher, img, photo_candidates(teacher, img), i, r["source"], a)
        n_none += not found
        for s in found:
            recs.append((i, s["j"], (s["cx"], s["cy"], s["side"]), s["mean_score"], img.shape[1], img.shape[0]))
        if (i + 1) % log_every == 0:
            print(f"people-labels: {i + 1}/{len(rows)} images, {len(recs)} persons ({time.time() - t0:.0f} s)",
                  flush=True)
    idx = np.array([x[0] for x in recs], np.int32)
    tmp = out_path + ".tmp.npz"
    np.savez(tmp, image=idx, joints=np.stack([x[1] for x in recs]).astype(np.float32),
             box=np.array([x[2] for x in recs], np.float32), mean_score=np.array([x[3] for x in recs], np.float32),
             image_wh=np.array([x[4:6] for x in recs], np.int32),
             path=np.array([r["path"] for r in rows]), source=np.array([r["source"] for r in rows]),
             group=np.array([r["group"] for r in rows]), tier=np.array([r["tier"] for r in rows]))
    os.replace(tmp, out_path)
    print(f"{out_path}: {len(rows)} images, {len(recs)} persons, {n_none} images without any "
          f"({time.time() - t0:.0f} s)", flush=True)


def load_labels(path: str):
    d = np.load(path)
    return {k: d[k] for k in d.files}
