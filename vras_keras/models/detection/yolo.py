"""YOLO v2 and v3: grid detectors with anchor priors, trained with `model.fit(images, {"boxes", "classes"})`.

References: Redmon & Farhadi, YOLO9000: Better, Faster, Stronger (arXiv:1612.08242) and YOLOv3: An
Incremental Improvement (arXiv:1804.02767).

Every cell of an output grid predicts, for each of its P priors, the course's per-cell vector
`[tx, ty, tw, th, objectness, class_1 .. class_C]`: the box centre is `(sigmoid(tx) + cx) * stride`, its
size `prior * exp(tw)`; objectness and class probabilities (softmax in v2, sigmoid in v3) give
`score = objectness * p(class)`. The training model outputs all raw vectors of all scales concatenated,
`(B, N, 5 + C)` (`N = sum over scales of cells * P`); `YoloDetector.make_inference_model()` appends
`YoloDecode` and the class-wise NMS of `DetectionDecoder` and returns `boxes, scores, classes,
num_detections` (exports to SavedModel and to TFLite with built-in ops only).

Loss (`YoloDetector.compute_loss`, per image, summed over predictions, averaged over the batch):

- each valid ground truth is assigned to the prior (over all scales) whose shape fits it best (IoU of
  centred boxes) and to the cell containing its centre at that prior's scale (with `assign_threshold`,
  also to every other prior whose shape IoU exceeds it);
- box regression: squared error of `sigmoid(tx), sigmoid(ty)` to the centre offset in the cell and of
  `tw, th` to `log(size / prior)`, weighted by `2 - w*h / image area` (small boxes count more);
- objectness: binary cross-entropy, target 1 at assigned predictions, 0 elsewhere, except predictions
  whose decoded box has IoU `> ignore_threshold` with some ground truth (not penalised);
- classes: softmax cross-entropy (v2) or per-class binary cross-entropy (v3) at assigned predictions.

Padded (class -1), out-of-range, zero-area and non-finite ground truths are ignored inside the loss (the
detectors' shared `vras_keras.ops.boxes.sanitize_targets`), so batches with such targets or without objects
never give NaN.

Backbones: `yolo_v3` takes `backbone="darknet53"` (the paper's Darknet-53) or `"darknet_tiny"` (the
default: a small Darknet the CPU recipes train in minutes), or any classification id / model exposing
C3..C5; see docs/detection.md.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from vras_keras.layers import conv_norm_act
from vras_keras.layers.anchors import YoloDecode
from vras_keras.layers.detection_decoder import DetectionDecoder
from vras_keras.models.backbones import backbone_features, check_builder_args, load_weights, scaled
from vras_keras.models.classification.darknet import ACTIVATION
from vras_keras.models.registry import register
from vras_keras.ops import anchors as anchor_ops
from vras_keras.ops.boxes import iou, sanitize_targets


# ------------------------------------------------------------------------------------------ the model
def _default_priors(version, input_shape):
    """Paper priors in pixels, scaled from the papers' 416 x 416 inputs to `input_shape`."""
    scale = min(input_shape[0], input_shape[1]) / 416.0
    if version == 2:
        return [(w * 32 * scale, h * 32 * scale) for w, h in anchor_ops.YOLO_V2_PRIORS]
    return [(w * scale, h * scale) for w, h in anchor_ops.YOLO_V3_PRIORS_PIXELS]


def _split_priors(priors, strides):
    """Pixel priors (sorted small -> large, split evenly over the scales) -> grid units per scale."""
    priors = np.asarray(priors, np.float32).reshape(-1, 2)
    if len(priors) % len(strides):
        raise ValueError(f"{len(priors)} priors cannot be split evenly over {len(strides)} scales {list(strides)}")
    priors = priors[np.argsort(priors.prod(-1), kind="stable")]
    per = len(priors) // len(strides)
    return [anchor_ops.priors_to_grid(priors[i * per : (i + 1) * per], s).tolist() for i, s in enumerate(strides)]


