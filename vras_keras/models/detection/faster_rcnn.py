"""Faster R-CNN: backbone (optional FPN) -> RPN -> proposals -> RoIAlign 7x7 -> box head -> decode + NMS.

References: Ren et al., Faster R-CNN (arXiv:1506.01497); Lin et al., Feature Pyramid Networks
(arXiv:1612.03144); RoIAlign from He et al., Mask R-CNN (arXiv:1703.06870). Layer layout and training
hyper-parameters follow torchvision / detectron2 (`fasterrcnn_resnet50_fpn`, `R50-FPN`).

The model returned by `faster_rcnn(...)` is a `FasterRCNN`, a functional model whose outputs are the raw
head outputs of its own forward pass:

| output | shape | |
|---|---|---|
| `rpn_objectness` | `(B, N)` | logits per anchor (N anchors over all levels) |
| `rpn_deltas` | `(B, N, 4)` | `(dx, dy, dw, dh)` per anchor |
| `proposals` | `(B, P, 4)` | xyxy pixels, after top-k + NMS 0.7 (test-time settings) |
| `class_logits` | `(B, P, C + 1)` | index 0 = background |
| `box_deltas` | `(B, P, C + 1, 4)` | per class, delta weights `(10, 10, 5, 5)` |

Training: `model.compile(optimizer=...)` then `model.fit(images, {"boxes": (B, M, 4), "classes": (B, M)})`
(targets padded with class -1, exactly `vras_keras.data.datasets.load("detection")`). `train_step` runs the
backbone and RPN once, labels and samples 256 anchors per image (RPN loss), generates proposals with the
training top-k, appends the ground truths, samples 512 RoIs with 25 % positives, pools them and computes
the box-head loss. Logged: `loss`, `rpn_objectness_loss`, `rpn_box_loss`, `class_loss`, `box_loss`.
Padded, out-of-range, zero-area and non-finite targets are ignored inside the losses, and every loss is
divided by a count clamped at 1, so images without objects never give NaN.

Inference: `model.make_inference_model(score_threshold=0.05, iou_threshold=0.5, max_detections=100)`
shares the weights and appends `DetectionDecoder` (per-class decoding on the proposals, softmax, background
dropped, class-wise NMS): image -> `boxes, scores, classes, num_detections`; it exports to SavedModel and
converts to TFLite with built-in ops only (RoIAlign and NMS are gather / top-k / while-loop based).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from vras_keras.layers.anchors import AnchorGenerator
from vras_keras.layers.detection_decoder import DetectionDecoder
from vras_keras.layers.roi_align import RoIAlign
from vras_keras.models.backbones import backbone_features, check_builder_args, load_weights, scaled
from vras_keras.models.detection.fpn import fpn as feature_pyramid
from vras_keras.models.detection.roi_heads import (
    BOX_DELTA_WEIGHTS,
    RoIWise,
    box_head,
    box_head_loss,
    sample_rois,
)
from vras_keras.models.detection.rpn import (
    ProposalGenerator,
    generate_proposals,
    rpn_head,
    rpn_loss,
    rpn_targets,
)
from vras_keras.models.registry import register
from vras_keras.ops.boxes import sanitize_targets

# Paper defaults for ~800-pixel images; builders scale them by min(H, W) / 800 unless given explicitly.
REFERENCE_IMAGE_SIZE = 800.0
FPN_ANCHOR_SIZES = (32, 64, 128, 256, 512)  # P2..P6
C4_ANCHOR_SIZES = (128, 256, 512)  # one stride-16 level, 3 sizes x 3 ratios (the original 9 anchors)
ASPECT_RATIOS = (0.5, 1.0, 2.0)
CANONICAL_SIZE = 224.0  # FPN eq. 1: a 224 x 224 box is pooled from P4


@keras.saving.register_keras_serializable(package="vras_keras")
class FasterRCNN(keras.Model):
    """A functional Faster R-CNN (raw head outputs) with its two-stage training step and an inference model.

    Built by `faster_rcnn`; it finds its parts by layer name (`anchors`, `rpn_objectness`, `rpn_deltas`,
    `proposals`, `box_roi_align`, `box_head`), so the settings below are only the training ones.

    Args:
        num_classes: C (foreground classes).
        rpn_num_samples, rpn_positive_fraction: anchors sampled per image for the RPN loss (256, 0.5).
        rpn_positive_threshold, rpn_negative_threshold: anchor IoU thresholds (0.7, 0.3).
        train_pre_nms_top_k, train_post_nms_top_k: proposals before / after NMS while training
            (2000, 2000; the `proposals` layer holds the test-time numbers).
        roi_num_samples, roi_positive_fraction, roi_iou_threshold: RoI sampling (512, 0.25, 0.5).
        seed: seed of the anchor / RoI sampling.
    """

    loss_names = ("rpn_objectness", "rpn_box", "class", "box")

    def __init__(self, *args, num_classes, rpn_num_samples=256, rpn_positive_fraction=0.5,
                 rpn_positive_threshold=0.7, rpn_negative_threshold=0.3, train_pre_nms_top_k=2000,
                 train_post_nms_top_k=2000, roi_num_samples=512, roi_positive_fraction=0.25, roi_iou_threshold=0.5,
                 seed=None, **kwargs):
        super().__init__(*args, **kwargs)
        for what, value in (("rpn_num_samples", rpn_num_samples), ("roi_num_samples", roi_num_samples),
                            ("train_pre_nms_top_k", train_pre_nms_top_k),
                            ("train_post_nms_top_k", train_post_nms_top_k)):
            if int(value) <= 0:
                raise ValueError(f"{what} must be a positive int, received {value}")
        for what, value in (("rpn_positive_fraction", rpn_positive_fraction),
                            ("roi_positive_fraction", roi_positive_fraction),
                            ("roi_iou_threshold", roi_iou_threshold)):
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{what} must be in [0, 1], received {value}")
        if not 0.0 <= rpn_negative_threshold <= rpn_positive_threshold <= 1.0:
            raise ValueError("need 0 <= rpn_negative_threshold <= rpn_positive_threshold <= 1, received "
                             f"{rpn_negative_threshold}, {rpn_positive_threshold}")
        self.num_classes = int(num_classes)
        self.rpn_num_samples = int(rpn_num_samples)
        self.rpn_positive_fraction = float(rpn_positive_fraction)
        self.rpn_positive_threshold = float(rpn_positive_threshold)
        self.rpn_negative_threshold = float(rpn_negative_threshold)
        self.train_pre_nms_top_k = int(train_pre_nms_top_k)
        self.train_post_nms_top_k = int(train_post_nms_top_k)
        self.roi_num_samples = int(roi_num_samples)
        self.roi_positive_fraction = float(roi_positive_fraction)
        self.roi_iou_threshold = float(roi_iou_threshold)
        self.seed = seed
        image = self.inputs[0]
        if image.shape[1] is None or image.shape[2] is None:
            raise ValueError(f"Faster R-CNN needs a static input size, received {image.shape}")
        self.image_shape = [int(image.shape[1]), int(image.shape[2])]
        self._anchors = self.get_layer("anchors").anchors_for(*self.image_shape)
        roi_align = self.get_layer("box_roi_align")
        features = list(roi_align.input[:-1])
        # Sub-model sharing the layers: image -> RPN outputs + the maps the RoI heads pool from. Not tracked
        # as an attribute (its weights are this model's weights; tracking would save them twice).
        object.__setattr__(self, "_rpn_model", keras.Model(
            self.inputs[0], [self.get_layer("rpn_objectness").output, self.get_layer("rpn_deltas").output, *features],
            name=f"{self.name}_rpn",
        ))
        self._seed_generator = keras.random.SeedGenerator(seed)
        self.loss_trackers = {"loss": keras.metrics.Mean(name="loss")}
        self.loss_trackers.update({k: keras.metrics.Mean(name=f"{k}_loss") for k in self.loss_names})

    @property
    def metrics(self):
        return list(self.loss_trackers.values())

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "rpn_num_samples": self.rpn_num_samples,
            "rpn_positive_fraction": self.rpn_positive_fraction,
            "rpn_positive_threshold": self.rpn_positive_threshold,
            "rpn_negative_threshold": self.rpn_negative_threshold,
            "train_pre_nms_top_k": self.train_pre_nms_top_k,
            "train_post_nms_top_k": self.train_post_nms_top_k,
            "roi_num_samples": self.roi_num_samples,
            "roi_positive_fraction": self.roi_positive_fraction,
            "roi_iou_threshold": self.roi_iou_threshold,
            "seed": self.seed,
        }

    # ----------------------------------------------------------------------------------- training
    def _targets(self, y):
        if not isinstance(y, dict) or "boxes" not in y or "classes" not in y:
            raise ValueError(f"{self.name} targets must be a dict with 'boxes' (B, M, 4) xyxy pixels and 'classes' "
                             f"(B, M) padded with -1, received {type(y).__name__}")
        return sanitize_targets(y["boxes"], y["classes"], image_shape=self.image_shape, num_classes=self.num_classes)

    def loss_terms(self, images, y, *, training=False):
        """The loss terms `{name: scalar}` of a batch (sampling seeded by the model's SeedGenerator when
        training, with a fixed seed otherwise so that `evaluate` is deterministic)."""
        boxes, classes, valid = self._targets(y)
        seed = self._seed_generator if training else 0
        objectness, deltas, *features = self._rpn_model(images, training=training)
        labels, target_deltas = rpn_targets(
            self._anchors, boxes, valid, num_samples=self.rpn_num_samples,
            positive_fraction=self.rpn_positive_fraction, positive_threshold=self.rpn_positive_threshold,
            negative_threshold=self.rpn_negative_threshold, seed=seed,
        )
        terms = dict(zip(("rpn_objectness", "rpn_box"), rpn_loss(objectness, deltas, labels, target_deltas)))
        generator = self.get_layer("proposals")
        proposals, proposal_valid = generate_proposals(
            ops.stop_gradient(objectness), ops.stop_gradient(deltas), self._anchors, image_shape=self.image_shape,
            pre_nms_top_k=self.train_pre_nms_top_k, post_nms_top_k=self.train_post_nms_top_k,
            iou_threshold=generator.iou_threshold, min_size=generator.min_size,
        )
        samples = sample_rois(proposals, proposal_valid, boxes, classes, valid, num_samples=self.roi_num_samples,
                              positive_fraction=self.roi_positive_fraction, iou_threshold=self.roi_iou_threshold,
                              seed=seed)
        pooled = self.get_layer("box_roi_align")([*features, samples["rois"]])
        class_logits, box_deltas = self.get_layer("box_head")(pooled, training=training)
        terms["class"], terms["box"] = box_head_loss(class_logits, box_deltas, samples)
        terms.update(self._extra_loss_terms(features, samples, y, training=training))
        return terms

    def _extra_loss_terms(self, features, samples, y, *, training):
        return {}

    def _total(self, terms):
        total = sum(terms.values())
        if self.losses:
            total = total + ops.sum(self.losses)
        return total

    def _log(self, total, terms):
        self.loss_trackers["loss"].update_state(total)
        for name, value in terms.items():
            self.loss_trackers[name].update_state(value)
        return {m.name: m.result() for m in self.metrics}

    # The two-stage step needs the features and the targets together, which `compute_loss(y_pred)` cannot
    # express; TensorFlow is the project's backend, so the step uses tf.GradientTape directly.
    def train_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            terms = self.loss_terms(x, y, training=True)
            total = self._total(terms)
            scaled = self.optimizer.scale_loss(total)
        variables = self.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
        return self._log(total, terms)

    def test_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        terms = self.loss_terms(x, y, training=False)
        return self._log(self._total(terms), terms)

    # ---------------------------------------------------------------------------------- inference
    def _detections(self, *, score_threshold, iou_threshold, max_detections, pre_nms_top_k):
        proposals = self.get_layer("proposals").output
        class_logits, box_deltas = self.get_layer("box_head").output
        return DetectionDecoder(
            box_encoding="deltas", delta_weights=BOX_DELTA_WEIGHTS, score_activation="softmax", background_index=0,
            image_shape=self.image_shape, iou_threshold=iou_threshold, score_threshold=score_threshold,
            max_detections=max_detections, pre_nms_top_k=pre_nms_top_k, name="detections",
        )([box_deltas, class_logits, proposals])

    def make_inference_model(self, *, score_threshold=0.05, iou_threshold=0.5, max_detections=100,
                             pre_nms_top_k=1000, **head_kwargs):
        """A functional model sharing this model's weights: image -> `{boxes, scores, classes,
        num_detections}` (xyxy pixels, classes padded with -1), decoding and class-wise NMS inside.

        The NMS keeps boxes with score `> score_threshold` and IoU `<= iou_threshold`, at most
        `max_detections` per image, from the `pre_nms_top_k` best (proposal, class) pairs.
        `head_kwargs`: options of subclasses (Mask R-CNN: `mask_threshold`)."""
        outputs = self._detections(score_threshold=score_threshold, iou_threshold=iou_threshold,
                                   max_detections=max_detections, pre_nms_top_k=pre_nms_top_k, **head_kwargs)
        model = keras.Model(self.inputs[0], outputs, name=f"{self.name}_inference")
        model.vras_meta = {"task": "detection", "num_classes": self.num_classes, "bounding_box_format": "xyxy",
                           "input_shape": [*self.image_shape, int(self.inputs[0].shape[-1])]}
        return model


def build_two_stage(*, name, input_shape, num_classes, backbone, use_fpn, width, anchor_sizes, aspect_ratios,
                    rpn_pre_nms_top_k, rpn_post_nms_top_k, rpn_nms_threshold, roi_canonical_size,
                    sampling_ratio, backbone_weights=None):
    """Shared graph of Faster / Mask R-CNN: returns `(inputs, outputs, roi_features, settings)`.

    Checks the arguments (`input_shape` static; with FPN, H and W multiples of 32, the stride of C5: P6 has
    `ceil(H / 64)` cells, as torchvision pads to multiples of 32; without, of 16), then builds: the backbone's
    C2..C5 (FPN) or C4 (`backbone`, `backbone_weights` as in `faster_rcnn`); FPN P2..P6 with
    `scaled(256, width)` channels, or C4 alone (stride 16); the anchors (`anchor_sizes`, default
    `FPN_ANCHOR_SIZES` one per level or `C4_ANCHOR_SIZES`, scaled by `min(H, W) / 800`, times
    `aspect_ratios`; a `ValueError` when the levels differ in anchors per cell); the RPN head; the
    test-time `ProposalGenerator` (`rpn_pre_nms_top_k`, `rpn_post_nms_top_k`, `rpn_nms_threshold`); a 7x7
    `RoIAlign` of the proposals (`sampling_ratio`, aligned; FPN level by box size, a box of side
    `roi_canonical_size`, default `224 * min(H, W) / 800`, from P4); and the box head (`scaled(1024, width)`
    units, `num_classes + 1` classes) applied per RoI.

    `outputs` is the dict of the five `FasterRCNN` outputs (`rpn_objectness`, `rpn_deltas`, `proposals`,
    `class_logits`, `box_deltas`; shapes in the module docstring), `roi_features` the maps the RoI heads pool
    from (P2..P5, or C4), `settings` the RoIAlign set-up a mask branch repeats (`roi_strides`,
    `canonical_size`, `sampling_ratio`, `channels`).
    """
    check_builder_args(name, input_shape=input_shape, num_classes=num_classes, width=width, static=True,
                       multiple=32 if use_fpn else 16)
    scale = min(input_shape[0], input_shape[1]) / REFERENCE_IMAGE_SIZE
    levels = ("C2", "C3", "C4", "C5") if use_fpn else ("C4",)
    inputs, pyramid = backbone_features(backbone, levels, input_shape=input_shape, width=width,
                                        weights=backbone_weights, name=name)
    if use_fpn:
        rpn_features = feature_pyramid(pyramid, scaled(256, width))
        roi_features, roi_strides, anchor_strides = rpn_features[:-1], [4, 8, 16, 32], [4, 8, 16, 32, 64]
        sizes = anchor_sizes or [[s * scale] for s in FPN_ANCHOR_SIZES]
    else:
        rpn_features = roi_features = [pyramid["C4"]]
        roi_strides = anchor_strides = [16]
        sizes = anchor_sizes or [s * scale for s in C4_ANCHOR_SIZES]
    generator = AnchorGenerator(sizes=sizes, aspect_ratios=aspect_ratios, strides=anchor_strides, name="anchors")
    counts = set(generator.num_anchors_per_location)
    if len(counts) != 1:
        raise ValueError(f"{name}: every level needs the same number of anchors per cell, received {sorted(counts)}")
    anchors = generator(inputs)
    objectness, deltas = rpn_head(rpn_features, counts.pop(), name="rpn")
    proposals = ProposalGenerator(image_shape=input_shape[:2], pre_nms_top_k=rpn_pre_nms_top_k,
                                  post_nms_top_k=rpn_post_nms_top_k, iou_threshold=rpn_nms_threshold,
                                  name="proposals")([objectness, deltas, anchors])
    canonical = roi_canonical_size if roi_canonical_size is not None else CANONICAL_SIZE * scale
    pooled = RoIAlign(output_size=7, strides=roi_strides, sampling_ratio=sampling_ratio, aligned=True,
                      canonical_size=canonical, canonical_level=4, name="box_roi_align")([*roi_features, proposals])
    channels = roi_features[0].shape[-1]
    head = box_head((7, 7, channels), num_classes, fc_dim=scaled(1024, width), name="box_head_net")
    class_logits, box_deltas = RoIWise(head, name="box_head")(pooled)
    outputs = {"rpn_objectness": objectness, "rpn_deltas": deltas, "proposals": proposals,
               "class_logits": class_logits, "box_deltas": box_deltas}
    settings = {"roi_strides": roi_strides, "canonical_size": canonical, "sampling_ratio": sampling_ratio,
                "channels": channels}
    return inputs, outputs, roi_features, settings


@register("faster_rcnn", task="detection")
def faster_rcnn(*, input_shape=(800, 800, 3), num_classes=80, backbone="resnet50", fpn=True, width=1.0,
                weights=None, anchor_sizes=None, aspect_ratios=ASPECT_RATIOS, rpn_pre_nms_top_k=1000,
                rpn_post_nms_top_k=1000, rpn_nms_threshold=0.7, train_pre_nms_top_k=2000,
                train_post_nms_top_k=2000, rpn_num_samples=256, roi_num_samples=512, roi_positive_fraction=0.25,
                roi_canonical_size=None, sampling_ratio=2, seed=None, backbone_weights=None):
    """Faster R-CNN (optionally with FPN) on a classification backbone.

    Args:
        input_shape: `(H, W, 3)`, static; H and W multiples of 32 with FPN, of 16 without.
        num_classes: foreground classes C (the box head adds the background).
        backbone: classification registry id exposing `pyramid_outputs` (C2..C5 with FPN, C4 without), or
            such a model.
        fpn: FPN P2..P6 (256 channels times `width`; RoIs pooled from P2..P5 by size) or the single-level
            C4 (stride 16) model of the original paper.
        width: channel multiplier of the backbone, FPN and box head (1024-unit FCs at width 1).
        anchor_sizes: FPN: one tuple per level P2..P6; C4: one flat tuple. Default: the paper's
            `32..512` (FPN) or `128, 256, 512` (C4) scaled by `min(H, W) / 800`.
        aspect_ratios: anchor `height / width` ratios (0.5, 1, 2).
        rpn_pre_nms_top_k, rpn_post_nms_top_k, rpn_nms_threshold: test-time proposals (1000, 1000, 0.7).
        train_pre_nms_top_k, train_post_nms_top_k: training proposals (2000, 2000).
        rpn_num_samples: anchors sampled per image for the RPN loss (256, half positive).
        roi_num_samples, roi_positive_fraction: RoIs sampled per image for the box head (512, 0.25).
        roi_canonical_size: FPN level assignment, a box of this side goes to P4; default `224 * min(H, W) / 800`.
        sampling_ratio: RoIAlign points per bin and axis (2).
        seed: sampling seed.
        weights: None or a `.weights.h5` file of the whole model (nothing is downloaded).
        backbone_weights: None, `"imagenet"` or a file for the backbone (registry id only): see
            `vras_keras.models.pretrained` (ImageNet weights exist for the torchvision-compatible ids).

    Returns:
        A `FasterRCNN` (see the module docstring for its outputs, `fit` and `make_inference_model`).
    """
    check_builder_args("faster_rcnn", input_shape=input_shape, num_classes=num_classes, width=width, weights=weights)
    inputs, outputs, _, _ = build_two_stage(
        name="faster_rcnn", input_shape=input_shape, num_classes=num_classes, backbone=backbone, use_fpn=fpn,
        width=width, anchor_sizes=anchor_sizes, aspect_ratios=aspect_ratios, rpn_pre_nms_top_k=rpn_pre_nms_top_k,
        rpn_post_nms_top_k=rpn_post_nms_top_k, rpn_nms_threshold=rpn_nms_threshold,
        roi_canonical_size=roi_canonical_size, sampling_ratio=sampling_ratio, backbone_weights=backbone_weights,
    )
    model = FasterRCNN(inputs, outputs, name="faster_rcnn", num_classes=num_classes, rpn_num_samples=rpn_num_samples,
                       train_pre_nms_top_k=train_pre_nms_top_k, train_post_nms_top_k=train_post_nms_top_k,
                       roi_num_samples=roi_num_samples, roi_positive_fraction=roi_positive_fraction, seed=seed)
    return load_weights(model, weights)


__all__ = ["FasterRCNN", "build_two_stage", "faster_rcnn"]
