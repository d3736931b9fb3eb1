"""Pascal VOC: `JPEGImages/`, `Annotations/*.xml`, `SegmentationClass/` and `SegmentationObject/` PNGs.

- Boxes in the XML are VOC's 1-based inclusive pixel indices (`xmin = x1 + 1`, `xmax = x2` for a
  pixel-edge `xyxy` box); the reader converts back to `xyxy` pixel edges.
- `SegmentationClass/<name>.png`: palette PNG of label indices (0 background, class + 1, 255 void/ignore).
- `SegmentationObject/<name>.png`: palette PNG of instance indices (k + 1 for the k-th `<object>` of the
  XML, 0 background, 255 void); it gives the detection instance masks (zeros when the file is absent).
- `labels.txt` (one object class per line, optional): the class order; without it the 20 VOC classes.
- `ImageSets/Main/default.txt` and `ImageSets/Segmentation/default.txt` list the sample names.
"""

from __future__ import annotations

import glob
import os
import xml.etree.ElementTree as ET

import numpy as np

from vras_keras.data.formats._common import (
    IGNORE,
    BadSamplePolicy,
    DataFormatError,
    Records,
    check_box,
    image_shape,
    read_class_list,
    read_index_png,
    write_class_list,
    write_image,
    write_index_png,
)

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")


