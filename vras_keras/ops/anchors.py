"""Anchor boxes (Faster R-CNN / RPN) and YOLO priors (grid units), as static NumPy arrays.

Anchors depend only on static shapes, so they are computed once in NumPy and enter graphs as constants
(`vras_keras.layers.AnchorGenerator` broadcasts them over the batch).

Conventions (pinned by tests/ops/test_anchor_ops.py):

- A feature level of stride `s` on an image of `H x W` pixels has `ceil(H / s) x ceil(W / s)` cells (what
  "same"-padded stride-2 convolutions give). The anchors of cell `(i, j)` are centred at
  `((j + offset) * s, (i + offset) * s)`; `offset=0.5` (default) puts them at the cell centre, `0.0` is
  detectron2/torchvision's top-left convention.
- An anchor of size `S` and aspect ratio `r = height / width` (detectron2's definition) has
  `width = S / sqrt(r)`, `height = S * sqrt(r)`, so its area is `S**2` for every ratio.
- Order: level by level; inside a level row-major over cells `(i, j)`; inside a cell size-major over
  `(size, ratio)`. This is the order of a head's `(B, h, w, A * k)` output reshaped to `(B, h * w * A, k)`.
- YOLO priors `(w, h)` are in grid cells of their level (YOLO v2's convention); the constants below
  convert pixel priors (YOLO v3's convention) with `priors_to_grid`.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from keras import ops

from vras_keras.ops.boxes import DEFAULT_SCALE_CLAMP, convert_format

# YOLO v2 (VOC) priors, in grid cells of the stride-32 grid (Redmon & Farhadi, arXiv:1612.08242).
YOLO_V2_PRIORS = ((1.3221, 1.73145), (3.19275, 4.00944), (5.05587, 8.09892), (9.47112, 4.84053), (11.2364, 10.0071))
# YOLO v3 (COCO) priors in pixels for 416 x 416 inputs, 3 per scale from stride 8 to 32 (arXiv:1804.02767).
YOLO_V3_PRIORS_PIXELS = (
    (10, 13), (16, 30), (33, 23),  # stride 8
    (30, 61), (62, 45), (59, 119),  # stride 16
    (116, 90), (156, 198), (373, 326),  # stride 32
)  # fmt: skip
YOLO_V3_STRIDES = (8, 16, 32)


def feature_map_size(image_size: int, stride: int) -> int:
    """Cells of a level of `stride` over `image_size` pixels: `ceil(image_size / stride)`."""
    return int(math.ceil(int(image_size) / int(stride)))


def _per_level(value, num_levels, what):
    """`value` as one tuple per level: a flat sequence is shared by all levels."""
    if len(value) and all(isinstance(v, (list, tuple)) for v in value):
        if len(value) != num_levels:
            raise ValueError(f"{what} has {len(value)} levels, expected one per stride ({num_levels})")
        return [tuple(float(x) for x in v) for v in value]
    return [tuple(float(x) for x in value)] * num_levels


def validate_anchor_args(sizes, aspect_ratios, strides, offset):
    """Check and normalise `AnchorGenerator` arguments; returns `(sizes, ratios, strides)` per level."""
    strides = tuple(int(s) for s in strides)
    if not strides or any(s <= 0 for s in strides):
        raise ValueError(f"strides must be positive ints, received {strides}")
    sizes_l = _per_level(sizes, len(strides), "sizes")
    ratios_l = _per_level(aspect_ratios, len(strides), "aspect_ratios")
    for level, (s, r) in enumerate(zip(sizes_l, ratios_l)):
        if not s or any(v <= 0 for v in s):
            raise ValueError(f"sizes of level {level} must be positive numbers, received {s}")
        if not r or any(v <= 0 for v in r):
            raise ValueError(f"aspect_ratios of level {level} must be positive numbers, received {r}")
    if not 0.0 <= float(offset) < 1.0:
        raise ValueError(f"offset must be in [0, 1), received {offset}")
    return sizes_l, ratios_l, strides


def cell_anchors(sizes: Sequence[float], aspect_ratios: Sequence[float]) -> np.ndarray:
    """`(len(sizes) * len(aspect_ratios), 4)` anchors centred at the origin, xyxy, size-major order."""
    out = []
    for size in sizes:
        for ratio in aspect_ratios:
            w, h = size / math.sqrt(ratio), size * math.sqrt(ratio)
            out.append((-w / 2, -h / 2, w / 2, h / 2))
    return np.asarray(out, np.float32)


def num_anchors_per_location(sizes, aspect_ratios, strides=(1,)) -> list[int]:
    """Anchors per cell of every level (`len(sizes) * len(aspect_ratios)` of that level)."""
    sizes_l, ratios_l, _ = validate_anchor_args(sizes, aspect_ratios, strides, 0.0)
    return [len(s) * len(r) for s, r in zip(sizes_l, ratios_l)]


def generate_anchors(
    image_shape,
    *,
    sizes,
    aspect_ratios=(0.5, 1.0, 2.0),
    strides,
    offset: float = 0.5,
    bounding_box_format: str = "xyxy",
) -> np.ndarray:
    """All anchors of an image, level by level.

    Args:
        image_shape: `(height, width)` in pixels.
        sizes: anchor sizes (sqrt of the area, pixels): one tuple per level (e.g. FPN
            `((32,), (64,), (128,), (256,), (512,))`), or one flat tuple shared by all levels (e.g.
            Faster R-CNN C4 `(128, 256, 512)` with `strides=(16,)`).
        aspect_ratios: `height / width` ratios, flat (shared) or one tuple per level.
        strides: the stride of every level, in pixels.
        offset: anchor centre inside its cell, in cells (0.5: cell centre).
        bounding_box_format: format of the result.

    Returns:
        `(N, 4)` float32, `N = sum_l ceil(H/s_l) * ceil(W/s_l) * A_l`.

    Example:
        >>> generate_anchors((64, 64), sizes=(32,), aspect_ratios=(1.0,), strides=(32,))[0]
        array([0., 0., 32., 32.], dtype=float32)
    """
    height, width = int(image_shape[0]), int(image_shape[1])
    sizes_l, ratios_l, strides = validate_anchor_args(sizes, aspect_ratios, strides, offset)
    levels = []
    for s, r, stride in zip(sizes_l, ratios_l, strides):
        base = cell_anchors(s, r)  # (A, 4)
        fh, fw = feature_map_size(height, stride), feature_map_size(width, stride)
        cy, cx = np.meshgrid((np.arange(fh) + offset) * stride, (np.arange(fw) + offset) * stride, indexing="ij")
        shifts = np.stack([cx, cy, cx, cy], axis=-1).reshape(-1, 1, 4).astype(np.float32)  # (fh*fw, 1, 4)
        levels.append((shifts + base[None]).reshape(-1, 4))
    anchors = np.concatenate(levels, axis=0).astype(np.float32)
    if bounding_box_format != "xyxy":
        anchors = np.asarray(convert_format(anchors, "xyxy", bounding_box_format, height=height, width=width))
    return anchors


def priors_to_grid(priors_pixels, stride) -> np.ndarray:
    """YOLO priors `(w, h)` in pixels -> grid cells of a level of `stride`: `(P, 2)` float32."""
    priors = np.asarray(priors_pixels, np.float32).reshape(-1, 2)
    if np.any(priors <= 0):
        raise ValueError(f"priors must be positive (w, h) pairs, received {priors.tolist()}")
    return priors / float(stride)


def yolo_grid(height: int, width: int) -> np.ndarray:
    """`(height, width, 1, 2)` float32 cell offsets `(cx, cy)` of a YOLO grid (broadcast over priors)."""
    cy, cx = np.meshgrid(np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32), indexing="ij")
    return np.stack([cx, cy], axis=-1)[:, :, None, :]


def yolo_prediction_table(image_shape, strides, priors_grid) -> dict[str, np.ndarray]:
    """Static per-prediction constants of a (multi-scale) YOLO head, flattened like its outputs.

    Predictions are ordered level by level, row-major over cells, then prior: the order of a
    `(B, h, w, P * (5 + C))` head output reshaped to `(B, h * w * P, 5 + C)` and concatenated over levels.

    Args:
        image_shape: `(height, width)` in pixels.
        strides: one stride per level.
        priors_grid: one `(P_l, 2)` array of `(w, h)` priors in grid cells per level.

    Returns:
        A dict of float32 arrays of length `N = sum_l h_l * w_l * P_l`: `"cx"`, `"cy"` (cell column/row),
        `"stride"`, `"prior_w"`, `"prior_h"` (prior size in pixels), `"level"`, `"prior"` (index of the
        prior among all levels' priors).
    """
    height, width = int(image_shape[0]), int(image_shape[1])
    if len(strides) != len(priors_grid):
        raise ValueError(f"need one priors array per stride: {len(strides)} strides, {len(priors_grid)} priors")
    cols = {k: [] for k in ("cx", "cy", "stride", "prior_w", "prior_h", "level", "prior")}
    first_prior = 0
    for level, (stride, priors) in enumerate(zip(strides, priors_grid)):
        priors = np.asarray(priors, np.float32).reshape(-1, 2)
        fh, fw = feature_map_size(height, stride), feature_map_size(width, stride)
        p = len(priors)
        cy, cx, pi = np.meshgrid(np.arange(fh), np.arange(fw), np.arange(p), indexing="ij")
        cols["cx"].append(cx.ravel())
        cols["cy"].append(cy.ravel())
        cols["stride"].append(np.full(cx.size, stride))
        cols["prior_w"].append(priors[pi.ravel(), 0] * stride)
        cols["prior_h"].append(priors[pi.ravel(), 1] * stride)
        cols["level"].append(np.full(cx.size, level))
        cols["prior"].append(pi.ravel() + first_prior)
        first_prior += p
    return {k: np.concatenate(v).astype(np.float32) for k, v in cols.items()}


def kmeans_priors(wh, k: int, *, iterations: int = 100, seed: int = 0) -> np.ndarray:
    """YOLO v2's "dimension clusters": k-means on box sizes with the distance `1 - IoU` (centred boxes).

    Args:
        wh: `(M, 2)` box widths and heights (pixels), e.g. from a training set.
        k: number of priors.

    Returns:
        `(k, 2)` float32 priors `(w, h)` in pixels sorted by area (assign them to levels small to large).
    """
    wh = np.asarray(wh, np.float64).reshape(-1, 2)
    wh = wh[np.all(wh > 0, axis=1)]
    if len(wh) < k:
        raise ValueError(f"kmeans_priors needs at least k={k} boxes of positive size, received {len(wh)}")
    rng = np.random.default_rng(seed)
    centers = wh[rng.choice(len(wh), k, replace=False)]
    for _ in range(iterations):
        inter = np.minimum(wh[:, None, 0], centers[None, :, 0]) * np.minimum(wh[:, None, 1], centers[None, :, 1])
        union = wh[:, None].prod(-1) + centers[None].prod(-1) - inter
        assign = np.argmax(inter / union, axis=1)
        new = np.array([np.median(wh[assign == j], 0) if np.any(assign == j) else centers[j] for j in range(k)])
        if np.allclose(new, centers):
            break
        centers = new
    return centers[np.argsort(centers.prod(-1))].astype(np.float32)


def decode_yolo(raw, table, *, class_activation: str = "sigmoid"):
    """Turn raw YOLO outputs into pixel boxes and per-class scores (YOLO v2/v3 parameterisation).

    `x = (sigmoid(tx) + cx) * stride`, `y = (sigmoid(ty) + cy) * stride`, `w = prior_w * exp(tw)`,
    `h = prior_h * exp(th)` (`tw`, `th` clamped to `DEFAULT_SCALE_CLAMP`), objectness `sigmoid(to)`,
    class probabilities `softmax` (v2) or `sigmoid` (v3); `scores = objectness * class probability`.

    Args:
        raw: `(B, N, 5 + C)` predictions `[tx, ty, tw, th, to, class logits...]`.
        table: the dict of `yolo_prediction_table` (NumPy arrays of length N).
        class_activation: `"softmax"` or `"sigmoid"`.

    Returns:
        `(boxes, scores)`: `(B, N, 4)` xyxy pixels and `(B, N, C)` scores in [0, 1].
    """
    if class_activation not in ("softmax", "sigmoid"):
        raise ValueError(f"class_activation must be 'softmax' or 'sigmoid', received {class_activation!r}")
    raw = ops.cast(raw, "float32")
    stride = ops.convert_to_tensor(table["stride"])
    x = (ops.sigmoid(raw[..., 0]) + table["cx"]) * stride
    y = (ops.sigmoid(raw[..., 1]) + table["cy"]) * stride
    w = ops.exp(ops.minimum(raw[..., 2], DEFAULT_SCALE_CLAMP)) * table["prior_w"]
    h = ops.exp(ops.minimum(raw[..., 3], DEFAULT_SCALE_CLAMP)) * table["prior_h"]
    boxes = ops.stack([x - 0.5 * w, y - 0.5 * h, x + 0.5 * w, y + 0.5 * h], axis=-1)
    objectness = ops.sigmoid(raw[..., 4:5])
    logits = raw[..., 5:]
    probs = ops.softmax(logits, axis=-1) if class_activation == "softmax" else ops.sigmoid(logits)
    return boxes, objectness * probs
