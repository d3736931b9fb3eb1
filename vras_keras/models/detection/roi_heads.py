"""RoI heads of Faster / Mask R-CNN: box head, mask head, RoI sampling and their losses.

References: Girshick, Fast R-CNN (arXiv:1504.08083); Ren et al., Faster R-CNN (arXiv:1506.01497);
He et al., Mask R-CNN (arXiv:1703.06870); the 2-FC box head and 4-conv mask head of FPN / detectron2.

- `box_head(...)`: a functional model on one RoI's pooled features `(7, 7, C)`: flatten, two FC layers of
  1024 units (`width` scales them), then `C + 1` class logits (index 0 = background) and `(C + 1, 4)`
  per-class deltas (torchvision's layout, delta weights `(10, 10, 5, 5)`).
- `mask_head(...)`: four 3x3 convs of 256, a 2x2 stride-2 transposed conv to 28x28, a 1x1 conv to `C`
  per-class mask logits.
- `RoIWise`: applies such a per-RoI model to `(B, R, ...)` tensors by folding R into the batch (a reshape,
  unlike `TimeDistributed` which loops or vectorises over R).
- `sample_rois`: the Fast R-CNN minibatch: proposals plus the ground-truth boxes, matched at IoU 0.5
  (no ignore band), 512 sampled per image with at most 25 % positives.
- `box_head_loss`, `mask_head_loss`: softmax cross-entropy over sampled RoIs, smooth L1 on the deltas of
  the ground-truth class of positives (divided by the number of sampled RoIs, as torchvision), and
  per-pixel binary cross-entropy on the mask of the ground-truth class of positive RoIs.
"""

from __future__ import annotations

import keras
from keras import ops

from vras_keras.layers import conv_norm_act
from vras_keras.models.detection.rpn import smooth_l1
from vras_keras.ops.boxes import POSITIVE, box_area, encode_deltas, iou, match_anchors, sample_balanced
from vras_keras.ops.roi_align import crop_and_resize_masks

BOX_DELTA_WEIGHTS = (10.0, 10.0, 5.0, 5.0)


@keras.saving.register_keras_serializable(package="vras_keras")
class RoIWise(keras.layers.Wrapper):
    """Apply a layer or model to every RoI: `(B, R, *shape)` -> `layer((B * R, *shape))` -> `(B, R, ...)`.

    The RoI axis is folded into the batch with a reshape (one call of the wrapped layer for all RoIs), so
    it converts to TFLite as a `RESHAPE` around the layer; nested outputs (lists, dicts) are unfolded too.

    Args:
        layer: a `keras.layers.Layer` (e.g. the functional box head) taking a batch of single RoIs.

    Call arguments:
        inputs: `(B, R, *shape)` tensor (`shape` static).

    Returns:
        The layer's output(s) with the leading `B * R` axis split back into `(B, R)`.

    Example:
        >>> logits, deltas = RoIWise(box_head_model)(pooled)   # pooled (B, R, 7, 7, C)
    """

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # keras.layers.Wrapper.from_config pops "layer" from the caller's dict: work on a copy
        return super().from_config(dict(config), custom_objects=custom_objects)

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build((None, *input_shape[2:]))
        self.built = True

    def call(self, inputs, training=None):
        shape = ops.shape(inputs)
        batch, rois = shape[0], shape[1]
        flat = ops.reshape(inputs, (-1, *inputs.shape[2:]))
        outputs = self.layer(flat, training=training)
        return keras.tree.map_structure(lambda t: ops.reshape(t, (batch, rois, *t.shape[1:])), outputs)

    def compute_output_shape(self, input_shape):
        spec = self.compute_output_spec(keras.KerasTensor(input_shape))
        return keras.tree.map_structure(lambda t: tuple(t.shape), spec)

    def compute_output_spec(self, inputs, training=None):
        inner = self.layer.compute_output_spec(keras.KerasTensor((None, *inputs.shape[2:]), dtype=inputs.dtype))
        return keras.tree.map_structure(
            lambda t: keras.KerasTensor((inputs.shape[0], inputs.shape[1], *t.shape[1:]), dtype=t.dtype), inner
        )


