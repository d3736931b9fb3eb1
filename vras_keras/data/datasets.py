"""`tf.data` pipelines for every task, from ShapesWorld / StickFigures or from files in standard formats.

`load(task, ...)` yields `(image, target)` pairs with `image` float32 `(H, W, C)` in 0..255 (C = 3; files:
`channels`, 1 for all-grayscale folders) and:

==============  ===========================================================================================
task            target
==============  ===========================================================================================
classification  int32 scalar: class index
segmentation    int32 `(H, W)`: 0 background, class + 1, 255 ignore
detection       `{"boxes": float32 (M, 4) xyxy pixels, "classes": int32 (M,), "masks": uint8 (M, H, W)}`,
                padded to `M = max_objects` with class -1, zero boxes and zero masks
pose            `{"keypoints": float32 (J, 2) (x, y) pixels, "visibility": float32 (J,) 1 visible / 0 not}`
==============  ===========================================================================================

Synthetic data is deterministic: element `i` of a split depends only on `(seed, split, i)`; the splits
use different seed streams, so train and val never share a sample.

With `source=DIR` the data comes from files (`format` = "folder" | "coco" | "voc" | "masks", detected
when omitted; `DIR/<split>` is used when that folder exists). Files are read and validated when
`load` is called: bad samples raise a `ValueError` naming the file and field, or with `skip_bad=True`
are skipped, counted and reported. The returned dataset carries `class_names`, `num_skipped` and
`skipped` (the errors) as attributes.

Example:

>>> ds = load("detection", split="train", num_samples=8, image_size=64, seed=0, batch_size=4)
>>> images, targets = next(iter(ds))
>>> tuple(images.shape), tuple(targets["boxes"].shape)
((4, 64, 64, 3), (4, 4, 4))
"""

from __future__ import annotations

import os

import numpy as np

from vras_keras.data import shapes
from vras_keras.data.formats._common import IGNORE, Records

TASKS = ("classification", "segmentation", "detection", "pose")
SPLITS = ("train", "val", "test")
FORMATS = ("folder", "coco", "voc", "masks")
# Which formats can hold which task's targets.
FORMAT_TASKS = {
    "folder": ("classification",),
    "coco": ("segmentation", "detection", "pose"),
    "voc": ("segmentation", "detection"),
    "masks": ("segmentation",),
}
# ShapesWorld settings per task (override any of them through `load(..., **kwargs)`).
TASK_DEFAULTS = {
    # one whole, fairly large object: the label is unambiguous (pass max_objects=4 for the cluttered task)
    "classification": {"max_objects": 1, "truncation": False, "size_range": (0.22, 0.42)},
    "segmentation": {"max_objects": 4},
    "detection": {"max_objects": 4},
    "pose": {},
}


def _check_task(task):
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; allowed: {', '.join(TASKS)}")


def class_names(task: str) -> tuple:
    """Names of the synthetic data's target indices: classes, segmentation labels (with background) or joints."""
    _check_task(task)
    if task == "segmentation":
        return ("background",) + shapes.CLASS_NAMES
    if task == "pose":
        return shapes.JOINT_NAMES
    return shapes.CLASS_NAMES


def num_classes(task: str) -> int:
    """Classes for classification/detection, labels incl. background for segmentation, joints for pose."""
    return len(class_names(task))


def split_seed(seed: int, split: str) -> int:
    """The generator seed of a split: distinct streams for train / val / test of every dataset seed."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    return int(seed) * len(SPLITS) + SPLITS.index(split)


def generator(task: str, *, image_size=64, seed: int = 0, split: str = "train", **kwargs):
    """The synthetic generator behind `load` for a task: a `ShapesWorld` or a `StickFigures`."""
    _check_task(task)
    if task == "pose":
        return shapes.StickFigures(image_size=image_size, seed=split_seed(seed, split), **kwargs)
    return shapes.ShapesWorld(image_size=image_size, seed=split_seed(seed, split),
                              **{**TASK_DEFAULTS[task], **kwargs})


def record_from_sample(task: str, sample: dict) -> dict:
    """A generator sample in the numpy record form of the task's targets (see formats/_common.py)."""
    if task == "classification":
        return {"image": sample["image"], "label": int(sample["label"])}
    if task == "segmentation":
        return {"image": sample["image"], "mask": sample["semantic_mask"].astype(np.int32)}
    if task == "detection":
        return {"image": sample["image"], "boxes": sample["boxes"], "classes": sample["classes"],
                "masks": sample["instance_masks"].astype(np.uint8)}
    return {"image": sample["image"], "keypoints": sample["keypoints"], "visibility": sample["visibility"],
            "box": sample["box"], "figure_mask": sample["mask"]}


