import keras
import numpy as np
import pytest

from vras_keras import models
from vras_keras.models.backbones import feature_extractor, pyramid_outputs


def test_feature_extractor_from_registry_id():
    f = feature_extractor("resnet18", input_shape=(64, 64, 3), width=0.125)
    out = f(np.zeros((2, 64, 64, 3), "float32"))
    assert sorted(out) == ["C3", "C4", "C5"]
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "C3": (2, 8, 8, 16),
        "C4": (2, 4, 4, 32),
        "C5": (2, 2, 2, 64),
    }
    # shares weights with its backbone
    assert len(f.trainable_weights) == len(f.backbone.trainable_weights)


def test_feature_extractor_from_model_and_after_reload(tmp_path):
    base = models.get("vgg16", input_shape=(32, 32, 3), include_top=False, width=0.125)
    f = feature_extractor(base, levels=("C4", "C5"))
    assert sorted(f.output) == ["C4", "C5"]
    path = tmp_path / "vgg.keras"
    base.save(path)
    loaded = keras.saving.load_model(path)
    loaded.pyramid_layers = base.pyramid_layers  # attributes are not saved; layer names are stable
    again = feature_extractor(loaded, levels="C3")
    x = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(again(x)["C3"], keras.Model(base.input, base.pyramid_outputs["C3"])(x), atol=1e-5)


def test_feature_extractor_errors():
    with pytest.raises(ValueError, match="no feature level"):
        feature_extractor("resnet18", levels=("C6",), input_shape=(32, 32, 3), width=0.125)
    with pytest.raises(ValueError, match="include_top"):
        feature_extractor("resnet18", include_top=True)
    with pytest.raises(ValueError, match="Unknown model"):
        feature_extractor("resnet19")
    with pytest.raises(ValueError, match="pyramid_outputs"):
        pyramid_outputs(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))
