"""Local-feature building blocks on `keras.ops`: oriented patch extraction and keypoint selection (NMS).

Conventions: images `(N, H, W, C)`; keypoints `(N, K, 2)` pixel coordinates `(x, y)` with pixel centres
at integers (as `bilinear_sample` and OpenCV); orientations are unit vectors `(cos a, sin a)` (any
non-zero length is normalised) or angles `a` in radians, measured from the image x axis towards the
y axis (y points down, so positive angles turn clockwise on screen).

Everything converts to TFLite built-ins: patches are one gather (`bilinear_sample`), NMS is a max-pool
comparison and `TOPK_V2`. `fast_scale_space_keypoints` is the eager twin of `scale_space_keypoints` for one
image (NumPy / OpenCV for the dense maps, the compiled refinement on the selected points; same results).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import tensorflow as tf
from keras import ops

from vras_keras.ops.sampling import bilinear_sample

INVALID_SCORE = -1e9  # score given to suppressed positions and to padding keypoints

__all__ = [
    "INVALID_SCORE",
    "edge_response_mask",
    "check_presmooth",
    "fast_scale_space_keypoints",
    "gaussian_kernel_1d",
    "gray_level",
    "gray_patches",
    "scale_space_extrema",
    "local_contrast",
    "nms_keypoints",
    "oriented_patches",
    "patch_offsets",
    "refine_subpixel",
    "refine_scale_space",
    "scale_space_keypoints",
    "vector_to_angle",
]


def patch_offsets(output_size: int, support: float) -> np.ndarray:
    """`(S, S, 2)` offsets `(u, v)` (pixels) of the sample centres of an S x S patch covering `support` pixels."""
    r = ((np.arange(output_size, dtype=np.float64) + 0.5) / output_size - 0.5) * support
    v, u = np.meshgrid(r, r, indexing="ij")
    return np.stack([u, v], axis=-1).astype("float32")


def oriented_patches(
    images, keypoints, orientations=None, *, output_size: int, support: float, padding_mode: str = "zeros", scales=None
):
    """Square patches around keypoints, rotated by their orientations: a spatial transformer whose
    parameters (centre, angle; fixed scale) come from a detector and an orientation estimator.

    Reference: Yi et al., LIFT: Learned Invariant Feature Transform, ECCV 2016 (arXiv:1603.09114).

    Args:
        images: `(N, H, W, C)`.
        keypoints: `(N, K, 2)` centres `(x, y)` in pixels.
        orientations: None (upright), `(N, K)` angles in radians, or `(N, K, 2)` vectors `(cos, sin)`
            (normalised here, so an unnormalised network output can be passed).
        output_size: side S of the output patches (samples).
        support: side of the image region the patch covers, in pixels (S samples spread over it).
        padding_mode: `"zeros"` or `"border"` for samples outside the image.
        scales: None or `(N, K)` per-keypoint multipliers of `support` (keypoint k's patch covers
            `scales[:, k] * support` pixels: a per-keypoint scale, as SIFT's).

    Returns:
        `(N, K, S, S, C)`: sample (i, j) of a patch reads the image at
        `keypoint + R(a) @ offset(i, j)` with `R(a) = [[cos a, -sin a], [sin a, cos a]]`, so a patch of an
        image rotated by b about the keypoint, taken at angle a + b, equals the patch at angle a.
        Differentiable with respect to images, keypoints and orientations.
    """
    if not isinstance(output_size, (int, np.integer)) or output_size < 1:
        raise ValueError(f"output_size must be a positive int; received {output_size!r}")
    if not support > 0:
        raise ValueError(f"support must be > 0 pixels; received {support!r}")
    keypoints = ops.cast(ops.convert_to_tensor(keypoints), "float32")
    offsets = ops.convert_to_tensor(patch_offsets(int(output_size), float(support)))  # (S, S, 2)
    u = offsets[..., 0]
    v = offsets[..., 1]
    if scales is not None:  # (N, K, S, S) offsets scaled per keypoint
        scales = ops.cast(ops.convert_to_tensor(scales), "float32")[:, :, None, None]
        u, v = u[None, None] * scales, v[None, None] * scales
    if orientations is None:
        dx, dy = u, v
        if scales is None:
            dx = ops.broadcast_to(dx, (1, 1) + tuple(dx.shape))
            dy = ops.broadcast_to(dy, (1, 1) + tuple(dy.shape))
    else:
        orientations = ops.cast(ops.convert_to_tensor(orientations), "float32")
        if len(orientations.shape) == 3:
            norm = ops.sqrt(ops.sum(ops.square(orientations), axis=-1) + 1e-12)
            cos, sin = orientations[..., 0] / norm, orientations[..., 1] / norm
        else:
            cos, sin = ops.cos(orientations), ops.sin(orientations)
        cos = cos[:, :, None, None]
        sin = sin[:, :, None, None]
        dx = cos * u - sin * v
        dy = sin * u + cos * v
    x = keypoints[:, :, 0][:, :, None, None] + dx  # (N, K, S, S)
    y = keypoints[:, :, 1][:, :, None, None] + dy
    coords = ops.stack([x, y], axis=-1)
    return bilinear_sample(images, coords, padding_mode=padding_mode)


def gray_patches(gray: np.ndarray, keypoints, orientations=None, *, output_size: int, support: float, scales=None):
    """`oriented_patches` of one gray image in NumPy (the eager twin used by `detect_and_describe`; about half
    the CPU of the TensorFlow gathers on a CPU): `gray` `(H, W)`, keypoints `(K, 2)` `(x, y)`, orientations None
    or `(K, 2)` vectors `(cos, sin)` (normalised here), scales None or `(K,)` → `(K, S, S)` float32, zeros outside
    the image. The same arithmetic as `oriented_patches` (float32, the same corner order), equal to it up to
    float rounding (tested)."""
    gray = np.asarray(gray, np.float32)
    h, w = gray.shape
    keypoints = np.asarray(keypoints, np.float32).reshape(-1, 2)
    offsets = patch_offsets(int(output_size), float(support))
    u, v = offsets[..., 0][None], offsets[..., 1][None]  # (1, S, S)
    if scales is not None:
        factor = np.asarray(scales, np.float32).reshape(-1)[:, None, None]
        u, v = u * factor, v * factor
    if orientations is None:
        dx, dy = u, v
    else:
        vectors = np.asarray(orientations, np.float32).reshape(-1, 2)
        norm = np.sqrt(np.sum(np.square(vectors), axis=-1) + np.float32(1e-12))
        cos, sin = (vectors[:, 0] / norm)[:, None, None], (vectors[:, 1] / norm)[:, None, None]
        dx, dy = cos * u - sin * v, sin * u + cos * v
    x = keypoints[:, 0, None, None] + dx
    y = keypoints[:, 1, None, None] + dy
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0
    # two pixels of zeros around the image: neighbours outside it (positions clipped to -2 .. size) read 0
    table = np.pad(gray, 2).reshape(-1)
    stride = w + 4
    top_left = (np.clip(y0, -2, h).astype(np.int64) + 2) * stride + np.clip(x0, -2, w).astype(np.int64) + 2
    gx, gy = np.float32(1) - fx, np.float32(1) - fy
    out = table[top_left] * (gy * gx)
    out += table[top_left + 1] * (gy * fx)
    out += table[top_left + stride] * (fy * gx)
    out += table[top_left + stride + 1] * (fy * fx)
    return out.astype(np.float32, copy=False)


def vector_to_angle(vectors):
    """`(..., 2)` vectors `(cos, sin)` (any length) → angles `(...)` in radians, in (-pi, pi]."""
    vectors = ops.convert_to_tensor(vectors)
    return ops.arctan2(vectors[..., 1], vectors[..., 0])


def local_contrast(images, window: int = 9):
    """Standard deviation of the gray values (channel mean) in a `window` x `window` neighbourhood,
    `(N, H, W, 1)`, in the units of `images`."""
    gray = ops.mean(ops.cast(images, "float32"), axis=-1, keepdims=True)
    mean = ops.average_pool(gray, window, strides=1, padding="same")
    mean_sq = ops.average_pool(ops.square(gray), window, strides=1, padding="same")
    return ops.sqrt(ops.maximum(mean_sq - ops.square(mean), 0.0))


def _check_edge_ratio(max_ratio) -> None:
    if not max_ratio >= 1:
        raise ValueError(f"max_ratio must be >= 1; received {max_ratio!r}")


def edge_response_mask(scores, max_ratio: float = 10.0):
    """Where a score map's local maximum is a blob, not an edge: SIFT's principal-curvature test.

    The 2 x 2 Hessian `H` of the score map (finite differences over the 3 x 3 neighbourhood) must have
    `det H > 0` (both curvatures of the same sign) and `trace(H)^2 / det(H) < (r + 1)^2 / r` with
    `r = max_ratio`, the largest allowed ratio of the two principal curvatures (Lowe, IJCV 2004, Sec. 4.1).
    Maxima along ridges and edges, which slide along the edge from one view to the other, fail it.

    Args:
        scores: `(N, H, W, C)` score maps (each channel tested on its own).
        max_ratio: r >= 1.

    Returns:
        `(N, H, W, C)` bool.
    """
    _check_edge_ratio(max_ratio)
    scores = ops.cast(ops.convert_to_tensor(scores), "float32")
    channels = scores.shape[-1]
    kernel = np.zeros((3, 3, 1, 3), "float32")
    kernel[1, :, 0, 0] = (1.0, -2.0, 1.0)  # d2/dx2 (kernel rows are y, columns x)
    kernel[:, 1, 0, 1] = (1.0, -2.0, 1.0)  # d2/dy2
    kernel[0, 0, 0, 2] = kernel[2, 2, 0, 2] = 0.25  # d2/dxdy
    kernel[0, 2, 0, 2] = kernel[2, 0, 0, 2] = -0.25
    kernel = np.tile(kernel, (1, 1, channels, 1))  # every channel on its own: outputs c*3 + (xx, yy, xy)
    hessian = ops.depthwise_conv(scores, ops.convert_to_tensor(kernel), strides=1, padding="same")
    dxx, dyy, dxy = hessian[..., 0::3], hessian[..., 1::3], hessian[..., 2::3]
    det = dxx * dyy - ops.square(dxy)
    trace = dxx + dyy
    limit = (max_ratio + 1.0) ** 2 / max_ratio
    return (det > 0) & (ops.square(trace) < limit * det)


def scale_space_extrema(responses, *, threshold: float = 0.1, edge_ratio: float | None = 10.0,
                        return_scale: bool = False):
    """Scale-space extrema of a stack of band-pass responses (SIFT's detector on any DoG-like stack).

    A position (x, y, s) is kept when `|responses|` there is the maximum of its 3 x 3 x 3 neighbourhood
    in space and scale (the neighbouring channels are the adjacent scales), exceeds `threshold` and, with
    `edge_ratio`, passes `edge_response_mask` on its channel (Lowe, IJCV 2004, Sec. 3-4).

    Args:
        responses: `(N, H, W, S)` responses, channels ordered by scale (e.g. differences of Gaussians).
        threshold: minimum `|response|`.
        edge_ratio: SIFT's curvature-ratio limit r (None: no edge test).
        return_scale: also return the scale (channel) index of each pixel's extremum.

    Returns:
        `(N, H, W, 1)` float32 score map: at each pixel the largest `|response|` among the scales where it
        is an extremum, `INVALID_SCORE` where it is none. Feed it to `nms_keypoints` (radius >= 1). With
        `return_scale`, a pair `(score map, scale)`, `scale` `(N, H, W, 1)` float32: the channel of that
        extremum (undefined where there is none).
    """
    responses = ops.cast(ops.convert_to_tensor(responses), "float32")
    magnitude = ops.abs(responses)
    spatial = ops.max_pool(magnitude, 3, strides=1, padding="same")  # per channel
    floor = ops.zeros_like(spatial[..., :1]) - 1.0
    below = ops.concatenate([floor, spatial[..., :-1]], axis=-1)
    above = ops.concatenate([spatial[..., 1:], floor], axis=-1)
    keep = (magnitude >= ops.maximum(spatial, ops.maximum(below, above))) & (magnitude > threshold)
    if edge_ratio is not None:
        keep = keep & edge_response_mask(responses, edge_ratio)
    candidates = ops.where(keep, magnitude, INVALID_SCORE)
    score = ops.max(candidates, axis=-1, keepdims=True)
    if not return_scale:
        return score
    # The channel of the maximum without argmax (Keras' float argmax lowers to a BitwiseAnd that TFLite lacks).
    channel = ops.cast(ops.arange(candidates.shape[-1]), "float32")
    scale = ops.max(ops.where(candidates >= score, channel, 0.0), axis=-1, keepdims=True)
    return score, scale


def _neighbours(maps, keypoints, channel=None):
    """`at(dx, dy, ds=0)` -> `(N, K)`: the values of `(N, H, W, C)` maps at the rounded `(N, K, 2)` keypoints
    (channel `channel` `(N, K)` int32, or 0) shifted by integer offsets, clamped to the map (a gather)."""
    maps = ops.cast(ops.convert_to_tensor(maps), "float32")
    shape = ops.shape(maps)
    height, width, channels = shape[1], shape[2], shape[3]
    flat = ops.reshape(maps, (shape[0], -1))
    xi = ops.cast(ops.round(keypoints[..., 0]), "int32")
    yi = ops.cast(ops.round(keypoints[..., 1]), "int32")
    si = ops.zeros_like(xi) if channel is None else channel

    def at(dx, dy, ds=0):
        x = ops.clip(xi + dx, 0, width - 1)
        y = ops.clip(yi + dy, 0, height - 1)
        s = ops.clip(si + ds, 0, channels - 1)
        return ops.take_along_axis(flat, (y * width + x) * channels + s, axis=1)

    return at


def _quadratic_fit(at, interior, max_offset: float, xp):
    """SIFT's 3-D quadratic fit from `at(dx, dy, ds)`, the responses at those offsets of each extremum, and
    `interior` (not the first or last channel): `(offset x, offset y, offset scale, |interpolated value|)`.
    `xp` is `keras.ops` (the graph path, `refine_scale_space`) or `numpy` (`_refine_scale_space_numpy`):
    one formula for both; plain float constants keep float32 in either (NumPy 2's weak scalars)."""
    d0 = at(0, 0, 0)
    gx = 0.5 * (at(1, 0, 0) - at(-1, 0, 0))
    gy = 0.5 * (at(0, 1, 0) - at(0, -1, 0))
    gs = xp.where(interior, 0.5 * (at(0, 0, 1) - at(0, 0, -1)), 0.0)
    hxx = at(1, 0, 0) + at(-1, 0, 0) - 2.0 * d0
    hyy = at(0, 1, 0) + at(0, -1, 0) - 2.0 * d0
    hss = xp.where(interior, at(0, 0, 1) + at(0, 0, -1) - 2.0 * d0, 1.0)
    hxy = 0.25 * (at(1, 1, 0) - at(1, -1, 0) - at(-1, 1, 0) + at(-1, -1, 0))
    hxs = xp.where(interior, 0.25 * (at(1, 0, 1) - at(1, 0, -1) - at(-1, 0, 1) + at(-1, 0, -1)), 0.0)
    hys = xp.where(interior, 0.25 * (at(0, 1, 1) - at(0, 1, -1) - at(0, -1, 1) + at(0, -1, -1)), 0.0)
    # Symmetric 3 x 3 inverse by cofactors (TFLite has no matrix solve among its built-ins).
    c00 = hyy * hss - hys * hys
    c01 = hxs * hys - hxy * hss
    c02 = hxy * hys - hxs * hyy
    c11 = hxx * hss - hxs * hxs
    c12 = hxs * hxy - hxx * hys
    c22 = hxx * hyy - hxy * hxy
    det = hxx * c00 + hxy * c01 + hxs * c02
    ok = xp.abs(det) > 1e-9
    inv = xp.where(ok, 1.0 / xp.where(ok, det, 1.0), 0.0)
    ox = -(c00 * gx + c01 * gy + c02 * gs) * inv
    oy = -(c01 * gx + c11 * gy + c12 * gs) * inv
    os_ = -(c02 * gx + c12 * gy + c22 * gs) * inv
    ox, oy, os_ = (xp.clip(o, -max_offset, max_offset) for o in (ox, oy, os_))
    return ox, oy, os_, xp.abs(d0 + 0.5 * (gx * ox + gy * oy + gs * os_))


def refine_scale_space(responses, keypoints, scale_index, *, max_offset: float = 0.6):
    """Sub-pixel and sub-scale extrema: SIFT's 3-D quadratic fit (Lowe, IJCV 2004, Sec. 4).

    At each integer extremum (x, y, s) of a response stack, the Taylor expansion
    `D(x + o) = D + g.o + o.H.o / 2` with gradient g and Hessian H from central differences over the
    3 x 3 x 3 neighbourhood gives the offset `o = -H^-1 g` of the true extremum and its interpolated value
    `D + g.o / 2` (SIFT's contrast test uses it). On the first and last channel the scale axis is not
    fitted (offset 0 in scale); a singular Hessian gives offset 0.

    Args:
        responses: `(N, H, W, S)` signed responses (e.g. differences of Gaussians), channels by scale.
        keypoints: `(N, K, 2)` integer-valued `(x, y)` extrema.
        scale_index: `(N, K)` their integer channel.
        max_offset: each offset component is clipped to `[-max_offset, max_offset]` (pixels / channels).

    Returns:
        `(keypoints (N, K, 2), scale (N, K), value (N, K))` float32: refined positions, fractional channel
        index, and the interpolated |response| at the refined extremum.
    """
    keypoints = ops.cast(ops.convert_to_tensor(keypoints), "float32")
    si = ops.cast(ops.round(ops.cast(ops.convert_to_tensor(scale_index), "float32")), "int32")
    at = _neighbours(responses, keypoints, si)
    channels = ops.shape(responses)[3]
    interior = (si > 0) & (si < channels - 1)

    ox, oy, os_, value = _quadratic_fit(at, interior, max_offset, ops)
    refined = keypoints + ops.stack([ox, oy], axis=-1)
    return refined, ops.cast(si, "float32") + os_, value


def refine_subpixel(scores, keypoints):
    """Sub-pixel keypoints: the vertex of the parabola through each integer maximum and its two
    neighbours, separately in x and y (as SIFT's interpolation, without the scale axis).

    Args:
        scores: `(N, H, W, 1)` score maps.
        keypoints: `(N, K, 2)` integer-valued `(x, y)` positions (local maxima) in the score maps' pixels.

    Returns:
        `(N, K, 2)` float32: each keypoint moved by at most half a pixel per axis towards the parabola
        vertex (unchanged where the score is not curved downwards, e.g. flat or on the border).
    """
    keypoints = ops.cast(ops.convert_to_tensor(keypoints), "float32")
    at = _neighbours(scores, keypoints)

    centre = at(0, 0)
    offsets = []
    for (lo, hi) in ((at(-1, 0), at(1, 0)), (at(0, -1), at(0, 1))):
        curvature = lo + hi - 2.0 * centre  # < 0 at a proper maximum
        safe = ops.where(curvature < -1e-6, curvature, -1.0)
        offset = ops.where(curvature < -1e-6, 0.5 * (lo - hi) / safe, 0.0)
        offsets.append(ops.clip(offset, -0.5, 0.5))
    return keypoints + ops.stack(offsets, axis=-1)


def nms_keypoints(scores, max_keypoints: int, *, radius: int = 2, border: int = 0, min_score=None,
                  images=None, min_contrast: float = 0.0, contrast_window: int = 9, subpixel: bool = False,
                  edge_ratio: float | None = None):
    """Non-maximum suppression on score maps and the `max_keypoints` strongest maxima.

    A position is a keypoint when it is the maximum of its `(2 radius + 1)²` neighbourhood, at least
    `border` pixels from the image edge, its score exceeds `min_score` (if given) and (if `images` is
    given) the local contrast of the image there is at least `min_contrast` (so that textureless regions
    give no keypoints whatever the detector says).

    Args:
        scores: `(N, H, W, 1)` score maps (logits).
        max_keypoints: K, the number of returned entries per image.
        subpixel: refine the integer maxima with `refine_subpixel`.
        edge_ratio: if given, drop maxima failing `edge_response_mask(scores, edge_ratio)` (edge-like maxima).

    Returns:
        `(keypoints, values, valid)`: `(N, K, 2)` float32 `(x, y)` pixels (integers unless `subpixel`), `(N, K)` scores
        (strongest first; `INVALID_SCORE` for padding), `(N, K)` bool: False for padding entries (fewer than K maxima).
    """
    if not isinstance(max_keypoints, (int, np.integer)) or max_keypoints < 1:
        raise ValueError(f"max_keypoints must be a positive int; received {max_keypoints!r}")
    if radius < 0 or border < 0:
        raise ValueError(f"radius and border must be >= 0; received radius={radius}, border={border}")
    scores = ops.cast(ops.convert_to_tensor(scores), "float32")
    shape = ops.shape(scores)
    height, width = shape[1], shape[2]
    keep = ops.equal(scores, ops.max_pool(scores, 2 * radius + 1, strides=1, padding="same"))
    if border > 0:
        ys = ops.arange(height, dtype="int32")[:, None]
        xs = ops.arange(width, dtype="int32")[None, :]
        inside = (ys >= border) & (ys < height - border) & (xs >= border) & (xs < width - border)
        keep = keep & inside[None, :, :, None]
    if min_score is not None:
        keep = keep & (scores > min_score)
    if edge_ratio is not None:
        keep = keep & edge_response_mask(scores, edge_ratio)
    if images is not None:
        keep = keep & (local_contrast(images, contrast_window) >= min_contrast)
    candidates = ops.where(keep, scores, INVALID_SCORE)
    flat = ops.reshape(candidates, (shape[0], -1))
    k = int(max_keypoints)
    static_hw = scores.shape[1] is not None and scores.shape[2] is not None
    if static_hw and scores.shape[1] * scores.shape[2] < k:  # fewer positions than K: pad
        flat = ops.pad(flat, [[0, 0], [0, k - scores.shape[1] * scores.shape[2]]], constant_values=INVALID_SCORE)
    values, indices = ops.top_k(flat, k, sorted=True)
    indices = ops.cast(indices, "int32")
    x = ops.cast(indices % width, "float32")
    y = ops.cast(indices // width, "float32")
    valid = values > INVALID_SCORE / 2
    points = ops.stack([x, y], axis=-1)
    if subpixel:
        points = refine_subpixel(scores, points)
    return points, values, valid


def _selection_plan(max_keypoints, refine, threshold: float):
    """Check `scale_space_keypoints`' arguments → `(K, fit, pre_threshold)`: with the 3-D fit (`fit`) the
    contrast test is on the interpolated value, so extrema are first kept a little below the threshold."""
    if refine not in ("3d", "2d", None):
        raise ValueError(f"refine must be '3d', '2d' or None; received {refine!r}")
    if not isinstance(max_keypoints, (int, np.integer)) or max_keypoints < 1:
        raise ValueError(f"max_keypoints must be a positive int; received {max_keypoints!r}")
    fit = refine == "3d"
    return int(max_keypoints), fit, threshold * (0.5 if fit else 1.0)


def _candidate_count(k: int, fit: bool, height, width) -> int:
    """How many extrema `scale_space_keypoints` takes before its refinement: 2K with the 3-D fit (K
    otherwise), no more than the map's positions (when known) but at least K."""
    candidates = 2 * k if fit else k
    if height is not None and width is not None:
        candidates = min(candidates, max(k, height * width))
    return candidates


def scale_space_keypoints(responses, max_keypoints: int, *, threshold: float = 0.3, border: int = 0, images=None,
                          min_contrast: float = 0.0, edge_ratio: float | None = 10.0, refine: str | None = "3d",
                          min_keypoints: int = 0, low_threshold: float | None = None):
    """SIFT's keypoint selection on a stack of band-pass responses, as one differentiable-free op.

    Scale-space extrema (`scale_space_extrema`, with the edge test), at least `border` px from the edge and
    (with `images`) on regions of local contrast >= `min_contrast`; then with `refine="3d"` the 2K
    strongest are refined by `refine_scale_space` and kept when the interpolated |response| exceeds
    `threshold` (SIFT's contrast test), the K strongest of them; with `refine="2d"` the K strongest above
    `threshold`, refined by parabolas in x and y on the max-over-scales |response|; with None, integer.
    With `min_keypoints` and `low_threshold`, an image where fewer than `min_keypoints` extrema pass
    `threshold` (low contrast, little texture) keeps the strongest extrema down to `low_threshold` until it
    has `min_keypoints` (the ones above `threshold` always stay; `_minimum_count`).

    Args:
        responses: `(N, H, W, S)` responses (e.g. differences of Gaussians), channels by scale.
        max_keypoints: K.

    Returns:
        `(keypoints (N, K, 2), values (N, K), valid (N, K) bool, scale (N, K))`: strongest first; `values`
        the (interpolated) |response|, `INVALID_SCORE` for padding; `scale` the fractional channel index.
    """
    lowest = _lowest_threshold(threshold, min_keypoints, low_threshold)
    k, fit, pre_threshold = _selection_plan(max_keypoints, refine, lowest)
    responses = ops.cast(ops.convert_to_tensor(responses), "float32")
    extrema, scale_map = scale_space_extrema(responses, threshold=pre_threshold, edge_ratio=edge_ratio,
                                             return_scale=True)
    candidates = _candidate_count(k, fit, responses.shape[1], responses.shape[2])
    points, values, valid = nms_keypoints(extrema, candidates, radius=1, border=border, images=images,
                                          min_contrast=min_contrast)
    shape = ops.shape(scale_map)
    index = ops.cast(ops.round(points[..., 1]), "int32") * shape[2] + ops.cast(ops.round(points[..., 0]), "int32")
    scale = ops.take_along_axis(ops.reshape(scale_map, (shape[0], -1)), index, axis=1)
    if fit:
        points, scale, values = refine_scale_space(responses, points, scale)
        valid = valid & (values > lowest)
        values, order = ops.top_k(ops.where(valid, values, INVALID_SCORE), k, sorted=True)
        order = ops.cast(order, "int32")
        points = ops.stack([ops.take_along_axis(points[..., 0], order, axis=1),
                            ops.take_along_axis(points[..., 1], order, axis=1)], axis=-1)
        scale = ops.take_along_axis(scale, order, axis=1)
        valid = values > INVALID_SCORE / 2
    elif refine == "2d":
        points = refine_subpixel(ops.max(ops.abs(responses), axis=-1, keepdims=True), points)
    if lowest < threshold:
        valid = _minimum_count(values, valid, threshold, min_keypoints, ops)
        values = ops.where(valid, values, INVALID_SCORE)
    return points, values, valid, scale


def _lowest_threshold(threshold: float, min_keypoints: int, low_threshold: float | None) -> float:
    """Check the relaxed-threshold arguments → the lowest response a kept extremum may have."""
    if isinstance(min_keypoints, bool) or not isinstance(min_keypoints, (int, np.integer)) or min_keypoints < 0:
        raise ValueError(f"min_keypoints must be an int >= 0; received {min_keypoints!r}")
    if low_threshold is None or not min_keypoints:
        return float(threshold)
    if isinstance(low_threshold, bool) or not np.isfinite(low_threshold) or not low_threshold > 0:
        raise ValueError(f"low_threshold must be a number > 0 or None; received {low_threshold!r}")
    return float(min(threshold, low_threshold))


def _minimum_count(values, valid, threshold: float, min_keypoints: int, xp):
    """Of candidates sorted strongest first (`values` `(N, K)`), keep those above `threshold` and, when there are
    fewer than `min_keypoints` of them, the next strongest valid ones until `min_keypoints` (`xp`: `keras.ops` or
    NumPy)."""
    rank = xp.arange(values.shape[-1])[None]
    return valid & ((values > threshold) | (rank < min_keypoints))


def gray_level(images) -> np.ndarray:
    """Channel mean of a NumPy image array `(..., C)` as float32 `(...)`: NumPy's `mean(axis=-1)` to the bit (its
    float32 sum of fewer than 8 values runs in channel order, then one division), but as a sum of channel slices,
    about 20x faster on a 640 x 480 RGB image than the reduction over the short last axis."""
    images = np.asarray(images, np.float32)
    channels = images.shape[-1]
    total = images[..., 0].copy()
    for c in range(1, channels):
        total += images[..., c]
    return total / np.float32(channels)


def gaussian_kernel_1d(sigma: float, radius: int | None = None) -> np.ndarray:
    """Normalised 1-D Gaussian of standard deviation `sigma` px, truncated at `radius` px (default
    `ceil(3 sigma)`): float32 `(2 radius + 1,)`. The presmoothing of the scale-space keypoints (`GaussianBlur`,
    `dog_responses`) uses it in both the graph and the NumPy path, so that they blur alike."""
    radius = max(1, int(math.ceil(3.0 * float(sigma)))) if radius is None else int(radius)
    r = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-(r**2) / (2.0 * float(sigma) ** 2))
    return (g / g.sum()).astype(np.float32)


def check_presmooth(sigma) -> float:
    """`sigma` (px) as a float >= 0 (0: no presmoothing), or a ValueError naming `presmooth`."""
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.integer, np.floating)) or not sigma >= 0:
        raise ValueError(f"presmooth must be a Gaussian sigma >= 0 px (0 turns it off); received {sigma!r}")
    return float(sigma)


def _local_contrast(gray: np.ndarray, window: int = 9) -> np.ndarray:
    """`local_contrast` of one gray image `(H, W)` (0..255) with box filters: the mean over the
    window's pixels inside the image (average pooling with "same" padding)."""
    size = (window, window)
    ones = np.ones_like(gray)
    count = cv2.boxFilter(ones, cv2.CV_32F, size, normalize=False, borderType=cv2.BORDER_CONSTANT)
    mean = cv2.boxFilter(gray, cv2.CV_32F, size, normalize=False, borderType=cv2.BORDER_CONSTANT) / count
    mean_sq = cv2.boxFilter(gray * gray, cv2.CV_32F, size, normalize=False, borderType=cv2.BORDER_CONSTANT) / count
    return np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))