def synthetic_records(task: str, *, num_samples: int, image_size=64, seed: int = 0, split: str = "train",
                      **kwargs):
    """Yield `num_samples` synthetic records (what the format writers take)."""
    gen = generator(task, image_size=image_size, seed=seed, split=split, **kwargs)
    for i in range(int(num_samples)):
        yield record_from_sample(task, gen.sample(i))


def _pad_detection(record: dict, max_objects: int, file=None):
    k = len(record["classes"])
    if k > max_objects:
        raise ValueError(f"{file or 'sample'}: {k} objects but max_objects={max_objects}; raise max_objects")
    h, w = record["image"].shape[:2]
    boxes = np.zeros((max_objects, 4), np.float32)
    classes = np.full((max_objects,), -1, np.int32)
    masks = np.zeros((max_objects, h, w), np.uint8)
    boxes[:k] = record["boxes"]
    classes[:k] = record["classes"]
    masks[:k] = record["masks"]
    return boxes, classes, masks


def _flat_element(task: str, record: dict, max_objects: int, image_dtype=np.float32):
    """A record as the flat tuple of arrays of one element: image first, then the targets."""
    image = np.asarray(record["image"], image_dtype)
    if task == "classification":
        return image, np.int32(record["label"])
    if task == "segmentation":
        return image, np.asarray(record["mask"], np.int32)
    if task == "detection":
        return (image, *_pad_detection(record, max_objects, record.get("file")))
    return image, np.asarray(record["keypoints"], np.float32), np.asarray(record["visibility"], np.float32)


def _flat_signature(task: str, height, width, max_objects, num_joints, channels: int = 3):
    import tensorflow as tf

    image = tf.TensorSpec((height, width, channels), tf.float32)
    if task == "classification":
        return image, tf.TensorSpec((), tf.int32)
    if task == "segmentation":
        return image, tf.TensorSpec((height, width), tf.int32)
    if task == "detection":
        return (image, tf.TensorSpec((max_objects, 4), tf.float32), tf.TensorSpec((max_objects,), tf.int32),
                tf.TensorSpec((max_objects, height, width), tf.uint8))
    return image, tf.TensorSpec((num_joints, 2), tf.float32), tf.TensorSpec((num_joints,), tf.float32)


def _structure(task: str):
    """Turns the flat tuple into `(image, target)`."""
    if task == "detection":
        return lambda image, boxes, classes, masks: (image, {"boxes": boxes, "classes": classes, "masks": masks})
    if task == "pose":
        return lambda image, keypoints, visibility: (image, {"keypoints": keypoints, "visibility": visibility})
    return lambda image, target: (image, target)


def element_spec(task: str, image_size=64, *, max_objects: int | None = None, num_joints: int | None = None):
    """The `element_spec` of unbatched `load(task, ...)` elements (for models, tests and docs)."""
    import tensorflow as tf

    _check_task(task)
    h, w = (None, None) if image_size is None else shapes._hw(image_size)
    max_objects = TASK_DEFAULTS["detection"]["max_objects"] if max_objects is None else max_objects
    num_joints = len(shapes.JOINT_NAMES) if num_joints is None else num_joints
    flat = _flat_signature(task, h, w, max_objects, num_joints)
    ds = tf.data.Dataset.from_generator(lambda: iter(()), output_signature=flat).map(_structure(task))
    return ds.element_spec


