"""Bad input to the loaders: a ValueError naming the file and the field; skip_bad=True skips and counts."""

import json
import os
import re
import warnings

import numpy as np
import pytest
from PIL import Image

from vras_keras.data import datasets, formats
from vras_keras.data.shapes import CLASS_NAMES

NUM = 4


def _write(root, task, fmt):
    records = datasets.synthetic_records(task, num_samples=NUM, image_size=32, seed=5, max_objects=3)
    formats.get(fmt).write(root, task, records, class_names=CLASS_NAMES)
    return root


def _edit_json(root, fn):
    path = root / "annotations.json"
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))
    return str(path)


def _first_ann_of_image(data, image_id=2):
    return next(a for a in data["annotations"] if a["image_id"] == image_id)


# Each corruption damages exactly one sample and returns (the file the error must name, the field).
def missing_image_coco(root):
    os.remove(root / "images" / "000001.png")
    return str(root / "images" / "000001.png"), "file_name"


def missing_image_voc(root):
    os.remove(root / "JPEGImages" / "000001.jpg")
    return str(root / "JPEGImages" / "000001.jpg"), "filename"


def truncated_png_masks(root):
    path = root / "images" / "000002.png"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return str(path), "image"


def corrupt_jpeg_voc(root):
    path = root / "JPEGImages" / "000003.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg at all" * 3)
    return str(path), "filename"


def corrupt_image_folder(root):
    cls = sorted(d for d in os.listdir(root) if os.path.isdir(root / d) and os.listdir(root / d))[0]
    path = root / cls / sorted(os.listdir(root / cls))[0]
    path.write_bytes(b"garbage")
    return str(path), "image"


def malformed_xml_voc(root):
    path = root / "Annotations" / "000002.xml"
    path.write_text(path.read_text()[:-40])
    return str(path), "xml"


def unknown_category_coco(root):
    def fn(data):
        _first_ann_of_image(data)["category_id"] = 99
    return _edit_json(root, fn), "category_id"


def unknown_class_voc(root):
    path = root / "Annotations" / "000001.xml"
    text = path.read_text()
    path.write_text(re.sub(r"<name>\w+</name>", "<name>dodecahedron</name>", text, count=1))
    return str(path), "object[0]/name"


def unknown_class_folder(root):
    os.makedirs(root / "zebra")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(root / "zebra" / "z.png")
    return str(root / "zebra" / "z.png"), "class folder"


def unknown_label_masks(root):
    path = root / "masks" / "000000.png"
    mask = np.asarray(Image.open(path)).copy()
    mask[0, 0] = 42
    formats._common.write_index_png(path, mask)
    return str(path), "mask"


def box_outside_coco(root):
    def fn(data):
        _first_ann_of_image(data)["bbox"] = [20.0, 20.0, 30.0, 5.0]  # x2 = 50 > 32
    return _edit_json(root, fn), "bbox"


def zero_area_box_coco(root):
    def fn(data):
        _first_ann_of_image(data)["bbox"][2] = 0.0
    return _edit_json(root, fn), "bbox"


def zero_area_box_voc(root):
    path = root / "Annotations" / "000000.xml"
    text = path.read_text()
    xmin = int(re.search(r"<xmin>(\d+)</xmin>", text).group(1))
    path.write_text(re.sub(r"<xmax>\d+</xmax>", f"<xmax>{xmin - 1}</xmax>", text, count=1))
    return str(path), "bndbox"


def wrong_mask_size_masks(root):
    path = root / "masks" / "000001.png"
    formats._common.write_index_png(path, np.zeros((16, 32), np.uint8))
    return str(path), "mask"


def wrong_mask_size_coco(root):
    def fn(data):
        _first_ann_of_image(data)["segmentation"]["size"] = [16, 16]
    return _edit_json(root, fn), "segmentation"


def wrong_mask_size_voc(root):
    path = root / "SegmentationObject" / "000002.png"
    formats._common.write_index_png(path, np.zeros((32, 20), np.uint8))
    return str(path), "SegmentationObject"


def image_size_mismatch_coco(root):
    def fn(data):
        data["images"][3]["width"] = 64
    return _edit_json(root, fn), "width"


CASES = [
    ("detection", "coco", missing_image_coco),
    ("detection", "voc", missing_image_voc),
    ("segmentation", "masks", truncated_png_masks),
    ("detection", "voc", corrupt_jpeg_voc),
    ("classification", "folder", corrupt_image_folder),
    ("detection", "voc", malformed_xml_voc),
    ("detection", "coco", unknown_category_coco),
    ("detection", "voc", unknown_class_voc),
    ("classification", "folder", unknown_class_folder),
    ("segmentation", "masks", unknown_label_masks),
    ("detection", "coco", box_outside_coco),
    ("detection", "coco", zero_area_box_coco),
    ("detection", "voc", zero_area_box_voc),
    ("segmentation", "masks", wrong_mask_size_masks),
    ("detection", "coco", wrong_mask_size_coco),
    ("detection", "voc", wrong_mask_size_voc),
    ("detection", "coco", image_size_mismatch_coco),
]


@pytest.mark.parametrize("task, fmt, corrupt", CASES, ids=[c[2].__name__ for c in CASES])
def test_bad_input_raises_then_skips(task, fmt, corrupt, tmp_path):
    root = _write(tmp_path, task, fmt)
    bad_file, field = corrupt(root)
    with pytest.raises(ValueError) as info:
        datasets.load(task, source=root, format=fmt)
    message = str(info.value)
    assert bad_file in message and field in message, message
    assert info.value.file == bad_file and field in info.value.field

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = datasets.load(task, source=root, format=fmt, skip_bad=True)
    assert ds.num_skipped == 1 and ds.skipped[0].file == bad_file
    assert any("skipped 1 bad sample" in str(w.message) for w in caught)
    extra = 1 if corrupt is unknown_class_folder else 0  # that case adds a sample instead of damaging one
    assert len(list(ds)) == NUM - 1 + extra


def test_malformed_json_is_fatal_even_with_skip_bad(tmp_path):
    root = _write(tmp_path, "detection", "coco")
    path = root / "annotations.json"
    path.write_text(path.read_text()[:-10])
    for skip in (False, True):
        with pytest.raises(ValueError, match=re.escape(str(path)) + ".*'json'.*malformed JSON"):
            datasets.load("detection", source=root, skip_bad=skip)
    path.write_text(json.dumps({"images": [], "annotations": {}}))
    with pytest.raises(ValueError, match="'annotations'"):
        datasets.load("detection", source=root)


def test_wrong_format_for_task(tmp_path):
    root = _write(tmp_path, "segmentation", "masks")
    with pytest.raises(ValueError, match="not 'detection'"):
        datasets.load("detection", source=root)
    with pytest.raises(FileNotFoundError):
        datasets.load("detection", source=tmp_path / "nowhere")
