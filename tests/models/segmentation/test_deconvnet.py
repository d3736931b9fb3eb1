"""DeconvNet and SegNet: switches from the encoder drive the unpooling; harness at a tiny width."""

import numpy as np
import pytest

from vras_keras import models
from vras_keras.layers import MaxPoolingWithArgmax2D, MaxUnpooling2D
from vras_keras.testing import check_model

TINY = {"input_shape": (32, 32, 3), "num_classes": 3, "width": 1 / 16}


def test_deconvnet_structure_mirrors_vgg16():
    model = models.get("deconvnet", **TINY)
    assert model.output.shape == (None, 32, 32, 3)
    unpools = [layer for layer in model.layers if isinstance(layer, MaxUnpooling2D)]
    assert [layer.name for layer in unpools] == [f"unpool{b}" for b in range(5, 0, -1)]
    # each unpooling uses the switches of the matching encoder pooling, taken from the backbone's pool input
    for b in range(1, 6):
        switches = model.get_layer(f"block{b}_switches")
        assert isinstance(switches, MaxPoolingWithArgmax2D)
        assert switches.input is model.get_layer(f"block{b}_pool").input
    assert len([layer for layer in model.layers if layer.name.endswith("_deconv")]) == 1 + 13
    assert model.get_layer("block1_conv1_bn") is not None  # VGG16 with BatchNorm, as in the paper


def test_segnet_unpooling_restores_encoder_positions():
    """With identity-like decoding, unpooled maps are non-zero only where the encoder maxima were."""
    model = models.get("segnet", input_shape=(16, 16, 3), num_classes=3, filters=(4, 8), width=1.0)
    x = np.random.default_rng(0).uniform(0, 255, (1, 16, 16, 3)).astype(np.float32)
    import keras

    probe = keras.Model(model.input, [model.get_layer("dec1_unpool").output, model.get_layer("enc1_conv2_relu").output])
    unpooled, encoder = (keras.ops.convert_to_numpy(t) for t in probe(x))
    nonzero = unpooled != 0
    # at most one position per 2x2 window and channel, and it is the encoder's argmax position
    windows = nonzero.reshape(1, 8, 2, 8, 2, -1).sum(axis=(2, 4))
    assert windows.max() <= 1
    enc = encoder.reshape(1, 8, 2, 8, 2, -1)
    argmax_mask = enc == enc.max(axis=(2, 4), keepdims=True)
    assert np.all(argmax_mask.reshape(nonzero.shape)[nonzero])


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"multiples of 2\*\*4"):
        models.get("segnet", input_shape=(24, 24, 3))
    with pytest.raises(ValueError, match="multiples of 32"):
        models.get("deconvnet", input_shape=(48, 48, 3))


def test_segnet_harness(seg_batch):
    images, masks, compile_kwargs = seg_batch(32, 3)
    check_model(lambda: models.get("segnet", input_shape=(32, 32, 3), num_classes=3, filters=(8, 16)), images,
                targets=masks, compile_kwargs=compile_kwargs, expected_output_shapes=(None, 32, 32, 3))


@pytest.mark.slow
def test_deconvnet_harness(seg_batch):
    images, masks, compile_kwargs = seg_batch(32, 3)
    # 27 BatchNorm layers: 3 steps barely move the moving statistics used by evaluate(), so take 10
    check_model(lambda: models.get("deconvnet", **TINY), images, targets=masks, compile_kwargs=compile_kwargs,
                expected_output_shapes=(None, 32, 32, 3), fit_steps=10)


def test_weights_file_round_trip_and_missing_file(tmp_path):
    kwargs = {"input_shape": (16, 16, 3), "num_classes": 3, "filters": (4, 8), "width": 1.0}
    model = models.get("segnet", **kwargs)
    path = str(tmp_path / "segnet.weights.h5")
    model.save_weights(path)
    x = np.random.default_rng(0).uniform(0, 255, (1, 16, 16, 3)).astype(np.float32)
    np.testing.assert_array_equal(models.get("segnet", weights=path, **kwargs)(x), model(x))
    with pytest.raises(FileNotFoundError, match="missing.weights.h5"):
        models.get("segnet", weights=str(tmp_path / "missing.weights.h5"), **kwargs)
