"""Bilinear upsampling kernels for learnable `Conv2DTranspose` upsampling (FCN)."""

from __future__ import annotations

import keras
import numpy as np


def bilinear_filter(kernel_size: int) -> np.ndarray:
    """The `(k, k)` bilinear interpolation filter (FCN's `upsample_filt`): for a stride-`s` transposed
    convolution with `k = 2s` and `"same"` padding it interpolates with half-pixel centres."""
    factor = (kernel_size + 1) // 2
    centre = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = np.arange(kernel_size, dtype=np.float64)
    f = 1.0 - np.abs(og - centre) / factor
    return np.outer(f, f).astype(np.float32)


def bilinear_kernel(kernel_size: int, channels: int) -> np.ndarray:
    """A `Conv2DTranspose` kernel `(k, k, channels, channels)`: channel i is upsampled into channel i."""
    kernel = np.zeros((kernel_size, kernel_size, channels, channels), np.float32)
    filt = bilinear_filter(kernel_size)
    for c in range(channels):
        kernel[:, :, c, c] = filt
    return kernel


@keras.saving.register_keras_serializable(package="vras_keras")
class BilinearUpsampling(keras.initializers.Initializer):
    """Initialise a square `Conv2DTranspose` kernel `(k, k, C, C)` to per-channel bilinear upsampling.

    Reference: Long et al., Fully Convolutional Networks for Semantic Segmentation, CVPR 2015
    (arXiv:1411.4038): "we initialize the 2× upsampling to bilinear interpolation, but allow the
    parameters to be learned".

    Example:
        >>> up = keras.layers.Conv2DTranspose(21, 4, strides=2, padding="same", use_bias=False,
        ...                                   kernel_initializer=BilinearUpsampling())
    """

    def __call__(self, shape, dtype=None):
        if len(shape) != 4 or shape[0] != shape[1] or shape[2] != shape[3]:
            raise ValueError(f"BilinearUpsampling needs a (k, k, C, C) kernel shape, received {tuple(shape)}")
        return keras.ops.convert_to_tensor(bilinear_kernel(int(shape[0]), int(shape[2])), dtype=dtype)

    def get_config(self):
        return {}
