"""Pose losses and targets: masked L2 on coordinates, heatmap cross-entropy, and the target makers.

Keypoint target tensor (what the losses and metrics take as `y_true`): `(N, K, 3)` float32 with
`(x, y, visibility)` per joint, coordinates in input-image pixels in the data's convention (pixel edges at
integers, the centre of pixel column n at x = n + 0.5, as `vras_keras.data.shapes`). Build it with
`keypoint_targets(keypoints, visibility)` (validates, NumPy) or `pack_keypoint_targets` (tensors, for
`tf.data`). Joints with visibility 0 are masked out of every loss and metric and may carry any value,
NaN included.

Heatmaps are channels-last `(N, h, w, K)` logits of stride `s` (heatmap pixel (m, n) covers image pixels
[n s, (n + 1) s) x [m s, (m + 1) s)); see `vras_keras.ops.soft_argmax` for the grid.

Losses (serializable `keras.losses.Loss`, joint-level mean over all visible joints of the batch):
- `KeypointL2Loss`: squared distance between predicted and target coordinates (direct and integral regression);
- `HeatmapCrossEntropy`: cross-entropy between the spatial softmax of each predicted heatmap and a target
  distribution built from the keypoints (one-hot pixel or Gaussian), the course's "per-pixel
  cross-entropy" where the classes are the h*w pixel positions of each joint.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

TARGET_KINDS = ("gaussian", "one_hot")


# ------------------------------------------------------------------------------------------ validation
def validate_keypoints(keypoints, visibility=None, *, num_joints: int | None = None, what: str = "keypoints"):
    """Check keypoint arrays and return `(keypoints, visibility)` as float32 NumPy arrays.

    Args:
        keypoints: `(K, 2)` or `(N, K, 2)` (x, y) pixels.
        visibility: `(K,)` / `(N, K)` (0 or 1, any value > 0 counts as visible); default all visible.
        num_joints: the joint count the model predicts; a different K raises.

    Raises:
        ValueError: naming the received shape(s), for a wrong rank / last axis, visibility that does not
            match, a joint count different from `num_joints`, or a NaN/inf coordinate of a visible joint.
            Invisible joints may carry any value (they are set to 0 in the returned copy).
    """
    kp = np.array(keypoints, dtype=np.float32, copy=True)
    if kp.ndim not in (2, 3) or kp.shape[-1] != 2:
        raise ValueError(f"{what} must have shape (K, 2) or (N, K, 2) with (x, y) last, received shape {kp.shape}")
    if visibility is None:
        vis = np.ones(kp.shape[:-1], np.float32)
    else:
        vis = np.array(visibility, dtype=np.float32, copy=True)
        if vis.shape != kp.shape[:-1]:
            raise ValueError(
                f"visibility must have shape {kp.shape[:-1]} to match {what} of shape {kp.shape}, "
                f"received shape {vis.shape}"
            )
        vis = np.where(np.isfinite(vis) & (vis > 0), 1.0, 0.0).astype(np.float32)
    if num_joints is not None and kp.shape[-2] != num_joints:
        raise ValueError(
            f"{what} of shape {kp.shape} has {kp.shape[-2]} joints, but the model predicts {num_joints} joints"
        )
    bad = (vis > 0) & ~np.all(np.isfinite(kp), axis=-1)
    if np.any(bad):
        where = [tuple(int(i) for i in idx) for idx in np.argwhere(bad)[:5]]
        raise ValueError(
            f"{what} of shape {kp.shape} has NaN/inf coordinates for visible joint(s) at index {where}; "
            "mark them invisible (visibility 0) or fix the coordinates"
        )
    kp[vis == 0] = 0.0
    return kp, vis


def keypoint_targets(keypoints, visibility=None, *, num_joints: int | None = None) -> np.ndarray:
    """Validated `(N, K, 3)` / `(K, 3)` target tensor `(x, y, visibility)` (see the module docstring)."""
    kp, vis = validate_keypoints(keypoints, visibility, num_joints=num_joints)
    return np.concatenate([kp, vis[..., None]], axis=-1)


def pack_keypoint_targets(keypoints, visibility):
    """Tensor version of `keypoint_targets` for `tf.data.map`: `(..., K, 2)`, `(..., K)` → `(..., K, 3)`.

    Shapes are checked statically (ValueError naming them); invisible joints' coordinates are zeroed,
    so NaN there is harmless. (Values of visible joints cannot raise inside a graph: use
    `keypoint_targets` on arrays to validate them.)
    """
    kp_shape, vis_shape = tuple(keypoints.shape), tuple(visibility.shape)
    if len(kp_shape) < 2 or kp_shape[-1] != 2 or vis_shape != kp_shape[:-1]:
        raise ValueError(
            f"keypoints must be (..., K, 2) and visibility (..., K), received shapes {kp_shape} and {vis_shape}"
        )
    vis = ops.cast(ops.cast(visibility, "float32") > 0, "float32")
    kp = ops.where(vis[..., None] > 0, ops.cast(keypoints, "float32"), 0.0)
    return ops.concatenate([kp, vis[..., None]], axis=-1)


def _split_targets(y_true, y_pred_joints: int | None, what: str):
    shape = tuple(y_true.shape)
    if len(shape) != 3 or shape[-1] != 3:
        raise ValueError(
            f"{what}: y_true must be the (N, K, 3) keypoint target (x, y, visibility) from keypoint_targets / "
            f"pack_keypoint_targets, received shape {shape}"
        )
    if y_pred_joints is not None and shape[1] is not None and shape[1] != y_pred_joints:
        raise ValueError(
            f"{what}: y_true of shape {shape} has {shape[1]} joints, but the model predicts {y_pred_joints} joints"
        )
    y_true = ops.cast(y_true, "float32")
    vis = ops.cast(y_true[..., 2] > 0, "float32")
    xy = ops.where(vis[..., None] > 0, y_true[..., :2], 0.0)  # invisible joints may hold NaN
    return xy, vis


def _joint_mean(per_joint, vis):
    """Per-sample values whose batch mean is the mean of `per_joint` over the visible joints of the batch."""
    visible_per_sample = ops.mean(ops.sum(vis, axis=1))
    return ops.sum(per_joint * vis, axis=1) / ops.maximum(visible_per_sample, 1e-6)


# ------------------------------------------------------------------------------------------ heatmaps
def keypoints_to_heatmap_grid(keypoints, stride: float):
    """Input-image pixel coordinates → heatmap index grid of stride `stride`: x / stride - 0.5 (the pose
    pixel convention of `vras_keras.ops.soft_argmax`, whose `image_to_heatmap_coordinates` this is)."""
    from vras_keras.ops.soft_argmax import image_to_heatmap_coordinates

    return image_to_heatmap_coordinates(keypoints, float(stride))


def target_heatmaps(
    keypoints, visibility=None, *, heatmap_size, stride: float, kind: str = "gaussian", sigma: float = 1.0
):
    """Target distributions `(N, h, w, K)` (each map sums to 1) for heatmap cross-entropy.

    Args:
        keypoints: `(N, K, 2)` (x, y) in input-image pixels (tensor or array).
        visibility: `(N, K)`; invisible joints get a uniform map (they are masked out of the loss anyway).
        heatmap_size: `(h, w)`.
        stride: input-image pixels per heatmap pixel.
        kind: `"gaussian"`: exp(-d^2 / (2 sigma^2)) around the keypoint on the heatmap grid, normalised
            (a softmax of -d^2 / (2 sigma^2), so it never underflows to 0/0, even outside the map);
            `"one_hot"`: 1 at the heatmap pixel containing the keypoint (clipped into the map).
        sigma: Gaussian standard deviation in heatmap pixels.

    Returns:
        float32 `(N, h, w, K)`.
    """
    if kind not in TARGET_KINDS:
        raise ValueError(f"kind must be one of {TARGET_KINDS}, received {kind!r}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0 (heatmap pixels), received {sigma!r}")
    h, w = (int(v) for v in heatmap_size)
    keypoints = ops.cast(ops.convert_to_tensor(keypoints), "float32")
    vis = None if visibility is None else ops.cast(ops.convert_to_tensor(visibility), "float32") > 0
    if vis is not None:
        keypoints = ops.where(vis[..., None], keypoints, 0.0)
    grid_xy = keypoints_to_heatmap_grid(keypoints, stride)  # (N, K, 2)
    gx = grid_xy[:, None, None, :, 0]  # (N, 1, 1, K)
    gy = grid_xy[:, None, None, :, 1]
    xs = ops.reshape(ops.arange(w, dtype="float32"), (1, 1, w, 1))
    ys = ops.reshape(ops.arange(h, dtype="float32"), (1, h, 1, 1))
    if kind == "gaussian":
        logits = -((xs - gx) ** 2 + (ys - gy) ** 2) / (2.0 * sigma**2)  # (N, h, w, K)
        logits = logits - ops.max(logits, axis=(1, 2), keepdims=True)
        e = ops.exp(logits)
        maps = e / ops.sum(e, axis=(1, 2), keepdims=True)
    else:
        col = ops.clip(ops.floor(gx + 0.5), 0, w - 1)  # pixel containing x: floor(x / s)
        row = ops.clip(ops.floor(gy + 0.5), 0, h - 1)
        maps = ops.cast(ops.equal(xs, col), "float32") * ops.cast(ops.equal(ys, row), "float32")
    if vis is not None:
        maps = ops.where(vis[:, None, None, :], maps, 1.0 / (h * w))
    return maps


# ---------------------------------------------------------------------------------------------- losses
@keras.saving.register_keras_serializable(package="vras_keras")
class KeypointL2Loss(keras.losses.Loss):
    """Masked L2 on coordinates: mean over visible joints of ||(p - t) / scale||^2.

    Used by direct regression (Toshev & Szegedy, DeepPose, arXiv:1312.4659) and, added to the heatmap
    cross-entropy, by integral regression (Sun et al., arXiv:1711.08229).

    Args:
        scale: coordinates are divided by it first (e.g. the image size, to make the loss unitless).
        visibility_weight: with `(N, K, 3)` predictions whose third column is a predicted visibility
            probability (the direct regression model's confidence head), adds `visibility_weight` times
            its binary cross-entropy against the target visibility, averaged over all joints. 0 ignores it.
        name, reduction, dtype: as `keras.losses.Loss`.

    Call arguments:
        y_true: `(N, K, 3)` keypoint target (x, y, visibility).
        y_pred: `(N, K, 2)` or `(N, K, 3)` (x, y[, confidence]); only x, y are used.

    Returns:
        Per-sample values whose batch mean is the mean over all visible joints of the batch.
    """

    def __init__(self, scale: float = 1.0, visibility_weight: float = 0.0, name="keypoint_l2",
                 reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not (isinstance(scale, (int, float)) and scale > 0):
            raise ValueError(f"scale must be a positive number, received {scale!r}")
        if not (isinstance(visibility_weight, (int, float)) and visibility_weight >= 0):
            raise ValueError(f"visibility_weight must be a number >= 0, received {visibility_weight!r}")
        self.scale = float(scale)
        self.visibility_weight = float(visibility_weight)

    def call(self, y_true, y_pred):
        if len(y_pred.shape) != 3 or y_pred.shape[-1] not in (2, 3):
            raise ValueError(
                f"{self.name}: y_pred must be (N, K, 2) or (N, K, 3), received shape {tuple(y_pred.shape)}"
            )
        xy, vis = _split_targets(y_true, y_pred.shape[1], self.name)
        diff = (ops.cast(y_pred[..., :2], "float32") - xy) / self.scale
        loss = _joint_mean(ops.sum(ops.square(diff), axis=-1), vis)
        if self.visibility_weight > 0:
            if y_pred.shape[-1] != 3:
                raise ValueError(
                    f"{self.name}: visibility_weight > 0 needs (N, K, 3) predictions with a visibility "
                    f"probability last, received shape {tuple(y_pred.shape)}"
                )
            conf = ops.clip(ops.cast(y_pred[..., 2], "float32"), 1e-6, 1.0 - 1e-6)
            bce = -(vis * ops.log(conf) + (1.0 - vis) * ops.log(1.0 - conf))
            loss = loss + self.visibility_weight * ops.mean(bce, axis=1)
        return loss

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "visibility_weight": self.visibility_weight}


@keras.saving.register_keras_serializable(package="vras_keras")
class HeatmapCrossEntropy(keras.losses.Loss):
    """Cross-entropy between each predicted heatmap's spatial softmax and a target built from keypoints.

    For joint k, the h*w heatmap pixels are the classes: loss = -sum_{m,n} t(m, n) log softmax(z)(m, n), with
    t a one-hot pixel (Tompson et al., arXiv:1406.2984) or a normalised Gaussian, averaged over the visible
    joints. The targets are built inside the loss from the keypoint target tensor, so the data pipeline
    carries only `(x, y, visibility)`.

    Args:
        stride: input-image pixels per heatmap pixel.
        kind: `"gaussian"` or `"one_hot"` target.
        sigma: Gaussian standard deviation in heatmap pixels.

    Call arguments:
        y_true: `(N, K, 3)` keypoint target (x, y, visibility) in input-image pixels.
        y_pred: `(N, h, w, K)` heatmap logits.
    """

    def __init__(self, stride: float = 1.0, kind: str = "gaussian", sigma: float = 1.0, name="heatmap_ce",
                 reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not (isinstance(stride, (int, float)) and stride > 0):
            raise ValueError(f"stride must be a positive number, received {stride!r}")
        if kind not in TARGET_KINDS:
            raise ValueError(f"kind must be one of {TARGET_KINDS}, received {kind!r}")
        if not (isinstance(sigma, (int, float)) and sigma > 0):
            raise ValueError(f"sigma must be a positive number (heatmap pixels), received {sigma!r}")
        self.stride, self.kind, self.sigma = float(stride), kind, float(sigma)

    def call(self, y_true, y_pred):
        if len(y_pred.shape) != 4:
            raise ValueError(f"{self.name}: y_pred must be (N, h, w, K) heatmaps, received shape {tuple(y_pred.shape)}")
        xy, vis = _split_targets(y_true, y_pred.shape[-1], self.name)
        _, h, w, _ = y_pred.shape
        target = target_heatmaps(xy, vis, heatmap_size=(h, w), stride=self.stride, kind=self.kind, sigma=self.sigma)
        logits = ops.cast(y_pred, "float32")
        log_p = logits - ops.logsumexp(logits, axis=(1, 2), keepdims=True)
        ce = -ops.sum(target * log_p, axis=(1, 2))  # (N, K)
        return _joint_mean(ce, vis)

    def get_config(self):
        return {**super().get_config(), "stride": self.stride, "kind": self.kind, "sigma": self.sigma}
