"""Heatmap → keypoint coordinates: soft-argmax (integral regression) and hard argmax.

Reference: Sun et al., Integral Human Pose Regression, ECCV 2018 (arXiv:1711.08229).

**The pose pixel convention** (stated here once; every pose part follows it): keypoints `(x, y)` are in
pixels with pixel *edges* at integers and pixel *centres* at integer + 0.5, the convention of boxes
(`vras_keras.ops.boxes`: pixel `j` covers `[j, j + 1)`), so `int(x)` is the pixel column. The pose data
(`vras_keras.data.shapes`: ShapesWorld and StickFigures keypoints), the heatmap targets
(`vras_keras.losses.pose.target_heatmaps`), every decoder (`SoftArgmax2D`, `HeatmapArgmax2D`, the export
signature's heatmap decoding, all through this module) and the pose drawing
(`vras_keras.visualization.pose.draw_skeleton`, `export.present.draw_pose`) use it; tests/ops/
test_soft_argmax_ops.py round-trips keypoint → heatmap target → decode → drawing. (Image matching,
`vras_keras.data.geometry`, puts pixel centres at integers, OpenCV's convention: subtract 0.5 to go there.)

Conventions (all functions):
- heatmaps are channels-last: 2-D `(N, H, W, K)`, 3-D (volumetric) `(N, D, H, W, K)`, one map per joint;
- with `coordinate_scale=None` coordinates are `(x, y)` (2-D) or `(x, y, z)` (3-D) in **heatmap pixels**
  on the index grid: pixel (row m, column n) sits at x = n, y = m, i.e. the course's grid
  x(m, n) = n + 1 shifted to start at 0;
- with `coordinate_scale=s` they are in **input-image pixels** in the pose convention above: a heatmap of
  stride s has pixel n covering image pixels [n s, (n + 1) s), whose centre is x_img = (x + 0.5) * s. The
  inverse is `image_to_heatmap_coordinates`. s may differ per coordinate.

Every function uses built-in TFLite ops only (max, exp, sum, div, mul, argmax, floor-mod/div).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from keras import ops


def _scales(coordinate_scale, rank: int) -> tuple[float, ...] | None:
    """`coordinate_scale` as one float per coordinate ((sx, sy) or (sx, sy, sz)), or None."""
    if coordinate_scale is None:
        return None
    if isinstance(coordinate_scale, (int, float, np.integer, np.floating)):
        scales = (float(coordinate_scale),) * rank
    else:
        scales = tuple(float(s) for s in coordinate_scale)
    if len(scales) != rank or not all(np.isfinite(s) and s > 0 for s in scales):
        raise ValueError(
            f"coordinate_scale must be a None, a positive float or {rank} positive floats (one per coordinate), "
            f"received {coordinate_scale!r}"
        )
    return scales


def heatmap_softmax(heatmaps, temperature: float = 1.0, *, rank: int = 2):
    """Softmax over the spatial positions of each heatmap (per sample and joint).

    Args:
        heatmaps: `(N, H, W, K)` (rank 2) or `(N, D, H, W, K)` (rank 3) logits.
        temperature: > 0; logits are divided by it first (small = sharper, closer to the hard argmax).
        rank: 2 or 3 spatial dimensions.

    Returns:
        Probabilities of the same shape, summing to one over the spatial axes of each `(n, k)`.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, received {temperature}")
    axes = tuple(range(1, rank + 1))
    logits = heatmaps / temperature if temperature != 1.0 else heatmaps
    # max-subtracted exp / sum: numerically stable, and built-ins only (no transpose for a 2-D softmax).
    shifted = logits - ops.stop_gradient(ops.max(logits, axis=axes, keepdims=True))
    e = ops.exp(shifted)
    return e / ops.sum(e, axis=axes, keepdims=True)


def expected_coordinates(probabilities, *, rank: int = 2, coordinate_scale=None):
    """Centre of gravity of (already normalised) heatmaps: sum over pixels of p(m, n) * (x(m, n), y(m, n)).

    Args:
        probabilities: `(N, H, W, K)` or `(N, D, H, W, K)` non-negative maps that sum to one each.
        rank: 2 or 3.
        coordinate_scale: None (heatmap pixels) or the heatmap stride in input-image pixels (float, or
            one per coordinate).

    Returns:
        `(N, K, 2)` (x, y) or `(N, K, 3)` (x, y, z).
    """
    if rank not in (2, 3):
        raise ValueError(f"rank must be 2 or 3, received {rank}")
    shape = tuple(probabilities.shape)
    if len(shape) != rank + 2:
        raise ValueError(
            f"expected {rank}-D heatmaps of shape {'(N, H, W, K)' if rank == 2 else '(N, D, H, W, K)'}, "
            f"received shape {shape}"
        )
    spatial = shape[1 : rank + 1]
    if any(s is None for s in spatial):
        raise ValueError(f"heatmap spatial size must be static, received shape {shape}")
    scales = _scales(coordinate_scale, rank)
    dtype = probabilities.dtype
    # spatial axes are (z,) y, x from outermost to innermost; coordinate order is x, y(, z).
    coords = []
    for c in range(rank):  # c = 0: x (last spatial axis), 1: y, 2: z
        axis = rank - c  # axis index in the tensor (1-based spatial)
        others = tuple(a for a in range(1, rank + 1) if a != axis)
        marginal = ops.sum(probabilities, axis=others)  # (N, size_axis, K)
        size = spatial[axis - 1]
        grid = np.arange(size, dtype="float32")
        if scales is not None:
            grid = (grid + 0.5) * scales[c]
        grid = ops.cast(ops.reshape(ops.convert_to_tensor(grid), (1, size, 1)), dtype)
        coords.append(ops.sum(marginal * grid, axis=1))  # (N, K)
    return ops.stack(coords, axis=-1)


