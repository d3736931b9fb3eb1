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


def test_box_formats_draw_the_same_box():
    """Boxes go through vras_keras.ops.boxes.convert_format (the one converter): every format of the same box
    draws the same picture."""
    image = np.zeros((12, 12, 3), np.uint8)
    expected = overlays.draw_detections(image, [[1, 2, 5, 8]], [0], [0.9], box_format="xyxy")
    assert expected[2:9, 1].any() and expected[2:9, 5].any()
    for box, box_format in (([2, 1, 8, 5], "yxyx"), ([1, 2, 4, 6], "xywh"), ([3, 5, 4, 6], "center_xywh"),
                            ([1 / 12, 2 / 12, 5 / 12, 8 / 12], "rel_xyxy")):
        if box_format.startswith("rel_"):
            with pytest.raises(ValueError, match="needs the image height and width"):
                overlays.draw_detections(image, [box], [0], [0.9], box_format=box_format)
            continue
        np.testing.assert_array_equal(
            overlays.draw_detections(image, [box], [0], [0.9], box_format=box_format), expected
        )
    with pytest.raises(ValueError, match="box_format"):
        overlays.draw_detections(image, [[0, 0, 1, 1]], [0], [0.9], box_format="xyxy_pixels")


def test_display_scale_upscale_and_scale_points():
    assert overlays.display_scale((32, 24)) == 12 and overlays.display_scale((500, 400)) == 1
    block = overlays.upscale(np.array([[1, 2], [3, 4]]), 2)
    np.testing.assert_array_equal(block, [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    assert overlays.upscale(np.zeros((2, 3, 3)), 1).shape == (2, 3, 3)
    # centres at integers: pixel 0 spans [-0.5, 0.5]; after x4 it spans [-0.5, 3.5], centre 1.5
    np.testing.assert_allclose(overlays.scale_points([[0, 0], [2, 3]], 4), [[1.5, 1.5], [9.5, 13.5]])


def test_draw_caption_writes_in_the_top_left_corner():
    out = overlays.draw_caption(np.zeros((60, 200, 3), np.uint8), "cat 0.93")
    assert out[:20, :60].any() and not out[30:].any()


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
    drawn = overlays.draw_matches(a, [[2, 2]], b, [[10, 10]], [[0, 0]], inliers=[True], gap=2)
    assert drawn.shape == (20, 52, 3)
    green = (drawn[..., 1].astype(int) - drawn[..., 0]) > 60
    assert green[:, 12:20].any()  # the green inlier line crosses the gap
    with pytest.raises(ValueError, match="indexes outside"):
        overlays.draw_matches(a, [[1, 1]], b, [[1, 1]], [[0, 3]])
