"""Shared pieces of the segmentation heads: the probability output, backbone access, decoder blocks."""

from __future__ import annotations

import os

import keras

from vras_keras.layers import BilinearUpsampling, batch_norm
from vras_keras.models.backbones import backbone_model, pyramid_outputs


def check_segmentation_args(name: str, *, input_shape, num_classes) -> None:
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3 or any(d is None for d in input_shape):
        raise ValueError(f"{name}: input_shape must be a static (height, width, channels), received {input_shape!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"{name}: num_classes must be an int >= 2 (labels incl. background), received {num_classes!r}")


def backbone_and_pyramid(backbone, *, backbone_weights=None, **builder_kwargs):
    """`(inputs, pyramid)` of a backbone (registry id or model) whose layers become part of the head's graph.

    `backbone_weights` (None, "imagenet" or a file) is the backbone builder's `weights=`."""
    if backbone_weights is not None:
        builder_kwargs["weights"] = backbone_weights
    model = backbone_model(backbone, **builder_kwargs)
    return model.inputs[0], pyramid_outputs(model), model


def segmentation_model(inputs, outputs, *, name: str, weights=None) -> keras.Model:
    """The functional model; `weights` is None or a `.weights.h5` file of the whole model (never downloaded)."""
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        if not os.path.exists(os.fspath(weights)):
            raise FileNotFoundError(f"{name}: weights file {os.fspath(weights)!r} does not exist (no weights are downloaded)")
        model.load_weights(weights)
    return model


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
