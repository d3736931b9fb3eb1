"""Box ops against hand-computed values: IoU, delta round trip, matching rules, balanced sampling."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from vras_keras.ops import boxes as B


def np_(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def test_iou_hand_values_and_shape():
    a = np.array([[0, 0, 2, 2], [0, 0, 1, 1]], "float32")
    b = np.array([[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]], "float32")
    got = np_(B.iou(a, b))
    # (0,0,2,2) vs (1,1,3,3): inter 1, union 4 + 4 - 1 = 7
    expected = np.array([[1 / 7, 1.0, 0.0], [0.0, 0.25, 0.0]], "float32")
    np.testing.assert_allclose(got, expected, atol=1e-6)
    batched = np_(B.iou(np.stack([a, a]), np.stack([b, b])))
    assert batched.shape == (2, 2, 3)
    np.testing.assert_allclose(batched[1], expected, atol=1e-6)


def test_iou_degenerate_boxes_and_other_format():
    a = np.array([[1, 1, 1, 5]], "float32")  # zero width
    assert np_(B.iou(a, a))[0, 0] == 0.0
    # center_xywh: (1,1,2,2) == xyxy (0,0,2,2); (2,2,2,2) == (1,1,3,3)
    got = np_(B.iou([[1.0, 1, 2, 2]], [[2.0, 2, 2, 2]], bounding_box_format="center_xywh"))
    np.testing.assert_allclose(got, [[1 / 7]], atol=1e-6)


def test_iou_matches_keras_compute_iou():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 50, (6, 2))
    a = np.concatenate([xy, xy + rng.uniform(1, 30, (6, 2))], -1).astype("float32")
    xy = rng.uniform(0, 50, (4, 2))
    b = np.concatenate([xy, xy + rng.uniform(1, 30, (4, 2))], -1).astype("float32")
    ref = np_(keras.utils.bounding_boxes.compute_iou(a, b, "xyxy"))
    np.testing.assert_allclose(np_(B.iou(a, b)), ref, atol=1e-5)


def test_convert_format_and_errors():
    box = np.array([[10, 20, 30, 60]], "float32")
    np.testing.assert_allclose(np_(B.convert_format(box, "xyxy", "center_xywh")), [[20, 40, 20, 40]])
    np.testing.assert_allclose(np_(B.convert_format(box, "xyxy", "yxyx")), [[20, 10, 60, 30]])
    with pytest.raises(ValueError, match="bounding_box_format must be one of"):
        B.convert_format(box, "xyxy", "ltrb")
    with pytest.raises(ValueError, match="height and width"):
        B.convert_format(box, "xyxy", "rel_xyxy")


def test_encode_hand_values_and_round_trip():
    anchors = np.array([[0, 0, 10, 20]], "float32")  # centre (5, 10), size (10, 20)
    boxes = np.array([[5, 0, 25, 20]], "float32")  # centre (15, 10), size (20, 20)
    deltas = np_(B.encode_deltas(anchors, boxes))
    np.testing.assert_allclose(deltas, [[1.0, 0.0, math.log(2.0), 0.0]], atol=1e-6)
    w = (10.0, 10.0, 5.0, 5.0)
    np.testing.assert_allclose(
        np_(B.encode_deltas(anchors, boxes, weights=w)), [[10, 0, 5 * math.log(2), 0]], atol=1e-5
    )
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 100, (50, 2))
    a = np.concatenate([xy, xy + rng.uniform(2, 60, (50, 2))], -1).astype("float32")
    xy = rng.uniform(0, 100, (50, 2))
    g = np.concatenate([xy, xy + rng.uniform(2, 60, (50, 2))], -1).astype("float32")
    for fmt in ("xyxy", "center_xywh"):
        a_f, g_f = np_(B.convert_format(a, "xyxy", fmt)), np_(B.convert_format(g, "xyxy", fmt))
        d = B.encode_deltas(a_f, g_f, weights=w, bounding_box_format=fmt)
        back = np_(B.decode_deltas(a_f, d, weights=w, bounding_box_format=fmt))
        np.testing.assert_allclose(back, g_f, atol=1e-3)


def test_decode_clamps_scale_and_clips():
    anchors = np.array([[0, 0, 16, 16]], "float32")
    huge = np.array([[0, 0, 100.0, 100.0]], "float32")
    out = np_(B.decode_deltas(anchors, huge))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[0, 2] - out[0, 0], 1000.0, rtol=1e-5)  # exp(log(1000/16)) * 16
    clipped = np_(B.decode_deltas(anchors, huge, clip=(40, 30)))
    np.testing.assert_allclose(clipped, [[0, 0, 30, 40]])


def test_clip_boxes():
    boxes = np.array([[-5, -5, 10, 10], [20, 30, 80, 90]], "float32")
    np.testing.assert_allclose(np_(B.clip_boxes(boxes, 50, 60)), [[0, 0, 10, 10], [20, 30, 60, 50]])


def test_match_anchors_rules():
    # 5 anchors x 2 ground truths
    m = np.array(
        [
            [0.80, 0.10],  # > 0.7: positive, gt 0
            [0.50, 0.20],  # between: ignore
            [0.10, 0.20],  # < 0.3: negative ...
            [0.05, 0.40],  # between, but the best anchor of gt 1 -> low-quality positive
            [0.70, 0.00],  # == 0.7 counts as positive (torchvision/detectron2 convention)
        ],
        "float32",
    )
    idx, labels = B.match_anchors(m)
    np.testing.assert_array_equal(np_(labels), [1, -1, 0, 1, 1])
    np.testing.assert_array_equal(np_(idx), [0, 0, 1, 1, 0])
    _, labels = B.match_anchors(m, allow_low_quality_matches=False)
    np.testing.assert_array_equal(np_(labels), [1, -1, 0, -1, 1])


def test_match_anchors_padding_and_empty_images():
    m = np.array([[[0.9, 0.95], [0.1, 0.0]], [[0.2, 0.0], [0.0, 0.0]]], "float32")
    gt_mask = np.array([[True, False], [False, False]])  # image 1 has no objects
    idx, labels = B.match_anchors(m, gt_mask=gt_mask)
    np.testing.assert_array_equal(np_(labels), [[1, 0], [0, 0]])
    np.testing.assert_array_equal(np_(idx), [[0, 0], [0, 0]])  # padded gt 1 never chosen
    idx, labels = B.match_anchors(np.zeros((3, 0), "float32"))
    np.testing.assert_array_equal(np_(labels), [0, 0, 0])
    with pytest.raises(ValueError, match="negative_threshold"):
        B.match_anchors(m, positive_threshold=0.3, negative_threshold=0.7)


def test_match_anchors_in_graph():
    fn = tf.function(lambda m: B.match_anchors(m), jit_compile=True)
    _, labels = fn(tf.constant([[0.8, 0.1], [0.2, 0.25]]))
    np.testing.assert_array_equal(labels.numpy(), [1, 1])  # row 1 is the best of gt 1


def test_sample_balanced_quotas():
    labels = np.array([[1] * 10 + [0] * 100 + [-1] * 5], "int32")
    out = np_(B.sample_balanced(labels, 16, 0.5, seed=3))
    assert (out == 1).sum() == 8 and (out == 0).sum() == 8
    assert np.all(out[labels == -1] == -1)
    assert np.all(labels[out == 1] == 1) and np.all(labels[out == 0] == 0)
    # too few positives: the negatives fill the budget
    few = np.array([[1, 1] + [0] * 50], "int32")
    out = np_(B.sample_balanced(few, 20, 0.5, seed=0))
    assert (out == 1).sum() == 2 and (out == 0).sum() == 18
    # batch rows are sampled independently, 25 % positives
    rows = np.array([[1] * 40 + [0] * 40, [0] * 80], "int32")
    out = np_(B.sample_balanced(rows, 16, 0.25, seed=keras.random.SeedGenerator(7)))
    assert (out[0] == 1).sum() == 4 and (out[0] == 0).sum() == 12
    assert (out[1] == 1).sum() == 0 and (out[1] == 0).sum() == 16
