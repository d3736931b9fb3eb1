"""Lost runs and silent wrong training: a finished workdir is refused (or overwritten when asked), the
crash backup is the last thing an epoch writes, killed temporary files are cleaned up, and a run whose
loss or weights become NaN stops with a clear error without saving anything of that epoch."""

import json
import subprocess

import keras
import numpy as np
import pytest

from tests.fixtures.training import recipe, write_recipe
from vras_keras.cli import main
from vras_keras.training import callbacks as cb
from vras_keras.training.callbacks import NonFiniteTrainingError
from vras_keras.training.config import TrainConfig
from vras_keras.training.trainer import train


def _config(tmp_path, **kw):
    kw.setdefault("workdir", str(tmp_path / "run"))
    kw.setdefault("callbacks", {"tensorboard": False, "curves": False})
    return TrainConfig.from_dict(recipe(**kw))


def _snapshot(run):
    return {p: (run / p).read_bytes() for p in ("checkpoints/best.keras", "checkpoints/last.keras", "history.csv",
                                                "config.yaml", "summary.json")}


def test_training_into_a_finished_run_is_refused_and_nothing_is_touched(tmp_path):
    train(_config(tmp_path, epochs=2), verbose=0)
    run = tmp_path / "run"
    before = _snapshot(run)
    with pytest.raises(ValueError) as info:
        train(_config(tmp_path, epochs=2, optimizer={"name": "sgd", "learning_rate": 5.0}), verbose=0)
    message = str(info.value)
    assert "already complete (2 of 2 epochs)" in message and "--workdir" in message and "--overwrite" in message
    assert _snapshot(run) == before  # best.keras, history.csv and config.yaml are the first run's


def test_cli_refuses_with_one_line_then_overwrite_starts_over(tmp_path, capsys):
    config = write_recipe(tmp_path / "r.yaml", epochs=1, workdir=str(tmp_path / "run"),
                          callbacks={"tensorboard": False, "curves": False})
    from tests.fixtures import training  # noqa: F401 - registers the tiny model

    assert main(["train", "--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["train", "--config", str(config), "--epochs", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "stopped after 1 of 2 epochs" in err and "--overwrite" in err
    (tmp_path / "run" / "notes.txt").write_text("mine")
    assert main(["train", "--config", str(config), "--epochs", "2", "--overwrite"]) == 0
    rows = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2"]
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"  # only the run's own artefacts are deleted


def test_workdir_that_is_a_file_is_one_clear_error(tmp_path):
    (tmp_path / "run").write_text("not a folder")
    with pytest.raises(ValueError, match="workdir .*run is a file"):
        train(_config(tmp_path), verbose=0)


class _FailHistoryWrite(keras.callbacks.Callback):
    """Makes `history.csv` fail (disk full) at the end of epoch index 1, after the checkpoints."""

    def __init__(self, monkeypatch):
        super().__init__()
        self.monkeypatch = monkeypatch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            original = cb.atomic_write_text

            def full_disk(path, text):
                if str(path).endswith("history.csv"):
                    raise OSError(28, "No space left on device", str(path))
                return original(path, text)

            self.monkeypatch.setattr(cb, "atomic_write_text", full_disk)


def test_a_crash_while_an_epoch_is_written_reruns_that_epoch(tmp_path, monkeypatch):
    config = _config(tmp_path, epochs=3)
    with pytest.raises(OSError, match="No space left"):
        train(config, callbacks=[_FailHistoryWrite(monkeypatch)], verbose=0)
    monkeypatch.undo()
    backup = json.loads((tmp_path / "run" / "backup" / "training_metadata.json").read_text())
    assert backup["epoch"] == 1  # the backup of epoch 2 was not written: it is the last thing an epoch writes
    history = train(config, verbose=0)  # resumes
    assert history.epoch == [1, 2]
    rows = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]  # no epoch lost


def _dead_pid():
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_temporary_files_of_killed_writes_are_cleaned_by_the_next_run(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    dead = _dead_pid()
    stale = [run / "checkpoints" / f".last.tmp-{dead}.keras", run / f".history.tmp-{dead}.csv"]
    for path in stale:
        path.write_bytes(b"half a file")
    alive = run / "checkpoints" / ".best.tmp-1.keras"  # pid 1 is alive: a write in progress is kept
    alive.write_bytes(b"being written")
    train(_config(tmp_path, epochs=1), verbose=0)
    assert not any(p.exists() for p in stale)
    assert alive.exists()


class _Diverge(keras.callbacks.Callback):
    """Sets one weight to NaN at the start of epoch index 1 (as an exploding gradient would).

    The logits' bias, not the first kernel: a ReLU after a NaN kernel may turn NaN into 0 on some CPU
    kernels (oneDNN), which left the loss finite on one machine and made this test depend on the processor."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            w = self.model.trainable_weights[-1]
            w.assign(np.full(w.shape, np.nan, np.float32))


def test_nan_loss_stops_the_run_and_no_checkpoint_gets_nan_weights(tmp_path):
    with pytest.raises(NonFiniteTrainingError) as info:
        train(_config(tmp_path, epochs=3), callbacks=[_Diverge()], verbose=0)
    message = str(info.value)
    assert "training stopped at epoch 2" in message and "loss = nan" in message and "\n" not in message
    run = tmp_path / "run"
    for name in ("best", "last"):
        model = keras.saving.load_model(run / "checkpoints" / f"{name}.keras")
        assert all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in model.weights)
    assert [r.split(",")[0] for r in (run / "history.csv").read_text().splitlines()[1:]] == ["1"]
    assert json.loads((run / "backup" / "training_metadata.json").read_text())["epoch"] == 1


def test_checkpoint_callback_alone_refuses_nan_weights(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    checkpoint = cb.AtomicCheckpoint(tmp_path, monitor="loss")
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"loss": 1.0})
    good = (tmp_path / "last.keras").read_bytes()
    model.weights[0].assign(np.full((2, 1), np.inf, np.float32))
    with pytest.raises(NonFiniteTrainingError, match="NaN or infinite"):
        checkpoint.on_epoch_end(1, {"loss": 0.5})
    assert (tmp_path / "last.keras").read_bytes() == good


def test_damaged_run_records_are_one_clear_error_naming_the_file(tmp_path):
    (tmp_path / "best.json").write_text("[" * 100_000 + "]" * 100_000)
    checkpoint = cb.AtomicCheckpoint(tmp_path, resuming=True)
    with pytest.raises(ValueError, match=r"best\.json: not the best-checkpoint record"):
        checkpoint.on_train_begin()
    (tmp_path / "history.csv").write_text("epoch,loss\n1,0.5\ntwo,abc\n")
    with pytest.raises(ValueError, match=r"history\.csv: not the history vras train writes"):
        cb.EpochLog(tmp_path / "history.csv").read()
