"""RoIAlign, FPN level assignment, mask-target cropping and mask pasting, with TFLite built-in ops only.

RoIAlign (He et al., Mask R-CNN, arXiv:1703.06870, section 3) pools a fixed `ph x pw` grid of features for each box by
bilinear sampling, without rounding box coordinates. `tf.image.crop_and_resize` needs Flex in TFLite, so it is written
with built-ins. Bilinear interpolation and the average of the `s x s` points of a bin are both separable, so for boxes
given per image (`(B, R, 4)`, the R-CNN case) a bin is `sum_ij Wy[p, i] Wx[q, j] F[i, j]` with small "interpolation
matrices" `Wy (ph, H)`, `Wx (pw, W)`: two batched matrix products (`BATCH_MATMUL`) per feature map, whose gradient is
two more products. Forward and backward, this is faster on a CPU than gathering the four neighbours of every sampling
point (`GATHER`, whose gradient is a scatter-add) and than TF's `crop_and_resize` kernel (measurements:
benchmarks/RESULTS.md, `benchmarks/roi_align_speed.py`); the gather form is kept for flat box lists with `box_indices`,
where boxes of any image share one call.

Conventions (detectron2's `ROIAlign`, pinned by tests/ops/test_roi_align.py against a hand computation):

- boxes are `xyxy` in **image** pixels; `spatial_scale` (`1 / stride`) maps them onto the feature map,
  whose sample `(i, j)` sits at the continuous coordinate `(x, y) = (j, i)`;
- `aligned=True` (detectron2's recommended setting, the default here) shifts the scaled box by -0.5 pixel,
  so that the continuous box `[x1, x2)` covers the feature samples whose *centres* `j + 0.5` lie in it;
  `aligned=False` is the original Mask R-CNN / Caffe2 behaviour (no shift, boxes at least 1 x 1);
- each of the `ph x pw` bins is the average of `sampling_ratio x sampling_ratio` regularly spaced points
  (bin sub-cell centres). Unlike detectron2, `sampling_ratio` must be a positive int: the adaptive
  `sampling_ratio=0` (`ceil(roi_size / output_size)` points) gives data-dependent shapes;
- a sampling point is 0 if it lies more than one pixel outside the map (`y < -1` or `y > H`), otherwise its
  coordinates are clamped to `[0, H - 1]` before bilinear interpolation (detectron2 / torchvision). The
  point coordinates are computed with torchvision's float32 formula, `start + p * bin + (k + 0.5) * bin / s`,
  so a point that lands on -1 in exact arithmetic is kept or dropped as torchvision does (e.g. the box
  [-3, 0, 12, 16] on a 16 x 9 map, 7 x 7 bins, `sampling_ratio=3`, `aligned=True`: torchvision computes
  one point column just below -1 and drops it; recorded in tests/ops/data/roi_align_reference.npz).

Everything is differentiable with respect to the features and, through the interpolation weights, to the
box coordinates (Faster R-CNN stops that gradient on proposals).
"""

from __future__ import annotations

import math

import numpy as np
from keras import ops

from vras_keras.ops.boxes import convert_format


def _pair(value, what):
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"{what} must be an int or a pair (height, width), received {value}")
        out = (int(value[0]), int(value[1]))
    else:
        out = (int(value), int(value))
    if min(out) <= 0:
        raise ValueError(f"{what} must be positive, received {value}")
    return out