@keras.saving.register_keras_serializable(package="vras_keras")
class YoloDetector(keras.Model):
    """A functional YOLO network (raw `(B, N, 5 + C)` output) with the YOLO loss and an inference model.

    Built by `yolo_v2` / `yolo_v3`; constructed like a functional model plus the YOLO settings.

    Args:
        num_classes: C.
        image_shape: `(height, width)` of the input.
        strides: stride of each output scale, in the order of the concatenated predictions.
        priors: per scale, the `(w, h)` priors in grid cells of that scale.
        class_activation: `"softmax"` (v2) or `"sigmoid"` (v3).
        ignore_threshold: predictions whose box has IoU above this with a ground truth get no
            objectness loss.
        box_weight, objectness_weight, class_weight: weights of the three loss terms.
        assign_threshold: `None` (the papers: one positive per ground truth, its best prior) or a
            shape-IoU threshold: every other prior (on any scale) whose centred IoU with the ground
            truth exceeds it is a positive too, at the cell of the centre on its scale (like YOLOv4's
            `iou_thresh` multi-anchor assignment); more positives train the class and box outputs of
            every prior, at the cost of more duplicates for the NMS.
    """

    def __init__(self, *args, num_classes, image_shape, strides, priors, class_activation="sigmoid",
                 ignore_threshold=0.5, box_weight=1.0, objectness_weight=1.0, class_weight=1.0,
                 assign_threshold=None, **kwargs):
        super().__init__(*args, **kwargs)
        if not 0.0 < ignore_threshold <= 1.0:
            raise ValueError(f"ignore_threshold must be in (0, 1], received {ignore_threshold}")
        if assign_threshold is not None and not 0.0 < assign_threshold < 1.0:
            raise ValueError(f"assign_threshold must be None or in (0, 1), received {assign_threshold}")
        self.assign_threshold = None if assign_threshold is None else float(assign_threshold)
        self.num_classes = int(num_classes)
        self.image_shape = [int(s) for s in image_shape]
        self.strides = [int(s) for s in strides]
        self.priors = [[[float(v) for v in p] for p in level] for level in priors]
        self.class_activation = class_activation
        self.ignore_threshold = float(ignore_threshold)
        self.box_weight = float(box_weight)
        self.objectness_weight = float(objectness_weight)
        self.class_weight = float(class_weight)
        self._decode = YoloDecode(self.image_shape, self.strides, self.priors, class_activation=class_activation)
        table = self._decode.table
        if int(self.outputs[0].shape[1]) != len(table["cx"]):
            raise ValueError(f"the network predicts {self.outputs[0].shape[1]} boxes, the YOLO settings "
                             f"describe {len(table['cx'])}")
        self._build_assignment_tables(table)
        self.loss_trackers = {k: keras.metrics.Mean(name=f"{k}_loss") for k in ("box", "objectness", "class")}

    def _build_assignment_tables(self, table):
        """Constants to map a prior (over all scales) + a cell to the index of its prediction."""
        h, w = self.image_shape
        prior_wh, prior_level, prior_local, offsets, sizes = [], [], [], [], []
        offset = 0
        for level, (stride, priors) in enumerate(zip(self.strides, self.priors)):
            fh, fw = anchor_ops.feature_map_size(h, stride), anchor_ops.feature_map_size(w, stride)
            for p, (pw, ph) in enumerate(priors):
                prior_wh.append((pw * stride, ph * stride))
                prior_level.append(level)
                prior_local.append(p)
            offsets.append(offset)
            sizes.append((fh, fw, len(priors)))
            offset += fh * fw * len(priors)
        self._prior_wh = np.asarray(prior_wh, np.float32)
        self._prior_level = np.asarray(prior_level, np.int32)
        self._prior_local = np.asarray(prior_local, np.int32)
        self._level_offset = np.asarray(offsets, np.int32)
        self._level_size = np.asarray(sizes, np.int32)
        self._table = table

    @property
    def metrics(self):
        return [*super().metrics, *self.loss_trackers.values()]

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "image_shape": self.image_shape,
            "strides": self.strides,
            "priors": self.priors,
            "class_activation": self.class_activation,
            "ignore_threshold": self.ignore_threshold,
            "box_weight": self.box_weight,
            "objectness_weight": self.objectness_weight,
            "class_weight": self.class_weight,
            "assign_threshold": self.assign_threshold,
        }

    # ----------------------------------------------------------------------------------- training
    def yolo_loss(self, raw, boxes, classes):
        """The three loss terms `(box, objectness, class)`, each `(B,)`, for raw predictions and targets.

        Args:
            raw: `(B, N, 5 + C)` network output.
            boxes: `(B, M, 4)` xyxy pixel ground truths; classes: `(B, M)` int, -1 = padding.
        """
        raw = ops.cast(raw, "float32")
        height, width = self.image_shape
        boxes, classes, valid = sanitize_targets(boxes, classes, image_shape=self.image_shape,
                                                 num_classes=self.num_classes)  # (B, M, 4), (B, M), (B, M)
        validf = ops.cast(valid, "float32")
        gt_validf = validf
        gw = ops.where(valid, boxes[..., 2] - boxes[..., 0], 1.0)
        gh = ops.where(valid, boxes[..., 3] - boxes[..., 1], 1.0)
        gx, gy = boxes[..., 0] + 0.5 * gw, boxes[..., 1] + 0.5 * gh

        # best prior of each ground truth: IoU of centred boxes
        pw, ph = self._prior_wh[:, 0], self._prior_wh[:, 1]
        inter = ops.minimum(gw[..., None], pw) * ops.minimum(gh[..., None], ph)
        shape_iou = inter / (gw[..., None] * gh[..., None] + pw * ph - inter)
        best = ops.cast(ops.argmax(shape_iou, axis=-1), "int32")  # (B, M)
        index = self._prediction_index(best, gx, gy)
        if self.assign_threshold is not None:
            # extra positives: every other prior whose shape IoU with the ground truth exceeds the
            # threshold, at the cell of the centre on that prior's scale; they come after the best
            # priors, so a best-prior assignment wins a collision
            num_priors = len(self._prior_wh)
            all_priors = ops.broadcast_to(ops.arange(num_priors, dtype="int32"), (*ops.shape(best), num_priors))
            extra_index = self._prediction_index(all_priors, gx[..., None], gy[..., None])  # (B, M, P)
            extra = (shape_iou > self.assign_threshold) & (all_priors != best[..., None]) & valid[..., None]
            batch = ops.shape(best)[0]
            index = ops.concatenate([index, ops.reshape(extra_index, (batch, -1))], axis=1)
            repeat = lambda v: ops.concatenate(  # noqa: E731
                [v, ops.reshape(ops.repeat(v[..., None], num_priors, axis=-1), (batch, -1))], axis=1)
            validf = ops.concatenate([validf, ops.reshape(ops.cast(extra, "float32"), (batch, -1))], axis=1)
            valid = validf > 0
            gx, gy, gw, gh, classes = (repeat(v) for v in (gx, gy, gw, gh, classes))
        n = raw.shape[1]
        m = ops.shape(index)[1]
        assign = ops.one_hot(index, n) * validf[..., None]  # (B, M, N)
        priority = assign * ops.cast(m - ops.arange(m), "float32")[None, :, None]  # first gt wins a collision
        owner = ops.cast(ops.argmax(priority, axis=1), "int32")  # (B, N)
        positive = ops.max(assign, axis=1)  # (B, N) in {0, 1}

        def per_prediction(values):  # (B, M) -> (B, N) value of the owning ground truth
            return ops.take_along_axis(values, owner, axis=1)

        t = self._table
        tgt_x = per_prediction(gx) / t["stride"] - t["cx"]
        tgt_y = per_prediction(gy) / t["stride"] - t["cy"]
        tgt_w = ops.log(per_prediction(gw) / t["prior_w"])
        tgt_h = ops.log(per_prediction(gh) / t["prior_h"])
        scale = 2.0 - per_prediction(gw * gh) / float(height * width)
        box_err = (
            ops.square(ops.sigmoid(raw[..., 0]) - tgt_x) + ops.square(ops.sigmoid(raw[..., 1]) - tgt_y)
            + ops.square(raw[..., 2] - tgt_w) + ops.square(raw[..., 3] - tgt_h)
        )
        box_loss = ops.sum(positive * scale * box_err, axis=1)

        pred_boxes, _ = self._decode_raw(ops.stop_gradient(raw))
        overlaps = iou(pred_boxes, boxes) * gt_validf[:, None, :]  # (B, N, M)
        ignore = ops.cast(ops.max(overlaps, axis=-1) > self.ignore_threshold, "float32") * (1.0 - positive)
        obj_bce = ops.binary_crossentropy(positive, raw[..., 4], from_logits=True)
        obj_loss = ops.sum(obj_bce * (1.0 - ignore), axis=1)

        tgt_cls = ops.one_hot(per_prediction(ops.where(valid, classes, 0)), self.num_classes)
        logits = raw[..., 5:]
        if self.class_activation == "softmax":
            cls_err = ops.categorical_crossentropy(tgt_cls, logits, from_logits=True)
        else:
            cls_err = ops.sum(ops.binary_crossentropy(tgt_cls, logits, from_logits=True), axis=-1)
        cls_loss = ops.sum(positive * cls_err, axis=1)
        return box_loss, obj_loss, cls_loss

    def _prediction_index(self, prior, gx, gy):
        """Index (into the N predictions) of `prior` (over all scales) at the cell holding `(gx, gy)`."""
        level = ops.take(self._prior_level, prior)
        stride = ops.cast(ops.take(np.asarray(self.strides, np.int32), level), "float32")
        fh, fw, fp = (ops.take(self._level_size[:, i], level) for i in range(3))
        cx = ops.clip(ops.cast(ops.floor(gx / stride), "int32"), 0, fw - 1)
        cy = ops.clip(ops.cast(ops.floor(gy / stride), "int32"), 0, fh - 1)
        return ops.take(self._level_offset, level) + (cy * fw + cx) * fp + ops.take(self._prior_local, prior)

    def _decode_raw(self, raw):
        boxes, scores = anchor_ops.decode_yolo(raw, self._table, class_activation=self.class_activation)
        return boxes, scores

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not isinstance(y, dict) or "boxes" not in y or "classes" not in y:
            raise ValueError("YOLO targets must be a dict with 'boxes' (B, M, 4) xyxy pixels and 'classes' "
                             f"(B, M) padded with -1, received {type(y).__name__}")
        box, obj, cls = self.yolo_loss(y_pred, y["boxes"], y["classes"])
        terms = {"box": ops.mean(box), "objectness": ops.mean(obj), "class": ops.mean(cls)}
        for name, value in terms.items():
            self.loss_trackers[name].update_state(value)
        total = self.box_weight * terms["box"] + self.objectness_weight * terms["objectness"]
        total = total + self.class_weight * terms["class"]
        if self.losses:
            total = total + ops.sum(self.losses)
        return total

    # ---------------------------------------------------------------------------------- inference
    def make_inference_model(self, *, score_threshold=0.25, iou_threshold=0.45, max_detections=100,
                             pre_nms_top_k=1000):
        """A functional model sharing this model's weights: image -> `{boxes, scores, classes,
        num_detections}` (xyxy pixels, classes padded with -1), decoding and class-wise NMS inside."""
        raw = self.outputs[0]
        decoded = YoloDecode(self.image_shape, self.strides, self.priors, class_activation=self.class_activation,
                             name="yolo_decode")(raw)
        detections = DetectionDecoder(
            box_encoding="boxes", score_activation="none", image_shape=self.image_shape,
            iou_threshold=iou_threshold, score_threshold=score_threshold, max_detections=max_detections,
            pre_nms_top_k=pre_nms_top_k, name="detections",
        )([decoded["boxes"], decoded["scores"]])
        model = keras.Model(self.inputs[0], detections, name=f"{self.name}_inference")
        model.vras_meta = {"task": "detection", "num_classes": self.num_classes, "bounding_box_format": "xyxy",
                           "input_shape": [*self.image_shape, int(self.inputs[0].shape[-1])]}
        return model


