"""The one matcher and the one pair scorer, against hand-computed cases (a non-square pair included)."""

import numpy as np
import pytest

from vras_keras.metrics.matching import (
    correct_matches,
    evaluate_pair,
    homography_corner_error,
    match_descriptors,
)


def test_mutual_nearest_neighbours_and_ratio():
    e = np.eye(3, dtype="float32")
    desc1 = np.stack([e[0], e[1], e[2], 0.9 * e[0] + 0.1 * e[1]])
    desc2 = np.stack([e[1] * 0.95 + e[2] * 0.05, e[0], 0.55 * e[2] + 0.45 * e[1]])
    # nn12: 0->1, 1->0, 2->2, 3->1 ; nn21: 0->1, 1->0, 2->2 -> mutual: (0,1), (1,0), (2,2); 3 is not mutual.
    matches, distances = match_descriptors(desc1, desc2)
    np.testing.assert_array_equal(matches, [[0, 1], [1, 0], [2, 2]])
    np.testing.assert_allclose(distances, [0.0, np.sqrt(2 * 0.05**2), np.linalg.norm(desc1[2] - desc2[2])], atol=1e-7)
    # with ratio 0.3 only the clear matches (0 and 1) survive
    np.testing.assert_array_equal(match_descriptors(desc1, desc2, ratio=0.3)[0], [[0, 1], [1, 0]])
    assert match_descriptors(np.zeros((0, 3)), desc2)[0].shape == (0, 2)
    with pytest.raises(ValueError, match="lengths differ"):
        match_descriptors(desc1, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="ratio"):
        match_descriptors(desc1, desc2, ratio=1.5)


def test_ratio_test_drops_an_ambiguous_descriptor():
    ambiguous = np.array([[1, 0], [0.99, 0.01]], np.float32)
    query = np.array([[0.995, 0.005]], np.float32)  # equally far from both
    assert match_descriptors(query, ambiguous, ratio=0.8, mutual=False)[0].shape == (0, 2)
    assert match_descriptors(query, ambiguous, mutual=False)[0].shape == (1, 2)


def test_hamming_on_packed_bits():
    a = np.array([[0b11110000], [0b00001111]], np.uint8)
    b = np.array([[0b00001110], [0b11110001]], np.uint8)  # b0 is 1 bit from a1, b1 is 1 bit from a0
    matches, distances = match_descriptors(a, b, metric="hamming")
    np.testing.assert_array_equal(matches, [[0, 1], [1, 0]])
    np.testing.assert_array_equal(distances, [1, 1])
    with pytest.raises(TypeError, match="uint8"):
        match_descriptors(a.astype(np.float32), b, metric="hamming")


def test_evaluate_pair_on_a_non_square_pair_hand_computed():
    """View a is 20 x 60 (H x W), view b the same shifted right by 2 px. Keypoints at x > 20 would be
    wrongly dropped by a check that clips x to the height."""
    h = np.array([[1.0, 0, 2], [0, 1, 0], [0, 0, 1]])
    kp_a = np.array([[5.0, 5.0], [30.0, 10.0], [50.0, 15.0], [10.0, 12.0], [70.0, 5.0]])  # last: outside a
    kp_b = np.array([[7.0, 5.0], [32.0, 10.0], [55.0, 15.0], [40.0, 2.0]])  # (55, 15): 3 px off the truth
    d_a = np.eye(5)[:, :4] + 0.0
    d_a[4] = [0, 0, 0, 1.0]
    d_b = np.eye(4)  # a_i matches b_i for i < 4; a_4 (dropped) would match b_3
    scores = evaluate_pair(kp_a, d_a, kp_b, d_b, h, shape_a=(20, 60), shape_b=(20, 60))
    assert scores["keypoints"] == (4 + 4) / 2
    assert scores["matches"] == 4  # (0,0) 0 px, (1,1) 0 px, (2,2) 3 px, (3,3) |(12,12)-(40,2)| px
    np.testing.assert_allclose(scores["_errors"], [0, 0, 3, np.hypot(28, 10)])
    assert scores["mma@1"] == 0.5 and scores["mma@3"] == 0.75 and scores["mma@5"] == 0.75
    assert scores["correct@3"] == 3
    # repeatability: a -> b within 3 px: a0, a1, a2 (3 px) of 4; b -> a: b0, b1, b2 of 4
    assert scores["repeatability"] == 6 / 8


def test_homography_corner_error_is_zero_for_exact_matches_and_correct_matches():
    rng = np.random.default_rng(0)
    h = np.array([[1.05, 0.02, 3.0], [-0.01, 0.98, -2.0], [1e-4, -2e-4, 1.0]])
    kp_a = rng.uniform(0, 60, (30, 2))
    u = np.concatenate([kp_a, np.ones((30, 1))], 1) @ h.T
    kp_b = u[:, :2] / u[:, 2:]
    matches = np.stack([np.arange(30), np.arange(30)], 1)
    assert homography_corner_error(kp_a, kp_b, matches, h, (64, 80)) < 1e-3
    assert homography_corner_error(kp_a, kp_b, matches[:3], h, (64, 80)) == float("inf")
    assert correct_matches(kp_a, kp_b + [[4.0, 0.0]], matches[:2], h).tolist() == [False, False]
    assert correct_matches(kp_a, kp_b, matches[:2], h).tolist() == [True, True]


def test_evaluate_pair_without_keypoints_scores_zero():
    kp = np.array([[5.0, 5.0], [30.0, 10.0]])
    for empty in (np.zeros((0,)), np.zeros((0, 2)), np.zeros((0, 5))):
        scores = evaluate_pair(empty, np.zeros((0, 4)), kp, np.eye(2, 4), np.eye(3), shape_a=(20, 60), shape_b=(20, 60))
        assert scores["matches"] == 0 and scores["mma@3"] == 0.0 and scores["repeatability"] == 0.0
        assert scores["keypoints"] == 1.0 and scores["homography@3"] == 0.0
