"""Smoke test on ../shared (skipped without it): the COCO reader on the mmpose test copy of COCO
(../shared/people/eval/mmpose_tests/coco: evaluation data, never training data for the shipped model;
this only checks the reader, the pack and a couple of training steps with a resume)."""
import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)
from lm_train import coco as C  # noqa: E402
from lm_train import pack as P  # noqa: E402

COCO = os.path.join(HERE, "..", "..", "shared", "people", "eval", "mmpose_tests", "coco")
JSON = os.path.join(COCO, "test_coco.json")
needs_shared = pytest.mark.skipif(not os.path.exists(JSON),
                                  reason=f"{JSON} not found: ../shared is not beside this checkout")


@needs_shared
def test_mmpose_coco_reader_pack_and_two_training_steps(tmp_path):
    rows = C.read_coco(JSON, COCO)
    # 14 annotations in 4 images; 2 have num_keypoints == 0 (skipped, as COCO's keypoint eval does)
    assert len(rows) == 12 and len({r["image"] for r in rows}) == 4
    assert all(r["joints"][:, 2].sum() > 0 for r in rows)
    pack = str(tmp_path / "coco.npz")
    import pack_data
    import train
    run = [os.path.join(HERE, "pack_data.py"), "--no-people", "--coco", f"{JSON}:{COCO}", "--out", pack]
    _main(pack_data, run)
    pk = P.Pack(pack)
    assert len(pk) == 12 and set(pk["label"]) == {"gt"} and set(pk["split"]) == {"train"}
    np.testing.assert_allclose(pk.joints(0)[:, 2], rows[0]["joints"][:, 2])
    cmd = [os.path.join(HERE, "train.py"), "--cache", str(tmp_path / "cache"), "--run", "smoke",
           "--pack", pack, "--batch", "2", "--threads", "1", "--ckpt-every", "1"]
    first = _main(train, cmd + ["--steps", "2"])
    assert "stopped at step 2" in first
    loss = float(first.split("last loss ")[1].split()[0])
    assert np.isfinite(loss) and loss > 0
    again = _main(train, cmd + ["--steps", "3"])
    assert "at step 2" in again and "stopped at step 3" in again


def _main(module, argv):
    """Run a script's main() in this process (saves a PyTorch import per call); returns its stdout."""
    import contextlib
    import io
    buf, old = io.StringIO(), sys.argv
    sys.argv = argv
    try:
        with contextlib.redirect_stdout(buf):
            module.main()
    finally:
        sys.argv = old
    return buf.getvalue()