def box_head(roi_shape, num_classes, *, fc_dim=1024, name="box_head"):
    """Per-RoI box head (functional model): `(ph, pw, C)` -> `[logits (C + 1,), deltas (C + 1, 4)]`."""
    inputs = keras.Input(roi_shape, name=f"{name}_rois")
    x = keras.layers.Flatten(name=f"{name}_flatten")(inputs)
    x = keras.layers.Dense(fc_dim, activation="relu", name=f"{name}_fc1")(x)
    x = keras.layers.Dense(fc_dim, activation="relu", name=f"{name}_fc2")(x)
    logits = keras.layers.Dense(num_classes + 1, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                                name=f"{name}_class_logits")(x)
    deltas = keras.layers.Dense(4 * (num_classes + 1), kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
                                name=f"{name}_deltas")(x)
    deltas = keras.layers.Reshape((num_classes + 1, 4), name=f"{name}_deltas_per_class")(deltas)
    logits = keras.layers.Activation("linear", dtype="float32", name=f"{name}_logits_f32")(logits)
    deltas = keras.layers.Activation("linear", dtype="float32", name=f"{name}_deltas_f32")(deltas)
    return keras.Model(inputs, [logits, deltas], name=name)


def mask_head(roi_shape, num_classes, *, filters=256, num_convs=4, name="mask_head"):
    """Per-RoI mask head (functional model): `(14, 14, C)` -> `(28, 28, num_classes)` mask logits.

    Four 3x3 conv-BN-ReLU (`conv_norm_act`; detectron2's default head has no norm, its GN variant does),
    a 2x2 stride-2 transposed conv + ReLU, and a 1x1 conv to one mask per class.
    """
    inputs = keras.Input(roi_shape, name=f"{name}_rois")
    x = inputs
    for i in range(num_convs):
        x = conv_norm_act(x, filters, 3, name=f"{name}_conv{i + 1}")
    x = keras.layers.Conv2DTranspose(filters, 2, strides=2, activation="relu", name=f"{name}_deconv")(x)
    x = keras.layers.Conv2D(num_classes, 1, kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
                            name=f"{name}_logits")(x)
    x = keras.layers.Activation("linear", dtype="float32", name=f"{name}_logits_f32")(x)
    return keras.Model(inputs, x, name=name)


def _gather(values, indices):
    """`values[b, indices[b, i]]` for `(B, N, ...)` values and `(B, S)` indices."""
    extra = len(values.shape) - 2
    idx = ops.reshape(indices, (*ops.shape(indices), *([1] * extra)))
    return ops.take_along_axis(values, ops.cast(idx, "int32"), axis=1)


def select_sampled(labels, count):
    """Indices `(B, count)` of the sampled entries (`labels >= 0`) of `(B, N)` labels, sampled ones first."""
    key = ops.cast(labels >= 0, "float32")
    _, index = ops.top_k(key, count, sorted=True)
    return ops.cast(index, "int32")


def sample_rois(proposals, proposal_valid, boxes, classes, valid, *, num_samples=512, positive_fraction=0.25,
                iou_threshold=0.5, seed=None):
    """The Fast R-CNN minibatch of RoIs per image (training only).

    The ground-truth boxes are appended to the proposals (so every object has positives from the first
    step), each RoI is matched to its best ground truth (positive if IoU `>= iou_threshold`, else
    background), padded proposals and padded / invalid ground truths are ignored, and `sample_balanced`
    keeps `num_samples` with at most `positive_fraction` positives.

    Args:
        proposals: `(B, P, 4)`; proposal_valid: `(B, P)` bool.
        boxes, classes, valid: `(B, M, 4)`, `(B, M)`, `(B, M)` sanitised ground truth.

    Returns:
        A dict with `S = min(num_samples, P + M)` RoIs per image (`S = num_samples` when M is not static): `"rois"` `(B,
        S, 4)`, `"labels"` `(B, S)` int32 in {1, 0, -1} (-1: padding, not in the loss), `"classes"` `(B, S)` int32
        target class with 0 = background and `c + 1` for object class `c`, `"matched"` `(B, S)` index of the matched
        ground truth, `"target_boxes"` `(B, S, 4)`.
    """
    rois = ops.concatenate([ops.cast(proposals, "float32"), boxes], axis=1)
    roi_valid = ops.concatenate([proposal_valid, valid], axis=1)
    roi_valid = ops.logical_and(roi_valid, box_area(rois) > 0)
    matched, labels = match_anchors(iou(rois, boxes), positive_threshold=iou_threshold,
                                    negative_threshold=iou_threshold, allow_low_quality_matches=False,
                                    gt_mask=valid)
    labels = ops.where(roi_valid, labels, -1)
    labels = sample_balanced(labels, num_samples, positive_fraction, seed=seed)
    count = int(num_samples)
    if rois.shape[1] is None:  # unknown M (e.g. ragged targets): pad with ignored RoIs to at least S
        rois = ops.pad(rois, [[0, 0], [0, count], [0, 0]])
        labels = ops.pad(labels, [[0, 0], [0, count]], constant_values=-1)
        matched = ops.pad(matched, [[0, 0], [0, count]])
    else:
        count = min(count, rois.shape[1])
    index = select_sampled(labels, count)
    labels = _gather(labels, index)
    matched = _gather(matched, index)
    gt_classes = _gather(classes, matched)
    return {
        "rois": ops.stop_gradient(_gather(rois, index)),
        "labels": labels,
        "classes": ops.where(labels == POSITIVE, gt_classes + 1, 0),
        "matched": matched,
        "target_boxes": _gather(boxes, matched),
    }


