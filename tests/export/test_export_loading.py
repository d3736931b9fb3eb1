"""load_export: one Predictor interface for SavedModel folders and .tflite files."""

import os

import numpy as np
import pytest
import tensorflow as tf

from vras_keras.export.loading import load_export
from vras_keras.export.meta import meta_for_model
from vras_keras.export.saved_model import export_saved_model


def test_saved_model_and_tflite_predictors_agree_with_keras(classifier, tmp_path):
    meta = meta_for_model(classifier, task="classification", labels=list("abcde"))
    export_saved_model(classifier, meta, str(tmp_path), name="m", formats=("tflite",))  # version 1: TFLite only
    result = export_saved_model(classifier, meta, str(tmp_path), name="m")  # version 2: both
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), rng.integers(0, 255, (48, 40, 3), dtype=np.uint8)]
    resized = np.stack([images[0].astype(np.float32),
                        tf.image.resize(images[1].astype(np.float32), (32, 32)).numpy()])
    expected = classifier(resized).numpy()

    latest = load_export(str(tmp_path / "m"))  # a model folder: highest version, SavedModel preferred
    assert latest.backend == "saved_model" and latest.path == result.path and latest.task == "classification"
    np.testing.assert_allclose(latest.predict(images)["probabilities"], expected, atol=1e-5)
    np.testing.assert_allclose(latest.predict(images[0])["probabilities"], expected[:1], atol=1e-5)

    lite = load_export(os.path.join(result.path, "model.tflite"))
    assert lite.backend == "tflite" and lite.meta.labels == list("abcde")
    np.testing.assert_allclose(lite.predict(images)["probabilities"], expected, atol=1e-4)
    assert set(lite.predict(images)) == set(latest.predict(images))

    only_tflite = load_export(str(tmp_path / "m" / "1"))
    assert only_tflite.backend == "tflite"
    with pytest.raises(FileNotFoundError, match="saved_model.pb"):
        load_export(str(tmp_path / "m" / "1"), backend="saved_model")
    with pytest.raises(FileNotFoundError, match="model_int8.tflite"):
        load_export(result.path, backend="tflite", quantize="int8")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_export(str(tmp_path / "nothing"))
    with pytest.raises(ValueError, match=r"\(H, W, 1\|3\|4\)"):
        latest.predict([np.zeros((4, 4, 7), np.uint8)])
