"""Data pipeline tests (no ../shared needed): COCO reader on a self-made fixture, pack round trip,
balanced sampling, split rules, augmentation geometry (flip, rotation, crops), ONNX -> PyTorch loading,
the eval-crop PCK arithmetic."""
import json
import os
import sys

import cv2
import numpy as np
import pytest
import torch

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)
from lm_train import augment as A  # noqa: E402
from lm_train import coco as C  # noqa: E402
from lm_train import gt_eval as G  # noqa: E402
from lm_train import pack as P  # noqa: E402
from lm_train import people as PE  # noqa: E402
from lm_train.data import heatmap_targets  # noqa: E402

KP = 17


def _coco_fixture(tmp_path):
    """Two images, four annotations: a valid person, a crowd box, a box without keypoints, a person
    with only 3 labelled joints (kept: num_keypoints > 0)."""
    imgdir = tmp_path / "images"
    imgdir.mkdir()
    yy, xx = np.mgrid[0:120, 0:160]
    for k, name in enumerate(("a.png", "b.png")):
        img = np.stack([xx * 1.5, yy * 2.0, np.full_like(xx, 60 + 100 * k)], axis=2).astype(np.uint8)
        cv2.circle(img, (60, 50), 15, (255, 255, 255), -1)
        cv2.imwrite(str(imgdir / name), img)
    kp_full = []
    for k in range(KP):
        kp_full += [40 + 2 * k, 20 + 4 * k, 2 if k % 5 else 1]
    kp_three = [0, 0, 0] * KP
    for k in (0, 5, 6):
        kp_three[3 * k:3 * k + 3] = [100 + k, 30 + k, 2]
    anns = [
        {"id": 1, "image_id": 10, "category_id": 1, "iscrowd": 0, "num_keypoints": 17, "bbox": [30, 10, 60, 80],
         "keypoints": kp_full},
        {"id": 2, "image_id": 10, "category_id": 1, "iscrowd": 1, "num_keypoints": 5, "bbox": [0, 0, 50, 50],
         "keypoints": kp_full},
        {"id": 3, "image_id": 11, "category_id": 1, "iscrowd": 0, "num_keypoints": 0, "bbox": [5, 5, 40, 40],
         "keypoints": [0] * (3 * KP)},
        {"id": 4, "image_id": 11, "category_id": 1, "iscrowd": 0, "num_keypoints": 3, "bbox": [90, 20, 30, 50],
         "keypoints": kp_three},
    ]
    d = {"images": [{"id": 10, "file_name": "a.png", "width": 160, "height": 120},
                    {"id": 11, "file_name": "b.png", "width": 160, "height": 120}],
         "annotations": anns,
         "categories": [{"id": 1, "name": "person", "keypoints": [f"k{i}" for i in range(KP)]}]}
    js = tmp_path / "person_keypoints_fixture.json"
    js.write_text(json.dumps(d))
    return str(js), str(imgdir)


def test_coco_reader_one_sample_per_person_box(tmp_path):
    js, imgdir = _coco_fixture(tmp_path)
    s = C.read_coco(js, imgdir)
    assert [r["ann_id"] for r in s] == [1, 4]  # crowd and keypoint-less boxes skipped
    r = s[0]
    assert r["image"] == os.path.join(imgdir, "a.png")
    assert r["box"] == pytest.approx((60.0, 50.0, 1.25 * 80))
    assert r["joints"][3].tolist() == [46.0, 32.0, 1.0]
    assert (r["joints"][:, 2] == 1).all()  # v = 1 (labelled, hidden) and v = 2 are both targets
    three = s[1]["joints"]
    assert three[[0, 5, 6], 2].tolist() == [1, 1, 1] and three[:, 2].sum() == 3
    assert (three[three[:, 2] == 0, :2] == 0).all()


def test_coco_reader_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"images": [], "annotations": []}))
    with pytest.raises(ValueError, match="bad.json.*categories"):
        C.read_coco(str(bad), str(tmp_path))
    js, imgdir = _coco_fixture(tmp_path)
    d = json.loads(open(js).read())
    d["annotations"][0]["keypoints"] = d["annotations"][0]["keypoints"][:-3]
    short = tmp_path / "short.json"
    short.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="short.json: annotation 1: 48 keypoint values"):
        C.read_coco(str(short), imgdir)


