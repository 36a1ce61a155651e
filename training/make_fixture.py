#!/usr/bin/env python3
"""Make the tiny random-weight QONNX fixture for the Rust tests.

Writes (default into ../tests/fixtures/):
  lm_tiny_quantize.onnx        LmSinglePoseV1Quantize graph family, input 64x64, every conv <= 32 channels,
                               random weights, random BatchNorm stats (some gammas < 0, some ~ 0), stride 8
  lm_tiny_quantize.yaml        Blueoil meta (IMAGE_SIZE 64x64, MODEL.file: lm_tiny_quantize.onnx)
  lm_tiny_quantize_io.json     a deterministic input rule and the heatmaps PyTorch and the qonnx executor give:
                               image[0, y, x, c] = float32((7*y + 13*x + 29*c) % 256) / float32(255)
  lm_tiny_quantize.input.npy   that input, float32 [1,64,64,3]
  lm_tiny_quantize.qonnx.npy   the qonnx executor's heatmaps for it, float32 [1,8,8,17]
Deterministic (seeded); re-running reproduces the same files.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lm_train.export import export_onnx, write_meta  # noqa: E402
from lm_train.model import TINY_WIDTHS, LmSinglePose, randomize_bn  # noqa: E402
from lm_train.verify import qonnx_heatmaps, torch_heatmaps  # noqa: E402

SIZE = 64


def fixture_input(h=SIZE, w=SIZE):
    y, x, c = np.meshgrid(np.arange(h), np.arange(w), np.arange(3), indexing="ij")
    v = ((7 * y + 13 * x + 29 * c) % 256).astype(np.float32) / np.float32(255.0)
    return v[None].astype(np.float32)


def make_tiny_model(seed=0):
    torch.manual_seed(seed)
    m = LmSinglePose(quantize=True, stride=8, widths=TINY_WIDTHS)
    randomize_bn(m, seed)
    return m.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out-dir", default=os.path.join(here, "..", "tests", "fixtures"))
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    onnx_path = os.path.join(a.out_dir, "lm_tiny_quantize.onnx")
    m = make_tiny_model(a.seed)
    export_onnx(m, onnx_path, SIZE, SIZE, doc="lm tiny random-weight LmSinglePoseV1Quantize test fixture "
                                              f"(training/make_fixture.py, seed {a.seed})")
    write_meta(os.path.join(a.out_dir, "lm_tiny_quantize.yaml"), "lm_tiny_quantize.onnx", SIZE, SIZE, 8)
    x = fixture_input()
    ref = torch_heatmaps(m, x)
    got = qonnx_heatmaps(onnx_path, x)
    diff = float(np.abs(ref - got).max())
    print(f"{onnx_path}: {os.path.getsize(onnx_path)} bytes, heatmaps {ref.shape}, "
          f"torch vs qonnx max abs diff {diff:.3g}")
    if diff > 1e-4:
        raise SystemExit("fixture check failed")
    np.save(os.path.join(a.out_dir, "lm_tiny_quantize.input.npy"), x.astype(np.float32))
    np.save(os.path.join(a.out_dir, "lm_tiny_quantize.qonnx.npy"), got.astype(np.float32))
    with open(os.path.join(a.out_dir, "lm_tiny_quantize_io.json"), "w") as f:
        json.dump({
            "input_rule": "image[0,y,x,c] = float32((7*y + 13*x + 29*c) % 256) / float32(255), shape [1,64,64,3]",
            "heatmaps_shape": list(ref.shape),
            "heatmaps_nhwc_flat": [round(float(v), 6) for v in got.reshape(-1)],
            "max_abs_diff_torch_vs_qonnx": diff,
        }, f)


if __name__ == "__main__":
    main()
