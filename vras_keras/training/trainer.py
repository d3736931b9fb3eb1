"""`train(config) -> keras.callbacks.History`: one training run as in DESIGN.md §5.

1. the strategy is created first (logical CPU devices must precede any TensorFlow op);
2. seeds (`keras.utils.set_random_seed`), optional deterministic ops and the mixed-precision policy are
   set, and restored in `finally`;
3. the data source gives labels and input size; model and optimizer are built inside
   `strategy.scope()` and compiled with the task's setup (`training.tasks`);
4. the datasets are batched with the global batch (per-replica batch × replicas) and sharded (DATA);
5. `model.fit` with `standard_callbacks`: BackupAndRestore (written last in each epoch) makes a rerun of
   the same command resume from the last completed epoch; a workdir holding a finished run is refused
   unless `overwrite=True` (`check_workdir`); a NaN loss stops the run before anything of its epoch is saved;
6. the workdir records `config.yaml`, `vras_meta.json` (read by `vras export`) and `summary.json`.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import inspect
import json
import math
import shutil
import sys
from pathlib import Path

import keras
import tensorflow as tf
import yaml
from keras import ops

from vras_keras import models
from vras_keras.models import registry
from vras_keras.training import callbacks as cb
from vras_keras.training.callbacks import EpochLog, atomic_write_text, remove_stale_temp_files
from vras_keras.training.config import TrainConfig
from vras_keras.training.data import load_train_val, make_pipeline
from vras_keras.training.finetune import set_trainable_stages
from vras_keras.training.signals import TrainingStopped, stop_on_sigterm
from vras_keras.training.strategy import barrier, is_multi_worker, make_strategy, strategy_label, worker_info
from vras_keras.training.tasks import task_runner, task_setup


# ---------------------------------------------------------------------------------------- schedule
def make_schedule(config: TrainConfig, steps_per_epoch: int):
    """A step-based `LearningRateSchedule` for the recipe's `schedule` section (or a float for constant)."""
    s = config.schedule
    lr = config.optimizer.learning_rate
    if s.name == "constant" and not s.warmup_epochs:
        return lr
    return EpochSchedule(lr, steps_per_epoch, config.epochs, name=s.name, warmup_epochs=s.warmup_epochs,
                         alpha=s.alpha, boundaries=list(s.boundaries), factor=s.factor, decay_rate=s.decay_rate)


