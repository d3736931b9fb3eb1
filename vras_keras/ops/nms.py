"""Non-maximum suppression with TFLite built-in ops only (no `combined_non_max_suppression`, no Flex).

Everything is batched and written with `keras.ops` (top-k, gathers, a batched matmul and a `while_loop`),
so the same code runs eagerly, under `jit_compile=True`, in a SavedModel and in TFLite (`TOPK_V2`,
`GATHER`, `BATCH_MATMUL`, `WHILE`), with static output shapes: results are padded to a fixed size.

The greedy NMS is exact: among the `K` top-scoring candidates sorted by score, candidate `i` is kept iff
no kept candidate `j < i` overlaps it with IoU `> iou_threshold`. This triangular recursion is solved by
iterating `keep <- valid & not any_j(keep_j & overlap_ji & j < i)` to its fixed point (the first `t`
entries are final after `t` iterations, so it converges in at most `K` steps, in practice a handful);
each iteration is one `(B, 1, K) x (B, K, K)` matmul.

Class-wise NMS offsets the boxes of each class by `class_id * (max_coordinate + 1)` so that boxes of
different classes never overlap (torchvision's `batched_nms` trick), then runs one NMS.
"""

from __future__ import annotations

from keras import ops

from vras_keras.ops.boxes import convert_format, iou


def _check_nms_args(iou_threshold, max_output_size, pre_nms_top_k):
    if not 0.0 <= float(iou_threshold) <= 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1], received {iou_threshold}")
    if int(max_output_size) <= 0:
        raise ValueError(f"max_output_size must be a positive int, received {max_output_size}")
    if pre_nms_top_k is not None and int(pre_nms_top_k) <= 0:
        raise ValueError(f"pre_nms_top_k must be a positive int or None, received {pre_nms_top_k}")


def greedy_keep(sorted_boxes, valid, iou_threshold: float):
    """Greedy NMS on candidates already sorted by decreasing score.

    Args:
        sorted_boxes: `(B, K, 4)` xyxy boxes, best first.
        valid: `(B, K)` bool, candidates that may be kept (e.g. above the score threshold).
        iou_threshold: a candidate is suppressed by a kept better one with IoU `> iou_threshold`.

    Returns:
        `(B, K)` bool: the kept candidates.
    """
    k = sorted_boxes.shape[1]
    overlaps = iou(sorted_boxes, sorted_boxes) > iou_threshold  # (B, K, K): [j, i]
    earlier = ops.triu(ops.ones((k, k), "float32"), k=1)  # [j, i] = 1 where j < i
    suppress = ops.cast(overlaps, "float32") * earlier[None]
    valid_f = ops.cast(valid, "float32")

    def step(keep, changed, t):
        hits = ops.squeeze(ops.matmul(ops.expand_dims(keep, 1), suppress), 1)  # (B, K)
        new = valid_f * ops.cast(hits < 0.5, "float32")
        return new, ops.any(ops.not_equal(new, keep)), t + 1

    keep, _, _ = ops.while_loop(
        lambda keep, changed, t: ops.logical_and(changed, t < k + 1),
        step,
        (valid_f, ops.convert_to_tensor(True), ops.convert_to_tensor(0, "int32")),
    )
    return keep > 0.5


def _top_candidates(boxes, scores, k):
    top_scores, top_idx = ops.top_k(scores, k, sorted=True)
    top_boxes = ops.take_along_axis(boxes, ops.expand_dims(top_idx, -1), axis=1)
    return top_scores, ops.cast(top_idx, "int32"), top_boxes


def _first_kept(keep, max_output_size):
    """Positions `(B, M)` of the first kept candidates (in sorted order) and a `(B, M)` validity mask."""
    k = keep.shape[1]
    m = min(int(max_output_size), k)
    rank_key = ops.where(keep, ops.cast(k - ops.arange(k), "float32")[None], 0.0)
    key, pos = ops.top_k(rank_key, m, sorted=True)
    return ops.cast(pos, "int32"), key > 0


def _pad_to(x, size, value):
    missing = size - x.shape[1]
    if missing <= 0:
        return x
    pad = [[0, 0], [0, missing]] + [[0, 0]] * (len(x.shape) - 2)
    return ops.pad(x, pad, constant_values=value)


