"""Anchor layers: `AnchorGenerator` (RPN / SSD-style anchors) and `YoloDecode` (YOLO priors -> boxes).

Both are thin wrappers over `vras_keras.ops.anchors`; anchors are NumPy constants computed from static
shapes and broadcast over the batch, so they fold into SavedModel and TFLite graphs.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from vras_keras.ops import anchors as anchor_ops
from vras_keras.ops.boxes import _check_format, convert_format


def _as_nested_list(value):
    return [_as_nested_list(v) for v in value] if isinstance(value, (list, tuple)) else value


@keras.saving.register_keras_serializable(package="vras_keras")
class AnchorGenerator(keras.layers.Layer):
    """Anchors of every feature level (sizes x aspect ratios per cell), for the images of a batch.

    Reference: Ren et al., Faster R-CNN, NeurIPS 2015 (arXiv:1506.01497), section 3.1.1; per-level sizes
    as in FPN (Lin et al., arXiv:1612.03144).

    Args:
        sizes: anchor sizes in pixels (square root of the area): a flat tuple shared by all levels, or one
            tuple per level, e.g. `((32,), (64,), (128,))` for FPN levels of strides `(8, 16, 32)`.
        aspect_ratios: `height / width` ratios, flat (shared) or one tuple per level.
        strides: stride in pixels of each level.
        offset: anchor centre inside its cell, in cells (0.5 = cell centre, 0.0 = detectron2).
        bounding_box_format: format of the anchors (default `"xyxy"` pixels).

    Call arguments:
        images: `(B, H, W, C)` images (static H, W); only the shape is used. Level `l` has
            `ceil(H / strides[l]) x ceil(W / strides[l])` cells.

    Returns:
        `(B, N, 4)` anchors (the same for every image), ordered level, row, column, size, ratio; see
        `vras_keras.ops.anchors.generate_anchors`.

    Example:
        >>> gen = AnchorGenerator(sizes=(32, 64), aspect_ratios=(0.5, 1.0, 2.0), strides=(16,))
        >>> gen(np.zeros((2, 64, 64, 3))).shape   # 4 x 4 cells x 6 anchors
        (2, 96, 4)
    """

    def __init__(self, sizes, aspect_ratios=(0.5, 1.0, 2.0), strides=(16,), offset=0.5,
                 bounding_box_format="xyxy", **kwargs):
        super().__init__(**kwargs)
        anchor_ops.validate_anchor_args(sizes, aspect_ratios, strides, offset)
        self.sizes = _as_nested_list(sizes)
        self.aspect_ratios = _as_nested_list(aspect_ratios)
        self.strides = [int(s) for s in strides]
        self.offset = float(offset)
        self.bounding_box_format = _check_format(bounding_box_format)

    @property
    def num_anchors_per_location(self) -> list[int]:
        """Anchors per cell of each level (the `A` of a head with `A * 4` delta channels)."""
        return anchor_ops.num_anchors_per_location(self.sizes, self.aspect_ratios, self.strides)

    def anchors_for(self, height: int, width: int) -> np.ndarray:
        """`(N, 4)` NumPy anchors of an image of `height x width` pixels."""
        return anchor_ops.generate_anchors(
            (height, width), sizes=self.sizes, aspect_ratios=self.aspect_ratios, strides=self.strides,
            offset=self.offset, bounding_box_format=self.bounding_box_format,
        )

    def _check_shape(self, shape):
        if len(shape) != 4 or shape[1] is None or shape[2] is None:
            raise ValueError(f"AnchorGenerator needs (B, H, W, C) images with static H, W, received {shape}")

    def call(self, images):
        self._check_shape(images.shape)
        anchors = self.anchors_for(images.shape[1], images.shape[2])
        return ops.broadcast_to(ops.convert_to_tensor(anchors)[None], (ops.shape(images)[0],) + anchors.shape)

    def compute_output_shape(self, input_shape):
        self._check_shape(input_shape)
        return (input_shape[0], len(self.anchors_for(input_shape[1], input_shape[2])), 4)

    def get_config(self):
        return {
            **super().get_config(),
            "sizes": self.sizes,
            "aspect_ratios": self.aspect_ratios,
            "strides": self.strides,
            "offset": self.offset,
            "bounding_box_format": self.bounding_box_format,
        }


@keras.saving.register_keras_serializable(package="vras_keras")
class YoloDecode(keras.layers.Layer):
    """Decode raw YOLO predictions (all levels concatenated) into pixel boxes and class scores.

    Reference: Redmon & Farhadi, YOLO9000 (arXiv:1612.08242), section 2 "Direct location prediction":
    `bx = sigmoid(tx) + cx`, `bw = pw * exp(tw)` in grid units; YOLOv3 (arXiv:1804.02767).

    Args:
        image_shape: `(height, width)` of the model input, in pixels.
        strides: stride of each output level (e.g. `(32,)` for v2, `(8, 16, 32)` for v3).
        priors: one list of `(w, h)` priors **in grid cells of that level** per level.
        class_activation: `"softmax"` (v2) or `"sigmoid"` (v3).
        bounding_box_format: format of the returned boxes.

    Call arguments:
        raw: `(B, N, 5 + C)` predictions `[tx, ty, tw, th, objectness logit, class logits]`, ordered
            level, row, column, prior (see `vras_keras.ops.anchors.yolo_prediction_table`).

    Returns:
        A dict `{"boxes": (B, N, 4), "scores": (B, N, C)}` with `scores = objectness * class probability`.

    Example:
        >>> dec = YoloDecode(image_shape=(64, 64), strides=(32,), priors=[[(1, 1), (2, 1)]])
        >>> out = dec(np.zeros((1, 8, 8), "float32"))   # 2 x 2 cells x 2 priors, 3 classes
        >>> out["boxes"].shape, out["scores"].shape
        ((1, 8, 4), (1, 8, 3))
    """

    def __init__(self, image_shape, strides, priors, class_activation="sigmoid", bounding_box_format="xyxy",
                 **kwargs):
        super().__init__(**kwargs)
        if len(image_shape) != 2 or any(int(s) <= 0 for s in image_shape):
            raise ValueError(f"image_shape must be (height, width) in pixels, received {image_shape}")
        if class_activation not in ("softmax", "sigmoid"):
            raise ValueError(f"class_activation must be 'softmax' or 'sigmoid', received {class_activation!r}")
        self.image_shape = [int(s) for s in image_shape]
        self.strides = [int(s) for s in strides]
        self.priors = [[[float(v) for v in p] for p in level] for level in priors]
        self.class_activation = class_activation
        self.bounding_box_format = _check_format(bounding_box_format)
        self.table = anchor_ops.yolo_prediction_table(self.image_shape, self.strides, self.priors)

    @property
    def num_predictions(self) -> int:
        return len(self.table["cx"])

    def call(self, raw):
        if raw.shape[1] != self.num_predictions:
            raise ValueError(
                f"YoloDecode expects {self.num_predictions} predictions for image {self.image_shape}, "
                f"strides {self.strides} and priors {[len(p) for p in self.priors]}, received {raw.shape[1]}"
            )
        boxes, scores = anchor_ops.decode_yolo(raw, self.table, class_activation=self.class_activation)
        if self.bounding_box_format != "xyxy":
            h, w = self.image_shape
            boxes = convert_format(boxes, "xyxy", self.bounding_box_format, height=h, width=w)
        return {"boxes": boxes, "scores": scores}

    def compute_output_shape(self, input_shape):
        return {"boxes": (input_shape[0], input_shape[1], 4),
                "scores": (input_shape[0], input_shape[1], input_shape[2] - 5)}

    def get_config(self):
        return {
            **super().get_config(),
            "image_shape": self.image_shape,
            "strides": self.strides,
            "priors": self.priors,
            "class_activation": self.class_activation,
            "bounding_box_format": self.bounding_box_format,
        }
