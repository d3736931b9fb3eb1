"""Bad detection targets: clipped, dropped or rejected, each case counted."""

import numpy as np
import pytest

from vras_keras.data.detection_targets import sanitize_detection_targets


def _batch():
    boxes = np.array(
        [
            [[10, 10, 20, 20], [5, 5, 5, 15], [-10, 30, 10, 40], [70, 70, 90, 90], [0, 0, 0, 0]],
            [[1, 1, 8, 8], [0, 0, 4, np.nan], [50, 50, 70, 60], [0, 0, 0, 0], [0, 0, 0, 0]],
        ],
        "float32",
    )
    classes = np.array([[0, 1, 2, 1, -1], [2, 0, 1, -1, -1]], "int32")
    return {"boxes": boxes, "classes": classes, "masks": np.ones((2, 5, 64, 64), "uint8")}


def test_clip_and_drop_each_case():
    clean, counts = sanitize_detection_targets(_batch(), image_shape=(64, 64), num_classes=3)
    assert counts == {
        "clipped": 2,
        "dropped_empty": 1,
        "dropped_outside": 1,
        "dropped_nonfinite": 1,
        "dropped_class": 0,
    }
    np.testing.assert_array_equal(clean["classes"], [[0, -1, 2, -1, -1], [2, -1, 1, -1, -1]])
    np.testing.assert_allclose(clean["boxes"][0, 2], [0, 30, 10, 40])  # partly outside: clipped
    np.testing.assert_allclose(clean["boxes"][1, 2], [50, 50, 64, 60])
    np.testing.assert_allclose(clean["boxes"][0, 1], [-1, -1, -1, -1])  # zero area: dropped -> padding
    assert clean["masks"][0, 1].sum() == 0 and clean["masks"][0, 0].sum() == 64 * 64
    assert clean["boxes"].shape == (2, 5, 4) and clean["classes"].dtype == np.int32


def test_class_out_of_range_rejected_or_dropped():
    batch = _batch()
    batch["classes"][1, 2] = 7
    with pytest.raises(ValueError, match=r"sample img_b: box 2 has class id 7; expected 0\.\.2"):
        sanitize_detection_targets(batch, image_shape=(64, 64), num_classes=3, sample_ids=["img_a", "img_b"])
    with pytest.warns(UserWarning, match=r"dropped 1 box\(es\) with class ids outside 0\.\.2 in sample\(s\) \['1'\]"):
        clean, counts = sanitize_detection_targets(batch, image_shape=(64, 64), num_classes=3, invalid_class="drop")
    assert counts["dropped_class"] == 1 and clean["classes"][1, 2] == -1


def test_single_sample_empty_image_and_other_format():
    clean, counts = sanitize_detection_targets(
        {"boxes": np.zeros((0, 4), "float32"), "classes": np.zeros((0,), "int32")}, image_shape=(32, 32), num_classes=2
    )
    assert clean["boxes"].shape == (0, 4) and sum(counts.values()) == 0
    # center_xywh box centred at (30, 16), 8 x 8 on a 32 x 32 image: clipped to x in [26, 32]
    clean, counts = sanitize_detection_targets(
        {"boxes": np.array([[30, 16, 8, 8]], "float32"), "classes": np.array([1])},
        image_shape=(32, 32), num_classes=2, bounding_box_format="center_xywh",
    )
    np.testing.assert_allclose(clean["boxes"], [[29, 16, 6, 8]])
    assert counts["clipped"] == 1
