"""Load an exported LmSinglePose ONNX / QONNX file (models/*.onnx, written by export.py) back into the
PyTorch model, so that training can start from the shipped weights (they live in the repo; a new
machine's ~/.cache is empty) and evaluate.py can score the shipped files.

Inverse of export.py: `<b>/W` -> conv weight (for quantised blocks `<b>/W` is sign(W) and `<b>/alpha`
its per-channel scale: the conv weight becomes alpha * sign(W), whose binary_weight is the same
alpha * sign(W)), `<b>/bn/{gamma,beta,mean,var}` -> BatchNorm. Quantised or not and the stride are read
from the graph; widths from the initialiser shapes.
"""
from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from .model import FULL_WIDTHS, LmSinglePose


def model_from_onnx(path: str) -> LmSinglePose:
    g = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t) for t in g.graph.initializer}
    quant = any(n.op_type == "BipolarQuant" for n in g.graph.node)

    def dims(v):
        return [d.dim_value for d in v.type.tensor_type.shape.dim]

    (inp,), (out,) = g.graph.input[:1], g.graph.output[:1]
    h_in, h_out = dims(inp)[1], dims(out)[1]
    if h_in <= 0 or h_out <= 0 or h_in % h_out:
        raise ValueError(f"{path}: input {dims(inp)} / output {dims(out)}: no integer stride")
    stride = h_in // h_out
    widths = {}
    for k in FULL_WIDTHS:
        w = inits.get(f"{k}/W")
        if w is None:
            raise ValueError(f"{path}: initialiser {k}/W missing (not an LmSinglePose export)")
        widths[k] = int(w.shape[0])
    model = LmSinglePose(quantize=quant, stride=stride, widths=widths, num_joints=int(inits["conv_final/W"].shape[0]))
    with torch.no_grad():
        for name in model.block_specs:
            b = getattr(model, name)
            for key in (f"{name}/W", f"{name}/bn/gamma", f"{name}/bn/beta", f"{name}/bn/mean", f"{name}/bn/var"):
                if key not in inits:
                    raise ValueError(f"{path}: initialiser {key} missing")
            w = inits[f"{name}/W"].astype(np.float32)
            if b.quant_weights:
                alpha = inits.get(f"{name}/alpha")
                if alpha is None:
                    raise ValueError(f"{path}: {name} is quantised but {name}/alpha is missing")
                w = np.where(w >= 0, 1.0, -1.0).astype(np.float32) * alpha.astype(np.float32)
            if tuple(w.shape) != tuple(b.conv.weight.shape):
                raise ValueError(f"{path}: {name}/W has shape {w.shape}, the model expects "
                                 f"{tuple(b.conv.weight.shape)}")
            b.conv.weight.copy_(torch.from_numpy(w))
            b.bn.weight.copy_(torch.from_numpy(inits[f"{name}/bn/gamma"].astype(np.float32)))
            b.bn.bias.copy_(torch.from_numpy(inits[f"{name}/bn/beta"].astype(np.float32)))
            b.bn.running_mean.copy_(torch.from_numpy(inits[f"{name}/bn/mean"].astype(np.float32)))
            b.bn.running_var.copy_(torch.from_numpy(inits[f"{name}/bn/var"].astype(np.float32)))
    return model.eval()
