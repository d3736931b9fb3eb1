"""MaxPoolingWithArgmax2D / MaxUnpooling2D: hand-computed values, tf.nn parity, harness incl. TFLite."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vras_keras.layers import MaxPoolingWithArgmax2D, MaxUnpooling2D
from vras_keras.ops import pooling
from vras_keras.testing import check_layer, check_model

# The course's picture: 4x4 -> 2x2 max pooling, then bed-of-nails unpooling.
X = np.array([[1, 2, 6, 3], [3, 5, 2, 1], [7, 2, 1, 8], [1, 0, 4, 3]], np.float32)[None, :, :, None]
POOLED = np.array([[5, 6], [7, 8]], np.float32)[None, :, :, None]
INDICES = np.array([[5, 2], [8, 11]], np.int32)[None, :, :, None]  # (y * W + x) * C + c
UNPOOLED = np.array([[0, 0, 6, 0], [0, 5, 0, 0], [7, 0, 0, 8], [0, 0, 0, 0]], np.float32)[None, :, :, None]


def test_pool_and_bed_of_nails_unpool_by_hand():
    pooled, indices = MaxPoolingWithArgmax2D(2)(X)
    np.testing.assert_array_equal(pooled, POOLED)
    np.testing.assert_array_equal(indices, INDICES)
    assert indices.dtype == "int32"
    np.testing.assert_array_equal(MaxUnpooling2D(2)([pooled, indices]), UNPOOLED)
    # decoder features (not the pooled maxima) go to the remembered positions
    features = np.array([[10, 20], [30, 40]], np.float32)[None, :, :, None]
    expected = np.array([[0, 0, 20, 0], [0, 10, 0, 0], [30, 0, 0, 40], [0, 0, 0, 0]], np.float32)[None, :, :, None]
    np.testing.assert_array_equal(MaxUnpooling2D(2)([features, indices]), expected)


def test_ties_go_to_first_element_row_major():
    x = np.ones((1, 2, 2, 1), np.float32)
    _, indices = pooling.max_pool_with_argmax(x, 2)
    assert int(indices[0, 0, 0, 0]) == 0


def test_copy_everywhere_unpooling_is_nearest_upsampling():
    x = np.array([[1, 2], [3, 4]], np.float32)[None, :, :, None]
    by_hand = np.array([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]], np.float32)[None, :, :, None]
    copied = keras.ops.convert_to_numpy(pooling.copy_unpool(x, 2))
    np.testing.assert_array_equal(copied, by_hand)
    np.testing.assert_array_equal(keras.layers.UpSampling2D(2, interpolation="nearest")(x), by_hand)


def test_matches_tf_max_pool_with_argmax_multichannel_rectangular():
    x = np.random.default_rng(0).standard_normal((2, 6, 9, 5)).astype(np.float32)
    pooled, indices = pooling.max_pool_with_argmax(x, (2, 3))
    ref_pooled, ref_indices = tf.nn.max_pool_with_argmax(x, (2, 3), (2, 3), "VALID", include_batch_in_index=False)
    np.testing.assert_array_equal(pooled, ref_pooled)
    np.testing.assert_array_equal(indices, ref_indices.numpy().astype(np.int32))
    unpooled = keras.ops.convert_to_numpy(pooling.max_unpool(pooled, indices, (2, 3)))
    # every max reappears at its place, all other cells are zero
    mask = unpooled != 0
    assert mask.sum() == pooled.numpy().size
    np.testing.assert_array_equal(unpooled[mask], x[mask])


def test_gradient_flows_to_maxima_only():
    x = tf.constant(X)
    with tf.GradientTape() as tape:
        tape.watch(x)
        pooled, _ = pooling.max_pool_with_argmax(x, 2)
        loss = tf.reduce_sum(pooled)
    grad = tape.gradient(loss, x).numpy()
    np.testing.assert_array_equal(grad, (UNPOOLED != 0).astype(np.float32))


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="pool_size"):
        MaxPoolingWithArgmax2D(0)
    with pytest.raises(ValueError, match=r"\(5, 4\) must be multiples"):
        MaxPoolingWithArgmax2D(2)(keras.Input((5, 4, 3)))
    with pytest.raises(ValueError, match="same shape"):
        MaxUnpooling2D(2)([keras.Input((4, 4, 3)), keras.Input((4, 4, 2), dtype="int32")])


def test_pooling_layer_harness():
    # check_layer's own wrapper model would give both outputs the layer's name, and the TFLite step maps
    # outputs by name (duplicates collapse: reported to the coordinator), so the outputs are named here.
    layer = MaxPoolingWithArgmax2D(2)
    config = layer.get_config()
    assert MaxPoolingWithArgmax2D.from_config(config).get_config() == config
    assert layer.compute_output_shape((None, 4, 4, 1)) == [(None, 2, 2, 1), (None, 2, 2, 1)]

    def build():
        inputs = keras.Input((4, 4, 1))
        pooled, indices = MaxPoolingWithArgmax2D(2, name="pool")(inputs)
        pooled = keras.layers.Identity(name="pooled")(pooled)
        indices = keras.layers.Identity(name="indices")(indices)
        return keras.Model(inputs, [pooled, indices])

    check_model(build, X, expected_output=[POOLED, INDICES], expected_output_shapes=[(None, 2, 2, 1)] * 2)


def test_unpooling_layer_harness():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    pooled, indices = pooling.max_pool_with_argmax(x, 2)
    check_layer(MaxUnpooling2D, {"pool_size": 2}, input_data=[np.asarray(pooled), np.asarray(indices)],
                expected_output_shape=(2, 8, 8, 3))


def test_encoder_decoder_with_switches_harness():
    """A trainable conv -> pool -> conv -> unpool graph: gradients, fit, jit, SavedModel, TFLite."""

    def build():
        inputs = keras.Input((8, 8, 2))
        x = keras.layers.Conv2D(4, 3, padding="same", name="enc")(inputs)
        pooled, indices = MaxPoolingWithArgmax2D(2, name="pool")(x)
        y = keras.layers.Conv2D(4, 3, padding="same", name="dec")(pooled)
        y = MaxUnpooling2D(2, name="unpool")([y, indices])
        return keras.Model(inputs, y)

    x = np.random.default_rng(2).standard_normal((2, 8, 8, 2)).astype(np.float32)
    check_model(build, x, expected_output_shapes=(None, 8, 8, 4))
