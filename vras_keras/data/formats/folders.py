"""Image-folder trees for classification: `DIR/<class_name>/<file>.png`, plus an optional `classes.txt`.

`classes.txt` (one name per line) fixes the class order; without it the classes are the sub-folder names
in sorted order (as `keras.utils.image_dataset_from_directory` does).
"""

from __future__ import annotations

import os

from vras_keras.data.formats._common import (
    BadSamplePolicy,
    DataFormatError,
    Records,
    read_class_list,
    read_image,
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
    """Read an image-folder tree. Sub-folders not in `classes.txt` / `class_names` are bad samples."""
    if task != "classification":
        raise ValueError(f"the folder format holds classification data, not {task!r}")
    directory = os.fspath(directory)
    policy = BadSamplePolicy(skip_bad)
    folders = sorted(e for e in os.listdir(directory) if os.path.isdir(os.path.join(directory, e)))
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
                samples.append({"image": read_image(path, "image"), "label": index[folder], "file": path})
            except DataFormatError as error:
                policy.bad(error)
    if class_names is None:  # the classes come from the folder itself: each must have images
        names = _drop_empty_classes(directory, names, samples, policy, from_list=len(names) != len(folders)
                                    or names != tuple(folders))
    policy.report(directory)
    return Records(samples=samples, class_names=names, skipped=policy.skipped)


def _drop_empty_classes(directory, names, samples, policy, from_list: bool):
    """A class without images would silently add a model output that is never trained: an error, or with
    `skip_bad` (folder names only; `classes.txt` fixes the numbering) the class is left out with a warning."""
    counts = {i: 0 for i in range(len(names))}
    for sample in samples:
        counts[sample["label"]] += 1
    empty = [names[i] for i, n in counts.items() if n == 0]
    if not empty:
        return names
    where = os.path.join(directory, empty[0])
    message = (f"class folder(s) {empty} hold no readable image ({', '.join(IMAGE_EXTENSIONS)}): an empty class "
               "would add a model output that is never trained; add images or remove the folder"
               + (" and its line in classes.txt" if from_list else ""))
    if from_list or not policy.skip_bad:
        raise DataFormatError(where, "class folder", message)
    policy.bad(DataFormatError(where, "class folder", message + " (left out)"))
    kept = tuple(n for n in names if n not in empty)
    remap = {names.index(n): i for i, n in enumerate(kept)}
    for sample in samples:
        sample["label"] = remap[sample["label"]]
    return kept
