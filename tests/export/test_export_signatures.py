"""Per-task serving outputs (signatures.POSTPROCESSORS) and the built-ins-only TFLite guarantee."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from vras_keras.export import signatures as sig
from vras_keras.export.meta import ExportMeta, meta_for_model
from vras_keras.export.saved_model import export_saved_model
from vras_keras.export.tflite import TFLiteRunner, convert_to_tflite
from vras_keras.layers import HeatmapArgmax2D
from vras_keras.models.registry import TASKS


def _serve(model, task, images, **meta_fields):
    meta = meta_for_model(model, task=task, **meta_fields)
    return {k: v.numpy() for k, v in sig.make_serving_fn(model, meta)(tf.constant(images)).items()}


def test_every_task_has_a_postprocessor_and_documented_outputs():
    assert set(sig.POSTPROCESSORS) == set(TASKS) == set(sig.OUTPUTS)


def test_classification_logits_get_a_softmax():
    inputs = keras.Input((8, 8, 3))
    logits = keras.layers.Dense(4, name="logits")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, logits)
    x = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    out = _serve(model, "classification", x, top_k=2)
    np.testing.assert_allclose(out["probabilities"], tf.nn.softmax(model(x)).numpy(), atol=1e-6)
    assert out["top_k_indices"].shape == (2, 2) and out["top_k_indices"].dtype == np.int32
    # an explicit output_activation overrides the guess
    out = _serve(model, "classification", x, output_activation="softmax")
    np.testing.assert_allclose(out["probabilities"], model(x).numpy(), atol=1e-6)


def test_segmentation_resizes_to_input_and_takes_argmax_and_converts_to_tflite(tmp_path):
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    logits = keras.layers.Conv2D(3, 3, strides=2, padding="same", name="logits")(x)  # 8x8, no activation
    model = keras.Model(inputs, logits)
    images = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    out = _serve(model, "segmentation", images)
    expected = tf.image.resize(tf.nn.softmax(model(images)), (16, 16)).numpy()
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-6)
    np.testing.assert_array_equal(out["class_map"], expected.argmax(-1))
    meta = meta_for_model(model, task="segmentation", labels=["bg", "a", "b"])
    result = export_saved_model(model, meta, str(tmp_path), name="seg", quantize=("none",))
    tflite = TFLiteRunner(os.path.join(result.path, "model.tflite"))(images)
    np.testing.assert_allclose(tflite["probabilities"], expected, atol=1e-4)
    loaded = tf.saved_model.load(result.path).signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_array_equal(loaded["class_map"].numpy(), expected.argmax(-1))


def _toy_detector():
    """Two fixed boxes per image; the second is padding (class -1) when the image is dark."""
    inputs = keras.Input((8, 8, 3))
    mean = keras.layers.GlobalAveragePooling2D()(inputs)

    def decode(m):
        brightness = keras.ops.mean(m, axis=-1, keepdims=True) / 255.0  # (N, 1)
        boxes = keras.ops.tile(
            keras.ops.reshape(keras.ops.convert_to_tensor([[0.0, 0, 4, 4], [2, 2, 8, 8]]), (1, 2, 4)),
            (keras.ops.shape(m)[0], 1, 1),
        )
        scores = keras.ops.concatenate([brightness * 0 + 0.9, brightness], axis=1)
        classes = keras.ops.concatenate(
            [keras.ops.zeros_like(brightness), keras.ops.where(brightness > 0.5, 1.0, -1.0)], axis=1
        )
        return {"boxes": boxes, "scores": scores, "classes": classes}

    return keras.Model(inputs, keras.layers.Lambda(decode)(mean))


def test_detection_passes_decoded_boxes_and_counts_detections():
    model = _toy_detector()
    images = np.stack([np.full((8, 8, 3), 20, np.float32), np.full((8, 8, 3), 230, np.float32)])
    out = _serve(model, "detection", images)
    assert out["boxes"].shape == (2, 2, 4) and out["classes"].dtype == np.int32
    np.testing.assert_array_equal(out["classes"], [[0, -1], [0, 1]])
    np.testing.assert_array_equal(out["num_detections"], [1, 2])
    with pytest.raises(ValueError, match="decoder returning a dict"):
        inputs = keras.Input((8, 8, 3))
        _serve(keras.Model(inputs, keras.layers.Flatten()(inputs)), "detection", images)


class _TrainingDetector(keras.Model):
    """Raw training outputs; the decoder lives in the inference model, as in the detection models."""

    def make_inference_model(self):
        return _toy_detector()


def test_models_with_an_inference_model_are_exported_through_it():
    inputs = keras.Input((8, 8, 3))
    model = _TrainingDetector(inputs, keras.layers.Flatten()(inputs))
    out = _serve(model, "detection", np.full((1, 8, 8, 3), 230, np.float32))
    np.testing.assert_array_equal(out["num_detections"], [2])


def test_pose_heatmaps_decode_to_input_pixels():
    inputs = keras.Input((8, 8, 2))
    heatmaps = keras.layers.AveragePooling2D(2)(inputs)  # 4x4 heatmaps, stride 2
    model = keras.Model(inputs, heatmaps)
    images = np.zeros((1, 8, 8, 2), np.float32)
    images[0, 2:4, 6:8, 0] = 2.0  # joint 0 peaks in heatmap cell (row 1, col 3)
    images[0, 4:6, 0:2, 1] = 1.0  # joint 1 peaks in cell (row 2, col 0)
    meta = ExportMeta(task="pose", input_size=(8, 8), input_channels=2, keypoint_names=["a", "b"])
    out = {k: v.numpy() for k, v in sig.make_serving_fn(model, meta)(tf.constant(images)).items()}
    # the pose convention (ops.soft_argmax): cell centre (c + 0.5) * stride in input pixels, as HeatmapArgmax2D
    np.testing.assert_allclose(out["keypoints"][0], [[3.5 * 2, 1.5 * 2], [0.5 * 2, 2.5 * 2]])
    # confidence: softmax probability of the peak among the 16 cells, e^v / (e^v + 15)
    np.testing.assert_allclose(out["confidence"][0], [np.e**2 / (np.e**2 + 15), np.e / (np.e + 15)], rtol=1e-6)
    layer = HeatmapArgmax2D(coordinate_scale=2.0)(model(images)).numpy()[0]
    np.testing.assert_allclose(out["keypoints"][0], layer[:, :2], atol=1e-6)
    np.testing.assert_allclose(out["confidence"][0], layer[:, 2], atol=1e-7)


def test_pose_direct_regression_and_normalized_coordinates():
    inputs = keras.Input((8, 8, 3))
    coords = keras.layers.Reshape((2, 2))(keras.layers.Dense(4)(keras.layers.Flatten()(inputs)))
    model = keras.Model(inputs, coords)
    images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    out = _serve(model, "pose", images)
    np.testing.assert_allclose(out["keypoints"], model(images).numpy(), atol=1e-6)
    np.testing.assert_array_equal(out["confidence"], np.ones((2, 2)))
    meta = meta_for_model(model, task="pose")
    meta.extra["keypoint_format"] = "normalized"
    scaled = sig.make_serving_fn(model, meta)(tf.constant(images))["keypoints"].numpy()
    np.testing.assert_allclose(scaled, model(images).numpy() * 8, atol=1e-5)


def test_pose_keypoints_with_confidence_column():
    inputs = keras.Input((8, 8, 3))
    kp = keras.layers.Reshape((2, 3))(keras.layers.Dense(6)(keras.layers.Flatten()(inputs)))
    heatmaps = keras.layers.Conv2D(2, 1)(inputs)
    model = keras.Model(inputs, {"heatmaps": heatmaps, "keypoints": kp})
    images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    out = _serve(model, "pose", images)
    raw = model(images)["keypoints"].numpy()
    np.testing.assert_allclose(out["keypoints"], raw[..., :2], atol=1e-6)
    np.testing.assert_allclose(out["confidence"], raw[..., 2], atol=1e-6)


class SpatialTransformerStub(keras.layers.Layer):
    """Stands in for the stn branch's SpatialTransformer: flips the image left-right."""

    def call(self, x):
        return keras.ops.flip(x, axis=2)


