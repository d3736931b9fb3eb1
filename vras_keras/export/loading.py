"""Load an export (SavedModel version folder or `.tflite` file) behind one `Predictor.predict` interface.

`load_export(path)` accepts:

- a version folder `savedmodels/NAME/VERSION/` (its SavedModel, or its TFLite file when
  `backend="tflite"` or when it holds no SavedModel);
- a model folder `savedmodels/NAME/` (the highest version);
- a `.tflite` file inside a version folder (metadata from the folder's `assets.extra/`).

`Predictor.predict(images)` takes uint8 (or float 0..255) RGB images, one `(H, W, 3)` array, a batch
`(N, H, W, 3)` or a list of arrays of any sizes; each is resized (bilinear, as the `serving_bytes`
signature does) to the model's input size, and the result is a dict of NumPy arrays named as in
`vras_keras.export.signatures.OUTPUTS`. The Streamlit demo and `vras predict` use it.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from vras_keras.data.images import resize
from vras_keras.export.meta import ExportMeta
from vras_keras.export.safety import load_saved_model
from vras_keras.export.saved_model import TFLITE_FILES, existing_versions
from vras_keras.export.tflite import TFLiteRunner

BACKENDS = ("saved_model", "tflite")
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # vras_keras.data.images._luma


class Predictor:
    """Runs an exported model; `meta` describes it (task, labels, input size, ...)."""

    def __init__(self, path: str, meta: ExportMeta, backend: str, run):
        self.path, self.meta, self.backend, self._run = path, meta, backend, run

    @property
    def task(self) -> str:
        return self.meta.task

    @property
    def input_size(self) -> tuple[int, int]:
        return self.meta.input_size

    def preprocess(self, images) -> np.ndarray:
        """Images -> float32 `(N, H, W, C)` at the input size (bilinear resize, 0..255 kept)."""

        if isinstance(images, np.ndarray) and images.ndim == 3:
            images = [images]
        h, w = self.meta.input_size
        c = self.meta.input_channels
        batch = []
        for i, image in enumerate(images):
            image = np.asarray(image)
            if image.ndim == 2:
                image = image[..., None]
            if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
                raise ValueError(f"image {i} must be (H, W, 1|3|4), received shape {image.shape}")
            image = image[..., :3].astype(np.float32)
            if image.shape[-1] != c:
                # gray as the decoder makes it (ITU-R 601 luma, rounded), so a 1-channel model sees what it trained on
                image = np.round(image @ LUMA)[..., None] if c == 1 else np.repeat(image, c, axis=-1)
            if image.shape[:2] != (h, w):
                image = resize(image, (h, w))  # the training resize: the serving graph's RESIZE_BILINEAR
            batch.append(image)
        if not batch:
            raise ValueError("predict needs at least one image")
        return np.stack(batch).astype(np.float32)

    def predict(self, images) -> dict[str, np.ndarray]:
        """Run on images (see `preprocess`); returns the signature's named outputs, batch first."""
        return self._run(self.preprocess(images))

    def __repr__(self):
        return f"Predictor({self.path!r}, task={self.task!r}, backend={self.backend!r}, input_size={self.input_size})"


def _version_dir(path: str) -> str:
    """`path` itself when it is a version folder, else its highest numeric version."""
    if os.path.exists(os.path.join(path, "saved_model.pb")) or os.path.isdir(os.path.join(path, "assets.extra")):
        return path
    versions = existing_versions(path)
    if not versions:
        raise FileNotFoundError(
            f"{path} is neither an export version folder (saved_model.pb or assets.extra/) nor a model folder with "
            f"numeric versions"
        )
    return os.path.join(path, str(versions[-1]))


def load_export(path: str, *, backend: str | None = None, quantize: str = "none", num_threads: int | None = None,
                allow_unsafe_ops: bool = False) -> Predictor:
    """A `Predictor` for an export (see the module docstring for the accepted paths).

    Args:
        path: version folder, model folder or `.tflite` file.
        backend: `"saved_model"` or `"tflite"`; default: SavedModel when the folder has one.
        quantize: which TFLite file of a folder: `"none"`, `"fp16"` or `"int8"`.
        num_threads: TFLite interpreter threads.
        allow_unsafe_ops: load a SavedModel whose graph holds file-system, Python or network ops
            (`vras_keras.export.safety`; refused by default: only for exports you trust).
    """


    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, received {backend!r}")
    if not os.path.exists(path):
        raise FileNotFoundError(f"export {path} does not exist")
    if os.path.isfile(path):
        if not path.endswith(".tflite"):
            raise ValueError(f"{path}: expected a .tflite file or an export folder")
        folder, tflite_path = os.path.dirname(os.path.abspath(path)), path
        backend = "tflite"
    else:
        folder = _version_dir(path)
        if quantize not in TFLITE_FILES:
            raise ValueError(f"quantize must be one of {tuple(TFLITE_FILES)}, received {quantize!r}")
        tflite_path = os.path.join(folder, TFLITE_FILES[quantize])
        has_saved_model = os.path.exists(os.path.join(folder, "saved_model.pb"))
        backend = backend or ("saved_model" if has_saved_model else "tflite")
        if backend == "saved_model" and not has_saved_model:
            raise FileNotFoundError(f"{folder} holds no saved_model.pb (exported with formats={{'tflite'}}?)")
        if backend == "tflite" and not os.path.exists(tflite_path):
            raise FileNotFoundError(f"{tflite_path} does not exist (export with --quantize {quantize})")
    meta = ExportMeta.load(os.path.join(folder, "assets.extra", "vras_meta.json"))
    if backend == "saved_model":
        loaded = load_saved_model(folder, allow_unsafe_ops=allow_unsafe_ops)
        serve = getattr(loaded, "signatures", {}).get("serving_default")
        if serve is None:
            raise ValueError(f"{folder}: the SavedModel has no 'serving_default' signature (not a vras export?)")

        def run(images):
            return {k: v.numpy() for k, v in serve(images=tf.constant(images)).items()}

        return Predictor(folder, meta, "saved_model", run)
    runner = TFLiteRunner(tflite_path, num_threads=num_threads)
    return Predictor(tflite_path, meta, "tflite", runner)
