"""The exports the demo serves: find every version in the export folder (TF Serving's base path), what
runtimes it offers, and load one behind `vras_keras.export.loading.Predictor`.

Listing needs no TensorFlow (the launcher calls it before serving); `load_predictor` imports it.

Environment:
    VRAS_SAVEDMODELS: the export folder the demo reads (default `savedmodels`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from vras_keras.export.layout import TFLITE_FILES, existing_versions
from vras_keras.export.meta import META_FILENAME, ExportMeta

SAVEDMODELS_ENV = "VRAS_SAVEDMODELS"
DEFAULT_SAVEDMODELS = "savedmodels"

TASK_TITLES = {
    "classification": "Classification",
    "segmentation": "Segmentation",
    "detection": "Detection",
    "pose": "Pose",
    "stn": "Spatial transformer",
    "matching": "Feature matching",
}
_RUNTIME_LABELS = {"none": "TFLite (float32)", "fp16": "TFLite (float16 weights)", "int8": "TFLite (int8)"}


def savedmodels_dir() -> Path:
    """The export folder the demo reads: `$VRAS_SAVEDMODELS` or `savedmodels`."""
    return Path(os.environ.get(SAVEDMODELS_ENV) or DEFAULT_SAVEDMODELS)


@dataclasses.dataclass(frozen=True)
class Runtime:
    """One way to run an export: a label for the sidebar and the `load_export` arguments."""

    label: str
    backend: str  # "saved_model" | "tflite"
    quantize: str = "none"


@dataclasses.dataclass
class ExportInfo:
    """One export version found on disk (metadata only: nothing is loaded)."""

    name: str
    version: int
    path: Path
    meta: ExportMeta
    runtimes: list[Runtime]

    @property
    def task(self) -> str:
        return self.meta.task

    @property
    def evaluation(self) -> dict | None:
        """The demo's measurement of this export (`EVALUATION_FILE`), if it has one."""
        return read_evaluation(self.path)

    @property
    def is_pretrained(self) -> bool:
        """An ImageNet classifier from the local weights cache (`list_pretrained`)."""
        return self.version == -1

    @property
    def is_run(self) -> bool:
        """A `vras train` run folder (`list_runs`), not an export version."""
        return self.version == 0

    @property
    def label(self) -> str:
        model = f" ({self.meta.model})" if self.meta.model else ""
        if self.is_pretrained:
            return f"{self.name} (ImageNet weights, local cache)"
        return f"run {self.name}{model}" if self.is_run else f"{self.name} v{self.version}{model}"


def _runtimes(version_dir: Path) -> list[Runtime]:
    found = []
    if (version_dir / "saved_model.pb").exists():
        found.append(Runtime("SavedModel", "saved_model"))
    for quantize, filename in TFLITE_FILES.items():
        if (version_dir / filename).exists():
            found.append(Runtime(_RUNTIME_LABELS[quantize], "tflite", quantize))
    return found


def list_exports(root=None, task: str | None = None, *, latest_only: bool = False) -> list[ExportInfo]:
    """Every readable export version under `root` (default `savedmodels_dir()`), sorted by name and
    newest version first; `task` filters by task. Versions with unreadable metadata are skipped."""
    root = Path(root) if root is not None else savedmodels_dir()
    if not root.is_dir():
        return []
    found = []
    for model_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        versions = sorted(existing_versions(str(model_dir)), reverse=True)
        for version in versions[:1] if latest_only else versions:
            version_dir = model_dir / str(version)
            try:
                meta = ExportMeta.load(str(version_dir / "assets.extra" / META_FILENAME))
            except (OSError, ValueError):
                continue
            runtimes = _runtimes(version_dir)
            if runtimes and (task is None or meta.task == task):
                found.append(ExportInfo(model_dir.name, version, version_dir, meta, runtimes))
    return found


RUNS_ENV = "VRAS_RUNS"
DEFAULT_RUNS = "runs"
RUN_RUNTIME = Runtime("Keras (training run, best checkpoint)", "keras")


def runs_dir() -> Path:
    """The folder of `vras train` runs the pages offer besides the exports: `$VRAS_RUNS` or `runs`."""
    return Path(os.environ.get(RUNS_ENV) or DEFAULT_RUNS)


