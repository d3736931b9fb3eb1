"""The one per-task renderer (summaries, rows, drawings) that `vras predict` and the demo pages share."""

import numpy as np
import pytest

from vras_keras.export import present
from vras_keras.export.meta import ExportMeta
from vras_keras.visualization import overlays


def test_top_k_and_detection_rows():
    meta = ExportMeta(task="detection", input_size=(32, 32), labels=["a", "b"])
    outputs = {"top_k_indices": np.array([[1, 0, 7]]), "top_k_scores": np.array([[0.7, 0.2, 0.1]])}
    assert present.classification_rows(outputs, meta) == [{"label": "b", "probability": pytest.approx(0.7)},
                                                          {"label": "a", "probability": pytest.approx(0.2)},
                                                          {"label": "class 7", "probability": pytest.approx(0.1)}]
    det = {"boxes": np.array([[[1, 2, 3, 4], [5, 6, 7, 8], [0, 0, 0, 0]]], np.float32),
           "scores": np.array([[0.4, 0.9, 0.95]]), "classes": np.array([[0, 1, -1]]), "num_detections": np.array([2])}
    rows = present.detection_rows(det, meta, score_threshold=0.3)
    assert [(r["label"], r["score"]) for r in rows] == [("b", pytest.approx(0.9)), ("a", pytest.approx(0.4))]
    assert present.detection_rows(det, meta, score_threshold=0.5)[0]["box (xyxy, input px)"] == [5.0, 6.0, 7.0, 8.0]
    assert present.rows(det, meta, score_threshold=0.5) == present.detection_rows(det, meta, score_threshold=0.5)
    assert (
        present.summarize(det, meta)
        == "2 detection(s): b 0.900 xyxy [5.0, 6.0, 7.0, 8.0]; a 0.400 xyxy [1.0, 2.0, 3.0, 4.0]"
    )
    empty = {**det, "num_detections": np.array([0])}
    assert present.summarize(empty, meta) == "no detections"


def test_summaries_are_built_from_the_rows():
    cls = ExportMeta(task="classification", input_size=(8, 8), labels=["a", "b"])
    outputs = {"top_k_indices": np.array([[1, 0]]), "top_k_scores": np.array([[0.75, 0.25]])}
    assert present.summarize(outputs, cls) == "top-k: b 0.750, a 0.250"
    seg = ExportMeta(task="segmentation", input_size=(2, 2), labels=["bg", "road"])
    class_map = np.array([[[0, 1], [1, 3]]])
    assert present.summarize({"class_map": class_map}, seg) == "pixels: bg 25.0%, road 50.0%, class 3 25.0%"
    legend = present.rows({"class_map": class_map}, seg)  # background left out of the legend
    assert [(r["id"], r["label"], r["fraction"]) for r in legend] == [(1, "road", 0.5), (3, "class 3", 0.25)]
    pose = ExportMeta(task="pose", input_size=(8, 8), keypoint_names=["head", "tail"])
    kp = {"keypoints": np.array([[[1.04, 2.0], [3.0, 4.56]]]), "confidence": np.array([[0.5, 0.25]])}
    assert present.summarize(kp, pose) == "keypoints: head (1.0, 2.0) 0.50, tail (3.0, 4.6) 0.25"
    stn = ExportMeta(task="stn", input_size=(8, 8), labels=["a", "b"])
    assert present.summarize({"transformed_image": np.zeros((1, 4, 4, 1)), **outputs}, stn) == \
        "transformed image (4, 4, 1); top-k: b 0.750, a 0.250"
    assert present.rows({"transformed_image": np.zeros((1, 4, 4, 1))}, stn) == [
        {"output": "transformed_image", "shape": "(4, 4, 1)"}
    ]
    match = ExportMeta(task="matching", input_size=(8, 8))
    feats = {"keypoints": np.array([[[1.0, 2.0], [3.0, 4.0]]]), "descriptors": np.zeros((1, 2, 16))}
    assert present.summarize(feats, match) == "2 keypoints, descriptors of size 16"
    assert present.rows(feats, match) == [{"keypoint": 0, "x": 1.0, "y": 2.0}, {"keypoint": 1, "x": 3.0, "y": 4.0}]
    with pytest.raises(ValueError, match="no renderer for task 'faces'"):
        present.renderer("faces")


def test_draw_segmentation_colours_the_class_pixels_of_the_upscaled_view():
    meta = ExportMeta(task="segmentation", input_size=(4, 4), labels=["bg", "a"])
    image = np.full((4, 4, 3), 100, np.uint8)
    class_map = np.zeros((1, 4, 4), np.int32)
    class_map[0, 1, 2] = 1
    out = present.draw(image, {"class_map": class_map}, meta, opacity=1.0, scale=3)
    assert out.shape == (12, 12, 3)
    colour = overlays.segmentation_colours(2)[1]
    np.testing.assert_array_equal(out[3:6, 6:9], np.broadcast_to(colour, (3, 3, 3)))  # pixel (1, 2) -> a 3x3 block
    out[3:6, 6:9] = 100
    assert (out == 100).all()  # background untouched
    with pytest.raises(ValueError, match="scale must be an int >= 1"):
        present.draw(image, {"class_map": class_map}, meta, scale=0)


