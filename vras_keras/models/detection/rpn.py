"""Region Proposal Network: head, anchor labelling and sampling, loss, and proposal generation.

Reference: Ren et al., Faster R-CNN: Towards Real-Time Object Detection with Region Proposal Networks,
NeurIPS 2015 (arXiv:1506.01497), section 3.1; multi-level anchors as in FPN (arXiv:1612.03144).

- `rpn_head(features, num_anchors)`: one 3x3 conv + ReLU shared by all levels, then 1x1 convs to `A`
  objectness logits and `4 A` deltas per cell, flattened to `(B, N)` / `(B, N, 4)` in the anchor order of
  `vras_keras.ops.anchors.generate_anchors` (level, row, column, anchor).
- `rpn_targets`: labels from `vras_keras.ops.boxes.match_anchors` (positive IoU >= 0.7 or the best anchor of
  a ground truth, negative < 0.3, ignored in between), then `sample_balanced` (256 anchors per image, at most
  half positive).
- `rpn_loss`: binary cross-entropy on the sampled anchors + smooth L1 (beta 1/9, torchvision) on the
  deltas of the sampled positives, both divided by the number of sampled anchors.
- `generate_proposals` / `ProposalGenerator`: decode the deltas on the anchors, clip to the image, drop
  boxes smaller than `min_size`, keep the `pre_nms_top_k` best, NMS at 0.7, keep `post_nms_top_k`. The top-k
  is taken over all levels together (detectron2 takes it per level; on small images the difference is
  negligible). Everything uses the built-ins-only NMS of `vras_keras.ops.nms`.
"""

from __future__ import annotations

import keras
from keras import ops

from vras_keras.ops.boxes import (
    POSITIVE,
    decode_deltas,
    encode_deltas,
    iou,
    match_anchors,
    sample_balanced,
)
from vras_keras.ops.nms import non_max_suppression


def rpn_head(features, num_anchors, *, filters=None, name="rpn"):
    """RPN head on a list of feature maps (weights shared across levels).

    Args:
        features: list of `(B, H_l, W_l, C)` KerasTensors.
        num_anchors: anchors per cell `A` (the same on every level).
        filters: channels of the shared 3x3 conv (default: `C`).

    Returns:
        `(objectness, deltas)`: `(B, N)` logits and `(B, N, 4)` deltas, `N = sum_l H_l W_l A`; the layers
        are named `{name}_conv`, `{name}_objectness`, `{name}_deltas`.
    """
    filters = int(filters or features[0].shape[-1])
    init = keras.initializers.RandomNormal(stddev=0.01)
    conv = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer=init,
                               name=f"{name}_conv")
    cls = keras.layers.Conv2D(num_anchors, 1, kernel_initializer=init, name=f"{name}_objectness_conv")
    box = keras.layers.Conv2D(4 * num_anchors, 1, kernel_initializer=init, name=f"{name}_deltas_conv")
    logits, deltas = [], []
    for level, f in enumerate(features):
        x = conv(f)
        h, w = f.shape[1], f.shape[2]
        logits.append(keras.layers.Reshape((h * w * num_anchors,), name=f"{name}_objectness_flat{level}")(cls(x)))
        deltas.append(keras.layers.Reshape((h * w * num_anchors, 4), name=f"{name}_deltas_flat{level}")(box(x)))
    if len(features) > 1:
        logits = keras.layers.Concatenate(axis=1, name=f"{name}_objectness_concat")(logits)
        deltas = keras.layers.Concatenate(axis=1, name=f"{name}_deltas_concat")(deltas)
    else:
        logits, deltas = logits[0], deltas[0]
    logits = keras.layers.Activation("linear", dtype="float32", name=f"{name}_objectness")(logits)
    deltas = keras.layers.Activation("linear", dtype="float32", name=f"{name}_deltas")(deltas)
    return logits, deltas


