"""DeconvNet (VGG16 encoder, mirrored unpooling + deconvolution decoder) and a small SegNet-style network.

References: Noh, Hong & Han, Learning Deconvolution Network for Semantic Segmentation, ICCV 2015
(arXiv:1505.04366); Badrinarayanan, Kendall & Cipolla, SegNet, TPAMI 2017 (arXiv:1511.00561).

Both decoders undo each 2×2 max-pool with `MaxUnpooling2D`, which puts values back at the positions the
encoder's maxima came from (the "switches"), then densify the sparse maps with (de)convolutions. The
switches come from `MaxPoolingWithArgmax2D` (TFLite built-ins), applied in DeconvNet to the input of each
pooling layer of the shared VGG16 backbone (its maxima are the backbone's pool outputs).
"""

from __future__ import annotations

import keras

from vras_keras.layers import MaxPoolingWithArgmax2D, MaxUnpooling2D, conv_norm_act, image_input
from vras_keras.models.backbones import backbone_features, load_weights, scaled
from vras_keras.models.registry import register
from vras_keras.models.segmentation._common import (
    check_segmentation_args,
    deconv_norm_act,
    probabilities,
)

# Decoder of Noh et al. (mirror of VGG16): per unpooling stage, the deconv filters (stage 5 first).
DECONVNET_DECODER = ((512, 512, 512), (512, 512, 256), (256, 256, 128), (128, 64), (64, 64))


@register("deconvnet", task="segmentation")
def deconvnet(*, backbone="vgg16", input_shape=(224, 224, 3), num_classes=21, width=1.0, fc_units=4096,
              weights=None, backbone_weights=None):
    """DeconvNet (Noh et al. 2015): VGG16-BN encoder + mirrored max-unpooling / deconvolution decoder.

    Args:
        backbone: VGG-style classification id (pool layers named `block{b}_pool`), VGG16 in the paper;
            built with BatchNorm as in the paper.
        input_shape: `(H, W, 3)`, H and W multiples of 32.
        num_classes: labels including the background.
        width: channel multiplier (tiny test variants).
        fc_units: channels of fc6/fc7 (4096; scaled by `width`).
        weights: None or a `.weights.h5` file of the whole model.
        backbone_weights: None, `"imagenet"` or a file for the backbone (registry id only): see
            `vras_keras.models.pretrained` (ImageNet weights exist for the torchvision-compatible ids).

    fc6 is a 7×7 conv and the first deconvolution a 7×7 transposed conv, both with "same" padding (the
    paper's valid 7×7 at a 224 input maps 7×7 → 1×1 → 7×7; "same" keeps any input size working).
    """
    name = "deconvnet"
    check_segmentation_args(name, input_shape=input_shape, num_classes=num_classes, width=width, weights=weights,
                            multiple=32)
    builder_kwargs = {"batch_norm": True} if isinstance(backbone, str) else {}
    levels = tuple(f"C{b}" for b in range(1, 6))
    inputs, pyramid = backbone_features(
        backbone, levels, input_shape=input_shape, width=width, weights=backbone_weights, name=name, **builder_kwargs
    )
    switches = {}
    for b in range(1, 6):
        pre_pool = pyramid[f"C{b}"]._keras_history.operation.input  # the input of VGG's block{b}_pool
        _, switches[b] = MaxPoolingWithArgmax2D(2, name=f"block{b}_switches")(pre_pool)
    fc = scaled(fc_units, width)
    x = conv_norm_act(pyramid["C5"], fc, 7, name="fc6")
    x = conv_norm_act(x, fc, 1, name="fc7")
    x = deconv_norm_act(x, scaled(512, width), 7, name="deconv_fc6")
    for stage, filters in zip(range(5, 0, -1), DECONVNET_DECODER):
        x = MaxUnpooling2D(2, name=f"unpool{stage}")([x, switches[stage]])
        for i, f in enumerate(filters, start=1):
            x = deconv_norm_act(x, scaled(f, width), 3, name=f"deconv{stage}_{i}")
    x = keras.layers.Conv2D(num_classes, 1, name="score")(x)
    return load_weights(keras.Model(inputs, probabilities(x), name=name), weights)


@register("segnet", task="segmentation")
def segnet(*, input_shape=(64, 64, 3), num_classes=7, filters=(32, 64, 128, 256), convs_per_block=2, width=1.0,
           weights=None):
    """Small SegNet-style encoder-decoder with pooling indices, for quick training on small images.

    Args:
        input_shape: `(H, W, 3)`, H and W multiples of `2 ** len(filters)`.
        num_classes: labels including the background.
        filters: channels of the encoder blocks (each: `convs_per_block` conv-BN-ReLU, then a 2×2 max-pool
            that remembers its switches); the decoder mirrors them (unpool, then conv-BN-ReLU).
        width: channel multiplier.
        weights: None or a `.weights.h5` file.
    """
    name = "segnet"
    check_segmentation_args(name, input_shape=input_shape, num_classes=num_classes, width=width, weights=weights)
    depth = len(filters)
    if depth < 1 or input_shape[0] % 2**depth or input_shape[1] % 2**depth:
        raise ValueError(f"{name}: input height and width must be multiples of 2**{depth}, received {input_shape!r}")
    inputs, x = image_input(input_shape)
    switches = []
    for b, f in enumerate(filters, start=1):
        for i in range(1, convs_per_block + 1):
            x = conv_norm_act(x, scaled(f, width), 3, name=f"enc{b}_conv{i}")
        x, indices = MaxPoolingWithArgmax2D(2, name=f"enc{b}_pool")(x)
        switches.append(indices)
    for b in range(depth, 0, -1):
        x = MaxUnpooling2D(2, name=f"dec{b}_unpool")([x, switches[b - 1]])
        out_filters = filters[b - 2] if b > 1 else filters[0]
        for i in range(1, convs_per_block + 1):
            f = filters[b - 1] if i < convs_per_block else out_filters
            x = conv_norm_act(x, scaled(f, width), 3, name=f"dec{b}_conv{i}")
    x = keras.layers.Conv2D(num_classes, 1, name="score")(x)
    return load_weights(keras.Model(inputs, probabilities(x), name=name), weights)
