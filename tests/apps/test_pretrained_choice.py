"""The Classification page offers an ImageNet classifier for real photos when its weights are in the local cache
(never downloading); tested with a fake cache holding random weights in torchvision's layout."""

from pathlib import Path

import numpy as np
import pytest

from vras_keras.demo import exports

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_cache(monkeypatch, tmp_path):
    """`$KERAS_HOME` whose weights cache holds resnet18's `resnet18.tv_in1k.safetensors`, random weights."""
    import keras

    from vras_keras import models
    from vras_keras.models import pretrained

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a fetch attempt would fail loudly instead of downloading
    keras.utils.set_random_seed(0)
    path = pretrained.imagenet_cache_path("resnet18")
    path.parent.mkdir(parents=True)
    pretrained.save_safetensors(models.get("resnet18", num_classes=1000), path, arch="resnet18")
    return path


def test_nothing_is_offered_without_cached_weights_and_the_hint_says_how(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    assert exports.list_pretrained("classification") == [] and exports.list_pretrained("detection") == []
    hint = exports.pretrained_hint()
    assert str(tmp_path / "empty" / "vras_keras" / "weights") in hint and "never downloads" in hint


def test_a_cached_imagenet_classifier_is_offered_and_runs_on_a_photo(fake_cache):
    (found,) = exports.list_pretrained("classification")
    assert found.is_pretrained and found.name == "resnet18" and found.path == fake_cache
    assert found.label == "resnet18 (ImageNet weights, local cache)" and not exports.is_synthetic(found.meta)
    predictor = exports.load_predictor(found.path, found.runtimes[0])
    assert predictor.meta.input_size == (224, 224) and len(predictor.meta.labels) == 1000
    assert predictor.meta.labels[1] == "goldfish"  # keras-hub's ImageNet names, no download
    photo = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    probabilities = predictor.predict(photo)["probabilities"]
    assert probabilities.shape == (1, 1000) and np.isclose(probabilities.sum(), 1.0, atol=1e-3)


def test_the_classification_page_serves_it_without_any_export(monkeypatch, tmp_path, fake_cache):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VRAS_SAVEDMODELS", str(tmp_path / "none"))
    monkeypatch.setenv("VRAS_DEMO_RUNS", str(tmp_path / "demo_runs"))
    at = AppTest.from_file(str(ROOT / "apps" / "views" / "1_Classification.py"), default_timeout=180)
    at.run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert _first_label(at) == "resnet18 (ImageNet weights, local cache)"
    at.selectbox(key="image_sample").set_value("photo: coffee").run()
    assert not at.exception and not at.error and not at.warning  # a photo model: no synthetic-data warning
    (table,) = [d.value for d in at.dataframe]
    assert len(table) == 5 and set(table["label"]) <= set(exports.load_predictor(
        fake_cache, exports.PRETRAINED_RUNTIME).meta.labels)


def _first_label(at) -> str:
    """The label of the export the page chose by default (the first one offered)."""
    box = at.selectbox(key="classification_export")
    return box.format_func(box.value)
