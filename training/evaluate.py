#!/usr/bin/env python3
"""Two evaluations.

1. `--gt ../shared/people/eval/gt_coco17.json` (human labels): PCK@0.2 / PCK@0.1 per data set and per
   joint on person-centred crops (lm_train/gt_eval.py: 1.25 x the box's longer side, PCK by the longer
   side, persons with >= 8 labelled joints) for ONNX files (`--onnx NAME=models/x.onnx`: float files run
   in onnxruntime, QONNX files in PyTorch via lm_train/onnx_init.py, checked against the qonnx executor on
   the first crop), checkpoints (`--ckpt`) and the teacher (`--teacher`). Writes eval_gt.md / .json.

2. `--pack PACK` (pack_data.py; its "heldout" split: whole held-out videos and ~10 % of the people/train
   photos, never trained on): PCK@0.2 / @0.1 / @0.05 against the teacher on the default view and on --views
   seeded augmented views (close-ups cut joints off, small people, rotation), decoded as argmax, with the
   runtime's `subpixel` quarter-cell shift, and with `subpixel` + `flip_test` (the mirrored picture's heatmaps
   averaged in): the choice of those meta fields; and the choice of the shipped
   `confidence_threshold`: a joint counts as "in the picture" if the teacher scored it >= 0.3 and it lies in
   the view; for each threshold the table gives precision / recall / F1 of "reported visible"
   (confidence = heatmap peak / 10 >= threshold) against that, where the views also include the 103
   pictures without anyone of `blank_pictures` (every joint reported there is a false one); the pick
   maximises F1. Also --crowd-views views per sample with one or two other held-out people pasted beside,
   in front of or behind the target (CROWD: the crowd settings quant7 was trained with); PCK only, they
   stay out of the threshold table. Writes heldout.md / .json.

3. Otherwise: PCK@0.2 of the student(s) against the teacher on the held-out set, per joint and mean, plus
overlay pictures of the held-out photos.

Held-out set: vtest.avi frames >= 650 (crops around each person, as in prepare_data.py) and
../shared/images/*.png (whole image). Two views of each held-out sample:
  centred   - the default 160x160 view (square around the teacher's joints; easy: a constant mean pose
              already scores high, see the baseline column)
  augmented - the same sample under a fixed random geometric transform per sample (seeded: scale 0.7-1.35,
              rotation +-30 deg, shift +-12 %, flip), so that position has to come from the image.
Student joint =
argmax of its heatmap x stride (Blueoil GaussianHeatmapToJoints; `--subpixel` in mode 1 adds the quarter-cell
shift of the runtime's `subpixel: true`, `--flip-test` its `flip_test: true`). Evaluated joints: teacher score >= 0.3;
a joint is correct if within 0.2 x max(w, h) of the bbox of the teacher's evaluated joints.
"""
import argparse
import json
import os
import sys

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lm_train import data as D  # noqa: E402
from lm_train.augment import AugConfig  # noqa: E402
from lm_train.model import LmSinglePose  # noqa: E402

SKELETON = [(0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11), (6, 12),
            (11, 12), (11, 13), (13, 15), (12, 14), (14, 16)]


def load_model(ckpt):
    ck = torch.load(ckpt, map_location="cpu", weights_only=False)  # our own checkpoints
    m = LmSinglePose(quantize=ck["quantize"], stride=ck["stride"])
    m.load_state_dict(ck["model"])
    return m.eval(), ck


def decode(hm, stride, subpixel=False):
    """hm [H', W', J] -> joints [J, 3] (x, y, raw peak) in input pixels: the first maximum of each channel
    (np.argmax), x stride. `subpixel`: as the runtime's GaussianHeatmapToJoints `subpixel: true`, each joint
    moves a quarter cell towards the larger of its two neighbours on each axis (none at a border or a tie)."""
    h, w, j = hm.shape
    flat = hm.reshape(-1, j)
    idx = flat.argmax(0)
    cy, cx = idx // w, idx % w
    x, y = cx.astype(np.float32), cy.astype(np.float32)
    if subpixel:
        k = np.arange(j)
        inner = (cx > 0) & (cx < w - 1)
        left, right = hm[cy, np.maximum(cx - 1, 0), k], hm[cy, np.minimum(cx + 1, w - 1), k]
        x += np.where(inner, 0.25 * np.sign(right - left), 0.0).astype(np.float32)
        inner = (cy > 0) & (cy < h - 1)
        up, down = hm[np.maximum(cy - 1, 0), cx, k], hm[np.minimum(cy + 1, h - 1), cx, k]
        y += np.where(inner, 0.25 * np.sign(down - up), 0.0).astype(np.float32)
    return np.stack([x * stride, y * stride, flat.max(0)], axis=1).astype(np.float32)


