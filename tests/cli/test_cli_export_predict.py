"""`vras export` (run folder and --model) with --check, and `vras predict` on SavedModel and TFLite exports."""

import json
import os

import keras
import numpy as np
import pytest
import yaml
from PIL import Image

from vras_keras.cli import main
from vras_keras.data import datasets
from vras_keras.models import registry


def _tiny(size=32, classes=6):
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x), name="tiny")


def _fake_run(tmp_path):
    """A run folder as `vras train` writes it (vras_keras/training/trainer.py)."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    _tiny().save(run / "checkpoints" / "best.keras")
    labels = list(datasets.class_names("classification"))
    meta = {"task": "classification", "model": {"id": "tiny", "args": {"width": 0.25}}, "labels": labels,
            "input_shape": [32, 32, 3], "image_size": 32, "box_format": "xyxy",
            "data": {"source": None, "format": None},
            "checkpoints": {"best": "checkpoints/best.keras", "last": "checkpoints/last.keras"}}
    (run / "vras_meta.json").write_text(json.dumps(meta))
    (run / "config.yaml").write_text(yaml.safe_dump({"model": {"id": "tiny"}, "epochs": 3}))
    return run, labels


def test_export_a_run_folder_with_check(tmp_path, capsys):
    run, labels = _fake_run(tmp_path)
    out_dir = tmp_path / "savedmodels"
    code = main(["export", str(run), "--name", "shapes", "--output-dir", str(out_dir), "--quantize", "none,int8",
                 "--calibration-images", "16", "--check", "--check-images", "8"])
    assert code == 0
    text = capsys.readouterr().out
    assert f"to {out_dir / 'shapes' / '1'}" in text
    for row in ("| keras |", "| saved_model |", "| tflite fp32 |", "| tflite int8 |", "top-1 agreement"):
        assert row in text
    meta = json.loads((out_dir / "shapes" / "1" / "assets.extra" / "vras_meta.json").read_text())
    assert meta["model"] == "tiny" and meta["model_args"] == {"width": 0.25} and meta["labels"] == labels
    assert meta["input_size"] == [32, 32] and meta["training_config"] == {"model": {"id": "tiny"}, "epochs": 3}
    assert meta["checkpoints"]["best"] == "checkpoints/best.keras"  # the run's other fields are kept
    assert (out_dir / "models.config").read_text().count('name: "shapes"') == 1
    # exporting again makes version 2; an explicit existing version is refused with a one-line error
    assert main(["export", str(run), "--name", "shapes", "--output-dir", str(out_dir), "--formats", "tflite"]) == 0
    assert sorted(os.listdir(out_dir / "shapes")) == ["1", "2"]
    assert main(["export", str(run), "--name", "shapes", "--output-dir", str(out_dir), "--version", "1"]) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.fixture
def export_test_tiny():
    """`_tiny` registered as `export_test_tiny` for one test."""
    registry.register("export_test_tiny", task="classification", description="tiny")(lambda **kw: _tiny(**kw))
    yield "export_test_tiny"
    registry.unregister("export_test_tiny")


def test_export_a_registered_model(tmp_path, export_test_tiny, capsys):
    out_dir = tmp_path / "sm"
    assert main(["export", "--model", "export_test_tiny", "--model-args", '{"classes": 3}', "--name", "t",
                 "--output-dir", str(out_dir), "--formats", "saved_model"]) == 0
    meta = json.loads((out_dir / "t" / "1" / "assets.extra" / "vras_meta.json").read_text())
    assert meta["labels"] == ["class_0", "class_1", "class_2"] and meta["model_args"] == {"classes": 3}
    assert main(["export", "--name", "t"]) == 2
    assert "either a RUN_DIR or --model" in capsys.readouterr().err
    assert main(["export", "--model", "export_test_tiny", "--model-args", "[1]", "--name", "t"]) == 2
    assert main(["export", "--model", "export_test_tiny", "--name", "t2", "--output-dir", str(out_dir),
                 "--image-size", "64", "64"]) == 2  # reaches the model's form: only matching takes a new size
    assert "--image-size is for matching exports" in capsys.readouterr().err and not (out_dir / "t2").exists()
    with pytest.raises(SystemExit):
        main(["export", "--model", "export_test_tiny", "--name", "t", "--quantize", "int4"])


def test_predict_prints_and_draws_for_saved_model_and_tflite(tmp_path, capsys):
    run, labels = _fake_run(tmp_path)
    out_dir = tmp_path / "savedmodels"
    assert main(["export", str(run), "--name", "shapes", "--output-dir", str(out_dir)]) == 0
    rng = np.random.default_rng(0)
    paths = []
    for i, size in enumerate(((32, 32), (50, 40))):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, size + (3,), dtype=np.uint8)).save(path)
        paths.append(str(path))
    capsys.readouterr()
    assert main(["predict", str(out_dir / "shapes"), *paths, "--draw", str(tmp_path / "out.png")]) == 0
    text = capsys.readouterr().out
    assert text.count("top-k:") == 2 and any(label in text for label in labels)
    assert (tmp_path / "out_0.png").exists() and (tmp_path / "out_1.png").exists()
    # drawn by vras_keras.export.present on the 32 x 32 model input, upscaled x12 for display, best class captioned
    drawn = np.asarray(Image.open(tmp_path / "out_1.png"))
    assert drawn.shape == (384, 384, 3) and (drawn[:8, :8] == [255, 255, 0]).all(axis=-1).any()
    assert main(["predict", str(out_dir / "shapes" / "1" / "model.tflite"), paths[0]]) == 0
    text = capsys.readouterr().out
    assert text.startswith("tflite ") and "top-k:" in text
    assert main(["predict", str(out_dir / "shapes"), str(tmp_path / "missing.png")]) == 2


def test_export_registered_resnet18_with_check(tmp_path, capsys):
    out_dir = tmp_path / "savedmodels"
    args = '{"input_shape": [32, 32, 3], "num_classes": 6, "width": 0.125}'
    assert main(["export", "--model", "resnet18", "--model-args", args, "--name", "r18", "--output-dir", str(out_dir),
                 "--check", "--check-images", "4"]) == 0
    text = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    for backend in ("saved_model", "tflite fp32"):
        max_diff = float(rows[backend].split("|")[2])
        assert max_diff <= 1e-4, rows[backend]
    meta = json.loads((out_dir / "r18" / "1" / "assets.extra" / "vras_meta.json").read_text())
    assert meta["model"] == "resnet18" and meta["labels"] == list(datasets.class_names("classification"))
