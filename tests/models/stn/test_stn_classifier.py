"""stn_classifier / cnn_classifier / stn3d_classifier through check_model at tiny sizes."""

import keras
import numpy as np
import pytest

from vras_keras import models
from vras_keras.testing import check_model


def _random_head(model):
    """Small random STN head kernel: with the default zeros (identity at init) no gradient reaches the
    localisation network before the first update, and the harness checks every weight's gradient."""
    head = model.get_layer("stn").head
    rng = np.random.default_rng(0)
    head.kernel.assign(rng.normal(0, 1e-3, head.kernel.shape).astype("float32"))
    return model


def _images(shape, n=2):
    return np.random.default_rng(1).uniform(0, 255, (n,) + shape).astype("float32")


def test_stn_classifier():
    def build():
        return _random_head(models.get("stn_classifier", input_shape=(24, 24, 1), num_classes=3, width=0.25))

    check_model(build, _images((24, 24, 1)), expected_output_shapes=(None, 3))


def test_cnn_classifier_is_the_same_cnn_without_stn():
    model = check_model(
        lambda: models.get("cnn_classifier", input_shape=(24, 24, 1), num_classes=3, width=0.25),
        _images((24, 24, 1)),
        expected_output_shapes=(None, 3),
        run_mixed_precision=False,  # same layers as stn_classifier, which runs it
    )
    stn = models.get("stn_classifier", input_shape=(24, 24, 1), num_classes=3, width=0.25)
    assert [layer.name for layer in stn.layers if layer.name != "stn"] == [layer.name for layer in model.layers]
    for layer in model.layers:
        assert stn.get_layer(layer.name).count_params() == layer.count_params()


def test_stn3d_classifier():
    def build():
        return _random_head(
            models.get(
                "stn3d_classifier", input_shape=(8, 12, 12, 1), num_classes=3, width=0.25, transform="similarity"
            )
        )

    check_model(build, _images((8, 12, 12, 1)), expected_output_shapes=(None, 3), run_mixed_precision=False)


@pytest.mark.parametrize("name,shape", [("stn_classifier", (20, 20, 1)), ("stn3d_classifier", (6, 8, 8, 1))])
def test_untrained_transformer_is_the_identity(name, shape):
    model = models.get(name, input_shape=shape, num_classes=4, width=0.25, transform="rotation_translation")
    warped = keras.Model(model.input, model.get_layer("stn").output)
    images = _images(shape)
    np.testing.assert_allclose(np.asarray(warped(images)), images / 255.0, atol=1e-5)
    assert models.get_entry(name).task == "stn"


def test_output_size_logits_and_errors():
    model = models.get("stn_classifier", input_shape=(32, 32, 1), output_size=(16, 16), classifier_activation=None,
                       width=0.25)
    assert model.get_layer("stn").output.shape == (None, 16, 16, 1)
    assert model.get_layer("predictions").activation is keras.activations.linear
    with pytest.raises(ValueError, match="weights must be None, 'imagenet' or the path"):
        models.get("cnn_classifier", weights="mnist")
    with pytest.raises(ValueError, match="weights='imagenet' is available for"):  # ImageNet: classifiers only
        models.get("cnn_classifier", weights="imagenet")
    with pytest.raises(ValueError, match=r"stn3d_classifier needs input_shape \(D, H, W, C\), received \(32, 32, 1\)"):
        models.get("stn3d_classifier", input_shape=(32, 32, 1))
