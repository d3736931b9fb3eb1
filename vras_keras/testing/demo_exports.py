"""Tiny untrained exports of every task, for testing the demo (`apps/`) and anything that reads `savedmodels/`.

`make_tiny_exports(root)` writes one export per task (`tiny_classification`, `tiny_segmentation`, ...) with
`vras_keras.export.saved_model.export_saved_model`, from small hand-built Keras models whose outputs have
the layout each task's post-processing expects (`vras_keras.export.signatures`). They do not depend on the
family builders, so the demo's tests run whichever families a checkout holds. A few seconds per export.
"""

from __future__ import annotations

import os

import keras
import numpy as np
from keras import ops

from vras_keras.layers.conv_norm_act import conv_norm_act, image_input

TINY_SIZE = 32
TASKS = ("classification", "segmentation", "detection", "pose", "stn", "matching")


class _DetectionHead(keras.layers.Layer):
    """Pooled features -> `{"boxes" xyxy pixels, "scores", "classes", "masks"}` for `max_detections` slots."""

    def __init__(self, max_detections, num_classes, image_size, mask_size=8, **kwargs):
        super().__init__(**kwargs)
        self.max_detections, self.num_classes = max_detections, num_classes
        self.image_size, self.mask_size = image_size, mask_size
        m = max_detections
        self.box = keras.layers.Dense(m * 4, kernel_initializer=keras.initializers.RandomNormal(stddev=2.0))
        self.score = keras.layers.Dense(m, kernel_initializer=keras.initializers.RandomNormal(stddev=2.0))
        self.cls = keras.layers.Dense(m * num_classes)
        self.mask = keras.layers.Dense(m * mask_size * mask_size)

    def call(self, features):
        m, size = self.max_detections, float(self.image_size)
        raw = ops.reshape(ops.sigmoid(self.box(features)), (-1, m, 4)) * size
        x1, x2 = ops.minimum(raw[..., 0], raw[..., 2]), ops.maximum(raw[..., 0], raw[..., 2]) + 2.0
        y1, y2 = ops.minimum(raw[..., 1], raw[..., 3]), ops.maximum(raw[..., 1], raw[..., 3]) + 2.0
        boxes = ops.stack([x1, y1, ops.minimum(x2, size), ops.minimum(y2, size)], axis=-1)
        scores = ops.sigmoid(self.score(features))
        classes = ops.cast(ops.argmax(ops.reshape(self.cls(features), (-1, m, self.num_classes)), axis=-1), "int32")
        masks = ops.sigmoid(ops.reshape(self.mask(features), (-1, m, self.mask_size, self.mask_size)))
        return {"boxes": boxes, "scores": scores, "classes": classes, "masks": masks}


class _GridKeypoints(keras.layers.Layer):
    """A `(N, H', W', D)` feature map -> keypoints at its cell centres (input pixels) and their descriptors."""

    def __init__(self, image_size, **kwargs):
        super().__init__(**kwargs)
        self.image_size = image_size

    def call(self, features):
        h, w, d = features.shape[1], features.shape[2], features.shape[3]
        ys, xs = np.meshgrid((np.arange(h) + 0.5) * self.image_size / h, (np.arange(w) + 0.5) * self.image_size / w,
                             indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], -1).astype(np.float32)
        batch = ops.shape(features)[0]
        keypoints = ops.broadcast_to(ops.convert_to_tensor(grid)[None], (batch, h * w, 2))
        descriptors = ops.reshape(features, (-1, h * w, d))
        descriptors = descriptors / (ops.norm(descriptors, axis=-1, keepdims=True) + 1e-6)
        return {"keypoints": keypoints, "descriptors": descriptors, "scores": ops.max(descriptors, axis=-1)}


