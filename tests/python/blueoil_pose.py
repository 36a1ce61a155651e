#!/usr/bin/env python3
"""A Blueoil-style LmSinglePoseV1Quantize `minimal_graph_with_shape.pb`, and
TensorFlow's own run of it, for the peer check tests/python/check_blueoil_pose.sh.

Blueoil's export (`blueoil convert`: a frozen tf.compat.v1 GraphDef, NHWC,
weights as Const -> Identity "read", the quantisers as tf.Defun calls from the
graph's function library) is rebuilt here from the shipped model's weights:

  dump    MODEL.onnx OUT.npz          (the peers' .venv: needs onnx) the QONNX
          graph's nodes (JSON) and initializers;
  make    OUT.npz GRAPH.pb [--old-rounding]   (the TF venv, tests/python/tf_setup.sh)
          walks those nodes and writes the TF graph: Conv2D (SAME) with
          BinaryChannelWiseMeanScalingQuantizer kernels (Blueoil v0.30's body:
          sign(x) * reduce_mean(|x|, axis=[0, 1, 2])) where the QONNX file has
          BipolarQuant, float kernels for conv1 / conv_final, FusedBatchNormV3,
          LinearMidTreadHalfQuantizer (v0.22+: floor(x * n + 0.5)) or, with
          --old-rounding, QTZ_linear_mid_tread_half (<= v0.10: tf.round, half to
          even), SpaceToDepth, ResizeNearestNeighbor, ConcatV2, `output`.
          The QONNX file keeps only sign(W) and alpha, so the float kernels of
          the binarised layers are rebuilt as sign(W) * alpha * u with random
          magnitudes u (mean 1 per output channel, seeded): TF's and lm's
          channel scale mean(|W|) is then alpha up to rounding, as in a
          trained model;
  reference GRAPH.pb INPUTS.npz OUT.npz  (TF venv) runs the graph in a
          tf.compat.v1 Session on each input ([160, 160, 3] float32) and saves
          the heatmaps under the same names.
"""
import argparse
import json
import sys

import numpy as np

SIZE = 160


def dump(args):
    import onnx
    from onnx import numpy_helper

    m = onnx.load(args.model)
    nodes = []
    for n in m.graph.node:
        attrs = {}
        for a in n.attribute:
            v = onnx.helper.get_attribute_value(a)
            attrs[a.name] = v.decode() if isinstance(v, bytes) else (list(v) if not np.isscalar(v) else v)
        nodes.append({"op": n.op_type, "name": n.name, "inputs": list(n.input), "outputs": list(n.output),
                      "attrs": attrs})
    arrays = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    arrays["__graph__"] = np.frombuffer(json.dumps({"nodes": nodes, "input": m.graph.input[0].name,
                                                    "output": m.graph.output[0].name}).encode(), np.uint8)
    np.savez(args.out, **arrays)
    print(f"{args.model}: {len(nodes)} nodes, {len(arrays) - 1} initializers -> {args.out}")


def quantizers(old_rounding):
    import tensorflow as tf
    from tensorflow.python.framework.function import Defun

    def shape_func(op):
        return [op.inputs[0].get_shape()]

    # blueoil/quantizations/binary.py (v0.30).
    @Defun(tf.float32, shape_func=shape_func, func_name="BinaryChannelWiseMeanScalingQuantizer")
    def binary_channel_wise(x):
        scaling_factor = tf.reduce_mean(tf.abs(x), axis=[0, 1, 2])
        return tf.sign(x) * scaling_factor

    # blueoil/quantizations/linear.py: v0.22+ (floor(x * n + 0.5)) or <= v0.10 (tf.round).
    name = "QTZ_linear_mid_tread_half" if old_rounding else "LinearMidTreadHalfQuantizer"

    @Defun(tf.float32, tf.int32, tf.float32, shape_func=shape_func, func_name=name)
    def linear(x, bit, max_value):
        min_value = 0
        n = tf.pow(2.0, tf.cast(bit, tf.float32)) - 1
        value_range = max_value - min_value
        x = tf.clip_by_value(x, min_value, max_value, name="clip")
        shifted = (x - min_value) / value_range
        if old_rounding:
            quantized = tf.round(shifted * n) / n
        else:
            quantized = tf.floor(shifted * n + 0.5) / n
        return quantized * value_range + min_value

    return binary_channel_wise, linear


