"""Descriptor matching and its evaluation under a known homography: the one matcher and the one scorer.

`vras evaluate` (matching), `benchmarks/lift_matching.py` and the demo's feature-matching page all call
these, with the pixel convention of `vras_keras.data.geometry` (pixel centres at integers).

- `match_descriptors(a, b, ratio=None, mutual=True, metric="l2")`: nearest neighbours, optionally mutual
  and with Lowe's ratio test; `metric="hamming"` for binary descriptors (ORB's packed uint8 rows).
- `evaluate_pair(...)`: on one image pair, what HPatches and the LIFT paper report: repeatability, mean
  matching accuracy (MMA@t: the fraction of matches within t pixels of the true position), correct
  matches, and the corner error of a RANSAC homography estimated from the matches.

Example:
>>> matches, distances = match_descriptors(d1, d2, ratio=0.9)
>>> scores = evaluate_pair(xy1, d1, xy2, d2, homography, shape1=img1.shape, shape2=img2.shape)
>>> scores["mma@3"], scores["homography@3"]
"""

from __future__ import annotations

import numpy as np

from vras_keras.data.geometry import apply_homography, inside

THRESHOLDS = (1, 3, 5)
HOMOGRAPHY_THRESHOLDS = (3, 5, 10)
METRICS = ("l2", "hamming")


def _distances(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    if metric == "hamming":
        if a.dtype != np.uint8 or b.dtype != np.uint8:
            raise TypeError(f"hamming distances need packed uint8 descriptors, received {a.dtype} and {b.dtype}")
        bits = np.unpackbits(a, axis=1).astype(np.float32), np.unpackbits(b, axis=1).astype(np.float32)
        return bits[0] @ (1 - bits[1]).T + (1 - bits[0]) @ bits[1].T
    a, b = a.astype(np.float64), b.astype(np.float64)
    return np.sqrt(np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2.0 * a @ b.T, 0.0))


def match_descriptors(descriptors_a, descriptors_b, *, ratio: float | None = None, mutual: bool = True,
                      metric: str = "l2") -> tuple[np.ndarray, np.ndarray]:
    """Nearest-neighbour matching of `(Ka, D)` and `(Kb, D)` descriptors.

    A pair `(i, j)` is kept when j is i's nearest neighbour in `b`; with `mutual`, when i is also j's nearest
    in `a`; with `ratio`, when `d(i, j) < ratio * d(i, second nearest)` (Lowe's test; always passed when `b`
    has a single row).

    Args:
        metric: `"l2"` (float descriptors) or `"hamming"` (packed uint8 binary descriptors).

    Returns:
        `(matches, distances)`: int64 `(M, 2)` index pairs sorted by i, and their float64 `(M,)` distances.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, received {metric!r}")
    if ratio is not None and not 0 < ratio <= 1:
        raise ValueError(f"ratio must be in (0, 1] or None; received {ratio!r}")
    a, b = np.asarray(descriptors_a), np.asarray(descriptors_b)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"descriptors must be 2-D (K, D); received shapes {a.shape} and {b.shape}")
    if len(a) and len(b) and a.shape[1] != b.shape[1]:
        raise ValueError(f"descriptor lengths differ: {a.shape[1]} and {b.shape[1]}")
    if len(a) == 0 or len(b) == 0:
        return np.zeros((0, 2), np.int64), np.zeros((0,), np.float64)
    dist = _distances(a, b, metric)
    nearest = np.argmin(dist, axis=1)
    rows = np.arange(len(a))
    best = dist[rows, nearest]
    keep = np.ones(len(a), bool)
    if mutual:
        keep &= np.argmin(dist, axis=0)[nearest] == rows
    if ratio is not None and dist.shape[1] > 1:
        second = np.partition(dist, 1, axis=1)[:, 1]
        keep &= best < ratio * second
    return np.stack([rows[keep], nearest[keep]], axis=1).astype(np.int64), best[keep].astype(np.float64)


def match_errors(keypoints_a, keypoints_b, matches, homography) -> np.ndarray:
    """`(M,)` pixel distance between `H · a_i` and `b_j` for each match `(i, j)`."""
    matches = np.asarray(matches, np.int64).reshape(-1, 2)
    if not len(matches):
        return np.zeros((0,), np.float64)
    projected = apply_homography(homography, np.asarray(keypoints_a, np.float64)[matches[:, 0], :2])
    return np.linalg.norm(projected - np.asarray(keypoints_b, np.float64)[matches[:, 1], :2], axis=1)


def correct_matches(keypoints_a, keypoints_b, matches, homography, tolerance: float = 3.0) -> np.ndarray:
    """`(M,)` bool: match `(i, j)` is correct when `H · a_i` lies within `tolerance` pixels of `b_j`."""
    return match_errors(keypoints_a, keypoints_b, matches, homography) <= tolerance


def homography_corner_error(keypoints_a, keypoints_b, matches, homography, shape) -> float:
    """Mean distance of the four image corners mapped by the true homography and by a RANSAC homography
    estimated from the matches (`cv2.findHomography`, 3 px reprojection threshold), as HPatches reports it.
    `shape` is view 1's `(H, W)`. Returns inf when fewer than 4 matches or no homography is found."""
    import cv2

    matches = np.asarray(matches, np.int64).reshape(-1, 2)
    if len(matches) < 4:
        return float("inf")
    src = np.asarray(keypoints_a, np.float64)[matches[:, 0], :2].astype(np.float32)
    dst = np.asarray(keypoints_b, np.float64)[matches[:, 1], :2].astype(np.float32)
    estimate, _ = cv2.findHomography(src, dst, cv2.RANSAC, 3.0)
    if estimate is None or not np.all(np.isfinite(estimate)):
        return float("inf")
    height, width = shape[:2]
    corners = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float64)
    truth = apply_homography(homography, corners)
    return float(np.mean(np.linalg.norm(apply_homography(estimate, corners) - truth, axis=1)))


