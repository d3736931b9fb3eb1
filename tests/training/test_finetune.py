"""Staged fine-tuning (training/finetune.py, `finetune:` in a recipe) and `model.weights:`."""

import keras
import numpy as np
import pytest

from vras_keras import models
from vras_keras.training.config import TrainConfig
from vras_keras.training.finetune import set_trainable_stages
from vras_keras.training.trainer import train


def _recipe(tmp_path, weights, **overrides):
    base = {
        "model": {"id": "resnet18", "args": {"width": 0.125}, "weights": str(weights)},
        "data": {"source": "synthetic", "task": "classification", "image_size": 16, "num_samples": 32,
                 "val_samples": 16},
        "batch_per_replica": 8,
        "epochs": 3,
        "optimizer": {"name": "sgd", "learning_rate": 0.05},
        "callbacks": {"tensorboard": False, "curves": False},
        "finetune": {"stages": [{"epochs": 1, "trainable_stages": 0, "learning_rate": 0.05},
                                {"epochs": 2, "trainable_stages": 1, "learning_rate": 0.01}]},
        "workdir": str(tmp_path / "run"),
    }
    base.update(overrides)
    return base


def _pretrained(tmp_path):
    source = models.get("resnet18", input_shape=(16, 16, 3), width=0.125, num_classes=7)
    path = tmp_path / "pretrained.keras"
    source.save(path)
    return source, path


def _value(model, layer, attr="kernel"):
    return keras.ops.convert_to_numpy(getattr(model.get_layer(layer), attr))


def test_stages_freeze_the_early_backbone_and_every_batch_norm(tmp_path):
    source, path = _pretrained(tmp_path)
    history = train(TrainConfig.from_dict(_recipe(tmp_path, path)), verbose=0)
    assert len(history.history["loss"]) == 3
    tuned = models.load_model(tmp_path / "run" / "checkpoints" / "last.keras", compile=False)
    assert tuned.get_layer("logits").units != 7  # the head is new (the data's classes)
    np.testing.assert_array_equal(_value(tuned, "conv1_conv"), _value(source, "conv1_conv"))  # stem frozen
    np.testing.assert_array_equal(_value(tuned, "stage4_block2_conv2_conv"), _value(source, "stage4_block2_conv2_conv"))
    for name in ("conv1_bn", "stage5_block2_conv2_bn"):  # statistics and affine of every BN kept
        for attr in ("moving_mean", "moving_variance", "gamma"):
            np.testing.assert_array_equal(_value(tuned, name, attr), _value(source, name, attr))
    assert not np.array_equal(_value(tuned, "stage5_block2_conv2_conv"), _value(source, "stage5_block2_conv2_conv"))


def test_trainable_stages_follow_the_pyramid():
    model = models.get("resnet18", input_shape=(32, 32, 3), width=0.125, num_classes=3)
    assert set_trainable_stages(model, 0) == ["logits"]
    trained = set_trainable_stages(model, 2)
    assert "stage4_block1_conv1_conv" in trained and "stage5_block2_conv2_conv" in trained
    assert "stage3_block2_conv2_conv" not in trained and not any(name.endswith("_bn") for name in trained)
    assert "conv1_bn" in set_trainable_stages(model, 5, freeze_bn=False)
    densenet = models.get("densenet121", input_shape=(32, 32, 3), width=0.125, num_classes=3)
    trained = set_trainable_stages(densenet, 1)
    # C4 is dense block 3's output: transition 3 belongs to the last stage
    assert "block4_layer1_1_conv" in trained and "transition3_conv" in trained and "block3_layer1_1_conv" not in trained


def test_recipe_errors_name_the_key(tmp_path):
    _, path = _pretrained(tmp_path)
    with pytest.raises(ValueError, match="epochs: received 4; expected the sum of finetune.stages"):
        TrainConfig.from_dict(_recipe(tmp_path, path, epochs=4))
    bad = _recipe(tmp_path, path)
    bad["finetune"] = {"stages": [{"epochs": 3, "trainable_stages": 6}]}
    with pytest.raises(ValueError, match=r"finetune.stages\[0\].trainable_stages: received 6"):
        TrainConfig.from_dict(bad)
    with pytest.raises(ValueError, match="model.weights: received 'missing.keras'"):
        TrainConfig.from_dict(_recipe(tmp_path, "missing.keras"))
