"""Augmentation for the packed samples (lm_train/pack.py): Blueoil's keypoint augmentors plus the views
the real-photo failures call for.

Photometric, as Blueoil's data_augmentor: Blur (Gaussian, sigma 0..1), Brightness, Color (saturation),
Contrast (each a factor in 0.75..1.25, PIL ImageEnhance semantics), Hue (shift of -10..10 degrees);
plus greyscale (10 %), occlusion (30 %: a random rectangle of 10-40 % of the side, flat colour or noise) and
low light (10 %: brightness x0.08-0.4 with sensor noise, rounded to 8-bit levels; the joints keep their targets).
Pictures without anyone (5 %, `empty_view`): flat colour, gradient, noise or smooth blotches, every target
zero, so that a black, grey or covered frame reports no joints (the first models drew a skeleton on a black one).
Geometric: FlipLeftRight (50 %, left/right joints swapped), rotation (50 %, +-30 deg), and one of three
framings of the person (L = the person's view, the default 160x160 input):
  close-up (20 %): head and shoulders, zoom x1.8-3.0 around the shoulders' midpoint (or the head), placed
                   in the lower-middle of the picture: a portrait cut at the chest, like astronaut.png;
  small    (20 %): zoom x0.35-0.7, the person anywhere in the picture (off-centre, far away);
  normal   (60 %): zoom x0.7-1.4, shift +-12 %.
Joints that end up outside the picture get score 0 (no target); occluded joints keep theirs.
Other people (`p_distract` 30 %, when the loader passes another sample): a second person, cut along the
dilated hull of their joints, is pasted beside the target at a similar size, in front of it (occluding) or
behind it; only the target's joints are targets. On the human-labelled eval/ crops, 80 of quant5's 254 wrong
joints (@0.2, lit crops) lay on another person's joint: the network must learn to stay on the centred person.
The defaults are what quant6 saw; `train.py --p-distract --distract-offset --distract-zoom --distract-dy
--max-distract` make crowds (quant7: half the views, up to two people, overlapping to a whole size away).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FLIP_PERM = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
CONF = 0.3


@dataclass
class AugConfig:
    p_flip: float = 0.5
    p_rot: float = 0.5
    max_rot: float = 30.0
    p_close: float = 0.2
    close_zoom: tuple = (1.8, 3.0)
    p_small: float = 0.2
    small_zoom: tuple = (0.35, 0.7)
    zoom: tuple = (0.7, 1.4)
    shift: float = 0.12
    enhance: tuple = (0.75, 1.25)   # Brightness, Color, Contrast (Blueoil's keypoint config)
    hue_deg: float = 10.0
    p_blur: float = 0.5
    blur_sigma: tuple = (0.0, 1.0)
    p_grey: float = 0.1
    p_occlude: float = 0.3
    occlude_frac: tuple = (0.1, 0.4)
    p_dark: float = 0.1
    dark: tuple = (0.08, 0.4)       # brightness factor of a low-light view
    dark_noise: tuple = (0.5, 3.0)  # its sensor noise, sigma in 8-bit levels
    p_empty: float = 0.05
    p_distract: float = 0.3          # another person pasted beside the target (lm_train/loader.py supplies one)
    distract_zoom: tuple = (0.8, 1.25)   # the other person's size relative to the target's
    distract_offset: tuple = (0.3, 0.65)  # horizontal distance of the centres, in the target's view sizes
    distract_dy: float = 0.15        # vertical distance of the centres, up to this many target sizes
    max_distract: int = 1            # up to this many other people (the loader draws 1..max_distract)


def view_matrix(size, l_px, crop_px, scale=1.0, rot_deg=0.0, tx=0.0, ty=0.0, flip=False):
    """2x3 affine map from stored-crop pixels (crop_px square, person view L = l_px pixels in its centre)
    to an input view of `size` pixels: p_out = F R S (p - crop centre) + view centre + t. Identity
    (scale 1, no rotation/shift/flip) = the central L x L square scaled to size x size."""
    s = size / l_px * scale
    a = np.deg2rad(rot_deg)
    c, si = np.cos(a) * s, np.sin(a) * s
    fx = -1.0 if flip else 1.0
    m = np.array([[fx * c, -fx * si], [si, c]], np.float64)
    ctr = np.array([crop_px / 2, crop_px / 2])
    off = np.array([size / 2 + tx, size / 2 + ty]) - m @ ctr
    return np.hstack([m, off[:, None]])


def transform_joints(joints, m, flip, size=None):
    """Joints (x, y, score) through the affine m; with flip the left/right joints swap places (the
    image's left arm becomes the person's right one); joints outside a size x size picture get score 0."""
    out = joints.astype(np.float32).copy()
    out[:, :2] = joints[:, :2] @ m[:, :2].T + m[:, 2]
    if flip:
        out = out[FLIP_PERM]
    if size is not None:
        outside = (out[:, 0] < 0) | (out[:, 1] < 0) | (out[:, 0] >= size) | (out[:, 1] >= size)
        out[outside, 2] = 0.0
    return out


def geometry(joints, size, l_px, crop_px, rng, cfg: AugConfig):
    """Random view: (2x3 matrix, flip)."""
    flip = bool(rng.random() < cfg.p_flip)
    rot = float(rng.uniform(-cfg.max_rot, cfg.max_rot)) if rng.random() < cfg.p_rot else 0.0
    r = rng.random()
    vis = joints[:, 2] >= CONF
    if r < cfg.p_close and vis[:7].sum() >= 2:
        scale = float(rng.uniform(*cfg.close_zoom))
        if vis[5] and vis[6]:
            focus, target_y = joints[[5, 6], :2].mean(0), rng.uniform(0.6, 0.85)   # shoulders low in the picture
        else:
            focus, target_y = joints[:7][vis[:7], :2].mean(0), rng.uniform(0.35, 0.55)
        m0 = view_matrix(size, l_px, crop_px, scale, rot, 0, 0, flip)
        f = m0[:, :2] @ focus + m0[:, 2]
        tx = size * (0.5 + rng.uniform(-0.12, 0.12)) - f[0]
        ty = size * target_y - f[1]
    elif r < cfg.p_close + cfg.p_small:
        scale = float(np.exp(rng.uniform(*np.log(cfg.small_zoom))))
        room = max(0.0, (1 - scale) / 2) * size
        tx, ty = rng.uniform(-room, room, size=2)
    else:
        scale = float(np.exp(rng.uniform(*np.log(cfg.zoom))))
        tx, ty = rng.uniform(-cfg.shift, cfg.shift, size=2) * size
    return view_matrix(size, l_px, crop_px, scale, rot, tx, ty, flip), flip


LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601 weights, as PIL's convert("L")


def grey(x):
    """[..., 3] RGB float -> [...] grey level."""
    return x @ LUMA


def enhance(x, factor, degenerate):
    """PIL ImageEnhance semantics: blend of the image with a degenerate version."""
    return degenerate + factor * (x - degenerate)


def photometric(img, rng, cfg: AugConfig):
    """Blueoil's Brightness / Color / Contrast / Hue / Blur, greyscale. img uint8 or float RGB; returns float32."""
    x = img.astype(np.float32)
    order = rng.permutation(3)
    for k in order:
        f = rng.uniform(*cfg.enhance)
        if k == 0:    # Brightness: towards black
            x = enhance(x, f, 0.0)
        elif k == 1:  # Color: towards the grey image
            g = grey(x)[..., None]
            x = enhance(x, f, g)
        else:         # Contrast: towards the mean grey level
            g = float(grey(x).mean())
            x = enhance(x, f, g)
    x = np.clip(x, 0, 255)
    if cfg.hue_deg > 0:
        hsv = cv2.cvtColor(x.astype(np.float32) / 255.0, cv2.COLOR_RGB2HSV)  # H in degrees 0..360
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-cfg.hue_deg, cfg.hue_deg)) % 360.0
        x = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0
    if rng.random() < cfg.p_grey:
        x = np.repeat(grey(x)[..., None], 3, axis=2)
    if rng.random() < cfg.p_blur:
        sigma = rng.uniform(*cfg.blur_sigma)
        if sigma > 0.05:
            x = cv2.GaussianBlur(x, (0, 0), sigma)
    if rng.random() < cfg.p_dark:
        x = low_light(x, rng, cfg)
    return np.clip(x, 0, 255).astype(np.float32)