def smooth_l1(x, beta):
    """Elementwise smooth L1 (Huber / beta): `0.5 x^2 / beta` for `|x| < beta`, else `|x| - 0.5 beta`."""
    ax = ops.abs(x)
    if beta <= 0:
        return ax
    return ops.where(ax < beta, 0.5 * ax * ax / beta, ax - 0.5 * beta)


def rpn_targets(anchors, boxes, valid, *, num_samples=256, positive_fraction=0.5, positive_threshold=0.7,
                negative_threshold=0.3, seed=None):
    """Sampled RPN labels and regression targets.

    Args:
        anchors: `(N, 4)` xyxy anchors.
        boxes: `(B, M, 4)` ground truths; valid: `(B, M)` bool (see `vras_keras.ops.boxes.sanitize_targets`).
        num_samples, positive_fraction: the sampling budget per image (256, 0.5).
        positive_threshold, negative_threshold: IoU thresholds (0.7, 0.3).
        seed: int or `keras.random.SeedGenerator` for the sampling.

    Returns:
        `(labels, target_deltas)`: `(B, N)` int32 in {1, 0, -1} after sampling (-1: not in the loss) and
        `(B, N, 4)` deltas (meaningful where `labels == 1`).
    """
    anchors = ops.convert_to_tensor(anchors, "float32")
    overlaps = iou(anchors[None], boxes)  # (B, N, M)
    matched, labels = match_anchors(overlaps, positive_threshold=positive_threshold,
                                    negative_threshold=negative_threshold, allow_low_quality_matches=True,
                                    gt_mask=valid)
    labels = sample_balanced(labels, num_samples, positive_fraction, seed=seed)
    matched_boxes = ops.take_along_axis(boxes, matched[..., None], axis=1)
    targets = encode_deltas(anchors[None], matched_boxes)
    targets = ops.where((labels == POSITIVE)[..., None], targets, 0.0)
    return labels, targets


def rpn_loss(objectness, deltas, labels, target_deltas, *, beta=1.0 / 9):
    """`(objectness_loss, box_loss)` scalars, both divided by the number of sampled anchors (at least 1)."""
    objectness = ops.cast(objectness, "float32")
    deltas = ops.cast(deltas, "float32")
    sampled = ops.cast(labels >= 0, "float32")
    positive = ops.cast(labels == POSITIVE, "float32")
    count = ops.maximum(ops.sum(sampled), 1.0)
    bce = ops.binary_crossentropy(positive, objectness, from_logits=True)
    obj_loss = ops.sum(bce * sampled) / count
    box_loss = ops.sum(ops.sum(smooth_l1(deltas - target_deltas, beta), axis=-1) * positive) / count
    return obj_loss, box_loss


def generate_proposals(objectness, deltas, anchors, *, image_shape, pre_nms_top_k=1000, post_nms_top_k=1000,
                       iou_threshold=0.7, min_size=0.0):
    """Proposals from RPN outputs: decode, clip, drop tiny boxes, top-k, NMS, keep the best.

    Args:
        objectness: `(B, N)` logits; deltas: `(B, N, 4)`; anchors: `(N, 4)` or `(B, N, 4)` xyxy.
        image_shape: `(height, width)` to clip to.
        pre_nms_top_k, post_nms_top_k: boxes entering / leaving the NMS per image.
        iou_threshold: NMS threshold (0.7).
        min_size: boxes narrower or lower than this (pixels) are dropped.

    Returns:
        `(proposals, valid)`: `(B, P, 4)` xyxy, `P = post_nms_top_k`, best first; `(B, P)` bool. Slots past
        the kept proposals repeat the best proposal (harmless for the box head and its NMS), `valid` is
        False there.
    """
    height, width = image_shape
    anchors = ops.convert_to_tensor(anchors, "float32")
    if len(anchors.shape) == 2:
        anchors = anchors[None]
    boxes = decode_deltas(anchors, ops.cast(deltas, "float32"), clip=(height, width))
    scores = ops.cast(objectness, "float32")
    big = ops.logical_and(boxes[..., 2] - boxes[..., 0] > min_size, boxes[..., 3] - boxes[..., 1] > min_size)
    scores = ops.where(big, scores, -1e9)
    n = boxes.shape[1]
    indices, _ = non_max_suppression(boxes, scores, max_output_size=int(post_nms_top_k),
                                     iou_threshold=iou_threshold, score_threshold=-1e8,
                                     pre_nms_top_k=min(int(pre_nms_top_k), n))
    valid = indices >= 0
    indices = ops.where(valid, indices, ops.maximum(indices[:, :1], 0))
    proposals = ops.take_along_axis(boxes, indices[..., None], axis=1)
    return ops.stop_gradient(proposals), valid


