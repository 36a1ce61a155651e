"""Batches from one or more packs (lm_train/pack.py): balanced sampling across sources, augmentation
(lm_train/augment.py), Gaussian heatmap targets. Runs in DataLoader workers (`--workers`), so a GPU is
fed by several CPU cores; with 0 workers it runs in the training process.
"""
from __future__ import annotations

import numpy as np
import torch

from . import augment as A
from . import pose_rarity
from .data import heatmap_targets
from .pack import Pack, balanced_probs
from .people import SURE_MEAN


class Packs:
    """Several packs seen as one list of samples (each restricted to `split`)."""

    def __init__(self, paths, split="train"):
        self.packs = []
        for p in paths:
            pk = Pack(p)
            self.packs.append(pk.subset(pk.meta["split"] == split) if split else pk)
        self.which = np.concatenate([np.full(len(p), k) for k, p in enumerate(self.packs)])
        self.local = np.concatenate([np.arange(len(p)) for p in self.packs])

    def __len__(self):
        return len(self.which)

    def field(self, key):
        return np.concatenate([p[key] for p in self.packs])

    def sample(self, i):
        """(image RGB uint8, joints, L in stored pixels)."""
        p = self.packs[self.which[i]]
        img = p.image(int(self.local[i]))
        return img, p.joints(int(self.local[i])), img.shape[0] / p.context


def sampling_probs(packs: Packs, cap: int, pose_alpha: float = 0.0) -> np.ndarray:
    """Sources balanced (pack.balanced_probs: each source's share from its size, capped), drawn inside a
    source by the label's confidence weight and, with pose_alpha > 0, by how rare the pose is
    (lm_train/pose_rarity.py; only samples the teacher is sure of, mean score >= SURE_MEAN, are drawn
    more often). The sources' shares do not change: boosting across sources handed a third of the draws
    to the Pose2Sim lab videos (one room, three people)."""
    w = packs.field("weight") if all("weight" in p.meta for p in packs.packs) else np.ones(len(packs))
    if pose_alpha:
        sure = packs.field("mean_score") >= SURE_MEAN
        w = w * pose_rarity.weights(packs.field("joints"), pose_alpha, trusted=sure)
    return balanced_probs(packs.field("source"), w, cap)


def make_batch(packs: Packs, idx, size, stride, rng, cfg=None):
    cfg = cfg or A.AugConfig()
    xs, ts = [], []
    for i in idx:
        img, j, l_px = packs.sample(int(i))
        # other people to paste beside this one (augment.paste_distractor), drawn uniformly
        other = None
        if rng.random() < cfg.p_distract:
            # no extra draw for one person: quant6's random stream stays as it was
            n = int(rng.integers(1, cfg.max_distract + 1)) if cfg.max_distract > 1 else 1
            other = [packs.sample(int(rng.integers(len(packs)))) for _ in range(n)]
        x, jj = A.augment(img, j, size, l_px, rng, cfg, other=other)
        xs.append(x / 255.0)
        ts.append(heatmap_targets(jj, size, stride))
    x = torch.from_numpy(np.stack(xs).astype(np.float32)).permute(0, 3, 1, 2).contiguous()
    t = torch.from_numpy(np.stack(ts)).permute(0, 3, 1, 2).contiguous()
    return x, t


class BatchStream(torch.utils.data.IterableDataset):
    """Endless batches; each worker has its own generator seeded by (seed, start_step, worker id)."""

    def __init__(self, paths, cap, size, stride, batch, seed, start_step, cfg=None, pose_alpha=0.0):
        self.paths, self.cap, self.size, self.stride, self.batch = paths, cap, size, stride, batch
        self.seed, self.start_step, self.cfg, self.pose_alpha = seed, start_step, cfg, pose_alpha

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid = info.id if info else 0
        if info is not None:  # workers: one thread each; the training process keeps --threads
            import cv2
            torch.set_num_threads(1)
            cv2.setNumThreads(1)
        packs = Packs(self.paths)
        p = sampling_probs(packs, self.cap, self.pose_alpha)
        rng = np.random.default_rng([self.seed, self.start_step, wid])
        while True:
            idx = rng.choice(len(packs), self.batch, p=p)
            yield make_batch(packs, idx, self.size, self.stride, rng, self.cfg)
