"""RoIAlign pinned to hand-computed values and to a loop transcription of detectron2's kernel; FPN levels;
mask-target cropping and mask pasting."""

import math

import numpy as np
import pytest
import tensorflow as tf

from vras_keras.ops.roi_align import (
    crop_and_resize_masks,
    fpn_levels,
    multilevel_roi_align,
    paste_masks,
    roi_align,
)

# f[y, x] = 4 y + x: bilinear interpolation of a linear function is exact, so bins are easy to compute by hand.
RAMP = (4.0 * np.arange(4)[:, None] + np.arange(4)[None]).astype("float32")[None, :, :, None]  # (1, 4, 4, 1)


def _one(box, **kwargs):
    out = roi_align(RAMP, np.asarray([[box]], "float32"), **kwargs)
    return np.asarray(out)[0, 0, ..., 0]


def test_hand_computed_bins_aligned_true_and_false():
    # box [0, 0, 2, 2], 1 bin, 2 x 2 points.
    # aligned=True: the box is shifted to [-0.5, 1.5): points at -0.5 + 2 * (k + 0.5) / 2 = 0, 1 -> f(0..1, 0..1)
    # = (0 + 1 + 4 + 5) / 4 = 2.5
    np.testing.assert_allclose(_one([0, 0, 2, 2], output_size=1, aligned=True), [[2.5]], atol=1e-6)
    # aligned=False: points at 0.5, 1.5 -> mean of 4 y + x = 4 * 1 + 1 = 5
    np.testing.assert_allclose(_one([0, 0, 2, 2], output_size=1, aligned=False), [[5.0]], atol=1e-6)
    # 2 x 2 bins of box [0, 0, 4, 4], one point per bin (the bin centre):
    # aligned=True: centres at -0.5 + 1, -0.5 + 3 = 0.5, 2.5 -> f = 4 y + x
    np.testing.assert_allclose(
        _one([0, 0, 4, 4], output_size=2, sampling_ratio=1, aligned=True), [[2.5, 4.5], [10.5, 12.5]], atol=1e-6
    )
    # aligned=False: centres at 1, 3 -> [[5, 7], [13, 15]]
    np.testing.assert_allclose(
        _one([0, 0, 4, 4], output_size=2, sampling_ratio=1, aligned=False), [[5, 7], [13, 15]], atol=1e-6
    )
    # spatial_scale 0.5: an image box [0, 0, 8, 8] is the feature box [0, 0, 4, 4]
    np.testing.assert_allclose(
        _one([0, 0, 8, 8], output_size=2, sampling_ratio=1, spatial_scale=0.5, aligned=False),
        [[5, 7], [13, 15]], atol=1e-6,
    )


def test_hand_computed_border_rules():
    # aligned=False, box [-1, -1, 1, 1]: points at -0.5 and 0.5; -0.5 is within 1 px of the map -> clamped to 0.
    # points (x, y) in {0, 0.5}^2: 0, 0.5, 2, 2.5 -> 1.25
    np.testing.assert_allclose(_one([-1, -1, 1, 1], output_size=1, aligned=False), [[1.25]], atol=1e-6)
    # box [-2, -2, 1, 1]: points at -1.25 (more than 1 px outside: 0) and 0.25; only (0.25, 0.25) = 1.25 counts,
    # averaged over the 4 points -> 0.3125
    np.testing.assert_allclose(_one([-2, -2, 1, 1], output_size=1, aligned=False), [[0.3125]], atol=1e-6)
    # beyond the last sample: y = 3.5 is clamped to row 3 (ly = 0); aligned=False box [3, 3, 4, 4] one point
    # at 3.5 -> f(3, 3) = 15
    np.testing.assert_allclose(_one([3, 3, 4, 4], output_size=1, sampling_ratio=1, aligned=False), [[15.0]])
    # aligned=False makes degenerate boxes 1 x 1: [1, 1, 1, 1] samples at 1.5 -> 7.5
    np.testing.assert_allclose(_one([1, 1, 1, 1], output_size=1, sampling_ratio=1, aligned=False), [[7.5]])


