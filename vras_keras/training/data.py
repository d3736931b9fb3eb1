"""From the recipe's `data` section to batched, shardable `tf.data` pipelines.

`DATA_SOURCES` maps a source name to a loader `(data_config, task, split, num_samples, seed, *,
shuffle=False, like=None) -> SourceData` (an unbatched dataset of `(image float32 (H, W, C) in 0..255,
target)` plus its labels); a new source is one more entry, no if/else. `shuffle=True` asks for the
training order: the whole record list permuted every epoch (seeded) before decoding, which sources that
can do it report with `SourceData.shuffled`. `like` is the training split's `SourceData` when the
validation split is loaded: it must use the same class list (by name), image size and channels.
`load_train_val` loads both splits, holding out `data.val_fraction` of a folder without a validation
split. The generated sources (`shapes`, `digits`) and `path` delegate to `vras_keras.data`; `synthetic`
is self-contained (random images whose label is a learnable colour/position cue) and serves smoke tests and
the input-pipeline benchmark. The `pairs` source of matching recipes is read by the matching runner
(`vras_keras.training.lift` via `training/matching.py`), not here.

`make_pipeline` batches with the global batch size (per-replica batch × replicas), drops the
remainder (every replica and worker sees equal batches), repeats (epochs are counted in steps, so a
resumed run and every worker agree on where an epoch ends) and sets the auto-shard policy to DATA
(generated data has no files to shard by). tf.data's autotuner is off for image files (`path`): with it,
`fit` returned 4-50 s after the last epoch (the iterator's teardown waited for the tuner's period).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from typing import Callable

import numpy as np
import tensorflow as tf


@dataclasses.dataclass
class SourceData:
    dataset: object  # unbatched tf.data.Dataset of (image, target)
    num_samples: int
    labels: list  # class / joint names, in target order
    input_shape: tuple
    shuffled: bool = False  # already permuted per epoch (and cached) by the source: no shuffle buffer
    note: str | None = None  # one line about what was inferred or held out, printed by the trainer
    autotune: bool = True  # tf.data's autotuner on its pipeline (off for files: see make_pipeline)


DATA_SOURCES: dict[str, Callable] = {}


def register_source(name: str):
    """Decorator adding a data source loader under `name` (must be unused)."""

    def decorator(fn):
        if name in DATA_SOURCES:
            raise ValueError(f"data source {name!r} is already registered")
        DATA_SOURCES[name] = fn
        return fn

    return decorator


def load_source(data_config, task: str, split: str, num_samples: int, seed: int, *, shuffle: bool = False,
                like: SourceData | None = None) -> SourceData:
    if data_config.source not in DATA_SOURCES:
        raise ValueError(
            f"data.source: received {data_config.source!r}; expected one of {', '.join(sorted(DATA_SOURCES))}"
        )
    return DATA_SOURCES[data_config.source](data_config, task, split, num_samples, seed, shuffle=shuffle, like=like)


def load_train_val(data_config, task: str, seed: int, *, log=print):
    """`(train, val)` SourceData of a recipe's data section (`val` is None with `val_split: null`).

    The validation split takes the training split's class list, image size and channels; what was
    inferred or held out is printed as one line each through `log`.
    """

    d = data_config
    train = load_source(d, task, d.split, d.num_samples, seed, shuffle=True)
    val = None
    no_val_data = (d.source == "path" and d.val is None and not d.val_fraction and d.val_split is not None
                   and not os.path.isdir(os.path.join(d.path, d.val_split)))
    if no_val_data and log is not None:
        log(f"vras train: data: no {d.val_split}/ folder in {d.path}, no data.val and val_fraction 0: no validation")
    if (d.val_split is not None or d.val is not None) and not no_val_data:
        val = load_source(d, task, d.val_split or "val", d.val_samples, seed, like=train)
    for src in (train, val):
        if src is not None and src.note and log is not None:
            log(src.note)
    return train, val


# ------------------------------------------------------------------------------------------- sources
def _vras_data(module: str, source: str):
    try:
        return importlib.import_module(f"vras_keras.data.{module}")
    except ImportError as error:
        raise ValueError(
            f"data.source {source!r} needs vras_keras.data.{module}, which this installation lacks ({error})"
        ) from None


def _target_task(task: str) -> str:
    # STN classifiers train on classification targets.
    return "classification" if task == "stn" else task


def _generated_size(cfg) -> int:
    return 64 if cfg.image_size is None else cfg.image_size  # generated data: 64 px unless the recipe says


def _generated_channels(cfg, source: str, channels: int) -> int:
    if cfg.channels not in (None, channels):
        raise ValueError(f"data.channels: received {cfg.channels}; source {source!r} gives {channels}-channel images")
    return channels


@register_source("shapes")
def _shapes(cfg, task, split, num_samples, seed, *, shuffle=False, like=None):
    """ShapesWorld (StickFigures for pose) through `vras_keras.data.datasets.load`."""
    datasets = _vras_data("datasets", cfg.source)
    size = _generated_size(cfg)
    channels = _generated_channels(cfg, cfg.source, 3)
    ds = datasets.load(_target_task(task), split=split, num_samples=num_samples, image_size=size,
                       seed=seed, shuffle=shuffle, cache=cfg.cache, **cfg.options)
    return SourceData(ds, num_samples, list(ds.class_names), (size, size, channels), shuffled=True)


@register_source("digits")
def _digits(cfg, task, split, num_samples, seed, *, shuffle=False, like=None):
    """Distorted scikit-learn digits on an `image_size` canvas, 1 channel (splits: train, test)."""
    digits = _vras_data("digits", cfg.source)
    size = _generated_size(cfg)
    channels = _generated_channels(cfg, cfg.source, 1)
    ds = digits.digits_dataset(split, num_samples=num_samples, seed=seed, shuffle=False,
                               canvas_size=size, **cfg.options)
    return SourceData(ds, num_samples, list(digits.CLASS_NAMES), (size, size, channels))


def _describe_size(ds, inferred_size, inferred_channels) -> str:
    h, w = ds.image_size
    keys = [k for k, inferred in (("data.image_size", inferred_size), ("data.channels", inferred_channels)) if inferred]
    origin = f" ({' and '.join(k.split('.')[1] for k in keys)} inferred from the files; set {' / '.join(keys)} to " \
             "change)" if keys else ""
    return f"{ds.num_samples} images, {w}x{h} px, {ds.channels} channel(s){origin}"


@register_source("path")
def _path(cfg, task, split, num_samples, seed, *, shuffle=False, like=None):
    """Your data on disk (`format`: folder | coco | voc | masks), read lazily, decoded by the one decoder.

    Validation data is, in this order: the folder `data.val`, the split folder `path/<val_split>`, or a
    stratified, deterministic `data.val_fraction` held out of `path` (one printed line says so).
    Image size and channels are the recipe's, else inferred from the files (and printed).
    """

    datasets = _vras_data("datasets", cfg.source)
    t = _target_task(task)
    options = dict(cfg.options)
    kwargs = dict(format=cfg.format, seed=seed, shuffle=shuffle, cache=cfg.cache, **options)
    note = None
    if like is None:  # the training split
        size = cfg.image_size
        channels = cfg.channels
        has_val = cfg.val is not None or cfg.val_split is None or os.path.isdir(os.path.join(cfg.path, cfg.val_split))
        fraction = None if has_val or os.path.isdir(os.path.join(cfg.path, split)) else cfg.val_fraction
        ds = datasets.load(t, split=split, image_size=size, channels=channels, source=cfg.path,
                           val_fraction=fraction, **kwargs)
        if ds.image_size is None:
            raise ValueError(f"data.image_size: the images in {cfg.path} have different sizes; set data.image_size "
                             "(the side, in pixels, every image is resized to)")
        note = f"vras train: data: {cfg.path} ({split}): " + _describe_size(ds, size is None, channels is None)
        if ds.held_out is not None:
            note += (f"\nvras train: data: no {cfg.val_split}/ folder in {cfg.path} and no data.val: holding out "
                     f"{cfg.val_fraction:g} of it for validation ({ds.held_out} images, stratified by class, "
                     f"seed {seed}); set data.val: FOLDER to validate on other images")
    else:  # validation: the training split's classes (by name), size and channels
        h, w, c = like.input_shape
        kwargs.update(image_size=(h, w), channels=c, shuffle=False)
        if t in ("classification", "segmentation", "detection"):
            kwargs["class_names"] = _reader_class_names(t, cfg.format, like.labels)
        if cfg.val is not None:
            ds = datasets.load(t, split=split, source=cfg.val, **kwargs)
        else:
            has_split = os.path.isdir(os.path.join(cfg.path, split))
            ds = datasets.load(t, split=split, source=cfg.path, val_fraction=None if has_split else cfg.val_fraction,
                               **kwargs)
    return SourceData(ds, ds.num_samples, list(ds.class_names), (*ds.image_size, ds.channels), shuffled=True,
                      note=note, autotune=False)


def _reader_class_names(task, fmt, labels):
    """The training labels in the form a reader's `class_names=` takes (segmentation labels include
    "background", which the VOC reader adds itself)."""
    if task == "segmentation" and fmt == "voc" and labels and labels[0] == "background":
        return list(labels[1:])
    return list(labels)


SYNTHETIC_PALETTE = np.array(
    [[230, 40, 40], [40, 200, 40], [40, 60, 230], [230, 220, 40], [200, 40, 220], [40, 220, 220],
     [240, 140, 30], [140, 140, 140]], dtype=np.float32)


def synthetic_arrays(task: str, num_samples: int, image_size: int, num_classes: int = 4, seed: int = 0):
    """Deterministic `(images float32 (N, S, S, 3) in 0..255, targets)` with a learnable cue.

    classification: the label is the colour of a square on a noisy background;
    segmentation: the mask is that square (class + 1, background 0).
    """
    if task not in ("classification", "segmentation"):
        raise ValueError(f"data.source 'synthetic' supports tasks classification, segmentation; received {task!r}")
    if not 2 <= num_classes <= len(SYNTHETIC_PALETTE):
        raise ValueError(f"data.options.num_classes: received {num_classes}; expected 2..{len(SYNTHETIC_PALETTE)}")
    rng = np.random.default_rng(seed)
    s = image_size
    images = rng.uniform(0, 90, size=(num_samples, s, s, 3)).astype(np.float32)
    labels = rng.integers(0, num_classes, size=num_samples).astype(np.int32)
    masks = np.zeros((num_samples, s, s), np.int32)
    for i in range(num_samples):
        side = rng.integers(max(2, s // 4), max(3, s // 2) + 1)
        y0, x0 = rng.integers(0, s - side + 1, size=2)
        images[i, y0:y0 + side, x0:x0 + side] = SYNTHETIC_PALETTE[labels[i]]
        masks[i, y0:y0 + side, x0:x0 + side] = labels[i] + 1
    return images, (labels if task == "classification" else masks)


@register_source("synthetic")
def _synthetic(cfg, task, split, num_samples, seed, *, shuffle=False, like=None):

    options = dict(cfg.options)
    num_classes = options.pop("num_classes", 4)
    if options:
        raise ValueError(f"data.options: unknown keys {sorted(options)} for source 'synthetic'; allowed: num_classes")
    t = _target_task(task)
    split_offset = {"train": 0, "val": 1, "test": 2}.get(split, 3)
    size = _generated_size(cfg)
    channels = _generated_channels(cfg, cfg.source, 3)
    images, targets = synthetic_arrays(t, num_samples, size, num_classes, seed * 10 + split_offset)
    ds = tf.data.Dataset.from_tensor_slices((images, targets))
    names = [f"class_{i}" for i in range(num_classes)]
    labels = names if t == "classification" else ["background"] + names
    return SourceData(ds, num_samples, labels, (size, size, channels))


# ------------------------------------------------------------------------------------------ pipeline
def make_pipeline(source: SourceData, global_batch: int, *, training: bool, seed: int, shuffle_buffer: int = 1024,
                  map_targets: Callable | None = None, cache: bool = True):
    """Batch, repeat and shard a source; returns `(dataset, steps)` with `steps` batches per epoch.

    Raises:
        ValueError: fewer samples than one global batch.
    """

    steps = source.num_samples // global_batch
    if steps < 1:
        raise ValueError(
            f"data: {source.num_samples} samples make no full batch of {global_batch} "
            "(batch_per_replica × replicas); lower batch_per_replica or raise num_samples"
        )
    ds = source.dataset
    if cache and not source.shuffled:  # shuffled sources cache by index themselves
        ds = ds.cache()
    if training and not source.shuffled:
        ds = ds.shuffle(min(shuffle_buffer, source.num_samples), seed=seed, reshuffle_each_iteration=True)
    ds = ds.repeat().batch(global_batch, drop_remainder=True)
    if map_targets is not None:
        ds = ds.map(lambda x, y: (x, map_targets(y)), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.deterministic = True
    # tf.data's autotuner re-optimises on a period that doubles up to 60 s; destroying the iterator (fit
    # returning) waited for that period to end: 4-50 s after the last epoch of a run on image files. Without
    # it AUTOTUNE means one parallel call per core and a prefetch buffer that grows on demand: the same CPU
    # time per epoch on Fashion-MNIST files. Generated sources keep it (their first pass, which generates
    # the samples, measured 0-25 % slower without it under load; not settled).
    options.autotune.enabled = bool(source.autotune)
    return ds.with_options(options), steps
