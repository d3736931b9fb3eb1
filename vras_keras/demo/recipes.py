"""The demo's models: every `configs/TASK.yaml` recipe, trained and exported as `demo_TASK` for each family
that has no such export yet (the work of the background trainer, `vras_keras.demo.background`).

Families go one at a time, soonest ready first (`DEMO_RECIPES` is in that order: the recipes' measured
wall minutes, benchmarks/results/recipes.md), so that a page goes live every few minutes. Each family is
trained with `vras_keras.training.train` (its recipe unchanged: the quality the benchmarks report; a
killed run resumes from its backup) and exported as a SavedModel (`export_run`); once every family has
one, the TFLite files are added to those same version folders (`add_tflite`) and a small 2-D loss
landscape of the demo classifier is saved for the landscape page. Progress goes to a
`vras_keras.demo.status.StatusBoard`. A family that fails is reported (one line) and skipped. The recipes
are read from `launcher.configs_dir()` (the checkout's or the installed package's).

Planning (`DEMO_RECIPES`, `plan`, `missing_tasks`) imports no TensorFlow: `vras demo` calls it before it
serves the app; Keras and the training/export code are imported by the functions that use them.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable, Sequence

import yaml

from vras_keras import models
from vras_keras.demo import exports as demo_exports
from vras_keras.demo import status as demo_status
from vras_keras.demo.launcher import configs_dir, say

EXPORT_PREFIX = "demo_"


_QUICK = {"epochs": 1, "data.num_samples": 64, "data.val_samples": 16, "batch_per_replica": 16,
          "steps_per_epoch": 2, "validation_steps": 1}


@dataclasses.dataclass(frozen=True)
class DemoRecipe:
    """A `configs/TASK.yaml` recipe as the demo trains it; `quick` overrides are for tests / CI (tiny
    models, one short epoch: the whole path, poor models); `minutes`: the recipe's measured wall time
    (benchmarks/results/recipes.md, 2 shared cores), the first ETA shown and the reason for the order."""

    task: str
    overrides: dict
    minutes: float
    quick: dict = dataclasses.field(default_factory=lambda: dict(_QUICK))

    def config_path(self, config_dir) -> Path:
        return Path(config_dir) / f"{self.task}.yaml"


_LOGS = {"callbacks.tensorboard": False}
DEMO_RECIPES = (  # soonest ready first; each recipe as it is, so each model has its benchmark quality
    DemoRecipe("pose", {**_LOGS}, 1.6, {**_QUICK, "model.args.width": 0.125, "model.args.head_filters": 16}),
    DemoRecipe("stn", {**_LOGS}, 2.2, {**_QUICK, "model.args.width": 0.25}),
    DemoRecipe("classification", {**_LOGS}, 3.6, {**_QUICK, "model.args.width": 0.25, "model.args.depth": 8}),
    DemoRecipe("detection", {**_LOGS}, 5.0, {**_QUICK, "model.args.width": 0.125}),
    DemoRecipe("segmentation", {**_LOGS}, 12.9, {**_QUICK, "model.args.width": 0.0625}),
    DemoRecipe("matching", {**_LOGS}, 17.3, {
        **_QUICK, "batch_per_replica": 4, "data.num_samples": 12, "data.val_samples": 6, "data.image_size": 64,
        "data.options.per_pair": 6, "steps_per_epoch": 1, "model.args.patch_size": 24, "model.args.crop_size": 12.0,
        "model.args.descriptor_size": 8, "model.args.descriptor_dim": 16, "model.args.width": 0.25}),
)


@dataclasses.dataclass
class Outcome:
    task: str
    status: str  # "exported" | "skipped" | "failed"
    detail: str
    seconds: float = 0.0


def plan(config_dir=None, tasks: Sequence[str] | None = None) -> tuple[list[DemoRecipe], list[Outcome]]:
    """The recipes to train (config present, model registered) and the skipped ones with the reason;
    `config_dir` defaults to `launcher.configs_dir()`."""
    config_dir = configs_dir() if config_dir is None else config_dir
    chosen, skipped = [], []
    known = {r.task for r in DEMO_RECIPES}
    unknown = sorted(set(tasks or ()) - known)
    if unknown:
        raise ValueError(f"unknown demo task(s) {unknown}; demo tasks: {', '.join(sorted(known))}")
    registered = {row["name"] for row in models.read_index()}  # the index: no TensorFlow before serving
    for recipe in DEMO_RECIPES:
        if tasks and recipe.task not in tasks:
            continue
        path = recipe.config_path(config_dir)
        if not path.is_file():
            skipped.append(Outcome(recipe.task, "skipped", f"no recipe {path}"))
            continue
        model_id = ((yaml.safe_load(path.read_text()) or {}).get("model") or {}).get("id")
        if model_id not in registered:
            skipped.append(Outcome(recipe.task, "skipped", f"model {model_id!r} of {path} is not registered"))
            continue
        chosen.append(recipe)
    return chosen, skipped


def run_complete(run_dir) -> bool:
    """True when `run_dir` holds a finished `vras train` run (its `summary.json` and a checkpoint)."""
    run_dir = Path(run_dir)
    return (run_dir / "summary.json").is_file() and any(
        (run_dir / "checkpoints" / f"{c}.keras").is_file() for c in ("best", "last"))


def recipe_config(recipe: DemoRecipe, config_dir, runs_dir, *, quick: bool = False):
    """The `TrainConfig` of a demo recipe (workdir `RUNS/TASK`)."""
    from vras_keras.training import load_config

    overrides = {**recipe.overrides, **(recipe.quick if quick else {}), "workdir": str(Path(runs_dir) / recipe.task)}
    return load_config(recipe.config_path(config_dir), overrides)


def _has_backup(workdir: Path) -> bool:
    return any(d.is_dir() and any(d.iterdir()) for d in workdir.glob("backup*"))


def train_recipe(recipe: DemoRecipe, config_dir, runs_dir, *, quick: bool = False, callbacks=(),
                 fresh: bool = False) -> Path:
    """Train one demo recipe with `vras_keras.training.train` (extra Keras `callbacks`, e.g. progress);
    returns its run folder `RUNS/TASK` (the demo's own scratch folder). A finished run there is reused, a
    killed one resumes from its backup, anything else there is replaced; `fresh` always starts over."""
    from vras_keras.training import train

    config = recipe_config(recipe, config_dir, runs_dir, quick=quick)
    workdir = Path(config.workdir)
    if run_complete(workdir) and not fresh:
        say(f"{recipe.task}: {workdir} holds a finished run: exporting it")
        return workdir
    train(config, callbacks=list(callbacks), overwrite=fresh or not _has_backup(workdir))
    return workdir


def export_run(run_dir, savedmodels, name: str):
    """Export a run folder (best checkpoint) as `name`: the SavedModel only (the pages need nothing
    else; `add_tflite` adds the TFLite file later)."""
    from vras_keras.export import sources
    from vras_keras.export.saved_model import export_saved_model

    model, meta = sources.load_run(str(run_dir))
    return export_saved_model(model, meta, str(savedmodels), name=name, formats=("saved_model",))


# families whose quality the training history does not measure: the export is evaluated on this many
# held-out images (quick: QUICK_EVALUATION) right after it is written, before its page goes live
EVALUATED = {"detection": 128}
QUICK_EVALUATION = 16


def evaluate_export(version_dir, num_samples: int) -> dict:
    """Evaluate an export (`export.evaluation.evaluate`, as `vras evaluate` does) on `num_samples` images of
    ShapesWorld's validation split; writes and returns its `exports.EVALUATION_FILE` record."""
    import json

    from vras_keras.export.evaluation import evaluate, load_evaluator

    result = evaluate(load_evaluator(str(version_dir)), data="shapes", split="val", num_samples=num_samples)
    record = {"data": "ShapesWorld validation images", "images": result.get("images"),
              "metrics": {k: float(v) for k, v in result.items() if k not in ("images",)
                          and isinstance(v, (int, float)) and not isinstance(v, bool)}}
    path = Path(version_dir) / "assets.extra" / demo_exports.EVALUATION_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)
    return record


