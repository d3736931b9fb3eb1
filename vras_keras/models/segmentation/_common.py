"""Shared pieces of the segmentation heads: the argument check, the probability output, decoder blocks.

Width scaling, weights and backbone features come from the builder kit, `vras_keras.models.backbones`.
"""

from __future__ import annotations

import keras

from vras_keras.layers import BilinearUpsampling, batch_norm
from vras_keras.models.backbones import check_builder_args


def check_segmentation_args(name: str, *, input_shape, num_classes, width, weights, multiple=None) -> None:
    """`check_builder_args` with a static input and `num_classes >= 2` (labels include the background)."""
    check_builder_args(name, input_shape=input_shape, num_classes=num_classes, width=width, weights=weights,
                       min_classes=2, static=True, multiple=multiple)


def probabilities(logits, name: str = "probabilities"):
    """Per-pixel softmax, in float32 (also under mixed precision)."""
    return keras.layers.Activation("softmax", dtype="float32", name=name)(logits)


def learnable_upsampling(x, factor: int, name: str):
    """`Conv2DTranspose` with stride `factor`, kernel `2·factor`, initialised to bilinear (FCN)."""
    return keras.layers.Conv2DTranspose(
        x.shape[-1], 2 * factor, strides=factor, padding="same", use_bias=False,
        kernel_initializer=BilinearUpsampling(), name=name,
    )(x)


def deconv_norm_act(x, filters: int, kernel_size=3, *, name: str):
    """Transposed conv (bias-free) → BN → ReLU: the decoder block of DeconvNet (`{name}_deconv/_bn/_relu`)."""
    x = keras.layers.Conv2DTranspose(filters, kernel_size, padding="same", use_bias=False,
                                     kernel_initializer="he_normal", name=f"{name}_deconv")(x)
    x = batch_norm(name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)
