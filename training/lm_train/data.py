"""Cached distillation data set, augmentation and Gaussian heatmap targets (Blueoil convention)."""
from __future__ import annotations

import os

import cv2
import numpy as np

from prepare_data import CONTEXT, CROP  # noqa: F401  (crop geometry of the cached samples)

# COCO-17 order: nose, l_eye, r_eye, l_ear, r_ear, l_shoulder, r_shoulder, l_elbow, r_elbow,
# l_wrist, r_wrist, l_hip, r_hip, l_knee, r_knee, l_ankle, r_ankle
JOINT_NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
               "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
               "left_knee", "right_knee", "left_ankle", "right_ankle"]
FLIP_PERM = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
CONF = 0.3          # teacher score above which a joint is a target / evaluated
PEAK = 10.0         # Blueoil heatmap peak
SIGMA = 2.0         # heatmap pixels


def load(cache: str, name: str):
    d = np.load(os.path.join(cache, "dataset", name + ".npz"))
    return {k: d[k] for k in d.files}


# opencv-doc (vtest + photos), Pose2Sim / Sports2D full-body + upper-body, their head-and-chest crops
TRAIN_PARTS = ("train", "train_extra", "train_closeup")


def load_train(cache: str, parts=TRAIN_PARTS):
    """The training parts that exist, concatenated (images, joints, src, kind), plus "part": the index
    of each sample's part in `parts`."""
    ds = []
    for k, name in enumerate(parts):
        if os.path.exists(os.path.join(cache, "dataset", name + ".npz")):
            d = load(cache, name)
            n = len(d["images"])
            ds.append({"images": d["images"], "joints": d["joints"], "src": d["src"],
                       "kind": d.get("kind", np.full(n, "full")), "part": np.full(n, k)})
    return {key: np.concatenate([d[key] for d in ds]) for key in ds[0]}


def view_matrix(size: int, scale=1.0, rot_deg=0.0, tx=0.0, ty=0.0, flip=False):
    """Affine map from stored-crop pixels to an input view of `size` pixels. Identity augmentation =
    the central L x L square (L = CROP / CONTEXT) scaled to size x size."""
    base = size / (CROP / CONTEXT)
    s = base * scale
    a = np.deg2rad(rot_deg)
    c, si = np.cos(a) * s, np.sin(a) * s
    fx = -1.0 if flip else 1.0
    # p_out = F R S (p - centre_crop) + centre_out + t
    m = np.array([[fx * c, -fx * si], [si, c]], np.float64)
    ctr = np.array([CROP / 2, CROP / 2])
    off = np.array([size / 2 + tx, size / 2 + ty]) - m @ ctr
    return np.hstack([m, off[:, None]])


def warp(img, m, size):
    return cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0)


def warp_joints(j, m, flip):
    out = j.copy()
    xy = j[:, :2] @ m[:, :2].T + m[:, 2]
    out[:, :2] = xy
    if flip:
        out = out[FLIP_PERM]
    return out


def heatmap_targets(joints, size, stride=8, sigma=SIGMA, peak=PEAK):
    """Gaussian heatmaps [size/stride, size/stride, J]; joint at image pixel p sits at heatmap p/stride
    (Blueoil: decode joint = argmax * stride). Joints below CONF or outside the image: all zero."""
    hs = size // stride
    yy, xx = np.mgrid[0:hs, 0:hs].astype(np.float32)
    out = np.zeros((hs, hs, len(joints)), np.float32)
    for k, (x, y, sc) in enumerate(joints):
        if sc < CONF or not (0 <= x < size and 0 <= y < size):
            continue
        cx, cy = x / stride, y / stride
        out[:, :, k] = peak * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma ** 2))
    return out


def colour_jitter(img, rng):
    x = img.astype(np.float32)
    if rng.random() < 0.8:
        x = x * rng.uniform(0.6, 1.4) + rng.uniform(-30, 30)
        mean = x.mean(axis=2, keepdims=True)
        x = mean + (x - mean) * rng.uniform(0.5, 1.5)
        x = x * rng.uniform(0.9, 1.1, size=3)
    if rng.random() < 0.1:
        x = np.repeat(x.mean(axis=2, keepdims=True), 3, axis=2)
    if rng.random() < 0.2:
        x = cv2.GaussianBlur(x, (3, 3), rng.uniform(0.3, 1.2))
    return np.clip(x, 0, 255)


def augment(img, joints, size, rng, colour=True):
    flip = rng.random() < 0.5
    scale = float(np.exp(rng.uniform(np.log(0.7), np.log(1.35))))
    rot = float(rng.uniform(-30, 30)) if rng.random() < 0.6 else 0.0
    tx, ty = rng.uniform(-0.12, 0.12, size=2) * size
    m = view_matrix(size, scale, rot, tx, ty, flip)
    x = warp(img, m, size)
    j = warp_joints(joints, m, flip)
    return (colour_jitter(x, rng) if colour else x.astype(np.float32)), j


def default_view(img, joints, size):
    m = view_matrix(size)
    return warp(img, m, size).astype(np.float32), warp_joints(joints, m, False)
