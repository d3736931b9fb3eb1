"""Images for int8 calibration (training split) and parity checks (validation split), per task.

The images come from the data a run was trained on, as its `vras_meta.json` records it (`data`: source,
absolute path, format, split, held-out fraction, channels; see `vras_keras/training/trainer.py`), so
`vras export RUN --quantize int8 --check` works from any working directory:

- `source: path`: the run's folder (its training part for calibration, its validation part for the
  check), decoded by the one decoder at the model's input size; the images are a seeded sample across the
  whole set (every class), not the first files of a class-sorted folder;
- `shapes` or no record (a registered model): synthetic ShapesWorld / StickFigures images;
- other generated sources (`digits`, `synthetic`, `pairs`): that source, through `vras_keras.training.data`.

Tasks without a dataset of their own (stn, matching) use the classification / detection images.
"""

from __future__ import annotations

import os

import numpy as np

from vras_keras.data import datasets

# task -> the `datasets.load` task whose images fit it
DATA_TASK = {
    "classification": "classification",
    "segmentation": "segmentation",
    "detection": "detection",
    "pose": "pose",
    "stn": "classification",
    "matching": "detection",
}


def _path_images(task, data, *, split, num_samples, input_size, channels, seed):

    root = data.get("path")
    if not root or not os.path.exists(root):
        raise FileNotFoundError(f"the run's data folder {root!r} (recorded in its vras_meta.json) does not exist; "
                                "pass the data again (e.g. vras evaluate --data DIR)")
    fraction = data.get("val_fraction") or None
    train_split, val_split = data.get("split") or "train", data.get("val_split") or "val"
    source, which = root, train_split if split == "train" else val_split
    if split == "train":
        if os.path.isdir(os.path.join(root, train_split)) or data.get("val"):
            fraction = None  # a train/ folder, or a separate validation folder: all of it trains
        elif fraction:
            which = "train"  # the training part of the held-out split
    elif data.get("val"):
        source, fraction = data["val"], None
    elif os.path.isdir(os.path.join(root, val_split)):
        fraction = None
    elif fraction:
        which = "val"  # the held-out part
    ds = datasets.load(DATA_TASK[task], source=source, format=data.get("format"), split=which,
                       val_fraction=fraction, image_size=tuple(input_size), channels=channels,
                       num_samples=num_samples, seed=seed, batch_size=max(1, min(num_samples, 64)),
                       **(data.get("options") or {}))
    return np.concatenate([x.numpy() for x, _ in ds]).astype(np.float32) if ds.num_samples else \
        np.zeros((0, *input_size, channels), np.float32)


def _generated_images(task, data, *, split, num_samples, input_size, channels, seed):
    from vras_keras.training.config import DataConfig  # pulls TensorFlow: this module imports without it
    from vras_keras.training.data import load_source  # pulls TensorFlow (see above)

    fields = {k: v for k, v in data.items() if k in DataConfig.__dataclass_fields__}
    cfg = DataConfig(**{**fields, "image_size": int(input_size[0]), "path": None, "val": None, "channels": None})
    src = load_source(cfg, task, "train" if split == "train" else "val", num_samples, seed)
    return np.stack([x.numpy() for x, _ in src.dataset.take(num_samples)]).astype(np.float32)


def task_images(task: str, *, split: str, num_samples: int, input_size, channels: int = 3, seed: int = 0,
                source: str | None = None, data: dict | None = None) -> np.ndarray:
    """float32 `(num_samples, H, W, channels)` images in 0..255 of `split` ("train" or "val") for `task`.

    Args:
        data: a run's recorded `data` section (see the module docstring); None: synthetic images.
        source: a dataset folder (same as `data={"source": "path", "path": source}`) or "shapes".
    """

    if task not in DATA_TASK:
        raise ValueError(f"unknown task {task!r}; known: {sorted(DATA_TASK)}")
    if data is None and source not in (None, "shapes"):
        data = {"source": "path", "path": os.path.abspath(source)}
    kind = (data or {}).get("source") or "shapes"
    if kind == "path":
        images = _path_images(task, data, split=split, num_samples=num_samples, input_size=input_size,
                              channels=channels, seed=seed)
    elif kind != "shapes" and task not in ("stn", "matching"):
        images = _generated_images(task, data, split=split, num_samples=num_samples, input_size=input_size,
                                   channels=channels, seed=seed)
    else:
        options = dict((data or {}).get("options") or {}) if kind == "shapes" and task == DATA_TASK[task] else {}
        ds = datasets.load(DATA_TASK[task], split=split, num_samples=num_samples, image_size=tuple(input_size),
                           seed=seed, batch_size=max(1, min(num_samples, 64)), **options)
        images = np.concatenate([x.numpy() for x, _ in ds])[:num_samples].astype(np.float32)
    if channels == 1 and images.shape[-1] == 3:
        images = np.round(images @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]  # the decoder's luma
    elif channels != images.shape[-1]:
        raise ValueError(f"the model takes {channels} channels; the {task} data has {images.shape[-1]}")
    if not len(images):
        raise ValueError(f"no {split} images for the {task} model in the run's data ({data})")
    return images


def representative_batches(images: np.ndarray, batch_size: int = 8):
    """A callable for `convert_to_tflite(representative_data=...)` over `images` in batches."""
    return lambda: (images[i : i + batch_size] for i in range(0, len(images), batch_size))
