"""ResNet family: ResNet-18…152, SE-ResNet-50, Wide ResNet-50-2, CIFAR ResNets, WRN-d-k, no-skip variants.

References:
    He et al., Deep Residual Learning for Image Recognition, CVPR 2016 (arXiv:1512.03385).
    He et al., Identity Mappings in Deep Residual Networks, ECCV 2016 (arXiv:1603.05027) (pre-activation).
    Zagoruyko & Komodakis, Wide Residual Networks, BMVC 2016 (arXiv:1605.07146).
    Hu et al., Squeeze-and-Excitation Networks, CVPR 2018 (arXiv:1709.01507).
    Li et al., Visualizing the Loss Landscape of Neural Nets, NeurIPS 2018 (arXiv:1712.09913) (no-skip).
    Chen et al., DeepLab (arXiv:1606.00915, 1706.05587): `output_stride` by dilation.

Conventions (torchvision's): bias-free convs followed by BN; the stride of a bottleneck sits on its 3×3
conv ("ResNet v1.5"); projection shortcuts are 1×1 conv + BN where the shape changes; strided convs and
the stem pool pad symmetrically as PyTorch does (`padding="symmetric"`, not TF's bottom/right "same"), so
torchvision's ImageNet weights give torchvision's numbers (`weights="imagenet"`, models/pretrained.py). `skip=False`
removes every shortcut (and its projection): the plain "no-skip" network of the loss-landscape study.
"""

from __future__ import annotations

import keras

from vras_keras.layers import SqueezeExcite, ZeroPadShortcut, conv_norm_act, image_input, symmetric_pad
from vras_keras.models.backbones import check_builder_args, scaled
from vras_keras.models.classification._common import classifier_head, finalize, norm_act
from vras_keras.models.registry import register

BLOCKS = ("basic", "bottleneck")
EXPANSION = {"basic": 1, "bottleneck": 4}


def _check_se(se_ratio, name):
    if se_ratio is not None and (isinstance(se_ratio, bool) or not isinstance(se_ratio, int) or se_ratio < 1):
        raise ValueError(f"{name}: se_ratio must be None or an int >= 1 (SE reduction r), received {se_ratio!r}")


def residual_block(x, planes, *, block, strides=1, dilation=1, first_dilation=None, base_width=64,
                   width=1.0, se_ratio=None, skip=True, shortcut="projection", name):
    """One post-activation residual block (basic: 3×3-3×3; bottleneck: 1×1-3×3-1×1, ×4 expansion).

    Where the shape changes, `shortcut="projection"` uses 1×1 conv + BN (`{name}_downsample_*`),
    `"zero_pad"` the parameter-free option A of the CIFAR ResNets (`{name}_shortcut`).

    Layer names: `{name}_conv1_conv`, `{name}_conv1_bn`, ..., `{name}_se`, `{name}_downsample_conv`,
    `{name}_add`, `{name}_out`.
    """
    first_dilation = first_dilation or dilation
    out_channels = scaled(planes, width) * EXPANSION[block]
    if block == "basic":
        filters = scaled(planes, width)
        y = conv_norm_act(x, filters, 3, strides=strides, dilation_rate=first_dilation, padding="symmetric",
                          name=f"{name}_conv1")
        y = conv_norm_act(y, out_channels, 3, dilation_rate=dilation, activation=None, name=f"{name}_conv2")
    else:
        inner = scaled(int(planes * base_width / 64), width)
        y = conv_norm_act(x, inner, 1, name=f"{name}_conv1")
        y = conv_norm_act(y, inner, 3, strides=strides, dilation_rate=first_dilation, padding="symmetric",
                          name=f"{name}_conv2")
        y = conv_norm_act(y, out_channels, 1, activation=None, name=f"{name}_conv3")
    if se_ratio:
        y = SqueezeExcite(se_ratio, name=f"{name}_se")(y)
    if skip:
        identity = x
        if strides != 1 or x.shape[-1] != out_channels:
            if shortcut == "zero_pad":
                identity = ZeroPadShortcut(out_channels, strides, name=f"{name}_shortcut")(x)
            else:
                identity = conv_norm_act(x, out_channels, 1, strides=strides, activation=None,
                                         name=f"{name}_downsample")
        y = keras.layers.Add(name=f"{name}_add")([identity, y])
    return keras.layers.Activation("relu", name=f"{name}_out")(y)


