"""MSCOCO person-keypoints reader (person_keypoints_*.json + image folder), as Blueoil's keypoint
training reads it: one single-person sample per annotated person box.

Skipped as COCO's own keypoint evaluation / Blueoil do: iscrowd == 1 and num_keypoints == 0 (a box
with no labelled joint), and categories other than the one named "person". Joints with v > 0 (labelled,
visible or not) are targets (score 1); v == 0 joints are not (score 0).
The person's view is the square of 1.25 x the box's longer side centred on the box (the same framing as
the eval protocol and as the teacher-labelled samples, whose box is the teacher's joints' bbox).
"""
from __future__ import annotations

import json
import os

import numpy as np

BOX_SCALE = 1.25


def read_coco(json_path: str, image_dir: str, num_joints: int = 17):
    """List of samples: dicts with image (path), joints [J,3] (x, y, score 0/1) in image pixels,
    box (cx, cy, side), ann_id, image_id."""
    with open(json_path) as f:
        d = json.load(f)
    for key in ("images", "annotations", "categories"):
        if key not in d:
            raise ValueError(f"{json_path}: no '{key}' (not a COCO person_keypoints file)")
    person = [c["id"] for c in d["categories"] if c.get("name") == "person"]
    if not person:
        raise ValueError(f"{json_path}: no category named 'person'")
    cat = person[0]
    names = next(c for c in d["categories"] if c["id"] == cat).get("keypoints", [])
    if names and len(names) != num_joints:
        raise ValueError(f"{json_path}: category 'person' has {len(names)} keypoints, expected {num_joints}")
    images = {im["id"]: im for im in d["images"]}
    out = []
    for a in d["annotations"]:
        if a.get("category_id") != cat or a.get("iscrowd", 0) or a.get("num_keypoints", 0) == 0:
            continue
        if a["image_id"] not in images:
            raise ValueError(f"{json_path}: annotation {a.get('id')} names image_id {a['image_id']}, "
                             "which is not in 'images'")
        kp = np.asarray(a["keypoints"], np.float32)
        if kp.size != 3 * num_joints:
            raise ValueError(f"{json_path}: annotation {a.get('id')}: {kp.size} keypoint values, "
                             f"expected {3 * num_joints}")
        kp = kp.reshape(num_joints, 3)
        x, y, w, h = [float(v) for v in a["bbox"]]
        if w <= 1 or h <= 1:
            continue
        joints = np.zeros((num_joints, 3), np.float32)
        lab = kp[:, 2] > 0
        joints[lab, :2] = kp[lab, :2]
        joints[lab, 2] = 1.0
        out.append({"image": os.path.join(image_dir, images[a["image_id"]]["file_name"]), "joints": joints,
                    "box": (x + w / 2, y + h / 2, BOX_SCALE * max(w, h)), "ann_id": a.get("id"),
                    "image_id": a["image_id"]})
    return out
