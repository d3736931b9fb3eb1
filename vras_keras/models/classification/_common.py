"""Pieces shared by the classification builders: pre-activation BN-act, the pooled head, model assembly.

Width scaling, argument checks and weights come from the builder kit, `vras_keras.models.backbones`.
"""

from __future__ import annotations

import keras

from vras_keras.layers import batch_norm
from vras_keras.models.backbones import expose_pyramid, load_weights


def norm_act(x, name: str, activation: str = "relu"):
    """BatchNorm → activation (the pre-activation order of WRN and DenseNet); names `{name}_bn`, `{name}_{act}`."""
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
    """The functional model; without the top it exposes `pyramid_outputs` (C_k at stride 2**k, see
    `backbones.expose_pyramid`); `weights` (None, "imagenet" or a file) go through `backbones.load_weights`."""
    model = keras.Model(inputs, outputs, name=name)
    # level -> layer name, also with the top: the stages of a staged fine-tune (training/finetune.py)
    model.pyramid_layers = {level: t._keras_history.operation.name for level, t in pyramid.items()}
    if not include_top:
        expose_pyramid(model, pyramid)
    return load_weights(model, weights, arch=name)