def _annotation_xml(file_name, h, w, objects, segmented) -> ET.ElementTree:
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "JPEGImages"
    ET.SubElement(root, "filename").text = file_name
    size = ET.SubElement(root, "size")
    for tag, value in (("width", w), ("height", h), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    ET.SubElement(root, "segmented").text = "1" if segmented else "0"
    for name, (x1, y1, x2, y2), truncated in objects:
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = name
        ET.SubElement(obj, "pose").text = "Unspecified"
        ET.SubElement(obj, "truncated").text = "1" if truncated else "0"
        ET.SubElement(obj, "difficult").text = "0"
        box = ET.SubElement(obj, "bndbox")
        for tag, value in (("xmin", x1 + 1), ("ymin", y1 + 1), ("xmax", x2), ("ymax", y2)):
            ET.SubElement(box, tag).text = str(int(round(float(value))))
    ET.indent(root)
    return ET.ElementTree(root)


def write(directory, task: str, records, *, class_names, image_ext: str = "jpg") -> int:
    """Write segmentation or detection records in the VOC layout (images as JPEG by default, like VOC)."""
    if task not in ("segmentation", "detection"):
        raise ValueError(f"the VOC writer takes segmentation or detection data, not {task!r}")
    for sub in ("JPEGImages", "Annotations", "SegmentationClass", "SegmentationObject", "ImageSets/Main",
                "ImageSets/Segmentation"):
        os.makedirs(os.path.join(directory, sub), exist_ok=True)
    write_class_list(os.path.join(directory, "labels.txt"), class_names)
    names = []
    for n, record in enumerate(records):
        name = f"{n:06d}"
        names.append(name)
        image = record["image"]
        h, w = image.shape[:2]
        file_name = f"{name}.{image_ext}"
        write_image(os.path.join(directory, "JPEGImages", file_name), image)
        if task == "detection":
            semantic = np.zeros((h, w), np.uint8)
            instances = np.zeros((h, w), np.uint8)
            objects = []
            for k, (box, cls, mask) in enumerate(zip(record["boxes"], record["classes"], record["masks"])):
                m = np.asarray(mask) > 0
                semantic[m] = int(cls) + 1
                instances[m] = k + 1
                x1, y1, x2, y2 = (float(v) for v in box)
                objects.append((class_names[int(cls)], (x1, y1, x2, y2), x1 <= 0 or y1 <= 0 or x2 >= w or y2 >= h))
            write_index_png(os.path.join(directory, "SegmentationObject", f"{name}.png"), instances)
        else:
            semantic = np.asarray(record["mask"], np.uint8)
            objects = []
        write_index_png(os.path.join(directory, "SegmentationClass", f"{name}.png"), semantic)
        _annotation_xml(file_name, h, w, objects, segmented=True).write(
            os.path.join(directory, "Annotations", f"{name}.xml"), encoding="utf-8", xml_declaration=False)
    for sub in ("Main", "Segmentation"):
        with open(os.path.join(directory, "ImageSets", sub, "default.txt"), "w", encoding="utf-8") as f:
            f.write("".join(f"{n}\n" for n in names))
    return len(names)


def _text(node, path, xml_path, field):
    child = node.find(path)
    if child is None or child.text is None or not child.text.strip():
        raise DataFormatError(xml_path, field, "missing")
    return child.text.strip()


def _number(node, path, xml_path, field):
    value = _text(node, path, xml_path, field)
    try:
        return float(value)
    except ValueError:
        raise DataFormatError(xml_path, field, f"not a number: {value!r}") from None


def _parse_xml(xml_path):
    try:
        return ET.parse(xml_path).getroot()
    except ET.ParseError as error:
        raise DataFormatError(xml_path, "xml", f"malformed XML: {error}") from None


def _find_image(directory, stem):
    for path in sorted(glob.glob(os.path.join(directory, "JPEGImages", glob.escape(stem) + ".*"))):
        return path
    return os.path.join(directory, "JPEGImages", stem + ".jpg")


def read(directory, *, task: str, skip_bad: bool = False, class_names=None) -> Records:
    """Read a VOC folder: detection from `Annotations/` (+ `SegmentationObject/`), segmentation from
    `SegmentationClass/`. Object names not in the class list are bad samples."""
    if task not in ("segmentation", "detection"):
        raise ValueError(f"the VOC reader gives segmentation or detection data, not {task!r}")
    directory = os.fspath(directory)
    names = tuple(class_names) if class_names is not None else read_class_list(os.path.join(directory, "labels.txt"))
    names = VOC_CLASSES if names is None else names
    index = {n: i for i, n in enumerate(names)}
    policy = BadSamplePolicy(skip_bad)
    samples = []
    if task == "segmentation":
        for mask_path in sorted(glob.glob(os.path.join(directory, "SegmentationClass", "*.png"))):
            stem = os.path.splitext(os.path.basename(mask_path))[0]
            try:
                image_path = _find_image(directory, stem)
                shape = image_shape(image_path, "JPEGImages")  # lazy: decoded by the pipeline
                mask = read_index_png(mask_path, "SegmentationClass", shape[:2])
                bad = np.setdiff1d(np.unique(mask), [*range(len(names) + 1), IGNORE])
                if bad.size:
                    raise DataFormatError(mask_path, "SegmentationClass", f"unknown class indices {bad.tolist()}; "
                                          f"expected 0..{len(names)} or {IGNORE}")
                samples.append({"shape": shape, "mask": mask.astype(np.int32), "file": image_path})
            except DataFormatError as error:
                policy.bad(error)
        policy.report(directory)
        return Records(samples=samples, class_names=("background", *names), skipped=policy.skipped)

    for xml_path in sorted(glob.glob(os.path.join(directory, "Annotations", "*.xml"))):
        stem = os.path.splitext(os.path.basename(xml_path))[0]
        try:
            root = _parse_xml(xml_path)
            file_name = root.findtext("filename")
            image_path = (
                os.path.join(directory, "JPEGImages", file_name.strip()) if file_name else _find_image(directory, stem)
            )
            shape = image_shape(image_path, "filename")  # lazy: decoded by the pipeline
            h, w = shape[:2]
            if root.find("size") is not None:
                for field, expected in (("width", w), ("height", h)):
                    value = _number(root, f"size/{field}", xml_path, f"size/{field}")
                    if int(value) != expected:
                        raise DataFormatError(
                            xml_path, f"size/{field}", f"{int(value)} but {image_path} is {w}x{h} (WxH)"
                        )
            boxes, classes = [], []
            for k, obj in enumerate(root.findall("object")):
                name = _text(obj, "name", xml_path, f"object[{k}]/name")
                if name not in index:
                    raise DataFormatError(xml_path, f"object[{k}]/name", f"unknown class {name!r}; known: {names}")
                coords = [_number(obj, f"bndbox/{t}", xml_path, f"object[{k}]/bndbox/{t}")
                          for t in ("xmin", "ymin", "xmax", "ymax")]
                box = [coords[0] - 1, coords[1] - 1, coords[2], coords[3]]
                check_box(xml_path, f"object[{k}]/bndbox", box, w, h)
                boxes.append(box)
                classes.append(index[name])
            obj_path = os.path.join(directory, "SegmentationObject", f"{stem}.png")
            if os.path.isfile(obj_path):
                instances = read_index_png(obj_path, "SegmentationObject", (h, w))
                masks = np.stack([(instances == k + 1) for k in range(len(boxes))]).astype(np.uint8) if boxes \
                    else np.zeros((0, h, w), np.uint8)
            else:
                masks = np.zeros((len(boxes), h, w), np.uint8)
            samples.append({"shape": shape, "boxes": np.asarray(boxes, np.float32).reshape(-1, 4),
                            "classes": np.asarray(classes, np.int32), "masks": masks, "file": image_path})
        except DataFormatError as error:
            policy.bad(error)
    policy.report(directory)
    return Records(samples=samples, class_names=names, skipped=policy.skipped)
