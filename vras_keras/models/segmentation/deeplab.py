"""DeepLab v3: atrous ResNet backbone, ASPP, bilinear upsampling, optional ConvCRF head.

Reference: Chen, Papandreou, Schroff & Adam, Rethinking Atrous Convolution for Semantic Image
Segmentation, arXiv:1706.05587; CRF head: Teichmann & Cipolla, ConvCRF (arXiv:1805.04777), in the spirit of
DeepLab v1/v2's dense CRF post-processing (arXiv:1606.00915), here differentiable and inside the model.
"""

from __future__ import annotations

import keras

from vras_keras.layers import ASPP, ConvCRF
from vras_keras.models.backbones import backbone_features, load_weights, scaled
from vras_keras.models.registry import register
from vras_keras.models.segmentation._common import check_segmentation_args, probabilities


@register("deeplab_v3", task="segmentation")
def deeplab_v3(*, backbone="resnet50", output_stride=16, input_shape=(512, 512, 3), num_classes=21,
               aspp_filters=256, rates=None, dropout_rate=0.1, crf=False, crf_options=None, width=1.0,
               weights=None, backbone_weights=None):
    """DeepLab v3 (Chen et al. 2017): atrous ResNet-50/101, ASPP, bilinear upsampling (+ ConvCRF).

    Args:
        backbone: registry id of a ResNet that accepts `output_stride` (`"resnet50"`, `"resnet101"`), or
            an already built backbone model with `pyramid_outputs` (then `output_stride`/`width` are
            its own business).
        output_stride: 8 or 16: the backbone's last strides become dilations; ASPP rates follow.
        input_shape: `(H, W, 3)`.
        num_classes: labels including the background.
        aspp_filters: ASPP channels (256; scaled by `width`).
        rates: ASPP atrous rates (default `(6, 12, 18)` at output stride 16, doubled at 8).
        dropout_rate: dropout after the ASPP projection.
        crf: add a `ConvCRF` head that refines the upsampled logits using the input image.
        crf_options: keyword arguments of `ConvCRF` (e.g. `{"iterations": 5, "blur": 4}`).
        width: channel multiplier of backbone and head (tiny test variants).
        weights: None or a `.weights.h5` file of the whole model.
        backbone_weights: None, `"imagenet"` or a file for the backbone (registry id only): see
            `vras_keras.models.pretrained` (ImageNet weights exist for the torchvision-compatible ids).

    Returns:
        A model mapping images `(N, H, W, 3)` (0..255) to class probabilities `(N, H, W, L)`.
    """
    name = "deeplab_v3"
    check_segmentation_args(name, input_shape=input_shape, num_classes=num_classes, width=width, weights=weights)
    if output_stride not in (8, 16):
        raise ValueError(f"{name}: output_stride must be 8 or 16, received {output_stride!r}")
    if crf_options is not None and not crf:
        raise ValueError(f"{name}: crf_options={crf_options!r} given but crf=False")
    builder_kwargs = {"output_stride": output_stride} if isinstance(backbone, str) else {}
    inputs, pyramid = backbone_features(backbone, "C5", input_shape=input_shape, width=width, weights=backbone_weights,
                                        name=name, **builder_kwargs)
    x = ASPP(filters=scaled(aspp_filters, width), rates=rates, output_stride=output_stride,
             dropout=dropout_rate, name="aspp")(pyramid["C5"])
    x = keras.layers.Conv2D(num_classes, 1, name="logits")(x)
    x = keras.layers.Resizing(input_shape[0], input_shape[1], interpolation="bilinear", name="upsample")(x)
    if crf:
        outputs = ConvCRF(num_classes, **(crf_options or {}), dtype="float32", name="crf")([x, inputs])
    else:
        outputs = probabilities(x)
    return load_weights(keras.Model(inputs, outputs, name=name), weights)