def list_runs(root=None, task: str | None = None) -> list[ExportInfo]:
    """Every `vras train` run folder under `root` (default `runs_dir()`; `NAME/` and `GROUP/NAME/`, e.g. the
    demo's `demo/TASK/`) that holds its `vras_meta.json` and a checkpoint, as `ExportInfo` with version 0 and
    the one runtime `RUN_RUNTIME` (loaded by `export.evaluation.load_evaluator`, as `vras evaluate` loads a
    run). Folders with unreadable metadata are skipped. Nothing is loaded."""
    root = Path(root) if root is not None else runs_dir()
    if not root.is_dir():
        return []
    found = []
    for meta_path in sorted([*root.glob(f"*/{META_FILENAME}"), *root.glob(f"*/*/{META_FILENAME}")]):
        run = meta_path.parent
        if not any((run / "checkpoints" / f"{c}.keras").is_file() for c in ("best", "last")):
            continue
        try:
            meta = ExportMeta.load(str(meta_path))
        except (OSError, ValueError):
            continue
        if task is None or meta.task == task:
            found.append(ExportInfo(str(run.relative_to(root)), 0, run, meta, [RUN_RUNTIME]))
    return found


PRETRAINED_RUNTIME = Runtime("Keras (torchvision's ImageNet-1k weights)", "imagenet")
PRETRAINED_SIZE = (224, 224)


def list_pretrained(task: str | None = "classification") -> list[ExportInfo]:
    """The ImageNet classifiers whose weights are already in the local cache (`models.pretrained.cache_dir`:
    `imagenet_cache_path(arch)` exists), as `ExportInfo` with version -1 and `PRETRAINED_RUNTIME`. Nothing
    is fetched or loaded: without the file the model is not offered (`pretrained_hint` says how to get it)."""
    if task not in (None, "classification"):
        return []
    from vras_keras.models import pretrained

    found = []
    for arch in sorted(pretrained.SOURCES):
        path = pretrained.imagenet_cache_path(arch)
        if path.is_file():
            meta = ExportMeta(task="classification", input_size=PRETRAINED_SIZE, model=arch,
                              training_config={"data": {"source": "imagenet"}})
            found.append(ExportInfo(arch, -1, path, meta, [PRETRAINED_RUNTIME]))
    return found


def pretrained_hint() -> str:
    """Markdown: how an ImageNet classifier gets into the cache that `list_pretrained` reads."""
    from vras_keras.models import pretrained

    return (f"For real photographs, an ImageNet classifier (torchvision's weights: ResNet, VGG, DenseNet) is "
            f"offered here once its weights are in `{pretrained.cache_dir()}`: the first "
            "`models.get('resnet50', weights='imagenet')` (or `vras export --model resnet50 --model-args "
            "'{\"weights\": \"imagenet\"}'`) fetches `resnet50.tv_in1k.safetensors` there once (network), "
            "or place that file there by hand. The demo itself never downloads.")


def has_exports(root) -> bool:
    """True when `root` holds at least one readable export."""
    return bool(list_exports(root))


def no_exports_message(task: str | None = None, root=None) -> str:
    """Markdown telling what to run when there is no export (for `task`); every command works as shown
    (`vras train --config CONFIG` writes `runs/TASK`, which `vras export` reads)."""
    root = Path(root) if root is not None else savedmodels_dir()
    what = f"no {TASK_TITLES.get(task, task).lower()} model" if task else "no exported model"
    out = "" if str(root) == DEFAULT_SAVEDMODELS else f" --output-dir {root}"
    return (
        f"There is {what} in `{root}/` yet.\n\n"
        "`make run` (= `vras demo`) trains and exports the missing demo models in the background, one at a "
        "time; this page goes live as soon as its model is exported. Or export a model of your own:\n\n"
        "```bash\nvras train --config configs/" + (task or "classification") + ".yaml\n"
        "vras export runs/" + (task or "classification") + " --name my_" + (task or "model") + out + "\n```"
    )


# Written by the background trainer next to vras_meta.json (`recipes.evaluate_export`): the metrics the
# family's training history lacks (detection: COCO AP50 of the exported model on held-out ShapesWorld images).
EVALUATION_FILE = "evaluation.json"
# the metrics a page leads with, from an evaluation file, per task
EVALUATION_HEADLINES = {"detection": ("AP50", "AP", "AP75")}


