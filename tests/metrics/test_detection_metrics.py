"""COCO evaluation: perfect predictions give AP 1, hand cases give COCO's 101-point values."""

import numpy as np
import pytest

from vras_keras.metrics.detection import METRIC_NAMES, evaluate_detections

GT = {"boxes": np.array([[[10, 10, 30, 30], [40, 40, 60, 60], [-1, -1, -1, -1]]], "float32"),
      "classes": np.array([[0, 0, -1]], "int32")}


def _pred(boxes, scores, classes):
    return [{"boxes": np.array(boxes, "float32"), "scores": np.array(scores, "float32"),
             "classes": np.array(classes, "int32")}]


def test_perfect_predictions_give_one():
    gt = {"boxes": np.array([[[10, 10, 30, 30], [40, 40, 60, 60]], [[5, 5, 50, 40], [0, 0, 0, 0]]], "float32"),
          "classes": np.array([[0, 1], [2, -1]], "int32")}
    pred = {"boxes": gt["boxes"], "scores": np.array([[0.9, 0.8], [0.7, 0.0]], "float32"),
            "classes": gt["classes"], "num_detections": np.array([2, 1], "int32")}
    metrics = evaluate_detections(pred, gt)
    assert set(metrics) == set(METRIC_NAMES)
    assert metrics["AP"] == pytest.approx(1.0) and metrics["AP50"] == pytest.approx(1.0)
    assert metrics["AP75"] == pytest.approx(1.0) and metrics["AR100"] == pytest.approx(1.0)


def test_hand_cases_101_point_interpolation():
    # one of two objects found: precision 1 up to recall 0.5 -> 51 of the 101 recall points
    m = evaluate_detections(_pred([[10, 10, 30, 30]], [0.9], [0]), GT)
    assert m["AP50"] == pytest.approx(51 / 101, abs=1e-6) and m["AP"] == pytest.approx(51 / 101, abs=1e-6)
    # a higher-scored false positive first: precision 0.5 at recall 0.5
    m = evaluate_detections(_pred([[100, 100, 120, 120], [10, 10, 30, 30]], [0.95, 0.9], [0, 0]), GT)
    assert m["AP50"] == pytest.approx(0.5 * 51 / 101, abs=1e-6)
    # wrong class: no match at all
    m = evaluate_detections(_pred([[10, 10, 30, 30], [40, 40, 60, 60]], [0.9, 0.8], [1, 1]), GT)
    assert m["AP50"] == pytest.approx(0.0)


def test_iou_thresholds_ap50_vs_ap75():
    # both boxes shifted: IoU = 16*20 / (2*400 - 320) = 0.667 -> matched at 0.50..0.65, not at >= 0.70
    pred = _pred([[14, 10, 34, 30], [44, 40, 64, 60]], [0.9, 0.8], [0, 0])
    m = evaluate_detections(pred, GT)
    assert m["AP50"] == pytest.approx(1.0) and m["AP75"] == pytest.approx(0.0)
    assert m["AP"] == pytest.approx(4 / 10)


def test_segm_and_errors():
    masks = np.zeros((1, 2, 64, 64), "uint8")
    masks[0, 0, 10:30, 10:30] = 1
    masks[0, 1, 40:60, 40:50] = 1
    gt = {"boxes": np.array([[[10, 10, 30, 30], [40, 40, 50, 60]]], "float32"), "classes": np.array([[0, 1]]),
          "masks": masks}
    pred = {**gt, "scores": np.array([[0.9, 0.8]], "float32"), "masks": masks.astype("float32") * 0.9}
    assert evaluate_detections(pred, gt, iou_type="segm")["AP"] == pytest.approx(1.0)
    half = pred["masks"].copy()
    half[0, 1, 50:60] = 0  # half of the second mask: IoU 0.5
    m = evaluate_detections({**pred, "masks": half}, gt, iou_type="segm")
    assert m["AP50"] == pytest.approx(1.0) and m["AP75"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="iou_type"):
        evaluate_detections(pred, gt, iou_type="keypoints")
    with pytest.raises(ValueError, match="no valid object"):
        evaluate_detections(pred, {"boxes": gt["boxes"], "classes": -np.ones((1, 2), "int32")})
    with pytest.raises(ValueError, match="must match"):
        evaluate_detections([pred], [gt, gt])
    empty = _pred(np.zeros((0, 4)), [], [])
    assert evaluate_detections(empty, GT)["AP"] == 0.0
