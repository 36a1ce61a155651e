#!/usr/bin/env python3
"""Regenerates the committed fixtures in a scratch folder with the current
peers (onnxruntime, qonnx executor) and checks they match the committed ones:
the reference arrays the Rust tests compare against really are what the
peers compute."""
import glob
import importlib.util
import os
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")


def main():
    spec = importlib.util.spec_from_file_location("make_fixtures", os.path.join(FIXTURES, "make_fixtures.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    failures = 0
    checked = 0
    with tempfile.TemporaryDirectory() as tmp:
        mod.HERE = tmp
        mod.colour_blocks()
        mod.float_ops()
        mod.upsample9()
        mod.quant_modes()
        for new in sorted(glob.glob(os.path.join(tmp, "*.npy"))):
            name = os.path.basename(new)
            old = os.path.join(FIXTURES, name)
            a, b = np.load(new), np.load(old)
            diff = float(np.max(np.abs(a - b))) if a.shape == b.shape else float("inf")
            ok = diff <= 1e-6
            checked += 1
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name}: max abs diff {diff:.3g}")
    print(f"{checked - failures} passed, {failures} failed")
    return 1 if failures or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
