"""MoveNet SinglePose Lightning teacher (../shared/models/movenet_lightning_heatmaps.onnx) via onnxruntime."""
from __future__ import annotations

import cv2
import numpy as np

TEACHER_SIZE = 192


def square_crop(img: np.ndarray, cx: float, cy: float, side: float, out: int) -> np.ndarray:
    """Crop the square of `side` pixels centred at (cx, cy) (zero padding outside), resized to out x out."""
    s = out / side
    m = np.array([[s, 0, out / 2 - s * cx], [0, s, out / 2 - s * cy]], dtype=np.float64)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(img, m, (out, out), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


class Teacher:
    def __init__(self, path: str, threads: int = 2):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])

    def run(self, rgb_square: np.ndarray):
        """rgb_square: HxWx3 uint8 square image. Returns (joints [17,3] as (x, y, score) in that image's
        pixels, per-joint heatmaps [17,48,48], centre heatmap [48,48])."""
        h, w = rgb_square.shape[:2]
        x = cv2.resize(rgb_square, (TEACHER_SIZE, TEACHER_SIZE),
                       interpolation=cv2.INTER_AREA if h > TEACHER_SIZE else cv2.INTER_LINEAR)
        kp, hm, ctr = self.sess.run(None, {"input:0": x[None].astype(np.int32)})
        kp = kp[0, 0]
        joints = np.stack([kp[:, 1] * w, kp[:, 0] * h, kp[:, 2]], axis=1).astype(np.float32)
        return joints, hm[0], ctr[0, 0]

    def run_crop(self, img, cx, cy, side):
        """Teacher on a square crop of a larger image; joints returned in the large image's pixels."""
        crop = square_crop(img, cx, cy, side, TEACHER_SIZE)
        j, hm, ctr = self.run(crop)
        s = side / TEACHER_SIZE
        j[:, 0] = cx - side / 2 + j[:, 0] * s
        j[:, 1] = cy - side / 2 + j[:, 1] * s
        return j, hm, ctr
