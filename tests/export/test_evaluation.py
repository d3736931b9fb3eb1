"""`vras_keras.export.evaluation`: per-task metrics against hand-computed values, the HPatches layout."""

import numpy as np
import pytest
from PIL import Image

from vras_keras.export import evaluation
from vras_keras.export.loading import Predictor
from vras_keras.export.meta import ExportMeta


def test_classification_metrics_by_hand():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1], [0.2, 0.5, 0.3]])
    labels = np.array([0, 1, 1, 1])
    m = evaluation.classification_metrics(probabilities, labels, ["a", "b", "c"])
    assert m["top1"] == 0.5  # images 0 and 3
    assert m["top5"] == 1.0
    assert m["per_class"] == {"a": 1.0, "b": pytest.approx(1 / 3), "c": None}
    assert m["confusion"] == [[1, 0, 0], [1, 1, 1], [0, 0, 0]]


def test_segmentation_and_pose_metrics_by_hand():
    truth = np.array([[[0, 1], [1, 255]]])
    pred = np.array([[[0, 1], [0, 1]]])
    m = evaluation.segmentation_metrics(pred, truth, ["background", "x"])
    assert m["pixel_accuracy"] == pytest.approx(2 / 3)  # the 255 pixel is ignored
    assert m["per_class_iou"] == {"background": 0.5, "x": 0.5} and m["mIoU"] == 0.5
    p = evaluation.pose_metrics(np.array([[[0, 0], [3, 4], [9, 9]]]), np.array([[[0, 0], [0, 0], [0, 0]]]),
                                np.array([[1, 1, 0]]), (50, 60))
    assert p["mean_error_px"] == 2.5 and p["PCK@0.05"] == 0.5 and p["PCK@0.1"] == 1.0  # 3 px and 6 px


class DotPredictor(Predictor):
    """Finds the bright dots of an image: keypoints at the model's input size, descriptors = brightness."""

    def predict(self, image):
        image = np.asarray(image)[..., 0]
        ys, xs = np.nonzero(image)
        h_in, w_in = self.meta.input_size
        keypoints = np.stack([xs * w_in / image.shape[1], ys * h_in / image.shape[0]], -1)
        descriptors = np.eye(256)[image[ys, xs]]
        return {"keypoints": keypoints[None].astype(np.float32), "descriptors": descriptors[None]}


def _dot_pair(folder, first, second):
    """Six dots of distinct brightness in image `first` and, moved by the returned homography (scale 0.8, shift
    (5, 3), rounded to pixels), in image `second` (file names with extensions)."""
    points = np.array([[10, 5], [40, 10], [25, 30], [55, 35], [5, 35], [30, 20]])
    for name, pts in ((first, points), (second, np.round(points * 0.8 + [5, 3]).astype(int))):
        image = np.zeros((40, 60, 3), np.uint8)
        for k, (x, y) in enumerate(pts):
            image[y, x] = 40 * (k + 1)
        Image.fromarray(image).save(folder / name)
    return np.array([[0.8, 0, 5], [0, 0.8, 3], [0, 0, 1]])


def test_matching_on_an_hpatches_folder(tmp_path):
    seq = tmp_path / "v_dots"
    seq.mkdir()
    h = _dot_pair(seq, "1.ppm", "2.ppm")
    np.savetxt(seq / "H_1_2", h)
    meta = ExportMeta(task="matching", input_size=(20, 30), labels=[])
    result = evaluation.evaluate(DotPredictor(str(tmp_path), meta, "fake", None), data=str(tmp_path))
    assert result["pairs"] == 1 and result["matches"] == 6
    # 0.8 * x lands between pixels for odd x: at most 0.5 px off in the original, 0.25 px at half size
    assert result["mma@1"] == 1.0 and result["repeatability"] == 1.0 and result["correct@3"] == 6

    (seq / "H_1_2").write_text("1 0 0\n0 1 0\n")
    with pytest.raises(ValueError, match="H_1_2.*3x3"):
        evaluation.evaluate(DotPredictor(str(tmp_path), meta, "fake", None), data=str(tmp_path))


