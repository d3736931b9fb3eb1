"""RPN labelling and sampling counts, proposal generation, RoI sampling and the head losses by hand."""

import numpy as np
import pytest

from vras_keras.models.detection.roi_heads import box_head_loss, positive_subset, sample_rois
from vras_keras.models.detection.rpn import (
    ProposalGenerator,
    generate_proposals,
    rpn_loss,
    rpn_targets,
)
from vras_keras.ops.anchors import generate_anchors
from vras_keras.ops.boxes import encode_deltas, sanitize_targets
from vras_keras.testing import check_layer


def test_rpn_labels_hand_case():
    anchors = np.array([
        [0, 0, 10, 10],  # IoU 1 with gt 0 -> positive
        [1, 0, 11, 10],  # IoU 90/110 = 0.818 -> positive
        [5, 0, 15, 10],  # IoU 50/150 = 0.333 -> ignored (between 0.3 and 0.7)
        [8, 0, 18, 10],  # IoU 20/180 = 0.111 -> negative
        [30, 30, 34, 34],  # IoU 16/64 = 0.25 with gt 1, its best anchor -> positive (low-quality match)
        [50, 50, 60, 60],  # no overlap -> negative
    ], "float32")
    boxes = np.array([[[0, 0, 10, 10], [30, 30, 38, 38], [0, 0, 0, 0]]], "float32")
    valid = np.array([[True, True, False]])
    labels, deltas = rpn_targets(anchors, boxes, valid, num_samples=256, seed=0)
    np.testing.assert_array_equal(np.asarray(labels)[0], [1, 1, -1, 0, 1, 0])
    expected = np.asarray(encode_deltas(anchors[4], boxes[0, 1]))
    np.testing.assert_allclose(np.asarray(deltas)[0, 4], expected, atol=1e-6)
    np.testing.assert_allclose(np.asarray(deltas)[0, 3], 0.0)  # negatives: no regression target


def test_rpn_sampling_counts():
    anchors = generate_anchors((64, 64), sizes=[[8], [16], [32]], aspect_ratios=(0.5, 1.0, 2.0), strides=(4, 8, 16))
    boxes = np.array([
        [[4, 4, 20, 20], [30, 30, 60, 62], [40, 2, 56, 14], [0, 0, 0, 0]],  # 3 objects
        [[0, 0, 0, 0]] * 4,  # no object: only negatives
    ], "float32")
    valid = np.array([[1, 1, 1, 0], [0, 0, 0, 0]], bool)
    labels = np.asarray(rpn_targets(anchors, boxes, valid, num_samples=64, positive_fraction=0.5, seed=3)[0])
    pos, neg = (labels == 1).sum(1), (labels == 0).sum(1)
    assert np.all(pos + neg == 64), (pos, neg)  # the budget is always filled (enough negatives)
    assert np.all(pos <= 32) and pos[0] >= 3 and pos[1] == 0
    # dense anchors (stride 2) around a large object: more than 32 candidate positives, capped at half
    dense = generate_anchors((64, 64), sizes=(48,), aspect_ratios=(1.0,), strides=(2,))
    big = np.array([[[8, 8, 56, 56]]], "float32")
    full = np.asarray(rpn_targets(dense, big, np.ones((1, 1), bool), num_samples=10**6, seed=3)[0])
    capped = np.asarray(rpn_targets(dense, big, np.ones((1, 1), bool), num_samples=64, seed=3)[0])
    assert (full == 1).sum() > 32 and (capped == 1).sum() == 32 and (capped == 0).sum() == 32
    # a new seed draws a different sample of the same candidates
    other = np.asarray(rpn_targets(anchors, boxes, valid, num_samples=64, positive_fraction=0.5, seed=4)[0])
    assert not np.array_equal(other[0], labels[0]) and (other[0] == 1).sum() == pos[0]