def resnet(*, stage_blocks, block="bottleneck", input_shape=(224, 224, 3), num_classes=1000, include_top=True,
           weights=None, se_ratio=None, skip=True, width=1.0, base_width=64, output_stride=None,
           dropout_rate=0.0, name="resnet"):
    """Generic ImageNet ResNet: 7×7/2 stem, 3×3/2 max-pool, four stages (64, 128, 256, 512 planes).

    Args:
        stage_blocks: 4 ints, blocks per stage (e.g. `(3, 4, 6, 3)` for ResNet-50).
        block: `"basic"` or `"bottleneck"`.
        input_shape: `(H, W, C)`; H and W may be None for a fully convolutional backbone.
        num_classes: logits of the head (no softmax).
        include_top: add global pooling + Dense; without it the model outputs C5 and has
            `model.pyramid_outputs = {"C1", ..., "C5"}` (C_k at stride 2**k, with `output_stride`
            the dilated levels stay at `output_stride`).
        weights: None or the path of a `.weights.h5` file (nothing is downloaded).
        se_ratio: None, or the SE reduction ratio r (16 in SE-ResNet) added to every block.
        skip: False removes every shortcut ("no-skip" plain network).
        width: channel multiplier (tiny test variants use e.g. 0.125).
        base_width: bottleneck inner width per 64 planes (128 for Wide ResNet-50-2).
        output_stride: None (32), 16 or 8: the last strides are replaced by dilation (DeepLab).
        dropout_rate: dropout in the head, after global pooling (there is no BN after it).
        name: model name.
    """
    check_builder_args(name, input_shape=input_shape, num_classes=num_classes, width=width, weights=weights)
    if block not in BLOCKS:
        raise ValueError(f"{name}: block must be one of {BLOCKS}, received {block!r}")
    if len(stage_blocks) != 4 or any(int(n) < 1 for n in stage_blocks):
        raise ValueError(f"{name}: stage_blocks must be 4 ints >= 1, received {stage_blocks!r}")
    if output_stride not in (None, 8, 16, 32):
        raise ValueError(f"{name}: output_stride must be None, 8, 16 or 32, received {output_stride!r}")
    _check_se(se_ratio, name)

    inputs, x = image_input(input_shape)
    x = conv_norm_act(x, scaled(64, width), 7, strides=2, padding="symmetric", name="conv1")
    pyramid = {"C1": x}
    x, pool_padding = symmetric_pad(x, 3, strides=2, name="pool1_pad")  # after ReLU: zeros act as -inf
    x = keras.layers.MaxPooling2D(3, strides=2, padding=pool_padding, name="pool1")(x)
    current_stride, dilation = 4, 1
    for stage, (planes, n_blocks) in enumerate(zip((64, 128, 256, 512), stage_blocks), start=2):
        strides = 1 if stage == 2 else 2
        previous_dilation = dilation
        if strides == 2 and output_stride is not None and current_stride >= output_stride:
            dilation *= strides
            strides = 1
        current_stride *= strides
        for i in range(int(n_blocks)):
            x = residual_block(
                x, planes, block=block, strides=strides if i == 0 else 1, dilation=dilation,
                first_dilation=previous_dilation if i == 0 else dilation, base_width=base_width, width=width,
                se_ratio=se_ratio, skip=skip, name=f"stage{stage}_block{i + 1}",
            )
        pyramid[f"C{stage}"] = x
    outputs = classifier_head(x, num_classes, dropout_rate=dropout_rate) if include_top else x
    return finalize(inputs, outputs, name=name, include_top=include_top, pyramid=pyramid, weights=weights)


def _imagenet_resnet(registry_id, stage_blocks, block, **defaults):
    def builder(*, input_shape=(224, 224, 3), num_classes=1000, include_top=True, weights=None,
                se_ratio=defaults.get("se_ratio"), skip=True, width=1.0, output_stride=None, dropout_rate=0.0):
        return resnet(
            stage_blocks=stage_blocks, block=block, input_shape=input_shape, num_classes=num_classes,
            include_top=include_top, weights=weights, se_ratio=se_ratio, skip=skip, width=width,
            base_width=defaults.get("base_width", 64), output_stride=output_stride,
            dropout_rate=dropout_rate, name=registry_id,
        )

    builder.__name__ = builder.__qualname__ = registry_id
    builder.__doc__ = defaults["doc"] + "\n\n    Keyword arguments: see `resnet`.\n"
    return register(registry_id, task="classification")(builder)


resnet18 = _imagenet_resnet("resnet18", (2, 2, 2, 2), "basic", doc="ResNet-18 (basic blocks), 11.7 M parameters.")
resnet34 = _imagenet_resnet("resnet34", (3, 4, 6, 3), "basic", doc="ResNet-34 (basic blocks), 21.8 M parameters.")
resnet50 = _imagenet_resnet(
    "resnet50", (3, 4, 6, 3), "bottleneck", doc="ResNet-50 (bottleneck, v1.5), 25.6 M parameters."
)
resnet101 = _imagenet_resnet(
    "resnet101", (3, 4, 23, 3), "bottleneck", doc="ResNet-101 (bottleneck), 44.5 M parameters."
)
resnet152 = _imagenet_resnet(
    "resnet152", (3, 8, 36, 3), "bottleneck", doc="ResNet-152 (bottleneck), 60.2 M parameters."
)
se_resnet50 = _imagenet_resnet(
    "se_resnet50",
    (3, 4, 6, 3),
    "bottleneck",
    se_ratio=16,
    doc="SE-ResNet-50 (r = 16, SE FCs with biases), 28.1 M parameters.",
)
wide_resnet50_2 = _imagenet_resnet(
    "wide_resnet50_2", (3, 4, 6, 3), "bottleneck", base_width=128,
    doc="Wide ResNet-50-2 (bottleneck 3×3 convs twice as wide), 68.9 M parameters.",
)


