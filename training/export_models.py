#!/usr/bin/env python3
"""Export trained checkpoints to the shipped models and their Blueoil meta.yaml, and verify them:
  models/lm_single_pose_v1_quantize.onnx  (QONNX, checked against PyTorch with the qonnx executor)
  models/lm_single_pose_v1.onnx           (float, checked against PyTorch with onnxruntime)
  meta/lm_single_pose_v1_quantize.yaml, meta/lm_single_pose_v1.yaml
The ONNX doc string names the whole chain of training runs behind each checkpoint (lm_train/history.py):
taken from the checkpoint's `history`, or, for checkpoints saved before train.py recorded it, from
--quant-chain / --float-chain (the earlier runs' checkpoints, first to last).
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evaluate import load_model  # noqa: E402
from lm_train import history as H  # noqa: E402
from lm_train.export import export_onnx, write_meta  # noqa: E402
from lm_train.verify import ort_heatmaps, qonnx_heatmaps, torch_heatmaps  # noqa: E402


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    cache = os.environ.get("LM_TRAIN_CACHE", os.path.expanduser("~/.cache/lm-training"))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--float-ckpt", default=os.path.join(cache, "runs", "float", "last.pt"))
    ap.add_argument("--quant-ckpt", default=os.path.join(cache, "runs", "quant", "last.pt"))
    ap.add_argument("--quant-chain", default=None,
                    help="comma list of the checkpoints the quantised one was trained from, first to last "
                         "(each run --init-from the previous); default: the checkpoint's recorded history")
    ap.add_argument("--float-chain", default=None, help="the same for the float checkpoint")
    ap.add_argument("--confidence-threshold", type=float, default=0.1,
                    help="POST_PROCESSOR confidence_threshold written into both meta files (pick it with "
                         "evaluate.py --pack on the held-out split of people/train)")
    ap.add_argument("--subpixel", action="store_true",
                    help="write `subpixel: true` (quarter-cell refinement) into the meta files (pick it with "
                         "evaluate.py --pack, which reports PCK with and without it)")
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--root", default=root)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    x = rng.random((1, a.size, a.size, 3), dtype=np.float32)
    for ckpt, chain_arg, stem, quant in ((a.quant_ckpt, a.quant_chain, "lm_single_pose_v1_quantize", True),
                                         (a.float_ckpt, a.float_chain, "lm_single_pose_v1", False)):
        if not os.path.exists(ckpt):
            print(f"skip {stem}: no checkpoint {ckpt}")
            continue
        model, ck = load_model(ckpt)
        assert ck["quantize"] == quant, ckpt
        onnx_path = os.path.join(a.root, "models", stem + ".onnx")
        os.makedirs(os.path.dirname(onnx_path), exist_ok=True)
        os.makedirs(os.path.join(a.root, "meta"), exist_ok=True)
        kind = "LmSinglePoseV1Quantize" if quant else "LmSinglePoseV1"
        earlier = None
        if chain_arg:
            earlier = []
            for p in chain_arg.split(","):
                earlier.append(H.entry(torch.load(p, map_location="cpu", weights_only=False), p))
        doc = H.describe(kind, H.chain(ck, ckpt, earlier))
        print(f"{stem}: {doc}")
        export_onnx(model, onnx_path, a.size, a.size, doc=doc)
        write_meta(os.path.join(a.root, "meta", stem + ".yaml"), f"../models/{stem}.onnx", a.size, a.size,
                   ck["stride"], confidence_threshold=a.confidence_threshold, subpixel=a.subpixel)
        ref = torch_heatmaps(model, x)
        got = qonnx_heatmaps(onnx_path, x) if quant else ort_heatmaps(onnx_path, x)
        diff = float(np.abs(ref - got).max())
        print(f"{onnx_path}: {os.path.getsize(onnx_path) / 1e6:.2f} MB, step {ck['step']}, "
              f"{'qonnx' if quant else 'onnxruntime'} vs torch max abs diff {diff:.3g}")
        if diff > 1e-4:
            raise SystemExit("export verification failed")


if __name__ == "__main__":
    main()