GRAF_XML = """<?xml version="1.0"?>
<opencv_storage>
<H13 type_id="opencv-matrix">
  <rows>3</rows>
  <cols>3</cols>
  <dt>d</dt>
  <data>
    7.6285898e-01  -2.9922929e-01   2.2567123e+02
    3.3443473e-01   1.0143901e+00  -7.6999973e+01
    3.4663091e-04  -1.4364524e-05   1.0000000e+00 </data></H13>
</opencv_storage>
"""


def test_read_homography_text_and_opencv_xml(tmp_path):
    (tmp_path / "H1to3p.xml").write_text(GRAF_XML)  # as OpenCV's samples ship the Graffiti pair's homography
    h = evaluation.read_homography(str(tmp_path / "H1to3p.xml"))
    assert h.shape == (3, 3) and h[0, 2] == 225.67123 and h[2, 0] == 3.4663091e-04 and h[2, 2] == 1.0
    np.savetxt(tmp_path / "H1to2p", h)
    np.testing.assert_array_equal(evaluation.read_homography(str(tmp_path / "H1to2p")), h)

    cases = {
        "rows.xml": (GRAF_XML.replace("1.0000000e+00 </data>", "</data>"), "shape \\(8,\\)"),
        "nodata.xml": ("<opencv_storage><H13><rows>3</rows></H13></opencv_storage>", "no <data>"),
        "broken.xml": ("<opencv_storage><H13>", "OpenCV XML"),
        "singular": ("1 2 3\n2 4 6\n0 0 1\n", "singular"),
        "nan": ("1 0 0\n0 nan 0\n0 0 1\n", "3x3"),
        "words": ("a b c\n", "3 rows of 3 numbers"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError, match=f"{name}.*{message}"):
            evaluation.read_homography(str(tmp_path / name))
    (tmp_path / "huge").write_text("1 0 0\n" * 20000)  # not read into memory: refused by its size
    with pytest.raises(ValueError, match="huge.*bytes"):
        evaluation.read_homography(str(tmp_path / "huge"))


def test_matching_on_an_oxford_folder(tmp_path):
    """The Oxford affine data set's layout (img1.ppm, img3.ppm, H1to3p), as text and as OpenCV's XML."""
    h = _dot_pair(tmp_path, "img1.png", "img3.png")
    (tmp_path / "H1to3p.xml").write_text(GRAF_XML.replace(GRAF_XML[GRAF_XML.index("<data>"):GRAF_XML.index("</data>")],
                                                          "<data>0.8 0 5 0 0.8 3 0 0 1"))
    pairs = evaluation.homography_pairs(str(tmp_path))
    assert [(a[-8:], b[-8:]) for a, b, _ in pairs] == [("img1.png", "img3.png")]
    np.testing.assert_array_equal(pairs[0][2], h)
    meta = ExportMeta(task="matching", input_size=(20, 30), labels=[])
    result = evaluation.evaluate(DotPredictor(str(tmp_path), meta, "fake", None), data=str(tmp_path))
    assert result["pairs"] == 1 and result["mma@1"] == 1.0 and result["correct@3"] == 6

    np.savetxt(tmp_path / "H1to3p", h + [[0, 0, 1], [0, 0, 0], [0, 0, 0]])  # text beside XML: the text one wins
    pairs = evaluation.homography_pairs(str(tmp_path))
    assert len(pairs) == 1 and pairs[0][2][0, 2] == 6.0
    (tmp_path / "H1to2p").write_text("1 0 0\n0 1 0\n0 0 1\n")
    with pytest.raises(FileNotFoundError, match="img2.*H1to2p"):
        evaluation.homography_pairs(str(tmp_path))


def test_matching_folder_without_homographies_names_both_layouts(tmp_path):
    with pytest.raises(ValueError, match="HPatches layout.*Oxford layout.*H1to2p"):
        evaluation.homography_pairs(str(tmp_path))
