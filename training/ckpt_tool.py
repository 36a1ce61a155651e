#!/usr/bin/env python3
"""Checkpoint helpers.
  ckpt_tool.py slim IN OUT    weights-only copy (drops the Adam state: 53 MB -> 18 MB), still loadable by
                              evaluate.py / export_models.py and resumable by train.py (Adam starts afresh)
  ckpt_tool.py info IN        run, step, device, data, training minutes, history
"""
import sys

import torch


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("slim", "info") or (sys.argv[1] == "slim" and len(sys.argv) != 4):
        raise SystemExit(__doc__)
    ck = torch.load(sys.argv[2], map_location="cpu", weights_only=False)
    if sys.argv[1] == "info":
        print({k: v for k, v in ck.items() if k not in ("model", "opt")})
        return
    ck.pop("opt", None)
    torch.save(ck, sys.argv[3])
    print(f"{sys.argv[3]}: step {ck['step']}, weights only")


if __name__ == "__main__":
    main()
