#!/usr/bin/env python3
"""Train LmSinglePoseV1 (float) or LmSinglePoseV1Quantize by distillation from the cached data set.

Resumable: checkpoints (model, optimiser, step) go to $LM_TRAIN_CACHE/runs/<run>/last.pt every
--ckpt-every steps and when the --minutes budget runs out; re-running the same command continues the
same LR schedule (cosine over --steps) from the last checkpoint.
Loss (Blueoil LmSinglePoseV1.loss): MSE over all joints + mean over the batch of the mean of the 8
largest per-joint MSEs of each sample ("refine").
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lm_train import data as D  # noqa: E402
from lm_train import history as H  # noqa: E402
from lm_train.model import LmSinglePose  # noqa: E402


def loss_fn(out, tgt, top_k=8):
    per_joint = ((out - tgt) ** 2).mean(dim=(2, 3))  # N, J (NCHW)
    glob = per_joint.mean()
    refine = per_joint.topk(top_k, dim=1).values.mean()
    return glob + refine, glob, refine


def make_batch(ds, idx, size, stride, rng):
    xs, ts = [], []
    for i in idx:
        x, j = D.augment(ds["images"][i], ds["joints"][i], size, rng)
        xs.append(x / 255.0)
        ts.append(D.heatmap_targets(j, size, stride))
    x = torch.from_numpy(np.stack(xs).astype(np.float32)).permute(0, 3, 1, 2).contiguous()
    t = torch.from_numpy(np.stack(ts)).permute(0, 3, 1, 2).contiguous()
    return x, t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="run name, e.g. float or quant")
    ap.add_argument("--quantize", action="store_true")
    ap.add_argument("--init-from", default=None, help="checkpoint to initialise weights from (new runs only)")
    ap.add_argument("--cache", default=os.environ.get("LM_TRAIN_CACHE", os.path.expanduser("~/.cache/lm-training")))
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--stride", type=int, default=8)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--steps", type=int, default=20000, help="length of the cosine LR schedule")
    ap.add_argument("--minutes", type=float, default=30.0, help="stop (with a checkpoint) after this long")
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-channels-last", action="store_true", help="keep NCHW-contiguous tensors (slower on CPU)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=",".join(D.TRAIN_PARTS), help="comma list of training parts (dataset/<name>.npz)")
    ap.add_argument("--part-weights", default=None,
                    help="comma list, share of the draws per part (e.g. 0.65,0.35); default uniform over samples")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    run_dir = os.path.join(a.cache, "runs", a.run)
    os.makedirs(run_dir, exist_ok=True)
    ckpt_path = os.path.join(run_dir, "last.pt")

    parts = a.data.split(",")
    ds = D.load_train(a.cache, parts)
    n = len(ds["images"])
    # sampling weights: each part gets --part-weights[k] of the draws (default: uniform over samples)
    if a.part_weights:
        w = np.array([float(v) for v in a.part_weights.split(",")])
        cnt = np.bincount(ds["part"], minlength=len(parts)).astype(float)
        p = np.where(cnt[ds["part"]] > 0, w[ds["part"]] / np.maximum(cnt[ds["part"]], 1), 0.0)
        p /= p.sum()
    else:
        p = None
    print(f"data: {n} samples, " + ", ".join(f"{name} {int((ds['part'] == k).sum())}" for k, name in enumerate(parts))
          + (f"; part weights {a.part_weights}" if p is not None else ""), flush=True)
    model = LmSinglePose(quantize=a.quantize, stride=a.stride)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    step = 0
    history = []  # earlier runs of this model's chain (lm_train/history.py), saved with each checkpoint
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        history = ck.get("history", [])
        print(f"resumed {ckpt_path} at step {step}", flush=True)
    elif a.init_from:
        ck = torch.load(a.init_from, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        history = H.chain(ck, a.init_from)
        print(f"initialised from {a.init_from} (step {ck['step']})", flush=True)

    def save():
        tmp = ckpt_path + ".tmp"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                    "quantize": a.quantize, "stride": a.stride, "size": a.size, "run": a.run, "history": history,
                    "train_seconds": base_seconds + (time.time() - t0)}, tmp)
        os.replace(tmp, ckpt_path)

    base_seconds = ck.get("train_seconds", 0.0) if os.path.exists(ckpt_path) else 0.0
    rng = np.random.default_rng(a.seed + step)
    t0 = time.time()
    cl = not a.no_channels_last
    if cl:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    log = open(os.path.join(run_dir, "train.log"), "a")
    run_loss = None
    while step < a.steps:
        lr = float(a.lr * 0.5 * (1 + np.cos(np.pi * step / a.steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = rng.integers(0, n, a.batch) if p is None else rng.choice(n, a.batch, p=p)
        x, t = make_batch(ds, idx, a.size, a.stride, rng)
        if cl:
            x = x.contiguous(memory_format=torch.channels_last)
        out = model(x)
        loss, glob, refine = loss_fn(out, t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        run_loss = loss.item() if run_loss is None else 0.98 * run_loss + 0.02 * loss.item()
        elapsed = time.time() - t0
        if step % 20 == 0:
            msg = (f"step {step} loss {loss.item():.4f} (avg {run_loss:.4f}, global {glob.item():.4f}, "
                   f"refine {refine.item():.4f}) lr {lr:.2e} {elapsed / 60:.1f} min")
            print(msg, flush=True)
            log.write(msg + "\n")
            log.flush()
        done = elapsed > a.minutes * 60
        if step % a.ckpt_every == 0 or done or step == a.steps:
            save()
        if done:
            break
    print(f"stopped at step {step}; total training time {(base_seconds + time.time() - t0) / 60:.1f} min",
          flush=True)


if __name__ == "__main__":
    main()
