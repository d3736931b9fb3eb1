"""`precision: fp16 | bf16` on every family: each recipe's model trains a step on the CPU under both mixed
policies, computes in the low precision, returns float32 outputs (what the losses read), and fp16 uses
dynamic loss scaling. The policy is restored afterwards."""

from pathlib import Path

import keras
import numpy as np
import pytest

from tests.fixtures.pretrained import brief_stages, offline_imagenet_cache
from vras_keras.training.config import load_config

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
# the cheapest families run by default, the others with the slow tests (a few seconds to ~40 s each on 2 cores)
DEFAULT_RUN = {"classification", "stn"}
LOW = {"fp16": "float16", "bf16": "bfloat16"}


def _one_step(path, precision, workdir):
    off = {"callbacks.tensorboard": False, "callbacks.csv": False, "callbacks.curves": False,
           "callbacks.backup": False, "callbacks.checkpoint.save_best": False, "callbacks.checkpoint.save_last": False}
    return load_config(path, {**brief_stages(path), "epochs": 1, "steps_per_epoch": 3 if path.stem == "matching" else 1,
                              "validation_steps": 1, "batch_per_replica": 2, "data.num_samples": 4,
                              "data.val_samples": 2, "data.shuffle_buffer": 4, "schedule.warmup_epochs": 0,
                              "precision": precision, "workdir": str(workdir), **off})


def _sublayers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _sublayers(layer)


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem, marks=() if p.stem in DEFAULT_RUN else pytest.mark.slow)
                                  for p in CONFIGS])
def test_family_trains_a_step_under_mixed_precision(path, precision, tmp_path, monkeypatch):
    from vras_keras.training.trainer import train

    offline_imagenet_cache(path, tmp_path / "keras_home", monkeypatch)
    history = train(_one_step(path, precision, tmp_path / "run"), verbose=0)
    assert keras.config.dtype_policy().name == "float32"  # restored
    losses = history.history["loss"]
    assert losses and all(np.isfinite(losses)), losses
    model = history.model
    compute = {layer.compute_dtype for layer in _sublayers(model) if layer.weights}
    assert LOW[precision] in compute, compute  # the convolutions ran in the low precision
    for output in keras.tree.flatten(model.outputs):
        assert output.dtype == "float32", (output.name, output.dtype)  # what the losses read
    if precision == "fp16" and path.stem != "matching":  # dynamic loss scaling (compile() wraps the optimizer)
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer), model.optimizer


def test_lift_stages_scale_the_loss_under_fp16():
    # LIFT trains with its own loop (one optimizer per stage): under fp16 each is a LossScaleOptimizer,
    # which skips a step whose gradients overflow and lowers its scale.
    from vras_keras import models
    from vras_keras.training.lift import LiftStages

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = models.get("lift", patch_size=24, crop_size=12.0, descriptor_size=8, descriptor_dim=16, width=0.25)
    finally:
        keras.config.set_dtype_policy(previous)
    stages = LiftStages(model)
    optimizer = stages.optimizer("descriptor")
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.get_layer("descriptor").output.dtype == "float32"
    scale = float(optimizer.dynamic_scale)
    variables = stages.trainable_variables("descriptor")
    before = [v.numpy().copy() for v in variables]
    optimizer.apply([keras.ops.full(v.shape, float("inf"), v.dtype) for v in variables], variables)
    assert float(optimizer.dynamic_scale) == scale / 2  # overflow: scale halved ...
    for b, v in zip(before, variables):
        np.testing.assert_array_equal(b, v.numpy())  # ... and the step skipped