def _edge_test(padded: np.ndarray, s, y, x, max_ratio: float) -> np.ndarray:
    """`edge_response_mask` (zero padding) at points `(s, y, x)` (int arrays) of zero-padded channel-first
    responses `(S, H + 2, W + 2)`, by gathers: only the (sparse) extrema need the test."""
    y, x = y + 1, x + 1
    c = padded[s, y, x]
    dxx = padded[s, y, x + 1] + padded[s, y, x - 1] - 2.0 * c
    dyy = padded[s, y + 1, x] + padded[s, y - 1, x] - 2.0 * c
    dxy = 0.25 * (padded[s, y - 1, x - 1] + padded[s, y + 1, x + 1] - padded[s, y - 1, x + 1]
                  - padded[s, y + 1, x - 1])
    det = dxx * dyy - dxy * dxy
    trace = dxx + dyy
    return (det > 0) & (trace * trace < (max_ratio + 1.0) ** 2 / max_ratio * det)


def _refine_scale_space_numpy(responses: np.ndarray, points: np.ndarray, scale: np.ndarray,
                              max_offset: float = 0.6):
    """`refine_scale_space` of one image in NumPy: responses `(H, W, S)`, integer-valued points `(K, 2)` (x, y)
    and channels `(K,)` → `(points (K, 2), scale (K,), value (K,))` float32 (the same 3-D quadratic fit,
    cofactor inverse and clipping; a TF call per image cost more CPU than the fit itself)."""
    h, w, channels = responses.shape
    r = responses.astype(np.float32, copy=False)
    xi = np.round(points[:, 0]).astype(np.int64)
    yi = np.round(points[:, 1]).astype(np.int64)
    si = np.round(scale).astype(np.int64)

    def at(dx, dy, ds=0):
        return r[np.clip(yi + dy, 0, h - 1), np.clip(xi + dx, 0, w - 1), np.clip(si + ds, 0, channels - 1)]

    interior = (si > 0) & (si < channels - 1)
    f = np.float32
    ox, oy, os_, value = _quadratic_fit(at, interior, max_offset, np)
    refined = points.astype(f) + np.stack([ox, oy], axis=-1)
    return refined, (si.astype(f) + os_).astype(f), value.astype(f)


