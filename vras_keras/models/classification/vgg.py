"""VGG-11/13/16/19 (configurations A, B, D, E), optionally with BatchNorm.

Reference: Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition,
ICLR 2015 (arXiv:1409.1556).

`batch_norm=False` (default, as in the paper): 3×3 convs with biases + ReLU. `batch_norm=True`: bias-free convs + BN +
ReLU (the project's `conv_norm_act`), 2,752 (vgg11) to 5,504 (vgg19) parameters fewer than torchvision's `vgg*_bn`,
whose convs keep a bias that the BN cancels; `conv_bias=True` gives that layout and torchvision's count. torchvision's
`vgg*_bn` ImageNet weights load into either (models/pretrained.py folds the conv bias into the BN moving mean when the
conv has none: the same function, exactly). The head is the paper's: flatten → fc6 4096 → fc7 4096 → logits, Dropout 0.5
after fc6 and fc7 (there is no BN in the head). Without the top, the model outputs pool5 and `pyramid_outputs` = {"C1":
pool1, ..., "C5": pool5} (C_k at stride 2**k), which is what FCN and DeconvNet build on.
"""

from __future__ import annotations

import keras

from vras_keras.layers import conv_norm_act, image_input
from vras_keras.models.backbones import check_builder_args, scaled
from vras_keras.models.classification._common import finalize
from vras_keras.models.registry import register

# convs per block (64, 128, 256, 512, 512 filters)
CONFIGS = {
    "vgg11": (1, 1, 2, 2, 2),
    "vgg13": (2, 2, 2, 2, 2),
    "vgg16": (2, 2, 3, 3, 3),
    "vgg19": (2, 2, 4, 4, 4),
}
BLOCK_FILTERS = (64, 128, 256, 512, 512)


def vgg(*, convs_per_block, input_shape=(224, 224, 3), num_classes=1000, include_top=True, weights=None,
        batch_norm=False, conv_bias=None, width=1.0, fc_units=4096, dropout_rate=0.5, name="vgg"):
    """Generic VGG: five blocks of 3×3 convs, each followed by a 2×2/2 max-pool.

    Args:
        convs_per_block: 5 ints.
        input_shape, num_classes, include_top, weights, width: as every classification builder.
        batch_norm: add BN after every conv (and drop the conv biases, unless `conv_bias=True`).
        conv_bias: None (biases only without BN) or True/False; `batch_norm=True, conv_bias=True` is
            torchvision's `vgg*_bn` layout, parameter for parameter.
        fc_units: units of fc6 and fc7 (scaled by `width`).
        dropout_rate: dropout after fc6 and fc7.
    """
    check_builder_args(name, input_shape=input_shape, num_classes=num_classes, width=width, weights=weights)
    if len(convs_per_block) != 5:
        raise ValueError(f"{name}: convs_per_block must have 5 entries, received {convs_per_block!r}")
    inputs, x = image_input(input_shape)
    pyramid = {}
    for b, (n_convs, filters) in enumerate(zip(convs_per_block, BLOCK_FILTERS), start=1):
        for i in range(1, n_convs + 1):
            x = conv_norm_act(x, scaled(filters, width), 3, norm=batch_norm, use_bias=conv_bias,
                              name=f"block{b}_conv{i}")
        x = keras.layers.MaxPooling2D(2, strides=2, name=f"block{b}_pool")(x)
        pyramid[f"C{b}"] = x
    if include_top:
        x = keras.layers.Flatten(name="flatten")(x)
        for fc in ("fc6", "fc7"):
            x = keras.layers.Dense(scaled(fc_units, width), activation="relu", name=fc)(x)
            if dropout_rate:
                x = keras.layers.Dropout(dropout_rate, name=f"{fc}_dropout")(x)
        x = keras.layers.Dense(num_classes, name="logits", dtype="float32")(x)
    return finalize(inputs, x, name=name, include_top=include_top, pyramid=pyramid, weights=weights)


def _register(registry_id, doc):
    def builder(*, input_shape=(224, 224, 3), num_classes=1000, include_top=True, weights=None,
                batch_norm=False, conv_bias=None, width=1.0, dropout_rate=0.5):
        return vgg(convs_per_block=CONFIGS[registry_id], input_shape=input_shape, num_classes=num_classes,
                   include_top=include_top, weights=weights, batch_norm=batch_norm, conv_bias=conv_bias,
                   width=width, dropout_rate=dropout_rate, name=registry_id)

    builder.__name__ = builder.__qualname__ = registry_id
    builder.__doc__ = doc + "\n\n    Keyword arguments: see `vgg`.\n"
    return register(registry_id, task="classification")(builder)


vgg11 = _register("vgg11", "VGG-11 (configuration A), 132.9 M parameters.")
vgg13 = _register("vgg13", "VGG-13 (configuration B), 133.0 M parameters.")
vgg16 = _register("vgg16", "VGG-16 (configuration D), 138.4 M parameters.")
vgg19 = _register("vgg19", "VGG-19 (configuration E), 143.7 M parameters.")
