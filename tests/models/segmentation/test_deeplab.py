"""DeepLab v3: atrous backbone, ASPP rates per output stride, ConvCRF head; harness at a tiny width."""

import numpy as np
import pytest

from vras_keras import models
from vras_keras.layers import ASPP, ConvCRF
from vras_keras.testing import check_model

TINY = {"input_shape": (64, 64, 3), "num_classes": 3, "width": 1 / 8}


@pytest.mark.parametrize("output_stride,rates", [(16, (6, 12, 18)), (8, (12, 24, 36))])
def test_output_stride_sets_dilation_and_aspp_rates(output_stride, rates):
    model = models.get("deeplab_v3", output_stride=output_stride, **TINY)
    aspp = model.get_layer("aspp")
    assert isinstance(aspp, ASPP) and aspp.rates == rates
    assert aspp.input.shape[1] == 64 // output_stride  # C5 stays at the output stride
    assert model.output.shape == (None, 64, 64, 3)


def test_crf_head_uses_the_input_image():
    model = models.get("deeplab_v3", crf=True, crf_options={"iterations": 2, "filter_size": 5}, **TINY)
    crf = model.get_layer("crf")
    assert isinstance(crf, ConvCRF) and crf.iterations == 2
    assert crf.input[1] is model.input  # the raw 0..255 image
    x = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(model(x)).sum(-1), 1.0, atol=1e-5)


def test_resnet101_backbone():
    model = models.get("deeplab_v3", backbone="resnet101", **TINY)
    assert model.get_layer("stage4_block23_out") is not None


def test_bad_arguments():
    with pytest.raises(ValueError, match="output_stride must be 8 or 16"):
        models.get("deeplab_v3", output_stride=32, **TINY)
    with pytest.raises(ValueError, match="crf=False"):
        models.get("deeplab_v3", crf_options={"iterations": 1}, **TINY)


def test_deeplab_v3_crf_harness(seg_batch):
    images, masks, compile_kwargs = seg_batch(32, 3)
    tiny = {**TINY, "input_shape": (32, 32, 3)}
    # atol 1e-4: the CRF's exponentiated messages amplify float re-association differences between the
    # Keras and SavedModel graphs (measured up to 8e-5 on probabilities); TFLite 5e-4: it also folds BN into
    # the convs before those messages (measured up to 1.9e-4 after the harness's fit steps)
    check_model(lambda: models.get("deeplab_v3", crf=True, crf_options={"iterations": 2, "filter_size": 5}, **tiny),
                images, targets=masks, compile_kwargs=compile_kwargs, expected_output_shapes=(None, 32, 32, 3),
                atol=1e-4, tflite_atol=5e-4)


@pytest.mark.slow
def test_deeplab_v3_os8_harness(seg_batch):
    images, masks, compile_kwargs = seg_batch(64, 3)
    check_model(lambda: models.get("deeplab_v3", output_stride=8, **TINY), images, targets=masks,
                compile_kwargs=compile_kwargs, expected_output_shapes=(None, 64, 64, 3))