def test_stn_classifier_also_returns_the_transformed_image():
    inputs = keras.Input((8, 8, 3))
    rescaled = keras.layers.Rescaling(1 / 255)(inputs)
    warped = SpatialTransformerStub(name="stn")(rescaled)
    probs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(warped))
    model = keras.Model(inputs, probs)
    images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    out = _serve(model, "stn", images)
    np.testing.assert_allclose(out["transformed_image"], images[:, :, ::-1], atol=1e-4)  # back in 0..255
    np.testing.assert_allclose(out["probabilities"], model(images).numpy(), atol=1e-6)
    assert out["top_k_indices"].shape == (2, 3)


def test_stn_baseline_without_transformer_gives_classification_outputs():
    inputs = keras.Input((8, 8, 3))
    probs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs))
    out = _serve(keras.Model(inputs, probs), "stn", np.zeros((1, 8, 8, 3), np.float32))
    assert set(out) == {"probabilities", "top_k_scores", "top_k_indices"}


def test_matching_outputs_keypoints_and_descriptors():
    inputs = keras.Input((8, 8, 3))
    flat = keras.layers.Flatten()(inputs)
    outputs = {"keypoints": keras.layers.Reshape((4, 2))(keras.layers.Dense(8)(flat)),
               "descriptors": keras.layers.Reshape((4, 16))(keras.layers.Dense(64)(flat))}
    model = keras.Model(inputs, outputs)
    images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    out = _serve(model, "matching", images)
    assert out["keypoints"].shape == (2, 4, 2) and out["descriptors"].shape == (2, 4, 16)
    np.testing.assert_allclose(out["descriptors"], model(images)["descriptors"].numpy(), atol=1e-6)


class ArgmaxPool(keras.layers.Layer):
    """Needs the Flex op MaxPoolWithArgmax."""

    def call(self, x):
        values, _ = tf.nn.max_pool_with_argmax(x, 2, 2, "VALID")
        return values


def test_flex_op_fails_naming_the_layer_and_leaves_no_export(tmp_path):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = ArgmaxPool(name="unpool_indices")(x)
    x = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, x)
    with pytest.raises(ValueError, match=r"MaxPoolWithArgmax in layer unpool_indices \(ArgmaxPool\)"):
        convert_to_tflite(model)
    meta = meta_for_model(model, task="classification")
    with pytest.raises(ValueError, match="unpool_indices"):
        export_saved_model(model, meta, str(tmp_path), name="flex", formats=("saved_model", "tflite"))
    assert os.listdir(tmp_path / "flex") == []


def test_non_flex_conversion_failures_are_not_blamed_on_flex_ops():
    from vras_keras.export.tflite import _flex_error

    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, keras.layers.Flatten()(inputs), name="m")
    error = _flex_error(model, "something else went wrong")
    assert "not because of a Flex op" in str(error) and "something else went wrong" in str(error)
    error = _flex_error(model, "TF Select ops: Foo, Bar\n'tf.Foo' op is neither a custom op nor a flex op")
    assert "Bar, Foo" in str(error)
