"""LIFT losses on hand-computed cases."""

import numpy as np
import pytest

from vras_keras.losses import matching as L

E = np.eye(4, dtype="float32")


def test_descriptor_loss_hand_cases():
    # Pair identical, non-pair orthogonal (distance sqrt 2 > margin 1): zero loss.
    assert float(L.descriptor_loss(E[:2], E[:2], E[2:4], margin=1.0)) == pytest.approx(0.0, abs=1e-5)
    # Pair opposite (distance 2), non-pair identical (distance 0): 2 + margin.
    assert float(L.descriptor_loss(E[:1], -E[:1], E[:1], margin=1.0)) == pytest.approx(3.0, abs=1e-5)
    # Hardest in batch: the two anchors' positives are each other's negatives at distance sqrt 2.
    hard = float(L.descriptor_loss(E[:2], E[:2], E[2:4], margin=2.0, hardest_in_batch=True))
    assert hard == pytest.approx(2 * (2.0 - np.sqrt(2.0)), abs=1e-4)
    with pytest.raises(ValueError, match="margin"):
        L.descriptor_loss(E[:1], E[:1], E[:1], margin=0.0)


def test_negative_hinge_loss_hand_cases():
    # Distances 0 (identical), 1 (0.6, 0.8 apart) and sqrt 2 (orthogonal): hinge 1.5 - d averaged over the rows.
    d1 = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 0.0]], "float32")
    shifted = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], "float32")
    expected = (1.5 + 0.5 + max(0.0, 1.5 - np.sqrt(2.0))) / 3
    assert float(L.negative_hinge_loss(d1, shifted, margin=1.5)) == pytest.approx(expected, abs=1e-5)
    assert float(L.negative_hinge_loss(d1[2:], shifted[2:], margin=1.0)) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="margin"):
        L.negative_hinge_loss(d1, shifted, margin=-1.0)


def test_orientation_consistency_loss_is_periodic():
    a = np.array([0.0, np.pi / 2], "float32")
    b = np.array([2 * np.pi, -np.pi / 2], "float32")  # equal mod 2 pi; opposite
    assert float(L.orientation_consistency_loss(a, b)) == pytest.approx(1.0, abs=1e-5)
    assert float(L.orientation_consistency_loss(a, a + 0.1)) == pytest.approx(1 - np.cos(0.1), abs=1e-6)


def test_orientation_loss_is_mean_distance():
    d1 = E[:2]
    d2 = np.stack([E[0], E[2]])
    assert float(L.orientation_loss(d1, d2)) == pytest.approx(np.sqrt(2.0) / 2, abs=1e-5)


def test_soft_score_and_class_loss():
    peak = np.zeros((1, 4, 4, 1), "float32")
    peak[0, 1, 2] = 60.0
    assert float(L.soft_score(peak)[0]) == pytest.approx(60.0, abs=1e-3)
    assert float(L.soft_score(np.full((1, 4, 4, 1), -2.0, "float32"))[0]) == pytest.approx(-2.0)
    good = [np.full((2, 4, 4, 1), 2.0, "float32")] * 3
    bad = [np.full((2, 4, 4, 1), -2.0, "float32")]
    assert float(L.detector_class_loss(good, bad)) == pytest.approx(0.0)
    zero = [np.zeros((2, 4, 4, 1), "float32")]
    assert float(L.detector_class_loss(zero * 3, zero)) == pytest.approx(1.0)  # 0.5 * (1 + 1)
    assert float(L.detector_class_loss(good, zero)) == pytest.approx(0.5)


def test_keypoint_overlap_loss():
    identity = np.tile(np.eye(2, dtype="float32"), (1, 1, 1))
    k = np.array([[20.0, 12.0]], "float32")
    assert float(L.keypoint_overlap_loss(k, k, identity, patch_size=32, crop_size=8)) == pytest.approx(0.0, abs=1e-6)
    # Shifted by half a crop along x: IoU = (4 * 8) / (2 * 64 - 32) = 1/3.
    shifted = k + np.array([[4.0, 0.0]], "float32")
    assert float(L.keypoint_overlap_loss(k, shifted, identity, patch_size=32, crop_size=8)) == pytest.approx(
        2 / 3, abs=1e-5
    )
    # View 2 rotated by 90 deg about the patch centre: the rotated keypoint is the same scene point.
    rot = np.array([[[0.0, -1.0], [1.0, 0.0]]], "float32")
    centre = 15.5
    offset = k[0] - centre
    k2 = (rot[0] @ offset + centre)[None].astype("float32")
    assert float(L.keypoint_overlap_loss(k, k2, rot, patch_size=32, crop_size=8)) == pytest.approx(0.0, abs=1e-5)
    far = np.array([[centre + 20, centre]], "float32")
    assert float(L.keypoint_overlap_loss(np.array([[centre, centre]], "float32"), far, identity, patch_size=32,
                                         crop_size=8)) == pytest.approx(1.0)


def test_detector_loss_combines_terms():
    maps = [np.full((1, 4, 4, 1), 2.0, "float32")] * 3 + [np.full((1, 4, 4, 1), 0.0, "float32")]
    k = np.array([[1.5, 1.5]], "float32")
    total, parts = L.detector_loss(maps, (E[:1], E[1:2]), (k, k), np.eye(2, dtype="float32")[None], patch_size=4,
                                   crop_size=2, gamma=2.0, overlap_weight=3.0)
    assert float(parts["class"]) == pytest.approx(0.5)
    assert float(parts["pair"]) == pytest.approx(np.sqrt(2.0), abs=1e-5)
    assert float(parts["overlap"]) == pytest.approx(0.0, abs=1e-6)
    assert float(total) == pytest.approx(2.0 * 0.5 + np.sqrt(2.0), abs=1e-5)


def test_detector_dense_loss_hand_case():
    logits = np.array([[[[0.0], [2.0]]]], "float32")  # (1, 1, 2, 1)
    target = np.array([[[1.0, 0.0]]], "float32")
    # pixel 1: positive, -log sigmoid(0) = log 2, weighted 10; pixel 2: negative, -log(1 - sigmoid(2)) = log(1 + e^2)
    expected = (10 * np.log(2.0) + np.log1p(np.exp(2.0))) / 2
    got = float(L.detector_dense_loss([logits], [target], positive_weight=10.0))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # soft targets interpolate; two maps average
    both = float(L.detector_dense_loss([logits, logits], [target, target]))
    np.testing.assert_allclose(both, expected, rtol=1e-5)
