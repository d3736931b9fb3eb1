"""`vras list [--task T]`: every registered model with its task and trainable parameter count."""

from __future__ import annotations

NAME = "list"
HELP = "list the registered models with their task and trainable parameter count"


def add_arguments(parser):
    from vras_keras.models.registry import TASKS

    parser.add_argument("--task", choices=TASKS, help="only models of this task")
    parser.add_argument(
        "--no-params", action="store_true", help="skip building each model to count its parameters (faster)"
    )


def count_trainable(model) -> int:
    import numpy as np

    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


def run(args) -> int:
    import keras

    from vras_keras import models

    rows = []
    for name in models.list_models(args.task):
        entry = models.get_entry(name)
        params = "-"
        if not args.no_params:
            model = entry.builder()
            params = f"{count_trainable(model):,}"
            del model
            keras.backend.clear_session()
        rows.append((name, entry.task, params, entry.description))
    if not rows:
        print("no models registered" + (f" for task {args.task}" if args.task else ""))
        return 0
    widths = [max(len(r[i]) for r in rows + [("model", "task", "trainable params", "")]) for i in range(3)]
    print(f"{'model':<{widths[0]}}  {'task':<{widths[1]}}  {'trainable params':>{widths[2]}}  description")
    for name, task, params, desc in rows:
        print(f"{name:<{widths[0]}}  {task:<{widths[1]}}  {params:>{widths[2]}}  {desc}")
    return 0