def soft_argmax(heatmaps, temperature: float = 1.0, *, normalize: bool = True, rank: int = 2, coordinate_scale=None):
    """Differentiable argmax: expected coordinates under the softmax of each heatmap.

    Args:
        heatmaps: `(N, H, W, K)` (rank 2) or `(N, D, H, W, K)` (rank 3) logits, or probability maps
            when `normalize=False`.
        temperature: > 0, divides the logits before the softmax (only with `normalize=True`).
        normalize: apply the spatial softmax; False for maps that already sum to one.
        rank: 2 or 3.
        coordinate_scale: None (heatmap pixels) or the heatmap stride in input-image pixels.

    Returns:
        `(N, K, 2)` (x, y) or `(N, K, 3)` (x, y, z) in heatmap or input-image pixels.
    """
    probabilities = heatmap_softmax(heatmaps, temperature, rank=rank) if normalize else heatmaps
    return expected_coordinates(probabilities, rank=rank, coordinate_scale=coordinate_scale)


def soft_argmax_2d(heatmaps, temperature: float = 1.0, *, normalize: bool = True, coordinate_scale=None):
    """`soft_argmax` on `(N, H, W, K)` heatmaps → `(N, K, 2)` (x, y)."""
    return soft_argmax(heatmaps, temperature, normalize=normalize, rank=2, coordinate_scale=coordinate_scale)


def soft_argmax_3d(heatmaps, temperature: float = 1.0, *, normalize: bool = True, coordinate_scale=None):
    """`soft_argmax` on `(N, D, H, W, K)` volumetric heatmaps → `(N, K, 3)` (x, y, z)."""
    return soft_argmax(heatmaps, temperature, normalize=normalize, rank=3, coordinate_scale=coordinate_scale)


def peak_confidence(heatmaps, temperature: float = 1.0, *, rank: int = 2):
    """Largest softmax probability of each heatmap: `(N, ..., K)` logits → `(N, K)` in (0, 1]."""
    return ops.max(heatmap_softmax(heatmaps, temperature, rank=rank), axis=tuple(range(1, rank + 1)))


def hard_argmax_2d(heatmaps, *, coordinate_scale=None):
    """Position of the maximum of each heatmap (not differentiable; ties → first in row-major order).

    Args:
        heatmaps: `(N, H, W, K)` with static H, W, K.
        coordinate_scale: None (heatmap pixels) or the heatmap stride in input-image pixels (float or (sx, sy)).

    Returns:
        `(N, K, 2)` float (x, y) in heatmap or input-image pixels.
    """
    shape = tuple(heatmaps.shape)
    if len(shape) != 4 or any(s is None for s in shape[1:]):
        raise ValueError(f"expected heatmaps of shape (N, H, W, K) with static H, W, K, received shape {shape}")
    _, h, w, k = shape
    scales = _scales(coordinate_scale, 2)
    flat = ops.reshape(heatmaps, (-1, h * w, k))
    # First maximum in row-major order as min(index where value == max): keras.ops.argmax lowers to a
    # BitwiseAnd (its -0.0 handling), which TFLite has no built-in for.
    is_max = ops.equal(flat, ops.max(flat, axis=1, keepdims=True))
    positions = ops.reshape(ops.arange(h * w, dtype="int32"), (1, h * w, 1))
    index = ops.min(ops.where(is_max, positions, h * w), axis=1)  # (N, K)
    x = ops.cast(index % w, "float32")
    y = ops.cast(index // w, "float32")
    if scales is not None:
        x, y = (x + 0.5) * scales[0], (y + 0.5) * scales[1]
    return ops.stack([x, y], axis=-1)


def heatmap_argmax_2d(heatmaps, *, coordinate_scale=None):
    """The hard-argmax decoding of heatmaps: position of each map's maximum and its confidence.

    The one heatmap decoding of the project: `HeatmapArgmax2D` and the export signatures call it.

    Args:
        heatmaps: `(N, H, W, K)` logits with static H, W, K.
        coordinate_scale: None (heatmap pixels) or the heatmap stride in input-image pixels (float or
            `(sx, sy)`): the peak cell's centre `(x + 0.5) * s` in the pose pixel convention.

    Returns:
        `(N, K, 3)` float32: x, y (`hard_argmax_2d`; ties → first in row-major order) and the confidence,
        the softmax probability of the peak cell (in (0, 1]; `peak_confidence`).
    """
    heatmaps = ops.cast(heatmaps, "float32")
    coords = hard_argmax_2d(heatmaps, coordinate_scale=coordinate_scale)
    confidence = peak_confidence(heatmaps, rank=2)
    return ops.concatenate([coords, ops.expand_dims(confidence, -1)], axis=-1)


def image_to_heatmap_coordinates(coordinates, coordinate_scale):
    """Input-image pixels → heatmap index grid of stride s: x_hm = x_img / s - 0.5 (NumPy or tensors)."""
    scales = np.asarray(_scales(coordinate_scale, int(np.shape(coordinates)[-1])), dtype="float32")
    return coordinates / scales - 0.5


__all__: Sequence[str] = (
    "heatmap_softmax",
    "expected_coordinates",
    "soft_argmax",
    "soft_argmax_2d",
    "soft_argmax_3d",
    "peak_confidence",
    "hard_argmax_2d",
    "heatmap_argmax_2d",
    "image_to_heatmap_coordinates",
)