def test_pack_round_trip_and_cut(tmp_path):
    js, imgdir = _coco_fixture(tmp_path)
    samples = []
    for r in C.read_coco(js, imgdir):
        img = cv2.cvtColor(cv2.imread(r["image"]), cv2.COLOR_BGR2RGB)
        crop, j = P.cut(img, r["joints"], r["box"], context=2.0, max_px=180)
        # a joint maps into the crop by the same similarity as the pixels
        cx, cy, side = r["box"]
        s = crop.shape[0] / (2.0 * side)
        assert j[0, 0] == pytest.approx((r["joints"][0, 0] - (cx - side)) * s, abs=1e-4)
        samples.append(dict(crop=crop, joints=j, source="coco:fx", group=str(r["image_id"]),
                            split="train" if r["ann_id"] == 1 else "heldout", label="gt", path=r["image"]))
    out = str(tmp_path / "p.npz")
    P.write(out, samples, context=2.0, quality=95)
    pk = P.Pack(out)
    assert len(pk) == 2 and pk.context == 2.0
    assert pk["crop_px"].tolist() == [180, 125]  # 2 x 1.25 x 50 = 125 px: never upsampled
    np.testing.assert_array_equal(pk.joints(1), samples[1]["joints"])
    assert np.abs(pk.image(0).astype(int) - samples[0]["crop"]).mean() < 3  # JPEG, lossy
    tr = pk.subset(pk["split"] == "train")
    assert len(tr) == 1 and tr["path"][0].endswith("a.png")
    np.testing.assert_array_equal(tr.joints(0), samples[0]["joints"])


def test_pack_rejects_other_npz(tmp_path):
    p = str(tmp_path / "x.npz")
    np.savez(p, images=np.zeros(3))
    with pytest.raises(ValueError, match="x.npz: not a training pack"):
        P.Pack(p)


def test_balanced_probs_caps_the_big_source():
    src = np.array(["ccp"] * 1573 + ["pose2sim"] * 100 + ["yoga"] * 20)
    w = np.ones(len(src))
    w[-10:] = 0.25  # ten unsure yoga samples, drawn 4x less often than the sure ones
    p = P.balanced_probs(src, w, cap=200)
    assert p.sum() == pytest.approx(1.0)
    assert p[src == "ccp"].sum() == pytest.approx(200 / 320)
    assert p[src == "pose2sim"].sum() == pytest.approx(100 / 320)
    assert p[src == "yoga"].sum() == pytest.approx(20 / 320)
    assert p[-1] == pytest.approx(p[-11] / 4)
    assert P.balanced_probs(src, np.ones(len(src)), cap=0)[0] == pytest.approx(1 / len(src))


def _standing(rng, n):
    """n standing people (COCO-17 joints, all labelled) with a little jitter, at random places and sizes."""
    base = np.array([[50, 10], [48, 8], [52, 8], [46, 9], [54, 9], [42, 20], [58, 20], [40, 35], [60, 35],
                     [40, 48], [60, 48], [45, 50], [55, 50], [45, 70], [55, 70], [45, 90], [55, 90]], float)
    out = np.zeros((n, KP, 3), np.float32)
    for i in range(n):
        s, t = rng.uniform(0.5, 2.0), rng.uniform(-50, 50, 2)
        out[i, :, :2] = (base + rng.normal(0, 0.8, base.shape)) * s + t
        out[i, :, 2] = 0.9
    return out


def test_pose_rarity_finds_the_odd_pose_whatever_its_place_and_size():
    from lm_train import pose_rarity as R
    rng = np.random.default_rng(0)
    j = _standing(rng, 40)
    sit = j[0].copy()  # the same person sitting: thighs forward, shins down
    sit[13, :2], sit[14, :2] = sit[11, :2] + [20, 2], sit[12, :2] + [20, 2]
    sit[15, :2], sit[16, :2] = sit[13, :2] + [0, 20], sit[14, :2] + [0, 20]
    j = np.concatenate([j, sit[None]])
    # the descriptor ignores position and size
    moved = j[:2].copy()
    moved[:, :, :2] = moved[:, :, :2] * 3.0 + 100.0
    np.testing.assert_allclose(R.descriptor(moved)[0], R.descriptor(j[:2])[0], atol=1e-5)
    r = R.rarity(j, k=5)
    assert np.argmax(r) == len(j) - 1 and r[-1] > 5 * np.median(r[:-1])
    # a big pack: neighbours among a random reference subset, the odd pose still stands out
    rs = R.rarity(j, k=5, max_ref=20)
    assert np.argmax(rs) == len(j) - 1 and np.isfinite(rs).all()
    np.testing.assert_array_equal(R.weights(j, 0.0), np.ones(len(j)))
    w = R.weights(j, 1.0, lo=0.5, hi=4.0, k=5)
    assert w[-1] == 4.0 and w.min() >= 0.5 and np.median(w[:-1]) == pytest.approx(1.0, abs=0.3)
    # a rare pose the labeller was unsure of is not drawn more often (it may be a wrong label)
    unsure = np.ones(len(j), bool)
    unsure[-1] = False
    wt = R.weights(j, 1.0, lo=0.5, hi=4.0, trusted=unsure, k=5)
    assert wt[-1] == 1.0 and np.array_equal(wt[:-1], w[:-1])
    # too few labelled joints to compare (fewer than min_shared = 10): rarity unknown, weight 1
    few = j.copy()
    few[3, 9:, 2] = 0.0
    assert np.isnan(R.rarity(few, k=5)[3]) and R.weights(few, 2.0, k=5)[3] == 1.0


