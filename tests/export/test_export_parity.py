"""Parity of exports with Keras: fp32 within 1e-4, int8 top-1 agreement >= 98 % on a ShapesWorld classifier."""

import keras
import numpy as np
import pytest

from vras_keras.data import datasets
from vras_keras.export import parity
from vras_keras.export.calibration import representative_batches, task_images
from vras_keras.export.meta import meta_for_model
from vras_keras.export.saved_model import export_saved_model


def _trained_shapes_classifier(size=32, train_samples=512, epochs=40):
    names = datasets.class_names("classification")
    train = datasets.load("classification", split="train", num_samples=train_samples, image_size=size, seed=0,
                          batch_size=64)
    x_train = np.concatenate([x.numpy() for x, _ in train])
    y_train = np.concatenate([y.numpy() for _, y in train])
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    for i, filters in enumerate((16, 32, 48)):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = keras.layers.BatchNormalization(name=f"bn{i}")(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(len(names), activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name="shapes_classifier")
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=0)
    return model, list(names), history.history["accuracy"][-1]


def test_int8_keeps_top1_on_a_trained_shapesworld_classifier(tmp_path):
    model, names, train_accuracy = _trained_shapes_classifier()
    assert train_accuracy > 0.5, f"the test classifier did not learn (train accuracy {train_accuracy:.2f})"
    meta = meta_for_model(model, task="classification", labels=names)
    calibration = task_images("classification", split="train", num_samples=64, input_size=(32, 32))
    result = export_saved_model(model, meta, str(tmp_path), name="shapes", quantize=("none", "fp16", "int8"),
                                representative_data=representative_batches(calibration))
    val = task_images("classification", split="val", num_samples=200, input_size=(32, 32))
    report = parity.parity_report(model, meta, result.path, val)
    print(f"train accuracy {train_accuracy:.3f}")
    print(report.to_markdown())
    assert [r.backend for r in report.rows] == ["keras", "saved_model", "tflite fp32", "tflite fp16", "tflite int8"]
    assert report.row("saved_model").max_abs_diff <= 1e-4
    assert report.row("tflite fp32").max_abs_diff <= 1e-4
    assert report.row("saved_model").agreement == report.row("tflite fp32").agreement == 1.0
    assert report.row("tflite int8").agreement >= 0.98
    assert "| tflite int8 |" in report.to_markdown()
    import os

    sizes = {f: os.path.getsize(os.path.join(result.path, f)) for f in ("model.tflite", "model_int8.tflite")}
    assert sizes["model_int8.tflite"] < sizes["model.tflite"]


def test_agreement_metrics_on_hand_made_outputs():
    ref = {"probabilities": np.array([[0.9, 0.1], [0.2, 0.8]])}
    assert parity.top1_agreement(ref, {"probabilities": np.array([[0.6, 0.4], [0.7, 0.3]])}) == 0.5
    a = np.array([[[0, 0], [1, 1]]])
    b = np.array([[[0, 0], [1, 0]]])
    # class 0: IoU 2/3, class 1: IoU 1/2
    assert parity.miou_agreement({"class_map": a}, {"class_map": b}) == pytest.approx((2 / 3 + 1 / 2) / 2)
    boxes = np.array([[[0, 0, 10, 10], [20, 20, 30, 30]]], np.float32)
    det = {"boxes": boxes, "scores": np.array([[0.9, 0.8]]), "classes": np.array([[0, 1]])}
    assert parity.ap_agreement(det, det) == 1.0
    shifted = {**det, "boxes": boxes + np.array([0, 0, 0, 0, 15, 15, 15, 15], np.float32).reshape(1, 2, 4)}
    assert parity.ap_agreement(det, shifted) == pytest.approx(0.5)  # class 1 is missed
    kp = {"keypoints": np.array([[[0.0, 0.0], [5.0, 5.0]]])}
    assert parity.pck_agreement(kp, {"keypoints": np.array([[[1.0, 1.0], [9.0, 5.0]]])}) == 0.5