def tiny_model(task: str, size: int = TINY_SIZE) -> keras.Model:
    """A small untrained model of `task` with the outputs its export post-processing expects."""
    from vras_keras.data import datasets, shapes

    keras.utils.set_random_seed(0)
    inputs, x = image_input((size, size, 3))
    x = conv_norm_act(x, 8, 3, name="block1")
    if task == "classification":
        y = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        out = keras.layers.Dense(len(shapes.CLASS_NAMES), activation="softmax", name="predictions")(y)
    elif task == "segmentation":
        out = keras.layers.Conv2D(datasets.num_classes("segmentation"), 1, activation="softmax", name="probabilities")(x)
    elif task == "detection":
        y = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        out = _DetectionHead(5, len(shapes.CLASS_NAMES), size, name="decoder")(y)
    elif task == "pose":
        y = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        joints = len(shapes.JOINT_NAMES)
        y = keras.layers.Dense(joints * 3, activation="sigmoid", name="head")(y)
        y = keras.layers.Reshape((joints, 3))(y)
        out = keras.layers.Rescaling([size, size, 1.0], name="keypoints")(y)
    elif task == "stn":
        transformed = keras.layers.AveragePooling2D(2, name="transformed_image")(inputs)  # 0..255 kept
        y = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        probabilities = keras.layers.Dense(10, activation="softmax", name="probabilities")(y)
        out = {"transformed_image": transformed, "probabilities": probabilities}
    elif task == "matching":
        y = keras.layers.AveragePooling2D(4, name="cells")(x)
        out = _GridKeypoints(size, name="describe")(y)
    else:
        raise ValueError(f"task must be one of {TASKS}, received {task!r}")
    return keras.Model(inputs, out, name=f"tiny_{task}")


def tiny_meta(task: str, model: keras.Model):
    from vras_keras.data import datasets, shapes
    from vras_keras.export.meta import meta_for_model

    fields = {
        "classification": {"labels": list(shapes.CLASS_NAMES)},
        "segmentation": {"labels": list(datasets.class_names("segmentation"))},
        "detection": {"labels": list(shapes.CLASS_NAMES)},
        "pose": {"keypoint_names": list(shapes.JOINT_NAMES), "skeleton": [list(p) for p in shapes.SKELETON]},
        "stn": {"labels": [str(d) for d in range(10)]},
        "matching": {},
    }[task]
    return meta_for_model(model, task=task, **fields)


def make_tiny_exports(root, tasks=TASKS, *, tflite_tasks=("classification",), size: int = TINY_SIZE) -> dict:
    """Export a tiny model of every task in `tasks` to `root/tiny_TASK/1`; returns `{task: version path}`.

    Tasks in `tflite_tasks` also get a `model.tflite` (the others only a SavedModel, to save time).
    """
    from vras_keras.export.saved_model import export_saved_model

    paths = {}
    for task in tasks:
        model = tiny_model(task, size)
        formats = ("saved_model", "tflite") if task in tflite_tasks else ("saved_model",)
        result = export_saved_model(model, tiny_meta(task, model), str(root), name=f"tiny_{task}", version=1,
                                    formats=formats)
        paths[task] = result.path
    return paths


def tiny_exports_cached(cache_dir) -> str:
    """`make_tiny_exports` into `cache_dir/savedmodels` once, safe across processes (pytest-xdist workers):
    the first caller writes under a file lock, the others wait and reuse. Returns the savedmodels folder."""
    import fcntl

    os.makedirs(cache_dir, exist_ok=True)
    root = os.path.join(cache_dir, "savedmodels")
    done = os.path.join(cache_dir, "complete")
    with open(os.path.join(cache_dir, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not os.path.exists(done):
                import shutil

                shutil.rmtree(root, ignore_errors=True)
                make_tiny_exports(root)
                open(done, "w").close()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return root


def trained_demo_exports_cached(cache_dir) -> tuple[str, str]:
    """The demo's whole path for every family on tiny settings (`vras_keras.demo.recipes.prepare(quick=True)`:
    train, export the SavedModel, add the TFLite file, the classifier's landscape) into `cache_dir`, once,
    safe across processes as `tiny_exports_cached`. Returns `(savedmodels folder, runs folder)`; the
    outcomes are in `cache_dir/outcomes.json`."""
    import fcntl
    import json

    os.makedirs(cache_dir, exist_ok=True)
    root, runs = os.path.join(cache_dir, "savedmodels"), os.path.join(cache_dir, "runs")
    done = os.path.join(cache_dir, "outcomes.json")
    with open(os.path.join(cache_dir, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not os.path.exists(done):
                import dataclasses
                import shutil

                from vras_keras.demo import recipes

                shutil.rmtree(root, ignore_errors=True)
                shutil.rmtree(runs, ignore_errors=True)
                outcomes = recipes.prepare(root, runs_dir=runs, quick=True)
                with open(done, "w") as f:
                    json.dump([dataclasses.asdict(o) for o in outcomes], f)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return root, runs
