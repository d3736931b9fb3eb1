"""Pose metrics as Keras metrics: PCK@alpha and mean pixel error, both masked by visibility.

`y_true` is the `(N, K, 3)` keypoint target `(x, y, visibility)` of `vras_keras.losses.pose`; `y_pred`
is `(N, K, 2)` or `(N, K, 3)` (x, y[, confidence]) in the same input-image pixels. Only visible joints
count; invisible ones may carry any value (NaN included).

- `PCK(alpha)`: Percentage of Correct Keypoints (Yang & Ramanan, PAMI 2013): a visible joint is correct
  when its error is at most `alpha * size`, with `size` the larger side of the figure's bounding box,
  taken as the extent of the sample's visible target keypoints (max(x_max - x_min, y_max - y_min)).
- `MeanPixelError`: mean Euclidean distance in pixels over visible joints.
"""

from __future__ import annotations

import keras
from keras import ops

from vras_keras.losses.pose import _split_targets


def _errors(y_true, y_pred, what):
    if len(y_pred.shape) != 3 or y_pred.shape[-1] not in (2, 3):
        raise ValueError(f"{what}: y_pred must be (N, K, 2) or (N, K, 3), received shape {tuple(y_pred.shape)}")
    xy, vis = _split_targets(y_true, y_pred.shape[1], what)
    pred = ops.where(vis[..., None] > 0, ops.cast(y_pred[..., :2], "float32"), 0.0)
    dist = ops.sqrt(ops.sum(ops.square(pred - xy), axis=-1))  # (N, K)
    return xy, vis, dist


def figure_size(xy, vis):
    """Larger side of the bounding box of the visible keypoints, `(N, K, 2)`, `(N, K)` → `(N,)`; 0 if < 2 visible."""
    big = 1e30
    visible = vis[..., None] > 0
    lo = ops.min(ops.where(visible, xy, big), axis=1)
    hi = ops.max(ops.where(visible, xy, -big), axis=1)
    extent = ops.where(ops.sum(vis, axis=1)[:, None] > 0, hi - lo, 0.0)
    return ops.max(extent, axis=-1)


@keras.saving.register_keras_serializable(package="vras_keras")
class PCK(keras.metrics.Metric):
    """Percentage of Correct Keypoints at `alpha` times the figure's bounding-box size (visible joints only).

    Args:
        alpha: threshold as a fraction of the bounding-box size (0.05, 0.1, 0.2 are usual).
        name: defaults to `"pck@{alpha}"`.

    Example:
        >>> m = PCK(0.1); m.update_state(keypoint_targets(kp, vis), predictions); float(m.result())
    """

    def __init__(self, alpha: float = 0.1, name: str | None = None, dtype=None):
        if not (isinstance(alpha, (int, float)) and alpha > 0):
            raise ValueError(f"alpha must be a positive number, received {alpha!r}")
        super().__init__(name=name or f"pck@{alpha:g}", dtype=dtype)
        self.alpha = float(alpha)
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError("PCK does not take sample_weight; mask joints through the visibility column")
        xy, vis, dist = _errors(y_true, y_pred, self.name)
        threshold = self.alpha * figure_size(xy, vis)[:, None]
        hit = ops.cast(dist <= threshold, "float32") * vis
        self.correct.assign(self.correct + ops.sum(hit))
        self.total.assign(self.total + ops.sum(vis))

    def result(self):
        return self.correct / ops.maximum(self.total, 1.0)

    def get_config(self):
        return {"alpha": self.alpha, "name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="vras_keras")
class MeanPixelError(keras.metrics.Metric):
    """Mean Euclidean distance (input-image pixels) between predicted and target visible joints."""

    def __init__(self, name: str = "mean_pixel_error", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.error_sum = self.add_variable(shape=(), initializer="zeros", name="error_sum")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError("MeanPixelError does not take sample_weight; mask joints through the visibility column")
        _, vis, dist = _errors(y_true, y_pred, self.name)
        self.error_sum.assign(self.error_sum + ops.sum(dist * vis))
        self.total.assign(self.total + ops.sum(vis))

    def result(self):
        return self.error_sum / ops.maximum(self.total, 1.0)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}
