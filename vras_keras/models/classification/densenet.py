"""DenseNet-121/169/201 (ImageNet) and DenseNet-BC for CIFAR.

Reference: Huang, Liu, van der Maaten, Weinberger, Densely Connected Convolutional Networks, CVPR 2017
(arXiv:1608.06993).

Pre-activation dense layers BN-ReLU-1×1 conv (4k) - BN-ReLU-3×3 conv (k), concatenated to their input;
transitions BN-ReLU-1×1 conv (compression 0.5) - 2×2/2 average pool; a final BN-ReLU before the head.
Bias-free convs (torchvision's convention: 7,978,856 parameters for DenseNet-121).
"""

from __future__ import annotations

import keras

from vras_keras.layers import SqueezeExcite, conv_norm_act, image_input, symmetric_pad
from vras_keras.models.backbones import check_builder_args, scaled
from vras_keras.models.classification._common import classifier_head, finalize, norm_act
from vras_keras.models.registry import register


def _conv(x, filters, k, name):
    return keras.layers.Conv2D(filters, k, padding="same", use_bias=False, kernel_initializer="he_normal",
                               name=f"{name}_conv")(x)


def dense_block(x, n_layers, growth_rate, *, bn_size=4, se_ratio=None, name):
    """`n_layers` bottleneck dense layers; each appends `growth_rate` channels."""
    for i in range(1, n_layers + 1):
        layer = f"{name}_layer{i}"
        y = norm_act(x, f"{layer}_1")
        y = _conv(y, bn_size * growth_rate, 1, f"{layer}_1")
        y = norm_act(y, f"{layer}_2")
        y = _conv(y, growth_rate, 3, f"{layer}_2")
        x = keras.layers.Concatenate(name=f"{layer}_concat")([x, y])
    if se_ratio:
        x = SqueezeExcite(se_ratio, name=f"{name}_se")(x)
    return x


def transition(x, compression, name):
    x = norm_act(x, name)
    x = _conv(x, int(x.shape[-1] * compression), 1, name)
    return keras.layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def densenet(*, block_layers, growth_rate=32, stem_filters=64, input_shape=(224, 224, 3), num_classes=1000,
             include_top=True, weights=None, se_ratio=None, width=1.0, dropout_rate=0.0, compression=0.5,
             cifar_stem=False, name="densenet"):
    """Generic DenseNet.

    Args:
        block_layers: dense layers per block (4 blocks for ImageNet, 3 for CIFAR).
        growth_rate: k (scaled by `width`).
        stem_filters: channels of the stem conv (scaled by `width`).
        cifar_stem: a 3×3/1 stem conv without pooling (DenseNet-BC for CIFAR) instead of 7×7/2 + 3×3/2 pool.
        se_ratio: None or the SE reduction ratio applied to every dense block's output.
        dropout_rate: head dropout after the final BN-ReLU and pooling.
        compression: channel factor of the transitions (θ = 0.5 for -BC).
        Others: as every classification builder.

    Without the top, `pyramid_outputs` has C_k at stride 2**k: ImageNet C1 (stem), C2..C4 (dense blocks
    1-3), C5 (final BN-ReLU); CIFAR C0, C1, C2.
    """
    check_builder_args(name, input_shape=input_shape, num_classes=num_classes, width=width, weights=weights)
    if se_ratio is not None and (isinstance(se_ratio, bool) or not isinstance(se_ratio, int) or se_ratio < 1):
        raise ValueError(f"{name}: se_ratio must be None or an int >= 1, received {se_ratio!r}")
    if not 0 < compression <= 1:
        raise ValueError(f"{name}: compression must be in (0, 1], received {compression!r}")
    k = scaled(growth_rate, width)
    inputs, x = image_input(input_shape)
    pyramid = {}
    if cifar_stem:
        x = _conv(x, scaled(stem_filters, width), 3, "conv1")
        level = 0
    else:
        # symmetric (PyTorch) padding, so that torchvision's weights give its numbers (models/pretrained.py)
        x = conv_norm_act(x, scaled(stem_filters, width), 7, strides=2, padding="symmetric", name="conv1")
        pyramid["C1"] = x
        x, pool_padding = symmetric_pad(x, 3, strides=2, name="pool1_pad")  # after ReLU: zeros act as -inf
        x = keras.layers.MaxPooling2D(3, strides=2, padding=pool_padding, name="pool1")(x)
        level = 2
    for b, n_layers in enumerate(block_layers, start=1):
        x = dense_block(x, n_layers, k, se_ratio=se_ratio, name=f"block{b}")
        if b < len(block_layers):
            pyramid[f"C{level}"] = x
            x = transition(x, compression, f"transition{b}")
            level += 1
    x = norm_act(x, "final")
    pyramid[f"C{level}"] = x
    outputs = classifier_head(x, num_classes, dropout_rate=dropout_rate) if include_top else x
    return finalize(inputs, outputs, name=name, include_top=include_top, pyramid=pyramid, weights=weights)


def _register(registry_id, block_layers, doc):
    def builder(*, input_shape=(224, 224, 3), num_classes=1000, include_top=True, weights=None, se_ratio=None,
                width=1.0, dropout_rate=0.0):
        return densenet(block_layers=block_layers, input_shape=input_shape, num_classes=num_classes,
                        include_top=include_top, weights=weights, se_ratio=se_ratio, width=width,
                        dropout_rate=dropout_rate, name=registry_id)

    builder.__name__ = builder.__qualname__ = registry_id
    builder.__doc__ = doc + "\n\n    Keyword arguments: see `densenet`.\n"
    return register(registry_id, task="classification")(builder)


densenet121 = _register("densenet121", (6, 12, 24, 16), "DenseNet-121 (k = 32), 8.0 M parameters.")
densenet169 = _register("densenet169", (6, 12, 32, 32), "DenseNet-169 (k = 32), 14.1 M parameters.")
densenet201 = _register("densenet201", (6, 12, 48, 32), "DenseNet-201 (k = 32), 20.0 M parameters.")


@register("densenet_bc", task="classification")
def densenet_bc(*, depth=100, growth_rate=12, input_shape=(32, 32, 3), num_classes=10, include_top=True,
                weights=None, se_ratio=None, width=1.0, dropout_rate=0.0):
    """DenseNet-BC for CIFAR: 3 blocks of (depth - 4) / 6 bottleneck layers, compression 0.5.

    Args:
        depth: 6n + 4 (DenseNet-BC-100 with k = 12 has 0.8 M parameters).
        growth_rate: k; the stem conv has 2k channels.
        Others: as `densenet`.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
        raise ValueError(f"densenet_bc: depth must be 6n + 4 (40, 100, 190, ...), received {depth!r}")
    n = (depth - 4) // 6
    return densenet(block_layers=(n, n, n), growth_rate=growth_rate, stem_filters=2 * growth_rate,
                    input_shape=input_shape, num_classes=num_classes, include_top=include_top, weights=weights,
                    se_ratio=se_ratio, width=width, dropout_rate=dropout_rate, cifar_stem=True,
                    name=f"densenet_bc_{depth}_{growth_rate}")
