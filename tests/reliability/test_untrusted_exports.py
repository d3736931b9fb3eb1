"""Untrusted and corrupt exports: a SavedModel whose graph writes a file (or runs Python) is refused
before it runs, by `load_export`, `vras predict` and `vras evaluate`, unless the user opts in; corrupt
exports and the wrong kind of export are one clear line, exit code 2."""

import os
import shutil
import sys

import numpy as np
import pytest
import tensorflow as tf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "export"))
from conftest import tiny_classifier  # noqa: E402

from tests.fixtures.hostile import hostile_export  # noqa: E402
from vras_keras.cli import main  # noqa: E402
from vras_keras.data.formats._common import write_image  # noqa: E402
from vras_keras.export.loading import load_export  # noqa: E402
from vras_keras.export.meta import meta_for_model  # noqa: E402
from vras_keras.export.safety import UnsafeExportError, scan_saved_model  # noqa: E402
from vras_keras.export.saved_model import export_saved_model  # noqa: E402


@pytest.fixture(scope="module")
def good_export(tmp_path_factory):
    out = tmp_path_factory.mktemp("exports")
    model = tiny_classifier()
    meta = meta_for_model(model, task="classification", labels=list("abcde"))
    return export_saved_model(model, meta, str(out), name="good").path


@pytest.mark.parametrize("kind", ["WriteFile", "ReadFile", "MatchingFiles", "EagerPyFunc"])
def test_scan_finds_file_and_python_ops(good_export, tmp_path, kind):
    path = hostile_export(good_export, tmp_path / "hostile" / "1", str(tmp_path / "x"), kind)
    findings = scan_saved_model(path)
    assert any(f"op {kind}" in f for f in findings), findings
    with pytest.raises(UnsafeExportError, match=f"refusing to load.*{kind}"):
        load_export(path)


def test_our_own_exports_scan_clean(good_export):
    # the checkpoint ops of the variable-restore path (SaveV2, RestoreV2, MergeV2Checkpoints) are allowed there
    assert scan_saved_model(good_export) == []
    assert load_export(good_export).predict(np.zeros((32, 32, 3), np.uint8))["probabilities"].shape == (1, 5)


def test_checkpoint_op_outside_the_restore_path_is_refused(good_export, tmp_path):
    class Restorer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec((None, 32, 32, 3), tf.float32, name="images")])
        def serve(self, images):
            stolen = tf.raw_ops.RestoreV2(prefix="/etc/anything", tensor_names=["x"], shape_and_slices=[""],
                                          dtypes=[tf.float32])[0]
            return {"probabilities": images[:, 0, 0, :1] + stolen}

    module = Restorer()
    tf.saved_model.save(module, str(tmp_path / "r"), signatures={"serving_default": module.serve})
    assert any("op RestoreV2" in f and "__inference_serve" in f for f in scan_saved_model(str(tmp_path / "r")))


def test_vras_predict_refuses_a_file_writing_export_and_writes_nothing(good_export, tmp_path, capsys):
    target = tmp_path / "written_by_the_model.txt"
    path = hostile_export(good_export, tmp_path / "hostile" / "1", str(target), "WriteFile")
    image = tmp_path / "a.png"
    write_image(str(image), np.zeros((32, 32, 3), np.uint8))
    assert main(["predict", path, str(image)]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        len(err.splitlines()) == 1 and "refusing to load" in err and "WriteFile" in err and "--allow-unsafe-ops" in err
    )
    assert not target.exists()
    assert main(["evaluate", path, "--num-samples", "2"]) == 2
    assert "refusing to load" in capsys.readouterr().err
    assert not target.exists()
    # the opt-in runs it: the threat is real, and the flag is how a user who trusts the export loads it
    assert main(["predict", path, str(image), "--allow-unsafe-ops"]) == 0
    assert target.read_text() == "pwned"


def _cli_error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_corrupt_exports_are_one_line(good_export, tmp_path, capsys):
    image = tmp_path / "a.png"
    write_image(str(image), np.zeros((32, 32, 3), np.uint8))
    truncated = tmp_path / "truncated" / "1"
    shutil.copytree(good_export, truncated)
    data = (truncated / "saved_model.pb").read_bytes()
    (truncated / "saved_model.pb").write_bytes(data[: len(data) // 3])
    assert "saved_model.pb: not a readable SavedModel" in _cli_error(capsys, ["predict", str(truncated), str(image)])
    no_variables = tmp_path / "novars" / "1"
    shutil.copytree(good_export, no_variables)
    for f in (no_variables / "variables").iterdir():
        f.write_bytes(b"garbage")
    assert "the SavedModel cannot be loaded" in _cli_error(capsys, ["predict", str(no_variables), str(image)])
    bad_tflite = tmp_path / "t" / "1"
    shutil.copytree(good_export, bad_tflite)
    (bad_tflite / "model.tflite").write_bytes(b"not a flatbuffer at all")
    err = _cli_error(capsys, ["predict", str(bad_tflite / "model.tflite"), str(image)])
    assert "not a loadable .tflite model" in err and "model.tflite" in err
    text_meta = tmp_path / "m" / "1"
    shutil.copytree(good_export, text_meta)
    (text_meta / "assets.extra" / "vras_meta.json").write_text("[" * 100_000 + "]" * 100_000)
    assert "vras_meta.json" in _cli_error(capsys, ["predict", str(text_meta), str(image)])


def test_evaluate_on_data_with_other_classes_names_the_problem(good_export, capsys):
    # the export's labels are a..e; ShapesWorld's classes differ (was: IndexError / KeyError traceback)
    err = _cli_error(capsys, ["evaluate", good_export, "--num-samples", "2"])
    assert "are not the model's labels ['a', 'b', 'c', 'd', 'e']" in err


def test_evaluate_on_a_bare_non_detection_keras_file_names_the_problem(tmp_path, capsys):
    path = tmp_path / "classifier.keras"
    tiny_classifier().save(path)
    err = _cli_error(capsys, ["evaluate", str(path), "--num-samples", "2"])
    assert "is not a detection model" in err and "boxes, scores" in err


def test_the_exports_of_every_task_scan_clean(tmp_path):
    # detection (decode + NMS), segmentation, pose, STN and matching signatures hold no refused op
    from tests.fixtures.demo_exports import make_tiny_exports

    for task, path in make_tiny_exports(tmp_path, tflite_tasks=()).items():
        assert scan_saved_model(str(path)) == [], task


def test_print_to_a_file_stream_is_refused_but_print_to_stderr_is_not(tmp_path):
    class Printer(tf.Module):
        def __init__(self, stream):
            super().__init__()
            self.stream = stream

        @tf.function(input_signature=[tf.TensorSpec((None, 2), tf.float32, name="images")])
        def serve(self, images):
            tf.print(images, output_stream=self.stream)
            return {"out": images}

    for name, stream, refused in (("file", f"file://{tmp_path / 'log.txt'}", True), ("stderr", sys.stderr, False)):
        module = Printer(stream)
        tf.saved_model.save(module, str(tmp_path / name), signatures={"serving_default": module.serve})
        findings = scan_saved_model(str(tmp_path / name))
        assert any("op PrintV2" in f for f in findings) == refused, (name, findings)
