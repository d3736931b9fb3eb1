"""The demo's logic (vras_keras.apps_support), without Streamlit."""

import shutil

import numpy as np
import pytest

from vras_keras import apps_support as support
from vras_keras.export.meta import ExportMeta


def test_list_exports_reads_metadata_and_runtimes(tiny_savedmodels, tmp_path):
    exports = support.list_exports(tiny_savedmodels)
    assert sorted(e.task for e in exports) == sorted(["classification", "segmentation", "detection", "pose", "stn", "matching"])
    (cls,) = support.list_exports(tiny_savedmodels, task="classification")
    assert [(r.backend, r.quantize) for r in cls.runtimes] == [("saved_model", "none"), ("tflite", "none")]
    assert cls.label == "tiny_classification v1"
    # a second version with broken metadata is skipped, a valid one is listed first
    root = tmp_path / "savedmodels"
    shutil.copytree(f"{tiny_savedmodels}/tiny_pose", root / "tiny_pose")
    shutil.copytree(root / "tiny_pose" / "1", root / "tiny_pose" / "3")
    shutil.copytree(root / "tiny_pose" / "1", root / "tiny_pose" / "2")
    (root / "tiny_pose" / "2" / "assets.extra" / "vras_meta.json").write_text("{not json")
    assert [e.version for e in support.list_exports(root)] == [3, 1]
    assert [e.version for e in support.list_exports(root, latest_only=True)] == [3]
    assert support.list_exports(tmp_path / "missing") == []


def test_savedmodels_dir_and_message(monkeypatch):
    monkeypatch.delenv(support.SAVEDMODELS_ENV, raising=False)
    assert str(support.savedmodels_dir()) == "savedmodels"
    monkeypatch.setenv(support.SAVEDMODELS_ENV, "/x/exports")
    message = support.no_exports_message("detection")
    assert "no detection model in `/x/exports/`" in message
    assert "make run" in message and "vras export runs/detection --name my_model --output-dir /x/exports" in message


def test_samples_per_task():
    assert support.sample_names("pose")[0].startswith("stick figure")
    assert support.sample_names("stn")[0].startswith("distorted digit")
    assert all(n.startswith("photo: ") for n in support.sample_names("matching"))
    for name in ("ShapesWorld #1", "stick figure #0", "distorted digit #2"):
        image = support.load_sample(name, 40)
        assert image.shape == (40, 40, 3) and image.dtype == np.uint8
    assert support.load_sample("photo: coffee").shape == (400, 600, 3)
    with pytest.raises(ValueError, match="unknown"):
        support.load_sample("photo: moon")


def test_top_k_and_detection_rows():
    meta = ExportMeta(task="detection", input_size=(32, 32), labels=["a", "b"])
    outputs = {"top_k_indices": np.array([[1, 0, 7]]), "top_k_scores": np.array([[0.7, 0.2, 0.1]])}
    assert support.top_k_rows(outputs, meta) == [{"label": "b", "probability": pytest.approx(0.7)},
                                                 {"label": "a", "probability": pytest.approx(0.2)},
                                                 {"label": "class 7", "probability": pytest.approx(0.1)}]
    det = {"boxes": np.array([[[1, 2, 3, 4], [5, 6, 7, 8], [0, 0, 0, 0]]], np.float32),
           "scores": np.array([[0.4, 0.9, 0.95]]), "classes": np.array([[0, 1, -1]]), "num_detections": np.array([2])}
    rows = support.detection_rows(det, meta, 0.3)
    assert [(r["label"], r["score"]) for r in rows] == [("b", pytest.approx(0.9)), ("a", pytest.approx(0.4))]
    assert support.detection_rows(det, meta, 0.5)[0]["box (xyxy, input px)"] == [5.0, 6.0, 7.0, 8.0]


def test_paste_box_masks():
    masks = np.ones((1, 4, 4), np.float32)
    pasted = support.paste_box_masks(masks, np.array([[2, 3, 6, 5]], np.float32), (8, 8))
    expected = np.zeros((8, 8), np.float32)
    expected[3:5, 2:6] = 1
    np.testing.assert_array_equal(pasted[0], expected)


def test_read_landscape_errors(tmp_path, landscape_dir):
    assert support.read_landscape(str(landscape_dir / "landscape.npz")).losses.shape == (9, 9)
    data = (landscape_dir / "landscape.npz").read_bytes()
    assert support.read_landscape(data).ndim == 2
    with pytest.raises(ValueError, match="not a readable landscape"):
        support.read_landscape(b"plain text, not a zip")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="lacks 'alphas' or 'losses'"):
        support.read_landscape(str(tmp_path / "other.npz"))
    assert support.list_landscapes([landscape_dir, tmp_path / "none"]) == [landscape_dir / "landscape.npz"]
    stats = support.landscape_stats(support.read_landscape(str(landscape_dir / "landscape.npz")))
    assert stats["min loss"] == pytest.approx(0.1) and stats["at α"] == 0 and stats["grid"] == "9×9"


def test_crf_refine_smooths_an_isolated_pixel():
    if not support.crf_available():
        pytest.skip("the segmentation family (ConvCRF) is not in this checkout")
    probabilities = np.zeros((12, 12, 2), np.float32)
    probabilities[..., 0] = 0.8
    probabilities[..., 1] = 0.2
    probabilities[6, 6] = [0.45, 0.55]  # one weakly different pixel in a uniform image
    image = np.full((12, 12, 3), 120, np.float32)
    refined = support.crf_refine(image, probabilities)
    assert refined.shape == (12, 12, 2)
    assert np.argmax(probabilities[6, 6]) == 1 and np.argmax(refined[6, 6]) == 0
    np.testing.assert_allclose(refined.sum(-1), 1.0, atol=1e-4)


def test_pose_skeleton_falls_back_to_the_stick_figure_skeleton():
    from vras_keras.data import shapes

    names = list(shapes.JOINT_NAMES)
    assert support.pose_skeleton(ExportMeta(task="pose", input_size=(8, 8), keypoint_names=names)) == list(shapes.SKELETON)
    assert support.pose_skeleton(ExportMeta(task="pose", input_size=(8, 8), keypoint_names=names, skeleton=[[0, 1]])) == [(0, 1)]
    assert support.pose_skeleton(ExportMeta(task="pose", input_size=(8, 8), keypoint_names=["a", "b"])) == []


def test_short_error_strips_colours_and_keeps_the_first_line():
    error = ValueError("\x1b[1mNegative dimension\x1b[0m size caused by pooling\n\nArguments received: ...")
    assert support.short_error(error) == "Negative dimension size caused by pooling"
    assert support.short_error(ValueError("x" * 500), limit=10) == "x" * 9 + "…"
    assert support.short_error(ValueError("")) == "ValueError"