def indexed_dataset(num_samples: int, make, flat, *, shuffle: bool = False, seed: int = 0, cache: bool = False,
                    make_many=None, chunk: int = 16, parallel: int | None = None):
    """`tf.data` elements `make(i)` (NumPy, returns the flat tuple of `flat` specs) for i in 0..num_samples-1.

    With `shuffle` the whole index list is permuted (seeded, a new permutation every epoch) *before*
    anything is decoded or generated: batches mix the classes whatever order the records come in (a
    folder listed class by class), and no shuffle buffer is needed. `cache` keeps each element after it
    was made once (in memory, by index), which works with the per-epoch order.

    `make_many(indices)`, when given, replaces `make`: it returns the flat arrays of `chunk` consecutive
    indices of the (shuffled) order stacked along axis 0 (e.g. made by worker processes); up to
    `parallel` calls run at once. The elements and their order are the same as with `make`.
    """
    import tensorflow as tf

    dtypes = [spec.dtype for spec in flat]
    store = {}

    def element_np(i):
        i = int(i)
        if cache and i in store:
            return store[i]
        value = make(i)
        if cache:
            store[i] = value
        return value

    def element(i):
        # numpy_function: decoding and generation are NumPy/PIL code; deterministic=True keeps the order.
        values = tf.numpy_function(element_np, [i], dtypes, stateful=False)
        for v, spec in zip(values, flat):
            v.set_shape(spec.shape)
        return tuple(values)

    def elements_np(indices):
        indices = [int(i) for i in indices]
        todo = [i for i in indices if i not in store] if cache else indices
        if not cache:
            return make_many(todo)
        if todo:
            made = make_many(todo)
            for k, i in enumerate(todo):
                store[i] = tuple(column[k] for column in made)
        return tuple(np.stack(column) for column in zip(*(store[i] for i in indices)))

    def elements(indices):
        values = tf.numpy_function(elements_np, [indices], dtypes, stateful=False)
        for v, spec in zip(values, flat):
            v.set_shape((None, *spec.shape))
        return tuple(values)

    ds = tf.data.Dataset.range(int(num_samples))
    if shuffle and num_samples > 1:
        ds = ds.shuffle(int(num_samples), seed=int(seed), reshuffle_each_iteration=True)
    if make_many is None:
        return ds.map(element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(int(chunk)).map(elements, num_parallel_calls=parallel or tf.data.AUTOTUNE, deterministic=True)
    return ds.unbatch().apply(tf.data.experimental.assert_cardinality(int(num_samples)))


def _finish(ds, *, batch_size):
    import tensorflow as tf

    if batch_size is not None:
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1 or None, received {batch_size!r}")
        ds = ds.batch(int(batch_size))
    return ds.prefetch(tf.data.AUTOTUNE)


# Samples generated per call into a worker process: large enough that the call overhead is small, small
# enough that the first batch arrives quickly.
CHUNK = 64


def _generated_element(generator, task: str, index, max_objects: int):
    """Sample `index` as flat arrays with its image still uint8 (as generated): a quarter of float32's bytes
    to copy from a worker process and to cache; the dataset casts it to float32 after (same values)."""
    record = record_from_sample(task, generator.sample(int(index)))
    if np.asarray(record["image"]).dtype != np.uint8:
        raise TypeError(f"{type(generator).__name__} made a {np.asarray(record['image']).dtype} image; "
                        "synthetic generators must make uint8 images")
    return _flat_element(task, record, max_objects, image_dtype=np.uint8)


def _samples(generator, task: str, indices, max_objects: int):
    """Samples `indices` of `generator` as the task's flat arrays stacked along a new axis 0 (runs in a
    worker process or here: the result depends only on the arguments)."""
    elements = [_generated_element(generator, task, i, max_objects) for i in indices]
    return tuple(np.stack(column) for column in zip(*elements))


def _synthetic_dataset(task, *, split, num_samples, image_size, seed, shuffle=False, cache=False, workers=None,
                       **kwargs):
    import tensorflow as tf

    from vras_keras.data import workers as pools  # workers imports this module: no cycle

    gen = generator(task, image_size=image_size, seed=seed, split=split, **kwargs)
    workers = pools.default_workers(num_samples, workers)
    max_objects = getattr(gen, "max_objects", 0)
    flat = _flat_signature(task, gen.height, gen.width, max_objects, len(shapes.JOINT_NAMES))
    flat = (tf.TensorSpec(flat[0].shape, tf.uint8), *flat[1:])  # uint8 until the cast below

    def make(i):
        return _generated_element(gen, task, i, max_objects)

    def make_many(indices):  # in the worker processes, which run in parallel (tf.data's threads only wait)
        return pools.run(workers, _samples, gen, task, list(indices), max_objects)

    ds = indexed_dataset(num_samples, make, flat, shuffle=shuffle, seed=seed, cache=cache,
                         make_many=make_many if workers else None, chunk=CHUNK, parallel=2 * workers)
    structure = _structure(task)
    return ds.map(lambda image, *targets: structure(tf.cast(image, tf.float32), *targets)), class_names(task)


def detect_format(directory) -> str:
    """Guess the format of a dataset folder from its layout."""
    directory = os.fspath(directory)
    if os.path.isfile(directory):
        raise ValueError(f"dataset folder {directory} is a file; expected a folder (see docs/data.md)")
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"dataset folder {directory} does not exist")
    entries = set(os.listdir(directory))
    if not entries:
        raise ValueError(f"dataset folder {directory} is empty; expected {_LAYOUTS}")
    if "Annotations" in entries or "SegmentationClass" in entries:
        return "voc"
    if "images" in entries and "masks" in entries:
        return "masks"
    if any(e.endswith(".json") for e in entries) or "annotations" in entries:
        return "coco"
    if any(os.path.isdir(os.path.join(directory, e)) for e in entries):
        return "folder"
    from vras_keras.data.formats.folders import IMAGE_EXTENSIONS  # formats imports this module: no cycle

    if any(e.lower().endswith(IMAGE_EXTENSIONS) for e in entries):
        raise ValueError(f"dataset folder {directory} holds images but no class sub-folders; put each class's "
                         f"images in {os.path.join(directory, '<class name>')}/ (the folder format)")
    raise ValueError(f"cannot detect the format of {directory}: it holds none of {_LAYOUTS}; "
                     f"pass the format (--format / format=) one of {', '.join(FORMATS)}")


