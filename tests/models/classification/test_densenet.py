import keras
import pytest

from vras_keras import models
from vras_keras.testing import check_model

from ._helpers import classification_compile, count_trainable, images, labels


def test_densenet121_exact_trainable_parameters():
    model = models.get("densenet121")
    assert count_trainable(model) == 7_978_856
    assert model.get_layer("final_bn").output.shape == (None, 7, 7, 1024)


@pytest.mark.slow
@pytest.mark.parametrize("name,expected", [("densenet169", 14_149_480), ("densenet201", 20_013_928)])
def test_densenet_exact_trainable_parameters_large(name, expected):
    assert count_trainable(models.get(name)) == expected


def test_densenet_bc_100_12_size():
    # DenseNet-BC (k = 12), depth 100: 0.8 M parameters in the paper's Table 2 (769,162 with 10 classes)
    model = models.get("densenet_bc", depth=100, growth_rate=12)
    assert count_trainable(model) == 769_162
    assert model.get_layer("transition1_conv").filters == (24 + 16 * 12) // 2


def test_densenet_bc_tiny_harness_with_se():
    x, y = images(), labels(num_classes=10)
    model = check_model(
        lambda: models.get("densenet_bc", depth=10, growth_rate=4, se_ratio=2, dropout_rate=0.2), x, targets=y,
        compile_kwargs=classification_compile(), expected_output_shapes=(None, 10),
    )
    assert [layer.name for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == ["head_dropout"]
    assert "block3_se" in [layer.name for layer in model.layers]


def test_densenet121_tiny_pyramid():
    model = models.get("densenet121", input_shape=(64, 64, 3), include_top=False, width=0.125)
    assert {k: v.shape[1] for k, v in model.pyramid_outputs.items()} == {"C1": 32, "C2": 16, "C3": 8, "C4": 4, "C5": 2}
    with pytest.raises(ValueError, match="6n \\+ 4"):
        models.get("densenet_bc", depth=101)
