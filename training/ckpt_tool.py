#!/usr/bin/env python3
"""Checkpoint helpers.
  ckpt_tool.py slim IN OUT    weights-only copy (drops the Adam state: 53 MB -> 18 MB), still loadable by
                              evaluate.py / export_models.py and resumable by train.py (Adam starts afresh)
  ckpt_tool.py keep IN OUT    weights-only copy in float16 (~9 MB): the file committed under
                              training/checkpoints/ so that training survives a new machine
                              (`train.py --init-from OUT` continues from it; loading casts back to float32)
  ckpt_tool.py info IN        run, step, device, data, training minutes, history
"""
import sys

import torch


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else None
    if cmd not in ("slim", "keep", "info") or len(sys.argv) != (3 if cmd == "info" else 4):
        raise SystemExit(__doc__)
    ck = torch.load(sys.argv[2], map_location="cpu", weights_only=False)
    if cmd == "info":
        print({k: v for k, v in ck.items() if k not in ("model", "opt")})
        return
    ck.pop("opt", None)
    if cmd == "keep":
        ck["model"] = {k: v.half() if v.is_floating_point() else v for k, v in ck["model"].items()}
    torch.save(ck, sys.argv[3])
    print(f"{sys.argv[3]}: step {ck['step']}, weights only" + (", float16" if cmd == "keep" else ""))


if __name__ == "__main__":
    main()
