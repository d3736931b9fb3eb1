"""ShapesWorld: a deterministic synthetic world with ground truth for every task of the course.

Two generators, both pure NumPy + OpenCV rasterisation, seeded per sample: `sample(i)` depends only on
`(seed, i)`, so the same seed gives byte-identical output in any order, in any process.

- `ShapesWorld` renders 0..K coloured, rotated shapes (`CLASS_NAMES`) on a textured or noisy
  background. Later objects occlude earlier ones; objects may be truncated by the image border. Every
  target is computed from the *visible* pixels of each object, so they are mutually consistent:
  instance masks are disjoint, the semantic mask is their union, boxes are their extents, and the
  image-level label is the class of the object with the most visible pixels. Objects left with fewer
  than `min_visible_pixels` visible pixels (e.g. fully occluded) are dropped.
- `StickFigures` renders one articulated stick figure with the fixed skeleton `JOINT_NAMES` /
  `SKELETON`, random limb lengths and angles, random occluders, and per-joint visibility.

Conventions: images are `uint8 (H, W, 3)` RGB; boxes are `xyxy` in pixels with pixel-edge coordinates
(a mask whose columns are `x0..x1` inclusive has box `x1 = x1 + 1`); keypoints are `(x, y)` in pixels
with pixel centres at integer + 0.5 (so `int(x)` is the pixel column).

Example:

>>> world = ShapesWorld(image_size=64, max_objects=4, seed=0)
>>> s = world.sample(0)
>>> s["image"].shape, s["instance_masks"].shape[1:], CLASS_NAMES[s["label"]] in CLASS_NAMES
((64, 64, 3), (64, 64), True)
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

CLASS_NAMES = ("circle", "square", "triangle", "star", "ellipse", "hexagon")

# Per-object keypoints: index 0 is the centre, then the class's "corners" (vertices for polygons, the
# ends of the axes for circles and ellipses), pulled 20 % towards the centre so that they lie inside
# the rasterised object. Unused slots have visibility 0.
MAX_KEYPOINTS = 7
NUM_KEYPOINTS = {"circle": 5, "square": 5, "triangle": 4, "star": 6, "ellipse": 5, "hexagon": 7}

JOINT_NAMES = (
    "head",
    "neck",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "pelvis",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
_J = {name: i for i, name in enumerate(JOINT_NAMES)}
SKELETON = tuple(
    (_J[a], _J[b])
    for a, b in (
        ("head", "neck"),
        ("neck", "left_shoulder"),
        ("neck", "right_shoulder"),
        ("left_shoulder", "left_elbow"),
        ("right_shoulder", "right_elbow"),
        ("left_elbow", "left_wrist"),
        ("right_elbow", "right_wrist"),
        ("neck", "pelvis"),
        ("pelvis", "left_hip"),
        ("pelvis", "right_hip"),
        ("left_hip", "left_knee"),
        ("right_hip", "right_knee"),
        ("left_knee", "left_ankle"),
        ("right_knee", "right_ankle"),
    )
)
# For horizontal-flip augmentation: joint i becomes FLIP_INDICES[i].
FLIP_INDICES = tuple(
    _J[n.replace("left_", "right_")] if n.startswith("left_") else _J[n.replace("right_", "left_")]
    if n.startswith("right_") else i
    for i, n in enumerate(JOINT_NAMES)
)

# The colour group of each SKELETON limb: "left", "right" or "centre".
_SKELETON_PARTS = tuple(
    ({JOINT_NAMES[a].split("_")[0], JOINT_NAMES[b].split("_")[0]} & {"left", "right"} or {"centre"}).pop()
    for a, b in SKELETON
)

# StickFigures' colour groups, the group (its index) of each SKELETON limb, and the RGB ranges that
# each group's colour is drawn from ((3, 3) low and high; rows: groups, columns: R, G, B).
_PARTS = ("left", "right", "centre")
_SKELETON_PART_IDS = tuple(_PARTS.index(part) for part in _SKELETON_PARTS)
_PART_RANGES = (np.array([[180, 0, 0], [0, 0, 180], [200, 200, 0]], np.float64),
                np.array([[255, 120, 60], [60, 160, 255], [255, 255, 80]], np.float64))

BACKGROUNDS = ("noise", "gradient", "stripes", "checker", "blobs")
_SHIFT = 4  # sub-pixel bits for cv2 polygon rasterisation
_SCALE = 1 << _SHIFT


def _hw(image_size) -> tuple[int, int]:
    if isinstance(image_size, (int, np.integer)):
        h = w = int(image_size)
    else:
        try:
            h, w = (int(v) for v in image_size)
        except (TypeError, ValueError):
            raise ValueError(f"image_size must be an int or (height, width), received {image_size!r}") from None
    if h < 8 or w < 8:
        raise ValueError(f"image_size must be at least 8 pixels per side, received {image_size!r}")
    return h, w


def _rng(seed: int, index: int, stream: int) -> np.random.Generator:
    """The generator of one sample: a function of (seed, index, stream) only."""
    if index < 0:
        raise ValueError(f"sample index must be >= 0, received {index}")
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(index), stream])


def _random_colour(rng, avoid=None, min_distance=80.0) -> np.ndarray:
    """A random RGB colour at least `min_distance` (L2, 0..255) from every colour in `avoid`."""
    colour = rng.integers(0, 256, size=3)
    if avoid is not None:
        avoid = [np.asarray(a, np.float64).tolist() for a in avoid]  # exact: the colours are float32
        for _ in range(20):
            r, g, b = colour.tolist()
            if all(math.sqrt((r - ar) ** 2 + (g - ag) ** 2 + (b - ab) ** 2) >= min_distance for ar, ag, ab in avoid):
                break
            colour = rng.integers(0, 256, size=3)
    return colour.astype(np.float32)


@functools.lru_cache(maxsize=16)
def _grid(h: int, w: int) -> np.ndarray:
    """Read-only float32 `(2, h, w)` row and column indices (`np.mgrid`), shared by every sample."""
    grid = np.mgrid[0:h, 0:w].astype(np.float32)
    grid.flags.writeable = False
    return grid


def _plus_noise(image: np.ndarray, rng, sigma: float) -> np.ndarray:
    """float32 `image + rng.normal(0, sigma, image.shape)`: the same draws and the same bytes (the sum is
    taken in float64 and rounded to float32 either way) in fewer passes over the pixels."""
    noise = rng.standard_normal(image.shape)  # rng.normal(0, s) draws 0 + s * standard_normal
    noise *= sigma
    if image.flags.c_contiguous:
        noise += image
    else:  # e.g. a colour broadcast to (h, w, 3): one channel at a time (see `_blend`)
        for ch in range(image.shape[-1]):
            noise[..., ch] += image[..., ch]
    return noise.astype(np.float32)


def _blend(c1: np.ndarray, c2: np.ndarray, t: np.ndarray) -> np.ndarray:
    """float32 `c1 + (c2 - c1) * t[..., None]` for float32 colours `c1`, `c2` (3,) and weights `t` (h, w):
    the same bytes, one channel at a time (numpy broadcasts a trailing axis of 3 slowly)."""
    d = c2 - c1
    return cv2.merge([t * d[k] + c1[k] for k in range(3)])


def _background(rng, h: int, w: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """A float32 (h, w, 3) textured background and the colours it is made of."""
    kind = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    c1 = _random_colour(rng)
    c2 = _random_colour(rng, [c1], 40.0)
    yy, xx = _grid(h, w)
    if kind == "noise":
        img = _plus_noise(np.broadcast_to(c1, (h, w, 3)), rng, rng.uniform(8, 30))
        colours = [c1]
    elif kind == "gradient":
        angle = rng.uniform(0, 2 * math.pi)
        t = xx * math.cos(angle) + yy * math.sin(angle)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
        img = _blend(c1, c2, t)
        colours = [c1, c2, (c1 + c2) / 2]
    elif kind == "stripes":
        angle = rng.uniform(0, math.pi)
        period = rng.uniform(4, max(6.0, min(h, w) / 3))
        t = 0.5 + 0.5 * np.sin(2 * math.pi * (xx * math.cos(angle) + yy * math.sin(angle)) / period)
        img = _blend(c1, c2, t)
        colours = [c1, c2]
    elif kind == "checker":
        cell = int(rng.integers(3, max(4, min(h, w) // 4)))
        t = ((np.arange(h)[:, None] // cell + np.arange(w) // cell) % 2).astype(np.float32)
        img = _blend(c1, c2, t)
        colours = [c1, c2]
    else:  # blobs: smooth low-frequency colour noise
        gh, gw = max(2, h // 12), max(2, w // 12)
        small = rng.uniform(0, 255, (gh, gw, 3)).astype(np.float32)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        colours = [small.reshape(-1, 3).mean(0)]
    return np.asarray(img, np.float32), colours


def _unit_polygon(name: str, n_circle: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Outline and keypoint "corners" of a shape of radius 1 centred at 0 (before rotation/aspect)."""

    def ring(n, r=1.0, phase=-math.pi / 2):
        a = phase + 2 * math.pi * np.arange(n) / n
        return np.stack([r * np.cos(a), r * np.sin(a)], -1)

    if name in ("circle", "ellipse"):
        return ring(n_circle, phase=0.0), ring(4, phase=0.0)
    if name == "square":
        sq = ring(4, phase=math.pi / 4)
        return sq, sq
    if name == "triangle":
        tri = ring(3)
        return tri, tri
    if name == "hexagon":
        hx = ring(6)
        return hx, hx
    if name == "star":
        outer, inner = ring(5), ring(5, 0.42, -math.pi / 2 + math.pi / 5)
        outline = np.empty((10, 2))
        outline[0::2], outline[1::2] = outer, inner
        return outline, outer
    raise ValueError(f"unknown shape {name!r}; known: {CLASS_NAMES}")


