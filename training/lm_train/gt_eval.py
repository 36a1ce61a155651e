"""PCK against human labels (../shared/people/eval/gt_coco17.json) on person-centred crops.

Protocol (as in ../shared/people/README.md): persons with >= `min_joints` labelled joints (v > 0);
a square crop of `crop_scale` x the box's longer side, centred on the box (zero padding outside);
a labelled joint is correct if the prediction, mapped back to the original image, lies within
thr x the box's longer side. PCK = correct / labelled joints, pooled over persons.
"""
from __future__ import annotations

import json
import os

import cv2
import numpy as np

from .teacher import square_crop

CROP_SCALE = 1.25
MIN_JOINTS = 8
# A crop is "near-black" when 99 % of its pixel values are below this (of 255): nothing to see there
# (ExLPose's low-light frames: 0-11), so a model scores on it only with the pose it draws on nothing.
DARK_P99 = 16
# Person-level bootstrap: how far the pooled PCK of 61 persons moves when other persons had been labelled.
BOOT_N = 2000
BOOT_SEED = 0


def near_black(views) -> np.ndarray:
    """[N] bool: which crops (uint8 or float 0..255) are near-black (DARK_P99)."""
    return np.array([np.percentile(v, 99) < DARK_P99 for v in views], bool)


def load_persons(gt_path: str, min_joints: int = MIN_JOINTS):
    with open(gt_path) as f:
        d = json.load(f)
    names = d.get("coco17_names")
    out = []
    kps = [np.asarray(p["keypoints_coco17"], np.float32).reshape(17, 3) for p in d["persons"]]
    for i, (p, kp) in enumerate(zip(d["persons"], kps)):
        if (kp[:, 2] > 0).sum() >= min_joints:
            # every other labelled person of the same picture, whatever their joint count (crowd confusions)
            others = [k for o, (q, k) in enumerate(zip(d["persons"], kps)) if o != i and q["image"] == p["image"]]
            out.append({"image": p["image"], "dataset": p["dataset"], "bbox": np.asarray(p["bbox_xywh"], np.float32),
                        "kp": kp, "others": np.stack(others) if others else np.zeros((0, 17, 3), np.float32)})
    return out, names


def crop_box(bbox, crop_scale: float = CROP_SCALE):
    """(cx, cy, side) of the square crop around an xywh box."""
    x, y, w, h = [float(v) for v in bbox]
    return x + w / 2, y + h / 2, crop_scale * max(w, h)


def to_image(joints_crop: np.ndarray, cx: float, cy: float, side: float, crop_px: int) -> np.ndarray:
    """Joints (x, y, ...) in crop_px x crop_px crop pixels -> original image pixels."""
    out = joints_crop.astype(np.float32).copy()
    s = side / crop_px
    out[:, 0] = cx - side / 2 + joints_crop[:, 0] * s
    out[:, 1] = cy - side / 2 + joints_crop[:, 1] * s
    return out


def correct(pred_xy: np.ndarray, kp: np.ndarray, bbox, thr: float) -> np.ndarray:
    """[17] float: 1 correct, 0 wrong, nan not labelled."""
    size = float(max(bbox[2], bbox[3]))
    d = np.hypot(pred_xy[:, 0] - kp[:, 0], pred_xy[:, 1] - kp[:, 1])
    return np.where(kp[:, 2] > 0, (d <= thr * size).astype(np.float32), np.nan)


def on_other_person(pred_xy: np.ndarray, person, thr: float = 0.2) -> np.ndarray:
    """[17] bool: which predicted joints are wrong (not within thr x the box of their own label) but lie
    within thr x the box of any labelled joint of another person in the same picture: the network followed a
    neighbour. Unlabelled joints are False."""
    size = float(max(person["bbox"][2], person["bbox"][3]))
    wrong = correct(pred_xy, person["kp"], person["bbox"], thr) == 0
    others = person.get("others", np.zeros((0, 17, 3), np.float32))
    lab = others[..., 2] > 0
    if not lab.any():
        return np.zeros(17, bool)
    pts = others[lab][:, :2]                                              # [M, 2]
    d = np.hypot(pred_xy[:, None, 0] - pts[None, :, 0], pred_xy[:, None, 1] - pts[None, :, 1])
    return wrong & (d.min(1) <= thr * size)