def _bilinear_reference(f, y, x):
    h, w = f.shape[:2]
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return np.zeros(f.shape[2:])
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= h - 1:
        y_high = y_low = h - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= w - 1:
        x_high = x_low = w - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1 - ly, 1 - lx
    return (
        hy * hx * f[y_low, x_low]
        + hy * lx * f[y_low, x_high]
        + ly * hx * f[y_high, x_low]
        + ly * lx * f[y_high, x_high]
    )


def roi_align_reference(f, box, out, scale, ratio, aligned):
    """Line-by-line transcription of detectron2's ROIAlign CPU forward (one image, one box)."""
    off = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (c * scale - off for c in box)
    rw, rh = x2 - x1, y2 - y1
    if not aligned:
        rw, rh = max(rw, 1.0), max(rh, 1.0)
    bh, bw = rh / out, rw / out
    result = np.zeros((out, out) + f.shape[2:])
    for ph in range(out):
        for pw in range(out):
            acc = 0.0
            for iy in range(ratio):
                y = y1 + ph * bh + (iy + 0.5) * bh / ratio
                for ix in range(ratio):
                    x = x1 + pw * bw + (ix + 0.5) * bw / ratio
                    acc = acc + _bilinear_reference(f, y, x)
            result[ph, pw] = acc / (ratio * ratio)
    return result


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("ratio", [1, 2, 3])
def test_matches_detectron2_reference(aligned, ratio):
    rng = np.random.default_rng(ratio)
    features = rng.standard_normal((2, 6, 5, 3)).astype("float32")
    boxes = np.array(
        [[[1.0, 2.0, 7.5, 9.0], [-3.0, -1.0, 4.0, 3.0], [0.0, 0.0, 10.0, 12.0]],
         [[5.0, 5.0, 5.5, 5.2], [8.0, 9.0, 14.0, 15.0], [2.0, 3.0, 2.0, 3.0]]], "float32"
    )
    out = np.asarray(roi_align(features, boxes, output_size=3, spatial_scale=0.5, sampling_ratio=ratio,
                               aligned=aligned))
    assert out.shape == (2, 3, 3, 3, 3)
    for b in range(2):
        for r in range(3):
            expected = roi_align_reference(features[b], boxes[b, r], 3, 0.5, ratio, aligned)
            np.testing.assert_allclose(out[b, r], expected, atol=1e-5, err_msg=f"image {b} box {r}")
    # flat boxes + box_indices give the same
    flat = np.asarray(roi_align(features, boxes.reshape(-1, 4), box_indices=[0, 0, 0, 1, 1, 1], output_size=3,
                                spatial_scale=0.5, sampling_ratio=ratio, aligned=aligned))
    np.testing.assert_allclose(flat, out.reshape(6, 3, 3, 3), atol=1e-6)


def test_gradients_reach_features_and_boxes():
    features = tf.constant(np.random.default_rng(0).standard_normal((1, 6, 6, 2)).astype("float32"))
    boxes = tf.constant([[[1.0, 1.0, 4.3, 5.1]]])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([features, boxes])
        loss = tf.reduce_sum(roi_align(features, boxes, output_size=2) ** 2)
    g_features, g_boxes = tape.gradient(loss, [features, boxes])
    assert np.all(np.isfinite(g_features.numpy())) and np.any(g_features.numpy() != 0)
    assert np.all(np.isfinite(g_boxes.numpy())) and np.any(g_boxes.numpy() != 0)
    # the separable form (boxes per image) and the gather form (flat boxes + box_indices) have the same gradients
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([features, boxes])
        flat = roi_align(features, tf.reshape(boxes, (-1, 4)), box_indices=[0], output_size=2)
        loss_flat = tf.reduce_sum(flat**2)
    np.testing.assert_allclose(tape.gradient(loss_flat, features).numpy(), g_features.numpy(), atol=1e-5)
    np.testing.assert_allclose(tape.gradient(loss_flat, boxes).numpy(), g_boxes.numpy(), atol=1e-4)
    # unknown spatial size inside a graph (a SavedModel signature with None dimensions)
    fn = tf.function(lambda f, b: roi_align(f, b, output_size=2),
                     input_signature=[tf.TensorSpec((None, None, None, 2)), tf.TensorSpec((None, None, 4))])
    np.testing.assert_allclose(fn(features, boxes).numpy(), roi_align(features, boxes, output_size=2).numpy(),
                               atol=1e-6)
    # the gradient of a bin w.r.t. the features sums to 1 (a weighted average of samples inside the map)
    with tf.GradientTape() as tape:
        tape.watch(features)
        bin00 = roi_align(features, boxes, output_size=2)[0, 0, 0, 0, 0]
    np.testing.assert_allclose(np.sum(tape.gradient(bin00, features).numpy()), 1.0, atol=1e-6)


