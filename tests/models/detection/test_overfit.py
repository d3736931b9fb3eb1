"""End-to-end regression tests: every detector memorises 8 ShapesWorld images (slow: 1-3 CPU-minutes each).

These catch what the per-function tests cannot: a mismatch between the target encoding in a loss and the
decoding of the inference model (grid / prior / anchor order, x/y order, class offsets with background,
mask crops), which still trains (the loss falls) but never gives the right boxes and classes back.
"""

import keras
import numpy as np
import pytest

from vras_keras import models
from vras_keras.data import datasets
from vras_keras.metrics.detection import evaluate_detections
from vras_keras.ops.boxes import iou


def _batch(n=8, size=64):
    world = datasets.generator("detection", image_size=size, seed=0, split="train")
    x = np.zeros((n, size, size, 3), "float32")
    y = {"boxes": np.zeros((n, 4, 4), "float32"), "classes": np.full((n, 4), -1, "int32"),
         "masks": np.zeros((n, 4, size, size), "uint8")}
    for i in range(n):
        s = world.sample(i)
        k = len(s["classes"])
        x[i], y["boxes"][i, :k], y["classes"][i, :k], y["masks"][i, :k] = (
            s["image"], s["boxes"], s["classes"], s["instance_masks"])
    return x, y


def _recovered(pred, y, min_iou=0.7):
    """Fraction of ground truths with a detection of the same class at IoU >= min_iou."""
    hits = total = 0
    for i in range(len(y["classes"])):
        k = int((y["classes"][i] >= 0).sum())
        n = int(pred["num_detections"][i])
        overlaps = np.asarray(iou(y["boxes"][i, :k], np.asarray(pred["boxes"][i, :n])))
        for j in range(k):
            same = np.asarray(pred["classes"][i, :n]) == y["classes"][i, j]
            hits += bool(np.any((overlaps[j] >= min_iou) & same))
            total += 1
    return hits / total


@pytest.mark.slow
@pytest.mark.parametrize("assign_threshold", [None, 0.5])
def test_yolo_v3_memorises_a_batch(assign_threshold):
    keras.utils.set_random_seed(0)
    x, y = _batch()
    priors = [(15, 16), (19, 19), (25, 21), (22, 26), (31, 25), (29, 30), (26, 36), (33, 33), (38, 36)]
    model = models.get("yolo_v3", input_shape=(64, 64, 3), num_classes=6, width=0.25, priors=priors,
                       assign_threshold=assign_threshold)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    history = model.fit(x, {"boxes": y["boxes"], "classes": y["classes"]}, batch_size=8, epochs=250, verbose=0)
    assert history.history["class_loss"][-1] < 0.1 and history.history["box_loss"][-1] < 0.2, history.history
    pred = model.make_inference_model(score_threshold=0.3).predict(x, verbose=0)
    # sample 3 holds two squares with boxes at IoU 0.9: the NMS keeps one, so at most 1 of 21 boxes is missed
    assert _recovered(pred, y) >= 0.95
    assert evaluate_detections(pred, y)["AP50"] > 0.9


@pytest.mark.slow
@pytest.mark.parametrize("name", ["faster_rcnn", "mask_rcnn"])
def test_rcnn_memorises_a_batch(name):
    keras.utils.set_random_seed(0)
    x, y = _batch()
    model = models.get(name, input_shape=(64, 64, 3), num_classes=6, backbone="resnet18", width=0.25,
                       anchor_sizes=[[8], [16], [32], [48], [64]], roi_canonical_size=48, rpn_pre_nms_top_k=300,
                       rpn_post_nms_top_k=50, train_pre_nms_top_k=300, train_post_nms_top_k=100,
                       roi_num_samples=128, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=10.0))
    targets = y if name == "mask_rcnn" else {"boxes": y["boxes"], "classes": y["classes"]}
    history = model.fit(x, targets, batch_size=8, epochs=150, verbose=0)
    # margins for run-to-run variation of the multi-threaded CPU kernels (typical: class loss 0.04-0.06, 20 of
    # 21 boxes, box AP50 0.94-0.96, segm AP50 0.89; one Mask R-CNN run missed tighter bounds); an encoding
    # bug (class offset, anchor order, mask crop) gives AP50 near 0
    assert history.history["class_loss"][-1] < 0.3 and history.history["rpn_objectness_loss"][-1] < 0.05
    pred = model.make_inference_model(score_threshold=0.3).predict(x, verbose=0)
    assert _recovered(pred, y) >= 0.8
    assert evaluate_detections(pred, y)["AP50"] > 0.75
    if name == "mask_rcnn":
        assert evaluate_detections(pred, y, iou_type="segm")["AP50"] > 0.6
