"""Pixel cross-entropy: hand-computed value, ignore label, robustness, shape errors, training use."""

import keras
import numpy as np
import pytest

from vras_keras.losses.segmentation import PixelCrossEntropy, pixel_cross_entropy


def _probs():
    p = np.array([[[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]], [[0.3, 0.3, 0.4], [0.25, 0.25, 0.5]]], np.float32)
    return p[None]  # (1, 2, 2, 3)


def test_value_by_hand_with_ignored_pixels():
    labels = np.array([[[0, 1], [255, 2]]], np.int32)
    expected = -(np.log(0.7) + np.log(0.8) + np.log(0.5)) / 3  # the ignored pixel does not count
    loss = float(PixelCrossEntropy()(labels, _probs()))
    assert loss == pytest.approx(expected, rel=1e-5)
    assert float(PixelCrossEntropy()(labels[..., None], _probs())) == pytest.approx(expected, rel=1e-5)


def test_mean_over_valid_pixels_of_the_batch():
    probs = np.concatenate([_probs(), _probs()])
    labels = np.array([[[0, 1], [2, 2]], [[255, 255], [255, 2]]], np.int32)
    terms = [np.log(0.7), np.log(0.8), np.log(0.4), np.log(0.5), np.log(0.5)]
    assert float(PixelCrossEntropy()(labels, probs)) == pytest.approx(-np.mean(terms), rel=1e-5)


def test_from_logits_matches_probabilities():
    logits = np.random.default_rng(0).standard_normal((2, 4, 4, 3)).astype(np.float32)
    labels = np.random.default_rng(1).integers(0, 3, (2, 4, 4))
    probs = keras.ops.softmax(logits)
    a = float(PixelCrossEntropy(from_logits=True)(labels, logits))
    b = float(PixelCrossEntropy()(labels, probs))
    assert a == pytest.approx(b, rel=1e-4)


def test_robust_to_all_ignored_and_out_of_range_labels():
    assert float(PixelCrossEntropy()(np.full((1, 2, 2), 255), _probs())) == 0.0
    loss, valid = pixel_cross_entropy(np.array([[[7, 1], [-1, 255]]]), _probs())
    np.testing.assert_array_equal(valid, [[[0, 1], [0, 0]]])
    assert np.all(np.isfinite(loss))


def test_shape_mismatch_raises_naming_both_shapes():
    with pytest.raises(
        ValueError, match=r"label mask shape \(1, 3, 2\) does not match prediction shape \(1, 2, 2, 3\)"
    ):
        PixelCrossEntropy()(np.zeros((1, 3, 2), np.int32), _probs())


def test_config_round_trip():
    loss = PixelCrossEntropy(ignore_label=0, from_logits=True)
    clone = PixelCrossEntropy.from_config(loss.get_config())
    assert clone.ignore_label == 0 and clone.from_logits


def test_trains_a_pixel_classifier():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (4, 8, 8, 1)).astype(np.float32)
    y = (x[..., 0] > 0).astype(np.int32)
    y[:, 0, :] = 255
    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1, activation="softmax")(inputs))
    model.compile(keras.optimizers.Adam(0.1), loss=PixelCrossEntropy())
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=30, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.5 * before


def test_confidently_wrong_softmax_output_still_has_a_gradient():
    import tensorflow as tf

    logits = tf.constant([[[[30.0, -30.0]]]])
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = PixelCrossEntropy()(np.array([[[1]]]), keras.ops.softmax(logits))
    grad = tape.gradient(loss, logits).numpy()
    assert float(loss) == pytest.approx(60.0, rel=1e-4)  # the exact -log softmax, not -log(epsilon)
    np.testing.assert_allclose(grad[0, 0, 0], [1.0, -1.0], atol=1e-5)
