"""The parameter-free ("option A") shortcut of the CIFAR ResNets: subsample, then zero-pad channels."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="vras_keras")
class ZeroPadShortcut(keras.layers.Layer):
    """Identity shortcut that changes shape without parameters: `x[:, ::s, ::s, :]`, channels zero-padded.

    Reference: He, Zhang, Ren, Sun, Deep Residual Learning for Image Recognition, CVPR 2016
    (arXiv:1512.03385), section 4.2, option A.

    Args:
        filters: int, the number of output channels (>= the input channels); new channels are zeros,
            appended after the input channels.
        strides: int >= 1, spatial subsampling factor (keeps every `strides`-th row and column from 0).

    Call arguments:
        inputs: `(N, H, W, C)` with `C <= filters`.

    Output shape: `(N, ceil(H / strides), ceil(W / strides), filters)`.

    Example:
    >>> ZeroPadShortcut(filters=32, strides=2)(keras.Input((32, 32, 16))).shape
    (None, 16, 16, 32)
    """

    def __init__(self, filters, strides=1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
            raise ValueError(f"ZeroPadShortcut filters must be an int >= 1, received {filters!r}")
        if isinstance(strides, bool) or not isinstance(strides, int) or strides < 1:
            raise ValueError(f"ZeroPadShortcut strides must be an int >= 1, received {strides!r}")
        self.filters = filters
        self.strides = strides

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels > self.filters:
            raise ValueError(
                f"ZeroPadShortcut needs input channels <= filters={self.filters}, received shape {input_shape}"
            )

    def call(self, inputs):
        x = inputs
        if self.strides > 1:
            x = x[:, :: self.strides, :: self.strides, :]
        pad = self.filters - x.shape[-1]
        if pad:
            x = ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, pad]])
        return x

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        s = self.strides
        h = None if h is None else -(-h // s)
        w = None if w is None else -(-w // s)
        return (n, h, w, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides}
