"""The course's three ways to predict joint positions, on the same backbone.

- `pose_regression` (DeepPose, Toshev & Szegedy, arXiv:1312.4659): backbone → global average pooling →
  dense `2K` coordinates (+ a dense `K` visibility head as confidence); L2 loss on coordinates.
- `pose_heatmap` (Tompson et al. arXiv:1406.2984; head of SimpleBaseline, Xiao et al. arXiv:1804.06208):
  backbone → transposed-conv upsampling head → K heatmaps; cross-entropy against one-hot or Gaussian
  target heatmaps; position = hard argmax at inference (not differentiable, quantised to the grid).
- `pose_integral` (Sun et al., Integral Human Pose Regression, arXiv:1711.08229): the same heatmap head →
  `SoftArgmax2D`; loss = heatmap cross-entropy + L2 on the expected coordinates.

Every model takes float32 images in 0..255 and returns a dict:
  `{"keypoints": (N, K, 3)}` (regression) or `{"heatmaps": (N, h, w, K), "keypoints": (N, K, 3)}`,
where `keypoints` is the inference output `(x, y, confidence)` in input-image pixels (the data's convention:
pixel centres at integer + 0.5). Confidence: the visibility head's probability (regression), the peak
softmax probability of the heatmap (heatmap and integral). `keypoints_model(model)` is the
inference-only form; `compile_args(model)` gives the losses and metrics for `model.fit` on targets from
`training_targets` (the `(N, K, 3)` `(x, y, visibility)` tensor, for every output).

Backbones come by registry id through `vras_keras.models.backbones.backbone_features` (e.g. `"resnet18"`
truncated at `level="C4"`), or as a built `keras.Model` (images 0..255 in; `pyramid_outputs`, one feature
map or a `{level: map}` dict out).
"""

from __future__ import annotations

import keras

from vras_keras.layers import batch_norm
from vras_keras.layers.soft_argmax import HeatmapArgmax2D, SoftArgmax2D
from vras_keras.losses.pose import TARGET_KINDS, HeatmapCrossEntropy, KeypointL2Loss, pack_keypoint_targets
from vras_keras.metrics.pose import PCK, MeanPixelError
from vras_keras.models.backbones import backbone_features, check_builder_args, load_weights, scaled
from vras_keras.models.registry import register

KINDS = ("regression", "heatmap", "integral")


# ------------------------------------------------------------------------------------------- backbone
def _check(name, *, num_joints, input_shape, width, weights):
    check_builder_args(name, input_shape=input_shape, num_classes=num_joints, classes_field="num_joints",
                       width=width, weights=weights, static=True)


def _features(name, backbone, *, input_shape, level, width, backbone_kwargs):
    """`(image input, feature map)` of the backbone at `level` (`backbones.backbone_features`)."""
    inputs, features = backbone_features(backbone, level, input_shape=input_shape, width=width, name=name,
                                         **(backbone_kwargs or {}))
    return inputs, features[level]


def _with_backbone_weights(backbone_kwargs, backbone_weights):
    if backbone_weights is None:
        return backbone_kwargs
    if "weights" in (backbone_kwargs or {}):
        raise ValueError("give the backbone's weights once: backbone_weights or backbone_kwargs['weights']")
    return {**(backbone_kwargs or {}), "weights": backbone_weights}


# ----------------------------------------------------------------------------------------------- heads
def heatmap_head(x, num_joints: int, *, filters: int = 256, num_upsample: int = 3, name: str = "head"):
    """SimpleBaseline head: `num_upsample` x (4x4 stride-2 transposed conv → BN → ReLU) → 1x1 conv to K maps.

    Layer names `{name}_up{i}_deconv/_bn/_relu` and `"heatmaps"` (float32 logits `(N, h, w, K)`).
    """
    for i in range(1, num_upsample + 1):
        x = keras.layers.Conv2DTranspose(
            filters, 4, strides=2, padding="same", use_bias=False, kernel_initializer="he_normal",
            name=f"{name}_up{i}_deconv",
        )(x)
        x = batch_norm(name=f"{name}_up{i}_bn")(x)
        x = keras.layers.Activation("relu", name=f"{name}_up{i}_relu")(x)
    return keras.layers.Conv2D(num_joints, 1, dtype="float32", name="heatmaps")(x)