def check_roi_align_args(output_size, sampling_ratio, strides=None):
    """Validate RoIAlign arguments; returns `(output_size pair, sampling_ratio)`."""
    size = _pair(output_size, "output_size")
    if isinstance(sampling_ratio, bool) or int(sampling_ratio) != sampling_ratio or int(sampling_ratio) <= 0:
        raise ValueError(
            f"sampling_ratio must be a positive int (the adaptive sampling_ratio=0 of detectron2 gives "
            f"data-dependent shapes and is not supported), received {sampling_ratio}"
        )
    if strides is not None:
        strides = [int(s) for s in strides]
        if not strides or any(s <= 0 or s & (s - 1) for s in strides):
            raise ValueError(f"strides must be powers of two, received {strides}")
        levels = [int(math.log2(s)) for s in strides]
        if levels != list(range(levels[0], levels[0] + len(levels))):
            raise ValueError(f"strides must be consecutive powers of two (one FPN level each), received {strides}")
    return size, int(sampling_ratio)


def _axis_samples(start, length, bins, sampling_ratio, size):
    """Sampling coordinates along one axis: `(N, bins * sampling_ratio)` clamped coordinates + validity."""
    # torchvision's float32 arithmetic, operation by operation: start + p * bin + (k + 0.5) * bin / s for
    # point k of bin p. Mathematically start + length * (p * s + k + 0.5) / (bins * s), but the rounding
    # decides whether a point at exactly -1 or `size` is kept (tests/ops/data/roi_align_reference.npz).
    bin_index = np.repeat(np.arange(bins, dtype=np.float32), sampling_ratio)[None]  # (1, bins * s)
    point = (np.tile(np.arange(sampling_ratio, dtype=np.float32), bins) + np.float32(0.5))[None]
    bin_size = (length / float(bins))[:, None]
    coord = (start[:, None] + bin_index * bin_size) + (point * bin_size) / float(sampling_ratio)
    size = size[:, None]
    valid = ops.logical_and(coord >= -1.0, coord <= size)
    coord = ops.minimum(ops.maximum(coord, 0.0), size - 1.0)
    low = ops.floor(coord)
    high = ops.minimum(low + 1.0, size - 1.0)
    frac = coord - low
    return ops.cast(low, "int32"), ops.cast(high, "int32"), frac, ops.cast(valid, "float32")


def _box_extent(boxes, aligned):
    """`(x1, y1, width, height)` `(N,)` each of `(N, 4)` xyxy boxes in map pixels: shifted by half a pixel when
    `aligned`; otherwise (the original RoIAlign) malformed boxes are forced to be 1 x 1."""
    offset = 0.5 if aligned else 0.0
    x1, y1 = boxes[:, 0] - offset, boxes[:, 1] - offset
    roi_w, roi_h = boxes[:, 2] - offset - x1, boxes[:, 3] - offset - y1
    if not aligned:
        roi_w, roi_h = ops.maximum(roi_w, 1.0), ops.maximum(roi_h, 1.0)
    return x1, y1, roi_w, roi_h


def _roi_align_rows(table, boxes, base, height, width, output_size, sampling_ratio, aligned):
    """The core: `N` boxes sampled from rows of a flattened feature table.

    Args:
        table: `(T, C)` feature rows: every feature map (image x level) flattened row-major.
        boxes: `(N, 4)` xyxy boxes in the pixel units of their feature map (already scaled).
        base: `(N,)` int32 row of `table` where the box's feature map starts.
        height, width: `(N,)` float32 size of the box's feature map.

    Returns:
        `(N, ph, pw, C)` float32.
    """
    ph, pw = output_size
    s = sampling_ratio
    channels = table.shape[-1]
    x1, y1, roi_w, roi_h = _box_extent(boxes, aligned)
    y_lo, y_hi, ly, vy = _axis_samples(y1, roi_h, ph, s, height)  # (N, ph*s)
    x_lo, x_hi, lx, vx = _axis_samples(x1, roi_w, pw, s, width)  # (N, pw*s)
    row_w = ops.cast(width, "int32")[:, None, None]
    base = base[:, None, None]
    valid = vy[:, :, None] * vx[:, None, :]  # (N, ph*s, pw*s)
    wy = ((1.0 - ly)[:, :, None], ly[:, :, None])
    wx = ((1.0 - lx)[:, None, :], lx[:, None, :])
    ys = (y_lo[:, :, None], y_hi[:, :, None])
    xs = (x_lo[:, None, :], x_hi[:, None, :])
    total = 0.0
    for a in range(2):
        for b in range(2):
            index = ops.reshape(base + ys[a] * row_w + xs[b], (-1,))
            weight = ops.reshape(wy[a] * wx[b] * valid, (-1, 1))
            total = total + weight * ops.take(table, index, axis=0)  # (N * ph*s * pw*s, C)
    # average the s x s points of every bin: first over the x points, then over the y points
    total = ops.mean(ops.reshape(total, (-1, s, channels)), axis=1)  # rows (n, p, ky, q)
    total = ops.mean(ops.reshape(total, (-1, s, pw * channels)), axis=1)  # rows (n, p)
    return ops.reshape(total, (-1, ph, pw, channels))


