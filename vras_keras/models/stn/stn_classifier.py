"""Spatial-transformer classifiers and their plain-CNN baseline (Jaderberg et al., arXiv:1506.02025).

- `stn_classifier`: `SpatialTransformer` (layer `"stn"`) in front of a small CNN;
- `cnn_classifier`: the very same CNN without the transformer (the baseline);
- `stn3d_classifier`: the 3-D version for volumes `(D, H, W, C)`.

The CNN (Jaderberg et al.'s baselines: convolutions, max-pooling, fully connected): `conv_norm_act` blocks
`conv1..conv3` (32, 64, 128 filters × `width`), each followed by 2×2 max-pooling, then `flatten`, a
fully-connected layer `"fc"` (256 × `width` units, batch norm, ReLU), dropout 0.5 and a dense
`"predictions"` layer. No global
pooling: it would already make the CNN largely invariant to translation, the distortion the transformer is
meant to undo. The localisation network works on a
2× downsampled input: max-pool → conv 5×5 → max-pool → conv 5×5 → max-pool → dense (Jaderberg et al.'s
CNN localisation network, scaled down). In 3-D, stride-2 convolutions replace the max-pooling (TFLite has
no 3-D pooling built-in). Models take float32 images in 0..255 (rescaled inside) and
return class probabilities (`classifier_activation="softmax"`) or logits (`None`).

To see what the transformer does: `keras.Model(model.input, model.get_layer("stn").output)`, or
`model.get_layer("stn").theta(rescaled_images)` for the predicted transforms.
"""

from __future__ import annotations

import keras

from vras_keras.layers import SpatialTransformer, batch_norm, conv_norm_act, image_input
from vras_keras.models.backbones import check_builder_args, load_weights, scaled
from vras_keras.models.registry import register


def _localization(rank: int, width: float) -> list:
    if rank == 3:  # TFLite has no 3-D pooling built-in: downsample with strided convolutions
        conv = keras.layers.Conv3D
        return [
            conv(scaled(8, width), 3, strides=2, padding="same", activation="relu", name="loc_conv0"),
            conv(scaled(16, width), 3, strides=2, padding="same", activation="relu", name="loc_conv1"),
            conv(scaled(32, width), 3, strides=2, padding="same", activation="relu", name="loc_conv2"),
            keras.layers.Flatten(name="loc_flatten"),
            keras.layers.Dense(scaled(64, width), activation="relu", name="loc_fc"),
        ]
    return [
        keras.layers.MaxPooling2D(2, padding="same", name="loc_pool0"),
        keras.layers.Conv2D(scaled(16, width), 5, padding="same", activation="relu", name="loc_conv1"),
        keras.layers.MaxPooling2D(2, padding="same", name="loc_pool1"),
        keras.layers.Conv2D(scaled(32, width), 5, padding="same", activation="relu", name="loc_conv2"),
        keras.layers.MaxPooling2D(2, padding="same", name="loc_pool2"),
        keras.layers.Flatten(name="loc_flatten"),
        keras.layers.Dense(scaled(64, width), activation="relu", name="loc_fc"),
    ]


