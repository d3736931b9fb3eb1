"""Atrous Spatial Pyramid Pooling (DeepLab v3)."""

from __future__ import annotations

import keras
from keras import ops

from vras_keras.layers.conv_norm_act import batch_norm

DEFAULT_RATES = {16: (6, 12, 18), 8: (12, 24, 36)}


@keras.saving.register_keras_serializable(package="vras_keras")
class ASPP(keras.layers.Layer):
    """Atrous Spatial Pyramid Pooling: parallel atrous convolutions plus image-level pooling.

    Reference: Chen et al., Rethinking Atrous Convolution for Semantic Image Segmentation (DeepLab v3),
    arXiv:1706.05587.

    Branches, each conv → BatchNorm → ReLU (bias-free convs, the project's BN constants): a 1×1 conv; one
    3×3 atrous conv per rate (`dilation_rate=rate`, so a 3×3 kernel sees a (2·rate+1)² window with 9
    weights); and, with `image_pooling`, global average pooling → 1×1 conv, broadcast back to H×W. The
    branches are concatenated and projected by a 1×1 conv → BN → ReLU (→ dropout).

    Args:
        filters: channels of every branch and of the output (256 in the paper).
        rates: atrous rates of the 3×3 branches; `None` picks the paper's `(6, 12, 18)` at
            `output_stride=16` and the doubled `(12, 24, 36)` at `output_stride=8`.
        output_stride: 8 or 16, the backbone's output stride (only used to choose default rates).
        image_pooling: add the image-level pooling branch.
        dropout: dropout rate after the projection (0 disables it).

    Call arguments:
        inputs: `(N, H, W, C)` backbone features.
        training: BatchNorm / dropout mode.

    Returns:
        `(N, H, W, filters)`.

    Example:
        >>> features = ASPP(filters=256, output_stride=16)(c5)       # rates (6, 12, 18)
    """

    def __init__(self, filters=256, rates=None, output_stride=16, image_pooling=True, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(filters, int) or filters < 1:
            raise ValueError(f"filters must be a positive int, received {filters!r}")
        if output_stride not in DEFAULT_RATES:
            raise ValueError(f"output_stride must be one of {sorted(DEFAULT_RATES)}, received {output_stride!r}")
        if rates is None:
            rates = DEFAULT_RATES[output_stride]
        rates = tuple(rates)
        if not rates or not all(isinstance(r, int) and r >= 1 for r in rates):
            raise ValueError(f"rates must be a non-empty sequence of positive ints, received {rates!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), received {dropout!r}")
        self.filters = filters
        self.rates = rates
        self.output_stride = output_stride
        self.image_pooling = bool(image_pooling)
        self.dropout = float(dropout)

        def conv(kernel_size, dilation_rate, name):
            return keras.layers.Conv2D(filters, kernel_size, padding="same", dilation_rate=dilation_rate,
                                       use_bias=False, kernel_initializer="he_normal", name=name)

        self.branches = [(conv(1, 1, "branch0_conv"), batch_norm("branch0_bn"))]
        for i, rate in enumerate(rates, start=1):
            self.branches.append((conv(3, rate, f"branch{i}_conv"), batch_norm(f"branch{i}_bn")))
        if self.image_pooling:
            self.pool_conv = conv(1, 1, "pool_conv")
            self.pool_bn = batch_norm("pool_bn")
        self.project_conv = conv(1, 1, "project_conv")
        self.project_bn = batch_norm("project_bn")
        self.project_dropout = keras.layers.Dropout(self.dropout, name="project_dropout") if self.dropout else None

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        branch_shape = input_shape[:-1] + (self.filters,)
        for conv, bn in self.branches:
            conv.build(input_shape)
            bn.build(branch_shape)
        if self.image_pooling:
            self.pool_conv.build((input_shape[0], 1, 1, input_shape[-1]))
            self.pool_bn.build((input_shape[0], 1, 1, self.filters))
        n_branches = len(self.branches) + int(self.image_pooling)
        self.project_conv.build(input_shape[:-1] + (n_branches * self.filters,))
        self.project_bn.build(branch_shape)
        self.built = True

    def call(self, inputs, training=None):
        outputs = [ops.relu(bn(conv(inputs), training=training)) for conv, bn in self.branches]
        if self.image_pooling:
            pooled = ops.mean(inputs, axis=(1, 2), keepdims=True)
            pooled = ops.relu(self.pool_bn(self.pool_conv(pooled), training=training))
            outputs.append(ops.broadcast_to(pooled, ops.shape(outputs[0])))
        x = ops.concatenate(outputs, axis=-1)
        x = ops.relu(self.project_bn(self.project_conv(x), training=training))
        if self.project_dropout is not None:
            x = self.project_dropout(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.filters,)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "rates": self.rates,
            "output_stride": self.output_stride,
            "image_pooling": self.image_pooling,
            "dropout": self.dropout,
        }