def _axis_weights(start, length, bins, sampling_ratio, size, depth):
    """Interpolation matrix `(N, bins, depth)` along one axis: bin `p` of box `n` is
    `sum_i W[n, p, i] f[i]` (the mean over its `sampling_ratio` points of their bilinear weights).

    `start`, `length`: `(N,)` box start / length in feature pixels; `size`: `(N,)` or scalar float map size;
    `depth`: the map size (int or scalar tensor) indexing the matrix columns."""
    low, high, frac, valid = _axis_samples(start, length, bins, sampling_ratio, size)  # (N, bins * s)
    grid = ops.arange(depth, dtype="int32")
    w = (ops.cast(ops.expand_dims(low, -1) == grid, "float32") * ops.expand_dims((1.0 - frac) * valid, -1)
         + ops.cast(ops.expand_dims(high, -1) == grid, "float32") * ops.expand_dims(frac * valid, -1))
    return ops.mean(ops.reshape(w, (-1, bins, sampling_ratio, ops.shape(w)[-1])), axis=2)


def _separable_weights(boxes, height, width, output_size, sampling_ratio, aligned):
    """`(Wy (N, ph, H), Wx (N, pw, W))` for `(N, 4)` xyxy boxes in the pixel units of an `H x W` map."""
    ph, pw = output_size
    x1, y1, roi_w, roi_h = _box_extent(boxes, aligned)
    size_h = ops.cast(height, "float32") * ops.ones_like(y1)
    size_w = ops.cast(width, "float32") * ops.ones_like(x1)
    wy = _axis_weights(y1, roi_h, ph, sampling_ratio, size_h, height)
    wx = _axis_weights(x1, roi_w, pw, sampling_ratio, size_w, width)
    return wy, wx


def _separable_pool(features, wy, wx):
    """`features (B, H, W, C)`, `wy (B, R, ph, H)`, `wx (B, R, pw, W)` -> `(B, R, ph, pw, C)`: rows first
    (one `(R ph, H) x (H, W C)` product per image), then columns (one `(pw, W) x (W, C)` per box and row)."""
    shape = ops.shape(features)
    batch, height, width = shape[0], shape[1], shape[2]
    channels = features.shape[-1] if features.shape[-1] is not None else shape[3]
    rois, ph, pw = ops.shape(wy)[1], wy.shape[2], wx.shape[2]
    rows = ops.matmul(ops.reshape(wy, (batch, -1, height)), ops.reshape(features, (batch, height, -1)))
    rows = ops.reshape(rows, (-1, ph, width, channels))  # (B R, ph, W, C)
    out = ops.matmul(ops.reshape(wx, (-1, 1, pw, width)), rows)  # (B R, ph, pw, C)
    return ops.reshape(out, (batch, rois, ph, pw, channels))