def test_rpn_loss_by_hand():
    logits = np.array([[2.0, -1.0, 0.5, 3.0]], "float32")
    labels = np.array([[1, 0, -1, -1]], "int32")
    deltas = np.array([[[0.1, 0, 0, 0], [9, 9, 9, 9], [9, 9, 9, 9], [9, 9, 9, 9]]], "float32")
    obj, box = (float(v) for v in rpn_loss(logits, deltas, labels, np.zeros((1, 4, 4), "float32")))
    expected_obj = (np.log1p(np.exp(-2.0)) + np.log1p(np.exp(-1.0))) / 2
    np.testing.assert_allclose(obj, expected_obj, rtol=1e-5)
    # |0.1| < beta = 1/9: 0.5 * 0.1^2 / beta, divided by the 2 sampled anchors
    np.testing.assert_allclose(box, (0.5 * 0.01 * 9) / 2, rtol=1e-5)


def test_sanitize_targets_drops_bad_boxes():
    boxes = np.array([[[5, 5, 5, 20], [-20, -20, 10, 10], [70, 70, 90, 90], [0, 0, np.nan, 5], [1, 1, 9, 9]]],
                     "float32")
    classes = np.array([[0, 1, 2, 0, 7]], "int32")
    clean, cls, valid = (np.asarray(t) for t in sanitize_targets(boxes, classes, image_shape=(64, 64), num_classes=3))
    np.testing.assert_array_equal(valid[0], [False, True, False, False, False])
    np.testing.assert_array_equal(clean[0, 1], [0, 0, 10, 10])  # clipped
    assert np.all(np.isfinite(clean)) and cls[0, 4] == -1


def test_generate_proposals_nms_and_padding():
    anchors = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [40, 40, 41, 41]], "float32")
    logits = np.array([[3.0, 2.0, 1.0, 5.0]], "float32")
    deltas = np.zeros((1, 4, 4), "float32")
    props, valid = generate_proposals(logits, deltas, anchors, image_shape=(64, 64), post_nms_top_k=4, min_size=2)
    props, valid = np.asarray(props), np.asarray(valid)
    # anchor 3 is too small (1 px), anchor 1 overlaps anchor 0 at IoU 0.82 > 0.7 -> suppressed
    np.testing.assert_array_equal(valid[0], [True, True, False, False])
    np.testing.assert_allclose(props[0, :2], anchors[[0, 2]])
    np.testing.assert_allclose(props[0, 2:], anchors[[0, 0]])  # padding repeats the best proposal


def test_proposal_generator_layer_harness():
    anchors = generate_anchors((32, 32), sizes=(8, 16), aspect_ratios=(1.0,), strides=(8,))
    rng = np.random.default_rng(0)
    # well-separated scores so that float differences between runtimes never reorder the top-k
    logits = rng.permutation(2 * 32)[: len(anchors)].astype("float32")[None].repeat(2, 0)
    deltas = (0.05 * rng.standard_normal((2, len(anchors), 4))).astype("float32")
    data = [logits, deltas, np.broadcast_to(anchors, (2, len(anchors), 4)).copy()]
    kwargs = {"image_shape": [32, 32], "pre_nms_top_k": 20, "post_nms_top_k": 8}
    expected = np.asarray(generate_proposals(logits, deltas, anchors, image_shape=(32, 32), pre_nms_top_k=20,
                                             post_nms_top_k=8)[0])
    # proposals carry no gradient (the paper's approximate joint training): gradients/fit do not apply
    check_layer(ProposalGenerator, kwargs, input_data=data, expected_output=expected,
                expected_output_shape=(2, 8, 4), run_gradients=False, run_training=False)
    with pytest.raises(ValueError, match="post_nms_top_k"):
        ProposalGenerator(image_shape=(32, 32), post_nms_top_k=0)


