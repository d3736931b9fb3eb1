"""What each task compiles with, and which tasks train without `model.fit`: two tables keyed by task.

`TASK_SETUPS[task](model, config) -> TaskSetup(compile_args, map_targets)`: `compile_args` go to
`model.compile` (loss, metrics, loss_weights), `map_targets` turns a batch of dataset targets into what
the model's loss expects (e.g. one label per output of a model with auxiliary heads). The entries are
defined in this module: classification and stn (sparse cross-entropy + accuracy), segmentation (pixel
cross-entropy and mean IoU ignoring label 255) and pose (the pose family's own `compile_args`, or L2 on
visible joints for any other model with one coordinate output). `register_task_setup(task, replace=True)`
replaces one. A model that computes its own loss (a subclass overriding `compute_loss` or `train_step`,
e.g. the detectors) is compiled with no loss or metric, whatever its task.

`TASK_RUNNERS[task]`: the whole training run of a task that does not train with `model.fit`
(matching: LIFT's staged training, `vras_keras.training.matching`, imported on first use).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Callable

import keras

from vras_keras.losses.pose import KeypointL2Loss, pack_keypoint_targets
from vras_keras.metrics.pose import MeanPixelError
from vras_keras.models.pose import regressors as pose_family
from vras_keras.models.registry import TASKS


@dataclasses.dataclass
class TaskSetup:
    compile_args: dict
    map_targets: Callable | None = None


TASK_SETUPS: dict[str, Callable] = {}


def _registrar(table: dict, what: str, task: str, replace: bool):
    """Decorator putting `fn` into `table[task]` (`what` names the entry in the error message)."""
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; allowed tasks: {', '.join(TASKS)}")

    def decorator(fn):
        if task in table and not replace:
            raise ValueError(f"task {task!r} already has a {what} ({table[task].__qualname__}); pass replace=True")
        table[task] = fn
        return fn

    return decorator


def register_task_setup(task: str, *, replace: bool = False):
    """Decorator registering `fn(model, config) -> TaskSetup` for `task`.

    Raises:
        ValueError: unknown task, or the task already has a setup and `replace` is False.
    """
    return _registrar(TASK_SETUPS, "setup", task, replace)


def _carries_own_loss(model) -> bool:
    cls = type(model)
    return cls.compute_loss is not keras.Model.compute_loss or cls.train_step is not keras.Model.train_step


def task_setup(task: str, model, config=None) -> TaskSetup:
    """The `TaskSetup` for `model` trained on `task`: empty for a model with its own loss, else `TASK_SETUPS[task]`."""
    if _carries_own_loss(model):
        return TaskSetup({})
    if task not in TASK_SETUPS:
        raise ValueError(
            f"No training setup for task {task!r} and model {model.name!r} computes no loss of its own; "
            f"tasks with a setup: {', '.join(sorted(TASK_SETUPS))}"
        )
    return TASK_SETUPS[task](model, config)


# ------------------------------------------------------------------------------------------- runners
TASK_RUNNERS: dict[str, Callable] = {}
# Modules defining a runner, imported on first use (they import this module: no import at load time).
_RUNNER_MODULES = {"matching": "vras_keras.training.matching"}


def register_task_runner(task: str, *, replace: bool = False):
    """Decorator registering `fn(config, *, strategy, callbacks, verbose) -> History` as the whole training
    run of `task`, for tasks that do not train with `model.fit` (e.g. LIFT's staged training for
    matching, `vras_keras.training.matching`). The runner honours the recipe and writes the same
    workdir artefacts as `trainer.train`.

    Raises:
        ValueError: unknown task, or the task already has a runner and `replace` is False.
    """
    return _registrar(TASK_RUNNERS, "runner", task, replace)


def task_runner(task: str):
    """The runner of `task` (importing its module from `_RUNNER_MODULES` first), or None: train with `fit`."""
    if task in _RUNNER_MODULES:
        importlib.import_module(_RUNNER_MODULES[task])
    return TASK_RUNNERS.get(task)


# ------------------------------------------------------------------------------------------ helpers
def outputs_probabilities(model, index: int = 0) -> bool:
    """True when output `index` of `model` ends in a softmax/sigmoid (so losses take probabilities)."""
    try:
        layer = model.outputs[index]._keras_history.operation
    except (AttributeError, IndexError):
        return False
    for candidate in (getattr(layer, "activation", None), layer):
        name = getattr(candidate, "__name__", None) or type(candidate).__name__
        if name.lower() in ("softmax", "sigmoid"):
            return True
    return False


def _loss_weights(model, config):
    weights = getattr(config, "loss_weights", None) if config is not None else None
    if weights is None:
        return None
    unknown = set(weights) - set(model.output_names)
    if unknown:
        raise ValueError(
            f"loss_weights: unknown outputs {sorted(unknown)} for model {model.name!r}; "
            f"its outputs are {', '.join(model.output_names)}"
        )
    return {name: float(weights.get(name, 1.0)) for name in model.output_names}


def _per_output(model, make_loss, metrics, config):
    """compile args for one or several outputs sharing a target (auxiliary heads)."""
    if len(model.outputs) == 1:
        return TaskSetup({"loss": make_loss(0), "metrics": metrics(0)})
    names = list(model.output_names)
    return TaskSetup(
        {"loss": {n: make_loss(i) for i, n in enumerate(names)},
         "metrics": {names[0]: metrics(0)},
         "loss_weights": _loss_weights(model, config)},
        map_targets=lambda y: {n: y for n in names},
    )


# ------------------------------------------------------------------------------------ default entries
@register_task_setup("classification")
def classification_setup(model, config=None) -> TaskSetup:
    """Sparse categorical cross-entropy (probabilities or logits, read off the model) + accuracy."""

    def loss(i):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=not outputs_probabilities(model, i))

    def metrics(i):
        out = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        if model.outputs[i].shape[-1] and model.outputs[i].shape[-1] >= 10:
            out.append(keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"))
        return out

    return _per_output(model, loss, metrics, config)


register_task_setup("stn")(classification_setup)


@register_task_setup("segmentation")
def segmentation_setup(model, config=None) -> TaskSetup:
    """Pixel-wise cross-entropy ignoring label 255 + mean IoU with the same ignore label."""

    def loss(i):
        return keras.losses.SparseCategoricalCrossentropy(
            from_logits=not outputs_probabilities(model, i), ignore_class=255)

    def metrics(i):
        num_classes = int(model.outputs[i].shape[-1])
        return [keras.metrics.MeanIoU(num_classes=num_classes, ignore_class=255, sparse_y_pred=False, name="miou"),
                keras.metrics.SparseCategoricalAccuracy(name="pixel_accuracy")]

    return _per_output(model, loss, metrics, config)


def _is_pose_family(model) -> bool:
    try:
        pose_family.model_kind(model)
    except ValueError:
        return False
    return True


@register_task_setup("pose")
def pose_setup(model, config=None) -> TaskSetup:
    """Pose family models (regression / heatmap / integral): their own `compile_args` and targets
    (`vras_keras.models.pose.regressors`); any other model with one `(N, J, 2|3)` coordinate output:
    `KeypointL2Loss` (squared pixel error over the visible joints) + `MeanPixelError`."""
    if _is_pose_family(model):
        args = pose_family.compile_args(model)
        args.pop("optimizer", None)  # the recipe's optimizer is used
        if config is not None and config.loss_weights:
            args["loss_weights"] = {**(args.get("loss_weights") or {}), **config.loss_weights}
        return TaskSetup(
            args, map_targets=lambda y: pose_family.training_targets(model, y["keypoints"], y["visibility"])
        )
    shape = model.outputs[0].shape
    if len(model.outputs) != 1 or len(shape) != 3 or shape[-1] not in (2, 3):
        raise ValueError(
            f"The default pose setup trains models with one (N, J, 2|3) coordinate output; model {model.name!r} "
            f"has outputs {[tuple(o.shape) for o in model.outputs]}. Give it a loss of its own "
            "(override compute_loss) or register a pose setup."
        )
    return TaskSetup({"loss": KeypointL2Loss(), "metrics": [MeanPixelError()]},
                     map_targets=lambda y: pack_keypoint_targets(y["keypoints"], y["visibility"]))
