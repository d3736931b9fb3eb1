"""Model-free demos of the library's ops, for pages that work before any model is trained: the spatial
transformer's sampler (`ops.sampling.affine_grid` + `grid_sample`) on any image."""

from __future__ import annotations

import math

import numpy as np


def affine_theta(angle_deg: float = 0.0, scale: float = 1.0, tx: float = 0.0, ty: float = 0.0) -> np.ndarray:
    """The `(1, 2, 3)` theta of a spatial transformer that zooms by `scale` (>1 magnifies), turns the view by
    `angle_deg` (counter-clockwise) and moves its centre by (`tx`, `ty`) in normalised units (-1..1 = the
    image's half-width / half-height), as `affine_grid` reads it (output -> input coordinates).

    Raises:
        ValueError: `scale` is not positive.
    """
    if not scale > 0:
        raise ValueError(f"scale must be > 0, received {scale!r}")
    a = math.radians(angle_deg)
    c, s = math.cos(a) / scale, math.sin(a) / scale
    return np.array([[[c, -s, tx], [s, c, ty]]], np.float32)


def spatial_transform(image, theta, output_size=None, *, padding_mode: str = "zeros") -> np.ndarray:
    """`image` (H, W, C) uint8 resampled through `theta` (1, 2, 3) with the STN's sampler; uint8 out.

    `output_size` (H, W) defaults to the image's size."""
    from vras_keras.ops.sampling import affine_grid, grid_sample  # Keras: the demo page imports without it

    image = np.asarray(image)
    h, w = output_size or image.shape[:2]
    grid = affine_grid(np.asarray(theta, np.float32), (int(h), int(w)))
    out = grid_sample(image[None].astype(np.float32), grid, padding_mode=padding_mode)
    return np.clip(np.round(np.asarray(out)[0]), 0, 255).astype(np.uint8)
