import json
import os

import numpy as np
import pytest

from vras_keras.cli import main as vras
from vras_keras.data import datasets, formats
from vras_keras.data.shapes import CLASS_NAMES, JOINT_NAMES

SIZE, NUM = 40, 6
COMBOS = [
    ("classification", "folder"),
    ("segmentation", "masks"),
    ("segmentation", "coco"),
    ("segmentation", "voc"),
    ("detection", "coco"),
    ("detection", "voc"),
    ("pose", "coco"),
]


def _records(task, split="train"):
    kwargs = {"max_objects": 4} if task in ("segmentation", "detection") else {}
    return list(datasets.synthetic_records(task, num_samples=NUM, image_size=SIZE, seed=11, split=split, **kwargs))


def _compare(task, expected, loaded, exact_images=True):
    assert len(expected) == len(loaded)
    for e, (image, target) in zip(expected, loaded):
        if exact_images:
            np.testing.assert_array_equal(image.numpy(), e["image"].astype(np.float32))
        else:  # JPEG: close, not identical
            assert np.abs(image.numpy() - e["image"]).mean() < 12
        if task == "classification":
            assert int(target) == e["label"]
        elif task == "segmentation":
            np.testing.assert_array_equal(target.numpy(), e["mask"])
        elif task == "detection":
            k = len(e["classes"])
            np.testing.assert_array_equal(target["boxes"].numpy()[:k], e["boxes"])
            np.testing.assert_array_equal(target["classes"].numpy()[:k], e["classes"])
            assert (target["classes"].numpy()[k:] == -1).all()
            np.testing.assert_array_equal(target["masks"].numpy()[:k], e["masks"])
        else:
            np.testing.assert_array_equal(target["keypoints"].numpy(), e["keypoints"])
            np.testing.assert_array_equal(target["visibility"].numpy(), e["visibility"])


@pytest.mark.parametrize("task, fmt", COMBOS)
def test_write_load_round_trip(task, fmt, tmp_path):
    records = _records(task)
    class_names = ("figure",) if task == "pose" else CLASS_NAMES
    assert formats.get(fmt).write(tmp_path, task, iter(records), class_names=class_names) == NUM
    assert datasets.detect_format(tmp_path) == fmt
    kwargs = {"max_objects": 4} if task == "detection" else {}
    ds = datasets.load(task, source=tmp_path, **kwargs)
    loaded = list(ds)
    if fmt == "folder":  # the tree groups files by class: put them back in writing order
        files = [s["file"] for s in datasets.read_records(task, tmp_path).samples]
        order = np.argsort([int(os.path.basename(f)[:6]) for f in files])
        loaded = [loaded[i] for i in order]
    _compare(task, records, loaded, exact_images=fmt != "voc")
    assert ds.class_names == datasets.class_names(task) and ds.num_skipped == 0


def test_coco_files_load_in_pycocotools(tmp_path):
    from pycocotools.coco import COCO

    records = _records("detection")
    formats.get("coco").write(tmp_path, "detection", records, class_names=CLASS_NAMES)
    coco = COCO(str(tmp_path / "annotations.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(CLASS_NAMES)
    assert sorted(coco.getImgIds()) == list(range(1, NUM + 1))
    for i, record in enumerate(records):
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[i + 1]))
        assert len(anns) == len(record["classes"])
        for ann, box, cls, mask in zip(anns, record["boxes"], record["classes"], record["masks"]):
            np.testing.assert_array_equal(coco.annToMask(ann), mask)
            x, y, w, h = ann["bbox"]
            np.testing.assert_array_equal([x, y, x + w, y + h], box)
            assert ann["category_id"] == cls + 1 and ann["area"] == mask.sum()

    pose_dir = tmp_path / "pose"
    formats.get("coco").write(pose_dir, "pose", _records("pose"), class_names=("figure",))
    coco = COCO(str(pose_dir / "annotations.json"))
    cat = coco.loadCats(coco.getCatIds())[0]
    assert cat["keypoints"] == list(JOINT_NAMES) and len(cat["skeleton"]) == len(JOINT_NAMES) - 1
    ann = coco.loadAnns(coco.getAnnIds(imgIds=[1]))[0]
    assert len(ann["keypoints"]) == 3 * len(JOINT_NAMES)


