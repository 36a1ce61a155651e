"""Export checks (fast, no ../shared, no teacher): the qonnx executor must reproduce PyTorch exactly
(max abs diff <= 1e-4 on the heatmaps), onnxruntime must run the float export, and the quantiser must
round ties up exactly like QONNX's HALF_UP."""
import os
import sys

import numpy as np
import onnx
import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lm_train.export import QONNX_DOMAIN, export_onnx, write_meta  # noqa: E402
from lm_train.model import ACT_SCALE, TINY_WIDTHS, ActQuant, LmSinglePose, randomize_bn, space_to_depth  # noqa: E402
from lm_train.verify import ort_heatmaps, qonnx_heatmaps, torch_heatmaps  # noqa: E402
from make_fixture import fixture_input  # noqa: E402


def _model(quantize, seed, stride=8, widths=TINY_WIDTHS):
    torch.manual_seed(seed)
    m = LmSinglePose(quantize=quantize, stride=stride, widths=widths)
    randomize_bn(m, seed)
    return m.eval()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quantized_export_matches_torch(tmp_path, seed):
    m = _model(True, seed)
    p = str(tmp_path / "q.onnx")
    export_onnx(m, p, 64, 64)
    x = np.random.default_rng(seed).random((1, 64, 64, 3), dtype=np.float32)
    ref, got = torch_heatmaps(m, x), qonnx_heatmaps(p, x)
    assert got.shape == (1, 8, 8, 17)
    assert np.abs(ref - got).max() <= 1e-4


@pytest.mark.parametrize("stride,size", [(4, 64), (16, 96)])
def test_other_strides_and_sizes(tmp_path, stride, size):
    m = _model(True, 3, stride=stride)
    p = str(tmp_path / "q.onnx")
    export_onnx(m, p, size, size)
    x = np.random.default_rng(3).random((1, size, size, 3), dtype=np.float32)
    got = qonnx_heatmaps(p, x)
    assert got.shape == (1, size // stride, size // stride, 17)
    assert np.abs(torch_heatmaps(m, x) - got).max() <= 1e-4


def test_float_export_runs_in_onnxruntime(tmp_path):
    m = _model(False, 0)
    p = str(tmp_path / "f.onnx")
    export_onnx(m, p, 64, 64)
    x = fixture_input()
    assert np.abs(torch_heatmaps(m, x) - ort_heatmaps(p, x)).max() <= 1e-4


def test_graph_contract(tmp_path):
    p = str(tmp_path / "q.onnx")
    export_onnx(_model(True, 0), p, 64, 64)
    g = onnx.load(p)
    assert g.ir_version == 8
    assert {(o.domain, o.version) for o in g.opset_import} == {("", 13), (QONNX_DOMAIN, 1)}
    assert [i.name for i in g.graph.input] == ["image"] and [o.name for o in g.graph.output] == ["heatmaps"]
    ops = [n.op_type for n in g.graph.node]
    convs = ops.count("Conv")
    assert ops.count("BatchNormalization") == convs
    assert ops.count("Quant") == convs - 1            # every block but conv_final
    assert ops.count("BipolarQuant") == convs - 2     # every conv but conv1 and conv_final
    assert ops.count("SpaceToDepth") == 5 and ops.count("Resize") == 2 and ops.count("Concat") == 2
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in g.graph.initializer}
    for n in g.graph.node:
        if n.op_type == "Quant":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            assert attrs == {"signed": 0, "narrow": 0, "rounding_mode": b"HALF_UP"}
            assert inits[n.input[1]] == np.float32(2 / 3) and inits[n.input[2]] == 0 and inits[n.input[3]] == 2
        if n.op_type == "BipolarQuant":
            w, s = inits[n.input[0]], inits[n.input[1]]
            assert s.shape == (w.shape[0], 1, 1, 1) and set(np.unique(w)) <= {-1.0, 1.0}
        if n.op_type == "Resize":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            assert attrs == {"mode": b"nearest", "coordinate_transformation_mode": b"asymmetric",
                             "nearest_mode": b"floor"}


def test_ties_round_half_up_like_qonnx():
    from qonnx.custom_op.general.quant import quant
    s = np.float32(ACT_SCALE)
    # inputs whose x / s is exactly k + 0.5, plus neighbours, negatives and values above the clip
    levels = np.array([0.5, 1.5, 2.5], np.float32)
    ties = levels * s
    ties = ties[(ties / s) == levels]
    assert len(ties) > 0
    x = np.concatenate([ties, np.nextafter(ties, 0), np.nextafter(ties, 10),
                        np.array([-1.0, -0.2, 0.0, 0.1, 1.9, 2.0, 2.1, 5.0], np.float32)]).astype(np.float32)
    ref = quant(x, s, np.float32(0), np.float32(2), 0, 0, "HALF_UP")
    got = ActQuant()(torch.from_numpy(x)).numpy()
    assert np.array_equal(ref.astype(np.float32), got)
    assert np.array_equal(np.round(got[: len(ties)] / s), levels[: len(ties)] + 0.5)  # ties went up