@keras.saving.register_keras_serializable(package="vras_keras")
class ProposalGenerator(keras.layers.Layer):
    """RPN outputs -> proposals: decode on the anchors, clip, top-k, NMS (built-in TFLite ops only).

    Reference: Faster R-CNN (arXiv:1506.01497), section 3.1.2. See `generate_proposals`.

    Args:
        image_shape: `(height, width)` of the input images.
        pre_nms_top_k: best-scoring boxes entering the NMS (per image).
        post_nms_top_k: proposals returned per image `P`.
        iou_threshold: NMS IoU threshold (0.7).
        min_size: minimum proposal width and height in pixels.

    Call arguments:
        inputs: `[objectness (B, N), deltas (B, N, 4), anchors (B, N, 4)]`.

    Returns:
        `(B, P, 4)` xyxy proposals, best first (padded by repeating the best one; no gradient).

    Example:
        >>> proposals = ProposalGenerator(image_shape=(64, 64), post_nms_top_k=100)([logits, deltas, anchors])
    """

    def __init__(self, image_shape, pre_nms_top_k=1000, post_nms_top_k=1000, iou_threshold=0.7, min_size=0.0,
                 **kwargs):
        super().__init__(**{"autocast": False, **kwargs})
        if len(image_shape) != 2 or any(int(s) <= 0 for s in image_shape):
            raise ValueError(f"image_shape must be (height, width), received {image_shape}")
        for what, value in (("pre_nms_top_k", pre_nms_top_k), ("post_nms_top_k", post_nms_top_k)):
            if int(value) <= 0:
                raise ValueError(f"{what} must be a positive int, received {value}")
        if not 0.0 < float(iou_threshold) <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], received {iou_threshold}")
        if float(min_size) < 0:
            raise ValueError(f"min_size must be >= 0, received {min_size}")
        self.image_shape = [int(s) for s in image_shape]
        self.pre_nms_top_k = int(pre_nms_top_k)
        self.post_nms_top_k = int(post_nms_top_k)
        self.iou_threshold = float(iou_threshold)
        self.min_size = float(min_size)

    def call(self, inputs):
        objectness, deltas, anchors = inputs
        proposals, _ = generate_proposals(
            objectness, deltas, anchors, image_shape=self.image_shape, pre_nms_top_k=self.pre_nms_top_k,
            post_nms_top_k=self.post_nms_top_k, iou_threshold=self.iou_threshold, min_size=self.min_size,
        )
        return proposals

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.post_nms_top_k, 4)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(self.compute_output_shape([tuple(t.shape) for t in inputs]), dtype="float32")

    def get_config(self):
        return {
            **super().get_config(),
            "image_shape": self.image_shape,
            "pre_nms_top_k": self.pre_nms_top_k,
            "post_nms_top_k": self.post_nms_top_k,
            "iou_threshold": self.iou_threshold,
            "min_size": self.min_size,
        }


__all__ = ["ProposalGenerator", "generate_proposals", "rpn_head", "rpn_loss", "rpn_targets",
           "smooth_l1"]
