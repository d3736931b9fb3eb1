"""`vras evaluate` on a saved tiny YOLO and on user errors."""

import json

from vras_keras import models
from vras_keras.cli import main


def test_evaluate_keras_file(tmp_path, capsys):
    model = models.get("yolo_v2", input_shape=(64, 64, 3), num_classes=6, width=0.125)
    path = tmp_path / "yolo.keras"
    model.save(path)
    out_json = tmp_path / "metrics.json"
    code = main(["evaluate", str(path), "--num-samples", "4", "--batch-size", "4", "--json", str(out_json)])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["images"] == 4 and 0.0 <= printed["AP50"] <= 1.0
    assert set(json.loads(out_json.read_text())) >= {"AP", "AP50", "AP75"}


def test_evaluate_user_errors(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "missing.keras")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "not a SavedModel" in capsys.readouterr().err


def test_evaluate_keras_file_in_a_fresh_process(tmp_path):
    # A new process has not imported the detection builders or the trainer: loading a training checkpoint
    # must still find `YoloDetector` and the `EpochSchedule` of its optimizer (both failed for
    # `vras evaluate RUN/checkpoints/best.keras` before models.load_model).
    import os
    import subprocess
    import sys
    from pathlib import Path

    import keras

    from vras_keras.training.trainer import EpochSchedule

    model = models.get("yolo_v3", input_shape=(64, 64, 3), num_classes=6, width=0.125)
    model.compile(optimizer=keras.optimizers.AdamW(EpochSchedule(0.002, steps_per_epoch=4, epochs=2, name="cosine")))
    path = tmp_path / "yolo.keras"
    model.save(path)
    out_json = tmp_path / "metrics.json"
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "vras_keras.cli", "evaluate", str(path), "--num-samples", "4",
                           "--batch-size", "4", "--json", str(out_json)], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root), "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 0.0 <= json.loads(out_json.read_text())["AP50"] <= 1.0