@register("resnet_cifar", task="classification")
def resnet_cifar(*, depth=20, input_shape=(32, 32, 3), num_classes=10, include_top=True, weights=None,
                 se_ratio=None, skip=True, width=1.0):
    """CIFAR ResNet-20/32/44/56/110: 3×3 stem, three stages of 16/32/64 channels, option-A shortcuts.

    Args:
        depth: 6n + 2 with n >= 1 (the paper's 20, 32, 44, 56, 110).
        include_top: without it, `pyramid_outputs` = {"C0", "C1", "C2"} (the three stages, strides 1, 2, 4).
        Other arguments: as `resnet`. Shortcuts are parameter-free (subsample + zero channels).
    """
    name = f"resnet{depth}_cifar" if isinstance(depth, int) else "resnet_cifar"
    check_builder_args(name, input_shape=input_shape, num_classes=num_classes, width=width, weights=weights)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"resnet_cifar: depth must be 6n + 2 (20, 32, 44, 56, 110, ...), received {depth!r}")
    _check_se(se_ratio, name)
    n = (depth - 2) // 6
    inputs, x = image_input(input_shape)
    x = conv_norm_act(x, scaled(16, width), 3, name="conv1")
    pyramid = {}
    for stage, planes in enumerate((16, 32, 64)):
        for i in range(n):
            x = residual_block(x, planes, block="basic", strides=2 if (stage > 0 and i == 0) else 1, width=width,
                               se_ratio=se_ratio, skip=skip, shortcut="zero_pad", name=f"stage{stage + 1}_block{i + 1}")
        pyramid[f"C{stage}"] = x
    outputs = classifier_head(x, num_classes) if include_top else x
    return finalize(inputs, outputs, name=name, include_top=include_top, pyramid=pyramid, weights=weights)


@register("wide_resnet", task="classification")
def wide_resnet(*, depth=28, widen_factor=10, input_shape=(32, 32, 3), num_classes=10, include_top=True,
                weights=None, dropout_rate=0.0, skip=True, width=1.0):
    """Wide ResNet WRN-depth-k for CIFAR: pre-activation basic blocks of 16k, 32k, 64k channels.

    Args:
        depth: 6n + 4 (WRN-28-10: depth 28, widen_factor 10, 36.5 M parameters).
        widen_factor: k.
        dropout_rate: dropout in the head, after the final BN-ReLU and global pooling. The paper puts it
            between the two convs of each block, i.e. right before a BN; we keep Dropout out of the
            BN-normalised trunk (variance shift, Li et al. arXiv:1801.05134), see docs/classification.md.
        include_top: without it, `pyramid_outputs` = {"C0", "C1", "C2"} (strides 1, 2, 4), after BN-ReLU.
        Other arguments: as `resnet`. Shortcuts are 1×1 convs (bias-free) where the channels change.
    """
    name = f"wrn_{depth}_{widen_factor}"
    check_builder_args(name, input_shape=input_shape, num_classes=num_classes, width=width, weights=weights)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
        raise ValueError(f"wide_resnet: depth must be 6n + 4 (16, 22, 28, 40, ...), received {depth!r}")
    if not isinstance(widen_factor, (int, float)) or widen_factor <= 0:
        raise ValueError(f"wide_resnet: widen_factor must be > 0, received {widen_factor!r}")
    n = (depth - 4) // 6
    inputs, x = image_input(input_shape)
    x = keras.layers.Conv2D(scaled(16, width), 3, padding="same", use_bias=False, kernel_initializer="he_normal",
                            name="conv1_conv")(x)
    pyramid = {}
    for stage, planes in enumerate((16, 32, 64)):
        filters = scaled(planes * widen_factor, width)
        for i in range(n):
            strides = 2 if (stage > 0 and i == 0) else 1
            block = f"stage{stage + 1}_block{i + 1}"
            pre = norm_act(x, f"{block}_preact")
            y = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False,
                                    kernel_initializer="he_normal", name=f"{block}_conv1_conv")(pre)
            y = norm_act(y, f"{block}_conv1")
            y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer="he_normal",
                                    name=f"{block}_conv2_conv")(y)
            if skip:
                shortcut = x
                if strides != 1 or x.shape[-1] != filters:
                    # The projection sees the pre-activated input, as in the paper's code.
                    shortcut = keras.layers.Conv2D(filters, 1, strides=strides, use_bias=False,
                                                   kernel_initializer="he_normal", name=f"{block}_shortcut_conv")(pre)
                y = keras.layers.Add(name=f"{block}_add")([shortcut, y])
            x = y
        pyramid[f"C{stage}"] = x
    x = norm_act(x, "final")
    pyramid[f"C{stage}"] = x
    outputs = classifier_head(x, num_classes, dropout_rate=dropout_rate) if include_top else x
    return finalize(inputs, outputs, name=name, include_top=include_top, pyramid=pyramid, weights=weights)
