"""`TrainConfig`: the YAML training recipe, validated completely before anything starts.

A recipe (see `configs/*.yaml` and docs/training.md) has these sections::

    model:      {id: resnet_cifar, args: {depth: 20, width: 0.5}, weights: null|imagenet|PATH}
    data:       {source: shapes|digits|pairs|path|synthetic, format, path, val, task, split, val_split,
                 val_fraction, image_size, channels, num_samples, val_samples, shuffle_buffer, cache,
                 options: {...}}
    batch_per_replica: 32
    epochs: 10
    optimizer:  {name: sgd|adam|adamw|rmsprop, learning_rate, weight_decay, momentum, nesterov, clipnorm}
    schedule:   {name: constant|cosine|step|exponential, warmup_epochs, alpha, boundaries, factor, decay_rate}
    loss_weights: {output_name: weight}
    callbacks:  {checkpoint: {monitor, mode, save_best, save_last}, tensorboard, csv, curves, progress,
                 early_stopping: {monitor, patience, min_delta, mode, restore_best_weights}}
    seed: 0
    deterministic: false
    precision: fp32|bf16|fp16   (bf16/fp16: Keras mixed precision; fp16 adds dynamic loss scaling;
                                 `mixed_precision: bf16|fp16|null`, the key's former name, is still read)
    jit: false                  (true: XLA-compile the train step, Keras' `jit_compile`)
    strategy: auto|one_device|mirrored|multi_worker|tpu
    cpu_replicas: null
    workdir: runs/NAME
    task_options: {...}   options of a task's own staged trainer (matching: see vras_keras/training/matching.py)
    finetune:   {freeze_bn: true, stages: [{epochs, trainable_stages: 0..5, learning_rate}, ...]}
                (staged fine-tuning of a pretrained classifier: configs/finetune.yaml, training/finetune.py)

Every problem (unknown key, wrong type, bad value, missing file, unknown model id or model argument)
raises one `ValueError` naming the key path (`data.format`), what was received and what is allowed.
Validation is pure Python plus the model registry; it never initialises TensorFlow devices, so it can run
before `--cpu-replicas` configures logical devices.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import inspect
import os
import typing
from pathlib import Path
from typing import Literal, Optional, Union

import yaml

from vras_keras.models import registry
from vras_keras.models.registry import TASKS

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
DATA_SOURCES = ("shapes", "digits", "pairs", "path", "synthetic")
DATA_FORMATS = ("folder", "coco", "voc", "masks")
PRECISIONS = ("fp32", "bf16", "fp16")
# The Keras dtype policy of each precision (fp32: the default float32 policy).
PRECISION_POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "cosine", "step", "exponential")


# ------------------------------------------------------------------------------------------- sections
@dataclasses.dataclass
class ModelConfig:
    """`id`: registry id (`vras list`); `args`: keyword arguments of its builder.

    `input_shape` and `num_classes` are filled in from the data when the builder takes them and the
    recipe does not set them.
    """

    id: str
    args: dict = dataclasses.field(default_factory=dict)
    # "imagenet" or a file (.safetensors / .weights.h5 / .keras): the builder's `weights=` for a
    # classifier, its `backbone_weights=` for a model with a backbone (models/pretrained.py)
    weights: Optional[str] = None


@dataclasses.dataclass
class DataConfig:
    """Where the images come from and how many.

    source: `shapes` (ShapesWorld / StickFigures for pose), `digits` (distorted scikit-learn digits),
        `pairs` (views of scikit-image photographs), `path` (your data on disk in `format`), or
        `synthetic` (random images with a learnable label, for smoke tests and benchmarks).
    format: for `source: path`: folder | coco | voc | masks.
    path: for `source: path`: the directory (or annotation file) to read; must exist. Recorded as an
        absolute path in the run's config.yaml, so the run can be exported from any directory.
    val: for `source: path`: a separate folder to validate on (same format; classes matched by name).
    task: the task the targets are made for; defaults to the model's registry task.
    split / val_split: split names for training / validation (`val_split: null` disables validation).
        `source: path` uses `path/<split>` and `path/<val_split>` when those folders exist.
    val_fraction: `source: path` without `val` or a `path/<val_split>` folder: hold out this stratified,
        deterministic fraction of `path` for validation (a printed line says so).
    image_size: square side in pixels the images are generated at (default 64) or resized to
        (`source: path`: default the files' size when they all share one, printed; else required).
    channels: 1 (grayscale) or 3 (RGB); `source: path` default: 1 when every file is grayscale, else 3.
    num_samples / val_samples: images per epoch for training / validation (generated sources).
    shuffle_buffer: shuffle buffer (samples) of sources that cannot shuffle their record list
        (`shapes` and `path` permute the whole list every epoch before decoding, whatever this is);
        cache: keep decoded samples in memory after epoch 1.
    options: extra keyword arguments for the data loader (e.g. `max_objects: 3`).
    """

    source: Literal["shapes", "digits", "pairs", "path", "synthetic"] = "shapes"
    format: Optional[Literal["folder", "coco", "voc", "masks"]] = None
    path: Optional[str] = None
    val: Optional[str] = None
    task: Optional[str] = None
    split: str = "train"
    val_split: Optional[str] = "val"
    val_fraction: float = 0.1
    image_size: Optional[int] = None
    channels: Optional[Literal[1, 3]] = None
    num_samples: int = 1024
    val_samples: int = 256
    shuffle_buffer: int = 1024
    cache: bool = True
    options: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class OptimizerConfig:
    name: Literal["sgd", "adam", "adamw", "rmsprop"] = "adam"
    learning_rate: float = 1e-3
    weight_decay: Optional[float] = None
    momentum: float = 0.9
    nesterov: bool = False
    clipnorm: Optional[float] = None


@dataclasses.dataclass
class ScheduleConfig:
    """Learning-rate schedule over the whole run (step-based, so it resumes exactly).

    constant; cosine (to `alpha` × lr); step (× `factor` at each epoch in `boundaries`);
    exponential (× `decay_rate` per epoch). `warmup_epochs` of linear warm-up precede any of them.
    """

    name: Literal["constant", "cosine", "step", "exponential"] = "constant"
    warmup_epochs: int = 0
    alpha: float = 0.0
    boundaries: list = dataclasses.field(default_factory=list)
    factor: float = 0.1
    decay_rate: float = 0.9


@dataclasses.dataclass
class CheckpointConfig:
    monitor: str = "val_loss"
    mode: Literal["min", "max"] = "min"
    save_best: bool = True
    save_last: bool = True


@dataclasses.dataclass
class EarlyStoppingConfig:
    monitor: str = "val_loss"
    mode: Literal["min", "max"] = "min"
    patience: int = 5
    min_delta: float = 0.0
    restore_best_weights: bool = False


@dataclasses.dataclass
class CallbacksConfig:
    checkpoint: CheckpointConfig = dataclasses.field(default_factory=CheckpointConfig)
    backup: bool = True
    tensorboard: bool = True
    csv: bool = True
    curves: bool = True
    progress: bool = True
    early_stopping: Optional[EarlyStoppingConfig] = None


@dataclasses.dataclass
class FinetuneStage:
    """One stage of a fine-tuning run: `epochs` epochs with the last `trainable_stages` of the backbone's
    five stages (stem = 1, ..., C5 = 5; torchvision's `trainable_backbone_layers`) and the head trained,
    at a constant `learning_rate` (a fresh optimizer per stage)."""

    epochs: int
    trainable_stages: int = 0
    learning_rate: float = 1e-3


@dataclasses.dataclass
class FinetuneConfig:
    """Staged fine-tuning of a pretrained classifier (configs/finetune.yaml): `freeze_bn` keeps every
    BatchNormalization in inference mode (moving statistics of the pretrained network, not updated)."""

    stages: list[FinetuneStage]
    freeze_bn: bool = True


@dataclasses.dataclass
class TrainConfig:
    """A whole training recipe; build with `load_config(path)` or `TrainConfig.from_dict(d)`."""

    model: ModelConfig
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    batch_per_replica: int = 32
    epochs: int = 10
    steps_per_epoch: Optional[int] = None
    validation_steps: Optional[int] = None
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = dataclasses.field(default_factory=ScheduleConfig)
    loss_weights: Optional[dict] = None
    callbacks: CallbacksConfig = dataclasses.field(default_factory=CallbacksConfig)
    seed: int = 0
    deterministic: bool = False
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    jit: bool = False
    strategy: Literal["auto", "one_device", "mirrored", "multi_worker", "tpu"] = "auto"
    cpu_replicas: Optional[int] = None
    workdir: Optional[str] = None
    task_options: dict = dataclasses.field(default_factory=dict)
    finetune: Optional[FinetuneConfig] = None
    # Filled in by validation: the task (data.task or the model's registry task). A run's config.yaml
    # records it; given in a recipe it must agree with data.task and the model.
    task: Optional[str] = None

    # ---------------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, raw: dict, *, source: str = "<dict>", check_model: bool = True) -> "TrainConfig":
        """Validate `raw` (a parsed YAML mapping) and return the config; raises `ValueError`."""
        config = _convert(cls, _legacy_keys(raw, source), "", source)
        _check_values(config, source, base_dir=Path(source).parent if source != "<dict>" else Path.cwd(),
                      check_model=check_model)
        return config

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def mixed_precision_policy(self) -> str | None:
        """The Keras mixed-precision policy name, or None for fp32."""
        return None if self.precision == "fp32" else PRECISION_POLICIES[self.precision]


def _legacy_keys(raw, source: str):
    """Read the former top-level key `mixed_precision: bf16|fp16|null` as `precision`."""
    if not isinstance(raw, dict) or "mixed_precision" not in raw:
        return raw
    raw = dict(raw)
    legacy = raw.pop("mixed_precision")
    if legacy not in (None, "bf16", "fp16"):
        _fail(source, "mixed_precision", legacy, "one of 'bf16', 'fp16', null (or use precision: fp32|bf16|fp16)")
    value = legacy or "fp32"
    if raw.get("precision", value) != value:
        _fail(source, "precision", raw["precision"],
              f"{value!r} or no mixed_precision key (mixed_precision: {legacy!r} is the former name of precision)")
    raw["precision"] = value
    return raw


# ------------------------------------------------------------------------------------------ loading
def yaml_error_line(error: Exception) -> str:
    """A YAML parse error as one line: the problem, where (1-based line and column) and what was being parsed
    (PyYAML's own message spans several lines, with the offending text and a caret)."""
    problem = getattr(error, "problem", None)
    if problem is None:
        text = str(error).strip()
        return text.splitlines()[0] if text else type(error).__name__

    def at(mark):
        return f"line {mark.line + 1}, column {mark.column + 1}"

    mark, context, context_mark = error.problem_mark, error.context, error.context_mark
    line = problem + (f" at {at(mark)}" if mark is not None else "")
    if context:
        started = context_mark is not None and (mark is None or (context_mark.line, context_mark.column)
                                                != (mark.line, mark.column))
        line += f" ({context}{f' started at {at(context_mark)}' if started else ''})"
    return line


def load_config(path, overrides: dict | None = None, *, check_model: bool = True) -> TrainConfig:
    """Read a YAML recipe, apply `overrides` (`{"epochs": 3, "data.image_size": 32}`), validate it.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: the YAML does not parse or does not validate (the message names the key).
    """

    path = Path(path)
    if path.is_dir():
        raise ValueError(f"Training config {str(path)!r} is a folder; expected a YAML recipe file such as "
                         "configs/classification.yaml")
    if not path.is_file():
        raise FileNotFoundError(f"Training config {str(path)!r} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a YAML text file (it is not UTF-8 text); expected a recipe like "
                         "configs/classification.yaml") from None
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML: {yaml_error_line(error)}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: the top level must be a mapping of sections, received {type(raw).__name__}")
    raw = apply_overrides(raw, overrides or {})
    if raw.get("workdir") is None:
        raw["workdir"] = str(Path("runs") / path.stem)
    return TrainConfig.from_dict(raw, source=str(path), check_model=check_model)


def apply_overrides(raw: dict, overrides: dict) -> dict:
    """A copy of `raw` with dotted keys set (`{"data.image_size": 32}`); `None` values are skipped."""

    raw = copy.deepcopy(raw)
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            if node.get(key) is None:
                node[key] = {}
            node = node[key]
        node[leaf] = value
    return raw


# ---------------------------------------------------------------------------------- type conversion
def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin is Union:
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {dict: "a mapping", list: "a list", float: "a number", int: "an integer", bool: "true/false",
            str: "a string"}.get(tp, getattr(tp, "__name__", str(tp)))


def _fail(source, key, value, expected):
    raise ValueError(f"{source}: {key or '<top level>'}: received {value!r}; expected {expected}")


def _convert(tp, value, key, source):
    origin = typing.get_origin(tp)
    if origin is Union:
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            if value is None:
                _fail(source, key, value, _type_name(tp))
            return _convert(non_none[0], value, key, source)
        _fail(source, key, value, _type_name(tp))  # pragma: no cover (no such fields)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed or isinstance(value, bool):
            _fail(source, key, value, f"one of {', '.join(repr(a) for a in allowed)}")
        return value
    if dataclasses.is_dataclass(tp):
        if value is None and all(
            f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            for f in dataclasses.fields(tp)
        ):
            value = {}
        if not isinstance(value, dict):
            _fail(source, key, value, f"a mapping with keys {', '.join(f.name for f in dataclasses.fields(tp))}")
        hints = typing.get_type_hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        for name in value:
            if name not in fields:
                allowed = list(fields)

                close = difflib.get_close_matches(str(name), allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"{source}: unknown key {_join(key, name)!r}{hint}; allowed keys"
                    f"{' in ' + key if key else ''}: {', '.join(allowed)}"
                )
        kwargs = {}
        for name, field in fields.items():
            if name in value:
                kwargs[name] = _convert(hints[name], value[name], _join(key, name), source)
            elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise ValueError(f"{source}: missing required key {_join(key, name)!r} ({_type_name(hints[name])})")
        return tp(**kwargs)
    if tp is bool:
        if not isinstance(value, bool):
            _fail(source, key, value, "true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(source, key, value, "an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail(source, key, value, "a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            _fail(source, key, value, "a string")
        return value
    if tp is dict:
        if not isinstance(value, dict):
            _fail(source, key, value, "a mapping")
        return dict(value)
    if origin is list:
        if not isinstance(value, (list, tuple)) or not value:
            _fail(source, key, value, "a non-empty list")
        return [_convert(typing.get_args(tp)[0], item, f"{key}[{i}]", source) for i, item in enumerate(value)]
    if tp is list:
        if not isinstance(value, (list, tuple)):
            _fail(source, key, value, "a list")
        return list(value)
    raise TypeError(f"unsupported schema type {tp!r} for {key}")  # pragma: no cover (schema bug)


def _join(prefix, name):
    return f"{prefix}.{name}" if prefix else str(name)


# ---------------------------------------------------------------------------------- value checks
def _check_values(c: TrainConfig, source: str, base_dir: Path, check_model: bool) -> None:
    def positive(key, value, allow_zero=False):
        if value is not None and (value < 0 or (value == 0 and not allow_zero)):
            _fail(source, key, value, "a number >= 0" if allow_zero else "a number > 0")

    positive("batch_per_replica", c.batch_per_replica)
    positive("epochs", c.epochs)
    positive("steps_per_epoch", c.steps_per_epoch)
    positive("validation_steps", c.validation_steps)
    positive("cpu_replicas", c.cpu_replicas)
    positive("data.image_size", c.data.image_size)
    if not 0.0 <= c.data.val_fraction < 1.0:
        _fail(source, "data.val_fraction", c.data.val_fraction, "a number >= 0 and < 1 (0: no held-out split)")
    positive("data.num_samples", c.data.num_samples)
    positive("data.val_samples", c.data.val_samples)
    positive("data.shuffle_buffer", c.data.shuffle_buffer)
    positive("optimizer.learning_rate", c.optimizer.learning_rate)
    positive("optimizer.weight_decay", c.optimizer.weight_decay, allow_zero=True)
    positive("optimizer.momentum", c.optimizer.momentum, allow_zero=True)
    positive("optimizer.clipnorm", c.optimizer.clipnorm)
    positive("schedule.warmup_epochs", c.schedule.warmup_epochs, allow_zero=True)
    positive("schedule.alpha", c.schedule.alpha, allow_zero=True)
    positive("schedule.factor", c.schedule.factor)
    positive("schedule.decay_rate", c.schedule.decay_rate)
    positive("callbacks.early_stopping.patience",
             c.callbacks.early_stopping.patience if c.callbacks.early_stopping else None, allow_zero=True)
    if c.seed < 0:
        _fail(source, "seed", c.seed, "an integer >= 0")
    if c.finetune is not None:
        for i, stage in enumerate(c.finetune.stages):
            positive(f"finetune.stages[{i}].epochs", stage.epochs)
            positive(f"finetune.stages[{i}].learning_rate", stage.learning_rate)
            if not 0 <= stage.trainable_stages <= 5:
                _fail(source, f"finetune.stages[{i}].trainable_stages", stage.trainable_stages,
                      "0..5 (backbone stages trained, counted from the last; the head always trains)")
        if sum(stage.epochs for stage in c.finetune.stages) != c.epochs:
            _fail(source, "epochs", c.epochs, f"the sum of finetune.stages[*].epochs "
                  f"({sum(stage.epochs for stage in c.finetune.stages)})")
    if c.model.weights is not None and c.model.weights != "imagenet":
        weights_path = Path(c.model.weights).expanduser()
        if not weights_path.is_absolute() and (base_dir / weights_path).exists():
            weights_path = base_dir / weights_path
        if not weights_path.is_file():
            _fail(source, "model.weights", c.model.weights, "'imagenet' or an existing .safetensors, .weights.h5 "
                  "or .keras file")
        c.model.weights = str(weights_path)
    if c.schedule.warmup_epochs > c.epochs:
        _fail(source, "schedule.warmup_epochs", c.schedule.warmup_epochs, f"at most epochs ({c.epochs})")
    if not all(isinstance(b, int) and not isinstance(b, bool) and 0 < b < c.epochs for b in c.schedule.boundaries):
        _fail(source, "schedule.boundaries", c.schedule.boundaries,
              f"a list of epoch numbers between 1 and {c.epochs - 1}")
    if c.schedule.boundaries != sorted(set(c.schedule.boundaries)):
        _fail(source, "schedule.boundaries", c.schedule.boundaries, "strictly increasing epoch numbers")
    if c.schedule.name == "step" and not c.schedule.boundaries:
        _fail(source, "schedule.boundaries", c.schedule.boundaries, "at least one epoch for schedule.name 'step'")
    if c.loss_weights is not None:
        for name, weight in c.loss_weights.items():
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
                _fail(source, f"loss_weights.{name}", weight, "a number >= 0")
    if c.cpu_replicas is not None and c.strategy not in ("auto", "mirrored"):
        _fail(source, "cpu_replicas", c.cpu_replicas,
              f"null with strategy {c.strategy!r} (logical CPU replicas are for 'mirrored' or 'auto')")

    # data section
    d = c.data
    if d.source == "path":
        if d.path is None:
            _fail(source, "data.path", None, "the directory or annotation file of your data (source: path)")
        if d.format is None:
            _fail(source, "data.format", None, f"one of {', '.join(DATA_FORMATS)} (source: path)")
        d.path = _existing_path(source, "data.path", d.path, base_dir)
        if d.val is not None:
            d.val = _existing_path(source, "data.val", d.val, base_dir)
    else:
        if d.image_size is None:
            d.image_size = 64  # generated data: 64 px unless the recipe says otherwise
        if d.path is not None:
            _fail(source, "data.path", d.path, f"null for source {d.source!r} (only source 'path' reads files)")
        if d.val is not None:
            _fail(source, "data.val", d.val, f"null for source {d.source!r} (only source 'path' reads files)")
        if d.format is not None:
            _fail(source, "data.format", d.format, f"null for source {d.source!r} (only source 'path' has a format)")

    # model section: the id must be registered, its arguments must be builder arguments

    if d.task is not None and d.task not in TASKS:
        _fail(source, "data.task", d.task, f"one of {', '.join(TASKS)}")
    recorded_task = c.task
    if recorded_task is not None and recorded_task not in TASKS:
        _fail(source, "task", recorded_task, f"one of {', '.join(TASKS)}")
    if recorded_task is not None and d.task is not None and recorded_task != d.task:
        _fail(source, "task", recorded_task, f"{d.task!r}, the recipe's data.task (or leave task out)")
    c.task = d.task or recorded_task
    if check_model:

        try:
            entry = registry.get_entry(c.model.id)
        except ValueError as error:
            raise ValueError(f"{source}: model.id: {error}") from None
        if d.task is not None and d.task != entry.task and not (d.task == "classification" and entry.task == "stn"):
            _fail(source, "data.task", d.task, f"{entry.task!r}, the task of model {c.model.id!r} (or null)")
        if recorded_task is not None and recorded_task != entry.task and not (
                recorded_task == "classification" and entry.task == "stn"):
            _fail(
                source, "task", recorded_task, f"{entry.task!r}, the task of model {c.model.id!r} (or leave task out)"
            )
        c.task = d.task or recorded_task or entry.task
        params = inspect.signature(entry.builder).parameters
        if c.model.weights is not None:
            target = "weights" if entry.task == "classification" and "weights" in params else "backbone_weights"
            if target not in params:
                _fail(source, "model.weights", c.model.weights, f"null: model {c.model.id!r} takes no pretrained "
                      "weights or backbone")
            if target in c.model.args:
                _fail(source, f"model.args.{target}", c.model.args[target], "null when model.weights is set")
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            allowed = [n for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
            for name in c.model.args:
                if name not in allowed:
                    raise ValueError(
                        f"{source}: unknown key 'model.args.{name}' for model {c.model.id!r}; "
                        f"its builder takes: {', '.join(allowed)}"
                    )
    elif c.task is None:
        raise ValueError(f"{source}: data.task: received None; expected one of {', '.join(TASKS)} "
                         "(needed when the model registry is not consulted)")


def _existing_path(source, key, value, base_dir: Path) -> str:
    """An absolute path for a data folder (relative: to the recipe's folder when it exists there, else to
    the working directory); `ValueError` naming `key` when it does not exist."""
    path = Path(os.path.expanduser(value))
    if not path.is_absolute():
        path = (base_dir / path) if (base_dir / path).exists() else path
    if not path.exists():
        raise ValueError(f"{source}: {key}: {value!r} does not exist (resolved to {str(path.absolute())!r})")
    return str(path.resolve())
