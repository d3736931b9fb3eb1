"""Bounding-box operations shared by every detector: formats, IoU, delta coding, anchor matching, sampling.

All functions take and return tensors (anything `keras.ops` accepts) and work on any leading batch
dimensions `(..., N, 4)`. Boxes are in one of the `keras.utils.bounding_boxes` formats, named by the
`bounding_box_format` argument (default `"xyxy"`: `[left, top, right, bottom]` in pixels). Internally
everything is computed in `"xyxy"`; results are returned in the caller's format.

Conventions (pinned by tests/ops/test_boxes.py):

- A box `[x1, y1, x2, y2]` covers `x1 <= x < x2`: its area is `(x2 - x1) * (y2 - y1)` (continuous
  coordinates, no "+1" as in the old Caffe/VOC code). Boxes with zero or negative extent have area 0 and
  IoU 0 with everything (also with themselves).
- Delta coding is the Faster R-CNN / detectron2 `(dx, dy, dw, dh)` parameterisation (arXiv:1506.01497,
  eq. 2), with per-coordinate `weights` (detectron2's `Box2BoxTransform(weights)`) and the scale clamp
  `dw, dh <= log(1000 / 16)` applied when decoding.
- Anchor matching follows torchvision / detectron2's `Matcher`: positive when the best IoU of the anchor
  is `>= positive_threshold`, negative when it is `< negative_threshold`, ignored in between, plus
  (optionally) the "low-quality" positives: for every ground truth, the anchors with its highest IoU.
"""

from __future__ import annotations

import math

import keras
from keras import ops

BOX_FORMATS = (
    "xyxy",
    "yxyx",
    "xywh",
    "center_xywh",
    "center_yxhw",
    "rel_xyxy",
    "rel_yxyx",
    "rel_xywh",
    "rel_center_xywh",
)

# detectron2's Box2BoxTransform clamp: exp(dw) never exceeds 1000/16 (a box at most 62.5x its anchor).
DEFAULT_SCALE_CLAMP = math.log(1000.0 / 16)

# Labels returned by `match_anchors` (and accepted by `sample_balanced`).
POSITIVE, NEGATIVE, IGNORE = 1, 0, -1


def _check_format(bounding_box_format: str) -> str:
    if not isinstance(bounding_box_format, str) or bounding_box_format.lower() not in BOX_FORMATS:
        raise ValueError(f"bounding_box_format must be one of {BOX_FORMATS}, received {bounding_box_format!r}")
    return bounding_box_format.lower()


def convert_format(boxes, source: str, target: str, *, height=None, width=None, dtype="float32"):
    """Convert `(..., 4)` boxes from format `source` to `target` (`keras.utils.bounding_boxes` formats).

    A thin wrapper over `keras.utils.bounding_boxes.convert_format` that validates the format names and
    returns the input (cast to `dtype`) unchanged when `source == target`.

    Args:
        boxes: `(..., 4)` tensor.
        source, target: format names, see `BOX_FORMATS`.
        height, width: image size, required when either format is relative (`"rel_*"`).
        dtype: output dtype.

    Returns:
        `(..., 4)` tensor in `target` format.
    """
    source, target = _check_format(source), _check_format(target)
    boxes = ops.convert_to_tensor(boxes)
    if boxes.shape[-1] != 4:
        raise ValueError(f"boxes must have a last dimension of 4, received shape {tuple(boxes.shape)}")
    if source == target:
        return ops.cast(boxes, dtype)
    if (source.startswith("rel_") or target.startswith("rel_")) and (height is None or width is None):
        raise ValueError(f"converting {source!r} -> {target!r} needs the image height and width")
    return keras.utils.bounding_boxes.convert_format(
        ops.cast(boxes, dtype), source=source, target=target, height=height, width=width, dtype=dtype
    )


def _to_xyxy(boxes, bounding_box_format, height=None, width=None):
    return convert_format(boxes, bounding_box_format, "xyxy", height=height, width=width)


def _from_xyxy(boxes, bounding_box_format, height=None, width=None):
    return convert_format(boxes, "xyxy", bounding_box_format, height=height, width=width)


def box_area(boxes, *, bounding_box_format: str = "xyxy", height=None, width=None):
    """Area `(...)` of `(..., 4)` boxes; degenerate boxes (x2 <= x1 or y2 <= y1) have area 0."""
    b = _to_xyxy(boxes, bounding_box_format, height, width)
    return ops.relu(b[..., 2] - b[..., 0]) * ops.relu(b[..., 3] - b[..., 1])


