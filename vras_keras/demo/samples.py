"""Sample inputs of the demo pages: synthetic renders matching each task's training data, then
scikit-image photographs (bundled with scikit-image, no download)."""

from __future__ import annotations

import functools

import numpy as np
import skimage.data

from vras_keras.data.digits import DistortedDigits
from vras_keras.data.images import to_rgb
from vras_keras.data.shapes import ShapesWorld, StickFigures

UPLOAD_MAX_SIDE = 2048  # uploads are downscaled to this right after decoding: models run at a few hundred px
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "immunohistochemistry")
SYNTHETIC_SAMPLES = 6
SYNTHETIC_PREFIXES = ("ShapesWorld #", "stick figure #", "distorted digit #")


def sample_names(task: str) -> list[str]:
    """Sample inputs offered for `task`: synthetic renders matching the task's training data, then
    scikit-image photographs."""
    if task == "pose":
        synthetic = [f"stick figure #{i}" for i in range(SYNTHETIC_SAMPLES)]
    elif task == "stn":
        synthetic = [f"distorted digit #{i}" for i in range(SYNTHETIC_SAMPLES)]
    elif task == "matching":
        synthetic = []
    else:
        synthetic = [f"ShapesWorld #{i}" for i in range(SYNTHETIC_SAMPLES)]
    return synthetic + [f"photo: {name}" for name in PHOTOS]


@functools.lru_cache(maxsize=64)
def _sample(name: str, size: int) -> np.ndarray:
    if name.startswith("photo: "):
        photo = name[len("photo: "):]
        if photo not in PHOTOS:
            raise ValueError(f"unknown photo sample {photo!r}; available: {PHOTOS}")
        return to_rgb(getattr(skimage.data, photo)())
    kind, _, index = name.rpartition(" #")
    if not index.isdigit():
        raise ValueError(f"unknown sample {name!r}")
    index = int(index)
    if kind == "ShapesWorld":
        return ShapesWorld(image_size=size, max_objects=4, seed=2024, truncation=False).sample(index)["image"]
    if kind == "stick figure":
        return StickFigures(image_size=size, seed=2024).sample(index)["image"]
    if kind == "distorted digit":
        return to_rgb(DistortedDigits(split="test", variant="rts", canvas_size=size, seed=2024).sample(index)["image"])
    raise ValueError(f"unknown sample {name!r}")


def load_sample(name: str, size: int = 64) -> np.ndarray:
    """The sample `name` (from `sample_names`) as uint8 RGB; synthetic ones are rendered at `size`."""
    return _sample(name, int(size)).copy()
