import pytest

from vras_keras import models
from vras_keras.testing import check_model

from ._helpers import classification_compile, count_trainable, images, labels


def test_vgg16_exact_trainable_parameters():
    assert count_trainable(models.get("vgg16")) == 138_357_544


@pytest.mark.slow
def test_vgg19_exact_trainable_parameters():
    assert count_trainable(models.get("vgg19")) == 143_667_240


@pytest.mark.parametrize("batch_norm", [False, True])
def test_vgg11_tiny_harness(batch_norm):
    x, y = images(), labels()
    model = check_model(
        lambda: models.get("vgg11", input_shape=(32, 32, 3), num_classes=5, width=0.125, batch_norm=batch_norm,
                           dropout_rate=0.0),
        x, targets=y, compile_kwargs=classification_compile(), expected_output_shapes=(None, 5),
        run_mixed_precision=batch_norm, run_saved_model=not batch_norm,
    )
    assert model.get_layer("block1_conv1_conv").use_bias is (not batch_norm)


def test_vgg_pyramid_is_after_each_pool():
    model = models.get("vgg16", input_shape=(64, 64, 3), include_top=False, width=0.125)
    assert {k: v.shape[1] for k, v in model.pyramid_outputs.items()} == {"C1": 32, "C2": 16, "C3": 8, "C4": 4, "C5": 2}
    assert model.pyramid_layers["C3"] == "block3_pool"
    assert model.output.shape == (None, 2, 2, 64)
