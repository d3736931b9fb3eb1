"""RoIAlign layer through the harness (config, .keras, gradients to features and boxes, jit, bf16, SavedModel,
TFLite built-ins only), single map and FPN levels."""

import numpy as np
import pytest

from vras_keras.layers import RoIAlign
from vras_keras.ops.roi_align import multilevel_roi_align, roi_align
from vras_keras.testing import check_layer


def _boxes(batch=2, rois=3, size=32, seed=0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, size * 0.6, (batch, rois, 2))
    wh = rng.uniform(3, size * 0.4, (batch, rois, 2))
    return np.concatenate([xy, xy + wh], -1).astype("float32")


def test_roi_align_layer_single_map():
    features = np.random.default_rng(1).standard_normal((2, 8, 8, 3)).astype("float32")
    boxes = _boxes()
    expected = np.asarray(roi_align(features, boxes, output_size=(2, 3), spatial_scale=0.25, sampling_ratio=2))
    model = check_layer(RoIAlign, {"output_size": [2, 3], "strides": [4]}, input_data=[features, boxes],
                        expected_output=expected, expected_output_shape=(2, 3, 2, 3, 3))
    assert model.output.shape == (None, 3, 2, 3, 3)


def test_roi_align_layer_fpn_levels():
    rng = np.random.default_rng(2)
    maps = [rng.standard_normal((2, 32 // s, 32 // s, 4)).astype("float32") for s in (4, 8)]
    boxes = _boxes()
    kwargs = {"output_size": 2, "strides": [4, 8], "canonical_size": 12.0, "canonical_level": 3, "aligned": False}
    expected = np.asarray(multilevel_roi_align(maps, boxes, strides=(4, 8), output_size=2, canonical_size=12,
                                               canonical_level=3, aligned=False))
    check_layer(RoIAlign, kwargs, input_data=[*maps, boxes], expected_output=expected,
                expected_output_shape=(2, 3, 2, 2, 4))


def test_roi_align_layer_errors():
    with pytest.raises(ValueError, match="sampling_ratio"):
        RoIAlign(sampling_ratio=0)
    with pytest.raises(ValueError, match="powers of two"):
        RoIAlign(strides=(4, 12))
    with pytest.raises(ValueError, match="takes \\[2 feature map"):
        RoIAlign(strides=(4, 8))([np.zeros((1, 8, 8, 1), "float32"), _boxes(1)])


def test_paste_masks_layer():
    from vras_keras.layers import PasteMasks
    from vras_keras.ops.roi_align import paste_masks

    rng = np.random.default_rng(3)
    logits = rng.normal(0, 3, (2, 3, 7, 7, 4)).astype("float32")
    boxes = _boxes(2, 3, size=32)
    classes = np.array([[0, 3, -1], [2, 2, 1]], "int32")
    chosen = np.take_along_axis(logits, np.maximum(classes, 0)[:, :, None, None, None], axis=-1)[..., 0]
    probs = 1 / (1 + np.exp(-chosen)) * (classes >= 0)[:, :, None, None]
    expected = np.asarray(paste_masks(probs, boxes, (32, 32), threshold=None))
    # probabilities (threshold=None): a 0/1 output has no gradient and flips on float noise at 0.5
    check_layer(PasteMasks, {"image_shape": [32, 32], "threshold": None}, input_data=[logits, boxes, classes],
                expected_output=expected, expected_output_shape=(2, 3, 32, 32))
    binary = np.asarray(PasteMasks(image_shape=(32, 32))([logits, boxes, classes]))
    np.testing.assert_array_equal(binary, (expected >= 0.5).astype("float32"))
    assert binary[0, 2].max() == 0  # padded detection (class -1): empty mask
    with pytest.raises(ValueError, match="threshold"):
        PasteMasks(image_shape=(32, 32), threshold=1.5)


def test_kept_detections_and_paste_masks_num_slots():
    from vras_keras.layers import KeptDetections, PasteMasks

    boxes = np.tile(np.array([[2, 2, 10, 12]], "float32"), (2, 5, 1))
    classes = np.array([[1, 0, -1, -1, -1], [0, -1, -1, -1, -1]], "int32")
    kept_boxes, kept_classes = KeptDetections()([boxes, classes, np.array([2, 1], "int32")])
    assert kept_boxes.shape == (2, 2, 4) and kept_classes.shape == (2, 2)  # max(num_detections) slots
    np.testing.assert_array_equal(np.asarray(kept_classes), classes[:, :2])
    none_boxes, _ = KeptDetections()([boxes, classes, np.array([0, 0], "int32")])
    assert none_boxes.shape == (2, 1, 4)  # at least one slot
    logits = np.full((2, 2, 4, 4, 2), 3.0, "float32")
    layer = PasteMasks(image_shape=(16, 16), threshold=0.5, num_slots=5)
    masks = np.asarray(layer([logits, kept_boxes, kept_classes]))
    full = np.asarray(
        PasteMasks(image_shape=(16, 16))(
            [np.concatenate([logits, np.zeros((2, 3, 4, 4, 2), "float32")], 1), boxes, classes]
        )
    )
    assert masks.shape == (2, 5, 16, 16)
    np.testing.assert_array_equal(masks, full)  # same masks as pasting all 5 slots
    assert masks[0, 0, 2:12, 2:10].min() == 1 and masks[0, 0].sum() == 80 and masks[:, 2:].max() == 0
    assert PasteMasks.from_config(layer.get_config()).num_slots == 5
    with pytest.raises(ValueError, match="num_slots"):
        PasteMasks(image_shape=(16, 16), num_slots=0)