def add_tflite_to_export(run_dir, version_dir) -> str:
    """Add `model.tflite` to a demo export made by `export_run`; returns "done" or "failed: reason" (a
    model that needs ops TFLite lacks keeps its SavedModel)."""
    from vras_keras.export import sources
    from vras_keras.export.saved_model import add_tflite

    try:
        model, meta = sources.load_run(str(run_dir))
        add_tflite(str(version_dir), model, meta)
        return "done"
    except Exception as error:  # noqa: BLE001 - the SavedModel stays usable; the reason is shown
        return f"failed: {type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"


def save_landscape(run_dir, out_dir, *, grid: int = 9, num_samples: int = 128, range_: float = 0.5,
                   progress=False) -> Path:
    """A small 2-D loss landscape of a classification run (for the landscape page); ±0.5 keeps the
    basin visible (at ±1 the corners of a short training run reach losses in the thousands)."""
    import keras
    import numpy as np

    from vras_keras.analysis import landscape
    from vras_keras.data import datasets
    from vras_keras.export import sources
    from vras_keras.export.signatures import final_activation

    model, meta = sources.load_run(str(run_dir))
    ds = datasets.load("classification", split="val", num_samples=num_samples, image_size=meta.input_size[0], seed=0)
    x, y = (np.stack(a) for a in zip(*[(im.numpy(), lab.numpy()) for im, lab in ds]))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=final_activation(model) == "linear")
    result = landscape.surface_2d(model, (x, y), loss, grid=grid, range_=range_, progress=progress)
    return landscape.save(result, out_dir, title=f"{meta.model or model.name} (demo)")["npz"]


