#!/usr/bin/env python3
"""Pack training samples into one movable file (lm_train/pack.py) for train.py --pack.

Sources (mixable in one pack):
  --people DIR        ../shared/people: train/ images labelled by the teacher. The labels are cached in
                      $LM_TRAIN_CACHE/labels/people_train.npz and made here if missing (--relabel: again);
                      ~12 min on the shared 2-core machine, the packing itself ~1 min.
  --coco JSON:IMAGES  a COCO person_keypoints json and its image folder (repeatable): one sample per
                      annotated person box (iscrowd and num_keypoints == 0 skipped), human labels.
Teacher gate: a person is kept if its mean teacher score >= --min-mean and >= --min-joints joints score
>= 0.3; its sampling weight falls from 1 (mean >= 0.5) to 0.25 (lm_train/people.conf_weight).
Split: people/train held-out groups (lm_train/people.is_heldout: 2 whole Pose2Sim videos + ~10 % of the
other videos/photos by hash) get split "heldout" (for picking confidence_threshold); COCO samples are
all "train" unless --coco-split heldout.

  training/.venv/bin/python training/pack_data.py                         # people -> $LM_TRAIN_CACHE/packs/people.npz
  training/.venv/bin/python training/pack_data.py --no-people --coco a.json:imgs --out /tmp/coco.npz
  # small enough to carry to a GPU machine with the repo (the device tool moves <= 64 MiB in all):
  training/.venv/bin/python training/pack_data.py --only-split train --max-per-source 1000 --max-px 256 \
      --quality 85 --out training/.data/people_train.npz
"""
import argparse
import os
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lm_train import coco as C  # noqa: E402
from lm_train import pack as P  # noqa: E402
from lm_train import people as PE  # noqa: E402


def people_samples(a, cache):
    labels = os.path.join(cache, "labels", "people_train.npz")
    if a.relabel or not os.path.exists(labels):
        from lm_train.teacher import Teacher
        if not os.path.exists(a.teacher):
            raise SystemExit(f"{a.teacher}: teacher model missing (needed to label {a.people})")
        os.makedirs(os.path.dirname(labels), exist_ok=True)
        PE.label_images(Teacher(a.teacher, threads=a.threads), a.people, labels)
    L = PE.load_labels(labels)
    keep = PE.gate(L["joints"], L["mean_score"], a.min_mean, a.min_joints)
    n_img = len(L["path"])
    with_person = np.zeros(n_img, bool)
    with_person[L["image"][keep]] = True
    print(f"people/train: {n_img} images, {len(keep)} teacher persons, {int(keep.sum())} pass the gate "
          f"(mean >= {a.min_mean}, >= {a.min_joints} joints >= 0.3) in {int(with_person.sum())} images", flush=True)
    out, cache_img = [], {}
    for k in np.nonzero(keep)[0]:
        i = int(L["image"][k])
        path = str(L["path"][i])
        if path not in cache_img:
            cache_img.clear()
            img = cv2.imread(os.path.join(a.people, path), cv2.IMREAD_COLOR)
            if img is None:
                raise SystemExit(f"{os.path.join(a.people, path)}: not a readable image")
            cache_img[path] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        crop, j = P.cut(cache_img[path], L["joints"][k], L["box"][k], a.context, a.max_px)
        group = str(L["group"][i])
        out.append(dict(crop=crop, joints=j, weight=float(PE.conf_weight(L["mean_score"][k])),
                        mean_score=float(L["mean_score"][k]), source=str(L["source"][i]), group=group,
                        split="heldout" if PE.is_heldout(group) else "train", label="teacher",
                        tier=str(L["tier"][i]), path=path))
    return out


def coco_samples(spec, a):
    js, _, imgdir = spec.partition(":")
    if not imgdir:
        raise SystemExit(f"--coco {spec}: expected JSON:IMAGE_FOLDER")
    rows = C.read_coco(js, imgdir)
    name = "coco:" + os.path.splitext(os.path.basename(js))[0]
    out, last = [], (None, None)
    for r in rows:
        if last[0] != r["image"]:
            img = cv2.imread(r["image"], cv2.IMREAD_COLOR)
            if img is None:
                raise SystemExit(f"{r['image']}: missing or not a readable image (named in {js})")
            last = (r["image"], cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        crop, j = P.cut(last[1], r["joints"], r["box"], a.context, a.max_px)
        out.append(dict(crop=crop, joints=j, weight=1.0, mean_score=1.0, source=name,
                        group=f"{name}/{r['image_id']}", split=a.coco_split, label="gt", tier="",
                        path=os.path.relpath(r["image"], imgdir)))
    print(f"{js}: {len(out)} person samples", flush=True)
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    cache = os.environ.get("LM_TRAIN_CACHE", os.path.expanduser("~/.cache/lm-training"))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", default=os.path.join(here, "..", "..", "shared", "people"))
    ap.add_argument("--no-people", action="store_true")
    ap.add_argument("--relabel", action="store_true", help="re-run the teacher even if the label cache exists")
    ap.add_argument("--teacher", default=os.path.join(here, "..", "..", "shared", "models",
                                                      "movenet_lightning_heatmaps.onnx"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--coco", action="append", default=[], help="JSON:IMAGE_FOLDER (repeatable)")
    ap.add_argument("--coco-split", default="train", choices=("train", "heldout"))
    ap.add_argument("--min-mean", type=float, default=0.3)
    ap.add_argument("--min-joints", type=int, default=6)
    ap.add_argument("--context", type=float, default=2.0, help="stored crop side / person view L")
    ap.add_argument("--max-px", type=int, default=320, help="largest stored crop side (never upsampled)")
    ap.add_argument("--quality", type=int, default=90, help="JPEG quality")
    ap.add_argument("--only-split", default=None, choices=("train", "heldout"),
                    help="pack only this split (e.g. train for a file to carry to a GPU machine)")
    ap.add_argument("--max-per-source", type=int, default=0,
                    help="keep at most this many samples of each source (a fixed random subset; 0: all)")
    ap.add_argument("--out", default=os.path.join(cache, "packs", "people.npz"))
    a = ap.parse_args()
    t0 = time.time()
    samples = [] if a.no_people else people_samples(a, cache)
    for spec in a.coco:
        samples += coco_samples(spec, a)
    if a.only_split:
        samples = [s for s in samples if s["split"] == a.only_split]
    if a.max_per_source > 0:
        rng = np.random.default_rng(0)
        by = {}
        for k, s in enumerate(samples):
            by.setdefault(s["source"], []).append(k)
        keep = set()
        for name, ks in by.items():
            keep.update(ks if len(ks) <= a.max_per_source else rng.choice(ks, a.max_per_source, replace=False).tolist())
        samples = [s for k, s in enumerate(samples) if k in keep]
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    P.write(a.out, samples, a.context, a.quality)
    src = np.array([s["source"] for s in samples])
    split = np.array([s["split"] for s in samples])
    print(f"{a.out}: {len(samples)} samples, {os.path.getsize(a.out) / 1e6:.1f} MB ({time.time() - t0:.0f} s)")
    print("| source | train | held-out |\n|---|---|---|")
    for name in sorted(set(src)):
        print(f"| {name} | {int(((src == name) & (split == 'train')).sum())} | "
              f"{int(((src == name) & (split == 'heldout')).sum())} |")


if __name__ == "__main__":
    main()