def _stride(inputs, heatmaps) -> float:
    sh = inputs.shape[1] / heatmaps.shape[1]
    sw = inputs.shape[2] / heatmaps.shape[2]
    if sh != sw or sh != int(sh):
        raise ValueError(
            f"the heatmap ({heatmaps.shape[1]}x{heatmaps.shape[2]}) must divide the input "
            f"({inputs.shape[1]}x{inputs.shape[2]}) by one integer stride"
        )
    return float(sh)


def _heatmap_model(kind, *, backbone, num_joints, input_shape, width, level, head_filters, num_upsample,
                   temperature, backbone_kwargs, weights, name):
    _check(name, num_joints=num_joints, input_shape=input_shape, width=width, weights=weights)
    if isinstance(num_upsample, bool) or not isinstance(num_upsample, int) or num_upsample < 0:
        raise ValueError(f"{name}: num_upsample must be an int >= 0, received {num_upsample!r}")
    inputs, features = _features(name, backbone, input_shape=input_shape, level=level, width=width,
                                 backbone_kwargs=backbone_kwargs)
    heatmaps = heatmap_head(features, num_joints, filters=scaled(head_filters, width), num_upsample=num_upsample)
    stride = _stride(inputs, heatmaps)
    if kind == "heatmap":
        keypoints = HeatmapArgmax2D(coordinate_scale=stride, name="keypoints")(heatmaps)
    else:
        keypoints = SoftArgmax2D(temperature=temperature, coordinate_scale=stride, return_confidence=True,
                                 name="keypoints")(heatmaps)
    return load_weights(keras.Model(inputs, {"heatmaps": heatmaps, "keypoints": keypoints}, name=name), weights)


# -------------------------------------------------------------------------------------------- builders
@register("pose_regression", task="pose")
def pose_regression(*, backbone="resnet50", num_joints: int = 17, input_shape=(256, 192, 3), width: float = 1.0,
                    level: str = "C5", backbone_kwargs=None, weights=None, backbone_weights=None):
    """Direct regression (DeepPose): backbone → global pooling → dense 2K coordinates + K visibility.

    Reference: Toshev & Szegedy, DeepPose, CVPR 2014 (arXiv:1312.4659), with a ResNet backbone as in
    Sun et al.'s direct-regression baseline (arXiv:1711.08229).

    Args:
        backbone: registry id or a built backbone `keras.Model` (with `pyramid_outputs`, a dict of
            feature maps, or one feature map out; `vras_keras.models.backbones.backbone_features`).
        num_joints: K.
        input_shape: `(H, W, 3)`.
        width: channel multiplier of the backbone.
        level: the backbone feature level used (`"C5"`; `"C4"` truncates it).
        backbone_kwargs: extra arguments of the backbone builder.
        weights: None or a `.weights.h5` file of the whole model (no pretrained weights are downloaded).
        backbone_weights: None, `"imagenet"` or a file for the backbone (registry id only): see
            `vras_keras.models.pretrained`.

    Returns:
        `keras.Model`: images `(N, H, W, 3)` in 0..255 → `{"keypoints": (N, K, 3)}` (x, y in input pixels,
        visibility probability).
    """
    _check("pose_regression", num_joints=num_joints, input_shape=input_shape, width=width, weights=weights)
    backbone_kwargs = _with_backbone_weights(backbone_kwargs, backbone_weights)
    inputs, features = _features("pose_regression", backbone, input_shape=input_shape, level=level, width=width,
                                 backbone_kwargs=backbone_kwargs)
    h, w = input_shape[0], input_shape[1]
    x = keras.layers.GlobalAveragePooling2D(name="pool")(features)
    coords = keras.layers.Dense(2 * num_joints, dtype="float32", kernel_initializer="zeros", name="coords_dense")(x)
    coords = keras.layers.Reshape((num_joints, 2), dtype="float32", name="coords_reshape")(coords)
    # the dense layer predicts offsets from the image centre in units of the image size
    coords = keras.layers.Rescaling([float(w), float(h)], [w / 2.0, h / 2.0], dtype="float32", name="coords")(coords)
    vis = keras.layers.Dense(num_joints, activation="sigmoid", dtype="float32", name="visibility")(x)
    vis = keras.layers.Reshape((num_joints, 1), dtype="float32", name="visibility_reshape")(vis)
    keypoints = keras.layers.Concatenate(axis=-1, dtype="float32", name="keypoints")([coords, vis])
    return load_weights(keras.Model(inputs, {"keypoints": keypoints}, name="pose_regression"), weights)


