"""Where `vras export` gets a model and its `ExportMeta`: a training run folder or a registered model id.

A run folder (written by `vras train`, see vras_keras/training/trainer.py) holds `vras_meta.json`,
`config.yaml` and `checkpoints/best.keras` / `checkpoints/last.keras`. A registered model is built
untrained from `vras_keras.models` (for trying the pipeline); its labels come from the synthetic data
of its task when the class count matches, else they are `class_0`, `class_1`, ... A classifier whose
1000-class head came with pretrained ImageNet weights (`--model-args '{"weights": "imagenet"}'`) gets
the ImageNet class names keras-hub ships (`models.pretrained.imagenet_labels`).

Both give the model in the form that is exported (`INFERENCE_FORMS`): a model trained on something else
than whole images is turned into its whole-image inference model here, with the meta's input size set to
match. Matching: LIFT trains on patches (`lift`); what is exported is `lift_inference_model` (keypoints +
orientations + descriptors of a whole image) at `image_size` when given (`vras export --image-size H W`: the
camera's image size, e.g. 480 640, which also decides LIFT's octaves), else at the run's `data.image_size`
(default 256 px).
A run's final validation metrics (`summary.json`) are kept in `meta.extra["validation"]`, so an export
says how good it measured.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable

from vras_keras.data import datasets, shapes
from vras_keras.export.meta import META_FILENAME, ExportMeta, meta_for_model

CHECKPOINTS = ("best", "last")


def load_run(run_dir: str, checkpoint: str = "best", image_size=None):
    """`(model, meta)` of a training run folder; `checkpoint` is "best" (falls back to "last") or "last";
    `image_size` (H, W): a matching model's whole-image size (`inference_form`)."""
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"checkpoint must be one of {CHECKPOINTS}, received {checkpoint!r}")
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"run folder {run_dir} does not exist")
    meta_path = os.path.join(run_dir, META_FILENAME)
    if not os.path.exists(meta_path):
        raise FileNotFoundError(f"{meta_path} is missing: is {run_dir} a `vras train` run folder?")
    meta = ExportMeta.load(meta_path)
    config_path = os.path.join(run_dir, "config.yaml")
    if os.path.exists(config_path) and not meta.training_config:
        import yaml

        try:
            with open(config_path, encoding="utf-8") as f:
                meta.training_config = yaml.safe_load(f) or {}  # safe_load: a `!!python` tag is refused
        except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as error:
            from vras_keras.training.config import yaml_error_line

            reason = yaml_error_line(error)
            raise ValueError(f"{config_path}: not a plain YAML recipe ({reason}); expected the config.yaml that "
                             "vras train writes (no !!python tags)") from None
        if not isinstance(meta.training_config, dict):
            raise ValueError(f"{config_path}: expected a mapping of recipe sections, got "
                             f"{type(meta.training_config).__name__}")
    declared = meta.extra.get("checkpoints", {}) if isinstance(meta.extra.get("checkpoints"), dict) else {}
    order = [checkpoint] + [c for c in CHECKPOINTS if c != checkpoint] if checkpoint == "best" else [checkpoint]
    candidates = [os.path.join(run_dir, declared.get(c, f"checkpoints/{c}.keras")) for c in order]
    path = next((p for p in candidates if os.path.exists(p)), None)
    if path is None:
        raise FileNotFoundError(f"no checkpoint in {run_dir}: looked for {', '.join(candidates)}")
    from vras_keras.models import load_model  # registers custom layers and model classes first

    model = load_model(path, compile=False)
    meta.extra["checkpoint"] = os.path.relpath(path, run_dir)
    validation = _validation_metrics(run_dir)
    if validation:
        meta.extra["validation"] = validation
    return inference_form(model, meta, image_size)


def _validation_metrics(run_dir: str) -> dict:
    """`{"val_...": value, "epochs": n}` of the run's `summary.json` (empty when absent or unreadable)."""

    try:
        with open(os.path.join(run_dir, "summary.json")) as f:
            summary = json.load(f)
        final = summary.get("final") or {}
        out = {k: float(v) for k, v in final.items() if k.startswith("val_") and isinstance(v, (int, float))}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}
    if out and isinstance(summary.get("epochs_completed"), int):
        out["epochs"] = summary["epochs_completed"]
    return out


DEFAULT_MATCHING_IMAGE_SIZE = 256