def test_sample_rois_appends_gt_and_ignores_padding():
    proposals = np.array([[[0, 0, 10, 10], [30, 30, 40, 40], [50, 50, 60, 60], [0, 0, 10, 10]]], "float32")
    proposal_valid = np.array([[True, True, True, False]])
    boxes = np.array([[[1, 0, 11, 10], [40, 40, 60, 60], [0, 0, 0, 0]]], "float32")
    classes = np.array([[2, 0, -1]], "int32")
    valid = np.array([[True, True, False]])
    s = {k: np.asarray(v) for k, v in sample_rois(proposals, proposal_valid, boxes, classes, valid, num_samples=6,
                                                   positive_fraction=0.5, seed=0).items()}
    assert s["rois"].shape == (1, 6, 4)
    # candidates: proposal 0 (IoU 0.82 with gt 0: positive, class 3), proposal 1 (negative), proposal 2
    # (IoU 0.25 with gt 1: negative), the 2 valid gts (positives); padded proposal and padded gt ignored
    labels = s["labels"][0]
    assert (labels == 1).sum() == 3 and (labels == 0).sum() == 2 and (labels == -1).sum() == 1
    positive_classes = sorted(s["classes"][0][labels == 1])
    assert positive_classes == [1, 3, 3]
    assert np.all(s["classes"][0][labels == 0] == 0)
    # positives capped at positive_fraction * num_samples
    capped = np.asarray(sample_rois(proposals, proposal_valid, boxes, classes, valid, num_samples=4,
                                    positive_fraction=0.25, seed=0)["labels"])
    assert (capped == 1).sum() == 1 and (capped == 0).sum() == 2
    sub = {k: np.asarray(v) for k, v in positive_subset(sample_rois(proposals, proposal_valid, boxes, classes, valid,
                                                                    num_samples=6, positive_fraction=0.5,
                                                                    seed=0), 4).items()}
    np.testing.assert_array_equal(sub["valid"][0], [1, 1, 1, 0])


def test_box_head_loss_by_hand():
    samples = {
        "labels": np.array([[1, 0, -1]], "int32"),
        "classes": np.array([[2, 0, 0]], "int32"),
        "rois": np.array([[[0, 0, 10, 10], [0, 0, 5, 5], [0, 0, 5, 5]]], "float32"),
        "target_boxes": np.array([[[1, 0, 11, 10], [0, 0, 0, 0], [0, 0, 0, 0]]], "float32"),
    }
    logits = np.zeros((1, 3, 3), "float32")  # uniform over background + 2 classes: CE = log 3
    deltas = np.zeros((1, 3, 3, 4), "float32")
    cls, box = (float(v) for v in box_head_loss(logits, deltas, samples))
    np.testing.assert_allclose(cls, np.log(3.0), rtol=1e-5)
    # target dx = 10 * 1 / 10 = 1 (> beta 1/9): smooth L1 = 1 - 0.5 / 9, divided by 2 sampled RoIs
    np.testing.assert_allclose(box, (1 - 0.5 / 9) / 2, rtol=1e-5)


def test_sample_rois_with_unknown_number_of_targets():
    """Keras relaxes traced shapes (`reduce_retracing`): M may be None inside train_step."""
    import tensorflow as tf

    proposals = np.array([[[0, 0, 10, 10], [30, 30, 40, 40]]], "float32")
    boxes = np.array([[[1, 0, 11, 10], [40, 40, 60, 60], [0, 0, 0, 0]]], "float32")
    classes = np.array([[2, 0, -1]], "int32")

    @tf.function(input_signature=[tf.TensorSpec((None, None, 4)), tf.TensorSpec((None, None), tf.int32)])
    def sample(b, c):
        valid = c >= 0
        return sample_rois(proposals, np.ones((1, 2), bool), b, c, valid, num_samples=8, positive_fraction=0.5,
                           seed=0)

    s = {k: np.asarray(v) for k, v in sample(boxes, classes).items()}
    assert s["rois"].shape == (1, 8, 4)
    assert (s["labels"] == 1).sum() == 3 and (s["labels"] == 0).sum() == 1 and (s["labels"] == -1).sum() == 4


def test_roi_wise_layer():
    import keras

    from vras_keras.models.detection.roi_heads import RoIWise

    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6, 2)).astype("float32")
    model = check_layer(RoIWise, {"layer": keras.layers.Conv2D(4, 3, padding="same")}, input_data=x,
                        expected_output_shape=(2, 3, 6, 6, 4))
    conv = keras.layers.Conv2D(4, 3, padding="same")
    expected = np.asarray(conv(x.reshape(6, 6, 6, 2))).reshape(2, 3, 6, 6, 4)
    np.testing.assert_allclose(np.asarray(RoIWise(conv)(x)), expected, atol=1e-5)  # the layer on every RoI
    assert model.output.shape == (None, 3, 6, 6, 4)
