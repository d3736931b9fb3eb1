"""`vras train` on a matching recipe: LIFT's staged runner end to end, its artefacts and crash-safe resume."""

import json

import keras
import numpy as np
import pytest
import yaml

from vras_keras.cli import main
from vras_keras.models.matching.lift import detect_and_describe
from vras_keras.training.config import TrainConfig
from vras_keras.training.lift import stage_steps
from vras_keras.training.trainer import train

TINY = {"patch_size": 24, "crop_size": 12.0, "descriptor_size": 8, "descriptor_dim": 16, "width": 0.25}


def _recipe(workdir, **overrides):
    recipe = {
        "model": {"id": "lift", "args": dict(TINY)},
        "data": {"source": "pairs", "image_size": 64, "num_samples": 12, "val_samples": 6,
                 "options": {"per_pair": 6}},
        "batch_per_replica": 4,
        "epochs": 3,
        "steps_per_epoch": 1,
        "optimizer": {"name": "adam", "learning_rate": 0.001},
        "callbacks": {"tensorboard": False},
        "seed": 0,
        "deterministic": True,
        "workdir": str(workdir),
    }
    recipe.update(overrides)
    return recipe


def _textured(size=48, seed=0):
    from scipy import ndimage

    noise = ndimage.gaussian_filter(np.random.default_rng(seed).uniform(0, 255, (size, size)), 1.5)
    return np.clip((noise - noise.mean()) * 4 + 128, 0, 255).astype(np.uint8)


def test_stage_steps_split():
    assert stage_steps(10, {"descriptor": 0.6, "orientation": 0.2, "detector": 0.2}) == (6, 2, 2)
    assert stage_steps(3, {"descriptor": 0.9, "orientation": 0.05, "detector": 0.05}) == (1, 1, 1)
    assert stage_steps(7, {"descriptor": 1.0, "orientation": 0, "detector": 1.0}) == (4, 0, 3)


def test_vras_train_matching_recipe_end_to_end(tmp_path, capsys):
    config = tmp_path / "matching.yaml"
    config.write_text(yaml.safe_dump(_recipe(tmp_path / "run", callbacks={"tensorboard": True})))
    assert main(["train", "--config", str(config)]) == 0
    assert "descriptor 1 + orientation 1 + detector 1 steps" in capsys.readouterr().out
    run = tmp_path / "run"
    meta = json.loads((run / "vras_meta.json").read_text())
    assert meta["task"] == "matching" and meta["model"] == {"id": "lift", "args": TINY}
    assert meta["training"]["stages"] == {"descriptor": 1, "orientation": 1, "detector": 1}
    rows = [line.split(",") for line in (run / "history.csv").read_text().splitlines()]
    header = rows[0]
    assert [r[0] for r in rows[1:]] == ["1", "2", "3"]
    # one stage per epoch here: each row has the loss of the stage it trained
    for row, stage in zip(rows[1:], ("descriptor", "orientation", "detector")):
        assert row[header.index(f"{stage}_loss")] != ""
        assert float(row[header.index("val_loss")]) > 0
        assert 0 <= float(row[header.index("val_matching_accuracy")]) <= 1
        # whole views of the validation photographs, scored by metrics.matching.evaluate_pair
        for key in ("val_mma1", "val_mma3", "val_mma5", "val_repeatability", "val_homography3"):
            assert 0 <= float(row[header.index(key)]) <= 1, key
        assert float(row[header.index("val_mma1")]) <= float(row[header.index("val_mma3")]) <= float(
            row[header.index("val_mma5")])
    assert (run / "curves.png").stat().st_size > 5000
    assert any((run / "logs").rglob("events.out.tfevents.*"))
    assert not (run / "backup").exists()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs_completed"] == 3 and summary["best"]["logged_as"] == "val_loss"
    assert TrainConfig.from_dict({k: v for k, v in yaml.safe_load((run / "config.yaml").read_text()).items()
                                  if k != "task"}).task_options == {}
    model = keras.saving.load_model(run / "checkpoints" / "last.keras")
    features = detect_and_describe(model, _textured(), max_keypoints=8, min_score=None)
    assert 0 < len(features) <= 8 and features.descriptors.shape == (len(features), 16)


