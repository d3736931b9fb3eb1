"""Draw a skeleton (joints and limbs) over an image; used by the demo, benchmarks and `vras predict`."""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from vras_keras.losses.pose import validate_keypoints
from vras_keras.visualization.overlays import palette

_SHIFT = 4  # sub-pixel bits for OpenCV drawing


def draw_skeleton(
    image,
    keypoints,
    visibility=None,
    skeleton: Sequence[tuple[int, int]] | None = None,
    *,
    confidence_threshold: float = 0.0,
    radius: int | None = None,
    thickness: int | None = None,
    joint_colour=(255, 255, 255),
    limb_colours=None,
) -> np.ndarray:
    """Render joints and limbs over `image`; returns a new uint8 `(H, W, 3)` RGB array.

    Args:
        image: `(H, W, 3)` or `(H, W)` uint8, or float in 0..255 (clipped).
        keypoints: `(K, 2)` (x, y) in the data's pixel convention (pixel centres at integer + 0.5), or
            `(K, 3)` model output (x, y, confidence).
        visibility: `(K,)`; joints with 0 are not drawn. Default: all visible.
        skeleton: pairs of joint indices to join (e.g. `vras_keras.data.shapes.SKELETON`); None: joints only.
        confidence_threshold: with `(K, 3)` keypoints, joints of lower confidence are not drawn.
        radius, thickness: joint radius and limb width in pixels (default: from the image size).
        joint_colour: RGB of the joints; `limb_colours`: one RGB per limb (default: `overlays.palette`).

    Raises:
        ValueError: an image or keypoint array of the wrong shape (the message names it), a skeleton index
            outside `0..K-1`, or a NaN coordinate of a drawn joint.
    """
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"image must have shape (H, W, 3) or (H, W), received shape {np.shape(image)}")
    canvas = np.ascontiguousarray(np.clip(np.round(img.astype(np.float64)), 0, 255).astype(np.uint8))
    kp = np.asarray(keypoints, dtype=np.float32)
    if kp.ndim != 2 or kp.shape[-1] not in (2, 3):
        raise ValueError(f"keypoints must have shape (K, 2) or (K, 3) (x, y[, confidence]), received shape {kp.shape}")
    vis = np.ones(kp.shape[0], np.float32) if visibility is None else np.asarray(visibility, np.float32)
    if vis.shape != (kp.shape[0],):
        raise ValueError(
            f"visibility must have shape ({kp.shape[0]},) for keypoints of shape {kp.shape}, received {vis.shape}"
        )
    if kp.shape[-1] == 3:
        vis = vis * (kp[:, 2] >= confidence_threshold)
    xy, vis = validate_keypoints(kp[:, :2], vis)
    k = xy.shape[0]
    skeleton = [tuple(int(i) for i in pair) for pair in (skeleton or ())]
    for pair in skeleton:
        if len(pair) != 2 or not all(0 <= i < k for i in pair):
            raise ValueError(f"skeleton pairs must index joints 0..{k - 1}, received {pair}")
    h, w = canvas.shape[:2]
    radius = radius if radius is not None else max(1, round(min(h, w) / 64))
    thickness = thickness if thickness is not None else max(1, round(min(h, w) / 96))
    colours = limb_colours if limb_colours is not None else [tuple(int(v) for v in c) for c in palette(len(skeleton))]
    if len(colours) < len(skeleton):
        raise ValueError(f"limb_colours has {len(colours)} colours for {len(skeleton)} limbs")
    # OpenCV's pixel (c, r) has its centre at (c, r): shift the data's +0.5 convention, fixed point.
    pts = np.round((xy - 0.5) * (1 << _SHIFT)).astype(np.int64)
    pts = np.clip(pts, -(1 << 24), 1 << 24)
    for (a, b), colour in zip(skeleton, colours):
        if vis[a] > 0 and vis[b] > 0:
            cv2.line(canvas, tuple(map(int, pts[a])), tuple(map(int, pts[b])), tuple(int(c) for c in colour),
                     thickness, cv2.LINE_AA, _SHIFT)
    for i in range(k):
        if vis[i] > 0:
            cv2.circle(canvas, tuple(map(int, pts[i])), int(radius * (1 << _SHIFT)),
                       tuple(int(c) for c in joint_colour), -1, cv2.LINE_AA, _SHIFT)
    return canvas
