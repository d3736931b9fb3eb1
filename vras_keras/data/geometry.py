"""Plane geometry of images: homographies, their local affine maps, warps and the one pixel convention.

The convention, everywhere in vras_keras (OpenCV's keypoints and `warpPerspective`,
`vras_keras.ops.bilinear_sample`): **pixel centres are at integers**; `(x, y) = (j, i)` is the centre of
`image[i, j]`, so an image of width W spans x in [-0.5, W - 0.5] and its pixel centres x in [0, W - 1].
A homography `H` (3 x 3) maps view-1 pixel coordinates to view-2 pixel coordinates:
`(u, v, w) = H @ (x, y, 1)`, `(x', y') = (u / w, v / w)`. A view rendered by `warp_image(image, H, ...)`
shows at its pixel `(x', y')` the source pixel `H^-1 (x', y')`, exactly as `cv2.warpPerspective` does.

Example:
>>> h = np.array([[1, 0, 5], [0, 1, 0], [0, 0, 1]], float)   # shift right by 5 pixels
>>> apply_homography(h, [[1.0, 1.0]])
array([[6., 1.]])
"""

from __future__ import annotations

import numpy as np


def _matrix(homography) -> np.ndarray:
    h = np.asarray(homography, np.float64)
    if h.shape != (3, 3) or not np.all(np.isfinite(h)):
        raise ValueError(f"homography must be a finite 3 x 3 matrix, received shape {h.shape}")
    return h


def apply_homography(homography, points) -> np.ndarray:
    """Map `(N, 2)` pixel points `(x, y)` by a 3 x 3 homography; returns float64 `(N, 2)`."""
    h = _matrix(homography)
    p = np.asarray(points, np.float64).reshape(-1, 2)
    q = np.concatenate([p, np.ones((len(p), 1))], axis=1) @ h.T
    return q[:, :2] / q[:, 2:3]


def local_affine(homography, points) -> np.ndarray:
    """Jacobians `(N, 2, 2)` of the homography at `points`: how a small view-1 offset moves in view 2."""
    h = _matrix(homography)
    p = np.asarray(points, np.float64).reshape(-1, 2)
    q = np.concatenate([p, np.ones((len(p), 1))], axis=1) @ h.T  # (N, 3): u, v, w
    w = q[:, 2]
    return (h[None, :2, :2] * w[:, None, None] - q[:, :2, None] * h[None, 2:3, :2]) / (w**2)[:, None, None]


def affine_rotation(affine, xp=np):
    """Rotation angle (radians) of the rotation closest to each 2 x 2 linear map `affine` `(N, 2, 2)`:
    `atan2(a10 - a01, a00 + a11)` (exact for a scaled rotation). `xp`: NumPy or `keras.ops` (graph use)."""
    return xp.arctan2(affine[:, 1, 0] - affine[:, 0, 1], affine[:, 0, 0] + affine[:, 1, 1])


def inside(points, shape, *, margin: float = 0.0) -> np.ndarray:
    """`(N,)` bool: the pixel centres `points` `(N, 2)` (x, y) lie within an image of `shape` `(H, W[, C])`,
    at least `margin` pixels from the outermost pixel centres."""
    p = np.asarray(points, np.float64).reshape(-1, 2)
    height, width = shape[:2]
    return ((p[:, 0] >= margin) & (p[:, 0] <= width - 1 - margin)
            & (p[:, 1] >= margin) & (p[:, 1] <= height - 1 - margin))


def pixel_grid(height: int, width: int | None = None) -> np.ndarray:
    """The `(H * W, 2)` float64 (x, y) centres of every pixel of an `H x W` image, row by row."""
    width = height if width is None else width
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)


def warp_image(image, homography, size, *, border: str = "constant") -> tuple[np.ndarray, np.ndarray]:
    """Render `image` `(H, W, C)` through `homography` (source -> view) into a view of `size` `(H', W')`.

    Sampling is exact bilinear interpolation in float64 (`scipy.ndimage.map_coordinates`, order 1), so the
    ground truth `homography` holds to floating-point precision (`cv2.warpPerspective` rounds the
    coordinates to 1/32 pixel).

    Args:
        border: `"constant"` (0 outside the source) or `"reflect"` (mirror the source, no empty corners).

    Returns:
        `(view, valid)`: float64 `(H', W', C)` samples and bool `(H', W')`, the view pixels whose source
        position lies inside the source image.
    """
    from scipy import ndimage

    if border not in ("constant", "reflect"):
        raise ValueError(f"border must be 'constant' or 'reflect', received {border!r}")
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    height, width = (size, size) if np.isscalar(size) else tuple(int(s) for s in size)
    inverse = np.linalg.inv(_matrix(homography))
    src = apply_homography(inverse, pixel_grid(height, width))
    valid = inside(src, image.shape)
    coords = np.stack([src[:, 1], src[:, 0]])
    mode = "constant" if border == "constant" else "mirror"
    channels = [
        ndimage.map_coordinates(image[..., ch].astype(np.float64), coords, order=1, mode=mode, cval=0.0)
        for ch in range(image.shape[-1])
    ]
    view = np.stack(channels, axis=-1).reshape(height, width, -1)
    return view, valid.reshape(height, width)


def random_homography(size, *, strength: float = 0.15, seed: int = 0) -> np.ndarray:
    """A random 3 x 3 homography mapping an image of `size` `(H, W)` roughly onto itself: each corner pixel
    centre moves by up to `strength` x the side length."""
    import cv2

    if not 0 <= strength < 0.5:
        raise ValueError(f"strength must be in [0, 0.5), received {strength}")
    h, w = size
    rng = np.random.default_rng(seed)
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float64)
    moved = corners + rng.uniform(-strength, strength, size=(4, 2)) * np.array([w, h], np.float64)
    return cv2.getPerspectiveTransform(corners.astype(np.float32), moved.astype(np.float32)).astype(np.float64)


def viewpoint_homography(size, *, tilt: float = 0.0, azimuth: float = 0.0, roll: float = 0.0,
                         focal: float | None = None) -> np.ndarray:
    """The homography of a planar scene seen from another viewpoint: the plane that fills a frontal view of
    `size` `(H, W)` is rotated about its centre point by `tilt` radians (out of plane, about the in-plane axis
    at angle `azimuth` from the x axis) and then by `roll` radians about the optical axis, and photographed
    again by the same pinhole camera (focal length `focal` px, default the longer side: a ~53° field of view;
    principal point at the image centre). Returns the 3 x 3 map frontal-view pixels → new-view pixels.

    With K the intrinsics, R the rotation and T the shift of the pixel grid to the principal point,
    `H = K [r1 r2 (0, 0, f)] T`, so `tilt=0` is a rotation by `roll` about the centre pixel, and a tilt
    foreshortens the plane by about cos(tilt) across the axis (more on its far side).
    """
    h, w = (size, size) if np.isscalar(size) else (int(size[0]), int(size[1]))
    f = float(max(h, w) if focal is None else focal)
    if not f > 0:
        raise ValueError(f"focal must be > 0, received {focal}")
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0

    def rot_z(a):
        c, s = np.cos(a), np.sin(a)
        return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])

    c, s = np.cos(tilt), np.sin(tilt)
    rot_x = np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])
    rotation = rot_z(roll) @ rot_z(azimuth) @ rot_x @ rot_z(-azimuth)
    k = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1.0]])
    shift = np.array([[1.0, 0, -cx], [0, 1, -cy], [0, 0, 1]])
    plane = np.stack([rotation[:, 0], rotation[:, 1], [0.0, 0.0, f]], axis=1)
    homography = k @ plane @ shift
    return homography / homography[2, 2]
