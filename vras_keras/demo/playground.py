"""Model-free demos of the library's ops, for pages that work before any model is trained: the spatial
transformer's sampler (`ops.sampling.affine_grid` + `grid_sample`) on any image, and the ConvCRF
(`export.present.crf_refine`) on any photo from a colour-cluster unary (`colour_clusters`, `colour_unary`)."""

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


def fit_side(image, max_side: int) -> np.ndarray:
    """`image` (H, W, C) uint8 shrunk (aspect kept, `data.images.resize`) so that its longer side is at most
    `max_side`; smaller images are returned unchanged."""
    from vras_keras.data.images import resize

    image = np.asarray(image)
    h, w = image.shape[:2]
    if max(h, w) <= max_side:
        return image
    f = max_side / max(h, w)
    out = resize(image, (max(1, round(h * f)), max(1, round(w * f))))
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def colour_clusters(image, k: int = 4, *, iterations: int = 10, seed: int = 0) -> np.ndarray:
    """`(k, 3)` float32 RGB centres of k-means on the pixel colours of `image` (H, W, 3) (k-means++ start on
    at most 4096 pixels drawn with `seed`, then Lloyd steps on them): the colour classes of `colour_unary`.

    Raises:
        ValueError: `k` is not in 2..16.
    """
    if not 2 <= int(k) <= 16:
        raise ValueError(f"the number of colour clusters must be in 2..16, received {k!r}")
    rng = np.random.default_rng(seed)
    pixels = np.asarray(image, np.float32)[..., :3].reshape(-1, 3)
    pixels = pixels[rng.choice(len(pixels), min(len(pixels), 4096), replace=False)]
    centres = [pixels[rng.integers(len(pixels))]]
    for _ in range(1, int(k)):
        d2 = np.min(((pixels[:, None] - np.asarray(centres)[None]) ** 2).sum(-1), axis=1)
        centres.append(pixels[rng.choice(len(pixels), p=d2 / d2.sum())] if d2.sum() > 0 else pixels[0])
    centres = np.asarray(centres, np.float32)
    for _ in range(iterations):
        nearest = np.argmin(((pixels[:, None] - centres[None]) ** 2).sum(-1), axis=1)
        for j in range(len(centres)):
            if np.any(nearest == j):
                centres[j] = pixels[nearest == j].mean(0)
    return centres


def colour_unary(image, centres, sigma: float = 40.0) -> np.ndarray:
    """`(H, W, k)` float32 class probabilities of each pixel from its colour alone: a softmax of
    `-|colour - centre|² / (2 sigma²)` over the `centres` (`colour_clusters`). Not a segmentation model: a
    stand-in unary on any photo for the ConvCRF, which then adds what colour alone lacks (neighbours, edges)."""
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, received {sigma!r}")
    pixels = np.asarray(image, np.float32)[..., :3]
    d2 = ((pixels[..., None, :] - np.asarray(centres, np.float32)) ** 2).sum(-1)
    logits = -d2 / (2.0 * float(sigma) ** 2)
    logits -= logits.max(-1, keepdims=True)
    p = np.exp(logits)
    return (p / p.sum(-1, keepdims=True)).astype(np.float32)
