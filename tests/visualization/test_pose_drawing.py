"""draw_skeleton: joints and limbs where expected, masking, input untouched, bad input."""

import numpy as np
import pytest

from vras_keras.visualization.pose import draw_skeleton


def test_draws_joints_and_limbs_at_their_pixels():
    image = np.zeros((32, 32, 3), np.uint8)
    kp = np.array([[4.5, 4.5], [24.5, 4.5], [16.5, 28.5]], np.float32)  # centres of pixels (4,4), (24,4), (16,28)
    out = draw_skeleton(image, kp, np.array([1, 1, 0]), skeleton=[(0, 1), (1, 2)], radius=1, thickness=1,
                        limb_colours=[(255, 0, 0), (0, 255, 0)])
    assert out.dtype == np.uint8 and out.shape == (32, 32, 3)
    assert image.sum() == 0  # the input is not modified
    np.testing.assert_array_equal(out[4, 4], [255, 255, 255])  # joint 0
    np.testing.assert_array_equal(out[4, 24], [255, 255, 255])  # joint 1
    assert out[4, 14, 0] > 200 and out[4, 14, 1] == 0  # limb 0-1 (red, anti-aliased) through its midpoint
    assert out[28, 16].sum() == 0  # invisible joint 2 not drawn
    assert out[16, 20].sum() == 0  # nor its limb 1-2 (midpoint pixel)
    assert out[20:, :].sum() == 0


def test_confidence_threshold_grayscale_and_float_images():
    image = np.full((16, 16), 100.0)
    kp = np.array([[3.5, 3.5, 0.9], [12.5, 12.5, 0.2]], np.float32)
    out = draw_skeleton(image, kp, skeleton=[(0, 1)], confidence_threshold=0.5, radius=1)
    assert out.shape == (16, 16, 3)
    assert out[3, 3].tolist() == [255, 255, 255]
    assert out[12, 12].tolist() == [100, 100, 100]
    assert out[8, 8].tolist() == [100, 100, 100]  # the limb needs both joints


def test_invisible_joint_may_be_nan_but_visible_may_not():
    kp = np.array([[3.5, 3.5], [np.nan, np.nan]], np.float32)
    draw_skeleton(np.zeros((8, 8, 3), np.uint8), kp, np.array([1, 0]), skeleton=[(0, 1)])
    with pytest.raises(ValueError, match=r"shape \(2, 2\) has NaN"):
        draw_skeleton(np.zeros((8, 8, 3), np.uint8), kp)


@pytest.mark.parametrize(
    "image, kp, skeleton, match",
    [
        (np.zeros((8, 8, 4)), np.zeros((2, 2)), None, r"image .* received shape \(8, 8, 4\)"),
        (np.zeros((8, 8, 3)), np.zeros((2, 4)), None, r"received shape \(2, 4\)"),
        (np.zeros((8, 8, 3)), np.zeros((2, 2)), [(0, 2)], r"0\.\.1"),
    ],
)
def test_bad_input(image, kp, skeleton, match):
    with pytest.raises(ValueError, match=match):
        draw_skeleton(image, kp, skeleton=skeleton)