def read_evaluation(version_dir) -> dict | None:
    """`{"metrics": {...}, "images": N, "data": "..."}` of `version_dir/assets.extra/EVALUATION_FILE`, or None."""
    import json

    try:
        record = json.loads((Path(version_dir) / "assets.extra" / EVALUATION_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("metrics"), dict) else None


# data.source of a run -> what its model saw (for the pages' model card); synthetic ones are flagged
TRAINING_DATA = {
    "shapes": ("ShapesWorld: synthetic coloured shapes on textured backgrounds", True),
    "digits": ("distorted scikit-learn digits (rotated, scaled, translated, on a larger canvas)", True),
    "pairs": ("pairs of views of scikit-image photographs under random homographies", False),
    "imagenet": ("ImageNet-1k photographs (torchvision's weights, 1000 classes; its top-1 accuracy is "
                 "torchvision's, not measured here: no ImageNet data offline)", False),
}
# the metric a page leads with, per task (the others follow)
HEADLINE_METRICS = {
    "classification": "val_accuracy",
    "stn": "val_accuracy",
    "segmentation": "val_miou",
    "pose": "val_keypoints_mean_pixel_error",
    "matching": "val_mma3",  # the recipe's own validation metric (MMA@3 of whole validation views)
}


def training_data(meta: ExportMeta) -> tuple[str, bool]:
    """`(description, synthetic)` of what the export's model was trained on (from its training config)."""
    data = (meta.training_config or {}).get("data") or {}
    source = data.get("source") if isinstance(data, dict) else None
    if source in TRAINING_DATA:
        return TRAINING_DATA[source]
    if not meta.training_config:
        return "nothing: an untrained export", False
    fmt = data.get("format") if isinstance(data, dict) else None
    return f"your own data ({source or 'unknown source'}{', ' + fmt if fmt else ''})", False


def quality_line(meta: ExportMeta, evaluation: dict | None = None) -> str:
    """The measured quality of an export's model: the demo's evaluation of the export where there is one
    (`read_evaluation`: detection AP50), else its run's final validation metrics."""
    wanted = EVALUATION_HEADLINES.get(meta.task, ())
    measured = {k: v for k, v in ((evaluation or {}).get("metrics") or {}).items() if k in wanted
                and isinstance(v, (int, float))}
    if measured:
        return (f"measured on {evaluation.get('images', '?')} {evaluation.get('data', 'held-out images')}: "
                + ", ".join(f"{k} {measured[k]:.3g}" for k in wanted if k in measured))
    validation = meta.extra.get("validation") if isinstance(meta.extra.get("validation"), dict) else {}
    metrics = {k: v for k, v in validation.items() if k.startswith("val_") and isinstance(v, (int, float))}
    if wanted:  # the task's own measure is not a training metric: the loss would be read as quality
        return (f"{wanted[0]} not measured (`vras evaluate savedmodels/NAME` measures it); "
                + (f"validation loss {metrics['val_loss']:.3g}" if "val_loss" in metrics else "no validation metrics"))
    if not metrics:
        return "no measured quality recorded (exported without its training run's summary)"
    head = HEADLINE_METRICS.get(meta.task)
    order = ([head] if head in metrics else []) + sorted(k for k in metrics if k != head)
    data = (meta.training_config or {}).get("data") or {}
    held_out = data.get("val_samples") if isinstance(data, dict) else None
    where = f" on {held_out} held-out images" if held_out else " on held-out data"
    epochs = validation.get("epochs")
    return (f"measured{where}" + (f" after {epochs} epoch(s)" if epochs else "") + ": "
            + ", ".join(f"{k[4:]} {metrics[k]:.3g}" for k in order[:4]))


def model_card(meta: ExportMeta, evaluation: dict | None = None) -> str:
    """Markdown: model, what it was trained on, input size, measured quality (`quality_line`)."""
    described, _ = training_data(meta)
    h, w = meta.input_size
    return (f"**{meta.model or 'model'}** trained on {described}; input {h}×{w} px "
            f"(any image is resized to that). Quality {quality_line(meta, evaluation)}.")


def is_synthetic(meta: ExportMeta) -> bool:
    return training_data(meta)[1]


def load_predictor(path, runtime: Runtime):
    """A `Predictor` for one version folder and runtime (`export.loading.load_export`, what `vras predict`
    loads), or for a run folder (`RUN_RUNTIME`: `export.evaluation.load_evaluator`, its best checkpoint run
    with the exports' post-processing)."""
    if runtime.backend == "imagenet":  # a registered classifier with the cached weights (no download)
        from vras_keras.export.loading import Predictor
        from vras_keras.export.parity import keras_outputs
        from vras_keras.export.sources import build_registered
        from vras_keras.models import pretrained

        arch = next(a for a in pretrained.SOURCES if pretrained.imagenet_cache_path(a) == Path(path))
        model, meta = build_registered(arch, {"weights": "imagenet"})
        return Predictor(str(path), meta, "keras", lambda images: keras_outputs(model, meta, images))
    if runtime.backend == "keras":
        from vras_keras.export.evaluation import load_evaluator

        return load_evaluator(str(path))
    from vras_keras.export.loading import load_export

    return load_export(str(path), backend=runtime.backend, quantize=runtime.quantize)
