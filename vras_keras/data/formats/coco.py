"""COCO JSON (`annotations.json` + `images/`): boxes, RLE or polygon masks, keypoints, categories.

Written files load in `pycocotools.coco.COCO`. Conventions:

- `bbox` is `[x, y, width, height]` in pixels; targets use `xyxy`.
- `segmentation` is compressed RLE (written), or RLE / polygons (read), decoded with `pycocotools.mask`.
- Category ids map to class indices in increasing id order; `class_names` are the category names.
- `iscrowd: 1` regions are left out of detection targets and become 255 (ignore) in segmentation.
- Pose: the category carries `keypoints` (joint names) and `skeleton` (1-based pairs); each annotation has
  `keypoints = [x1, y1, v1, ...]`; `v = 2` is visible (visibility 1), `v = 1` labelled but not visible and
  `v = 0` unlabelled (visibility 0). One figure per image: the first annotation with keypoints.
"""

from __future__ import annotations

import glob
import json
import os

import numpy as np

from vras_keras.data.formats._common import (
    IGNORE,
    BadSamplePolicy,
    DataFormatError,
    Records,
    check_box,
    image_shape,
    write_image,
)
from vras_keras.data.shapes import JOINT_NAMES, SKELETON, mask_to_box

ANNOTATION_FILE = "annotations.json"


def _mask_util():
    from pycocotools import mask as mask_util

    return mask_util


