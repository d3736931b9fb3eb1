"""The one conv → BatchNorm → activation block used by every family, and the shared BN constants.

Blocks are functions that add named standard Keras layers to a functional graph (as keras.applications
does) rather than one opaque layer, so that `model.summary()`, the architecture analyser (receptive field,
FLOPs) and TFLite see every conv, BN and activation.
"""

from __future__ import annotations

import keras

from vras_keras.layers.batch_normalization import FusedBatchNormalization

# PyTorch's BatchNorm defaults (eps 1e-5, momentum 0.1 == Keras momentum 0.9): one place for every family.
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9


def batch_norm(name: str | None = None, axis: int = -1) -> keras.layers.BatchNormalization:
    """A batch-norm layer with the project's epsilon and momentum.

    It is a `FusedBatchNormalization` (a `keras.layers.BatchNormalization` that runs TensorFlow's fused
    kernel: same weights, config and numbers, faster ResNet training on CPU: see benchmarks/RESULTS.md).
    """
    return FusedBatchNormalization(axis=axis, epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)


def conv_norm_act(
    x,
    filters: int,
    kernel_size=3,
    *,
    strides=1,
    padding: str = "same",
    dilation_rate=1,
    groups: int = 1,
    norm: bool = True,
    activation: str | None = "relu",
    kernel_initializer="he_normal",
    use_bias: bool | None = None,
    name: str,
    rank: int = 2,
):
    """Conv (bias-free when followed by BN) → BatchNorm → activation.

    Layer names: `{name}_conv`, `{name}_bn`, `{name}_{activation}`.

    Args:
        x: a `(N, H, W, C)` (rank 2) or `(N, D, H, W, C)` (rank 3) tensor.
        filters, kernel_size, strides, dilation_rate, groups: as `keras.layers.Conv2D`.
        padding: `"same"`, `"valid"` (as `keras.layers.Conv2D`) or `"symmetric"`: PyTorch's
            `padding=dilation * (kernel_size - 1) // 2` on every side. It differs from `"same"` only for
            strided convs, where TensorFlow pads the extra pixel at the bottom/right only; builders whose
            weights are ported from torchvision use it (an explicit `{name}_pad` ZeroPadding layer and a
            `"valid"` conv, as keras.applications does).
        norm: add BatchNormalization (and drop the conv bias).
        activation: a Keras activation name, or None for no activation.
        use_bias: None (a bias only without norm) or an explicit choice (torchvision's `vgg*_bn` keeps a
            conv bias before its BN: a redundant parameter kept for layout compatibility).
        name: prefix of the layer names.
        rank: 2 for images, 3 for volumes.
    """
    if rank not in (2, 3):
        raise ValueError(f"rank must be 2 or 3, received {rank}")
    if padding not in ("same", "valid", "symmetric"):
        raise ValueError(f"padding must be 'same', 'valid' or 'symmetric', received {padding!r}")
    conv_cls = keras.layers.Conv2D if rank == 2 else keras.layers.Conv3D
    if padding == "symmetric":
        x, padding = symmetric_pad(x, kernel_size, strides=strides, dilation_rate=dilation_rate,
                                   name=f"{name}_pad", rank=rank)
    x = conv_cls(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        dilation_rate=dilation_rate,
        groups=groups,
        use_bias=(not norm) if use_bias is None else bool(use_bias),
        kernel_initializer=kernel_initializer,
        name=f"{name}_conv",
    )(x)
    if norm:
        x = batch_norm(name=f"{name}_bn")(x)
    if activation is not None:
        x = keras.layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x


def _tuple(value, rank):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank


def symmetric_pad(x, kernel_size, *, strides=1, dilation_rate=1, name: str, rank: int = 2):
    """PyTorch-style padding for a following `"valid"` conv or pooling: `dilation * (k - 1) // 2` per side.

    Returns `(x, padding)`, the padding to give that layer: for stride 1 and odd kernels `"same"` pads the
    same pixels, so no layer is added and `"same"` is returned; otherwise `x` goes through a ZeroPadding
    layer named `name` and `"valid"` is returned. (Zero padding before a max-pool equals PyTorch's -inf
    padding only on non-negative inputs, e.g. after a ReLU.)
    """
    kernel, stride, dilation = _tuple(kernel_size, rank), _tuple(strides, rank), _tuple(dilation_rate, rank)
    pads = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))
    if all(s == 1 for s in stride) and all(k % 2 for k in kernel):
        return x, "same"
    pad_cls = keras.layers.ZeroPadding2D if rank == 2 else keras.layers.ZeroPadding3D
    return pad_cls(pads, name=name)(x), "valid"


def set_input_normalization(model: keras.Model, mean, std) -> None:
    """Make the model's `rescale` layer (from `image_input`) compute `(x / 255 - mean) / std` per channel.

    For weights trained on normalised images (ImageNet: mean (0.485, 0.456, 0.406), std (0.229, 0.224,
    0.225)); the model keeps taking 0..255 pixels. Set before the model is first called (its `scale` and
    `offset` are config values, saved in `.keras` files).
    """
    try:
        layer = model.get_layer("rescale")
    except ValueError:
        raise ValueError(f"model {model.name!r} has no 'rescale' input layer (built without image_input)") from None
    if len(mean) != len(std):
        raise ValueError(f"mean and std must have one value per channel, received {mean!r} and {std!r}")
    layer.scale = [float(1.0 / (255.0 * s)) for s in std]
    layer.offset = [float(-m / s) for m, s in zip(mean, std)]


def image_input(input_shape, *, name: str = "image", scale: float = 1.0 / 255.0):
    """The input of every vras_keras model: float images in 0..255, rescaled inside the model.

    Models take raw pixel values (float32, 0..255) so that datasets, the demo, SavedModel and TFLite
    (including int8 calibration) all feed the same thing.

    Returns:
        `(inputs, x)`: the `keras.Input` and the rescaled tensor (`x = inputs * scale`).
    """
    inputs = keras.Input(shape=tuple(input_shape), name=name)
    x = keras.layers.Rescaling(scale, name="rescale")(inputs)
    return inputs, x