def _xy(keypoints) -> np.ndarray:
    """`(K, 2)` float64 (x, y) of `(K, >=2)` keypoint rows (`(0, 2)` for none, whatever the empty shape)."""
    points = np.asarray(keypoints, np.float64)
    return np.zeros((0, 2)) if points.size == 0 else points.reshape(len(points), -1)[:, :2]


def _in_view(points, shape, valid):
    points = np.asarray(points, np.float64).reshape(-1, 2)
    keep = inside(points, shape)
    if valid is not None and keep.any():
        ix = np.round(points[keep]).astype(int)
        ix[:, 0] = np.clip(ix[:, 0], 0, valid.shape[1] - 1)  # columns: x against the width
        ix[:, 1] = np.clip(ix[:, 1], 0, valid.shape[0] - 1)  # rows: y against the height
        keep[np.flatnonzero(keep)] = valid[ix[:, 1], ix[:, 0]]
    return keep


def evaluate_pair(keypoints_a, descriptors_a, keypoints_b, descriptors_b, homography, *, shape_a, shape_b,
                  valid_a=None, valid_b=None, ratio: float | None = None, metric: str = "l2",
                  thresholds=THRESHOLDS, repeat_threshold: float = 3.0) -> dict:
    """Scores of one image pair with a known homography (view a -> view b).

    Keypoints outside their image, or outside `valid_a` / `valid_b` (bool `(H, W)` masks of the region both
    views show), are dropped first. Then:

    - `repeatability`: the fraction of the kept keypoints of both views with a keypoint of the other view
      within `repeat_threshold` pixels after mapping;
    - `matches`, `correct@3`, `mma@t` for each t in `thresholds`: mutual-NN matches (Lowe's ratio test with
      `ratio`), how many are within 3 px, the fraction within t px;
    - `homography@t` for t in 3, 5, 10: 1.0 when the RANSAC homography's mean corner error is at most t px,
      with `corner_error` the error itself.

    Returns:
        A dict of floats (plus `"_matches"`, `"_errors"` and `"_keypoints"` for drawing).
    """
    kp_a, kp_b = _xy(keypoints_a), _xy(keypoints_b)
    keep_a, keep_b = _in_view(kp_a, shape_a, valid_a), _in_view(kp_b, shape_b, valid_b)
    kp_a, kp_b = kp_a[keep_a], kp_b[keep_b]
    d_a, d_b = np.asarray(descriptors_a)[keep_a], np.asarray(descriptors_b)[keep_b]
    out = {"keypoints": 0.5 * (len(kp_a) + len(kp_b))}
    if len(kp_a) == 0 or len(kp_b) == 0:
        out.update(repeatability=0.0, matches=0, **{f"mma@{t}": 0.0 for t in thresholds}, **{"correct@3": 0},
                   corner_error=float("inf"), **{f"homography@{t}": 0.0 for t in HOMOGRAPHY_THRESHOLDS})
        out.update(_matches=np.zeros((0, 2), np.int64), _errors=np.zeros((0,)), _keypoints=(kp_a, kp_b))
        return out
    to_b = apply_homography(homography, kp_a)
    to_a = apply_homography(np.linalg.inv(np.asarray(homography, np.float64)), kp_b)
    near_b = np.linalg.norm(to_b[:, None] - kp_b[None], axis=-1).min(1) <= repeat_threshold
    near_a = np.linalg.norm(to_a[:, None] - kp_a[None], axis=-1).min(1) <= repeat_threshold
    out["repeatability"] = float((near_b.sum() + near_a.sum()) / (len(kp_a) + len(kp_b)))
    matches, _ = match_descriptors(d_a, d_b, ratio=ratio, metric=metric)
    errors = match_errors(kp_a, kp_b, matches, homography)
    out["matches"] = len(matches)
    for t in thresholds:
        out[f"mma@{t}"] = float(np.mean(errors <= t)) if len(matches) else 0.0
    out["correct@3"] = int(np.sum(errors <= 3))
    corner = homography_corner_error(kp_a, kp_b, matches, homography, shape_a)
    out["corner_error"] = corner
    for t in HOMOGRAPHY_THRESHOLDS:
        out[f"homography@{t}"] = float(corner <= t)
    out.update(_matches=matches, _errors=errors, _keypoints=(kp_a, kp_b))
    return out