def test_resize_on_load(tmp_path):
    records = _records("detection")
    formats.get("coco").write(tmp_path, "detection", records, class_names=CLASS_NAMES)
    image, target = next(iter(datasets.load("detection", source=tmp_path, image_size=80, max_objects=4)))
    assert image.shape == (80, 80, 3) and target["masks"].shape == (4, 80, 80)
    k = len(records[0]["classes"])
    np.testing.assert_allclose(target["boxes"].numpy()[:k], records[0]["boxes"] * 2)
    most = max(len(r["classes"]) for r in records)
    with pytest.raises(ValueError, match=f"has {most} objects but max_objects=1"):
        datasets.load("detection", source=tmp_path, max_objects=1)


def test_cli_data_make_and_check(tmp_path, capsys):
    out = tmp_path / "det"
    assert vras(["data", "make", "--task", "detection", "--format", "voc", "--num", "5", "--out", str(out),
                 "--image-size", "32", "--seed", "3"]) == 0
    assert len(os.listdir(out / "train" / "Annotations")) == 5
    assert len(os.listdir(out / "val" / "Annotations")) == 1
    train = list(datasets.load("detection", source=out, split="train", max_objects=4))
    val = list(datasets.load("detection", source=out, split="val", max_objects=4))
    assert len(train) == 5 and len(val) == 1
    expected = list(datasets.synthetic_records("detection", num_samples=1, image_size=32, seed=3, split="val"))
    np.testing.assert_array_equal(val[0][1]["boxes"].numpy()[: len(expected[0]["classes"])], expected[0]["boxes"])
    assert vras(["data", "check", str(out), "--task", "detection", "--split", "val"]) == 0
    assert "1 samples" in capsys.readouterr().out
    # a task the format cannot hold is a clear error (exit code 2), not a traceback
    assert vras(["data", "make", "--task", "pose", "--format", "voc", "--num", "2", "--out", str(tmp_path / "x")]) == 2
    assert "voc" in capsys.readouterr().err


def test_coco_reader_accepts_polygons_and_uncompressed_rle(tmp_path):
    """User COCO files often use polygons or uncompressed RLE instead of compressed RLE."""
    from PIL import Image

    os.makedirs(tmp_path / "images")
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "images" / "a.png")
    mask = np.zeros((20, 30), np.uint8)
    mask[5:10, 2:6] = 1
    counts, prev, run = [], 0, 0
    for v in mask.flatten(order="F"):
        if v != prev:
            counts.append(run)
            run, prev = 0, v
        run += 1
    counts.append(run)
    data = {
        "images": [{"id": 1, "file_name": "a.png", "width": 30, "height": 20}],
        "categories": [{"id": 3, "name": "thing"}, {"id": 7, "name": "other"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 7, "bbox": [10, 10, 10, 5], "iscrowd": 0,
             "segmentation": [[10, 10, 20, 10, 20, 15, 10, 15]]},
            {"id": 2, "image_id": 1, "category_id": 3, "bbox": [2, 5, 4, 5], "iscrowd": 0,
             "segmentation": {"size": [20, 30], "counts": counts}},
        ],
    }
    (tmp_path / "annotations.json").write_text(json.dumps(data))
    ds = datasets.load("detection", source=tmp_path)
    assert ds.class_names == ("thing", "other")
    _, target = next(iter(ds))
    np.testing.assert_array_equal(target["classes"].numpy(), [1, 0])
    np.testing.assert_array_equal(target["boxes"].numpy(), [[10, 10, 20, 15], [2, 5, 6, 10]])
    np.testing.assert_array_equal(target["masks"].numpy()[1], mask)
    assert target["masks"].numpy()[0, 11:14, 11:19].all()
