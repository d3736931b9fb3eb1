"""Mean IoU (Keras metric and NumPy), ignore label, target validation errors."""

import numpy as np
import pytest

from vras_keras.metrics.segmentation import MeanIoU, confusion_matrix, mean_iou, validate_segmentation_targets

LABELS = np.array([[[0, 0, 1], [1, 2, 255]]])
PRED = np.array([[[0, 1, 1], [1, 2, 0]]])
# class 0: inter 1, union 2 -> 1/2; class 1: inter 2, union 3 -> 2/3; class 2: 1/1 (the ignored pixel does not count)
EXPECTED = (0.5 + 2 / 3 + 1.0) / 3


def test_numpy_mean_iou_by_hand():
    assert mean_iou(LABELS, PRED, 3) == pytest.approx(EXPECTED)
    np.testing.assert_array_equal(confusion_matrix(LABELS, PRED, 3), [[1, 1, 0], [0, 2, 0], [0, 0, 1]])
    scores = np.eye(3)[PRED]
    assert mean_iou(LABELS, scores, 3) == pytest.approx(EXPECTED)


def test_keras_metric_matches_and_accumulates():
    metric = MeanIoU(num_classes=3)
    scores = np.eye(3, dtype=np.float32)[PRED]
    metric.update_state(LABELS, scores)
    assert float(metric.result()) == pytest.approx(EXPECTED, rel=1e-6)
    metric.update_state(LABELS[..., None], scores)  # same again, (N, H, W, 1) labels
    assert float(metric.result()) == pytest.approx(EXPECTED, rel=1e-6)
    metric.reset_state()
    metric.update_state(np.array([[[2, 2]]]), np.eye(3, dtype=np.float32)[np.array([[[2, 2]]])])
    assert float(metric.result()) == pytest.approx(1.0)  # absent classes are not averaged in
    assert MeanIoU.from_config(metric.get_config()).ignore_label == 255


def test_validate_targets_errors_name_shapes_and_values():
    masks = np.zeros((2, 4, 4), np.uint8)
    assert validate_segmentation_targets(masks, 3, images=np.zeros((2, 4, 4, 3))).dtype == np.int32
    with pytest.raises(ValueError, match=r"mask shape \(2, 4, 4\) does not match images shape \(2, 5, 4, 3\)"):
        validate_segmentation_targets(masks, 3, images=np.zeros((2, 5, 4, 3)))
    masks[0, 0, 0], masks[1, 1, 1], masks[1, 2, 2] = 3, 255, 7
    with pytest.raises(ValueError, match=r"label\(s\) \[3, 7\] outside 0..2 that are not the ignore label 255"):
        validate_segmentation_targets(masks, 3)
    with pytest.raises(ValueError, match=r"predictions shape \(2, 4, 4, 5\) has 5 classes"):
        validate_segmentation_targets(np.zeros((2, 4, 4)), 3, predictions=np.zeros((2, 4, 4, 5)))
