"""`vras train` runner for the matching task: LIFT's staged training (descriptor → orientation → detector).

LIFT does not train with `model.fit`: each stage optimises one network on quadruplets of patches with the
others frozen. This runner maps a recipe onto the one stage loop, `vras_keras.training.lift.LiftTrainer`
(the loop `train_lift()` and the benchmarks run), so a recipe trains exactly as the benchmark does:

- data (`data.source: pairs`): `data.num_samples` training quadruplets from `ViewPairs(data.split)` views of
  `data.image_size` px (`vras_keras.data.pairs.quadruplet_dataset`); validation on the photographs of
  `data.val_split` (default `"val"`: `VAL_IMAGES`, disjoint from the training photographs; the held-out
  `"eval"` photographs are for the benchmarks): `data.val_samples` quadruplets for the stage losses and
  `val_pairs` pairs of whole views for `val_mma3`. `data.options`: `per_pair` (quadruplets per pair,
  default 32), `val_pairs` (default 8), `val_keypoints` (keypoints per view, default 300) and the
  `ViewPairs` arguments (`max_rotation`, `scale_range`, `perspective`, `max_tilt`, `photometric_strength`,
  `images`).
- schedule: `epochs` × `steps_per_epoch` (default: quadruplets // batch) steps in all, split among the
  stages by `task_options.stages` (fractions, default descriptor 0.6, orientation 0.2, detector 0.2;
  every stage gets at least one step); an epoch may span a stage boundary. Each stage gets a fresh
  optimizer from the recipe's `optimizer` / `schedule` sections; `batch_per_replica` quadruplets per step.
- `task_options`: `stages` plus the fields of `LiftTrainingOptions`, one to one (`margin`,
  `hardest_in_batch`, `gamma`, `overlap_weight`, `pair_weight`, `dense_weight`, `rotation_jitter`,
  `position_jitter`, `scale_jitter`, `consistency_weight`, `reference_sigma`, `scale_limits`, `augment`,
  `max_blur`).
- artefacts, as `trainer.train`: `config.yaml`, `vras_meta.json`, `checkpoints/{last,best}.keras` (+
  `best.json`, atomic), `history.csv` (`loss` = mean step loss of the epoch, `<stage>_loss` per stage
  trained in it; `val_descriptor_loss`, `val_orientation_loss`, `val_detector_loss`, their sum `val_loss`,
  `val_matching_accuracy` (nearest-descriptor accuracy among the validation quadruplets) and `val_mma1`,
  `val_mma3`, `val_mma5`, `val_repeatability`, `val_homography3`: `detect_and_describe` on both views of the
  validation pairs scored by `metrics.matching.evaluate_pair`, the metric that moves with training),
  `curves.png`, TensorBoard `logs/`, `summary.json`.
- crash safety: after every epoch `backup/` holds the weights, the optimizers' state and the epoch count
  (each file written atomically; `state.json`, written last, names the complete set). The same command
  run again resumes after the last completed epoch; batches and jitter of epoch e depend only on
  `(seed, e)`, so a resumed run takes the same steps. `backup/` is removed when the run completes.

One device only (the staged loop is not distributed): a multi-replica strategy is refused.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import shutil
import time
from pathlib import Path

import keras
import numpy as np

from vras_keras import models
from vras_keras.data.pairs import SPLITS, ViewPairs, quadruplet_dataset
from vras_keras.training import callbacks as cb
from vras_keras.training.lift import STAGES, LiftTrainer, LiftTrainingOptions, evaluate_views, stage_steps
from vras_keras.training.tasks import register_task_runner
from vras_keras.training.trainer import (
    format_summary,
    make_optimizer,
    resolve_model_args,
    run_meta,
    write_run_records,
    write_summary,
)

DEFAULT_STAGES = {"descriptor": 0.6, "orientation": 0.2, "detector": 0.2}
PAIR_OPTIONS = ("max_rotation", "scale_range", "perspective", "max_tilt", "photometric_strength", "images")
VALIDATION_OPTIONS = {"val_pairs": 8, "val_keypoints": 300}


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"data.options.{name}: received {value!r}; expected an integer >= 1")
    return value


def _options(config):
    source = getattr(config, "source", None) or "recipe"
    opts = dict(config.task_options or {})
    stages = opts.pop("stages", DEFAULT_STAGES)
    allowed = ("stages",) + LiftTrainingOptions.fields()
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise ValueError(
            f"{source}: task_options: unknown keys {unknown} for task 'matching'; allowed: {', '.join(allowed)}"
        )
    if (not isinstance(stages, dict) or set(stages) - set(STAGES)
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 for v in stages.values())
            or not sum(stages.values()) > 0):
        raise ValueError(f"task_options.stages: received {stages!r}; expected a mapping of {', '.join(STAGES)} "
                         "to fractions >= 0 (not all 0)")
    try:
        options = LiftTrainingOptions.from_dict(opts, what=f"{source}: task_options")
    except ValueError as error:
        raise ValueError(f"task_options: {error}") from None
    data_opts = dict(config.data.options or {})
    per_pair = _positive_int("per_pair", data_opts.pop("per_pair", 32))
    validation = {k: _positive_int(k, data_opts.pop(k, v)) for k, v in VALIDATION_OPTIONS.items()}
    unknown = sorted(set(data_opts) - set(PAIR_OPTIONS))
    if unknown:
        raise ValueError(f"data.options: unknown keys {unknown} for source 'pairs' (matching); allowed: "
                         f"per_pair, {', '.join(VALIDATION_OPTIONS)}, {', '.join(PAIR_OPTIONS)}")
    if "scale_range" in data_opts:
        data_opts["scale_range"] = tuple(data_opts["scale_range"])
    return stages, options, per_pair, validation, data_opts


def _split(field, name):
    if name not in SPLITS:
        raise ValueError(f"data.{field}: received {name!r}; expected one of {', '.join(SPLITS)} (photograph splits of "
                         "vras_keras.data.pairs)")
    return name


def _quadruplets(split, num, per_pair, patch, image_size, seed, pair_kwargs):
    data = quadruplet_dataset(split, num_pairs=max(1, math.ceil(num / per_pair)), per_pair=per_pair,
                              patch_size=patch, image_size=image_size, seed=seed, patch_dtype="uint8", **pair_kwargs)
    return {k: v[:num] for k, v in data.items()}


class _Backup:
    """Weights + optimizer state + epoch count in `workdir/backup`, one consistent set per epoch."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.state_path = directory / "state.json"

    def read(self):
        try:
            state = json.loads(self.state_path.read_text())
            return state if (self.directory / state["weights"]).exists() else None
        except (OSError, ValueError, KeyError):
            return None

    def restore(self, model, stages) -> int:
        state = self.read()
        if state is None:
            return 0
        model.load_weights(self.directory / state["weights"])
        with np.load(self.directory / state["optimizer"]) as arrays:
            stages.load_optimizer_state({k.replace("__", "/"): arrays[k] for k in arrays.files})
        return int(state["epoch"])

    def save(self, model, stages, epoch: int) -> None:
        atomic_write_bytes, atomic_write_text = cb.atomic_write_bytes, cb.atomic_write_text
        self.directory.mkdir(parents=True, exist_ok=True)
        weights, optimizer = f"epoch-{epoch}.weights.h5", f"epoch-{epoch}.optimizer.npz"
        tmp = self.directory / f".tmp-{epoch}.weights.h5"
        model.save_weights(tmp)
        atomic_write_bytes(self.directory / weights, tmp.read_bytes())
        tmp.unlink()
        buffer = io.BytesIO()
        np.savez(buffer, **{k.replace("/", "__"): v for k, v in stages.optimizer_state().items()})
        atomic_write_bytes(self.directory / optimizer, buffer.getvalue())
        atomic_write_text(self.state_path, json.dumps({"epoch": epoch, "weights": weights, "optimizer": optimizer}))
        for old in self.directory.glob("epoch-*"):
            if not old.name.startswith(f"epoch-{epoch}."):
                old.unlink()

    def remove(self):
        shutil.rmtree(self.directory, ignore_errors=True)


