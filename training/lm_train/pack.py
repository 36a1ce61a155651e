"""One movable file of training samples (npz): JPEG-encoded square crops + joints + per-sample metadata.

Each sample is the square of side `context` x L around a person (L = the person's view: 1.25 x the box's
longer side), stored at min(`max_px`, native) pixels (never upsampled) as a JPEG; joints (x, y, score)
are in the stored crop's pixels. The default 160x160 view is the central L x L square, so augmentation
can zoom out to `context` x L with real pixels around the person.

Arrays: jpeg (uint8, all crops back to back), offsets [N+1], crop_px [N], joints [N,J,3], weight [N]
(sampling weight from the label's confidence; 1 for human labels), mean_score [N], source, group, split
("train" / "heldout"), label ("teacher" / "gt"), tier, path [N]; context (scalar).
Teacher-labelled ../shared/people photos are packed with `pack_data.py`; the file is ~50 MB, small
enough to carry to a GPU machine.
"""
from __future__ import annotations

import cv2
import numpy as np

from .teacher import square_crop

FIELDS = ("source", "group", "split", "label", "tier", "path")


def cut(img: np.ndarray, joints: np.ndarray, box, context: float, max_px: int):
    """(crop RGB uint8, joints in crop pixels) for a person whose view is box = (cx, cy, L)."""
    cx, cy, side = box
    big = side * context
    px = int(max(32, min(max_px, round(big))))
    crop = square_crop(img, cx, cy, big, px)
    s = px / big
    j = joints.astype(np.float32).copy()
    j[:, 0] = (joints[:, 0] - (cx - big / 2)) * s
    j[:, 1] = (joints[:, 1] - (cy - big / 2)) * s
    return crop, j


def write(path: str, samples: list, context: float, quality: int = 90):
    """samples: dicts with crop (RGB uint8 square), joints, weight, mean_score and the FIELDS."""
    if not samples:
        raise ValueError(f"{path}: no samples to pack")
    blobs = []
    for s in samples:
        ok, b = cv2.imencode(".jpg", cv2.cvtColor(s["crop"], cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for {s.get('path')}")
        blobs.append(b.reshape(-1))
    offsets = np.zeros(len(blobs) + 1, np.int64)
    offsets[1:] = np.cumsum([len(b) for b in blobs])
    arrays = dict(jpeg=np.concatenate(blobs).astype(np.uint8), offsets=offsets,
                  crop_px=np.array([s["crop"].shape[0] for s in samples], np.int32),
                  joints=np.stack([s["joints"] for s in samples]).astype(np.float32),
                  weight=np.array([s.get("weight", 1.0) for s in samples], np.float32),
                  mean_score=np.array([s.get("mean_score", 1.0) for s in samples], np.float32),
                  context=np.float32(context))
    for k in FIELDS:
        arrays[k] = np.array([str(s.get(k, "")) for s in samples])
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    import os
    os.replace(tmp, path)


class Pack:
    """Read side; `subset(mask)` keeps some samples (e.g. split == "train")."""

    def __init__(self, path: str):
        d = np.load(path)
        need = ("jpeg", "offsets", "crop_px", "joints", "context") + FIELDS
        miss = [k for k in need if k not in d.files]
        if miss:
            raise ValueError(f"{path}: not a training pack (missing {', '.join(miss)})")
        self.path = path
        self.jpeg, self.offsets = d["jpeg"], d["offsets"]
        self.context = float(d["context"])
        self.meta = {k: d[k] for k in d.files if k not in ("jpeg", "offsets", "context")}
        self.index = np.arange(len(self.meta["joints"]))

    def __len__(self):
        return len(self.index)

    def __getitem__(self, key):
        return self.meta[key][self.index]

    def subset(self, mask):
        p = object.__new__(Pack)
        p.path, p.jpeg, p.offsets, p.context, p.meta = self.path, self.jpeg, self.offsets, self.context, self.meta
        p.index = self.index[np.asarray(mask)]
        return p

    def image(self, i: int) -> np.ndarray:
        k = self.index[i]
        buf = self.jpeg[self.offsets[k]:self.offsets[k + 1]]
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"{self.path}: sample {k}: corrupt JPEG")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

    def joints(self, i: int) -> np.ndarray:
        return self.meta["joints"][self.index[i]]


def balanced_probs(source: np.ndarray, weight: np.ndarray, cap: int) -> np.ndarray:
    """Sampling probabilities: each source gets a share proportional to min(its sample count, cap)
    (cap <= 0: to its count), split inside the source in proportion to the samples' weights. A source
    with 1,573 samples and cap 200 is drawn like one with 200."""
    source = np.asarray(source)
    weight = np.asarray(weight, np.float64)
    p = np.zeros(len(source))
    names, counts = np.unique(source, return_counts=True)
    eff = counts if cap <= 0 else np.minimum(counts, cap)
    share = eff / eff.sum()
    for name, sh in zip(names, share):
        m = source == name
        w = weight[m]
        p[m] = sh * (w / w.sum() if w.sum() > 0 else np.full(m.sum(), 1.0 / m.sum()))
    return p / p.sum()
