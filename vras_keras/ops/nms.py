"""Non-maximum suppression with TFLite built-in ops only (no `combined_non_max_suppression`, no Flex).

Both functions are batched, padded to a static output size, and run eagerly, under `jit_compile=True`, in
a SavedModel and in TFLite with built-in ops only. Both are exact greedy NMS: among the candidates in
decreasing score order (ties: lower index first, as `tf.image.non_max_suppression`), candidate `i` is kept
iff no kept candidate before it overlaps it with IoU `> iou_threshold` (in class-wise NMS: no kept
candidate *of the same class*). Neither builds an `N x N` matrix.

- `non_max_suppression` (single class, e.g. RPN proposals) runs TensorFlow's own greedy kernel
  `NonMaxSuppressionV4` per image, which TFLite has as the built-in `NON_MAX_SUPPRESSION_V4`:
  `O(N log N + visited * kept)` time, `O(N)` memory.
- `multiclass_non_max_suppression` (the last step of every detector) restricts suppression to pairs of
  the same class explicitly (a same-class mask on the overlap test; no per-class coordinate offset, which
  float32 rounding and negative coordinates break) and is computed tile by tile with `keras.ops`
  (`TOPK_V2`, `GATHER`, `ONE_HOT`, `CUMSUM`, `BATCH_MATMUL`, `WHILE` in TFLite):

  1. the next `T` best remaining candidates are taken with one `top_k` on the masked scores (`O(N log T)`;
     the remaining set is updated elementwise, so `N` is never fully sorted when few tiles are visited);
  2. each is checked against the buffer of candidates kept so far (`T x M` IoUs, `M = max_detections`);
  3. the survivors are resolved among themselves by the triangular fixed point
     `keep <- valid & not any_j(keep_j & overlap_ji & j < i)` on the `T x T` tile (the first `t` entries
     are final after `t` iterations, in practice a handful);
  4. the tile's kept candidates are appended to the buffer in order (a one-hot matmul).

  The loop stops once every image has `M` kept candidates or none left: `O(visited / T * (N log T + T M +
  T^2))` time and `O(N + T M + T^2)` memory per image.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from keras import ops

from vras_keras.ops.boxes import convert_format, iou

DEFAULT_TILE_SIZE = 256
# Indices travel through float32 one-hot matmuls: exact below 2**24.
_MAX_CANDIDATES = 2**24


def _check_nms_args(iou_threshold, max_output_size, pre_nms_top_k, tile_size=DEFAULT_TILE_SIZE):
    if not 0.0 <= float(iou_threshold) <= 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1], received {iou_threshold}")
    if int(max_output_size) <= 0:
        raise ValueError(f"max_output_size must be a positive int, received {max_output_size}")
    if pre_nms_top_k is not None and int(pre_nms_top_k) <= 0:
        raise ValueError(f"pre_nms_top_k must be a positive int or None, received {pre_nms_top_k}")
    if isinstance(tile_size, bool) or int(tile_size) != tile_size or int(tile_size) <= 0:
        raise ValueError(f"tile_size must be a positive int, received {tile_size!r}")


def _suppression_mask(boxes_a, boxes_b, iou_threshold, classes_a=None, classes_b=None):
    """`(B, Na, Nb)` float32: 1 where IoU `> iou_threshold` (and the classes are equal, if given)."""
    over = ops.cast(iou(boxes_a, boxes_b) > iou_threshold, "float32")
    if classes_a is not None:
        over = over * ops.cast(ops.equal(ops.expand_dims(classes_a, -1), ops.expand_dims(classes_b, -2)), "float32")
    return over


def greedy_keep(sorted_boxes, valid, iou_threshold: float, classes=None):
    """Greedy NMS on a (small) set of candidates already sorted by decreasing score.

    Builds the `(B, K, K)` overlap matrix, so use it on tiles (`multiclass_non_max_suppression` does).

    Args:
        sorted_boxes: `(B, K, 4)` xyxy boxes, best first.
        valid: `(B, K)` bool, candidates that may be kept (e.g. above the score threshold).
        iou_threshold: a candidate is suppressed by a kept better one with IoU `> iou_threshold`.
        classes: optional `(B, K)` class ids; only candidates of the same class suppress each other.

    Returns:
        `(B, K)` bool: the kept candidates.
    """
    k = sorted_boxes.shape[1]
    overlaps = _suppression_mask(sorted_boxes, sorted_boxes, iou_threshold, classes, classes)  # [j, i]
    earlier = ops.triu(ops.ones((k, k), "float32"), k=1)  # [j, i] = 1 where j < i
    suppress = overlaps * earlier[None]
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


def _tiled_nms(boxes, scores, valid, classes, *, iou_threshold, max_output_size, tile_size):
    """Greedy NMS of `(B, N, 4)` xyxy `boxes` by `scores` `(B, N)` over the `valid` `(B, N)` candidates.

    Returns `(indices, num_valid)`: `(B, M)` int32 indices into `N` of the kept boxes in decreasing score
    order, padded with -1, and `(B,)` int32 counts (`M = max_output_size`).
    """
    n = boxes.shape[1]
    if n is None:
        raise ValueError("NMS needs a static number of candidate boxes (axis 1 of boxes)")
    if n >= _MAX_CANDIDATES:
        raise ValueError(f"at most {_MAX_CANDIDATES - 1} candidates per image, received {n}")
    m = int(max_output_size)
    t_size = min(int(tile_size), n)
    num_tiles = -(-n // t_size)
    ninf = float("-inf")
    positions = ops.arange(n, dtype="int32")[None]  # (1, N)
    with_classes = classes is not None
    classes_f = ops.cast(classes, "float32") if with_classes else None
    batch = ops.shape(boxes)[0]
    # Buffer of kept candidates: x1, y1, x2, y2, index (, class), filled in order by one-hot matmuls.
    width = 6 if with_classes else 5
    kept = ops.zeros((batch, m, width), "float32")
    count = ops.zeros((batch,), "int32")
    slots = ops.arange(m, dtype="int32")[None]  # (1, M)

    def cond(remaining, kept, count, t):
        todo = ops.logical_and(count < m, ops.any(remaining, axis=1))
        return ops.logical_and(t < num_tiles, ops.any(todo))

    def body(remaining, kept, count, t):
        key = ops.where(remaining, scores, ninf)
        tile_key, tile_idx = ops.top_k(key, t_size, sorted=True)
        tile_idx = ops.cast(tile_idx, "int32")
        # top_k takes equal keys lower index first: what it took is everything better than its last pick.
        last_key, last_idx = tile_key[:, -1:], tile_idx[:, -1:]
        taken = ops.logical_or(key > last_key, ops.logical_and(ops.equal(key, last_key), positions <= last_idx))
        tile_valid = tile_key > ninf  # remaining candidates all have scores > score_threshold >= -inf
        remaining = ops.logical_and(remaining, ops.logical_not(taken))
        tile_boxes = ops.take_along_axis(boxes, ops.expand_dims(tile_idx, -1), axis=1)  # (B, T, 4)
        tile_classes = ops.take_along_axis(classes_f, tile_idx, axis=1) if with_classes else None
        # 2. against the boxes kept so far (filled slots only)
        filled = ops.cast(slots < ops.expand_dims(count, 1), "float32")  # (B, M)
        over = _suppression_mask(tile_boxes, kept[..., :4], iou_threshold,
                                 tile_classes, kept[..., 5] if with_classes else None)
        hits = ops.sum(over * ops.expand_dims(filled, 1), axis=2)  # (B, T)
        tile_valid = ops.logical_and(tile_valid, hits < 0.5)
        # 3. within the tile
        tile_keep = greedy_keep(tile_boxes, tile_valid, iou_threshold, tile_classes)
        # 4. append in order: kept candidate r of the tile goes to slot count + r (dropped beyond M)
        keep_i = ops.cast(tile_keep, "int32")
        slot = ops.where(tile_keep, ops.cumsum(keep_i, axis=1) - 1 + ops.expand_dims(count, 1), -1)
        onehot = ops.one_hot(slot, m, dtype="float32")  # (B, T, M), rows of -1 are all zero
        rows = [tile_boxes, ops.expand_dims(ops.cast(tile_idx, "float32"), -1)]
        if with_classes:
            rows.append(ops.expand_dims(tile_classes, -1))
        kept = kept + ops.matmul(ops.transpose(onehot, (0, 2, 1)), ops.concatenate(rows, axis=-1))
        count = ops.minimum(count + ops.sum(keep_i, axis=1), m)
        return remaining, kept, count, t + 1

    _, kept, count, _ = ops.while_loop(
        cond, body, (ops.convert_to_tensor(valid), kept, count, ops.convert_to_tensor(0, "int32"))
    )
    is_kept = slots < ops.expand_dims(count, 1)
    indices = ops.where(is_kept, ops.cast(ops.round(kept[..., 4]), "int32"), -1)
    return indices, count


def _pad_to(x, size, value):
    missing = size - x.shape[1]
    if missing <= 0:
        return x
    pad = [[0, 0], [0, missing]] + [[0, 0]] * (len(x.shape) - 2)
    return ops.pad(x, pad, constant_values=value)


def _pre_select(boxes, scores, pre_nms_top_k, *, always: bool = False):
    """The `pre_nms_top_k` best candidates, best first (all, unsorted, when None or, unless `always`, when
    `pre_nms_top_k >= N`): `(boxes, scores, index into N or None)`."""
    n = boxes.shape[1]
    if pre_nms_top_k is None or (int(pre_nms_top_k) >= n and not always):
        return boxes, scores, None
    top_scores, top_idx = ops.top_k(scores, min(int(pre_nms_top_k), n), sorted=True)
    top_idx = ops.cast(top_idx, "int32")
    return ops.take_along_axis(boxes, ops.expand_dims(top_idx, -1), axis=1), top_scores, top_idx


def _v4(boxes, scores, m, iou_threshold, score_threshold, pad):
    # TensorFlow's greedy kernel: keras.ops has no NMS, and NonMaxSuppressionV4 is the TFLite built-in
    # NON_MAX_SUPPRESSION_V4 (and has an XLA kernel). Its IoU is symmetric in x and y, so xyxy works.
    return tf.raw_ops.NonMaxSuppressionV4(
        boxes=boxes, scores=scores, max_output_size=m, iou_threshold=float(iou_threshold),
        score_threshold=float(score_threshold), pad_to_max_output_size=pad)


def _single_class_graph(boxes, scores, m, iou_threshold, score_threshold, pre_nms_top_k):
    """Graph path of the single-class NMS: `(B, M)` indices into `N` (-1 padded) and `(B,)` counts."""
    cand_boxes, cand_scores, cand_idx = _pre_select(boxes, scores, pre_nms_top_k, always=True)
    threshold = float(score_threshold)
    if cand_idx is not None:
        # Sorted by top_k (equal scores: lower index first). The kernel gets the ranks as scores, so that
        # TFLite's kernel, which orders equal scores its own way, visits them in exactly this order too.
        k = cand_scores.shape[1]
        ranks = ops.cast(k - ops.arange(k, dtype="int32"), "float32")[None]  # exact: k < 2**24
        cand_scores = ops.where(cand_scores > threshold, ranks, 0.0)
        threshold = 0.5

    def one_image(args):
        idx, count = _v4(args[0], args[1], m, iou_threshold, threshold, pad=True)
        return idx, count

    if boxes.shape[0] == 1:
        idx, count = one_image((cand_boxes[0], cand_scores[0]))
        idx, count = idx[None], count[None]
    else:
        idx, count = tf.map_fn(one_image, (cand_boxes, cand_scores), fn_output_signature=(tf.int32, tf.int32))
    indices = ops.where(ops.arange(m, dtype="int32")[None] < ops.expand_dims(count, 1), idx, -1)
    if cand_idx is not None:
        indices = ops.where(indices >= 0, ops.take_along_axis(cand_idx, ops.maximum(indices, 0), axis=1), -1)
    return indices, count


def _single_class_eager(boxes, scores, m, iou_threshold, score_threshold, pre_nms_top_k):
    """Eager path, the same kept boxes in the same order as `_single_class_graph`: one kernel call per image
    and NumPy for the rest (an eager `keras.ops` call or a `tf.function` call each cost more than the
    kernel on 1,000 boxes). `boxes` `(B, N, 4)` xyxy and `scores` `(B, N)` float32 NumPy arrays.

    Returns `(B, M)` int32 NumPy indices (-1 padded) and `(B,)` int32 counts.
    """
    batch, n = scores.shape
    indices = np.full((batch, m), -1, np.int32)
    counts = np.zeros((batch,), np.int32)
    rank = pre_nms_top_k is not None and int(pre_nms_top_k) < n  # TF's kernel itself takes ties lower index first
    for b in range(batch):
        image_boxes, image_scores, threshold, order = boxes[b], scores[b], float(score_threshold), None
        if rank:
            order = np.argsort(-image_scores, kind="stable")[: int(pre_nms_top_k)]  # = top_k's order
            k = len(order)
            image_boxes = image_boxes[order]
            image_scores = np.where(image_scores[order] > threshold, np.arange(k, 0, -1, dtype=np.float32), 0.0)
            image_scores, threshold = image_scores.astype(np.float32), 0.5
        idx, _ = _v4(image_boxes, image_scores, m, iou_threshold, threshold, pad=False)
        idx = idx.numpy()
        if order is not None:
            idx = order[idx]
        indices[b, : len(idx)] = idx
        counts[b] = len(idx)
    return indices, counts


def _eager(*tensors) -> bool:
    return tf.executing_eagerly() and all(isinstance(t, (np.ndarray, tf.Tensor)) or np.isscalar(t)
                                          for t in tensors)


_COMPILED: dict = {}


def _compiled(fn, **static):
    """One `tf.function` per function and static arguments (traced once per input shape: NMS needs a static
    `N`): what an eager call of the tiled NMS runs, instead of its `while_loop` step by step in Python."""
    key = (fn.__name__, tuple(sorted(static.items())))
    if key not in _COMPILED:
        _COMPILED[key] = tf.function(lambda boxes, scores: fn(boxes, scores, **static))
    return _COMPILED[key]


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

    The same kept boxes, in the same order, as `tf.image.non_max_suppression` (it is the same kernel,
    `NonMaxSuppressionV4`, run per image; TFLite's built-in `NON_MAX_SUPPRESSION_V4`). TFLite's kernel
    visits *equal* scores in its own order; with `pre_nms_top_k` set the candidates are ranked first
    (`top_k`: lower index first), so TFLite keeps the same boxes as TensorFlow even with ties. Under
    `jit_compile=True` XLA's own implementation of that op is used, which builds an `N x N` IoU matrix:
    keep `pre_nms_top_k` moderate there. Called eagerly, it runs the kernel once per image with the rest in
    NumPy (no per-op dispatch overhead); in a graph (a model, `tf.function`, TFLite) the same kept boxes.

    Args:
        boxes: `(B, N, 4)` boxes in `bounding_box_format` (static `N`).
        scores: `(B, N)` scores (any real values, higher is better).
        max_output_size: `M`, the padded number of outputs.
        iou_threshold: suppression threshold (a box is dropped if IoU `>` this with a kept better box).
        score_threshold: only scores `> score_threshold` can be kept.
        pre_nms_top_k: only the `pre_nms_top_k` best scores enter the NMS (default: all `N`).
        bounding_box_format: format of `boxes`.

    Returns:
        `(indices, num_valid)`: `(B, M)` int32 indices into `N` of the kept boxes, best first, padded with
        -1, and `(B,)` int32 counts.

    Example:
        >>> idx, n = non_max_suppression(boxes, scores, max_output_size=100, iou_threshold=0.7)
        >>> proposals = ops.take_along_axis(boxes, ops.maximum(idx, 0)[..., None], axis=1)
    """
    _check_nms_args(iou_threshold, max_output_size, pre_nms_top_k)
    m = int(max_output_size)
    if _eager(boxes, scores):
        boxes = convert_format(boxes, bounding_box_format, "xyxy") if bounding_box_format != "xyxy" else boxes
        boxes, scores = np.asarray(boxes, np.float32), np.asarray(scores, np.float32)
        _check_single_class_shapes(boxes, scores)
        indices, counts = _single_class_eager(boxes, scores, m, iou_threshold, score_threshold, pre_nms_top_k)
        return tf.constant(indices), tf.constant(counts)
    boxes = convert_format(boxes, bounding_box_format, "xyxy")
    scores = ops.cast(scores, "float32")
    _check_single_class_shapes(boxes, scores)
    return _single_class_graph(boxes, scores, m, iou_threshold, score_threshold, pre_nms_top_k)


