"""How rare each training sample's pose is among the others, for drawing rare poses more often
(`train.py --pose-balance ALPHA`).

Why: the teacher-labelled photos are mostly people standing (street fashion). Of the train split's poses,
about 7 % have a hip or a knee bent below 130 degrees; sitting, crouching and sports poses are common in
real use. Drawing rare poses more often is the cheap way to show them more without new photos.

Pose descriptor: the labelled joints (score >= conf) centred on their mean and scaled by their RMS distance
from it (so position and size do not count, orientation and limb angles do). Distance between two samples:
the mean squared difference over the joints both have (at least `min_shared`, else they are not compared).
Rarity: the RMS distance to the `k` nearest other samples. Weight: (rarity / median rarity) ** alpha,
clipped to [lo, hi]; alpha 0 gives 1 everywhere.
Only fairly whole bodies are compared (`min_shared` 10 joints): with fewer, the descriptor's centre and
scale depend on which joints happen to be labelled, and the "rarest" samples of the teacher-labelled pack
were then head-and-shoulder close-ups and mislabelled crops (looked at on a contact sheet), not rare poses.
Those keep weight 1. Rare-looking poses are also where the teacher's labels go wrong (a hip on the chest,
a wrist on a handbag): only samples the teacher is sure of (`trusted`, mean score >= 0.5 in the loader;
human labels count as sure) are drawn more often; the others can only be drawn less often. On the sheet
of the 40 most boosted samples that left yoga, lunges, squats, sitting and bending people.
"""
from __future__ import annotations

import numpy as np


def descriptor(joints: np.ndarray, conf: float = 0.3):
    """(normalised coordinates [N,J,2] (0 where not labelled), labelled mask [N,J])."""
    xy = np.asarray(joints, np.float64)[:, :, :2]
    vis = np.asarray(joints)[:, :, 2] >= conf
    d = np.zeros_like(xy)
    for i in range(len(xy)):
        v = vis[i]
        if v.sum() < 2:
            continue
        c = xy[i, v].mean(axis=0)
        s = np.sqrt(((xy[i, v] - c) ** 2).sum(axis=1).mean())
        d[i, v] = (xy[i, v] - c) / max(s, 1e-6)
    return d, vis


def rarity(joints: np.ndarray, k: int = 10, min_shared: int = 10, conf: float = 0.3,
           max_ref: int = 5000, seed: int = 0) -> np.ndarray:
    """[N] RMS descriptor distance to the k nearest other samples; NaN where no sample is comparable.
    The cost grows as N x the reference set (2 s for the 2,642-sample people pack): above `max_ref` samples
    (a COCO-sized pack) the neighbours are looked for among a fixed random `max_ref` of them, so the cost
    grows linearly in N instead of quadratically."""
    d, vis = descriptor(joints, conf)
    vf = vis.astype(np.float64)
    ref = np.arange(len(d))
    if len(d) > max_ref:
        ref = np.sort(np.random.default_rng(seed).choice(len(d), max_ref, replace=False))
    rd, rv = d[ref], vf[ref]
    out = np.full(len(d), np.nan)
    for i in range(len(d)):
        if vis[i].sum() < min_shared:
            continue
        shared = rv * vf[i]
        ns = shared.sum(axis=1)
        dist = (((rd - d[i]) ** 2).sum(axis=-1) * shared).sum(axis=1) / np.maximum(ns, 1)
        dist[ns < min_shared] = np.inf
        dist[ref == i] = np.inf
        near = np.sort(dist)[:k]
        near = near[np.isfinite(near)]
        if len(near):
            out[i] = np.sqrt(near.mean())
    return out


def weights(joints: np.ndarray, alpha: float, lo: float = 0.25, hi: float = 8.0, trusted=None, **kw) -> np.ndarray:
    """[N] sampling weight factors: (rarity / median) ** alpha clipped to [lo, hi]; samples without a
    comparable neighbour (too few joints) get 1, and so do the rare ones outside `trusted` (a bool mask)."""
    if alpha == 0:
        return np.ones(len(joints))
    r = rarity(joints, **kw)
    if np.all(np.isnan(r)):
        return np.ones(len(joints))
    rel = r / np.nanmedian(r)
    w = np.clip(np.power(rel, alpha), lo, hi)
    w = np.where(np.isnan(w), 1.0, w)
    if trusted is not None:
        w = np.where(np.asarray(trusted, bool), w, np.minimum(w, 1.0))
    return w
