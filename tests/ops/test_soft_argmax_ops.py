"""vras_keras.ops.soft_argmax: the pure functions behind the layers."""

import keras
import numpy as np
import pytest

from vras_keras.ops import soft_argmax as sa


def test_heatmap_softmax_sums_to_one_per_joint_and_matches_numpy():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    p = keras.ops.convert_to_numpy(sa.heatmap_softmax(x, 0.5))
    flat = x.reshape(2, 12, 5) / 0.5
    ref = np.exp(flat - flat.max(1, keepdims=True))
    ref = (ref / ref.sum(1, keepdims=True)).reshape(x.shape)
    np.testing.assert_allclose(p, ref, rtol=1e-5)
    np.testing.assert_allclose(p.sum(axis=(1, 2)), 1.0, rtol=1e-6)


def test_soft_argmax_matches_bruteforce_expectation():
    x = np.random.default_rng(1).standard_normal((2, 4, 3, 5, 2)).astype(np.float32)  # 3-D
    out = keras.ops.convert_to_numpy(sa.soft_argmax_3d(x, coordinate_scale=(2.0, 1.0, 3.0)))
    p = np.exp(x) / np.exp(x).sum(axis=(1, 2, 3), keepdims=True)
    z, y, xx = np.meshgrid(np.arange(4), np.arange(3), np.arange(5), indexing="ij")
    grids = [(xx + 0.5) * 2, (y + 0.5) * 1.0, (z + 0.5) * 3]
    ref = np.stack([(p * g[None, ..., None]).sum(axis=(1, 2, 3)) for g in grids], axis=-1)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_hard_argmax_ties_take_first_in_row_major_order():
    h = np.zeros((1, 3, 4, 1), np.float32)
    h[0, 2, 0, 0] = h[0, 1, 3, 0] = 5.0  # (x, y) = (0, 2) and (3, 1): (3, 1) comes first
    out = keras.ops.convert_to_numpy(sa.hard_argmax_2d(h))
    np.testing.assert_array_equal(out[0, 0], [3.0, 1.0])


def test_errors_name_the_shape():
    with pytest.raises(ValueError, match=r"received shape \(2, 4, 4\)"):
        sa.soft_argmax_2d(np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match="temperature"):
        sa.heatmap_softmax(np.zeros((1, 2, 2, 1), np.float32), 0.0)
