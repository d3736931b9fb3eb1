"""ConvCRF: brute-force reference, limits, gradients, a real denoising gain on ShapesWorld, harness incl. TFLite."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vras_keras.data.shapes import ShapesWorld
from vras_keras.layers import ConvCRF
from vras_keras.metrics.segmentation import mean_iou
from vras_keras.testing import check_layer

PARAMS = dict(appearance_weight=2.0, appearance_position_sigma=4.0, appearance_color_sigma=0.7,
              smoothness_weight=0.5, smoothness_sigma=1.5)


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _reference(unary, image, filter_size, iterations, w1, sa, sb, w2, sg):
    """Brute-force mean field over the truncated window (blur 1, Potts, centre excluded)."""
    n, h, w, _ = unary.shape
    span = filter_size // 2
    q = _softmax(unary)
    for _ in range(iterations):
        message = np.zeros_like(q)
        for b in range(n):
            for y in range(h):
                for x in range(w):
                    for yy in range(max(0, y - span), min(h, y + span + 1)):
                        for xx in range(max(0, x - span), min(w, x + span + 1)):
                            if (yy, xx) == (y, x):
                                continue
                            d2 = (yy - y) ** 2 + (xx - x) ** 2
                            c2 = np.sum((image[b, y, x] - image[b, yy, xx]) ** 2)
                            k = w1 * np.exp(-d2 / (2 * sa**2) - c2 / (2 * sb**2)) + w2 * np.exp(-d2 / (2 * sg**2))
                            message[b, y, x] += k * q[b, yy, xx]
        q = _softmax(unary + message)
    return q


def _inputs(shape=(2, 6, 7), labels=3, seed=0):
    rng = np.random.default_rng(seed)
    unary = rng.standard_normal(shape + (labels,)).astype(np.float32)
    image = rng.standard_normal(shape + (3,)).astype(np.float32)
    return unary, image


def test_matches_brute_force_reference():
    unary, image = _inputs()
    crf = ConvCRF(3, filter_size=5, iterations=3, **PARAMS)
    expected = _reference(unary, image, 5, 3, *PARAMS.values())
    np.testing.assert_allclose(crf([unary, image]), expected, atol=1e-5)


@pytest.mark.parametrize("blur", [1, 2])
def test_zero_kernel_weights_give_softmax_of_unary(blur):
    unary, image = _inputs((1, 8, 8))
    crf = ConvCRF(3, filter_size=5, iterations=5, appearance_weight=0.0, smoothness_weight=0.0, blur=blur)
    np.testing.assert_allclose(crf([unary, image]), _softmax(unary), atol=1e-6)
    np.testing.assert_allclose(ConvCRF(3, iterations=0)([unary, image]), _softmax(unary), atol=1e-6)


def test_learned_compatibility_starts_as_potts():
    unary, image = _inputs()
    potts = ConvCRF(3, filter_size=5, iterations=2, **PARAMS)([unary, image])
    learned = ConvCRF(3, filter_size=5, iterations=2, compatibility="learned", **PARAMS)([unary, image])
    np.testing.assert_allclose(learned, potts, atol=1e-5)


def test_gradients_reach_unary_and_kernel_weights():
    unary, image = (tf.constant(a) for a in _inputs())
    crf = ConvCRF(3, filter_size=5, iterations=2, trainable_kernels=True, compatibility="learned", **PARAMS)
    crf.build([unary.shape, image.shape])
    assert len(crf.trainable_weights) == 6
    with tf.GradientTape() as tape:
        tape.watch(unary)
        out = crf([unary, image])
        loss = tf.reduce_sum(out * tf.random.stateless_normal(out.shape, (1, 2)))
    grads = tape.gradient(loss, [unary] + crf.trainable_weights)
    for grad in grads:
        assert grad is not None and np.all(np.isfinite(grad)) and np.any(np.asarray(grad) != 0)
    # fixed kernels are weights too (saved with the model) but not trainable
    fixed = ConvCRF(3)
    fixed.build([(None, 8, 8, 3), (None, 8, 8, 3)])
    assert not fixed.trainable_weights and len(fixed.non_trainable_weights) == 5


def test_denoises_shapesworld_unaries():
    world = ShapesWorld(image_size=64, max_objects=4, seed=0)
    num_labels = 7  # background + 6 shapes
    gains = []
    for index in range(3):
        sample = world.sample(index)
        labels = sample["semantic_mask"].astype(np.int64)
        valid = np.where(labels == 255, 0, labels)
        rng = np.random.default_rng(index)
        unary = 1.5 * np.eye(num_labels)[valid] + rng.normal(0.0, 1.0, valid.shape + (num_labels,))
        unary = unary.astype(np.float32)[None]
        image = sample["image"].astype(np.float32)[None]
        before = mean_iou(labels[None], unary.argmax(-1), num_labels)
        after = mean_iou(labels[None], np.asarray(ConvCRF(num_labels)([unary, image])).argmax(-1), num_labels)
        gains.append(after - before)
    assert min(gains) >= 0.02, gains


def test_bad_input_raises():
    with pytest.raises(ValueError, match=r"unary shape \(1, 8, 8, 3\) and image shape \(1, 16, 16, 3\)"):
        ConvCRF(3)([np.zeros((1, 8, 8, 3), np.float32), np.zeros((1, 16, 16, 3), np.float32)])
    with pytest.raises(ValueError, match=r"unary shape \(None, 8, 8, 3\) and image shape \(None, 8, 9, 3\)"):
        ConvCRF(3)([keras.Input((8, 8, 3)), keras.Input((8, 9, 3))])
    with pytest.raises(ValueError, match="expected num_classes=4"):
        ConvCRF(4)([np.zeros((1, 8, 8, 3), np.float32), np.zeros((1, 8, 8, 3), np.float32)])
    for kwargs, field in (({"filter_size": 4}, "filter_size"), ({"blur": 0}, "blur"),
                          ({"compatibility": "dense"}, "compatibility"), ({"appearance_color_sigma": 0}, "sigma"),
                          ({"smoothness_weight": -1}, "smoothness_weight"), ({"iterations": -1}, "iterations")):
        with pytest.raises(ValueError, match=field):
            ConvCRF(3, **kwargs)


def test_conv_crf_harness_potts():
    # jit and SavedModel are exercised by the full run below (same ops plus pooling, resize and matmul);
    # here the default Potts / blur 1 graph goes through config, .keras, mixed precision and TFLite.
    check_layer(ConvCRF, {"num_classes": 3, "filter_size": 5, "iterations": 2},
                input_shapes=[(2, 8, 8, 3), (2, 8, 8, 3)], expected_output_shape=(2, 8, 8, 3),
                run_jit=False, run_saved_model=False)


def test_conv_crf_harness_blur_learned_trainable():
    check_layer(ConvCRF, {"num_classes": 3, "filter_size": 3, "iterations": 2, "blur": 2,
                          "compatibility": "learned", "trainable_kernels": True, **PARAMS},
                input_shapes=[(2, 8, 8, 3), (2, 8, 8, 3)], expected_output_shape=(2, 8, 8, 3))
