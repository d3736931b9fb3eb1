"""SoftArgmax2D / SoftArgmax3D / HeatmapArgmax2D: hand-computed values, gradients, harness (incl. TFLite)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vras_keras.layers import HeatmapArgmax2D, SoftArgmax2D, SoftArgmax3D
from vras_keras.ops import soft_argmax as sa
from vras_keras.testing import check_layer

# The course's 4x4 example: grids x(m, n) = n, y(m, n) = m with values 1..4; our grid is the same minus 1.
GRID_1_TO_4 = np.arange(1, 5, dtype=np.float64)


def _course_expectation(p):
    """Centre of gravity on the course's 1..4 grid, normalised by hand, shifted to our 0-based grid."""
    p = p / p.sum()
    x = (p.sum(axis=0) * GRID_1_TO_4).sum()
    y = (p.sum(axis=1) * GRID_1_TO_4).sum()
    return np.array([x, y]) - 1.0


def test_course_4x4_example_already_normalised():
    h = np.array([[0, 0, 0, 0], [0, 1, 2, 0], [0, 1, 4, 0], [0, 0, 0, 0]], dtype=np.float32)
    # by hand: sum 8; columns 2, 3 carry 2/8, 6/8 -> x = (2*2 + 3*6)/8 = 2.75; rows 2, 3: 3/8, 5/8 -> y = 2.625
    expected = np.array([2.75, 2.625]) - 1.0
    np.testing.assert_allclose(_course_expectation(h), expected)
    out = SoftArgmax2D(normalize=False)((h / 8.0)[None, :, :, None])
    assert out.shape == (1, 1, 2)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out)[0, 0], expected, atol=1e-6)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_course_4x4_example_softmax(temperature):
    p = np.array([[1, 1, 1, 1], [1, 2, 4, 1], [1, 2, 8, 1], [1, 1, 1, 1]], dtype=np.float64)
    # by hand: sum 28; column sums 4, 6, 14, 4 -> x = 74/28; row sums 4, 8, 12, 4 -> y = 72/28 (1-based)
    expected = np.array([74 / 28, 72 / 28]) - 1.0
    np.testing.assert_allclose(_course_expectation(p), expected)
    logits = (np.log(p) * temperature).astype(np.float32)  # softmax(logits / T) == p / 28
    out = SoftArgmax2D(temperature=temperature)(logits[None, :, :, None])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out)[0, 0], expected, atol=1e-5)


def test_one_hot_gives_exact_position():
    h = np.zeros((2, 5, 7, 3), np.float32)
    positions = [[(0, 0), (6, 4), (3, 2)], [(1, 3), (5, 0), (2, 4)]]  # (x, y)
    for n, joints in enumerate(positions):
        for k, (x, y) in enumerate(joints):
            h[n, y, x, k] = 1.0
    exact = keras.ops.convert_to_numpy(SoftArgmax2D(normalize=False)(h))
    np.testing.assert_array_equal(exact, np.array(positions, np.float32))
    # as logits with a large peak, the softmax is one-hot to float precision
    soft = keras.ops.convert_to_numpy(SoftArgmax2D()(h * 100.0))
    np.testing.assert_allclose(soft, np.array(positions, np.float32), atol=1e-5)
    hard = keras.ops.convert_to_numpy(HeatmapArgmax2D()(h * 100.0))
    np.testing.assert_array_equal(hard[..., :2], np.array(positions, np.float32))
    np.testing.assert_allclose(hard[..., 2], 1.0, atol=1e-6)


def test_symmetric_two_peaks_give_midpoint():
    # logits: a map symmetric under point reflection about the centre (3.5, 3.5) -> exactly the centre
    h = np.zeros((1, 8, 8, 2), np.float32)
    h[0, 2, 1, 0] = h[0, 5, 6, 0] = 10.0
    h[0, 0, 3, 1] = h[0, 7, 4, 1] = 3.0
    out = keras.ops.convert_to_numpy(SoftArgmax2D()(h))
    np.testing.assert_allclose(out[0], [[3.5, 3.5], [3.5, 3.5]], atol=1e-5)
    # probabilities: two equal peaks anywhere -> their midpoint
    p = np.zeros((1, 8, 8, 2), np.float32)
    p[0, 2, 1, 0] = p[0, 2, 5, 0] = 0.5  # same row: (3, 2)
    p[0, 1, 6, 1] = p[0, 7, 0, 1] = 0.5  # diagonal: (3, 4)
    out = keras.ops.convert_to_numpy(SoftArgmax2D(normalize=False)(p))
    np.testing.assert_allclose(out[0], [[3.0, 2.0], [3.0, 4.0]], atol=1e-6)