# Initial objectness probability (focal-loss paper's prior, arXiv:1708.02002): the objectness bias starts
# at -log((1 - p) / p) so that the hundreds of empty cells do not swamp the first steps.
OBJECTNESS_PRIOR = 0.01


def _head_outputs(features, num_outputs, name):
    """1x1 conv to `P * (5 + C)` channels, reshaped to `(B, h * w * P, 5 + C)`."""
    num_priors, per = num_outputs
    conv = keras.layers.Conv2D(num_priors * per, 1, name=f"{name}_predictions")
    x = conv(features)
    bias = np.zeros((num_priors, per), np.float32)
    bias[:, 4] = -np.log((1 - OBJECTNESS_PRIOR) / OBJECTNESS_PRIOR)
    conv.bias.assign(bias.reshape(-1))
    h, w = x.shape[1], x.shape[2]
    return keras.layers.Reshape((h * w * num_priors, per), name=f"{name}_reshape")(x)


@register("yolo_v2", task="detection")
def yolo_v2(*, input_shape=(416, 416, 3), num_classes=20, backbone="darknet_tiny", priors=None, width=1.0,
            weights=None, ignore_threshold=0.6, box_weight=1.0, objectness_weight=1.0, class_weight=1.0,
            assign_threshold=None, backbone_weights=None):
    """YOLO v2: one stride-32 grid, 5 priors, passthrough from stride 16, softmax classes.

    Args:
        input_shape: `(H, W, 3)`, H and W multiples of 32.
        num_classes: number of object classes C.
        backbone: registry id of a backbone exposing `pyramid_outputs` C4 and C5 (or such a model).
        priors: 5 `(w, h)` priors in **pixels**; default: the paper's VOC priors (grid units of a 13 x 13
            grid on 416 x 416) scaled to `input_shape`.
        width: channel multiplier of the backbone and the head (head: 1024 filters at width 1).
        weights: None or a `.weights.h5` file of the whole model (nothing is downloaded).
        backbone_weights: None, `"imagenet"` or a file for the backbone (registry id only): see
            `vras_keras.models.pretrained`.
        ignore_threshold, box_weight, objectness_weight, class_weight, assign_threshold: see
            `YoloDetector`.

    Returns:
        A `YoloDetector`: images `(B, H, W, 3)` in 0..255 -> raw `(B, H/32 * W/32 * 5, 5 + C)`.
    """
    check_builder_args("yolo_v2", input_shape=input_shape, num_classes=num_classes, width=width, weights=weights,
                       multiple=32)
    priors = _default_priors(2, input_shape) if priors is None else priors
    strides = [32]
    priors_grid = _split_priors(priors, strides)
    inputs, features = backbone_features(backbone, ("C4", "C5"), input_shape=input_shape, width=width,
                                         weights=backbone_weights, name="yolo_v2")
    c4, c5 = features["C4"], features["C5"]
    x = conv_norm_act(c5, scaled(1024, width), 3, activation=ACTIVATION, name="head_conv1")
    x = conv_norm_act(x, scaled(1024, width), 3, activation=ACTIVATION, name="head_conv2")
    # passthrough: stride-16 features, 1x1 conv, space-to-depth 2x2 (reshape + transpose), concatenated
    p = conv_norm_act(c4, scaled(64, width), 1, activation=ACTIVATION, name="passthrough_conv")
    h, w, c = p.shape[1], p.shape[2], p.shape[3]
    p = keras.layers.Reshape((h // 2, 2, w // 2, 2, c), name="passthrough_split")(p)
    p = keras.layers.Permute((1, 3, 2, 4, 5), name="passthrough_permute")(p)
    p = keras.layers.Reshape((h // 2, w // 2, 4 * c), name="passthrough_reorg")(p)
    x = keras.layers.Concatenate(name="passthrough_concat")([p, x])
    x = conv_norm_act(x, scaled(1024, width), 3, activation=ACTIVATION, name="head_conv3")
    outputs = _head_outputs(x, (len(priors_grid[0]), 5 + num_classes), "p5")
    outputs = keras.layers.Activation("linear", name="predictions", dtype="float32")(outputs)
    model = YoloDetector(inputs, outputs, name="yolo_v2", num_classes=num_classes, image_shape=input_shape[:2],
                         strides=strides, priors=priors_grid, class_activation="softmax",
                         ignore_threshold=ignore_threshold, box_weight=box_weight,
                         objectness_weight=objectness_weight, class_weight=class_weight,
                         assign_threshold=assign_threshold)
    return load_weights(model, weights)


def _conv_set(x, filters, name, num_convs=5):
    """YOLOv3's alternating 1x1 / 3x3 convolutions (1x1 at filters, 3x3 at 2 * filters)."""
    for i in range(num_convs):
        k, f = (1, filters) if i % 2 == 0 else (3, 2 * filters)
        x = conv_norm_act(x, f, k, activation=ACTIVATION, name=f"{name}_conv{i + 1}")
    return x


@register("yolo_v3", task="detection")
def yolo_v3(*, input_shape=(416, 416, 3), num_classes=80, backbone="darknet_tiny", priors=None, width=1.0,
            weights=None, ignore_threshold=0.5, box_weight=1.0, objectness_weight=1.0, class_weight=1.0,
            assign_threshold=None, backbone_weights=None):
    """YOLO v3: three scales (strides 8, 16, 32), upsampling + concatenation, 9 priors, sigmoid classes.

    Args:
        input_shape: `(H, W, 3)`, H and W multiples of 32.
        num_classes: number of object classes C.
        backbone: `"darknet_tiny"` (default: the small Darknet the CPU recipes train), `"darknet53"` (the
            paper's Darknet-53, 40.6 M convolutional parameters), or any classification registry id /
            model exposing C3, C4, C5.
        priors: 9 `(w, h)` priors in **pixels** (sorted by area; the 3 smallest go to stride 8);
            default: the paper's COCO priors scaled from 416 to `input_shape`.
        width: channel multiplier of the backbone and the head (head: 512/256/128 at width 1).
        weights: None or a `.weights.h5` file of the whole model (nothing is downloaded).
        backbone_weights: None, `"imagenet"` or a file for the backbone (registry id only): see
            `vras_keras.models.pretrained`.
        ignore_threshold, box_weight, objectness_weight, class_weight, assign_threshold: see
            `YoloDetector`.

    Returns:
        A `YoloDetector`: images -> raw `(B, N, 5 + C)`, scales ordered stride 8, 16, 32.
    """
    check_builder_args("yolo_v3", input_shape=input_shape, num_classes=num_classes, width=width, weights=weights,
                       multiple=32)
    priors = _default_priors(3, input_shape) if priors is None else priors
    strides = list(anchor_ops.YOLO_V3_STRIDES)
    priors_grid = _split_priors(priors, strides)
    inputs, features = backbone_features(backbone, ("C3", "C4", "C5"), input_shape=input_shape, width=width,
                                         weights=backbone_weights, name="yolo_v3")
    c3, c4, c5 = features["C3"], features["C4"], features["C5"]
    per = 5 + num_classes
    outs, x, previous = {}, None, None
    # top-down: stride 32 -> 16 -> 8, each scale fed by the upsampled coarser one
    for level, feature, filters, priors_level in ((5, c5, 512, priors_grid[2]), (4, c4, 256, priors_grid[1]),
                                                  (3, c3, 128, priors_grid[0])):
        name = f"p{level}"
        if x is not None:
            x = conv_norm_act(x, scaled(filters, width), 1, activation=ACTIVATION, name=f"{previous}_lateral")
            x = keras.layers.UpSampling2D(2, name=f"{previous}_upsample")(x)
            feature = keras.layers.Concatenate(name=f"{name}_concat")([x, feature])
        x = _conv_set(feature, scaled(filters, width), f"{name}_set")
        y = conv_norm_act(x, scaled(2 * filters, width), 3, activation=ACTIVATION, name=f"{name}_head")
        outs[2**level] = _head_outputs(y, (len(priors_level), per), name)
        previous = name
    outputs = keras.layers.Concatenate(axis=1, name="predictions_concat")([outs[s] for s in strides])
    outputs = keras.layers.Activation("linear", name="predictions", dtype="float32")(outputs)
    model = YoloDetector(inputs, outputs, name="yolo_v3", num_classes=num_classes, image_shape=input_shape[:2],
                         strides=strides, priors=priors_grid, class_activation="sigmoid",
                         ignore_threshold=ignore_threshold, box_weight=box_weight,
                         objectness_weight=objectness_weight, class_weight=class_weight,
                         assign_threshold=assign_threshold)
    return load_weights(model, weights)
