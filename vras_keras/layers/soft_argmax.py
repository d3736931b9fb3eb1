"""Heatmap → keypoint layers: `SoftArgmax2D`, `SoftArgmax3D` (integral regression) and `HeatmapArgmax2D`.

Thin wrappers over `vras_keras.ops.soft_argmax` (see there for the coordinate conventions).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from vras_keras.ops import soft_argmax as sa


def _check_common(temperature, normalize, coordinate_scale, rank):
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.integer, np.floating)):
        raise ValueError(f"temperature must be a positive float, received {temperature!r}")
    if not temperature > 0 or not np.isfinite(temperature):
        raise ValueError(f"temperature must be a positive float, received {temperature!r}")
    if not isinstance(normalize, bool):
        raise ValueError(f"normalize must be True or False, received {normalize!r}")
    if not normalize and float(temperature) != 1.0:
        raise ValueError(
            f"temperature={temperature} has no effect with normalize=False (the heatmaps are used as they are); "
            "leave temperature=1.0 or set normalize=True"
        )
    scales = sa._scales(coordinate_scale, rank)
    return float(temperature), scales


class _SoftArgmax(keras.layers.Layer):
    rank = 2

    def __init__(self, temperature=1.0, normalize=True, coordinate_scale=None, return_confidence=False, **kwargs):
        super().__init__(**kwargs)
        self.temperature, scales = _check_common(temperature, normalize, coordinate_scale, self.rank)
        self.normalize = normalize
        self.coordinate_scale = None if scales is None else scales[0] if len(set(scales)) == 1 else list(scales)
        if not isinstance(return_confidence, bool):
            raise ValueError(f"return_confidence must be True or False, received {return_confidence!r}")
        self.return_confidence = return_confidence

    def build(self, input_shape):
        if len(input_shape) != self.rank + 2:
            layout = "(N, H, W, K)" if self.rank == 2 else "(N, D, H, W, K)"
            raise ValueError(
                f"{type(self).__name__} expects heatmaps of shape {layout}, received shape {tuple(input_shape)}"
            )
        if any(s is None for s in input_shape[1:]):
            raise ValueError(f"{type(self).__name__} needs a static heatmap size, received shape {tuple(input_shape)}")

    def call(self, heatmaps):
        # Softmax and sums in float32 even under mixed precision (bf16 sums of H*W terms lose pixels).
        heatmaps = ops.cast(heatmaps, "float32")
        if self.normalize:
            probs = sa.heatmap_softmax(heatmaps, self.temperature, rank=self.rank)
        else:
            probs = heatmaps
        coords = sa.expected_coordinates(probs, rank=self.rank, coordinate_scale=self.coordinate_scale)
        if not self.return_confidence:
            return coords
        confidence = ops.max(probs, axis=tuple(range(1, self.rank + 1)))  # (N, K)
        return ops.concatenate([coords, confidence[..., None]], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1], self.rank + int(self.return_confidence))

    def compute_output_spec(self, heatmaps):
        return keras.KerasTensor(self.compute_output_shape(heatmaps.shape), dtype="float32")

    def get_config(self):
        return {
            **super().get_config(),
            "temperature": self.temperature,
            "normalize": self.normalize,
            "coordinate_scale": self.coordinate_scale,
            "return_confidence": self.return_confidence,
        }


@keras.saving.register_keras_serializable(package="vras_keras")
class SoftArgmax2D(_SoftArgmax):
    """Differentiable argmax: the expected (x, y) of each softmax-normalised heatmap (integral regression).

    The heatmap of joint k is turned into a distribution p(m, n) by a spatial softmax of logits / T, and
    the joint position is its centre of gravity, x = sum p(m, n) x(m, n), y = sum p(m, n) y(m, n), with
    the fixed grids x(m, n) = n, y(m, n) = m (the course's 1-based grid shifted to 0). Unlike the hard argmax it is
    differentiable and gives sub-pixel positions.

    Reference: Sun et al., Integral Human Pose Regression, ECCV 2018 (arXiv:1711.08229).

    Args:
        temperature: float > 0; logits are divided by it before the softmax. Smaller values approach the
            hard argmax, larger ones smooth it.
        normalize: apply the spatial softmax (default). `False` for heatmaps that already sum to one
            (then `temperature` must stay 1).
        coordinate_scale: None (default) for heatmap pixels on the grid above; or the heatmap's stride s
            in input-image pixels (float, or `(sx, sy)`) for input-image pixel coordinates in the
            project's keypoint convention (pixel centres at integer + 0.5): `(x + 0.5) * s`.
        return_confidence: also return the peak probability max p(m, n) as a third value.

    Call arguments:
        heatmaps: `(N, H, W, K)` logits (or probabilities with `normalize=False`).

    Input shape: `(N, H, W, K)` with static H, W.
    Output shape: `(N, K, 2)` (x, y), or `(N, K, 3)` (x, y, confidence) with `return_confidence=True`.
    Always float32 (computed in float32 under mixed precision).

    Example:
        >>> heatmaps = np.zeros((1, 4, 4, 1), "float32"); heatmaps[0, 1, 2, 0] = 50.0
        >>> SoftArgmax2D()(heatmaps)   # ~[[[2., 1.]]]: x = column 2, y = row 1
    """

    rank = 2


@keras.saving.register_keras_serializable(package="vras_keras")
class SoftArgmax3D(_SoftArgmax):
    """Differentiable argmax on volumetric heatmaps: expected (x, y, z) of each softmax-normalised volume.

    Same as `SoftArgmax2D` with a third grid z(d, m, n) = d over the depth axis (Sun et al.'s 3-D
    integral regression).

    Reference: Sun et al., Integral Human Pose Regression, ECCV 2018 (arXiv:1711.08229).

    Args:
        temperature: float > 0, divides the logits before the softmax.
        normalize: apply the softmax over (D, H, W); `False` for volumes that already sum to one.
        coordinate_scale: None (voxel grid) or the stride per voxel (float, or `(sx, sy, sz)`), as in 2-D.
        return_confidence: append the peak probability as a fourth value.

    Call arguments:
        heatmaps: `(N, D, H, W, K)` logits.

    Input shape: `(N, D, H, W, K)` with static D, H, W.
    Output shape: `(N, K, 3)` (x, y, z), or `(N, K, 4)` with `return_confidence=True`. Float32.

    Example:
        >>> SoftArgmax3D(temperature=0.5)(keras.random.normal((2, 4, 8, 8, 17))).shape
        (2, 17, 3)
    """

    rank = 3


@keras.saving.register_keras_serializable(package="vras_keras")
class HeatmapArgmax2D(keras.layers.Layer):
    """Hard argmax decoding of heatmaps: position of each map's maximum and its softmax probability.

    The classic heatmap inference (Tompson et al., arXiv:1406.2984; Newell et al., arXiv:1603.06937):
    not differentiable, so it is used at inference only; positions are quantised to the heatmap grid.

    Args:
        coordinate_scale: None (heatmap pixels) or the heatmap stride (float or `(sx, sy)`), as in
            `SoftArgmax2D`.

    Call arguments:
        heatmaps: `(N, H, W, K)` logits.

    Input shape: `(N, H, W, K)`. Output shape: `(N, K, 3)`: x, y, confidence (peak softmax probability).

    Example:
        >>> HeatmapArgmax2D(coordinate_scale=4.0)(keras.random.normal((1, 16, 16, 10))).shape
        (1, 10, 3)
    """

    def __init__(self, coordinate_scale=None, **kwargs):
        super().__init__(**kwargs)
        scales = sa._scales(coordinate_scale, 2)
        self.coordinate_scale = None if scales is None else scales[0] if scales[0] == scales[1] else list(scales)

    def build(self, input_shape):
        if len(input_shape) != 4 or any(s is None for s in input_shape[1:]):
            raise ValueError(
                f"HeatmapArgmax2D expects heatmaps (N, H, W, K) with static H, W, K, received {tuple(input_shape)}"
            )

    def call(self, heatmaps):
        return sa.heatmap_argmax_2d(heatmaps, coordinate_scale=self.coordinate_scale)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1], 3)

    def compute_output_spec(self, heatmaps):
        return keras.KerasTensor(self.compute_output_shape(heatmaps.shape), dtype="float32")

    def get_config(self):
        return {**super().get_config(), "coordinate_scale": self.coordinate_scale}
