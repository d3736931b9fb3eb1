"""NMS on small hand cases, padding, class-wise behaviour, jit."""

import numpy as np
import tensorflow as tf

from vras_keras.ops import nms

BOXES = np.array(
    [[[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10.5], [21, 21, 30, 30]]], "float32"
)
SCORES = np.array([[0.9, 0.8, 0.7, 0.95, 0.1]], "float32")


def test_single_class_hand_case():
    # box 3 (0.95) suppresses 0 (IoU 100/105 = 0.95) and 1 (IoU 85.5/119.5 = 0.72); box 2 suppresses 4 (0.81)
    idx, n = nms.non_max_suppression(BOXES, SCORES, max_output_size=4, iou_threshold=0.5)
    np.testing.assert_array_equal(np.asarray(idx), [[3, 2, -1, -1]])
    np.testing.assert_array_equal(np.asarray(n), [2])
    # threshold 0.75 keeps box 1 (IoU 0.72 with box 3; box 0 is suppressed) but not box 0 or box 4
    idx, n = nms.non_max_suppression(BOXES, SCORES, max_output_size=5, iou_threshold=0.75)
    np.testing.assert_array_equal(np.asarray(idx), [[3, 1, 2, -1, -1]])
    # score threshold removes candidates before NMS
    idx, n = nms.non_max_suppression(BOXES, SCORES, max_output_size=2, iou_threshold=0.5, score_threshold=0.75)
    np.testing.assert_array_equal(np.asarray(idx), [[3, -1]])


def test_greedy_chain_is_exact():
    # A chain a > b > c where a suppresses b, b would suppress c, but b is gone so c stays.
    boxes = np.array([[[0, 0, 10, 10], [4, 0, 14, 10], [8, 0, 18, 10]]], "float32")
    scores = np.array([[0.9, 0.8, 0.7]], "float32")
    idx, n = nms.non_max_suppression(boxes, scores, max_output_size=3, iou_threshold=0.4)
    np.testing.assert_array_equal(np.asarray(idx), [[0, 2, -1]])  # IoU(a,b) = 0.43, IoU(a,c) = 0.11


def test_multiclass_hand_case_and_padding():
    scores = np.zeros((1, 5, 2), "float32")
    scores[0, :, 0] = SCORES[0]
    scores[0, 1, 1] = 0.85  # box 1 as class 1: nothing of class 1 overlaps it
    out = nms.multiclass_non_max_suppression(BOXES, scores, max_detections=6, iou_threshold=0.5)
    np.testing.assert_array_equal(np.asarray(out["classes"]), [[0, 1, 0, -1, -1, -1]])
    np.testing.assert_allclose(np.asarray(out["scores"]), [[0.95, 0.85, 0.7, 0, 0, 0]], atol=1e-6)
    np.testing.assert_allclose(np.asarray(out["boxes"])[0, :3], BOXES[0, [3, 1, 2]])
    np.testing.assert_array_equal(np.asarray(out["num_detections"]), [3])
    # fewer detections requested than found: truncated, count capped
    out = nms.multiclass_non_max_suppression(BOXES, scores, max_detections=2)
    np.testing.assert_array_equal(np.asarray(out["num_detections"]), [2])


def test_multiclass_per_class_boxes_batch_and_jit():
    boxes = np.stack([BOXES[0], BOXES[0][::-1]])  # (2, 5, 4)
    per_class = np.repeat(boxes[:, :, None], 3, axis=2)  # (2, 5, 3, 4)
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, (2, 5, 3)).astype("float32")
    eager = nms.multiclass_non_max_suppression(per_class, scores, max_detections=8)
    shared = nms.multiclass_non_max_suppression(boxes, scores, max_detections=8)
    for key in eager:
        np.testing.assert_allclose(np.asarray(eager[key]), np.asarray(shared[key]))
    fn = tf.function(lambda b, s: nms.multiclass_non_max_suppression(b, s, max_detections=8), jit_compile=True)
    jit = fn(boxes, scores)
    for key in eager:
        np.testing.assert_allclose(np.asarray(jit[key]), np.asarray(eager[key]), atol=1e-6)
    # reference: per-class greedy NMS in NumPy
    for b in range(2):
        expected = []
        for c in range(3):
            order = [i for i in np.argsort(-scores[b, :, c]) if scores[b, i, c] > 0.05]
            kept = []
            for i in order:
                if all(_iou(boxes[b, i], boxes[b, j]) <= 0.5 for j in kept):
                    kept.append(i)
            expected += [(scores[b, i, c], c) for i in kept]
        expected.sort(reverse=True)
        n = int(eager["num_detections"][b])
        assert n == min(len(expected), 8)
        np.testing.assert_allclose(np.asarray(eager["scores"])[b, :n], [s for s, _ in expected[:n]], atol=1e-6)


def _iou(a, b):
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