@register("pose_heatmap", task="pose")
def pose_heatmap(*, backbone="resnet50", num_joints: int = 17, input_shape=(256, 192, 3), width: float = 1.0,
                 level: str = "C5", head_filters: int = 256, num_upsample: int = 3, backbone_kwargs=None,
                 weights=None, backbone_weights=None):
    """Heatmap regression: backbone → upsampling head → K heatmaps; hard argmax + peak probability.

    Reference: Tompson et al., NeurIPS 2014 (arXiv:1406.2984); head of Xiao et al., Simple Baselines,
    ECCV 2018 (arXiv:1804.06208): three 4x4 stride-2 transposed convs of 256 filters on ResNet C5, so the
    heatmaps have stride 4.

    Args:
        backbone, num_joints, input_shape, width, level, backbone_kwargs, weights, backbone_weights: as
            `pose_regression`.
        head_filters: filters of each upsampling stage (times `width`).
        num_upsample: number of x2 upsampling stages.

    Returns:
        `keras.Model`: images → `{"heatmaps": (N, h, w, K) logits, "keypoints": (N, K, 3)}` (argmax
        position in input pixels, peak softmax probability).
    """
    backbone_kwargs = _with_backbone_weights(backbone_kwargs, backbone_weights)
    return _heatmap_model("heatmap", backbone=backbone, num_joints=num_joints, input_shape=input_shape,
                          width=width, level=level, head_filters=head_filters, num_upsample=num_upsample,
                          temperature=1.0, backbone_kwargs=backbone_kwargs, weights=weights,
                          name="pose_heatmap")


@register("pose_integral", task="pose")
def pose_integral(*, backbone="resnet50", num_joints: int = 17, input_shape=(256, 192, 3), width: float = 1.0,
                  level: str = "C5", head_filters: int = 256, num_upsample: int = 3, temperature: float = 1.0,
                  backbone_kwargs=None, weights=None, backbone_weights=None):
    """Integral regression: the heatmap head → `SoftArgmax2D` (differentiable, sub-pixel).

    Reference: Sun et al., Integral Human Pose Regression, ECCV 2018 (arXiv:1711.08229).

    Args:
        as `pose_heatmap`, plus `temperature` of the soft-argmax.

    Returns:
        `keras.Model`: images → `{"heatmaps": (N, h, w, K) logits, "keypoints": (N, K, 3)}` (expected
        position in input pixels, peak softmax probability).
    """
    backbone_kwargs = _with_backbone_weights(backbone_kwargs, backbone_weights)
    return _heatmap_model("integral", backbone=backbone, num_joints=num_joints, input_shape=input_shape,
                          width=width, level=level, head_filters=head_filters, num_upsample=num_upsample,
                          temperature=temperature, backbone_kwargs=backbone_kwargs, weights=weights,
                          name="pose_integral")


