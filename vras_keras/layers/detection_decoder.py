"""`DetectionDecoder`: box decoding + score activation + class-wise NMS, the last layer of a detector."""

from __future__ import annotations

import keras
from keras import ops

from vras_keras.ops.boxes import _check_format, _check_weights, clip_boxes, decode_deltas
from vras_keras.ops.nms import _check_nms_args, multiclass_non_max_suppression

BOX_ENCODINGS = ("deltas", "boxes")
SCORE_ACTIVATIONS = ("sigmoid", "softmax", "none")


@keras.saving.register_keras_serializable(package="vras_keras")
class DetectionDecoder(keras.layers.Layer):
    """Decode box predictions and run class-wise NMS into padded detections (TFLite built-ins only).

    Reference: the post-processing of Faster R-CNN (arXiv:1506.01497) and YOLO (arXiv:1612.08242);
    the NMS is `vras_keras.ops.nms.multiclass_non_max_suppression` (no `combined_non_max_suppression`).

    Args:
        box_encoding: `"deltas"` (inputs are `(dx, dy, dw, dh)` relative to anchors, decoded with
            `vras_keras.ops.boxes.decode_deltas`) or `"boxes"` (inputs are already boxes, e.g. YOLO).
        bounding_box_format: format of the anchors, of `"boxes"` inputs and of the output boxes.
        delta_weights: `(wx, wy, ww, wh)` of the delta coding (e.g. `(10, 10, 5, 5)` for a box head).
        score_activation: `"sigmoid"`, `"softmax"` or `"none"` (scores are already probabilities).
        background_index: `None`, or the class column holding the background (softmax heads, usually 0):
            it is dropped after the activation (with its per-class box, if any) and classes above it shift
            down by one, so output classes are 0-based foreground ids.
        image_shape: `None` or `(height, width)`: decoded boxes are clipped to the image.
        iou_threshold, score_threshold, max_detections, pre_nms_top_k: see
            `multiclass_non_max_suppression`.

    Call arguments:
        inputs: a list `[box_predictions, class_predictions]` plus `anchors` last for `"deltas"`:
            `box_predictions` `(B, N, 4)` or per class `(B, N, C, 4)`; `class_predictions` `(B, N, C)`
            logits (or probabilities with `score_activation="none"`); `anchors` `(B, N, 4)` (e.g. from
            `AnchorGenerator`).

    Returns:
        A dict `{"boxes": (B, K, 4), "scores": (B, K), "classes": (B, K) int32 padded with -1,
        "num_detections": (B,) int32}` with `K = max_detections`.

    Example:
        >>> decoder = DetectionDecoder(box_encoding="boxes", score_activation="none", max_detections=10)
        >>> out = decoder([boxes, scores])       # boxes (B, N, 4) xyxy, scores (B, N, C)
    """

    def __init__(
        self,
        box_encoding="deltas",
        bounding_box_format="xyxy",
        delta_weights=(1.0, 1.0, 1.0, 1.0),
        score_activation="sigmoid",
        background_index=None,
        image_shape=None,
        iou_threshold=0.5,
        score_threshold=0.05,
        max_detections=100,
        pre_nms_top_k=1000,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if box_encoding not in BOX_ENCODINGS:
            raise ValueError(f"box_encoding must be one of {BOX_ENCODINGS}, received {box_encoding!r}")
        if score_activation not in SCORE_ACTIVATIONS:
            raise ValueError(f"score_activation must be one of {SCORE_ACTIVATIONS}, received {score_activation!r}")
        if background_index is not None and int(background_index) < 0:
            raise ValueError(f"background_index must be None or a class index >= 0, received {background_index}")
        if image_shape is not None and (len(image_shape) != 2 or any(int(s) <= 0 for s in image_shape)):
            raise ValueError(f"image_shape must be None or (height, width), received {image_shape}")
        _check_nms_args(iou_threshold, max_detections, pre_nms_top_k)
        self.box_encoding = box_encoding
        self.bounding_box_format = _check_format(bounding_box_format)
        self.delta_weights = list(_check_weights(delta_weights))
        self.score_activation = score_activation
        self.background_index = None if background_index is None else int(background_index)
        self.image_shape = None if image_shape is None else [int(s) for s in image_shape]
        self.iou_threshold = float(iou_threshold)
        self.score_threshold = float(score_threshold)
        self.max_detections = int(max_detections)
        self.pre_nms_top_k = None if pre_nms_top_k is None else int(pre_nms_top_k)

    def _split(self, inputs):
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        expected = 3 if self.box_encoding == "deltas" else 2
        if len(inputs) != expected:
            names = "[box_predictions, class_predictions" + (", anchors]" if expected == 3 else "]")
            raise ValueError(f"DetectionDecoder(box_encoding={self.box_encoding!r}) takes {names}, "
                             f"received {len(inputs)} input(s)")
        return inputs if expected == 3 else inputs + [None]

    def call(self, inputs):
        box_pred, class_pred, anchors = self._split(inputs)
        class_pred = ops.cast(class_pred, "float32")
        box_pred = ops.cast(box_pred, "float32")
        if self.score_activation == "sigmoid":
            scores = ops.sigmoid(class_pred)
        elif self.score_activation == "softmax":
            scores = ops.softmax(class_pred, axis=-1)
        else:
            scores = class_pred
        per_class = len(box_pred.shape) == 4
        if self.background_index is not None:
            bg, c = self.background_index, scores.shape[-1]
            keep = [i for i in range(c) if i != bg]
            scores = ops.take(scores, keep, axis=-1)
            if per_class:
                box_pred = ops.take(box_pred, keep, axis=2)
        if self.box_encoding == "deltas":
            anchors = ops.cast(anchors, "float32")
            if per_class:
                anchors = ops.expand_dims(anchors, 2)
            boxes = decode_deltas(anchors, box_pred, weights=self.delta_weights,
                                  bounding_box_format=self.bounding_box_format)
        else:
            boxes = box_pred
        if self.image_shape is not None:
            boxes = clip_boxes(boxes, *self.image_shape, bounding_box_format=self.bounding_box_format)
        return multiclass_non_max_suppression(
            boxes, scores, max_detections=self.max_detections, iou_threshold=self.iou_threshold,
            score_threshold=self.score_threshold, pre_nms_top_k=self.pre_nms_top_k,
            bounding_box_format=self.bounding_box_format,
        )

    def compute_output_shape(self, input_shape):
        batch, k = input_shape[0][0], self.max_detections
        return {"boxes": (batch, k, 4), "scores": (batch, k), "classes": (batch, k), "num_detections": (batch,)}

    def compute_output_spec(self, inputs):
        shapes = self.compute_output_shape([tuple(t.shape) for t in self._split(inputs) if t is not None])
        dtypes = {"boxes": "float32", "scores": "float32", "classes": "int32", "num_detections": "int32"}
        return {key: keras.KerasTensor(shape, dtype=dtypes[key]) for key, shape in shapes.items()}

    def get_config(self):
        return {
            **super().get_config(),
            "box_encoding": self.box_encoding,
            "bounding_box_format": self.bounding_box_format,
            "delta_weights": self.delta_weights,
            "score_activation": self.score_activation,
            "background_index": self.background_index,
            "image_shape": self.image_shape,
            "iou_threshold": self.iou_threshold,
            "score_threshold": self.score_threshold,
            "max_detections": self.max_detections,
            "pre_nms_top_k": self.pre_nms_top_k,
        }
