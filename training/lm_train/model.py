"""LmSinglePoseV1 / LmSinglePoseV1Quantize (Blueoil) in PyTorch.

Every block: conv (stride 1, SAME padding, no bias) -> BatchNorm -> activation.
Float model: ReLU (Blueoil's LmSinglePoseV1 uses tf.nn.relu).
Quantised model: 2-bit linear mid-tread half quantiser (max 2) on every block output but conv_final,
binary channel-wise mean-scaled weights on every conv but conv1 and conv_final.

The quantisers reproduce exactly what the QONNX executor computes for
  Quant(x, scale=2/3, zeropt=0, bitwidth=2, signed=0, narrow=0, rounding_mode=HALF_UP)
  BipolarQuant(W, alpha[C_out,1,1,1])
(same float32 operations in the same order: y = x / scale; clip to [0, 3]; floor(y + 0.5); y * scale).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ACT_SCALE = np.float32(2.0 / 3.0)  # 2-bit, max value 2: levels {0, 2/3, 4/3, 2}
ACT_BITS = 2
ACT_MAX_LEVEL = 3
BN_EPS = 1e-3  # tf.contrib.layers.batch_norm default, as in Blueoil's lmnet_block
BN_MOMENTUM = 0.01  # Blueoil decay 0.99

NUM_JOINTS = 17

# name, kernel, out channels (full model)
FULL_WIDTHS = {
    "conv1": 32, "conv2": 32, "conv3": 32, "c1": 32,
    "conv4": 32, "conv5": 32, "conv6": 32, "c2": 32,
    "conv7": 64, "conv8": 64, "conv9": 64, "c3": 32,
    "conv10": 128, "conv11": 128, "conv12": 128, "c4": 32,
    "conv13": 256, "conv14": 256, "conv15": 256, "conv16": 256, "conv17": 256, "c5": 32,
}
TINY_WIDTHS = {k: min(v, 32) for k, v in FULL_WIDTHS.items()}


class ActQuantFn(torch.autograd.Function):
    """Blueoil linear_mid_tread_half_quantizer(bit=2, max_value=2), QONNX HALF_UP semantics.

    Forward: q = floor(clip(x / s, 0, 3) + 0.5); y = q * s with s = float32(2/3).
    Backward: straight-through where 0 < x < 2 (Blueoil), zero elsewhere.
    """

    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        y = torch.clamp(x / scale, 0.0, float(ACT_MAX_LEVEL))
        y = torch.floor(y + 0.5)  # HALF_UP for y >= 0 (ties round up)
        return y * scale

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        mask = (x > 0) & (x < 2.0)
        return g * mask.to(g.dtype), None


class ActQuant(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("scale", torch.tensor(ACT_SCALE, dtype=torch.float32), persistent=False)

    def forward(self, x):
        return ActQuantFn.apply(x, self.scale.to(x.dtype))


def binary_weight(w: torch.Tensor):
    """Binary channel-wise mean scaling: alpha_o = mean |W[o]|, Wq = alpha * sign(W), sign(0) = +1.

    Returns (Wq with straight-through gradient, alpha [C_out,1,1,1], sign(W) as +-1 floats).
    """
    alpha = w.detach().abs().mean(dim=(1, 2, 3), keepdim=True)
    sgn = torch.where(w.detach() >= 0, torch.ones_like(w), -torch.ones_like(w))
    wq = sgn * alpha
    return w + (wq - w).detach(), alpha, sgn


def space_to_depth(x: torch.Tensor, bs: int = 2) -> torch.Tensor:
    """ONNX SpaceToDepth / tf.space_to_depth channel order (NCHW tensor)."""
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // bs, bs, w // bs, bs)
    x = x.permute(0, 3, 5, 1, 2, 4)
    return x.reshape(n, c * bs * bs, h // bs, w // bs)


class Block(nn.Module):
    def __init__(self, cin, cout, k, quant_weights: bool, act: str | None):
        super().__init__()
        self.k = k
        self.quant_weights = quant_weights
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_in", nonlinearity="relu")
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act_kind = act
        if act == "quant":
            self.act = ActQuant()
        elif act == "relu":
            self.act = nn.ReLU()
        else:
            self.act = nn.Identity()

    def weight_for_forward(self):
        if self.quant_weights:
            return binary_weight(self.conv.weight)[0]
        return self.conv.weight

    def forward(self, x):
        x = F.conv2d(x, self.weight_for_forward(), None, 1, self.k // 2)
        return self.act(self.bn(x))


class LmSinglePose(nn.Module):
    """quantize=False: LmSinglePoseV1; quantize=True: LmSinglePoseV1Quantize. Input NCHW float 0..1."""

    def __init__(self, quantize: bool = True, stride: int = 8, widths: dict | None = None,
                 num_joints: int = NUM_JOINTS):
        super().__init__()
        if stride not in (2, 4, 8, 16):
            raise ValueError("stride must be 2, 4, 8 or 16")
        self.quantize = quantize
        self.stride = stride
        self.widths = dict(widths or FULL_WIDTHS)
        self.num_joints = num_joints
        act = "quant" if quantize else "relu"
        wd = self.widths
        # (name, cin, k); the spec order of the graph
        self.block_specs = []

        def add(name, cin, cout, k, qw=quantize, a=act):
            setattr(self, name, Block(cin, cout, k, qw, a))
            self.block_specs.append(name)

        add("conv1", 3, wd["conv1"], 1, qw=False)
        add("conv2", 4 * wd["conv1"], wd["conv2"], 3)
        add("conv3", wd["conv2"], wd["conv3"], 3)
        add("c1", wd["conv3"], wd["c1"], 1)
        add("conv4", 4 * wd["conv3"], wd["conv4"], 3)
        add("conv5", wd["conv4"], wd["conv5"], 3)
        add("conv6", wd["conv5"], wd["conv6"], 3)
        add("c2", wd["conv6"], wd["c2"], 1)
        add("conv7", 4 * wd["conv6"], wd["conv7"], 3)
        add("conv8", wd["conv7"], wd["conv8"], 3)
        add("conv9", wd["conv8"], wd["conv9"], 3)
        add("c3", wd["conv9"], wd["c3"], 1)
        add("conv10", 4 * wd["conv9"], wd["conv10"], 3)
        add("conv11", wd["conv10"], wd["conv11"], 3)
        add("conv12", wd["conv11"], wd["conv12"], 3)
        add("c4", wd["conv12"], wd["c4"], 1)
        add("conv13", 4 * wd["conv12"], wd["conv13"], 3)
        for i in range(14, 18):
            add(f"conv{i}", wd[f"conv{i-1}"], wd[f"conv{i}"], 3)
        add("c5", wd["conv17"], wd["c5"], 1)
        # top-down connect blocks: concat [up (32), lateral (32)] -> 3x3 -> 32
        add("connect_block1", wd["c5"] + wd["c4"], 32, 3)
        self.connects = [("connect_block1", "c4")]
        if stride < 16:
            add("connect_block2", 32 + wd["c3"], 32, 3)
            self.connects.append(("connect_block2", "c3"))
        if stride < 8:
            add("connect_block3", 32 + wd["c2"], 32, 3)
            self.connects.append(("connect_block3", "c2"))
        if stride < 4:
            add("connect_block4", 32 + wd["c1"], 32, 3)
            self.connects.append(("connect_block4", "c1"))
        add("conv_final", 32, num_joints, 3, qw=False, a=None)

    def forward(self, x):
        lat = {}
        x = self.conv1(x)
        x = space_to_depth(x)
        x = self.conv3(self.conv2(x))
        lat["c1"] = self.c1(x)
        x = space_to_depth(x)
        x = self.conv6(self.conv5(self.conv4(x)))
        lat["c2"] = self.c2(x)
        x = space_to_depth(x)
        x = self.conv9(self.conv8(self.conv7(x)))
        lat["c3"] = self.c3(x)
        x = space_to_depth(x)
        x = self.conv12(self.conv11(self.conv10(x)))
        lat["c4"] = self.c4(x)
        x = space_to_depth(x)
        for i in range(13, 18):
            x = getattr(self, f"conv{i}")(x)
        x = self.c5(x)
        for name, lname in self.connects:
            up = F.interpolate(x, scale_factor=2, mode="nearest")
            x = getattr(self, name)(torch.cat([up, lat[lname]], dim=1))
        return self.conv_final(x)

    def forward_nhwc(self, image_nhwc):
        """Same contract as the ONNX graph: [N,H,W,3] 0..1 -> heatmaps [N,H/s,W/s,J]."""
        return self.forward(image_nhwc.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


def randomize_bn(model: LmSinglePose, seed: int = 0):
    """Random BatchNorm statistics with some negative gammas and some gammas near 0 (fixtures/tests)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name in model.block_specs:
            bn = getattr(model, name).bn
            c = bn.num_features
            gamma = 0.5 + torch.rand(c, generator=g)
            sign = torch.where(torch.rand(c, generator=g) < 0.25, -1.0, 1.0)
            gamma = gamma * sign
            near0 = torch.rand(c, generator=g) < 0.1
            gamma[near0] = (torch.rand(int(near0.sum()), generator=g) - 0.5) * 1e-3
            bn.weight.copy_(gamma)
            bn.bias.copy_(torch.randn(c, generator=g) * 0.5 + 0.6)
            bn.running_mean.copy_(torch.randn(c, generator=g) * 0.5)
            bn.running_var.copy_(0.5 + torch.rand(c, generator=g) * 2.0)