def flip_back(hm_mirrored, size, stride):
    """Heatmaps [N, H', W', J] of left-right mirrored inputs -> the original pictures' frame, as the runtime's
    `flip_test` (src/postprocess/flip_test.rs): left/right channels swapped, and column i reads the mirrored
    heatmaps at (size - 1) / stride - i (a joint at pixel x sits at cell x / stride and mirrors to size - 1 - x),
    linearly interpolated, clamped at the border."""
    from lm_train.augment import FLIP_PERM
    w = hm_mirrored.shape[2]
    pos = np.clip((size - 1) / stride - np.arange(w), 0, w - 1).astype(np.float32)
    x0 = np.floor(pos).astype(int)
    x1, f = np.minimum(x0 + 1, w - 1), (pos - x0)[None, None, :, None]
    h = hm_mirrored[..., FLIP_PERM]
    return h[:, :, x0, :] * (1 - f) + h[:, :, x1, :] * f


def with_flip_test(f, size, stride):
    """Heatmap function -> the flip test's: the mean of the plain and the mirrored-back heatmaps."""
    return lambda x: 0.5 * (f(x) + flip_back(f(np.ascontiguousarray(x[:, :, ::-1])), size, stride))


def predict(model, views, batch=32):
    outs = []
    with torch.no_grad():
        for i in range(0, len(views), batch):
            x = torch.from_numpy(np.stack(views[i:i + batch]) / np.float32(255.0)).float()
            outs.append(model.forward_nhwc(x).numpy())
    return np.concatenate(outs)


def pck(pred, teacher, thr=0.2):  # noqa: C901
    """Returns per-sample correct [N, J] (nan where not evaluated)."""
    res = np.full(teacher.shape[:2], np.nan)
    for n in range(len(teacher)):
        ok = teacher[n, :, 2] >= D.CONF
        if ok.sum() < 2:
            continue
        t = teacher[n, ok, :2]
        size = max(np.ptp(t[:, 0]), np.ptp(t[:, 1]))
        d = np.hypot(pred[n, :, 0] - teacher[n, :, 0], pred[n, :, 1] - teacher[n, :, 1])
        res[n, ok] = (d[ok] <= thr * size).astype(float)
    return res


def overlay(img, joints, colour, min_score=None):
    for a, b in SKELETON:
        if min_score is not None and (joints[a, 2] < min_score or joints[b, 2] < min_score):
            continue
        cv2.line(img, tuple(int(v) for v in joints[a, :2]), tuple(int(v) for v in joints[b, :2]), colour, 2)
    for k in range(17):
        if min_score is None or joints[k, 2] >= min_score:
            cv2.circle(img, tuple(int(v) for v in joints[k, :2]), 3, colour, -1)


def onnx_predictor(path, check_qonnx=True):
    """Heatmap function [N,H,W,3] 0..1 -> [N,H',W',J] for an exported file, and its stride."""
    import onnx as _onnx
    from lm_train.onnx_init import model_from_onnx
    from lm_train.verify import qonnx_heatmaps
    g = _onnx.load(path, load_external_data=False)
    if not any(n.op_type == "BipolarQuant" for n in g.graph.node):
        import onnxruntime as ort
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        iname = sess.get_inputs()[0].name
        m = model_from_onnx(path)
        return (lambda x: np.concatenate([sess.run(None, {iname: x[i:i + 1]})[0] for i in range(len(x))])), m.stride
    m = model_from_onnx(path)
    checked = []

    def f(x):
        with torch.no_grad():
            y = m.forward_nhwc(torch.from_numpy(x)).numpy()
        if check_qonnx and not checked:
            ref = qonnx_heatmaps(path, x[:1])
            diff = float(np.abs(ref - y[:1]).max())
            print(f"{path}: PyTorch (weights loaded from the file) vs qonnx executor, first crop: max abs diff "
                  f"{diff:.2g}", flush=True)
            if diff > 1e-3:
                raise SystemExit(f"{path}: PyTorch and the qonnx executor disagree ({diff})")
            checked.append(diff)
        return y
    return f, m.stride


