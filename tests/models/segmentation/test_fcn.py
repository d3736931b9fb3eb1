"""FCN-32s/16s/8s: structure, bilinear-initialised upsampling, harness at a tiny width."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vras_keras import models
from vras_keras.layers import BilinearUpsampling, bilinear_kernel
from vras_keras.layers.bilinear import bilinear_filter
from vras_keras.testing import check_model

TINY = {"input_shape": (32, 32, 3), "num_classes": 3, "width": 1 / 16}


def test_bilinear_filter_by_hand():
    # FCN's upsample_filt(4): factor 2, centre 1.5 -> [0.25, 0.75, 0.75, 0.25] outer product
    f = np.array([0.25, 0.75, 0.75, 0.25])
    np.testing.assert_allclose(bilinear_filter(4), np.outer(f, f))
    kernel = bilinear_kernel(4, 3)
    assert kernel.shape == (4, 4, 3, 3) and np.all(kernel[:, :, 0, 1] == 0)


def test_bilinear_initialised_deconvolution_interpolates():
    """Stride-s transposed conv with the bilinear kernel == half-pixel bilinear resize away from the border."""
    x = np.random.default_rng(0).standard_normal((1, 8, 8, 2)).astype(np.float32)
    up = keras.layers.Conv2DTranspose(2, 8, strides=4, padding="same", use_bias=False,
                                      kernel_initializer=BilinearUpsampling())
    ours = keras.ops.convert_to_numpy(up(x))
    reference = tf.image.resize(x, (32, 32), method="bilinear").numpy()
    np.testing.assert_allclose(ours[:, 4:-4, 4:-4], reference[:, 4:-4, 4:-4], atol=1e-5)
    with pytest.raises(ValueError, match=r"\(k, k, C, C\)"):
        BilinearUpsampling()((4, 4, 2, 3))


@pytest.mark.parametrize("name,upsampling", [
    ("fcn32s", {"upscore32": 64}),
    ("fcn16s", {"upscore2": 4, "upscore16": 32}),
    ("fcn8s", {"upscore2": 4, "upscore_pool4": 4, "upscore8": 16}),
])
def test_structure_and_initial_kernels_are_bilinear(name, upsampling):
    model = models.get(name, **TINY)
    assert model.output.shape == (None, 32, 32, 3)
    for layer_name, size in upsampling.items():
        layer = model.get_layer(layer_name)
        np.testing.assert_array_equal(layer.kernel.numpy(), bilinear_kernel(size, 3))
        assert layer.trainable and not layer.use_bias
    names = {layer.name for layer in model.layers}
    assert {"fc6", "fc7", "score_fr", "block5_pool"} <= names
    assert ("score_pool4" in names) == (name != "fcn32s") and ("score_pool3" in names) == (name == "fcn8s")
    assert model.get_layer("fc6").kernel_size == (7, 7)


def test_bad_arguments():
    with pytest.raises(ValueError, match="multiples of 32"):
        models.get("fcn8s", input_shape=(40, 40, 3), num_classes=3)
    with pytest.raises(ValueError, match="num_classes"):
        models.get("fcn8s", input_shape=(32, 32, 3), num_classes=1)


def test_fcn8s_harness(seg_batch):
    images, masks, compile_kwargs = seg_batch(32, 3)
    check_model(lambda: models.get("fcn8s", **TINY), images, targets=masks, compile_kwargs=compile_kwargs,
                expected_output_shapes=(None, 32, 32, 3))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fcn32s", "fcn16s"])
def test_fcn32s_fcn16s_harness(name, seg_batch):
    images, masks, compile_kwargs = seg_batch(32, 3)
    check_model(lambda: models.get(name, **TINY), images, targets=masks, compile_kwargs=compile_kwargs,
                expected_output_shapes=(None, 32, 32, 3))