_LAYOUTS = ("class sub-folders of images (folder), images/ + masks/ (masks), a COCO .json file or VOC's "
            "Annotations/")


def read_records(task: str, source, *, format=None, split="train", skip_bad=False, **kwargs) -> Records:
    """Read and validate a dataset folder into `Records` (no tf.data); `source/split` when it exists."""
    _check_task(task)
    source = os.fspath(source)
    if os.path.isdir(os.path.join(source, split)):
        source = os.path.join(source, split)
    return _read_folder(task, source, format=format, skip_bad=skip_bad, **kwargs)


def _read_folder(task, source, *, format=None, skip_bad=False, **kwargs) -> Records:
    from vras_keras.data import formats  # formats imports this module: no cycle

    format = format or detect_format(source)
    if format not in FORMATS:
        raise ValueError(f"Unknown format {format!r}; allowed: {', '.join(FORMATS)}")
    if task not in FORMAT_TASKS[format]:
        raise ValueError(f"format {format!r} holds {', '.join(FORMAT_TASKS[format])} data, not {task!r}")
    return formats.get(format).read(source, task=task, skip_bad=skip_bad, **kwargs)


def holdout(samples, fraction: float, *, seed: int = 0, task: str = "classification"):
    """Split records into `(train, held_out)`: a deterministic, stratified `fraction` per class.

    Classification is stratified by label (every class with at least 2 samples gives at least one);
    other tasks hold out `fraction` of all samples. The choice depends only on `seed` and the record
    list (listed in file order by the readers), never on the run.
    """
    fraction = float(fraction)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive), received {fraction!r}")
    groups: dict = {}
    for i, r in enumerate(samples):
        groups.setdefault(int(r["label"]) if task == "classification" else 0, []).append(i)
    held = set()
    for key, indices in sorted(groups.items()):
        k = int(round(fraction * len(indices)))
        if k == 0 and len(indices) >= 2 and task == "classification":
            k = 1
        k = min(k, len(indices) - 1)
        order = np.random.default_rng([int(seed), int(key), 7919]).permutation(len(indices))
        held.update(indices[j] for j in order[:k])
    train = [r for i, r in enumerate(samples) if i not in held]
    val = [r for i, r in enumerate(samples) if i in held]
    return train, val


def _resize_record(task, record, height, width):
    import cv2

    from vras_keras.data import images  # sub-modules on first use (data/__init__)

    h0, w0 = record["image"].shape[:2]
    if (h0, w0) == (height, width):
        return record
    sx, sy = width / w0, height / h0
    out = dict(record)
    out["image"] = images.resize(record["image"], (height, width))  # as predict / serving resize

    def nearest(m):
        return cv2.resize(m, (width, height), interpolation=cv2.INTER_NEAREST)

    if task == "segmentation":
        out["mask"] = nearest(record["mask"].astype(np.uint8)).astype(np.int32)
    elif task == "detection":
        out["boxes"] = (record["boxes"] * np.array([sx, sy, sx, sy], np.float32)).astype(np.float32)
        out["masks"] = np.stack([nearest(m) for m in record["masks"]]) if len(record["masks"]) else \
            np.zeros((0, height, width), np.uint8)
    elif task == "pose":
        out["keypoints"] = (record["keypoints"] * np.array([sx, sy], np.float32)).astype(np.float32)
    return out


