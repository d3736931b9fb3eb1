"""Pose losses and targets: hand-computed values, masking of invisible joints, bad input."""

import keras
import numpy as np
import pytest

from vras_keras.losses.pose import (
    HeatmapCrossEntropy,
    KeypointL2Loss,
    keypoint_targets,
    pack_keypoint_targets,
    target_heatmaps,
    validate_keypoints,
)

NAN = np.nan


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_keypoint_l2_masks_invisible_joints():
    kp = np.array([[[0, 0], [3, 4], [NAN, NAN]], [[1, 1], [2, 2], [5, 5]]], np.float32)
    vis = np.array([[1, 1, 0], [1, 0, 1]], np.float32)
    pred = np.array([[[1, 0], [0, 0], [100, 100]], [[1, 1], [9, 9], [5, 7]]], np.float32)
    y = keypoint_targets(kp, vis)
    # squared errors of visible joints: 1, 9 + 16 = 25, 0, 4 -> mean 30 / 4
    assert float(KeypointL2Loss()(y, pred)) == pytest.approx(7.5)
    assert float(KeypointL2Loss(scale=2.0)(y, pred)) == pytest.approx(7.5 / 4)
    # a confidence column in y_pred is ignored
    pred3 = np.concatenate([pred, np.full(pred.shape[:2] + (1,), 0.3, np.float32)], -1)
    assert float(KeypointL2Loss()(y, pred3)) == pytest.approx(7.5)
    # visibility head: + w * mean BCE over all 6 joints; confidence 0.3 everywhere, 4 visible, 2 not
    bce = (4 * -np.log(0.3) + 2 * -np.log(0.7)) / 6
    assert float(KeypointL2Loss(visibility_weight=0.5)(y, pred3)) == pytest.approx(7.5 + 0.5 * bce, rel=1e-5)
    # NaN in an invisible joint of a raw (unvalidated) target is masked, not propagated
    raw = np.concatenate([kp, vis[..., None]], -1)
    assert float(KeypointL2Loss()(raw, pred)) == pytest.approx(7.5)


def test_target_heatmaps_gaussian_and_one_hot_by_hand():
    kp = np.array([[[1.5, 0.5]]], np.float32)  # stride 1: heatmap grid (1, 0)
    g = _np(target_heatmaps(kp, heatmap_size=(1, 3), stride=1.0, sigma=1.0))[0, 0, :, 0]
    e = np.exp(-0.5)
    np.testing.assert_allclose(g, [e / (1 + 2 * e), 1 / (1 + 2 * e), e / (1 + 2 * e)], rtol=1e-6)
    # stride 4: image x = 6 is grid x = 6 / 4 - 0.5 = 1
    g4 = _np(target_heatmaps(np.array([[[6.0, 2.0]]], np.float32), heatmap_size=(1, 3), stride=4.0, sigma=1.0))
    np.testing.assert_allclose(g4[0, 0, :, 0], g, rtol=1e-6)
    # one-hot: the heatmap pixel containing the keypoint; clipped into the map when outside
    kp = np.array([[[7.9, 4.0], [-3.0, 100.0]]], np.float32)
    oh = _np(target_heatmaps(kp, heatmap_size=(3, 3), stride=4.0, kind="one_hot"))
    assert oh.shape == (1, 3, 3, 2)
    expected0 = np.zeros((3, 3))
    expected0[1, 1] = 1  # x 7.9 -> column 1, y 4.0 -> row 1
    expected1 = np.zeros((3, 3))
    expected1[2, 0] = 1
    np.testing.assert_array_equal(oh[0, ..., 0], expected0)
    np.testing.assert_array_equal(oh[0, ..., 1], expected1)
    # invisible joint: uniform, finite even with NaN coordinates
    inv = _np(target_heatmaps(np.array([[[NAN, NAN]]], np.float32), np.zeros((1, 1)), heatmap_size=(2, 2), stride=1.0))
    np.testing.assert_allclose(inv, 0.25)


