"""Input pipeline vs training speed, data parallelism on CPU replicas, mixed precision + XLA.

In one run, on this machine:
1. for each recipe in configs/ whose model is registered: images/s of the trainer's tf.data pipeline
   (first pass = generating the samples, then the cached passes `vras train` runs on from epoch 2) against
   images/s that `train()` consumes with that recipe's model; the pipeline must reach >= 3x;
2. MirroredStrategy over 1 vs 2 logical CPU replicas at the same global batch (images/s);
3. the classification recipe's model in float32 without XLA against bf16, XLA, and bf16 + XLA.

Usage: python benchmarks/input_pipeline.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from vras_keras.training.strategy import configure_cpu_replicas  # noqa: E402

configure_cpu_replicas(2)  # before any TensorFlow op: part 2 mirrors over /cpu:0 and /cpu:1

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from _report import machine, write_section  # noqa: E402
from vras_keras.models.registry import _REGISTRY, list_models  # noqa: E402
from vras_keras.training.config import load_config  # noqa: E402
from vras_keras.training.data import load_source, make_pipeline  # noqa: E402
from vras_keras.training.trainer import train  # noqa: E402

CONFIGS = HERE.parent / "configs"
QUIET = {"callbacks.tensorboard": False, "callbacks.csv": False, "callbacks.curves": False,
         "callbacks.backup": False, "callbacks.checkpoint.save_best": False,
         "callbacks.checkpoint.save_last": False, "data.val_split": None}


class StepTimer(keras.callbacks.Callback):
    """Wall time of the training batches of the second epoch (the first traces and fills the data cache)."""

    def __init__(self):
        super().__init__()
        self.times, self._t, self.epoch = [], None, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self._t = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch >= 1 and batch >= 1:
            self.times.append(time.perf_counter() - self._t)

    def rate(self, batch):
        return batch * len(self.times) / sum(self.times)


def train_rate(path, workdir, steps, **overrides):
    """Images/s that `train()` consumes for the recipe at `path` (second epoch, data cached), the config
    and the trained model."""
    config = load_config(path, {**QUIET, "epochs": 2, "workdir": str(workdir), **overrides})
    replicas = config.cpu_replicas or 1
    config.data.num_samples = config.batch_per_replica * replicas * steps
    timer = StepTimer()
    with open(os.devnull, "w") as null:
        stdout, sys.stdout = sys.stdout, null
        try:
            history = train(config, callbacks=[timer], verbose=0)
        finally:
            sys.stdout = stdout
    return timer.rate(config.batch_per_replica * replicas), config, history.model


def pipeline_rates(config, model, num_batches):
    """(first pass, cached pass) images/s of the trainer's pipeline for `config`, target mapping included."""
    from vras_keras.training.tasks import task_setup

    batch = config.batch_per_replica
    source = load_source(config.data, config.task, config.data.split, batch * num_batches, config.seed)
    ds, steps = make_pipeline(source, batch, training=True, seed=0, shuffle_buffer=config.data.shuffle_buffer,
                              map_targets=task_setup(config.task, model, config).map_targets)
    it = iter(ds)
    rates = []
    for _ in range(2):  # pass 1 fills the cache, pass 2 reads it
        t = time.perf_counter()
        for _ in range(steps):
            next(it)
        rates.append(batch * steps / (time.perf_counter() - t))
    return rates


def main(quick: bool):
    steps = 8 if quick else 20
    rows, failures = [], []
    work = Path(tempfile.mkdtemp(prefix="vras_bench_"))
    list_models()
    for path in sorted(CONFIGS.glob("*.yaml")):
        import yaml

        model_id = yaml.safe_load(path.read_text())["model"]["id"]
        if model_id not in _REGISTRY:
            rows.append(f"| {path.stem} | `{model_id}` | not in this checkout | | | | |")
            continue
        print(f"-- {path.stem}", flush=True)
        rate, config, model = train_rate(path, work / path.stem, steps)
        first, cached = pipeline_rates(config, model, steps)
        ok = cached >= 3 * rate
        if not ok:
            failures.append(path.stem)
        rows.append(f"| {path.stem} | `{model_id}` | {config.data.image_size} px, batch {config.batch_per_replica} "
                    f"| {rate:.0f} | {first:.0f} | {cached:.0f} | {cached / rate:.1f}x {'ok' if ok else 'BOTTLENECK'} |")

    cls = CONFIGS / "classification.yaml"
    print("-- mirrored", flush=True)
    one = train_rate(cls, work / "one", steps, strategy="one_device", batch_per_replica=64)[0]
    two = train_rate(cls, work / "two", steps, strategy="mirrored", cpu_replicas=2, batch_per_replica=32)[0]
    print("-- precision", flush=True)
    precision = {}
    for name, extra in (("float32", {}), ("float32 + XLA", {"jit": True}), ("bf16", {"mixed_precision": "bf16"}),
                        ("bf16 + XLA", {"mixed_precision": "bf16", "jit": True})):
        precision[name] = train_rate(cls, work / name.replace(" ", ""), steps, **extra)[0]

    base = precision["float32"]
    md = [
        "## Input pipeline, data parallelism, mixed precision (`benchmarks/input_pipeline.py`)\n",
        f"Machine: {machine()}. The CPU was shared with other jobs while this ran, so absolute rates are "
        "noisy; the ratios compare measurements taken minutes apart in one process.\n",
        "**Pipeline vs training.** Images/s consumed by `train()` with each recipe's model (second epoch: "
        "traced, data cached) against the trainer's tf.data pipeline for the same data: the first pass generates the "
        "samples (ShapesWorld / digits in NumPy), later epochs read the in-memory cache that `vras train` "
        "keeps (`data.cache: true`). Requirement: cached pipeline >= 3x the training rate.\n",
        "| recipe | model | input | train img/s | pipeline first pass img/s | pipeline cached img/s | ratio |",
        "|---|---|---|---:|---:|---:|---:|",
        *rows,
        "",
        f"**MirroredStrategy on CPU** (`classification.yaml`, global batch 64): one device {one:.0f} img/s, "
        f"2 logical CPU replicas × 32 {two:.0f} img/s ({two / one:.2f}x). Logical CPU devices share the same "
        "cores and thread pools, so no speed-up is expected on a 2-core machine; this measures the overhead of "
        "mirroring (per-replica graphs + all-reduce) and is how data parallelism is tested without GPUs.\n",
        "**Mixed precision and XLA** (`resnet_cifar` of `classification.yaml`, batch 64, images/s):\n",
        "| setting | img/s | vs float32 without XLA |",
        "|---|---:|---:|",
        *[f"| {k} | {v:.0f} | {v / base:.2f}x |" for k, v in precision.items()],
        "",
        "On a CPU without native bfloat16 arithmetic, bf16 is emulated and slower; its benefit (and XLA's "
        "larger one) is on GPUs/TPUs.",
    ]
    if failures:
        md.append(f"\nPipeline slower than 3x training for: {', '.join(failures)}.")
    print(write_section("input_pipeline", "\n".join(md)))
    print("\n".join(md))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (for a smoke run)")
    main(parser.parse_args().quick)