def _boxes_and_batch_index(boxes, box_indices, batch, bounding_box_format):
    """Flatten `(B, R, 4)` boxes (or `(R, 4)` + `box_indices`) to `(N, 4)` + the image index of each."""
    boxes = convert_format(boxes, bounding_box_format, "xyxy")
    if box_indices is None:
        if len(boxes.shape) != 3:
            raise ValueError(
                f"boxes must be (B, R, 4) (or (R, 4) with box_indices), received shape {tuple(boxes.shape)}"
            )
        rois = ops.shape(boxes)[1]
        image = ops.reshape(ops.broadcast_to(ops.arange(batch, dtype="int32")[:, None], (batch, rois)), (-1,))
        return ops.reshape(boxes, (-1, 4)), image, (batch, rois)
    if len(boxes.shape) != 2:
        raise ValueError(f"with box_indices, boxes must be (R, 4), received shape {tuple(boxes.shape)}")
    return boxes, ops.cast(ops.reshape(box_indices, (-1,)), "int32"), None


def roi_align(
    features,
    boxes,
    *,
    output_size,
    spatial_scale: float = 1.0,
    sampling_ratio: int = 2,
    aligned: bool = True,
    box_indices=None,
    bounding_box_format: str = "xyxy",
):
    """RoIAlign on one feature map (gather-based bilinear sampling, TFLite built-ins only).

    Args:
        features: `(B, H, W, C)` feature map.
        boxes: `(B, R, 4)` boxes per image, or `(R, 4)` boxes with `box_indices`; image pixels.
        output_size: `ph` or `(ph, pw)` bins.
        spatial_scale: feature-map pixels per image pixel (`1 / stride`).
        sampling_ratio: points per bin along each axis (the bin is the mean of `sampling_ratio**2` points).
        aligned: detectron2's half-pixel correction (see the module docstring).
        box_indices: `None` or `(R,)` int, the image of each box of a flat `(R, 4)` box list.
        bounding_box_format: format of `boxes`.

    Returns:
        `(B, R, ph, pw, C)` (batched boxes) or `(R, ph, pw, C)` (with `box_indices`), float32.

    Example:
        >>> roi_align(features, boxes, output_size=7, spatial_scale=1 / 16).shape  # (B, R, 7, 7, C)
    """
    size, sampling_ratio = check_roi_align_args(output_size, sampling_ratio)
    features = ops.cast(features, "float32")
    if len(features.shape) != 4:
        raise ValueError(f"features must be (B, H, W, C), received shape {tuple(features.shape)}")
    shape = ops.shape(features)
    batch, height, width = shape[0], shape[1], shape[2]
    flat, image, batched = _boxes_and_batch_index(boxes, box_indices, batch, bounding_box_format)
    if batched is not None:  # boxes per image: the separable form (two matrix products)
        wy, wx = _separable_weights(flat * float(spatial_scale), height, width, size, sampling_ratio, aligned)
        return _separable_pool(features, ops.reshape(wy, (batched[0], batched[1], size[0], -1)),
                               ops.reshape(wx, (batched[0], batched[1], size[1], -1)))
    table = ops.reshape(features, (-1, features.shape[-1]))
    ones = ops.ones_like(flat[:, 0])
    out = _roi_align_rows(
        table, flat * float(spatial_scale), image * (height * width), ones * ops.cast(height, "float32"),
        ones * ops.cast(width, "float32"), size, sampling_ratio, aligned,
    )
    return out


def fpn_levels(boxes, *, min_level: int, max_level: int, canonical_size: float = 224.0,
               canonical_level: int = 4, bounding_box_format: str = "xyxy"):
    """FPN level of each box (Lin et al., arXiv:1612.03144, eq. 1), `k = floor(k0 + log2(sqrt(wh) / 224))`.

    Args:
        boxes: `(..., 4)` boxes in image pixels.
        min_level, max_level: levels available (level `k` has stride `2**k`); results are clipped to them.
        canonical_size, canonical_level: a box of `canonical_size**2` pixels goes to `canonical_level`
            (224 and 4 in the paper, for ImageNet-sized objects; use smaller sizes for tiny images).

    Returns:
        `(...)` int32 level offsets `k - min_level` in `[0, max_level - min_level]`. Degenerate boxes go to
        `min_level`.
    """
    b = convert_format(boxes, bounding_box_format, "xyxy")
    area = ops.relu(b[..., 2] - b[..., 0]) * ops.relu(b[..., 3] - b[..., 1])
    scale = ops.sqrt(ops.maximum(area, 1e-6))
    level = ops.floor(canonical_level + ops.log(scale / float(canonical_size) + 1e-8) / math.log(2.0))
    level = ops.clip(level, float(min_level), float(max_level))
    return ops.cast(level, "int32") - int(min_level)


