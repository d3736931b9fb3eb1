"""`RoIAlign`: fixed-size features of boxes, from one feature map or from FPN levels (TFLite built-ins)."""

from __future__ import annotations

import keras

from vras_keras.ops import roi_align as roi_ops
from vras_keras.ops.boxes import _check_format


@keras.saving.register_keras_serializable(package="vras_keras")
class RoIAlign(keras.layers.Layer):
    """Pool a `ph x pw` grid of features for every box by bilinear sampling (gather-based, no Flex op).

    Reference: He et al., Mask R-CNN, ICCV 2017 (arXiv:1703.06870), section 3 "RoIAlign"; the
    `aligned=True` half-pixel convention of detectron2; FPN level assignment of Lin et al.
    (arXiv:1612.03144, eq. 1). See `vras_keras.ops.roi_align` for the exact sampling rules.

    Args:
        output_size: `ph` or `(ph, pw)`, e.g. 7 for a box head, 14 for a mask head.
        strides: stride in pixels of each feature map given to `call` (one map: plain RoIAlign with
            `spatial_scale = 1 / stride`; several: consecutive powers of two, every box is pooled from its
            FPN level).
        sampling_ratio: positive int, points per bin along each axis (the bin averages `sampling_ratio**2`).
        aligned: detectron2's -0.5 pixel shift (True) or the original Mask R-CNN sampling (False).
        canonical_size, canonical_level: FPN assignment, a box of `canonical_size**2` pixels goes to level
            `canonical_level` (stride `2**canonical_level`); unused with one map.
        bounding_box_format: format of the boxes (image pixels).

    Call arguments:
        inputs: a list `[feature_map_1, ..., feature_map_L, boxes]`: maps `(B, H_l, W_l, C)` in the order
            of `strides`, boxes `(B, R, 4)`.

    Returns:
        `(B, R, ph, pw, C)` float32 (always computed in float32; box coordinates are never autocast).

    Example:
        >>> pooled = RoIAlign(output_size=7, strides=(16,))([features, proposals])   # (B, R, 7, 7, C)
    """

    def __init__(self, output_size=7, strides=(16,), sampling_ratio=2, aligned=True, canonical_size=224.0,
                 canonical_level=4, bounding_box_format="xyxy", **kwargs):
        # box coordinates must stay float32 under mixed precision (bf16 cannot hold pixel coordinates)
        super().__init__(**{"autocast": False, **kwargs})
        strides = [int(s) for s in (strides if isinstance(strides, (list, tuple)) else [strides])]
        size, ratio = roi_ops.check_roi_align_args(output_size, sampling_ratio, strides if len(strides) > 1 else None)
        if strides[0] <= 0:
            raise ValueError(f"strides must be positive, received {strides}")
        if float(canonical_size) <= 0:
            raise ValueError(f"canonical_size must be > 0, received {canonical_size}")
        self.output_size = list(size)
        self.strides = strides
        self.sampling_ratio = ratio
        self.aligned = bool(aligned)
        self.canonical_size = float(canonical_size)
        self.canonical_level = int(canonical_level)
        self.bounding_box_format = _check_format(bounding_box_format)

    def _split(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != len(self.strides) + 1:
            raise ValueError(
                f"RoIAlign(strides={self.strides}) takes [{len(self.strides)} feature map(s), boxes], "
                f"received {len(inputs) if isinstance(inputs, (list, tuple)) else 1} input(s)"
            )
        return list(inputs[:-1]), inputs[-1]

    def call(self, inputs):
        features, boxes = self._split(inputs)
        return roi_ops.multilevel_roi_align(
            features, keras.ops.cast(boxes, "float32"), strides=self.strides, output_size=self.output_size,
            sampling_ratio=self.sampling_ratio, aligned=self.aligned, canonical_size=self.canonical_size,
            canonical_level=self.canonical_level, bounding_box_format=self.bounding_box_format,
        )

    def compute_output_shape(self, input_shape):
        features, boxes = self._split(input_shape)
        return (boxes[0], boxes[1], *self.output_size, features[0][-1])

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(self.compute_output_shape([tuple(t.shape) for t in inputs]), dtype="float32")

    def get_config(self):
        return {
            **super().get_config(),
            "output_size": self.output_size,
            "strides": self.strides,
            "sampling_ratio": self.sampling_ratio,
            "aligned": self.aligned,
            "canonical_size": self.canonical_size,
            "canonical_level": self.canonical_level,
            "bounding_box_format": self.bounding_box_format,
        }


@keras.saving.register_keras_serializable(package="vras_keras")
class PasteMasks(keras.layers.Layer):
    """Instance masks on the full image: each detection's class mask, pasted into its box (Mask R-CNN).

    Reference: He et al., Mask R-CNN (arXiv:1703.06870), section 3 "Inference": the `m x m` mask of the
    predicted class is resized to the box and binarised at 0.5. The resize is
    `vras_keras.ops.roi_align.paste_masks` (bilinear, detectron2's `paste_masks_in_image` convention,
    built-in TFLite ops only).

    Args:
        image_shape: `(height, width)` of the output masks (the model input).
        threshold: binarisation threshold on the sigmoid probabilities (0.5); `None` keeps probabilities.
        bounding_box_format: format of the boxes.
        num_slots: None, or pad the output with empty masks to this many detection slots (the masks were
            computed for the first `K <= num_slots` slots only, see `KeptDetections`).

    Call arguments:
        inputs: `[mask_logits (B, K, m, m, C), boxes (B, K, 4), classes (B, K) int]`; padded detections have
            class -1 and get an empty mask.

    Returns:
        `(B, K, H, W)` (or `(B, num_slots, H, W)`) float32 masks (0/1 with a threshold).

    Example:
        >>> masks = PasteMasks(image_shape=(64, 64))([mask_logits, det["boxes"], det["classes"]])
    """

    def __init__(self, image_shape, threshold=0.5, bounding_box_format="xyxy", num_slots=None, **kwargs):
        super().__init__(**{"autocast": False, **kwargs})
        if len(image_shape) != 2 or any(int(s) <= 0 for s in image_shape):
            raise ValueError(f"image_shape must be (height, width), received {image_shape}")
        if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"threshold must be None or in [0, 1], received {threshold}")
        if num_slots is not None and (isinstance(num_slots, bool) or int(num_slots) <= 0):
            raise ValueError(f"num_slots must be None or a positive int, received {num_slots!r}")
        self.image_shape = [int(s) for s in image_shape]
        self.threshold = None if threshold is None else float(threshold)
        self.bounding_box_format = _check_format(bounding_box_format)
        self.num_slots = None if num_slots is None else int(num_slots)

    def call(self, inputs):
        logits, boxes, classes = inputs
        classes = keras.ops.cast(classes, "int32")
        logits = keras.ops.cast(logits, "float32")
        chosen = keras.ops.take_along_axis(logits, keras.ops.maximum(classes, 0)[:, :, None, None, None], axis=-1)
        probs = keras.ops.sigmoid(chosen[..., 0]) * keras.ops.cast(classes >= 0, "float32")[:, :, None, None]
        masks = roi_ops.paste_masks(probs, keras.ops.cast(boxes, "float32"), self.image_shape,
                                    threshold=self.threshold, bounding_box_format=self.bounding_box_format)
        if self.num_slots is None:
            return masks
        missing = self.num_slots - keras.ops.shape(masks)[1]
        return keras.ops.pad(masks, [[0, 0], [0, missing], [0, 0], [0, 0]])

    def compute_output_shape(self, input_shape):
        slots = input_shape[1][1] if self.num_slots is None else self.num_slots
        return (input_shape[1][0], slots, *self.image_shape)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(self.compute_output_shape([tuple(t.shape) for t in inputs]), dtype="float32")

    def get_config(self):
        return {
            **super().get_config(),
            "image_shape": self.image_shape,
            "threshold": self.threshold,
            "bounding_box_format": self.bounding_box_format,
            "num_slots": self.num_slots,
        }


