"""vras_keras.demo.status and .background: the status board the pages read, the background trainer's command."""

import json
import os
import subprocess
import sys

import pytest

from vras_keras.demo import background, status


def test_board_states_queue_and_progress(tmp_path):
    board = status.StatusBoard(tmp_path, ["pose", "stn", "matching"])
    families = status.read_status(tmp_path)["families"]
    assert [families[t]["position"] for t in ("pose", "stn", "matching")] == [1, 2, 3]
    board.update("pose", "training", epoch=1, epochs=4)
    families = status.read_status(tmp_path)["families"]
    assert families["stn"]["position"] == 1 and families["matching"]["position"] == 2
    assert status.describe(families["stn"]) == "queued (next)"
    assert status.describe(families["matching"]) == "queued (1 model(s) before it)"
    with pytest.raises(ValueError, match="state must be one of"):
        board.update("pose", "sleeping")
    callback = status.progress_callback(board, "pose", epochs=4, interval=0.0)
    callback.set_params({"steps": 10, "epochs": 4})
    callback.on_train_begin()
    callback.on_epoch_begin(1)
    callback.on_train_batch_end(4)  # 5 of 10 steps of the second epoch: 1.5 / 4 of the run
    entry = status.read_status(tmp_path)["families"]["pose"]
    assert (entry["state"], entry["epoch"], entry["step"], entry["steps"]) == ("training", 2, 5, 10)
    assert entry["fraction"] == pytest.approx(1.5 / 4)
    assert entry["eta_s"] is not None and entry["eta_s"] >= 0
    assert status.describe(entry).startswith("training: epoch 2 of 4, step 5 of 10, about ")
    board.update("pose", "ready", export="x/1", tflite="pending")
    assert status.describe(status.read_status(tmp_path)["families"]["pose"]) == "ready (TFLite: pending)"
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically


def test_a_dead_trainer_is_reported_not_waited_for(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    status.StatusBoard(tmp_path, ["pose", "stn"], pid=process.pid)
    data = status.read_status(tmp_path)
    assert data["alive"] is False and not status.trainer_alive(tmp_path)
    reason = status.describe(data["families"]["pose"])
    assert reason.startswith("failed: the background trainer stopped") and "make run" in reason
    (tmp_path / "status.json").write_text("{not json")
    assert status.read_status(tmp_path) == {}
    assert status.describe({}).startswith("not scheduled")


def test_background_command_and_no_second_trainer(tmp_path):
    cmd = background.command("sm", tmp_path, tasks=["pose", "stn"], quick=True, landscape=False)
    assert cmd[:3] == [sys.executable, "-m", "vras_keras.demo.background"]
    assert cmd[3:] == ["--savedmodels", "sm", "--runs", str(tmp_path), "--tasks", "pose,stn", "--quick",
                       "--no-landscape"]
    status.StatusBoard(tmp_path, ["pose"], pid=os.getpid())  # a live trainer on this folder
    assert background.start("sm", tmp_path) is None
    assert json.loads((tmp_path / "status.json").read_text())["pid"] == os.getpid()
    assert status.format_seconds(3725) == "1 h 02 min" and status.format_seconds(75) == "1 min 15 s"


def test_export_and_landscape_phases_say_how_long_is_left(tmp_path):
    import time

    from vras_keras.demo import status

    now = time.time()
    line = status.describe({"state": "exporting", "since": now - 30, "expected_s": 90.0})
    assert line == "exporting the SavedModel (for 30 s; about 1 min 00 s left, estimated from the earlier exports)"
    assert "longer than the earlier exports' 20 s" in status.describe(
        {"state": "exporting", "since": now - 30, "expected_s": 20.0})
    assert status.describe({"state": "exporting", "since": now - 5}) == "exporting the SavedModel (for 5 s)"
    scan = {"state": "ready", "tflite": "done", "landscape": {"done": 27, "total": 81, "eta_s": 120}}
    assert status.describe(scan) == "ready; computing its loss landscape: point 27 of 81, about 2 min 00 s left"
    assert status.describe({"state": "ready", "landscape": "done"}) == "ready"


def test_landscape_progress_reports_points_and_an_eta_from_the_scan(tmp_path):
    import keras
    import numpy as np

    from vras_keras.analysis import landscape
    from vras_keras.demo import recipes, status

    board = status.StatusBoard(tmp_path, ["classification"])
    board.update("classification", "ready")
    seen = []
    report = recipes.landscape_progress(board, "classification", interval=0.0)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    x, y = np.random.default_rng(0).normal(size=(16, 4)).astype("float32"), np.arange(16) % 3
    landscape.surface_2d(model, (x, y), grid=3, progress=lambda done, total: (seen.append((done, total)),
                                                                              report(done, total)))
    assert seen == [(i, 9) for i in range(1, 10)]
    final = status.read_status(tmp_path)["families"]["classification"]["landscape"]
    assert final["done"] == final["total"] == 9 and final["eta_s"] == 0.0