def iou(boxes_a, boxes_b, *, bounding_box_format: str = "xyxy", height=None, width=None):
    """Pairwise intersection over union.

    Args:
        boxes_a: `(..., N, 4)` boxes.
        boxes_b: `(..., M, 4)` boxes (same leading dimensions as `boxes_a`, or broadcastable to them).
        bounding_box_format: format of both inputs.
        height, width: image size, for relative formats only.

    Returns:
        `(..., N, M)` IoU in [0, 1]; pairs whose union is empty (two degenerate boxes) give 0.

    Example:
        >>> iou([[0., 0., 2., 2.]], [[1., 1., 3., 3.], [0., 0., 2., 2.]])  # [[1/7, 1]]
    """
    a = _to_xyxy(boxes_a, bounding_box_format, height, width)
    b = _to_xyxy(boxes_b, bounding_box_format, height, width)
    a_exp = ops.expand_dims(a, -2)  # (..., N, 1, 4)
    b_exp = ops.expand_dims(b, -3)  # (..., 1, M, 4)
    inter_w = ops.relu(ops.minimum(a_exp[..., 2], b_exp[..., 2]) - ops.maximum(a_exp[..., 0], b_exp[..., 0]))
    inter_h = ops.relu(ops.minimum(a_exp[..., 3], b_exp[..., 3]) - ops.maximum(a_exp[..., 1], b_exp[..., 1]))
    inter = inter_w * inter_h
    area_a = ops.expand_dims(box_area(a), -1)
    area_b = ops.expand_dims(box_area(b), -2)
    union = area_a + area_b - inter
    return ops.where(union > 0, inter / ops.maximum(union, 1e-12), ops.zeros_like(inter))


def clip_boxes(boxes, height, width, *, bounding_box_format: str = "xyxy"):
    """Clip `(..., 4)` boxes to the image `[0, width] x [0, height]` (pixels); same format out."""
    fmt = _check_format(bounding_box_format)
    if fmt.startswith("rel_"):
        b = _to_xyxy(boxes, fmt, height, width)
    else:
        b = _to_xyxy(boxes, fmt)
    x1 = ops.clip(b[..., 0], 0.0, float(width))
    y1 = ops.clip(b[..., 1], 0.0, float(height))
    x2 = ops.clip(b[..., 2], 0.0, float(width))
    y2 = ops.clip(b[..., 3], 0.0, float(height))
    return _from_xyxy(ops.stack([x1, y1, x2, y2], axis=-1), fmt, height, width)


def _check_weights(weights):
    weights = tuple(float(w) for w in weights)
    if len(weights) != 4 or any(w <= 0 for w in weights):
        raise ValueError(f"weights must be 4 positive numbers (wx, wy, ww, wh), received {weights}")
    return weights


def _centers(b):
    w = b[..., 2] - b[..., 0]
    h = b[..., 3] - b[..., 1]
    return b[..., 0] + 0.5 * w, b[..., 1] + 0.5 * h, w, h


def encode_deltas(anchors, boxes, *, weights=(1.0, 1.0, 1.0, 1.0), bounding_box_format: str = "xyxy"):
    """Regression targets `(dx, dy, dw, dh)` that turn `anchors` into `boxes` (Faster R-CNN, eq. 2).

    `dx = wx * (x - xa) / wa`, `dy = wy * (y - ya) / ha`, `dw = ww * log(w / wa)`, `dh = wh * log(h / ha)`,
    with (x, y, w, h) the centre and size of the box and (xa, ya, wa, ha) of the anchor.

    Args:
        anchors: `(..., 4)` anchors (positive width and height).
        boxes: `(..., 4)` boxes, broadcastable with `anchors`.
        weights: `(wx, wy, ww, wh)`, e.g. `(10, 10, 5, 5)` for the Fast R-CNN box head.
        bounding_box_format: format of `anchors` and `boxes`.

    Returns:
        `(..., 4)` deltas. Degenerate boxes are floored at a size of 1e-6 pixel so the result stays finite.
    """
    wx, wy, ww, wh = _check_weights(weights)
    ax, ay, aw, ah = _centers(_to_xyxy(anchors, bounding_box_format))
    gx, gy, gw, gh = _centers(_to_xyxy(boxes, bounding_box_format))
    aw, ah = ops.maximum(aw, 1e-6), ops.maximum(ah, 1e-6)
    gw, gh = ops.maximum(gw, 1e-6), ops.maximum(gh, 1e-6)
    return ops.stack(
        [wx * (gx - ax) / aw, wy * (gy - ay) / ah, ww * ops.log(gw / aw), wh * ops.log(gh / ah)], axis=-1
    )