_TEMPLATES = {name: _unit_polygon(name) for name in CLASS_NAMES}


def _fill_polygon(h: int, w: int, points: np.ndarray) -> np.ndarray:
    """Boolean (h, w) mask of a polygon given in pixel coordinates (pixel centres at +0.5)."""
    mask = np.zeros((h, w), np.uint8)
    # cv2 puts pixel centres at integers: shift by -0.5, and rasterise with sub-pixel precision.
    pts = np.round((points - 0.5) * _SCALE).astype(np.int32)
    cv2.fillPoly(mask, [pts], 1, lineType=cv2.LINE_8, shift=_SHIFT)
    return mask.astype(bool)


def mask_to_box(mask: np.ndarray) -> np.ndarray:
    """`xyxy` float32 box (pixel edges) of the True pixels of a 2-D mask; zeros if it is empty."""
    ys = np.flatnonzero(mask.any(1))
    xs = np.flatnonzero(mask.any(0))
    if ys.size == 0:
        return np.zeros(4, np.float32)
    return np.array([xs[0], ys[0], xs[-1] + 1, ys[-1] + 1], np.float32)


def _inside(points: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """For (N, 2) pixel points, whether each falls on a True pixel of `mask`."""
    h, w = mask.shape
    xi = np.floor(points[:, 0]).astype(np.int64)
    yi = np.floor(points[:, 1]).astype(np.int64)
    ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    out = np.zeros(len(points), bool)
    out[ok] = mask[yi[ok], xi[ok]]
    return out


class ShapesWorld:
    """Images of random shapes with classification, segmentation, detection and keypoint ground truth.

    Args:
        image_size: int or `(height, width)`.
        max_objects: largest number of objects drawn per image (before occlusion removes any).
        min_objects: smallest number of visible objects per image (>= 0; 1 guarantees a label).
        seed: the dataset seed; `sample(i)` depends only on `(seed, i)`.
        size_range: object radius as a fraction of `min(height, width)`, `(low, high)`.
        classes: subset of `CLASS_NAMES` to draw (targets keep the indices of `CLASS_NAMES`).
        truncation: allow objects to extend past the border (by up to ~70 % of their radius).
        min_visible_pixels: objects with fewer visible pixels are dropped from the targets; their few
            remaining pixels stay in the image and are marked 255 ("ignore") in the semantic mask.
        noise: maximum standard deviation of the global pixel noise.

    `sample(i)` returns a dict:
        `image` uint8 (H, W, 3); `label` int (class of the object with most visible pixels, -1 if no
        object); `semantic_mask` uint8 (H, W) (0 background, class + 1, 255 ignore);
        `instance_masks` bool (K, H, W) of visible pixels; `boxes` float32 (K, 4) xyxy; `classes`
        int32 (K,); `keypoints` float32 (K, MAX_KEYPOINTS, 2) (x, y); `keypoint_visibility` float32
        (K, MAX_KEYPOINTS) (1 when the keypoint exists and lies on a visible pixel of its object);
        `num_keypoints` int32 (K,) (how many slots the class uses); `areas` int32 (K,) visible pixels;
        `visible_fraction` float32 (K,): visible / in-image pixels of the object (< 1 when occluded).
        Objects are in drawing order (later ones occlude earlier ones).
    """

    def __init__(
        self,
        image_size=64,
        max_objects: int = 4,
        seed: int = 0,
        *,
        min_objects: int = 1,
        size_range=(0.12, 0.32),
        classes=None,
        truncation: bool = True,
        min_visible_pixels: int = 8,
        noise: float = 8.0,
    ):
        self.height, self.width = _hw(image_size)
        self.image_size = image_size
        if not isinstance(max_objects, (int, np.integer)) or max_objects < 0:
            raise ValueError(f"max_objects must be an int >= 0, received {max_objects!r}")
        if not isinstance(min_objects, (int, np.integer)) or not 0 <= min_objects <= max_objects:
            raise ValueError(f"min_objects must be an int in [0, max_objects={max_objects}], received {min_objects!r}")
        lo, hi = (float(v) for v in size_range)
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"size_range must satisfy 0 < low <= high <= 1, received {size_range!r}")
        classes = CLASS_NAMES if classes is None else tuple(classes)
        unknown = [c for c in classes if c not in CLASS_NAMES]
        if unknown or not classes:
            raise ValueError(f"classes must be a non-empty subset of {CLASS_NAMES}, received {classes!r}")
        self.max_objects = int(max_objects)
        self.min_objects = int(min_objects)
        self.seed = int(seed)
        self.size_range = (lo, hi)
        self.class_ids = tuple(CLASS_NAMES.index(c) for c in classes)
        self.truncation = bool(truncation)
        self.min_visible_pixels = int(min_visible_pixels)
        self.noise = float(noise)

    num_classes = len(CLASS_NAMES)
    class_names = CLASS_NAMES

    def __getitem__(self, index: int) -> dict:
        return self.sample(index)

    def _draw_object(self, rng, h, w):
        cls = self.class_ids[rng.integers(len(self.class_ids))]
        name = CLASS_NAMES[cls]
        outline, corners = _TEMPLATES[name]
        r = rng.uniform(*self.size_range) * min(h, w)
        aspect = rng.uniform(0.45, 0.75) if name == "ellipse" else 1.0
        angle = rng.uniform(0, 2 * math.pi)
        if self.truncation:  # up to ~70 % of the object may lie outside the image
            cx, cy = rng.uniform(0.3 * r, max(0.3 * r, w - 0.3 * r)), rng.uniform(0.3 * r, max(0.3 * r, h - 0.3 * r))
        else:
            cx, cy = rng.uniform(r, max(r, w - r)), rng.uniform(r, max(r, h - r))
        ca, sa = math.cos(angle), math.sin(angle)
        rot = np.array([[ca, -sa], [sa, ca]])
        scale = np.array([r, r * aspect])
        centre = np.array([cx, cy])
        poly = (outline * scale) @ rot.T + centre
        kp = np.zeros((MAX_KEYPOINTS, 2))
        kp[0] = centre
        kp[1 : 1 + len(corners)] = (0.8 * corners * scale) @ rot.T + centre
        return cls, poly, kp, NUM_KEYPOINTS[name]

    def sample(self, index: int) -> dict:
        """The `index`-th sample (see the class docstring for the keys)."""
        rng = _rng(self.seed, index, 0)
        h, w = self.height, self.width
        background, bg_colours = _background(rng, h, w)
        for _attempt in range(50):
            n = int(rng.integers(self.min_objects, self.max_objects + 1))
            objects = [self._draw_object(rng, h, w) for _ in range(n)]
            full = [_fill_polygon(h, w, poly) for _, poly, _, _ in objects]
            visible = [None] * n
            covered = np.zeros((h, w), bool)
            for k in range(n - 1, -1, -1):
                visible[k] = full[k] & ~covered
                covered |= full[k]
            keep = [k for k in range(n) if visible[k].sum() >= self.min_visible_pixels]
            if len(keep) >= self.min_objects:
                break
        else:  # pragma: no cover - only with absurd settings (tiny images, huge min_visible_pixels)
            raise ValueError(
                f"could not place {self.min_objects} visible objects in a {h}x{w} image; "
                "lower min_objects or min_visible_pixels"
            )

        image = background.copy()
        for k, (_cls, _poly, _kp, _nk) in enumerate(objects):
            colour = _random_colour(rng, bg_colours, 60.0)
            shade = rng.uniform(0, 12)
            texture = rng.normal(0, shade, (int(full[k].sum()), 3)) if shade > 0 else 0.0
            image[full[k]] = colour + texture
        sigma = rng.uniform(0, self.noise) if self.noise > 0 else 0.0
        if sigma > 0:
            image = _plus_noise(image, rng, sigma)
        image = np.clip(np.round(image), 0, 255).astype(np.uint8)

        semantic = np.zeros((h, w), np.uint8)
        for k in range(n):
            if k not in keep:
                semantic[visible[k]] = 255  # a sliver too small to be an object: ignore, not background
        kk = len(keep)
        instance_masks = np.zeros((kk, h, w), bool)
        boxes = np.zeros((kk, 4), np.float32)
        classes = np.zeros((kk,), np.int32)
        keypoints = np.zeros((kk, MAX_KEYPOINTS, 2), np.float32)
        kp_vis = np.zeros((kk, MAX_KEYPOINTS), np.float32)
        num_kp = np.zeros((kk,), np.int32)
        areas = np.zeros((kk,), np.int32)
        visible_fraction = np.zeros((kk,), np.float32)
        for j, k in enumerate(keep):
            cls, _poly, kp, nk = objects[k]
            instance_masks[j] = visible[k]
            semantic[visible[k]] = cls + 1
            boxes[j] = mask_to_box(visible[k])
            classes[j] = cls
            keypoints[j, :nk] = kp[:nk]
            kp_vis[j, :nk] = _inside(kp[:nk], visible[k]).astype(np.float32)
            num_kp[j] = nk
            areas[j] = int(visible[k].sum())
            visible_fraction[j] = areas[j] / full[k].sum()
        label = int(classes[int(np.argmax(areas))]) if kk else -1
        return {
            "image": image,
            "label": label,
            "semantic_mask": semantic,
            "instance_masks": instance_masks,
            "boxes": boxes,
            "classes": classes,
            "keypoints": keypoints,
            "keypoint_visibility": kp_vis,
            "num_keypoints": num_kp,
            "areas": areas,
            "visible_fraction": visible_fraction,
        }


