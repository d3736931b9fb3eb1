"""The one geometry: homographies, their Jacobians, warps and the pixel convention (centres at integers)."""

import cv2
import numpy as np
import pytest

from vras_keras.data.geometry import (
    apply_homography,
    inside,
    local_affine,
    pixel_grid,
    random_homography,
    viewpoint_homography,
    warp_image,
)


def test_apply_homography_hand_computed():
    shift_scale = np.array([[2.0, 0, 3], [0, 2.0, -1], [0, 0, 1]])
    np.testing.assert_allclose(apply_homography(shift_scale, [[1.0, 1.0]]), [[5.0, 1.0]])
    # projective: w = 0.5 x + 1 -> (x, y) = (2, 4) maps to (2, 4) / 2
    projective = np.array([[1.0, 0, 0], [0, 1, 0], [0.5, 0, 1]])
    np.testing.assert_allclose(apply_homography(projective, [[2.0, 4.0]]), [[1.0, 2.0]])
    with pytest.raises(ValueError, match="3 x 3"):
        apply_homography(np.eye(2), [[0.0, 0.0]])


def test_local_affine_is_the_jacobian():
    h = np.array([[0.9, 0.1, 4.0], [-0.2, 1.1, 2.0], [1e-3, 2e-3, 1.0]])
    p = np.array([[30.0, 40.0]])
    eps = 1e-4
    numeric = np.stack([(apply_homography(h, p + [eps, 0]) - apply_homography(h, p - [eps, 0]))[0] / (2 * eps),
                        (apply_homography(h, p + [0, eps]) - apply_homography(h, p - [0, eps]))[0] / (2 * eps)], axis=1)
    np.testing.assert_allclose(local_affine(h, p)[0], numeric, atol=1e-6)


def test_inside_uses_width_for_x_and_height_for_y():
    shape = (10, 40, 3)  # H = 10, W = 40: x up to 39, y up to 9
    points = [[39.0, 9.0], [20.0, 9.5], [39.5, 0.0], [-0.1, 5.0], [30.0, 5.0]]
    assert inside(points, shape).tolist() == [True, False, False, False, True]
    assert inside([[1.0, 1.0], [2.0, 2.0]], shape, margin=2).tolist() == [False, True]
    assert pixel_grid(2, 3).tolist() == [[0, 0], [1, 0], [2, 0], [0, 1], [1, 1], [2, 1]]


def test_warp_image_follows_the_homography_like_opencv():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (30, 50, 3))
    h = np.array([[1.0, 0, 3], [0, 1, 2], [0, 0, 1]])  # view pixel (x, y) shows source (x - 3, y - 2)
    view, valid = warp_image(image, h, (30, 50))
    np.testing.assert_allclose(view[10, 20], image[8, 17])
    assert valid[10, 20] and not valid[0, 0] and not valid[1, 2] and valid[2, 3]
    reference = cv2.warpPerspective(image.astype(np.float32), h, (50, 30), flags=cv2.INTER_LINEAR)
    np.testing.assert_allclose(view[valid], reference[valid], atol=1e-3)
    mirrored, _ = warp_image(image, h, (30, 50), border="reflect")
    assert mirrored[0, 0].min() > 0 and np.allclose(mirrored[valid], view[valid])


def test_random_homography_moves_a_bright_square_where_it_says():
    h = random_homography((64, 64), strength=0.1, seed=3)
    image = np.zeros((64, 64, 3), np.uint8)
    image[20:23, 30:33] = 255  # a 3x3 bright square centred at pixel (x, y) = (31, 21)
    warped, _ = warp_image(image, h, (64, 64))
    ys, xs = np.nonzero(warped[..., 0] > 128)
    np.testing.assert_allclose([xs.mean(), ys.mean()], apply_homography(h, [[31.0, 21.0]])[0], atol=0.75)
    np.testing.assert_allclose(random_homography((8, 8), strength=0.0), np.eye(3), atol=1e-6)
    with pytest.raises(ValueError, match="strength"):
        random_homography((8, 8), strength=0.6)


def test_viewpoint_homography_hand_computed():
    # no tilt: a rotation by `roll` about the centre pixel ((W - 1) / 2, (H - 1) / 2) = (39.5, 29.5)
    h = viewpoint_homography((60, 80), roll=np.pi / 2)
    np.testing.assert_allclose(apply_homography(h, [[39.5, 29.5], [49.5, 29.5]]), [[39.5, 29.5], [39.5, 39.5]],
                               atol=1e-9)
    # tilt 60 deg about the x axis (azimuth 0), focal 100: the centre stays, the x axis is unchanged there,
    # and a point at (0, v) goes to f * v cos t / (f + v sin t) (plane rotated about x, seen from distance f)
    f, t = 100.0, np.deg2rad(60)
    h = viewpoint_homography((101, 101), tilt=t, focal=f)
    centre = np.array([50.0, 50.0])
    v = 10.0
    expected = f * v * np.cos(t) / (f + v * np.sin(t))
    np.testing.assert_allclose(apply_homography(h, [centre, centre + [7.0, 0], centre + [0, v]]),
                               [centre, centre + [7.0, 0], centre + [0, expected]], atol=1e-9)
    jac = local_affine(h, [centre])[0]
    np.testing.assert_allclose(jac, [[1, 0], [0, np.cos(t)]], atol=1e-9)  # foreshortened by cos(tilt) across the axis
    with pytest.raises(ValueError, match="focal"):
        viewpoint_homography(32, focal=0)