def landscape_progress(board: demo_status.StatusBoard, task: str, *, interval: float = 2.0):
    """A `progress(done, total)` for `analysis.landscape`: the points done and an ETA from the time per point
    so far, as `board`'s `landscape` field of `task` (at most every `interval` seconds, and at the end)."""
    start, last = time.monotonic(), [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < interval:
            return
        last[0] = now
        eta = (now - start) / done * (total - done) if done else None
        board.update(task, landscape={"done": done, "total": total, "eta_s": None if eta is None else round(eta, 1)})

    return report


def _landscape(run_dir, quick: bool, board: demo_status.StatusBoard) -> None:
    try:
        board.update("classification", landscape={"done": 0, "total": (5 if quick else 9) ** 2, "eta_s": None})
        path = save_landscape(run_dir, Path(run_dir) / "landscape", grid=5 if quick else 9,
                              progress=landscape_progress(board, "classification"))
        board.update("classification", landscape="done")
        say(f"classification: landscape {path}")
    except Exception as error:  # noqa: BLE001 - the landscape page then lists no demo landscape
        board.update("classification", landscape=f"failed: {type(error).__name__}")
        say(f"classification: no landscape ({type(error).__name__}: {error})")


def _epochs(recipe: DemoRecipe, config_dir, quick: bool) -> int:
    raw = yaml.safe_load(recipe.config_path(config_dir).read_text()) or {}
    epochs = {**recipe.overrides, **(recipe.quick if quick else {})}.get("epochs") or raw.get("epochs") or 1
    return int(epochs)


def missing_tasks(savedmodels, tasks: Sequence[str] | None = None) -> list[str]:
    """The demo families (of `tasks`, default all) without a `demo_TASK` export in `savedmodels`."""
    present = {e.name for e in demo_exports.list_exports(savedmodels)}
    return [r.task for r in DEMO_RECIPES
            if (not tasks or r.task in tasks) and f"{EXPORT_PREFIX}{r.task}" not in present]


def prepare(savedmodels="savedmodels", *, config_dir=None, runs_dir="runs/demo",
            tasks: Sequence[str] | None = None, retrain: bool = False, quick: bool = False,
            landscape: bool = True, tflite: bool = True, trainer: Callable = train_recipe,
            exporter: Callable = export_run, board: demo_status.StatusBoard | None = None) -> list[Outcome]:
    """Train and export the demo families that have no `demo_TASK` export in `savedmodels` (all of `tasks`
    with `retrain`), one at a time in `DEMO_RECIPES` order; then add the TFLite files and the landscape.

    Progress goes to `board` (a `StatusBoard` over `runs_dir` is made when None) and to stdout."""
    savedmodels = Path(savedmodels)
    config_dir = configs_dir() if config_dir is None else Path(config_dir)
    recipes, outcomes = plan(config_dir, tasks)
    todo = {r.task for r in recipes} if retrain else set(missing_tasks(savedmodels, [r.task for r in recipes]))
    recipes = [r for r in recipes if r.task in todo]
    for outcome in outcomes:
        say(f"{outcome.task}: skipped ({outcome.detail})")
    if not recipes:
        if not outcomes:
            say(f"every demo model is in {savedmodels}/: not training (pass --retrain to train them again)")
        return outcomes
    board = board or demo_status.StatusBoard(runs_dir, [r.task for r in recipes])
    for outcome in outcomes:
        board.update(outcome.task, "failed", reason=f"skipped: {outcome.detail}")
    say(f"training {len(recipes)} demo model(s), one at a time ({', '.join(r.task for r in recipes)}); "
        + ("quick settings (tiny models, poor quality)" if quick else
           f"about {sum(r.minutes for r in recipes):.0f} min on 2 CPU cores"))
    start = time.monotonic()
    exported, export_seconds = [], []
    for i, recipe in enumerate(recipes, 1):
        t0 = time.monotonic()
        say(f"[{i}/{len(recipes)}] {recipe.task}: training {recipe.config_path(config_dir)} "
            f"({time.monotonic() - start:.0f} s elapsed)")
        try:
            epochs = _epochs(recipe, config_dir, quick)
            board.update(recipe.task, "training", epoch=1, epochs=epochs, fraction=0.0, eta_s=recipe.minutes * 60)
            progress = demo_status.progress_callback(board, recipe.task, epochs)
            run_dir = trainer(recipe, config_dir, runs_dir, quick=quick, callbacks=[progress], fresh=retrain)
            exported_at = time.monotonic()
            # the time the earlier exports of this run took is the estimate (an export reports no progress)
            board.update(recipe.task, "exporting", expected_s=round(sum(export_seconds) / len(export_seconds), 1)
                         if export_seconds else None)
            result = exporter(run_dir, savedmodels, f"{EXPORT_PREFIX}{recipe.task}")
            export_seconds.append(time.monotonic() - exported_at)
            if recipe.task in EVALUATED:
                board.update(recipe.task, "exporting", step="measuring the exported model on held-out images")
                try:
                    record = evaluate_export(result.path, QUICK_EVALUATION if quick else EVALUATED[recipe.task])
                    wanted = demo_exports.EVALUATION_HEADLINES.get(recipe.task, ())
                    say(f"{recipe.task}: measured on {record['images']} {record['data']}: " + ", ".join(
                        f"{k} {record['metrics'][k]:.3f}" for k in wanted if k in record["metrics"]))
                except Exception as error:  # noqa: BLE001 - the model is served; its page says it is not measured
                    say(f"{recipe.task}: not evaluated ({type(error).__name__}: {error})")
            board.update(recipe.task, "ready", export=str(result.path), tflite="pending" if tflite else "not made")
            exported.append((recipe, run_dir, result))
            outcomes.append(Outcome(recipe.task, "exported", f"{result.path}", time.monotonic() - t0))
            say(f"[{i}/{len(recipes)}] {recipe.task}: exported to {result.path} ({time.monotonic() - t0:.0f} s)")
            if landscape and recipe.task == "classification":
                _landscape(run_dir, quick, board)
        except Exception as error:  # noqa: BLE001 - one failing family must not stop the demo
            reason = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
            board.update(recipe.task, "failed", reason=reason)
            outcomes.append(Outcome(recipe.task, "failed", reason, time.monotonic() - t0))
            say(f"[{i}/{len(recipes)}] {recipe.task}: FAILED ({reason}); continuing")
    for recipe, run_dir, result in exported if tflite else ():
        board.update(recipe.task, tflite="converting")
        outcome = add_tflite_to_export(run_dir, result.path)
        board.update(recipe.task, tflite=outcome)
        say(f"{recipe.task}: TFLite {outcome}")
    say(f"done in {time.monotonic() - start:.0f} s: " + ", ".join(f"{o.task} {o.status}" for o in outcomes))
    return outcomes
