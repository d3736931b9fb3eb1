"""Mask R-CNN: Faster R-CNN + RoIAlign 14x14 -> mask head (28x28 per-class masks) -> masks pasted at inference.

Reference: He et al., Mask R-CNN, ICCV 2017 (arXiv:1703.06870); the FPN mask head (4 convs, deconv to 28x28).

`mask_rcnn(...)` returns a `MaskRCNN`: the `FasterRCNN` outputs plus `mask_logits` `(B, P, 28, 28, C)` (the
mask head on the test-time proposals). Training: `model.fit(images, {"boxes", "classes", "masks"})` with
`masks` `(B, M, H, W)` (0/1, as `vras_keras.data.datasets.load("detection")` yields): the Faster R-CNN
losses plus `mask_loss`, the mean per-pixel binary cross-entropy of the mask of the ground-truth class, on
up to `roi_num_samples * roi_positive_fraction` positive RoIs per image, against the ground-truth mask
cropped to the RoI and resized to 28x28 (`crop_and_resize_masks`, RoIAlign on the binary mask).

Inference: `make_inference_model(...)` returns `boxes, scores, classes, num_detections, masks`, with masks
`(B, K, H, W)` float32 0/1: the head runs on the final detection boxes of the first `max(num_detections)`
slots only (`KeptDetections`; not on all `K` padded slots), the mask of the predicted class goes through a
sigmoid, is pasted into its box (`PasteMasks`), thresholded at 0.5 and padded with empty masks to `K`.
"""

from __future__ import annotations

import keras

from vras_keras.layers.roi_align import KeptDetections, PasteMasks, RoIAlign
from vras_keras.models.backbones import check_builder_args, load_weights, scaled
from vras_keras.models.detection.faster_rcnn import ASPECT_RATIOS, FasterRCNN, build_two_stage
from vras_keras.models.detection.roi_heads import RoIWise, mask_head, mask_head_loss, positive_subset
from vras_keras.models.registry import register


@keras.saving.register_keras_serializable(package="vras_keras")
class MaskRCNN(FasterRCNN):
    """`FasterRCNN` with a mask branch (layers `mask_roi_align`, `mask_head`); see the module docstring.

    Args:
        mask_threshold: binarisation threshold of the pasted masks in the inference model (0.5).
        mask_num_samples: positive RoIs per image the mask loss is computed on (the first ones in sampling
            order); None: every positive slot, `roi_num_samples * roi_positive_fraction` (detectron2).
        **kwargs: the `FasterRCNN` arguments.
    """

    loss_names = (*FasterRCNN.loss_names, "mask")

    def __init__(self, *args, mask_threshold=0.5, mask_num_samples=None, **kwargs):
        super().__init__(*args, **kwargs)
        if not 0.0 <= float(mask_threshold) <= 1.0:
            raise ValueError(f"mask_threshold must be in [0, 1], received {mask_threshold}")
        if mask_num_samples is not None and (isinstance(mask_num_samples, bool) or int(mask_num_samples) <= 0):
            raise ValueError(f"mask_num_samples must be a positive int or None, received {mask_num_samples}")
        self.mask_threshold = float(mask_threshold)
        self.mask_num_samples = None if mask_num_samples is None else int(mask_num_samples)

    def get_config(self):
        return {**super().get_config(), "mask_threshold": self.mask_threshold,
                "mask_num_samples": self.mask_num_samples}

    def _extra_loss_terms(self, features, samples, y, *, training):
        if "masks" not in y:
            raise ValueError(f"{self.name} targets need 'masks' (B, M, H, W) besides 'boxes' and 'classes', "
                             f"received keys {sorted(y)}")
        rois = samples["rois"].shape[1]
        count = self.mask_num_samples or int(round(self.roi_num_samples * self.roi_positive_fraction))
        count = max(1, min(rois, count))
        positives = positive_subset(samples, count)
        pooled = self.get_layer("mask_roi_align")([*features, positives["rois"]])
        logits = self.get_layer("mask_head")(pooled, training=training)
        return {"mask": mask_head_loss(logits, positives, y["masks"])}

    def _detections(self, *, mask_threshold="model", **kwargs):
        """Detections + pasted masks; `mask_threshold`: "model" (this model's `mask_threshold`), a float, or
        None for mask probabilities (parity tests compare those: thresholded untrained masks flip pixels)."""
        detections = super()._detections(**kwargs)
        threshold = self.mask_threshold if mask_threshold == "model" else mask_threshold
        # the mask head and the paste run on the slots that hold a detection in some image of the batch
        # (not all K slots); the other slots get empty masks, as padded slots always did
        boxes, classes = KeptDetections(name="kept_detections")(
            [detections["boxes"], detections["classes"], detections["num_detections"]])
        roi_align = self.get_layer("mask_roi_align")
        pooled = roi_align([*roi_align.input[:-1], boxes])
        logits = self.get_layer("mask_head")(pooled)
        masks = PasteMasks(image_shape=self.image_shape, threshold=threshold, name="masks",
                           num_slots=detections["boxes"].shape[1])([logits, boxes, classes])
        return {**detections, "masks": masks}


