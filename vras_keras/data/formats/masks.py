"""Segmentation as two folders of PNGs: `images/<name>.png` and `masks/<name>.png` (same name).

Masks are single-channel (grayscale or palette) PNGs of label indices: 0 background, 1..C the classes of
`classes.txt` (one name per line, background first), 255 ignore.
"""

from __future__ import annotations

import os

import numpy as np

from vras_keras.data.formats._common import (
    IGNORE,
    BadSamplePolicy,
    DataFormatError,
    Records,
    image_shape,
    read_class_list,
    read_index_png,
    write_class_list,
    write_image,
    write_index_png,
)
from vras_keras.data.formats.folders import IMAGE_EXTENSIONS


def write(directory, task: str, records, *, class_names) -> int:
    """Write segmentation records; `class_names` are the object classes (background is added)."""
    if task != "segmentation":
        raise ValueError(f"the masks format holds segmentation data, not {task!r}")
    for sub in ("images", "masks"):
        os.makedirs(os.path.join(directory, sub), exist_ok=True)
    write_class_list(os.path.join(directory, "classes.txt"), ("background", *class_names))
    n = 0
    for n, record in enumerate(records, 1):
        name = f"{n - 1:06d}.png"
        write_image(os.path.join(directory, "images", name), record["image"])
        write_index_png(os.path.join(directory, "masks", name), record["mask"])
    return n


def read(directory, *, task: str = "segmentation", skip_bad: bool = False, class_names=None) -> Records:
    """Read `images/` + `masks/`; label values must be < len(class names) or 255 (ignore)."""
    if task != "segmentation":
        raise ValueError(f"the masks format holds segmentation data, not {task!r}")
    directory = os.fspath(directory)
    own = read_class_list(os.path.join(directory, "classes.txt"))
    names = tuple(class_names) if class_names is not None else own
    remap = None
    if class_names is not None and own is not None and own != names:
        # this folder numbers its labels by its own classes.txt: renumber them by name, or fail
        unknown = [n for n in own if n not in names]
        if unknown:
            raise DataFormatError(os.path.join(directory, "classes.txt"), "class names",
                                  f"classes {unknown} are not among {names} (the training split's); the splits "
                                  "must name the same classes")
        remap = np.full(256, IGNORE, np.int32)
        remap[:len(own)] = [names.index(n) for n in own]
    policy = BadSamplePolicy(skip_bad)
    samples = []
    files = sorted(f for f in os.listdir(os.path.join(directory, "images")) if f.lower().endswith(IMAGE_EXTENSIONS))
    for f in files:
        image_path = os.path.join(directory, "images", f)
        mask_path = os.path.join(directory, "masks", os.path.splitext(f)[0] + ".png")
        try:
            shape = image_shape(image_path, "image")  # lazy: decoded by the pipeline
            mask = read_index_png(mask_path, "mask", shape[:2])
            if remap is not None:
                if np.any((mask >= len(own)) & (mask != IGNORE)):
                    bad = np.setdiff1d(np.unique(mask), [*range(len(own)), IGNORE])
                    raise DataFormatError(mask_path, "mask", f"unknown label values {bad.tolist()}; labels are "
                                          f"0..{len(own) - 1} ({', '.join(own)}) and {IGNORE} (ignore)")
                mask = remap[mask]
            if names is not None:
                bad = np.setdiff1d(np.unique(mask), [*range(len(names)), IGNORE])
                if bad.size:
                    raise DataFormatError(mask_path, "mask", f"unknown label values {bad.tolist()}; "
                                          f"labels are 0..{len(names) - 1} ({', '.join(names)}) and {IGNORE} (ignore)")
            samples.append({"shape": shape, "mask": mask.astype(np.int32), "file": image_path})
        except DataFormatError as error:
            policy.bad(error)
    if names is None:  # no class list: name the labels found
        top = max([int(np.max(np.where(s["mask"] == IGNORE, 0, s["mask"]))) for s in samples] + [0])
        names = ("background", *(f"class_{i}" for i in range(1, top + 1)))
    policy.report(directory)
    return Records(samples=samples, class_names=names, skipped=policy.skipped)