def test_space_to_depth_matches_onnx_order():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    n, c, h, w = x.shape
    ref = x.numpy().reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 3, 5, 1, 2, 4).reshape(n, c * 4, h // 2, w // 2)
    assert np.array_equal(space_to_depth(x).numpy(), ref)


def test_meta_yaml(tmp_path):
    p = tmp_path / "m.yaml"
    write_meta(str(p), "../models/x.onnx", 160, 160, 8)
    t = p.read_text()
    assert "IMAGE_SIZE:\n- 160\n- 160\n" in t and "confidence_threshold: 0.1" in t
    assert t.endswith("MODEL:\n  file: ../models/x.onnx\n")
    write_meta(str(p), "../models/x.onnx", 160, 160, 8, confidence_threshold=0.2)
    assert "    confidence_threshold: 0.2\n" in p.read_text() and "subpixel" not in p.read_text()
    write_meta(str(p), "../models/x.onnx", 160, 160, 8, subpixel=True)
    assert "    stride: 8\n    subpixel: true\nPRE_PROCESSOR:" in p.read_text()


def test_shipped_fixture_is_current():
    here = os.path.dirname(os.path.abspath(__file__))
    fx = os.path.join(here, "..", "..", "tests", "fixtures", "lm_tiny_quantize.onnx")
    if not os.path.exists(fx):
        pytest.skip("tests/fixtures/lm_tiny_quantize.onnx not present")
    from make_fixture import make_tiny_model
    m = make_tiny_model(0)
    x = fixture_input()
    assert np.abs(torch_heatmaps(m, x) - qonnx_heatmaps(fx, x)).max() <= 1e-4


@pytest.mark.parametrize("stem,quant", [("lm_single_pose_v1_quantize", True), ("lm_single_pose_v1", False)])
def test_shipped_models(stem, quant):
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.join(here, "..", "..")
    p = os.path.join(root, "models", stem + ".onnx")
    if not os.path.exists(p):
        pytest.skip(f"models/{stem}.onnx not present")
    assert os.path.getsize(p) < 20e6
    meta = open(os.path.join(root, "meta", stem + ".yaml")).read()
    assert meta.endswith(f"MODEL:\n  file: ../models/{stem}.onnx\n")
    g = onnx.load(p)
    dims = [d.dim_value for d in g.graph.input[0].type.tensor_type.shape.dim]
    assert g.graph.input[0].name == "image" and dims == [1, 160, 160, 3]
    ops = {n.op_type for n in g.graph.node}
    assert ("Quant" in ops) == quant and ("BipolarQuant" in ops) == quant
    x = np.random.default_rng(0).random((1, 160, 160, 3), dtype=np.float32)
    y = qonnx_heatmaps(p, x) if quant else ort_heatmaps(p, x)
    assert y.shape == (1, 20, 20, 17) and np.isfinite(y).all()


def test_history_describes_the_whole_chain():
    from lm_train import history as H
    f = {"step": 200, "train_seconds": 600.0, "quantize": False}
    first = H.chain(f, "/c/runs/float_step200.pt")
    q = {"step": 800, "train_seconds": 1800.0, "quantize": True, "run": "quant", "history": first}
    q2 = {"step": 400, "train_seconds": 1200.0, "quantize": True, "history": H.chain(q, "/c/runs/quant/last.pt")}
    runs = H.chain(q2, "/c/runs/quant2/last.pt")
    assert [r["run"] for r in runs] == ["float_step200", "quant", "quant2"]
    d = H.describe("LmSinglePoseV1Quantize", runs)
    assert "1400 steps in 3 runs" in d and "(float_step200 200 (float), quant 800, quant2 400)" in d
    assert d.endswith("60 min CPU in all")
    # a checkpoint without history: the chain comes from the caller, else it is the run alone
    assert H.chain(q2, "/c/runs/quant2/last.pt", earlier=first)[0]["run"] == "float_step200"
    assert "400 steps in 1 run (quant2 400)" in H.describe("X", H.chain({**q2, "history": []}, "/c/runs/quant2/last.pt"))