class _ScalarLog(keras.callbacks.Callback):
    """TensorBoard scalars of every epoch's logs (`logs/train`, `logs/validation` for `val_` keys)."""

    def __init__(self, directory: Path):
        super().__init__()
        self.directory = directory
        self.writers = {}

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf  # tf.summary: Keras has no summary writer of its own

        for key, value in (logs or {}).items():
            split, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            if split not in self.writers:
                self.writers[split] = tf.summary.create_file_writer(str(self.directory / split))
            with self.writers[split].as_default():
                tf.summary.scalar(f"epoch_{name}", value, step=epoch)

    def on_train_end(self, logs=None):
        for writer in self.writers.values():
            writer.close()


@register_task_runner("matching")
def train_matching(config, *, strategy, callbacks=(), verbose=None):
    """Train a `lift` recipe in stages (see the module docstring); returns a `keras.callbacks.History`."""
    d = config.data
    if d.source != "pairs":
        raise ValueError(f"data.source: received {d.source!r}; expected 'pairs' for task 'matching' "
                         "(LIFT trains on quadruplets of views of photographs under known homographies)")
    if strategy.num_replicas_in_sync > 1:
        raise ValueError(f"strategy: the matching runner (LIFT's staged training) runs on one device; received "
                         f"{type(strategy).__name__} with {strategy.num_replicas_in_sync} replicas")
    entry = models.get_entry(config.model.id)
    if entry.task != "matching":
        raise ValueError(
            f"model.id: received {config.model.id!r} (task {entry.task!r}); the matching runner trains lift"
        )
    stage_fractions, options, per_pair, validation, pair_kwargs = _options(config)
    train_split = _split("split", d.split)
    val_split = _split("val_split", d.val_split) if d.val_split else None
    if val_split == train_split:
        raise ValueError(f"data.val_split: {val_split!r} is the training split; validation needs other photographs "
                         f"(use 'val')")
    workdir = Path(config.workdir or "runs/default")
    batch = config.batch_per_replica
    model_args = resolve_model_args(config, (d.image_size, d.image_size, 3), [])
    with strategy.scope():
        model = models.get(config.model.id, **model_args)
    patch = int(model.input.shape[1])

    start = time.perf_counter()
    train = _quadruplets(train_split, d.num_samples, per_pair, patch, d.image_size, config.seed, pair_kwargs)
    n = len(train["p1"])
    if n < batch:
        raise ValueError(f"data: {n} training quadruplets (from data.num_samples {d.num_samples} at image_size "
                         f"{d.image_size}) make no full batch of {batch}; raise num_samples or lower batch_per_replica")
    val, val_views = None, []
    if val_split:
        val = _quadruplets(val_split, d.val_samples, per_pair, patch, d.image_size, config.seed + 1, pair_kwargs)
        val = val if len(val["p1"]) >= 2 else None
        views = ViewPairs(val_split, image_size=d.image_size, seed=config.seed + 2, **pair_kwargs)
        val_views = [views.sample(i) for i in range(validation["val_pairs"])]
    data_seconds = time.perf_counter() - start

    steps_per_epoch = config.steps_per_epoch or max(n // batch, 1)
    total = config.epochs * steps_per_epoch
    plan = stage_steps(total, stage_fractions)
    trainer = LiftTrainer(model, train, options, batch_size=batch, jit=config.jit,
                          make_optimizer=lambda stage: make_optimizer(config, steps_per_epoch))
    stages = trainer.stages
    detect_options = {} if options.reference_sigma is None else {"reference_sigma": options.reference_sigma,
                                                                 "scale_limits": options.scale_limits}

    meta = run_meta(config, task="matching", model_args=model_args, labels=[], input_shape=[patch, patch, 3],
                    training={"stages": dict(zip(STAGES, plan)), "steps_per_epoch": steps_per_epoch,
                              "train_quadruplets": n, "val_quadruplets": 0 if val is None else len(val["p1"]),
                              "val_pairs": len(val_views), "options": dataclasses.asdict(options)})
    meta["training"]["options"]["scale_limits"] = list(options.scale_limits)
    workdir.mkdir(parents=True, exist_ok=True)
    write_run_records(workdir, config, meta)

    backup = _Backup(workdir / "backup")
    resumed = backup.restore(model, stages) if config.callbacks.backup else 0
    no_backup = dataclasses.replace(config.callbacks, backup=False)  # the runner keeps its own backup
    history = keras.callbacks.History()
    standard = cb.standard_callbacks(
        workdir, no_backup, resuming=resumed > 0, title=f"{config.model.id} on pairs matching"
    )
    # Keras's TensorBoard callback reads `model.optimizer` (LIFT has one per stage): scalars are written here.
    standard = [c for c in standard if not isinstance(c, keras.callbacks.TensorBoard)]
    if config.callbacks.tensorboard and cb._tensorboard_available():
        standard.append(_ScalarLog(workdir / "logs"))
    cbs = keras.callbacks.CallbackList(standard + list(callbacks) + [history], model=model)
    verbose = 2 if verbose is None else verbose
    if resumed:
        print(f"vras train: resuming from {backup.directory} after epoch {resumed}", flush=True)
    print(f"vras train: {config.model.id} (matching, staged) on 1 device, batch {batch}, {steps_per_epoch} "
          f"steps/epoch, {config.epochs} epochs = descriptor {plan[0]} + orientation {plan[1]} + detector {plan[2]} "
          f"steps, {n} quadruplets ({data_seconds:.0f} s to make), workdir {workdir}", flush=True)

    cbs.on_train_begin()
    for epoch in range(resumed, config.epochs):
        cbs.on_epoch_begin(epoch)
        epoch_start = time.perf_counter()
        rng = np.random.default_rng([config.seed, epoch])  # the epoch's batches depend on (seed, epoch) only
        per_stage = trainer.run(plan, epoch * steps_per_epoch, (epoch + 1) * steps_per_epoch, rng)
        logs = {"loss": float(np.mean([x for v in per_stage.values() for x in v]))} if per_stage else {}
        logs.update({f"{s}_loss": float(np.mean(v)) for s, v in per_stage.items()})
        if val is not None:
            parts = stages.losses(val, np.random.default_rng([config.seed, 10**6]))
            logs.update({f"val_{k}": v for k, v in parts.items()})
            logs["val_loss"] = parts["descriptor_loss"] + parts["orientation_loss"] + parts["detector_loss"]
        if val_views:
            scores = evaluate_views(model, val_views, max_keypoints=validation["val_keypoints"],
                                    detect_options=detect_options)
            logs.update(val_mma1=scores["mma@1"], val_mma3=scores["mma@3"], val_mma5=scores["mma@5"],
                        val_repeatability=scores["repeatability"], val_homography3=scores["homography@3"])
        cbs.on_epoch_end(epoch, logs)  # checkpoints and logs first: a kill before the backup re-runs the epoch
        if config.callbacks.backup:
            backup.save(model, stages, epoch + 1)
        if verbose:
            print(f"epoch {epoch + 1}/{config.epochs} ({'+'.join(per_stage)}) "
                  f"{time.perf_counter() - epoch_start:.0f}s  "
                  + "  ".join(f"{k} {v:.4f}" for k, v in logs.items()), flush=True)
        if getattr(model, "stop_training", False):
            break
    cbs.on_train_end()
    backup.remove()
    summary = write_summary(workdir, config, meta, history)
    print(format_summary(summary), flush=True)
    return history
