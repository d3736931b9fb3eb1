"""The exports the demo serves: find every version in the export folder (TF Serving's base path), what
runtimes it offers, and load one behind `vras_keras.export.loading.Predictor`.

Environment:
    VRAS_SAVEDMODELS: the export folder the demo reads (default `savedmodels`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from vras_keras.export.loading import Predictor, load_export
from vras_keras.export.meta import META_FILENAME, ExportMeta
from vras_keras.export.saved_model import TFLITE_FILES, existing_versions

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
    def label(self) -> str:
        model = f" ({self.meta.model})" if self.meta.model else ""
        return f"{self.name} v{self.version}{model}"


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


def has_exports(root) -> bool:
    """True when `root` holds at least one readable export."""
    return bool(list_exports(root))


def no_exports_message(task: str | None = None, root=None) -> str:
    """Markdown telling what to run when there is no export (for `task`)."""
    root = Path(root) if root is not None else savedmodels_dir()
    what = f"no {TASK_TITLES.get(task, task).lower()} model" if task else "no exported model"
    return (
        f"There is {what} in `{root}/` yet.\n\n"
        "Train and export the demo models (a few minutes on a CPU) and start the app:\n\n"
        "```bash\nmake run            # = vras demo: train + export the demo recipes, then start this app\n```\n\n"
        "or export a model of your own:\n\n"
        "```bash\nvras train configs/" + (task or "classification") + ".yaml\n"
        "vras export runs/" + (task or "classification") + " --name my_model"
        + (f" --output-dir {root}" if str(root) != DEFAULT_SAVEDMODELS else "") + "\n```"
    )


def load_predictor(path, runtime: Runtime) -> Predictor:
    """`vras_keras.export.loading.load_export` for one version folder and runtime."""
    return load_export(str(path), backend=runtime.backend, quantize=runtime.quantize)