@register("mask_rcnn", task="detection")
def mask_rcnn(*, input_shape=(800, 800, 3), num_classes=80, backbone="resnet50", fpn=True, width=1.0,
              weights=None, anchor_sizes=None, aspect_ratios=ASPECT_RATIOS, rpn_pre_nms_top_k=1000,
              rpn_post_nms_top_k=1000, rpn_nms_threshold=0.7, train_pre_nms_top_k=2000, train_post_nms_top_k=2000,
              rpn_num_samples=256, roi_num_samples=512, roi_positive_fraction=0.25, roi_canonical_size=None,
              sampling_ratio=2, mask_threshold=0.5, mask_num_samples=None, seed=None, backbone_weights=None):
    """Mask R-CNN: `faster_rcnn` (same arguments) plus the mask branch.

    The mask head pools 14x14 RoIs (from the same FPN levels as the box head), applies four 3x3
    conv-BN-ReLU of 256 channels (times `width`), a 2x2 stride-2 transposed conv to 28x28 and a 1x1 conv to
    one mask logit map per class.

    Args:
        mask_threshold: threshold of the pasted mask probabilities at inference (0.5).
        mask_num_samples: positive RoIs per image in the mask loss (None: all positive slots,
            `roi_num_samples * roi_positive_fraction`; fewer makes a training step cheaper).
        weights: None or a `.weights.h5` file of the whole model (nothing is downloaded).
        (the others: see `faster_rcnn`.)

    Returns:
        A `MaskRCNN`.
    """
    check_builder_args("mask_rcnn", input_shape=input_shape, num_classes=num_classes, width=width, weights=weights)
    inputs, outputs, roi_features, settings = build_two_stage(
        name="mask_rcnn", input_shape=input_shape, num_classes=num_classes, backbone=backbone, use_fpn=fpn,
        width=width, anchor_sizes=anchor_sizes, aspect_ratios=aspect_ratios, rpn_pre_nms_top_k=rpn_pre_nms_top_k,
        rpn_post_nms_top_k=rpn_post_nms_top_k, rpn_nms_threshold=rpn_nms_threshold,
        roi_canonical_size=roi_canonical_size, sampling_ratio=sampling_ratio, backbone_weights=backbone_weights,
    )
    pooled = RoIAlign(output_size=14, strides=settings["roi_strides"], sampling_ratio=sampling_ratio, aligned=True,
                      canonical_size=settings["canonical_size"], canonical_level=4,
                      name="mask_roi_align")([*roi_features, outputs["proposals"]])
    head = mask_head((14, 14, settings["channels"]), num_classes, filters=scaled(256, width), name="mask_head_net")
    outputs["mask_logits"] = RoIWise(head, name="mask_head")(pooled)
    model = MaskRCNN(inputs, outputs, name="mask_rcnn", num_classes=num_classes, rpn_num_samples=rpn_num_samples,
                     train_pre_nms_top_k=train_pre_nms_top_k, train_post_nms_top_k=train_post_nms_top_k,
                     roi_num_samples=roi_num_samples, roi_positive_fraction=roi_positive_fraction, seed=seed,
                     mask_threshold=mask_threshold, mask_num_samples=mask_num_samples)
    return load_weights(model, weights)


__all__ = ["MaskRCNN", "mask_rcnn"]