def crops(persons, people_dir: str, px: int):
    """RGB uint8 crops (px x px) of every person, plus their (cx, cy, side)."""
    cache, views, boxes = {}, [], []
    for p in persons:
        path = os.path.join(people_dir, p["image"])
        if path not in cache:
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            if img is None:
                raise SystemExit(f"{path}: not a readable image (named in gt_coco17.json)")
            cache[path] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        cx, cy, side = crop_box(p["bbox"])
        views.append(square_crop(cache[path], cx, cy, side, px))
        boxes.append((cx, cy, side))
    return views, boxes


def bootstrap(cs, n: int = BOOT_N, seed: int = BOOT_SEED) -> np.ndarray:
    """cs: one [P, 17] array per model from `correct` (nan = not labelled), the same P persons.
    Resamples the persons with replacement n times (a person's joints stay together: they are not
    independent draws) with the same draws for every model, so differences between models are paired.
    Returns [len(cs), n] pooled PCKs."""
    k = np.stack([np.nansum(c, axis=1) for c in cs])                  # [M, P] correct joints per person
    m = np.isfinite(cs[0]).sum(axis=1)                                 # [P] labelled joints per person
    idx = np.random.default_rng(seed).integers(0, len(m), (n, len(m)))
    return k[:, idx].sum(axis=-1) / np.maximum(m[idx].sum(axis=-1), 1)


def interval(samples) -> list:
    """[2.5 %, 97.5 %] of bootstrap samples."""
    lo, hi = np.percentile(samples, [2.5, 97.5])
    return [float(lo), float(hi)]


def summarise(persons, preds: dict, joint_names, dark=None, baseline=None):
    """preds: name -> [N, 17, 2] in image pixels; dark: [N] bool, near-black crops (near_black).
    Returns {name: {"pck0.2", "pck0.1", "per_dataset", "per_joint", "n_joints", "lit", "ci"}}, "lit" being
    the PCK over the persons whose crop is not near-black and "ci" the 95 % bootstrap intervals (`bootstrap`)
    of the all / lit PCKs; with `baseline` (a name in preds), every other model also gets "vs_baseline":
    its PCK minus the baseline's, with the paired 95 % interval."""
    if baseline is not None and baseline not in preds:
        raise ValueError(f"baseline {baseline}: no such model (models: {', '.join(preds)})")
    res = {}
    dark = np.zeros(len(persons), bool) if dark is None else np.asarray(dark, bool)
    datasets = sorted({p["dataset"] for p in persons})
    corr = {name: {thr: np.stack([correct(pr[i], p["kp"], p["bbox"], thr) for i, p in enumerate(persons)])
                   for thr in (0.2, 0.1)} for name, pr in preds.items()}
    names = list(preds)
    parts = {"all": np.ones(len(persons), bool), "lit": ~dark}
    boot = {(part, thr): bootstrap([corr[n][thr][sel] for n in names]) for part, sel in parts.items()
            for thr in (0.2, 0.1)}
    ds = np.array([p["dataset"] for p in persons])
    for mi, (name, pr) in enumerate(preds.items()):
        c2, c1 = corr[name][0.2], corr[name][0.1]
        res[name] = {
            "pck0.2": float(np.nanmean(c2)), "pck0.1": float(np.nanmean(c1)),
            "n_joints": int(np.isfinite(c2).sum()), "n_persons": len(persons),
            "per_dataset": {d: {"pck0.2": float(np.nanmean(c2[ds == d])), "pck0.1": float(np.nanmean(c1[ds == d])),
                                "persons": int((ds == d).sum()), "joints": int(np.isfinite(c2[ds == d]).sum())}
                            for d in datasets},
            "per_joint": {joint_names[j]: {"pck0.2": _mean(c2[:, j]), "pck0.1": _mean(c1[:, j]),
                                           "joints": int(np.isfinite(c2[:, j]).sum())} for j in range(17)},
            "lit": {"pck0.2": _mean(c2[~dark]), "pck0.1": _mean(c1[~dark]), "persons": int((~dark).sum()),
                    "joints": int(np.isfinite(c2[~dark]).sum()),
                    "wrong0.2": int((c2[~dark] == 0).sum()),
                    "wrong0.2_on_other": int(sum(on_other_person(pr[i], p).sum()
                                                 for i, p in enumerate(persons) if not dark[i]))},
            "ci": {part: {f"pck{thr}": interval(boot[(part, thr)][mi]) for thr in (0.2, 0.1)}
                   for part in parts},
        }
    if baseline is not None:
        b = names.index(baseline)
        for mi, name in enumerate(names):
            if mi == b:
                continue
            vs = {"baseline": baseline}
            for part in parts:
                vs[part] = {}
                for thr in (0.2, 0.1):
                    k = f"pck{thr}"
                    d = pooled(res[name], part, k) - pooled(res[baseline], part, k)
                    vs[part][k] = [d] + interval(boot[(part, thr)][mi] - boot[(part, thr)][b])
            res[name]["vs_baseline"] = vs
    return res