def low_light(x, rng, cfg: AugConfig):
    """A dim scene: darker, with sensor noise, on the few 8-bit levels a camera would give."""
    x = x * rng.uniform(*cfg.dark) + rng.normal(0.0, rng.uniform(*cfg.dark_noise), size=x.shape)
    return np.round(np.clip(x, 0, 255))


def empty_view(size, rng):
    """A picture with nobody in it, float32 [size, size, 3] 0..255: a flat colour, a gradient between two
    colours, noise over a flat colour, or smooth blotches (upscaled random pixels); sometimes dark."""
    kind = int(rng.integers(4))
    if kind == 0:
        x = np.broadcast_to(rng.uniform(0, 255, size=3), (size, size, 3))
    elif kind == 1:
        t = np.linspace(0.0, 1.0, size)[:, None, None]
        a, b = rng.uniform(0, 255, size=(2, 3))
        x = a + (b - a) * t
        x = np.broadcast_to(x, (size, size, 3))
        x = x.transpose(1, 0, 2) if rng.random() < 0.5 else x
    elif kind == 2:
        x = rng.uniform(0, 255, size=3) + rng.normal(0.0, rng.uniform(2, 40), size=(size, size, 3))
    else:
        n = int(rng.integers(2, 12))
        x = cv2.resize(rng.uniform(0, 255, size=(n, n, 3)).astype(np.float32), (size, size),
                       interpolation=cv2.INTER_CUBIC)
    x = np.clip(x, 0, 255).astype(np.float32)
    if rng.random() < 0.3:
        x = x * rng.uniform(0.0, 0.2)
    return np.ascontiguousarray(np.round(x), dtype=np.float32)


