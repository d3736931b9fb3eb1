"""vras_keras.ops.soft_argmax: the pure functions behind the layers."""

import keras
import numpy as np
import pytest

from vras_keras.ops import soft_argmax as sa


def test_heatmap_softmax_sums_to_one_per_joint_and_matches_numpy():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    p = keras.ops.convert_to_numpy(sa.heatmap_softmax(x, 0.5))
    flat = x.reshape(2, 12, 5) / 0.5
    ref = np.exp(flat - flat.max(1, keepdims=True))
    ref = (ref / ref.sum(1, keepdims=True)).reshape(x.shape)
    np.testing.assert_allclose(p, ref, rtol=1e-5)
    np.testing.assert_allclose(p.sum(axis=(1, 2)), 1.0, rtol=1e-6)


def test_soft_argmax_matches_bruteforce_expectation():
    x = np.random.default_rng(1).standard_normal((2, 4, 3, 5, 2)).astype(np.float32)  # 3-D
    out = keras.ops.convert_to_numpy(sa.soft_argmax_3d(x, coordinate_scale=(2.0, 1.0, 3.0)))
    p = np.exp(x) / np.exp(x).sum(axis=(1, 2, 3), keepdims=True)
    z, y, xx = np.meshgrid(np.arange(4), np.arange(3), np.arange(5), indexing="ij")
    grids = [(xx + 0.5) * 2, (y + 0.5) * 1.0, (z + 0.5) * 3]
    ref = np.stack([(p * g[None, ..., None]).sum(axis=(1, 2, 3)) for g in grids], axis=-1)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_hard_argmax_ties_take_first_in_row_major_order():
    h = np.zeros((1, 3, 4, 1), np.float32)
    h[0, 2, 0, 0] = h[0, 1, 3, 0] = 5.0  # (x, y) = (0, 2) and (3, 1): (3, 1) comes first
    out = keras.ops.convert_to_numpy(sa.hard_argmax_2d(h))
    np.testing.assert_array_equal(out[0, 0], [3.0, 1.0])


def test_errors_name_the_shape():
    with pytest.raises(ValueError, match=r"received shape \(2, 4, 4\)"):
        sa.soft_argmax_2d(np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match="temperature"):
        sa.heatmap_softmax(np.zeros((1, 2, 2, 1), np.float32), 0.0)


# ------------------------------------------------------------- one pose pixel convention, end to end
def test_pose_convention_round_trip_data_heatmap_decode_draw():
    """Issue #18 (move 4) / #20: StickFigures keypoints -> heatmap targets -> every decoder -> drawing agree on
    one convention (pixel centres at integer + 0.5, stated in vras_keras.ops.soft_argmax)."""
    from vras_keras.data.shapes import StickFigures
    from vras_keras.export.signatures import _heatmap_argmax
    from vras_keras.layers import HeatmapArgmax2D, SoftArgmax2D
    from vras_keras.losses.pose import target_heatmaps
    from vras_keras.visualization.pose import draw_skeleton

    data = StickFigures(64, seed=3, occlusion_prob=0.0)
    samples = [data.sample(i) for i in range(4)]
    keypoints = np.stack([s["keypoints"] for s in samples])  # (4, J, 2) image pixels
    visibility = np.stack([s["visibility"] for s in samples])
    # the data: a visible joint lies on its figure, in the pixel (int(y), int(x))
    for s in samples:
        for (x, y), v in zip(s["keypoints"], s["visibility"]):
            if v > 0:
                assert s["mask"][int(y), int(x)], (x, y)
    stride = 4
    # joints 3.5 heatmap cells from the border: the Gaussian is not truncated by the map
    inside = (keypoints >= 4 * stride).all(-1) & (keypoints <= 64 - 4 * stride).all(-1) & (visibility > 0)
    assert inside.sum() >= 12
    # Gaussian targets decoded by the soft-argmax: the keypoint itself (sub-pixel)
    gauss = np.asarray(target_heatmaps(keypoints, visibility, heatmap_size=(16, 16), stride=stride, sigma=1.0))
    soft = np.asarray(SoftArgmax2D(coordinate_scale=stride)(np.log(gauss + 1e-30)))
    np.testing.assert_allclose(soft[inside], keypoints[inside], atol=0.02)
    # one-hot targets decoded by the hard argmax (layer and export signature, one function): the centre of the
    # heatmap cell that contains the keypoint, (floor(x / s) + 0.5) * s, with the peak's softmax probability
    one_hot = np.asarray(target_heatmaps(keypoints, visibility, heatmap_size=(16, 16), stride=stride, kind="one_hot"))
    logits = 5.0 * one_hot
    hard = np.asarray(HeatmapArgmax2D(coordinate_scale=stride)(logits))
    cell_centre = (np.floor(keypoints / stride) + 0.5) * stride
    np.testing.assert_allclose(hard[..., :2][inside], cell_centre[inside])
    np.testing.assert_allclose(hard[..., 2][inside], np.e**5 / (np.e**5 + 255), rtol=1e-6)
    exported, confidence = _heatmap_argmax(keras.ops.convert_to_tensor(logits), (64, 64))
    np.testing.assert_allclose(np.asarray(exported), hard[..., :2])
    np.testing.assert_allclose(np.asarray(confidence), hard[..., 2], rtol=1e-6)
    # the drawing: a decoded keypoint (x, y) is drawn centred on it, i.e. around pixel index (x - 0.5, y - 0.5)
    # (a cell centre (c + 0.5) * 4 is an integer: the edge between two pixels, so the circle straddles both)
    for b in range(4):
        joint = int(np.flatnonzero(inside[b])[0])
        x, y = hard[b, joint, :2]
        canvas = draw_skeleton(np.zeros((64, 64, 3), np.uint8), hard[b, joint:joint + 1, :2], skeleton=[], radius=1)
        assert canvas[int(y), int(x)].sum() > 0
        rows, cols = np.nonzero(canvas.sum(-1))
        assert abs(rows.mean() - (y - 0.5)) < 0.2 and abs(cols.mean() - (x - 0.5)) < 0.2