# ---------------------------------------------------------------------------------- training / inference
def model_kind(model: keras.Model) -> str:
    """`"regression"`, `"heatmap"` or `"integral"`, from the model's `keypoints` layer."""
    try:
        layer = model.get_layer("keypoints")
    except ValueError:
        raise ValueError(f"model {model.name!r} is not a vras_keras pose model (no 'keypoints' layer)") from None
    if isinstance(layer, SoftArgmax2D):
        return "integral"
    if isinstance(layer, HeatmapArgmax2D):
        return "heatmap"
    return "regression"


def num_joints_of(model: keras.Model) -> int:
    return int(model.get_layer("keypoints").output.shape[1])


def keypoints_model(model: keras.Model) -> keras.Model:
    """The inference form: images `(N, H, W, 3)` → `(N, K, 3)` (x, y, confidence), sharing `model`'s layers."""
    return keras.Model(model.inputs[0], model.get_layer("keypoints").output, name=f"{model.name}_keypoints")


def heatmap_stride(model: keras.Model) -> float:
    return _stride(model.inputs[0], model.get_layer("heatmaps").output)


def compile_args(model: keras.Model, *, optimizer=None, target: str = "gaussian", sigma: float = 1.0,
                 coordinate_weight: float = 1.0, visibility_weight: float = 0.1, pck_alphas=(0.05, 0.1)) -> dict:
    """Keyword arguments of `model.compile` for a pose model (losses per output, PCK and mean error).

    Args:
        optimizer: default Adam(1e-3).
        target: heatmap target kind, `"gaussian"` or `"one_hot"` (heatmap and integral models).
        sigma: Gaussian sigma in heatmap pixels.
        coordinate_weight: weight of the L2 term of the integral loss (coordinates in heatmap pixels,
            i.e. divided by the stride, so that both terms are O(1)).
        visibility_weight: weight of the visibility BCE of the regression model's confidence head.
        pck_alphas: PCK thresholds reported as metrics.
    """
    if target not in TARGET_KINDS:
        raise ValueError(f"target must be one of {TARGET_KINDS}, received {target!r}")
    kind = model_kind(model)
    metrics = {"keypoints": [MeanPixelError()] + [PCK(a) for a in pck_alphas]}
    if kind == "regression":
        size = float(max(model.inputs[0].shape[1:3]))
        loss = {"keypoints": KeypointL2Loss(scale=size, visibility_weight=visibility_weight)}
        weights = None
    else:
        stride = heatmap_stride(model)
        loss = {"heatmaps": HeatmapCrossEntropy(stride=stride, kind=target, sigma=sigma)}
        weights = None
        if kind == "integral":
            loss["keypoints"] = KeypointL2Loss(scale=stride)
            weights = {"heatmaps": 1.0, "keypoints": float(coordinate_weight)}
    args = {"optimizer": optimizer or keras.optimizers.Adam(1e-3), "loss": loss, "metrics": metrics}
    if weights is not None:
        args["loss_weights"] = weights
    return args


def training_targets(model: keras.Model, keypoints, visibility) -> dict:
    """The target dict for `model.fit`: the `(N, K, 3)` keypoint target for each output of `model`.

    Works on tensors (inside `tf.data.map`, shapes checked statically) and arrays.

    Raises:
        ValueError: keypoint/visibility shapes that do not match, or a joint count different from the model's.
    """
    target = pack_keypoint_targets(keypoints, visibility)
    k = num_joints_of(model)
    if target.shape[-2] != k:
        raise ValueError(
            f"keypoints of shape {tuple(keypoints.shape)} have {target.shape[-2]} joints, but model "
            f"{model.name!r} predicts {k} joints"
        )
    names = ["keypoints"] + (["heatmaps"] if model_kind(model) != "regression" else [])
    return {name: target for name in names}


def training_dataset(model: keras.Model, dataset):
    """Map a `datasets.load("pose", ...)` dataset of `(image, {"keypoints", "visibility"})` to fit's format."""
    return dataset.map(lambda image, t: (image, training_targets(model, t["keypoints"], t["visibility"])))