def test_pose_balance_draws_rare_poses_more_often_within_their_source(tmp_path):
    from lm_train import loader as LD
    rng = np.random.default_rng(1)
    j = _standing(rng, 30)
    j[-1, 9, :2] = j[-1, 5, :2] + [0, -25]  # the last one raises its left wrist above the head
    j[-1, 7, :2] = j[-1, 5, :2] + [0, -12]
    crop = np.zeros((64, 64, 3), np.uint8)
    samples = [dict(crop=crop, joints=j[i], source="a" if i < 20 else "b", split="train", mean_score=0.8)
               for i in range(30)]
    out = str(tmp_path / "p.npz")
    P.write(out, samples, context=2.0)
    packs = LD.Packs([out])
    p0 = LD.sampling_probs(packs, cap=0)
    p1 = LD.sampling_probs(packs, cap=0, pose_alpha=1.0)
    assert p1.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(p0, 1 / 30)
    assert p1[-1] > 3 * p0[-1] and p1[-1] == p1.max()
    assert p1[20:].sum() == pytest.approx(p0[20:].sum())  # the sources' shares stay
    # the same pose labelled by an unsure teacher (mean score < SURE_MEAN) is not boosted
    samples[-1]["mean_score"] = LD.SURE_MEAN - 0.1
    P.write(out, samples, context=2.0)
    assert LD.sampling_probs(LD.Packs([out]), cap=0, pose_alpha=1.0)[-1] <= p0[-1] * 1.2


def test_split_by_video_and_gate():
    cam = "pypi:pose2sim==0.10.49:Pose2Sim/Demo_SinglePerson/videos/cam04.mp4"
    g = PE.video_group(cam + " frame 35 (t=0.583s of 100 frames @ 60fps)", "train/x/f00035.jpg")
    assert g == cam and PE.is_heldout(g)
    g1 = PE.video_group(cam.replace("cam04", "cam01") + " frame 5 (t=...)", "p")
    assert not PE.is_heldout(g1)
    # a photo is its own group; about HELDOUT_PERCENT of photo groups are held out, deterministically
    photos = [f"github:x/y@1:img{i}.jpg" for i in range(2000)]
    frac = np.mean([PE.is_heldout(PE.video_group(p, p)) for p in photos])
    assert 0.07 < frac < 0.13
    assert PE.is_heldout(photos[0]) == PE.is_heldout(photos[0])
    j = np.zeros((3, 17, 3), np.float32)
    j[0, :10, 2] = 0.9
    j[1, :4, 2] = 0.9
    j[2, :10, 2] = 0.31
    mean = j[:, :, 2].mean(1)
    assert PE.gate(j, mean, 0.3, 6).tolist() == [True, False, False]
    assert PE.conf_weight(np.array([0.6, 0.25, 0.0])).tolist() == [1.0, 0.5, 0.25]


def _dot_image(size, xy, value=255):
    img = np.zeros((size, size, 3), np.uint8)
    cv2.circle(img, (int(round(xy[0])), int(round(xy[1]))), 2, (value, value, value), -1)
    return img


def _brightest(img):
    g = cv2.GaussianBlur(img[..., 0].astype(np.float32), (0, 0), 1.5)
    y, x = np.unravel_index(g.argmax(), g.shape)
    return np.array([x, y], np.float32)


@pytest.mark.parametrize("scale,rot,flip", [(1.0, 0.0, True), (1.3, 30.0, False), (0.6, -25.0, True)])
def test_geometry_moves_joints_with_pixels(scale, rot, flip):
    crop_px, size = 200, 160
    joints = np.zeros((17, 3), np.float32)
    joints[:, 2] = 1.0
    joints[9] = [80, 120, 1.0]   # left wrist
    joints[10] = [130, 85, 1.0]  # right wrist
    m = A.view_matrix(size, l_px=100, crop_px=crop_px, scale=scale, rot_deg=rot, tx=5, ty=-7, flip=flip)
    out = A.transform_joints(joints, m, flip, size)
    for k in (9, 10):
        view = cv2.warpAffine(_dot_image(crop_px, joints[k]), m, (size, size), flags=cv2.INTER_LINEAR)
        # with a flip the image's left wrist is now the person's right one
        k_out = A.FLIP_PERM[k] if flip else k
        assert np.abs(_brightest(view) - out[k_out, :2]).max() <= 1.0
    if flip:
        # mirrored: the wrist that was further right in the crop is now further left
        assert out[9, 0] < out[10, 0]


