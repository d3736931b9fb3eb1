"""Cleaning detection targets before training: bad boxes and class ids are clipped, dropped or rejected.

`sanitize_detection_targets` applies, to every sample of a `{"boxes", "classes"[, "masks"]}` target dict
(one sample `(M, 4)` / `(M,)` or a padded batch `(B, M, 4)` / `(B, M)`, classes padded with -1):

| problem                                         | action                                             |
|-------------------------------------------------|----------------------------------------------------|
| padding (class -1)                              | kept as padding                                    |
| class id outside `[0, num_classes)`             | `ValueError` naming the sample and box (default), or |
|                                                 | dropped with a counted warning (`invalid_class="drop"`) |
| non-finite coordinate                           | dropped (counted)                                  |
| zero (or negative) area, or area `< min_area`    | dropped (counted)                                  |
| partly outside the image                        | clipped to the image (counted)                     |
| fully outside the image                         | dropped (counted)                                  |

Dropped boxes become padding (boxes -1, class -1, mask 0) so shapes never change; samples with no object
left are fine. The detection losses of vras_keras also ignore padded and degenerate boxes, so a training
step never produces NaN from such targets (tests/data/test_detection_targets.py).
"""

from __future__ import annotations

import warnings

import numpy as np

from vras_keras.ops.boxes import convert_format

INVALID_CLASS_ACTIONS = ("raise", "drop")


def sanitize_detection_targets(
    targets: dict,
    *,
    image_shape,
    num_classes: int,
    bounding_box_format: str = "xyxy",
    invalid_class: str = "raise",
    min_area: float = 0.0,
    sample_ids=None,
):
    """Clip, drop or reject invalid boxes and class ids of detection targets (NumPy, outside graphs).

    Args:
        targets: dict with `"boxes"` `(M, 4)` or `(B, M, 4)`, `"classes"` `(M,)` or `(B, M)` (-1 padded) and
            optionally `"masks"` `(M, H, W)` / `(B, M, H, W)` (dropped boxes get an all-zero mask).
        image_shape: `(height, width)` in pixels.
        num_classes: valid class ids are `0 .. num_classes - 1`.
        bounding_box_format: format of `targets["boxes"]` (and of the result).
        invalid_class: `"raise"` (ValueError naming the sample) or `"drop"` (warning with the count).
        min_area: boxes with area `<= min_area` (after clipping, pixels) are dropped; 0 drops empty boxes.
        sample_ids: optional names of the samples for messages (default: their batch index).

    Returns:
        `(clean_targets, counts)`: a new dict with the same keys, shapes and dtypes, and a dict of counts
        `{"clipped", "dropped_empty", "dropped_outside", "dropped_nonfinite", "dropped_class"}`.

    Raises:
        ValueError: a class id out of range with `invalid_class="raise"`, or malformed inputs.
    """
    if invalid_class not in INVALID_CLASS_ACTIONS:
        raise ValueError(f"invalid_class must be one of {INVALID_CLASS_ACTIONS}, received {invalid_class!r}")
    if "boxes" not in targets or "classes" not in targets:
        raise ValueError(f"targets must have 'boxes' and 'classes', received keys {sorted(targets)}")
    boxes = np.asarray(targets["boxes"], np.float32)
    classes = np.asarray(targets["classes"])
    batched = classes.ndim == 2
    if not batched:
        boxes, classes = boxes[None], classes[None]
    if boxes.shape[:-1] != classes.shape or boxes.shape[-1] != 4:
        raise ValueError(f"boxes must be (..., M, 4) and classes (..., M), received {boxes.shape} and {classes.shape}")
    height, width = float(image_shape[0]), float(image_shape[1])
    xyxy = np.asarray(convert_format(boxes, bounding_box_format, "xyxy", height=height, width=width))
    masks = None
    if targets.get("masks") is not None:
        masks = np.array(targets["masks"], copy=True)
        if not batched:
            masks = masks[None]
    counts = dict.fromkeys(("clipped", "dropped_empty", "dropped_outside", "dropped_nonfinite", "dropped_class"), 0)
    bad_class_samples = []
    out_boxes, out_classes = xyxy.copy(), classes.copy()
    for b in range(classes.shape[0]):
        sid = sample_ids[b] if sample_ids is not None else b
        for j in range(classes.shape[1]):
            c = int(classes[b, j])
            if c == -1:
                continue
            drop = None
            if not 0 <= c < num_classes:
                if invalid_class == "raise":
                    raise ValueError(
                        f"sample {sid}: box {j} has class id {c}; expected 0..{num_classes - 1} (or -1 for padding)"
                    )
                drop = "dropped_class"
                bad_class_samples.append(sid)
            box = xyxy[b, j]
            if drop is None and not np.all(np.isfinite(box)):
                drop = "dropped_nonfinite"
            if drop is None:
                area = max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)
                clipped = np.clip(box, 0.0, [width, height, width, height])
                clipped_area = max(clipped[2] - clipped[0], 0.0) * max(clipped[3] - clipped[1], 0.0)
                if area <= min_area:
                    drop = "dropped_empty"
                elif clipped_area <= min_area:
                    drop = "dropped_outside"
                elif not np.array_equal(clipped, box):
                    counts["clipped"] += 1
                    out_boxes[b, j] = clipped
            if drop is not None:
                counts[drop] += 1
                out_boxes[b, j] = -1.0
                out_classes[b, j] = -1
                if masks is not None:
                    masks[b, j] = 0
    if counts["dropped_class"]:
        warnings.warn(
            f"dropped {counts['dropped_class']} box(es) with class ids outside 0..{num_classes - 1} "
            f"in sample(s) {sorted(set(map(str, bad_class_samples)))}",
            stacklevel=2,
        )
    valid = out_classes >= 0
    result_boxes = np.asarray(convert_format(out_boxes, "xyxy", bounding_box_format, height=height, width=width))
    result_boxes = np.where(valid[..., None], result_boxes, -1.0).astype(np.float32)
    result = dict(targets)
    result["boxes"] = result_boxes if batched else result_boxes[0]
    result["classes"] = (out_classes if batched else out_classes[0]).astype(classes.dtype)
    if masks is not None:
        result["masks"] = masks if batched else masks[0]
    return result, counts
