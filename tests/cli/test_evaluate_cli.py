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
