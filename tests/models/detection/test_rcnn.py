"""Faster R-CNN and Mask R-CNN at a tiny size: training steps (loss goes down, bad targets never give NaN),
inference models through the harness (config, .keras, SavedModel, TFLite built-ins), builder errors.

Parity tolerance of the inference models (SavedModel and TFLite vs Keras): 1e-3 on boxes (pixels), scores
and mask probabilities. Detection outputs are discrete (top-k, NMS), so an untrained model's near-tied
scores could reorder between runtimes; the tests spread the RPN and class scores (scaled logit kernels) so
that every decision is far from a tie, and compare mask *probabilities* (`mask_threshold=None`): thresholding
untrained masks whose probabilities sit at 0.5 would flip pixels on any float difference.
"""

import math

import keras
import numpy as np
import pytest

from vras_keras import models
from vras_keras.models.detection.mask_rcnn import MaskRCNN
from vras_keras.testing import check_model

TINY = {
    "input_shape": (64, 64, 3),
    "num_classes": 3,
    "backbone": "resnet18",
    "width": 0.125,
    "anchor_sizes": [[8], [16], [32], [48], [64]],
    "roi_canonical_size": 48,
    "rpn_pre_nms_top_k": 100,
    "rpn_post_nms_top_k": 16,
    "train_pre_nms_top_k": 100,
    "train_post_nms_top_k": 32,
    "rpn_num_samples": 64,
    "roi_num_samples": 32,
    "seed": 0,
}


def _images(n=2, seed=0, size=64):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


def _clean_targets(n=2, masks=False):
    boxes = np.array([[[10, 10, 30, 30], [40, 5, 60, 20], [-1, -1, -1, -1]]] * n, "float32")
    y = {"boxes": boxes, "classes": np.array([[0, 2, -1]] * n, "int32")}
    if masks:
        m = np.zeros((n, 3, 64, 64), "uint8")
        m[:, 0, 12:28, 12:28] = 1
        m[:, 1, 6:19, 42:58] = 1
        y["masks"] = m
    return y