_refine_subpixel = tf.function(refine_subpixel, reduce_retracing=True, autograph=False)


def fast_scale_space_keypoints(responses, images, max_keypoints: int, *, threshold: float = 0.3, border: int = 0,
                               min_contrast: float = 0.0, edge_ratio: float | None = 10.0, refine: str | None = "3d",
                               min_keypoints: int = 0, low_threshold: float | None = None):
    """`ops.keypoints.scale_space_keypoints` for one image, its dense part (extrema in space and scale, edge test,
    contrast guard, NMS) in NumPy / OpenCV and its refinement (`refine_scale_space`'s fit, in NumPy) on the selected
    points.

    Same arguments and results as `scale_space_keypoints` with `responses` `(1, H, W, S)` and `images`
    `(1, H, W, C)` arrays (the same keypoints up to float rounding; models keep the graph op for export, the
    test suite checks that the two agree). Eager TF spent about 0.7 CPU-s per 640 x 480 image
    on the dense maps (average pooling above all); this takes a few hundredths.
    """
    lowest = _lowest_threshold(threshold, min_keypoints, low_threshold)
    k, fit, pre_threshold = _selection_plan(max_keypoints, refine, lowest)
    responses = np.asarray(responses, np.float32)[0]
    h, w, channels = responses.shape
    planes = np.ascontiguousarray(np.moveaxis(responses, -1, 0))  # (S, H, W)
    magnitude = np.abs(planes)
    kernel = np.ones((3, 3), np.uint8)
    spatial = np.stack([cv2.dilate(m, kernel) for m in magnitude])
    floor = np.full((1, h, w), -1.0, np.float32)
    neighbours = np.maximum(spatial, np.maximum(np.concatenate([floor, spatial[:-1]]),
                                                np.concatenate([spatial[1:], floor])))
    keep = (magnitude >= neighbours) & (magnitude > pre_threshold)
    if edge_ratio is not None:  # SIFT's edge test, evaluated at the (sparse) extrema only
        _check_edge_ratio(edge_ratio)
        s_, y_, x_ = np.nonzero(keep)
        keep[s_, y_, x_] = _edge_test(np.pad(planes, ((0, 0), (1, 1), (1, 1))), s_, y_, x_, float(edge_ratio))
    candidates = np.where(keep, magnitude, np.float32(INVALID_SCORE))
    score = np.maximum.reduce(list(candidates))
    scale_map = np.zeros((h, w), np.float32)
    for c in range(1, channels):  # the largest channel holding the maximum (as the graph op)
        scale_map[candidates[c] >= score] = c
    # nms_keypoints(radius=1, border, contrast)
    keep = score == cv2.dilate(score, kernel)
    inside = np.zeros((h, w), bool)
    inside[border:h - border, border:w - border] = True
    keep &= inside
    if images is not None:
        gray = gray_level(np.asarray(images, np.float32)[0])
        keep &= _local_contrast(gray) >= min_contrast
    flat = np.where(keep, score, np.float32(INVALID_SCORE)).reshape(-1)
    count = _candidate_count(k, fit, h, w)
    if flat.size < count:
        flat = np.concatenate([flat, np.full((count - flat.size,), INVALID_SCORE, np.float32)])
    top = np.argpartition(-flat, count - 1)[:count] if count < flat.size else np.arange(flat.size)
    top = top[np.lexsort((top, -flat[top]))]  # strongest first, ties by index (as top_k)
    values = flat[top]
    valid = values > INVALID_SCORE / 2
    points = np.stack([top % w, top // w], -1).astype(np.float32)
    scale = scale_map.reshape(-1)[np.minimum(top, h * w - 1)]
    if fit:
        refined, scale, values = _refine_scale_space_numpy(responses, points, scale)
        valid &= values > lowest
        order = np.lexsort((np.arange(len(values)), -np.where(valid, values, INVALID_SCORE)))[:k]
        points, scale, valid = refined[order], scale[order], valid[order]
        values = np.where(valid, values[order], INVALID_SCORE)
        if len(order) < k:  # fewer candidates than K (tiny image): pad
            pad = k - len(order)
            points = np.concatenate([points, np.zeros((pad, 2), np.float32)])
            scale = np.concatenate([scale, np.zeros((pad,), np.float32)])
            values = np.concatenate([values, np.full((pad,), INVALID_SCORE, np.float32)])
            valid = np.concatenate([valid, np.zeros((pad,), bool)])
    elif refine == "2d":
        peak = np.maximum.reduce(list(magnitude))[None, ..., None]
        points = _refine_subpixel(tf.convert_to_tensor(peak), tf.convert_to_tensor(points[None])).numpy()[0]
    if lowest < threshold:
        valid = _minimum_count(values[None], valid[None], threshold, min_keypoints, np)[0]
        values = np.where(valid, values, np.float32(INVALID_SCORE))
    return points[None], values[None].astype(np.float32), valid[None], scale[None].astype(np.float32)
