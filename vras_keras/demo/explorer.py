"""The architecture explorer: any registered model at any input size -> `vras_keras.analysis.summary`'s
per-layer table (output shape, parameters, receptive field, FLOPs) and a plot of it."""

from __future__ import annotations

import numpy as np

from vras_keras import models
from vras_keras.analysis.summary import ArchitectureSummary, summary
from vras_keras.models.registry import TASKS
from vras_keras.visualization.figures import plt

EXPLORER_DEFAULTS = ("resnet18", "resnet_cifar", "vgg11")  # first one registered is preselected


def registered_models() -> dict[str, list[str]]:
    """`{task: [model ids]}` of the registry (tasks without models are left out)."""
    out = {task: sorted(models.list_models(task)) for task in TASKS}
    return {task: ids for task, ids in out.items() if ids}


def analyse_architecture(model_id: str, input_size: int, model_args: dict | None = None) -> ArchitectureSummary:
    """`vras_keras.analysis.summary.summary` of a registered model built at `input_size` (square).

    Raises:
        ValueError: the model cannot be built at that size (the builder's message).
    """
    args = {"input_shape": (int(input_size), int(input_size), 3), **(model_args or {})}
    return summary(models.get(model_id, **args))


def summary_rows(result: ArchitectureSummary) -> list[dict]:
    """One dict per layer call for a table: name, type, output shape, params, receptive field, FLOPs."""
    rows = []
    for r in result.rows:
        rows.append({
            "layer": r.name,
            "type": r.type,
            "output shape": str(tuple(r.output_shape)),
            "params": int(r.params),
            "receptive field": "" if r.rf_size is None else "×".join(str(int(v)) for v in r.rf_size),
            "jump": "" if r.rf_jump is None else "×".join(str(int(v)) for v in r.rf_jump),
            "FLOPs": None if r.flops is None else int(r.flops),
        })
    return rows


def plot_architecture(result: ArchitectureSummary, *, max_layers: int = 400):
    """Figure: receptive field size (top) and FLOPs (bottom, log scale) by layer, in graph order."""
    rows = result.rows[:max_layers]
    x = np.arange(len(rows))
    rf = np.array([np.nan if r.rf_size is None else max(r.rf_size) for r in rows], np.float64)
    flops = np.array([0 if r.flops is None else r.flops for r in rows], np.float64)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    top.plot(x, rf, drawstyle="steps-post", color="tab:blue")
    top.set_ylabel("receptive field (px)")
    top.set_title(f"{result.model_name}: receptive field and FLOPs by layer")
    top.grid(alpha=0.3)
    bottom.bar(x, np.where(flops > 0, flops, np.nan), color="tab:orange", width=1.0)
    bottom.set_yscale("log")
    bottom.set_ylabel("FLOPs")
    bottom.set_xlabel("layer (graph order)")
    bottom.grid(alpha=0.3)
    step = max(1, len(rows) // 20)
    bottom.set_xticks(x[::step])
    bottom.set_xticklabels([rows[i].name for i in x[::step]], rotation=60, ha="right", fontsize=7)
    fig.tight_layout()
    return fig


def format_count(n) -> str:
    """1234567 -> '1.23 M'."""
    n = float(n)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f}"
