"""Export LmSinglePose (PyTorch) to ONNX / QONNX with the onnx helper API.

Graph contract (see training/README.md):
  input  `image`    float32 [1, H, W, 3] NHWC, RGB 0..1
  output `heatmaps` float32 [1, H/s, W/s, J] NHWC
Inside: Transpose to NCHW, per block Conv(no bias) -> BatchNormalization -> activation,
SpaceToDepth(blocksize 2), Resize(nearest, asymmetric, floor, scales [1,1,2,2]) + Concat([up, lateral]),
conv_final -> BatchNormalization -> Transpose to NHWC.
Quantised: activation = Quant(x, 2/3, 0, 2) signed=0 narrow=0 rounding_mode=HALF_UP;
binary conv weights = BipolarQuant(sign(W) as +-1 float32, alpha[C_out,1,1,1]).
Float: activation = Relu.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .model import ACT_SCALE, LmSinglePose, binary_weight

QONNX_DOMAIN = "qonnx.custom_op.general"
OPSET = 13
IR_VERSION = 8


def _np(t):
    return t.detach().cpu().numpy().astype(np.float32)


def export_onnx(model: LmSinglePose, path: str, height: int = 160, width: int = 160,
                doc: str = "") -> onnx.ModelProto:
    model = model.eval()
    q = model.quantize
    nodes, inits = [], []

    def init(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    if q:
        init("act_scale", np.array(ACT_SCALE, dtype=np.float32))
        init("act_zeropt", np.array(0.0, dtype=np.float32))
        init("act_bitwidth", np.array(2.0, dtype=np.float32))
    init("resize_scales", np.array([1.0, 1.0, 2.0, 2.0], dtype=np.float32))

    def block(name, x):
        b = getattr(model, name)
        w = b.conv.weight
        if b.quant_weights:
            _, alpha, sgn = binary_weight(w)
            # sign(W) as +-1 floats: BipolarQuant(sign(W), alpha) == BipolarQuant(W, alpha) exactly,
            # and the file stays small and compressible.
            init(f"{name}/W", _np(sgn))
            init(f"{name}/alpha", _np(alpha))
            nodes.append(helper.make_node("BipolarQuant", [f"{name}/W", f"{name}/alpha"], [f"{name}/Wq"],
                                          name=f"{name}/BipolarQuant", domain=QONNX_DOMAIN))
            wname = f"{name}/Wq"
        else:
            wname = init(f"{name}/W", _np(w))
        k = b.k
        nodes.append(helper.make_node("Conv", [x, wname], [f"{name}/conv"], name=f"{name}/Conv",
                                      kernel_shape=[k, k], pads=[k // 2] * 4, strides=[1, 1],
                                      dilations=[1, 1], group=1))
        bn = b.bn
        init(f"{name}/bn/gamma", _np(bn.weight))
        init(f"{name}/bn/beta", _np(bn.bias))
        init(f"{name}/bn/mean", _np(bn.running_mean))
        init(f"{name}/bn/var", _np(bn.running_var))
        nodes.append(helper.make_node(
            "BatchNormalization",
            [f"{name}/conv", f"{name}/bn/gamma", f"{name}/bn/beta", f"{name}/bn/mean", f"{name}/bn/var"],
            [f"{name}/bn"], name=f"{name}/BatchNormalization", epsilon=float(bn.eps)))
        if b.act_kind == "quant":
            nodes.append(helper.make_node("Quant", [f"{name}/bn", "act_scale", "act_zeropt", "act_bitwidth"],
                                          [f"{name}/out"], name=f"{name}/Quant", domain=QONNX_DOMAIN,
                                          signed=0, narrow=0, rounding_mode="HALF_UP"))
            return f"{name}/out"
        if b.act_kind == "relu":
            nodes.append(helper.make_node("Relu", [f"{name}/bn"], [f"{name}/out"], name=f"{name}/Relu"))
            return f"{name}/out"
        return f"{name}/bn"

    def s2d(i, x):
        nodes.append(helper.make_node("SpaceToDepth", [x], [f"space2depth{i}"], name=f"space2depth{i}",
                                      blocksize=2))
        return f"space2depth{i}"

    nodes.append(helper.make_node("Transpose", ["image"], ["image_nchw"], name="input_to_nchw", perm=[0, 3, 1, 2]))
    x = block("conv1", "image_nchw")
    x = s2d(1, x)
    x = block("conv3", block("conv2", x))
    lat = {"c1": block("c1", x)}
    x = s2d(2, x)
    for n in ("conv4", "conv5", "conv6"):
        x = block(n, x)
    lat["c2"] = block("c2", x)
    x = s2d(3, x)
    for n in ("conv7", "conv8", "conv9"):
        x = block(n, x)
    lat["c3"] = block("c3", x)
    x = s2d(4, x)
    for n in ("conv10", "conv11", "conv12"):
        x = block(n, x)
    lat["c4"] = block("c4", x)
    x = s2d(5, x)
    for i in range(13, 18):
        x = block(f"conv{i}", x)
    x = block("c5", x)
    for name, lname in model.connects:
        nodes.append(helper.make_node("Resize", [x, "", "resize_scales"], [f"{name}/up"], name=f"{name}/Resize",
                                      mode="nearest", coordinate_transformation_mode="asymmetric",
                                      nearest_mode="floor"))
        nodes.append(helper.make_node("Concat", [f"{name}/up", lat[lname]], [f"{name}/concat"],
                                      name=f"{name}/Concat", axis=1))
        x = block(name, f"{name}/concat")
    x = block("conv_final", x)
    nodes.append(helper.make_node("Transpose", [x], ["heatmaps"], name="output_to_nhwc", perm=[0, 2, 3, 1]))

    s = model.stride
    inp = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, height, width, 3])
    out = helper.make_tensor_value_info("heatmaps", TensorProto.FLOAT,
                                        [1, height // s, width // s, model.num_joints])
    gname = "LmSinglePoseV1Quantize" if q else "LmSinglePoseV1"
    graph = helper.make_graph(nodes, gname, [inp], [out], initializer=inits)
    opsets = [helper.make_opsetid("", OPSET)]
    if q:
        opsets.append(helper.make_opsetid(QONNX_DOMAIN, 1))
    m = helper.make_model(graph, opset_imports=opsets, producer_name="lm-training", producer_version="1")
    m.ir_version = IR_VERSION
    if doc:
        m.doc_string = doc
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return m


def write_meta(path: str, model_file: str, height: int = 160, width: int = 160, stride: int = 8,
               num_joints: int = 17, confidence_threshold: float = 0.1, subpixel: bool = False):
    """Blueoil-format meta.yaml plus MODEL.file (relative to the yaml); `subpixel` adds lm's opt-in quarter-cell
    refinement to GaussianHeatmapToJoints (Blueoil's runtime has no such field)."""
    refine = "    subpixel: true\n" if subpixel else ""
    text = f"""CLASSES:
- person
DATA_FORMAT: NHWC
IMAGE_SIZE:
- {height}
- {width}
POST_PROCESSOR:
- GaussianHeatmapToJoints:
    confidence_threshold: {confidence_threshold:g}
    num_dimensions: 2
    stride: {stride}
{refine}PRE_PROCESSOR:
- ResizeWithJoints:
    image_size:
    - {height}
    - {width}
    resample: NEAREST
- JointsToGaussianHeatmap:
    image_size:
    - {height}
    - {width}
    num_joints: {num_joints}
    sigma: 2
    stride: {stride}
- DivideBy255: null
TASK: IMAGE.KEYPOINT_DETECTION
MODEL:
  file: {model_file}
"""
    with open(path, "w") as f:
        f.write(text)
