"""Image-folder trees for classification: `DIR/<class_name>/<file>.png`, plus an optional `classes.txt`.

`classes.txt` (one name per line) fixes the class order; without it the classes are the sub-folder names
in sorted order (as `keras.utils.image_dataset_from_directory` does).

Reading is lazy: every file's header is checked (an unreadable or non-image file is a bad sample) and the
records hold `file`, `label` and `shape` (height, width, channels of the file); `vras_keras.data.datasets`
decodes the pixels in the `tf.data` pipeline, after shuffling the record list, so a folder of any size
trains without holding it in memory.
"""

from __future__ import annotations

import os

from vras_keras.data import images
from vras_keras.data.formats._common import (
    BadSamplePolicy,
    DataFormatError,
    Records,
    read_class_list,
    write_class_list,
    write_image,
)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".tif", ".tiff", ".webp")


def write(directory, task: str, records, *, class_names, image_ext: str = "png") -> int:
    """Write classification records as `directory/<class>/<index>.png`; returns how many were written."""
    if task != "classification":
        raise ValueError(f"the folder format holds classification data, not {task!r}")
    os.makedirs(directory, exist_ok=True)
    write_class_list(os.path.join(directory, "classes.txt"), class_names)
    for name in class_names:
        os.makedirs(os.path.join(directory, name), exist_ok=True)
    n = 0
    for n, record in enumerate(records, 1):
        label = int(record["label"])
        if not 0 <= label < len(class_names):
            raise ValueError(f"record {n - 1}: label {label} is not an index of class_names ({len(class_names)})")
        write_image(os.path.join(directory, class_names[label], f"{n - 1:06d}.{image_ext}"), record["image"])
    return n


def read(directory, *, task: str = "classification", skip_bad: bool = False, class_names=None) -> Records:
    """List an image-folder tree (lazily: headers only, see the module docstring).

    Sub-folders not in `classes.txt` / `class_names` are bad samples; `class_names` (e.g. the training
    split's classes, for a validation folder) maps the sub-folders to labels by name.
    """
    if task != "classification":
        raise ValueError(f"the folder format holds classification data, not {task!r}")
    directory = os.fspath(directory)
    policy = BadSamplePolicy(skip_bad)
    folders = sorted(e for e in os.listdir(directory) if os.path.isdir(os.path.join(directory, e)))
    if not folders:  # else 0 samples and a puzzling error later (no full batch, no class)
        raise DataFormatError(directory, "class folder", "no class sub-folders; expected "
                              f"{os.path.join(directory, '<class name>', '<image>')} ({', '.join(IMAGE_EXTENSIONS)})")
    names = tuple(class_names) if class_names is not None else read_class_list(os.path.join(directory, "classes.txt"))
    names = tuple(folders) if names is None else names
    index = {n: i for i, n in enumerate(names)}
    samples = []
    for folder in folders:
        files = sorted(f for f in os.listdir(os.path.join(directory, folder)) if f.lower().endswith(IMAGE_EXTENSIONS))
        for f in files:
            path = os.path.join(directory, folder, f)
            try:
                if folder not in index:
                    raise DataFormatError(path, "class folder", f"unknown class {folder!r}; known: {names}")
                try:
                    shape = images.image_info(path)
                except (images.ImageDecodeError, OSError) as error:
                    raise DataFormatError(path, "image", f"cannot decode image ({error})") from None
                samples.append({"file": path, "label": index[folder], "shape": shape})
            except DataFormatError as error:
                policy.bad(error)
    if class_names is None and names == tuple(folders):  # classes named by the sub-folders: each needs images
        names = _drop_empty_classes(directory, names, samples, policy)
    policy.report(directory)
    return Records(samples=samples, class_names=names, skipped=policy.skipped)


def _drop_empty_classes(directory, names, samples, policy):
    """A sub-folder without images would silently add a model output that is never trained: an error, or
    with `skip_bad` the class is left out with a warning. (Classes listed in `classes.txt` or passed as
    `class_names` are declared on purpose, e.g. a validation split lacking a class, and are kept.)"""
    counts = {i: 0 for i in range(len(names))}
    for sample in samples:
        counts[sample["label"]] += 1
    empty = [names[i] for i, n in counts.items() if n == 0]
    if not empty:
        return names
    where = os.path.join(directory, empty[0])
    message = (f"class folder(s) {empty} hold no readable image ({', '.join(IMAGE_EXTENSIONS)}): an empty class "
               "would add a model output that is never trained; add images, remove the folder, or list the "
               "classes in classes.txt to keep it")
    if not policy.skip_bad:
        raise DataFormatError(where, "class folder", message)
    policy.bad(DataFormatError(where, "class folder", message + " (left out)"))
    kept = tuple(n for n in names if n not in empty)
    remap = {names.index(n): i for i, n in enumerate(kept)}
    for sample in samples:
        sample["label"] = remap[sample["label"]]
    return kept