def decode_deltas(
    anchors,
    deltas,
    *,
    weights=(1.0, 1.0, 1.0, 1.0),
    bounding_box_format: str = "xyxy",
    scale_clamp: float = DEFAULT_SCALE_CLAMP,
    clip=None,
):
    """Apply `(dx, dy, dw, dh)` deltas to anchors: the inverse of `encode_deltas`.

    Args:
        anchors: `(..., 4)` anchors.
        deltas: `(..., 4)` deltas, broadcastable with `anchors` (e.g. anchors `(N, 1, 4)` and per-class
            deltas `(B, N, C, 4)`).
        weights: as in `encode_deltas`.
        bounding_box_format: format of `anchors` and of the returned boxes.
        scale_clamp: `dw / ww` and `dh / wh` are clamped to at most this value before `exp`
            (detectron2's `log(1000/16)`), so untrained heads cannot overflow.
        clip: `None`, or `(height, width)` of the image to clip the decoded boxes to.

    Returns:
        `(..., 4)` boxes in `bounding_box_format`.
    """
    wx, wy, ww, wh = _check_weights(weights)
    a = _to_xyxy(anchors, bounding_box_format)
    ax, ay, aw, ah = _centers(a)
    deltas = ops.convert_to_tensor(deltas)
    dx, dy = deltas[..., 0] / wx, deltas[..., 1] / wy
    dw = ops.minimum(deltas[..., 2] / ww, scale_clamp)
    dh = ops.minimum(deltas[..., 3] / wh, scale_clamp)
    cx, cy = dx * aw + ax, dy * ah + ay
    w, h = ops.exp(dw) * aw, ops.exp(dh) * ah
    boxes = ops.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=-1)
    if clip is not None:
        height, width = clip
        boxes = clip_boxes(boxes, height, width)
    return _from_xyxy(boxes, bounding_box_format)


def match_anchors(
    iou_matrix,
    *,
    positive_threshold: float = 0.7,
    negative_threshold: float = 0.3,
    allow_low_quality_matches: bool = True,
    gt_mask=None,
):
    """Assign each anchor (or proposal) to a ground-truth box, with Faster R-CNN's RPN rules.

    Rules (torchvision / detectron2 `Matcher`), on the best IoU `m` of each anchor over the valid ground
    truths:

    - label 1 (positive) if `m >= positive_threshold`;
    - label 0 (negative) if `m < negative_threshold`;
    - label -1 (ignore) otherwise;
    - with `allow_low_quality_matches`, also label 1 for every anchor that has the highest IoU of some
      ground truth (ties included) as long as that IoU is > 0, so that every ground truth gets a positive.

    Use `positive_threshold == negative_threshold` (e.g. 0.5) for the Fast R-CNN box head, which has no
    ignore band.

    Args:
        iou_matrix: `(..., N, M)` IoU of N anchors with M ground truths (see `iou`).
        positive_threshold, negative_threshold: floats with `0 <= negative <= positive <= 1`.
        allow_low_quality_matches: add the best anchor(s) of each ground truth as positives.
        gt_mask: optional `(..., M)` bool, False for padded ground truths (class -1), which never match.

    Returns:
        `(matched_gt_index, labels)`, both `(..., N)` int32: the index of the best ground truth of each
        anchor (0 where there is no valid ground truth; only meaningful where `labels == 1`) and the labels
        in {1, 0, -1}. An image without ground truths gives all anchors label 0.
    """
    if not 0.0 <= negative_threshold <= positive_threshold <= 1.0:
        raise ValueError(
            "need 0 <= negative_threshold <= positive_threshold <= 1, received "
            f"negative_threshold={negative_threshold}, positive_threshold={positive_threshold}"
        )
    iou_matrix = ops.convert_to_tensor(iou_matrix, "float32")
    if gt_mask is not None:
        iou_matrix = ops.where(ops.expand_dims(ops.cast(gt_mask, "bool"), -2), iou_matrix, -1.0)
    num_gt = iou_matrix.shape[-1]
    if num_gt == 0:
        shape = ops.shape(iou_matrix)[:-1]
        return ops.zeros(shape, "int32"), ops.zeros(shape, "int32")
    matched_vals = ops.max(iou_matrix, axis=-1)  # (..., N)
    matched_idx = ops.cast(ops.argmax(iou_matrix, axis=-1), "int32")
    labels = ops.where(
        matched_vals >= positive_threshold,
        POSITIVE,
        ops.where(matched_vals < negative_threshold, NEGATIVE, IGNORE),
    )
    if allow_low_quality_matches:
        best_per_gt = ops.max(iou_matrix, axis=-2, keepdims=True)  # (..., 1, M)
        is_best = ops.logical_and(iou_matrix >= best_per_gt, best_per_gt > 0)
        labels = ops.where(ops.any(is_best, axis=-1), POSITIVE, labels)
    # No valid ground truth at all: matched_vals is -1 (masked) -> negative, index 0.
    matched_idx = ops.where(matched_vals < 0, 0, matched_idx)
    return ops.cast(matched_idx, "int32"), ops.cast(labels, "int32")