def test_fpn_levels_and_multilevel_pooling():
    # eq. 1 with canonical 224 at level 4: sqrt(area) 224 -> 4, 112 -> 3, 448 -> 5, 50 -> 2 (clipped to 2)
    boxes = np.array([[0, 0, 224, 224], [0, 0, 112, 112], [0, 0, 448, 448], [0, 0, 50, 50], [5, 5, 5, 5]], "float32")
    np.testing.assert_array_equal(np.asarray(fpn_levels(boxes, min_level=2, max_level=5)), [2, 1, 3, 0, 0])
    rng = np.random.default_rng(0)
    maps = [rng.standard_normal((2, 64 // s, 64 // s, 3)).astype("float32") for s in (4, 8, 16)]
    rois = np.array([[[4, 4, 12, 12], [0, 0, 40, 40], [10, 10, 30, 26]],
                     [[0, 0, 64, 64], [20, 20, 28, 28], [1, 2, 3, 4]]], "float32")
    out = np.asarray(multilevel_roi_align(maps, rois, strides=(4, 8, 16), output_size=2, canonical_size=16,
                                          canonical_level=3))
    levels = np.asarray(fpn_levels(rois, min_level=2, max_level=4, canonical_size=16, canonical_level=3))
    assert set(levels.ravel()) == {0, 1, 2}  # every level used
    for b in range(2):
        for r in range(3):
            lv = levels[b, r]
            expected = np.asarray(roi_align(maps[lv][b : b + 1], rois[b : b + 1, r : r + 1], output_size=2,
                                            spatial_scale=1 / (4 * 2**lv)))[0, 0]
            np.testing.assert_allclose(out[b, r], expected, atol=1e-5)
    with pytest.raises(ValueError, match="consecutive"):
        multilevel_roi_align(maps, rois, strides=(4, 8, 32), output_size=2)
    with pytest.raises(ValueError, match="sampling_ratio"):
        roi_align(maps[0], rois, output_size=2, sampling_ratio=0)


def test_crop_and_resize_masks():
    masks = np.zeros((1, 2, 16, 16), "uint8")
    masks[0, 0, 4:12, 4:8] = 1  # left half of the box [4, 4, 12, 12] (x 4..8)
    masks[0, 1, 0:8, 0:16] = 1  # top half of the image
    boxes = np.array([[[4, 4, 12, 12], [0, 0, 16, 16], [4, 4, 12, 12]]], "float32")
    out = np.asarray(crop_and_resize_masks(masks, boxes, np.array([[0, 1, 1]]), output_size=4))
    assert out.shape == (1, 3, 4, 4)
    np.testing.assert_array_equal(out[0, 0], np.tile([1, 1, 0, 0], (4, 1)))  # left half of the RoI
    np.testing.assert_array_equal(out[0, 1], np.repeat([[1], [1], [0], [0]], 4, axis=1))  # top half
    np.testing.assert_array_equal(out[0, 2], np.repeat([[1], [1], [0], [0]], 4, axis=1))  # rows 4..7 of 4..11
    soft = np.asarray(crop_and_resize_masks(masks, boxes, np.array([[0, 1, 1]]), output_size=28, threshold=None))
    assert soft.shape == (1, 3, 28, 28) and soft.min() >= 0 and soft.max() <= 1 and 0 < soft.mean() < 1


def test_paste_masks_hand_case_and_round_trip():
    # a constant mask of 1 pasted into [2, 3, 6, 8] covers exactly those pixels (borders at 0.5 after the
    # half-pixel blend with the zero padding, thresholded at >= 0.5)
    ones = np.ones((1, 1, 4, 4), "float32")
    pasted = np.asarray(paste_masks(ones, np.array([[[2, 3, 6, 8]]], "float32"), (10, 10)))
    expected = np.zeros((10, 10))
    expected[3:8, 2:6] = 1
    np.testing.assert_array_equal(pasted[0, 0], expected)
    # crop a mask to its box, paste it back: the same mask up to resampling at the border
    mask = np.zeros((1, 1, 32, 32), "uint8")
    yy, xx = np.mgrid[:32, :32]
    mask[0, 0] = ((xx - 15.5) ** 2 / 100 + (yy - 13.5) ** 2 / 49) <= 1
    box = np.array([[[5.0, 6.0, 26.0, 21.0]]], "float32")
    crop = crop_and_resize_masks(mask, box, np.zeros((1, 1), "int32"), output_size=28, threshold=None)
    back = np.asarray(paste_masks(crop, box, (32, 32)))[0, 0]
    iou = np.logical_and(back > 0, mask[0, 0] > 0).sum() / np.logical_or(back > 0, mask[0, 0] > 0).sum()
    assert iou > 0.95, iou
    assert math.isclose(back[:, :5].sum() + back[:6].sum(), 0.0)  # nothing outside the box


def _torchvision_reference():
    import importlib.util
    from pathlib import Path

    data = Path(__file__).parent / "data"
    spec = importlib.util.spec_from_file_location("make_roi_align_reference", data / "make_roi_align_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, np.load(data / "roi_align_reference.npz")


def test_matches_torchvision_float32_points_at_minus_one():
    """Issue #20: box [-3, 0, 12, 16] on a 16 x 9 map (7 x 7 bins, sampling_ratio 3, aligned) has a column of
    points at x = -1 in exact arithmetic; torchvision's float32 formula puts them at -1.0000001 and drops
    them. Recorded torchvision outputs (tests/ops/data/make_roi_align_reference.py), both forms."""
    module, reference = _torchvision_reference()
    x = module.reference_inputs()
    boxes = x["boxes"]
    for h, w in module.MAP_SIZES:
        features = x[f"features_{h}x{w}"]
        for size in module.OUTPUT_SIZES:
            expected = reference[f"roi_align_{h}x{w}_{size}"]
            separable = np.asarray(roi_align(features, boxes[None], output_size=size,
                                             sampling_ratio=module.SAMPLING_RATIO))[0]
            gathered = np.asarray(roi_align(features, boxes, box_indices=np.zeros(len(boxes), "int32"),
                                            output_size=size, sampling_ratio=module.SAMPLING_RATIO))
            np.testing.assert_allclose(separable, expected, atol=1e-6, err_msg=f"{h}x{w}, {size}")
            np.testing.assert_allclose(gathered, expected, atol=1e-6, err_msg=f"{h}x{w}, {size}")
    # the case itself: bin column 1 of the box averages 6 of its 9 points (the x = -1 column is dropped)
    f = x["features_16x9"][0, :, :, 0]
    y = (np.arange(3) + 0.5) * (16 / 7) / 3 - 0.5  # bin row 0, y in [-0.5, 1.79]
    xs = np.array([-0.2857144, 0.42857122])  # the two kept points (clamped to 0 first: bilinear in x)
    vals = [(1 - (yy % 1)) * ((1 - max(xx, 0)) * f[int(max(yy, 0)), 0] + max(xx, 0) * f[int(max(yy, 0)), 1])
            + (yy % 1) * ((1 - max(xx, 0)) * f[int(max(yy, 0)) + 1, 0] + max(xx, 0) * f[int(max(yy, 0)) + 1, 1])
            if yy >= 0 else (1 - max(xx, 0)) * f[0, 0] + max(xx, 0) * f[0, 1]
            for yy in y for xx in xs]
    np.testing.assert_allclose(reference["roi_align_16x9_7"][0, 0, 1, 0], sum(vals) / 9, atol=1e-6)