def test_flip_swaps_left_and_right_and_mirrors_x():
    size = 160
    j = np.zeros((17, 3), np.float32)
    j[:, 0] = np.arange(17) * 5 + 10
    j[:, 1] = 50
    j[:, 2] = 1
    m = A.view_matrix(size, l_px=size, crop_px=size, flip=True)
    out = A.transform_joints(j, m, True, size)
    for k in range(17):
        assert out[A.FLIP_PERM[k], 0] == pytest.approx(size - j[k, 0])
        assert out[A.FLIP_PERM[k], 1] == pytest.approx(50)
    assert out[0, 0] == pytest.approx(size - j[0, 0])  # nose stays the nose
    assert out[5, 0] == pytest.approx(size - j[6, 0])  # left shoulder <- right shoulder


def test_crop_drops_out_of_frame_joints_and_their_targets():
    size = 160
    j = np.zeros((17, 3), np.float32)
    j[:, 2] = 0.9
    j[:, 0] = 160
    j[:, 1] = np.linspace(20, 300, 17)  # head at the top, ankles far below
    m = A.view_matrix(size, l_px=160, crop_px=320, scale=2.0, ty=240)  # zoom x2 on the head
    out = A.transform_joints(j, m, False, size)
    inside = (out[:, 1] >= 0) & (out[:, 1] < size)
    assert inside.any() and (~inside).any()
    assert (out[~inside, 2] == 0).all() and (out[inside, 2] == pytest.approx(0.9))
    hm = heatmap_targets(out, size, 8)
    assert (hm[:, :, ~inside] == 0).all() and (hm[:, :, inside].max(axis=(0, 1)) > 5).all()


def test_augment_views_cover_close_ups_small_people_and_keep_joints_consistent():
    rng = np.random.default_rng(0)
    crop_px = 320
    j = np.zeros((17, 3), np.float32)
    j[:, 0] = 160 + np.tile([-20, 20], 9)[:17]
    j[:, 1] = np.linspace(100, 230, 17)
    j[:, 2] = 0.9
    img = np.full((crop_px, crop_px, 3), 128, np.uint8)
    iu = np.triu_indices(17, 1)

    def dists(jj):  # sorted pairwise distances: kept by rotation, and by the flip's joint swap
        return np.sort(np.hypot(*(jj[:, None, :2] - jj[None, :, :2]).transpose(2, 0, 1))[iu])
    d_in = dists(j)
    zooms, n_out = [], 0
    cfg = A.AugConfig(p_empty=0.0)
    for _ in range(200):
        x, jj = A.augment(img, j, 160, 160, rng, cfg)
        assert x.shape == (160, 160, 3) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 255
        vis = jj[:, 2] > 0
        n_out += (~vis).any()
        assert (jj[vis, :2] >= 0).all() and (jj[vis, :2] < 160).all()
        # the zoom of this view, from the joints' distances (rotation and flip keep them)
        ratio = dists(jj) / d_in
        assert np.ptp(ratio) < 1e-3  # a similarity: one zoom for all joints
        zooms.append(ratio.mean())
    zooms = np.array(zooms)
    assert (zooms > 1.8).any()                          # close-ups
    assert (zooms < 0.7).any()                          # small people
    assert ((zooms > 0.7) & (zooms < 1.4)).mean() > 0.4  # mostly the usual framing
    assert n_out > 10                                   # some joints cut off by close-ups


def test_photometric_is_blueoil_like():
    rng = np.random.default_rng(1)
    img = np.random.default_rng(2).integers(0, 255, (32, 32, 3)).astype(np.uint8)
    cfg = A.AugConfig(p_blur=0.0, p_grey=0.0, hue_deg=0.0, p_dark=0.0)
    for _ in range(20):
        y = A.photometric(img, rng, cfg)
        assert y.shape == img.shape and y.dtype == np.float32
        # Brightness / Color / Contrast factors in 0.75..1.25: the mean can move at most by ~25 % (+ clipping)
        assert 0.5 * img.mean() < y.mean() < 1.4 * img.mean()
    grey = A.photometric(img, rng, A.AugConfig(p_grey=1.0, p_blur=0.0, p_dark=0.0))
    assert np.allclose(grey[..., 0], grey[..., 1]) and np.allclose(grey[..., 1], grey[..., 2])
    x = np.zeros((40, 40, 3), np.float32)
    A.occlude(x, rng, A.AugConfig())
    assert 0.01 < (x.sum(2) > 0).mean() < 0.2


def test_low_light_is_dim_noisy_and_on_8_bit_levels():
    rng = np.random.default_rng(3)
    img = np.full((64, 64, 3), 200, np.uint8)
    for _ in range(10):
        y = A.photometric(img, rng, A.AugConfig(p_dark=1.0, p_blur=0.0, p_grey=0.0, hue_deg=0.0, enhance=(1, 1)))
        assert 200 * 0.08 - 2 < y.mean() < 200 * 0.4 + 2       # brightness x0.08..0.4
        assert y.std() > 0.3                                  # sensor noise
        assert np.array_equal(y, np.round(y))                 # 8-bit levels
    x, jj = A.augment(img, np.full((17, 3), 0.9, np.float32) * [40, 40, 1], 160, 64, rng,
                      A.AugConfig(p_dark=1.0, p_empty=0.0))
    assert (jj[:, 2] > 0).all()                               # a dim person keeps every target