def _size_pair(size):
    """`(H, W)` of an int or a pair of positive ints, or None when it is not one."""
    h, w = size if isinstance(size, (list, tuple)) and len(size) == 2 else (size, size)
    ok = all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (h, w))
    return (h, w) if ok else None


def _lift_whole_image(model, meta, image_size=None):
    from vras_keras.models.matching import lift as lift_module  # Keras: only for LIFT sources

    try:
        lift_module._parts(model)
    except ValueError:
        if image_size is not None and tuple(image_size) != tuple(meta.input_size):
            raise ValueError(f"--image-size {image_size}: this matching model is already a whole-image model of "
                             f"input size {tuple(meta.input_size)}; export its training run or patch model instead")
        return model, meta  # already a whole-image model (keypoints + descriptors outputs)
    if image_size is not None:
        pair = _size_pair(image_size)
        if pair is None:
            raise ValueError(f"--image-size must be two positive integers H W, received {image_size!r}")
    else:
        data = (meta.training_config or {}).get("data") if isinstance(meta.training_config, dict) else None
        size = (data or {}).get("image_size") if isinstance(data, dict) else None  # the recipe's view size
        size = size or DEFAULT_MATCHING_IMAGE_SIZE
        pair = _size_pair(size)
        if pair is None:
            raise ValueError(f"config.yaml: data.image_size must be a positive integer or [H, W] (the whole-image "
                             f"size of a matching export), received {size!r}")
    h, w = pair
    inference = lift_module.lift_inference_model(model, image_size=(h, w))

    return inference, dataclasses.replace(meta, input_size=(h, w), extra={**meta.extra, "trained_on_patches":
                                                                            list(meta.input_size)})


# task -> (model, meta) -> (the model that is exported, its meta)
INFERENCE_FORMS: dict[str, Callable] = {"matching": _lift_whole_image}


def inference_form(model, meta, image_size=None):
    """`(model, meta)` in the form that is exported (see the module docstring); identity for most tasks.
    `image_size` (H, W) sets a matching export's whole-image size; other tasks refuse it (they are exported at
    the input size they were trained at)."""
    form = INFERENCE_FORMS.get(meta.task)
    if form is None:
        if image_size is not None:
            raise ValueError(f"--image-size is for matching exports (the whole-image size of LIFT); a {meta.task} "
                             f"model is exported at its trained input size {tuple(meta.input_size)}")
        return model, meta
    return form(model, meta, image_size)


def _class_count(model) -> int:
    import keras

    return int(keras.tree.flatten(model.outputs)[0].shape[-1])


def _synthetic_names(task):

    return list(datasets.class_names(task))


def _labels_if_count(task, count):
    names = _synthetic_names(task)
    return names if len(names) == count else [f"class_{i}" for i in range(count)]


def _classification_fields(model, model_args):
    from vras_keras.models.pretrained import has_imagenet_head, imagenet_labels  # Keras: this module imports without it

    if has_imagenet_head(model):
        return {"labels": imagenet_labels()}
    return {"labels": _labels_if_count("classification", _class_count(model))}


def _segmentation_fields(model, model_args):
    return {"labels": _labels_if_count("segmentation", _class_count(model))}


def _detection_fields(model, model_args):
    count = model_args.get("num_classes") or len(_synthetic_names("detection"))
    return {
        "labels": _labels_if_count("detection", int(count)),
        "box_format": model_args.get("bounding_box_format", "xyxy"),
    }


def _pose_fields(model, model_args):

    return {"keypoint_names": list(shapes.JOINT_NAMES), "skeleton": [list(p) for p in shapes.SKELETON]}


def _no_fields(model, model_args):
    return {}


# task -> meta fields of an untrained registered model
DEFAULT_FIELDS: dict[str, Callable] = {
    "classification": _classification_fields,
    "segmentation": _segmentation_fields,
    "detection": _detection_fields,
    "pose": _pose_fields,
    "stn": _no_fields,
    "matching": _no_fields,
}


def build_registered(model_id: str, model_args: dict | None = None, image_size=None):
    """`(model, meta)` of an untrained registered model (`image_size`: see `inference_form`)."""
    from vras_keras import models  # registers the model builders (Keras) on first use

    entry = models.get_entry(model_id)
    model_args = dict(model_args or {})
    model = entry.builder(**model_args)
    fields = DEFAULT_FIELDS[entry.task](model, model_args)
    return inference_form(model, meta_for_model(model, task=entry.task, model_id=model_id, model_args=model_args,
                                                **fields), image_size)