def eval_gt(a):
    from lm_train import gt_eval as G
    from lm_train.teacher import Teacher
    people = a.people or os.path.dirname(os.path.dirname(os.path.abspath(a.gt)))
    persons, names = G.load_persons(a.gt)
    names = names or D.JOINT_NAMES
    print(f"{a.gt}: {len(persons)} persons with >= {G.MIN_JOINTS} labelled joints", flush=True)
    preds = {}
    if a.teacher:
        t = Teacher(a.teacher)
        views, boxes = G.crops(persons, people, 192)
        kp, hm_argmax = [], []
        for v, b in zip(views, boxes):
            j, hm, _ = t.run(v)
            kp.append(G.to_image(j, *b, 192)[:, :2])
            # the same heatmaps decoded as the runtime decodes a heatmap model (per-channel argmax, no offsets)
            hw = hm.shape[-1]
            idx = hm.reshape(len(hm), -1).argmax(1)
            jh = np.stack([(idx % hw) * 192 / hw, (idx // hw) * 192 / hw], axis=1)
            hm_argmax.append(G.to_image(jh, *b, 192)[:, :2])
        preds["teacher"] = np.stack(kp)
        preds["teacher (heatmap argmax)"] = np.stack(hm_argmax)
    views, boxes = G.crops(persons, people, a.size)
    dark = G.near_black(views)
    x = np.stack(views).astype(np.float32) / np.float32(255.0)
    blank_names, blank = blank_pictures(a.size)
    blank_rows = {}
    students = student_predictors(a)
    # differences (with paired intervals) against --baseline, by default the first student; checked before
    # the models run
    baseline = a.baseline or (students[0][0] if students else None)
    known = list(preds) + [n for n, _, _ in students]
    if baseline is not None and baseline not in known:
        raise SystemExit(f"--baseline {baseline}: no such model (models: {', '.join(known)})")
    for name, f, stride in students:
        if a.flip_test:
            f = with_flip_test(f, a.size, stride)
        hm = f(x)
        preds[name] = np.stack([G.to_image(decode(h, stride, a.subpixel), *b, a.size)[:, :2]
                                for h, b in zip(hm, boxes)])
        blank_rows[name] = visible_on_blank(f(blank), blank_names)
    res = G.summarise(persons, preds, names, dark, baseline=baseline)
    for n, r in res.items():
        print(f"{n}: PCK@0.2 {r['pck0.2']:.3f}, PCK@0.1 {r['pck0.1']:.3f} ({r['n_joints']} joints, "
              f"{r['n_persons']} persons)", flush=True)
    md = G.markdown(res) + "\n" + blank_markdown(blank_rows, blank_names)
    print(md)
    with open(os.path.join(a.report_dir, "eval_gt.md"), "w") as f:
        f.write(md)
    with open(os.path.join(a.report_dir, "eval_gt.json"), "w") as f:
        json.dump({**res, "_pictures_without_anyone": blank_rows}, f, indent=1)


BLANK_THRESHOLDS = (0.1, 0.2, 0.3)


def blank_pictures(size, n=100):
    """Pictures without anyone, float 0..1: black, mid-grey, white, and n seeded `empty_view`s (flat
    colours, gradients, noise, blotches; the kind train.py draws as 5 % of its views)."""
    from lm_train import augment as AU
    rng = np.random.default_rng(11)
    pics = [np.full((size, size, 3), v, np.float32) for v in (0.0, 128.0, 255.0)]
    pics += [AU.empty_view(size, rng) for _ in range(n)]
    return ["black", "grey", "white", f"{n} synthetic"], np.stack(pics) / np.float32(255.0)


def peak_confidence(hm):
    """[N, H', W', J] heatmaps -> [N, J] confidence: each joint's heatmap peak / 10 (as the runtime scores)."""
    return hm.reshape(len(hm), -1, hm.shape[-1]).max(1) / D.PEAK


def visible_on_blank(hm, blank_names):
    """Joints reported visible (heatmap peak / 10 >= threshold) on each blank picture; the synthetic
    ones averaged. {threshold: {picture: count}}."""
    conf = peak_confidence(hm)
    out = {}
    for t in BLANK_THRESHOLDS:
        n = (conf >= t).sum(1)
        out[str(t)] = {**{k: int(n[i]) for i, k in enumerate(blank_names[:3])},
                       blank_names[3]: float(n[3:].mean())}
    return out


def blank_markdown(rows, blank_names):
    md = ["Joints reported visible on pictures without anyone (confidence = heatmap peak / 10 >= threshold; "
          f"for the synthetic ones the mean per picture), of 17", "",
          "| model | threshold | " + " | ".join(blank_names) + " |", "|---|---|" + "---|" * len(blank_names)]
    for name, r in rows.items():
        for t, v in r.items():
            md.append(f"| {name} | {t} | " + " | ".join(
                f"{v[k]:.1f}" if isinstance(v[k], float) else str(v[k]) for k in blank_names) + " |")
    return "\n".join(md) + "\n"


def student_predictors(a):
    """(name, heatmap function on [N,H,W,3] float 0..1, stride) for every --onnx and --ckpt."""
    models = []
    for spec in a.onnx:
        name, path = spec.split("=", 1)
        models.append((name, *onnx_predictor(path, not a.no_qonnx_check)))
    for spec in a.ckpt:
        name, path = spec.split("=", 1)
        m, ck = load_model(path)
        models.append((name, lambda v, m=m: predict(m, list(v * 255.0)), ck["stride"]))
    return models


THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)


KINDS = ("default", "augmented", "crowd")


# crowd views: every view gets other people (the settings of train.py's quant7 run, at p = 1), no photometric change
CROWD = AugConfig(p_distract=1.0, distract_offset=(0.15, 0.9), distract_zoom=(0.6, 1.5), distract_dy=0.35,
                  max_distract=2, p_empty=0.0, p_dark=0.0, p_occlude=0.0, p_grey=0.0, p_blur=0.0, hue_deg=0.0,
                  enhance=(1.0, 1.0))


def eval_heldout_pack(a):
    from lm_train import augment as AU
    from lm_train.pack import Pack
    pk = Pack(a.pack)
    pk = pk.subset(pk.meta["split"] == "heldout")
    if len(pk) == 0:
        raise SystemExit(f"{a.pack}: no held-out samples")
    views, tj, kinds = [], [], []
    for i in range(len(pk)):
        img, j = pk.image(i), pk.joints(i)
        l_px = img.shape[0] / pk.context
        v, jj = AU.default_view(img, j, a.size, l_px)
        views.append(v), tj.append(jj), kinds.append("default")
        for k in range(a.views):
            v, jj = AU.augment(img, j, a.size, l_px, np.random.default_rng([7, i, k]), colour=False)
            views.append(v), tj.append(jj), kinds.append("augmented")
        for k in range(a.crowd_views):
            rng = np.random.default_rng([11, i, k])
            others = []
            for o in (int(rng.integers(len(pk))) for _ in range(int(rng.integers(1, CROWD.max_distract + 1)))):
                o_img = pk.image(o)
                others.append((o_img, pk.joints(o), o_img.shape[0] / pk.context))
            v, jj = AU.augment(img, j, a.size, l_px, rng, CROWD, other=others)
            views.append(v), tj.append(jj), kinds.append("crowd")
    tj, kinds = np.stack(tj), np.array(kinds)
    print(f"{a.pack}: {len(pk)} held-out samples ({', '.join(sorted(set(pk['source'])))}), {len(views)} views",
          flush=True)
    x = np.stack(views).astype(np.float32) / np.float32(255.0)
    _, blank = blank_pictures(a.size)
    res, md = {}, []
    for name, f, stride in student_predictors(a):
        hm = np.concatenate([f(x[i:i + 64]) for i in range(0, len(x), 64)])
        pr = np.stack([decode(h, stride) for h in hm])
        pr_sub = np.stack([decode(h, stride, subpixel=True) for h in hm])
        hm_flip = 0.5 * (hm + flip_back(np.concatenate([f(np.ascontiguousarray(x[i:i + 64, :, ::-1]))
                                                        for i in range(0, len(x), 64)]), a.size, stride))
        pr_flip = np.stack([decode(h, stride, subpixel=True) for h in hm_flip])
        # the threshold table on the heatmaps the runtime decodes: with --flip-test, the averaged ones
        picks = kinds != "crowd"  # the threshold pick keeps its views: default + augmented + blank
        conf = (pr_flip if a.flip_test else pr)[picks, :, 2] / D.PEAK
        conf_blank = peak_confidence((with_flip_test(f, a.size, stride) if a.flip_test else f)(blank))
        vis = tj[picks, :, 2] >= D.CONF
        r = {}
        for kind in KINDS:
            m = kinds == kind
            if not m.any():
                continue
            for key, p in ((kind, pr), (kind + " subpixel", pr_sub), (kind + " subpixel flip", pr_flip)):
                c2 = pck_visible(p[m], tj[m], 0.2)
                c1 = pck_visible(p[m], tj[m], 0.1)
                r[key] = {"pck0.2": float(np.nanmean(c2)), "pck0.1": float(np.nanmean(c1)),
                          "pck0.05": float(np.nanmean(pck_visible(p[m], tj[m], 0.05))),
                          "joints": int(np.isfinite(c2).sum())}
        table = []
        for t in THRESHOLDS:
            rep = conf >= t
            false_blank = int((conf_blank >= t).sum())
            tp = float((rep & vis).sum())
            prec = tp / max(rep.sum() + false_blank, 1)
            rec = tp / max(vis.sum(), 1)
            f1 = 2 * prec * rec / max(prec + rec, 1e-9)
            table.append({"threshold": t, "precision": prec, "recall": rec, "f1": f1,
                          "visible_per_blank_picture": false_blank / len(blank)})
        best = max(table, key=lambda e: e["f1"])
        r["thresholds"], r["pick"] = table, best["threshold"]
        res[name] = r
        md += [f"**{name}**: PCK vs the teacher's labels, argmax / `subpixel` / `subpixel` + `flip_test`; "
               f"confidence_threshold pick (max F1, {'with' if a.flip_test else 'without'} flip_test): "
               f"**{best['threshold']}**", "",
               "| views | PCK@0.2 | PCK@0.1 | PCK@0.05 |", "|---|---|---|---|"]
        md += [f"| {kind} | " + " | ".join(" / ".join(f"{r[kind + k][t]:.3f}" for k in ("", " subpixel", " subpixel flip"))
                                          for t in ("pck0.2", "pck0.1", "pck0.05")) + " |"
               for kind in KINDS if (kinds == kind).any()]
        md += ["",
               f"| threshold | precision | recall | F1 | joints visible per picture without anyone ({len(blank)}) |",
               "|---|---|---|---|---|"]
        md += [f"| {e['threshold']} | {e['precision']:.3f} | {e['recall']:.3f} | {e['f1']:.3f} | "
               f"{e['visible_per_blank_picture']:.2f} |" for e in table]
        md.append("")
    print("\n".join(md))
    with open(os.path.join(a.report_dir, "heldout.md"), "w") as fh:
        fh.write("\n".join(md))
    with open(os.path.join(a.report_dir, "heldout.json"), "w") as fh:
        json.dump(res, fh, indent=1)


def pck_visible(pred, teacher, thr):
    """Like pck(), over the teacher's joints that are >= 0.3 and in the view; size = longer side of their bbox
    (at least a quarter of the view, so that a close-up with two joints left is not judged on a tiny box)."""
    res = np.full(teacher.shape[:2], np.nan)
    for n in range(len(teacher)):
        ok = teacher[n, :, 2] >= D.CONF
        if ok.sum() < 2:
            continue
        t = teacher[n, ok, :2]
        size = max(np.ptp(t[:, 0]), np.ptp(t[:, 1]), 40.0)
        d = np.hypot(pred[n, :, 0] - teacher[n, :, 0], pred[n, :, 1] - teacher[n, :, 1])
        res[n, ok] = (d[ok] <= thr * size).astype(float)
    return res


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=os.environ.get("LM_TRAIN_CACHE", os.path.expanduser("~/.cache/lm-training")))
    ap.add_argument("--ckpt", action="append", default=[], help="NAME=path/to/last.pt (repeatable)")
    ap.add_argument("--gt", default=None, help="gt_coco17.json: evaluate against human labels (mode 1)")
    ap.add_argument("--people", default=None, help="folder the gt file's image paths are relative to "
                    "(default: the gt file's folder's parent, i.e. ../shared/people)")
    ap.add_argument("--baseline", default=None,
                    help="mode 1: the model the others are compared with (paired bootstrap; default: the first "
                         "--onnx / --ckpt)")
    ap.add_argument("--onnx", action="append", default=[], help="NAME=path/to/model.onnx (repeatable, mode 1)")
    ap.add_argument("--teacher", default=None, help="teacher ONNX (MoveNet) to score beside the models (mode 1)")
    ap.add_argument("--pack", default=None, help="pack file: evaluate on its held-out split (mode 2)")
    ap.add_argument("--views", type=int, default=3, help="augmented views per held-out sample (mode 2)")
    ap.add_argument("--crowd-views", type=int, default=1,
                    help="views per held-out sample with other people pasted beside the target (mode 2)")
    ap.add_argument("--subpixel", action="store_true",
                    help="decode the models' heatmaps as `subpixel: true` does (mode 1; mode 2 reports both)")
    ap.add_argument("--flip-test", action="store_true",
                    help="run each crop mirrored too, as `flip_test: true` does (mode 1; mode 2 reports PCK both ways "
                         "and picks the threshold on the heatmaps this flag gives)")
    ap.add_argument("--no-qonnx-check", action="store_true", help="skip the qonnx executor check (mode 1)")
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--video-step", type=int, default=1, help="use every n-th held-out video sample")
    ap.add_argument("--report-dir", default=os.path.join(here, "report"))
    a = ap.parse_args()
    os.makedirs(a.report_dir, exist_ok=True)
    if a.gt:
        return eval_gt(a)
    if a.pack:
        return eval_heldout_pack(a)
    if not a.ckpt:
        ap.error("--ckpt is required (or --gt)")
    loaded = {name: D.load(a.cache, name) for name in ("heldout_video", "heldout_photos")}
    loaded["heldout_video"] = {k: v[::a.video_step] for k, v in loaded["heldout_video"].items()}
    sets, views, tj = {}, {}, {}
    for mode in ("centred", "augmented"):
        for name, ds in loaded.items():
            key = f"{name}/{mode}"
            vs, js = [], []
            for i, (img, j) in enumerate(zip(ds["images"], ds["joints"])):
                if mode == "centred":
                    v, jj = D.default_view(img, j, a.size)
                else:
                    v, jj = D.augment(img, j, a.size, np.random.default_rng(1000 + i), colour=False)
                vs.append(v)
                js.append(jj)
            sets[key], views[key], tj[key] = ds, vs, np.stack(js)
    # reference: a constant "mean pose" (average default-view position of each joint in the training set)
    tr = D.load(a.cache, "train")
    tjs = np.stack([D.default_view(img, j, a.size)[1] for img, j in zip(tr["images"][::5], tr["joints"][::5])])
    w = (tjs[:, :, 2] >= D.CONF)[:, :, None]
    mean_pose = np.concatenate([(tjs[:, :, :2] * w).sum(0) / w.sum(0), np.ones((17, 1))], axis=1)
    del tr
    preds = {"mean-pose baseline": {k: np.repeat(mean_pose[None], len(tj[k]), 0) for k in sets}}
    steps = {}
    for spec in a.ckpt:
        mname, path = spec.split("=", 1)
        model, ck = load_model(path)
        steps[mname] = {"step": int(ck["step"]), "train_minutes": round(ck.get("train_seconds", 0) / 60, 1)}
        preds[mname] = {}
        for k in sets:
            hm = predict(model, views[k])
            preds[mname][k] = np.stack([decode(h, ck["stride"]) for h in hm])
    results = {}
    for mname, pr in preds.items():
        results[mname] = dict(steps.get(mname, {}))
        for mode in ("centred", "augmented"):
            kv, kp = f"heldout_video/{mode}", f"heldout_photos/{mode}"
            c2 = {k: pck(pr[k], tj[k], 0.2) for k in (kv, kp)}
            c1 = {k: pck(pr[k], tj[k], 0.1) for k in (kv, kp)}
            allc, all1 = np.concatenate([c2[kv], c2[kp]]), np.concatenate([c1[kv], c1[kp]])
            results[mname][mode] = {
                "per_joint": {D.JOINT_NAMES[j]: float(np.nanmean(allc[:, j])) for j in range(17)},
                "mean": float(np.nanmean(allc)), "mean_video": float(np.nanmean(c2[kv])),
                "mean_photos": float(np.nanmean(c2[kp])), "mean_pck0.1": float(np.nanmean(all1)),
                "n_samples": int(len(allc)), "n_joints": int(np.isfinite(allc).sum())}
            r = results[mname][mode]
            print(f"{mname} [{mode}]: PCK@0.2 mean {r['mean']:.3f} (video {r['mean_video']:.3f}, photos "
                  f"{r['mean_photos']:.3f}), PCK@0.1 {r['mean_pck0.1']:.3f}; {r['n_joints']} joints in "
                  f"{r['n_samples']} samples", flush=True)
    with open(os.path.join(a.report_dir, "pck.json"), "w") as f:
        json.dump(results, f, indent=1)
    names = list(results)
    md = []
    for mode in ("augmented", "centred"):
        md += [f"PCK@0.2 vs the teacher, held-out, **{mode}** views", "",
               "| joint | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for j in D.JOINT_NAMES:
            md.append(f"| {j} | " + " | ".join(f"{results[n][mode]['per_joint'][j]:.3f}" for n in names) + " |")
        md.append("| **mean, all held-out joints** | " +
                  " | ".join(f"**{results[n][mode]['mean']:.3f}**" for n in names) + " |")
        md.append("| mean, video crops | " + " | ".join(f"{results[n][mode]['mean_video']:.3f}" for n in names) + " |")
        md.append("| mean, 2 photos | " + " | ".join(f"{results[n][mode]['mean_photos']:.3f}" for n in names) + " |")
        md.append("| mean PCK@0.1 | " + " | ".join(f"{results[n][mode]['mean_pck0.1']:.3f}" for n in names) + " |")
        md.append("")
    with open(os.path.join(a.report_dir, "pck.md"), "w") as f:
        f.write("\n".join(md))
    print("\n".join(md))
    preds_photos = {n: preds[n]["heldout_photos/centred"] for n in steps}
    # overlays of the held-out photos: teacher (green, score >= 0.3) and each student (red / blue)
    colours = [(255, 64, 64), (64, 128, 255), (255, 200, 0)]
    ph = sets["heldout_photos/centred"]
    for i, src in enumerate(ph["src"]):
        tiles = []
        base = cv2.resize(views["heldout_photos/centred"][i].astype(np.uint8), (256, 256), interpolation=cv2.INTER_AREA)
        s = 256 / a.size
        t = base.copy()
        jt = tj["heldout_photos/centred"][i].copy()
        jt[:, :2] *= s
        overlay(t, jt, (0, 220, 0), D.CONF)
        cv2.putText(t, "teacher", (5, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 220, 0), 2)
        tiles.append(t)
        for c, mname in enumerate(preds_photos):  # noqa: B007
            im = base.copy()
            jp = preds_photos[mname][i].copy()
            jp[:, :2] = (jp[:, :2] + 0.0) * s
            overlay(im, jp, colours[c % 3], 1.0)  # raw peak >= 1.0 == confidence 0.1
            cv2.putText(im, mname, (5, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colours[c % 3], 2)
            tiles.append(im)
        out = cv2.cvtColor(np.concatenate(tiles, axis=1), cv2.COLOR_RGB2BGR)
        fn = os.path.join(a.report_dir, f"overlay_{os.path.splitext(str(src))[0]}.png")
        cv2.imwrite(fn, out, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        print("wrote", fn)


if __name__ == "__main__":
    main()