def test_empty_views_have_no_targets_and_vary():
    rng = np.random.default_rng(4)
    img = np.full((64, 64, 3), 128, np.uint8)
    j = np.full((17, 3), 0.9, np.float32) * [40, 40, 1]
    means, stds = [], []
    for _ in range(60):
        x, jj = A.augment(img, j, 160, 64, rng, A.AugConfig(p_empty=1.0))
        assert x.shape == (160, 160, 3) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 255
        assert (jj[:, 2] == 0).all()
        assert not heatmap_targets(jj, 160, 8).any()          # all-zero heatmaps: "nobody here"
        means.append(x.mean())
        stds.append(x.std())
    assert min(means) < 30 and max(means) > 150             # dark and bright pictures
    assert min(stds) < 1.0 and max(stds) > 20               # flat ones and textured ones
    n_empty = sum((A.augment(img, j, 160, 64, rng)[1][:, 2] == 0).all() for _ in range(400))
    assert 5 <= n_empty <= 40                                 # default: ~5 % of the views


def test_distractor_is_pasted_beside_the_target_and_keeps_its_targets():
    """A black target person and a green other one: the green pixels of the view are the other person (a
    hull around their joints, at a similar size), beside the target rather than over its centre, and the
    targets are the same as without the other person (the same seed)."""
    crop_px = 320
    j = np.zeros((17, 3), np.float32)
    j[:, 0] = 160 + np.tile([-25, 25], 9)[:17]
    j[:, 1] = np.linspace(90, 240, 17)
    j[:, 2] = 0.9
    black, green = np.zeros((crop_px, crop_px, 3), np.uint8), np.zeros((crop_px, crop_px, 3), np.uint8)
    green[..., 1] = 255          # the zoomed-out views' borders are grey: never green
    cfg = A.AugConfig(p_empty=0.0, p_occlude=0.0, p_dark=0.0, p_grey=0.0, p_blur=0.0, hue_deg=0.0, enhance=(1, 1))
    shares, off_centre = [], []
    for seed in range(40):
        x0, j0 = A.augment(black, j, 160, 200, np.random.default_rng(seed), cfg)
        x, jj = A.augment(black, j, 160, 200, np.random.default_rng(seed), cfg, other=(green, j, 200))
        np.testing.assert_array_equal(jj, j0)
        assert x.max() <= 255 and (x0[..., 1] - x0[..., 0]).max() == 0
        other = x[..., 1] - x[..., 0] > 128
        shares.append(other.mean())
        if other.any():
            vis = jj[:, 2] > 0
            centre = jj[vis, :2].mean(0)
            side = np.ptp(jj[vis, 1])     # the target's height in view pixels
            ys, xs = np.nonzero(other)
            off_centre.append(abs(xs.mean() - centre[0]) / side)
    shares = np.array(shares)
    assert (shares > 0.02).mean() > 0.5 and shares.max() < 0.7   # mostly in view (not beside close-ups), never all of it
    assert np.median(off_centre) > 0.2                         # beside the target, not on it
    # The loader passes another sample in ~p_distract of the draws.
    assert A.AugConfig().p_distract == 0.3


def test_crowd_settings_paste_several_people_where_the_config_says():
    """A list of others pastes each of them (a green and a blue person), the targets stay the target's, and
    distract_offset / distract_dy place them: offset 0 puts the other person on the target's centre line,
    offset 0.4 beside it."""
    crop_px = 320
    j = np.zeros((17, 3), np.float32)
    j[:, 0] = 160 + np.tile([-25, 25], 9)[:17]
    j[:, 1] = np.linspace(90, 240, 17)
    j[:, 2] = 0.9
    black = np.zeros((crop_px, crop_px, 3), np.uint8)
    green, blue = black.copy(), black.copy()
    green[..., 1], blue[..., 2] = 255, 255
    plain = dict(p_empty=0.0, p_occlude=0.0, p_dark=0.0, p_grey=0.0, p_blur=0.0, hue_deg=0.0, enhance=(1, 1),
                 p_close=0.0, p_small=0.0, p_rot=0.0, shift=0.0, zoom=(1, 1), distract_zoom=(1, 1))
    both, offsets = 0, {0.0: [], 0.4: []}
    for seed in range(20):
        x0, j0 = A.augment(black, j, 160, 200, np.random.default_rng(seed), A.AugConfig(**plain))
        x, jj = A.augment(black, j, 160, 200, np.random.default_rng(seed), A.AugConfig(**plain),
                          other=[(green, j, 200), (blue, j, 200)])
        np.testing.assert_array_equal(jj, j0)
        both += int((x[..., 1] > 128).any() and (x[..., 2] > 128).any())
        for off in offsets:
            cfg = A.AugConfig(**plain, distract_offset=(off, off), distract_dy=0.0)
            x, jj = A.augment(black, j, 160, 200, np.random.default_rng(seed), cfg, other=(green, j, 200))
            ys, xs = np.nonzero(x[..., 1] > 128)
            if len(xs) < 20:      # behind the target, at the same place: hidden
                continue
            vis = jj[:, 2] > 0
            offsets[off].append(abs(xs.mean() - jj[vis, 0].mean()) / np.ptp(jj[vis, 1]))
    assert both >= 15                      # both people pasted (the one behind may hide under the target)
    assert len(offsets[0.0]) >= 5 and len(offsets[0.4]) >= 15
    assert np.median(offsets[0.0]) < 0.05  # on the target (behind it, only its edges show)
    assert min(offsets[0.4]) > 0.3         # beside it


