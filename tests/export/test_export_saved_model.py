"""SavedModel export in TF Serving's layout: layout, signatures, metadata, warm-up, versions, models.config."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from vras_keras.export import saved_model as sm
from vras_keras.export.meta import ExportMeta, meta_for_model
from vras_keras.export.tflite import TFLiteRunner

LABELS = ["circle", "square", "triangle", "star", "ellipse"]


def _export(model, tmp_path, **kwargs):
    meta = meta_for_model(model, task="classification", labels=LABELS, training_config={"epochs": 1})
    kwargs.setdefault("formats", ("saved_model", "tflite"))
    return sm.export_saved_model(model, meta, str(tmp_path / "savedmodels"), name="shapes", **kwargs)


def test_export_layout_signatures_metadata_and_parity(classifier, images, tmp_path):
    result = _export(classifier, tmp_path, quantize=("none", "fp16"))
    assert result.version == 1
    assert result.path == str(tmp_path / "savedmodels" / "shapes" / "1")
    for f in ("saved_model.pb", "model.tflite", "model_fp16.tflite", "assets.extra/vras_meta.json",
              "assets.extra/tf_serving_warmup_requests"):
        assert f in result.files, f
    # no temporary folder is left behind
    assert os.listdir(tmp_path / "savedmodels" / "shapes") == ["1"]

    meta = ExportMeta.load(result.path)
    assert meta.task == "classification" and meta.labels == LABELS and meta.input_size == (32, 32)
    assert meta.training_config == {"epochs": 1} and meta.export["version"] == 1
    assert meta.export["signatures"] == ["serving_default", "serving_bytes"]

    loaded = tf.saved_model.load(result.path)
    assert set(loaded.signatures) == {"serving_default", "serving_bytes"}
    serve = loaded.signatures["serving_default"]
    for n in (1, 3):
        out = serve(images=tf.constant(images[:n]))
        assert set(out) == {"probabilities", "top_k_scores", "top_k_indices"}
        expected = classifier(images[:n]).numpy()
        np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)
        np.testing.assert_array_equal(out["top_k_indices"].numpy(), np.argsort(-expected, axis=1))
        np.testing.assert_allclose(out["top_k_scores"].numpy(), np.sort(expected, axis=1)[:, ::-1], atol=1e-5)

    # serving_bytes decodes PNG (and resizes: a 40x48 image becomes 32x32 inside)
    pixels = images.astype(np.uint8)
    pngs = [tf.io.encode_png(p).numpy() for p in pixels]
    out = loaded.signatures["serving_bytes"](image_bytes=tf.constant(pngs))
    np.testing.assert_allclose(out["probabilities"].numpy(), classifier(pixels.astype(np.float32)).numpy(), atol=1e-5)
    big = np.random.default_rng(1).integers(0, 255, (40, 48, 3), dtype=np.uint8)
    out = loaded.signatures["serving_bytes"](image_bytes=tf.constant([tf.io.encode_jpeg(big).numpy()]))
    decoded = tf.image.resize(tf.cast(tf.io.decode_jpeg(tf.io.encode_jpeg(big)), tf.float32), (32, 32))[None]
    np.testing.assert_allclose(out["probabilities"].numpy(), classifier(decoded).numpy(), atol=1e-5)

    # TFLite fp32 has the same named outputs and matches Keras within 1e-4
    runner = TFLiteRunner(os.path.join(result.path, "model.tflite"))
    assert runner.input_names == ["images"]
    assert sorted(runner.output_names) == ["probabilities", "top_k_indices", "top_k_scores"]
    np.testing.assert_allclose(runner(images)["probabilities"], classifier(images).numpy(), atol=1e-4)
    fp16 = TFLiteRunner(os.path.join(result.path, "model_fp16.tflite"))(images)
    np.testing.assert_allclose(fp16["probabilities"], classifier(images).numpy(), atol=1e-2)


def test_warmup_requests_parse_back_and_run(classifier, tmp_path):
    result = _export(classifier, tmp_path, formats=("saved_model",))
    requests = sm.read_warmup_requests(os.path.join(result.path, "assets.extra", "tf_serving_warmup_requests"))
    assert [r["signature_name"] for r in requests] == ["serving_default", "serving_bytes"]
    assert all(r["model_name"] == "shapes" for r in requests)
    assert requests[0]["inputs"]["images"].shape == (1, 32, 32, 3)
    assert requests[0]["inputs"]["images"].dtype == np.float32
    assert requests[1]["inputs"]["image_bytes"][0][:4] == b"\x89PNG"
    loaded = tf.saved_model.load(result.path)
    for request in requests:  # every warm-up request runs against its signature
        outputs = loaded.signatures[request["signature_name"]](
            **{k: tf.constant(v) for k, v in request["inputs"].items()}
        )
        assert outputs["probabilities"].shape == (1, 5)


def test_warmup_encoding_matches_the_proto_field_numbers():
    # ModelSpec{name: "m" (field 1), signature_name: "s" (field 3)}, hand-encoded from model.proto
    assert sm.encode_model_spec("m", "s") == b"\x0a\x01m\x1a\x01s"
    record = sm.encode_prediction_log("m", "s", {"x": np.array([1.5], np.float32)})
    # PredictionLog.predict_log is field 6, length-delimited: tag byte (6 << 3) | 2 = 0x32
    assert record[0] == 0x32
    decoded = sm.decode_prediction_log(record)
    assert decoded["model_name"] == "m" and decoded["signature_name"] == "s"
    np.testing.assert_array_equal(decoded["inputs"]["x"], [1.5])


def test_versions_are_never_overwritten_and_failed_exports_leave_nothing(classifier, tmp_path):
    first = _export(classifier, tmp_path, formats=("tflite",))
    second = _export(classifier, tmp_path, formats=("tflite",))
    assert (first.version, second.version) == (1, 2)
    with pytest.raises(ValueError, match="already exists"):
        _export(classifier, tmp_path, formats=("tflite",), version=1)
    seventh = _export(classifier, tmp_path, formats=("tflite",), version=7)
    assert seventh.version == 7 and _export(classifier, tmp_path, formats=("tflite",)).version == 8
    with pytest.raises(ValueError, match="version must be a positive integer"):
        _export(classifier, tmp_path, version=0)
    with pytest.raises(ValueError, match="representative_data"):
        _export(classifier, tmp_path, quantize=("int8",))
    # a failing conversion (int8 calibration data of the wrong shape) leaves no folder behind
    with pytest.raises(ValueError, match="per-sample shape"):
        _export(classifier, tmp_path, formats=("tflite",), quantize=("int8",),
                representative_data=[np.zeros((2, 5, 5, 3), np.float32)])
    assert sorted(os.listdir(tmp_path / "savedmodels" / "shapes")) == ["1", "2", "7", "8"]


def test_models_config_lists_saved_models_only(classifier, tmp_path):
    root = tmp_path / "savedmodels"
    _export(classifier, tmp_path, formats=("saved_model",))
    meta = meta_for_model(classifier, task="classification", labels=LABELS)
    sm.export_saved_model(classifier, meta, str(root), name="tflite_only", formats=("tflite",))
    configs = sm.parse_models_config(str(root / "models.config"))
    assert configs == [{"name": "shapes", "base_path": "/models/shapes", "model_platform": "tensorflow"}]
    text = (root / "models.config").read_text()
    assert text.count("model_config_list {") == 1 and "model_version_policy { all {} }" in text
    # regenerated from what is on disk
    os.rename(root / "shapes", root / "renamed")
    sm.write_models_config(str(root))
    assert [c["name"] for c in sm.parse_models_config(str(root / "models.config"))] == ["renamed"]


def test_saved_model_cli_lists_the_documented_signatures(classifier, tmp_path):
    result = _export(classifier, tmp_path, formats=("saved_model",))
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    if not os.path.exists(cli):
        cli = "/work/main/.venv/bin/saved_model_cli"
    shown = subprocess.run([cli, "show", "--dir", result.path, "--all"], capture_output=True, text=True,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, check=True).stdout
    assert "signature_def['serving_default']" in shown and "signature_def['serving_bytes']" in shown
    assert "inputs['images']" in shown and "inputs['image_bytes']" in shown and "DT_STRING" in shown
    for output in ("probabilities", "top_k_scores", "top_k_indices"):
        assert f"outputs['{output}']" in shown
    assert "shape: (-1, 32, 32, 3)" in shown


def test_invalid_arguments_are_rejected(classifier, tmp_path):
    meta = meta_for_model(classifier, task="classification", labels=LABELS)
    with pytest.raises(ValueError, match="export name"):
        sm.export_saved_model(classifier, meta, str(tmp_path), name="../evil")
    with pytest.raises(ValueError, match="formats"):
        sm.export_saved_model(classifier, meta, str(tmp_path), name="m", formats=("onnx",))
    with pytest.raises(ValueError, match="quantize"):
        sm.export_saved_model(classifier, meta, str(tmp_path), name="m", quantize=("int4",))
    with pytest.raises(ValueError, match="'task'"):
        ExportMeta(task="tracking", input_size=(32, 32))
    with pytest.raises(ValueError, match="input_size"):
        ExportMeta(task="classification", input_size=(32,))