def _rank_within(keys, mask):
    """0-based rank of every element among the masked ones by decreasing key (unmasked: rank >= count)."""
    keyed = ops.where(mask, keys, -1.0)
    order = ops.argsort(-keyed, axis=-1)
    return ops.cast(ops.argsort(order, axis=-1), "int32")


def sample_balanced(labels, num_samples: int, positive_fraction: float, *, seed=None):
    """Randomly subsample positives and negatives to a fixed budget (Faster R-CNN's minibatch sampling).

    At most `num_samples * positive_fraction` positives are kept (fewer if there are fewer), and negatives
    fill the rest of the `num_samples` budget; every other label becomes -1 (ignored). Examples: RPN
    `num_samples=256, positive_fraction=0.5`; box head `num_samples=512, positive_fraction=0.25`.

    Args:
        labels: `(..., N)` int labels in {1, 0, -1} (as returned by `match_anchors`).
        num_samples: total budget per row.
        positive_fraction: in [0, 1].
        seed: an int, a `keras.random.SeedGenerator` (use one inside `train_step` so that every step
            draws a new sample), or None.

    Returns:
        `(..., N)` int32 labels with the unsampled positives and negatives set to -1.
    """
    if int(num_samples) <= 0:
        raise ValueError(f"num_samples must be a positive int, received {num_samples}")
    if not 0.0 <= positive_fraction <= 1.0:
        raise ValueError(f"positive_fraction must be in [0, 1], received {positive_fraction}")
    labels = ops.cast(ops.convert_to_tensor(labels), "int32")
    keys = keras.random.uniform(ops.shape(labels), seed=seed)
    positive = labels == POSITIVE
    negative = labels == NEGATIVE
    num_pos = ops.sum(ops.cast(positive, "int32"), axis=-1, keepdims=True)
    pos_quota = ops.minimum(num_pos, int(num_samples * positive_fraction))
    neg_quota = int(num_samples) - pos_quota
    keep_pos = ops.logical_and(positive, _rank_within(keys, positive) < pos_quota)
    keep_neg = ops.logical_and(negative, _rank_within(keys, negative) < neg_quota)
    return ops.where(keep_pos, POSITIVE, ops.where(keep_neg, NEGATIVE, IGNORE))


def sanitize_targets(boxes, classes, *, image_shape, num_classes):
    """Detection targets as the detectors' losses use them (in the graph; the NumPy cleaner for datasets is
    `vras_keras.data.detection_targets.sanitize_detection_targets`).

    Args:
        boxes: `(B, M, 4)` xyxy pixels (any shape reshapable to it); classes: `(B, M)` ints, -1 = padding.
        image_shape: `(height, width)`.
        num_classes: valid class ids are `0 .. num_classes - 1`.

    Returns:
        `(boxes, classes, valid)`: `(B, M, 4)` float32 boxes clipped to the image, `(B, M)` int32 classes
        and `(B, M)` bool. Padding, class ids outside `[0, num_classes)`, non-finite coordinates and boxes
        of zero area after clipping are invalid: their boxes become 0 (NaN never reaches the arithmetic)
        and their classes -1.
    """
    height, width = image_shape
    boxes = ops.cast(boxes, "float32")
    boxes = ops.reshape(boxes, (ops.shape(boxes)[0], -1, 4))
    classes = ops.cast(ops.reshape(classes, (ops.shape(classes)[0], -1)), "int32")
    finite = ops.all(ops.isfinite(boxes), axis=-1)
    boxes = ops.where(finite[..., None], boxes, 0.0)
    boxes = clip_boxes(boxes, height, width)
    valid = finite & (classes >= 0) & (classes < num_classes) & (box_area(boxes) > 0)
    return ops.where(valid[..., None], boxes, 0.0), ops.where(valid, classes, -1), valid
