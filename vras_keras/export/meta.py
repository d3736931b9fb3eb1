"""`vras_meta.json`: what an exported model needs to be used without its training code.

The same JSON object is written by training (next to a run's `config.yaml`, as `vras_meta.json`) and by
`vras export` (as `assets.extra/vras_meta.json` inside every exported version). Fields:

| field              | type                    | meaning                                                          |
|--------------------|-------------------------|------------------------------------------------------------------|
| `format_version`   | int                     | 1                                                                |
| `task`             | str                     | one of `vras_keras.models.registry.TASKS`                        |
| `model`            | str or null             | registry id (`"resnet18"`), null for a hand-built model          |
| `model_args`       | dict                    | keyword arguments of the builder                                 |
| `labels`           | list[str]               | class names, index = class id (detection: without background)    |
| `input_size`       | [H, W]                  | the model's input size in pixels                                 |
| `input_channels`   | int                     | 3                                                                |
| `box_format`       | str                     | `keras.utils.bounding_boxes` format of detection boxes (`"xyxy"`) |
| `keypoint_names`   | list[str]               | pose / matching: joint names (index = joint id)                  |
| `skeleton`         | list[[int, int]]        | pose: joint index pairs to draw                                  |
| `output_activation`| str or null             | `"softmax"`, `"sigmoid"` or `"linear"` (logits) of class outputs;  |
|                    |                         | null: read from the model's last layer                           |
| `top_k`            | int                     | classification: how many top classes the signature returns (5)   |
| `training_config`  | dict                    | the run's `config.yaml` as a dict (empty for an untrained export) |
| `export`           | dict                    | written by export: name, version, formats, quantizations, time    |

The records of `vras train` (`model: {"id", "args"}`, `input_shape: [H, W, C]`) are read too.
Unknown extra fields are kept (a newer writer may add some); missing optional fields get the defaults
above. `ExportMeta.from_dict` validates types and raises `ValueError` naming the field.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from vras_keras.models.registry import TASKS

META_FILENAME = "vras_meta.json"
FORMAT_VERSION = 1
ACTIVATIONS = ("softmax", "sigmoid", "linear")


@dataclasses.dataclass
class ExportMeta:
    """Metadata of a trained or exported model (see the module docstring for every field)."""

    task: str
    input_size: tuple[int, int]
    labels: list[str] = dataclasses.field(default_factory=list)
    model: str | None = None
    model_args: dict = dataclasses.field(default_factory=dict)
    input_channels: int = 3
    box_format: str = "xyxy"
    keypoint_names: list[str] = dataclasses.field(default_factory=list)
    skeleton: list[list[int]] = dataclasses.field(default_factory=list)
    output_activation: str | None = None
    top_k: int = 5
    training_config: dict = dataclasses.field(default_factory=dict)
    export: dict = dataclasses.field(default_factory=dict)
    extra: dict = dataclasses.field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"vras_meta field 'task' must be one of {TASKS}, received {self.task!r}")
        size = tuple(self.input_size) if isinstance(self.input_size, (list, tuple)) else ()
        if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
            raise ValueError(
                f"vras_meta field 'input_size' must be [height, width] (positive ints), received {self.input_size!r}"
            )
        self.input_size = (int(size[0]), int(size[1]))
        if self.output_activation is not None and self.output_activation not in ACTIVATIONS:
            raise ValueError(
                f"vras_meta field 'output_activation' must be one of {ACTIVATIONS} or null, received "
                f"{self.output_activation!r}"
            )
        if not isinstance(self.top_k, int) or self.top_k < 1:
            raise ValueError(f"vras_meta field 'top_k' must be a positive int, received {self.top_k!r}")
        for field in ("labels", "keypoint_names"):
            value = getattr(self, field)
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"vras_meta field {field!r} must be a list of strings, received {value!r}")
            setattr(self, field, list(value))

    # ------------------------------------------------------------------------------------ (de)serialise
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        extra = data.pop("extra")
        data["input_size"] = list(self.input_size)
        return {**extra, **data}

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "vras_meta") -> "ExportMeta":
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a JSON object, received {type(data).__name__}")
        data = _from_run_meta(data)
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        missing = [k for k in ("task", "input_size") if k not in data]
        if missing:
            raise ValueError(f"{source}: missing required field(s) {missing} (have {sorted(data)})")
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names}
        try:
            return cls(**known, extra=extra)
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None

    def save(self, path: str) -> str:
        """Write as JSON to `path` (a file, or a directory receiving `vras_meta.json`)."""
        if os.path.isdir(path):
            path = os.path.join(path, META_FILENAME)
        with open(path, "w") as f:
            json.dump(self.to_dict(), f, indent=2, sort_keys=True, default=str)
        return path

    @classmethod
    def load(cls, path: str) -> "ExportMeta":
        """Read from a JSON file or a directory holding `vras_meta.json` (or `assets.extra/vras_meta.json`)."""
        if os.path.isdir(path):
            for candidate in (os.path.join(path, META_FILENAME), os.path.join(path, "assets.extra", META_FILENAME)):
                if os.path.exists(candidate):
                    path = candidate
                    break
            else:
                raise FileNotFoundError(f"no {META_FILENAME} in {path} (nor in its assets.extra/)")
        if not os.path.exists(path):
            raise FileNotFoundError(f"metadata file {path} does not exist")
        with open(path, encoding="utf-8") as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}: not valid JSON ({error})") from None
            except UnicodeDecodeError as error:
                raise ValueError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
            except RecursionError:
                raise ValueError(f"{path}: JSON nested too deeply; expected the vras_meta object") from None
        return cls.from_dict(data, source=path)

    @property
    def num_classes(self) -> int:
        return len(self.labels)


def _from_run_meta(data: dict) -> dict:
    """Accept the run records of `vras train` (vras_keras/training/trainer.py): `model` as
    `{"id", "args"}`, `input_shape` `[H, W, C]` instead of `input_size`, joint names as pose `labels`."""
    data = dict(data)
    if isinstance(data.get("model"), dict):
        model = data.pop("model")
        data["model"] = model.get("id")
        data.setdefault("model_args", model.get("args") or {})
    if (
        "input_size" not in data
        and isinstance(data.get("input_shape"), (list, tuple))
        and len(data["input_shape"]) == 3
    ):
        data["input_size"] = list(data["input_shape"][:2])
        data.setdefault("input_channels", data["input_shape"][2])
    if data.get("task") == "pose" and not data.get("keypoint_names") and data.get("labels"):
        data["keypoint_names"] = list(data["labels"])
    return data


def meta_for_model(model, *, task: str, model_id: str | None = None, model_args: dict | None = None,
                   labels=None, **fields) -> ExportMeta:
    """An `ExportMeta` for a built Keras model: the input size is read from `model.inputs[0]`."""
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[1] is None or shape[2] is None:
        raise ValueError(
            f"model {model.name!r} must take a fixed-size image input (N, H, W, C) to be exported, "
            f"its input has shape {shape}"
        )
    return ExportMeta(
        task=task,
        input_size=(int(shape[1]), int(shape[2])),
        input_channels=int(shape[3]),
        model=model_id,
        model_args=dict(model_args or {}),
        labels=list(labels or []),
        **fields,
    )
