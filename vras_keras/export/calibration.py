"""Images for int8 calibration (training split) and parity checks (validation split), per task.

Synthetic ShapesWorld / StickFigures data from `vras_keras.data.datasets` at the model's input size;
tasks without a dataset of their own (stn, matching) use the classification images.
"""

from __future__ import annotations

import numpy as np

# task -> the `datasets.load` task whose images fit it
DATA_TASK = {
    "classification": "classification",
    "segmentation": "segmentation",
    "detection": "detection",
    "pose": "pose",
    "stn": "classification",
    "matching": "detection",
}


def task_images(task: str, *, split: str, num_samples: int, input_size, channels: int = 3, seed: int = 0,
                source: str | None = None) -> np.ndarray:
    """float32 `(num_samples, H, W, channels)` images in 0..255 of `split` for `task`."""
    from vras_keras.data import datasets

    if task not in DATA_TASK:
        raise ValueError(f"unknown task {task!r}; known: {sorted(DATA_TASK)}")
    kwargs = {"source": source} if source else {}
    ds = datasets.load(DATA_TASK[task], split=split, num_samples=num_samples, image_size=tuple(input_size),
                       seed=seed, batch_size=max(1, min(num_samples, 64)), **kwargs)
    images = np.concatenate([x.numpy() for x, _ in ds])[:num_samples].astype(np.float32)
    if channels == 1:
        images = images.mean(axis=-1, keepdims=True)
    elif channels != images.shape[-1]:
        raise ValueError(f"the model takes {channels} channels; the {task} data has {images.shape[-1]}")
    return images


def representative_batches(images: np.ndarray, batch_size: int = 8):
    """A callable for `convert_to_tflite(representative_data=...)` over `images` in batches."""
    return lambda: (images[i : i + batch_size] for i in range(0, len(images), batch_size))
