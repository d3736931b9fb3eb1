"""`vras list [--task T]`: every registered model with its task and trainable parameter count.

Counting parameters means building every model at its default size (minutes on a laptop CPU), so the counts
are read from `vras_keras/models/index.json`, written by `python -m vras_keras.cli.list_models --write-index`
whenever a model is added or changed (`tests/cli/test_list_models.py` fails while the index is out of date).
Reading the index imports neither TensorFlow nor Keras, so `vras list` answers at once; `--rebuild` builds each
model and counts instead.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vras_keras.models.registry import INDEX, TASKS, read_index  # noqa: F401 - INDEX: the file --write-index writes

NAME = "list"
HELP = "list the registered models with their task and trainable parameter count"


def add_arguments(parser):
    parser.add_argument("--task", choices=TASKS, help="only models of this task")
    parser.add_argument(
        "--no-params", action="store_true", help="leave out the trainable parameter counts"
    )
    parser.add_argument(
        "--rebuild", action="store_true",
        help="build every model at its default size to count its parameters (slow) instead of reading the index",
    )


def needs_tensorflow(args) -> bool:
    return args.rebuild


def count_trainable(model) -> int:
    import numpy as np

    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


def build_index(task: str | None = None, params: bool = True) -> list[dict]:
    """One row per registered model: name, task, trainable parameters (built at default size), description."""
    import keras  # building models: TensorFlow is needed only here

    from vras_keras import models

    rows = []
    for name in models.list_models(task):
        entry = models.get_entry(name)
        count = None
        if params:
            model = entry.builder()
            count = count_trainable(model)
            del model
            keras.backend.clear_session()
        rows.append({"name": name, "task": entry.task, "params": count, "description": entry.description})
    return rows


def write_index(path: Path = INDEX) -> Path:
    rows = build_index()
    path.write_text(json.dumps({"models": rows}, indent=1) + "\n")
    return path


def run(args) -> int:
    rows = build_index(args.task, params=not args.no_params) if args.rebuild else read_index(args.task)
    if not rows:
        print("no models registered" + (f" for task {args.task}" if args.task else ""))
        return 0
    table = [(r["name"], r["task"], "-" if args.no_params or r["params"] is None else f"{r['params']:,}",
              r["description"]) for r in rows]
    widths = [max(len(r[i]) for r in table + [("model", "task", "trainable params", "")]) for i in range(3)]
    print(f"{'model':<{widths[0]}}  {'task':<{widths[1]}}  {'trainable params':>{widths[2]}}  description")
    for name, task, params, desc in table:
        print(f"{name:<{widths[0]}}  {task:<{widths[1]}}  {params:>{widths[2]}}  {desc}")
    return 0


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description="write vras_keras/models/index.json (the counts `vras list` prints)")
    cli.add_argument("--write-index", action="store_true", required=True)
    cli.parse_args()
    print(f"wrote {write_index()}")
