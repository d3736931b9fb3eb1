"""Local response normalisation (AlexNet) as a Keras layer."""

from __future__ import annotations

import keras

from vras_keras.ops.normalization import local_response_normalization


@keras.saving.register_keras_serializable(package="vras_keras")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalisation across channels, as in AlexNet.

    Reference: Krizhevsky, Sutskever, Hinton, ImageNet Classification with Deep Convolutional Neural
    Networks, NeurIPS 2012, section 3.3 (k = 2, n = 5, alpha = 1e-4, beta = 0.75).

    `y_c = x_c / (bias + alpha * sum_{|d - c| <= depth_radius} x_d^2) ** beta`. Converts to the TFLite
    built-in `LOCAL_RESPONSE_NORMALIZATION`. No weights.

    Args:
        depth_radius: int >= 0, half-width of the channel window (n = 2 * depth_radius + 1).
        bias: float > 0, k.
        alpha: float >= 0.
        beta: float >= 0.

    Call arguments:
        inputs: `(N, H, W, C)` tensor.

    Input/output shape: `(N, H, W, C)`.

    Example:
    >>> LocalResponseNormalization()(keras.Input((55, 55, 96))).shape
    (None, 55, 55, 96)
    """

    def __init__(self, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        if isinstance(depth_radius, bool) or not isinstance(depth_radius, int) or depth_radius < 0:
            raise ValueError(f"depth_radius must be an int >= 0, received {depth_radius!r}")
        if not bias > 0:
            raise ValueError(f"bias must be > 0, received {bias!r}")
        if alpha < 0 or beta < 0:
            raise ValueError(f"alpha and beta must be >= 0, received alpha={alpha!r}, beta={beta!r}")
        self.depth_radius = depth_radius
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, inputs):
        return local_response_normalization(inputs, self.depth_radius, self.bias, self.alpha, self.beta)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "depth_radius": self.depth_radius,
            "bias": self.bias,
            "alpha": self.alpha,
            "beta": self.beta,
        }
