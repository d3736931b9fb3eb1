"""AlexNet (Krizhevsky, Sutskever, Hinton 2012) with the original two-tower grouping.

Reference: ImageNet Classification with Deep Convolutional Neural Networks, NeurIPS 2012.

227×227 input; conv1 96 11×11/4 → 55×55; 3×3/2 max-pools (overlapping) → 27, 13, 6; conv2 256 5×5
(pad 2), conv3 384, conv4 384, conv5 256 (3×3, pad 1); fc6, fc7 4096; logits. Convs and FCs have biases,
there is no BatchNorm. `groups=2` reproduces the two-GPU towers: conv2, conv4 and conv5 only see the
channels of their own tower (conv3 and the FCs connect both), 60,965,224 parameters; `groups=1` is one
tower (62,378,344). `lrn=True` adds the paper's local response normalisation after conv1 and conv2.
Dropout 0.5 before fc6 and fc7 (there is no BN anywhere, so no Dropout/BN interaction).
"""

from __future__ import annotations

import keras

from vras_keras.layers import LocalResponseNormalization, conv_norm_act, image_input
from vras_keras.models.backbones import check_builder_args, scaled
from vras_keras.models.classification._common import finalize
from vras_keras.models.registry import register


@register("alexnet", task="classification")
def alexnet(*, input_shape=(227, 227, 3), num_classes=1000, include_top=True, weights=None, groups=2, lrn=False,
            width=1.0, dropout_rate=0.5):
    """AlexNet (2012): 96-256-384-384-256 convs, two towers (`groups=2`) by default, optional LRN.

    Args:
        input_shape, num_classes, include_top, weights, width: as every classification builder.
        groups: 2 (the paper's two towers in conv2/4/5) or 1 (one tower).
        lrn: add LocalResponseNormalization (k=2, n=5, alpha=1e-4, beta=0.75) after conv1 and conv2.
        dropout_rate: dropout before fc6 and fc7.

    Without the top, `pyramid_outputs` = {"C2": pool1 (stride 8), "C3": pool2 (16), "C4": conv5 (16),
    "C5": pool5 (32)}: the 11×11/4 stem has no stride-2 level, so the keys name the level of the
    next-coarser stride 2**k that the map is at or finer than; use `model.pyramid_layers` for names.
    """
    name = "alexnet" if groups == 2 else f"alexnet_groups{groups}"
    check_builder_args(name, input_shape=input_shape, num_classes=num_classes, width=width, weights=weights)
    if groups not in (1, 2):
        raise ValueError(f"alexnet: groups must be 1 (one tower) or 2 (two towers), received {groups!r}")
    inputs, x = image_input(input_shape)

    def conv(x, filters, k, layer, *, strides=1, padding="same", g=1):
        return conv_norm_act(x, max(g, scaled(filters, width) // g * g), k, strides=strides, padding=padding, groups=g,
                             norm=False, name=layer)

    x = conv(x, 96, 11, "conv1", strides=4, padding="valid")
    if lrn:
        x = LocalResponseNormalization(name="conv1_lrn")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    pyramid = {"C2": x}
    x = conv(x, 256, 5, "conv2", g=groups)
    if lrn:
        x = LocalResponseNormalization(name="conv2_lrn")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool2")(x)
    pyramid["C3"] = x
    x = conv(x, 384, 3, "conv3")
    x = conv(x, 384, 3, "conv4", g=groups)
    x = conv(x, 256, 3, "conv5", g=groups)
    pyramid["C4"] = x
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool5")(x)
    pyramid["C5"] = x
    if include_top:
        x = keras.layers.Flatten(name="flatten")(x)
        for fc in ("fc6", "fc7"):
            if dropout_rate:
                x = keras.layers.Dropout(dropout_rate, name=f"{fc}_dropout")(x)
            x = keras.layers.Dense(scaled(4096, width), activation="relu", name=fc)(x)
        x = keras.layers.Dense(num_classes, name="logits", dtype="float32")(x)
    return finalize(inputs, x, name=name, include_top=include_top, pyramid=pyramid, weights=weights)
