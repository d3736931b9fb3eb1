"""Atomic checkpoints, the resume-safe epoch log, training curves, the learning-rate schedule."""

import json
import os

import keras
import numpy as np
import pytest

from tests.fixtures.training import recipe, tiny_cnn_for_tests
from vras_keras.training import callbacks as cb
from vras_keras.training.config import TrainConfig
from vras_keras.training.trainer import EpochSchedule, make_schedule


def _model(seed):
    keras.utils.set_random_seed(seed)
    model = tiny_cnn_for_tests()
    model.compile("sgd", "mse")
    return model


def test_atomic_save_never_leaves_a_partial_file_under_the_final_name(tmp_path, monkeypatch):
    path = tmp_path / "ck" / "last.keras"
    good = _model(0)
    cb.atomic_save_model(good, path)
    before = path.read_bytes()
    assert keras.saving.load_model(path).count_params() == good.count_params()

    other = _model(1)

    def crash_midway(filepath, *args, **kwargs):  # writes half a file, then dies
        with open(filepath, "wb") as f:
            f.write(before[: len(before) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(other, "save", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        cb.atomic_save_model(other, path)
    assert path.read_bytes() == before  # the previous complete checkpoint is intact
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.keras"]  # no temp file left behind

    fresh = tmp_path / "new" / "best.keras"
    with pytest.raises(OSError):
        cb.atomic_save_model(other, fresh)
    assert not fresh.exists()  # nothing at all under the final name


def test_atomic_write_replaces_whole_file(tmp_path):
    p = cb.atomic_write_text(tmp_path / "a.json", json.dumps({"x": 1}))
    cb.atomic_write_text(p, json.dumps({"x": 2}))
    assert json.loads(p.read_text()) == {"x": 2} and os.listdir(tmp_path) == ["a.json"]


def test_checkpoint_tracks_best_across_restarts_and_falls_back_to_train_metric(tmp_path):
    model = _model(0)
    ck = cb.AtomicCheckpoint(tmp_path, monitor="val_loss", mode="min")
    ck.set_model(model)
    ck.on_train_begin()
    ck.on_epoch_end(0, {"loss": 2.0})  # no validation: monitors loss
    ck.on_epoch_end(1, {"loss": 3.0})
    state = json.loads((tmp_path / "best.json").read_text())
    assert state == {"monitor": "val_loss", "logged_as": "loss", "value": 2.0, "epoch": 1}
    restarted = cb.AtomicCheckpoint(tmp_path, monitor="val_loss", mode="min", resuming=True)
    restarted.set_model(model)
    restarted.on_train_begin()
    assert restarted.best == 2.0
    restarted.on_epoch_end(2, {"loss": 2.5})  # worse than the best before the restart: no new best
    assert json.loads((tmp_path / "best.json").read_text())["epoch"] == 1
    fresh = cb.AtomicCheckpoint(tmp_path, monitor="val_loss", mode="min")  # a new run in the same workdir
    fresh.set_model(model)
    fresh.on_train_begin()
    fresh.on_epoch_end(0, {"loss": 2.5})  # its first epoch is its best so far
    assert json.loads((tmp_path / "best.json").read_text())["value"] == 2.5
    with pytest.raises(ValueError, match="'val_miou' is not among the logged metrics"):
        bad = cb.AtomicCheckpoint(tmp_path / "x", monitor="val_miou")
        bad.set_model(model)
        bad.on_epoch_end(0, {"loss": 1.0})


def test_epoch_log_replaces_rows_of_a_rerun_epoch_and_curves_are_drawn(tmp_path):
    model = _model(0)
    log = cb.EpochLog(tmp_path / "history.csv")
    log.set_model(model)
    for epoch, loss in ((0, 3.0), (1, 2.0), (1, 1.5), (2, 1.0)):  # epoch 1 re-run after a crash
        log.on_epoch_end(epoch, {"loss": loss, "val_loss": loss + 0.5})
    rows = log.read()
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert [r["loss"] for r in rows] == [3.0, 1.5, 1.0]
    png = cb.plot_curves(rows, tmp_path / "curves.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_standard_callbacks_chief_and_worker(tmp_path):
    chief = cb.standard_callbacks(tmp_path)
    names = [type(c).__name__ for c in chief]
    # the NaN guard first, the crash backup last (after every file of the epoch is written)
    assert names[0] == "StopOnNonFinite"
    assert names[-1] == "BackupAndRestore" and chief[-1].backup_dir == str(tmp_path / "backup")
    assert {"AtomicCheckpoint", "EpochLog", "CurvePlot", "TensorBoard"} <= set(names)
    worker = cb.standard_callbacks(tmp_path, is_chief=False, worker_index=1)
    assert [type(c).__name__ for c in worker] == ["StopOnNonFinite", "BackupAndRestore"]
    assert worker[-1].backup_dir == str(tmp_path / "backup-worker1")


@pytest.mark.parametrize(
    "schedule, expected",  # learning rate at the start of epochs 0..5 (2 steps per epoch, 6 epochs, lr 1)
    [
        ({"name": "constant"}, [1, 1, 1, 1, 1, 1]),
        ({"name": "step", "boundaries": [2, 4], "factor": 0.1}, [1, 1, 0.1, 0.1, 0.01, 0.01]),
        ({"name": "exponential", "decay_rate": 0.5}, [1, 0.5, 0.25, 0.125, 0.0625, 0.03125]),
        ({"name": "cosine"}, [0.5 * (1 + np.cos(np.pi * e / 6)) for e in range(6)]),
        (
            {"name": "cosine", "warmup_epochs": 2, "alpha": 0.1},
            [
                0.25,
                0.75,
                1.0,
                0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi / 4)),
                0.1 + 0.9 * 0.5,
                0.1 + 0.9 * 0.5 * (1 + np.cos(3 * np.pi / 4)),
            ],
        ),
    ],
)
def test_schedules_by_hand(schedule, expected):
    config = TrainConfig.from_dict(recipe(epochs=6, optimizer={"learning_rate": 1.0}, schedule=schedule))
    lr = make_schedule(config, steps_per_epoch=2)
    got = [float(lr(e * 2)) if not isinstance(lr, float) else lr for e in range(6)]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    if isinstance(lr, EpochSchedule):  # serializable, so .keras checkpoints with the optimizer reload
        again = EpochSchedule.from_config(lr.get_config())
        assert float(again(5)) == pytest.approx(float(lr(5)))
