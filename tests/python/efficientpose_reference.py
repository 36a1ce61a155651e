#!/usr/bin/env python3
"""Prints onnxruntime's per-joint argmax (network pixels, 368×368) of
../shared/models/efficientpose_mpii16.onnx on tests/images/astronaut.png,
pre-processed as meta/efficientpose_mpii16.yaml says (bilinear resize,
x/127.5 - 1). tests/integration/shared_models.rs compares the runtime with these numbers.
Needs pillow besides tests/python/requirements.txt."""
import os

import numpy as np
import onnxruntime as ort
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sess = ort.InferenceSession(
    os.path.join(ROOT, "..", "shared", "models", "efficientpose_mpii16.onnx"), providers=["CPUExecutionProvider"]
)
img = Image.open(os.path.join(ROOT, "tests", "images", "astronaut.png")).convert("RGB").resize((368, 368), Image.BILINEAR)
x = np.asarray(img).astype(np.float32) / 127.5 - 1.0
out = sess.run(None, {sess.get_inputs()[0].name: x[None]})[0][0]
for j in range(out.shape[-1]):
    h = out[..., j]
    y, xx = np.unravel_index(np.argmax(h), h.shape)
    print(f"joint {j:2d}: x {xx:3d} y {y:3d} peak {h.max():.3f}")