def multilevel_roi_align(
    features,
    boxes,
    *,
    strides,
    output_size,
    sampling_ratio: int = 2,
    aligned: bool = True,
    canonical_size: float = 224.0,
    canonical_level: int = 4,
    bounding_box_format: str = "xyxy",
):
    """RoIAlign over FPN levels: every box is pooled from the level chosen by `fpn_levels`.

    All levels are flattened into one feature table, so each box costs one set of gathers whatever the
    number of levels (no per-level loop and no masking of the other levels' results).

    Args:
        features: list of `(B, H_l, W_l, C)` maps, one per stride (same `C`).
        boxes: `(B, R, 4)` boxes in image pixels.
        strides: stride of every map, consecutive powers of two (e.g. `(4, 8, 16, 32)`).
        output_size, sampling_ratio, aligned: as in `roi_align`.
        canonical_size, canonical_level: see `fpn_levels`.

    Returns:
        `(B, R, ph, pw, C)` float32.
    """
    size, sampling_ratio = check_roi_align_args(output_size, sampling_ratio, strides)
    features = [ops.cast(f, "float32") for f in features]
    if len(features) != len(strides):
        raise ValueError(f"need one feature map per stride: {len(features)} maps, strides {list(strides)}")
    channels = {f.shape[-1] for f in features}
    if len(channels) != 1:
        raise ValueError(f"all feature maps must have the same channels, received {sorted(channels)}")
    if len(features) == 1:
        return roi_align(features[0], boxes, output_size=size, spatial_scale=1.0 / strides[0],
                         sampling_ratio=sampling_ratio, aligned=aligned, bounding_box_format=bounding_box_format)
    batch = ops.shape(features[0])[0]
    flat, _, (b, r) = _boxes_and_batch_index(boxes, None, batch, bounding_box_format)
    min_level = int(math.log2(strides[0]))
    level = fpn_levels(flat, min_level=min_level, max_level=min_level + len(strides) - 1,
                       canonical_size=canonical_size, canonical_level=canonical_level)
    out = 0.0
    for index, (f, stride) in enumerate(zip(features, strides)):
        # every box is pooled from every level with its weights zeroed on the levels it does not belong to:
        # no gather / scatter of boxes by level, and the small coarse levels cost little
        shape = ops.shape(f)
        wy, wx = _separable_weights(flat / float(stride), shape[1], shape[2], size, sampling_ratio, aligned)
        on_level = ops.cast(level == index, "float32")[:, None, None]
        out = out + _separable_pool(f, ops.reshape(wy * on_level, (b, r, size[0], -1)),
                                    ops.reshape(wx, (b, r, size[1], -1)))
    return out


