"""Squeeze-and-Excitation: channel re-weighting by a gate computed from globally pooled features."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="vras_keras")
class SqueezeExcite(keras.layers.Layer):
    """Squeeze-and-Excitation block: `x * sigmoid(W2 relu(W1 mean_hw(x) + b1) + b2)`.

    Reference: Hu, Shen, Sun, Squeeze-and-Excitation Networks, CVPR 2018 (arXiv:1709.01507).

    The two fully-connected layers have biases (as in the paper and torchvision-style SE-ResNets), so a
    block on `C` channels has `2 * C * (C // ratio) + C // ratio + C` trainable parameters.

    Args:
        ratio: int >= 1, the reduction ratio `r`: the bottleneck has `max(1, C // ratio)` units
            (the paper uses `r = 16`).
        activation: activation of the bottleneck FC (a Keras activation name, default `"relu"`).
        gate_activation: activation of the gate (default `"sigmoid"`).

    Call arguments:
        inputs: `(N, H, W, C)` feature maps.

    Input shape: `(N, H, W, C)`. Output shape: the same.

    Example:
    >>> x = keras.Input((8, 8, 64))
    >>> y = SqueezeExcite(ratio=16)(x)   # 64 -> 4 -> 64 gate, y.shape == (None, 8, 8, 64)
    """

    def __init__(self, ratio=16, activation="relu", gate_activation="sigmoid", **kwargs):
        super().__init__(**kwargs)
        if isinstance(ratio, bool) or not isinstance(ratio, int) or ratio < 1:
            raise ValueError(f"SqueezeExcite ratio must be an int >= 1 (the reduction r), received {ratio!r}")
        self.ratio = ratio
        self.activation = activation
        self.gate_activation = gate_activation
        self._act = keras.activations.get(activation)
        self._gate = keras.activations.get(gate_activation)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(
                f"SqueezeExcite expects (N, H, W, C) inputs with a known C, received shape {input_shape}"
            )
        channels = int(input_shape[-1])
        self.units = max(1, channels // self.ratio)
        self.reduce_kernel = self.add_weight(
            name="reduce_kernel", shape=(channels, self.units), initializer="he_normal"
        )
        self.reduce_bias = self.add_weight(name="reduce_bias", shape=(self.units,), initializer="zeros")
        self.expand_kernel = self.add_weight(
            name="expand_kernel", shape=(self.units, channels), initializer="glorot_uniform"
        )
        self.expand_bias = self.add_weight(name="expand_bias", shape=(channels,), initializer="zeros")

    def call(self, inputs):
        squeezed = ops.mean(inputs, axis=(1, 2))
        hidden = self._act(ops.matmul(squeezed, self.reduce_kernel) + self.reduce_bias)
        gate = self._gate(ops.matmul(hidden, self.expand_kernel) + self.expand_bias)
        return inputs * ops.expand_dims(ops.expand_dims(gate, 1), 1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "ratio": self.ratio,
            "activation": self.activation,
            "gate_activation": self.gate_activation,
        }
