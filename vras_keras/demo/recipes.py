"""The demo's models: every `configs/TASK.yaml` recipe shortened for a demo, trained and exported when the
export folder has none (step 1 of `vras demo` / `make run`; step 2 is `launcher.serve`).

If the export folder (`savedmodels/`, TF Serving's base path) holds no export, every demo recipe whose
family is registered is trained with `vras_keras.training.train`, shortened for a demo
(`DemoRecipe.overrides`: fewer samples and epochs), and exported with
`vras_keras.export.saved_model.export_saved_model` as `demo_TASK` (SavedModel + TFLite; SavedModel only
when the model needs ops TFLite lacks). A small 2-D loss landscape of the demo classifier is saved too, for
the landscape page. A recipe that fails is reported and skipped: the app shows the families that were
exported. The recipes are read from `launcher.configs_dir()` (the checkout's or the installed package's).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable, Sequence

import keras
import numpy as np
import yaml

from vras_keras import models
from vras_keras.analysis import landscape
from vras_keras.data import datasets
from vras_keras.demo.exports import has_exports
from vras_keras.demo.launcher import configs_dir, say
from vras_keras.export import sources
from vras_keras.export.saved_model import export_saved_model
from vras_keras.export.signatures import final_activation
from vras_keras.training import load_config, train

EXPORT_PREFIX = "demo_"


@dataclasses.dataclass(frozen=True)
class DemoRecipe:
    """A `configs/TASK.yaml` recipe shortened for the demo; `quick` overrides are for tests / CI."""

    task: str
    overrides: dict
    quick: dict = dataclasses.field(default_factory=lambda: {
        "epochs": 1, "data.num_samples": 64, "data.val_samples": 16, "batch_per_replica": 16})

    def config_path(self, config_dir) -> Path:
        return Path(config_dir) / f"{self.task}.yaml"


_LOGS = {"callbacks.tensorboard": False, "callbacks.backup": False}
DEMO_RECIPES = (
    # the classifier is the showcase (and the landscape page's model): its recipe as it is (0.99 accuracy)
    DemoRecipe("classification", {**_LOGS}),
    # the others shortened to about half their recipe: quantity of fresh images is what these small models
    # need (768 images x 5 epochs left segmentation at background and YOLO without detections)
    DemoRecipe("segmentation", {"epochs": 4, "data.num_samples": 4096, "data.val_samples": 64, **_LOGS}),
    DemoRecipe("detection", {"epochs": 3, "data.num_samples": 6144, "data.val_samples": 64, **_LOGS}),
    DemoRecipe("pose", {"epochs": 5, "data.num_samples": 768, "data.val_samples": 64, **_LOGS}),
    DemoRecipe("stn", {"epochs": 5, "data.num_samples": 4096, "data.val_samples": 256, **_LOGS}),
    DemoRecipe("matching", {"epochs": 3, "data.num_samples": 512, "data.val_samples": 64, **_LOGS}),
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
    registered = set(models.list_models())
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


def train_recipe(recipe: DemoRecipe, config_dir, runs_dir, *, quick: bool = False) -> Path:
    """Train one demo recipe with `vras_keras.training.train`; returns its run folder."""
    workdir = Path(runs_dir) / recipe.task
    overrides = {**recipe.overrides, **(recipe.quick if quick else {}), "workdir": str(workdir)}
    # runs/demo/TASK is the demo's own scratch folder: a new demo training replaces the previous one there
    train(load_config(recipe.config_path(config_dir), overrides), overwrite=True)
    return workdir


def export_run(run_dir, savedmodels, name: str):
    """Export a run folder (best checkpoint) as `name`: SavedModel + TFLite, or SavedModel only when the
    model needs ops that TFLite lacks (the reason is printed)."""
    model, meta = sources.load_run(str(run_dir))
    try:
        return export_saved_model(model, meta, str(savedmodels), name=name)
    except ValueError as error:
        if "TFLite" not in str(error):  # the export module's conversion errors name TFLite
            raise
        say(f"{name}: no TFLite file ({str(error).splitlines()[0]}); exporting the SavedModel only")
        return export_saved_model(model, meta, str(savedmodels), name=name, formats=("saved_model",))


def save_landscape(run_dir, out_dir, *, grid: int = 9, num_samples: int = 128, range_: float = 0.5) -> Path:
    """A small 2-D loss landscape of a classification run (for the landscape page); ±0.5 keeps the
    basin visible (at ±1 the corners of a short training run reach losses in the thousands)."""
    model, meta = sources.load_run(str(run_dir))
    ds = datasets.load("classification", split="val", num_samples=num_samples, image_size=meta.input_size[0], seed=0)
    x, y = (np.stack(a) for a in zip(*[(im.numpy(), lab.numpy()) for im, lab in ds]))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=final_activation(model) == "linear")
    result = landscape.surface_2d(model, (x, y), loss, grid=grid, range_=range_, progress=False)
    return landscape.save(result, out_dir, title=f"{meta.model or model.name} (demo)")["npz"]


def prepare(savedmodels="savedmodels", *, config_dir=None, runs_dir="runs/demo",
            tasks: Sequence[str] | None = None, retrain: bool = False, quick: bool = False,
            landscape: bool = True, trainer: Callable = train_recipe, exporter: Callable = export_run) -> list[Outcome]:
    """Train and export the demo recipes unless `savedmodels` already has exports (or `retrain`)."""
    savedmodels = Path(savedmodels)
    config_dir = configs_dir() if config_dir is None else Path(config_dir)
    if has_exports(savedmodels) and not retrain:
        say(f"found exports in {savedmodels}/: not training (pass --retrain to train the demo models again)")
        return []
    recipes, outcomes = plan(config_dir, tasks)
    for outcome in outcomes:
        say(f"{outcome.task}: skipped ({outcome.detail})")
    if not recipes:
        say("no demo recipe can be trained with this installation")
        return outcomes
    say(f"training {len(recipes)} demo model(s) ({', '.join(r.task for r in recipes)}); this takes a few "
        "minutes on a CPU")
    start = time.monotonic()
    for i, recipe in enumerate(recipes, 1):
        t0 = time.monotonic()
        say(f"[{i}/{len(recipes)}] {recipe.task}: training {recipe.config_path(config_dir)} "
            f"({time.monotonic() - start:.0f} s elapsed)")
        try:
            run_dir = trainer(recipe, config_dir, runs_dir, quick=quick)
            result = exporter(run_dir, savedmodels, f"{EXPORT_PREFIX}{recipe.task}")
            detail = f"{result.path}"
            if landscape and recipe.task == "classification":
                detail += f"; landscape {save_landscape(run_dir, Path(run_dir) / 'landscape', grid=5 if quick else 9)}"
            outcomes.append(Outcome(recipe.task, "exported", detail, time.monotonic() - t0))
            say(f"[{i}/{len(recipes)}] {recipe.task}: exported to {result.path} ({time.monotonic() - t0:.0f} s)")
        except Exception as error:  # noqa: BLE001 - one failing family must not stop the demo
            outcomes.append(Outcome(recipe.task, "failed", f"{type(error).__name__}: {error}", time.monotonic() - t0))
            say(f"[{i}/{len(recipes)}] {recipe.task}: FAILED ({type(error).__name__}: {error}); continuing")
    say(f"done in {time.monotonic() - start:.0f} s: " + ", ".join(f"{o.task} {o.status}" for o in outcomes))
    return outcomes