def _check_single_class_shapes(boxes, scores):
    if len(boxes.shape) != 3 or len(scores.shape) != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"non_max_suppression expects boxes (B, N, 4) and scores (B, N), received shapes "
                         f"{tuple(boxes.shape)} and {tuple(scores.shape)}")


def multiclass_non_max_suppression(
    boxes,
    scores,
    *,
    max_detections: int = 100,
    iou_threshold: float = 0.5,
    score_threshold: float = 0.05,
    pre_nms_top_k: int | None = 1000,
    bounding_box_format: str = "xyxy",
    tile_size: int = DEFAULT_TILE_SIZE,
):
    """Class-wise NMS over all (box, class) pairs: the final step of every detector.

    Every (box, class) pair with score `> score_threshold` is a candidate; the `pre_nms_top_k` best
    enter one greedy NMS in which only candidates of the same class suppress each other (an explicit
    same-class mask, so the result equals a separate NMS per class whatever the coordinates).

    With one class (`C == 1`, static) this is the single-class kernel (`NonMaxSuppressionV4`, the
    candidates ranked first so that TFLite visits ties in TensorFlow's order); with several, the tiled
    `keras.ops` NMS above. Called eagerly, the one-class case runs the kernel with NumPy around it and the
    tiled case one cached `tf.function` per static arguments.

    Args:
        boxes: `(B, N, 4)` class-agnostic boxes (YOLO, RetinaNet) or `(B, N, C, 4)` per-class boxes
            (Faster R-CNN box head), in `bounding_box_format`.
        scores: `(B, N, C)` per-class scores (probabilities after sigmoid/softmax, background removed).
        max_detections: `K`, the padded number of detections per image.
        iou_threshold, score_threshold, pre_nms_top_k: as in `non_max_suppression`.
        tile_size: candidates resolved per step (`T`); memory is `O(N + T M + T^2)` per image.
        bounding_box_format: format of `boxes` and of the returned boxes.

    Returns:
        A dict: `"boxes"` `(B, K, 4)` float32 (0 in padded slots; the input boxes as given), `"scores"`
        `(B, K)` float32 (0 padded), `"classes"` `(B, K)` int32 (-1 padded), `"num_detections"` `(B,)`
        int32. Detections are sorted by decreasing score.
    """
    _check_nms_args(iou_threshold, max_detections, pre_nms_top_k, tile_size)
    static = dict(max_detections=int(max_detections), iou_threshold=float(iou_threshold),
                  score_threshold=float(score_threshold), pre_nms_top_k=None if pre_nms_top_k is None
                  else int(pre_nms_top_k), bounding_box_format=bounding_box_format, tile_size=int(tile_size))
    if _eager(boxes, scores):
        scores_np = np.asarray(scores, np.float32)
        if scores_np.ndim == 3 and scores_np.shape[-1] == 1:
            return _one_class_eager(boxes, scores_np, **static)
        return _compiled(_multiclass_graph, **static)(tf.convert_to_tensor(boxes, tf.float32),
                                                      tf.convert_to_tensor(scores_np))
    return _multiclass_graph(boxes, scores, **static)