def _build(*, input_shape, num_classes, include_top, width, classifier_activation, stn, transform, output_size,
           weights, name):
    check_builder_args(name, input_shape=input_shape, num_classes=num_classes, width=width, weights=weights,
                       ranks=(2, 3), static=True)
    input_shape = tuple(input_shape)
    rank = len(input_shape) - 1
    inputs, x = image_input(input_shape)
    if stn:
        x = SpatialTransformer(
            localization=_localization(rank, width), transform=transform, output_size=output_size, name="stn"
        )(x)
    if rank == 2:
        x = conv_norm_act(x, scaled(32, width), 3, name="conv1")
        x = keras.layers.MaxPooling2D(2, padding="same", name="pool1")(x)
        x = conv_norm_act(x, scaled(64, width), 3, name="conv2")
        x = keras.layers.MaxPooling2D(2, padding="same", name="pool2")(x)
        x = conv_norm_act(x, scaled(128, width), 3, name="conv3")
        x = keras.layers.MaxPooling2D(2, padding="same", name="pool3")(x)
    else:  # no 3-D pooling built-in in TFLite: strided convolutions instead
        x = conv_norm_act(x, scaled(32, width), 3, strides=2, name="conv1", rank=3)
        x = conv_norm_act(x, scaled(64, width), 3, strides=2, name="conv2", rank=3)
        x = conv_norm_act(x, scaled(128, width), 3, strides=2, name="conv3", rank=3)
    if include_top:
        # Fully connected, as Jaderberg et al.'s baselines: no global pooling, which would already give the
        # CNN the translation invariance the transformer is meant to provide.
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(scaled(256, width), use_bias=False, name="fc")(x)
        x = batch_norm(name="fc_bn")(x)
        x = keras.layers.ReLU(name="fc_relu")(x)
        x = keras.layers.Dropout(0.5, name="dropout")(x)
        x = keras.layers.Dense(num_classes, activation=classifier_activation, name="predictions",
                               dtype="float32")(x)
    return load_weights(keras.Model(inputs, x, name=name), weights)


@register("stn_classifier", task="stn")
def stn_classifier(*, input_shape=(48, 48, 1), num_classes=10, transform="affine", output_size=None,
                   include_top=True, width=1.0, classifier_activation="softmax", weights=None):
    """Spatial transformer + small CNN classifier (Jaderberg et al., arXiv:1506.02025).

    Args:
        input_shape: `(H, W, C)` of the float32 0..255 input images.
        num_classes: number of classes.
        transform: the `SpatialTransformer` parametrisation (`"affine"`, `"similarity"`,
            `"rotation_translation"`, `"translation_scale"`).
        output_size: `(h, w)` the transformer resamples to (default: the input size).
        include_top: add `flatten`, `"fc"` and `"predictions"` (else return the last pooled feature map).
        width: channel multiplier of the CNN and the localisation network.
        classifier_activation: activation of `"predictions"` (`None` for logits).
        weights: None or a `.weights.h5` file of the whole model (no pretrained weights exist).
    """
    return _build(input_shape=input_shape, num_classes=num_classes, include_top=include_top, width=width,
                  classifier_activation=classifier_activation, stn=True, transform=transform,
                  output_size=output_size, weights=weights, name="stn_classifier")


@register("cnn_classifier", task="stn")
def cnn_classifier(*, input_shape=(48, 48, 1), num_classes=10, include_top=True, width=1.0,
                   classifier_activation="softmax", weights=None):
    """The CNN of `stn_classifier` without the spatial transformer (the baseline).

    Args: as `stn_classifier`, without `transform` / `output_size`.
    """
    return _build(input_shape=input_shape, num_classes=num_classes, include_top=include_top, width=width,
                  classifier_activation=classifier_activation, stn=False, transform=None, output_size=None,
                  weights=weights, name="cnn_classifier")


@register("stn3d_classifier", task="stn")
def stn3d_classifier(*, input_shape=(32, 32, 32, 1), num_classes=10, transform="affine", output_size=None,
                     include_top=True, width=1.0, classifier_activation="softmax", weights=None):
    """3-D spatial transformer + small 3-D CNN classifier for volumes `(D, H, W, C)`.

    Args: as `stn_classifier`, with `input_shape` `(D, H, W, C)` and `output_size` `(d, h, w)`.
    """
    if len(tuple(input_shape)) != 4:
        raise ValueError(f"stn3d_classifier needs input_shape (D, H, W, C), received {tuple(input_shape)}")
    return _build(input_shape=input_shape, num_classes=num_classes, include_top=include_top, width=width,
                  classifier_activation=classifier_activation, stn=True, transform=transform,
                  output_size=output_size, weights=weights, name="stn3d_classifier")