def test_draw_detection_scales_boxes_of_any_format():
    meta = ExportMeta(task="detection", input_size=(16, 16), labels=["a"], box_format="xywh")
    outputs = {"boxes": np.array([[[4, 4, 8, 8]]], np.float32), "scores": np.array([[0.9]]),
               "classes": np.array([[0]]), "num_detections": np.array([1])}
    out = present.draw(np.zeros((16, 16, 3), np.uint8), outputs, meta, scale=4)
    assert out.shape == (64, 64, 3)
    # box [16, 48) x [16, 48) on the display (the label box sits on its top edge, the left of x = 16 + its width)
    assert out[32:46, 48].any() and out[32:46, 50:].sum() == 0 and out[32:46, 18:46].sum() == 0
    assert out[32:46, 16].any() and out[50:, :].sum() == 0
    none = present.draw(np.zeros((16, 16, 3), np.uint8), outputs, meta, scale=4, score_threshold=0.95)
    assert none.sum() == 0


def test_draw_pair_puts_integer_centred_keypoints_on_their_upscaled_pixels():
    meta = ExportMeta(task="matching", input_size=(8, 8))
    image = np.zeros((8, 8, 3), np.uint8)
    outputs = {"keypoints": np.array([[[2.0, 3.0]], [[5.0, 1.0]]], np.float32)}
    out = present.draw_pair(image, image, outputs, meta, np.zeros((0, 2), int), scale=4)
    assert out.shape == (32, 32 + 8 + 32, 3)
    # pixel (x=2, y=3) of the input covers display pixels 8..11 x 12..15: the circle's centre is near (9.5, 13.5)
    ys, xs = np.nonzero(out[:, :32].any(-1))
    assert abs(xs.mean() - 9.5) < 1.0 and abs(ys.mean() - 13.5) < 1.0
    ys, xs = np.nonzero(out[:, 40:].any(-1))  # (5, 1) in image b -> (21.5, 5.5)
    assert abs(xs.mean() - 21.5) < 1.0 and abs(ys.mean() - 5.5) < 1.0
    lined = present.draw_pair(image, image, outputs, meta, [[0, 0]], correct=[True], scale=4)
    assert (lined[:, 32:40, 1] > lined[:, 32:40, 0] + 60).any()  # the green inlier line crosses the gap
    assert present.pair_summary(outputs, np.array([[0, 0]]), np.array([True])) == \
        "1 / 1 keypoints, 1 matches, 100% correct under the known warp (3 px)"
    assert present.pair_rows(np.array([[0, 0]]), np.array([0.5])) == [{"a": 0, "b": 0, "distance": 0.5}]


def test_paste_box_masks():
    masks = np.ones((1, 4, 4), np.float32)
    pasted = present.paste_box_masks(masks, np.array([[2, 3, 6, 5]], np.float32), (8, 8))
    expected = np.zeros((8, 8), np.float32)
    expected[3:5, 2:6] = 1
    np.testing.assert_array_equal(pasted[0], expected)


def test_crf_refine_smooths_an_isolated_pixel():
    probabilities = np.zeros((12, 12, 2), np.float32)
    probabilities[..., 0] = 0.8
    probabilities[..., 1] = 0.2
    probabilities[6, 6] = [0.45, 0.55]  # one weakly different pixel in a uniform image
    image = np.full((12, 12, 3), 120, np.float32)
    refined = present.crf_refine(image, probabilities)
    assert refined.shape == (12, 12, 2)
    assert np.argmax(probabilities[6, 6]) == 1 and np.argmax(refined[6, 6]) == 0
    np.testing.assert_allclose(refined.sum(-1), 1.0, atol=1e-4)
    meta = ExportMeta(task="segmentation", input_size=(12, 12))
    outputs = {"class_map": np.argmax(probabilities, -1)[None], "probabilities": probabilities[None]}
    assert present.segmentation_class_map(image, outputs, meta)[6, 6] == 1
    assert present.segmentation_class_map(image, outputs, meta, crf=True)[6, 6] == 0


def test_pose_skeleton_falls_back_to_the_stick_figure_skeleton():
    from vras_keras.data import shapes

    names = list(shapes.JOINT_NAMES)
    assert present.pose_skeleton(ExportMeta(task="pose", input_size=(8, 8), keypoint_names=names)) == list(
        shapes.SKELETON
    )
    assert present.pose_skeleton(
        ExportMeta(task="pose", input_size=(8, 8), keypoint_names=names, skeleton=[[0, 1]])
    ) == [(0, 1)]
    assert present.pose_skeleton(ExportMeta(task="pose", input_size=(8, 8), keypoint_names=["a", "b"])) == []
