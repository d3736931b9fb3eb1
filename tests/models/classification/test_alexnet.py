import pytest

from vras_keras import models
from vras_keras.testing import check_model

from ._helpers import classification_compile, count_trainable, images, labels


@pytest.mark.parametrize("groups,expected", [(2, 60_965_224), (1, 62_378_344)])
def test_alexnet_exact_trainable_parameters(groups, expected):
    model = models.get("alexnet", groups=groups)
    assert count_trainable(model) == expected
    assert model.get_layer("conv1_conv").output.shape == (None, 55, 55, 96)
    assert model.get_layer("pool5").output.shape == (None, 6, 6, 256)
    assert model.get_layer("conv2_conv").count_params() == (614_656 if groups == 1 else 307_456)


@pytest.mark.parametrize("groups,lrn", [(2, True), (1, False)])
def test_alexnet_tiny_harness(groups, lrn):
    x, y = images(4, 67), labels()
    model = check_model(
        lambda: models.get("alexnet", input_shape=(67, 67, 3), num_classes=5, groups=groups, lrn=lrn, width=0.0625,
                           dropout_rate=0.0),
        x, targets=y, compile_kwargs=classification_compile(), expected_output_shapes=(None, 5),
        run_mixed_precision=lrn, run_saved_model=not lrn,
    )
    assert model.get_layer("conv4_conv").groups == groups
    assert ("conv2_lrn" in [layer.name for layer in model.layers]) is lrn


def test_alexnet_rejects_three_towers():
    with pytest.raises(ValueError, match="groups"):
        models.get("alexnet", groups=3)
