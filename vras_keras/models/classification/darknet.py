"""Darknet backbones: Darknet-53 (YOLOv3's) and a small Darknet-style network (the CPU recipes' YOLO backbone).

Reference: Redmon & Farhadi, YOLOv3: An Incremental Improvement (arXiv:1804.02767), Table 1.

Every convolution is conv (bias-free) → BN → LeakyReLU (`conv_norm_act` with `ACTIVATION`). With
`include_top=False` the models expose `pyramid_outputs = {"C1": ..., "C5": ...}` (C_k at stride 2**k),
which `yolo_v2` / `yolo_v3` build on; with the top: global average pooling → Dense logits (no softmax).
"""

from __future__ import annotations

import keras

from vras_keras.layers import conv_norm_act, image_input
from vras_keras.models.backbones import check_builder_args, scaled
from vras_keras.models.classification._common import classifier_head, finalize
from vras_keras.models.registry import register

# Darknet's activation. Keras' "leaky_relu" has slope 0.2 (Darknet uses 0.1); kept at 0.2 for both
# backbones so that the recorded YOLO benchmarks stay reproducible.
ACTIVATION = "leaky_relu"

# Darknet-53 (Table 1): after the 32-filter stem, five stages of a stride-2 3x3 conv to `filters` followed
# by `blocks` residual blocks (1x1 conv to filters / 2, 3x3 conv back to filters, identity shortcut).
DARKNET53_STAGES = ((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4))


@register("darknet53", task="classification")
def darknet53(*, input_shape=(256, 256, 3), num_classes=1000, include_top=True, weights=None, width=1.0):
    """Darknet-53 (YOLOv3's backbone): 52 conv-BN-LeakyReLU layers in residual stages + the classifier.

    At width 1 it has, as Table 1 of the paper gives: 40,549,216 convolution weights, 35,712 BN scales and
    offsets (40,584,928 trainable convolutional parameters), and a 1,025,000-parameter 1000-class
    classifier: 41,609,928 trainable parameters (timm's `darknet53`: 41.6 M), 41,645,640 with the BN
    moving statistics.

    Args:
        input_shape: `(H, W, C)`; 256 x 256 in the paper's ImageNet training; any size works, H and W
            multiples of 32 keep every level aligned.
        num_classes, include_top, weights, width: as every classification builder.

    Without the top, `pyramid_outputs` = {"C1": ..., "C5": ...}: the output of stage k (stride 2**k,
    64 ... 1024 channels); YOLOv3 reads C3, C4, C5 (the paper's routes from layers 36 and 61 and the end).
    """
    check_builder_args("darknet53", input_shape=input_shape, num_classes=num_classes, width=width, weights=weights)
    inputs, x = image_input(input_shape)
    x = conv_norm_act(x, scaled(32, width), 3, activation=ACTIVATION, name="stem")
    pyramid = {}
    for stage, (filters, blocks) in enumerate(DARKNET53_STAGES, start=1):
        x = conv_norm_act(x, scaled(filters, width), 3, strides=2, activation=ACTIVATION, name=f"stage{stage}_down")
        for block in range(1, blocks + 1):
            name = f"stage{stage}_block{block}"
            y = conv_norm_act(x, scaled(filters // 2, width), 1, activation=ACTIVATION, name=f"{name}_conv1")
            y = conv_norm_act(y, scaled(filters, width), 3, activation=ACTIVATION, name=f"{name}_conv2")
            x = keras.layers.Add(name=f"{name}_add")([x, y])
        pyramid[f"C{stage}"] = x
    if include_top:
        x = classifier_head(x, num_classes)
    return finalize(inputs, x, name="darknet53", include_top=include_top, pyramid=pyramid, weights=weights)


@register("darknet_tiny", task="classification")
def darknet_tiny(*, input_shape=(256, 256, 3), num_classes=1000, include_top=True, weights=None, width=1.0):
    """A small Darknet-style backbone (5 stride-2 stages of conv-BN-LeakyReLU, 1x1 bottlenecks).

    Stages have 32, 64, 128, 256, 512 filters (times `width`), like Darknet-53's widths halved, with one
    1x1-3x3 bottleneck (no shortcut) in stages 3-5 instead of 1-8 residual blocks. With
    `include_top=False` the model exposes `pyramid_outputs = {"C1": ..., "C5": ...}` (C_k at stride 2**k).
    """
    check_builder_args("darknet_tiny", input_shape=input_shape, num_classes=num_classes, width=width,
                       weights=weights)
    inputs, x = image_input(input_shape)
    pyramid = {}
    for stage, n in enumerate((32, 64, 128, 256, 512), start=1):
        x = conv_norm_act(x, scaled(n, width), 3, strides=2, activation=ACTIVATION, name=f"stage{stage}_down")
        if stage >= 3:
            x = conv_norm_act(x, scaled(n // 2, width), 1, activation=ACTIVATION, name=f"stage{stage}_reduce")
            x = conv_norm_act(x, scaled(n, width), 3, activation=ACTIVATION, name=f"stage{stage}_expand")
        pyramid[f"C{stage}"] = x
    if include_top:
        x = classifier_head(x, num_classes)
    return finalize(inputs, x, name="darknet_tiny", include_top=include_top, pyramid=pyramid, weights=weights)
