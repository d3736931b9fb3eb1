"""PCK and mean pixel error: hand-computed values, visibility masking, accumulation, serialization."""

import keras
import numpy as np
import pytest

from vras_keras.losses.pose import keypoint_targets
from vras_keras.metrics.pose import PCK, MeanPixelError, figure_size

NAN = np.nan


def _case():
    # visible joints (0, 0), (10, 0), (10, 20): bounding box 10 x 20 -> size 20
    kp = np.array([[[0, 0], [10, 0], [10, 20], [NAN, NAN]]], np.float32)
    vis = np.array([[1, 1, 1, 0]], np.float32)
    # errors: 1, 5 (3-4-5), 2; the invisible joint's prediction is ignored
    pred = np.array([[[1, 0], [13, 4], [10, 22], [500, 500]]], np.float32)
    return keypoint_targets(kp, vis), pred


def test_figure_size_is_larger_side_of_visible_box():
    y, _ = _case()
    assert float(figure_size(y[..., :2], y[..., 2])[0]) == 20.0


@pytest.mark.parametrize("alpha, expected", [(0.05, 1 / 3), (0.1, 2 / 3), (0.25, 1.0)])
def test_pck_by_hand(alpha, expected):
    y, pred = _case()
    m = PCK(alpha)  # thresholds 1, 2, 5 pixels; errors 1, 5, 2
    m.update_state(y, pred)
    assert float(m.result()) == pytest.approx(expected)
    assert m.name == f"pck@{alpha:g}"


def test_mean_pixel_error_by_hand_and_accumulates():
    y, pred = _case()
    m = MeanPixelError()
    m.update_state(y, pred)
    assert float(m.result()) == pytest.approx((1 + 5 + 2) / 3)
    # a second batch with one visible joint at error 4 and a confidence column in y_pred
    y2 = keypoint_targets(np.array([[[5, 5], [0, 0]]]), np.array([[1, 0]]))
    m.update_state(y2, np.array([[[5, 9, 0.7], [3, 3, 0.1]]], np.float32))
    assert float(m.result()) == pytest.approx((1 + 5 + 2 + 4) / 4)
    m.reset_state()
    assert float(m.result()) == 0.0


def test_metrics_reject_bad_shapes_and_serialize():
    y, pred = _case()
    with pytest.raises(ValueError, match=r"\(1, 4, 3\) has 4 joints, but the model predicts 2"):
        PCK(0.1).update_state(y, pred[:, :2])
    with pytest.raises(ValueError, match=r"received shape \(1, 4\)"):
        MeanPixelError().update_state(y, pred[..., 0])
    with pytest.raises(ValueError, match="alpha"):
        PCK(0.0)
    clone = keras.metrics.deserialize(keras.metrics.serialize(PCK(0.05)))
    assert isinstance(clone, PCK) and clone.alpha == 0.05 and clone.name == "pck@0.05"
