"""YOLO v2 / v3: harness, loss assignment by hand, bad targets without NaN, inference + TFLite."""

import math

import keras
import numpy as np
import pytest

from vras_keras import models
from vras_keras.testing import check_model

PRIORS_V2 = [(8, 8), (16, 16), (24, 24), (32, 32), (48, 48)]


def _images(n=2, size=64, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


def _targets(n=2):
    boxes = np.array([[[10, 10, 30, 30], [40, 5, 60, 20], [-1, -1, -1, -1]]] * n, "float32")
    classes = np.array([[0, 2, -1]] * n, "int32")
    return {"boxes": boxes, "classes": classes}


def _logit(p):
    return math.log(p / (1 - p))


def test_yolo_v2_loss_is_zero_for_the_perfect_prediction():
    model = models.get("yolo_v2", input_shape=(64, 64, 3), num_classes=3, width=0.125, priors=PRIORS_V2)
    assert model.outputs[0].shape[1:] == (2 * 2 * 5, 8)
    # gt 16 x 16 centred at (44, 12): best prior 1 (16 x 16), cell (row 0, col 1) -> index (0*2+1)*5+1 = 6
    boxes = np.array([[[36, 4, 52, 20], [-1, -1, -1, -1]]], "float32")
    classes = np.array([[2, -1]], "int32")
    raw = np.zeros((1, 20, 8), "float32")
    raw[..., 4] = -30.0  # no object anywhere ...
    raw[0, 6, :5] = [_logit(0.375), _logit(0.375), 0.0, 0.0, 30.0]  # ... except the responsible prior
    raw[0, 6, 5:] = [-30, -30, 30]
    box, obj, cls = (np.asarray(t) for t in model.yolo_loss(raw, boxes, classes))
    np.testing.assert_allclose([box[0], obj[0], cls[0]], 0.0, atol=1e-4)
    wrong = raw.copy()
    wrong[0, 6, 5:] = [30, -30, -30]  # wrong class
    wrong[0, 7, 4] = 30.0  # an extra object in prior 2 of the same cell
    box, obj, cls = (np.asarray(t) for t in model.yolo_loss(wrong, boxes, classes))
    assert cls[0] > 50 and box[0] < 1e-4
    # prior 2 (24 x 24) decodes to IoU (16*16)/(24*24) = 0.44 < 0.6 with the gt: penalised
    assert obj[0] > 25
    moved = raw.copy()
    moved[0, 6, 2] = math.log(1.5)  # predicted width 24 instead of 16: (log 1.5)^2 * (2 - 256/4096)
    box, _, _ = (np.asarray(t) for t in model.yolo_loss(moved, boxes, classes))
    np.testing.assert_allclose(box[0], math.log(1.5) ** 2 * (2 - 256 / 4096), rtol=1e-4)


def test_yolo_v3_assigns_each_scale():
    model = models.get("yolo_v3", input_shape=(64, 64, 3), num_classes=2, width=0.125,
                       priors=[(4, 4), (6, 6), (8, 8), (12, 12), (16, 16), (20, 20), (28, 28), (40, 40), (56, 56)])
    assert model.outputs[0].shape[1:] == ((8 * 8 + 4 * 4 + 2 * 2) * 3, 7)
    # gt 40 x 40 centred at (40, 40): prior 7 = scale stride 32, local prior 1, cell (1, 1), offset 0.25
    boxes = np.array([[[20, 20, 60, 60]]], "float32")
    classes = np.array([[1]], "int32")
    raw = np.zeros((1, 252, 7), "float32")
    raw[..., 4] = -30.0
    index = 64 * 3 + 16 * 3 + (1 * 2 + 1) * 3 + 1
    raw[0, index, :5] = [_logit(0.25), _logit(0.25), 0.0, 0.0, 30.0]
    raw[0, index, 5:] = [-30, 30]
    box, obj, cls = (np.asarray(t) for t in model.yolo_loss(raw, boxes, classes))
    np.testing.assert_allclose([box[0], obj[0], cls[0]], 0.0, atol=1e-4)


def test_bad_targets_train_without_nan(bad_detection_targets):
    model = models.get("yolo_v3", input_shape=(64, 64, 3), num_classes=3, width=0.125)
    # eager steps: the same loss code as in graph mode, without minutes of tracing on a busy CPU
    model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
    targets = bad_detection_targets()
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(_images(4), targets, epochs=1, batch_size=4, verbose=0)
    assert all(np.isfinite(v) for values in history.history.values() for v in values), history.history
    after = model.get_weights()
    assert all(np.all(np.isfinite(w)) for w in after)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
    # an all-empty batch: only the objectness term, still finite
    empty = {"boxes": -np.ones((4, 2, 4), "float32"), "classes": -np.ones((4, 2), "int32")}
    logs = model.train_on_batch(_images(4), empty, return_dict=True)
    assert np.isfinite(logs["loss"]) and logs["box_loss"] == 0.0 and logs["class_loss"] == 0.0


def test_builder_argument_errors():
    with pytest.raises(ValueError, match="multiples of 32"):
        models.get("yolo_v2", input_shape=(48, 64, 3), num_classes=2)
    with pytest.raises(ValueError, match="no pretrained"):
        models.get("yolo_v3", input_shape=(64, 64, 3), weights="coco")
    with pytest.raises(ValueError, match="cannot be split evenly"):
        models.get("yolo_v3", input_shape=(64, 64, 3), priors=[(4, 4)] * 4)
    with pytest.raises(ValueError, match="'boxes'"):
        model = models.get("yolo_v2", input_shape=(64, 64, 3), num_classes=2, width=0.125)
        model.compute_loss(y=np.zeros((1, 3)), y_pred=np.zeros((1, 20, 7), "float32"))


@pytest.mark.slow  # 1-2 minutes each on a shared 2-core CPU
@pytest.mark.parametrize("name", ["yolo_v2", "yolo_v3"])
def test_yolo_training_model_harness(name):
    check_model(
        lambda: models.get(name, input_shape=(64, 64, 3), num_classes=3, width=0.125),
        _images(2),
        targets=_targets(2),
        compile_kwargs={"optimizer": keras.optimizers.Adam(1e-3)},
        # bf16 step: finite outputs only; TFLite: raw outputs, no decoding (see the inference test)
        atol=1e-4,
    )


@pytest.mark.slow  # about 1 minute (SavedModel + TFLite conversion)
def test_yolo_inference_model_exports_to_tflite_builtins():
    def build():
        keras.utils.set_random_seed(0)
        model = models.get("yolo_v3", input_shape=(64, 64, 3), num_classes=3, width=0.125)
        # Give the untrained model confident, well-separated detections so NMS decisions are stable.
        inference = model.make_inference_model(score_threshold=0.0, max_detections=20, pre_nms_top_k=100)
        return inference

    model = check_model(
        build,
        _images(2),
        # NMS picks discrete boxes: no meaningful gradient/fit step (the training model is tested above)
        run_gradients=False,
        run_training=False,
        run_mixed_precision=False,  # covered by the training model; bf16 scores reorder NMS ties
        tflite_atol=1e-3,
    )
    out = model(_images(2))
    assert set(out) == {"boxes", "scores", "classes", "num_detections"}
    assert out["boxes"].shape == (2, 20, 4) and np.all(np.asarray(out["num_detections"]) == 20)
    assert model.vras_meta["task"] == "detection"


@pytest.mark.slow
def test_darknet_tiny_harness():
    model = check_model(
        lambda: models.get("darknet_tiny", input_shape=(32, 32, 3), num_classes=4, width=0.25),
        _images(2, size=32),
        expected_output_shapes=(None, 4),
    )
    backbone = models.get("darknet_tiny", input_shape=(64, 64, 3), include_top=False, width=0.25)
    assert [tuple(backbone.pyramid_outputs[f"C{k}"].shape[1:3]) for k in range(1, 6)] == [
        (32, 32), (16, 16), (8, 8), (4, 4), (2, 2)
    ]
    assert model.get_layer("stage1_down_conv").use_bias is False
    assert model.get_layer("logits").units == 4


PRIORS_V3 = [(4, 4), (6, 6), (8, 8), (12, 12), (16, 16), (20, 20), (28, 28), (40, 40), (56, 56)]


def _perfect_raw(model, boxes, classes, indices_priors):
    """Raw outputs that encode `boxes` exactly at the given (prediction index, prior pixels, stride)."""
    raw = np.zeros((1, model.outputs[0].shape[1], model.outputs[0].shape[2]), "float32")
    raw[..., 4] = -30.0
    raw[..., 5:] = -30.0
    for (x0, y0, x1, y1), cls, (index, (pw, ph), stride) in zip(boxes, classes, indices_priors):
        cx, cy = (x0 + x1) / 2 / stride, (y0 + y1) / 2 / stride
        raw[0, index, :5] = [_logit(cx - math.floor(cx)), _logit(cy - math.floor(cy)),
                             math.log((x1 - x0) / pw), math.log((y1 - y0) / ph), 30.0]
        raw[0, index, 5 + cls] = 30.0
    return raw


def test_yolo_v3_encode_decode_round_trip_and_x_y_order():
    """Targets written by hand for non-square, off-centre boxes decode (YoloDecode + NMS) back exactly."""
    model = models.get("yolo_v3", input_shape=(64, 64, 3), num_classes=3, width=0.125, priors=PRIORS_V3)
    # box A: 10 x 6 at centre (13, 42) -> best prior 2 (8 x 8, IoU 0.63; 6 x 6: 0.6), stride 8, row 5, col 1
    # box B: 30 x 18 at centre (47, 15) -> best prior 5 (20 x 20, IoU 0.62; 28 x 28: 0.61), stride 16, row 0, col 2
    boxes = [(8, 39, 18, 45), (32, 6, 62, 24)]
    classes = [2, 1]
    where = [((5 * 8 + 1) * 3 + 2, (8, 8), 8), (64 * 3 + (0 * 4 + 2) * 3 + 2, (20, 20), 16)]
    raw = _perfect_raw(model, boxes, classes, where)
    gt = {"boxes": np.array([boxes + [[-1, -1, -1, -1]]], "float32"), "classes": np.array([classes + [-1]], "int32")}
    terms = [float(np.asarray(t)[0]) for t in model.yolo_loss(raw, gt["boxes"], gt["classes"])]
    np.testing.assert_allclose(terms, 0.0, atol=1e-4)
    decoded = model.make_inference_model(score_threshold=0.5).get_layer("yolo_decode")(raw)
    scores = np.asarray(decoded["scores"])[0]
    hits = np.argwhere(scores > 0.5)
    assert sorted(map(tuple, hits.tolist())) == sorted([(where[0][0], 2), (where[1][0], 1)])
    np.testing.assert_allclose(np.asarray(decoded["boxes"])[0, [w[0] for w in where]], boxes, atol=1e-3)


def test_yolo_v3_assign_threshold_adds_positives_on_every_fitting_prior():
    common = dict(input_shape=(64, 64, 3), num_classes=2, width=0.125, priors=PRIORS_V3)
    single = models.get("yolo_v3", **common)
    multi = models.get("yolo_v3", assign_threshold=0.5, **common)
    assert multi.get_config()["assign_threshold"] == 0.5
    # 14 x 14 box centred at (27, 27): shape IoU with 12 x 12 is 0.73, 16 x 16 0.77, 20 x 20 0.49, 8 x 8 0.33
    # best = prior 4 (16 x 16, stride 16, local 1, cell (1, 1)); extra = prior 3 (12 x 12, stride 16, local 0)
    box, cls = (20, 20, 34, 34), 1
    best = (64 * 3 + (1 * 4 + 1) * 3 + 1, (16, 16), 16)
    extra = (64 * 3 + (1 * 4 + 1) * 3 + 0, (12, 12), 16)
    gt_boxes, gt_classes = np.array([[box]], "float32"), np.array([[cls]], "int32")
    only_best = _perfect_raw(single, [box], [cls], [best])
    both = _perfect_raw(single, [box, box], [cls, cls], [best, extra])
    loss = lambda m, r: [float(np.asarray(t)[0]) for t in m.yolo_loss(r, gt_boxes, gt_classes)]  # noqa: E731
    np.testing.assert_allclose(loss(single, only_best), 0.0, atol=1e-4)
    np.testing.assert_allclose(loss(multi, both), 0.0, atol=1e-4)
    # the paper's assignment: the extra prior's box (IoU 1 with the gt) is ignored, not a positive;
    # with assign_threshold it must predict the object and its class
    np.testing.assert_allclose(loss(single, both), 0.0, atol=1e-4)
    box_l, obj_l, cls_l = loss(multi, only_best)
    assert obj_l > 25 and cls_l > 25  # objectness logit -30 and class logits -30 at the extra positive
    # a ground truth of the first scale only: nothing above the threshold on the other scales
    small = (0, 0, 4, 4)
    raw = _perfect_raw(single, [small], [0], [(0 * 3 + 0, (4, 4), 8)])
    terms = [float(np.asarray(t)[0]) for t in multi.yolo_loss(raw, np.array([[small]], "float32"),
                                                              np.array([[0]], "int32"))]
    np.testing.assert_allclose(terms, 0.0, atol=1e-4)