def crop_and_resize_masks(masks, boxes, indices, *, output_size=28, sampling_ratio: int = 2,
                          threshold: float | None = 0.5, bounding_box_format: str = "xyxy"):
    """Mask R-CNN mask targets: the ground-truth mask matched to each RoI, cropped to it and resized.

    The same RoIAlign (`aligned=True`, scale 1) on the binary masks as detectron2's
    `BitMasks.crop_and_resize`; no `tf.image.crop_and_resize` (Flex in TFLite).

    Args:
        masks: `(B, M, H, W)` ground-truth masks (bool / uint8 / float, 1 = object).
        boxes: `(B, R, 4)` RoIs in image pixels.
        indices: `(B, R)` int, the matched ground truth (index into M) of each RoI.
        output_size: side (or `(h, w)`) of the targets, 28 in Mask R-CNN.
        threshold: binarise the interpolated masks at `>= threshold`; `None` keeps them soft.

    Returns:
        `(B, R, h, w)` float32 targets (0/1 with a threshold).
    """
    size = _pair(output_size, "output_size")
    masks = ops.cast(masks, "float32")
    if len(masks.shape) != 4:
        raise ValueError(f"masks must be (B, M, H, W), received shape {tuple(masks.shape)}")
    num_masks = ops.shape(masks)[1]
    boxes = convert_format(boxes, bounding_box_format, "xyxy")
    # the M masks of an image are the channels of one map: pool all of them for each RoI (separable RoIAlign,
    # two matrix products), then keep the channel of the RoI's matched ground truth
    pooled = roi_align(ops.transpose(masks, (0, 2, 3, 1)), boxes, output_size=size, sampling_ratio=sampling_ratio,
                       aligned=True)  # (B, R, h, w, M)
    indices = ops.clip(ops.cast(indices, "int32"), 0, num_masks - 1)
    out = ops.take_along_axis(pooled, indices[:, :, None, None, None], axis=-1)[..., 0]
    if threshold is not None:
        out = ops.cast(out >= float(threshold), "float32")
    return out


def paste_masks(masks, boxes, image_shape, *, threshold: float | None = 0.5, bounding_box_format: str = "xyxy"):
    """Paste `m x m` mask probabilities into their boxes on the full image (Mask R-CNN inference).

    Pixel `(x, y)` (centre `x + 0.5`) reads the mask at `u = (x + 0.5 - x1) / (x2 - x1) * m - 0.5`, bilinear
    with zeros outside the mask: detectron2's `paste_masks_in_image` (`grid_sample`, `align_corners=False`).
    Bilinear resampling is separable, so the paste is two batched matrix products with "tent" weight
    matrices `relu(1 - |u - i|)` (`BATCH_MATMUL`, built-in): no gather, no `crop_and_resize`.

    Args:
        masks: `(B, K, m, m)` mask probabilities in each box.
        boxes: `(B, K, 4)` boxes in image pixels.
        image_shape: `(H, W)`.
        threshold: binarise at `>= threshold` (0.5); `None` returns the pasted probabilities.

    Returns:
        `(B, K, H, W)` float32.
    """
    height, width = int(image_shape[0]), int(image_shape[1])
    masks = ops.cast(masks, "float32")
    mh, mw = masks.shape[-2], masks.shape[-1]
    b = convert_format(boxes, bounding_box_format, "xyxy")
    bw = ops.maximum(b[..., 2] - b[..., 0], 1e-6)[..., None]
    bh = ops.maximum(b[..., 3] - b[..., 1], 1e-6)[..., None]
    u = (np.arange(width, dtype=np.float32) + 0.5 - b[..., 0:1]) / bw * mw - 0.5  # (B, K, W)
    v = (np.arange(height, dtype=np.float32) + 0.5 - b[..., 1:2]) / bh * mh - 0.5  # (B, K, H)
    wx = ops.relu(1.0 - ops.abs(u[..., None] - np.arange(mw, dtype=np.float32)))  # (B, K, W, mw)
    wy = ops.relu(1.0 - ops.abs(v[..., None] - np.arange(mh, dtype=np.float32)))  # (B, K, H, mh)
    out = ops.matmul(ops.matmul(wy, masks), ops.swapaxes(wx, -1, -2))  # (B, K, H, W)
    if threshold is not None:
        out = ops.cast(out >= float(threshold), "float32")
    return out


__all__ = ["crop_and_resize_masks", "fpn_levels", "multilevel_roi_align", "paste_masks", "roi_align"]