def make(args):
    import tensorflow as tf

    tf1 = tf.compat.v1
    tf1.disable_eager_execution()
    z = np.load(args.npz)
    g = json.loads(bytes(z["__graph__"]).decode())
    rng = np.random.default_rng(14)
    graph = tf1.Graph()
    with graph.as_default():
        binary, linear = quantizers(args.old_rounding)
        x_in = tf1.placeholder(tf.float32, [1, SIZE, SIZE, 3], name="images_placeholder")
        t = {g["input"]: x_in}
        kernels = {}

        def const(name, value):
            return tf.identity(tf.constant(value, name=name), name=name + "/read")

        for n in g["nodes"]:
            op, ins, out, a = n["op"], n["inputs"], n["outputs"][0], n["attrs"]
            block = n["name"].split("/")[0]
            if op == "Transpose" and a["perm"] == [0, 3, 1, 2]:
                t[out] = t[ins[0]]  # TF stays NHWC
            elif op == "Transpose" and a["perm"] == [0, 2, 3, 1]:
                t[out] = tf.identity(t[ins[0]], name="output")
            elif op == "BipolarQuant":
                sign, alpha = z[ins[0]], z[ins[1]].reshape(-1)
                hwio = np.where(sign.transpose(2, 3, 1, 0) >= 0, 1.0, -1.0).astype(np.float32)
                u = rng.uniform(0.5, 1.5, hwio.shape).astype(np.float32)
                u /= u.mean(axis=(0, 1, 2), keepdims=True)
                w = (hwio * alpha * u).astype(np.float32)
                with tf1.name_scope(f"{block}/conv2d/kernel_1"):
                    kernels[out] = binary(const(f"{block}/conv2d/kernel", w))
            elif op == "Conv":
                assert a["pads"] == [a["kernel_shape"][0] // 2] * 4 and a.get("strides", [1, 1]) == [1, 1], n
                w = kernels[ins[1]] if ins[1] in kernels else const(f"{block}/conv2d/kernel",
                                                                  z[ins[1]].transpose(2, 3, 1, 0))
                t[out] = tf.nn.conv2d(t[ins[0]], w, strides=[1, 1, 1, 1], padding="SAME",
                                      name=f"{block}/conv2d/Conv2D")
            elif op == "BatchNormalization":
                p = [const(f"{block}/BatchNorm/{k}", z[i].astype(np.float32))
                     for k, i in zip(["gamma", "beta", "moving_mean", "moving_variance"], ins[1:])]
                t[out], _, _ = tf1.nn.fused_batch_norm(t[ins[0]], *p, epsilon=a["epsilon"], is_training=False,
                                                       name=f"{block}/BatchNorm/FusedBatchNormV3")
            elif op == "Quant":
                scale, bits = float(z[ins[1]]), int(z[ins[3]])
                max_value = round(scale * (2 ** bits - 1), 6)
                assert np.float32(max_value) / np.float32(2 ** bits - 1) == np.float32(scale), n
                with tf1.name_scope(block):
                    t[out] = linear(t[ins[0]], tf.constant(bits, tf.int32), tf.constant(max_value, tf.float32))
            elif op == "SpaceToDepth":
                t[out] = tf1.space_to_depth(t[ins[0]], a["blocksize"], name=n["name"])
            elif op == "Resize":
                s = z[ins[2]]
                h, w_ = t[ins[0]].shape[1], t[ins[0]].shape[2]
                t[out] = tf1.image.resize_nearest_neighbor(t[ins[0]], [int(h * s[2]), int(w_ * s[3])],
                                                           name=f"{block}/resize")
            elif op == "Concat":
                assert a["axis"] == 1, n
                t[out] = tf.concat([t[i] for i in ins], axis=-1, name=f"{block}/concat")
            else:
                raise SystemExit(f"{n['name']}: {op} is not mapped")
        # Blueoil's export keeps what `output` depends on (convert_variables_to_constants(...,
        # ["output"])): the lateral blocks a stride-8 network does not use (c1, c2) go.
        graph_def = tf1.graph_util.extract_sub_graph(graph.as_graph_def(add_shapes=True), ["output"])
    with open(args.pb, "wb") as f:
        f.write(graph_def.SerializeToString())
    ops = {}
    for node in graph_def.node:
        ops[node.op] = ops.get(node.op, 0) + 1
    print(f"{args.pb}: {len(graph_def.node)} nodes {dict(sorted(ops.items()))}, "
          f"library {[f.signature.name for f in graph_def.library.function]}")


def reference(args):
    import tensorflow as tf

    tf1 = tf.compat.v1
    tf1.disable_eager_execution()
    gd = tf1.GraphDef()
    with open(args.pb, "rb") as f:
        gd.ParseFromString(f.read())
    graph = tf1.Graph()
    with graph.as_default():
        tf1.import_graph_def(gd, name="")
    out = {}
    with tf1.Session(graph=graph) as sess:
        for name, x in np.load(args.inputs).items():
            out[name] = sess.run("output:0", {"images_placeholder:0": x[None]})[0]
    np.savez(args.out, **out)
    print(f"TensorFlow {tf.__version__}: {len(out)} images -> {args.out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("model")
    d.add_argument("out")
    m = sub.add_parser("make")
    m.add_argument("npz")
    m.add_argument("pb")
    m.add_argument("--old-rounding", action="store_true")
    r = sub.add_parser("reference")
    r.add_argument("pb")
    r.add_argument("inputs")
    r.add_argument("out")
    args = ap.parse_args()
    {"dump": dump, "make": make, "reference": reference}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