def _one_class_eager(boxes, scores, *, max_detections, iou_threshold, score_threshold, pre_nms_top_k,
                     bounding_box_format, tile_size):
    boxes = np.asarray(boxes, np.float32)
    if boxes.ndim == 4:
        boxes = boxes[:, :, 0]
    if boxes.ndim != 3 or boxes.shape[-1] != 4 or boxes.shape[:2] != scores.shape[:2]:
        raise ValueError(f"multiclass_non_max_suppression expects boxes (B, N, 4) or (B, N, C, 4) and scores "
                         f"(B, N, C), received shapes {boxes.shape} and {scores.shape}")
    xyxy = boxes if bounding_box_format == "xyxy" else np.asarray(
        convert_format(boxes, bounding_box_format, "xyxy"), np.float32)
    flat_scores = scores[..., 0]
    pos, count = _single_class_eager(xyxy, flat_scores, max_detections, iou_threshold, score_threshold,
                                     pre_nms_top_k)
    valid = pos >= 0
    safe = np.maximum(pos, 0)
    out_boxes = np.where(valid[..., None], np.take_along_axis(boxes, safe[..., None], axis=1), 0.0)
    out_scores = np.where(valid, np.take_along_axis(flat_scores, safe, axis=1), 0.0)
    return {
        "boxes": tf.constant(out_boxes.astype(np.float32)),
        "scores": tf.constant(out_scores.astype(np.float32)),
        "classes": tf.constant(np.where(valid, 0, -1).astype(np.int32)),
        "num_detections": tf.constant(count),
    }


