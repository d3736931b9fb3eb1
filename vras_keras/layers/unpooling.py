"""Max pooling with remembered positions and max unpooling (SegNet / DeconvNet decoders), TFLite built-ins only.

Thin layers over `vras_keras.ops.pooling` (see there for the index convention).
"""

from __future__ import annotations

import keras

from vras_keras.ops import pooling


@keras.saving.register_keras_serializable(package="vras_keras")
class MaxPoolingWithArgmax2D(keras.layers.Layer):
    """Max pooling that also returns where each maximum was ("switches").

    Reference: Noh et al., Learning Deconvolution Network for Semantic Segmentation, ICCV 2015
    (arXiv:1505.04366); Badrinarayanan et al., SegNet, TPAMI 2017 (arXiv:1511.00561).

    Unlike `tf.nn.max_pool_with_argmax` (a Flex op in TFLite), this uses strided slices and comparisons
    only. Windows do not overlap (`strides == pool_size`).

    Args:
        pool_size: int or `(ph, pw)`: window size and stride.

    Call arguments:
        inputs: `(N, H, W, C)` with static `H`, `W` multiples of the pool size.

    Returns:
        `[pooled, indices]`: `(N, H/ph, W/pw, C)` float maxima and int32 flat indices `(y * W + x) * C + c`
        of the maxima in their image (`tf.nn.max_pool_with_argmax`'s convention with
        `include_batch_in_index=False`; ties go to the first element in row-major order).

    Example:
        >>> pooled, indices = MaxPoolingWithArgmax2D(2)(x)           # x: (N, 32, 32, 64)
        >>> up = MaxUnpooling2D(2)([decoder_features, indices])      # (N, 32, 32, 64)
    """

    def __init__(self, pool_size=2, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = pooling.normalize_pool_size(pool_size)

    def build(self, input_shape):
        _, height, width, _ = input_shape
        pooling._check_divisible(height, width, self.pool_size, f"{type(self).__name__} {self.name!r}")
        self.built = True

    def call(self, inputs):
        pooled, indices = pooling.max_pool_with_argmax(inputs, self.pool_size)
        return [pooled, indices]

    def compute_output_shape(self, input_shape):
        n, height, width, channels = input_shape
        ph, pw = self.pool_size
        shape = (n, None if height is None else height // ph, None if width is None else width // pw, channels)
        return [shape, shape]

    def compute_output_spec(self, inputs):
        shape = self.compute_output_shape(inputs.shape)[0]
        return [keras.KerasTensor(shape, dtype=inputs.dtype), keras.KerasTensor(shape, dtype="int32")]

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size}


@keras.saving.register_keras_serializable(package="vras_keras")
class MaxUnpooling2D(keras.layers.Layer):
    """Bed-of-nails unpooling: each value goes back to the position its max came from, zeros elsewhere.

    Reference: Noh et al., ICCV 2015 (arXiv:1505.04366); Zeiler & Fergus, ECCV 2014 (arXiv:1311.2901).

    Built from comparisons, selects, concatenations and reshapes (TFLite built-ins). Copy-everywhere
    unpooling, which fills the whole window instead, is nearest-neighbour upsampling
    (`vras_keras.ops.pooling.copy_unpool` == `keras.layers.UpSampling2D(interpolation="nearest")`).

    Args:
        pool_size: int or `(ph, pw)`; the pool size of the matching `MaxPoolingWithArgmax2D`.

    Call arguments:
        inputs: `[pooled, indices]`, both `(N, h, w, C)`; `indices` from `MaxPoolingWithArgmax2D` of the
            same `pool_size` (so `pooled` must have the shape of that layer's output).

    Returns:
        `(N, h*ph, w*pw, C)`.

    Example:
        >>> unpool = MaxUnpooling2D(2)
        >>> y = unpool([features, indices])
    """

    def __init__(self, pool_size=2, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = pooling.normalize_pool_size(pool_size)

    def _shapes(self, input_shape):
        if (
            not isinstance(input_shape, (list, tuple))
            or len(input_shape) != 2
            or not isinstance(input_shape[0], (list, tuple))
        ):
            raise ValueError(
                f"{type(self).__name__} is called on [pooled, indices], received input shape {input_shape}"
            )
        return tuple(input_shape[0]), tuple(input_shape[1])

    def build(self, input_shape):
        pooled, indices = self._shapes(input_shape)
        if tuple(pooled[1:]) != tuple(indices[1:]):
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: pooled values {pooled} and indices {indices} must have the "
                "same shape"
            )
        self.built = True

    def call(self, inputs):
        pooled, indices = inputs
        return pooling.max_unpool(pooled, indices, self.pool_size)

    def compute_output_shape(self, input_shape):
        (n, height, width, channels), _ = self._shapes(input_shape)
        ph, pw = self.pool_size
        return (n, None if height is None else height * ph, None if width is None else width * pw, channels)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size}