def _record_shape(record):
    """(height, width, channels) of a record: from the file header (lazy records) or the decoded image."""
    if "image" in record:
        shape = record["image"].shape
        return (shape[0], shape[1], shape[2] if len(shape) == 3 else 1)
    return tuple(record["shape"])


def infer_image_size(samples):
    """`(height, width)` shared by all records, or None when they differ."""
    sizes = {_record_shape(r)[:2] for r in samples}
    return sizes.pop() if len(sizes) == 1 else None


def infer_channels(samples) -> int:
    """1 when every image file is grayscale (L, 16-bit, ...), else 3 (decoded images count as 3)."""
    if samples and all("image" not in r and r["shape"][2] == 1 for r in samples):
        return 1
    return 3


# Files are decoded FILE_CHUNK at a time (one NumPy call per chunk, several chunks in parallel); decoded
# elements are kept in memory (`cache`) only while the whole split fits in CACHE_BYTES.
FILE_CHUNK = 64
CACHE_BYTES = 2 * 2**30


def cache_fits(num_samples: int, height: int, width: int, channels: int, task: str = "classification",
               max_objects: int | None = None) -> bool:
    """Whether `num_samples` decoded float32 elements of this size fit in `CACHE_BYTES` (targets included)."""
    per_pixel = 4 * channels + {"segmentation": 4, "detection": max_objects or 0}.get(task, 0)
    return int(num_samples) * int(height) * int(width) * per_pixel <= CACHE_BYTES


def _records_dataset(task, samples, *, image_size, channels, max_objects=None, shuffle=False, seed=0,
                     cache=False):
    from vras_keras.data import images  # sub-modules on first use (data/__init__)
    from vras_keras.data.formats._common import DataFormatError  # as above

    if image_size is not None:
        h, w = shapes._hw(image_size)
    else:
        h, w = infer_image_size(samples) or (None, None)
    if task == "detection":
        most = max([len(r["classes"]) for r in samples] + [1])
        if max_objects is None:
            max_objects = most
        elif most > int(max_objects):
            crowded = next(r.get("file", "?") for r in samples if len(r["classes"]) == most)
            raise ValueError(f"{crowded} has {most} objects but max_objects={max_objects}; raise max_objects")
    num_joints = samples[0]["keypoints"].shape[0] if task == "pose" and samples else len(shapes.JOINT_NAMES)
    flat = _flat_signature(task, h, w, max_objects, num_joints, channels)

    def make(i):
        record = samples[i]
        if "image" not in record:  # lazy record: decode now, with the one decoder
            try:
                image = images.read_image(record["file"], channels=channels)
            except (images.ImageDecodeError, OSError) as error:
                raise DataFormatError(record["file"], "image", f"cannot decode image ({error})") from None
            record = {**record, "image": image}
        elif record["image"].shape[-1] != channels:
            record = {**record, "image": images.to_rgb(record["image"], channels=channels)}
        if h is not None:
            record = _resize_record(task, record, h, w)
        return _flat_element(task, record, max_objects)

    def make_many(indices):  # a chunk of the (shuffled) order, decoded in one call: no per-image TF overhead
        return tuple(np.stack(column) for column in zip(*(make(int(i)) for i in indices)))

    # Equal-sized elements are made in chunks (stackable); the cache keeps them only when they fit.
    fixed = h is not None and (task != "detection" or max_objects is not None)
    cache = cache and fixed and cache_fits(len(samples), h, w, channels, task, max_objects)
    ds = indexed_dataset(len(samples), make, flat, shuffle=shuffle, seed=seed, cache=cache,
                         make_many=make_many if fixed else None, chunk=FILE_CHUNK)
    if samples:
        import tensorflow as tf

        ds = ds.apply(tf.data.experimental.assert_cardinality(len(samples)))
    return ds.map(_structure(task)), (h, w)


