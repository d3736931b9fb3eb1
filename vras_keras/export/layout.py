"""The file names of an export's version folder and its numbered versions, without TensorFlow (the demo's
launcher lists exports before anything imports TensorFlow); `saved_model.py` writes this layout."""

from __future__ import annotations

import os

TFLITE_FILES = {"none": "model.tflite", "fp16": "model_fp16.tflite", "int8": "model_int8.tflite"}


def existing_versions(model_dir: str) -> list[int]:
    """Sorted numeric version folders of `model_dir` (empty when it does not exist)."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(d) for d in os.listdir(model_dir) if d.isdigit() and os.path.isdir(os.path.join(model_dir, d)))
