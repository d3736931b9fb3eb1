"""train(config) in-process on synthetic data: artefacts, metadata, seeds, restored globals, task setups."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from tests.fixtures.training import TINY_ID, recipe
from vras_keras.losses.pose import KeypointL2Loss
from vras_keras.metrics.pose import MeanPixelError
from vras_keras.training import strategy as strategy_lib
from vras_keras.training.config import TrainConfig
from vras_keras.training.tasks import TASK_SETUPS, outputs_probabilities, register_task_setup, task_setup
from vras_keras.training.trainer import train

QUIET = {"tensorboard": False}


def _config(tmp_path, **kw):
    kw.setdefault("workdir", str(tmp_path / "run"))
    return TrainConfig.from_dict(recipe(**kw))


def test_train_writes_every_artefact_and_the_export_metadata(tmp_path):
    config = _config(tmp_path, epochs=3, callbacks={"tensorboard": True},
                     optimizer={"name": "adam", "learning_rate": 0.02})
    history = train(config, verbose=0)
    run = tmp_path / "run"
    assert len(history.history["loss"]) == 3
    meta = json.loads((run / "vras_meta.json").read_text())
    assert meta["task"] == "classification"
    assert meta["model"] == {"id": TINY_ID, "args": {"input_shape": [16, 16, 3], "num_classes": 4}}
    assert meta["labels"] == ["class_0", "class_1", "class_2", "class_3"] and meta["input_shape"] == [16, 16, 3]
    # the recorded config is the resolved recipe and validates again
    recorded = yaml.safe_load((run / "config.yaml").read_text())
    assert TrainConfig.from_dict({k: v for k, v in recorded.items() if k != "task"}) == config
    rows = [line.split(",") for line in (run / "history.csv").read_text().splitlines()]
    assert rows[0][0] == "epoch" and [r[0] for r in rows[1:]] == ["1", "2", "3"]
    loss = [float(r[rows[0].index("loss")]) for r in rows[1:]]
    assert loss[-1] < loss[0]  # it learns the synthetic colour cue
    assert (run / "curves.png").stat().st_size > 5000
    assert any((run / "logs").rglob("events.out.tfevents.*"))
    assert not (run / "backup").exists()  # removed after a completed run
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs_completed"] == 3 and summary["best"]["logged_as"] == "val_loss"
    best = keras.saving.load_model(summary["artefacts"]["best_checkpoint"])
    x = np.zeros((2, 16, 16, 3), np.float32)
    assert best.predict(x, verbose=0).shape == (2, 4)
    last = keras.saving.load_model(run / "checkpoints" / "last.keras")
    np.testing.assert_allclose(last.predict(x, verbose=0), history.model.predict(x, verbose=0), atol=1e-6)


def test_same_seed_same_run_and_deterministic_flag_restored(tmp_path):
    a = train(_config(tmp_path, epochs=1, deterministic=True, callbacks=QUIET, workdir=str(tmp_path / "a")), verbose=0)
    from tensorflow.python.framework import config as tf_framework_config

    assert not tf_framework_config.is_op_determinism_enabled()  # restored after the run
    b = train(_config(tmp_path, epochs=1, deterministic=True, callbacks=QUIET, workdir=str(tmp_path / "b")),
              verbose=0)
    c = train(_config(tmp_path, epochs=1, seed=1, callbacks=QUIET, workdir=str(tmp_path / "c")), verbose=0)
    assert a.history["loss"] == b.history["loss"]
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert c.history["loss"] != a.history["loss"]


def test_mixed_precision_is_used_and_restored_even_on_error(tmp_path):
    history = train(_config(tmp_path, epochs=1, precision="bf16", callbacks=QUIET), verbose=0)
    assert history.model.get_layer("conv1").compute_dtype == "bfloat16"
    assert np.isfinite(history.history["loss"][0])
    assert keras.config.dtype_policy().name == "float32"
    bad = _config(tmp_path, epochs=1, precision="fp16",
                  callbacks={"tensorboard": False, "checkpoint": {"monitor": "val_miou"}}, workdir=str(tmp_path / "x"))
    with pytest.raises(ValueError, match="val_miou"):
        train(bad, verbose=0)
    assert keras.config.dtype_policy().name == "float32"


def test_segmentation_recipe_trains_with_ignore_label_and_miou(tmp_path):
    config = TrainConfig.from_dict(recipe(model={"id": TINY_ID, "args": {"segmentation": True}}, epochs=1,
                                          callbacks=QUIET, workdir=str(tmp_path / "seg"), data={"task": None}))
    config.task = "segmentation"  # the tiny model is registered as a classifier; reuse it per pixel
    history = train(config, verbose=0)
    assert {"miou", "val_miou", "pixel_accuracy"} <= set(history.history)
    assert json.loads((tmp_path / "seg" / "vras_meta.json").read_text())["labels"][0] == "background"
    assert history.model.output_shape == (None, 16, 16, 5)  # num_classes = background + 4 from the data


def test_task_setups_are_a_table():
    assert {"classification", "segmentation", "pose", "stn"} <= set(TASK_SETUPS)
    with pytest.raises(ValueError, match="already has a setup"):
        register_task_setup("classification")(lambda m, c: None)
    inputs = keras.Input((4,))
    probs = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    logits = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    assert outputs_probabilities(probs) and not outputs_probabilities(logits)
    assert task_setup("classification", probs).compile_args["loss"].from_logits is False
    assert task_setup("classification", logits).compile_args["loss"].from_logits is True
    # auxiliary heads: one loss per output, weights from the recipe, the label copied to every output
    main = keras.layers.Dense(3, name="main")(inputs)
    aux = keras.layers.Dense(3, name="aux")(inputs)
    two = keras.Model(inputs, {"main": main, "aux": aux})
    config = TrainConfig.from_dict(recipe(loss_weights={"aux": 0.3}))
    setup = task_setup("classification", two, config)
    assert setup.compile_args["loss_weights"] == {"main": 1.0, "aux": 0.3}
    assert set(setup.map_targets(tf.constant([1, 2]))) == {"main", "aux"}
    with pytest.raises(ValueError, match="unknown outputs"):
        task_setup("classification", two, TrainConfig.from_dict(recipe(loss_weights={"aux2": 0.3})))


def test_pose_loss_ignores_invisible_joints_and_detection_needs_own_loss():
    y_true = np.array([[[0, 0, 1], [10, 10, 1], [5, 5, 0]]], np.float32)
    y_pred = np.array([[[3, 4, 0.9], [10, 10, 0.9], [100, 100, 0.9]]], np.float32)
    # visible joints: squared errors 25 and 0 -> mean 12.5; the invisible joint's 2*95^2 is ignored
    assert float(KeypointL2Loss()(y_true, y_pred)) == pytest.approx(12.5)
    # the default pose setup (a model with one (N, J, 2|3) output, not of the pose family) uses exactly these
    points = keras.Input((3, 3))
    setup = task_setup("pose", keras.Model(points, keras.layers.Identity()(points)))
    assert isinstance(setup.compile_args["loss"], KeypointL2Loss)
    assert [type(m) for m in setup.compile_args["metrics"]] == [MeanPixelError]
    packed = setup.map_targets({"keypoints": y_true[..., :2], "visibility": y_true[..., 2]})
    np.testing.assert_array_equal(np.asarray(packed), [[[0, 0, 1], [10, 10, 1], [0, 0, 0]]])
    inputs = keras.Input((8, 8, 3))
    heads = keras.Model(inputs, keras.layers.Conv2D(5, 1)(inputs))
    with pytest.raises(ValueError, match="No training setup for task 'detection'"):
        task_setup("detection", heads)
    with pytest.raises(ValueError, match=r"one \(N, J, 2\|3\) coordinate output"):
        task_setup("pose", heads)

    class OwnLoss(keras.Model):
        def compute_loss(self, *args, **kwargs):
            return super().compute_loss(*args, **kwargs)

    own = OwnLoss(inputs, keras.layers.Conv2D(5, 1)(inputs))
    assert task_setup("detection", own).compile_args == {}


def test_strategy_errors_are_clear(monkeypatch):
    tf.constant(1.0)  # devices initialised
    n = len(tf.config.list_logical_devices("CPU")) + 1
    with pytest.raises(RuntimeError, match=f"Cannot split the CPU into {n} logical devices: TensorFlow has already"):
        strategy_lib.configure_cpu_replicas(n)
    with pytest.raises(ValueError, match="cpu_replicas must be an integer >= 1"):
        strategy_lib.configure_cpu_replicas(0)
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs the TF_CONFIG environment variable"):
        strategy_lib.make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        strategy_lib.make_strategy("auto")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {}}')
    with pytest.raises(ValueError, match="TF_CONFIG must be"):
        strategy_lib.make_strategy("auto")
    monkeypatch.delenv("TF_CONFIG")
    with pytest.raises(ValueError, match="strategy: received 'gpu'"):
        strategy_lib.make_strategy("gpu")
    one = strategy_lib.make_strategy("auto")
    # the default strategy, as a plain fit: OneDeviceStrategy stepped ~2x slower on CPU (issue #23)
    assert one is tf.distribute.get_strategy() and not isinstance(one, tf.distribute.OneDeviceStrategy)
    assert one.num_replicas_in_sync == 1 and strategy_lib.worker_info(one) == (0, True)
    assert strategy_lib.strategy_label(one) == "OneDevice (default)"


def test_sigterm_line_after_the_last_epoch_counts_the_completed_epochs(tmp_path):
    # Keras deletes the crash backup when fit returns: SIGTERM during the summary used to print
    # "no epoch had completed" for a run that had finished all its epochs.
    from vras_keras.training.trainer import sigterm_line

    assert sigterm_line(tmp_path).endswith("no epoch had completed: rerunning the same command starts over")
    (tmp_path / "history.csv").write_text("epoch,loss\n1,0.5\n2,0.4\n3,0.3\n")
    line = sigterm_line(tmp_path)
    assert line.startswith("vras train: stopped by SIGTERM; 3 epoch(s) had completed"), line
    assert "no epoch had completed" not in line and str(tmp_path) in line
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "training_metadata.json").write_text('{"epoch": 2}')
    assert sigterm_line(tmp_path) == (f"vras train: stopped by SIGTERM; epoch 2 is the last completed one, kept "
                                      f"in {backup}: rerun the same command to resume")


def test_a_validation_split_smaller_than_one_batch_is_validated_in_one_batch(tmp_path, capsys):
    from vras_keras.training.trainer import validation_batch

    assert validation_batch(600, 256) == 256
    assert validation_batch(143, 256) == 143 and validation_batch(143, 256, replicas=2) == 142
    assert validation_batch(256, 256) == 256
    # 10 validation images, batch 32: before, "10 samples make no full batch of 32"
    history = train(_config(tmp_path, epochs=1, batch_per_replica=32, data={"val_samples": 10}), verbose=0)
    assert "validated in one batch of 10" in capsys.readouterr().out
    assert len(history.history["val_loss"]) == 1 and np.isfinite(history.history["val_accuracy"][0])