def load(task: str, *, split: str = "train", num_samples: int | None = None, image_size=None, seed: int = 0,
         batch_size: int | None = None, source=None, format: str | None = None, skip_bad: bool = False,
         shuffle: bool = False, channels: int | None = None, val_fraction: float | None = None,
         cache: bool = False, workers: int | None = None, **kwargs):
    """A `tf.data.Dataset` of `(image, target)` for `task` (see the module docstring for the structure).

    Args:
        task: "classification", "segmentation", "detection" or "pose".
        split: "train", "val" or "test": a separate seed stream (synthetic) or the `source/<split>` folder.
        num_samples: synthetic: how many samples (default 1000); files: keep at most this many (a seeded
            sample across the whole set, not the first files of the first classes).
        image_size: int or (height, width). Synthetic default 64; files: resize to it (None: the files'
            size when they all share one, see the `image_size` attribute; else batching needs equal sizes).
        seed: dataset seed (synthetic samples), shuffle and hold-out seed.
        batch_size: batch the dataset (None: unbatched elements).
        source: a dataset folder to read instead of generating data.
        format: the folder's format ("folder", "coco", "voc", "masks"); detected when None.
        skip_bad: skip (count, report) bad samples instead of raising `ValueError`.
        shuffle: shuffle the whole record list with `seed` before decoding, in a new order every epoch.
        channels: files: 1 (grayscale) or 3 (RGB); None: 1 when every image file is grayscale, else 3.
        val_fraction: files without a `source/<split>` folder: `split="train"` gives all but a stratified,
            deterministic `val_fraction` of the samples and `split="val"` gives that fraction.
        cache: keep decoded elements in memory after they were made once.
        workers: synthetic data: processes generating samples in parallel (`vras_keras.data.workers`;
            0: in this process; None: 0 below 512 samples, else min(cores, 4)). The bytes do not depend on it.
        **kwargs: synthetic: `ShapesWorld` / `StickFigures` arguments (e.g. `max_objects`); files: reader
            arguments (e.g. `class_names`: name the labels by the training split's classes) and
            `max_objects` (detection padding, default: the most objects in any image).

    Returns:
        The dataset, with attributes `class_names`, `num_skipped`, `skipped`, `num_samples`,
        `image_size` ((height, width) or None) and `channels`; and `held_out` (the number of held-out
        samples) when `val_fraction` split the folder.
    """
    _check_task(task)
    held_out = None
    if source is None:
        if format is not None or skip_bad:
            raise ValueError("format= and skip_bad= apply to source= data only")
        if channels not in (None, 3):
            raise ValueError(f"channels={channels!r}: the synthetic data is RGB (3 channels)")
        num_samples = 1000 if num_samples is None else int(num_samples)
        if num_samples < 0:
            raise ValueError(f"num_samples must be >= 0, received {num_samples}")
        image_size = 64 if image_size is None else image_size
        ds, names = _synthetic_dataset(task, split=split, num_samples=num_samples, image_size=image_size,
                                       seed=seed, shuffle=shuffle, cache=cache, workers=workers, **kwargs)
        skipped, size, channels = [], shapes._hw(image_size), 3
    else:
        if workers is not None:
            raise ValueError("workers= applies to synthetic data only (files are decoded in this process)")
        if channels not in (None, 1, 3):
            raise ValueError(f"channels must be 1 (grayscale), 3 (RGB) or None (inferred), received {channels!r}")
        max_objects = kwargs.pop("max_objects", None)
        folder = os.fspath(source)
        if os.path.isdir(os.path.join(folder, split)):
            records = _read_folder(task, os.path.join(folder, split), format=format, skip_bad=skip_bad, **kwargs)
            samples = records.samples
        else:
            records = _read_folder(task, folder, format=format, skip_bad=skip_bad, **kwargs)
            samples = records.samples
            if val_fraction and split in ("train", "val"):
                train, val = holdout(samples, val_fraction, seed=seed, task=task)
                samples = train if split == "train" else val
                held_out = len(val)
        if num_samples is not None and int(num_samples) < len(samples):
            keep = np.sort(np.random.default_rng([int(seed), 104729]).permutation(len(samples))[: int(num_samples)])
            samples = [samples[i] for i in keep]
        channels = infer_channels(samples) if channels is None else int(channels)
        ds, size = _records_dataset(task, samples, image_size=image_size, channels=channels,
                                    max_objects=max_objects, shuffle=shuffle, seed=seed, cache=cache)
        size = None if size == (None, None) else size
        names, skipped, num_samples = records.class_names, records.skipped, len(samples)
    ds = _finish(ds, batch_size=batch_size)
    ds.class_names = tuple(names)
    ds.skipped = list(skipped)
    ds.num_skipped = len(skipped)
    ds.num_samples = int(num_samples)
    ds.image_size = size
    ds.channels = channels
    ds.held_out = held_out
    return ds


__all__ = [
    "load",
    "num_classes",
    "class_names",
    "element_spec",
    "generator",
    "synthetic_records",
    "read_records",
    "detect_format",
    "holdout",
    "indexed_dataset",
    "split_seed",
    "TASKS",
    "SPLITS",
    "FORMATS",
    "IGNORE",
]