def non_max_suppression(
    boxes,
    scores,
    *,
    max_output_size: int,
    iou_threshold: float = 0.5,
    score_threshold: float = float("-inf"),
    pre_nms_top_k: int | None = None,
    bounding_box_format: str = "xyxy",
):
    """Single-class, batched NMS with padded outputs (the RPN proposal step, for example).

    Args:
        boxes: `(B, N, 4)` boxes in `bounding_box_format`.
        scores: `(B, N)` scores (any real values, higher is better).
        max_output_size: `M`, the padded number of outputs.
        iou_threshold: suppression threshold (a box is dropped if IoU `>` this with a kept better box).
        score_threshold: only scores `> score_threshold` can be kept.
        pre_nms_top_k: only the `pre_nms_top_k` best scores enter the NMS (default: all `N`); NMS costs
            `O(K^2)` memory per image.
        bounding_box_format: format of `boxes`.

    Returns:
        `(indices, num_valid)`: `(B, M)` int32 indices into `N` of the kept boxes, best first, padded with
        -1, and `(B,)` int32 counts.

    Example:
        >>> idx, n = non_max_suppression(boxes, scores, max_output_size=100, iou_threshold=0.7)
        >>> proposals = ops.take_along_axis(boxes, ops.maximum(idx, 0)[..., None], axis=1)
    """
    _check_nms_args(iou_threshold, max_output_size, pre_nms_top_k)
    boxes = convert_format(boxes, bounding_box_format, "xyxy")
    scores = ops.cast(scores, "float32")
    n = boxes.shape[1]
    k = n if pre_nms_top_k is None else min(int(pre_nms_top_k), n)
    top_scores, top_idx, top_boxes = _top_candidates(boxes, scores, k)
    keep = greedy_keep(top_boxes, top_scores > score_threshold, iou_threshold)
    pos, valid = _first_kept(keep, max_output_size)
    indices = ops.where(valid, ops.take_along_axis(top_idx, pos, axis=1), -1)
    indices = _pad_to(indices, int(max_output_size), -1)
    return indices, ops.sum(ops.cast(valid, "int32"), axis=1)


def multiclass_non_max_suppression(
    boxes,
    scores,
    *,
    max_detections: int = 100,
    iou_threshold: float = 0.5,
    score_threshold: float = 0.05,
    pre_nms_top_k: int | None = 1000,
    bounding_box_format: str = "xyxy",
):
    """Class-wise NMS over all (box, class) pairs: the final step of every detector.

    Every (box, class) pair with score `> score_threshold` is a candidate; the `pre_nms_top_k` best
    enter one NMS in which boxes of different classes never suppress each other.

    Args:
        boxes: `(B, N, 4)` class-agnostic boxes (YOLO, RetinaNet) or `(B, N, C, 4)` per-class boxes
            (Faster R-CNN box head), in `bounding_box_format`.
        scores: `(B, N, C)` per-class scores (probabilities after sigmoid/softmax, background removed).
        max_detections: `K`, the padded number of detections per image.
        iou_threshold, score_threshold, pre_nms_top_k: as in `non_max_suppression`.
        bounding_box_format: format of `boxes` and of the returned boxes.

    Returns:
        A dict: `"boxes"` `(B, K, 4)` float32 (0 in padded slots), `"scores"` `(B, K)` float32 (0 padded),
        `"classes"` `(B, K)` int32 (-1 padded), `"num_detections"` `(B,)` int32. Detections are sorted by
        decreasing score.
    """
    _check_nms_args(iou_threshold, max_detections, pre_nms_top_k)
    xyxy = convert_format(boxes, bounding_box_format, "xyxy")
    scores = ops.cast(scores, "float32")
    _, n, c = scores.shape
    if len(xyxy.shape) == 3:
        xyxy = ops.broadcast_to(ops.expand_dims(xyxy, 2), (ops.shape(xyxy)[0], n, c, 4))
    flat_boxes = ops.reshape(xyxy, (-1, n * c, 4))
    flat_scores = ops.reshape(scores, (-1, n * c))
    k = n * c if pre_nms_top_k is None else min(int(pre_nms_top_k), n * c)
    top_scores, top_idx, top_boxes = _top_candidates(flat_boxes, flat_scores, k)
    top_classes = top_idx % c
    # Shift each class to its own region of the plane so that classes never overlap.
    span = ops.max(ops.abs(top_boxes)) + 1.0
    shifted = top_boxes + ops.expand_dims(ops.cast(top_classes, "float32") * span, -1)
    keep = greedy_keep(shifted, top_scores > score_threshold, iou_threshold)
    pos, valid = _first_kept(keep, max_detections)
    out_boxes = ops.take_along_axis(top_boxes, ops.expand_dims(pos, -1), axis=1)
    out_boxes = ops.where(ops.expand_dims(valid, -1), out_boxes, 0.0)
    out_scores = ops.where(valid, ops.take_along_axis(top_scores, pos, axis=1), 0.0)
    out_classes = ops.where(valid, ops.take_along_axis(top_classes, pos, axis=1), -1)
    max_detections = int(max_detections)
    return {
        "boxes": convert_format(_pad_to(out_boxes, max_detections, 0.0), "xyxy", bounding_box_format),
        "scores": _pad_to(out_scores, max_detections, 0.0),
        "classes": ops.cast(_pad_to(out_classes, max_detections, -1), "int32"),
        "num_detections": ops.sum(ops.cast(valid, "int32"), axis=1),
    }


__all__ = ["greedy_keep", "multiclass_non_max_suppression", "non_max_suppression"]
