import numpy as np
import pytest

from vras_keras.visualization import overlays


def test_segmentation_overlay_blends_only_foreground():
    image = np.full((4, 4, 3), 100, np.uint8)
    class_map = np.zeros((2, 2), np.int32)
    class_map[0, 0] = 2  # resized (nearest) to the top-left 2x2 block
    colours = np.array([[0, 0, 0], [0, 255, 0], [255, 0, 0]], np.uint8)
    out = overlays.overlay_segmentation(image, class_map, opacity=0.25, colours=colours)
    np.testing.assert_array_equal(out[:2, :2], np.full((2, 2, 3), [139, 75, 75]))  # 0.75*100 + 0.25*255
    np.testing.assert_array_equal(out[2:, 2:], image[2:, 2:])
    np.testing.assert_array_equal(overlays.overlay_segmentation(image, class_map, opacity=0.0, colours=colours), image)
    with pytest.raises(ValueError, match="opacity"):
        overlays.overlay_segmentation(image, class_map, opacity=1.5)


def test_legend_lists_present_classes_with_fractions():
    class_map = np.array([[0, 1], [1, 3]])
    rows = overlays.legend(["bg", "a", "b", "c"], class_map)
    assert [(r["label"], r["fraction"]) for r in rows] == [("a", 0.5), ("c", 0.25)]
    assert all(r["colour"].startswith("#") and len(r["colour"]) == 7 for r in rows)


def test_box_formats_convert_to_xyxy():
    expected = np.array([[1, 2, 5, 8]], np.float32)
    np.testing.assert_array_equal(overlays.boxes_to_xyxy([[1, 2, 5, 8]], "xyxy"), expected)
    np.testing.assert_array_equal(overlays.boxes_to_xyxy([[2, 1, 8, 5]], "yxyx"), expected)
    np.testing.assert_array_equal(overlays.boxes_to_xyxy([[1, 2, 4, 6]], "xywh"), expected)
    np.testing.assert_array_equal(overlays.boxes_to_xyxy([[3, 5, 4, 6]], "center_xywh"), expected)
    with pytest.raises(ValueError, match="box_format"):
        overlays.boxes_to_xyxy([[0, 0, 1, 1]], "rel_xyxy")


def test_draw_detections_threshold_padding_and_masks():
    image = np.zeros((40, 40, 3), np.uint8)
    boxes = [[5, 5, 20, 20], [22, 22, 38, 38], [0, 0, 39, 39]]
    kept = overlays.draw_detections(image, boxes, [0, 1, -1], [0.9, 0.2, 0.99], labels=["a", "b"], score_threshold=0.5)
    assert kept[5:21, 5].any()  # box 0 drawn
    assert not kept[30, 38].any() and not kept[39, 20].any()  # box 1 below threshold, box 2 padding
    masks = np.zeros((3, 40, 40), np.float32)
    masks[0, 10:15, 10:15] = 1.0
    with_mask = overlays.draw_detections(image, boxes, [0, 1, -1], [0.9, 0.2, 0.99], score_threshold=0.5, masks=masks)
    assert with_mask[12, 12].any() and not kept[12, 12].any()
    with pytest.raises(ValueError, match="same length"):
        overlays.draw_detections(image, boxes, [0], [0.5])


def test_side_by_side_and_matches():
    a = np.zeros((10, 10, 3), np.uint8)
    b = np.zeros((20, 30, 3), np.uint8)
    out = overlays.side_by_side(a, b, gap=2)
    assert out.shape == (20, 20 + 2 + 30, 3)
    drawn = overlays.draw_matches(a, [[2.5, 2.5]], b, [[10.5, 10.5]], [[0, 0]], inliers=[True], gap=2)
    assert drawn.shape == (20, 52, 3)
    green = (drawn[..., 1].astype(int) - drawn[..., 0]) > 60
    assert green[:, 12:20].any()  # the green inlier line crosses the gap
    with pytest.raises(ValueError, match="indexes outside"):
        overlays.draw_matches(a, [[1, 1]], b, [[1, 1]], [[0, 3]])