def encode_rle(mask: np.ndarray) -> dict:
    """Compressed COCO RLE of a (H, W) binary mask, JSON-ready."""
    rle = _mask_util().encode(np.asfortranarray(np.asarray(mask, np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _box_of(mask):

    return mask_to_box(mask)


def _xywh(box) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return [x1, y1, x2 - x1, y2 - y1]


def write(directory, task: str, records, *, class_names, joint_names=None, skeleton=None,
          annotation_file: str = ANNOTATION_FILE) -> int:
    """Write records as COCO; `class_names` are the object classes (pose: one category, e.g. "figure")."""
    if task not in ("segmentation", "detection", "pose"):
        raise ValueError(f"the COCO writer takes segmentation, detection or pose data, not {task!r}")
    if task == "pose":

        joint_names = tuple(joint_names or JOINT_NAMES)
        skeleton = SKELETON if skeleton is None else skeleton
        categories = [{"id": 1, "name": class_names[0] if class_names else "figure", "supercategory": "figure",
                       "keypoints": list(joint_names), "skeleton": [[a + 1, b + 1] for a, b in skeleton]}]
    else:
        categories = [{"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(class_names)]
    os.makedirs(os.path.join(directory, "images"), exist_ok=True)
    images, annotations = [], []

    def add(image_id, category_id, mask, box=None, iscrowd=0, **extra):
        box = _box_of(mask) if box is None else box
        annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(category_id),
                            "segmentation": encode_rle(mask), "area": int(np.asarray(mask).sum()),
                            "bbox": _xywh(box), "iscrowd": iscrowd, **extra})

    n = 0
    for n, record in enumerate(records, 1):
        image = record["image"]
        h, w = image.shape[:2]
        file_name = f"{n - 1:06d}.png"
        write_image(os.path.join(directory, "images", file_name), image)
        images.append({"id": n, "file_name": file_name, "width": int(w), "height": int(h)})
        if task == "detection":
            for box, cls, mask in zip(record["boxes"], record["classes"], record["masks"]):
                add(n, int(cls) + 1, mask, box)
        elif task == "segmentation":
            mask = record["mask"]
            for label in np.unique(mask):
                if label == 0 or label == IGNORE:
                    continue
                add(n, int(label), mask == label)
            if (mask == IGNORE).any():  # "don't care" pixels: a crowd region (its category is irrelevant)
                add(n, 1, mask == IGNORE, iscrowd=1)
        else:
            kp, vis = np.asarray(record["keypoints"], np.float32), np.asarray(record["visibility"], np.float32)
            flat = []
            for (x, y), v in zip(kp, vis):
                flat += [float(x), float(y), 2 if v > 0 else 1]
            fig = np.asarray(record.get("figure_mask", np.zeros((h, w), bool)))
            box = record.get("box")
            if box is None or box[2] <= box[0] or box[3] <= box[1]:
                box = np.array([0, 0, w, h], np.float32)  # figure not visible: the whole image
            add(n, 1, fig, box, keypoints=flat, num_keypoints=int((vis > 0).sum()))
    data = {"info": {"description": "vras_keras ShapesWorld", "version": "1.0"}, "licenses": [],
            "images": images, "annotations": annotations, "categories": categories}
    with open(os.path.join(directory, annotation_file), "w", encoding="utf-8") as f:
        json.dump(data, f)
    return n


def find_annotation_file(directory) -> str:
    directory = os.fspath(directory)
    candidates = sorted(
        glob.glob(os.path.join(directory, "*.json")) + glob.glob(os.path.join(directory, "annotations", "*.json"))
    )
    if os.path.join(directory, ANNOTATION_FILE) in candidates:
        return os.path.join(directory, ANNOTATION_FILE)
    if len(candidates) != 1:
        raise ValueError(f"{directory}: expected one COCO annotation file (*.json or annotations/*.json), "
                         f"found {len(candidates)}: {candidates}; pass annotation_file=")
    return candidates[0]


def _decode_segmentation(seg, h, w, ann_file, where):
    mask_util = _mask_util()
    if isinstance(seg, dict):
        size = seg.get("size")
        if size is None or "counts" not in seg:
            raise DataFormatError(ann_file, f"{where}.segmentation", "RLE needs 'size' and 'counts'")
        if [int(v) for v in size] != [h, w]:
            raise DataFormatError(ann_file, f"{where}.segmentation",
                                  f"mask size {list(size)} (HxW) does not match the image, {[h, w]}")
        rle = mask_util.frPyObjects(seg, h, w) if isinstance(seg["counts"], list) else \
            {"size": size, "counts": seg["counts"].encode("ascii") if isinstance(seg["counts"], str) else seg["counts"]}
        return mask_util.decode(rle).astype(np.uint8)
    if isinstance(seg, list):
        if not seg:
            return np.zeros((h, w), np.uint8)
        for k, polygon in enumerate(seg):
            if not (isinstance(polygon, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                      and np.isfinite(v) for v in polygon)):
                raise DataFormatError(ann_file, f"{where}.segmentation[{k}]",
                                      "expected a polygon [x1, y1, x2, y2, ...] of finite numbers")
            if len(polygon) < 6 or len(polygon) % 2:
                raise DataFormatError(ann_file, f"{where}.segmentation[{k}]",
                                      f"{len(polygon)} values; a polygon needs at least 3 (x, y) points (6 numbers)")
        rles = mask_util.frPyObjects(seg, h, w)
        return mask_util.decode(mask_util.merge(rles)).astype(np.uint8)
    raise DataFormatError(
        ann_file, f"{where}.segmentation", f"expected RLE (dict) or polygons (list), got {type(seg).__name__}"
    )


def _load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as error:
        raise DataFormatError(path, "json", f"malformed JSON: {error}") from None
    except UnicodeDecodeError as error:
        raise DataFormatError(path, "json", f"not UTF-8 text: {error}") from None
    except RecursionError:
        raise DataFormatError(path, "json", "nested too deeply; expected a COCO object with images, annotations, "
                                            "categories") from None
    if not isinstance(data, dict):
        raise DataFormatError(path, "json", f"expected an object at the top level, got {type(data).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DataFormatError(path, key, "missing, or not a list")
    return data


def _check_categories(categories, ann_file) -> None:
    """Every category is an object with an integer `id` (unique) and, if present, a string `name`."""
    seen = {}
    for i, c in enumerate(categories):
        if not isinstance(c, dict):
            raise DataFormatError(ann_file, f"categories[{i}]", f"expected an object, got {type(c).__name__}")
        cid = c.get("id")
        if isinstance(cid, bool) or not isinstance(cid, int):
            raise DataFormatError(ann_file, f"categories[{i}].id",
                                  "missing" if cid is None else f"expected an integer, got {cid!r}")
        if cid in seen:
            raise DataFormatError(ann_file, f"categories[{i}].id", f"duplicate id {cid} (also categories[{seen[cid]}])")
        seen[cid] = i
        if "name" in c and not isinstance(c["name"], str):
            raise DataFormatError(ann_file, f"categories[{i}].name", f"expected a string, got {c['name']!r}")


def _duplicate_image_ids(images, ann_file) -> dict:
    """`{index in images: DataFormatError}` for images without an id or sharing one (whose annotations
    would be merged into one sample)."""
    first, bad = {}, {}
    for j, img in enumerate(images):
        iid = img.get("id") if isinstance(img, dict) else None
        if isinstance(iid, bool) or not isinstance(iid, int):
            bad[j] = DataFormatError(ann_file, f"images[{j}].id", "missing" if iid is None else
                                     f"expected an integer, got {iid!r}")
        elif iid in first:
            k = first[iid]
            message = (
                f"duplicate image id {iid!r} (images[{k}] and images[{j}]): their annotations cannot be told apart"
            )
            bad[k] = DataFormatError(ann_file, f"images[{k}].id", message)
            bad[j] = DataFormatError(ann_file, f"images[{j}].id", message)
        else:
            first[iid] = j
    return bad


def _image_path(images_dir, file_name, ann_file, where, allow_outside_paths):
    """`images_dir/file_name`; an absolute `file_name` or one reaching outside `images_dir` (`..`) is refused
    unless `allow_outside_paths`."""
    if not isinstance(file_name, str) or not file_name:
        raise DataFormatError(ann_file, where, f"expected a relative file path, got {file_name!r}")
    path = os.path.join(images_dir, file_name)
    if not allow_outside_paths:
        root = os.path.realpath(images_dir)
        if os.path.isabs(file_name) or os.path.commonpath([root, os.path.realpath(path)]) != root:
            raise DataFormatError(ann_file, where, f"{file_name!r} lies outside the images folder {images_dir}; "
                                  "expected a path relative to it (pass allow_outside_paths=True, or "
                                  "data.options.allow_outside_paths: true, to read it anyway)")
    return path


def read(directory, *, task: str, skip_bad: bool = False, annotation_file=None, images_dir=None,
         class_names=None, allow_outside_paths: bool = False) -> Records:
    """Read a COCO dataset folder into records of `task` (segmentation, detection or pose).

    Args:
        directory: the folder holding the annotation file (and usually `images/`).
        annotation_file: path of the JSON (default: the one `*.json` in `directory` or `annotations/`).
        images_dir: folder of the images (default `directory/images` if it exists, else `directory`).
        class_names: the class names to number the categories by, matched by name (e.g. the training
            split's, for a validation file); a category not among them is an error. Segmentation: with
            "background" first; pose: the joint names, which must be equal.
        allow_outside_paths: read images whose `file_name` is absolute or leads out of `images_dir`
            (`../`); refused by default, so that an annotation file cannot make training read any file.
    """
    if task not in ("segmentation", "detection", "pose"):
        raise ValueError(f"the COCO reader gives segmentation, detection or pose data, not {task!r}")
    directory = os.fspath(directory)
    ann_file = os.fspath(annotation_file) if annotation_file else find_annotation_file(directory)
    if images_dir is None:
        images_dir = os.path.join(directory, "images")
        images_dir = images_dir if os.path.isdir(images_dir) else directory
    data = _load_json(ann_file)  # a malformed file is fatal even with skip_bad: there is nothing to keep
    _check_categories(data["categories"], ann_file)  # fatal too: class numbering depends on every category
    categories = sorted(data["categories"], key=lambda c: c["id"])
    cat_index = {c["id"]: i for i, c in enumerate(categories)}
    names = tuple(c.get("name", str(c["id"])) for c in categories)
    joint_names = None
    if task == "pose":
        with_kp = [c for c in categories if c.get("keypoints")]
        if not with_kp:
            raise DataFormatError(ann_file, "categories.keypoints", "no category defines keypoints")
        joint_names = tuple(with_kp[0]["keypoints"])
    out_names = joint_names if task == "pose" else ("background", *names) if task == "segmentation" else names
    if class_names is not None and task == "pose" and tuple(class_names) != out_names:
        raise DataFormatError(ann_file, "categories.keypoints",
                              f"joint names {out_names} differ from class_names {tuple(class_names)}")
    if class_names is not None and task != "pose" and tuple(class_names) != out_names:
        # e.g. a validation file numbering its categories differently: match the categories by name
        wanted = tuple(class_names)[1:] if task == "segmentation" else tuple(class_names)
        unknown = [n for n in names if n not in wanted]
        if unknown:
            raise DataFormatError(ann_file, "categories", f"categories {unknown} are not among the classes "
                                  f"{wanted} (the training split's); the splits must name the same classes")
        cat_index = {c["id"]: wanted.index(c.get("name", str(c["id"]))) for c in categories}
        out_names = tuple(class_names)

    policy = BadSamplePolicy(skip_bad)
    by_image: dict = {}
    for j, img in enumerate(data["images"]):
        if not isinstance(img, dict):
            raise DataFormatError(ann_file, f"images[{j}]", f"expected an object, got {type(img).__name__}")
    bad_images = _duplicate_image_ids(data["images"], ann_file)
    image_ids = {img.get("id") for img in data["images"]}
    for i, ann in enumerate(data["annotations"]):
        where = f"annotations[{i}]"
        try:
            if not isinstance(ann, dict) or "image_id" not in ann:
                raise DataFormatError(ann_file, f"{where}.image_id", "missing")
            if ann["image_id"] not in image_ids:
                raise DataFormatError(ann_file, f"{where}.image_id", f"no image has id {ann['image_id']!r}")
        except DataFormatError as error:
            policy.bad(error)
            continue
        by_image.setdefault(ann["image_id"], []).append((i, ann))

    samples = []
    order = sorted(range(len(data["images"])), key=lambda k: (0, data["images"][k]["id"], k)
                   if k not in bad_images else (1, 0, k))
    for j in order:
        img = data["images"][j]
        try:
            if j in bad_images:
                raise bad_images[j]
            if "file_name" not in img:
                raise DataFormatError(ann_file, f"images[{j}].file_name", "missing")
            path = _image_path(images_dir, img["file_name"], ann_file, f"images[{j}].file_name", allow_outside_paths)
            shape = image_shape(path, "file_name")  # lazy: decoded by the pipeline, after the shuffle
            h, w = shape[:2]
            for field, expected in (("width", w), ("height", h)):
                if field in img and (isinstance(img[field], bool) or not isinstance(img[field], (int, float))):
                    raise DataFormatError(ann_file, f"images[{j}].{field}", f"expected a number, got {img[field]!r}")
                if field in img and int(img[field]) != expected:
                    raise DataFormatError(ann_file, f"images[{j}].{field}",
                                          f"{img[field]} but the file {path} is {w}x{h} (WxH)")
            anns = by_image.get(img.get("id"), [])
            record = _record(task, shape, anns, cat_index, ann_file, joint_names)
            if record is None:
                continue  # pose: an image without a figure
            record["file"] = path
            samples.append(record)
        except DataFormatError as error:
            policy.bad(error)
    policy.report(ann_file)
    return Records(samples=samples, class_names=out_names, skipped=policy.skipped)


def _check_keypoints(kp, width, height, ann_file, field, joint_names, tolerance: float = 0.5) -> np.ndarray:
    """COCO `[x1, y1, v1, ...]` -> `(J, 3)` float64; numbers only, no NaN / inf (even for hidden joints: the
    loss multiplies them by 0, and NaN * 0 is NaN), `v` in {0, 1, 2}, and every visible joint (`v = 2`, the
    ones training uses) inside the image, within `tolerance` px (the bounds `check_box` uses for boxes)."""
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in kp):
        raise DataFormatError(ann_file, field, "expected numbers [x1, y1, v1, ...]")
    kp = np.asarray(kp, np.float64).reshape(-1, 3)
    for j, (x, y, v) in enumerate(kp):
        name = joint_names[j] if joint_names and j < len(joint_names) else str(j)
        if not np.isfinite([x, y, v]).all():
            raise DataFormatError(ann_file, field, f"joint {j} ({name}): non-finite value in {[x, y, v]}")
        if v not in (0, 1, 2):
            raise DataFormatError(ann_file, field, f"joint {j} ({name}): visibility {v:g}; expected 0, 1 or 2")
        if v == 2 and not (-tolerance <= x <= width + tolerance and -tolerance <= y <= height + tolerance):
            raise DataFormatError(ann_file, field, f"joint {j} ({name}) at ({x:g}, {y:g}) is visible (v=2) "
                                                   f"but lies outside the {width}x{height} (WxH) image")
    return kp


def _record(task, shape, anns, cat_index, ann_file, joint_names):
    h, w = shape[:2]
    boxes, classes, masks, crowd = [], [], [], []
    pose = None
    for i, ann in anns:
        where = f"annotations[{i}]"
        cat = ann.get("category_id")
        if isinstance(cat, bool) or not isinstance(cat, int) or cat not in cat_index:
            raise DataFormatError(ann_file, f"{where}.category_id", f"unknown category id {cat!r}; "
                                  f"known: {sorted(cat_index)}")
        bbox = ann.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)):
            raise DataFormatError(
                ann_file, f"{where}.bbox", f"expected [x, y, width, height] (4 numbers), got {bbox!r}"
            )
        x, y, bw, bh = (float(v) for v in bbox)
        box = [x, y, x + bw, y + bh]
        check_box(ann_file, f"{where}.bbox", box, w, h)
        seg = ann.get("segmentation")
        mask = np.zeros((h, w), np.uint8) if seg is None else _decode_segmentation(seg, h, w, ann_file, where)
        if task == "pose":
            if pose is None and ann.get("keypoints"):
                kp = ann["keypoints"]
                if len(kp) != 3 * len(joint_names):
                    raise DataFormatError(ann_file, f"{where}.keypoints",
                                          f"{len(kp)} values; expected 3 x {len(joint_names)} joints")
                kp = _check_keypoints(kp, w, h, ann_file, f"{where}.keypoints", joint_names)
                pose = {"keypoints": kp[:, :2].astype(np.float32), "visibility": (kp[:, 2] == 2).astype(np.float32)}
            continue
        if ann.get("iscrowd", 0):
            crowd.append(mask)
            continue
        boxes.append(box)
        classes.append(cat_index[cat])
        masks.append(mask)
    if task == "pose":
        return None if pose is None else {"shape": shape, **pose}
    if task == "detection":
        return {"shape": shape, "boxes": np.asarray(boxes, np.float32).reshape(-1, 4),
                "classes": np.asarray(classes, np.int32), "masks": np.asarray(masks, np.uint8).reshape(-1, h, w)}
    semantic = np.zeros((h, w), np.int32)
    for cls, mask in zip(classes, masks):
        semantic[mask > 0] = cls + 1
    for mask in crowd:
        semantic[(mask > 0) & (semantic == 0)] = IGNORE
    return {"shape": shape, "mask": semantic}