@pytest.mark.parametrize("name", ["faster_rcnn", "mask_rcnn"])
def test_fit_lowers_the_loss_and_bad_targets_never_give_nan(name, bad_detection_targets):
    masks = name == "mask_rcnn"
    model = models.get(name, **TINY)
    # eager steps: the same loss code as in graph mode, without minutes of tracing on a busy CPU
    model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
    x, y = _images(2), _clean_targets(2, masks)
    before = model.evaluate(x, y, verbose=0, return_dict=True)
    expected = {"loss", "rpn_objectness_loss", "rpn_box_loss", "class_loss", "box_loss"} | (
        {"mask_loss"} if masks else set())
    assert set(before) == expected
    model.fit(x, y, epochs=3, batch_size=2, verbose=0)
    after = model.evaluate(x, y, verbose=0, return_dict=True)
    assert np.isfinite(after["loss"]) and after["loss"] < before["loss"], (before, after)

    weights = [w.copy() for w in model.get_weights()]
    history = model.fit(_images(4, seed=1), bad_detection_targets(masks), epochs=1, batch_size=4, verbose=0)
    assert all(np.isfinite(v) for values in history.history.values() for v in values), history.history
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    assert any(not np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
    # a batch without any object: only the objectness and background terms remain
    empty = {"boxes": -np.ones((2, 2, 4), "float32"), "classes": -np.ones((2, 2), "int32")}
    if masks:
        empty["masks"] = np.zeros((2, 2, 64, 64), "uint8")
    logs = model.train_on_batch(_images(2), empty, return_dict=True)
    assert np.isfinite(logs["loss"]) and logs["rpn_box_loss"] == 0.0 and logs["box_loss"] == 0.0
    if masks:
        assert logs["mask_loss"] == 0.0


def _confident(model):
    """Spread the untrained RPN and class scores so that top-k / NMS decisions are far from ties."""
    for layer in (model.get_layer("rpn_objectness_conv"),
                  model.get_layer("box_head").layer.get_layer("box_head_net_class_logits")):
        layer.kernel.assign(layer.kernel * 300.0)
    return model


@pytest.mark.parametrize("name", ["faster_rcnn", "mask_rcnn"])
def test_inference_model_harness_savedmodel_tflite(name):
    def build():
        keras.utils.set_random_seed(0)
        model = _confident(models.get(name, **TINY))
        kwargs = {"mask_threshold": None} if name == "mask_rcnn" else {}
        return model.make_inference_model(score_threshold=0.0, max_detections=8, **kwargs)

    model = check_model(
        build,
        _images(2),
        # decoding + NMS pick discrete boxes: no gradient / fit step here (the training model has them, see
        # the slow harness test); jit and bf16 are covered by the training model too
        run_gradients=False,
        run_training=False,
        run_jit=False,
        run_mixed_precision=False,
        atol=1e-3,
        tflite_atol=1e-3,
    )
    out = model(_images(2))
    keys = {"boxes", "scores", "classes", "num_detections"} | ({"masks"} if name == "mask_rcnn" else set())
    assert set(out) == keys
    assert out["boxes"].shape == (2, 8, 4) and out["classes"].dtype == "int32"
    boxes = np.asarray(out["boxes"])
    assert np.all(boxes >= 0) and np.all(boxes <= 64)
    assert model.vras_meta["task"] == "detection"
    if name == "mask_rcnn":
        masks = np.asarray(out["masks"])
        assert masks.shape == (2, 8, 64, 64) and 0 <= masks.min() and masks.max() <= 1
        # outside its box a pasted mask is 0
        b = np.round(boxes[0, 0]).astype(int)
        outside = masks[0, 0].copy()
        outside[max(b[1] - 1, 0) : b[3] + 1, max(b[0] - 1, 0) : b[2] + 1] = 0
        assert outside.max() == 0


def test_mask_rcnn_inference_runs_the_mask_head_on_kept_slots_only():
    """Issue #25: masks are computed for the first max(num_detections) slots, the rest are empty; the kept
    masks equal the mask head + paste run on every slot (the former inference graph)."""
    from vras_keras.layers import PasteMasks

    keras.utils.set_random_seed(0)
    model = models.get("mask_rcnn", **TINY)  # unspread: scores well below 1, so a threshold can split them
    images = _images(2)
    everything = model.make_inference_model(score_threshold=0.0, max_detections=8, mask_threshold=None)(images)
    scores = np.asarray(everything["scores"])
    threshold = float(scores[0, 2] + scores[0, 3]) / 2  # image 0 keeps 3 detections
    inference = model.make_inference_model(score_threshold=threshold, max_detections=8, mask_threshold=None)
    out = {k: np.asarray(v) for k, v in inference(images).items()}
    counts = out["num_detections"]
    assert counts[0] == 3 and counts.max() < 8, counts
    kept = keras.Model(inference.inputs, inference.get_layer("kept_detections").output)(images)
    assert kept[0].shape == (2, counts.max(), 4)  # the mask head saw max(num_detections) slots, not 8
    assert out["masks"].shape == (2, 8, 64, 64)
    # reference: the mask head and the paste on all 8 slots
    roi_align = model.get_layer("mask_roi_align")
    features = keras.Model(model.inputs, roi_align.input[:-1])(images)
    logits = model.get_layer("mask_head")(roi_align([*features, out["boxes"]]))
    expected = np.asarray(PasteMasks(image_shape=(64, 64), threshold=None)([logits, out["boxes"], out["classes"]]))
    np.testing.assert_allclose(out["masks"], expected, atol=1e-5)
    for b in range(2):
        assert out["masks"][b, counts[b]:].max() == 0
        assert counts[b] == 0 or out["masks"][b, : counts[b]].max() > 0


def test_mask_rcnn_pastes_binary_masks_and_needs_mask_targets():
    model = _confident(models.get("mask_rcnn", **TINY))
    out = model.make_inference_model(score_threshold=0.0, max_detections=4)(_images(1))
    assert set(np.unique(np.asarray(out["masks"]))) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="'masks'"):
        model.loss_terms(_images(2), _clean_targets(2, masks=False))


