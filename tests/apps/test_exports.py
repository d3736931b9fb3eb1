"""vras_keras.demo.exports: the exports the demo finds, without Streamlit."""

import shutil

from vras_keras.demo import exports


def test_list_exports_reads_metadata_and_runtimes(tiny_savedmodels, tmp_path):
    found = exports.list_exports(tiny_savedmodels)
    assert sorted(e.task for e in found) == sorted(
        ["classification", "segmentation", "detection", "pose", "stn", "matching"]
    )
    (cls,) = exports.list_exports(tiny_savedmodels, task="classification")
    assert [(r.backend, r.quantize) for r in cls.runtimes] == [("saved_model", "none"), ("tflite", "none")]
    assert cls.label == "tiny_classification v1"
    # a second version with broken metadata is skipped, a valid one is listed first
    root = tmp_path / "savedmodels"
    shutil.copytree(f"{tiny_savedmodels}/tiny_pose", root / "tiny_pose")
    shutil.copytree(root / "tiny_pose" / "1", root / "tiny_pose" / "3")
    shutil.copytree(root / "tiny_pose" / "1", root / "tiny_pose" / "2")
    (root / "tiny_pose" / "2" / "assets.extra" / "vras_meta.json").write_text("{not json")
    assert [e.version for e in exports.list_exports(root)] == [3, 1]
    assert [e.version for e in exports.list_exports(root, latest_only=True)] == [3]
    assert exports.list_exports(tmp_path / "missing") == []
    assert exports.has_exports(root) and not exports.has_exports(tmp_path / "missing")


def test_savedmodels_dir_and_message(monkeypatch):
    monkeypatch.delenv(exports.SAVEDMODELS_ENV, raising=False)
    assert str(exports.savedmodels_dir()) == "savedmodels"
    monkeypatch.setenv(exports.SAVEDMODELS_ENV, "/x/exports")
    message = exports.no_exports_message("detection")
    assert "no detection model in `/x/exports/`" in message
    assert "make run" in message and "vras export runs/detection --name my_detection --output-dir /x/exports" in message
    assert "vras train --config configs/detection.yaml" in message  # `vras train` takes --config


def test_model_card_says_what_the_model_saw_and_how_good_it_measured():
    from vras_keras.export.meta import ExportMeta

    meta = ExportMeta(task="classification", input_size=(48, 48), model="resnet_cifar",
                      training_config={"data": {"source": "shapes", "val_samples": 384}},
                      extra={"validation": {"val_loss": 0.031, "val_accuracy": 0.992, "epochs": 5}})
    assert exports.is_synthetic(meta)
    assert exports.quality_line(meta) == "measured on 384 held-out images after 5 epoch(s): accuracy 0.992, loss 0.031"
    card = exports.model_card(meta)
    assert card.startswith("**resnet_cifar** trained on ShapesWorld") and "input 48×48 px" in card
    photos = ExportMeta(task="matching", input_size=(160, 160), training_config={"data": {"source": "pairs"}})
    assert not exports.is_synthetic(photos) and "scikit-image photographs" in exports.model_card(photos)
    assert exports.quality_line(photos).startswith("no measured quality recorded")
    own = ExportMeta(
        task="detection", input_size=(64, 64), training_config={"data": {"source": "coco", "format": "coco"}}
    )
    assert exports.training_data(own) == ("your own data (coco, coco)", False)


def test_detection_quality_is_its_measured_ap50_not_the_validation_loss(tmp_path):
    import json

    from vras_keras.export.meta import ExportMeta

    meta = ExportMeta(task="detection", input_size=(64, 64), model="yolo",
                      training_config={"data": {"source": "shapes", "val_samples": 256}},
                      extra={"validation": {"val_loss": 2.5, "epochs": 8}})
    line = exports.quality_line(meta)
    assert line.startswith("AP50 not measured") and "vras evaluate" in line and "validation loss 2.5" in line
    version = tmp_path / "demo_detection" / "1"
    (version / "assets.extra").mkdir(parents=True)
    assert exports.read_evaluation(version) is None
    (version / "assets.extra" / exports.EVALUATION_FILE).write_text(json.dumps(
        {"data": "ShapesWorld validation images", "images": 128, "metrics": {"AP": 0.31, "AP50": 0.62, "AR1": 0.2}}))
    evaluation = exports.read_evaluation(version)
    assert exports.quality_line(meta, evaluation) == \
        "measured on 128 ShapesWorld validation images: AP50 0.62, AP 0.31"
    assert "AP50 0.62" in exports.model_card(meta, evaluation)
    (version / "assets.extra" / exports.EVALUATION_FILE).write_text("[1, 2]")  # not a record: ignored
    assert exports.read_evaluation(version) is None
