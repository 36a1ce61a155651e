#!/usr/bin/env python3
"""Side-by-side overlays of `lm run` for the training report: one row per meta.yaml (a model and its
post-processing), one column per picture, a caption above each row.

  training/.venv/bin/python training/make_overlays.py --lm target/release/lm \
      --row "quant5, confidence_threshold 0.25=meta/lm_single_pose_v1_quantize.yaml" \
      --image ../shared/images/astronaut.png --image ../shared/images/camera.png \
      --out training/report/overlays.jpg

The overlays are lm's own (`OUTDIR/images/<name>.png`: limbs yellow, left joints green, right blue), so
the picture shows exactly what the runtime reports. Never pass eval/ images: no eval/ picture is ever
copied into the repository.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np

CAPTION_PX = 22


def tile(path, side):
    img = cv2.imread(path)
    if img is None:
        raise SystemExit(f"{path}: cannot read the overlay lm wrote")
    h, w = img.shape[:2]
    s = side / max(h, w)
    img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    out = np.zeros((side, side, 3), np.uint8)
    out[:img.shape[0], :img.shape[1]] = img
    return out


def caption(text, width):
    bar = np.zeros((CAPTION_PX, width, 3), np.uint8)
    cv2.putText(bar, text, (4, CAPTION_PX - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return bar


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lm", default="target/release/lm", help="the lm binary")
    ap.add_argument("--row", action="append", required=True, help="CAPTION=meta.yaml (repeatable)")
    ap.add_argument("--image", action="append", required=True, help="a picture (repeatable)")
    ap.add_argument("--tile", type=int, default=320, help="side of each picture's tile in pixels")
    ap.add_argument("--out", required=True, help="output picture (.jpg or .png)")
    a = ap.parse_args()
    if any(f"{os.sep}eval{os.sep}" in os.path.abspath(p) for p in a.image):
        raise SystemExit("eval/ pictures never go into the report")
    rows = []
    for spec in a.row:
        text, meta = spec.rsplit("=", 1)
        with tempfile.TemporaryDirectory() as out:
            subprocess.run([a.lm, "run", "-i", *a.image, "-c", meta, "-o", out], check=True,
                           stdout=subprocess.DEVNULL)
            tiles = [tile(os.path.join(out, "images", os.path.splitext(os.path.basename(p))[0] + ".png"), a.tile)
                     for p in a.image]
        row = np.concatenate(tiles, axis=1)
        rows += [caption(text, row.shape[1]), row]
    cv2.imwrite(a.out, np.concatenate(rows, axis=0), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print("wrote", a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