def test_loader_draws_up_to_max_distract_other_people(monkeypatch):
    """make_batch hands augment a list of 1..max_distract other samples in ~p_distract of the views."""
    from lm_train import loader as LD

    class FakePacks:
        def __len__(self):
            return 5

        def sample(self, i):
            return np.zeros((64, 64, 3), np.uint8), np.zeros((17, 3), np.float32), 32.0

    seen = []

    def fake_augment(img, j, size, l_px, rng, cfg, other=None):
        seen.append(other)
        return np.zeros((size, size, 3), np.float32), j

    monkeypatch.setattr(LD.A, "augment", fake_augment)
    LD.make_batch(FakePacks(), range(400), 32, 8, np.random.default_rng(0),
                  A.AugConfig(p_distract=0.5, max_distract=2))
    counts = [0 if o is None else len(o) for o in seen]
    assert 0.4 < np.mean([c > 0 for c in counts]) < 0.6
    assert set(counts) == {0, 1, 2}


def test_train_crowd_ranges_parse_or_name_the_flag():
    import train
    assert train.pair("0.15,0.9", "--distract-offset") == (0.15, 0.9)
    with pytest.raises(SystemExit, match=r"--distract-zoom '0.6': expected two numbers, min,max"):
        train.pair("0.6", "--distract-zoom")
    with pytest.raises(SystemExit, match=r"--distract-offset '0.9,0.15': expected 0 <= min <= max"):
        train.pair("0.9,0.15", "--distract-offset")


@pytest.mark.parametrize("quant", [True, False])
def test_onnx_init_reproduces_the_exported_model(tmp_path, quant):
    from lm_train.export import export_onnx
    from lm_train.model import TINY_WIDTHS, LmSinglePose, randomize_bn
    from lm_train.onnx_init import model_from_onnx
    torch.manual_seed(0)
    m = LmSinglePose(quantize=quant, stride=8, widths=TINY_WIDTHS)
    randomize_bn(m, 0)
    m.eval()
    p = str(tmp_path / "m.onnx")
    export_onnx(m, p, 64, 64)
    back = model_from_onnx(p)
    assert back.quantize == quant and back.stride == 8 and back.widths == TINY_WIDTHS
    x = torch.from_numpy(np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32))
    with torch.no_grad():
        assert torch.abs(back.forward_nhwc(x) - m.forward_nhwc(x)).max() <= 1e-4


def test_onnx_init_refuses_other_graphs(tmp_path):
    import onnx
    from onnx import TensorProto, helper
    from lm_train.onnx_init import model_from_onnx
    g = helper.make_graph([helper.make_node("Identity", ["image"], ["heatmaps"])], "g",
                          [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 64, 64, 3])],
                          [helper.make_tensor_value_info("heatmaps", TensorProto.FLOAT, [1, 8, 8, 17])])
    p = str(tmp_path / "other.onnx")
    onnx.save(helper.make_model(g), p)
    with pytest.raises(ValueError, match="other.onnx: initialiser conv1/W missing"):
        model_from_onnx(p)


def test_gt_eval_crop_and_pck():
    cx, cy, side = G.crop_box([100, 50, 40, 80])
    assert (cx, cy, side) == (120, 90, 100)
    # the crop's centre maps back to the box centre, its corner to the crop square's corner
    back = G.to_image(np.array([[80, 80], [0, 0]], np.float32), cx, cy, side, 160)
    np.testing.assert_allclose(back, [[120, 90], [70, 40]])
    kp = np.zeros((17, 3), np.float32)
    kp[:3] = [[10, 10, 2], [20, 20, 1], [30, 30, 2]]
    pred = kp[:, :2].copy()
    pred[1] += [16.0, 0]   # 0.2 x 80 = 16: correct at 0.2, wrong at 0.1
    pred[2] += [17.0, 0]   # wrong at both
    c2 = G.correct(pred, kp, [0, 0, 40, 80], 0.2)
    c1 = G.correct(pred, kp, [0, 0, 40, 80], 0.1)
    assert c2[:3].tolist() == [1, 1, 0] and c1[:3].tolist() == [1, 0, 0]
    assert np.isnan(c2[3:]).all()


