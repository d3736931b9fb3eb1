"""LIFT: Learned Invariant Feature Transform (Yi, Trulls, Lepetit, Fua, ECCV 2016, arXiv:1603.09114).

Three small CNNs joined by differentiable samplers (spatial transformers with given parameters):

```
patch (P x P x 3, 0..255) ─► detector ─► score map (P x P x 1) ─► SoftArgmax2D ─► keypoint (x, y)
   │                                                                              │
   ├─────────────── OrientedPatches "crop" (support C px, upright) ◄──────────────┤
   │                      └─► orientation ─► (cos, sin) ─► angle                   │
   └─────────────── OrientedPatches "crop_rotate" (support C px, rotated) ◄────────┘
                          └─► descriptor ─► L2-normalised vector (128-D)
```

`lift(...)` returns that patch pipeline as one functional model (what training differentiates end to
end) with outputs `{"score_map", "keypoint", "angle", "descriptor"}`; the sub-networks are nested
models reachable as `model.get_layer("detector" | "orientation" | "descriptor")`. The detector is fully
convolutional, so at inference it runs over the whole image:

- `detect_and_describe(model, image, max_keypoints=500)`: detector score map → NMS (max-pool, border,
  local-contrast guard) → top-K → orientation and descriptor on the selected patches → `Features`
  (`keypoints` `(K, 5)`: x, y, scale, angle, score; `descriptors` `(K, D)`; `message`);
- matching the descriptors of two images: `vras_keras.metrics.matching.match_descriptors`;
- `lift_inference_model(model, image_size=(H, W), max_keypoints=K)`: the same pipeline (both keypoint
  selections, fixed crop support) as one Keras model (image → keypoints, angles, scores, valid,
  descriptors) that converts to TFLite built-ins.

Conventions: keypoints `(x, y)` in pixels with pixel centres at integers (OpenCV's); angles in radians
from the x axis towards y (down); `scale` is the side in pixels of the region the descriptor sees.
Training: `vras_keras.training.lift`.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import cv2
import keras
import numpy as np
import tensorflow as tf

from vras_keras.data.images import to_rgb
from vras_keras.layers import SoftArgmax2D, conv_norm_act, image_input
from vras_keras.layers.keypoints import (
    ChannelMean,
    GaussianBlur,
    KeypointNMS,
    MergeOctaves,
    OctavePoints,
    OrientationAngle,
    OrientedPatches,
    ScaleSpaceKeypoints,
    SelectOctave,
    _whole,
)
from vras_keras.models.detection.roi_heads import RoIWise  # the per-RoI wrapper serves per-keypoint here
from vras_keras.models.registry import register
from vras_keras.ops.keypoints import (
    check_presmooth,
    fast_scale_space_keypoints,
    gaussian_kernel_1d,
    gray_level,
    gray_patches,
    nms_keypoints,
    oriented_patches,
    vector_to_angle,
)

__all__ = ["DOG_SCALES", "Features", "describe_keypoints", "detect_and_describe", "detector_front_end", "dog_responses",
           "dog_scale", "lift", "lift_inference_model", "octave_count", "octave_images", "scale_space_responses"]


def _channels(filters: int, width: float) -> int:
    return max(4, int(round(filters * width)))


DOG_SIGMAS = (0.8, 1.3, 2.0, 3.2, 5.0)
# Characteristic scale of each difference of Gaussians: the geometric mean of its two sigmas (px).
DOG_SCALES = tuple(math.sqrt(a * b) for a, b in zip(DOG_SIGMAS[:-1], DOG_SIGMAS[1:]))


def dog_scale(index):
    """Scale (sigma, px) of a fractional DoG channel index: log-linear interpolation of `DOG_SCALES`
    (extrapolated beyond the first / last channel)."""
    logs = np.log(np.asarray(DOG_SCALES))
    index = np.asarray(index, np.float64)
    lo = np.clip(np.floor(index), 0, len(logs) - 2).astype(int)
    frac = index - lo
    return np.exp(logs[lo] + frac * (logs[lo + 1] - logs[lo]))


def dog_kernel(sigmas=DOG_SIGMAS, channels: int = 3) -> np.ndarray:
    """`(k, k, channels, len(sigmas) - 1)` kernel: on an image in 0..1, output j is the difference of
    Gaussians `G(sigmas[j + 1]) - G(sigmas[j])` of its gray level (channel mean), scaled by 10."""
    radius = int(math.ceil(2.5 * max(sigmas)))
    r = np.arange(-radius, radius + 1, dtype=np.float64)
    yy, xx = np.meshgrid(r, r, indexing="ij")
    gaussians = []
    for sigma in sigmas:
        g = np.exp(-(xx**2 + yy**2) / (2.0 * sigma**2))
        gaussians.append(g / g.sum())
    dogs = np.stack([gaussians[j + 1] - gaussians[j] for j in range(len(sigmas) - 1)], axis=-1) * 10.0
    return np.repeat(dogs[:, :, None, :] / channels, channels, axis=2).astype("float32")


def lift_detector(*, width: float = 1.0, train_front_end: bool = False, name: str = "detector") -> keras.Model:
    """Fully convolutional detector: image `(N, H, W, 3)` 0..255 → score map `(N, H, W, 1)` (logits).

    A scale-space front end, as the paper's multi-scale detector: a 27 x 27 convolution `det_dog` set to
    four differences of Gaussians (sigma 0.8 to 5 px, `dog_kernel`), its output concatenated with the
    image; then three `conv_norm_act` layers (5 x 5, 3 x 3 dilated by 2, 3 x 3) and a linear 3 x 3 score
    layer. Stride 1: the score map has the input's resolution.

    The front end is frozen by default (`train_front_end=False`; `LiftStages` keeps it frozen in the
    detector stage): it stays an exact DoG stack, whose scale-space extrema `detect_and_describe` uses as
    keypoints, and the detector stage gets cheaper (no gradient through the 27 x 27 kernel). Training it
    in a short run made those extrema less repeatable (0.55 vs 0.70 on training pairs).
    """
    inputs, x = image_input((None, None, 3), name="patch")
    kernel = dog_kernel()
    dog = keras.layers.Conv2D(kernel.shape[-1], kernel.shape[0], padding="same", use_bias=False, name="det_dog")
    features = keras.layers.Concatenate(name="det_concat")([dog(x), x])
    x = conv_norm_act(features, _channels(16, width), 5, name="det1")
    x = conv_norm_act(x, _channels(16, width), 3, dilation_rate=2, name="det2")
    x = conv_norm_act(x, _channels(16, width), 3, name="det3")
    # float32 outputs (also under a mixed-precision policy): the losses and the soft argmax need the range
    score = keras.layers.Conv2D(1, 3, padding="same", name="score", dtype="float32")(x)
    model = keras.Model(inputs, score, name=name)
    dog.set_weights([kernel])
    dog.trainable = bool(train_front_end)
    model.train_front_end = bool(train_front_end)
    return model


def detector_front_end(detector: keras.Model) -> keras.Model:
    """The detector's scale-space front end as a model sharing its weights: image `(N, H, W, 3)` 0..255 →
    DoG responses `(N, H, W, S)` (its `det_dog` layer)."""
    return keras.Model(detector.input, detector.get_layer("det_dog").output, name="detector_front_end")


def scale_space_responses(detector: keras.Model, images, presmooth: float = 0.0):
    """The detector's scale-space front end (`det_dog` layer) on images `(N, H, W, 3)` 0..255 → `(N, H, W, S)`,
    after a Gaussian blur of `presmooth` px (0: none; `GaussianBlur` in the exported graph).

    While `det_dog` holds the exact DoG stack (`dog_kernel`, i.e. frozen, the default) this is computed as
    separable Gaussian blurs of the gray level (`cv2.sepFilter2D`, zero padding as the convolution's "same"),
    which equals the 27 x 27 convolution up to float rounding at a small fraction of its cost; a trained
    front end runs the layer itself.
    """
    presmooth = check_presmooth(presmooth)
    kernel = detector.get_layer("det_dog").get_weights()[0]
    if kernel.shape != _DOG_KERNEL.shape or not np.allclose(kernel, _DOG_KERNEL, rtol=0, atol=1e-7):
        if presmooth:
            images = GaussianBlur(presmooth)(np.asarray(images, np.float32))
        return detector_front_end(detector)(images, training=False)
    return dog_responses(images, presmooth=presmooth)


_DOG_KERNEL = dog_kernel()


def dog_responses(images, sigmas=DOG_SIGMAS, presmooth: float = 0.0) -> np.ndarray:
    """`dog_kernel`'s responses by separable filtering: images `(N, H, W, C)` 0..255 → float32 `(N, H, W, S)`.

    A normalised 2-D Gaussian truncated to a square is the outer product of normalised 1-D Gaussians, so
    blurring the gray level (channel mean, 0..1) row- then column-wise with the same radius gives exactly the
    `det_dog` convolution (zero padding), differences scaled by 10. `presmooth` > 0 first blurs the gray level
    by that sigma (px; `gaussian_kernel_1d`, zero padding: `GaussianBlur` before `det_dog`, up to float rounding).
    """
    images = np.asarray(images, np.float32)
    radius = int(math.ceil(2.5 * max(sigmas)))
    kernels = [gaussian_kernel_1d(s, radius) for s in sigmas]
    smooth = gaussian_kernel_1d(presmooth) if check_presmooth(presmooth) else None
    out = []
    for image in images:
        gray = gray_level(image) * np.float32(1.0 / 255.0)
        if smooth is not None:
            gray = cv2.sepFilter2D(gray, cv2.CV_32F, smooth, smooth, borderType=cv2.BORDER_CONSTANT)
        blurs = [cv2.sepFilter2D(gray, cv2.CV_32F, k, k, borderType=cv2.BORDER_CONSTANT) for k in kernels]
        out.append(np.stack([(blurs[j + 1] - blurs[j]) * np.float32(10.0) for j in range(len(sigmas) - 1)], -1))
    return np.stack(out)


SELECTIONS = ("scale_space", "score")


def _scale_space_options(selection, subpixel, refine_3d, edge_ratio) -> dict:
    """Validate `selection`; the `scale_space_keypoints` / `ScaleSpaceKeypoints` options shared by
    `detect_and_describe` and `lift_inference_model` (edge test at 10 unless given)."""
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be 'scale_space' or 'score'; received {selection!r}")
    return {"edge_ratio": 10.0 if edge_ratio is None else edge_ratio,
            "refine": ("3d" if refine_3d else "2d") if subpixel else None}


def _standardize(x, name):
    # Per-patch standardisation (zero mean, unit variance over H, W, C): photometric invariance.
    return keras.layers.LayerNormalization(axis=(1, 2, 3), center=False, scale=False, epsilon=1e-3, name=name)(x)


def lift_orientation(*, input_size: int = 32, width: float = 1.0, grayscale: bool = False,
                     name: str = "orientation") -> keras.Model:
    """Orientation estimator: patch `(N, S, S, 3)` 0..255 → `(N, 2)` vector `(cos, sin)` (unnormalised).

    Starts at the upright orientation (the head's bias is (1, 0), its kernel small). With `grayscale` the
    patch is reduced to its gray level (`ChannelMean`) first.
    """
    inputs, x = image_input((input_size, input_size, 3), name="patch")
    if grayscale:
        x = ChannelMean(name="ori_gray")(x)
    x = _standardize(x, "ori_standardize")
    x = conv_norm_act(x, _channels(16, width), 5, strides=2, name="ori1")
    x = conv_norm_act(x, _channels(32, width), 3, strides=2, name="ori2")
    x = conv_norm_act(x, _channels(64, width), 3, strides=2, name="ori3")
    x = keras.layers.Flatten(name="ori_flatten")(x)
    x = keras.layers.Dense(_channels(64, width), activation="relu", name="ori_fc")(x)
    vector = keras.layers.Dense(
        2,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
        bias_initializer=keras.initializers.Constant([1.0, 0.0]),
        name="vector",
        dtype="float32",
    )(x)
    return keras.Model(inputs, vector, name=name)


def lift_descriptor(*, input_size: int = 32, descriptor_dim: int = 128, width: float = 1.0, grayscale: bool = False,
                    name: str = "descriptor") -> keras.Model:
    """Descriptor: patch `(N, S, S, 3)` 0..255 → L2-normalised `(N, descriptor_dim)` (S divisible by 8).

    L2-Net-like: per-patch standardisation, 3 x 3 `conv_norm_act` layers (32, 32, 64, 64, 128 filters,
    three of stride 2), a linear conv over the remaining S/8 x S/8 map, L2 normalisation. With `grayscale`
    the patch is reduced to its gray level (`ChannelMean`) first.
    """
    inputs, x = image_input((input_size, input_size, 3), name="patch")
    if grayscale:
        x = ChannelMean(name="desc_gray")(x)
    x = _standardize(x, "desc_standardize")
    x = conv_norm_act(x, _channels(32, width), 3, name="desc1")
    x = conv_norm_act(x, _channels(32, width), 3, strides=2, name="desc2")
    x = conv_norm_act(x, _channels(64, width), 3, name="desc3")
    x = conv_norm_act(x, _channels(64, width), 3, strides=2, name="desc4")
    x = conv_norm_act(x, _channels(128, width), 3, strides=2, name="desc5")
    x = keras.layers.Conv2D(descriptor_dim, input_size // 8, padding="valid", name="desc_out", dtype="float32")(x)
    x = keras.layers.Flatten(name="desc_flatten", dtype="float32")(x)
    x = keras.layers.UnitNormalization(name="desc_l2", dtype="float32")(x)
    return keras.Model(inputs, x, name=name)


def _check_sizes(patch_size, crop_size, descriptor_size, descriptor_dim, width, temperature):
    for label, value in (
        ("patch_size", patch_size),
        ("descriptor_size", descriptor_size),
        ("descriptor_dim", descriptor_dim),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{label} must be a positive int; received {value!r}")
    if descriptor_size % 8:
        raise ValueError(f"descriptor_size must be divisible by 8 (three stride-2 layers); received {descriptor_size}")
    if not 0 < crop_size <= patch_size:
        raise ValueError(f"crop_size must be in (0, patch_size={patch_size}]; received {crop_size!r}")
    if not width > 0:
        raise ValueError(f"width must be > 0; received {width!r}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0; received {temperature!r}")


@register("lift", task="matching")
def lift(*, patch_size: int = 64, crop_size: float = 32.0, descriptor_size: int = 32, descriptor_dim: int = 128,
         width: float = 1.0, temperature: float = 1.0, grayscale: bool = True, weights=None,
         name: str = "lift") -> keras.Model:
    """LIFT patch pipeline: detector → soft-argmax → crop → orientation → rotated crop → descriptor.

    Reference: Yi et al., LIFT: Learned Invariant Feature Transform, ECCV 2016 (arXiv:1603.09114). The
    paper's sizes are 128-px patches, 64-px crops and 64-px descriptor inputs; the defaults here are
    halved for CPU training.

    Args:
        patch_size: side P of the input patches (the detector's training field).
        crop_size: side C, in input pixels, of the region around the keypoint that the orientation and
            descriptor networks see (the keypoint's scale).
        descriptor_size: side S the crop is resampled to (divisible by 8).
        descriptor_dim: length of the descriptor (128 as SIFT and LIFT).
        width: channel multiplier of the three networks.
        temperature: of the soft-argmax over the score map.
        grayscale: the orientation and descriptor networks see gray patches (channel mean of the RGB
            crops), as the paper's; on pairs of photographs not seen in training it matched better
            (benchmarks/RESULTS.md, LIFT section), hence the default; False: RGB patches. The
            detector's DoG front end is gray either way.
        weights: None (random initialisation; no pretrained weights are distributed) or a path to a
            `.weights.h5` file saved from a model with the same arguments.

    Returns:
        A functional model: input `"image"` `(N, P, P, 3)` float32 0..255; outputs `score_map`
        `(N, P, P, 1)`, `keypoint` `(N, 2)` (x, y) in patch pixels, `angle` `(N,)` radians, `descriptor`
        `(N, descriptor_dim)` L2-normalised. Sub-networks: `get_layer("detector" | "orientation" | "descriptor")`.
    """
    _check_sizes(patch_size, crop_size, descriptor_size, descriptor_dim, width, temperature)
    detector = lift_detector(width=width)
    orientation = lift_orientation(input_size=descriptor_size, width=width, grayscale=bool(grayscale))
    descriptor = lift_descriptor(input_size=descriptor_size, descriptor_dim=descriptor_dim, width=width,
                                 grayscale=bool(grayscale))
    inputs = keras.Input((patch_size, patch_size, 3), name="image")
    score_map = detector(inputs)
    # keypoints and angles stay float32 under a mixed-precision policy (pixel coordinates, the losses)
    keypoint = SoftArgmax2D(temperature=float(temperature), name="keypoint_soft_argmax", dtype="float32")(
        score_map)  # (N, 1, 2)
    upright = OrientedPatches(descriptor_size, float(crop_size), flatten=True, name="crop")([inputs, keypoint])
    vector = orientation(upright)
    vector_k = keras.layers.Reshape((1, 2), name="orientation_vector")(vector)
    angle = OrientationAngle(name="angle", dtype="float32")(vector)
    rotated = OrientedPatches(descriptor_size, float(crop_size), flatten=True, name="crop_rotate")(
        [inputs, keypoint, vector_k])
    desc = descriptor(rotated)
    xy = keras.layers.Reshape((2,), name="keypoint", dtype="float32")(keypoint)
    outputs = {"score_map": score_map, "keypoint": xy, "angle": angle, "descriptor": desc}
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model


# ---------------------------------------------------------------------------------------- inference
@dataclasses.dataclass
class Features:
    """Local features of one image.

    Attributes:
        keypoints: float32 `(K, 5)`: x, y (pixels, centres at integers), scale (side of the described
            region, pixels), angle (radians), score (detector logit); strongest first.
        descriptors: float32 `(K, D)`, L2-normalised.
        message: empty when features were found; otherwise why there are none (or what was converted).
    """

    keypoints: np.ndarray
    descriptors: np.ndarray
    message: str = ""

    def __len__(self) -> int:
        return len(self.keypoints)


def _parts(model: keras.Model):
    try:
        return (model.get_layer("detector"), model.get_layer("orientation"), model.get_layer("descriptor"),
                model.get_layer("crop"))
    except ValueError as error:
        raise ValueError(
            f"model {getattr(model, 'name', model)!r} is not a LIFT model (built by `lift`): {error}"
        ) from error


def _border(support: float) -> int:
    return int(math.ceil(support / 2.0))


def _sees_gray(network: keras.Model) -> bool:
    """True when a LIFT orientation / descriptor network reduces its patch to the gray level first
    (`grayscale=True`: a `ChannelMean` right after its input rescaling)."""
    return any(isinstance(layer, ChannelMean) for layer in network.layers[:3])


@functools.lru_cache(maxsize=32)
def _describe_graph(orientation, descriptor, size: int, support: float, scaled: bool):
    """One compiled graph for crop → orientation → rotated crop → descriptor on a batch of keypoints of one RGB
    image (eager Keras calls per step cost more than the networks on a CPU). Networks that see gray patches take
    `describe_keypoints`' NumPy crops instead (`_network_graph`)."""

    def run(image, xy, factors):
        scales = factors[None] if scaled else None

        def crops(vectors=None):
            return oriented_patches(image, xy[None], vectors, output_size=size, support=support, scales=scales)[0]

        vector = orientation(crops(), training=False)
        return vector_to_angle(vector), descriptor(crops(keras.ops.expand_dims(vector, 0)), training=False)

    return tf.function(run, reduce_retracing=True, autograph=False)


@functools.lru_cache(maxsize=32)
def _network_graph(network):
    """A LIFT orientation / descriptor network as a compiled call on gray patches `(K, S, S)`, repeated to the
    three channels it takes (it reduces them to their mean again: `grayscale=True`)."""

    def run(patches):
        return network(keras.ops.repeat(patches[..., None], 3, axis=-1), training=False)

    return tf.function(run, reduce_retracing=True, autograph=False)


def describe_keypoints(model: keras.Model, image, keypoints_xy, *, batch_size: int = 2048, supports=None):
    """Orientation and descriptor at given keypoints of a uint8/float `(H, W, 3)` image.

    `supports` (optional, `(K,)` pixels): per-keypoint side of the described region (default: the model's
    crop support for every keypoint). Keypoints are described `batch_size` at a time.

    When both networks see gray patches (`grayscale=True`, the default) the crops are sampled in NumPy from the
    gray level (`ops.keypoints.gray_patches`, `gray_level`; bilinear sampling is linear, so the networks get the
    same gray patches as from RGB crops up to float rounding, for a third of the gathers and about half the CPU
    of TensorFlow's gathers) and each network runs as one compiled call; otherwise crops and networks run as one
    compiled graph.

    Returns:
        `(angles (K,), descriptors (K, D))` float32.
    """

    _, orientation, descriptor, crop = _parts(model)
    image = np.asarray(image, np.float32)
    xy = np.asarray(keypoints_xy, np.float32).reshape(-1, 2)
    angles, descs = [], []
    size, support = int(crop.output_size), float(crop.support)
    factors = None if supports is None else np.asarray(supports, np.float32).reshape(-1) / np.float32(support)
    if _sees_gray(orientation) and _sees_gray(descriptor):
        gray = gray_level(image)
        orient, describe = _network_graph(orientation), _network_graph(descriptor)

        def batch(points, scales):
            upright = gray_patches(gray, points, None, output_size=size, support=support, scales=scales)
            vector = orient(tf.convert_to_tensor(upright)).numpy()
            turned = gray_patches(gray, points, vector, output_size=size, support=support, scales=scales)
            return np.arctan2(vector[:, 1], vector[:, 0]), describe(tf.convert_to_tensor(turned)).numpy()
    else:
        rgb = tf.convert_to_tensor(image[None])
        run = _describe_graph(orientation, descriptor, size, support, factors is not None)

        def batch(points, scales):
            scales = np.ones((len(points),), np.float32) if scales is None else scales
            angle, desc = run(rgb, tf.convert_to_tensor(points), tf.convert_to_tensor(scales))
            return angle.numpy(), desc.numpy()

    for start in range(0, len(xy), batch_size):
        end = start + batch_size
        angle, desc = batch(xy[start:end], None if factors is None else factors[start:end])
        angles.append(angle)
        descs.append(desc)
    dim = descriptor.output_shape[-1]
    if not angles:
        return np.zeros((0,), np.float32), np.zeros((0, dim), np.float32)
    return np.concatenate(angles).astype(np.float32), np.concatenate(descs).astype(np.float32)


# Low-texture images (issue #22): at least MIN_KEYPOINTS scale-space keypoints down to |DoG| LOW_THRESHOLD (chosen
# on blurred, low-contrast versions of the validation photographs; docs/matching.md).
MIN_KEYPOINTS = 200
LOW_THRESHOLD = 0.1
# Octaves (issue #22, real viewpoint changes): keypoints are also sought on the image halved (2 x 2 average),
# halved again, ..., at most OCTAVES levels, each used while its shorter side is at least MIN_OCTAVE_SIDE px (the
# size of the views LIFT trains on); all compete on their scale-normalised |DoG|, as SIFT's octaves do. Chosen on
# the validation photographs at 480 x 640 (docs/matching.md); a 240 x 320 image keeps one octave.
OCTAVES = 4
MIN_OCTAVE_SIDE = 192
# Presmoothing (issue #22): each octave image is blurred by PRESMOOTH px before the DoG front end, as SIFT smooths
# its first octave; fine-scale extrema of noise and aliasing drop out. Chosen on the validation photographs
# (`benchmarks/lift_choices.py presmooth`, docs/matching.md).
PRESMOOTH = 0.6


def _check_octaves(octaves, min_side) -> None:
    _whole("octaves", octaves, 1)
    _whole("min_octave_side", min_side, 1)


def octave_images(image, octaves: int = OCTAVES, min_side: int = MIN_OCTAVE_SIDE) -> list:
    """`[image, image halved, ...]` float32 `(H_o, W_o, C)`: each octave the 2 x 2 average of the one before (an odd
    last row / column dropped, as `AveragePooling2D(2)`), at most `octaves` of them, every one after the first
    with a shorter side of at least `min_side` px."""
    levels = [np.asarray(image, np.float32)]
    for _ in range(1, octave_count(levels[0].shape[:2], octaves, min_side)):
        previous = levels[-1]
        h, w = previous.shape[0] // 2, previous.shape[1] // 2
        # cv2's area resampling by exactly 1/2 is the 2 x 2 mean (a fraction of NumPy's reshape-mean cost)
        half = cv2.resize(previous[:2 * h, :2 * w], (w, h), interpolation=cv2.INTER_AREA)
        levels.append(half.reshape(h, w, -1))
    return levels


def octave_count(image_size, octaves: int = OCTAVES, min_side: int = MIN_OCTAVE_SIDE) -> int:
    """How many octaves `octave_images` makes of an image of `image_size` (H, W)."""
    _check_octaves(octaves, min_side)
    h, w = (int(v) for v in image_size)
    count = 1
    while count < octaves and min(h // 2, w // 2) >= min_side:
        h, w, count = h // 2, w // 2, count + 1
    return count


def detect_and_describe(model: keras.Model, image, *, max_keypoints: int = 500, nms_radius: int = 3,
                        min_contrast: float = 4.0, min_score: float | None = 0.0, subpixel: bool = True,
                        edge_ratio: float | None = None, selection: str = "scale_space",
                        scale_space_threshold: float = 0.3, refine_3d: bool = True,
                        min_keypoints: int = MIN_KEYPOINTS, low_threshold: float | None = LOW_THRESHOLD,
                        reference_sigma: float | None = None, scale_limits=(0.5, 2.0), octaves: int = OCTAVES,
                        min_octave_side: int = MIN_OCTAVE_SIDE, presmooth: float = PRESMOOTH) -> Features:
    """Keypoints and descriptors of one image with a LIFT model.

    The detector runs over the whole image. With `selection="score"` keypoints are the local maxima of its
    score map (NMS radius `nms_radius`, above `min_score`); with `selection="scale_space"` (default) they
    are the 3-D extrema in space and scale of the detector's scale-space front end (its `det_dog` layer,
    four differences of Gaussians, frozen unless built with `train_front_end=True`), above
    `scale_space_threshold`, with SIFT's edge test (`edge_ratio`, 10 when None) — as the paper's detector,
    which takes the scale-space maximum of its score pyramid. Either way keypoints lie at least half a crop
    from the border, on regions whose local gray-level standard deviation is at least `min_contrast`
    (0..255 units), the `max_keypoints` strongest; orientation and descriptor are computed on the crops
    around them. (`scale_space` is the default because its keypoints are much more repeatable with the
    same descriptor: the 'score-map keypoints' row of the LIFT section of benchmarks/RESULTS.md.)

    Args:
        model: a `lift` model.
        image: `(H, W, 3)` RGB, `(H, W)` / `(H, W, 1)` grayscale or `(H, W, 4)` RGBA; uint8, bool or float
            (in [0, 1] or 0..255). Converted to RGB 0..255.
        max_keypoints: at most this many keypoints.
        min_score: detector-logit threshold (default 0: the detector classifies the point as a suitable
            feature point, the course's two-class view); None keeps every maximum.
        subpixel: refine each maximum to sub-pixel accuracy (parabola through it and its neighbours,
            `ops.keypoints.refine_subpixel`); False gives integer pixel positions.
        edge_ratio: drop edge-like maxima of the score map (principal-curvature ratio >= `edge_ratio`,
            SIFT's test, `ops.keypoints.edge_response_mask`); None keeps them (`"score"`) or uses 10
            (`"scale_space"`).
        selection: `"scale_space"` or `"score"` (see above).
        scale_space_threshold: minimum |DoG response| of a scale-space extremum (`"scale_space"` only;
            responses of an image in 0..1, scaled by 10 as in `dog_kernel`); with `refine_3d` it applies to
            the interpolated response at the refined extremum (SIFT's contrast test).
        refine_3d: (`"scale_space"`, with `subpixel`) fit SIFT's 3-D quadratic in (x, y, scale) to each
            extremum (`ops.keypoints.refine_scale_space`); False fits parabolas in x and y on the
            max-over-scales |DoG|.
        min_keypoints, low_threshold: (`"scale_space"`) on an image where fewer than `min_keypoints`
            extrema pass `scale_space_threshold` (low contrast, blur, little texture), the strongest extrema
            down to `low_threshold` are kept until there are `min(min_keypoints, max_keypoints)`; images
            with enough texture are unaffected. Defaults 200 and 0.1, chosen on low-contrast versions of
            the validation photographs (docs/matching.md); `min_keypoints=0` turns it off.
        reference_sigma: (`"scale_space"`) None describes every keypoint on the model's fixed crop support;
            a DoG scale (px) gives each keypoint its own support, `crop.support * sigma / reference_sigma`
            with sigma the (interpolated) DoG scale of its extremum (`dog_scale`), clipped to
            `scale_limits` times the crop support, as SIFT describes each keypoint at its own scale.
        octaves, min_octave_side: (`"scale_space"`) keypoints are sought on up to `octaves` octaves of the
            image (`octave_images`: halved by 2 x 2 averages while the shorter side stays >= `min_octave_side`),
            the `max_keypoints` strongest |DoG| over all of them kept and each described on its own octave (its
            `scale` is then the crop support times 2^octave in image pixels). Defaults 4 and 192 (chosen on
            the validation photographs at 480 x 640; a 240 x 320 image has one octave); `octaves=1` turns it off.
        presmooth: (`"scale_space"`) Gaussian blur (sigma, px of each octave) of the image before the DoG front
            end, as SIFT smooths its first octave: extrema of pixel noise and aliasing drop out. The crops are
            taken from the unblurred image. Default `PRESMOOTH` (chosen on the validation photographs,
            docs/matching.md); 0 turns it off.

    Returns:
        `Features`; an empty one with a `message` for an image smaller than the crop, or without texture.

    Raises:
        TypeError / ValueError: `image` is not an image array (with the received type / shape).
    """

    if isinstance(max_keypoints, bool) or not isinstance(max_keypoints, (int, np.integer)) or max_keypoints < 1:
        raise ValueError(f"max_keypoints must be a positive int; received {max_keypoints!r}")
    scale_space_options = _scale_space_options(selection, subpixel, refine_3d, edge_ratio)
    presmooth = check_presmooth(presmooth)
    detector, _, descriptor, crop = _parts(model)
    raw_shape = np.shape(image)
    rgb = to_rgb(image)
    notes = []
    if raw_shape != rgb.shape:
        notes.append(f"converted image of shape {raw_shape} to RGB {rgb.shape}")
    dim = descriptor.output_shape[-1]
    border = _border(crop.support)
    h, w = rgb.shape[:2]

    def empty(reason):
        return Features(np.zeros((0, 5), np.float32), np.zeros((0, dim), np.float32), "; ".join(notes + [reason]))

    if min(h, w) <= 2 * border:
        return empty(f"image of {h}x{w} px is too small for LIFT: keypoints need {border} px of margin for their "
                     f"{crop.support:g}-px crop, so images must be larger than {2 * border}x{2 * border}")
    k = int(min(max_keypoints, h * w))
    if selection == "score":
        levels = [rgb.astype(np.float32)]
        scores = detector(levels[0][None], training=False)
        points, values, valid = nms_keypoints(scores, k, radius=nms_radius, border=border, images=levels[0][None],
                                              min_contrast=min_contrast, min_score=min_score, subpixel=subpixel,
                                              edge_ratio=edge_ratio)
        valid = keras.ops.convert_to_numpy(valid)[0]
        points = keras.ops.convert_to_numpy(points)[0][valid]
        values = keras.ops.convert_to_numpy(values)[0][valid]
        octave, scale_index = np.zeros((len(points),), np.int64), None
    else:
        levels = octave_images(rgb, octaves, min_octave_side)
        octave, points, values, scale_index = _scale_space_octaves(
            detector, levels, k, presmooth, threshold=scale_space_threshold, border=border, min_contrast=min_contrast,
            min_keypoints=min_keypoints, low_threshold=low_threshold, **scale_space_options)
    if len(points) == 0:
        return empty(f"no keypoints: the image has no region with local contrast >= {min_contrast:g} gray levels "
                     "(textureless) or no detector maximum above min_score")
    supports = np.full((len(points),), crop.support, np.float32)
    if scale_index is not None and reference_sigma is not None:
        lo, hi = scale_limits
        supports = (crop.support * np.clip(dog_scale(scale_index) / reference_sigma, lo, hi)).astype(np.float32)
    angles, descs = np.zeros((len(points),), np.float32), np.zeros((len(points), dim), np.float32)
    for o, level in enumerate(levels):  # each keypoint described on its own octave
        here = octave == o
        if here.any():
            angles[here], descs[here] = describe_keypoints(
                model, level, points[here], supports=None if reference_sigma is None else supports[here])
    factor = (2.0 ** octave).astype(np.float32)
    # back to the image's pixels (centres at integers in every octave); octave 0 unchanged
    xy = np.where(octave[:, None] > 0, (points + 0.5) * factor[:, None] - 0.5, points)
    keypoints = np.concatenate([xy, (supports * factor)[:, None], angles[:, None], values[:, None]], axis=1)
    return Features(keypoints.astype(np.float32), descs, "; ".join(notes))


def _scale_space_octaves(detector, levels, k, presmooth, **selection):
    """The `k` strongest scale-space keypoints of all octave images `levels` (`octave_images`, each blurred by
    `presmooth` px before the front end), strongest first:
    `(octave, points in their octave's pixels, |DoG| values, DoG scale index)`, NumPy; ties go to the finer
    octave, as `top_k` in the exported graph."""
    found = []
    for level in levels:
        image_o = level[None]
        points, values, valid, scale_index = fast_scale_space_keypoints(
            scale_space_responses(detector, image_o, presmooth), image_o, int(min(k, level.shape[0] * level.shape[1])),
            **selection)
        valid = keras.ops.convert_to_numpy(valid)[0]
        found.append([keras.ops.convert_to_numpy(t)[0][valid] for t in (points, values, scale_index)])
    octave = np.concatenate([np.full(len(f[1]), o, np.int64) for o, f in enumerate(found)])
    points, values, scale_index = (np.concatenate(parts) for parts in zip(*found))
    if len(levels) > 1:  # one octave: already strongest first
        order = np.argsort(-values, kind="stable")[:k]
        octave, points, values, scale_index = octave[order], points[order], values[order], scale_index[order]
    return octave, points, values, scale_index


def lift_inference_model(model: keras.Model, *, image_size=(256, 256), max_keypoints: int = 500,
                         nms_radius: int = 3, min_contrast: float = 4.0, min_score: float | None = 0.0,
                         subpixel: bool = True, edge_ratio: float | None = None, selection: str = "scale_space",
                         scale_space_threshold: float = 0.3, refine_3d: bool = True,
                         min_keypoints: int = MIN_KEYPOINTS, low_threshold: float | None = LOW_THRESHOLD,
                         octaves: int = OCTAVES, min_octave_side: int = MIN_OCTAVE_SIDE,
                         presmooth: float = PRESMOOTH, name: str = "lift_inference") -> keras.Model:
    """The whole-image LIFT pipeline as one exportable model (shares the weights of `model`).

    Input `"image"` `(N, H, W, 3)` float32 0..255. Outputs (K = `max_keypoints`, padding flagged by
    `valid`): `keypoints` `(N, K, 2)` (x, y), `scores` `(N, K)`, `valid` `(N, K)` 1/0, `orientations`
    `(N, K, 2)` (cos, sin, unnormalised), `angles` `(N, K)`, `descriptors` `(N, K, D)`. Built-in TFLite ops
    only (max-pool NMS and scale-space extrema, TOPK_V2, gather sampling and refinement); same selection
    rules, arguments and defaults as `detect_and_describe`: `selection="scale_space"` (default) uses
    `ScaleSpaceKeypoints` on the detector's DoG front end (`scores` are then the |DoG| values),
    `selection="score"` `KeypointNMS` on the score map. Every keypoint is described on the fixed crop support
    (`model.get_layer("crop").support`; `detect_and_describe(reference_sigma=...)` has no counterpart here).
    With `"scale_space"`, an `image_size` large enough for several octaves (`octave_count`) gets them as
    `detect_and_describe` does: `AveragePooling2D(2)` octaves, `ScaleSpaceKeypoints` on each, `MergeOctaves`
    keeps the strongest, and each keypoint is cropped from its own octave (`SelectOctave`). `presmooth` > 0
    blurs each octave image (`GaussianBlur`) before the front end.
    """
    scale_space_options = _scale_space_options(selection, subpixel, refine_3d, edge_ratio)
    presmooth = check_presmooth(presmooth)
    detector, orientation, descriptor, crop = _parts(model)
    h, w = (int(s) for s in image_size)
    border = _border(crop.support)
    if min(h, w) <= 2 * border:
        raise ValueError(f"image_size {image_size} is too small: it must exceed {2 * border} px on both sides")
    size, support = crop.output_size, crop.support
    inputs = keras.Input((h, w, 3), name="image")
    if selection == "score":
        scores = detector(inputs)
        points, values, valid = KeypointNMS(max_keypoints, radius=nms_radius, border=border, min_contrast=min_contrast,
                                            min_score=min_score, subpixel=subpixel, edge_ratio=edge_ratio,
                                            name="nms")([scores, inputs])
    n_octaves = octave_count((h, w), octaves, min_octave_side) if selection == "scale_space" else 1
    levels = [inputs]
    for o in range(1, n_octaves):
        levels.append(keras.layers.AveragePooling2D(2, name=f"octave_{o}")(levels[-1]))
    if selection == "scale_space":
        front, found = detector_front_end(detector), []
        for o, level in enumerate(levels):
            found += ScaleSpaceKeypoints(
                max_keypoints, threshold=scale_space_threshold, border=border, min_contrast=min_contrast,
                min_keypoints=min_keypoints, low_threshold=low_threshold,
                name="scale_space" if o == 0 else f"scale_space_{o}", **scale_space_options)(
                [front(GaussianBlur(presmooth, name=f"presmooth_{o}")(level) if presmooth else level), level])[:3]
        if n_octaves == 1:
            points, values, valid = found
        else:
            points, values, valid, octave = MergeOctaves(max_keypoints, name="octaves")(found)
    local = [points] + [OctavePoints(o, name=f"points_{o}")(points) for o in range(1, n_octaves)]

    def crops(name, *vectors):  # (N, K, S, S, 3): each keypoint cropped from its own octave
        per = [OrientedPatches(size, support, name=name if o == 0 else f"{name}_{o}")([level, xy, *vectors])
               for o, (level, xy) in enumerate(zip(levels, local))]
        return per[0] if n_octaves == 1 else SelectOctave(name=f"{name}_octave")([octave] + per)

    upright = crops("crop")
    # keypoints folded into the batch (one call for all K): TimeDistributed unrolls a static K into K calls,
    # a graph of 500 sub-networks that took minutes to trace and export
    vectors_k = RoIWise(orientation, name="orientations")(upright)  # (N, K, 2)
    rotated = crops("crop_rotate", vectors_k)
    descs = RoIWise(descriptor, name="descriptors")(rotated)  # (N, K, D)
    angles = OrientationAngle(name="angles")(vectors_k)
    outputs = {"keypoints": points, "scores": values, "valid": valid, "orientations": vectors_k, "angles": angles,
               "descriptors": descs}
    return keras.Model(inputs, outputs, name=name)