def test_coordinate_scale_maps_to_image_pixels():
    h = np.zeros((1, 8, 8, 1), np.float32)
    # heatmap (x, y) = (3, 1) at stride 4 covers image pixels x in [12, 16), y in [4, 8): centre (14, 6)
    # in the data's convention (pixel edges at integers)
    h[0, 1, 3, 0] = 1.0
    out = keras.ops.convert_to_numpy(SoftArgmax2D(normalize=False, coordinate_scale=4.0)(h))
    np.testing.assert_allclose(out[0, 0], [14.0, 6.0])
    out = keras.ops.convert_to_numpy(SoftArgmax2D(normalize=False, coordinate_scale=(4.0, 2.0))(h))
    np.testing.assert_allclose(out[0, 0], [14.0, 3.0])
    out = keras.ops.convert_to_numpy(SoftArgmax2D(normalize=False, coordinate_scale=1.0)(h))
    np.testing.assert_allclose(out[0, 0], [3.5, 1.5])  # stride 1: the centre of pixel (3, 1)
    hard = keras.ops.convert_to_numpy(HeatmapArgmax2D(coordinate_scale=4.0)(h * 50))
    np.testing.assert_allclose(hard[0, 0, :2], [14.0, 6.0])
    np.testing.assert_allclose(sa.image_to_heatmap_coordinates(np.array([14.0, 6.0]), 4.0), [3.0, 1.0])


def test_gradients_nonzero_everywhere():
    rng = np.random.default_rng(0)
    h = tf.constant(rng.standard_normal((2, 6, 5, 3)).astype(np.float32))
    w = tf.constant(rng.standard_normal((2, 3, 2)).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(h)
        loss = tf.reduce_sum(SoftArgmax2D(temperature=0.7)(h) * w)
    grad = tape.gradient(loss, h).numpy()
    assert np.all(np.isfinite(grad)) and np.all(grad != 0)


def test_soft_argmax_3d_one_hot_and_midpoint():
    v = np.zeros((1, 4, 5, 6, 2), np.float32)  # (N, D, H, W, K)
    v[0, 3, 1, 4, 0] = 1.0  # (x, y, z) = (4, 1, 3)
    v[0, 0, 0, 0, 1] = v[0, 2, 4, 2, 1] = 0.5  # midpoint (1, 2, 1)
    out = keras.ops.convert_to_numpy(SoftArgmax3D(normalize=False)(v))
    np.testing.assert_allclose(out[0], [[4, 1, 3], [1, 2, 1]], atol=1e-6)
    conf = keras.ops.convert_to_numpy(SoftArgmax3D(return_confidence=True)(v * 60.0))
    np.testing.assert_allclose(conf[0, 0], [4, 1, 3, 1.0], atol=1e-5)
    np.testing.assert_allclose(conf[0, 1], [1, 2, 1, 0.5], atol=1e-5)


def test_return_confidence_is_peak_probability():
    p = np.array([[1, 1], [1, 5]], np.float32)  # probabilities 1/8, 1/8, 1/8, 5/8
    out = keras.ops.convert_to_numpy(SoftArgmax2D(return_confidence=True)(np.log(p)[None, :, :, None]))
    np.testing.assert_allclose(out[0, 0], [6 / 8, 6 / 8, 5 / 8], atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"normalize": False, "temperature": 2.0}, "normalize=False"),
        ({"coordinate_scale": 0.0}, "coordinate_scale"),
        ({"coordinate_scale": (1.0, 2.0, 3.0)}, "coordinate_scale"),
        ({"return_confidence": "yes"}, "return_confidence"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SoftArgmax2D(**kwargs)


def test_bad_input_rank():
    with pytest.raises(ValueError, match=r"\(N, H, W, K\)"):
        SoftArgmax2D()(np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"\(N, D, H, W, K\)"):
        SoftArgmax3D()(np.zeros((2, 4, 4, 3), np.float32))


def test_soft_argmax_2d_harness():
    check_layer(
        SoftArgmax2D,
        {"temperature": 0.5, "coordinate_scale": 4.0, "return_confidence": True},
        input_shapes=(3, 8, 6, 4),
        expected_output_shape=(3, 4, 3),
    )


def test_soft_argmax_3d_harness():
    check_layer(SoftArgmax3D, {"temperature": 1.0}, input_shapes=(2, 3, 4, 5, 2), expected_output_shape=(2, 2, 3))


def test_heatmap_argmax_harness():
    # The hard argmax has no gradient by construction (that is the point of the integral form).
    check_layer(
        HeatmapArgmax2D,
        {"coordinate_scale": 2.0},
        input_shapes=(2, 6, 6, 3),
        expected_output_shape=(2, 3, 3),
        run_gradients=False,
        run_training=False,
    )
