"""From the recipe's `data` section to batched, shardable `tf.data` pipelines.

`DATA_SOURCES` maps a source name to a loader `(data_config, task, split, num_samples, seed) ->
SourceData` (an unbatched dataset of `(image float32 (H, W, 3) in 0..255, target)` plus its labels);
a new source is one more entry, no if/else. The generated sources (`shapes`, `digits`) and `path`
delegate to `vras_keras.data`; `synthetic` is self-contained (random images whose label is a
learnable colour/position cue) and serves smoke tests and the input-pipeline benchmark. The `pairs`
source of matching recipes is read by the matching runner (`vras_keras.training.matching`), not here.

`make_pipeline` batches with the global batch size (per-replica batch × replicas), drops the
remainder (every replica and worker sees equal batches), repeats (epochs are counted in steps, so a
resumed run and every worker agree on where an epoch ends) and sets the auto-shard policy to DATA
(generated data has no files to shard by).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Callable

import numpy as np


@dataclasses.dataclass
class SourceData:
    dataset: object  # unbatched tf.data.Dataset of (image, target)
    num_samples: int
    labels: list  # class / joint names, in target order
    input_shape: tuple


DATA_SOURCES: dict[str, Callable] = {}


def register_source(name: str):
    """Decorator adding a data source loader under `name` (must be unused)."""

    def decorator(fn):
        if name in DATA_SOURCES:
            raise ValueError(f"data source {name!r} is already registered")
        DATA_SOURCES[name] = fn
        return fn

    return decorator


def load_source(data_config, task: str, split: str, num_samples: int, seed: int) -> SourceData:
    if data_config.source not in DATA_SOURCES:
        raise ValueError(
            f"data.source: received {data_config.source!r}; expected one of {', '.join(sorted(DATA_SOURCES))}"
        )
    return DATA_SOURCES[data_config.source](data_config, task, split, num_samples, seed)


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


@register_source("shapes")
def _shapes(cfg, task, split, num_samples, seed):
    """ShapesWorld (StickFigures for pose) through `vras_keras.data.datasets.load`."""
    datasets = _vras_data("datasets", cfg.source)
    ds = datasets.load(_target_task(task), split=split, num_samples=num_samples, image_size=cfg.image_size,
                       seed=seed, **cfg.options)
    return SourceData(ds, num_samples, list(ds.class_names), (cfg.image_size, cfg.image_size, 3))


@register_source("digits")
def _digits(cfg, task, split, num_samples, seed):
    """Distorted scikit-learn digits on an `image_size` canvas, 1 channel (splits: train, test)."""
    digits = _vras_data("digits", cfg.source)
    ds = digits.digits_dataset(split, num_samples=num_samples, seed=seed, shuffle=False,
                               canvas_size=cfg.image_size, **cfg.options)
    return SourceData(ds, num_samples, list(digits.CLASS_NAMES), (cfg.image_size, cfg.image_size, 1))


@register_source("path")
def _path(cfg, task, split, num_samples, seed):
    """Your data on disk (`format`: folder | coco | voc | masks), resized to `image_size`."""
    datasets = _vras_data("datasets", cfg.source)
    ds = datasets.load(_target_task(task), split=split, image_size=cfg.image_size, seed=seed, source=cfg.path,
                       format=cfg.format, **cfg.options)
    n = int(ds.cardinality())
    if n < 0:  # unknown cardinality: count once
        import tensorflow as tf

        n = int(ds.reduce(tf.constant(0, tf.int64), lambda c, _: c + 1))
    return SourceData(ds, n, list(ds.class_names), (cfg.image_size, cfg.image_size, 3))


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
def _synthetic(cfg, task, split, num_samples, seed):
    import tensorflow as tf

    options = dict(cfg.options)
    num_classes = options.pop("num_classes", 4)
    if options:
        raise ValueError(f"data.options: unknown keys {sorted(options)} for source 'synthetic'; allowed: num_classes")
    t = _target_task(task)
    split_offset = {"train": 0, "val": 1, "test": 2}.get(split, 3)
    images, targets = synthetic_arrays(t, num_samples, cfg.image_size, num_classes, seed * 10 + split_offset)
    ds = tf.data.Dataset.from_tensor_slices((images, targets))
    names = [f"class_{i}" for i in range(num_classes)]
    labels = names if t == "classification" else ["background"] + names
    return SourceData(ds, num_samples, labels, (cfg.image_size, cfg.image_size, 3))


# ------------------------------------------------------------------------------------------ pipeline
def make_pipeline(source: SourceData, global_batch: int, *, training: bool, seed: int, shuffle_buffer: int = 1024,
                  map_targets: Callable | None = None, cache: bool = True):
    """Batch, repeat and shard a source; returns `(dataset, steps)` with `steps` batches per epoch.

    Raises:
        ValueError: fewer samples than one global batch.
    """
    import tensorflow as tf

    steps = source.num_samples // global_batch
    if steps < 1:
        raise ValueError(
            f"data: {source.num_samples} samples make no full batch of {global_batch} "
            "(batch_per_replica × replicas); lower batch_per_replica or raise num_samples"
        )
    ds = source.dataset
    if cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(min(shuffle_buffer, source.num_samples), seed=seed, reshuffle_each_iteration=True)
    ds = ds.repeat().batch(global_batch, drop_remainder=True)
    if map_targets is not None:
        ds = ds.map(lambda x, y: (x, map_targets(y)), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.deterministic = True
    return ds.with_options(options), steps
