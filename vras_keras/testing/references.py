"""Plain NumPy reference implementations that tests and benchmarks compare the graph ops against."""

from __future__ import annotations

import numpy as np


def iou_numpy(box, boxes) -> np.ndarray:
    """IoU of one xyxy `box` `(4,)` with `boxes` `(K, 4)`, in float32 (degenerate pairs give 0)."""
    box = np.asarray(box, np.float32)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    iw = np.maximum(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0)
    ih = np.maximum(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0)
    inter = iw * ih
    area = max(box[2] - box[0], 0) * max(box[3] - box[1], 0)
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0).astype(np.float32)


def nms_numpy(boxes, scores, *, iou_threshold: float = 0.5, max_output_size: int | None = None,
              score_threshold: float = float("-inf"), classes=None) -> np.ndarray:
    """Greedy NMS of one image: indices of the kept boxes, best first.

    Candidates are visited by decreasing score (ties: lower index first, a stable sort) and kept unless a
    kept box (of the same class, when `classes` is given) overlaps them with IoU `> iou_threshold`; only
    scores `> score_threshold` are candidates; it stops after `max_output_size` kept boxes.

    Args:
        boxes: `(N, 4)` xyxy. scores: `(N,)`. classes: optional `(N,)` ints.
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    classes = None if classes is None else np.asarray(classes).reshape(-1)
    limit = len(scores) if max_output_size is None else int(max_output_size)
    order = np.argsort(-scores, kind="stable")
    kept: list[int] = []
    for i in order:
        if len(kept) >= limit:
            break
        if not scores[i] > score_threshold:
            continue
        if kept:
            others = np.asarray(kept)
            if classes is not None:
                others = others[classes[others] == classes[i]]
            if len(others) and np.any(iou_numpy(boxes[i], boxes[others]) > iou_threshold):
                continue
        kept.append(int(i))
    return np.asarray(kept, np.int64)


__all__ = ["iou_numpy", "nms_numpy"]
