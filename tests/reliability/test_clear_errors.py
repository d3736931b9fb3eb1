"""Every failure a user can cause is one line naming the file, the field and the expected form, exit code 2,
no traceback; and bad data is never accepted silently (issue #19). One case per row."""

import errno
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vras_keras.cli import main
from vras_keras.data import images
from vras_keras.data.formats import coco, folders
from vras_keras.data.formats._common import DataFormatError


def _run(capsys, argv):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.err.strip()


def _one_line_exit_2(capsys, argv, *words):
    code, err = _run(capsys, argv)
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, (word, err)
    return err


# ----------------------------------------------------------------------------------------- images
def _png_header_only(width, height):
    """A valid PNG claiming `width` x `height` gray pixels with a few bytes of data (a decompression bomb)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def _jpeg_bytes():
    import io

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


IMAGE_CASES = {
    "0-byte file": (b"", "empty (0 bytes)"),
    "text renamed .png": (b"hello, I am text\n" * 10, "not an image file"),
    "truncated JPEG": (_jpeg_bytes()[:400], "could not be decoded"),
    "144-Mpx PNG of a few bytes": (_png_header_only(12000, 12000), "too many pixels"),
}


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "export"))
    from conftest import tiny_classifier

    from vras_keras.export.meta import meta_for_model
    from vras_keras.export.saved_model import export_saved_model

    model = tiny_classifier()
    meta = meta_for_model(model, task="classification", labels=list("abcde"))
    return export_saved_model(model, meta, str(tmp_path_factory.mktemp("e")), name="c", formats=("saved_model",)).path


@pytest.mark.parametrize("case", sorted(IMAGE_CASES))
def test_vras_predict_on_a_bad_image_file(export_dir, tmp_path, capsys, case):
    data, words = IMAGE_CASES[case]
    path = tmp_path / "input.png"
    path.write_bytes(data)
    _one_line_exit_2(capsys, ["predict", export_dir, str(path)], str(path), words)


def test_output_files_get_their_folder_and_a_folder_as_output_file_is_one_line(export_dir, tmp_path, capsys):
    """The result is not computed and then lost to a missing folder; a folder given as the file is refused."""
    image = tmp_path / "in.png"
    Image.new("RGB", (12, 10), (200, 30, 30)).save(image)
    out = tmp_path / "new" / "sub" / "drawn.png"
    assert main(["predict", export_dir, str(image), "--draw", str(out)]) == 0
    assert Image.open(out).size[0] > 0
    capsys.readouterr()
    _one_line_exit_2(capsys, ["predict", export_dir, str(image), "--draw", str(tmp_path)], "--draw", "is a folder")
    _one_line_exit_2(capsys, ["evaluate", export_dir, "--json", str(tmp_path)], "--json", "is a folder")


@pytest.mark.parametrize("case", sorted(IMAGE_CASES))
def test_dataset_loaders_on_a_bad_image_file(tmp_path, case):
    data, words = IMAGE_CASES[case]
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / name / "ok.png")
    (tmp_path / "a" / "bad.png").write_bytes(data)
    # folders are read lazily (headers only): every case, the pixel bomb included, is refused before decoding
    with pytest.raises(DataFormatError, match=r"bad\.png: field 'image': cannot decode image") as info:
        folders.read(tmp_path)
    if "pixels" in words:
        assert "Mpx" in str(info.value)
    with pytest.warns(UserWarning, match="skipped 1 bad sample"):
        assert len(folders.read(tmp_path, skip_bad=True).samples) == 2


# ------------------------------------------------------------------------------------------- COCO
def _coco_dir(tmp_path, mutate=None, task="detection"):
    (tmp_path / "images").mkdir(exist_ok=True)
    Image.new("RGB", (16, 12)).save(tmp_path / "images" / "a.png")
    Image.new("RGB", (16, 12)).save(tmp_path / "images" / "b.png")
    data = {
        "images": [{"id": 1, "file_name": "a.png", "width": 16, "height": 12},
                   {"id": 2, "file_name": "b.png", "width": 16, "height": 12}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "iscrowd": 0,
                         "segmentation": [[1, 1, 6, 1, 6, 6]]},
                        {"id": 2, "image_id": 2, "category_id": 1, "bbox": [2, 2, 4, 4], "iscrowd": 0}],
        "categories": [{"id": 1, "name": "square"}],
    }
    if task == "pose":
        data["categories"][0]["keypoints"] = ["head", "foot"]
        data["annotations"][0]["keypoints"] = [3, 3, 2, 4, 8, 2]
        data["annotations"][1]["keypoints"] = [5, 5, 2, 6, 9, 1]
    if mutate:
        mutate(data)
    (tmp_path / "annotations.json").write_text(json.dumps(data) if isinstance(data, dict) else data)
    return tmp_path


def _set(path, value):
    def mutate(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


COCO_CASES = {
    # name: (task, mutation, field named in the message, words)
    "category without id": ("detection", lambda d: d["categories"][0].pop("id"), "categories[0].id", "missing"),
    "one-point polygon": ("detection", _set(["annotations", 0, "segmentation"], [[3, 3]]),
                          "annotations[0].segmentation[0]", "at least 3"),
    "non-numeric bbox": ("detection", _set(["annotations", 0, "bbox"], [1, "x", 5, 5]), "annotations[0].bbox",
                         "4 numbers"),
    "duplicate image ids": ("detection", lambda d: (_set(["images", 1, "id"], 1)(d),
                                                    _set(["annotations", 1, "image_id"], 1)(d)),
                            "images[0].id", "duplicate image id 1"),
    "absolute file_name": ("detection", _set(["images", 0, "file_name"], "/etc/hostname"),
                           "images[0].file_name", "outside the images folder"),
    "../ file_name": ("detection", _set(["images", 0, "file_name"], "../../a.png"), "images[0].file_name",
                      "outside the images folder"),
    "NaN keypoint": ("pose", _set(["annotations", 0, "keypoints"], [3, float("nan"), 2, 4, 8, 2]),
                     "annotations[0].keypoints", "non-finite"),
    "visible keypoint far outside": ("pose", _set(["annotations", 0, "keypoints"], [3, 3, 2, 400, 8, 2]),
                                     "annotations[0].keypoints", "outside the 16x12"),
    "JSON nested 100,000 deep": ("detection", lambda d: None, "json", "nested too deeply"),
}


@pytest.mark.parametrize("case", sorted(COCO_CASES))
def test_coco_case_is_one_line_naming_file_and_field(tmp_path, capsys, case):
    task, mutate, field, words = COCO_CASES[case]
    folder = _coco_dir(tmp_path, mutate, task)
    if case.startswith("JSON nested"):
        (folder / "annotations.json").write_text("[" * 100_000 + "]" * 100_000)
    err = _one_line_exit_2(capsys, ["data", "check", str(folder), "--task", task, "--format", "coco"],
                           "annotations.json", field, words)
    assert err


def test_bad_annotations_are_skipped_under_skip_bad_not_crashing_it(tmp_path):
    # non-numeric bbox values used to raise a bare ValueError that bypassed skip_bad
    folder = _coco_dir(tmp_path, _set(["annotations", 0, "bbox"], [1, "x", 5, 5]))
    with pytest.warns(UserWarning, match="skipped 1 bad sample"):
        records = coco.read(folder, task="detection", skip_bad=True)
    assert len(records.samples) == 1 and "4 numbers" in str(records.skipped[0])


def test_duplicate_image_ids_are_not_merged_under_skip_bad(tmp_path):
    folder = _coco_dir(
        tmp_path, lambda d: (_set(["images", 1, "id"], 1)(d), _set(["annotations", 1, "image_id"], 1)(d))
    )
    with pytest.warns(UserWarning, match="skipped 2 bad sample"):
        records = coco.read(folder, task="detection", skip_bad=True)
    assert records.samples == []  # before: one sample with both images' boxes


def test_outside_file_names_are_read_when_explicitly_allowed(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    Image.new("RGB", (16, 12), (255, 0, 0)).save(tmp_path / "elsewhere" / "c.png")
    (tmp_path / "ds").mkdir()
    folder = _coco_dir(tmp_path / "ds", _set(["images", 0, "file_name"], "../../elsewhere/c.png"))
    records = coco.read(folder, task="detection", allow_outside_paths=True)
    file = records.samples[0]["file"]  # lazy: the pipeline decodes it after the shuffle
    assert Path(file).resolve() == (tmp_path / "elsewhere" / "c.png").resolve()
    assert images.read_image(file, channels=3)[0, 0].tolist() == [255, 0, 0]


def test_hidden_keypoints_outside_the_image_stay_accepted(tmp_path):
    # COCO's v=1 (labelled, not visible) and v=0 joints may lie anywhere; only their numbers must be finite
    folder = _coco_dir(tmp_path, _set(["annotations", 0, "keypoints"], [3, 3, 2, -50, 80, 1]), task="pose")
    records = coco.read(folder, task="pose")
    assert records.samples[0]["visibility"].tolist() == [1.0, 0.0]


# --------------------------------------------------------------------------------- class folders
def test_an_empty_class_folder_does_not_add_an_output(tmp_path, capsys):
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / name / "1.png")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    _one_line_exit_2(capsys, ["data", "check", str(tmp_path), "--task", "classification", "--format", "folder"],
                     "empty", "class folder", "no readable image")
    with pytest.warns(UserWarning, match="left out"):
        records = folders.read(tmp_path, skip_bad=True)
    assert records.class_names == ("cat", "dog") and sorted(s["label"] for s in records.samples) == [0, 1]


def test_a_folder_without_class_sub_folders_is_one_line(tmp_path, capsys):
    """Empty, or images not sorted into classes: said at once, not as '0 samples make no full batch' later."""
    empty = tmp_path / "empty"
    empty.mkdir()
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.new("RGB", (8, 8)).save(flat / "1.png")
    _one_line_exit_2(capsys, ["data", "check", str(empty)], str(empty), "is empty")
    _one_line_exit_2(capsys, ["data", "check", str(flat)], str(flat), "no class sub-folders")
    _one_line_exit_2(capsys, ["data", "check", str(flat / "1.png")], "1.png", "is a file")
    for folder in (empty, flat):  # `format: folder` in a recipe reads without detecting the layout
        with pytest.raises(DataFormatError, match="no class sub-folders"):
            folders.read(folder)


# ---------------------------------------------------------------------------------------- recipes
def test_malformed_yaml_recipe_is_one_line_with_its_position(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("model: {id: resnet_cifar\ndata: [\n")
    _one_line_exit_2(capsys, ["train", "--config", str(config), "--check"], "bad.yaml", "not valid YAML",
                     "at line 2, column 5", "started at line 1, column 8")


def test_a_binary_file_or_a_folder_as_recipe_is_one_line(tmp_path, capsys):
    image = tmp_path / "photo.png"
    Image.new("RGB", (8, 8)).save(image)
    _one_line_exit_2(capsys, ["train", "--config", str(image), "--check"], "photo.png", "not a YAML text file")
    _one_line_exit_2(capsys, ["train", "--config", str(tmp_path), "--check"], str(tmp_path), "is a folder")


def test_summary_set_with_bad_yaml_is_one_line(capsys):
    _one_line_exit_2(capsys, ["summary", "resnet18", "--set", "groups=[1"], "--set groups=[1", "not valid YAML",
                     "line 1, column 3")


# ------------------------------------------------------------------------------------ run folders
def test_python_tag_in_a_runs_config_yaml_is_refused(tmp_path, capsys):
    from tests.fixtures.training import recipe
    from vras_keras.training.config import TrainConfig
    from vras_keras.training.trainer import train

    train(TrainConfig.from_dict(recipe(epochs=1, workdir=str(tmp_path / "run"),
                                       callbacks={"tensorboard": False, "curves": False})), verbose=0)
    marker = tmp_path / "ran"
    (tmp_path / "run" / "config.yaml").write_text(
        f"model: !!python/object/apply:os.system ['touch {marker}']\n")
    _one_line_exit_2(capsys, ["export", str(tmp_path / "run"), "--name", "x", "--output-dir", str(tmp_path / "out"),
                              "--formats", "saved_model"], "config.yaml", "!!python")
    assert not marker.exists()


# ------------------------------------------------------------------------------------------ OSError
def _recipe(tmp_path, workdir):
    from tests.fixtures.training import write_recipe

    return write_recipe(tmp_path / "r.yaml", epochs=1, workdir=str(workdir),
                        callbacks={"tensorboard": False, "curves": False})


@pytest.mark.parametrize("err", [errno.EROFS, errno.ENOSPC, errno.EACCES])
def test_read_only_full_or_forbidden_disk_is_one_line(tmp_path, capsys, monkeypatch, err):
    from vras_keras.training import trainer

    def fail(path, text):
        raise OSError(err, __import__("os").strerror(err), str(path))

    monkeypatch.setattr(trainer, "atomic_write_text", fail)  # the run's first write: config.yaml
    config = _recipe(tmp_path, tmp_path / "run")
    _one_line_exit_2(capsys, ["train", "--config", str(config)], "config.yaml", __import__("os").strerror(err))


def test_workdir_below_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    config = _recipe(tmp_path, tmp_path / "file" / "run")
    _one_line_exit_2(capsys, ["train", "--config", str(config)], "file")


def test_a_truncated_jpeg_found_while_training_is_one_line(tmp_path, capsys):
    # folders are listed lazily: the file is decoded inside tf.data, whose error wraps ours with a traceback
    import io

    from tests.fixtures.training import write_recipe

    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (tmp_path / "ds" / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(tmp_path / "ds" / name / f"{i}.jpg")
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    (tmp_path / "ds" / "a" / "bad.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) * 2 // 3])
    config = write_recipe(tmp_path / "r.yaml", epochs=1, workdir=str(tmp_path / "run"),
                          callbacks={"tensorboard": False, "curves": False},
                          data={"source": "path", "path": str(tmp_path / "ds"), "format": "folder",
                                "task": "classification", "image_size": 16, "num_samples": 9, "val_samples": 2,
                                "val_split": None})
    _one_line_exit_2(capsys, ["train", "--config", str(config)], "bad.jpg", "field 'image'", "truncated")


def test_a_mask_png_bomb_is_refused_before_decoding(tmp_path):
    from vras_keras.data.formats._common import read_index_png

    path = tmp_path / "mask.png"
    path.write_bytes(_png_header_only(12000, 12000))
    with pytest.raises(DataFormatError, match=r"mask\.png: field 'mask': 12000x12000 pixels \(144 Mpx\)"):
        read_index_png(path, "mask")
