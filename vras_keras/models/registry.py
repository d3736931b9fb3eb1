"""The model registry: `@register(name, task=...)`, `get(name, **kwargs)`, `list_models(task=None)`, `unregister`.

Every builder in `vras_keras.models` registers itself under its lowercase id; there is no if/else zoo.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import json
import pkgutil
from pathlib import Path
from typing import Callable

TASKS = ("classification", "segmentation", "pose", "detection", "stn", "matching")

# Sub-packages of vras_keras.models holding builders; imported on first use of the registry.
_FAMILY_PACKAGES = tuple(f"vras_keras.models.{task}" for task in TASKS)


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    name: str
    task: str
    builder: Callable
    description: str


_REGISTRY: dict[str, ModelEntry] = {}
_loaded = False


def register(name: str, *, task: str, description: str | None = None):
    """Decorator registering a model builder under `name` for `task`.

    Args:
        name: registry id, lowercase (e.g. `"resnet50"`); must be unused.
        task: one of `TASKS`.
        description: one line for `vras list`; defaults to the first docstring line.

    Raises:
        ValueError: the name is taken, or the task is unknown.
    """
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r} for model {name!r}; allowed tasks: {', '.join(TASKS)}")
    if not name or name != name.lower():
        raise ValueError(f"Model ids are non-empty lowercase strings, received {name!r}")

    def decorator(builder: Callable) -> Callable:
        if name in _REGISTRY:
            other = _REGISTRY[name].builder
            raise ValueError(
                f"Model {name!r} is already registered (by {other.__module__}.{other.__qualname__}); "
                "choose another id"
            )
        doc = description or (builder.__doc__ or "").strip().split("\n")[0]
        _REGISTRY[name] = ModelEntry(name=name, task=task, builder=builder, description=doc)
        return builder

    return decorator


def unregister(name: str) -> None:
    """Remove the entry `name` (e.g. a model registered for a test, or to register another builder under it).

    Raises:
        ValueError: `name` is not registered.
    """
    _ensure_loaded()
    if name not in _REGISTRY:
        raise ValueError(f"Model {name!r} is not registered; registered: {len(_REGISTRY)} models (`vras list`)")
    del _REGISTRY[name]


def _ensure_loaded() -> None:
    """Import every builder module once so that their `@register` decorators have run."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for package_name in _FAMILY_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, prefix=package_name + "."):
            if not info.name.rsplit(".", 1)[-1].startswith("_"):
                importlib.import_module(info.name)


def get_entry(name: str) -> ModelEntry:
    """The registry entry of `name`; unknown names raise a `ValueError` listing the closest ids."""
    _ensure_loaded()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"Unknown model {name!r}.{hint} Run `vras list` for all {len(_REGISTRY)} registered models."
        )
    return _REGISTRY[name]


def get(name: str, **kwargs):
    """Build the registered model `name` with the builder's keyword arguments."""
    return get_entry(name).builder(**kwargs)


def list_models(task: str | None = None) -> list[str]:
    """Sorted registry ids, optionally only those of one task."""
    _ensure_loaded()
    if task is not None and task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; allowed tasks: {', '.join(TASKS)}")
    return sorted(n for n, e in _REGISTRY.items() if task is None or e.task == task)


# Every registered model with its task and parameter count, written by `python -m vras_keras.cli.list_models
# --write-index` (tests/cli/test_list_models.py fails while it is out of date); reading it imports no TensorFlow.
INDEX = Path(__file__).resolve().parent / "index.json"


def read_index(task: str | None = None, path: Path = INDEX) -> list[dict]:
    """The rows (`name`, `task`, `params`, `description`) of the model index, without importing any builder."""
    try:
        rows = json.loads(Path(path).read_text())["models"]
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: the model index is missing; run `vras list --rebuild` or "
                                "`python -m vras_keras.cli.list_models --write-index`") from None
    return [row for row in rows if task is None or row["task"] == task]


def load_model(path, **kwargs):
    """`keras.saving.load_model` for files saved from vras_keras models (checkpoints, `.keras` files).

    Model classes such as `YoloDetector` or the R-CNN models live in builder modules that the registry imports lazily,
    and training checkpoints also name custom losses, metrics and the learning-rate schedule; a fresh process must
    import all of them before Keras can deserialize such a file. `kwargs` go to `keras.saving.load_model` (e.g.
    `compile=False`).
    """
    import keras

    # everything a checkpoint's config may name: layers, model classes, losses / metrics, the schedule
    for module in ("vras_keras.layers", "vras_keras.losses.pose", "vras_keras.losses.matching",
                   "vras_keras.losses.segmentation", "vras_keras.metrics.pose", "vras_keras.metrics.segmentation",
                   "vras_keras.training.tasks", "vras_keras.training.trainer"):
        importlib.import_module(module)
    _ensure_loaded()
    return keras.saving.load_model(path, **kwargs)
