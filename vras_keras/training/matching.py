"""`vras train` runner for the matching task: LIFT's staged training (descriptor → orientation → detector).

LIFT does not train with `model.fit`: each stage optimises one network on quadruplets of patches with the
others frozen (`vras_keras.models.matching.train_lift.LiftStages`). This runner maps a recipe onto that:

- data (`data.source: pairs`): `data.num_samples` training quadruplets from `ViewPairs(data.split)`
  views of `data.image_size` px (`vras_keras.data.pairs.quadruplet_dataset`); validation quadruplets
  (`data.val_samples`) from the held-out photographs (`split: "eval"`; any `val_split` other than
  "train" means those). `data.options`: `per_pair` (quadruplets per pair, default 32) and the `ViewPairs`
  arguments (`max_rotation`, `scale_range`, `perspective`, `photometric_strength`, `images`).
- schedule: `epochs` × `steps_per_epoch` (default: quadruplets // batch) steps in all, split among the
  stages by `task_options.stages` (fractions, default descriptor 0.6, orientation 0.2, detector 0.2;
  every stage gets at least one step); an epoch may span a stage boundary. Each stage gets a fresh
  optimizer from the recipe's `optimizer` / `schedule` sections.
- `task_options` (all optional): `stages`, `margin`, `hardest_in_batch`, `gamma`, `overlap_weight`, `pair_weight`, `dense_weight`,
  `rotation_jitter`, `position_jitter`, `scale_jitter`, `consistency_weight` (see `LiftStages`).
- artefacts, as `trainer.train`: `config.yaml`, `vras_meta.json`, `checkpoints/{last,best}.keras` (+
  `best.json`, atomic), `history.csv` (`loss` = mean step loss of the epoch, `<stage>_loss` per stage
  trained in it; `val_descriptor_loss`, `val_orientation_loss`, `val_detector_loss`, their sum `val_loss`
  and `val_matching_accuracy`), `curves.png`, TensorBoard `logs/`, `summary.json`.
- crash safety: after every epoch `backup/` holds the weights, the optimizers' state and the epoch count
  (each file written atomically; `state.json`, written last, names the complete set). The same command
  run again resumes after the last completed epoch; batches and jitter of epoch e depend only on
  `(seed, e)`, so a resumed run takes the same steps. `backup/` is removed when the run completes.

One device only (the staged loop is not distributed): a multi-replica strategy is refused.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from pathlib import Path

import keras
import numpy as np

from vras_keras.training.tasks import register_task_runner

DEFAULT_STAGES = {"descriptor": 0.6, "orientation": 0.2, "detector": 0.2}
STAGE_OPTIONS = ("margin", "hardest_in_batch", "gamma", "overlap_weight", "pair_weight", "dense_weight", "rotation_jitter",
                 "position_jitter", "scale_jitter", "consistency_weight")
PAIR_OPTIONS = ("max_rotation", "scale_range", "perspective", "photometric_strength", "images")


def stage_steps(total: int, fractions: dict) -> tuple[int, int, int]:
    """Split `total` steps among descriptor, orientation, detector by `fractions` (>= 1 step each when
    `total` >= 3 and the fraction is > 0; the remainder goes to the descriptor)."""
    from vras_keras.models.matching.train_lift import STAGES

    weights = np.array([float(fractions.get(s, 0.0)) for s in STAGES])
    share = total * weights / weights.sum()
    steps = np.floor(share + 1e-9).astype(int)
    for i in np.argsort(-(share - steps), kind="stable")[: total - steps.sum()]:  # largest remainders
        steps[i] += 1
    for i in np.flatnonzero((weights > 0) & (steps == 0)):  # at least one step for every stage asked for
        if steps.max() > 1:
            steps[int(np.argmax(steps))] -= 1
            steps[i] += 1
    return tuple(int(s) for s in steps)


def _options(config):
    source = getattr(config, "source", None) or "recipe"
    opts = dict(config.task_options or {})
    allowed = ("stages",) + STAGE_OPTIONS
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise ValueError(f"{source}: task_options: unknown keys {unknown} for task 'matching'; allowed: {', '.join(allowed)}")
    stages = opts.pop("stages", DEFAULT_STAGES)
    from vras_keras.models.matching.train_lift import STAGES

    if (not isinstance(stages, dict) or set(stages) - set(STAGES)
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 for v in stages.values())
            or not sum(stages.values()) > 0):
        raise ValueError(f"task_options.stages: received {stages!r}; expected a mapping of {', '.join(STAGES)} "
                         "to fractions >= 0 (not all 0)")
    data_opts = dict(config.data.options or {})
    per_pair = data_opts.pop("per_pair", 32)
    if isinstance(per_pair, bool) or not isinstance(per_pair, int) or per_pair < 1:
        raise ValueError(f"data.options.per_pair: received {per_pair!r}; expected an integer >= 1")
    unknown = sorted(set(data_opts) - set(PAIR_OPTIONS))
    if unknown:
        raise ValueError(f"data.options: unknown keys {unknown} for source 'pairs' (matching); allowed: "
                         f"per_pair, {', '.join(PAIR_OPTIONS)}")
    if "scale_range" in data_opts:
        data_opts["scale_range"] = tuple(data_opts["scale_range"])
    return stages, opts, per_pair, data_opts


def _quadruplets(split, num, per_pair, patch, image_size, seed, pair_kwargs):
    from vras_keras.data.pairs import quadruplet_dataset

    pairs_split = "train" if split == "train" else "eval"
    data = quadruplet_dataset(pairs_split, num_pairs=max(1, math.ceil(num / per_pair)), per_pair=per_pair,
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
        import io

        from vras_keras.training.callbacks import atomic_write_bytes, atomic_write_text

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
    from vras_keras import models
    from vras_keras.models.matching.train_lift import STAGES, LiftStages, check_quadruplets, stage_of_step
    from vras_keras.training import callbacks as cb
    from vras_keras.training.trainer import (format_summary, make_optimizer, resolve_model_args, run_meta,
                                             write_run_records, write_summary)

    d = config.data
    if d.source != "pairs":
        raise ValueError(f"data.source: received {d.source!r}; expected 'pairs' for task 'matching' "
                         "(LIFT trains on quadruplets of views of photographs under known homographies)")
    if strategy.num_replicas_in_sync > 1:
        raise ValueError(f"strategy: the matching runner (LIFT's staged training) runs on one device; received "
                         f"{type(strategy).__name__} with {strategy.num_replicas_in_sync} replicas")
    entry = models.get_entry(config.model.id)
    if entry.task != "matching":
        raise ValueError(f"model.id: received {config.model.id!r} (task {entry.task!r}); the matching runner trains lift")
    stage_fractions, stage_options, per_pair, pair_kwargs = _options(config)
    workdir = Path(config.workdir or "runs/default")
    batch = config.batch_per_replica
    model_args = resolve_model_args(config, (d.image_size, d.image_size, 3), [])
    with strategy.scope():
        model = models.get(config.model.id, **model_args)
    patch = int(model.input.shape[1])

    start = time.perf_counter()
    train = _quadruplets(d.split, d.num_samples, per_pair, patch, d.image_size, config.seed, pair_kwargs)
    n = check_quadruplets(model, train)
    if n < batch:
        raise ValueError(f"data: {n} training quadruplets (from data.num_samples {d.num_samples} at image_size "
                         f"{d.image_size}) make no full batch of {batch}; raise num_samples or lower batch_per_replica")
    val = None
    if d.val_split:
        val = _quadruplets(d.val_split, d.val_samples, per_pair, patch, d.image_size, config.seed + 1, pair_kwargs)
        val = val if len(val["p1"]) >= 2 else None
    data_seconds = time.perf_counter() - start

    steps_per_epoch = config.steps_per_epoch or max(n // batch, 1)
    total = config.epochs * steps_per_epoch
    plan = stage_steps(total, stage_fractions)
    stages = LiftStages(model, make_optimizer=lambda stage: make_optimizer(config, steps_per_epoch),
                        jit=config.jit, **stage_options)

    meta = run_meta(config, task="matching", model_args=model_args, labels=[], input_shape=[patch, patch, 3],
                    training={"stages": dict(zip(STAGES, plan)), "steps_per_epoch": steps_per_epoch,
                              "train_quadruplets": n, "val_quadruplets": 0 if val is None else len(val["p1"])})
    workdir.mkdir(parents=True, exist_ok=True)
    write_run_records(workdir, config, meta)

    backup = _Backup(workdir / "backup")
    resumed = backup.restore(model, stages) if config.callbacks.backup else 0
    no_backup = dataclasses.replace(config.callbacks, backup=False)  # the runner keeps its own backup
    history = keras.callbacks.History()
    standard = cb.standard_callbacks(workdir, no_backup, resuming=resumed > 0, title=f"{config.model.id} on pairs matching")
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

    arrays = {k: np.asarray(v) for k, v in train.items()}
    cbs.on_train_begin()
    try:
        for epoch in range(resumed, config.epochs):
            cbs.on_epoch_begin(epoch)
            rng = np.random.default_rng([config.seed, epoch])  # the epoch's batches depend on (seed, epoch) only
            order, position = rng.permutation(n), 0
            per_stage = {}
            epoch_start = time.perf_counter()
            for i in range(steps_per_epoch):
                stage = stage_of_step(epoch * steps_per_epoch + i, plan)
                if stage is None:
                    break
                if position + batch > n:
                    order, position = rng.permutation(n), 0
                idx = order[position:position + batch]
                position += batch
                loss = stages.step(stage, {k: v[idx] for k, v in arrays.items()}, rng)
                per_stage.setdefault(stage, []).append(loss)
            stages.restore_trainable()
            logs = {"loss": float(np.mean([x for v in per_stage.values() for x in v]))}
            logs.update({f"{s}_loss": float(np.mean(v)) for s, v in per_stage.items()})
            if val is not None:
                parts = stages.losses(val, np.random.default_rng([config.seed, 10**6]))
                logs.update({f"val_{k}": v for k, v in parts.items()})
                logs["val_loss"] = parts["descriptor_loss"] + parts["orientation_loss"] + parts["detector_loss"]
            cbs.on_epoch_end(epoch, logs)  # checkpoints and logs first: a kill before the backup re-runs the epoch
            if config.callbacks.backup:
                backup.save(model, stages, epoch + 1)
            if verbose:
                print(f"epoch {epoch + 1}/{config.epochs} ({'+'.join(per_stage)}) "
                      f"{time.perf_counter() - epoch_start:.0f}s  "
                      + "  ".join(f"{k} {v:.4f}" for k, v in logs.items()), flush=True)
            if getattr(model, "stop_training", False):
                break
    finally:
        stages.restore_trainable()
    cbs.on_train_end()
    backup.remove()
    summary = write_summary(workdir, config, meta, history)
    print(format_summary(summary), flush=True)
    return history
