"""GoogLeNet / Inception v1 with the paper's Table 1 filters, its 5×5 branch, BN, and auxiliary heads.

Reference: Szegedy et al., Going Deeper with Convolutions, CVPR 2015 (arXiv:1409.4842).

Every conv is bias-free and followed by BN + ReLU (as torchvision's GoogLeNet, which otherwise replaces
the 5×5 branch by a 3×3: we keep the paper's 5×5, 7,005,832 parameters without aux heads). Max-pools are
3×3/2 with "same" padding (224 → 112 → 56 → 28 → 14 → 7).

With `aux_logits=True` the model has three outputs `[logits, aux1_logits, aux2_logits]` (heads after
4a and 4d: 5×5/3 average pool → 1×1 conv 128 → fc 1024 → Dropout 0.7 → logits). Train it with
`googlenet_compile_args()` (loss weights 1, 0.3, 0.3) and targets `(y, y, y)`; deploy
`googlenet_inference_model(model)`, which shares the weights and outputs the main logits only.
"""

from __future__ import annotations

import keras

from vras_keras.layers import SqueezeExcite, conv_norm_act, image_input
from vras_keras.models.backbones import check_builder_args, scaled
from vras_keras.models.classification._common import finalize
from vras_keras.models.registry import register

# Table 1: (#1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj)
INCEPTION = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
AUX_LOSS_WEIGHTS = (1.0, 0.3, 0.3)


def inception_module(x, filters, *, width=1.0, se_ratio=None, name):
    """Four parallel branches (1×1; 1×1→3×3; 1×1→5×5; 3×3 max-pool→1×1) concatenated on channels."""
    f1, f3r, f3, f5r, f5, fp = (scaled(f, width) for f in filters)
    b1 = conv_norm_act(x, f1, 1, name=f"{name}_1x1")
    b2 = conv_norm_act(x, f3r, 1, name=f"{name}_3x3_reduce")
    b2 = conv_norm_act(b2, f3, 3, name=f"{name}_3x3")
    b3 = conv_norm_act(x, f5r, 1, name=f"{name}_5x5_reduce")
    b3 = conv_norm_act(b3, f5, 5, name=f"{name}_5x5")
    b4 = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    b4 = conv_norm_act(b4, fp, 1, name=f"{name}_pool_proj")
    x = keras.layers.Concatenate(name=f"{name}_concat")([b1, b2, b3, b4])
    if se_ratio:
        x = SqueezeExcite(se_ratio, name=f"{name}_se")(x)
    return x


def _aux_head(x, num_classes, width, name):
    h, w = x.shape[1], x.shape[2]
    if h is None or w is None:
        raise ValueError("googlenet: aux_logits=True needs a fixed input_shape (the aux heads flatten a 4×4 map)")
    if min(h, w) >= 5:
        x = keras.layers.AveragePooling2D(5, strides=3, name=f"{name}_pool")(x)
    else:  # tiny inputs: pool the whole map
        x = keras.layers.AveragePooling2D((h, w), name=f"{name}_pool")(x)
    x = conv_norm_act(x, scaled(128, width), 1, name=f"{name}_conv")
    x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    x = keras.layers.Dense(scaled(1024, width), activation="relu", name=f"{name}_fc")(x)
    x = keras.layers.Dropout(0.7, name=f"{name}_dropout")(x)
    return keras.layers.Dense(num_classes, name=f"{name}_logits", dtype="float32")(x)


@register("googlenet", task="classification")
def googlenet(*, input_shape=(224, 224, 3), num_classes=1000, include_top=True, weights=None, aux_logits=False,
              se_ratio=None, width=1.0, dropout_rate=0.4):
    """GoogLeNet / Inception v1 (paper Table 1, 5×5 branch, BN), optional auxiliary classifiers.

    Args:
        input_shape, num_classes, include_top, weights, width: as every classification builder.
        aux_logits: add the two auxiliary heads; the model then outputs `[logits, aux1_logits, aux2_logits]`.
        se_ratio: None or the SE reduction ratio applied to every inception module's output.
        dropout_rate: dropout of the main head (0.4 in the paper), after pooling (no BN follows).

    Without the top, `pyramid_outputs` = {"C1": conv1, "C2": conv2, "C3": 3b, "C4": 4e, "C5": 5b}.
    """
    check_builder_args("googlenet", input_shape=input_shape, num_classes=num_classes, width=width, weights=weights)
    if aux_logits and not include_top:
        raise ValueError("googlenet: aux_logits=True needs include_top=True")
    if se_ratio is not None and (isinstance(se_ratio, bool) or not isinstance(se_ratio, int) or se_ratio < 1):
        raise ValueError(f"googlenet: se_ratio must be None or an int >= 1, received {se_ratio!r}")
    inputs, x = image_input(input_shape)
    x = conv_norm_act(x, scaled(64, width), 7, strides=2, name="conv1")
    pyramid = {"C1": x}
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    x = conv_norm_act(x, scaled(64, width), 1, name="conv2_reduce")
    x = conv_norm_act(x, scaled(192, width), 3, name="conv2")
    pyramid["C2"] = x
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
    aux = []
    for module in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"):
        if module in ("4a", "5a"):
            pyramid[f"C{int(module[0]) - 1}"] = x
            x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{module[0]}")(x)
        x = inception_module(x, INCEPTION[module], width=width, se_ratio=se_ratio, name=f"inception{module}")
        if aux_logits and module in ("4a", "4d"):
            aux.append(_aux_head(x, num_classes, width, f"aux{len(aux) + 1}"))
    pyramid["C5"] = x
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate:
            x = keras.layers.Dropout(dropout_rate, name="head_dropout")(x)
        x = keras.layers.Dense(num_classes, name="logits", dtype="float32")(x)
        if aux_logits:
            x = [x] + aux
    return finalize(inputs, x, name="googlenet", include_top=include_top, pyramid=pyramid, weights=weights)


def googlenet_compile_args(from_logits: bool = True) -> dict:
    """`loss` and `loss_weights` for a GoogLeNet built with `aux_logits=True`: main 1.0, aux heads 0.3 each.

    Use as `model.compile(optimizer=..., **googlenet_compile_args())` and fit on targets `(y, y, y)`.
    """
    losses = [keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits) for _ in AUX_LOSS_WEIGHTS]
    return {"loss": losses, "loss_weights": list(AUX_LOSS_WEIGHTS)}


def googlenet_inference_model(model: keras.Model) -> keras.Model:
    """The main-output model of a (possibly aux-head) GoogLeNet, sharing its layers and weights (for export)."""
    try:
        logits = model.get_layer("logits").output
    except ValueError as error:
        raise ValueError(f"model {model.name!r} has no 'logits' layer: build it with include_top=True") from error
    return keras.Model(model.inputs[0], logits, name=f"{model.name}_inference")
