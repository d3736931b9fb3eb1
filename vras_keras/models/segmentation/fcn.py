"""FCN-32s, FCN-16s and FCN-8s on a VGG16 backbone.

Reference: Long, Shelhamer & Darrell, Fully Convolutional Networks for Semantic Segmentation, CVPR 2015
(arXiv:1411.4038).

The classifier's fc6/fc7 become convolutions (7×7 and 1×1, 4096 channels, ReLU + dropout 0.5), a 1×1
`score_fr` conv gives class scores at stride 32, and learnable `Conv2DTranspose` layers initialised to
bilinear interpolation upsample them. FCN-16s adds 2× upsampled scores to `score_pool4` (1×1 conv on
pool4, stride 16); FCN-8s fuses again with `score_pool3` (stride 8). Differences from the Caffe model:
"same" padding instead of the 100-pixel input padding and crop layers (so any input size that is a
multiple of 32 works and no crop offsets are needed); score layers use the default initialiser. The
output is per-pixel class probabilities `(N, H, W, L)`.
"""

from __future__ import annotations

import keras

from vras_keras.models.backbones import backbone_features, load_weights, scaled
from vras_keras.models.registry import register
from vras_keras.models.segmentation._common import check_segmentation_args, learnable_upsampling, probabilities

STRIDES = (32, 16, 8)


def fcn(*, stride: int, backbone="vgg16", input_shape=(224, 224, 3), num_classes=21, width=1.0,
        fc_units=4096, dropout_rate=0.5, weights=None, backbone_weights=None, name="fcn"):
    """Generic FCN with output stride 32, 16 or 8 before the final upsampling.

    Args:
        stride: 32 (FCN-32s), 16 (FCN-16s) or 8 (FCN-8s).
        backbone: classification registry id (VGG16 in the paper) or a model with `pyramid_outputs`
            C3..C5 (pool3, pool4, pool5).
        input_shape: `(H, W, 3)`, H and W multiples of 32.
        num_classes: labels including the background.
        width: channel multiplier of the backbone and of fc6/fc7 (tiny test variants).
        fc_units: channels of the convolutional fc6/fc7 (scaled by `width`).
        dropout_rate: dropout after fc6 and fc7.
        weights: None or a `.weights.h5` file of the whole model (nothing is downloaded).
        backbone_weights: None, `"imagenet"` or a file for the backbone (registry id only): see
            `vras_keras.models.pretrained` (ImageNet weights exist for the torchvision-compatible ids).
    """
    check_segmentation_args(name, input_shape=input_shape, num_classes=num_classes, width=width, weights=weights,
                            multiple=32)
    if stride not in STRIDES:
        raise ValueError(f"{name}: stride must be one of {STRIDES}, received {stride!r}")
    inputs, pyramid = backbone_features(backbone, ("C3", "C4", "C5"), input_shape=input_shape, width=width,
                                         weights=backbone_weights, name=name)
    x = pyramid["C5"]
    for layer_name, kernel in (("fc6", 7), ("fc7", 1)):
        x = keras.layers.Conv2D(scaled(fc_units, width), kernel, padding="same", activation="relu", name=layer_name)(x)
        if dropout_rate:
            x = keras.layers.Dropout(dropout_rate, name=f"{layer_name}_dropout")(x)
    score = keras.layers.Conv2D(num_classes, 1, name="score_fr")(x)
    # FCN-16s / FCN-8s: 2× upsample, add the 1×1 scores of pool4 (then pool3), finally upsample to the input
    for level, upsample_name in (("C4", "upscore2"), ("C3", "upscore_pool4"))[: {32: 0, 16: 1, 8: 2}[stride]]:
        pool = f"pool{level[1]}"
        score = learnable_upsampling(score, 2, name=upsample_name)
        skip = keras.layers.Conv2D(num_classes, 1, name=f"score_{pool}")(pyramid[level])
        score = keras.layers.Add(name=f"fuse_{pool}")([score, skip])
    score = learnable_upsampling(score, stride, name=f"upscore{stride}")
    return load_weights(keras.Model(inputs, probabilities(score), name=name), weights)


def _register(registry_id, stride):
    def builder(*, backbone="vgg16", input_shape=(224, 224, 3), num_classes=21, width=1.0, fc_units=4096,
                dropout_rate=0.5, weights=None, backbone_weights=None):
        return fcn(stride=stride, backbone=backbone, input_shape=input_shape, num_classes=num_classes, width=width,
                   fc_units=fc_units, dropout_rate=dropout_rate, weights=weights, backbone_weights=backbone_weights,
                   name=registry_id)

    builder.__name__ = builder.__qualname__ = registry_id
    builder.__doc__ = (
        f"FCN-{stride}s (Long et al. 2015): VGG16, conv fc6/fc7, "
        + ("32× bilinear-initialised upsampling." if stride == 32 else f"skips down to stride {stride}.")
        + "\n\n    Keyword arguments: see `fcn`.\n"
    )
    return register(registry_id, task="segmentation")(builder)


fcn32s = _register("fcn32s", 32)
fcn16s = _register("fcn16s", 16)
fcn8s = _register("fcn8s", 8)
