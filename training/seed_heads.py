#!/usr/bin/env python3
"""Seed-style keypoint models in PyTorch, exported to ONNX, for lm's other heads.

Three networks in the style of the systems lm grew from, with random weights (BatchNorm statistics
calibrated on noise so that activations have a sensible range; no training data is needed):

  regression  keras-io "keypoint detection with transfer learning" (StanfordExtra dogs): MobileNetV2
              backbone at 224x224, Dropout, SeparableConv2D(48, 5) + ReLU, SeparableConv2D(48, 3) +
              sigmoid -> [1, 1, 1, 48]: x0, y0, x1, y1, ... of 24 joints as fractions of the input
              (keras-io divides the labels by IMG_SIZE). Input NHWC 0..255 with keras'
              mobilenet_v2.preprocess_input (x / 127.5 - 1) inside the graph, as in keras-io.
              lm: CoordinateRegressionToJoints.
  grid        a 1920x320 grid keypoint detector: one cell per 32x32 px (60x10 cells), depthwise-
              separable stride-2 stages after a 4x4 stride-4 stem, a 1x1 head with (dx, dy) offsets in cells (sigmoid) and class
              logits. `--variant a`: NHWC [1, 10, 60, 2 + K] = [dx, dy, logits...];
              `--variant b`: NCHW [1, K + 1 + 2, 10, 60] = [logits..., background, dx, dy].
              lm: GridOffsetToPoints (sigmoid, resp. softmax with background).
  hourglass   Newell et al.'s stacked hourglass: pre-activation residual modules, max-pool down,
              nearest up, intermediate supervision (heatmaps -> 1x1 conv added back between stacks),
              MPII-16 joints, 256x256 NCHW input 0..1, 64x64 heatmaps. `--outputs stacked`: one 5-D
              output [1, stacks, 16, 64, 64] (torch.stack, as pytorch_stacked_hourglass);
              `--outputs per-stack`: one output per stack (as pytorch-pose). lm: GaussianHeatmapToJoints
              with `stack: -1`.

Usage: training/.venv/bin/python training/seed_heads.py {regression,grid,hourglass} OUT.onnx [options]
(tests/python/check_heads.py builds them into a temporary folder and checks lm against onnxruntime).
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

STANFORD_EXTRA_JOINTS = 24
MPII_JOINTS = 16


def conv_bn(cin, cout, k=3, stride=1, groups=1, act=nn.ReLU6, pad=None):
    pad = k // 2 if pad is None else pad
    layers = [nn.Conv2d(cin, cout, k, stride, pad, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


# ---------------------------------------------------------------- MobileNetV2 regression (keras-io)

class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        mid = cin * expand
        layers = [] if expand == 1 else [conv_bn(cin, mid, 1)]
        layers += [conv_bn(mid, mid, 3, stride, groups=mid), conv_bn(mid, cout, 1, act=None)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    """torchvision's / keras' MobileNetV2 feature extractor (width 1.0): 224 -> 7x7x1280."""
    CFG = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]

    def __init__(self):
        super().__init__()
        layers, cin = [conv_bn(3, 32, 3, 2)], 32
        for t, c, n, s in self.CFG:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(conv_bn(cin, 1280, 1))
        self.features = nn.Sequential(*layers)

    def forward(self, x):
        return self.features(x)


class SeparableConv2d(nn.Module):
    """keras SeparableConv2D (padding 'valid', bias on the pointwise conv)."""

    def __init__(self, cin, cout, k):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, k, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class KerasIoKeypointRegressor(nn.Module):
    def __init__(self, joints=STANFORD_EXTRA_JOINTS):
        super().__init__()
        self.backbone = MobileNetV2()
        self.dropout = nn.Dropout(0.3)
        self.sep1 = SeparableConv2d(1280, 2 * joints, 5)
        self.sep2 = SeparableConv2d(2 * joints, 2 * joints, 3)

    def forward(self, x):  # x: NHWC 0..255
        x = x.permute(0, 3, 1, 2) / 127.5 - 1.0  # keras mobilenet_v2.preprocess_input
        x = self.dropout(self.backbone(x))
        x = torch.relu(self.sep1(x))
        x = torch.sigmoid(self.sep2(x))  # [1, 48, 1, 1]
        return x.permute(0, 2, 3, 1)  # keras layout [1, 1, 1, 48]


# ---------------------------------------------------------------- grid detector (1920x320, 32 px cells)

class GridDetector(nn.Module):
    def __init__(self, classes=3, variant="a"):
        super().__init__()
        widths = [16, 32, 64, 128]
        # A 4x4 stride-4 "patchify" stem (no padding: at 1920x320 a padded 3x3 stem cost more than
        # the rest of the network in tract), then depthwise-separable stride-2 stages: /32 in all.
        layers, cin = [conv_bn(3, widths[0], 4, 4, act=nn.ReLU, pad=0)], widths[0]
        for c in widths[1:]:
            layers += [conv_bn(cin, cin, 3, 2, groups=cin, act=nn.ReLU), conv_bn(cin, c, 1, act=nn.ReLU)]
            cin = c
        layers += [conv_bn(cin, cin, 3, 1, groups=cin, act=nn.ReLU), conv_bn(cin, cin, 1, act=nn.ReLU)]
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Conv2d(cin, 2 + classes + 1, 1)  # dx, dy, class logits, background
        self.classes, self.variant = classes, variant

    def forward(self, x):  # NHWC 0..1
        y = self.head(self.trunk(x.permute(0, 3, 1, 2)))
        offsets = torch.sigmoid(y[:, :2])  # within the cell, in cells
        logits = y[:, 2:2 + self.classes]
        if self.variant == "a":
            return torch.cat([offsets, logits], 1).permute(0, 2, 3, 1)  # NHWC [dx, dy, logits]
        return torch.cat([logits, y[:, 2 + self.classes:], offsets], 1)  # NCHW [logits, bg, dx, dy]


# ---------------------------------------------------------------- stacked hourglass (Newell et al. 2016)

class Residual(nn.Module):
    """Pre-activation bottleneck: BN-ReLU-1x1(f/2), BN-ReLU-3x3(f/2), BN-ReLU-1x1(f), + skip."""

    def __init__(self, cin, cout):
        super().__init__()
        mid = cout // 2
        self.body = nn.Sequential(
            nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, mid, 1),
            nn.BatchNorm2d(mid), nn.ReLU(), nn.Conv2d(mid, mid, 3, padding=1),
            nn.BatchNorm2d(mid), nn.ReLU(), nn.Conv2d(mid, cout, 1))
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        return self.body(x) + self.skip(x)


class Hourglass(nn.Module):
    def __init__(self, depth, f):
        super().__init__()
        self.up1 = Residual(f, f)
        self.pool = nn.MaxPool2d(2, 2)
        self.low1 = Residual(f, f)
        self.low2 = Hourglass(depth - 1, f) if depth > 1 else Residual(f, f)
        self.low3 = Residual(f, f)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x):
        return self.up1(x) + self.up(self.low3(self.low2(self.low1(self.pool(x)))))


class StackedHourglass(nn.Module):
    def __init__(self, stacks=2, features=256, joints=MPII_JOINTS, depth=4, outputs="stacked"):
        super().__init__()
        f = features
        self.pre = nn.Sequential(conv_bn(3, 64, 7, 2, act=nn.ReLU), Residual(64, 128), nn.MaxPool2d(2, 2),
                                 Residual(128, 128), Residual(128, f))
        self.hgs = nn.ModuleList(Hourglass(depth, f) for _ in range(stacks))
        self.features = nn.ModuleList(nn.Sequential(Residual(f, f), conv_bn(f, f, 1, act=nn.ReLU))
                                      for _ in range(stacks))
        self.outs = nn.ModuleList(nn.Conv2d(f, joints, 1) for _ in range(stacks))
        self.merge_features = nn.ModuleList(nn.Conv2d(f, f, 1) for _ in range(stacks - 1))
        self.merge_preds = nn.ModuleList(nn.Conv2d(joints, f, 1) for _ in range(stacks - 1))
        self.outputs = outputs

    def forward(self, x):  # NCHW 0..1
        x = self.pre(x)
        preds = []
        for i, hg in enumerate(self.hgs):
            feat = self.features[i](hg(x))
            pred = self.outs[i](feat)
            preds.append(pred)
            if i < len(self.hgs) - 1:  # intermediate supervision: predictions fed back
                x = x + self.merge_features[i](feat) + self.merge_preds[i](pred)
        return torch.stack(preds, 1) if self.outputs == "stacked" else tuple(preds)


# ---------------------------------------------------------------- weights and export

@torch.no_grad()
def calibrate(model: nn.Module, shape, seed: int, scale: float, batches: int = 3):
    """Random weights, then BatchNorm running statistics from noise images (train-mode passes, no
    gradient step): every layer's activations get unit-ish range, so outputs differ between joints and
    images instead of collapsing to a constant."""
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)
    model.train()
    for _ in range(batches):
        model(torch.rand(*shape) * scale)
    return model.eval()


def build(kind: str, args) -> tuple[nn.Module, tuple, list[str], list[str]]:
    torch.manual_seed(args.seed)
    if kind == "regression":
        m = KerasIoKeypointRegressor(args.joints)
        shape, scale, inputs, outputs = (1, 224, 224, 3), 255.0, ["image"], ["keypoints"]
    elif kind == "grid":
        m = GridDetector(args.classes, args.variant)
        shape, scale, inputs, outputs = (1, args.height, args.width, 3), 1.0, ["image"], ["grid"]
    else:
        m = StackedHourglass(args.stacks, args.features, args.joints, outputs=args.outputs)
        shape, scale, inputs = (1, 3, 256, 256), 1.0, ["image"]
        outputs = ["heatmaps"] if args.outputs == "stacked" else [f"heatmaps_stack{i}" for i in range(args.stacks)]
    calib = (4,) + shape[1:] if kind != "hourglass" else (2,) + shape[1:]
    return calibrate(m, calib, args.seed, scale), shape, inputs, outputs


def export(model: nn.Module, shape, path: str, inputs, outputs):
    """TorchScript-based exporter (`dynamo=False`): needs no onnxscript, gives plain opset-13 ops."""
    import warnings
    x = torch.rand(*shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (x,), path, input_names=inputs, output_names=outputs, opset_version=13,
                          dynamo=False, do_constant_folding=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["regression", "grid", "hourglass"])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--joints", type=int, help="default: 24 (regression), 16 (hourglass)")
    ap.add_argument("--classes", type=int, default=3, help="grid: point classes")
    ap.add_argument("--variant", choices=["a", "b"], default="a", help="grid: output layout (see above)")
    ap.add_argument("--width", type=int, default=1920, help="grid: input width")
    ap.add_argument("--height", type=int, default=320, help="grid: input height")
    ap.add_argument("--stacks", type=int, default=2, help="hourglass: stacks")
    ap.add_argument("--features", type=int, default=256, help="hourglass: channels")
    ap.add_argument("--outputs", choices=["stacked", "per-stack"], default="stacked", help="hourglass outputs")
    ap.add_argument("--threads", type=int, default=1, help="PyTorch threads (1: fast on a shared machine)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.joints is None:
        args.joints = STANFORD_EXTRA_JOINTS if args.kind == "regression" else MPII_JOINTS
    model, shape, inputs, outputs = build(args.kind, args)
    export(model, shape, args.out, inputs, outputs)
    print(f"{args.kind}: {args.out} input {list(shape)} outputs {outputs}")


if __name__ == "__main__":
    main()
