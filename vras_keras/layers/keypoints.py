"""Local-feature layers for LIFT: `OrientedPatches`, `OrientationAngle`, `KeypointNMS`, `ScaleSpaceKeypoints`,
`GaussianBlur` and `ChannelMean`.

Thin wrappers over `vras_keras.ops.keypoints` (conventions there). All convert to TFLite built-ins.
"""

from __future__ import annotations

import keras
import numpy as np

from vras_keras.ops import keypoints as kp


@keras.saving.register_keras_serializable(package="vras_keras")
class OrientedPatches(keras.layers.Layer):
    """Crops (and rotates) square patches around keypoints: a spatial transformer with given parameters.

    Reference: Yi et al., LIFT: Learned Invariant Feature Transform, ECCV 2016 (arXiv:1603.09114).

    Args:
        output_size: side S of the output patches.
        support: side (pixels of the input) of the region each patch covers.
        padding_mode: `"zeros"` or `"border"` for samples outside the image.
        flatten: return `(N * K, S, S, C)` instead of `(N, K, S, S, C)` (to feed a patch network).

    Call arguments:
        inputs: `[images, keypoints]` or `[images, keypoints, orientations]`: images `(N, H, W, C)`,
            keypoints `(N, K, 2)` `(x, y)` pixels, orientations `(N, K, 2)` vectors `(cos, sin)` (any
            length) or `(N, K)` angles in radians.

    Returns:
        `(N, K, S, S, C)` (or `(N * K, S, S, C)`), differentiable with respect to all inputs.

    Example:
    >>> patches = OrientedPatches(16, 32.0)([images, keypoints, orientations])
    """

    def __init__(self, output_size, support, padding_mode="zeros", flatten=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(output_size, bool) or not isinstance(output_size, (int, np.integer)) or output_size < 1:
            raise ValueError(f"output_size must be a positive int; received {output_size!r}")
        if (
            isinstance(support, bool)
            or not isinstance(support, (int, float, np.integer, np.floating))
            or not support > 0
        ):
            raise ValueError(f"support must be a positive number of pixels; received {support!r}")
        if padding_mode not in ("zeros", "border"):
            raise ValueError(f"padding_mode must be 'zeros' or 'border'; received {padding_mode!r}")
        self.output_size = int(output_size)
        self.support = float(support)
        self.padding_mode = padding_mode
        self.flatten = bool(flatten)

    def _split(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise ValueError("OrientedPatches expects [images, keypoints] or [images, keypoints, orientations]")
        return inputs[0], inputs[1], (inputs[2] if len(inputs) == 3 else None)

    def call(self, inputs):
        images, keypoints, orientations = self._split(inputs)
        patches = kp.oriented_patches(images, keypoints, orientations, output_size=self.output_size,
                                      support=self.support, padding_mode=self.padding_mode)
        if self.flatten:
            patches = keras.ops.reshape(patches, (-1, self.output_size, self.output_size, patches.shape[-1]))
        return patches

    def compute_output_shape(self, input_shape):
        images, keypoints = input_shape[0], input_shape[1]
        s = self.output_size
        if self.flatten:
            n = None if images[0] is None or keypoints[1] is None else images[0] * keypoints[1]
            return (n, s, s, images[-1])
        return (images[0], keypoints[1], s, s, images[-1])

    def compute_output_spec(self, inputs):
        images, keypoints, _ = self._split(inputs)
        return keras.KerasTensor(self.compute_output_shape([images.shape, keypoints.shape]), dtype=images.dtype)

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size, "support": self.support,
                "padding_mode": self.padding_mode, "flatten": self.flatten}


@keras.saving.register_keras_serializable(package="vras_keras")
class OrientationAngle(keras.layers.Layer):
    """`(..., 2)` orientation vectors `(cos, sin)` (any length) → `(...)` angles in radians (atan2).

    Call arguments:
        vectors: `(..., 2)`.

    Returns:
        `(...)` angles in (-pi, pi].
    """

    def call(self, vectors):
        return kp.vector_to_angle(vectors)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])


