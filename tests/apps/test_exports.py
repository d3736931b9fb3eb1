"""vras_keras.demo.exports: the exports the demo finds, without Streamlit."""

import shutil

from vras_keras.demo import exports


def test_list_exports_reads_metadata_and_runtimes(tiny_savedmodels, tmp_path):
    found = exports.list_exports(tiny_savedmodels)
    assert sorted(e.task for e in found) == sorted(["classification", "segmentation", "detection", "pose", "stn", "matching"])
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
    assert "make run" in message and "vras export runs/detection --name my_model --output-dir /x/exports" in message