def test_gt_eval_counts_joints_that_followed_another_person():
    kp = np.zeros((17, 3), np.float32)
    kp[:3] = [[10, 10, 2], [20, 20, 2], [30, 30, 2]]
    other = np.zeros((17, 3), np.float32)
    other[5] = [100, 20, 2]                       # another person's labelled shoulder
    other[6] = [10, 100, 0]                       # not labelled: never a match
    person = {"dataset": "a", "kp": kp, "bbox": np.array([0, 0, 40, 80], np.float32), "others": other[None]}
    pred = kp[:, :2].copy()
    pred[1] = [110, 20]                           # wrong, 10 px from the other's shoulder (<= 16): followed it
    pred[2] = [10, 95]                            # wrong, near the other's unlabelled joint only
    assert G.on_other_person(pred, person).tolist()[:3] == [False, True, False]
    assert not G.on_other_person(pred, {**person, "others": np.zeros((0, 17, 3), np.float32)}).any()
    res = G.summarise([person], {"m": pred[None]}, [f"j{i}" for i in range(17)])
    assert res["m"]["lit"]["wrong0.2"] == 2 and res["m"]["lit"]["wrong0.2_on_other"] == 1
    assert "of which on another person's labelled joint | 2, 1 |" in G.markdown(res)


def test_gt_eval_near_black_crops_are_reported_apart():
    lit = np.random.default_rng(0).integers(0, 255, (20, 20, 3)).astype(np.uint8)
    dark = np.zeros((20, 20, 3), np.uint8)
    dark[1:, :] = 10
    dark[0, :10] = 40                                   # 2.5 % of the pixels at 40: the 99th percentile sees them
    assert G.near_black([lit, dark, np.zeros((4, 4, 3))]).tolist() == [False, False, True]
    dark[0, :3] = 40                                    # 0.75 % at 40: still near-black
    dark[0, 3:10] = 10
    assert G.near_black([dark]).tolist() == [True]
    kp = np.zeros((17, 3), np.float32)
    kp[:2] = [[10, 10, 2], [20, 20, 2]]
    persons = [{"dataset": "a", "kp": kp, "bbox": np.array([0, 0, 40, 80], np.float32)} for _ in range(2)]
    good, bad = kp[:, :2], kp[:, :2] + 50.0
    res = G.summarise(persons, {"m": np.stack([good, bad])}, [f"j{i}" for i in range(17)], dark=[False, True])
    assert res["m"]["pck0.2"] == 0.5 and res["m"]["lit"]["pck0.2"] == 1.0 and res["m"]["lit"]["persons"] == 1
    assert "all but the 1 near-black crops (1 persons, 2 joints) | 1.000 / 1.000" in G.markdown(res)


def test_gt_eval_bootstrap_resamples_whole_persons_and_pairs_models():
    nan = np.nan
    # person 0: 10 labelled joints, all correct; person 1: 2 labelled, both wrong
    a = np.full((2, 17), nan)
    a[0, :10], a[1, :2] = 1.0, 0.0
    b = a.copy()
    b[0, :5] = 0.0                                   # model b: 5 of person 0's joints wrong
    s = G.bootstrap([a, b], n=4000, seed=1)
    assert s.shape == (2, 4000)
    # a resample holds the persons {0,0}, {0,1} or {1,1}: pooled PCKs 1, 10/12, 0 with odds 1:2:1
    vals, counts = np.unique(np.round(s[0], 6), return_counts=True)
    np.testing.assert_allclose(vals, [0.0, round(10 / 12, 6), 1.0])
    np.testing.assert_allclose(counts / 4000, [0.25, 0.5, 0.25], atol=0.03)
    # paired: the same resamples for both models, so b - a is never positive
    assert (s[1] - s[0] <= 0).all() and (s[1] - s[0] < 0).any()
    np.testing.assert_array_equal(G.bootstrap([a], n=50, seed=3), G.bootstrap([a], n=50, seed=3))
    lo, hi = G.interval(s[0])
    assert lo == 0.0 and hi == 1.0


