"""transform_to_theta: hand-computed matrices for every parametrisation, identities, errors."""

import numpy as np
import pytest

from vras_keras.ops import TRANSFORMS, identity_parameters, num_transform_parameters, transform_to_theta


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("rank", [2, 3])
def test_identity_parameters_give_the_identity(transform, rank):
    params = np.tile(identity_parameters(transform, rank)[None], (2, 1))
    assert params.shape == (2, num_transform_parameters(transform, rank))
    theta = np.asarray(transform_to_theta(params, transform, rank))
    np.testing.assert_allclose(theta, np.tile(np.eye(rank, rank + 1), (2, 1, 1)), atol=1e-7)


def test_2d_parametrisations_by_hand():
    a = np.pi / 6
    c, s = np.cos(a), np.sin(a)
    cases = {
        "affine": ([1, 2, 3, 4, 5, 6], [[1, 2, 3], [4, 5, 6]]),
        "similarity": ([a, 2.0, 0.1, -0.2], [[2 * c, -2 * s, 0.1], [2 * s, 2 * c, -0.2]]),
        "rotation_translation": ([a, 0.3, 0.4], [[c, -s, 0.3], [s, c, 0.4]]),
        "translation_scale": ([0.5, -0.1, 0.2], [[0.5, 0, -0.1], [0, 0.5, 0.2]]),
    }
    for transform, (params, expected) in cases.items():
        theta = np.asarray(transform_to_theta(np.array([params], "float32"), transform, 2))
        np.testing.assert_allclose(theta[0], expected, atol=1e-6, err_msg=transform)


def test_3d_parametrisations_by_hand():
    # A quarter turn about z maps x -> y and y -> -x; about x maps y -> z.
    rz = np.asarray(transform_to_theta(np.array([[0, 0, np.pi / 2, 1, 2, 3]], "float32"), "rotation_translation", 3))
    np.testing.assert_allclose(rz[0], [[0, -1, 0, 1], [1, 0, 0, 2], [0, 0, 1, 3]], atol=1e-6)
    rx = np.asarray(transform_to_theta(np.array([[np.pi / 2, 0, 0, 2.0, 0, 0, 0]], "float32"), "similarity", 3))
    np.testing.assert_allclose(rx[0], [[2, 0, 0, 0], [0, 0, -2, 0], [0, 2, 0, 0]], atol=1e-6)
    ts = np.asarray(transform_to_theta(np.array([[0.5, 1, 2, 3]], "float32"), "translation_scale", 3))
    np.testing.assert_allclose(ts[0], [[0.5, 0, 0, 1], [0, 0.5, 0, 2], [0, 0, 0.5, 3]])
    angles = np.random.default_rng(0).uniform(-3, 3, (4, 6)).astype("float32")
    rot = np.asarray(transform_to_theta(angles, "rotation_translation", 3))[:, :, :3]
    np.testing.assert_allclose(rot @ rot.transpose(0, 2, 1), np.tile(np.eye(3), (4, 1, 1)), atol=1e-5)
    np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-5)


def test_bad_parameters():
    with pytest.raises(ValueError, match=r"transform must be one of .*received 'shear'"):
        transform_to_theta(np.zeros((1, 6), "float32"), "shear")
    with pytest.raises(ValueError, match=r"must have shape \(N, 4\); received shape \(1, 6\)"):
        transform_to_theta(np.zeros((1, 6), "float32"), "similarity", 2)
    with pytest.raises(ValueError, match="rank must be 2 .* or 3 .*; received 4"):
        num_transform_parameters("affine", 4)