class StickFigures:
    """Images of one articulated stick figure with `len(JOINT_NAMES)` joint positions and visibility.

    The figure has random limb lengths and joint angles, a random overall rotation and position (it may
    be truncated by the border), left limbs drawn in warm colours and right limbs in cool colours (so
    that left and right are distinguishable), and with probability `occlusion_prob` one or two random
    occluding patches drawn over it.

    Args:
        image_size: int or `(height, width)`.
        seed: the dataset seed; `sample(i)` depends only on `(seed, i)`.
        occlusion_prob: probability of drawing occluders.
        max_rotation: largest rotation of the whole figure from upright, in degrees.
        scale_range: figure height (head to ankles, roughly) as a fraction of `min(height, width)`.

    `sample(i)` returns a dict:
        `image` uint8 (H, W, 3); `keypoints` float32 (J, 2) (x, y) pixels (also for invisible joints);
        `visibility` float32 (J,) (1 if the joint is inside the image and not occluded, else 0);
        `box` float32 (4,) xyxy extents of the visible figure pixels; `mask` bool (H, W) of them.
    """

    def __init__(self, image_size=64, seed: int = 0, *, occlusion_prob: float = 0.3, max_rotation: float = 30.0,
                 scale_range=(0.55, 0.9)):
        self.height, self.width = _hw(image_size)
        self.image_size = image_size
        if not 0 <= occlusion_prob <= 1:
            raise ValueError(f"occlusion_prob must be in [0, 1], received {occlusion_prob!r}")
        lo, hi = (float(v) for v in scale_range)
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range must satisfy 0 < low <= high, received {scale_range!r}")
        self.seed = int(seed)
        self.occlusion_prob = float(occlusion_prob)
        self.max_rotation = float(max_rotation)
        self.scale_range = (lo, hi)

    num_joints = len(JOINT_NAMES)
    joint_names = JOINT_NAMES
    skeleton = SKELETON

    def __getitem__(self, index: int) -> dict:
        return self.sample(index)

    def _pose(self, rng, h, w) -> np.ndarray:
        """Joint positions in pixels, (J, 2)."""
        # The pose's 22 uniform draws in one call: `lo + (hi - lo) * r` is how `rng.uniform(lo, hi)` turns the
        # same double into a value, so the joints are those of one `rng.uniform` call per draw.
        draws = iter(rng.random(22).tolist())

        def u(lo, hi):
            return lo + (hi - lo) * next(draws)

        s = u(*self.scale_range) * min(h, w)  # overall height
        torso, neck_len = s * u(0.26, 0.34), s * u(0.08, 0.12)
        shoulder, hip = s * u(0.09, 0.14), s * u(0.06, 0.1)
        upper_arm, forearm = s * u(0.14, 0.2), s * u(0.12, 0.18)
        thigh, shin = s * u(0.2, 0.26), s * u(0.18, 0.24)

        def step(p, length, deg):  # p + length * direction(deg); 0 deg points down (+y), 90 deg points right
            a = math.radians(deg)
            return p[0] + length * math.sin(a), p[1] + length * math.cos(a)

        j = [None] * len(JOINT_NAMES)
        pelvis = j[_J["pelvis"]] = (0.0, 0.0)
        lean = u(-15, 15)
        neck = j[_J["neck"]] = step(pelvis, torso, 180 + lean)
        j[_J["head"]] = step(neck, neck_len, 180 + lean + u(-20, 20))
        # towards the image's right: the figure's left (it faces the camera)
        j[_J["left_shoulder"]] = step(neck, shoulder, 90 + lean)
        j[_J["right_shoulder"]] = step(neck, -shoulder, 90 + lean)
        j[_J["left_hip"]] = step(pelvis, hip, 90 + lean)
        j[_J["right_hip"]] = step(pelvis, -hip, 90 + lean)
        for sgn, lr in ((1, "left"), (-1, "right")):
            a_up = lean + sgn * u(10, 160)
            elbow = j[_J[f"{lr}_elbow"]] = step(j[_J[f"{lr}_shoulder"]], upper_arm, a_up)
            j[_J[f"{lr}_wrist"]] = step(elbow, forearm, a_up + sgn * u(-20, 120))
            a_th = lean + sgn * u(-5, 45)
            knee = j[_J[f"{lr}_knee"]] = step(j[_J[f"{lr}_hip"]], thigh, a_th)
            j[_J[f"{lr}_ankle"]] = step(knee, shin, a_th - sgn * u(0, 60))
        rot = math.radians(u(-self.max_rotation, self.max_rotation))
        c, s_ = math.cos(rot), math.sin(rot)
        j = np.array(j) @ np.array([[c, -s_], [s_, c]]).T
        # Place the figure's bounding-box centre near the image centre, with jitter that allows truncation.
        mid = (j.min(0) + j.max(0)) / 2
        offset = np.array([w / 2 + u(-0.3, 0.3) * w, h / 2 + u(-0.3, 0.3) * h])
        return j - mid + offset

    def sample(self, index: int) -> dict:
        """The `index`-th sample (see the class docstring for the keys)."""
        rng = _rng(self.seed, index, 1)
        h, w = self.height, self.width
        background, bg_colours = _background(rng, h, w)
        joints = self._pose(rng, h, w)
        thickness = max(1, int(round(min(h, w) / 32)))
        # RGB of the "left", "right" and "centre" parts, drawn from `_PART_RANGES` as one `rng.uniform(lo, hi)`
        # call per channel would draw them, rounded to float32 (the image's precision; cv2 takes Python floats).
        lo, hi = _PART_RANGES
        colours = np.asarray(lo + (hi - lo) * rng.random(9).reshape(3, 3), np.float32).tolist()
        # Each limb is drawn straight into the image in its colour (cv2 rasterises the same pixels in any
        # image depth), then into the figure mask; later limbs cover earlier ones, the head covers all.
        image = background  # a new array
        figure = np.zeros((h, w), np.uint8)
        ends = np.round((joints - 0.5) * _SCALE).astype(np.int32).tolist()
        for (a, b), part in zip(SKELETON, _SKELETON_PART_IDS):
            cv2.line(image, ends[a], ends[b], colours[part], thickness, cv2.LINE_8, _SHIFT)
            cv2.line(figure, ends[a], ends[b], 1, thickness, cv2.LINE_8, _SHIFT)
        hc = ends[_J["head"]]
        radius = max(2, int(round(np.linalg.norm(joints[_J["head"]] - joints[_J["neck"]]) * 0.6 * _SCALE)))
        cv2.circle(image, hc, radius, colours[_PARTS.index("centre")], -1, cv2.LINE_8, _SHIFT)
        cv2.circle(figure, hc, radius, 1, -1, cv2.LINE_8, _SHIFT)
        figure = figure.view(bool)  # 0 / 1

        occluders = []  # (x0, y0, x1, y1) pixel rectangles
        if rng.uniform() < self.occlusion_prob:
            for _ in range(int(rng.integers(1, 3))):
                ow, oh = rng.uniform(0.15, 0.35) * w, rng.uniform(0.15, 0.35) * h
                ox, oy = joints[rng.integers(len(JOINT_NAMES))] + rng.normal(0, 0.05 * min(h, w), 2)
                x0, y0 = int(max(0, ox - ow / 2)), int(max(0, oy - oh / 2))
                x1, y1 = int(min(w, ox + ow / 2)), int(min(h, oy + oh / 2))
                if x1 > x0 and y1 > y0:
                    occluders.append((x0, y0, x1, y1))
                    patch, _ = _background(rng, y1 - y0, x1 - x0)
                    image[y0:y1, x0:x1] = patch
        sigma = rng.uniform(0, 6)
        image = _plus_noise(image, rng, sigma)
        image = np.clip(np.round(image), 0, 255).astype(np.uint8)

        # A joint is visible inside the image and off every occluder (a joint at x lies on pixel column
        # floor(x), which is in x0..x1-1 exactly when x0 <= x < x1).
        visibility = np.array([0 <= x < w and 0 <= y < h and not any(x0 <= x < x1 and y0 <= y < y1
                                                                     for x0, y0, x1, y1 in occluders)
                               for x, y in joints.tolist()], np.float32)
        visible_figure = figure
        for x0, y0, x1, y1 in occluders:
            if visible_figure is figure:
                visible_figure = figure.copy()
            visible_figure[y0:y1, x0:x1] = False
        return {
            "image": image,
            "keypoints": joints.astype(np.float32),
            "visibility": visibility,
            "box": mask_to_box(visible_figure),
            "mask": visible_figure,
        }