class _KeypointSelector(keras.layers.Layer):
    """Shared input / output handling of the keypoint-selection layers: `maps` or `[maps, images]` in,
    `[keypoints (N, K, 2)]` plus `num_outputs - 1` per-keypoint `(N, K)` tensors out, K = `max_keypoints`."""

    num_outputs = 3

    @staticmethod
    def _split(inputs):
        return (inputs[0], inputs[1]) if isinstance(inputs, (list, tuple)) else (inputs, None)

    def compute_output_shape(self, input_shape):
        maps = input_shape[0] if isinstance(input_shape[0], (list, tuple)) else input_shape
        n, k = maps[0], self.max_keypoints
        return [(n, k, 2)] + [(n, k)] * (self.num_outputs - 1)

    def compute_output_spec(self, inputs):
        maps, _ = self._split(inputs)
        return [keras.KerasTensor(s, dtype="float32") for s in self.compute_output_shape(maps.shape)]


@keras.saving.register_keras_serializable(package="vras_keras")
class KeypointNMS(_KeypointSelector):
    """Keypoints from score maps: local maxima (max-pool NMS), away from the border, on textured
    image regions, the `max_keypoints` strongest (`vras_keras.ops.nms_keypoints`).

    Args:
        max_keypoints: K, entries returned per image (padding flagged invalid).
        radius: NMS radius (window `2 radius + 1`).
        border: minimum distance (pixels) from the image edge.
        min_contrast: minimum local gray-level standard deviation (0..255 units) of the image around a
            keypoint; needs the image as second input.
        contrast_window: window of that standard deviation.
        min_score: None, or keep only maxima whose score exceeds it.
        subpixel: refine the maxima to sub-pixel positions (`vras_keras.ops.keypoints.refine_subpixel`).
        edge_ratio: None, or drop edge-like maxima whose principal-curvature ratio reaches it
            (`vras_keras.ops.keypoints.edge_response_mask`, SIFT's test).

    Call arguments:
        inputs: `scores` `(N, H, W, 1)` or `[scores, images]` (images `(N, H, W, C)` in 0..255).

    Returns:
        `[keypoints (N, K, 2) (x, y) pixels, scores (N, K), valid (N, K) float32 1/0]`.
    """

    def __init__(self, max_keypoints, radius=2, border=0, min_contrast=0.0, contrast_window=9, min_score=None,
                 subpixel=False, edge_ratio=None, **kwargs):
        super().__init__(**kwargs)
        for name, value, low in (("max_keypoints", max_keypoints, 1), ("radius", radius, 0), ("border", border, 0),
                                 ("contrast_window", contrast_window, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an int >= {low}; received {value!r}")
        if not min_contrast >= 0:
            raise ValueError(f"min_contrast must be >= 0; received {min_contrast!r}")
        self.max_keypoints, self.radius, self.border = int(max_keypoints), int(radius), int(border)
        self.min_contrast, self.contrast_window = float(min_contrast), int(contrast_window)
        if min_score is not None and (isinstance(min_score, bool) or not np.isfinite(min_score)):
            raise ValueError(f"min_score must be None or a finite number; received {min_score!r}")
        self.min_score = None if min_score is None else float(min_score)
        self.subpixel = bool(subpixel)
        if edge_ratio is not None and not edge_ratio >= 1:
            raise ValueError(f"edge_ratio must be None or >= 1; received {edge_ratio!r}")
        self.edge_ratio = None if edge_ratio is None else float(edge_ratio)

    def call(self, inputs):
        scores, images = self._split(inputs)
        points, values, valid = kp.nms_keypoints(
            scores, self.max_keypoints, radius=self.radius, border=self.border, images=images,
            min_contrast=self.min_contrast, contrast_window=self.contrast_window, min_score=self.min_score,
            subpixel=self.subpixel, edge_ratio=self.edge_ratio)
        return [points, values, keras.ops.cast(valid, "float32")]

    def get_config(self):
        return {**super().get_config(), "max_keypoints": self.max_keypoints, "radius": self.radius,
                "border": self.border, "min_contrast": self.min_contrast, "contrast_window": self.contrast_window,
                "min_score": self.min_score, "subpixel": self.subpixel,
                "edge_ratio": self.edge_ratio}


@keras.saving.register_keras_serializable(package="vras_keras")
class ScaleSpaceKeypoints(_KeypointSelector):
    """SIFT-style keypoints from a stack of band-pass responses: 3-D (space x scale) extrema with the edge
    test, 3-D quadratic refinement and contrast threshold, the `max_keypoints` strongest
    (`vras_keras.ops.keypoints.scale_space_keypoints`; Lowe, IJCV 2004). Built-in TFLite ops only.

    Args:
        max_keypoints: K, entries returned per image (padding flagged invalid).
        threshold: minimum (interpolated) |response| of a kept extremum.
        border: minimum distance (pixels) from the image edge.
        min_contrast: minimum local gray-level standard deviation (0..255 units) of the image around a
            keypoint; needs the image as second input.
        edge_ratio: None or SIFT's principal-curvature ratio limit (>= 1).
        refine: "3d" (x, y, scale), "2d" (x, y) or None (integer positions).
        min_keypoints, low_threshold: an image with fewer than `min_keypoints` extrema above `threshold` keeps
            the strongest ones down to `low_threshold` until it has `min_keypoints` (0 / None: off).

    Call arguments:
        inputs: `responses` `(N, H, W, S)` or `[responses, images]` (images `(N, H, W, C)` in 0..255).

    Returns:
        `[keypoints (N, K, 2) (x, y) pixels, values (N, K), valid (N, K) float32 1/0, scale (N, K) channel]`.

    Example:
    >>> layer = ScaleSpaceKeypoints(100, threshold=0.3, border=16)
    >>> points, values, valid, scale = layer([dog_responses, images])
    """

    num_outputs = 4

    def __init__(self, max_keypoints, threshold=0.3, border=0, min_contrast=0.0, edge_ratio=10.0, refine="3d",
                 min_keypoints=0, low_threshold=None, **kwargs):
        super().__init__(**kwargs)
        for name, value, low in (("max_keypoints", max_keypoints, 1), ("border", border, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an int >= {low}; received {value!r}")
        if isinstance(threshold, bool) or not np.isfinite(threshold) or threshold < 0:
            raise ValueError(f"threshold must be a finite number >= 0; received {threshold!r}")
        if not min_contrast >= 0:
            raise ValueError(f"min_contrast must be >= 0; received {min_contrast!r}")
        if edge_ratio is not None and not edge_ratio >= 1:
            raise ValueError(f"edge_ratio must be None or >= 1; received {edge_ratio!r}")
        if refine not in ("3d", "2d", None):
            raise ValueError(f"refine must be '3d', '2d' or None; received {refine!r}")
        self.max_keypoints, self.border = int(max_keypoints), int(border)
        self.threshold, self.min_contrast = float(threshold), float(min_contrast)
        self.edge_ratio = None if edge_ratio is None else float(edge_ratio)
        self.refine = refine
        kp._lowest_threshold(self.threshold, min_keypoints, low_threshold)  # checks both as the op does
        self.min_keypoints = int(min_keypoints)
        self.low_threshold = None if low_threshold is None else float(low_threshold)

    def call(self, inputs):
        responses, images = self._split(inputs)
        points, values, valid, scale = kp.scale_space_keypoints(
            responses, self.max_keypoints, threshold=self.threshold, border=self.border, images=images,
            min_contrast=self.min_contrast, edge_ratio=self.edge_ratio, refine=self.refine,
            min_keypoints=self.min_keypoints, low_threshold=self.low_threshold)
        return [points, values, keras.ops.cast(valid, "float32"), scale]

    def get_config(self):
        return {**super().get_config(), "max_keypoints": self.max_keypoints, "threshold": self.threshold,
                "border": self.border, "min_contrast": self.min_contrast, "edge_ratio": self.edge_ratio,
                "refine": self.refine, "min_keypoints": self.min_keypoints, "low_threshold": self.low_threshold}


@keras.saving.register_keras_serializable(package="vras_keras")
class GaussianBlur(keras.layers.Layer):
    """Fixed Gaussian blur of each channel (`kp.gaussian_kernel_1d(sigma)`, zero padding, stride 1): the
    presmoothing LIFT's scale-space keypoints apply before the DoG front end (`lift_inference_model`), as SIFT
    smooths its first octave. A depthwise convolution (TFLite's built-in `DEPTHWISE_CONV_2D`); no weights.

    Args:
        sigma: standard deviation in pixels (> 0).

    Example:
    >>> GaussianBlur(0.6)(images).shape == images.shape
    """

    def __init__(self, sigma, **kwargs):
        super().__init__(**kwargs)
        self.sigma = kp.check_presmooth(sigma)
        if self.sigma == 0:
            raise ValueError("GaussianBlur needs sigma > 0 px; received 0")

    def call(self, images):
        g = kp.gaussian_kernel_1d(self.sigma)
        channels = images.shape[-1]
        kernel = np.tile(np.outer(g, g)[:, :, None, None], (1, 1, channels, 1)).astype(np.float32)
        return keras.ops.depthwise_conv(images, keras.ops.convert_to_tensor(kernel, images.dtype), strides=1,
                                        padding="same")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "sigma": self.sigma}


@keras.saving.register_keras_serializable(package="vras_keras")
class ChannelMean(keras.layers.Layer):
    """Mean over the channel axis, kept as one channel: `(..., C)` → `(..., 1)` (RGB → gray level).

    LIFT's descriptor and orientation networks use it with `grayscale=True`, so that they see the same
    gray patches whatever the colours of a photograph (it generalises better to new photographs).

    Example:
    >>> ChannelMean()(np.ones((2, 8, 8, 3)) * [0.0, 3.0, 6.0]).shape   # (2, 8, 8, 1), all 3.0
    """

    def call(self, x):
        return keras.ops.mean(x, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (1,)


def _whole(name: str, value, low: int) -> int:
    """`value` as an int >= `low` (not a bool), or a ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int >= {low}; received {value!r}")
    return int(value)


@keras.saving.register_keras_serializable(package="vras_keras")
class MergeOctaves(keras.layers.Layer):
    """Keypoints found on several octaves of an image (octave o: the image halved o times by 2 x 2 averages) →
    the `max_keypoints` strongest of all, positions in the first octave's pixels (pixel centres at integers:
    `x_0 = (x_o + 0.5) 2^o - 0.5`). Ties go to the finer octave.

    Args:
        max_keypoints: K.

    Call arguments:
        inputs: `[points_0, values_0, valid_0, points_1, values_1, valid_1, ...]`, as `ScaleSpaceKeypoints`
            gives them for each octave (`(N, K_o, 2)`, `(N, K_o)`, `(N, K_o)` 1/0).

    Returns:
        `[keypoints (N, K, 2), values (N, K), valid (N, K) float32 1/0, octave (N, K) float32]`.
    """

    def __init__(self, max_keypoints, **kwargs):
        super().__init__(**kwargs)
        self.max_keypoints = _whole("max_keypoints", max_keypoints, 1)

    def call(self, inputs):
        ops = keras.ops
        if len(inputs) % 3:
            raise ValueError(f"MergeOctaves takes points, values, valid per octave; received {len(inputs)} inputs")
        points, values, octave = [], [], []
        for o in range(len(inputs) // 3):
            p, v, ok = inputs[3 * o:3 * o + 3]
            values.append(ops.where(ops.cast(ok, "bool"), v, kp.INVALID_SCORE))
            points.append((p + 0.5) * float(2 ** o) - 0.5)
            octave.append(ops.full_like(v, float(o)))
        values, points, octave = (ops.concatenate(t, axis=1) for t in (values, points, octave))
        top, order = ops.top_k(values, self.max_keypoints, sorted=True)
        order = ops.cast(order, "int32")
        xy = ops.stack([ops.take_along_axis(points[..., 0], order, axis=1),
                        ops.take_along_axis(points[..., 1], order, axis=1)], axis=-1)
        valid = ops.cast(top > kp.INVALID_SCORE / 2, "float32")
        return [xy, top, valid, ops.take_along_axis(octave, order, axis=1)]

    def compute_output_shape(self, input_shape):
        n, k = input_shape[0][0], self.max_keypoints
        return [(n, k, 2), (n, k), (n, k), (n, k)]

    def get_config(self):
        return {**super().get_config(), "max_keypoints": self.max_keypoints}


@keras.saving.register_keras_serializable(package="vras_keras")
class OctavePoints(keras.layers.Layer):
    """Keypoints `(..., 2)` in the first octave's pixels → in octave `octave`'s: `(x + 0.5) / 2^octave - 0.5`."""

    def __init__(self, octave, **kwargs):
        super().__init__(**kwargs)
        self.octave = _whole("octave", octave, 0)

    def call(self, points):
        return (points + 0.5) / float(2 ** self.octave) - 0.5

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "octave": self.octave}


@keras.saving.register_keras_serializable(package="vras_keras")
class SelectOctave(keras.layers.Layer):
    """Per keypoint, the entry of its own octave: `[octave (N, K), x_0 (N, K, ...), x_1, ...]` → `x_octave`
    `(N, K, ...)` (e.g. the crops of each keypoint taken from every octave image, `MergeOctaves`' octave)."""

    def call(self, inputs):
        ops = keras.ops
        octave, first, rest = inputs[0], inputs[1], inputs[2:]
        out = first
        for o, x in enumerate(rest, start=1):
            mask = ops.equal(octave, float(o))
            for _ in range(len(x.shape) - 2):
                mask = ops.expand_dims(mask, -1)
            out = ops.where(mask, x, out)
        return out

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[1])
