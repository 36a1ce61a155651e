"""Compare an exported (Q)ONNX file with the PyTorch model."""
from __future__ import annotations

import numpy as np
import torch


def torch_heatmaps(model, image_nhwc: np.ndarray) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return model.forward_nhwc(torch.from_numpy(image_nhwc)).numpy()


def qonnx_heatmaps(path: str, image_nhwc: np.ndarray) -> np.ndarray:
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes
    mw = ModelWrapper(path).transform(InferShapes())
    return execute_onnx(mw, {"image": image_nhwc})["heatmaps"]


def ort_heatmaps(path: str, image_nhwc: np.ndarray) -> np.ndarray:
    import onnxruntime as ort
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return s.run(["heatmaps"], {"image": image_nhwc})[0]
