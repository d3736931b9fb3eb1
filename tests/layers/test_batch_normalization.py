"""FusedBatchNormalization must be a drop-in for keras.layers.BatchNormalization (same numbers)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vras_keras.layers import BN_EPSILON, BN_MOMENTUM, FusedBatchNormalization, batch_norm
from vras_keras.testing import check_layer


def _pair(shape, **kwargs):
    kwargs = {"epsilon": BN_EPSILON, "momentum": BN_MOMENTUM, **kwargs}
    fused, plain = FusedBatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)
    fused.build(shape)
    plain.build(shape)
    c = shape[-1]
    for layer in (fused, plain):  # non-trivial parameters and statistics, identical in both
        layer.gamma.assign(np.linspace(0.5, 2.0, c))
        layer.beta.assign(np.linspace(-1.0, 1.0, c))
        layer.moving_mean.assign(np.linspace(0.1, 0.3, c))
        layer.moving_variance.assign(np.linspace(1.0, 3.0, c))
    return fused, plain


def test_batch_norm_factory_returns_fused_layer_with_project_constants():
    layer = batch_norm(name="x_bn")
    assert isinstance(layer, FusedBatchNormalization) and isinstance(layer, keras.layers.BatchNormalization)
    assert layer.epsilon == BN_EPSILON and layer.momentum == BN_MOMENTUM


@pytest.mark.parametrize("training", [True, False])
def test_fused_matches_keras_batch_norm_forward_statistics_and_gradients(training):
    x = tf.constant(np.random.default_rng(1).normal(3.0, 2.0, (4, 5, 6, 8)).astype("float32"))
    weights = tf.constant(np.random.default_rng(2).normal(size=x.shape).astype("float32"))
    fused, plain = _pair(x.shape)
    grads = []
    outputs = []
    for layer in (fused, plain):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
            loss = tf.reduce_sum(y * weights)  # random weights, so no gradient is trivially 0
        grads.append(tape.gradient(loss, [x, layer.gamma, layer.beta]))
        outputs.append(y.numpy())
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-4, atol=1e-4)
    for g_fused, g_plain in zip(*grads):
        np.testing.assert_allclose(g_fused.numpy(), g_plain.numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(fused.moving_mean.numpy(), plain.moving_mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fused.moving_variance.numpy(), plain.moving_variance.numpy(), rtol=1e-5, atol=1e-6)
    if training:  # the update really happened, with the biased batch variance (hand-computed)
        xs = x.numpy().reshape(-1, 8)
        expected = np.linspace(1.0, 3.0, 8) * BN_MOMENTUM + xs.var(axis=0) * (1 - BN_MOMENTUM)
        np.testing.assert_allclose(fused.moving_variance.numpy(), expected, rtol=1e-5)


def test_fused_single_value_per_channel_keeps_moving_variance_finite():
    # batch 1 of a 1x1 map (ASPP's image-pooling branch): the kernel's Bessel factor is 0 * inf there
    fused, plain = _pair((1, 1, 1, 4))
    x = tf.constant([[[[1.0, 2.0, 3.0, 4.0]]]])
    np.testing.assert_allclose(fused(x, training=True), plain(x, training=True), atol=1e-4)
    assert np.all(np.isfinite(fused.moving_variance.numpy()))
    np.testing.assert_allclose(fused.moving_variance.numpy(), plain.moving_variance.numpy(), rtol=1e-6)


def test_fused_falls_back_for_other_ranks_and_in_functional_graphs_with_dynamic_size():
    x = np.random.default_rng(2).normal(size=(6, 5)).astype("float32")
    fused, plain = _pair((6, 5))
    np.testing.assert_allclose(fused(x, training=True), plain(x, training=True), rtol=1e-5, atol=1e-5)
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, FusedBatchNormalization()(inputs))
    assert model(np.ones((2, 7, 5, 3), "float32")).shape == (2, 7, 5, 3)


def test_fused_batch_norm_harness():
    # serialization round trip, SavedModel and TFLite (built-in ops only) parity, gradients
    x = np.random.default_rng(3).normal(size=(2, 6, 6, 4)).astype("float32")
    check_layer(FusedBatchNormalization, {"epsilon": BN_EPSILON, "momentum": BN_MOMENTUM}, input_data=x,
                expected_output_shape=(2, 6, 6, 4))
