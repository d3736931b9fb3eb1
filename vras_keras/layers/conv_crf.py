"""ConvCRF: a mean-field CRF with truncated Gaussian kernels, as a differentiable Keras layer."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from vras_keras.ops import crf

COMPATIBILITIES = ("potts", "learned")


def _positive(value, name):
    if not isinstance(value, (int, float, np.floating, np.integer)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{name} must be a number > 0, received {value!r}")
    return float(value)


def _non_negative(value, name):
    if not isinstance(value, (int, float, np.floating, np.integer)) or isinstance(value, bool) or not value >= 0:
        raise ValueError(f"{name} must be a number >= 0, received {value!r}")
    return float(value)


@keras.saving.register_keras_serializable(package="vras_keras")
class ConvCRF(keras.layers.Layer):
    """Convolutional CRF: mean-field inference with appearance and smoothness kernels in a local window.

    Reference: Teichmann & Cipolla, Convolutional CRFs for Semantic Segmentation, BMVC 2019
    (arXiv:1805.04777); energy of Krähenbühl & Koltun (arXiv:1210.5644) as used by DeepLab
    (arXiv:1606.00915). `vras_keras.ops.crf` documents the computation.

    Each of the `iterations` steps sends, to every pixel i, the messages
    `Σ_j [w1·exp(−|p_i−p_j|²/2σα² − |I_i−I_j|²/2σβ²) + w2·exp(−|p_i−p_j|²/2σγ²)] · Q_j` from the pixels j of
    its `filter_size`×`filter_size` window, applies the compatibility (Potts, or a learned L×L matrix
    initialised to Potts) and renormalises with a softmax. With w1 = w2 = 0 the output is `softmax(unary)`.
    Built from pads, static slices, element-wise ops, average pooling and bilinear resizing: it converts
    to TFLite built-ins.

    Args:
        num_classes: L, the number of labels.
        filter_size: odd window size (default 7).
        iterations: mean-field steps (default 5; 0 returns `softmax(unary)`).
        appearance_weight: w1 (>= 0).
        appearance_position_sigma: σα in pixels.
        appearance_color_sigma: σβ in the image's units (0..255 colour for vras_keras models).
        smoothness_weight: w2 (>= 0).
        smoothness_sigma: σγ in pixels.
        blur: compute messages on a grid downsampled by this factor (1 = full resolution); the
            paper uses 4 for speed.
        compatibility: `"potts"` (μ(l, l') = [l ≠ l'], fixed) or `"learned"` (an L×L matrix, trainable,
            initialised to Potts).
        trainable_kernels: make w1, σα, σβ, w2, σγ trainable (otherwise they are fixed weights).

    Call arguments:
        inputs: `[unary, image]`: unary logits `(N, H, W, L)` and the image `(N, H, W, C)` with the same
            H and W (e.g. the model's 0..255 input).

    Returns:
        `(N, H, W, L)` class probabilities.

    Raises:
        ValueError: bad arguments; image and unary of different sizes; L != num_classes.

    Example:
        >>> crf = ConvCRF(num_classes=21, filter_size=7, iterations=5)
        >>> probabilities = crf([logits, images])
    """

    def __init__(
        self,
        num_classes,
        filter_size=7,
        iterations=5,
        appearance_weight=3.0,
        appearance_position_sigma=80.0,
        appearance_color_sigma=13.0,
        smoothness_weight=1.0,
        smoothness_sigma=3.0,
        blur=1,
        compatibility="potts",
        trainable_kernels=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, received {num_classes!r}")
        if not isinstance(filter_size, (int, np.integer)) or filter_size < 3 or filter_size % 2 == 0:
            raise ValueError(f"filter_size must be an odd int >= 3, received {filter_size!r}")
        if not isinstance(iterations, (int, np.integer)) or iterations < 0:
            raise ValueError(f"iterations must be an int >= 0, received {iterations!r}")
        if not isinstance(blur, (int, np.integer)) or blur < 1:
            raise ValueError(f"blur must be an int >= 1, received {blur!r}")
        if compatibility not in COMPATIBILITIES:
            raise ValueError(f"compatibility must be one of {COMPATIBILITIES}, received {compatibility!r}")
        self.num_classes = int(num_classes)
        self.filter_size = int(filter_size)
        self.iterations = int(iterations)
        self.appearance_weight = _non_negative(appearance_weight, "appearance_weight")
        self.appearance_position_sigma = _positive(appearance_position_sigma, "appearance_position_sigma")
        self.appearance_color_sigma = _positive(appearance_color_sigma, "appearance_color_sigma")
        self.smoothness_weight = _non_negative(smoothness_weight, "smoothness_weight")
        self.smoothness_sigma = _positive(smoothness_sigma, "smoothness_sigma")
        self.blur = int(blur)
        self.compatibility = compatibility
        self.trainable_kernels = bool(trainable_kernels)

    _KERNEL_PARAMETERS = (
        "appearance_weight",
        "appearance_position_sigma",
        "appearance_color_sigma",
        "smoothness_weight",
        "smoothness_sigma",
    )

    def _check_shapes(self, unary_shape, image_shape):
        unary_shape, image_shape = tuple(unary_shape), tuple(image_shape)
        if len(unary_shape) != 4 or len(image_shape) != 4:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} takes [unary (N, H, W, L), image (N, H, W, C)], received "
                f"shapes {unary_shape} and {image_shape}"
            )
        for axis in (1, 2):
            a, b = unary_shape[axis], image_shape[axis]
            if a is not None and b is not None and a != b:
                raise ValueError(
                    f"{type(self).__name__} {self.name!r}: image and unary must have the same height and width, "
                    f"received unary shape {unary_shape} and image shape {image_shape}"
                )
        if unary_shape[-1] is not None and unary_shape[-1] != self.num_classes:
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: unary has {unary_shape[-1]} channels (shape {unary_shape}), "
                f"expected num_classes={self.num_classes}"
            )

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError(
                f"{type(self).__name__} is called on [unary, image], received input shape {input_shape}"
            )
        self._check_shapes(*input_shape)
        for name in self._KERNEL_PARAMETERS:
            weight = self.add_weight(
                name=name,
                shape=(),
                initializer=keras.initializers.Constant(getattr(self, name)),
                trainable=self.trainable_kernels,
            )
            setattr(self, f"{name}_variable", weight)
        if self.compatibility == "learned":
            potts = np.ones((self.num_classes, self.num_classes), np.float32) - np.eye(
                self.num_classes, dtype=np.float32
            )
            self.compatibility_matrix = self.add_weight(
                name="compatibility_matrix",
                shape=(self.num_classes, self.num_classes),
                initializer=keras.initializers.Constant(potts),
                trainable=True,
            )
        self.built = True

    def call(self, inputs):
        unary, image = inputs
        self._check_shapes(unary.shape, image.shape)
        image = ops.cast(image, unary.dtype)
        parameters = {
            name: ops.cast(getattr(self, f"{name}_variable"), unary.dtype) for name in self._KERNEL_PARAMETERS
        }
        compatibility = None
        if self.compatibility == "learned":
            compatibility = ops.cast(self.compatibility_matrix, unary.dtype)
        return crf.mean_field(
            unary,
            image,
            filter_size=self.filter_size,
            iterations=self.iterations,
            blur=self.blur,
            compatibility=compatibility,
            **parameters,
        )

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "filter_size": self.filter_size,
            "iterations": self.iterations,
            "appearance_weight": self.appearance_weight,
            "appearance_position_sigma": self.appearance_position_sigma,
            "appearance_color_sigma": self.appearance_color_sigma,
            "smoothness_weight": self.smoothness_weight,
            "smoothness_sigma": self.smoothness_sigma,
            "blur": self.blur,
            "compatibility": self.compatibility,
            "trainable_kernels": self.trainable_kernels,
        }