def test_gt_eval_reports_intervals_and_differences_to_a_baseline():
    rng = np.random.default_rng(0)
    persons, good, worse = [], [], []
    for i in range(30):
        kp = np.zeros((17, 3), np.float32)
        kp[:, :2] = rng.uniform(0, 80, (17, 2))
        kp[:, 2] = 2
        persons.append({"dataset": "a", "kp": kp, "bbox": np.array([0, 0, 80, 80], np.float32)})
        g = kp[:, :2] + np.where(rng.random((17, 1)) < 0.7, 0.0, 40.0)  # ~70 % correct
        w = g.copy()
        w[:2] += 40.0                                                     # two more wrong joints per person
        good.append(g)
        worse.append(w)
    names = [f"j{i}" for i in range(17)]
    res = G.summarise(persons, {"good": np.stack(good), "worse": np.stack(worse)}, names, baseline="good")
    lo, hi = res["good"]["ci"]["all"]["pck0.2"]
    assert lo < res["good"]["pck0.2"] < hi and hi - lo < 0.2
    d, dlo, dhi = res["worse"]["vs_baseline"]["all"]["pck0.2"]
    assert d == pytest.approx(res["worse"]["pck0.2"] - res["good"]["pck0.2"]) and d < 0
    assert dlo <= d <= dhi < 0                     # paired: the two extra wrong joints always show
    assert "vs_baseline" not in res["good"]
    md = G.markdown(res)
    assert "| worse − good | " in md and f"[{lo:.3f}, {hi:.3f}]" in md
    with pytest.raises(ValueError, match="baseline best: no such model \\(models: good, worse\\)"):
        G.summarise(persons, {"good": np.stack(good), "worse": np.stack(worse)}, names, baseline="best")


def test_blank_pictures_and_the_joints_reported_on_them():
    import evaluate as E
    names, pics = E.blank_pictures(32, n=5)
    assert names == ["black", "grey", "white", "5 synthetic"] and pics.shape == (8, 32, 32, 3)
    assert pics[0].max() == 0 and np.allclose(pics[1], 128 / 255) and pics[2].min() == 1.0
    assert 0 <= pics.min() and pics.max() <= 1
    hm = np.zeros((8, 4, 4, 17), np.float32)
    hm[0, 1, 2, :] = 2.5          # black: every joint at confidence 0.25
    hm[3:, 0, 0, 0] = 10.0        # each synthetic picture: one joint at 1.0
    hm[3, 3, 3, 1] = 1.5          # and one of them a second at 0.15
    np.testing.assert_allclose(E.peak_confidence(hm)[0], 0.25)
    got = E.visible_on_blank(hm, names)
    assert got["0.1"] == {"black": 17, "grey": 0, "white": 0, "5 synthetic": 1.2}
    assert got["0.2"] == {"black": 17, "grey": 0, "white": 0, "5 synthetic": 1.0}
    assert got["0.3"]["black"] == 0


def test_decode_argmax_and_subpixel_like_the_runtime():
    """The same heatmap as the Rust test subpixel_shifts_a_quarter_towards_larger_neighbour (stride 4)."""
    import evaluate as E
    hm = np.zeros((5, 5, 3), np.float32)
    hm[2, 2, 0], hm[2, 3, 0], hm[1, 2, 0] = 10.0, 6.0, 4.0   # right > left, up > down
    hm[0, 4, 1] = 3.0                                           # a corner: no neighbour pair, no shift
    hm[1, 1, 2] = hm[3, 3, 2] = 5.0                             # a tie: the first maximum in row-major order
    hm[1, 0, 2] = hm[1, 2, 2] = 1.0                             # equal neighbours: no shift
    plain = E.decode(hm, 4)
    np.testing.assert_array_equal(plain, [[8, 8, 10], [16, 0, 3], [4, 4, 5]])
    np.testing.assert_array_equal(E.decode(hm, 4, subpixel=True), [[9, 7, 10], [16, 0, 3], [4, 4, 5]])


def test_flip_back_like_the_runtime():
    """As src/postprocess/flip_test.rs: at stride 1 a picture's heatmaps fused with their exact mirror image come
    back unchanged; at stride 8 a left wrist at x = 37 px and the mirrored picture's right wrist at 159 - 37 px line
    up in the same cell (merely reversing the cells would put it one cell off)."""
    import evaluate as E
    perm = A.FLIP_PERM
    rng = np.random.default_rng(0)
    hm = rng.random((2, 6, 6, 17)).astype(np.float32)
    mirrored = hm[:, :, ::-1, :][..., perm]
    np.testing.assert_allclose(E.flip_back(mirrored, 6, 1), hm, atol=1e-6)
    plain = heatmap_targets(np.array([[0, 0, 0]] * 9 + [[37.0, 50.0, 1.0]] + [[0, 0, 0]] * 7, np.float32), 160)
    mirr = heatmap_targets(np.array([[0, 0, 0]] * 10 + [[122.0, 50.0, 1.0]] + [[0, 0, 0]] * 6, np.float32), 160)
    assert np.unravel_index(mirr[:, :, 10].argmax(), (20, 20))[1] == 15 and 19 - 15 != 5
    back = E.flip_back(mirr[None], 160, 8)[0]
    fused = 0.5 * (plain + back)
    want = np.unravel_index(plain[:, :, 9].argmax(), (20, 20))
    assert want[1] == 5 and np.unravel_index(fused[:, :, 9].argmax(), (20, 20)) == want
    assert abs(fused[:, :, 9].max() - plain[:, :, 9].max()) < 0.02 * plain[:, :, 9].max()