def occlude(x, rng, cfg: AugConfig):
    """A random rectangle (flat random colour or noise) over part of the picture, in place."""
    h, w = x.shape[:2]
    rw = int(w * rng.uniform(*cfg.occlude_frac))
    rh = int(h * rng.uniform(*cfg.occlude_frac))
    x0, y0 = int(rng.integers(0, w - rw + 1)), int(rng.integers(0, h - rh + 1))
    if rng.random() < 0.5:
        x[y0:y0 + rh, x0:x0 + rw] = rng.uniform(0, 255, size=3)
    else:
        x[y0:y0 + rh, x0:x0 + rw] = rng.uniform(0, 255, size=(rh, rw, 3))
    return x


def hull_mask(joints, size, radius):
    """float32 [size, size] 0..1: the convex hull of the joints scored >= CONF, dilated by `radius` pixels,
    edges softened; all zero with fewer than 3 such joints."""
    mask = np.zeros((size, size), np.float32)
    pts = joints[joints[:, 2] >= CONF, :2]
    if len(pts) < 3:
        return mask
    hull = cv2.convexHull(np.round(pts).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1.0)
    r = max(int(round(radius)), 1)
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return np.clip(cv2.GaussianBlur(mask, (0, 0), 1.5), 0.0, 1.0)


def paste_distractor(x, target, target_side, target_centre, other, rng, cfg: AugConfig):
    """Pastes another person into the view x (float, in place) beside the target person, whose view size
    (L in view pixels) is target_side and centre target_centre: cfg.distract_zoom times as big,
    cfg.distract_offset target sizes to the left or right (and a little up or down), randomly flipped, in
    front of the target or (half of the time) behind it, cut along the dilated hull of its joints.
    `other` = (stored crop, joints, L in its pixels); `target` = the target's view joints (for the hull of
    what stays in front when the other person is behind). Returns x."""
    size = x.shape[0]
    img, joints, l_px = other
    side = target_side * float(rng.uniform(*cfg.distract_zoom))
    dx = float(rng.choice([-1.0, 1.0])) * float(rng.uniform(*cfg.distract_offset)) * target_side
    dy = float(rng.uniform(-cfg.distract_dy, cfg.distract_dy)) * target_side
    flip = bool(rng.random() < 0.5)
    m = view_matrix(size, l_px, img.shape[0], side / size, 0.0,
                    target_centre[0] - size / 2 + dx, target_centre[1] - size / 2 + dy, flip)
    d = cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    a = hull_mask(transform_joints(joints, m, flip), size, 0.08 * side)
    if rng.random() < 0.5:  # behind the target: the target's own hull stays in front
        a = a * (1.0 - hull_mask(target, size, 0.08 * target_side))
    a = a[..., None]
    x[:] = x * (1.0 - a) + d.astype(np.float32) * a
    return x


def augment(img, joints, size, l_px, rng, cfg: AugConfig | None = None, colour=True, other=None):
    """(view float32 [size,size,3] 0..255, joints in view pixels). Outside the stored crop: a flat
    random grey, so that zoomed-out views do not all have black borders. With p_empty the view is
    `empty_view` instead and every joint's score is 0 (no targets). `other` (another sample: stored crop,
    joints, L), or a list of them, is pasted beside the target (`paste_distractor`; the loader passes them
    with p_distract)."""
    cfg = cfg or AugConfig()
    if colour and rng.random() < cfg.p_empty:
        return empty_view(size, rng), np.zeros_like(joints, dtype=np.float32)
    m, flip = geometry(joints, size, l_px, img.shape[0], rng, cfg)
    border = float(rng.uniform(0, 255)) if colour else 0.0
    x = cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                       borderValue=(border, border, border))
    j = transform_joints(joints, m, flip, size)
    if not colour:
        return x.astype(np.float32), j
    if other is not None:
        side = float(np.sqrt(abs(np.linalg.det(m[:, :2])))) * l_px        # the target's L in view pixels
        centre = m[:, :2] @ np.full(2, img.shape[0] / 2) + m[:, 2]         # where the crop's centre lands
        x = x.astype(np.float32)
        for o in (other if isinstance(other, list) else [other]):
            x = paste_distractor(x, j, side, centre, o, rng, cfg)
    x = photometric(x, rng, cfg)
    if rng.random() < cfg.p_occlude:
        x = occlude(x, rng, cfg)
    return x, j


def default_view(img, joints, size, l_px):
    m = view_matrix(size, l_px, img.shape[0])
    x = cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return x.astype(np.float32), transform_joints(joints, m, False, size)
