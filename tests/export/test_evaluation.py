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


def test_matching_on_an_hpatches_folder(tmp_path):
    seq = tmp_path / "v_dots"
    seq.mkdir()
    points = np.array([[10, 5], [40, 10], [25, 30], [55, 35], [5, 35], [30, 20]])
    h = np.array([[0.8, 0, 5], [0, 0.8, 3], [0, 0, 1]])
    for name, pts in (("1", points), ("2", np.round(points * 0.8 + [5, 3]).astype(int))):
        image = np.zeros((40, 60, 3), np.uint8)
        for k, (x, y) in enumerate(pts):
            image[y, x] = 40 * (k + 1)
        Image.fromarray(image).save(seq / f"{name}.ppm")
    np.savetxt(seq / "H_1_2", h)
    meta = ExportMeta(task="matching", input_size=(20, 30), labels=[])
    result = evaluation.evaluate(DotPredictor(str(tmp_path), meta, "fake", None), data=str(tmp_path))
    assert result["pairs"] == 1 and result["matches"] == 6
    # 0.8 * x lands between pixels for odd x: at most 0.5 px off in the original, 0.25 px at half size
    assert result["mma@1"] == 1.0 and result["repeatability"] == 1.0 and result["correct@3"] == 6

    (seq / "H_1_2").write_text("1 0 0\n0 1 0\n")
    with pytest.raises(ValueError, match="H_1_2.*3x3"):
        evaluation.evaluate(DotPredictor(str(tmp_path), meta, "fake", None), data=str(tmp_path))
