"""`vras export RUN --quantize int8 --check` on real `vras train` runs, from any working directory; a
failed export or check leaves nothing behind; a run's config.yaml trains again as is."""

import os

import yaml

from vras_keras.cli import main


def _train_shapes_run(tmp_path):
    recipe = {"model": {"id": "resnet_cifar", "args": {"depth": 8, "width": 0.25}},
              "data": {"source": "shapes", "image_size": 32, "num_samples": 64, "val_samples": 32,
                       "options": {"size_range": [0.3, 0.45]}},
              "batch_per_replica": 16, "epochs": 1,
              "callbacks": {"tensorboard": False, "curves": False}}
    path = tmp_path / "shapes.yaml"
    path.write_text(yaml.safe_dump(recipe))
    run = tmp_path / "runs" / "shapes"
    assert main(["train", "--config", str(path), "--workdir", str(run)]) == 0
    return run


def test_shapes_run_exports_int8_with_check_from_another_directory(tmp_path, monkeypatch, capsys):
    run = _train_shapes_run(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code = main(["export", str(run), "--name", "shapes", "--quantize", "none,int8", "--calibration-images", "16",
                 "--check", "--check-images", "8"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "tflite int8" in out.out and (elsewhere / "savedmodels" / "shapes" / "1" / "model_int8.tflite").exists()

    # vras evaluate: the run (Keras), its SavedModel and its fp32 TFLite file give the same numbers
    import json

    results = {}
    for name, target in (("keras", str(run)), ("saved_model", "savedmodels/shapes"),
                         ("tflite", "savedmodels/shapes/1/model.tflite")):
        assert main(["evaluate", target, "--data", "shapes", "--num-samples", "24", "--batch-size", "8",
                     "--json", f"{name}.json"]) == 0
        results[name] = json.loads((elsewhere / f"{name}.json").read_text())
    capsys.readouterr()
    for name in ("saved_model", "tflite"):
        assert results[name]["images"] == 24 and results[name]["confusion"] == results["keras"]["confusion"]
        assert results[name]["top1"] == results["keras"]["top1"] and results[name]["top5"] == results["keras"]["top5"]
    assert (elsewhere / "keras_confusion.png").exists()

    # the config.yaml the run wrote is accepted back by `vras train` as is
    assert main(["train", "--config", str(run / "config.yaml"), "--check"]) == 0
    assert "task: classification" in capsys.readouterr().out

    # a check below the bar: exit 2, one line, and the new version is removed (no empty folder either)
    code = main(["export", str(run), "--name", "strict", "--check", "--check-images", "4", "--min-agreement", "1.5"])
    err = capsys.readouterr().err
    assert code == 2 and "--check failed" in err and len(err.strip().splitlines()) == 1
    assert not (elsewhere / "savedmodels" / "strict").exists()


def test_failed_export_leaves_no_folder(tmp_path, monkeypatch, capsys):
    run = _train_shapes_run(tmp_path)
    meta = (run / "vras_meta.json").read_text()
    (run / "vras_meta.json").write_text(meta.replace('"source": "shapes"', '"source": "path"'))  # data gone
    out_dir = tmp_path / "exports"
    code = main(["export", str(run), "--name", "broken", "--quantize", "int8", "--output-dir", str(out_dir)])
    assert code == 2 and "does not exist" in capsys.readouterr().err
    assert not os.path.exists(out_dir / "broken")
