"""Pixel-wise cross-entropy with an ignore label, for per-pixel class probabilities `(N, H, W, L)`."""

from __future__ import annotations

import keras
from keras import ops

IGNORE_LABEL = 255


def _check_shapes(y_true, y_pred):
    true_shape, pred_shape = tuple(y_true.shape), tuple(y_pred.shape)
    if len(pred_shape) != 4:
        raise ValueError(f"predictions must be (N, H, W, L), received shape {pred_shape}")
    if len(true_shape) == 4 and true_shape[-1] == 1:
        true_shape = true_shape[:-1]
    if len(true_shape) != 3:
        raise ValueError(f"label masks must be (N, H, W) or (N, H, W, 1), received shape {tuple(y_true.shape)}")
    for a, b in zip(true_shape[1:3], pred_shape[1:3]):
        if a is not None and b is not None and a != b:
            raise ValueError(
                f"label mask shape {tuple(y_true.shape)} does not match prediction shape {pred_shape} "
                "(height and width must agree)"
            )


def pixel_cross_entropy(y_true, y_pred, *, ignore_label: int = IGNORE_LABEL, from_logits: bool = False,
                        epsilon: float = 1e-7):
    """Per-pixel cross-entropy and validity mask.

    Args:
        y_true: int labels `(N, H, W)` or `(N, H, W, 1)`; `ignore_label` and any label outside `0..L-1`
            contribute nothing (graph code cannot raise on values; `validate_segmentation_targets` does).
        y_pred: `(N, H, W, L)` probabilities (or logits with `from_logits=True`).

    Returns:
        `(loss, valid)`: both `(N, H, W)` float; `loss` is 0 where `valid` is 0.

    Raises:
        ValueError: static label/prediction shapes that do not match (naming both shapes).
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    _check_shapes(y_true, y_pred)
    if len(y_true.shape) == 4:
        y_true = ops.squeeze(y_true, axis=-1)
    num_classes = y_pred.shape[-1]
    labels = ops.cast(y_true, "int32")
    valid = (labels >= 0) & (labels < num_classes) & (labels != ignore_label)
    one_hot = ops.one_hot(ops.where(valid, labels, 0), num_classes, dtype=y_pred.dtype)
    if from_logits:
        log_p = ops.sum(one_hot * ops.log_softmax(y_pred, axis=-1), axis=-1)
    else:
        log_p = ops.log(ops.clip(ops.sum(one_hot * y_pred, axis=-1), epsilon, 1.0))
    valid = ops.cast(valid, y_pred.dtype)
    return -log_p * valid, valid


@keras.saving.register_keras_serializable(package="vras_keras")
class PixelCrossEntropy(keras.losses.Loss):
    """Cross-entropy averaged over all labelled pixels of the batch, skipping `ignore_label` (255).

    Reference: Long et al., Fully Convolutional Networks for Semantic Segmentation, CVPR 2015
    (arXiv:1411.4038): the loss is summed over the pixels of the output map.

    Each sample's loss is the sum over its valid pixels scaled by `N / (valid pixels in the batch)`, so
    Keras's default `"sum_over_batch_size"` reduction gives the mean over the batch's valid pixels (a
    batch with no valid pixel gives 0).

    Args:
        ignore_label: label of pixels that do not count (255).
        from_logits: `y_pred` are logits instead of probabilities.
        reduction, name, dtype: as for every Keras loss.

    Call arguments:
        y_true: int labels `(N, H, W)` or `(N, H, W, 1)`.
        y_pred: `(N, H, W, L)` per-pixel class probabilities.

    Example:
        >>> model.compile("adam", loss=PixelCrossEntropy(), metrics=[MeanIoU(num_classes=7)])
    """

    def __init__(self, ignore_label=IGNORE_LABEL, from_logits=False, reduction="sum_over_batch_size",
                 name="pixel_cross_entropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not isinstance(ignore_label, int):
            raise ValueError(f"ignore_label must be an int, received {ignore_label!r}")
        self.ignore_label = ignore_label
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        loss, valid = pixel_cross_entropy(y_true, y_pred, ignore_label=self.ignore_label, from_logits=self.from_logits)
        batch = ops.cast(ops.shape(loss)[0], loss.dtype)
        per_sample = ops.sum(loss, axis=(1, 2))
        return per_sample * batch / ops.maximum(ops.sum(valid), 1.0)

    def get_config(self):
        return {**super().get_config(), "ignore_label": self.ignore_label, "from_logits": self.from_logits}
