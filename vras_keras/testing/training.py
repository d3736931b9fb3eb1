"""Support for the training tests: a tiny registered model, a recipe writer and subprocess entry points.

Importing this module registers `tiny_cnn_for_tests` (only tests import it). The tests start it in
subprocesses, because logical devices and multi-worker clusters must be set up before TensorFlow
initialises:

    python -m vras_keras.testing.training cli ARGS...            `vras ARGS` with the tiny model registered;
                                                                 with VRAS_TEST_HANG_MARKER set, hangs once
                                                                 in the middle of the second epoch
    python -m vras_keras.testing.training parity WORKDIR         losses: one device vs 2 mirrored CPU replicas
    python -m vras_keras.testing.training worker CONFIG OUT.npz  train CONFIG (multi_worker), save the weights
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import keras

from vras_keras.models.registry import _REGISTRY, register

TINY_ID = "tiny_cnn_for_tests"
REPO = Path(__file__).resolve().parents[2]


def tiny_cnn_for_tests(*, input_shape=(16, 16, 3), num_classes=4, segmentation=False, width=4):
    """Conv -> ReLU -> (global pooling -> dense | 1x1 conv): no BN, so replicas see identical maths."""
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name="conv1")(x)
    if segmentation:
        outputs = keras.layers.Conv2D(num_classes, 1, name="logits")(x)
    else:
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="tiny_cnn")


if TINY_ID not in _REGISTRY:  # imported by the tests and, in subprocesses, also run as __main__
    register(TINY_ID, task="classification")(tiny_cnn_for_tests)


def recipe(**overrides) -> dict:
    """A tiny, fast recipe (synthetic 16 px images) as a dict; nested keys via dicts."""
    base = {
        "model": {"id": TINY_ID},
        "data": {"source": "synthetic", "task": "classification", "image_size": 16, "num_samples": 64,
                 "val_samples": 16},
        "batch_per_replica": 8,
        "epochs": 2,
        "optimizer": {"name": "sgd", "learning_rate": 0.05},
        "callbacks": {"tensorboard": False},
        "seed": 0,
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


def write_recipe(path, **overrides) -> Path:
    import yaml

    path = Path(path)
    path.write_text(yaml.safe_dump(recipe(**overrides)))
    return path


def helper_command(*args) -> list:
    """The command line running this module's entry point `args[0]` in a fresh Python."""
    return [sys.executable, "-m", "vras_keras.testing.training", *args]


def subprocess_env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["CUDA_VISIBLE_DEVICES"] = ""
    env.update(extra)
    return env


class EpochRecorder(keras.callbacks.Callback):
    """Appends every epoch begin to a file; optionally hangs once in the middle of epoch index 1."""

    def __init__(self, log_path, hang_marker=None):
        super().__init__()
        self.log_path, self.hang_marker = Path(log_path), hang_marker and Path(hang_marker)
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        with open(self.log_path, "a") as f:
            f.write(f"{os.getpid()} {epoch}\n")

    def on_train_batch_end(self, batch, logs=None):
        if self.hang_marker and self.epoch == 1 and batch == 3 and not self.hang_marker.exists():
            self.hang_marker.write_text(str(os.getpid()))
            time.sleep(600)  # the test kills us here with SIGKILL


def _cli(argv):
    from vras_keras.training import callbacks as cb

    log = os.environ.get("VRAS_TEST_EPOCH_LOG")
    if log:
        original = cb.standard_callbacks

        def with_recorder(*args, **kwargs):
            return original(*args, **kwargs) + [EpochRecorder(log, os.environ.get("VRAS_TEST_HANG_MARKER"))]

        cb.standard_callbacks = with_recorder
    from vras_keras.cli import main

    return main(argv)


def _parity(workdir):
    import numpy as np

    from vras_keras.training.config import TrainConfig
    from vras_keras.training.strategy import configure_cpu_replicas
    from vras_keras.training.trainer import train

    configure_cpu_replicas(2)  # before any TensorFlow op; one_device then uses /cpu:0
    results = {}
    for name, strategy, replicas, per_replica in (("mirrored", "mirrored", 2, 4), ("one", "one_device", None, 8)):
        losses = []
        recorder = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: losses.append(float(logs["loss"])))
        config = TrainConfig.from_dict(recipe(
            data={"num_samples": 8, "val_split": None, "cache": True},
            batch_per_replica=per_replica, epochs=1, steps_per_epoch=5, strategy=strategy, cpu_replicas=replicas,
            callbacks={"backup": False, "tensorboard": False, "csv": False, "curves": False,
                       "checkpoint": {"save_best": False, "save_last": False}},
            workdir=str(Path(workdir) / name)))
        history = train(config, callbacks=[recorder], verbose=0)
        weights = np.concatenate([w.ravel() for w in history.model.get_weights()])
        results[name] = {"losses": losses, "weights": weights.tolist(),
                         "replicas": history.model.distribute_strategy.num_replicas_in_sync}
    print("PARITY " + json.dumps(results))


def _worker(config_path, out_path):
    import numpy as np

    from vras_keras.training.config import load_config
    from vras_keras.training.trainer import train

    history = train(load_config(config_path), verbose=2)
    np.savez(out_path, *history.model.get_weights(), loss=np.array(history.history["loss"]))


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    if mode == "cli":
        sys.exit(_cli(rest))
    elif mode == "parity":
        _parity(*rest)
    elif mode == "worker":
        _worker(*rest)
    else:
        sys.exit(f"unknown mode {mode!r}")