def pooled(r, part: str, key: str) -> float:
    """A model's pooled PCK (key "pck0.2" / "pck0.1") over "all" persons or the "lit" ones, from summarise."""
    return r[key] if part == "all" else r["lit"][key]


def _mean(x):
    return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")


def markdown(res) -> str:
    names = list(res)
    first = res[names[0]]
    md = ["PCK@0.2 / PCK@0.1 against the human labels, person-centred crops (1.25 x box), "
          f"{first['n_persons']} persons, {first['n_joints']} labelled joints", "",
          "| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names),
          "| **all** | " + " | ".join(f"**{res[n]['pck0.2']:.3f} / {res[n]['pck0.1']:.3f}**" for n in names) + " |"]
    lit = first["lit"]
    if lit["persons"] < first["n_persons"]:
        md.append(f"| all but the {first['n_persons'] - lit['persons']} near-black crops ({lit['persons']} persons, "
                  f"{lit['joints']} joints) | " +
                  " | ".join(f"{res[n]['lit']['pck0.2']:.3f} / {res[n]['lit']['pck0.1']:.3f}" for n in names) + " |")
    for d, v in first["per_dataset"].items():
        md.append(f"| {d} ({v['persons']} persons, {v['joints']} joints) | " +
                  " | ".join(f"{res[n]['per_dataset'][d]['pck0.2']:.3f} / {res[n]['per_dataset'][d]['pck0.1']:.3f}"
                             for n in names) + " |")
    md.append("| wrong joints @0.2 without the near-black crops, of which on another person's labelled joint | " +
              " | ".join(f"{res[n]['lit']['wrong0.2']}, {res[n]['lit']['wrong0.2_on_other']}" for n in names) + " |")
    md += ["", f"95 % intervals: the persons resampled {BOOT_N:,} times (`bootstrap`; a person's joints stay "
           "together); a difference is paired (the same resamples for both models)", "",
           "| | all PCK@0.2 | all PCK@0.1 | lit PCK@0.2 | lit PCK@0.1 |", "|---|---|---|---|---|"]
    for n in names:
        r = res[n]
        md.append(f"| {n} | " + " | ".join(
            f"{pooled(r, part, k):.3f} [{r['ci'][part][k][0]:.3f}, {r['ci'][part][k][1]:.3f}]"
            for part in ("all", "lit") for k in ("pck0.2", "pck0.1")) + " |")
    for n in names:
        vs = res[n].get("vs_baseline")
        if vs:
            md.append(f"| {n} − {vs['baseline']} | " + " | ".join(
                f"{vs[part][k][0]:+.3f} [{vs[part][k][1]:+.3f}, {vs[part][k][2]:+.3f}]"
                for part in ("all", "lit") for k in ("pck0.2", "pck0.1")) + " |")
    md += ["", "| joint (labelled) | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for j, v in first["per_joint"].items():
        md.append(f"| {j} ({v['joints']}) | " +
                  " | ".join(f"{res[n]['per_joint'][j]['pck0.2']:.3f} / {res[n]['per_joint'][j]['pck0.1']:.3f}"
                             for n in names) + " |")
    return "\n".join(md) + "\n"