def test_mask_num_samples_limits_the_mask_loss_rois():
    model = models.get("mask_rcnn", **{**TINY, "mask_num_samples": 1})
    assert model.get_config()["mask_num_samples"] == 1
    assert MaskRCNN.from_config(model.get_config()).mask_num_samples == 1
    # one RoI per image reaches the mask head in the training step
    calls = []
    head = model.get_layer("mask_head")
    original = head.call
    head.call = lambda x, training=None: calls.append(x.shape) or original(x, training=training)
    try:
        terms = model.loss_terms(_images(2), _clean_targets(2, masks=True))
    finally:
        head.call = original
    assert calls and calls[0][:2] == (2, 1)
    assert np.isfinite(float(terms["mask"])) and float(terms["mask"]) > 0
    with pytest.raises(ValueError, match="mask_num_samples"):
        models.get("mask_rcnn", **{**TINY, "mask_num_samples": 0})


def test_single_level_c4_variant_and_builder_errors():
    model = models.get("faster_rcnn", **{**TINY, "fpn": False, "anchor_sizes": [16, 32, 64],
                                         "input_shape": (32, 32, 3)})
    assert model.get_layer("box_roi_align").strides == [16]
    assert model.get_layer("anchors").strides == [16]
    assert model.get_layer("rpn_objectness").output.shape[1] == 2 * 2 * 9  # 2 x 2 cells x 9 anchors
    with pytest.raises(ValueError, match="multiples of 32"):
        models.get("faster_rcnn", **{**TINY, "input_shape": (80, 80, 3)})
    with pytest.raises(ValueError, match="no pretrained"):
        models.get("mask_rcnn", **{**TINY, "weights": "coco"})
    with pytest.raises(ValueError, match="'boxes'"):
        models.get("faster_rcnn", **TINY).loss_terms(_images(1), np.zeros((1, 3)))


def test_fpn_input_multiple_of_32_not_64():
    # 96 = 3 * 32: P5 has 3 x 3 cells and P6 (the stride-2 subsampling of P5) ceil(3 / 2) = 2 x 2, the same
    # count as the stride-64 anchors (torchvision pads images to multiples of 32 only; 800 x 800 is the default).
    model = models.get("faster_rcnn", **{**TINY, "input_shape": (96, 96, 3)})
    cells = sum(math.ceil(96 / s) ** 2 for s in (4, 8, 16, 32, 64))  # 576 + 144 + 36 + 9 + 4
    assert model.get_layer("rpn_objectness").output.shape[1] == 3 * cells == 2307
    assert model.get_layer("fpn_p6").output.shape[1:3] == (2, 2)
    detections = model.make_inference_model()(_images(1, size=96))
    assert detections["boxes"].shape == (1, 100, 4)


@pytest.mark.slow  # ~10 minutes on a shared 2-core CPU: graph tracing of the two-stage step
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("name", ["faster_rcnn", "mask_rcnn"])
def test_training_model_full_harness(name):
    masks = name == "mask_rcnn"
    check_model(
        lambda: _confident(models.get(name, **TINY)),
        _images(2),
        targets=_clean_targets(2, masks),
        compile_kwargs={"optimizer": keras.optimizers.Adam(1e-3), "jit_compile": False},
        atol=1e-3,
        # TFLite: the deployed artifact is the inference model (tested above). Converting the *trained*
        # training model failed inside Keras' export tracing (IndexError in TF's distribution-strategy
        # stack while reading a BatchNormalization variable) - not investigated yet, see docs/detection.md.
        run_tflite=False,
    )
