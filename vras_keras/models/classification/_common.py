"""Helpers shared by the classification builders: argument checks, width scaling, head, model assembly."""

from __future__ import annotations

import os

import keras


def scaled(filters: int, width: float) -> int:
    """`filters * width` rounded, at least 1 (the `width` multiplier of the tiny test variants)."""
    return max(1, int(round(filters * width)))


def check_args(name: str, *, input_shape, num_classes, width, weights=None) -> None:
    """Validate the arguments every classification builder shares; raise ValueError naming the field."""
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"{name}: input_shape must be (height, width, channels), received {input_shape!r}")
    if input_shape[-1] is None:
        raise ValueError(f"{name}: the number of input channels must be known, received {input_shape!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"{name}: num_classes must be an int >= 1, received {num_classes!r}")
    if not isinstance(width, (int, float)) or not width > 0:
        raise ValueError(f"{name}: width must be a number > 0, received {width!r}")
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise ValueError(f"{name}: weights must be None, 'imagenet' or the path of a .safetensors, .weights.h5 "
                         f"or .keras file, received {weights!r}")


def norm_act(x, name: str, activation: str = "relu"):
    """BatchNorm → activation (the pre-activation order of WRN and DenseNet); names `{name}_bn`, `{name}_{act}`."""
    from vras_keras.layers import batch_norm

    x = batch_norm(name=f"{name}_bn")(x)
    return keras.layers.Activation(activation, name=f"{name}_{activation}")(x)


def classifier_head(x, num_classes: int, *, dropout_rate: float = 0.0, name: str = "logits"):
    """Global average pooling → (Dropout) → Dense logits (no softmax: train with `from_logits=True`).

    The logits layer computes in float32 under a mixed-precision policy too (the loss needs the range)."""
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout_rate:
        x = keras.layers.Dropout(dropout_rate, name="head_dropout")(x)
    return keras.layers.Dense(num_classes, name=name, dtype="float32")(x)


def finalize(inputs, outputs, *, name: str, include_top: bool, pyramid: dict, weights=None) -> keras.Model:
    """Build the functional model; without the top, expose `model.pyramid_outputs` (C_k at stride 2**k).

    `pyramid_outputs` is a Python attribute (as in KerasHub backbones): it is not saved in `.keras`
    files; `model.pyramid_layers` (level -> layer name) is kept alongside for rebuilding one.
    """
    model = keras.Model(inputs, outputs, name=name)
    # level -> layer name, also with the top: the stages of a staged fine-tune (training/finetune.py)
    model.pyramid_layers = {level: t._keras_history.operation.name for level, t in pyramid.items()}
    if not include_top:
        model.pyramid_outputs = dict(pyramid)
    if weights is not None:  # "imagenet" or a file: see vras_keras/models/pretrained.py
        from vras_keras.models.pretrained import load_weights

        load_weights(model, weights, arch=name)
    return model