@keras.saving.register_keras_serializable(package="vras_keras")
class EpochSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, then constant / cosine / step / exponential decay, defined per epoch.

    Args:
        learning_rate: peak learning rate.
        steps_per_epoch, epochs: the run's length (the schedule is step-based, so a resumed run continues it).
        name: constant | cosine (to `alpha` × lr) | step (× `factor` at each epoch in `boundaries`) |
            exponential (× `decay_rate` per epoch).
        warmup_epochs: epochs of linear warm-up from lr / warmup steps to lr.
    """

    def __init__(self, learning_rate, steps_per_epoch, epochs, name="constant", warmup_epochs=0, alpha=0.0,
                 boundaries=(), factor=0.1, decay_rate=0.9):
        self.learning_rate = float(learning_rate)
        self.steps_per_epoch = int(steps_per_epoch)
        self.epochs = int(epochs)
        self.name = name
        self.warmup_epochs = int(warmup_epochs)
        self.alpha = float(alpha)
        self.boundaries = [int(b) for b in boundaries]
        self.factor = float(factor)
        self.decay_rate = float(decay_rate)

    def __call__(self, step):
        epoch = ops.cast(step, "float32") / float(self.steps_per_epoch)
        lr = self.learning_rate
        if self.name == "cosine":
            span = float(max(self.epochs - self.warmup_epochs, 1))
            t = ops.clip((epoch - self.warmup_epochs) / span, 0.0, 1.0)
            value = lr * (self.alpha + (1 - self.alpha) * 0.5 * (1 + ops.cos(math.pi * t)))
        elif self.name == "step":
            passed = ops.zeros_like(epoch)
            for b in self.boundaries:
                passed = passed + ops.cast(epoch >= b, "float32")
            value = lr * ops.power(self.factor, passed)
        elif self.name == "exponential":
            value = lr * ops.power(self.decay_rate, ops.floor(epoch))
        else:
            value = lr * ops.ones_like(epoch)
        if self.warmup_epochs:
            warm_steps = float(self.warmup_epochs * self.steps_per_epoch)
            warm = lr * ops.minimum((epoch * self.steps_per_epoch + 1.0) / warm_steps, 1.0)
            value = ops.where(epoch < self.warmup_epochs, warm, value)
        return value

    def get_config(self):
        return {"learning_rate": self.learning_rate, "steps_per_epoch": self.steps_per_epoch,
                "epochs": self.epochs, "name": self.name, "warmup_epochs": self.warmup_epochs,
                "alpha": self.alpha, "boundaries": self.boundaries, "factor": self.factor,
                "decay_rate": self.decay_rate}


OPTIMIZER_FACTORIES = {
    "sgd": lambda k, o, lr: k.optimizers.SGD(lr, momentum=o.momentum, nesterov=o.nesterov,
                                             weight_decay=o.weight_decay, clipnorm=o.clipnorm),
    "adam": lambda k, o, lr: k.optimizers.Adam(lr, weight_decay=o.weight_decay, clipnorm=o.clipnorm),
    "adamw": lambda k, o, lr: k.optimizers.AdamW(lr, weight_decay=0.004 if o.weight_decay is None else o.weight_decay,
                                                 clipnorm=o.clipnorm),
    "rmsprop": lambda k, o, lr: k.optimizers.RMSprop(lr, momentum=o.momentum, weight_decay=o.weight_decay,
                                                     clipnorm=o.clipnorm),
}


def make_optimizer(config: TrainConfig, steps_per_epoch: int):
    return OPTIMIZER_FACTORIES[config.optimizer.name](keras, config.optimizer, make_schedule(config, steps_per_epoch))


# ------------------------------------------------------------------------------------------- model
def resolve_model_args(config: TrainConfig, input_shape, labels) -> dict:
    """The recipe's model args plus `input_shape` / `num_classes` from the data when the builder takes
    them and the recipe leaves them out."""

    builder = registry.get_entry(config.model.id).builder
    params = inspect.signature(builder).parameters
    args = dict(config.model.args)
    if "input_shape" in params and "input_shape" not in args:
        args["input_shape"] = tuple(input_shape)
    if "num_classes" in params and "num_classes" not in args and labels and config.task != "pose":
        args["num_classes"] = len(labels)
    for joints in ("num_joints", "num_keypoints"):
        if joints in params and joints not in args and labels and config.task == "pose":
            args[joints] = len(labels)
    if isinstance(args.get("input_shape"), list):
        args["input_shape"] = tuple(args["input_shape"])
    if config.model.weights is not None:  # a classifier's own weights, else its backbone's
        target = "weights" if registry.get_entry(config.model.id).task == "classification" else "backbone_weights"
        args[target] = config.model.weights
    return args


# ------------------------------------------------------------------------------- multi-worker fixes
@contextlib.contextmanager
def keras_multi_worker_fixes(model, strategy):
    """Work around keras-team/keras#20585 (Keras 3 `fit` under MultiWorkerMirroredStrategy) for one fit.

    Keras 3.15 (a) reduces the first data batch across workers eagerly to build the model symbolically,
    which collective ops reject, and (b) reduces scalar metric results with `axis=0`. Here (a) uses the
    local batch (only its shapes matter) and (b) reduces scalars with `axis=None`. Both patches are undone
    on exit; outside multi-worker training nothing is changed.
    """
    from keras.src.backend.tensorflow import trainer as tf_trainer


    if not is_multi_worker(strategy):
        yield
        return
    original_build = model._maybe_symbolic_build
    original_reduce = tf_trainer.reduce_per_replica

    def local_symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, it in iterator:
                batch = next(it)
                break
            data_batch = tf.nest.map_structure(
                lambda v: strategy.experimental_local_results(v)[0]
                if isinstance(v, tf.distribute.DistributedValues) else v, batch)
        return original_build(data_batch=data_batch)

    def reduce_per_replica(values, strategy_, reduction):
        if reduction in ("auto", "mean"):
            return tf.nest.map_structure(
                lambda v: strategy_.reduce("MEAN", v, axis=None)
                if isinstance(v, tf.distribute.DistributedValues) else v, values)
        return original_reduce(values, strategy_, reduction)

    model._maybe_symbolic_build = local_symbolic_build
    tf_trainer.reduce_per_replica = reduce_per_replica
    try:
        yield
    finally:
        tf_trainer.reduce_per_replica = original_reduce
        del model._maybe_symbolic_build


# ------------------------------------------------------------------------------------------- train
def _versions():

    return {"tensorflow": tf.__version__, "keras": keras.__version__}


def write_run_records(workdir: Path, config: TrainConfig, meta: dict) -> None:


    atomic_write_text(workdir / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
    atomic_write_text(workdir / "vras_meta.json", json.dumps(meta, indent=2))


# ----------------------------------------------------------------------------------------- workdir
RUN_ARTEFACTS = ("checkpoints", "history.csv", "curves.png", "summary.json", "logs", "config.yaml",
                 "vras_meta.json", "backup")


def _has_backup(workdir: Path) -> bool:
    """A crash backup to resume from (Keras BackupAndRestore or the staged runners' `backup/state.json`)."""
    return any(d.is_dir() and any(d.iterdir()) for d in workdir.glob("backup*"))


def _completed_epochs(workdir: Path) -> int:

    try:
        rows = EpochLog(workdir / "history.csv").read()
    except (OSError, ValueError, KeyError, csv.Error):
        rows = []
    if rows:
        return max(int(r["epoch"]) for r in rows)
    try:
        return int(json.loads((workdir / "summary.json").read_text())["epochs_completed"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def check_workdir(workdir, epochs: int, *, overwrite: bool = False, is_chief: bool = True) -> str:
    """Decide what a run may do with `workdir`: "fresh", "resume" (a crash backup) or "overwrite".

    A workdir that holds a finished or interrupted run without a backup (checkpoints, `history.csv` or
    `summary.json`) is refused: training into it would replace its best checkpoint, cut its history and
    replace its config. With `overwrite=True` the previous run's artefacts (`RUN_ARTEFACTS`, nothing
    else) are deleted first (by the chief). Temporary files of killed checkpoint writes are removed.

    Raises:
        ValueError: the workdir holds a previous run and `overwrite` is False, or is not a folder.
    """

    workdir = Path(workdir)
    if workdir.exists() and not workdir.is_dir():
        raise ValueError(f"workdir {workdir} is a file; expected a run folder (pass another --workdir)")
    if not workdir.is_dir():
        return "fresh"
    if is_chief:
        for folder in (workdir, workdir / "checkpoints"):
            remove_stale_temp_files(folder)
    if _has_backup(workdir) and not overwrite:
        return "resume"
    previous = [name for name in ("checkpoints/best.keras", "checkpoints/last.keras", "history.csv", "summary.json")
                if (workdir / name).exists()]
    if not previous:
        return "fresh"
    if not overwrite:
        done = _completed_epochs(workdir)
        state = (f"already complete ({done} of {epochs} epochs)" if done >= epochs else
                 f"stopped after {done} of {epochs} epochs with no backup to resume from")
        raise ValueError(
            f"workdir {workdir} holds a previous run, {state} ({', '.join(previous)}): training again would "
            "replace its checkpoints and history. Pass a new --workdir, or --overwrite to delete that run and "
            "start over")
    if is_chief:

        for name in RUN_ARTEFACTS:
            for path in workdir.glob(name + "*") if name == "backup" else [workdir / name]:
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
    return "overwrite"


def train(config: TrainConfig, *, callbacks=(), verbose=None, overwrite: bool = False):
    """Train the recipe `config`; returns the `History` of this process's `fit` call.

    Args:
        config: a validated `TrainConfig` (`load_config`).
        callbacks: extra Keras callbacks, run after the standard ones (before the crash backup).
        verbose: `fit` verbosity; default: progress bars on a terminal (if `callbacks.progress`), one line
            per epoch otherwise.
        overwrite: start over in a workdir that holds a previous run (its artefacts are deleted); without
            it such a workdir is refused (`check_workdir`). A workdir with a crash backup resumes.

    Raises:
        ValueError: a bad workdir (see `check_workdir`), or `NonFiniteTrainingError` when the loss or the
            weights become NaN (nothing of that epoch is saved).
        training.signals.TrainingStopped: the process received SIGTERM (after printing one line saying
            which completed epoch is backed up; `vras train` then exits with code 143).
    """

    strategy = make_strategy(config.strategy, config.cpu_replicas)  # first: may configure logical devices
    workdir = Path(config.workdir or "runs/default")
    worker_index, is_chief = worker_info(strategy)

    def stopped_line():
        return sigterm_line(workdir, is_chief, worker_index)

    try:
        with stop_on_sigterm(on_blocked=stopped_line):
            return _train(config, strategy, workdir, worker_index, is_chief, callbacks, verbose, overwrite)
    except TrainingStopped:
        print(stopped_line(), flush=True)
        raise


def sigterm_line(workdir: Path, is_chief: bool = True, worker_index: int = 0) -> str:
    """The one line `vras train` prints when SIGTERM stops it: which completed epoch is kept, and how to go on.

    Keras deletes the crash backup when `fit` returns, so a run stopped after its last epoch (e.g. while
    writing its summary) has no backup; `history.csv` then says how many epochs had completed.
    """
    done = _resume_epoch(workdir, is_chief, worker_index)
    backup = workdir / ("backup" if is_chief else f"backup-worker{worker_index}")
    if done:
        kept = f"epoch {done} is the last completed one, kept in {backup}: rerun the same command to resume"
    elif backup.exists():  # a runner's own backup (e.g. LIFT's staged training)
        kept = f"the backup in {backup} is kept: rerun the same command to resume"
    else:
        try:
            rows = EpochLog(workdir / "history.csv").read() if is_chief else []
        except ValueError:
            rows = []
        if rows:
            kept = (f"{rows[-1]['epoch']} epoch(s) had completed and no crash backup is left (training had "
                    f"finished, or callbacks.backup is false): the checkpoints and history.csv in {workdir} "
                    "are kept; summary.json may be missing")
        else:
            kept = "no epoch had completed: rerunning the same command starts over"
    return f"vras train: stopped by SIGTERM; {kept}"


def _train(config, strategy, workdir, worker_index, is_chief, callbacks, verbose, overwrite):


    check_workdir(workdir, config.epochs, overwrite=overwrite, is_chief=is_chief)
    task = config.task or models.get_entry(config.model.id).task
    runner = task_runner(task)
    if runner is None and config.task_options:
        raise ValueError(f"task_options: received {config.task_options!r}; expected {{}} for task {task!r}, which "
                         "trains with model.fit (task_options configure the runners of staged tasks, e.g. matching)")
    replicas = strategy.num_replicas_in_sync
    global_batch = config.batch_per_replica * replicas

    previous_policy = keras.config.dtype_policy()
    # No public getter for op determinism in TF 2.21; the framework module has one.
    from tensorflow.python.framework import config as tf_framework_config

    previous_determinism = tf_framework_config.is_op_determinism_enabled()
    try:
        keras.utils.set_random_seed(config.seed)
        if config.deterministic:
            tf.config.experimental.enable_op_determinism()
        if config.mixed_precision_policy:
            keras.config.set_dtype_policy(config.mixed_precision_policy)
        if runner is not None and config.finetune is not None:
            raise ValueError(f"finetune: received {config.finetune!r}; expected null for task {task!r}, which "
                             "trains with its own runner")
        if runner is not None:  # a task with its own training loop (e.g. LIFT's staged training)
            return runner(dataclasses.replace(config, task=task), strategy=strategy, callbacks=callbacks,
                          verbose=verbose)

        d = config.data
        train_src, val_src = load_train_val(d, task, config.seed, log=lambda line: print(line, flush=True)
                                            if is_chief else None)
        model_args = resolve_model_args(dataclasses.replace(config, task=task), train_src.input_shape,
                                        train_src.labels)
        steps = config.steps_per_epoch or max(train_src.num_samples // global_batch, 1)

        with strategy.scope():
            model = models.get(config.model.id, **model_args)
            setup = task_setup(task, model, config)
            model.compile(optimizer=make_optimizer(config, steps), jit_compile=config.jit, **setup.compile_args)

        train_ds, train_steps = make_pipeline(train_src, global_batch, training=True, seed=config.seed,
                                              shuffle_buffer=d.shuffle_buffer, map_targets=setup.map_targets,
                                              cache=d.cache)
        val_ds = val_steps = None
        if val_src is not None:
            val_batch = validation_batch(val_src.num_samples, global_batch, replicas)
            if val_batch != global_batch and is_chief:
                print(f"vras train: validation: {val_src.num_samples} images make no full batch of {global_batch}: "
                      f"validated in one batch of {val_batch}", flush=True)
            val_ds, val_steps = make_pipeline(val_src, val_batch, training=False, seed=config.seed,
                                              map_targets=setup.map_targets, cache=d.cache)
            val_steps = config.validation_steps or val_steps

        meta = run_meta(config, task=task, model_args=model_args, labels=train_src.labels,
                        input_shape=train_src.input_shape)
        if is_chief:
            workdir.mkdir(parents=True, exist_ok=True)
            write_run_records(workdir, dataclasses.replace(config, task=task), meta)

        resumed = _resume_epoch(workdir, is_chief, worker_index) if config.callbacks.backup else 0
        all_callbacks = cb.standard_callbacks(workdir, config.callbacks, is_chief=is_chief,
                                              worker_index=worker_index, resuming=resumed > 0,
                                              title=f"{config.model.id} on {d.source} {task}", extra=callbacks)
        if verbose is None:
            verbose = 1 if (config.callbacks.progress and sys.stdout.isatty() and is_chief) else 2
        if verbose == 2 and is_chief and config.callbacks.progress:  # not a terminal: a line every 30 s
            all_callbacks.append(cb.ProgressLine(config.epochs, config.steps_per_epoch or train_steps, global_batch))
        if resumed and is_chief:
            print(f"vras train: resuming from {workdir / 'backup'} after epoch {resumed}", flush=True)
        print(
            f"vras train: {config.model.id} ({task}) on {replicas} replica(s) "
            f"[{strategy_label(strategy)}], global batch {global_batch}, "
            f"{train_steps if not config.steps_per_epoch else steps} "
            f"steps/epoch, {config.epochs} epochs, precision {config.precision}{' + XLA' if config.jit else ''}, "
            f"workdir {workdir}",
            flush=True,
        )
        fit_args = {"validation_data": val_ds, "steps_per_epoch": config.steps_per_epoch or train_steps,
                        "validation_steps": val_steps, "callbacks": all_callbacks, "verbose": verbose,
                        "shuffle": False}  # the pipeline shuffles (seeded)
        with keras_multi_worker_fixes(model, strategy):
            if config.finetune is None:
                history = model.fit(train_ds, epochs=config.epochs, **fit_args)
            else:
                history = _finetune_stages(model, config, setup, strategy, steps, train_ds, fit_args)
        if is_chief:
            summary = write_summary(workdir, config, meta, history)
            print(format_summary(summary), flush=True)
        barrier(strategy)  # multi-worker: every worker leaves together, after the chief's artefacts are written
        return history
    finally:
        keras.config.set_dtype_policy(previous_policy)
        if config.deterministic and not previous_determinism:
            tf_framework_config.disable_op_determinism()


def validation_batch(num_samples: int, global_batch: int, replicas: int = 1) -> int:
    """The validation batch: the global batch, or for a validation split smaller than one global batch (e.g.
    the 10 % held out of a few hundred photos) all of it, rounded down to a multiple of the replicas, so that
    a large training batch does not make small folders fail."""
    if num_samples >= global_batch:
        return global_batch
    return max(num_samples // replicas, 1) * replicas


def _finetune_stages(model, config, setup, strategy, steps, train_ds, fit_args):
    """`config.finetune.stages` one after another: trainable stages set, a fresh optimizer at the stage's
    learning rate (constant), `fit` continuing the epoch count. Returns one History of all epochs."""

    history, start = None, 0
    for i, stage in enumerate(config.finetune.stages):
        trained = set_trainable_stages(model, stage.trainable_stages, freeze_bn=config.finetune.freeze_bn)
        stage_config = dataclasses.replace(
            config, optimizer=dataclasses.replace(config.optimizer, learning_rate=stage.learning_rate),
            schedule=dataclasses.replace(config.schedule, name="constant", warmup_epochs=0))
        with strategy.scope():
            model.compile(optimizer=make_optimizer(stage_config, steps), jit_compile=config.jit,
                          **setup.compile_args)
        print(f"vras train: fine-tune stage {i + 1}/{len(config.finetune.stages)}: epochs {start + 1}-"
              f"{start + stage.epochs}, {len(trained)} trainable layers (last {stage.trainable_stages} backbone "
              f"stages + head), learning rate {stage.learning_rate:g}, batch norm "
              f"{'frozen' if config.finetune.freeze_bn else 'trained'}", flush=True)
        stage_history = model.fit(train_ds, initial_epoch=start, epochs=start + stage.epochs, **fit_args)
        if history is None:
            history = stage_history
        else:
            for key, values in stage_history.history.items():
                history.history.setdefault(key, []).extend(values)
            history.epoch.extend(stage_history.epoch)
        start += stage.epochs
    return history


def _resume_epoch(workdir: Path, is_chief: bool, worker_index: int) -> int:
    path = workdir / ("backup" if is_chief else f"backup-worker{worker_index}") / "training_metadata.json"
    try:
        return int(json.loads(path.read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return 0


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def run_meta(config: TrainConfig, *, task: str, model_args: dict, labels, input_shape, **extra) -> dict:
    """`vras_meta.json` of a run (read by `vras export`): model, labels, input, data, checkpoints, versions."""
    d = config.data
    return {
        "task": task,
        "model": {"id": config.model.id, "args": _jsonable(model_args)},
        "labels": list(labels),
        "input_shape": list(input_shape),
        "image_size": list(input_shape[:2]),
        "input_range": [0, 255],
        "box_format": "xyxy",
        # where the data came from, so that `vras export --quantize int8 --check` and `vras evaluate` find
        # it from any working directory (paths are absolute, see training/config.py)
        "data": {"source": d.source, "format": d.format, "path": d.path, "val": d.val, "split": d.split,
                 "val_split": d.val_split, "val_fraction": d.val_fraction, "image_size": list(input_shape[:2]),
                 "channels": int(input_shape[-1]), "options": _jsonable(dict(d.options)), "seed": config.seed},
        "checkpoints": {"best": "checkpoints/best.keras", "last": "checkpoints/last.keras"},
        "precision": config.precision,
        **extra,
        "created_by": "vras train",
        "versions": _versions(),
    }


def write_summary(workdir: Path, config: TrainConfig, meta: dict, history=None) -> dict:
    """`summary.json`: final and best metrics (from history.csv, which spans resumed runs) and artefacts."""

    rows = EpochLog(workdir / "history.csv").read()
    if not rows and history is not None and history.history:  # no CSV log: this process's epochs
        rows = [{"epoch": e + 1, **{k: float(v[i]) for k, v in history.history.items()}}
                for i, e in enumerate(history.epoch)]
    best_state = workdir / "checkpoints" / "best.json"
    artefacts = {name: str(workdir / rel) for name, rel in (
        ("best_checkpoint", "checkpoints/best.keras"), ("last_checkpoint", "checkpoints/last.keras"),
        ("history_csv", "history.csv"), ("curves_png", "curves.png"), ("tensorboard", "logs"),
        ("config", "config.yaml"), ("meta", "vras_meta.json")) if (workdir / rel).exists()}
    summary = {
        "model": config.model.id,
        "task": meta["task"],
        "epochs_completed": rows[-1]["epoch"] if rows else 0,
        "final": rows[-1] if rows else {},
        "best": json.loads(best_state.read_text()) if best_state.exists() else None,
        "artefacts": artefacts,
    }
    atomic_write_text(workdir / "summary.json", json.dumps(summary, indent=2))
    summary["artefacts"]["summary"] = str(workdir / "summary.json")
    return summary


def format_summary(summary: dict) -> str:
    final = summary["final"]
    lines = [f"\n== vras train: {summary['model']} ({summary['task']}), {summary['epochs_completed']} epochs"]
    metrics = "  ".join(f"{k} {v:.4g}" for k, v in final.items() if k not in ("epoch", "learning_rate"))
    lines.append(f"final:  {metrics}")
    if summary["best"]:
        b = summary["best"]
        lines.append(f"best:   {b['logged_as']} {b['value']:.4g} at epoch {b['epoch']}")
    for name, path in summary["artefacts"].items():
        lines.append(f"  {name:<16} {path}")
    return "\n".join(lines)
