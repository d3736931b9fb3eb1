"""Segmentation metrics: mean IoU with an ignore label (a Keras metric and a NumPy function), and target checks.

Conventions (as `vras_keras.data.datasets`): label masks are integers `(N, H, W)` (or `(N, H, W, 1)`),
0 = background, 255 = ignore; predictions are per-pixel class probabilities (or logits) `(N, H, W, L)`.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

IGNORE_LABEL = 255


def validate_segmentation_targets(masks, num_classes: int, *, ignore_label: int = IGNORE_LABEL, images=None,
                                  predictions=None):
    """Check label masks eagerly (the data path calls this; graph-mode losses cannot raise).

    Args:
        masks: integer array `(H, W)`, `(N, H, W)` or `(N, H, W, 1)`.
        num_classes: L; valid labels are `0..L-1` and `ignore_label`.
        ignore_label: the label that marks pixels to ignore.
        images: optional `(..., H, W, C)` images the masks belong to.
        predictions: optional `(..., H, W, L)` model outputs the masks are compared with.

    Returns:
        `masks` as an int32 array with the trailing channel of 1 removed.

    Raises:
        ValueError: a shape mismatch (naming both shapes) or labels outside `0..L-1` that are not the
            ignore label (naming the offending values).
    """
    masks = np.asarray(masks)
    if not np.issubdtype(masks.dtype, np.integer):
        if not np.all(np.equal(np.mod(masks, 1), 0)):
            raise ValueError(
                f"segmentation masks must hold integer labels, received dtype {masks.dtype} with fractions"
            )
    if masks.ndim == 4 and masks.shape[-1] == 1:
        masks = masks[..., 0]
    if masks.ndim not in (2, 3):
        raise ValueError(f"segmentation masks must be (H, W) or (N, H, W), received shape {masks.shape}")
    for other, what in ((images, "images"), (predictions, "predictions")):
        if other is None:
            continue
        shape = np.shape(other)
        if tuple(shape[-3:-1]) != tuple(masks.shape[-2:]) or (
            masks.ndim == 3 and len(shape) == 4 and shape[0] != masks.shape[0]
        ):
            raise ValueError(
                f"mask shape {masks.shape} does not match {what} shape {tuple(shape)} (height and width must agree)"
            )
    if predictions is not None and np.shape(predictions)[-1] != num_classes:
        raise ValueError(
            f"predictions shape {np.shape(predictions)} has {np.shape(predictions)[-1]} classes, expected "
            f"num_classes={num_classes}"
        )
    values = np.unique(masks)
    bad = values[((values < 0) | (values >= num_classes)) & (values != ignore_label)]
    if bad.size:
        raise ValueError(
            f"segmentation masks (shape {masks.shape}) hold label(s) {bad.tolist()[:10]} outside 0..{num_classes - 1} "
            f"that are not the ignore label {ignore_label}"
        )
    return masks.astype(np.int32)


def confusion_matrix(y_true, y_pred, num_classes: int, *, ignore_label: int = IGNORE_LABEL) -> np.ndarray:
    """`(L, L)` int64 counts `[true, predicted]` over the pixels whose label is in `0..L-1`.

    `y_pred` is a label map `(N, H, W)` or scores `(N, H, W, L)` (argmax taken).
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.ndim == 4 and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    if y_pred.ndim == y_true.ndim + 1:
        y_pred = y_pred.argmax(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"label shape {y_true.shape} and prediction shape {y_pred.shape} differ")
    valid = (y_true >= 0) & (y_true < num_classes) & (y_true != ignore_label)
    index = y_true[valid].astype(np.int64) * num_classes + y_pred[valid].astype(np.int64)
    return np.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def iou_from_confusion(cm) -> np.ndarray:
    """Per-class IoU from a confusion matrix; NaN for classes neither present nor predicted."""
    cm = np.asarray(cm, np.float64)
    inter = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.maximum(union, 1), np.nan)


def mean_iou(y_true, y_pred, num_classes: int, *, ignore_label: int = IGNORE_LABEL) -> float:
    """Mean IoU in [0, 1] over the classes present in the labels or the predictions (NumPy)."""
    iou = iou_from_confusion(confusion_matrix(y_true, y_pred, num_classes, ignore_label=ignore_label))
    return float(np.nanmean(iou)) if np.any(~np.isnan(iou)) else 0.0


@keras.saving.register_keras_serializable(package="vras_keras")
class MeanIoU(keras.metrics.Metric):
    """Mean intersection over union of per-pixel predictions, skipping pixels labelled `ignore_label`.

    Accumulates a confusion matrix over batches; the result is the mean IoU over the classes that
    occurred (in labels or predictions) so far. Labels outside `0..L-1` that are not the ignore label
    are skipped too (graph code cannot raise; `validate_segmentation_targets` catches them eagerly).

    Args:
        num_classes: L.
        ignore_label: label of pixels to skip (255).
        name, dtype: as for every Keras metric.

    Call arguments (`update_state`):
        y_true: int labels `(N, H, W)` or `(N, H, W, 1)`.
        y_pred: scores `(N, H, W, L)` (probabilities or logits).
        sample_weight: optional `(N,)` or `(N, H, W)` pixel weights.

    Example:
        >>> model.compile(loss=PixelCrossEntropy(), metrics=[MeanIoU(num_classes=7)])
    """

    def __init__(self, num_classes, ignore_label=IGNORE_LABEL, name="mean_iou", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, received {num_classes!r}")
        self.num_classes = int(num_classes)
        self.ignore_label = int(ignore_label)
        self.total_cm = self.add_variable(shape=(self.num_classes, self.num_classes), initializer="zeros",
                                          dtype="float32", name="total_confusion_matrix")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.convert_to_tensor(y_true)
        if len(y_true.shape) == 4:
            y_true = ops.squeeze(y_true, axis=-1)
        labels = ops.cast(y_true, "int32")
        predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        valid = (labels >= 0) & (labels < self.num_classes) & (labels != self.ignore_label)
        weights = ops.cast(valid, "float32")
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, "float32")
            while len(sample_weight.shape) < len(weights.shape):
                sample_weight = ops.expand_dims(sample_weight, -1)
            weights = weights * sample_weight
        index = ops.where(valid, labels, 0) * self.num_classes + predicted
        counts = ops.bincount(ops.reshape(index, (-1,)), weights=ops.reshape(weights, (-1,)),
                              minlength=self.num_classes * self.num_classes)
        self.total_cm.assign_add(ops.reshape(ops.cast(counts, "float32"), (self.num_classes, self.num_classes)))

    def per_class_iou(self):
        cm = self.total_cm
        inter = ops.diagonal(cm)
        union = ops.sum(cm, axis=0) + ops.sum(cm, axis=1) - inter
        return inter / ops.maximum(union, 1.0), union > 0

    def result(self):
        iou, present = self.per_class_iou()
        present = ops.cast(present, "float32")
        return ops.sum(iou * present) / ops.maximum(ops.sum(present), 1.0)

    def reset_state(self):
        self.total_cm.assign(ops.zeros_like(self.total_cm))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "ignore_label": self.ignore_label}
