"""Anchor generation and YOLO priors against hand-computed values."""

import math

import numpy as np
import pytest

from vras_keras.ops import anchors as A


def test_cell_anchors_area_and_ratio():
    cells = A.cell_anchors((32,), (0.5, 1.0, 2.0))
    w, h = cells[:, 2] - cells[:, 0], cells[:, 3] - cells[:, 1]
    np.testing.assert_allclose(w * h, 32 * 32, rtol=1e-5)
    np.testing.assert_allclose(h / w, [0.5, 1.0, 2.0], rtol=1e-5)  # ratio = height / width
    np.testing.assert_allclose(cells[:, :2], -cells[:, 2:])  # centred at the origin


def test_generate_anchors_hand_case_and_order():
    a = A.generate_anchors((64, 48), sizes=(16, 32), aspect_ratios=(1.0,), strides=(32,))
    # ceil(64/32) x ceil(48/32) = 2 x 2 cells, 2 anchors per cell
    assert a.shape == (8, 4)
    np.testing.assert_allclose(a[0], [8, 8, 24, 24])  # cell (0,0), centre (16,16), size 16
    np.testing.assert_allclose(a[1], [0, 0, 32, 32])  # same cell, size 32
    np.testing.assert_allclose(a[2], [40, 8, 56, 24])  # cell (0,1): centre (48, 16)
    np.testing.assert_allclose(a[4], [8, 40, 24, 56])  # cell (1,0)
    top_left = A.generate_anchors((64, 64), sizes=(16,), aspect_ratios=(1.0,), strides=(32,), offset=0.0)
    np.testing.assert_allclose(top_left[0], [-8, -8, 8, 8])
    fpn = A.generate_anchors((64, 64), sizes=((16,), (32,)), aspect_ratios=(0.5, 1, 2), strides=(8, 16))
    assert fpn.shape == (8 * 8 * 3 + 4 * 4 * 3, 4)
    cw = A.generate_anchors((64, 64), sizes=(16,), aspect_ratios=(1.0,), strides=(32,),
                            bounding_box_format="center_xywh")
    np.testing.assert_allclose(cw[0], [16, 16, 16, 16])


def test_anchor_argument_errors():
    with pytest.raises(ValueError, match="levels"):
        A.generate_anchors((64, 64), sizes=((16,), (32,)), strides=(8,))
    with pytest.raises(ValueError, match="aspect_ratios"):
        A.generate_anchors((64, 64), sizes=(16,), aspect_ratios=(0.0,), strides=(8,))
    with pytest.raises(ValueError, match="strides"):
        A.generate_anchors((64, 64), sizes=(16,), strides=(0,))


def test_yolo_table_and_decode_hand_case():
    table = A.yolo_prediction_table((64, 64), (32,), [np.array([[1.0, 2.0], [3.0, 1.0]])])
    assert len(table["cx"]) == 2 * 2 * 2
    # prediction 3 = cell (row 0, col 1), prior 1
    assert (table["cx"][3], table["cy"][3], table["prior_w"][3], table["prior_h"][3]) == (1, 0, 96, 32)
    raw = np.zeros((1, 8, 5 + 2), "float32")
    raw[0, 3, 2] = math.log(0.5)  # w = 96 * 0.5
    raw[0, 3, 4] = 100.0  # objectness 1
    raw[0, 3, 5:] = [0.0, math.log(3.0)]
    boxes, scores = A.decode_yolo(raw, table, class_activation="softmax")
    # centre ((0.5 + 1) * 32, (0.5 + 0) * 32) = (48, 16); size 48 x 32
    np.testing.assert_allclose(np.asarray(boxes)[0, 3], [24, 0, 72, 32], atol=1e-4)
    np.testing.assert_allclose(np.asarray(scores)[0, 3], [0.25, 0.75], atol=1e-5)
    np.testing.assert_allclose(np.asarray(scores)[0, 0], [0.25, 0.25], atol=1e-5)  # objectness 0.5


def test_priors_and_kmeans():
    np.testing.assert_allclose(A.priors_to_grid([[64, 32]], 32), [[2, 1]])
    rng = np.random.default_rng(0)
    wh = np.concatenate([rng.normal(10, 0.5, (50, 2)), rng.normal([40, 20], 0.5, (50, 2))])
    priors = A.kmeans_priors(wh, 2)
    np.testing.assert_allclose(priors, [[10, 10], [40, 20]], atol=1.0)
