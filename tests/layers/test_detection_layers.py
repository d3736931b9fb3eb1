"""AnchorGenerator, YoloDecode and DetectionDecoder through the harness (incl. TFLite without Flex ops)."""

import numpy as np
import pytest

from vras_keras.layers import AnchorGenerator, DetectionDecoder, YoloDecode
from vras_keras.ops.anchors import generate_anchors
from vras_keras.testing import check_layer


def test_anchor_generator_layer():
    kwargs = {"sizes": [[16], [32]], "aspect_ratios": [0.5, 1.0, 2.0], "strides": [8, 16]}
    images = np.zeros((2, 32, 32, 3), "float32")
    expected = np.broadcast_to(generate_anchors((32, 32), **kwargs), (2, 4 * 4 * 3 + 2 * 2 * 3, 4))
    check_layer(AnchorGenerator, kwargs, input_data=images, expected_output=expected,
                expected_output_shape=expected.shape)
    assert AnchorGenerator(**kwargs).num_anchors_per_location == [3, 3]
    with pytest.raises(ValueError, match="offset"):
        AnchorGenerator(sizes=(16,), offset=1.5)


def test_yolo_decode_layer():
    kwargs = {"image_shape": [64, 64], "strides": [32, 16], "priors": [[[1.0, 1.0], [2.0, 1.5]], [[1.0, 2.0]]]}
    n = 2 * 2 * 2 + 4 * 4 * 1
    raw = np.random.default_rng(0).normal(size=(2, n, 5 + 3)).astype("float32")
    model = check_layer(YoloDecode, kwargs, input_data=raw)
    out = model(raw)
    assert out["boxes"].shape == (2, n, 4) and out["scores"].shape == (2, n, 3)
    assert YoloDecode(**kwargs).compute_output_shape((None, n, 8))["scores"] == (None, n, 3)
    with pytest.raises(ValueError, match="expects 24 predictions"):
        YoloDecode(**kwargs)(raw[:, :5])
    with pytest.raises(ValueError, match="class_activation"):
        YoloDecode(**{**kwargs, "class_activation": "relu"})


def _decoder_inputs(batch=2, classes=3):
    anchors = generate_anchors((32, 32), sizes=(8, 16), aspect_ratios=(1.0,), strides=(8,))
    n = len(anchors)
    rng = np.random.default_rng(0)
    deltas = (0.1 * rng.standard_normal((batch, n, 4))).astype("float32")
    logits = rng.normal(0, 2, (batch, n, classes)).astype("float32")
    return [deltas, logits, np.broadcast_to(anchors, (batch, n, 4)).copy()]


def test_detection_decoder_through_harness_and_no_flex():
    """Harness incl. TFLite: built-in ops only (TOPK_V2, GATHER, WHILE...), equal to Keras."""
    kwargs = {"box_encoding": "deltas", "image_shape": [32, 32], "max_detections": 10, "pre_nms_top_k": 64,
              "score_threshold": 0.3}
    model = check_layer(DetectionDecoder, kwargs, input_data=_decoder_inputs())
    out = model(_decoder_inputs())
    assert out["boxes"].shape == (2, 10, 4) and out["classes"].dtype == "int32"
    n = np.asarray(out["num_detections"])
    assert np.all(n > 0) and np.all(n <= 10)
    classes = np.asarray(out["classes"])
    assert np.all(classes[0, n[0]:] == -1) and np.all(classes[0, : n[0]] >= 0)
    assert np.all(np.asarray(out["boxes"]) >= 0) and np.all(np.asarray(out["boxes"]) <= 32)  # clipped
    # (check_layer's TFLite step converted it with built-ins only and found no Flex/custom op)


def test_detection_decoder_softmax_background_hand_case():
    # Two identical anchors; per-class deltas; class 0 is background.
    anchors = np.array([[[0, 0, 10, 10], [20, 20, 30, 30]]], "float32")
    deltas = np.zeros((1, 2, 3, 4), "float32")
    deltas[0, 0, 2] = [1.0, 0, 0, 0]  # class 2 box of anchor 0 moved right by 1 px (weights 10)
    logits = np.log(np.array([[[0.1, 0.2, 0.7], [0.9, 0.05, 0.05]]], "float32"))
    dec = DetectionDecoder(delta_weights=(10, 10, 5, 5), score_activation="softmax", background_index=0,
                           score_threshold=0.1, max_detections=3)
    out = dec([deltas, logits, anchors])
    np.testing.assert_array_equal(np.asarray(out["classes"]), [[1, 0, -1]])  # fg classes 2 -> 1, 1 -> 0
    np.testing.assert_allclose(np.asarray(out["scores"]), [[0.7, 0.2, 0]], atol=1e-5)
    np.testing.assert_allclose(np.asarray(out["boxes"])[0, 0], [1, 0, 11, 10], atol=1e-4)
    with pytest.raises(ValueError, match="takes \\[box_predictions, class_predictions, anchors\\]"):
        dec([deltas, logits])
    with pytest.raises(ValueError, match="box_encoding"):
        DetectionDecoder(box_encoding="offsets")