def _multiclass_graph(boxes, scores, *, max_detections, iou_threshold, score_threshold, pre_nms_top_k,
                      bounding_box_format, tile_size):
    boxes = ops.cast(boxes, "float32")
    xyxy = convert_format(boxes, bounding_box_format, "xyxy")
    scores = ops.cast(scores, "float32")
    _, n, c = scores.shape
    if len(xyxy.shape) == 3:
        xyxy = ops.broadcast_to(ops.expand_dims(xyxy, 2), (ops.shape(xyxy)[0], n, c, 4))
        boxes = ops.broadcast_to(ops.expand_dims(boxes, 2), (ops.shape(boxes)[0], n, c, 4))
    flat_boxes = ops.reshape(xyxy, (-1, n * c, 4))
    given_boxes = ops.reshape(boxes, (-1, n * c, 4))  # returned as given (no format round trip)
    flat_scores = ops.reshape(scores, (-1, n * c))
    if c == 1:  # the single-class kernel; ranked first (all N when pre_nms_top_k is None) for TFLite's ties
        pos, count = _single_class_graph(flat_boxes, flat_scores, max_detections, iou_threshold, score_threshold,
                                         n if pre_nms_top_k is None else pre_nms_top_k)
        cand_boxes, cand_scores = given_boxes, flat_scores
        cand_classes = ops.zeros_like(flat_scores, dtype="int32")
    else:
        cand_boxes, cand_scores, cand_idx = _pre_select(flat_boxes, flat_scores, pre_nms_top_k)
        flat_classes = ops.arange(n * c, dtype="int32")[None] % c
        cand_classes = flat_classes if cand_idx is None else cand_idx % c
        cand_classes = ops.broadcast_to(cand_classes, ops.shape(cand_scores))
        pos, count = _tiled_nms(cand_boxes, cand_scores, cand_scores > score_threshold, cand_classes,
                                iou_threshold=iou_threshold, max_output_size=max_detections,
                                tile_size=tile_size)
        if cand_idx is not None:
            pos = ops.where(pos >= 0, ops.take_along_axis(cand_idx, ops.maximum(pos, 0), axis=1), -1)
        cand_boxes, cand_scores = given_boxes, flat_scores
        cand_classes = ops.broadcast_to(flat_classes, ops.shape(flat_scores))
    valid = pos >= 0
    safe = ops.maximum(pos, 0)
    out_boxes = ops.take_along_axis(cand_boxes, ops.expand_dims(safe, -1), axis=1)
    out_boxes = ops.where(ops.expand_dims(valid, -1), out_boxes, 0.0)
    out_scores = ops.where(valid, ops.take_along_axis(cand_scores, safe, axis=1), 0.0)
    out_classes = ops.where(valid, ops.take_along_axis(cand_classes, safe, axis=1), -1)
    return {
        "boxes": _pad_to(out_boxes, max_detections, 0.0),
        "scores": _pad_to(out_scores, max_detections, 0.0),
        "classes": ops.cast(_pad_to(out_classes, max_detections, -1), "int32"),
        "num_detections": count,
    }


__all__ = ["greedy_keep", "multiclass_non_max_suppression", "non_max_suppression"]
