"""Input pipeline vs training speed, data parallelism on CPU replicas, mixed precision + XLA.

In one run, on this machine:
1. for each recipe in configs/: images/s of the trainer's tf.data pipeline (first pass = generating the
   samples, in this process and with the default worker processes of `vras_keras.data.workers`; then
   the cached passes `vras train` runs on from epoch 2) against images/s that `train()` consumes with
   that recipe's model; the pipeline must reach >= 3x from the first pass on;
2. MirroredStrategy over 1 vs 2 logical CPU replicas at the same global batch (images/s);
3. with `--precision` only (XLA compiles slowly on CPU): the classification recipe's model in float32
   without XLA against bf16, XLA, and bf16 + XLA, written to its own section.

Parts 1 and 2 time 10 training steps per measurement (pipeline passes: 40 batches); the section is
rewritten after every recipe, so an interrupted run leaves the rows it measured (marked partial).

Usage: python benchmarks/input_pipeline.py [--quick] [--steps 10] [--precision] [--recipes pose,...]
    --quick: 5 steps per measurement, prints only (a smoke run; results/ is not written).
    --recipes: measure only these recipes (config names), print their rows and skip part 2; results/ is not
    written (the recorded table is one run over every recipe).
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
from _report import machine, write_section  # noqa: E402

from vras_keras.data import workers as pools  # noqa: E402
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


def pipeline_rates(config, model, num_batches, workers=None, recipe_samples=None):
    """(first pass, cached pass) images/s of the trainer's pipeline for `config`, target mapping included.

    `workers`: generator processes for synthetic sources (None: the default for the recipe's
    num_samples `recipe_samples`, which is what `vras train` uses; 0: in this process)."""
    import dataclasses

    from vras_keras.data import workers as pools
    from vras_keras.training.tasks import task_setup

    batch = config.batch_per_replica
    data = config.data
    if data.source == "shapes":
        chosen = pools.default_workers(recipe_samples or data.num_samples, workers)
        data = dataclasses.replace(data, options={**data.options, "workers": chosen})
        if chosen:  # start the pool before timing (its start-up is paid once per process, ~1 s)
            pools.start(chosen)
    source = load_source(data, config.task, data.split, batch * num_batches, config.seed, shuffle=True)
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


LOAD = []
PIPELINE_BATCHES = 4  # pipeline passes are this many times longer than the timed training steps
PIPELINE_INTRO = (
    "**Pipeline vs training.** Images/s consumed by `train()` with each recipe's model (second epoch: "
    "traced, data cached) against the trainer's tf.data pipeline for the same data, target mapping "
    "included: the first pass generates the samples (ShapesWorld / StickFigures / digits in NumPy), "
    "in this process and with the generator worker processes `vras train` starts for the recipe "
    "(`vras_keras.data.workers`; their number in brackets; the bytes are the same either way); later "
    "epochs read the in-memory cache that `vras train` keeps (`data.cache: true`). Requirement: pipeline "
    ">= 3x the training rate from the first pass on (the ratio is the slower pass / training). "
    "`matching.yaml` is not listed (LIFT trains on quadruplets with its own runner), nor `finetune.yaml` "
    "(it starts from downloaded ImageNet weights; its data is the classification recipe's ShapesWorld).\n"
)


def recipes():
    """(path, model id) of the recipes measured here, in file order."""
    import yaml

    out = []
    for path in sorted(CONFIGS.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        model_id = raw["model"]["id"]
        if model_id not in _REGISTRY:
            raise SystemExit(f"{path.name}: model {model_id!r} is not registered")
        if raw["data"]["source"] == "pairs" or raw.get("finetune"):
            continue  # matching: its own runner on quadruplets; finetune: needs downloaded ImageNet weights
        out.append((path, model_id, raw["data"].get("num_samples")))
    return out


def main(quick: bool, steps: int | None = None, precision_part: bool = False, only=None):
    LOAD.append(os.getloadavg()[0])
    steps = steps or (5 if quick else 10)
    write = not quick and not only  # a smoke run or a selection never replaces the recorded numbers
    rows, failures, first_slow = [], [], []
    work = Path(tempfile.mkdtemp(prefix="vras_bench_"))
    list_models()
    todo = recipes()
    if only:
        unknown = set(only) - {path.stem for path, _, _ in todo}
        if unknown:
            raise SystemExit(f"--recipes: unknown {sorted(unknown)}; measured here: {[p.stem for p, _, _ in todo]}")
        todo = [recipe for recipe in todo if recipe[0].stem in only]
    for path, model_id, recipe_samples in todo:
        print(f"-- {path.stem}", flush=True)
        rate, config, model = train_rate(path, work / path.stem, steps)
        here = pipeline_rates(config, model, PIPELINE_BATCHES * steps, workers=0)[0]
        recipe_samples = recipe_samples or config.data.num_samples  # train_rate shrinks it
        first, cached = pipeline_rates(config, model, PIPELINE_BATCHES * steps, recipe_samples=recipe_samples)
        chosen = pools.default_workers(recipe_samples) if config.data.source == "shapes" else 0
        ok = min(first, cached) >= 3 * rate
        if not ok:
            failures.append(path.stem)
        if first < 3 * rate:
            first_slow.append(path.stem)
        rows.append(f"| {path.stem} | `{model_id}` | {config.data.image_size} px, batch {config.batch_per_replica} "
                    f"| {rate:.0f} | {here:.0f} | {first:.0f} ({chosen}) | {cached:.0f} "
                    f"| {min(first, cached) / rate:.1f}x {'ok' if ok else 'BOTTLENECK'} |")
        print(rows[-1], flush=True)
        if write and len(rows) < len(todo):  # incremental: what was measured so far survives an interruption
            LOAD.append(os.getloadavg()[0])
            write_section("input_pipeline", render(rows, first_slow, failures, steps, partial=len(todo)))

    if only:
        LOAD.append(os.getloadavg()[0])
        print(render(rows, first_slow, failures, steps), flush=True)
        return
    cls = CONFIGS / "classification.yaml"
    print("-- mirrored", flush=True)
    one = train_rate(cls, work / "one", steps, strategy="one_device", batch_per_replica=64)[0]
    two = train_rate(cls, work / "two", steps, strategy="mirrored", cpu_replicas=2, batch_per_replica=32)[0]
    LOAD.append(os.getloadavg()[0])
    markdown = render(rows, first_slow, failures, steps, mirrored=(one, two))
    if write:
        print(write_section("input_pipeline", markdown))
    print(markdown, flush=True)
    if precision_part:
        print("-- precision", flush=True)
        precision = {}
        for name, extra in (("float32", {}), ("float32 + XLA", {"jit": True}), ("bf16", {"precision": "bf16"}),
                            ("bf16 + XLA", {"precision": "bf16", "jit": True})):
            precision[name] = train_rate(cls, work / name.replace(" ", ""), steps, **extra)[0]
        LOAD.append(os.getloadavg()[0])
        markdown = render_precision(precision, steps)
        if write:
            print(write_section("input_pipeline_precision", markdown))
        print(markdown)


START = time.monotonic()


def _load_line() -> str:
    return (f"Machine: {machine()}. Load average (1 min) {LOAD[0]:.1f} when this started and {LOAD[-1]:.1f} when "
            f"it ended ({(time.monotonic() - START) / 60:.1f} min in): with other jobs on the cores, absolute rates "
            "are noisy (rows measured minutes apart can differ by 1.5x for the same setting).\n")


def render(rows, first_slow, failures, steps, mirrored=None, partial=None) -> str:
    md = [
        "## Input pipeline and data parallelism (`benchmarks/input_pipeline.py`)\n",
        _load_line(),
        PIPELINE_INTRO,
        f"Training rates over {steps - 1} timed steps of the second epoch; pipeline rates over "
        f"{PIPELINE_BATCHES * steps} batches per pass (the generator workers make chunks of 64 samples, so a "
        "pass of a few chunks would time their start-up latency rather than their rate).\n",
        "| recipe | model | input | train img/s | first pass, in-process img/s | first pass, workers img/s "
        "| cached img/s | ratio |",
        "|---|---|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
    ]
    if partial:
        md.append(f"**Partial run**: {len(rows)} of {partial} recipes measured so far.\n")
    if first_slow:
        md.append(f"The first pass (generation) is below 3x training for {', '.join(first_slow)}: during the "
                  "first epoch of those recipes training may wait for data; from the second epoch on the cache "
                  "feeds it. For data on disk (`source: path`) the decoded images are cached the same way.\n")
    if failures:
        md.append(f"Pipeline slower than 3x training for: {', '.join(failures)}.\n")
    if mirrored:
        one, two = mirrored
        md.append(
            f"**MirroredStrategy on CPU** (`classification.yaml`, global batch 64): one device {one:.0f} img/s, "
            f"2 logical CPU replicas × 32: {two:.0f} img/s ({two / one:.2f}x). Logical CPU devices share the same "
            "two cores, so no speed-up is expected: the ratio is the cost of mirroring (per-replica graphs + "
            "all-reduce) on shared cores, noisy under load; this is how data parallelism is tested without GPUs.\n")
    md.append("Mixed precision and XLA: the next section (`--precision`).")
    return "\n".join(md)


def render_precision(precision, steps) -> str:
    base = precision["float32"]
    xla, bf16 = precision["float32 + XLA"] / base, precision["bf16"] / base
    return "\n".join([
        "## Mixed precision and XLA on CPU (`benchmarks/input_pipeline.py --precision`)\n",
        _load_line(),
        f"`resnet_cifar` of `classification.yaml`, batch 64, images/s over {steps - 1} timed steps of the "
        "second epoch:\n",
        "| setting | img/s | vs float32 without XLA |",
        "|---|---:|---:|",
        *[f"| {k} | {v:.0f} | {v / base:.2f}x |" for k, v in precision.items()],
        "",
        f"On this CPU, XLA ran at {xla:.2f}x and bf16 at {bf16:.2f}x of float32 without XLA (TensorFlow's "
        "default CPU path runs convolutions with oneDNN kernels, XLA's CPU backend compiles its own code; "
        "not profiled). `--precision` and `--jit` are meant for GPUs and TPUs (on TPUs every step is "
        "XLA-compiled anyway); `benchmarks/gpu.py` measures them on a GPU.",
    ])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="5 steps, print the tables only (a smoke run; results/ is not written)")
    parser.add_argument("--steps", type=int, default=None, help="batches per measurement (default 10; quick 5)")
    parser.add_argument("--precision", action="store_true",
                        help="also measure float32 / bf16 / XLA (slow: XLA compiles on CPU); its own section")
    parser.add_argument("--recipes", type=lambda text: [name for name in text.split(",") if name], default=None,
                        help="comma-separated recipe names (e.g. pose): only their rows, printed, results/ not written")
    args = parser.parse_args()
    main(args.quick, args.steps, args.precision, args.recipes)