def test_heatmap_cross_entropy_one_hot_by_hand():
    p = np.array([[1, 3], [2, 2]], np.float32) / 8.0  # softmax of log p is p
    logits = np.stack([np.log(p)] * 2, axis=-1)[None].repeat(2, axis=0)  # (2, 2, 2, 2)
    kp = np.array([[[1.5, 0.5], [NAN, NAN]], [[0.2, 1.9], [1.0, 1.0]]], np.float32)
    vis = np.array([[1, 0], [1, 0]], np.float32)
    y = np.concatenate([np.nan_to_num(kp, nan=123.0), vis[..., None]], -1)
    loss = float(HeatmapCrossEntropy(stride=1.0, kind="one_hot")(y, logits))
    # joint 0 of sample 0 is at pixel (row 0, col 1): -log(3/8); of sample 1 at (row 1, col 0): -log(2/8)
    assert loss == pytest.approx((-np.log(3 / 8) - np.log(2 / 8)) / 2, rel=1e-5)


def test_heatmap_cross_entropy_gaussian_is_minimal_at_the_target():
    kp = np.array([[[5.0, 9.0]]], np.float32)
    y = keypoint_targets(kp, np.ones((1, 1)))
    target = _np(target_heatmaps(kp, heatmap_size=(4, 4), stride=4.0, sigma=1.5))
    entropy = -np.sum(target * np.log(target))
    loss = HeatmapCrossEntropy(stride=4.0, sigma=1.5)
    assert float(loss(y, np.log(target))) == pytest.approx(entropy, rel=1e-5)
    shifted = np.roll(np.log(target), 1, axis=2)
    assert float(loss(y, shifted)) > entropy + 0.1


def test_pack_keypoint_targets_zeroes_invisible():
    out = _np(pack_keypoint_targets(np.array([[1.0, 2.0], [NAN, 4.0]], np.float32), np.array([1.0, 0.0], np.float32)))
    np.testing.assert_array_equal(out, [[1, 2, 1], [0, 0, 0]])
    with pytest.raises(ValueError, match=r"\(3, 2\) and \(2,\)"):
        pack_keypoint_targets(np.zeros((3, 2), np.float32), np.zeros((2,), np.float32))


def test_validate_keypoints_bad_input_names_the_shape():
    with pytest.raises(ValueError, match=r"received shape \(4, 3\)"):
        validate_keypoints(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"received shape \(5,\)"):
        validate_keypoints(np.zeros((2, 4, 2)), np.zeros(5))
    with pytest.raises(ValueError, match=r"shape \(2, 4, 2\) has 4 joints, but the model predicts 15"):
        validate_keypoints(np.zeros((2, 4, 2)), num_joints=15)
    kp = np.zeros((2, 3, 2))
    kp[1, 2, 0] = NAN
    with pytest.raises(ValueError, match=r"shape \(2, 3, 2\) has NaN/inf .* \[\(1, 2\)\]"):
        validate_keypoints(kp, np.ones((2, 3)))
    # the same NaN on an invisible joint is fine and zeroed
    vis = np.ones((2, 3))
    vis[1, 2] = 0
    out, v = validate_keypoints(kp, vis)
    assert np.all(np.isfinite(out)) and v[1, 2] == 0


def test_losses_reject_wrong_target_shapes():
    heat = np.zeros((1, 4, 4, 3), np.float32)
    with pytest.raises(ValueError, match=r"\(1, 5, 3\) has 5 joints, but the model predicts 3"):
        HeatmapCrossEntropy()(np.zeros((1, 5, 3), np.float32), heat)
    with pytest.raises(ValueError, match=r"received shape \(1, 3, 2\)"):
        KeypointL2Loss()(np.zeros((1, 3, 2), np.float32), np.zeros((1, 3, 2), np.float32))
    with pytest.raises(ValueError, match="kind"):
        HeatmapCrossEntropy(kind="laplace")


def test_losses_serialize():
    for loss in (
        KeypointL2Loss(scale=64.0, visibility_weight=0.1),
        HeatmapCrossEntropy(stride=4.0, kind="one_hot", sigma=2.0),
    ):
        clone = keras.losses.deserialize(keras.losses.serialize(loss))
        assert type(clone) is type(loss) and clone.get_config() == loss.get_config()