def box_head_loss(class_logits, box_deltas, samples, *, beta=1.0 / 9, weights=BOX_DELTA_WEIGHTS):
    """`(class_loss, box_loss)`: softmax CE over sampled RoIs, smooth L1 of the gt-class deltas of positives;
    both divided by the number of sampled RoIs (at least 1)."""
    labels = samples["labels"]
    sampled = ops.cast(labels >= 0, "float32")
    positive = ops.cast(labels == POSITIVE, "float32")
    count = ops.maximum(ops.sum(sampled), 1.0)
    ce = ops.sparse_categorical_crossentropy(samples["classes"], ops.cast(class_logits, "float32"), from_logits=True)
    class_loss = ops.sum(ce * sampled) / count
    deltas = ops.take_along_axis(ops.cast(box_deltas, "float32"), samples["classes"][..., None, None], axis=2)[:, :, 0]
    target = encode_deltas(samples["rois"], samples["target_boxes"], weights=weights)
    target = ops.where(positive[..., None] > 0, target, 0.0)
    box_loss = ops.sum(ops.sum(smooth_l1(deltas - target, beta), axis=-1) * positive) / count
    return class_loss, box_loss


def positive_subset(samples, count):
    """The first `count` positive RoIs of `sample_rois`' output (the mask head trains on positives only).

    Returns a dict like `samples` with `(B, count)` entries plus `"valid"` `(B, count)` float32.
    """
    key = ops.cast(samples["labels"] == POSITIVE, "float32")
    _, index = ops.top_k(key, count, sorted=True)
    out = {k: _gather(v, index) for k, v in samples.items()}
    out["valid"] = _gather(key, index)
    return out


def mask_head_loss(mask_logits, positives, gt_masks):
    """Mean per-pixel binary cross-entropy of the mask of the gt class, averaged over positive RoIs.

    Args:
        mask_logits: `(B, Q, m, m, C)` logits.
        positives: `positive_subset(...)` output (`rois`, `classes` (c + 1), `matched`, `valid`).
        gt_masks: `(B, M, H, W)` ground-truth masks.
    """
    logits = ops.cast(mask_logits, "float32")
    size = tuple(int(s) for s in logits.shape[2:4])
    cls = ops.maximum(positives["classes"] - 1, 0)
    logits = ops.take_along_axis(logits, cls[:, :, None, None, None], axis=-1)[..., 0]  # (B, Q, m, m)
    targets = crop_and_resize_masks(gt_masks, positives["rois"], positives["matched"], output_size=size)
    bce = ops.mean(ops.binary_crossentropy(targets, logits, from_logits=True), axis=(-1, -2))
    valid = positives["valid"]
    return ops.sum(bce * valid) / ops.maximum(ops.sum(valid), 1.0)


__all__ = ["BOX_DELTA_WEIGHTS", "RoIWise", "box_head", "box_head_loss", "mask_head", "mask_head_loss",
           "positive_subset", "sample_rois", "select_sampled"]