@keras.saving.register_keras_serializable(package="vras_keras")
class KeptDetections(keras.layers.Layer):
    """The first `max(num_detections)` slots of padded detections (at least one): what Mask R-CNN inference
    runs its mask head on and pastes, instead of every one of the `K` slots (issue #25).

    Detections are sorted best first and padded at the end, so the first `max_b num_detections[b]` slots
    hold every kept detection of every image of the batch; the slot count is dynamic (`None`).

    Call arguments:
        inputs: `[boxes (B, K, 4), classes (B, K), num_detections (B,)]`.

    Returns:
        `[boxes (B, k, 4), classes (B, k)]` with `k = max(1, max(num_detections))`.

    Example:
        >>> boxes, classes = KeptDetections()([det["boxes"], det["classes"], det["num_detections"]])
    """

    def call(self, inputs):
        boxes, classes, num_detections = inputs
        k = keras.ops.maximum(keras.ops.max(keras.ops.cast(num_detections, "int32")), 1)
        return [boxes[:, :k], classes[:, :k]]

    def compute_output_shape(self, input_shape):
        boxes, classes, _ = input_shape
        return [(boxes[0], None, boxes[2]), (classes[0], None)]

    def compute_output_spec(self, inputs):
        boxes, classes, _ = inputs
        return [keras.KerasTensor((boxes.shape[0], None, boxes.shape[2]), dtype=boxes.dtype),
                keras.KerasTensor((classes.shape[0], None), dtype=classes.dtype)]
