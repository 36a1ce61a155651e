#!/usr/bin/env python3
"""Train LmSinglePoseV1 (float) or LmSinglePoseV1Quantize by distillation from the cached data set.

Data: `--pack FILE[,FILE...]` (packs made by pack_data.py: teacher-labelled ../shared/people/train, COCO
person_keypoints; split "train" only, sources balanced with --source-cap, augmentation lm_train/augment.py,
DataLoader with --workers), or else the older cached parts (`--data`, prepare_data.py, lm_train/data.py).
`--device cuda` runs the same script on a GPU. `--init-from` takes a checkpoint or a shipped ONNX file
(models/*.onnx), so a machine with an empty cache starts from the weights kept in the repo.

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
from lm_train import augment as A  # noqa: E402
from lm_train import data as D  # noqa: E402
from lm_train import history as H  # noqa: E402
from lm_train.model import LmSinglePose  # noqa: E402


def init_weights(path, model):
    """Weights (and the history entry of the run(s) behind them) from a checkpoint or an exported ONNX file."""
    if path.endswith(".onnx"):
        import re

        import onnx

        from lm_train.onnx_init import model_from_onnx
        src = model_from_onnx(path)
        doc = onnx.load(path, load_external_data=False).doc_string
        steps = re.search(r"(\d+) steps", doc)
        mins = re.search(r"(\d+) min CPU", doc)
        model.load_state_dict(src.state_dict())
        hist = [{"run": os.path.basename(path), "steps": int(steps.group(1)) if steps else 0,
                 "train_seconds": 60.0 * int(mins.group(1)) if mins else 0.0, "quantize": src.quantize}]
        return hist, f"{path} ({doc[:80]}...)"
    ck = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(ck["model"])
    return H.chain(ck, path), f"{path} (step {ck['step']})"


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


def pair(text, flag):
    """'a,b' -> (a, b) floats with a <= b, or a clear error naming the flag."""
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise SystemExit(f"{flag} {text!r}: expected two numbers, min,max") from None
    if not 0 <= lo <= hi:
        raise SystemExit(f"{flag} {text!r}: expected 0 <= min <= max")
    return lo, hi


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="run name, e.g. float or quant")
    ap.add_argument("--quantize", action="store_true")
    ap.add_argument("--init-from", default=None, help="checkpoint (.pt) or exported model (models/*.onnx) to initialise weights from (new runs only)")
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
    ap.add_argument("--pack", default=None, help="comma list of pack files (pack_data.py); replaces --data")
    ap.add_argument("--source-cap", type=int, default=200,
                    help="with --pack: each source is drawn like one of at most this many samples (0: no cap)")
    ap.add_argument("--pose-balance", type=float, default=0.0, metavar="ALPHA",
                    help="with --pack: inside each source, draw a sample the teacher is sure of "
                         "(pose rarity / median) ** ALPHA times as often, clipped to 0.25..8 "
                         "(lm_train/pose_rarity.py; 0: off)")
    ap.add_argument("--workers", type=int, default=0, help="with --pack: DataLoader worker processes")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--time-schedule", action="store_true",
                    help="cosine LR over whichever ends first, --steps or this run's --minutes (for a fixed GPU "
                         "budget whose speed is not known in advance)")
    # other people pasted beside the target (lm_train/augment.py, paste_distractor); defaults: AugConfig's,
    # what quant6 saw
    aug_defaults = A.AugConfig()
    ap.add_argument("--p-distract", type=float, default=aug_defaults.p_distract,
                    help="with --pack: share of views with other people")
    ap.add_argument("--distract-offset", default="%g,%g" % aug_defaults.distract_offset,
                    help="horizontal distance of their centres from the target's, in target sizes (min,max)")
    ap.add_argument("--distract-zoom", default="%g,%g" % aug_defaults.distract_zoom,
                    help="their size relative to the target's (min,max)")
    ap.add_argument("--distract-dy", type=float, default=aug_defaults.distract_dy,
                    help="vertical distance of the centres, up to")
    ap.add_argument("--max-distract", type=int, default=aug_defaults.max_distract,
                    help="up to this many other people in a view")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device")
    dev = torch.device(a.device)
    if a.device == "cuda":
        torch.backends.cudnn.benchmark = True
    run_dir = os.path.join(a.cache, "runs", a.run)
    os.makedirs(run_dir, exist_ok=True)
    ckpt_path = os.path.join(run_dir, "last.pt")

    aug = None
    if a.pack:
        from lm_train import loader as LD
        aug = A.AugConfig(p_distract=a.p_distract, distract_offset=pair(a.distract_offset, "--distract-offset"),
                          distract_zoom=pair(a.distract_zoom, "--distract-zoom"), distract_dy=a.distract_dy,
                          max_distract=a.max_distract)
        for f in a.pack.split(","):
            if not os.path.exists(f):
                raise SystemExit(f"{f}: pack file not found (make it with training/pack_data.py)")
        packs = LD.Packs(a.pack.split(","))
        n = len(packs)
        if n == 0:
            raise SystemExit(f"{a.pack}: no samples with split 'train'")
        pr = LD.sampling_probs(packs, a.source_cap, a.pose_balance)
        src = packs.field("source")
        print(f"data: {n} train samples from {a.pack}; share of the draws per source (cap {a.source_cap}): "
              + ", ".join(f"{s} {int((src == s).sum())} -> {pr[src == s].sum():.2f}" for s in np.unique(src)),
              flush=True)
    else:
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
    model = LmSinglePose(quantize=a.quantize, stride=a.stride).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    step = 0
    history = []  # earlier runs of this model's chain (lm_train/history.py), saved with each checkpoint
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        if "opt" in ck:
            opt.load_state_dict(ck["opt"])
        else:  # a slimmed checkpoint (gpu_session.sh brings back weights only): Adam starts afresh
            print(f"{ckpt_path}: no optimiser state, Adam starts afresh", flush=True)
        step = ck["step"]
        history = ck.get("history", [])
        print(f"resumed {ckpt_path} at step {step}", flush=True)
    elif a.init_from:
        history, what = init_weights(a.init_from, model)
        print(f"initialised from {what}", flush=True)

    def save():
        tmp = ckpt_path + ".tmp"
        torch.save({"model": {k: v.cpu() for k, v in model.state_dict().items()}, "opt": opt.state_dict(), "step": step,
                    "quantize": a.quantize, "stride": a.stride, "size": a.size, "run": a.run, "history": history,
                    "device": a.device, "data": a.pack or a.data, "aug": vars(aug) if aug else None,
                    "pose_balance": a.pose_balance,
                    "train_seconds": base_seconds + (time.time() - t0)}, tmp)
        os.replace(tmp, ckpt_path)

    base_seconds = ck.get("train_seconds", 0.0) if os.path.exists(ckpt_path) else 0.0
    rng = np.random.default_rng(a.seed + step)
    batches = None
    if a.pack:
        stream = LD.BatchStream(a.pack.split(","), a.source_cap, a.size, a.stride, a.batch, a.seed, step, aug,
                                a.pose_balance)
        batches = iter(torch.utils.data.DataLoader(stream, batch_size=None, num_workers=a.workers,
                                                   pin_memory=a.device == "cuda",
                                                   prefetch_factor=4 if a.workers else None,
                                                   persistent_workers=a.workers > 0))
    t0 = time.time()
    start_step = step
    cl = not a.no_channels_last
    if cl:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    log = open(os.path.join(run_dir, "train.log"), "a")
    run_loss = None
    while step < a.steps:
        progress = step / a.steps
        if a.time_schedule:
            progress = min(1.0, max(progress, (time.time() - t0) / (a.minutes * 60)))
        lr = float(a.lr * 0.5 * (1 + np.cos(np.pi * progress)))
        for g in opt.param_groups:
            g["lr"] = lr
        if batches is not None:
            x, t = next(batches)
        else:
            idx = rng.integers(0, n, a.batch) if p is None else rng.choice(n, a.batch, p=p)
            x, t = make_batch(ds, idx, a.size, a.stride, rng)
        x, t = x.to(dev, non_blocking=True), t.to(dev, non_blocking=True)
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
                   f"refine {refine.item():.4f}) lr {lr:.2e} {elapsed / 60:.1f} min "
                   f"({(step - start_step) * a.batch / max(elapsed, 1e-9):.0f} samples/s)")
            print(msg, flush=True)
            log.write(msg + "\n")
            log.flush()
        done = elapsed > a.minutes * 60
        if step % a.ckpt_every == 0 or done or step == a.steps:
            save()
        if done:
            break
    if run_loss is not None:
        print(f"last loss {loss.item():.4f} (running average {run_loss:.4f})", flush=True)
    print(f"stopped at step {step}; total training time {(base_seconds + time.time() - t0) / 60:.1f} min",
          flush=True)


if __name__ == "__main__":
    main()