class _Crash(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt("killed")


def test_interrupted_matching_run_resumes_after_the_last_epoch(tmp_path):
    """Two descriptor epochs: killed before the second, resumed by the same call; the Adam state comes back
    from the backup, so the weights equal those of an uninterrupted run."""
    overrides = {"epochs": 2, "task_options": {"stages": {"descriptor": 1.0}}, "data": {
        "source": "pairs", "image_size": 64, "num_samples": 12, "val_split": None, "options": {"per_pair": 6}}}
    full = train(TrainConfig.from_dict(_recipe(tmp_path / "full", **overrides)), verbose=0)
    config = TrainConfig.from_dict(_recipe(tmp_path / "cut", **overrides))
    with pytest.raises(KeyboardInterrupt):
        train(config, callbacks=[_Crash()], verbose=0)
    assert json.loads((tmp_path / "cut" / "backup" / "state.json").read_text())["epoch"] == 1
    resumed = train(config, verbose=0)
    assert resumed.epoch == [1]  # only the missing epoch ran
    for a, b in zip(full.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    rows = (tmp_path / "cut" / "history.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2"]
    assert not (tmp_path / "cut" / "backup").exists()


def test_matching_recipe_errors(tmp_path):
    with pytest.raises(ValueError, match="task_options: unknown keys \\['margn'\\]"):
        train(TrainConfig.from_dict(_recipe(tmp_path / "a", task_options={"margn": 1})), verbose=0)
    with pytest.raises(ValueError, match="data.source: received 'shapes'"):
        train(TrainConfig.from_dict(_recipe(tmp_path / "b", data={"source": "shapes", "task": "matching"})), verbose=0)
    with pytest.raises(ValueError, match="task_options.stages"):
        train(TrainConfig.from_dict(_recipe(tmp_path / "c", task_options={"stages": {"detector": -1}})), verbose=0)
    # stage options reach LiftTrainingOptions (which checks them)
    with pytest.raises(ValueError, match="consistency_weight must be >= 0"):
        train(TrainConfig.from_dict(_recipe(tmp_path / "d", task_options={"consistency_weight": -1.0})), verbose=0)
    with pytest.raises(ValueError, match="data.val_split: 'train' is the training split"):
        train(
            TrainConfig.from_dict(
                _recipe(
                    tmp_path / "e", data={"source": "pairs", "image_size": 64, "num_samples": 12, "val_split": "train"}
                )
            ),
            verbose=0,
        )
    with pytest.raises(ValueError, match="data.split: received 'test'"):
        train(
            TrainConfig.from_dict(
                _recipe(tmp_path / "f", data={"source": "pairs", "image_size": 64, "num_samples": 12, "split": "test"})
            ),
            verbose=0,
        )


def test_recipe_trains_with_the_benchmark_loop(tmp_path, monkeypatch):
    """task_options are LiftTrainingOptions fields one to one: augmentation and per-keypoint scale reach the
    one stage loop (LiftTrainer), as in train_lift and the benchmarks."""
    from vras_keras.training import lift as training_lift

    calls, built = [], []
    original_augment, original_init = training_lift.augment_patches, training_lift.LiftTrainer.__init__
    monkeypatch.setattr(
        training_lift, "augment_patches", lambda p, *a, **k: calls.append(1) or original_augment(p, *a, **k)
    )

    def init(self, model, data, options=None, **kwargs):
        built.append(options)
        original_init(self, model, data, options, **kwargs)

    monkeypatch.setattr(training_lift.LiftTrainer, "__init__", init)
    options = {"stages": {"descriptor": 1.0}, "augment": 1.0, "reference_sigma": 2.0, "scale_jitter": 0.25}
    recipe = _recipe(tmp_path / "run", epochs=1, steps_per_epoch=2, task_options=options,
                     model={"id": "lift", "args": dict(TINY, patch_size=32)},  # room for the DoG kernel
                     data={"source": "pairs", "image_size": 96, "num_samples": 12, "val_split": None,
                           "options": {"per_pair": 6}})
    train(TrainConfig.from_dict(recipe), verbose=0)
    assert built == [training_lift.LiftTrainingOptions(augment=1.0, reference_sigma=2.0, scale_jitter=0.25)]
    assert len(calls) == 2 * 3  # two descriptor steps, P1 / rectified P2 / P3 augmented in each
    meta = json.loads((tmp_path / "run" / "vras_meta.json").read_text())
    assert meta["training"]["options"]["augment"] == 1.0 and meta["training"]["options"]["reference_sigma"] == 2.0


def test_recipe_is_the_shipped_sweep_models_recipe():
    """One recipe (issue #22): `configs/matching.yaml` trains what `benchmarks/matching_sweep.py` trained for the
    shipped weights (same steps per stage, batch, pairs, options; the sidecar records the command), and those
    weights load into the recipe's model."""
    from pathlib import Path

    from vras_keras import models
    from vras_keras.training.lift import LiftTrainingOptions

    root = Path(__file__).resolve().parents[2]
    raw = yaml.safe_load((root / "configs" / "matching.yaml").read_text())
    config = TrainConfig.from_dict({k: v for k, v in raw.items() if k != "task"})
    options = dict(config.task_options)
    stages = options.pop("stages")
    pairs = config.data.num_samples // config.data.options["per_pair"]
    total = config.epochs * config.steps_per_epoch
    assert stage_steps(total, stages) == (8000, 800, 30) and config.batch_per_replica == 64 and pairs == 800
    assert config.data.image_size == 192 and config.optimizer.learning_rate == 0.001
    assert {k: config.data.options[k] for k in ("per_pair", "max_tilt", "max_rotation")} == {
        "per_pair": 32, "max_tilt": 60.0, "max_rotation": 180.0}
    recipe = LiftTrainingOptions.from_dict(options)
    assert recipe.positive_view == "view2" and recipe.augment == 1.0 and recipe.scale_jitter == 0.25
    weights = root / "benchmarks" / "results" / "lift_sweep16.weights.h5"
    note = json.loads(Path(str(weights) + ".json").read_text())["train_note"]
    assert ("--descriptor-size 16 --pairs 800 --desc-steps 8000 --ori-steps 800 --batch 64 --positive-view view2"
            in note) and repr(recipe) in note
    model = models.get("lift", **config.model.args)
    model.load_weights(weights)  # same architecture
